"""The critique's no-training networks, in both directions (Piekniewski, 2018).

Piekniewski's point (``Autopsy of a deep learning paper``, 2018) is that once a
network is *given* the coordinate feature maps

* ``X``: each pixel's column index ``0 .. W-1`` (varies along W), and
* ``Y``: each pixel's row index ``0 .. H-1`` (varies along H),

the coordinate transforms of the CoordConv paper need a handful of fixed
weights and no training at all. This module writes both directions as ordinary
PyTorch layers whose weights are set in ``__init__`` and frozen:

* :class:`OneHotToCoord`: one-hot image ``(N, 1, H, W)`` -> ``(N, 2)`` coordinates
  ``(x, y)`` = (column, row). The critique's construction: a 1x1 convolution over
  ``[A, X, Y]`` computes ``W*A - X`` and ``H*A - Y``; a ReLU keeps only the value
  at the hot pixel; summing over the image gives ``W - x`` and ``H - y``, and
  subtracting that from the constants ``W`` and ``H`` gives ``x`` and ``y``.
* :class:`CoordToOneHot`: ``(N, 2)`` integer coordinates -> one-hot image, the
  direction the critique left "as an exercise to the reader". Three 1x1
  convolutions with ReLUs compute ``|X - x|`` (as two ReLUs), the indicator
  ``ReLU(1 - |X - x|)`` of ``X == x`` (and the same for ``y``), and finally the
  logical AND ``ReLU(match_x + match_y - 1)``.

Both are exact, not approximately right: every intermediate value is an integer
of magnitude at most ``max(H, W)``, which floating point represents exactly
(float32 up to 2**24; on a GPU whose convolutions use TF32, canvases up to 2048
pixels a side). The coordinate maps here hold raw pixel indices, not the [-1, 1] channels of
:class:`coordlib.AddCoords`; the critique assumes these integer features.
"""


from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from coordlib import _checks

__all__ = ["OneHotToCoord", "CoordToOneHot", "index_grid", "all_positions", "onehot_images"]


def _check_size(height, width, who: str) -> tuple[int, int]:
    return _checks.integer(who, "height", height), _checks.integer(who, "width", width)


