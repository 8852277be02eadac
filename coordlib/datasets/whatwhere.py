"""The "what" and "where" twins: chapter 7's offline stand-in for the ImageNet question.

Both tasks show the same images, one MNIST digit (resized to ``digit`` x ``digit``
pixels) at a uniformly random position on a black ``canvas`` x ``canvas`` image:

* **what**: the label is the digit's class (0..9). It does not depend on where
  the digit is, like an ImageNet label, so a translation-invariant network has
  all it needs and coordinates should not matter.
* **where**: the label is the cell of a ``grid`` x ``grid`` partition of the
  square of possible digit centres that holds this digit's centre
  (``row * grid + column``; partitioning the centres, not the canvas, makes the
  cells about equally likely). It depends only
  on position, so a network must know where things are, which is what
  coordinates supply.

Images come from :func:`coordlib.datasets.mnist.load_mnist`'s digits of the given split,
so training and test sets built from ``"train"`` and ``"test"`` share no digit.
"""


from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from coordlib.datasets.mnist import load_mnist, resize_digits

__all__ = ["WhatWhere", "what_where", "QUESTIONS"]

QUESTIONS = ("what", "where")


@dataclass(frozen=True)
class WhatWhere:
    """One set of images with both labellings.

    Attributes:
        images: ``(n, 1, canvas, canvas)`` float32 in [0, 1].
        what: ``(n,)`` int64 digit classes 0..9.
        where: ``(n,)`` int64 grid cells ``0..grid**2 - 1`` of the digit's centre.
        centers: ``(n, 2)`` float32 ``(x, y)`` centre of each pasted digit, in pixels.
        grid: cells per side.
    """

    images: torch.Tensor
    what: torch.Tensor
    where: torch.Tensor
    centers: torch.Tensor
    grid: int

    def __len__(self) -> int:
        return self.images.shape[0]

    def labels(self, task: str) -> torch.Tensor:
        """The ``(n,)`` labels of ``task`` (``"what"`` or ``"where"``)."""
        if task not in QUESTIONS:
            raise ValueError(f"unknown question {task!r}; valid questions are {', '.join(map(repr, QUESTIONS))}")
        return getattr(self, task)

    def classes(self, task: str) -> int:
        """Number of classes of ``task``: 10 digits, or ``grid**2`` cells."""
        return 10 if self.labels(task) is self.what else self.grid**2


def what_where(n: int, seed: int = 0, split: str = "train", canvas: int = 48, digit: int = 20, grid: int = 3) -> WhatWhere:
    """``n`` images of one digit each at a random position; deterministic per ``seed``.

    The digit's upper-left pixel is uniform over the positions where it fits
    whole; its centre is that corner plus ``(digit - 1) / 2``, and its cell is
    ``floor(corner * grid / positions)`` along each axis, with
    ``positions = canvas - digit + 1`` possible corners per axis.
    """
    for name, value, low in (("n", n, 1), ("canvas", canvas, 2), ("digit", digit, 1), ("grid", grid, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"what_where expected an int {name} >= {low}, got {value!r}")
    if digit > canvas:
        raise ValueError(f"what_where expected digit <= canvas, got digit={digit}, canvas={canvas}")
    if grid > canvas - digit + 1:
        raise ValueError(f"what_where expected grid <= canvas - digit + 1 (the positions per axis), got grid={grid}, "
                         f"canvas={canvas}, digit={digit}")
    digits, classes = load_mnist(split)
    rng = np.random.default_rng(seed)
    source = torch.from_numpy(rng.integers(0, len(digits), n))
    corner = torch.from_numpy(rng.integers(0, canvas - digit + 1, (n, 2)))  # (x, y) of the upper-left pixel
    ink = resize_digits(digits[source], digit, digit)  # (n, digit, digit)
    images = torch.zeros(n, 1, canvas, canvas)
    # Paste every digit at once: index rows and columns of its window.
    offs = torch.arange(digit)
    rows = (corner[:, 1, None] + offs)[:, :, None].expand(n, digit, digit)
    cols = (corner[:, 0, None] + offs)[:, None, :].expand(n, digit, digit)
    images[torch.arange(n)[:, None, None], 0, rows, cols] = ink
    centers = corner.to(torch.float32) + (digit - 1) / 2
    cell = corner * grid // (canvas - digit + 1)
    return WhatWhere(images=images, what=classes[source].clone(), where=cell[:, 1] * grid + cell[:, 0],
                     centers=centers, grid=grid)
