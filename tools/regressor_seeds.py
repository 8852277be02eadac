"""How many seeds of the released 906-parameter CoordConv regressor solve Not-so-Clevr regression?

Chapter 4 trains the release's regressor (``coordlib.models.notsoclevr.CoordConvRegressor``, he_normal
kernels, zero biases, one-hot inputs as released) for the few epochs its budget allows. This program
runs it at the release's whole setting instead (``coordlib.book.release``, ``("regression",
"coordconv")``: Adam with beta2 0.99, lr 0.01, L2 1e-5 on kernels, batch 256, up to the README's
100 epochs), five seeds on each split, each run stopping at the first epoch where train and test
accuracy are both 100% (every predicted pixel rounds to the true one). The test accuracy and pixel
error are recorded after every epoch, so a run that did not solve shows whether it was still
converging. (PyTorch's channels-last layout would make an epoch about a fifth faster here, but it
changes the losses in their seventh digit, so the runs keep the default layout.)

Each run is written, as soon as it is done, to ``book/results/released_regressor.json``
(atomically, keyed ``split/seed``); runs already there are skipped, so an interrupted sweep goes on
where it stopped. Chapter 4 reads the file and reports, per split, how many seeds solved, with an
exact (Clopper-Pearson) interval::

    python tools/regressor_seeds.py                        # 5 seeds x 2 splits, up to 100 epochs
    python tools/regressor_seeds.py --splits quadrant --seeds 0,1 --epochs 3   # a quick look
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
from coordlib._io import atomic_write  # noqa: E402
from coordlib.book import release, tasks  # noqa: E402

DEFAULT_OUT = ROOT / "book" / "results" / "released_regressor.json"


def key(split: str, seed: int) -> str:
    """A run's name in the output file."""
    return f"{split}/{seed}"


def one_run(split: str, seed: int, epochs: int) -> dict:
    """Train the released regressor at the release's settings for up to ``epochs`` epochs."""
    s = release.values("regression", "coordconv", "lr", "l2", "batch_size")

    tic = time.perf_counter()
    r = tasks.run("regression", models.CoordConvRegressor, split, seed=seed, epochs=epochs,
                  batch_size=s["batch_size"], lr=s["lr"], l2=s["l2"], stop_when_solved=True,
                  progress=False)
    return {"split": split, "seed": seed, "max_epochs": epochs, "settings": s,
            "seconds": round(time.perf_counter() - tic, 1), **r.numbers()}


def main(argv: list[str] | None = None) -> int:
    release_epochs = release.values("regression", "coordconv", "epochs")["epochs"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default=",".join(datasets.notsoclevr.SPLITS),
                        help="comma-separated: " + ", ".join(datasets.notsoclevr.SPLITS))
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=release_epochs,
                        help=f"epoch cap (default the release's {release_epochs})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
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
            run = one_run(split, seed, args.epochs)
            done = json.loads(args.out.read_text()) if args.out.exists() else {}
            done[key(split, seed)] = run
            text = json.dumps(done, indent=1, sort_keys=True) + "\n"
            args.out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(args.out, lambda f, text=text: f.write(text.encode()))
            state = f"solved at epoch {run['solved_at']}" if run["solved_at"] else "not solved"
            print(f"{key(split, seed)}: {state}; test {run['test']['accuracy']:.1%}, "
                  f"{run['test']['error_px']:.2f} px, {run['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
