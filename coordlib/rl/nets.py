"""The policy-value network of the RL chapter, with or without CoordConv at its first layer.

The body is MinAtar's (Young and Tian, 2019): one 3x3 convolution with 16
filters (stride 1, no padding), ReLU, a fully connected layer of 128 units,
ReLU; then two heads, the policy's logits and the state value, as in A2C (Mnih
et al., 2016). The ``"coordconv"`` arm replaces only the first convolution with
:class:`coordlib.CoordConv2d` (two more input channels: x and y in [-1, 1]);
every other layer is the same, so the arms differ by ``2 * 16 * 9`` weights.
"""

from __future__ import annotations

import torch
from torch import nn

from coordlib.layers.coordconv import CoordConv2d

__all__ = ["ARMS", "PolicyValueNet", "coord_weight_norms"]

#: The two arms, a plain first convolution and CoordConv in its place.
ARMS = ("conv", "coordconv")


class PolicyValueNet(nn.Module):
    """Policy logits and state value of a ``(N, C, S, S)`` MinAtar state.

    Args:
        in_channels: the game's object channels ``C``.
        actions: size of the action set.
        arm: ``"conv"`` or ``"coordconv"`` (CoordConv at the first layer).
        size: the side ``S`` of the state (MinAtar: 10).
        width: filters of the first layer; ``hidden``: units of the dense layer.

    ``forward(x)`` returns ``(logits (N, actions), value (N,))``.
    """

    def __init__(self, in_channels: int, actions: int, arm: str = "conv", size: int = 10, width: int = 16,
                 hidden: int = 128):
        super().__init__()
        if arm not in ARMS:
            raise ValueError(f"unknown arm {arm!r}; valid arms are {', '.join(ARMS)}")
        for name, v in (("in_channels", in_channels), ("actions", actions), ("width", width), ("hidden", hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"expected {name} >= 1, got {v!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 3:
            raise ValueError(f"expected a state side size >= 3 (the kernel is 3x3), got {size!r}")
        self.arm, self.in_channels, self.size = arm, in_channels, size
        # The first layer is made last, so that from one seed both arms draw the same later layers.
        body = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(width * (size - 2) ** 2, hidden), nn.ReLU())
        policy, value = nn.Linear(hidden, actions), nn.Linear(hidden, 1)
        self.first = (CoordConv2d if arm == "coordconv" else nn.Conv2d)(in_channels, width, 3)
        self.body, self.policy, self.value = body, policy, value

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != (self.size, self.size):
            raise ValueError(f"expected states (N, {self.in_channels}, {self.size}, {self.size}), "
                             f"got {tuple(x.shape)}")
        h = self.body(self.first(x))
        return self.policy(h), self.value(h).squeeze(-1)


def coord_weight_norms(net: PolicyValueNet) -> dict[str, float]:
    """Root-mean-square of the first layer's weights, per kind of input channel.

    ``"objects"``: the weights on the game's channels; ``"coords"``: on the x and
    y channels (CoordConv arm only; ``nan`` for the plain arm). Comparing the two
    shows how much the network came to use position.
    """
    w = net.first.weight.detach()
    c = net.in_channels
    rms = lambda t: float(t.pow(2).mean().sqrt())  # noqa: E731
    return {"objects": rms(w[:, :c]), "coords": rms(w[:, c:]) if w.shape[1] > c else float("nan")}
