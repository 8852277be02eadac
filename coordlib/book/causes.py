"""One cause at a time: which setting decides whether a CoordConv classifier seed solves.

Before chapter 4 ran at the release's settings, seed 2 of its quadrant-split
CoordConv classifier stopped at the 8-epoch cap with 100% train and 77% test
accuracy, while its other seeds solved in two epochs. The release's settings
(he_normal kernels with zero biases, L2 0.001 on kernels, raw pixel inputs)
differ from that earlier book in three ways, and the cap was a fourth
candidate. :func:`diagnose` reruns one seed from the earlier settings
(:data:`EARLIER`) changing one cause at a time (:data:`ARMS`), then the two
combinations the book and the release use, so that a chapter can say which
change matters.

Every arm trains :class:`coordlib.models.notsoclevr.CoordConvClassifier` with
the release's optimiser for the classifier (Adam, beta2 0.99, lr 0.005, batch
16; :mod:`coordlib.book.release`) and stops at the first epoch where train and
test accuracy are both 100%. The first arm runs up to ``long_epochs`` instead of
``epochs``: with a constant learning rate its first ``epochs`` epochs are the
same steps as a run capped there, so its curve answers "solved within the cap?"
and "solved with a longer cap?" in one run.
"""

from __future__ import annotations

import time
from typing import Mapping

from coordlib import models
from coordlib.book import release, results, tasks

__all__ = ["EARLIER", "ARMS", "arm_run", "test_accuracy_at", "diagnose"]

#: The classifier's settings in the book before issue 13 (PyTorch's initialisation,
#: no L2, coordinates scaled to [-1, 1]).
EARLIER: Mapping[str, object] = {"init": "pytorch", "l2": 0.0, "inputs": "scaled"}

#: ``(name, change from EARLIER)``, in the order a chapter shows them; the first
#: arm is the earlier settings themselves (with the longer cap).
ARMS: tuple[tuple[str, Mapping[str, object]], ...] = (
    ("earlier settings (PyTorch init, no L2, scaled inputs)", {}),
    ("+ L2 0.001 on kernels", {"l2": 1e-3}),
    ("+ he_normal, zero biases", {"init": "release"}),
    ("+ raw pixel inputs", {"inputs": "pixels"}),
    ("+ he_normal and L2 (this book's settings)", {"init": "release", "l2": 1e-3}),
    ("+ all three (the release's settings)",
     {"init": "release", "l2": 1e-3, "inputs": "pixels"}),
)


def arm_run(change: Mapping[str, object], *, seed: int, split: str, epochs: int,
            train_limit: int | None = None) -> dict:
    """Train one arm: :data:`EARLIER` updated with ``change``, up to ``epochs`` epochs.

    Returns the run's plain numbers (:meth:`coordlib.book.tasks.RunResult.numbers`)
    with ``settings`` (init, l2, inputs and the optimiser), ``max_epochs``,
    ``cpu_capability`` (the instruction set it ran on: runs are bitwise repeatable
    on one machine, not across instruction sets) and ``seconds`` (wall time).
    """
    unknown = set(change) - set(EARLIER)
    if unknown:
        raise ValueError(f"a change sets {sorted(EARLIER)}; got unknown {sorted(unknown)}")
    s = {**EARLIER, **change}
    opt = release.values("classification", "coordconv", "lr", "batch_size")
    tic = time.perf_counter()
    r = tasks.run(
        "classification",
        lambda: models.CoordConvClassifier(inputs=s["inputs"], init=s["init"]),
        split, seed=seed, epochs=epochs, batch_size=opt["batch_size"], lr=opt["lr"],
        l2=s["l2"], stop_when_solved=True, train_limit=train_limit, progress=False)
    return {"settings": {**s, **opt}, "max_epochs": epochs,
            "cpu_capability": results.environment()["cpu_capability"],
            "seconds": round(time.perf_counter() - tic, 1), **r.numbers()}


def test_accuracy_at(run: Mapping, epoch: int) -> float:
    """The run's test accuracy after ``epoch`` epochs (its last one if it stopped sooner)."""
    points = [c for c in run["curve"] if c["epoch"] <= epoch]
    if not points:
        raise ValueError(f"the run has no evaluation at or before epoch {epoch}")
    return points[-1]["test_accuracy"]


def diagnose(*, seed: int = 2, split: str = "quadrant", epochs: int = 8, long_epochs: int = 20,
             train_limit: int | None = None, done: Mapping[str, dict] | None = None,
             on_run=None) -> dict[str, dict]:
    """Every arm of :data:`ARMS` for one seed; ``{arm name: record}`` in :data:`ARMS`' order.

    The first arm runs up to ``long_epochs`` (>= ``epochs``), the others up to
    ``epochs``. Records already in ``done`` with the same ``max_epochs`` are kept,
    not rerun; ``on_run(name, record)`` is called after each new run (to store it).
    """
    if long_epochs < epochs or epochs < 1:
        raise ValueError(f"expected 1 <= epochs <= long_epochs, got epochs={epochs}, "
                         f"long_epochs={long_epochs}")
    out = {}
    for i, (name, change) in enumerate(ARMS):
        cap = long_epochs if i == 0 else epochs
        old = (done or {}).get(name)
        if old is not None and (old["max_epochs"], old["seed"], old["split"]) == (cap, seed, split):
            out[name] = old
            continue
        out[name] = {"seed": seed, "split": split,
                     **arm_run(change, seed=seed, split=split, epochs=cap,
                               train_limit=train_limit)}
        if on_run is not None:
            on_run(name, out[name])
    return out
