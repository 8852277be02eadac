"""The what/where twins: one digit per image, labelled by class and by grid cell of its centre."""

import numpy as np
import pytest
import torch

from coordlib.datasets import load_mnist, resize_digits, what_where
from coordlib.datasets.whatwhere import QUESTIONS


@pytest.fixture(scope="module")
def ds():
    return what_where(400, seed=3, split="test")


def test_shapes_and_dtypes(ds):
    assert ds.images.shape == (400, 1, 48, 48) and ds.images.dtype == torch.float32
    assert ds.what.shape == ds.where.shape == (400,) and ds.what.dtype == ds.where.dtype == torch.int64
    assert ds.centers.shape == (400, 2)
    assert ds.classes("what") == 10 and ds.classes("where") == 9
    assert QUESTIONS == ("what", "where")


def test_each_image_is_its_digit_pasted_at_its_corner(ds):
    digits, labels = load_mnist("test")
    ink = ds.images[:, 0]
    for i in range(0, 400, 37):
        x0, y0 = (ds.centers[i] - 9.5).round().long().tolist()  # centre = corner + (20 - 1) / 2
        window = ink[i, y0 : y0 + 20, x0 : x0 + 20]
        outside = ink[i].clone()
        outside[y0 : y0 + 20, x0 : x0 + 20] = 0
        assert outside.abs().sum() == 0
        # the window holds one resized test digit with this image's class
        matches = [k for k in torch.nonzero(labels == ds.what[i]).flatten().tolist()[:2000]
                   if torch.equal(resize_digits(digits[k : k + 1], 20, 20)[0], window)]
        assert matches, f"image {i}: no test digit of class {ds.what[i]} matches the pasted window"


def test_where_is_the_cell_of_the_centre_over_the_possible_centres(ds):
    corner = ds.centers - 9.5  # 0..28 on each axis (29 positions)
    assert corner.min() >= 0 and corner.max() <= 28
    col = np.floor(corner[:, 0].numpy() * 3 / 29).astype(int)
    row = np.floor(corner[:, 1].numpy() * 3 / 29).astype(int)
    assert np.array_equal(ds.where.numpy(), row * 3 + col)
    # hand-checked borders: corners 0..9 -> cell 0, 10..19 -> cell 1, 20..28 -> cell 2
    assert [int(c * 3 // 29) for c in (0, 9, 10, 19, 20, 28)] == [0, 0, 1, 1, 2, 2]


def test_cells_and_classes_are_roughly_balanced():
    d = what_where(3000, seed=0)
    cells = torch.bincount(d.where, minlength=9).float() / 3000
    assert cells.min() > 0.07 and cells.max() < 0.16  # 10/29 x 10/29 ~ 0.119, 9/29 x 9/29 ~ 0.096
    assert torch.bincount(d.what, minlength=10).min() > 200


def test_deterministic_per_seed_and_split():
    a, b, c = what_where(50, seed=1), what_where(50, seed=1), what_where(50, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.where, b.where)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.images, what_where(50, seed=1, split="test").images)


def test_labels_accessor_and_errors(ds):
    assert ds.labels("what") is ds.what and ds.labels("where") is ds.where
    with pytest.raises(ValueError, match="valid questions are 'what', 'where'"):
        ds.labels("which")
    with pytest.raises(ValueError, match="n >= 1"):
        what_where(0)
    with pytest.raises(ValueError, match="digit <= canvas"):
        what_where(5, canvas=16, digit=20)
    with pytest.raises(ValueError, match="grid <= canvas - digit \\+ 1"):
        what_where(5, canvas=22, digit=20, grid=4)
    with pytest.raises(ValueError, match="valid splits|unknown"):
        what_where(5, split="validation")
