"""The CoordConv layer (Liu et al., 2018; the release's ``CoordConv.py``) and the AddCoords transform.

Conventions (documented because peers disagree):

* coordinate channels are appended *after* the input channels, in the order
  ``x`` (column index, varies along W), ``y`` (row index, varies along H) and,
  optionally, ``r = sqrt(x**2 + y**2)``;
* each index is mapped linearly onto [-1, 1]: column ``j`` of ``W`` columns maps
  to ``2 j / (W - 1) - 1``. Each axis is normalised by *its own* length (the
  original release divides the column channel by ``H - 1``, which is wrong
  whenever ``H != W``);
* an axis of size 1 maps to 0 (instead of dividing by zero);
* ``r`` is centred on the image centre, where ``x = y = 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["AddCoords", "CoordConv2d", "ConcatCoordConv2d", "coordinate_grid"]


def _axis(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(n,)`` positions ``0..n-1`` mapped onto [-1, 1]; a single position maps to 0."""
    if n == 1:
        return torch.zeros(1, dtype=dtype, device=device)
    return torch.linspace(-1.0, 1.0, n, dtype=dtype, device=device)


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
    device = torch.device("cpu") if device is None else torch.device(device)
    x = _axis(width, dtype, device).view(1, width).expand(height, width)
    y = _axis(height, dtype, device).view(height, 1).expand(height, width)
    channels = [x, y]
    if with_r:
        channels.append(torch.sqrt(x * x + y * y))
    return torch.stack(channels).unsqueeze(0)


def _check_input(x: torch.Tensor, who: str, channels: int | None = None) -> None:
    """Raise a precise error unless ``x`` is a floating ``(N, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{who} expected a 4-D input of shape (N, C, H, W), got {x.dim()}-D input of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{who} expected a floating-point input (e.g. torch.float32), got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} expected {channels} input channels (shape (N, {channels}, H, W)), "
            f"got {x.shape[1]} channels in input of shape {tuple(x.shape)}"
        )


class AddCoords(nn.Module):
    """Append coordinate channels to a batch of images.

    Shapes: ``(N, C, H, W) -> (N, C + 2, H, W)``, or ``(N, C + 3, H, W)`` with
    ``with_r``. The output has the input's dtype and device. Channel order and
    normalisation are described in the module docstring.
    """

    def __init__(self, with_r: bool = False) -> None:
        super().__init__()
        self.with_r = bool(with_r)

    @property
    def extra_channels(self) -> int:
        """Number of channels this transform appends (2, or 3 with ``r``)."""
        return 3 if self.with_r else 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "AddCoords")
        n, _, h, w = x.shape
        grid = coordinate_grid(h, w, self.with_r, x.dtype, x.device)
        return torch.cat([x, grid.expand(n, -1, -1, -1)], dim=1)

    def extra_repr(self) -> str:
        return f"with_r={self.with_r}"


class CoordConv2d(nn.Module):
    """A 2-D convolution that also sees the coordinate channels of its input.

    ``layer(x)`` equals ``F.conv2d(AddCoords(with_r)(x), layer.weight, layer.bias,
    stride, padding, dilation)`` for every input size, but never concatenates the
    coordinates onto the batch. The convolution is linear in its input channels,
    so it splits into

    * the ordinary convolution of ``x`` with ``weight[:, :in_channels]``, and
    * the *coordinate term*: the convolution of the zero-padded coordinate grid
      with ``weight[:, in_channels:]``. It does not depend on the batch, so it is
      computed once per forward on a batch of one and broadcast-added. Because
      the grid is zero-padded exactly as the concatenated input would be, the
      term is exact at the borders too (a per-pixel bias would not be).

    Arguments follow :class:`torch.nn.Conv2d` (zero padding, ``groups=1``).

    Shapes: input ``(N, in_channels, H, W)``, output ``(N, out_channels, H', W')``
    with ``H', W'`` as for ``nn.Conv2d``. ``weight`` has shape
    ``(out_channels, in_channels + 2 [+1], kh, kw)``, the layout of
    "concatenate then convolve", so state dicts move between the two.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        with_r: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"CoordConv2d expected a positive int for {name}, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.with_r = bool(with_r)
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation = _pair(dilation)
        # nn.Conv2d owns the parameters: same initialisation (fan-in includes the
        # coordinate channels, as in the concatenating layer) and the same names.
        template = nn.Conv2d(
            in_channels + self.extra_channels,
            out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            bias=bias,
        )
        self.weight = template.weight
        self.bias = template.bias

    @property
    def extra_channels(self) -> int:
        """Number of coordinate channels the layer sees (2, or 3 with ``r``)."""
        return 3 if self.with_r else 2

    def coordinate_term(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The convolution of the coordinate grid alone: ``(1, out_channels, H', W')``."""
        grid = coordinate_grid(height, width, self.with_r, dtype, device)
        coord_weight = self.weight[:, self.in_channels :]
        return F.conv2d(grid, coord_weight, None, self.stride, self.padding, self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "CoordConv2d", self.in_channels)
        out = F.conv2d(
            x, self.weight[:, : self.in_channels], self.bias, self.stride, self.padding, self.dilation
        )
        # In place: the conv's backward does not need its output, so this is safe
        # for autograd and saves allocating a second (N, C', H', W') tensor.
        return out.add_(self.coordinate_term(x.shape[2], x.shape[3], x.dtype, x.device))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}, with_r={self.with_r}"
        )


class ConcatCoordConv2d(CoordConv2d):
    """The textbook formulation: concatenate coordinates onto the batch, then convolve.

    Kept as the reference that :class:`CoordConv2d` is benchmarked against and as
    the lesson of chapter 4. Same arguments, parameter names and state dict as
    :class:`CoordConv2d`; it costs an extra ``(N, C + 2, H, W)`` copy of the input
    per forward, and a convolution over ``C + 2`` channels for every example.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "ConcatCoordConv2d", self.in_channels)
        x = AddCoords(self.with_r)(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
