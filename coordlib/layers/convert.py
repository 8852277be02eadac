"""Give an existing network coordinates: replace its convolutions by CoordConv layers, in place.

:func:`add_coords` swaps chosen ``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d``/
``nn.ConvTranspose2d`` modules of any ``nn.Module`` for the matching layer of
:mod:`coordlib.layers.coordconv`. The new layer keeps the old weights and bias (copied)
and starts with *zero* coordinate weights, so the converted model computes the
same function as before (to float rounding) until it is trained. Typical use::

    model = torchvision.models.resnet18(weights=None)
    model, replaced = add_coords(model, "first")   # coordinates at the stem only
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # after converting

What is converted: modules whose type is *exactly* one of the four above
(subclasses may change the forward, e.g. weight standardisation, so they are
left alone, and naming one is an error). Grouped and depthwise convolutions are
converted (every group sees its own copy of the coordinates, see
:mod:`coordlib.layers.coordconv`), as are all padding modes. Not kept: forward hooks and
parametrizations registered on the old module; optimizers built before the
conversion still point at the old weights.
"""


from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from coordlib.layers.coordconv import CoordConv1d, CoordConv2d, CoordConv3d, CoordConvTranspose2d

__all__ = ["add_coords", "convertible", "coordconv_like"]

_LAYER_FOR = {
    nn.Conv1d: CoordConv1d,
    nn.Conv2d: CoordConv2d,
    nn.Conv3d: CoordConv3d,
    nn.ConvTranspose2d: CoordConvTranspose2d,
}
_KINDS = ", ".join(f"nn.{t.__name__}" for t in _LAYER_FOR)


def convertible(model: nn.Module) -> list[str]:
    """Names of the submodules of ``model`` that :func:`add_coords` can convert, in registration order."""
    return [name for name, m in model.named_modules() if name and type(m) in _LAYER_FOR]


def _zero_coordinate_weight(conv: nn.Module, extra: int) -> torch.Tensor:
    """``conv.weight`` with ``extra`` zero coordinate channels appended to each group's input channels."""
    w = conv.weight.detach()
    if isinstance(conv, nn.ConvTranspose2d):  # (in, out // g, kh, kw): input channels on dim 0, per group
        rows = w.unflatten(0, (conv.groups, -1))
        zeros = rows.new_zeros(conv.groups, extra, *rows.shape[2:])
        return torch.cat([rows, zeros], dim=1).flatten(0, 1)
    zeros = w.new_zeros(w.shape[0], extra, *w.shape[2:])  # (out, in // g, *k): dim 1 is already per group
    new = torch.cat([w, zeros], dim=1)
    if w.dim() == 4 and not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last):
        new = new.contiguous(memory_format=torch.channels_last)  # keep a model converted to channels_last fast
    return new


def coordconv_like(conv: nn.Module, with_r: bool = False) -> nn.Module:
    """The CoordConv layer equivalent to ``conv`` at the start: its weights, bias and geometry, zero coordinate weights.

    ``conv`` must be exactly an ``nn.Conv1d``, ``nn.Conv2d``, ``nn.Conv3d`` or
    ``nn.ConvTranspose2d``. The new layer is on ``conv``'s device, in its dtype,
    in its training mode, with its parameters' ``requires_grad``. It draws no
    random numbers (the global RNG is left as it was).
    """
    layer_cls = _LAYER_FOR.get(type(conv))
    if layer_cls is None:
        raise TypeError(f"coordconv_like expected one of {_KINDS}, got {type(conv).__name__}")
    # Built on "meta": no memory, no initialisation, no random numbers drawn.
    common = {"groups": conv.groups, "padding_mode": conv.padding_mode, "device": "meta", "dtype": conv.weight.dtype}
    has_bias = conv.bias is not None
    if layer_cls is CoordConvTranspose2d:
        layer = layer_cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.output_padding,
            dilation=conv.dilation, bias=has_bias, with_r=with_r, **common,
        )
    else:
        layer = layer_cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
            has_bias, with_r, **common,
        )
    layer.weight = nn.Parameter(
        _zero_coordinate_weight(conv, layer.extra_channels), requires_grad=conv.weight.requires_grad
    )
    if has_bias:
        layer.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=conv.bias.requires_grad)
    return layer.train(conv.training)


def _choose(model: nn.Module, which: str | Iterable[str], available: list[str]) -> list[str]:
    """The names ``which`` designates, checked against the model."""
    if isinstance(which, str):
        if which == "first":
            return available[:1]
        if which == "all":
            return list(available)
        raise ValueError(f"add_coords expected which='first', 'all' or a list of module names, got {which!r}")
    try:
        names = list(dict.fromkeys(which))  # keeps order, drops repeats
    except TypeError:
        raise TypeError(
            f"add_coords expected which='first', 'all' or a list of module names, got {type(which).__name__}"
        ) from None
    if not names:
        raise ValueError("add_coords expected at least one module name in which, got an empty list")
    modules = dict(model.named_modules())
    unknown = [n for n in names if not isinstance(n, str) or n not in modules]
    if unknown:
        shown = available[:8] + (["..."] if len(available) > 8 else [])
        raise ValueError(f"add_coords: no module named {unknown} in {type(model).__name__}; its convolutions: {shown}")
    wrong = [f"{n!r} ({type(modules[n]).__name__})" for n in names if n not in available]
    if wrong:
        raise ValueError(f"add_coords can convert only modules of type {_KINDS}, got {', '.join(wrong)}")
    return names


def add_coords(
    model: nn.Module, which: str | Iterable[str] = "first", with_r: bool = False
) -> tuple[nn.Module, list[str]]:
    """Replace convolutions of ``model`` by CoordConv layers that start as the same function; in place.

    ``which``: ``"first"`` (the first convertible convolution in registration
    order: the stem of a torchvision classifier), ``"all"`` (every one), or a
    list of module names as ``model.named_modules()`` gives them. ``with_r``
    adds the radius channel to every new layer.

    Returns ``(model, names)``: the same object, modified, and the names of the
    replaced modules. A convolution registered under several names (shared
    weights) is replaced by one layer everywhere. Raises ``ValueError`` for a
    model without convertible convolutions, for an unknown name and for a name
    that is not a convertible convolution; ``TypeError`` if ``model`` is not an
    ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"add_coords expected an nn.Module, got {type(model).__name__}")
    if type(model) in _LAYER_FOR:
        raise ValueError(
            f"add_coords cannot replace the model itself (an nn.{type(model).__name__}) in place; "
            "wrap it, e.g. nn.Sequential(model), or use coordlib.layers.convert.coordconv_like"
        )
    available = convertible(model)
    if not available:
        raise ValueError(f"add_coords found no convolution ({_KINDS}) to convert in {type(model).__name__}")
    names = _choose(model, which, available)
    modules = dict(model.named_modules())
    new_for = {id(modules[n]): coordconv_like(modules[n], with_r) for n in names}
    # every place a chosen module is registered (a shared module has several names)
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if name and id(module) in new_for:
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name), attr, new_for[id(module)])
    return model, names
