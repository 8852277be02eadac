"""Measures of the paper's tasks.

``iou`` is the rendering measure (paper §4): intersection over union between a
predicted map and a target map, computed per image.

The scene measures (:func:`parse_scene`, :func:`scene_validity`,
:func:`centre_distance`, :func:`canvas_coverage`, :func:`interpolation_steps`)
put numbers on the paper's qualitative claims about generators trained on
Sort-of-CLEVR (paper §5): are the generated scenes ones the dataset could hold,
are objects placed where the data place them, and do objects move or teleport
along a latent interpolation.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from coordlib.datasets.sortofclevr import COLOURS, MIN_SIZE, SHAPES, object_mask, object_radius

__all__ = [
    "SceneObject", "STEP_KINDS", "parse_scene", "parse_scenes", "is_valid_scene", "scene_validity",
    "object_centres", "centre_distance", "canvas_coverage", "interpolation_steps", "LOOSE",
    "OBJECT_FAULTS", "SCENE_FAULTS", "scene_faults",
]

#: Parsing options under which any blob of red or blue above the noise floor
#: counts as an object, whatever its shape (sides up to twice the dataset's).
#: Strict parsing asks whether a generator draws the dataset's squares and
#: circles; loose parsing asks only where its red and blue things are, which is
#: what the paper's claims about movement along interpolations are about.
LOOSE = {"min_match": 0.0, "side_tol": 1.0, "min_sharpness": 0.0}


# --------------------------------------------------------------------------------------
# Scene measures for Sort-of-CLEVR generators (paper §5, GAN/VAE).
#
# The paper judged its generators by eye ("objects move smoothly instead of
# teleporting", "bits of objects appear and disappear"). These functions turn such
# claims into numbers: parse each generated image into red and blue objects, decide
# whether the scene is one the dataset could contain, and compare where objects are.
# --------------------------------------------------------------------------------------

_SCENE_CHUNK = 2048  # images labelled at once: bounds the int32 label array to ~32 MB at 64x64
# 8-connectivity inside each image and none across the batch axis, so one
# ndimage.label call labels a whole stack of images independently.
_PER_IMAGE_8 = np.zeros((3, 3, 3), dtype=bool)
_PER_IMAGE_8[1] = True
_RANGE_SLACK = 1e-3  # float rounding allowed outside [-1, 1]
STEP_KINDS = ("smooth", "teleport", "appear", "vanish", "absent")
#: Why an object is not well formed (:attr:`SceneObject.faults`): ``shape``, its match with
#: the best template is below ``min_match``; ``size``, a bbox side is off by more than
#: ``side_tol``; ``edge``, its sharpness is below ``min_sharpness``.
OBJECT_FAULTS = ("shape", "size", "edge")
#: Why a scene is not valid (:func:`scene_faults`): ``count``, it does not hold exactly one
#: red and one blue object; then the :data:`OBJECT_FAULTS` of any of its objects.
SCENE_FAULTS = ("count",) + OBJECT_FAULTS


@dataclass(frozen=True)
class SceneObject:
    """One red or blue object found in an image by :func:`parse_scene`.

    Attributes:
        colour: ``"red"`` or ``"blue"``.
        shape: ``"square"`` or ``"circle"`` (the template the object matches best),
            or ``"other"`` when it matches neither well enough.
        center: ``(x, y)`` centroid of the object's pixels, in pixels (column, row); for an
            object that the other colour touches, the centre of its best template fit.
        area: number of pixels.
        bbox: ``(x0, y0, x1, y1)``, inclusive pixel bounds.
        well_formed: the object could have been drawn by the dataset: it matches a
            square or circle of half-size ``r``, its bounding box has the right
            size and its edge is sharp (see :func:`parse_scenes`).
        match: intersection over union with the best template, in [0, 1].
        sharpness: fraction of the one-pixel ring around the object that is
            background-like, in [0, 1] (a crisp object 1.0, a blurred blob near 0).
        faults: the criteria of :func:`parse_scenes` the object fails, a subset of
            :data:`OBJECT_FAULTS` in that order; empty exactly when ``well_formed``.
    """

    colour: str
    shape: str
    center: tuple[float, float]
    area: int
    bbox: tuple[int, int, int, int]
    well_formed: bool
    match: float
    sharpness: float
    faults: tuple[str, ...] = ()


def _as_images(images, who: str, layout: str) -> np.ndarray:
    """Validate RGB images in [-1, 1] and return them as a float32 numpy array.

    ``layout`` is ``"(3, H, W)"`` or a 4-D layout such as ``"(N, 3, H, W)"``.
    """
    if isinstance(images, torch.Tensor):
        if not images.is_floating_point():
            raise TypeError(f"{who} expected floating-point images {layout}, got a tensor of dtype {images.dtype}")
        arr = images.detach().cpu().float().numpy()
    elif isinstance(images, np.ndarray):
        if not np.issubdtype(images.dtype, np.floating):
            raise TypeError(f"{who} expected floating-point images {layout}, got an array of dtype {images.dtype}")
        arr = images.astype(np.float32, copy=False)
    else:
        raise TypeError(f"{who} expected a torch.Tensor or numpy array {layout}, got {type(images).__name__}")
    rank = layout.count(",") + 1
    if arr.ndim != rank or arr.shape[-3] != 3:
        raise ValueError(f"{who} expected RGB images of shape {layout}, got shape {tuple(arr.shape)}")
    h, w = arr.shape[-2:]
    if h != w:
        raise ValueError(f"{who} expected square images (H == W), got H={h}, W={w}")
    if h < MIN_SIZE:
        raise ValueError(f"{who} expected images of side >= {MIN_SIZE}, got {h}")
    if arr.size:
        if not np.isfinite(arr).all():
            raise ValueError(f"{who} expected finite pixel values, got NaN or inf")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1 - _RANGE_SLACK or hi > 1 + _RANGE_SLACK:
            raise ValueError(
                f"{who} expected pixel values in [-1, 1] (tanh outputs; map [0, 1] images with 2 * x - 1), "
                f"got values in [{lo:.4g}, {hi:.4g}]"
            )
    return arr


def _object_radius(size: int, radius) -> int:
    if radius is None:
        return object_radius(size)
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or not 1 <= radius < size // 2:
        raise ValueError(f"expected an int object radius in [1, {size // 2}) for {size}x{size} images, got {radius!r}")
    return int(radius)


def parse_scenes(
    images,
    *,
    high: float = 0.5,
    low: float = -0.5,
    edge: float = 0.0,
    min_area_fraction: float = 0.1,
    min_match: float = 0.75,
    side_tol: float = 0.2,
    min_sharpness: float = 0.5,
    radius: int | None = None,
) -> list[list[SceneObject]]:
    """Parse ``(N, 3, S, S)`` float images in [-1, 1] into red and blue objects.

    Returns one list per image: its significant red components, then its blue
    ones, each in raster order of its first pixel.

    * **Colour**: a pixel is red when ``R >= high`` and ``G, B <= low``, blue when
      ``B >= high`` and ``R, G <= low``. The defaults (±0.5) ask every channel to be
      within a quarter of the range of the pure colour, so an object faded halfway
      to white is no object. Other colours are not examined.
    * **Components**: 8-connected components of each colour mask
      (``scipy.ndimage.label``), each colour on its own. Components smaller than
      ``min_area_fraction`` of a full square's area ``(2r+1)**2`` are speckle and
      are ignored (not returned).
    * **Shape**: the component is compared with the dataset's square and circle
      templates of half-size ``r`` (:func:`coordlib.datasets.sortofclevr.object_mask`)
      centred on its rounded centroid; ``match`` is the larger intersection over
      union (template pixels off the canvas count in the union) and ``shape`` the
      template that gives it, or ``"other"`` when ``match < min_match``. (A fill
      ratio ``area / bbox area`` would be fragile: the lattice circle has one-pixel
      tips at its four extremes, and an object drawn without them has a 2 px
      smaller bbox and the fill ratio of a square.) Perfectly drawn objects match
      with 1; the two templates match each other with 0.67 (r = 5) to 0.72 (r = 10).
    * **Well formed**: shape identified, both bbox sides within ``side_tol`` (a
      fraction) of ``2r+1`` (no tails or fragments), and sharpness
      ``>= min_sharpness``. Sharpness is the fraction of the pixels 8-adjacent to
      the object whose channels are all ``> edge`` (nearer white than any object
      colour): a one-pixel soft halo passes, a blurred blob, whose thresholded core
      is surrounded by half-coloured pixels, does not.
    * **Touching objects** (the release's placement lets them touch, and red
      squares hide corners of blue ones): colours are labelled separately, so a
      red and a blue object that touch are still two objects. For a component
      that the other colour borders, the other colour's pixels are left out of
      its sharpness ring, every template is tried at every centre within ``r`` of
      the centroid with the pixels it puts on the other colour counted as
      unknown (left out of the union), and the best fit gives ``shape``,
      ``match`` and ``center`` (the centroid of a partly hidden object would be
      off); its bbox need only not exceed ``2r+1`` by more than ``side_tol``.

    ``r`` is ``round(10 * S / 64)`` (as in :mod:`coordlib.datasets.sortofclevr`) unless
    ``radius`` is given.
    """
    arr = _as_images(images, "parse_scenes", "(N, 3, H, W)")
    n, _, size, _ = arr.shape
    r = _object_radius(size, radius)
    if not -1 <= low < edge < high <= 1:
        raise ValueError(f"expected thresholds -1 <= low < edge < high <= 1, got low={low}, edge={edge}, high={high}")
    for name, value in (("min_area_fraction", min_area_fraction), ("min_match", min_match), ("side_tol", side_tol),
                        ("min_sharpness", min_sharpness)):
        if not 0 <= value <= 1:
            raise ValueError(f"expected {name} in [0, 1], got {value}")
    side = 2 * r + 1
    # (dy, dx) offsets of each template's pixels from its centre
    templates = {shape: np.nonzero(object_mask(shape, r)) for shape in SHAPES}
    templates = {shape: (dy - r, dx - r) for shape, (dy, dx) in templates.items()}
    floor = min_area_fraction * side**2

    scenes: list[list[SceneObject]] = [[] for _ in range(n)]
    for start in range(0, n, _SCENE_CHUNK):
        chunk = arr[start : start + _SCENE_CHUNK]
        red, green, blue = chunk[:, 0], chunk[:, 1], chunk[:, 2]
        masks = {
            "red": (red >= high) & (green <= low) & (blue <= low),
            "blue": (blue >= high) & (red <= low) & (green <= low),
        }
        background = chunk.min(axis=1) > edge  # (m, S, S)
        for colour, other in zip(COLOURS, COLOURS[::-1]):
            for b, obj in _components(masks[colour], masks[other], background, colour, floor, templates,
                                      min_match, side, side_tol, min_sharpness):
                scenes[start + b].append(obj)
    return scenes


def _components(mask, other, background, colour, floor, templates, min_match, side, side_tol, min_sharpness):
    """Yield ``(image index, SceneObject)`` for the significant components of a ``(m, S, S)`` bool mask.

    ``other`` is the other colour's mask: pixels of it next to a component are
    where the other object touches or hides it (see :func:`parse_scenes`).
    Everything is computed for all components of the stack at once; only the
    construction of the SceneObjects and the fits of touching components loop.
    """
    size = mask.shape[-1]
    labels, count = ndimage.label(mask, structure=_PER_IMAGE_8)
    if count == 0:
        return
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    keep = np.nonzero(areas[1:] >= floor)[0] + 1  # (K,) labels above the noise floor
    if keep.size == 0:
        return
    boxes = ndimage.find_objects(labels)
    b, y0, y1, x0, x1 = np.array(
        [(bs.start, ys.start, ys.stop - 1, xs.start, xs.stop - 1) for bs, ys, xs in (boxes[k - 1] for k in keep)]
    ).T
    area = areas[keep]
    # centroids: per-label sums of the pixel coordinates
    pb, py, px = np.nonzero(labels)
    plabel = labels[pb, py, px]
    cx = np.bincount(plabel, weights=px, minlength=count + 1)[keep] / area
    cy = np.bincount(plabel, weights=py, minlength=count + 1)[keep] / area
    # ring: unlabelled pixels 8-adjacent to a component (same-coloured neighbours are in it).
    # A pixel next to two components counts for the higher label only; that needs two
    # same-coloured components one pixel apart and changes only their sharpness.
    near = ndimage.grey_dilation(labels, footprint=_PER_IMAGE_8)
    ring = (labels == 0) & (near > 0)
    # Touching: the other colour borders the component. Those ring pixels are the other
    # object, not blur, so they are left out of the sharpness.
    touch = np.bincount(near[ring & other], minlength=count + 1)[keep] > 0
    ring &= ~other
    ring_label = near[ring]
    ring_total = np.bincount(ring_label, minlength=count + 1)[keep]
    ring_background = np.bincount(ring_label, weights=background[ring], minlength=count + 1)[keep]
    sharpness = np.where(ring_total > 0, ring_background / np.maximum(ring_total, 1), 0.0)
    # intersection over union with each template centred on the rounded centroid
    ious = []
    for dy, dx in templates.values():
        ty = np.rint(cy).astype(np.int64)[:, None] + dy  # (K, P)
        tx = np.rint(cx).astype(np.int64)[:, None] + dx
        on = (ty >= 0) & (ty < size) & (tx >= 0) & (tx < size)
        hit = labels[b[:, None], ty.clip(0, size - 1), tx.clip(0, size - 1)] == keep[:, None]
        inter = np.count_nonzero(hit & on, axis=1)
        ious.append(inter / (area + dy.size - inter))  # off-canvas template pixels count in the union
    ious = np.stack(ious, axis=1)  # (K, len(SHAPES))
    best = ious.argmax(axis=1)
    match = ious[np.arange(keep.size), best]
    for k in np.nonzero(touch)[0]:  # a touching object may be partly hidden: fit it
        best[k], match[k], cx[k], cy[k] = _fit_hidden(
            labels[b[k]] == keep[k], other[b[k]], area[k], cx[k], cy[k], templates)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    sides_ok = (np.abs(w - side) <= side_tol * side) & (np.abs(h - side) <= side_tol * side)
    # a hidden part shortens the box: a touching object need only not be too large
    sides_ok |= touch & (w <= (1 + side_tol) * side) & (h <= (1 + side_tol) * side)
    failed = np.stack([match < min_match, ~sides_ok, sharpness < min_sharpness], axis=1)  # (K, 3)
    well_formed = ~failed.any(axis=1)
    for k in range(keep.size):
        shape = SHAPES[best[k]] if match[k] >= min_match else "other"
        yield int(b[k]), SceneObject(
            colour=colour,
            shape=shape,
            center=(float(cx[k]), float(cy[k])),
            area=int(area[k]),
            bbox=(int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k])),
            well_formed=bool(well_formed[k]),
            match=float(match[k]),
            sharpness=float(sharpness[k]),
            faults=tuple(f for f, bad in zip(OBJECT_FAULTS, failed[k]) if bad),
        )


def _fit_hidden(pixels, other, area, cx, cy, templates):
    """Best template and centre for a component that the other colour touches.

    ``pixels`` and ``other`` are ``(S, S)`` bool masks of the component and of the
    other colour. Every template is tried at every integer centre within ``r``
    of the rounded centroid; its pixels that fall on the other colour are
    unknown (possibly hidden) and left out of the union. Returns
    ``(template index, match, x, y)``; ties go to the centre nearest the centroid.
    """
    size = pixels.shape[0]
    r = int(max(np.abs(dy).max() for dy, _ in templates.values()))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1].reshape(2, -1)
    order = np.argsort(oy**2 + ox**2, kind="stable")
    oy, ox = oy[order], ox[order]  # (O,) offsets, nearest first
    y, x = int(np.rint(cy)), int(np.rint(cx))
    best = (-1.0, 0, float(cx), float(cy))
    for index, (dy, dx) in enumerate(templates.values()):
        ty, tx = y + oy[:, None] + dy[None], x + ox[:, None] + dx[None]  # (O, P)
        on = (ty >= 0) & (ty < size) & (tx >= 0) & (tx < size)
        ty, tx = ty.clip(0, size - 1), tx.clip(0, size - 1)
        inter = np.count_nonzero(pixels[ty, tx] & on, axis=1)
        unknown = np.count_nonzero(other[ty, tx] & on, axis=1)
        iou = inter / (area + dy.size - inter - unknown)
        i = int(iou.argmax())
        if iou[i] > best[0]:
            best = (float(iou[i]), index, float(x + ox[i]), float(y + oy[i]))
    match, index, bx, by = best
    return index, match, bx, by


def parse_scene(image, **options) -> list[SceneObject]:
    """Parse one ``(3, S, S)`` image in [-1, 1]; ``options`` as for :func:`parse_scenes`."""
    arr = _as_images(image, "parse_scene", "(3, H, W)")
    return parse_scenes(arr[None], **options)[0]


def _check_objects(objects, who: str) -> list[SceneObject]:
    if not isinstance(objects, (list, tuple)) or not all(isinstance(o, SceneObject) for o in objects):
        raise TypeError(f"{who} expected a list of SceneObject (from parse_scene), got {type(objects).__name__}")
    return list(objects)


def is_valid_scene(objects) -> bool:
    """Whether a parsed scene is one Sort-of-CLEVR could contain.

    Exactly one red and one blue object, both well formed, and no other
    significant component (speckle below the noise floor was already dropped).
    """
    objects = _check_objects(objects, "is_valid_scene")
    return _one_of_each(objects) and all(o.well_formed for o in objects)


def _one_of_each(objects: list[SceneObject]) -> bool:
    """Exactly one red and one blue object (the count test of a valid scene)."""
    return sorted(o.colour for o in objects) == ["blue", "red"]


def scene_validity(images, **options) -> float:
    """Fraction of ``(N, 3, S, S)`` images (N >= 1) whose scene is valid (see :func:`is_valid_scene`)."""
    scenes = parse_scenes(images, **options)
    if not scenes:
        raise ValueError("scene_validity expected at least one image, got N = 0")
    return sum(is_valid_scene(s) for s in scenes) / len(scenes)


def scene_faults(scenes) -> dict[str, float]:
    """Why parsed scenes are not valid: the share of ``scenes`` failing each criterion.

    ``scenes`` is a non-empty list of parsed scenes (:func:`parse_scenes`). Returns
    ``{"valid": share, **{fault: share for fault in SCENE_FAULTS}}``. A scene can fail
    several criteria, so the fault shares need not add up to ``1 - valid``; an object
    fault counts when any object of the scene has it, whatever the scene's count.
    """
    if not isinstance(scenes, (list, tuple)) or not scenes:
        raise ValueError("scene_faults expected a non-empty list of parsed scenes (from parse_scenes), "
                         f"got {type(scenes).__name__} of length {len(scenes) if hasattr(scenes, '__len__') else '?'}")
    scenes = [_check_objects(s, "scene_faults") for s in scenes]
    n = len(scenes)
    out = {"valid": sum(is_valid_scene(s) for s in scenes) / n,
           "count": sum(not _one_of_each(s) for s in scenes) / n}
    for fault in OBJECT_FAULTS:
        out[fault] = sum(any(fault in o.faults for o in s) for s in scenes) / n
    return out


def object_centres(scenes, colour: str | None = None) -> np.ndarray:
    """``(M, 2)`` float64 ``(x, y)`` centres of the well-formed objects in ``scenes``.

    ``scenes`` is the output of :func:`parse_scenes`; with ``colour`` (``"red"`` or
    ``"blue"``) only objects of that colour. ``M`` may be 0.
    """
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; valid colours are {', '.join(map(repr, COLOURS))} or None")
    if not isinstance(scenes, (list, tuple)):
        raise TypeError(f"object_centres expected a list of parsed scenes, got {type(scenes).__name__}")
    centres = [
        o.center
        for objects in scenes
        for o in _check_objects(objects, "object_centres")
        if o.well_formed and (colour is None or o.colour == colour)
    ]
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2)


def _as_points(points, who: str) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{who} expected points of shape (M, 2), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{who} expected finite coordinates, got NaN or inf")
    return arr


def centre_distance(generated, real, seed: int = 0, max_points: int = 1000) -> float:
    """Earth mover's (Wasserstein-1) distance in pixels between two sets of ``(x, y)`` centres.

    ``generated`` is ``(M, 2)``, ``real`` ``(K, 2)``. Both are subsampled to
    ``m = min(M, K, max_points)`` points, without replacement; between two sets of
    ``m`` equally weighted points the optimal transport plan is a matching, found
    exactly with ``scipy.optimize.linear_sum_assignment`` on Euclidean distances.
    The result is the mean matched distance. A set's subsample is drawn with
    ``default_rng([seed, len(set)])``, so the measure is symmetric in its
    arguments. Returns ``nan`` if either set is empty.
    """
    a, b = _as_points(generated, "centre_distance (generated)"), _as_points(real, "centre_distance (real)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"centre_distance expected an int seed >= 0, got {seed!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ValueError(f"centre_distance expected an int max_points >= 1, got {max_points!r}")
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    m = min(len(a), len(b), int(max_points))

    def subsample(points: np.ndarray) -> np.ndarray:
        if len(points) == m:
            return points
        return points[np.random.default_rng([int(seed), len(points)]).choice(len(points), m, replace=False)]

    cost = cdist(subsample(a), subsample(b))
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def canvas_coverage(centres, size: int, cells: int = 8, radius: int | None = None) -> float:
    """Fraction of the ``cells x cells`` grid over the valid centre range holding a centre.

    The grid splits ``[r, size - r)`` on each axis (the range of the dataset's
    centres, ``r = round(10 * size / 64)`` unless ``radius`` is given) into
    ``cells`` equal intervals. Centres outside that range are not counted. Real
    data give 1.0 once there are a few hundred centres; a generator that has
    collapsed onto a few positions gives little more than ``1 / cells**2``.
    """
    pts = _as_points(centres, "canvas_coverage")
    object_radius(size)  # validates size
    r = _object_radius(int(size), radius)
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 1:
        raise ValueError(f"canvas_coverage expected an int number of cells >= 1, got {cells!r}")
    width = size - 2 * r
    inside = np.all((pts >= r) & (pts < size - r), axis=1)
    idx = np.minimum(np.floor((pts[inside] - r) * cells / width).astype(np.int64), cells - 1)
    occupied = np.unique(idx[:, 1] * cells + idx[:, 0]).size
    return occupied / cells**2


def interpolation_steps(path_images, jump: float | None = None, **options) -> dict:
    """Classify each step of a latent interpolation ``(T, 3, S, S)``, T >= 2, per colour.

    Every frame is parsed (``options`` as for :func:`parse_scenes`). A colour is
    *present* in a frame when the frame holds exactly one well-formed object of
    that colour (a half-faded blob, a fragment or a duplicate does not make an
    object one can follow). For each pair of neighbouring frames and each colour
    the step is ``smooth`` (present in both, centre moved <= ``jump`` px),
    ``teleport`` (present in both, moved more), ``appear`` (absent -> present),
    ``vanish`` (present -> absent) or ``absent`` (absent in both).

    ``jump`` defaults to ``r``, the object half-size: between neighbouring frames
    of a fine interpolation an object that moves by more than half its own width
    has jumped rather than moved.

    Returns ``{kind: count for kind in STEP_KINDS}`` plus ``"steps"`` (= 2 (T - 1)),
    ``"fractions"`` (``{kind: count / steps}``), ``"jump"`` (the threshold used)
    and ``"labels"`` (``{colour: [kind of step t -> t + 1, ...]}``).
    """
    arr = _as_images(path_images, "interpolation_steps", "(T, 3, H, W)")
    if arr.shape[0] < 2:
        raise ValueError(f"interpolation_steps expected a path of T >= 2 frames, got T = {arr.shape[0]}")
    r = _object_radius(arr.shape[-1], options.get("radius"))
    jump = float(r) if jump is None else jump
    if isinstance(jump, bool) or not isinstance(jump, Real) or not 0 <= jump < math.inf:
        raise ValueError(f"interpolation_steps expected a finite jump >= 0 in pixels, got {jump!r}")
    scenes = parse_scenes(arr, **options)
    counts = dict.fromkeys(STEP_KINDS, 0)
    labels: dict[str, list[str]] = {}
    for colour in COLOURS:
        positions = []
        for objects in scenes:
            found = [o.center for o in objects if o.colour == colour and o.well_formed]
            positions.append(np.asarray(found[0]) if len(found) == 1 else None)
        kinds = []
        for before, after in zip(positions[:-1], positions[1:]):
            if before is None:
                kind = "absent" if after is None else "appear"
            elif after is None:
                kind = "vanish"
            else:
                kind = "smooth" if float(np.hypot(*(after - before))) <= jump else "teleport"
            kinds.append(kind)
            counts[kind] += 1
        labels[colour] = kinds
    steps = 2 * (arr.shape[0] - 1)
    return {**counts, "steps": steps, "fractions": {k: counts[k] / steps for k in STEP_KINDS}, "jump": float(jump),
            "labels": labels}
