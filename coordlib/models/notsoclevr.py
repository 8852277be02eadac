"""The paper's architectures for the Not-so-Clevr tasks (paper §4, official release).

All models take or return coordinates ``(x, y)`` = (column, row) in pixels of the
64x64 canvas. Coordinate *inputs* enter as the release feeds them, raw pixel
values (``inputs="pixels"``, the default), or scaled with :func:`scale_coords`
onto [-1, 1], the range of the coordinate channels of
:class:`~coordlib.AddCoords` (``inputs="scaled"``, the book's earlier variant).

Every model is initialised as the release does by default (``init="release"``:
he_normal on every convolution, glorot_uniform on dense layers, zero biases;
:mod:`coordlib.layers.init`); ``init="pytorch"`` keeps PyTorch's defaults, an ablation.

* supervised coordinate **classification**: ``(N, 2)`` coordinates -> ``(N, 4096)``
  logits, one per pixel; the target is the pixel index ``y * 64 + x``;
* supervised **rendering**: ``(N, 2)`` coordinates -> ``(N, 64, 64)`` logits of a
  per-pixel sigmoid; the target is the 9x9 square;
* supervised **regression**: ``(N, 1, 64, 64)`` one-hot image -> ``(N, 2)``
  coordinates divided by 64 (the release's target scale).

Widths and kernel sizes are arguments so that profiles can scale the models;
the defaults give the parameter counts of the release's ``model_builders.py``
(CoordConv classifier 7,553; CoordConv regressor 906; conv regressor 72,850).
"""


from __future__ import annotations

import torch
from torch import nn

from coordlib import _checks
from coordlib.layers.coordconv import CoordConv2d
from coordlib.layers.init import apply_init

__all__ = [
    "CANVAS", "scale_coords", "DeconvNet", "CoordConvClassifier", "CoordConvRenderer", "CoordConvRegressor",
    "ConvRegressor", "ConvRegressorGAP", "ConvRegressorQuadrant", "count_parameters", "INPUTS",
]

CANVAS = 64
INPUTS = ("pixels", "scaled")


def _coords_in(coords: torch.Tensor, inputs: str, canvas: int = CANVAS) -> torch.Tensor:
    """Coordinates as the model reads them: raw pixels (float32) or scaled to [-1, 1]."""
    if inputs == "pixels":
        if coords.dim() != 2 or coords.shape[1] != 2:
            raise ValueError(f"expected coordinates of shape (N, 2), got {tuple(coords.shape)}")
        return coords.float()
    return scale_coords(coords, canvas)


def _check_inputs(inputs: str, who: str) -> str:
    if inputs not in INPUTS:
        raise ValueError(f"{who} inputs must be one of {INPUTS}, got {inputs!r}")
    return inputs


def scale_coords(coords: torch.Tensor, canvas: int = CANVAS) -> torch.Tensor:
    """Pixel coordinates ``(N, 2)`` (any numeric dtype) -> float32 ``(N, 2)`` on [-1, 1].

    Pixel 0 maps to -1 and pixel ``canvas - 1`` to 1, exactly as the coordinate
    channels of :class:`~coordlib.AddCoords` do.
    """
    if coords.dim() != 2 or coords.shape[1] != 2:
        raise ValueError(f"expected coordinates of shape (N, 2), got {tuple(coords.shape)}")
    return coords.float() * (2.0 / (canvas - 1)) - 1.0


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _tile(coords: torch.Tensor, size: int) -> torch.Tensor:
    """``(N, 2)`` -> ``(N, 2, size, size)``: each coordinate repeated over the canvas.

    Returned in ``channels_last`` memory format: the 1x1 convolutions that follow
    then run as plain matrix products, about twice as fast on a CPU.
    """
    return coords[:, :, None, None].expand(-1, -1, size, size).contiguous(memory_format=torch.channels_last)


