"""Argument checks shared by the library: one wording for every "expected ..., got ..." error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["integer", "choice", "boxes"]


def integer(who: str, name: str, value, minimum: int = 1, why: str = "") -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not a bool) ``>= minimum``.

    A ``TypeError`` for a non-integer and a ``ValueError`` below ``minimum``, each naming ``who`` and ``name``;
    ``why`` (the reason for the minimum) is added to the ``ValueError``'s message.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who} expected {name} as an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{who} expected {name} as an int >= {minimum}{reason}, got {value!r}")
    return int(value)


def choice(who: str, name: str, value, choices: Sequence) -> object:
    """``value`` if it is one of ``choices``; else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{who} expected {name} as one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def boxes(value, name: str) -> torch.Tensor:
    """``value`` if it is a ``(K, 4)`` tensor of ``(x0, y0, x1, y1)`` boxes.

    A ``TypeError`` for a non-tensor, a ``ValueError`` for a wrong shape; ``name`` says whose argument it is.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} expected a torch.Tensor of shape (K, 4), got {type(value).__name__}")
    if value.dim() != 2 or value.shape[1] != 4:
        raise ValueError(f"{name} expected boxes of shape (K, 4) as (x0, y0, x1, y1), got shape {tuple(value.shape)}")
    return value
