"""The GPU check a maintainer runs in one command: ``python tools/gpu_check.py`` (or ``make gpu-check``).

1. The environment: torch and CUDA versions, the device.
2. Every chapter under the smoke profile on the device (``COORDLIB_DEVICE``), executed in memory with
   nbclient; results go to a scratch folder, never into ``book/``.
3. A timed slice of each experiment of the ``gpu`` profile: one unit of its work (an epoch of a
   seed ensemble, a GAN iteration, an RPN step, a thousand A2C frames) is timed after a warm-up
   unit, and the training time of the whole profile is projected as units x seconds per unit.
   Evaluation, figures and early stopping are left out, so the projection is of training only, and
   an upper bound where runs stop once solved (chapter 4).

The report is JSON (``book/results/gpu/gpu_check.json`` by default, written only by a run on CUDA;
``--out`` writes it anywhere): device, versions, date, per
chapter passed / seconds / error, per experiment the unit, its seconds, the number of units and the
projected seconds. On a machine without CUDA the check stops after step 1, says so and exits with
status 2 (its report, with ``"cuda": false``, only where ``--out`` is given). ``--device cpu --quick`` runs every step on
the CPU with the smoke profile's settings in the slices: the self-test of this program.
``--profile paper --skip-smoke`` projects the paper profile instead, whose deconv sweep (324 settings
per task) is timed one epoch per distinct architecture and batch size: its cost in GPU-hours.

Chapters 6 (the RPN) and 9 (A2C on MinAtar) train on the CPU whatever the device: their slices say
``"device": "cpu"``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordlib import datasets, models, training  # noqa: E402
from coordlib._io import atomic_write  # noqa: E402
from coordlib.book import profiles, tasks  # noqa: E402

DEFAULT_OUT = ROOT / "book" / "results" / "gpu" / "gpu_check.json"
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("0*.ipynb"))


def environment(device: str) -> dict:
    cuda = torch.cuda.is_available()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "cuda_build": torch.version.cuda, "cuda": cuda,
        "device": device, "device_name": torch.cuda.get_device_name(0) if cuda else None,
    }


def smoke(device: str, timeout: int) -> dict:
    """Every chapter under the smoke profile on ``device``: passed, seconds, the error if any."""
    import nbformat
    from nbclient import NotebookClient

    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        env = {"COORDLIB_PROFILE": "smoke", "COORDLIB_DEVICE": device, "COORDLIB_RESULTS_DIR": scratch,
               "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the kernel inherits this process's environment
        try:
            for name in CHAPTERS:
                nb = nbformat.read(ROOT / "book" / f"{name}.ipynb", as_version=4)
                tic = time.perf_counter()
                try:
                    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
                    out[name] = {"passed": True, "seconds": round(time.perf_counter() - tic, 1)}
                except Exception as err:  # a failing cell: record it and go on to the next chapter
                    out[name] = {"passed": False, "seconds": round(time.perf_counter() - tic, 1),
                                 "error": f"{type(err).__name__}: {str(err)[-500:]}"}
                print(f"smoke {name}: {'passed' if out[name]['passed'] else 'FAILED'} "
                      f"in {out[name]['seconds']:.0f} s", flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return out


def _timed(work, device: str) -> float:
    """Seconds of one call of ``work()`` after one warm-up call (CUDA synchronised around it)."""
    work()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    tic = time.perf_counter()
    work()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - tic


def _epoch_of(task_name, make_model, s, device, **kw):
    """One epoch of the profile's seeds on ``task_name``'s uniform split, as the chapter trains them."""
    return lambda: tasks.run_seeds(task_name, make_model, "uniform", seeds=s["seeds"], ensemble=s["ensemble"],
                                   epochs=1, train_limit=s["train_limit"], eval_every=1, device=device,
                                   progress=False, **kw)


def _sweep_units(s, device, epochs: int) -> dict:
    """The deconv sweep's cost, for a profile that sweeps (the paper's: 324 settings): one epoch of one
    seed per distinct width, kernel and batch size (the learning rate and L2 cost nothing), times the
    number of settings that share it and the epochs. Empty for a profile of one setting."""
    grid = [dict(zip(s["sweep"], v)) for v in itertools.product(*s["sweep"].values())]
    if len(grid) < 2:
        return {}
    one = {**s, "seeds": s["seeds"][:1], "ensemble": False}  # the sweep trains the first seed only
    units = {}
    for (w, k, b), n in sorted(Counter((c["width"], c["kernel_size"], c["batch_size"]) for c in grid).items()):
        deconv = lambda w=w, k=k: models.DeconvNet(w, k, init="release")  # noqa: E731
        sec = _timed(_epoch_of("classification", deconv, one, device, batch_size=b, lr=grid[0]["lr"],
                               l2=grid[0]["l2"]), device)
        units[f"sweep width={w} kernel={k} batch={b}"] = (sec, n * epochs)
    return units


def slice_conv_fails(s, device):
    cfg = {k: v[0] for k, v in s["sweep"].items()}
    deconv = lambda: models.DeconvNet(cfg["width"], cfg["kernel_size"], init="release")  # noqa: E731
    opt = {"batch_size": cfg["batch_size"], "lr": cfg["lr"], "l2": cfg["l2"]}
    reg = s["regression"]
    units = {
        "classification": (_timed(_epoch_of("classification", deconv, s, device, **opt), device),
                           2 * s["epochs"]["classification"]),
        "rendering": (_timed(_epoch_of("rendering", deconv, s, device, **opt), device),
                      2 * s["epochs"]["rendering"]),
        "regression": (_timed(_epoch_of("regression", models.ConvRegressor, s, device, batch_size=reg["batch_size"],
                                        lr=reg["lr"], l2=reg["l2"]), device), 2 * s["epochs"]["regression"]),
        **_sweep_units(s, device, s["epochs"]["classification"]),
    }
    return "one epoch of the seeds (an ensemble if the profile says so); a sweep, one seed's epoch", units


def slice_coordconv(s, device):
    p, r = s["painter"], s["released_regressor"]
    opt = {"batch_size": p["batch_size"], "lr": p["lr"], "l2": p["l2"]}
    classifier = lambda: models.CoordConvClassifier(inputs=s["inputs"], init="release")  # noqa: E731
    renderer = lambda: models.CoordConvRenderer(inputs=s["inputs"], init=s["renderer"]["init"])  # noqa: E731
    e = s["max_epochs"]
    units = {
        "classification": (_timed(_epoch_of("classification", classifier, s, device, **opt), device),
                           2 * e["classification"]),
        "rendering": (_timed(_epoch_of("rendering", renderer, s, device, **opt), device), 2 * e["rendering"]),
        "regression": (_timed(_epoch_of("regression", models.CoordConvRegressor, s, device,
                                        batch_size=r["batch_size"], lr=r["lr"], l2=r["l2"]), device),
                       s["released_regressor_epochs"] + 2 * e["regression"]),
    }
    return "one epoch of the seeds (an ensemble if the profile says so); an upper bound: runs stop when solved", units


def slice_generative(s, device):
    g = s["gan"]
    scenes = datasets.sort_of_clevr(64, seed=0, size=s["size"])
    units = {}
    for kind in ("deconv", "coordconv"):
        gen = models.make_generator(kind, g["z_dim"], g["width"], s["size"])
        disc = models.Discriminator(g["width"], s["size"], coordconv=kind == "coordconv")
        opts = {k: g[k] for k in ("batch_size", "lr_g", "lr_d", "betas", "g_steps", "latent", "d_sees",
                                  "instance_noise")}
        work = lambda gen=gen, disc=disc, opts=opts: training.train_gan(  # noqa: E731
            gen, disc, scenes.images, steps=5, seed=0, device=device, progress=False, log_every=5, **opts)
        units[kind] = (_timed(work, device) / 5, g["iterations"] * len(s["seeds"]))
    return "one GAN iteration (one D and g_steps G steps)", units


def slice_detection(s, device):
    data = datasets.field_of_mnist(32, seed=0, binary=True)
    units = {}
    for arm, coordconv in (("conv", False), ("coordconv", True)):
        model = models.rpn.RPN(coordconv=coordconv, seed=0)
        units[arm] = (_timed(lambda m=model: training.train_rpn(m, data, 10, seed=0), "cpu") / 10,
                      s["rpn_steps"] * len(s["seeds"]))
    return "one RPN step of one image (on the CPU: the RPN has no device option)", units


def slice_imagenet(s, device):
    train = datasets.what_where(min(s["train_images"], 2048), seed=0, split="train")
    scale = s["train_images"] / len(train)

    def epoch(coordconv):
        training.seed_everything(0)
        model = models.SmallResNet(coordconv, num_classes=train.classes("what"), width=s["width"])
        return lambda: training.fit(model, train.images, train.labels("what"), torch.nn.functional.cross_entropy,
                                    epochs=1, batch_size=s["batch_size"], lr=s["lr"], seed=0, device=device,
                                    progress=False)

    runs = 2 * len(s["seeds"]) * s["epochs"] + 3 * len(s["ablation_seeds"]) * s["long_epochs"]
    units = {arm: (_timed(epoch(cc), device) * scale, runs) for arm, cc in (("plain", False), ("coordconv", True))}
    return "one epoch of a what-where SmallResNet (both questions and the diagnosis counted)", units


def slice_rl(s, device):
    from coordlib import rl

    game = s["games"][0]
    work = lambda: rl.train(game, "coordconv", 0, 2000, rl.A2CConfig())  # noqa: E731
    per_1000 = _timed(work, "cpu") / 2
    runs = len(s["games"]) * len(rl.ARMS) * len(s["seeds"])
    return "1,000 A2C frames (on the CPU: MinAtar steps there)", {game: (per_1000, runs * s["frames"] / 1000)}


SLICES = {"conv_fails": slice_conv_fails, "coordconv": slice_coordconv, "generative": slice_generative,
          "detection": slice_detection, "imagenet": slice_imagenet, "rl": slice_rl}


def slices(device: str, profile: str, only: list[str] | None) -> dict:
    out = {}
    for name, make in SLICES.items():
        if only and name not in only:
            continue
        s = profiles.settings(name, profile)
        tic = time.perf_counter()
        unit, units = make(s, device)
        parts = {k: {"unit_seconds": round(sec, 4), "units": n, "projected_seconds": round(sec * n, 1)}
                 for k, (sec, n) in units.items()}
        out[name] = {"profile": profile, "unit": unit, "parts": parts,
                     "projected_seconds": round(sum(p["projected_seconds"] for p in parts.values()), 1),
                     "slice_seconds": round(time.perf_counter() - tic, 1)}
        print(f"slice {name}: projected {out[name]['projected_seconds'] / 60:.1f} min of training "
              f"({out[name]['slice_seconds']:.0f} s to measure)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device to check (default cuda; cpu for a self-test)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the JSON report (default {DEFAULT_OUT}, which only a run on CUDA writes)")
    parser.add_argument("--skip-smoke", action="store_true", help="skip step 2, the chapters under smoke")
    parser.add_argument("--quick", action="store_true", help="slices with the smoke profile's settings")
    parser.add_argument("--profile", default="gpu", choices=("gpu", "paper"),
                        help="the profile whose slices are timed and projected (default gpu; paper: the "
                             "release's whole logged sweep, to state its cost in GPU-hours)")
    parser.add_argument("--only", default="", help=f"comma-separated experiments of {', '.join(SLICES)}")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per notebook cell (default 600)")
    args = parser.parse_args(argv)
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(SLICES)
    if unknown:
        parser.error(f"unknown experiments {sorted(unknown)}; valid: {', '.join(SLICES)}")
    report = {"environment": environment(args.device)}
    status = 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        report["stopped"] = ("no CUDA device on this machine: the check needs one for the chapters on the GPU "
                             "and the timed slices (run it with --device cpu --quick to test this program)")
        print(report["stopped"], file=sys.stderr)
        status = 2
    else:
        training.pick_device(args.device)  # a clear error for a device this machine does not have
        if not args.skip_smoke:
            report["smoke"] = smoke(args.device, args.timeout)
            status = 0 if all(c["passed"] for c in report["smoke"].values()) else 1
        report["slices"] = slices(args.device, "smoke" if args.quick else args.profile, only)
    out = args.out
    if out is None:
        if not report["environment"]["cuda"] or not args.device.startswith("cuda"):
            # book/results/gpu/ holds GPU results only: a CPU run must not look like one there
            print(f"nothing written to {DEFAULT_OUT.parent}: it holds reports of runs on CUDA only "
                  "(give --out to keep this one)", file=sys.stderr)
            return status
        out = DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=1) + "\n"
    atomic_write(out, lambda f: f.write(text.encode()))
    print(f"report: {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
