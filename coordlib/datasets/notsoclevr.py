"""Datasets of the paper. Not-so-Clevr (the paper's toy dataset; the release's
``data/not_so_clevr_generator.py``) and its two splits.

Not-so-Clevr: a 64x64 canvas with one 9x9 filled square whose centre ``(x, y)``
(column, row) takes every value in 4..59 exactly once: 56 * 56 = 3,136 examples.
Example ``k`` has its centre at ``y = k // 56 + 4``, ``x = k % 56 + 4``, the order
of the paper's two-line generator (``np.eye(3136)`` reshaped to 56x56 and padded).
"""


from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["NotSoClevr", "not_so_clevr", "split", "SPLITS", "CANVAS", "SQUARE", "N_EXAMPLES"]

CANVAS = 64  # image side, pixels
SQUARE = 9  # side of the filled square, pixels
_MARGIN = SQUARE // 2  # 4: the smallest centre that keeps the square on the canvas
_SIDE = CANVAS - 2 * _MARGIN  # 56 possible centres per axis
N_EXAMPLES = _SIDE * _SIDE  # 3,136
_UNIFORM_TEST_FRACTION = 0.2  # the paper's 80/20 (the release holds out ~25%)
_QUADRANT_EDGE = 32  # release: test iff x > 32 and y > 32


@dataclass(frozen=True)
class NotSoClevr:
    """The whole dataset, in the generator's order.

    Attributes:
        centers: ``(3136, 2)`` int64, ``(x, y)`` = (column, row) of each centre.
        onehots: ``(3136, 64, 64)`` float32, 1 at ``[k, y, x]`` and 0 elsewhere.
        squares: ``(3136, 64, 64)`` float32, 1 on the 9x9 square around the centre.

    The tensors are shared by every caller (the dataset is cached): clone before
    modifying them in place.
    """

    centers: torch.Tensor
    onehots: torch.Tensor
    squares: torch.Tensor

    def __len__(self) -> int:
        return self.centers.shape[0]


@functools.lru_cache(maxsize=1)
def not_so_clevr() -> NotSoClevr:
    """Build Not-so-Clevr (deterministic; no randomness involved)."""
    k = np.arange(N_EXAMPLES)
    x = k % _SIDE + _MARGIN
    y = k // _SIDE + _MARGIN
    centers = np.stack([x, y], axis=1)
    onehots = np.zeros((N_EXAMPLES, CANVAS, CANVAS), dtype=np.float32)
    onehots[k, y, x] = 1.0
    # A pixel (r, c) is on the square iff it is within 4 of the centre on both axes;
    # this equals convolving the one-hot with a 9x9 box ("SAME" padding).
    grid = np.arange(CANVAS)
    near_row = np.abs(grid[None, :] - y[:, None]) <= _MARGIN  # (N, 64) over rows
    near_col = np.abs(grid[None, :] - x[:, None]) <= _MARGIN  # (N, 64) over columns
    squares = (near_row[:, :, None] & near_col[:, None, :]).astype(np.float32)
    return NotSoClevr(
        centers=torch.from_numpy(centers.astype(np.int64)),
        onehots=torch.from_numpy(onehots),
        squares=torch.from_numpy(squares),
    )


SPLITS = ("uniform", "quadrant")


def split(name: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train_idx, test_idx)`` into :func:`not_so_clevr`, each sorted int64.

    * ``"uniform"``: a random 20% of the centres test (the paper's 80/20; 627 test,
      2,509 train), drawn with ``numpy.random.default_rng(seed)``.
    * ``"quadrant"``: a centre tests iff ``x > 32 and y > 32`` (the release's
      bottom-right quadrant in image coordinates; 729 test, 2,407 train). The seed
      is ignored: the split is fixed.

    The two index sets are disjoint and together cover all 3,136 examples.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown Not-so-Clevr split {name!r}; valid splits are {', '.join(map(repr, SPLITS))}")
    k = np.arange(N_EXAMPLES)
    if name == "uniform":
        n_test = round(_UNIFORM_TEST_FRACTION * N_EXAMPLES)
        is_test = np.zeros(N_EXAMPLES, dtype=bool)
        is_test[np.random.default_rng(seed).permutation(N_EXAMPLES)[:n_test]] = True
    else:
        x = k % _SIDE + _MARGIN
        y = k // _SIDE + _MARGIN
        is_test = (x > _QUADRANT_EDGE) & (y > _QUADRANT_EDGE)
    return torch.from_numpy(k[~is_test]), torch.from_numpy(k[is_test])
