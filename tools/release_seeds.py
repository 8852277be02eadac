"""How many seeds of chapter 4's CoordConv models solve at the release's whole setting?

Chapter 4 trains the release's models for the few epochs its budget allows. This program runs
them at the release's whole setting instead (``coordlib.book.release``), five seeds on each split,
each run stopping at the first epoch where train and test accuracy are both 100%:

* ``--task regression`` (default): the released 906-parameter regressor
  (``coordlib.models.notsoclevr.CoordConvRegressor``, he_normal kernels, zero biases, one-hot
  inputs as released), Adam with beta2 0.99, lr 0.01, L2 1e-5 on kernels, batch 256, up to the
  README's 100 epochs. (PyTorch's channels-last layout would make an epoch about a fifth faster
  here, but it changes the losses in their seventh digit, so the runs keep the default layout.)
* ``--task classification``: the book's CoordConv classifier (``CoordConvClassifier``, he_normal,
  the book profile's input scale), Adam with beta2 0.99, lr 0.005, L2 1e-3, batch 16, up to the
  logged sweep's 50 epochs: the runs that tell whether a seed that did not solve within the
  book's cap solves within the release's.

The test measures are recorded after every epoch, so a run that did not solve shows whether it
was still converging. Each run is written, as soon as it is done, to
``book/results/released_regressor.json`` or ``released_classifier.json`` (atomically, keyed
``split/seed``, with the machine's CPU instruction set: the runs are bitwise repeatable on one
machine, not across instruction sets); runs already there are skipped, so an interrupted sweep
goes on where it stopped. Chapter 4 reads the files and reports, per split, how many seeds
solved, with an exact (Clopper-Pearson) interval::

    python tools/release_seeds.py                          # regressor: 5 seeds x 2 splits, <= 100 epochs
    python tools/release_seeds.py --task classification    # classifier: 5 seeds x 2 splits, <= 50 epochs
    python tools/release_seeds.py --splits quadrant --seeds 0,1 --epochs 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordlib import datasets, models  # noqa: E402
from coordlib._io import store_record  # noqa: E402
from coordlib.book import profiles, release, results, tasks  # noqa: E402

OUT = {"regression": ROOT / "book" / "results" / "released_regressor.json",
       "classification": ROOT / "book" / "results" / "released_classifier.json"}


def key(split: str, seed: int) -> str:
    """A run's name in the output file."""
    return f"{split}/{seed}"


def make_model(task_name: str):
    """The model chapter 4 trains for ``task_name`` (the book profile's classifier inputs)."""
    if task_name == "regression":
        return models.CoordConvRegressor
    inputs = profiles.settings("coordconv", "book")["inputs"]
    return lambda: models.CoordConvClassifier(inputs=inputs, init="release")


def one_run(split: str, seed: int, epochs: int, task_name: str = "regression") -> dict:
    """Train chapter 4's ``task_name`` model at the release's settings for up to ``epochs`` epochs."""
    s = release.values(task_name, "coordconv", "lr", "l2", "batch_size")
    if task_name == "classification":
        s["inputs"] = profiles.settings("coordconv", "book")["inputs"]
    tic = time.perf_counter()
    r = tasks.run(task_name, make_model(task_name), split, seed=seed, epochs=epochs,
                  batch_size=s["batch_size"], lr=s["lr"], l2=s["l2"], stop_when_solved=True,
                  progress=False)
    return {"split": split, "seed": seed, "max_epochs": epochs, "settings": s,
            "cpu_capability": results.environment()["cpu_capability"],
            "seconds": round(time.perf_counter() - tic, 1), **r.numbers()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="regression", choices=sorted(OUT))
    parser.add_argument("--splits", default=",".join(datasets.notsoclevr.SPLITS),
                        help="comma-separated: " + ", ".join(datasets.notsoclevr.SPLITS))
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epoch cap (default the release's: 100 regression, 50 classification)")
    parser.add_argument("--out", type=Path, default=None, help="default book/results/released_<model>.json")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = release.values(args.task, "coordconv", "epochs")["epochs"]
    args.out = args.out or OUT[args.task]
    splits = [s for s in args.splits.split(",") if s]
    bad = sorted(set(splits) - set(datasets.notsoclevr.SPLITS))
    if bad:
        parser.error(f"unknown splits {bad}; valid: {', '.join(datasets.notsoclevr.SPLITS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        parser.error(f"expected comma-separated integer seeds, got {args.seeds!r}")
    if args.epochs < 1 or not seeds:
        parser.error(f"expected --epochs >= 1 and at least one seed, got {args.epochs} and {args.seeds!r}")
    for split in splits:
        for seed in seeds:
            done = json.loads(args.out.read_text()) if args.out.exists() else {}
            if key(split, seed) in done and done[key(split, seed)]["max_epochs"] == args.epochs:
                print(f"{key(split, seed)}: already done", flush=True)
                continue
            run = one_run(split, seed, args.epochs, args.task)
            store_record(args.out, key(split, seed), run)
            state = f"solved at epoch {run['solved_at']}" if run["solved_at"] else "not solved"
            error = f"{run['test']['error_px']:.2f} px, " if "error_px" in run["test"] else ""
            print(f"{key(split, seed)}: {state}; test {run['test']['accuracy']:.1%}, "
                  f"{error}{run['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
