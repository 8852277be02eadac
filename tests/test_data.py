"""Not-so-Clevr equals the paper's two-line generator; its splits are the documented ones."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coordlib import datasets

N = 3136


@pytest.fixture(scope="module")
def reference():
    """The paper's generator in numpy (+ a torch convolution for tf.nn.conv2d "SAME")."""
    onehots = np.pad(np.eye(N).reshape((N, 56, 56, 1)), ((0, 0), (4, 4), (4, 4), (0, 0)), "constant")
    onehots = onehots[..., 0].astype(np.float32)  # (N, 64, 64)
    # 9x9 kernel of ones, SAME padding: pad 4 on each side. The kernel is
    # symmetric, so cross-correlation (F.conv2d) equals convolution.
    images = F.conv2d(torch.from_numpy(onehots)[:, None], torch.ones(1, 1, 9, 9), padding=4)[:, 0]
    return onehots, images.numpy()


@pytest.fixture(scope="module")
def ds():
    return datasets.not_so_clevr()


def test_onehots_and_squares_equal_paper_generator(ds, reference):
    onehots, images = reference
    assert np.array_equal(ds.onehots.numpy(), onehots)
    assert np.array_equal(ds.squares.numpy(), images)


def test_centers_follow_generator_order(ds, reference):
    onehots, _ = reference
    k = np.arange(N)
    x, y = k % 56 + 4, k // 56 + 4
    assert np.array_equal(ds.centers.numpy(), np.stack([x, y], axis=1))
    assert np.all(onehots[k, y, x] == 1)
    assert np.all(ds.onehots.numpy()[k, y, x] == 1)
    # spot checks: first, second (x moves first), 57th (next row), last
    assert ds.centers[0].tolist() == [4, 4]
    assert ds.centers[1].tolist() == [5, 4]
    assert ds.centers[56].tolist() == [4, 5]
    assert ds.centers[N - 1].tolist() == [59, 59]


def test_counts_shapes_and_dtypes(ds):
    assert len(ds) == N == datasets.notsoclevr.N_EXAMPLES
    assert ds.centers.shape == (N, 2) and ds.centers.dtype == torch.int64
    assert ds.onehots.shape == (N, 64, 64) and ds.onehots.dtype == torch.float32
    assert ds.squares.shape == (N, 64, 64) and ds.squares.dtype == torch.float32
    assert torch.all(ds.onehots.sum(dim=(1, 2)) == 1)
    assert torch.all(ds.squares.sum(dim=(1, 2)) == 81)
    assert set(ds.onehots.unique().tolist()) == {0.0, 1.0}
    assert set(ds.squares.unique().tolist()) == {0.0, 1.0}


def test_centres_distinct_and_squares_on_canvas(ds):
    c = ds.centers
    assert int(c.min()) == 4 and int(c.max()) == 59
    assert len({tuple(p) for p in c.tolist()}) == N
    # each square is exactly the 9x9 block around its centre: fully on canvas
    for k in (0, 55, 56, 1500, N - 1):
        x, y = c[k].tolist()
        assert 0 <= x - 4 and x + 4 <= 63 and 0 <= y - 4 and y + 4 <= 63
        block = ds.squares[k, y - 4 : y + 5, x - 4 : x + 5]
        assert torch.all(block == 1)
        assert ds.squares[k].sum() == 81


def _check_partition(train, test):
    assert train.dtype == torch.int64 and test.dtype == torch.int64
    assert torch.equal(train, train.sort().values)
    assert torch.equal(test, test.sort().values)
    tr, te = set(train.tolist()), set(test.tolist())
    assert len(tr) == len(train) and len(te) == len(test)
    assert not tr & te
    assert tr | te == set(range(N))


def test_uniform_split_sizes_and_partition():
    train, test = datasets.notsoclevr.split("uniform", seed=0)
    _check_partition(train, test)
    assert len(test) == 627
    assert len(train) == 2509


def test_uniform_split_deterministic_per_seed():
    a = datasets.notsoclevr.split("uniform", seed=3)
    b = datasets.notsoclevr.split("uniform", seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = datasets.notsoclevr.split("uniform", seed=4)
    assert not torch.equal(a[1], c[1])
    assert not torch.equal(datasets.notsoclevr.split("uniform", seed=0)[1], datasets.notsoclevr.split("uniform", seed=1)[1])


def test_quadrant_split_matches_rule(ds):
    train, test = datasets.notsoclevr.split("quadrant")
    _check_partition(train, test)
    assert len(test) == 729 and len(train) == 2407
    x, y = ds.centers[:, 0], ds.centers[:, 1]
    expected_test = torch.nonzero((x > 32) & (y > 32)).flatten()
    assert torch.equal(test, expected_test)
    assert torch.all((x[train] <= 32) | (y[train] <= 32))


def test_quadrant_split_ignores_seed():
    a = datasets.notsoclevr.split("quadrant", seed=0)
    b = datasets.notsoclevr.split("quadrant", seed=123)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_unknown_split_lists_valid_names():
    with pytest.raises(ValueError) as err:
        datasets.notsoclevr.split("random")
    msg = str(err.value)
    assert "'uniform'" in msg and "'quadrant'" in msg and "random" in msg
