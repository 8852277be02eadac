"""How much does CoordConv cost over a plain convolution? (CPU, forward + backward)

Goal (the layer's performance contract): ``coordlib.CoordConv2d`` should
run forward + backward within 5% of a plain ``nn.Conv2d`` with the same input and
output channels, i.e. a ratio coordconv/plain <= 1.05, on the first two shapes
below (a ResNet stem and a 64->64 3x3 block). The textbook layer that
concatenates the coordinate channels onto the batch (``ConcatCoordConv2d``) costs
~1.5-1.8x a plain Conv2d on these machines (measured while the book was built:
1.8x at the stem, ~1.5x at 64->64 3x3 56x56; this script's concat column measures
it again). ``CoordConv2d`` avoids it by convolving the coordinate grid
once per forward, on a batch of one, and adding the result in place.

Method. For each shape the three layers (plain ``nn.Conv2d``, ``ConcatCoordConv2d``,
``CoordConv2d``; the two coordinate layers share one state dict) are warmed up,
then timed *interleaved*: every repeat times plain, then concat, then coordconv,
so that machine noise hits all three alike. One timing is ``out = layer(x)``
followed by ``out.backward(ones)``; the input does not require grad, parameter
gradients are zeroed (set to None) before each timed step, outside the timer.
The table reports the median over repeats and the ratios of medians to plain;
``paired`` is the median of the per-repeat ratio coordconv/plain (robust to bursts
of load from other processes, since each repeat times the three back to back);
``noise`` is
the largest interquartile range / median of the three layers (a few percent is
normal; more means the ratios are not to be trusted at the 5% level).

``--breakdown`` also times, per shape, the pieces ``CoordConv2d`` adds to a
plain convolution, each on its own (median ms, and as a fraction of plain):
building the coordinate grid, the coordinate term's convolution forward +
backward on a batch of one, the broadcast in-place add of the term onto the
``(N, C', H', W')`` output, and the reduction of the output gradient over the
batch that the add's backward does. The last two are one extra pass each over
the output and its gradient; they are the floor of this formulation (only a
fused "convolve and add" kernel would remove them).

Usage::

    python benchmarks/coordconv_overhead.py                 # default: ~1 min on 2 cores
    python benchmarks/coordconv_overhead.py --breakdown --threads 1   # where the overhead goes
    python benchmarks/coordconv_overhead.py --quick         # sanity run, a few seconds
    python benchmarks/coordconv_overhead.py --json out.json --repeats 30 --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from _common import Session, relative_iqr, write_json  # noqa: E402 (benchmarks/ is on sys.path when run as a script)
from torch import nn

from coordlib import ConcatCoordConv2d, CoordConv2d
from coordlib.layers import coordinate_grid

# name, in_channels, out_channels, kernel, stride, padding, height, width
SHAPES = [
    ("resnet stem 3->64 7x7/2 224", 3, 64, 7, 2, 3, 224, 224),
    ("64->64 3x3 56", 64, 64, 3, 1, 1, 56, 56),
    ("1->32 3x3 64", 1, 32, 3, 1, 1, 64, 64),
]
GOAL_SHAPES = 2  # the goal applies to the first two shapes
GOAL_RATIO = 1.05
LAYERS = ("plain", "concat", "coordconv")


def _step(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor) -> float:
    """One forward + backward; returns seconds. Gradients are cleared before timing."""
    layer.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    out = layer(x)
    out.backward(grad_out)
    return time.perf_counter() - t0


def bench_shape(shape: tuple, batch: int, repeats: int, warmup: int) -> dict:
    name, cin, cout, k, stride, padding, h, w = shape
    torch.manual_seed(0)
    plain = nn.Conv2d(cin, cout, k, stride, padding)
    coord = CoordConv2d(cin, cout, k, stride, padding)
    concat = ConcatCoordConv2d(cin, cout, k, stride, padding)
    concat.load_state_dict(coord.state_dict())
    layers = {"plain": plain, "concat": concat, "coordconv": coord}

    x = torch.randn(batch, cin, h, w)  # requires_grad=False
    with torch.no_grad():
        out_shape = plain(x[:1]).shape[1:]
    grad_out = torch.ones(batch, *out_shape)

    for _ in range(warmup):
        for key in LAYERS:
            _step(layers[key], x, grad_out)

    times: dict[str, list[float]] = {key: [] for key in LAYERS}
    for _ in range(repeats):  # round-robin: noise hits all three alike
        for key in LAYERS:
            times[key].append(_step(layers[key], x, grad_out))

    med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
    iqr = {key: relative_iqr(v) for key, v in times.items()}
    return {
        "shape": name,
        "input": [batch, cin, h, w],
        "conv": {"in": cin, "out": cout, "kernel": k, "stride": stride, "padding": padding},
        "median_ms": med,
        "ratio_concat_plain": med["concat"] / med["plain"],
        "ratio_coordconv_plain": med["coordconv"] / med["plain"],
        # median over repeats of the per-repeat ratio: each repeat times the three
        # layers back to back, so this is robust to bursts of load from elsewhere
        "paired_ratio_concat_plain": statistics.median(c / p for c, p in zip(times["concat"], times["plain"])),
        "paired_ratio_coordconv_plain": statistics.median(c / p for c, p in zip(times["coordconv"], times["plain"])),
        "noise_iqr_over_median": max(iqr.values()),
        "times_ms": {key: [t * 1e3 for t in v] for key, v in times.items()},
    }


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def breakdown_shape(shape: tuple, batch: int, repeats: int, warmup: int) -> dict:
    """Median ms of each piece CoordConv2d adds to a plain convolution (see the module docstring)."""
    _, cin, cout, k, stride, padding, h, w = shape
    torch.manual_seed(0)
    coord = CoordConv2d(cin, cout, k, stride, padding)
    with torch.no_grad():
        term = coord.coordinate_term(h, w)
    out = torch.randn(batch, *term.shape[1:])
    grad_out = torch.ones_like(out)
    grid = coordinate_grid(h, w)
    coord_weight = coord.weight[:, cin:].detach().clone().requires_grad_(True)

    def term_step():
        coord_weight.grad = None
        F.conv2d(grid, coord_weight, None, stride, padding).backward(term)

    return {
        "grid": _median_ms(lambda: coordinate_grid(h, w), repeats, warmup),
        "term_fwd_bwd": _median_ms(term_step, repeats, warmup),
        "broadcast_add": _median_ms(lambda: out.add_(term), repeats, warmup),
        "batch_reduction": _median_ms(lambda: grad_out.sum(0, keepdim=True), repeats, warmup),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per layer (default 50, quick 3)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32, quick 4)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per layer first (default 5, quick 1)")
    parser.add_argument("--quick", action="store_true", help="fast sanity run: small batch, few repeats")
    parser.add_argument("--breakdown", action="store_true", help="also time the pieces CoordConv2d adds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to PATH (atomically)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 50)
    batch = args.batch if args.batch is not None else (4 if args.quick else 32)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    if repeats < 1 or batch < 1 or warmup < 0:
        parser.error("--repeats and --batch must be >= 1, --warmup >= 0")

    session = Session()
    print(f"batch {batch}, repeats {repeats} (interleaved), warm-up {warmup}, forward+backward, median ms")
    print()
    header = (
        f"{'shape':<30} {'plain':>8} {'concat':>8} {'coordconv':>9} {'concat/pl':>9} {'coord/pl':>8} "
        f"{'paired':>6} {'noise':>6}"
    )
    print(header)
    print("-" * len(header))

    session.start()
    results = []
    for i, shape in enumerate(SHAPES):
        r = bench_shape(shape, batch, repeats, warmup)
        results.append(r)
        m = r["median_ms"]
        goal = ""
        if i < GOAL_SHAPES:
            goal = "  ok" if r["ratio_coordconv_plain"] <= GOAL_RATIO else f"  > {GOAL_RATIO}"
        print(
            f"{r['shape']:<30} {m['plain']:8.2f} {m['concat']:8.2f} {m['coordconv']:9.2f} "
            f"{r['ratio_concat_plain']:9.3f} {r['ratio_coordconv_plain']:8.3f} "
            f"{r['paired_ratio_coordconv_plain']:6.3f} {r['noise_iqr_over_median']:6.1%}{goal}",
            flush=True,
        )
    if args.breakdown:
        print()
        pieces = ("grid", "term_fwd_bwd", "broadcast_add", "batch_reduction")
        head = f"{'shape':<30} " + " ".join(f"{p:>15}" for p in pieces) + f" {'sum/plain':>9}"
        print(head + "   (median ms, fraction of plain)")
        print("-" * len(head))
        for shape, r in zip(SHAPES, results):
            parts = breakdown_shape(shape, batch, repeats, warmup)
            r["breakdown_ms"] = parts
            plain_ms = r["median_ms"]["plain"]
            cells = " ".join(f"{parts[p]:7.2f} ({parts[p] / plain_ms:5.1%})" for p in pieces)
            print(f"{r['shape']:<30} {cells} {sum(parts.values()) / plain_ms:9.3f}", flush=True)
    elapsed = session.stop()
    print(f"goal: coordconv/plain <= {GOAL_RATIO} on the first {GOAL_SHAPES} shapes (ratio of medians); "
          f"paired = median of per-repeat coordconv/plain;")
    print(f"noise = max IQR/median over the three layers; total {elapsed:.0f} s")

    if args.json:
        write_json(
            args.json,
            {
                **session.fields(),
                "batch": batch,
                "repeats": repeats,
                "warmup": warmup,
                "quick": args.quick,
                "breakdown": args.breakdown,
                "goal_ratio": GOAL_RATIO,
                "goal_shapes": [r["shape"] for r in results[:GOAL_SHAPES]],
                "results": results,
            },
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
