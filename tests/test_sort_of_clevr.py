"""Sort-of-CLEVR: exact geometry and colours, the release's placement (centres 2r apart, red over
blue), randomness as documented."""

import math

import numpy as np
import pytest
import torch

from coordlib.datasets import sortofclevr as soc

WHITE, RED, BLUE = (1.0, 1.0, 1.0), (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)


def lattice_disc(r):
    """Lattice points in the closed disc of radius r (Gauss's count, column by column)."""
    return 4 * r + 1 + 4 * sum(math.isqrt(r * r - i * i) for i in range(1, r + 1))


def draw_by_loops(centers, shapes, size, r):
    """Reference drawing: every pixel tested against the definitions, one at a time;
    blue first, then red over it (the release's order)."""
    img = np.ones((3, size, size), dtype=np.float32)
    for (cx, cy), shape, rgb in list(zip(centers, shapes, (RED, BLUE)))[::-1]:
        for row in range(size):
            for col in range(size):
                if shape == 0:
                    inside = abs(col - cx) <= r and abs(row - cy) <= r
                else:
                    inside = (col - cx) ** 2 + (row - cy) ** 2 <= r * r
                if inside:
                    img[:, row, col] = rgb
    return img


def colour_masks(images):
    """(n, size, size) bool masks of exactly-red and exactly-blue pixels."""
    x = images.numpy()
    red = (x[:, 0] == 1) & (x[:, 1] == -1) & (x[:, 2] == -1)
    blue = (x[:, 0] == -1) & (x[:, 1] == -1) & (x[:, 2] == 1)
    return red, blue


