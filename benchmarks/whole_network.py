"""What do coordinates cost in a whole network? torchvision ResNet-18/50, CPU, forward + backward.

For each model (``weights=None``: nothing is downloaded) the script builds, from
one set of weights, the variants

* ``plain``: the torchvision network;
* ``stem``: coordinates at the stem only, ``coordlib.layers.convert.add_coords(model, "first")``;
* ``all``: coordinates at every convolution, ``add_coords(model, "all")``;
* ``stem-concat`` and ``all-concat``: the same, with the textbook layer that
  concatenates the coordinates onto the batch (``ConcatCoordConv2d``, same
  state dict) instead of ``CoordConv2d``.

All variants compute the same function at the start (zero coordinate weights).

Method. Train mode (BatchNorm uses batch statistics), input without grad. One
timing is ``model(x).sum().backward()``; gradients are set to None before each
step, outside the timer. After a warm-up, the variants are timed *interleaved*
(every repeat times each variant once, in a fixed order), so load from other
processes hits all of them alike. The table reports medians and the ratios of
medians to ``plain``, all from this one run; ``noise`` is the largest
interquartile range / median over the variants. The 1-minute load average is
printed before and after: ratios taken with a load near or above the thread
count are not to be trusted at the 5% level (and with two threads on a busy
machine, spin-waiting threads can make a step several times slower: use
``--threads 1`` there).

``--compile`` also times each variant under ``torch.compile`` (inductor, CPU),
in the same interleaved loop; compile time is spent in the warm-up and
reported separately.

Usage::

    python benchmarks/whole_network.py                                  # batch 32, 224 px: slow on 2 cores (~30 min)
    python benchmarks/whole_network.py --batch 4 --repeats 3 --size 64 --threads 1  # smoke run, ~1 min
    python benchmarks/whole_network.py --models resnet18 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from _common import Session, relative_iqr, write_json  # noqa: E402 (benchmarks/ is on sys.path when run as a script)
from torch import nn

from coordlib.layers import ConcatCoordConv2d, CoordConv2d, add_coords

MODELS = ("resnet18", "resnet50")
VARIANTS = ("plain", "stem", "all", "stem-concat", "all-concat")


def _concatenating(model: nn.Module) -> nn.Module:
    """``model`` with every CoordConv2d replaced by a ConcatCoordConv2d holding the same state dict."""
    for name, m in list(model.named_modules()):
        if type(m) is CoordConv2d:
            concat = ConcatCoordConv2d(
                m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                m.bias is not None, m.with_r, groups=m.groups, padding_mode=m.padding_mode,
            )
            concat.load_state_dict(m.state_dict())
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent), attr, concat)
    return model


def build_variants(name: str) -> dict[str, nn.Module]:
    """The five variants of torchvision's ``name``, from one set of (random) weights."""
    import torchvision

    torch.manual_seed(0)
    plain = getattr(torchvision.models, name)(weights=None)
    variants = {"plain": plain}
    for which in ("stem", "all"):
        model, _ = add_coords(copy.deepcopy(plain), "first" if which == "stem" else "all")
        variants[which] = model
        variants[f"{which}-concat"] = _concatenating(copy.deepcopy(model))
    return {k: variants[k].train() for k in VARIANTS}


def _step(model: nn.Module, x: torch.Tensor) -> float:
    """One forward + backward; returns seconds. Gradients are cleared before timing."""
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    model(x).sum().backward()
    return time.perf_counter() - t0


def bench_model(name: str, batch: int, size: int, repeats: int, warmup: int, compile_: bool) -> dict:
    models = build_variants(name)
    if compile_:
        models.update({f"{k}+compile": torch.compile(m) for k, m in list(models.items())})
    torch.manual_seed(1)
    x = torch.randn(batch, 3, size, size)

    compile_s = {}
    for key, model in models.items():  # warm-up; for compiled variants this is where compilation happens
        t0 = time.perf_counter()
        for _ in range(max(warmup, 1 if "+compile" in key else 0)):
            _step(model, x)
        if "+compile" in key:
            compile_s[key] = time.perf_counter() - t0

    times: dict[str, list[float]] = {key: [] for key in models}
    for _ in range(repeats):  # round-robin: noise hits every variant alike
        for key, model in models.items():
            times[key].append(_step(model, x))

    med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
    iqr = {key: relative_iqr(v) for key, v in times.items()}
    return {
        "model": name,
        "input": [batch, 3, size, size],
        "median_ms": med,
        "ratio_to_plain": {key: med[key] / med["plain"] for key in med},
        "paired_ratio_to_plain": {
            key: statistics.median(t / p for t, p in zip(v, times["plain"])) for key, v in times.items()
        },
        "noise_iqr_over_median": max(iqr.values()),
        "compile_s": compile_s,
        "times_ms": {key: [t * 1e3 for t in v] for key, v in times.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per variant (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant first (default 1)")
    parser.add_argument("--compile", action="store_true", help="also time every variant under torch.compile")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice; 1 is steadier on a shared machine)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH (atomically)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names or any(n not in MODELS for n in names):
        parser.error(f"--models expects names from {MODELS}, got {args.models!r}")
    if args.repeats < 1 or args.batch < 1 or args.warmup < 0 or args.size < 32:
        parser.error("--repeats and --batch must be >= 1, --warmup >= 0, --size >= 32")

    session = Session()
    print(f"batch {args.batch}, {args.size}x{args.size} px, repeats {args.repeats} (interleaved), "
          f"warm-up {args.warmup}, train mode, forward+backward, median ms")

    session.start()
    results = []
    for name in names:
        r = bench_model(name, args.batch, args.size, args.repeats, args.warmup, args.compile)
        results.append(r)
        print(f"\n{name}  (noise {r['noise_iqr_over_median']:.1%})")
        print(f"  {'variant':<20} {'median ms':>10} {'/plain':>7} {'paired':>7}")
        for key, ms in r["median_ms"].items():
            print(f"  {key:<20} {ms:10.1f} {r['ratio_to_plain'][key]:7.3f} {r['paired_ratio_to_plain'][key]:7.3f}")
        for key, s in r["compile_s"].items():
            print(f"  compile + first step of {key}: {s:.0f} s")
        sys.stdout.flush()
    elapsed = session.stop()
    print(f"/plain = ratio of medians; paired = median of per-repeat ratios; total {elapsed:.0f} s")

    if args.json:
        write_json(args.json, {
            **session.fields(),
            "batch": args.batch,
            "size": args.size,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "compile": args.compile,
            "results": results,
        })
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