class DeconvNet(nn.Module):
    """The deconvolutional classifier/renderer: ``(N, 2)`` coordinates -> ``(N, 64, 64)`` logits.

    The coordinates enter as a 1x1 image with 2 channels; six stride-2
    transposed convolutions (channels ``64m, 64m, 64m, 32m, 32m, 1``, kernel
    ``kernel_size`` in {2, 3, 4}) grow it to 64x64, with BatchNorm + ReLU after
    all but the last. ``kernel_size`` 3 uses ``output_padding=1`` so that every
    layer exactly doubles the size.

    For classification, flatten the output and apply a softmax over the 4,096
    pixels; for rendering, apply a per-pixel sigmoid. ``inputs`` and ``init``
    as in the module docstring.
    """

    def __init__(self, width: int = 1, kernel_size: int = 2, *, inputs: str = "pixels", init: str = "release") -> None:
        super().__init__()
        self.inputs = _check_inputs(inputs, "DeconvNet")
        if kernel_size not in (2, 3, 4):
            raise ValueError(f"DeconvNet kernel_size must be 2, 3 or 4 (paper's sweep), got {kernel_size}")
        _checks.integer("DeconvNet", "width multiplier", width)
        channels = [2, 64 * width, 64 * width, 64 * width, 32 * width, 32 * width, 1]
        padding, output_padding = (kernel_size - 1) // 2, kernel_size % 2
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size, 2, padding, output_padding))
            if i < len(channels) - 2:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        apply_init(self, init)
        # channels_last: the same arithmetic, about 3x faster for these transposed
        # convolutions on a CPU (oneDNN); weights keep their values and shapes.
        self.to(memory_format=torch.channels_last)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` pixel coordinates -> ``(N, 64, 64)`` logits."""
        x = _coords_in(coords, self.inputs)[:, :, None, None].contiguous(memory_format=torch.channels_last)
        return self.net(x).squeeze(1)


class CoordConvClassifier(nn.Module):
    """CoordConv coordinate classifier: ``(N, 2)`` coordinates -> ``(N, 64, 64)`` logits.

    The coordinates are tiled over the canvas, a :class:`CoordConv2d` adds the
    canvas's own coordinate channels, and 1x1 convolutions (``32, 32, 64, 64, 1``
    times ``width``) with ReLUs score every pixel. With ``width=1`` it has the
    release's 7,553 parameters. The tiled coordinates are raw pixel values
    (``inputs="pixels"``, as released) or scaled to [-1, 1] (``"scaled"``).
    """

    def __init__(self, width: int = 1, canvas: int = CANVAS, *, inputs: str = "pixels", init: str = "release") -> None:
        super().__init__()
        self.canvas = canvas
        self.inputs = _check_inputs(inputs, "CoordConvClassifier")
        c = [32 * width, 32 * width, 64 * width, 64 * width]
        self.net = nn.Sequential(
            CoordConv2d(2, c[0], 1), nn.ReLU(inplace=True),
            nn.Conv2d(c[0], c[1], 1), nn.ReLU(inplace=True),
            nn.Conv2d(c[1], c[2], 1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], 1, 1),
        )
        apply_init(self, init)
        self.to(memory_format=torch.channels_last)  # same arithmetic, faster on a CPU

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` pixel coordinates -> ``(N, 64, 64)`` logits (softmax over pixels for classification)."""
        return self.net(_tile(_coords_in(coords, self.inputs, self.canvas), self.canvas)).squeeze(1)


class CoordConvRenderer(nn.Module):
    """CoordConv renderer: ``(N, 2)`` coordinates -> ``(N, 64, 64)`` logits of a per-pixel sigmoid.

    The classifier's logits go through a softmax over pixels (which "sharpens"
    them into a near one-hot map), then 3x3 convolutions ``8, 8, 16, 16, 1``
    (times ``width``) with ReLUs spread the point into a square.
    ``sharpen=False`` feeds the logits to the painting convolutions as they are:
    the release's ablation without the sharpening softmax (``train.py -nosfmx``).
    """

    def __init__(self, width: int = 1, canvas: int = CANVAS, *, inputs: str = "pixels", init: str = "release",
                 sharpen: bool = True) -> None:
        super().__init__()
        if not isinstance(sharpen, bool):
            raise TypeError(f"CoordConvRenderer expected sharpen a bool, got {sharpen!r}")
        self.sharpen = sharpen
        self.locate = CoordConvClassifier(width, canvas, inputs=inputs, init=init)
        c = [8 * width, 8 * width, 16 * width, 16 * width]
        self.paint = nn.Sequential(
            nn.Conv2d(1, c[0], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], 1, 3, padding=1),
        )
        apply_init(self.paint, init)
        # channels_last: the same arithmetic, about 1.3x faster on a CPU (oneDNN)
        self.to(memory_format=torch.channels_last)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        logits = self.locate(coords)
        n, h, w = logits.shape
        if not self.sharpen:
            return self.paint(logits[:, None].contiguous(memory_format=torch.channels_last)).squeeze(1)
        sharp = torch.softmax(logits.reshape(n, h * w), dim=1).reshape(n, 1, h, w)
        return self.paint(sharp).squeeze(1)


class CoordConvRegressor(nn.Module):
    """CoordConv coordinate regressor: ``(N, 1, 64, 64)`` one-hot -> ``(N, 2)`` coordinates / 64.

    AddCoords, 1x1 convolutions ``8, 8, 8``, 3x3 convolutions ``8, 2`` (all times
    ``width`` but the last), then global **max** pooling, with no ReLU anywhere,
    as released (the authors confirmed the missing ReLUs later; average pooling
    collapses to the mean coordinate). With ``width=1`` it has 906 parameters.

    ``onehot_gain`` multiplies the input image (default 1, as released). The
    network is linear before the max, so the gradient reaches only the argmax
    pixel; at PyTorch's default initialisation the argmax lies where the
    coordinate term is largest, almost never near the hot pixel, and training
    stalls at a fixed prediction. A gain such as 64 moves the argmax next to
    the hot pixel from the first step (chapter 4 measures both). It adds no
    parameters.
    """

    def __init__(self, width: int = 1, onehot_gain: float = 1.0, *, init: str = "release") -> None:
        super().__init__()
        _checks.integer("CoordConvRegressor", "width multiplier", width)
        self.onehot_gain = float(onehot_gain)
        c = 8 * width
        self.net = nn.Sequential(
            CoordConv2d(1, c, 1),
            nn.Conv2d(c, c, 1),
            nn.Conv2d(c, c, 1),
            nn.Conv2d(c, c, 3, padding=1),
            nn.Conv2d(c, 2, 3, padding=1),
        )
        apply_init(self, init)
        self.to(memory_format=torch.channels_last)  # same arithmetic, faster on a CPU

    def forward(self, onehots: torch.Tensor) -> torch.Tensor:
        return self.net(onehots * self.onehot_gain if self.onehot_gain != 1.0 else onehots).amax(dim=(2, 3))


class ConvRegressor(nn.Module):
    """The conventional regressor of the uniform split: ``(N, 1, 64, 64)`` -> ``(N, 2)`` coordinates / 64.

    Four 3x3 convolutions of ``16 * width`` channels with ReLUs, a 2x2 max-pool
    after each of the first three (64 -> 8 pixels), then dense 64 and dense 2.
    With ``width=1`` it has the release's 72,850 parameters (``big_conv``).
    """

    def __init__(self, width: int = 1, *, init: str = "release") -> None:
        super().__init__()
        _checks.integer("ConvRegressor", "width multiplier", width)
        c = 16 * width
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 8 * 8, 64), nn.ReLU(inplace=True), nn.Linear(64, 2))
        apply_init(self, init)
        self.to(memory_format=torch.channels_last)  # same arithmetic, ~1.4x faster on a CPU

    def forward(self, onehots: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(onehots.contiguous(memory_format=torch.channels_last)))


class ConvRegressorGAP(nn.Module):
    """The all-convolutional regressor of the quadrant split: ``(N, 1, 64, 64)`` -> ``(N, 2)`` / 64.

    The book's own all-conv net (an earlier variant, kept for comparison); the
    release's network for this split is :class:`ConvRegressorQuadrant`. Four
    stride-2 3x3 convolutions (``16, 32, 64, 64`` times
    ``width``) with BatchNorm + ReLU, a 1x1 convolution to 2 channels, and
    global average pooling.
    """

    def __init__(self, width: int = 1, *, init: str = "release") -> None:
        super().__init__()
        _checks.integer("ConvRegressorGAP", "width multiplier", width)
        chans = [1, 16 * width, 32 * width, 64 * width, 64 * width]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(chans[-1], 2, 1))
        self.net = nn.Sequential(*layers)
        apply_init(self, init)

    def forward(self, onehots: torch.Tensor) -> torch.Tensor:
        return self.net(onehots).mean(dim=(2, 3))


def _same_conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Module:
    """A convolution with TensorFlow's ``padding="same"``: total padding ``max(k - s, 0)`` (64-pixel
    inputs), the odd pixel at the bottom/right as TF places it."""
    total = max(k - stride, 0)
    before, after = total // 2, total - total // 2
    conv = nn.Conv2d(c_in, c_out, k, stride)
    return conv if total == 0 else nn.Sequential(nn.ZeroPad2d((before, after, before, after)), conv)


class ConvRegressorQuadrant(nn.Module):
    """The release's conventional regressor of the quadrant split (``big_conv2``): ``(N, 1, 64, 64)`` -> ``(N, 2)``.

    As in ``ConvRegressor.big_conv2`` of the release's model_builders.py, with
    ``16 * width`` channels and TF's "same" padding: 5x5/2 conv, 1x1 conv,
    BatchNorm, 3x3 conv, 3x3/2 conv, 3x3/2 conv + BatchNorm, ``k``x``k``/2 conv,
    1x1 conv, ``k``x``k``/2 conv, ``k``x``k`` conv to 2 channels (``k`` the
    release's ``-fs``, default 3), a ReLU after every convolution (the last
    too), then global average pooling (64 -> 2 pixels before the pool).
    BatchNorm as released: momentum 0.9 in TF's convention (0.1 in PyTorch's),
    eps 1e-5. With ``width=1`` it has 12,914 parameters.
    """

    def __init__(self, width: int = 1, kernel_size: int = 3, *, init: str = "release") -> None:
        super().__init__()
        _checks.integer("ConvRegressorQuadrant", "width multiplier", width)
        c, k = 16 * width, kernel_size
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        bn = lambda: nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)  # noqa: E731
        self.net = nn.Sequential(
            _same_conv(1, c, 5, 2), relu(),
            _same_conv(c, c, 1), relu(),
            bn(),
            _same_conv(c, c, 3), relu(),
            _same_conv(c, c, 3, 2), relu(),
            _same_conv(c, c, 3, 2), bn(), relu(),
            _same_conv(c, c, k, 2), relu(),
            _same_conv(c, c, 1), relu(),
            _same_conv(c, c, k, 2), relu(),
            _same_conv(c, 2, k), relu(),
        )
        apply_init(self, init)
        self.to(memory_format=torch.channels_last)  # same arithmetic, ~1.6x faster on a CPU

    def forward(self, onehots: torch.Tensor) -> torch.Tensor:
        return self.net(onehots.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
