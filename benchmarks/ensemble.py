"""How much faster is a batched ensemble than training its members one by one? (CPU by default)

Method. For each model below, ``--members`` copies (seeded 0, 1, ...) train on
batches of ``--batch`` examples of their task, two ways: *sequential*, each
member with its own ``coordlib.training.optim.adam`` (the step of ``coordlib.book.tasks.run``),
and *ensemble*, all members as one ``coordlib.training.ensemble.Ensemble`` with
``coordlib.training.ensemble.adam`` (the step of ``coordlib.book.tasks.run_ensemble``). After a
warm-up, the two are timed *interleaved*: every repeat times ``--steps`` steps of
all members sequentially, then the same steps as an ensemble, so that load from
other processes hits both alike. ``speedup`` is the ratio of the medians
(sequential / ensemble, > 1: the ensemble is faster); ``paired`` is the median of
the per-repeat ratios (robust to bursts of load); ``noise`` the larger
interquartile range / median of the two.

Where it helps: the ensemble replaces ``M`` small kernels and ``M`` Python passes
through the model and the optimiser by one batched pass, so it wins where a
step is dominated by per-call overhead (small models, small batches, and
above all a GPU, which one tiny run leaves idle); on a CPU whose cores are
already busy with one member's convolutions there is little to gain, and
layouts ``vmap`` cannot keep (``channels_last``) can make it slower.

Measured while the book was built (CPU, 1 thread, niced, on 2 cores shared with
the chapter executions; ``--members 4 --repeats 3 --threads 1``), speed-up
(sequential / ensemble) in two runs, ``--steps 1`` at load ~8 and
``--steps 2`` at load ~5: CoordConvRegressor 0.58, 0.70; ConvRegressorQuadrant
0.95, 0.82; CoordConvClassifier 0.53, 0.55; DeconvNet 0.95, 0.74 (noise 20% to
200%, so only "not faster" is firm). On this CPU the
ensemble does not help: a step is already bound by the convolutions'
arithmetic, and the batched (grouped) convolutions that ``vmap`` makes
probably miss the ``channels_last`` fast paths the single models take. Train
the seeds one by one on a CPU; the ensemble is meant for GPUs, where one
member's step leaves the device idle (not measured here: no GPU was at hand).

Usage::

    python benchmarks/ensemble.py                      # a few minutes on 2 idle cores
    python benchmarks/ensemble.py --quick              # sanity run, seconds
    python benchmarks/ensemble.py --members 8 --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from _common import loadavg, write_json  # benchmarks/ is on sys.path when run as a script

from coordlib import models, training
from coordlib.book import tasks
from coordlib.training import pick_device

# name, task, model factory, BatchNorm?
MODELS = [
    ("CoordConvRegressor", "regression", lambda: models.CoordConvRegressor(), False),
    ("ConvRegressorQuadrant", "regression", lambda: models.ConvRegressorQuadrant(), True),
    ("CoordConvClassifier", "classification", lambda: models.CoordConvClassifier(), False),
    ("DeconvNet", "classification", lambda: models.DeconvNet(), True),
]


def _iqr(xs: list[float]) -> float:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[2] - q[0]


def bench(task_name: str, make_model, members: int, batch: int, steps: int, repeats: int, device) -> dict:
    """Median seconds per step (all members) of both ways, and their ratios."""
    t = tasks.task(task_name)
    g = torch.Generator().manual_seed(0)
    index = torch.randint(len(t.inputs), (steps, members, batch), generator=g)
    x_all, y_all = t.inputs.to(device), t.targets.to(device)
    singles = []
    for seed in range(members):
        torch.manual_seed(seed)
        singles.append(make_model().to(device))
    ens = training.Ensemble(singles)
    opts = [training.adam(m, 1e-3, 1e-3) for m in singles]
    ens_opt = training.ensemble.adam(ens, 1e-3, 1e-3)

    def sequential():
        for s in range(steps):
            for m, (model, opt) in enumerate(zip(singles, opts)):
                idx = index[s, m].to(device)
                loss = t.loss(model(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return loss.item()

    def batched():
        for s in range(steps):
            idx = index[s].to(device)
            losses = training.ensemble.step(ens, ens_opt, t.loss, x_all[idx], y_all[idx])
        return losses.sum().item()

    sequential(), batched()  # warm-up (allocations, oneDNN primitives)
    seq, bat = [], []
    for _ in range(repeats):
        for fn, out in ((sequential, seq), (batched, bat)):
            tic = time.perf_counter()
            fn()
            out.append((time.perf_counter() - tic) / steps)
    s_med, b_med = statistics.median(seq), statistics.median(bat)
    return {
        "sequential_ms": 1e3 * s_med,
        "ensemble_ms": 1e3 * b_med,
        "speedup": s_med / b_med,
        "paired": statistics.median(a / b for a, b in zip(seq, bat)),
        "noise": max(_iqr(seq) / s_med, _iqr(bat) / b_med),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default=None, help="default: coordlib.training.devices.pick_device() ($COORDLIB_DEVICE)")
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--quick", action="store_true", help="1 step, 2 repeats, 2 members")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.members, args.steps, args.repeats = 2, 1, 2
    if args.members < 1 or args.steps < 1 or args.repeats < 1:
        ap.error("--members, --steps and --repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    chosen = MODELS if args.only is None else [m for m in MODELS if m[0] in args.only.split(",")]
    if not chosen:
        ap.error(f"--only names none of {', '.join(m[0] for m in MODELS)}")
    rows = {}
    print(f"{'model':24s} {'task':15s} {'BN':3s} {'seq ms':>9s} {'ens ms':>9s} "
          f"{'speedup':>8s} {'paired':>7s} {'noise':>6s}")
    for name, task_name, make, bn in chosen:
        r = bench(task_name, make, args.members, args.batch, args.steps, args.repeats, device)
        rows[name] = {"task": task_name, "batchnorm": bn, **r}
        print(f"{name:24s} {task_name:15s} {'yes' if bn else 'no':3s} {r['sequential_ms']:9.1f} "
              f"{r['ensemble_ms']:9.1f} {r['speedup']:8.2f} {r['paired']:7.2f} {r['noise']:6.1%}")
    payload = {
        "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "loadavg": loadavg(), "members": args.members,
        "batch": args.batch, "steps": args.steps, "repeats": args.repeats, "models": rows,
    }
    if args.json:
        write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