def dilate8(mask):
    """Union of the 3x3 neighbourhood of every True pixel, by shifting a padded copy."""
    p = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    h, w = mask.shape[1:]
    return np.any([p[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


@pytest.fixture(scope="module")
def ds32():
    return soc.sort_of_clevr(2000, seed=0, size=32)


@pytest.fixture(scope="module")
def ds64():
    return soc.sort_of_clevr(300, seed=1, size=64)


@pytest.fixture(params=["ds32", "ds64"])
def ds(request):
    return request.getfixturevalue(request.param)


def test_radius_scales_with_canvas():
    assert soc.object_radius(64) == 10
    assert soc.object_radius(32) == 5
    assert soc.object_radius(16) == 3  # 2.5 rounds up
    assert soc.object_radius(128) == 20
    assert lattice_disc(5) == 81 and lattice_disc(10) == 317  # OEIS A000328


def test_fields_shapes_and_dtypes(ds):
    n, size = len(ds), ds.size
    assert ds.radius == soc.object_radius(size)
    assert ds.images.shape == (n, 3, size, size) and ds.images.dtype == torch.float32
    assert ds.centers.shape == (n, 2, 2) and ds.centers.dtype == torch.int64
    assert ds.shapes.shape == (n, 2) and ds.shapes.dtype == torch.int64
    assert set(ds.shapes.unique().tolist()) == {0, 1}
    assert soc.SHAPES == ("square", "circle") and soc.COLOURS == ("red", "blue")
    assert soc.RGB == {"red": RED, "blue": BLUE}


def test_every_pixel_is_white_red_or_blue(ds):
    red, blue = colour_masks(ds.images)
    white = (ds.images == 1).all(dim=1).numpy()
    assert np.all(red.astype(int) + blue.astype(int) + white.astype(int) == 1)


@pytest.mark.parametrize("name, count", [("ds32", 25), ("ds64", 6)])
def test_images_equal_pixel_by_pixel_reference(request, name, count):
    ds = request.getfixturevalue(name)
    for i in range(count):
        expected = draw_by_loops(ds.centers[i].tolist(), ds.shapes[i].tolist(), ds.size, ds.radius)
        assert np.array_equal(ds.images[i].numpy(), expected), f"image {i}"


def test_pixel_counts_per_object(ds):
    # Red is drawn last and always whole; blue is whole wherever the boxes do not meet.
    r = ds.radius
    red, blue = colour_masks(ds.images)
    area = {0: (2 * r + 1) ** 2, 1: lattice_disc(r)}
    apart = np.abs(ds.centers.numpy()[:, 0] - ds.centers.numpy()[:, 1]).max(1) > 2 * r
    for k, mask in enumerate((red, blue)):
        expected = np.where(ds.shapes[:, k].numpy() == 0, area[0], area[1])
        counts = mask.sum(axis=(1, 2))
        assert np.array_equal(counts[apart], expected[apart]) if k else np.array_equal(counts, expected)
        assert np.all(counts <= expected)


def test_centres_in_range_and_at_least_2r_apart_as_released(ds):
    r, size = ds.radius, ds.size
    c = ds.centers.numpy()
    assert c.min() >= r and c.max() < size - r
    d2 = ((c[:, 0] - c[:, 1]) ** 2).sum(axis=1)
    assert np.all(d2 >= (2 * r) ** 2)
    assert d2.min() == (2 * r) ** 2  # the bound is reached: circles may touch
    red, blue = colour_masks(ds.images)
    assert np.any(dilate8(red) & blue)  # some objects touch or overlap, as in the release
    # red (on top) is centred on its stated centre
    rows, cols = np.arange(size)[None, :, None], np.arange(size)[None, None, :]
    n_pix = red.sum(axis=(1, 2))
    assert np.array_equal((red * cols).sum(axis=(1, 2)), c[:, 0, 0] * n_pix)
    assert np.array_equal((red * rows).sum(axis=(1, 2)), c[:, 0, 1] * n_pix)


def test_red_hides_blue_where_two_squares_overlap():
    centres = np.array([[[20, 20], [26, 26]]])  # r = 5: the boxes overlap 5 x 5
    img = soc.render(centres, np.array([[0, 0]]), 32)
    red, blue = colour_masks(img)
    assert red.sum() == 121 and blue.sum() == 121 - 5 * 5
    assert np.array_equal(img[0].numpy(), draw_by_loops(centres[0].tolist(), [0, 0], 32, 5))


def test_blue_centre_is_uniform_red_is_redrawn():
    # Blue is drawn first, uniformly: near a corner as often as in the middle. Red is
    # redrawn until far enough away: rarer in the middle, where blue excludes more.
    ds = soc.sort_of_clevr(20000, seed=3, size=32)
    r, size = ds.radius, ds.size
    mid = size // 2
    for k, ratio in ((1, (0.8, 1.25)), (0, (1.25, 10))):
        c = ds.centers[:, k].numpy()
        corner = np.all((c >= r) & (c <= r + 4), axis=1).mean()  # 5 x 5 cells, as below
        middle = np.all(np.abs(c - mid) <= 2, axis=1).mean()
        assert ratio[0] < corner / middle < ratio[1], (k, corner, middle)


def test_centres_span_the_whole_range(ds32):
    r, size = ds32.radius, ds32.size
    for k in range(2):
        for axis in range(2):
            assert set(ds32.centers[:, k, axis].tolist()) == set(range(r, size - r))


def test_shapes_are_fair_coins(ds32):
    n = len(ds32)
    tol = 4 * math.sqrt(0.25 / n)  # 4 binomial standard deviations
    for k in range(2):
        assert abs(ds32.shapes[:, k].float().mean().item() - 0.5) < tol
    # all four combinations occur about equally often
    combo = (ds32.shapes[:, 0] * 2 + ds32.shapes[:, 1]).bincount(minlength=4).numpy() / n
    assert np.all(np.abs(combo - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n))


def test_deterministic_per_seed_and_seeds_differ():
    a = soc.sort_of_clevr(50, seed=7, size=32)
    b = soc.sort_of_clevr(50, seed=7, size=32)
    assert torch.equal(a.images, b.images) and torch.equal(a.centers, b.centers) and torch.equal(a.shapes, b.shapes)
    c = soc.sort_of_clevr(50, seed=8, size=32)
    assert not torch.equal(a.centers, c.centers)
    assert not torch.equal(a.images, c.images)


def test_render_reproduces_dataset(ds64):
    again = soc.render(ds64.centers, ds64.shapes, ds64.size)
    assert torch.equal(again, ds64.images)
    assert torch.equal(soc.render(ds64.centers.numpy(), ds64.shapes.numpy(), 64), ds64.images)


def test_smallest_canvas_works():
    ds = soc.sort_of_clevr(200, seed=0, size=16)
    assert ds.radius == 3 and ds.images.shape == (200, 3, 16, 16)
    assert np.array_equal(ds.images[0].numpy(), draw_by_loops(ds.centers[0].tolist(), ds.shapes[0].tolist(), 16, 3))


def test_object_mask_templates():
    assert soc.object_mask("square", 5).shape == (11, 11) and soc.object_mask("square", 5).all()
    circle = soc.object_mask("circle", 5)
    assert circle.shape == (11, 11) and circle.sum() == 81
    assert circle[5, 0] and circle[0, 5] and not circle[0, 0] and not circle[1, 1]
    with pytest.raises(ValueError, match="unknown shape 'triangle'.*'square', 'circle'"):
        soc.object_mask("triangle", 5)
    with pytest.raises(ValueError, match="radius as an int >= 1, got 0"):
        soc.object_mask("circle", 0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 0}, ValueError, r"number of images n as an int >= 1, got 0"),
        ({"n": 2.5}, TypeError, r"number of images n as an int >= 1, got float 2.5"),
        ({"n": True}, TypeError, r"number of images n as an int >= 1, got bool True"),
        ({"n": 4, "seed": -1}, ValueError, r"seed as an int >= 0, got -1"),
        ({"n": 4, "seed": "a"}, TypeError, r"seed as an int >= 0, got str 'a'"),
        ({"n": 4, "size": 15}, ValueError, r"canvas size as an int >= 16 \(two separated objects must fit\), got 15"),
        ({"n": 4, "size": 32.0}, TypeError, r"canvas size as an int >= 16, got float 32.0"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        soc.sort_of_clevr(**kwargs)


def test_render_rejects_bad_input():
    centers = np.array([[[5, 5], [20, 20]]])
    with pytest.raises(ValueError, match=r"centres in \[5, 27\).*got values in \[4, 20\]"):
        soc.render(centers - np.array([[[1, 0], [0, 0]]]), np.zeros((1, 2), dtype=np.int64), 32)
    with pytest.raises(ValueError, match=r"shape codes 0 \(square\) or 1 \(circle\), got values \[0, 2\]"):
        soc.render(centers, np.array([[0, 2]]), 32)
    with pytest.raises(ValueError, match=r"integer centres of shape \(n, 2, 2\)"):
        soc.render(centers[0], np.zeros((1, 2), dtype=np.int64), 32)
    with pytest.raises(ValueError, match=r"integer shape codes of shape \(1, 2\)"):
        soc.render(centers, np.zeros((1, 3), dtype=np.int64), 32)
