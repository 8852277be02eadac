"""Scene measures: parsing, validity, centre distributions and interpolation steps on known images."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from coordlib import metrics
from coordlib.datasets import sort_of_clevr

S, R = 32, 5  # canvas and object half-size of the book's profile
RGB = {"red": np.array([1.0, -1.0, -1.0]), "blue": np.array([-1.0, -1.0, 1.0])}


def blank(size=S):
    return np.ones((3, size, size), dtype=np.float32)


def paint(img, colour, shape, cx, cy, r=R, alpha=1.0, rows=None):
    """Draw one object pixel by pixel, mixed with white by ``alpha``; ``rows`` limits the rows drawn."""
    size = img.shape[-1]
    value = alpha * RGB[colour] + (1 - alpha) * 1.0
    for row in range(size) if rows is None else rows:
        for col in range(size):
            if shape == "square":
                inside = abs(col - cx) <= r and abs(row - cy) <= r
            elif shape == "circle":
                inside = (col - cx) ** 2 + (row - cy) ** 2 <= r * r
            else:  # "rect": 2r+1 wide, twice as tall
                inside = abs(col - cx) <= r and cy - 2 * r - 1 <= row <= cy + 2 * r
            if inside:
                img[:, row, col] = value
    return img


def scene(red=("square", 10, 12), blue=("circle", 22, 20)):
    img = blank()
    paint(img, "red", *red)
    paint(img, "blue", *blue)
    return img


# ----------------------------------------------------------------------------- parsing


def test_parse_hand_drawn_scene_exactly():
    objects = metrics.parse_scene(torch.from_numpy(scene()))
    assert [(o.colour, o.shape) for o in objects] == [("red", "square"), ("blue", "circle")]
    red, blue = objects
    assert red.center == (10.0, 12.0) and blue.center == (22.0, 20.0)
    assert red.area == 121 and blue.area == 81
    assert red.bbox == (5, 7, 15, 17) and blue.bbox == (17, 15, 27, 25)
    assert red.well_formed and blue.well_formed
    assert red.match == 1.0 and blue.match == 1.0 and red.sharpness == 1.0 and blue.sharpness == 1.0
    assert metrics.is_valid_scene(objects)
    # numpy input gives the same answer
    assert metrics.parse_scene(scene()) == objects


@pytest.mark.parametrize("size", [32, 64])
def test_parse_recovers_generated_scenes(size):
    ds = sort_of_clevr(200, seed=5, size=size)
    scenes = metrics.parse_scenes(ds.images)
    assert len(scenes) == 200
    for i, objects in enumerate(scenes):
        assert [o.colour for o in objects] == ["red", "blue"], i
        for k, o in enumerate(objects):
            assert np.abs(np.array(o.center) - ds.centers[i, k].numpy()).max() < 0.5
            assert o.shape == ("square", "circle")[int(ds.shapes[i, k])]
            assert o.well_formed
    assert metrics.scene_validity(ds.images) == 1.0
    centres = metrics.object_centres(scenes, "blue")
    assert centres.shape == (200, 2) and np.array_equal(centres, ds.centers[:, 1].numpy().astype(float))


# Touching and overlapping objects, as the release's placement allows (centres 2r apart,
# red drawn over blue): known answers.
TOUCHING = {
    # two squares whose boxes overlap 5 x 3 px: red hides the blue square's corner
    "overlapping squares": (("square", 12, 12), ("square", 18, 20)),
    # two circles 2r apart: they share their middle pixel, which red covers
    "touching circles": (("circle", 10, 16), ("circle", 20, 16)),
    # a square and a circle side by side, no gap between them
    "square against circle": (("square", 10, 14), ("circle", 21, 14)),
}


@pytest.mark.parametrize("name", TOUCHING)
def test_touching_objects_are_two_objects_at_their_true_centres(name):
    red, blue = TOUCHING[name]
    img = paint(paint(blank(), "blue", *blue), "red", *red)  # blue first, red on top
    objects = metrics.parse_scene(img)
    assert [(o.colour, o.shape) for o in objects] == [("red", red[0]), ("blue", blue[0])]
    assert [o.center for o in objects] == [tuple(map(float, red[1:])), tuple(map(float, blue[1:]))]
    assert all(o.well_formed and o.match == 1.0 and o.sharpness == 1.0 for o in objects)
    assert metrics.is_valid_scene(objects)


def test_a_hidden_part_without_the_other_colour_is_still_missing():
    # Cut the blue square's corner out but leave white there: nothing hides it, so the
    # centroid stands and the shape no longer matches perfectly.
    img = paint(paint(blank(), "blue", "square", 18, 20), "red", "square", 5, 5)
    img[:, 15:18, 13:18] = 1.0
    blue = metrics.parse_scene(img)[1]
    assert blue.center != (18.0, 20.0) and blue.match < 1.0


def test_dataset_scenes_with_overlaps_parse_exactly():
    ds = sort_of_clevr(400, seed=11, size=S)
    close = np.abs(ds.centers.numpy()[:, 0] - ds.centers.numpy()[:, 1]).max(1) <= 2 * R
    assert close.sum() > 40  # the placement makes many such scenes
    scenes = metrics.parse_scenes(ds.images[close])
    for objects, centres in zip(scenes, ds.centers[close].numpy()):
        assert [o.center for o in objects] == [tuple(map(float, c)) for c in centres]
        assert metrics.is_valid_scene(objects)


def _two_red():
    return paint(scene(), "red", "square", 24, 5)


def _half_object():  # the blue square's lower half is missing
    img = blank()
    paint(img, "red", "square", 10, 12)
    return paint(img, "blue", "square", 22, 20, rows=range(15, 21))


def _elongated():
    img = blank()
    paint(img, "red", "rect", 8, 14)
    return paint(img, "blue", "circle", 24, 20)


def _noise():
    return np.random.default_rng(0).uniform(-1, 1, (3, S, S)).astype(np.float32)


INVALID = {
    "two red squares": _two_red,
    "missing blue": lambda: paint(blank(), "red", "square", 10, 12),
    "half object": _half_object,
    "elongated rectangle": _elongated,
    "blurred blob": lambda: ndimage.gaussian_filter(scene(), sigma=(0, 1.5, 1.5)),
    "half-faded blue": lambda: paint(paint(blank(), "red", "square", 10, 12), "blue", "circle", 22, 20, alpha=0.5),
    "random noise": _noise,
    "blank canvas": blank,
}


@pytest.mark.parametrize("name", INVALID)
def test_broken_scenes_are_invalid(name):
    img = INVALID[name]()
    assert img.min() >= -1 and img.max() <= 1
    assert not metrics.is_valid_scene(metrics.parse_scene(img))
    assert metrics.scene_validity(np.stack([img, img])) == 0.0
    assert metrics.scene_validity(np.stack([img, scene()])) == 0.5  # the control scene is valid


def test_why_broken_scenes_fail():
    red, blue = metrics.parse_scene(_half_object())
    assert red.well_formed and blue.area == 66 and blue.bbox == (17, 15, 27, 20) and not blue.well_formed
    red, _ = metrics.parse_scene(_elongated())
    assert red.area == 11 * 22 and not red.well_formed
    blurred = metrics.parse_scene(ndimage.gaussian_filter(scene(), sigma=(0, 1.5, 1.5)))
    assert blurred and all(o.sharpness < 0.5 and not o.well_formed for o in blurred)
    assert [o.colour for o in metrics.parse_scene(INVALID["half-faded blue"]())] == ["red"]
    assert metrics.parse_scene(_noise()) == [] and metrics.parse_scene(blank()) == []


def test_speckle_below_the_floor_is_ignored():
    img = scene()
    img[:, 0, 31] = RGB["red"]  # single pixels
    img[:, 30, 0] = RGB["blue"]
    img[:, 28:31, 10:14] = RGB["red"][:, None, None]  # 12 px < 0.1 * 121
    img[:, 0:2, 0:2] = RGB["blue"][:, None, None]
    objects = metrics.parse_scene(img)
    assert [(o.colour, o.center) for o in objects] == [("red", (10.0, 12.0)), ("blue", (22.0, 20.0))]
    assert metrics.is_valid_scene(objects)
    img[:, 27:31, 10:14] = RGB["red"][:, None, None]  # 16 px: above the floor, a second red component
    objects = metrics.parse_scene(img)
    assert [o.colour for o in objects] == ["red", "red", "blue"] and not metrics.is_valid_scene(objects)


def test_soft_one_pixel_halo_still_valid():
    img = scene()
    mask = (img.min(axis=0) < 0).astype(int)
    ring = ndimage.binary_dilation(mask, np.ones((3, 3))) & ~mask.astype(bool)
    img[:, ring & (np.arange(S)[None, :] < 16)] = (0.4 * RGB["red"] + 0.6)[:, None]
    img[:, ring & (np.arange(S)[None, :] >= 16)] = (0.4 * RGB["blue"] + 0.6)[:, None]
    objects = metrics.parse_scene(img)
    assert [o.area for o in objects] == [121, 81] and all(o.sharpness == 1.0 for o in objects)
    assert metrics.is_valid_scene(objects)


def test_object_centres_selects_well_formed_objects():
    scenes = metrics.parse_scenes(np.stack([scene(), _half_object(), blank()]))
    assert np.array_equal(metrics.object_centres(scenes), [[10, 12], [22, 20], [10, 12]])
    assert np.array_equal(metrics.object_centres(scenes, "red"), [[10, 12], [10, 12]])
    assert np.array_equal(metrics.object_centres(scenes, "blue"), [[22, 20]])
    assert metrics.object_centres([[], []]).shape == (0, 2)
    with pytest.raises(ValueError, match="unknown colour 'green'"):
        metrics.object_centres(scenes, "green")


@pytest.mark.parametrize(
    "images, error, match",
    [
        (np.ones((1, 3, S, S), np.float32), ValueError, r"shape \(3, H, W\), got shape \(1, 3, 32, 32\)"),
        (np.ones((1, S, S), np.float32), ValueError, r"RGB images of shape \(3, H, W\), got shape \(1, 32, 32\)"),
        (np.ones((3, S, S + 1), np.float32), ValueError, r"square images \(H == W\), got H=32, W=33"),
        (np.ones((3, 8, 8), np.float32), ValueError, r"side >= 16, got 8"),
        (np.full((3, S, S), 255.0, np.float32), ValueError, r"values in \[-1, 1\].*got values in \[255, 255\]"),
        (np.full((3, S, S), np.nan, np.float32), ValueError, r"finite pixel values"),
        (np.ones((3, S, S), np.uint8), TypeError, r"floating-point images \(3, H, W\), got an array of dtype uint8"),
        (torch.ones(3, S, S, dtype=torch.int64), TypeError, r"got a tensor of dtype torch.int64"),
        ([[[1.0]]], TypeError, r"torch.Tensor or numpy array \(3, H, W\), got list"),
    ],
)
def test_parse_scene_rejects_bad_images(images, error, match):
    with pytest.raises(error, match=match):
        metrics.parse_scene(images)


def test_other_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got shape \(3, 32, 32\)"):
        metrics.parse_scenes(scene())
    with pytest.raises(ValueError, match="low < edge < high"):
        metrics.parse_scenes(scene()[None], low=0.5, high=-0.5)
    with pytest.raises(ValueError, match=r"min_match in \[0, 1\], got 2"):
        metrics.parse_scenes(scene()[None], min_match=2)
    with pytest.raises(ValueError, match="at least one image, got N = 0"):
        metrics.scene_validity(np.ones((0, 3, S, S), np.float32))
    with pytest.raises(TypeError, match="list of SceneObject"):
        metrics.is_valid_scene([("red", "square")])


# ------------------------------------------------------------------- centre distributions


def test_centre_distance_known_values():
    pts = np.random.default_rng(1).uniform(5, 27, (300, 2))
    assert metrics.centre_distance(pts, pts) == 0.0
    assert metrics.centre_distance(pts, pts + [3.0, 4.0]) == pytest.approx(5.0, abs=1e-9)
    assert metrics.centre_distance(torch.from_numpy(pts), pts[::-1] + [-3.0, 4.0]) == pytest.approx(5.0, abs=1e-9)
    assert math.isnan(metrics.centre_distance(np.zeros((0, 2)), pts))
    assert math.isnan(metrics.centre_distance(pts, np.zeros((0, 2))))


def test_centre_distance_equals_brute_force_matching():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 32, (6, 2)), rng.uniform(0, 32, (6, 2))
    best = min(np.mean(np.hypot(*(a - b[list(p)]).T)) for p in itertools.permutations(range(6)))
    assert metrics.centre_distance(a, b) == pytest.approx(best, rel=1e-12)


def test_centre_distance_symmetric_and_seeded_with_subsampling():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(5, 27, (500, 2)), rng.uniform(5, 27, (200, 2))
    d = metrics.centre_distance(a, b, seed=4, max_points=100)
    assert d == pytest.approx(metrics.centre_distance(b, a, seed=4, max_points=100), rel=1e-12)  # summation order
    assert d == metrics.centre_distance(a, b, seed=4, max_points=100)
    assert d != pytest.approx(metrics.centre_distance(a, b, seed=5, max_points=100), rel=1e-6)
    full = metrics.centre_distance(a, b)  # 200 points of a against all of b
    assert full == pytest.approx(metrics.centre_distance(b, a), rel=1e-12) and full != pytest.approx(d, rel=1e-6)


def test_centre_distance_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(generated\) expected points of shape \(M, 2\), got shape \(4, 3\)"):
        metrics.centre_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="max_points >= 1, got 0"):
        metrics.centre_distance(np.zeros((4, 2)), np.zeros((4, 2)), max_points=0)


def test_canvas_coverage():
    ds = sort_of_clevr(1000, seed=0, size=S)
    real = metrics.object_centres(metrics.parse_scenes(ds.images))
    assert len(real) == 2000 and metrics.canvas_coverage(real, S) == 1.0
    assert metrics.canvas_coverage(np.full((50, 2), 6.0), S) == 1 / 64
    # cells of width 22/8 = 2.75 px from x = 5: (5, 5) and (7.7, 26.9) -> cells (0, 0) and (0, 7)
    assert metrics.canvas_coverage([[5, 5], [7.7, 26.9], [7.76, 5]], S) == 3 / 64
    assert metrics.canvas_coverage([[4.9, 10], [10, 27], [31, 31]], S) == 0.0  # outside [5, 27)
    assert metrics.canvas_coverage(np.zeros((0, 2)), S) == 0.0
    # one cell per integer centre: coverage counts the distinct centres
    distinct = {tuple(p) for p in ds.centers[:40, 0].tolist()}
    assert metrics.canvas_coverage(ds.centers[:40, 0].float(), S, cells=22) == len(distinct) / 22**2
    with pytest.raises(ValueError, match="cells >= 1, got 0"):
        metrics.canvas_coverage(real, S, cells=0)
    with pytest.raises(TypeError, match="canvas size as an int >= 16"):
        metrics.canvas_coverage(real, 32.0)


# ------------------------------------------------------------------ interpolation steps


def path(red_xs, blue_alphas=None):
    """Frames with a red square at (x, 8) for x in red_xs and a blue circle at (22, 22)."""
    blue_alphas = blue_alphas or [1.0] * len(red_xs)
    frames = [
        paint(paint(blank(), "red", "square", x, 8), "blue", "circle", 22, 22, alpha=a)
        for x, a in zip(red_xs, blue_alphas)
    ]
    return torch.from_numpy(np.stack(frames))


def test_smooth_path():
    out = metrics.interpolation_steps(path(range(6, 16)))
    assert out["steps"] == 18 and out["jump"] == 5.0
    assert {k: out[k] for k in metrics.scenes.STEP_KINDS} == {"smooth": 18, "teleport": 0, "appear": 0, "vanish": 0,
                                                        "absent": 0}
    assert out["fractions"]["smooth"] == 1.0
    assert out["labels"]["red"] == ["smooth"] * 9


def test_one_teleport():
    xs = [6, 7, 8, 16, 17, 18]  # one jump of 8 px > r = 5
    out = metrics.interpolation_steps(path(xs))
    assert (out["teleport"], out["smooth"], out["steps"]) == (1, 9, 10)
    assert out["labels"]["red"] == ["smooth", "smooth", "teleport", "smooth", "smooth"]
    assert out["fractions"]["teleport"] == 0.1
    assert metrics.interpolation_steps(path(xs), jump=8)["teleport"] == 0  # the threshold is inclusive


def test_fade_out_and_in():
    alphas = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]  # present while every channel is within 0.5 of pure blue
    out = metrics.interpolation_steps(path([8] * 6, alphas))
    assert out["labels"]["blue"] == ["smooth", "smooth", "vanish", "absent", "absent"]
    assert {k: out[k] for k in metrics.scenes.STEP_KINDS} == {"smooth": 7, "teleport": 0, "appear": 0, "vanish": 1,
                                                        "absent": 2}
    back = metrics.interpolation_steps(path([8] * 6, alphas[::-1]))
    assert back["labels"]["blue"] == ["absent", "absent", "appear", "smooth", "smooth"]


def test_duplicate_object_is_not_followed():
    frames = path([8, 9, 10]).numpy()
    paint(frames[1], "red", "square", 24, 8)  # a second red square in the middle frame
    out = metrics.interpolation_steps(frames)
    assert out["labels"]["red"] == ["vanish", "appear"] and out["labels"]["blue"] == ["smooth", "smooth"]


def test_interpolation_steps_rejects_bad_input():
    with pytest.raises(ValueError, match="T >= 2 frames, got T = 1"):
        metrics.interpolation_steps(path([8]))
    with pytest.raises(ValueError, match="finite jump >= 0 in pixels, got -1"):
        metrics.interpolation_steps(path([8, 9]), jump=-1)
    with pytest.raises(ValueError, match=r"\(T, 3, H, W\), got shape \(2, 1, 32, 32\)"):
        metrics.interpolation_steps(torch.ones(2, 1, S, S))


# ----------------------------------------------------------------------------- why a scene is invalid


def test_a_drawn_scene_has_no_faults_and_a_blurred_or_stretched_object_has_its_own():
    img = scene()
    assert all(o.faults == () for o in metrics.parse_scene(img))
    # blur: a halo of half-coloured pixels around a crisp core fails only the edge test
    soft = blank()
    paint(soft, "red", "square", 10, 12, r=R + 1, alpha=0.6)
    paint(soft, "red", "square", 10, 12)
    paint(soft, "blue", "circle", 22, 20)
    red, blue = metrics.parse_scene(soft)
    assert red.faults == ("edge",) and not red.well_formed and blue.faults == ()
    # a rectangle twice as tall: its box is too tall and it matches no template
    tall = blank()
    paint(tall, "red", "rect", 10, 26)
    paint(tall, "blue", "circle", 24, 6)
    red, _ = metrics.parse_scene(tall)
    assert red.faults == ("shape", "size")


def test_scene_faults_counts_each_criterion_over_the_scenes():
    lonely = blank()
    paint(lonely, "red", "square", 10, 12)
    soft = scene()
    paint(soft, "blue", "circle", 22, 20, r=R + 1, alpha=0.6)
    paint(soft, "blue", "circle", 22, 20)
    scenes = metrics.parse_scenes(np.stack([scene(), lonely, soft, scene()]))
    assert metrics.scene_faults(scenes) == {"valid": 0.5, "count": 0.25, "shape": 0.0, "size": 0.0,
                                            "edge": 0.25}
    assert list(metrics.scene_faults(scenes))[1:] == list(metrics.scenes.SCENE_FAULTS)
    with pytest.raises(ValueError, match="non-empty list of parsed scenes"):
        metrics.scene_faults([])
    with pytest.raises(TypeError, match="list of SceneObject"):
        metrics.scene_faults([["not an object"]])
