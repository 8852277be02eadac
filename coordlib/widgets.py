"""Interactive views for the chapters (ipywidgets). They need a live kernel to
respond; in the static HTML book the saved widget state shows the last view."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

__all__ = ["not_so_clevr_browser"]


def not_so_clevr_browser(dataset, splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> widgets.VBox:
    """Pick a centre ``(x, y)`` and a split; see the one-hot input, the square and its role.

    ``dataset`` is :func:`coordlib.data.not_so_clevr`'s result; ``splits`` maps a
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
