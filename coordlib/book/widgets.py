"""Interactive views for the chapters (ipywidgets). They need a live kernel to
respond; in the static HTML book the saved widget state shows the last view."""


from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

__all__ = ["not_so_clevr_browser", "interpolation_slider"]


def not_so_clevr_browser(dataset, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> widgets.VBox:
    """Pick a centre ``(x, y)`` and a split; see the one-hot input, the square and its role.

    ``dataset`` is :func:`coordlib.datasets.notsoclevr.not_so_clevr`'s result; ``splits`` maps a
    split name to ``(train_idx, test_idx)``.
    """
    lo, hi = int(dataset.centers.min()), int(dataset.centers.max())
    side = hi - lo + 1
    x = widgets.IntSlider(value=(lo + hi) // 2, min=lo, max=hi, description="x (column)")
    y = widgets.IntSlider(value=(lo + hi) // 2, min=lo, max=hi, description="y (row)")
    which = widgets.Dropdown(options=list(splits), description="split")
    out = widgets.Output()
    test_sets = {name: set(test.tolist()) for name, (_, test) in splits.items()}

    def draw(*_):
        k = (y.value - lo) * side + (x.value - lo)  # the generator's order
        role = "test" if k in test_sets[which.value] else "train"
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
            for ax, img, name in zip(axes, (dataset.onehots[k], dataset.squares[k]), ("one-hot", "square")):
                ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"{name}, k={k}", fontsize=9)
                ax.set_axis_off()
            fig.suptitle(f"centre ({x.value}, {y.value}): {role} example of the {which.value} split", fontsize=9)
            plt.show()

    for w in (x, y, which):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([x, y, which]), out])


def paint_comparison(painters: dict, test_region=None, canvas: int = 64) -> widgets.VBox:
    """Pick a coordinate; see what each model paints there, side by side.

    ``painters`` maps a title to a function ``(N, 2) int64 coordinates -> (N, H, W)``
    maps in [0, 1] (e.g. a classifier's softmax or a renderer's sigmoid).
    ``test_region`` optionally maps ``(x, y)`` to True when the coordinate is a
    test centre, which is shown in the title.
    """
    x = widgets.IntSlider(value=48, min=4, max=canvas - 5, description="x (column)")
    y = widgets.IntSlider(value=48, min=4, max=canvas - 5, description="y (row)")
    out = widgets.Output()

    def draw(*_):
        coords = torch.tensor([[x.value, y.value]])
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, len(painters), figsize=(3 * len(painters), 3.2), squeeze=False)
            for ax, (title, paint) in zip(axes[0], painters.items()):
                with torch.no_grad():
                    img = paint(coords)[0]
                ax.imshow(img, cmap="magma", vmin=0, interpolation="nearest")
                ax.plot(x.value, y.value, "c+", ms=12, mew=1.5)
                ax.set_title(title, fontsize=9)
                ax.set_axis_off()
            role = "" if test_region is None else (" (a test centre)" if test_region(x.value, y.value) else " (a training centre)")
            fig.suptitle(f"({x.value}, {y.value}){role}; cyan cross: the true pixel", fontsize=9)
            plt.show()

    for w in (x, y):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([x, y]), out])


def interpolation_slider(strips: dict[str, torch.Tensor], size: float = 2.0) -> widgets.VBox:
    """Walk a latent interpolation: one slider moves every model along its own path.

    ``strips`` maps a model's name to its frames ``(T, 3, H, W)`` in [-1, 1]
    (all with the same ``T``); the frames are computed beforehand, so the
    slider only redraws.
    """
    lengths = {name: len(frames) for name, frames in strips.items()}
    if not strips or len(set(lengths.values())) != 1:
        raise ValueError(f"interpolation_slider expected strips with the same number of frames, got {lengths}")
    from .plots import to_rgb  # plots imports matplotlib only; keep widgets' import light

    t = widgets.IntSlider(value=0, min=0, max=next(iter(lengths.values())) - 1, description="step")
    out = widgets.Output()

    def draw(*_):
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, len(strips), figsize=(size * len(strips), size + 0.3), squeeze=False)
            for ax, (name, frames) in zip(axes[0], strips.items()):
                ax.imshow(to_rgb(frames[t.value]), interpolation="nearest")
                ax.set_title(name, fontsize=9)
                ax.set_axis_off()
            plt.show()

    t.observe(draw, names="value")
    draw()
    return widgets.VBox([t, out])
