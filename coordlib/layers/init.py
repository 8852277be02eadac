"""The release's initialisation, defined as TensorFlow 1.13's Keras defines it.

The release (uber-research/CoordConv @ 27fab8b: model_builders.py) gives every
supervised and CoordConv convolution ``kernel_initializer=he_normal``; layers
without an initializer (the ``Dense`` layers of ``big_conv``) get TF's default
``glorot_uniform``; biases are TF's default zeros. PyTorch's own default
(``kaiming_uniform_(a=sqrt(5))`` and uniform biases) has about 2.45x smaller a
standard deviation, so it is not the release's initialisation.

* :func:`he_normal_`: Keras ``VarianceScaling(scale=2, mode="fan_in",
  distribution="truncated_normal")``. A normal truncated at +-2 of its standard
  deviation, with that deviation divided by 0.87962566103423978 (the standard
  deviation of a unit normal truncated at +-2) so that the *truncated*
  samples have standard deviation ``sqrt(2 / fan_in)``.
* :func:`glorot_uniform_`: uniform on ``+-sqrt(6 / (fan_in + fan_out))``.
* :func:`release_init_`: both, plus zero biases, applied to a whole model.

Fans follow Keras. A Keras ``Conv2D`` kernel is ``(kh, kw, in, out)`` and a
``Conv2DTranspose`` kernel ``(kh, kw, out, in)``; Keras takes the
second-to-last axis as the input fan, so ``fan_in = kh * kw * in`` for a
convolution but ``kh * kw * out`` for a transposed convolution. PyTorch stores
``Conv2d.weight`` as ``(out, in, kh, kw)`` and ``ConvTranspose2d.weight`` as
``(in, out, kh, kw)``; :func:`fans` maps both onto the Keras convention (for
these layouts this is ``weight.size(1) * kh * kw``, which is what
``torch.nn.init`` computes too).
"""


from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TRUNCATED_STD", "fans", "he_normal_", "glorot_uniform_", "release_init_", "INITS"]

# Standard deviation of a unit normal truncated to [-2, 2] (the constant of TF
# 1.13's VarianceScaling, keras/initializers.py).
TRUNCATED_STD = 0.87962566103423978

INITS = ("release", "pytorch")


def fans(tensor: torch.Tensor, transposed: bool = False) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a PyTorch weight, as Keras counts them for the same layer.

    ``tensor`` is a ``Linear`` weight ``(out, in)``, a convolution weight
    ``(out, in, *kernel)`` or, with ``transposed=True``, a transposed
    convolution weight ``(in, out, *kernel)``. For the transposed layer Keras'
    input fan counts the layer's *output* channels (its kernel is
    ``(kh, kw, out, in)``).
    """
    if tensor.dim() < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    if transposed:  # (in, out, *k): Keras (*k, out, in) -> fan_in = k * out, fan_out = k * in
        return tensor.shape[1] * receptive, tensor.shape[0] * receptive
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive  # (out, in, *k)


@torch.no_grad()
def he_normal_(tensor: torch.Tensor, transposed: bool = False, generator: torch.Generator | None = None):
    """Fill ``tensor`` in place as Keras' ``he_normal`` (TF 1.13) would; returns it.

    Samples ``N(0, s^2)`` truncated to ``[-2 s, 2 s]`` with
    ``s = sqrt(2 / fan_in) / 0.8796...``, so the samples' standard deviation is
    ``sqrt(2 / fan_in)``. ``fan_in`` as :func:`fans`.
    """
    fan_in, _ = fans(tensor, transposed)
    s = math.sqrt(2.0 / fan_in) / TRUNCATED_STD
    return nn.init.trunc_normal_(tensor, 0.0, s, -2.0 * s, 2.0 * s, generator=generator)


@torch.no_grad()
def glorot_uniform_(tensor: torch.Tensor, transposed: bool = False, generator: torch.Generator | None = None):
    """Fill ``tensor`` in place as Keras' ``glorot_uniform``: ``U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(tensor, transposed)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return tensor.uniform_(-limit, limit, generator=generator)


def _is_transposed(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvTransposeNd) or bool(getattr(module, "_transposed", False))


def _is_conv(module: nn.Module) -> bool:
    from coordlib.layers.coordconv import _CoordConvNd

    return isinstance(module, (nn.modules.conv._ConvNd, _CoordConvNd))


@torch.no_grad()
def release_init_(module: nn.Module) -> nn.Module:
    """Initialise ``module`` as the release does; returns it.

    Every convolution (``Conv*d``, ``ConvTranspose*d`` and coordlib's CoordConv
    layers) gets :func:`he_normal_`, every ``Linear`` :func:`glorot_uniform_`,
    and their biases zeros. BatchNorm keeps weight 1 and bias 0 (TF's defaults
    too). A CoordConv layer's own convolution inside it is initialised once,
    with the fan-in including the coordinate channels.
    """
    seen: set[int] = set()
    for m in module.modules():
        if id(m) in seen:
            continue
        if _is_conv(m):
            he_normal_(m.weight, _is_transposed(m))
        elif isinstance(m, nn.Linear):
            glorot_uniform_(m.weight)
        else:
            continue
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
        seen.update(id(sub) for sub in m.modules())
    return module


def apply_init(module: nn.Module, init: str) -> nn.Module:
    """``init="release"`` -> :func:`release_init_`; ``init="pytorch"`` leaves PyTorch's defaults (an ablation)."""
    if init == "release":
        return release_init_(module)
    if init == "pytorch":
        return module
    raise ValueError(f"unknown init {init!r}; valid inits are {', '.join(map(repr, INITS))}")
