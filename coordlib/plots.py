"""Figures shared by the chapters (matplotlib only; no training code here)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["image_row", "split_map"]


def image_row(images: Sequence, titles: Sequence[str] | None = None, rows: int = 1, size: float = 1.6,
              cmap: str = "gray_r"):
    """Draw ``(H, W)`` images in a grid of ``rows`` rows; returns the figure."""
    n = len(images)
    cols = -(-n // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + 0.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            img = images[i].numpy() if isinstance(images[i], torch.Tensor) else np.asarray(images[i])
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def split_map(centers: torch.Tensor, test_idx: torch.Tensor, ax=None, title: str = "", canvas: int = 64):
    """Draw which square centres are train (light) and which are test (dark) on the canvas.

    ``centers`` is ``(N, 2)`` ``(x, y)``; ``test_idx`` indexes the test centres.
    Pixels that can never be a centre are left white.
    """
    ax = ax or plt.gca()
    grid = np.full((canvas, canvas), np.nan)
    xy = centers.numpy()
    grid[xy[:, 1], xy[:, 0]] = 0.0
    t = xy[test_idx.numpy()]
    grid[t[:, 1], t[:, 0]] = 1.0
    cmap = plt.matplotlib.colors.ListedColormap(["#9ecae1", "#d7301f"])
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x (column)")
    ax.set_ylabel("y (row)")
    return ax
