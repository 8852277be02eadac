"""Figures shared by the chapters (matplotlib only; no training code here)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["image_row", "split_map", "to_rgb", "scene_grid"]


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


def table(rows: Sequence[Sequence], header: Sequence[str]):
    """A Markdown table for display in a notebook (rendered in the HTML book too)."""
    from IPython.display import Markdown

    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return Markdown("\n".join(lines))


def ci_bars(ax, groups: Sequence[str], series: dict, paper: dict | None = None, ylabel: str = ""):
    """Grouped bars of means with 95% CI error bars.

    ``series`` maps a label (e.g. ``"train"``) to one :class:`coordlib.stats.Estimate`
    per group; ``paper`` optionally maps a label to one published value per group
    (``None`` where not published), drawn as black ticks.
    """
    width = 0.8 / len(series)
    xs = np.arange(len(groups))
    for i, (label, estimates) in enumerate(series.items()):
        means = np.array([e.mean for e in estimates])
        err = np.array([[e.mean - e.low for e in estimates], [e.high - e.mean for e in estimates]])
        ax.bar(xs + (i - (len(series) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=label)
        for x, v in zip(xs + (i - (len(series) - 1) / 2) * width, (paper or {}).get(label, [None] * len(groups))):
            if v is not None:
                ax.plot([x - width / 2, x + width / 2], [v, v], color="black", lw=2)
    ax.set_xticks(xs, groups)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def zoom(ax, image, center, radius: int = 5, marks=(), title: str = "", cmap: str = "viridis"):
    """Show ``image[y - r : y + r + 1, x - r : x + r + 1]`` around ``center = (x, y)``.

    ``marks`` are ``(x, y, style)`` triples drawn as outlined squares (e.g. test centres).
    """
    x, y = center
    img = np.asarray(image)[y - radius : y + radius + 1, x - radius : x + radius + 1]
    im = ax.imshow(img, cmap=cmap, extent=(x - radius - 0.5, x + radius + 0.5, y + radius + 0.5, y - radius - 0.5))
    for mx, my, color in marks:
        ax.add_patch(plt.Rectangle((mx - 0.5, my - 0.5), 1, 1, fill=False, edgecolor=color, lw=1.5))
    ax.set_title(title, fontsize=9)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


def to_rgb(image: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` image in [-1, 1] (a generator's tanh output) -> ``(H, W, 3)`` in [0, 1] for imshow."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"to_rgb expected a (3, H, W) image, got shape {tuple(image.shape)}")
    return ((image.detach().float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()


def scene_grid(images: torch.Tensor, rows: int = 1, size: float = 1.0, title: str | None = None,
               row_labels: Sequence[str] | None = None):
    """Draw ``(N, 3, H, W)`` images in [-1, 1] in ``rows`` rows; returns the figure."""
    n = len(images)
    cols = -(-n // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.3 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(to_rgb(images[i]), interpolation="nearest")
    if row_labels is not None:
        for ax, label in zip(axes[:, 0], row_labels):
            ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
