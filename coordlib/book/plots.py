"""Figures shared by the chapters (matplotlib only; no training code here)."""


from __future__ import annotations

import json
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from coordlib.book import results

__all__ = ["image_row", "split_map", "to_rgb", "scene_grid", "table", "ci_bars", "zoom", "paper_vs_ours", "stepper"]


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

    ``series`` maps a label (e.g. ``"train"``) to one :class:`coordlib.book.stats.Estimate`
    per group; ``paper`` optionally maps a label to one published value per group
    (``None`` where not published), drawn as black ticks.
    """
    width = 0.8 / len(series)
    xs = np.arange(len(groups))
    for i, (label, estimates) in enumerate(series.items()):
        means = np.array([e.mean for e in estimates])
        err = np.array([[e.mean - e.ends()[0] for e in estimates], [e.ends()[1] - e.mean for e in estimates]])
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


_UNIT_AXIS = {"%": "accuracy or share (%)", "iou": "IOU", "px": "error (px)", "x": "ratio (x, log scale)", "": "value"}


def _rows_for_plot(judgements):
    """Plottable rows: ``(label, unit, paper value or None, estimate dict, is_difference)``."""
    rows = []
    for j in judgements:
        d = j.as_dict() if hasattr(j, "as_dict") else dict(j)
        est = d.get("estimate")
        if est is None:
            continue
        is_diff = "comparison" in est or "diff" in est
        if "comparison" in est:  # an equivalence test: plot the difference
            est = est["comparison"]
        if "diff" in est:
            est = est["diff"]
        paper = d.get("paper_value")
        if d["rule"] in ("direction", "equivalent", "holds") or isinstance(paper, (list, tuple)):
            paper = 0.0 if is_diff else None
        rows.append((d["claim"], d.get("unit", "%"), paper, est, is_diff, d["verdict"], d.get("paper_value"),
                     d.get("id"), d.get("chapter")))
    return rows


def _beside(rows, profile: str | None) -> tuple[str | None, dict]:
    """The same claims' estimates under ``profile``, from its saved results: ``(label, {claim id: estimate})``.

    Empty when ``profile`` is None or no chapter of ``rows`` has results under it. The label names the
    profile and the device of the runs (the GPU, else the CPU model), from the results' environment.
    """
    if profile is None:
        return None, {}
    found, devices = {}, []
    for chapter in sorted({r[8] for r in rows if r[8]}):
        path = results.path_for(chapter, profile)
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        env = saved.get("environment") or {}
        devices.append(env.get("cuda") or env.get("cpu") or "unknown device")
        for row in _rows_for_plot(saved.get("results", {}).get("verdicts", [])):
            found[row[7]] = row[3]
    if not found:
        return None, {}
    return f"{profile} profile ({', '.join(sorted(set(devices)))})", found


def paper_vs_ours(judgements, title: str = "The paper against this book", width: float = 7.0,
                  beside: str | None = "gpu"):
    """The chapter's closing figure: per claim, the paper's value and ours, with the seeds as dots.

    ``judgements`` are :class:`coordlib.book.report.Judgement` objects or their
    dicts (as saved in results). Each claim is one row: a black diamond at the
    published value (for a comparison: a dashed line at no difference), our
    mean as a bar end with its interval, and each seed as a small dot. Rows are
    grouped into panels by unit so that scales are not mixed. When the chapters
    of the judgements have results under the profile ``beside`` (default: the
    ``gpu`` profile's, ``book/results/gpu/``), the same claims' means and
    intervals under it are drawn below ours as hollow squares, labelled with
    the profile and device; ``beside=None`` leaves them out. Returns the figure.
    """
    rows = _rows_for_plot(judgements)
    if not rows:
        raise ValueError("paper_vs_ours needs at least one judged claim with a measured estimate")
    other_label, other = _beside(rows, beside)
    panels = {}
    for r in rows:
        panels.setdefault((r[1], r[4]), []).append(r)
    heights = [len(v) for v in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1.6 + 0.42 * sum(heights) + 0.6 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    colours = {"reproduced": "#1b7837", "contradicted": "#b2182b", "inconclusive": "#7f7f7f",
               "not tested at this budget": "#e08214"}
    for ax, ((unit, is_diff), items) in zip(axes[:, 0], panels.items()):
        scale = 100.0 if unit == "%" else 1.0
        for i, (label, _, paper, est, _, verdict, published, claim_id, _) in enumerate(items):
            y = len(items) - 1 - i
            colour = colours.get(verdict, "black")
            mean = est["mean"] * scale
            lo, hi = est.get("ci_low"), est.get("ci_high")
            if lo is not None:
                ax.plot([lo * scale, hi * scale], [y, y], color=colour, lw=3, solid_capstyle="butt", alpha=0.6)
            ax.plot(mean, y, "o", color=colour, ms=7, zorder=3)
            vals = est.get("values") or []
            if vals:
                jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
                ax.plot(np.asarray(vals) * scale, y + 0.28 + np.asarray(jitter) * 0, ".", color=colour, ms=5,
                        alpha=0.9, zorder=2)
            if claim_id in other:  # the same claim under the other profile, just below ours
                o = other[claim_id]
                if o.get("ci_low") is not None:
                    ax.plot([o["ci_low"] * scale, o["ci_high"] * scale], [y - 0.28] * 2, color="#2166ac", lw=1.5)
                ax.plot(o["mean"] * scale, y - 0.28, "s", color="#2166ac", mfc="white", ms=6, mew=1.5, zorder=3)
            if paper is not None and not is_diff:
                ax.plot(paper * scale, y, "D", color="black", ms=7, mfc="none", mew=1.5, zorder=4)
            elif isinstance(published, (list, tuple)) and not is_diff:  # a published range
                ax.plot(np.asarray(published) * scale, [y, y], color="black", lw=1.5, marker="|", ms=12, zorder=4)
        if is_diff:
            ax.axvline(0, color="black", ls="--", lw=1)
        ax.set_yticks(range(len(items)), [_wrap(r[0]) for r in reversed(items)], fontsize=9)
        ax.set_ylim(-0.6, len(items) - 0.4)
        axis = _UNIT_AXIS[unit]
        ax.set_xlabel(("CoordConv minus baseline: " if is_diff else "") + axis, fontsize=10)
        if unit == "x" and not is_diff:
            ax.set_xscale("log")
        ax.tick_params(axis="x", labelsize=9)
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="D", color="black", mfc="none", ls="", label="paper (a range: |-|)"),
               plt.Line2D([], [], marker="o", color="#444444", ls="-", lw=3, alpha=0.7, label="ours: mean and 95% CI"),
               plt.Line2D([], [], marker=".", color="#444444", ls="", label="ours: one seed")]
    if other:
        handles.append(plt.Line2D([], [], marker="s", color="#2166ac", mfc="white", ls="-", lw=1.5,
                                  label=other_label))
    handles += [plt.Line2D([], [], color=c, lw=3, label=v) for v, c in colours.items()]
    axes[0, 0].set_title(title, fontsize=11, loc="left")
    fig.tight_layout(rect=(0, 0.9 / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


def _wrap(text: str, width: int = 38) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])


def stepper(frames: Sequence, labels: Sequence[str], interval: int = 400, size: float = 2.0, cmap: str = "gray_r"):
    """What a slider shows, for a page without a kernel: an HTML player that steps through ``frames``.

    ``frames`` is a sequence of images (``(H, W)`` in [0, 1] or ``(H, W, 3)``), or of
    lists of images shown side by side; ``labels`` one caption per frame. Returns
    an ``IPython.display.HTML`` (matplotlib's JavaScript animation player), which
    plays and steps in the static book.
    """
    from IPython.display import HTML
    from matplotlib import animation

    if len(frames) != len(labels) or not frames:
        raise ValueError(f"expected one label per frame and at least one frame, got {len(frames)} frames "
                         f"and {len(labels)} labels")
    panels = [f if isinstance(f, (list, tuple)) else [f] for f in frames]
    k = len(panels[0])
    fig, axes = plt.subplots(1, k, figsize=(size * k, size + 0.4), squeeze=False)
    ims = []
    for ax, img in zip(axes[0], panels[0]):
        ax.set_xticks([])
        ax.set_yticks([])
        ims.append(ax.imshow(np.asarray(img), cmap=cmap, vmin=0, vmax=1, interpolation="nearest"))
    title = fig.suptitle(labels[0], fontsize=11)
    fig.tight_layout()

    def show(i):
        for im, img in zip(ims, panels[i]):
            im.set_data(np.asarray(img))
        title.set_text(labels[i])
        return ims

    anim = animation.FuncAnimation(fig, show, frames=len(panels), interval=interval)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return HTML(html)