def index_grid(height: int, width: int, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
    """The integer coordinate feature maps of a ``height x width`` image.

    Returns a ``(1, 2, height, width)`` tensor: channel 0 is ``X`` (the column
    index, ``X[..., r, c] == c``), channel 1 is ``Y`` (the row index,
    ``Y[..., r, c] == r``).
    """
    _check_size(height, width, "index_grid")
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([xs, ys]).unsqueeze(0).to(dtype)


def all_positions(height: int, width: int) -> torch.Tensor:
    """Every pixel of a ``height x width`` image as ``(height * width, 2)`` int64 ``(x, y)``.

    Row-major order: position ``k`` is ``(k % width, k // width)``.
    """
    _check_size(height, width, "all_positions")
    k = torch.arange(height * width)
    return torch.stack([k % width, k // width], dim=1)


def onehot_images(coords: torch.Tensor, height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Reference one-hot images built by indexing (no network).

    ``coords`` ``(N, 2)`` integer ``(x, y)`` -> ``(N, 1, height, width)`` with
    ``out[n, 0, y_n, x_n] == 1`` and 0 elsewhere.
    """
    _check_size(height, width, "onehot_images")
    coords = _check_coords(coords, height, width, "onehot_images").long()
    out = torch.zeros(len(coords), 1, height, width, dtype=dtype, device=coords.device)
    out[torch.arange(len(coords), device=coords.device), 0, coords[:, 1], coords[:, 0]] = 1
    return out


def _stack_channels_last(parts: list[torch.Tensor], n: int) -> torch.Tensor:
    """Concatenate ``parts`` (each broadcastable to ``(n, c_i, H, W)``) along channels.

    The result is stored channels-last: 1x1 convolutions over a few channels run
    several times faster in that layout on a CPU, and the values are the same.
    """
    height, width = parts[-1].shape[-2:]
    channels = sum(p.shape[1] for p in parts)
    out = torch.empty((n, channels, height, width), dtype=parts[-1].dtype, device=parts[-1].device,
                      memory_format=torch.channels_last)
    start = 0
    for p in parts:
        out[:, start:start + p.shape[1]] = p
        start += p.shape[1]
    return out


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def _check_coords(coords, height: int, width: int, who: str) -> torch.Tensor:
    """Raise a precise error unless ``coords`` is ``(N, 2)`` integer-valued ``(x, y)`` inside the canvas."""
    if not isinstance(coords, torch.Tensor):
        raise TypeError(f"{who} expected a torch.Tensor of shape (N, 2) holding (x, y), got {type(coords).__name__}")
    if coords.dim() != 2 or coords.shape[1] != 2:
        raise ValueError(f"{who} expected coordinates of shape (N, 2) holding (x, y), got shape {tuple(coords.shape)}")
    if coords.dtype == torch.bool or coords.is_complex():
        raise TypeError(f"{who} expected integer or floating coordinates, got dtype {coords.dtype}")
    if coords.is_floating_point():
        bad = ~torch.isfinite(coords) | (coords != torch.round(coords))
        if bad.any():
            n = int(bad.any(dim=1).nonzero()[0, 0])
            raise ValueError(
                f"{who} expected integer-valued coordinates (pixel indices), "
                f"got (x, y) = {tuple(coords[n].tolist())} in row {n}"
            )
    x, y = coords[:, 0], coords[:, 1]
    outside = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if outside.any():
        n = int(outside.nonzero()[0, 0])
        raise ValueError(
            f"{who} expected coordinates inside the {height} x {width} canvas "
            f"(0 <= x < {width}, 0 <= y < {height}), got (x, y) = {tuple(coords[n].tolist())} in row {n}"
        )
    return coords


class OneHotToCoord(nn.Module):
    """Piekniewski's handcrafted network: one-hot image -> its pixel coordinates.

    Shapes: input ``(N, 1, height, width)``, floating, one-hot (a single 1, zeros
    elsewhere); output ``(N, 2)`` ``(x, y)`` = (column, row) in the module's
    dtype (float32 unless converted), exact integers.

    Layers, all fixed (no trainable parameter):

    * ``X``, ``Y``: non-persistent buffers ``(1, 1, H, W)``, the column and row
      index of each pixel (the features the critique assumes are given);
    * ``conv``: ``Conv2d(3, 2, 1, bias=False)`` over ``[A, X, Y]`` with weights
      ``[W, -1, 0]`` (channel ``W*A - X``) and ``[H, 0, -1]`` (channel ``H*A - Y``);
    * ``relu``: zero everywhere except at the hot pixel, where the channels hold
      ``W - x >= 1`` and ``H - y >= 1``;
    * a sum over the image, subtracted from the constant ``offset = [W, H]``.

    For inputs that are not one-hot the output is still defined but meaningless
    (a blank image gives ``(W, H)``, outside the canvas).
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = _check_size(height, width, "OneHotToCoord")
        grid = index_grid(height, width)
        self.register_buffer("X", grid[:, :1].clone(), persistent=False)
        self.register_buffer("Y", grid[:, 1:].clone(), persistent=False)
        self.register_buffer("offset", torch.tensor([float(width), float(height)]), persistent=False)
        self.conv = nn.Conv2d(3, 2, kernel_size=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        with torch.no_grad():
            #                               A       X     Y
            self.conv.weight.copy_(torch.tensor([[float(width), -1.0, 0.0],
                                                 [float(height), 0.0, -1.0]]).view(2, 3, 1, 1))
        _freeze(self)

    def _check(self, a: torch.Tensor) -> torch.Tensor:
        who = "OneHotToCoord"
        expected = f"(N, 1, {self.height}, {self.width})"
        if not isinstance(a, torch.Tensor):
            raise TypeError(f"{who} expected a torch.Tensor of shape {expected}, got {type(a).__name__}")
        if a.dim() != 4 or a.shape[1] != 1 or tuple(a.shape[2:]) != (self.height, self.width):
            raise ValueError(f"{who} expected a one-hot image batch of shape {expected}, got shape {tuple(a.shape)}")
        if not a.is_floating_point():
            raise TypeError(f"{who} expected a floating-point input (e.g. torch.float32), got dtype {a.dtype}")
        if a.device != self.X.device:
            raise ValueError(f"{who} lives on {self.X.device}, got an input on {a.device}; move one of them")
        return a.to(self.X.dtype)  # lossless for one-hot values; no device move

    def features(self, a: torch.Tensor) -> torch.Tensor:
        """The convolution's input ``[A, X, Y]``: ``(N, 1, H, W) -> (N, 3, H, W)``."""
        a = self._check(a)
        return _stack_channels_last([a, self.X, self.Y], a.shape[0])

    def channels(self, a: torch.Tensor) -> torch.Tensor:
        """The two ReLU channels ``ReLU(W*A - X)``, ``ReLU(H*A - Y)``: ``(N, 1, H, W) -> (N, 2, H, W)``."""
        return self.relu(self.conv(self.features(a)))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` one-hot -> ``(N, 2)`` ``(x, y)``."""
        return self.offset - self.channels(a).sum(dim=(2, 3))

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}"


class CoordToOneHot(nn.Module):
    """The reverse direction: pixel coordinates -> one-hot image, from fixed layers.

    Shapes: input ``(N, 2)`` ``(x, y)`` = (column, row), integer-valued (any
    integer dtype, or floating with integer values), ``0 <= x < width`` and
    ``0 <= y < height``; output ``(N, 1, height, width)`` in the module's dtype
    (float32 unless converted), exactly 1 at ``[n, 0, y_n, x_n]`` and 0 elsewhere.

    The coordinates are tiled over the canvas and concatenated with the fixed
    index maps into ``[x, y, X, Y]`` ``(N, 4, H, W)``; then, all 1x1 and fixed:

    * ``distance`` ``Conv2d(4, 4, 1, bias=False)`` + ReLU:
      ``ReLU(X - x)``, ``ReLU(x - X)``, ``ReLU(Y - y)``, ``ReLU(y - Y)``
      (each pair sums to ``|X - x|`` or ``|Y - y|``);
    * ``match`` ``Conv2d(4, 2, 1)`` + ReLU: ``ReLU(1 - |X - x|)`` and
      ``ReLU(1 - |Y - y|)``, which for integers are 1 iff ``X == x`` (``Y == y``);
    * ``both`` ``Conv2d(2, 1, 1)`` + ReLU: ``ReLU(match_x + match_y - 1)``, 1 iff both.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = _check_size(height, width, "CoordToOneHot")
        grid = index_grid(height, width)
        self.register_buffer("X", grid[:, :1].clone(), persistent=False)
        self.register_buffer("Y", grid[:, 1:].clone(), persistent=False)
        self.layers = nn.Sequential(OrderedDict([
            ("distance", nn.Conv2d(4, 4, kernel_size=1, bias=False)),
            ("relu1", nn.ReLU(inplace=True)),
            ("match", nn.Conv2d(4, 2, kernel_size=1)),
            ("relu2", nn.ReLU(inplace=True)),
            ("both", nn.Conv2d(2, 1, kernel_size=1)),
            ("relu3", nn.ReLU(inplace=True)),
        ]))
        with torch.no_grad():
            # input channels:                         x     y     X     Y
            self.layers.distance.weight.copy_(torch.tensor([[-1.0, 0.0, 1.0, 0.0],    # X - x
                                                            [1.0, 0.0, -1.0, 0.0],    # x - X
                                                            [0.0, -1.0, 0.0, 1.0],    # Y - y
                                                            [0.0, 1.0, 0.0, -1.0]]).view(4, 4, 1, 1))
            self.layers.match.weight.copy_(torch.tensor([[-1.0, -1.0, 0.0, 0.0],
                                                         [0.0, 0.0, -1.0, -1.0]]).view(2, 4, 1, 1))
            self.layers.match.bias.copy_(torch.tensor([1.0, 1.0]))
            self.layers.both.weight.copy_(torch.tensor([[1.0, 1.0]]).view(1, 2, 1, 1))
            self.layers.both.bias.copy_(torch.tensor([-1.0]))
        _freeze(self)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        """The first convolution's input ``[x, y, X, Y]``: ``(N, 2) -> (N, 4, H, W)``."""
        coords = _check_coords(coords, self.height, self.width, "CoordToOneHot")
        if coords.device != self.X.device:
            raise ValueError(f"CoordToOneHot lives on {self.X.device}, got coordinates on {coords.device}; "
                             "move one of them")
        n = coords.shape[0]
        return _stack_channels_last([coords.to(self.X.dtype).view(n, 2, 1, 1), self.X, self.Y], n)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` integer ``(x, y)`` -> ``(N, 1, H, W)`` one-hot."""
        return self.layers(self.features(coords))

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}"
