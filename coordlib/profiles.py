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
