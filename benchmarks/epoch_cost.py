"""Per-epoch cost of chapter 4's models on this machine, and what a change of memory layout buys.

What it measures. For each model chapter 4 trains (the CoordConv classifier and renderer, the
released 906-parameter regressor at the release's batch 256, the book's gain-64 regressor at batch
16, the deconv baseline of chapter 2), on the quadrant split with the release's optimiser:

* ``train_s``: one training epoch (``coordlib.training.fit``, every step of it);
* ``eval_s``: one evaluation pass over the training set and the test set in no-grad batches of
  256 (``coordlib.book.tasks.predict``), which ``tasks.run`` makes after an epoch to see whether
  the task is solved. ``tasks.run`` reuses the last epoch's pass for its final measures
  instead of making one more: the saving per run is ``eval_s`` (or its test part alone);
* ``channels_last_ratio``: the training epoch's time in PyTorch's channels-last memory layout
  over the default layout's, and whether its loss is bitwise the default's (``same_loss``). A
  layout that changes the numbers is not free: the book would have to rerun to keep its outputs.
  One equal epoch on one split is necessary, not sufficient: on the uniform split the released
  regressor's first-epoch loss in channels-last differed from the default's in its seventh digit
  (3.7162204 against 3.7162212), so the book keeps the default layout.

Layouts are interleaved (default, channels-last, default, ...) ``--repeats`` times and the median
kept, so a change of machine load hits both alike. Run it on an otherwise idle machine::

    python benchmarks/epoch_cost.py --json benchmarks/results/epoch_cost.json
    python benchmarks/epoch_cost.py --models released_regressor --repeats 1   # one model, quickly
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from _common import Session, write_json  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

from coordlib import datasets, models
from coordlib.book import release, tasks
from coordlib.training import fit, optim, seed_everything

SPLIT = "quadrant"


def _painter(task_name, make):
    s = release.values(task_name, "coordconv", "lr", "l2", "batch_size")
    return task_name, make, s


MODELS = {
    "classifier": lambda: _painter("classification", lambda: models.CoordConvClassifier(inputs="scaled")),
    "renderer": lambda: _painter("rendering", lambda: models.CoordConvRenderer(inputs="scaled", init="pytorch")),
    "released_regressor": lambda: ("regression", models.CoordConvRegressor,
                                   release.values("regression", "coordconv", "lr", "l2", "batch_size")),
    "gain64_regressor": lambda: ("regression", lambda: models.CoordConvRegressor(onehot_gain=64.0, init="pytorch"),
                                 {"lr": 2e-3, "l2": 0.0, "batch_size": 16}),
    "deconv": lambda: ("classification", lambda: models.DeconvNet(2, 3),
                       release.values("classification", "deconv", "lr", "l2", "batch_size")),
}


def one_epoch(name: str, channels_last: bool) -> tuple[float, float, float]:
    """``(train seconds, loss, eval seconds)`` of one epoch of model ``name`` from seed 0."""
    task_name, make, s = MODELS[name]()
    t = tasks.task(task_name)
    train_idx, test_idx = datasets.notsoclevr.split(SPLIT)
    seed_everything(0)
    model = make()
    x, y = t.inputs[train_idx], t.targets[train_idx]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
    history = fit(model, x, y, t.loss, epochs=1, batch_size=s["batch_size"], seed=0, progress=False,
                  optimizer=lambda p: optim.adam(model, s["lr"], s["l2"], betas=release.ADAM["betas"]))
    tic = time.perf_counter()
    tasks.predict(model, t.inputs[test_idx])
    tasks.predict(model, t.inputs[train_idx])
    return history.last["seconds"], history.last["loss"], time.perf_counter() - tic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH (atomically)")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(MODELS))
    if unknown or args.repeats < 1:
        parser.error(f"expected --models among {', '.join(MODELS)} and --repeats >= 1; got {unknown or args.repeats}")
    session = Session()
    session.start()
    rows = {}
    for name in names:
        times = {False: [], True: []}
        evals, losses = [], {}
        for _ in range(args.repeats):
            for layout in (False, True):
                train_s, loss, eval_s = one_epoch(name, layout)
                times[layout].append(train_s)
                losses[layout] = loss
                if not layout:
                    evals.append(eval_s)
        row = {"train_s": statistics.median(times[False]), "eval_s": statistics.median(evals),
               "channels_last_ratio": statistics.median(times[True]) / statistics.median(times[False]),
               "same_loss": losses[True] == losses[False]}
        rows[name] = row
        print(f"{name:20s} epoch {row['train_s']:6.2f} s  eval {row['eval_s']:5.2f} s  channels-last "
              f"{row['channels_last_ratio']:.2f}x ({'same' if row['same_loss'] else 'different'} loss)",
              flush=True)
    session.stop()
    if args.json:
        write_json(args.json, {"split": SPLIT, "repeats": args.repeats, "models": rows, **session.fields()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
