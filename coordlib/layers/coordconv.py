"""The CoordConv layers (Liu et al., 2018; the release's ``CoordConv.py``) and the AddCoords transform.

Conventions (documented because peers disagree):

* coordinate channels are appended *after* the input channels, in the order
  ``x`` (varies along the last axis: W, or L in 1-D), ``y`` (varies along H),
  ``z`` (varies along D, 3-D only) and, optionally, ``r``, the distance from the
  centre: ``sqrt(x**2 + y**2)`` in 2-D, ``sqrt(x**2 + y**2 + z**2)`` in 3-D and
  ``|x|`` in 1-D;
* each index is mapped linearly onto [-1, 1]: column ``j`` of ``W`` columns maps
  to ``2 j / (W - 1) - 1``. Each axis is normalised by *its own* length (the
  original release divides the column channel by ``H - 1``, which is wrong
  whenever ``H != W``);
* an axis of size 1 maps to 0 (instead of dividing by zero);
* ``r`` is centred on the grid centre, where ``x = y (= z) = 0``.

The layers (:class:`CoordConv1d`, :class:`CoordConv2d`, :class:`CoordConv3d`,
:class:`CoordConvTranspose2d`) equal "concatenate the coordinates, then
convolve" (:class:`ConcatCoordConv2d` is that formulation, kept as the
reference) but never concatenate: see :class:`CoordConv2d`. Beyond that contract:

* ``padding_mode`` ('zeros', 'reflect', 'replicate', 'circular', as in
  :class:`torch.nn.Conv2d`): the coordinate channels are padded the same way as
  the input, as they would be after concatenation. With 'circular' the padded
  border of ``x`` therefore wraps around (``+1`` next to ``-1``).
* ``groups``: every group sees its own copy of the coordinate channels. The
  layer equals a grouped convolution of the input with the coordinate channels
  inserted after *each* group's channels, so the weight is
  ``(out_channels, in_channels // groups + extra, *kernel_size)``
  (transposed: ``(in_channels + groups * extra, out_channels // groups, *kernel_size)``,
  each group's input rows followed by its ``extra`` coordinate rows). With
  ``groups=1`` this is the plain contract. It lets a depthwise convolution
  become a CoordConv (``coordlib.layers.convert.add_coords``).
"""


from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AddCoords", "ConcatCoordConv2d", "CoordConv1d", "CoordConv2d", "CoordConv3d", "CoordConvTranspose2d",
    "coordinate_grid", "coordinates",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


