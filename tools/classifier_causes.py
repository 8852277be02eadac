"""Which of the release's settings make seed 2 of the quadrant CoordConv classifier solve?

Runs :func:`coordlib.book.causes.diagnose`: the classifier from the book's earlier
settings (PyTorch's initialisation, no L2, scaled inputs), then one change at a time
(L2, he_normal, raw pixel inputs), then the book's and the release's combinations;
the earlier settings also run with a longer epoch cap. Each run stops when train and
test accuracy are both 100%. Each arm is written, as soon as it is done, to
``book/results/classifier_causes.json`` (atomically); arms already there are skipped,
so an interrupted run goes on where it stopped. Chapter 4 reads the file::

    python tools/classifier_causes.py                      # seed 2, cap 8, longer cap 20
    python tools/classifier_causes.py --epochs 1 --long-epochs 1 --out /tmp/c.json  # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordlib import datasets  # noqa: E402
from coordlib._io import store_record  # noqa: E402
from coordlib.book import causes  # noqa: E402

DEFAULT_OUT = ROOT / "book" / "results" / "classifier_causes.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--split", default="quadrant", choices=datasets.notsoclevr.SPLITS)
    parser.add_argument("--epochs", type=int, default=8, help="every arm's cap (the book's, 8)")
    parser.add_argument("--long-epochs", type=int, default=20,
                        help="the earlier settings' longer cap")
    parser.add_argument("--train-limit", type=int, default=None, help="train on this many examples")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not 1 <= args.epochs <= args.long_epochs:
        parser.error(f"expected 1 <= --epochs <= --long-epochs, got {args.epochs} and "
                     f"{args.long_epochs}")
    done = json.loads(args.out.read_text()) if args.out.exists() else {}

    def store(name: str, record: dict) -> None:
        store_record(args.out, name, record)
        state = f"solved at epoch {record['solved_at']}" if record["solved_at"] else "not solved"
        print(f"{name}: {state}; train {record['train']['accuracy']:.1%}, test "
              f"{record['test']['accuracy']:.1%}, {record['seconds']:.0f} s", flush=True)

    causes.diagnose(seed=args.seed, split=args.split, epochs=args.epochs,
                    long_epochs=args.long_epochs, train_limit=args.train_limit, done=done,
                    on_run=store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
