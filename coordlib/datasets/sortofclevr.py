"""Sort-of-CLEVR, the GAN/VAE dataset of the paper (§5, generative models).

A white canvas with two objects, one red and one blue, each a square or a
circle with probability 1/2. At the paper's size (64x64) the objects have
half-size (square) or radius (circle) 10 px and integer centres in [10, 54).
Geometry scales with the canvas: half-size ``r = round(10 * size / 64)`` (halves
rounded up) and centres in ``[r, size - r)``, so every object lies fully on the
canvas (at size 32: r = 5, centres in [5, 27)).

* A **square** is every pixel with ``|col - cx| <= r`` and ``|row - cy| <= r``
  (side ``2r + 1``).
* A **circle** is every pixel with ``(col - cx)**2 + (row - cy)**2 <= r**2``.

Placement as released (``data/sort_of_clevr_generator.py``): the blue object's
centre is drawn first, uniformly; the red one's is redrawn until the two centres
are at least ``2r`` apart (Euclidean: 20 px at 64x64), and red is drawn over
blue. Objects may therefore touch and, for squares (whose corners reach
``r * sqrt(2)`` from the centre), overlap: the red object then hides part of the
blue one. :func:`coordlib.metrics.scenes.parse_scenes` fits its templates around such
occlusions. (The release rasterises with OpenCV's ``cv2.rectangle`` and
``cv2.circle``; the square is the same ``2r + 1`` pixels wide, the circle is
the lattice disc defined above.)

Images are scaled to [-1, 1] (the range of a tanh generator): background
``(1, 1, 1)``, red ``(1, -1, -1)``, blue ``(-1, -1, 1)``.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from coordlib import _checks

__all__ = [
    "SortOfClevr", "sort_of_clevr", "render", "object_radius", "object_mask", "SHAPES", "COLOURS", "RGB",
    "BACKGROUND", "CANVAS", "MIN_SIZE",
]

CANVAS = 64  # the paper's canvas side, pixels
_RADIUS_AT_CANVAS = 10  # the paper's half-size/radius at 64x64
MIN_SIZE = 16  # below this the objects are too small to tell a circle from a square
SHAPES = ("square", "circle")  # index = value in ``SortOfClevr.shapes``
COLOURS = ("red", "blue")  # index = object slot in ``centers`` and ``shapes``
RGB = {"red": (1.0, -1.0, -1.0), "blue": (-1.0, -1.0, 1.0)}
BACKGROUND = (1.0, 1.0, 1.0)  # white
_CHUNK = 4096  # objects pasted at once: bounds the index arrays to ~15 MB at 64x64


@dataclass(frozen=True)
class SortOfClevr:
    """``n`` Sort-of-CLEVR images and their ground truth.

    Attributes:
        images: ``(n, 3, size, size)`` float32 in [-1, 1], RGB.
        centers: ``(n, 2, 2)`` int64; ``centers[i, 0]`` is ``(x, y)`` = (column, row)
            of the red object of image ``i``, ``centers[i, 1]`` that of the blue one.
        shapes: ``(n, 2)`` int64, same slots; 0 = square, 1 = circle (see ``SHAPES``).
        size: canvas side in pixels.
        radius: object half-size/radius ``r`` in pixels.
    """

    images: torch.Tensor
    centers: torch.Tensor
    shapes: torch.Tensor
    size: int
    radius: int

    def __len__(self) -> int:
        return self.images.shape[0]


def _check_size(size) -> int:
    # Two objects must fit with the separation rule: whatever the blue centre, some
    # red centre in the range [r, size - r) lies 2r away (holds for size >= 16).
    return _checks.integer("sort_of_clevr", "the canvas size", size, MIN_SIZE,
                           why="two separated objects must fit")


def object_radius(size: int) -> int:
    """Half-size/radius ``r`` of the objects on a ``size``-pixel canvas: ``round(10 * size / 64)``.

    Halves are rounded up (integer arithmetic, so no float or banker's rounding):
    10 at 64, 5 at 32, 3 at 16.
    """
    size = _check_size(size)
    return (_RADIUS_AT_CANVAS * size + CANVAS // 2) // CANVAS


def object_mask(shape: str, radius: int) -> np.ndarray:
    """The ``(2r+1, 2r+1)`` bool template of a ``"square"`` or ``"circle"``, centred.

    Its ``sum()`` is the object's area in pixels: ``(2r+1)**2`` for a square, the
    number of lattice points in the closed disc of radius ``r`` for a circle.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; valid shapes are {', '.join(map(repr, SHAPES))}")
    radius = _checks.integer("object_mask", "radius", radius)
    d = np.arange(-radius, radius + 1)
    if shape == "square":
        return np.ones((d.size, d.size), dtype=bool)
    return d[:, None] ** 2 + d[None, :] ** 2 <= radius**2


def render(centers, shapes, size: int = CANVAS) -> torch.Tensor:
    """Draw scenes: ``(n, 2, 2)`` centres and ``(n, 2)`` shape codes -> ``(n, 3, size, size)`` float32.

    ``centers[i, k]`` is the integer ``(x, y)`` of object ``k`` (0 = red, 1 = blue) and
    ``shapes[i, k]`` its shape (0 = square, 1 = circle); tensors or arrays. Every
    centre must lie in ``[r, size - r)`` so that the object is fully on the canvas.
    Separation is not checked here; where two objects overlap, red is drawn over
    blue (the release draws blue first, then red).
    """
    size = _check_size(size)
    r = object_radius(size)
    centers = np.asarray(centers.cpu() if isinstance(centers, torch.Tensor) else centers)
    shapes = np.asarray(shapes.cpu() if isinstance(shapes, torch.Tensor) else shapes)
    if centers.ndim != 3 or centers.shape[1:] != (2, 2) or not np.issubdtype(centers.dtype, np.integer):
        raise ValueError(f"expected integer centres of shape (n, 2, 2), got {centers.dtype} {centers.shape}")
    if shapes.shape != centers.shape[:2] or not np.issubdtype(shapes.dtype, np.integer):
        raise ValueError(
            f"expected integer shape codes of shape {centers.shape[:2]}, got {shapes.dtype} {shapes.shape}"
        )
    if shapes.size and not np.isin(shapes, (0, 1)).all():
        raise ValueError(f"expected shape codes 0 (square) or 1 (circle), got values {np.unique(shapes).tolist()}")
    if centers.size and (centers.min() < r or centers.max() >= size - r):
        raise ValueError(
            f"expected centres in [{r}, {size - r}) so that objects of radius {r} lie on the {size}x{size} canvas, "
            f"got values in [{centers.min()}, {centers.max()}]"
        )
    n = centers.shape[0]
    images = np.ones((n, 3, size * size), dtype=np.float32)  # flat pixels: object pixels are fancy-indexed
    for k, colour in ((1, "blue"), (0, "red")):  # the release's order: red on top
        for code, shape in enumerate(SHAPES):
            dy, dx = np.nonzero(object_mask(shape, r))
            offsets = (dy - r) * size + (dx - r)  # (P,) flat offsets of the shape's pixels from its centre
            which = np.nonzero(shapes[:, k] == code)[0]
            for start in range(0, which.size, _CHUNK):
                idx = which[start : start + _CHUNK]
                pixels = (centers[idx, k, 1] * size + centers[idx, k, 0])[:, None] + offsets  # (m, P)
                for channel, value in enumerate(RGB[colour]):  # every channel: red may cover blue
                    images[idx[:, None], channel, pixels] = value
    images = images.reshape(n, 3, size, size)
    return torch.from_numpy(images)


def _draw_centres(rng: np.random.Generator, n: int, size: int, r: int) -> np.ndarray:
    """``(n, 2, 2)`` int64 centres as the release draws them.

    Blue (slot 1) uniform on ``[r, size - r)^2``; red (slot 0) uniform on the
    same square and redrawn until ``(dx**2 + dy**2) >= (2r)**2`` (vectorised
    rejection over the images still to draw).
    """
    centres = np.empty((n, 2, 2), dtype=np.int64)
    centres[:, 1] = rng.integers(r, size - r, size=(n, 2))
    todo = np.arange(n)
    while todo.size:
        c = rng.integers(r, size - r, size=(todo.size, 2))
        ok = ((c - centres[todo, 1]) ** 2).sum(axis=1) >= (2 * r) ** 2
        centres[todo[ok], 0] = c[ok]
        todo = todo[~ok]
    return centres


def sort_of_clevr(n: int, seed: int = 0, size: int = CANVAS) -> SortOfClevr:
    """Draw ``n`` Sort-of-CLEVR images on a ``size`` x ``size`` canvas.

    Deterministic per ``(n, seed, size)`` (``numpy.random.default_rng(seed)``).
    The paper's set is ``sort_of_clevr(50_000)`` (float32, ~2.5 GB).
    """
    _checks.integer("sort_of_clevr", "the number of images n", n)
    _checks.integer("sort_of_clevr", "seed", seed, 0)
    size = _check_size(size)
    r = object_radius(size)
    rng = np.random.default_rng(int(seed))
    shapes = rng.integers(0, len(SHAPES), size=(int(n), 2), dtype=np.int64)
    centres = _draw_centres(rng, int(n), size, r)
    return SortOfClevr(
        images=render(centres, shapes, size),
        centers=torch.from_numpy(centres),
        shapes=torch.from_numpy(shapes),
        size=size,
        radius=r,
    )