# --------------------------------------------------------------------------- #
# Coordinate grids
# --------------------------------------------------------------------------- #
def _axis(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(n,)`` positions ``0..n-1`` mapped onto [-1, 1]; a single position maps to 0."""
    if n == 1:
        return torch.zeros(1, dtype=dtype, device=device)
    return torch.linspace(-1.0, 1.0, n, dtype=dtype, device=device)


def coordinates(
    size: Sequence[int],
    with_r: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The coordinate channels of a grid of spatial shape ``size`` (``(L,)``, ``(H, W)`` or ``(D, H, W)``).

    Returns a ``(1, d [+1], *size)`` tensor, ``d = len(size)``, holding ``x``
    (varies along the last axis), then ``y`` and ``z`` (along the axes before
    it) and, with ``with_r``, ``r`` (see the module docstring). It is built
    directly on ``device``: no host-to-device copy per call.
    """
    size = tuple(size)
    if not 1 <= len(size) <= 3:
        raise ValueError(f"coordinates expected 1 to 3 spatial sizes, got {len(size)}: {size}")
    device = torch.device("cpu") if device is None else torch.device(device)
    d = len(size)
    channels = []
    for k in range(d):  # x runs along the last axis, y along the one before, ...
        dim = d - 1 - k
        shape = [1] * d
        shape[dim] = size[dim]
        channels.append(_axis(size[dim], dtype, device).view(shape).expand(size))
    if with_r:
        if d == 1:
            channels.append(channels[0].abs())
        else:
            squares = channels[0] * channels[0]
            for c in channels[1:]:
                squares = squares + c * c
            channels.append(torch.sqrt(squares))
    return torch.stack(channels).unsqueeze(0)


def coordinate_grid(
    height: int,
    width: int,
    with_r: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The coordinate channels of a ``height x width`` image.

    Returns a ``(1, 2 [+1], height, width)`` tensor holding ``x`` (column, varies
    along W), ``y`` (row, varies along H) and, with ``with_r``, ``r``.
    It is built directly on ``device``: no host-to-device copy per call.
    """
    return coordinates((height, width), with_r, dtype, device)


def _check_input(x: torch.Tensor, who: str, channels: int | None = None, dims: int = 2) -> None:
    """Raise a precise error unless ``x`` is a floating ``(N, C, *spatial)`` tensor with ``dims`` spatial axes."""
    layout = _LAYOUT[dims]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expected a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != dims + 2:
        raise ValueError(
            f"{who} expected a {dims + 2}-D input of shape {layout}, got {x.dim()}-D input of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} expected a floating-point input (e.g. torch.float32), got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        expected = layout.replace("C", str(channels))
        raise ValueError(
            f"{who} expected {channels} input channels (shape {expected}), "
            f"got {x.shape[1]} channels in input of shape {tuple(x.shape)}"
        )


class AddCoords(nn.Module):
    """Append coordinate channels to a batch of images (or signals, or volumes).

    Shapes, for ``dims`` = 2 (the default): ``(N, C, H, W) -> (N, C + 2, H, W)``,
    or ``(N, C + 3, H, W)`` with ``with_r``; ``dims=1``: ``(N, C, L) -> (N, C + 1 [+1], L)``;
    ``dims=3``: ``(N, C, D, H, W) -> (N, C + 3 [+1], D, H, W)``. The output has
    the input's dtype and device. Channel order and normalisation are
    described in the module docstring.
    """

    def __init__(self, with_r: bool = False, dims: int = 2) -> None:
        super().__init__()
        if dims not in _LAYOUT:
            raise ValueError(f"AddCoords expected dims to be 1, 2 or 3, got {dims!r}")
        self.with_r = bool(with_r)
        self.dims = dims

    @property
    def extra_channels(self) -> int:
        """Number of channels this transform appends (``dims``, plus one with ``r``)."""
        return self.dims + (1 if self.with_r else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "AddCoords", dims=self.dims)
        grid = coordinates(x.shape[2:], self.with_r, x.dtype, x.device)
        return torch.cat([x, grid.expand(x.shape[0], *([-1] * (self.dims + 1)))], dim=1)

    def extra_repr(self) -> str:
        return f"with_r={self.with_r}" + (f", dims={self.dims}" if self.dims != 2 else "")


# --------------------------------------------------------------------------- #
# Argument validation (nn.Conv2d checks less: kernel_size=0 or stride=-1 only fail at forward)
# --------------------------------------------------------------------------- #
def _as_int(value) -> int | None:
    """``value`` as a Python int (ints, NumPy ints), or None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _int_tuple(who: str, name: str, value, dims: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or a sequence of ``dims`` ints) as a ``dims``-tuple of ints ``>= minimum``."""
    kind = "positive" if minimum == 1 else "non-negative"
    expected = f"{name} to be a {kind} int or a tuple of {dims} {kind} ints"
    single = _as_int(value)
    items = (single,) * dims if single is not None else value
    if not isinstance(items, (tuple, list)) or any(_as_int(v) is None for v in items):
        raise TypeError(f"{who} expected {expected}, got {value!r}")
    if len(items) != dims:
        raise ValueError(f"{who} expected {expected}, got {len(items)} values: {value!r}")
    items = tuple(_as_int(v) for v in items)
    if any(v < minimum for v in items):
        raise ValueError(f"{who} expected {expected}, got {value!r}")
    return items


def _reversed_pads(padding: str | tuple[int, ...], kernel_size, dilation) -> tuple[int, ...]:
    """``padding`` in the form ``F.pad`` takes (last axis first, ``(left, right)`` each), as nn.Conv2d pads.

    'same' puts the extra pixel of an even total on the right, like torch.
    """
    pads: list[int] = []
    for i in reversed(range(len(kernel_size))):
        if padding == "valid":
            pads += [0, 0]
        elif padding == "same":
            total = dilation[i] * (kernel_size[i] - 1)
            pads += [total // 2, total - total // 2]
        else:
            pads += [padding[i], padding[i]]
    return tuple(pads)


# --------------------------------------------------------------------------- #
# The layers
# --------------------------------------------------------------------------- #
class _CoordConvNd(nn.Module):
    """Parameters, validation and the split "input term + coordinate term" shared by the CoordConv layers.

    Subclasses set ``_dims`` (spatial axes), ``_template`` (the torch module
    whose parameters and initialisation they take) and ``_conv`` (the
    functional convolution); the transposed layer overrides ``forward``.
    """

    _dims = 2
    _template: type[nn.Module] = nn.Conv2d
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        bias: bool,
        with_r: bool,
        groups: int,
        padding_mode: str,
        device,
        dtype,
        output_padding=0,
    ) -> None:
        super().__init__()
        who, d = type(self).__name__, self._dims
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{who} expected a positive int for {name}, got {value!r}")
        if _as_int(groups) is None or _as_int(groups) <= 0:
            raise ValueError(f"{who} expected groups to be a positive int, got {groups!r}")
        groups = _as_int(groups)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(f"{who} expected {name} divisible by groups={groups}, got {name}={value}")
        modes = ("zeros",) if self._transposed else PADDING_MODES
        if padding_mode not in modes:
            raise ValueError(f"{who} expected padding_mode to be one of {modes}, got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.with_r = bool(with_r)
        self.kernel_size = _int_tuple(who, "kernel_size", kernel_size, d, 1)
        self.stride = _int_tuple(who, "stride", stride, d, 1)
        self.dilation = _int_tuple(who, "dilation", dilation, d, 1)
        if isinstance(padding, str) and not self._transposed:
            if padding not in ("same", "valid"):
                raise ValueError(f"{who} expected padding 'same', 'valid' or non-negative ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{who}: padding='same' is not supported for strided convolutions (as in torch), "
                    f"got stride={self.stride}"
                )
            self.padding = padding
        else:
            self.padding = _int_tuple(who, "padding", padding, d, 0)
        if self._transposed:
            self.output_padding = _int_tuple(who, "output_padding", output_padding, d, 0)
            for i, p in enumerate(self.output_padding):
                if p >= max(self.stride[i], self.dilation[i]):
                    raise ValueError(
                        f"{who} expected output_padding smaller than stride or dilation on every axis, "
                        f"got output_padding={self.output_padding}, stride={self.stride}, dilation={self.dilation}"
                    )
        self.groups = groups
        self.padding_mode = padding_mode
        self._pads = _reversed_pads(self.padding, self.kernel_size, self.dilation)
        # The torch module owns the parameters: the same initialisation (fan-in
        # includes the coordinate channels, as in the concatenating layer) and
        # the same names and layout, so state dicts move between the two.
        template = self._template(
            in_channels + groups * self.extra_channels,
            out_channels,
            self.kernel_size,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.weight = template.weight
        self.bias = template.bias

    @property
    def extra_channels(self) -> int:
        """Number of coordinate channels the layer sees per group (one per spatial axis, plus one with ``r``)."""
        return self._dims + (1 if self.with_r else 0)

    def reset_parameters(self) -> None:
        """Re-initialise ``weight`` and ``bias`` as the torch convolution of the concatenated input would."""
        nn.modules.conv._ConvNd.reset_parameters(self)

    def _split_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight of the input channels, weight of the coordinate channels)``, views of ``weight``.

        Input part: ``(out, in // groups, *k)``; coordinate part: ``(out, extra, *k)``,
        a dense (``groups=1``) weight since every group sees the same grid.
        """
        per_group = self.in_channels // self.groups
        return self.weight[:, :per_group], self.weight[:, per_group:]

    def _convolve(self, x: torch.Tensor, weight: torch.Tensor, bias, groups: int) -> torch.Tensor:
        """The layer's convolution of ``x``, padding it first as ``padding_mode`` says (as nn.Conv2d does)."""
        if self.padding_mode == "zeros":
            return self._conv(x, weight, bias, self.stride, self.padding, self.dilation, groups)
        x = F.pad(x, self._pads, mode=self.padding_mode)
        return self._conv(x, weight, bias, self.stride, 0, self.dilation, groups)

    def _coordinate_term(self, size: Sequence[int], dtype: torch.dtype, device) -> torch.Tensor:
        """The convolution of the (padded) coordinate grid alone: ``(1, out_channels, *out_size)``."""
        grid = coordinates(size, self.with_r, dtype, device)
        return self._convolve(grid, self._split_weight()[1], None, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, type(self).__name__, self.in_channels, self._dims)
        out = self._convolve(x, self._split_weight()[0], self.bias, self.groups)
        # In place: the conv's backward does not need its output, so this is safe
        # for autograd and saves allocating a second output-sized tensor.
        return out.add_(self._coordinate_term(x.shape[2:], x.dtype, x.device))

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += f", padding={self.padding}"
        if self._transposed:
            s += f", output_padding={self.output_padding}"
        s += f", dilation={self.dilation}, bias={self.bias is not None}, with_r={self.with_r}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class _CoordConv(_CoordConvNd):
    """The non-transposed CoordConv layers' constructor: ``nn.ConvNd``'s arguments in
    order, then keyword-only ``groups``, ``padding_mode``, ``device``, ``dtype``.
    Subclasses set ``_dims`` and ``_template``; the convolution is ``F.conv{_dims}d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        bias: bool = True,
        with_r: bool = False,
        *,
        groups: int = 1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, with_r,
                         groups, padding_mode, device, dtype)

    def _conv(self, x, weight, bias, stride, padding, dilation, groups):
        # looked up at call time, so F.conv{1,2,3}d stay patchable (the tests spy on them)
        return getattr(F, f"conv{self._dims}d")(x, weight, bias, stride, padding, dilation, groups)


class CoordConv1d(_CoordConv):
    """A 1-D convolution that also sees the coordinate channel ``x`` (and ``r = |x|``) of its input.

    The 1-D counterpart of :class:`CoordConv2d` (same contract, with
    ``F.conv1d`` and :class:`AddCoords` ``(dims=1)``). Shapes: input
    ``(N, in_channels, L)``, output ``(N, out_channels, L')``; ``weight``:
    ``(out_channels, in_channels // groups + 1 [+1], k)``.
    """

    _dims = 1
    _template = nn.Conv1d

    def coordinate_term(self, length: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
        """The convolution of the coordinate grid alone: ``(1, out_channels, L')``."""
        return self._coordinate_term((length,), dtype, device)


class CoordConv2d(_CoordConv):
    """A 2-D convolution that also sees the coordinate channels of its input.

    ``layer(x)`` equals ``F.conv2d(AddCoords(with_r)(x), layer.weight, layer.bias,
    stride, padding, dilation)`` for every input size, but never concatenates the
    coordinates onto the batch. The convolution is linear in its input channels,
    so it splits into

    * the ordinary convolution of ``x`` with ``weight[:, :in_channels]``, and
    * the *coordinate term*: the convolution of the padded coordinate grid
      with ``weight[:, in_channels:]``. It does not depend on the batch, so it is
      computed once per forward on a batch of one and broadcast-added. Because
      the grid is padded exactly as the concatenated input would be, the
      term is exact at the borders too (a per-pixel bias would not be).

    Arguments follow :class:`torch.nn.Conv2d`, in the order ``in_channels,
    out_channels, kernel_size, stride, padding, dilation, bias, with_r``; then
    keyword-only ``groups``, ``padding_mode``, ``device``, ``dtype`` (see the
    module docstring for what ``groups`` and ``padding_mode`` mean here).

    Shapes: input ``(N, in_channels, H, W)``, output ``(N, out_channels, H', W')``
    with ``H', W'`` as for ``nn.Conv2d``. ``weight`` has shape
    ``(out_channels, in_channels // groups + 2 [+1], kh, kw)``, the layout of
    "concatenate then convolve", so state dicts move between the two.
    """

    _dims = 2
    _template = nn.Conv2d

    def coordinate_term(
        self, height: int, width: int, dtype: torch.dtype = torch.float32, device=None
    ) -> torch.Tensor:
        """The convolution of the coordinate grid alone: ``(1, out_channels, H', W')``."""
        return self._coordinate_term((height, width), dtype, device)


class CoordConv3d(_CoordConv):
    """A 3-D convolution that also sees the coordinate channels ``x, y, z`` (and ``r``) of its input.

    The 3-D counterpart of :class:`CoordConv2d` (same contract, with
    ``F.conv3d`` and :class:`AddCoords` ``(dims=3)``): ``x`` varies along W,
    ``y`` along H, ``z`` along D, each in [-1, 1]; ``r = sqrt(x² + y² + z²)``.
    Shapes: input ``(N, in_channels, D, H, W)``, output ``(N, out_channels, D', H', W')``;
    ``weight``: ``(out_channels, in_channels // groups + 3 [+1], kd, kh, kw)``.
    """

    _dims = 3
    _template = nn.Conv3d

    def coordinate_term(
        self, depth: int, height: int, width: int, dtype: torch.dtype = torch.float32, device=None
    ) -> torch.Tensor:
        """The convolution of the coordinate grid alone: ``(1, out_channels, D', H', W')``."""
        return self._coordinate_term((depth, height, width), dtype, device)


class CoordConvTranspose2d(_CoordConvNd):
    """A 2-D transposed convolution that also sees the coordinate channels of its input.

    ``layer(x)`` equals ``F.conv_transpose2d(AddCoords(with_r)(x), weight, bias,
    stride, padding, output_padding, 1, dilation)``, computed as for
    :class:`CoordConv2d`: the transposed convolution of ``x`` plus that of the
    coordinate grid of the *input* (batch of one, broadcast). Padding is zeros
    only, as for :class:`torch.nn.ConvTranspose2d`.

    Arguments: ``in_channels, out_channels, kernel_size, stride, padding,
    output_padding`` as for ``nn.ConvTranspose2d``; then keyword-only
    ``dilation, bias, with_r, groups, padding_mode ('zeros'), device, dtype``.
    ``forward(x, output_size=None)`` takes ``output_size`` as
    ``nn.ConvTranspose2d`` does.

    Shapes: input ``(N, in_channels, H, W)``, output ``(N, out_channels, H', W')``;
    ``weight``: ``(in_channels + groups * (2 [+1]), out_channels // groups, kh, kw)``,
    the layout of ``nn.ConvTranspose2d`` over the concatenated input.
    """

    _dims = 2
    _template = nn.ConvTranspose2d
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        *,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        with_r: bool = False,
        groups: int = 1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, with_r,
                         groups, padding_mode, device, dtype, output_padding)

    def _split_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input part (in, out // groups, kh, kw), coordinate part (extra, out, kh, kw))``.

        The coordinate rows of the groups are laid side by side along the output
        axis, so one dense transposed convolution of the grid gives every group's
        term. Views when ``groups == 1``.
        """
        g, per_group, extra = self.groups, self.in_channels // self.groups, self.extra_channels
        w = self.weight.unflatten(0, (g, per_group + extra))  # (g, rows per group, out // g, kh, kw)
        inputs = w[:, :per_group].flatten(0, 1)
        coords = w[:, per_group:].transpose(0, 1).flatten(1, 2)
        return inputs, coords

    def _output_padding(self, x: torch.Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        """``output_padding``, or the one that gives ``output_size`` (``(H, W)`` or ``(N, C, H, W)``)."""
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:] if len(output_size) == 4 else tuple(output_size)
        if len(size) != 2:
            raise ValueError(
                f"CoordConvTranspose2d expected output_size of 2 or 4 ints, got {len(output_size)}: {output_size}"
            )
        smallest = [
            (x.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
            + self.dilation[i] * (self.kernel_size[i] - 1) + 1
            for i in range(2)
        ]
        largest = [s + self.stride[i] - 1 for i, s in enumerate(smallest)]
        if any(not lo <= s <= hi for s, lo, hi in zip(size, smallest, largest)):
            raise ValueError(
                f"CoordConvTranspose2d: requested output size {list(size)}, but valid sizes range from "
                f"{smallest} to {largest} for an input of spatial size {list(x.shape[2:])}"
            )
        return tuple(s - lo for s, lo in zip(size, smallest))

    def _transpose(self, x, weight, bias, output_padding, groups) -> torch.Tensor:
        return F.conv_transpose2d(
            x, weight, bias, self.stride, self.padding, output_padding, groups, self.dilation
        )

    def coordinate_term(
        self, height: int, width: int, dtype: torch.dtype = torch.float32, device=None, output_padding=None
    ) -> torch.Tensor:
        """The transposed convolution of the input-sized coordinate grid alone: ``(1, out_channels, H', W')``."""
        grid = coordinates((height, width), self.with_r, dtype, device)
        op = self.output_padding if output_padding is None else output_padding
        return self._transpose(grid, self._split_weight()[1], None, op, 1)

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> torch.Tensor:
        _check_input(x, "CoordConvTranspose2d", self.in_channels)
        output_padding = self._output_padding(x, output_size)
        inputs, coords = self._split_weight()
        out = self._transpose(x, inputs, self.bias, output_padding, self.groups)
        grid = coordinates(x.shape[2:], self.with_r, x.dtype, x.device)
        return out.add_(self._transpose(grid, coords, None, output_padding, 1))


def _append_per_group(x: torch.Tensor, grid: torch.Tensor, groups: int) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C + groups * extra, H, W)``: the grid after each group's channels."""
    n = x.shape[0]
    x = x.unflatten(1, (groups, -1))
    grid = grid.unsqueeze(1).expand(n, groups, *grid.shape[1:])
    return torch.cat([x, grid], dim=2).flatten(1, 2)


class ConcatCoordConv2d(CoordConv2d):
    """The textbook formulation: concatenate coordinates onto the batch, then convolve.

    Kept as the reference that :class:`CoordConv2d` is benchmarked against and as
    the lesson of chapter 4. Same arguments, parameter names and state dict as
    :class:`CoordConv2d`; it costs an extra ``(N, C + 2, H, W)`` copy of the input
    per forward, and a convolution over ``C + 2`` channels for every example.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "ConcatCoordConv2d", self.in_channels)
        if self.groups == 1:
            x = AddCoords(self.with_r)(x)
        else:
            x = _append_per_group(x, coordinates(x.shape[2:], self.with_r, x.dtype, x.device), self.groups)
        return self._convolve(x, self.weight, self.bias, self.groups)
