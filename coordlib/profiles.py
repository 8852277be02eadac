"""One notebook, three scales: the ``COORDLIB_PROFILE`` switch, read in one place.

* ``smoke``: CI. Every chapter runs in well under 2 minutes on 2 CPU cores;
  results are meaningless and claims are not asserted.
* ``book`` (default): what the stored outputs show; each chapter at most ~15
  minutes on a 2-core CPU, with enough seeds for confidence intervals.
* ``paper``: the paper's scale (full sweeps, 1,000 epochs, ...), meant for a GPU.

Each experiment looks its settings up with :func:`settings`; the table below is
the only place where scales are written down.
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["PROFILES", "DEFAULT", "ENV_VAR", "current", "settings", "experiments"]

PROFILES = ("smoke", "book", "paper")
DEFAULT = "book"
ENV_VAR = "COORDLIB_PROFILE"

# experiment -> profile -> settings. Add a chapter's experiments here.
_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    # Chapter 1: how many random 80/20 splits to draw when measuring how far a
    # test centre lies from its nearest training centre.
    "not_so_clevr": {
        "smoke": {"uniform_seeds": 2},
        "book": {"uniform_seeds": 20},
        "paper": {"uniform_seeds": 100},
    },
    # Chapter 2: conventional (de)convolutional networks on the three tasks.
    # ``sweep`` lists the deconv hyperparameters tried on the uniform split with
    # the first seed; the best (by test accuracy) is rerun on every seed and split.
    # ``train_limit`` caps the training examples (smoke only); ``eval_every`` epochs.
    "conv_fails": {
        "smoke": {
            "seeds": [0], "train_limit": 128, "eval_every": 1,
            "sweep": {"lr": [1e-2], "kernel_size": [2], "width": [1], "batch_size": [32], "weight_decay": [0.0]},
            "epochs": {"classification": 1, "rendering": 1, "regression": 1},
            "regression": {"lr": 1e-3, "batch_size": 32},
        },
        "book": {
            "seeds": [0, 1, 2], "train_limit": None, "eval_every": 5,
            "sweep": {"lr": [1e-3, 5e-3], "kernel_size": [2, 4], "width": [1], "batch_size": [32], "weight_decay": [0.0]},
            "epochs": {"classification": 30, "rendering": 15, "regression": 10},
            "regression": {"lr": 1e-3, "batch_size": 32},
        },
        "paper": {
            "seeds": [0, 1, 2], "train_limit": None, "eval_every": 10,
            "sweep": {"lr": [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2], "kernel_size": [2, 3, 4], "width": [1, 2, 3],
                      "batch_size": [16, 32], "weight_decay": [0.0, 1e-3, 1e-2]},
            "epochs": {"classification": 1000, "rendering": 1000, "regression": 1000},
            "regression": {"lr": 1e-3, "batch_size": 32},
        },
    },
    # Chapter 4: CoordConv models. Runs stop early once train and test are solved.
    "coordconv": {
        "smoke": {
            "seeds": [0], "train_limit": 128, "max_epochs": {"classification": 1, "rendering": 1, "regression": 1},
            "released_regressor_epochs": 1,
        },
        "book": {
            "seeds": [0, 1, 2], "train_limit": None,
            "max_epochs": {"classification": 8, "rendering": 3, "regression": 4},
            "released_regressor_epochs": 3,
        },
        "paper": {
            "seeds": [0, 1, 2, 3, 4], "train_limit": None,
            "max_epochs": {"classification": 50, "rendering": 50, "regression": 50},
            "released_regressor_epochs": 50,
        },
    },
    # Chapter 5: GANs and VAEs on Sort-of-CLEVR. ``size`` is the canvas side;
    # ``images`` the training set; ``gan``/``vae`` the models and optimisers;
    # ``measure`` how many prior samples and latent paths (of ``frames`` frames) are scored.
    # The paper gives no epoch count for its GANs; the paper profile's 20 epochs are our choice.
    "generative": {
        "smoke": {
            "seeds": [0], "size": 32, "images": 512,
            "gan": {"steps": 30, "batch_size": 16, "z_dim": 64, "width": 4, "d_width": 4,
                    "lr_g": 2e-4, "lr_d": 2e-4, "instance_noise": 0.3},
            "vae": {"epochs": 1, "batch_size": 32, "z_dim": 16, "width": 4, "lr": 2e-3},
            "measure": {"samples": 64, "paths": 4, "frames": 8},
        },
        "book": {
            "seeds": [0, 1, 2], "size": 32, "images": 10000,
            "gan": {"steps": 1500, "batch_size": 16, "z_dim": 64, "width": 8, "d_width": 8,
                    "lr_g": 2e-4, "lr_d": 2e-4, "instance_noise": 0.3},
            "vae": {"epochs": 3, "batch_size": 32, "z_dim": 16, "width": 8, "lr": 2e-3},
            "measure": {"samples": 500, "paths": 20, "frames": 16},
        },
        "paper": {
            "seeds": [0, 1, 2], "size": 64, "images": 50000,
            "gan": {"steps": 62500, "batch_size": 16, "z_dim": 256, "width": 64, "d_width": 64,
                    "lr_g": 1e-4, "lr_d": 5e-4, "instance_noise": 0.0},
            "vae": {"epochs": 20, "batch_size": 16, "z_dim": 256, "width": 64, "lr": 1e-4},
            "measure": {"samples": 2000, "paths": 100, "frames": 16},
        },
    },
    # Chapter 6: Faster R-CNN on Field-of-MNIST. Images per split; the paper used 9,000 / 1,000
    # and does not state its training length (the paper profile's 20 epochs are our choice).
    "detection": {
        "smoke": {"seeds": [0], "train_images": 64, "val_images": 32, "epochs": 1, "batch_size": 16, "lr": 1e-3},
        "book": {"seeds": [0, 1, 2], "train_images": 2000, "val_images": 500, "epochs": 3, "batch_size": 16, "lr": 1e-3},
        "paper": {"seeds": [0, 1, 2, 3, 4], "train_images": 9000, "val_images": 1000, "epochs": 20, "batch_size": 16, "lr": 1e-3},
    },
    # Chapter 7: the offline "what"/"where" twin of the ImageNet experiment (small ResNets on MNIST
    # digits). The ImageNet recipe itself is `python -m coordlib.imagenet`, outside the profiles.
    "imagenet": {
        "smoke": {"seeds": [0, 1], "train_images": 256, "test_images": 128, "epochs": 1, "width": 8, "batch_size": 64, "lr": 2e-3},
        "book": {"seeds": [0, 1, 2, 3, 4], "train_images": 6000, "test_images": 1000, "epochs": 4, "width": 16,
                 "batch_size": 64, "lr": 2e-3},
        "paper": {"seeds": list(range(10)), "train_images": 12000, "test_images": 2000, "epochs": 15, "width": 32,
                  "batch_size": 64, "lr": 2e-3},
    },
}


def _check(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(
            f"unknown coordlib profile {name!r} (from {ENV_VAR} or an argument); "
            f"valid profiles are {', '.join(map(repr, PROFILES))}"
        )
    return name


def current(name: str | None = None) -> str:
    """The active profile: ``name`` if given, else ``$COORDLIB_PROFILE``, else ``"book"``."""
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or DEFAULT
    return _check(name)


def experiments() -> tuple[str, ...]:
    """Names of the experiments that have settings."""
    return tuple(_TABLE)


def settings(experiment: str, profile: str | None = None) -> Mapping[str, Any]:
    """Read-only settings of ``experiment`` under ``profile`` (default: :func:`current`)."""
    if experiment not in _TABLE:
        raise KeyError(f"no settings for experiment {experiment!r}; known experiments are {', '.join(_TABLE)}")
    return MappingProxyType(_TABLE[experiment][current(profile)])
