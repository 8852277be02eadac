"""The release's optimiser: Adam, L2 on kernels only, and its step schedule.

* L2: the release adds ``l2 * sum(w ** 2)`` to the loss for every kernel
  (release (uber-research/CoordConv @ 27fab8b): tf_plus/regularizers.py), with
  no factor 1/2 and nothing on biases or BatchNorm. Its gradient is
  ``2 * l2 * w``, which is what Adam's (coupled) ``weight_decay = 2 * l2`` adds
  to the gradient; :func:`param_groups` puts that decay on convolution and
  linear weights only. (Adam's ``weight_decay`` on ``model.parameters()``
  would decay biases and BatchNorm too, by half the strength.)
* Step schedule: the release's deconv runs multiply the learning rate by 0.1
  every 200 of their 1,000 epochs, at most 4 times
  (``--lrpolicy step --lrstepratio 0.1 --lrstepevery 200 --lrmaxsteps 4``,
  experiment_logs.sh; general/lr_policy.py ``LRPolicyStep``).
  :func:`step_schedule` gives that schedule for any number of epochs, with the
  steps at the same fractions (every 20%) of the run.
"""


from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["decayed", "param_groups", "adam", "l2_penalty", "step_schedule", "constant_schedule"]


def decayed(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of the kernels the release regularises: conv and linear weights."""
    from coordlib.layers.init import _is_conv

    out, seen = [], set()
    for mod_name, m in model.named_modules():
        if (_is_conv(m) or isinstance(m, nn.Linear)) and getattr(m, "weight", None) is not None:
            if id(m.weight) not in seen:
                seen.add(id(m.weight))
                out.append((f"{mod_name}.weight" if mod_name else "weight", m.weight))
    return out


def param_groups(model: nn.Module, l2: float) -> list[dict]:
    """Two Adam parameter groups: kernels with ``weight_decay = 2 * l2``, everything else with none."""
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    kernels = {id(p) for _, p in decayed(model)}
    decay = [p for p in model.parameters() if id(p) in kernels and p.requires_grad]
    rest = [p for p in model.parameters() if id(p) not in kernels and p.requires_grad]
    groups = [{"params": decay, "weight_decay": 2.0 * l2}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def adam(model: nn.Module, lr: float, l2: float = 0.0, betas=(0.9, 0.99), eps: float = 1e-8) -> torch.optim.Adam:
    """Adam over ``model`` with the release's L2 (``l2 * sum(w^2)`` on kernels only)."""
    return torch.optim.Adam(param_groups(model, l2), lr=lr, betas=tuple(betas), eps=eps)


def l2_penalty(model: nn.Module, l2: float) -> torch.Tensor:
    """The release's regularisation term ``l2 * sum(w^2)`` over the kernels (for checks and losses)."""
    return l2 * sum((p**2).sum() for _, p in decayed(model))


def constant_schedule(epoch: int) -> float:
    """Multiplier 1 at every epoch."""
    return 1.0


def step_schedule(epochs: int, ratio: float = 0.1, fraction: float = 0.2, max_steps: int = 4) -> Callable[[int], float]:
    """The release's step policy scaled to ``epochs``: multiplier at (0-based) ``epoch``.

    Steps every ``every = max(1, round(fraction * epochs))`` epochs, at most
    ``max_steps`` times: ``ratio ** min(epoch // every, max_steps)``. With
    ``epochs=1000`` this is the release's x0.1 every 200 epochs (4 steps).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    every = max(1, round(fraction * epochs))

    def schedule(epoch: int) -> float:
        return ratio ** min(epoch // every, max_steps)

    schedule.every = every  # type: ignore[attr-defined]
    schedule.describe = (  # type: ignore[attr-defined]
        f"lr x{ratio:g} every {every} of {epochs} epochs (at most {max_steps} times)"
    )
    return schedule
