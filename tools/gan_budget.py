"""How long must the book's GAN train before it draws valid scenes? Validity against iterations.

Chapter 5 scores object movement only for a GAN whose strict scene validity reaches its gate (50%).
This program finds out, for the canvas, width and latent size a 2-core CPU can afford, how validity
grows with training: it trains one seed of each requested arm with the release's GAN settings
(``coordlib.book.profiles``, book profile) and, every ``--every`` iterations, samples ``--samples``
scenes and records their strict and loose validity two ways, as the release saves its samples: with
BatchNorm's running statistics (``bn0``) and with each batch's own (``bn1``,
:data:`coordlib.models.generative.BATCHNORM`). ``--d-sees images`` trains the corrected variant
(the discriminator sees the tanh output, not the CoordConv generator's pre-tanh values).

Each configuration's curve is written, as soon as it is done, to ``book/results/gan_budget.json``
(atomically, keyed by configuration), which chapter 5 can read as the evidence for its budget::

    python tools/gan_budget.py --arms deconv --iterations 6000 --every 1000
    python tools/gan_budget.py --arms coordconv --d-sees images --widths 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordlib import metrics, models, training  # noqa: E402
from coordlib._io import store_record  # noqa: E402
from coordlib.book import profiles  # noqa: E402
from coordlib.datasets import sortofclevr as soc  # noqa: E402
from coordlib.models import generative  # noqa: E402

DEFAULT_OUT = ROOT / "book" / "results" / "gan_budget.json"
TRAINING = ("batch_size", "lr_g", "lr_d", "betas", "g_steps", "latent", "instance_noise")


def key(arm: str, size: int, width: int, z_dim: int, d_sees: str, seed: int) -> str:
    """The configuration's name in the output file."""
    return f"{arm} size={size} width={width} z={z_dim} d_sees={d_sees} seed={seed}"


def curve(arm: str, size: int, width: int, z_dim: int, d_sees: str, *, images: int, iterations: int,
          every: int, samples: int, seed: int = 0) -> dict:
    """Train one GAN and return its validity every ``every`` iterations (see the module docstring)."""
    g = profiles.settings("generative", "book")["gan"]
    scenes = soc.sort_of_clevr(images, seed=0, size=size)
    training.seed_everything(seed)
    gen = models.make_generator(arm, z_dim, width, size)
    disc = models.Discriminator(width, size, coordconv=arm == "coordconv")
    z = generative.latents(samples, z_dim, torch.Generator().manual_seed(10_000 + seed), g["latent"])

    def validity(step, generator):
        row = {}
        for mode in generative.BATCHNORM:
            drawn = generative.sample(generator, z, batch_size=100, batchnorm=mode)
            row[f"strict_{mode}"] = metrics.scene_validity(drawn)
            row[f"loose_{mode}"] = metrics.scene_validity(drawn, **metrics.scenes.LOOSE)
        return row

    tic = time.perf_counter()
    log = training.train_gan(gen, disc, scenes.images, steps=iterations, seed=seed, d_sees=d_sees,
                             progress=False, log_every=every, callback=validity, callback_every=every,
                             **{k: g[k] for k in TRAINING})
    return {"arm": arm, "size": size, "width": width, "z_dim": z_dim, "d_sees": d_sees, "seed": seed,
            "images": images, "samples": samples, "settings": {k: g[k] for k in TRAINING},
            "seconds": round(time.perf_counter() - tic, 1), "curve": log}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="deconv,coordconv", help="comma-separated: deconv, coordconv")
    parser.add_argument("--sizes", default="32", help="canvas sides, comma-separated (powers of two)")
    parser.add_argument("--widths", default="8", help="channel widths, comma-separated")
    parser.add_argument("--z", default="64", help="latent sizes, comma-separated")
    parser.add_argument("--d-sees", default="released", choices=generative.D_SEES)
    parser.add_argument("--images", type=int, default=10_000, help="training scenes")
    parser.add_argument("--iterations", type=int, default=6000)
    parser.add_argument("--every", type=int, default=1000, help="iterations between validity checks")
    parser.add_argument("--samples", type=int, default=200, help="scenes sampled at each check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    bad = sorted(set(arms) - set(generative.GENERATORS))
    if bad:
        parser.error(f"unknown arms {bad}; valid: {', '.join(generative.GENERATORS)}")
    if args.every < 1 or args.iterations < args.every:
        parser.error(f"expected 1 <= --every <= --iterations, got --every {args.every}, "
                     f"--iterations {args.iterations}")
    for arm in arms:
        for size in _ints(args.sizes):
            for width in _ints(args.widths):
                for z_dim in _ints(args.z):
                    run = curve(arm, size, width, z_dim, args.d_sees, images=args.images,
                                iterations=args.iterations, every=args.every, samples=args.samples,
                                seed=args.seed)
                    store_record(args.out, key(arm, size, width, z_dim, args.d_sees, args.seed), run)
                    best = max(r["strict_running"] for r in run["curve"] if "strict_running" in r)
                    print(f"{key(arm, size, width, z_dim, args.d_sees, args.seed)}: best strict validity "
                          f"{best:.1%} in {run['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
