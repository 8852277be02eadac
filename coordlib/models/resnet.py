"""ResNets with the paper's ImageNet change: one extra 1x1 CoordConv layer at the bottom.

The paper's ImageNet experiment trains ResNet-50 with "one extra 1x1 CoordConv layer
with 8 output channels at the bottom" (with the radius channel) and reports
top-5 +0.04% over 5 runs per arm, not significant. It does not say how the
8 channels meet the stem. We read it in the simplest faithful way, the same in
every model of this module:

    image (N, C, H, W) -> CoordConv2d(C, 8, 1, with_r=True) -> (N, 8, H, W)
                       -> conv1, widened to take 8 input channels -> rest of the ResNet

The extra layer *replaces* the image as the stem's input (it is not
concatenated with it), and nothing (no BatchNorm, no ReLU) sits between it and
``conv1``. Why this loses nothing: the 1x1 layer is linear and sees
``C + 3 <= 8`` channels (image + x, y, r) for C <= 5, so it can pass the image
and the coordinates through unchanged; ``conv1`` applied to its output can
therefore express any stem convolution of the image concatenated with the
coordinates. A ReLU in between would discard half of the image's signal.

The paper states neither the extra layer's initialisation nor a normalisation after it.
The main design (``init="default"``, ``batchnorm=False``) is PyTorch's default
initialisation of a ``Conv2d`` and nothing in between. Two variants, one change each,
serve chapter 7's diagnosis:

* ``init="identity"``: the network starts as the plain one. The 1x1 layer passes the
  image channels through (``weight[i, i] = 1`` for ``i < C``, every other weight and
  the bias zero, so the coordinate weights start at zero), and the widened stem's
  weights on those channels are a copy of the plain stem's. With the same seed, a
  :class:`SmallResNet` or :func:`coord_resnet50` built this way computes exactly
  what the plain one computes until training moves the coordinate weights.
* ``batchnorm=True``: a ``BatchNorm2d(8)`` between the 1x1 layer and ``conv1``.

The ``weight`` of the extra layer is ``(8, C + 3, 1, 1)``; ``conv1`` becomes
``nn.Sequential(coordconv=CoordConv2d(C, 8, 1, with_r=True), conv=Conv2d(8, ...))``
so the two arms share every other parameter name (``bn1``, ``layer1`` ... ``fc``).

* :func:`resnet50_baseline` / :func:`coord_resnet50`: torchvision's ``resnet50``
  (``weights=None``: nothing is ever downloaded), input ``(N, 3, H, W)`` float32,
  output ``(N, num_classes)`` logits.
* :class:`SmallResNet`: a reduced ResNet of torchvision ``BasicBlock`` s for CPU
  experiments on ``(N, in_channels, 64, 64)`` images (chapter 7's what/where task).
"""


from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torchvision.models import ResNet, resnet50
from torchvision.models.resnet import BasicBlock

from coordlib import _checks
from coordlib.layers.coordconv import CoordConv2d

__all__ = ["COORD_CHANNELS", "COORD_INITS", "coord_stem", "resnet50_baseline", "coord_resnet50", "SmallResNet"]

#: Output channels of the paper's extra 1x1 CoordConv layer.
COORD_CHANNELS = 8
#: Initialisations of the extra layer, PyTorch's default or identity on the image channels.
COORD_INITS = ("default", "identity")


def _init_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """torchvision's ResNet initialisation of a convolution (He normal, fan-out)."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def coord_stem(conv: nn.Conv2d, in_channels: int, init: str = "default", batchnorm: bool = False) -> nn.Sequential:
    """The paper's extra layer followed by a copy of ``conv`` widened to 8 input channels.

    ``conv`` is the stem convolution of the plain network (its ``in_channels``
    must equal ``in_channels``, at most 5 for ``init="identity"``); the returned
    module maps ``(N, in_channels, H, W)`` to what ``conv`` would output,
    ``(N, conv.out_channels, H', W')``. Only the number of input channels of the
    copy changes (kernel, stride, padding and bias are kept), and it is
    initialised as torchvision initialises ``conv1``.

    ``init="default"`` leaves the 1x1 layer at PyTorch's default initialisation;
    ``init="identity"`` passes the image through (see the module docstring) and
    copies ``conv``'s weights (and bias) into the copy's image channels, so that
    the stem computes ``conv(x)`` at the start. ``batchnorm=True`` inserts
    ``bn = BatchNorm2d(8)`` between the two. Modules are named ``coordconv``,
    (``bn``), ``conv``.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"coord_stem expected the stem nn.Conv2d, got {type(conv).__name__}")
    if conv.in_channels != in_channels:
        raise ValueError(f"coord_stem expected a stem conv with {in_channels} input channels, got {conv.in_channels}")
    if init not in COORD_INITS:
        raise ValueError(f"coord_stem expected init in {COORD_INITS}, got {init!r}")
    if init == "identity" and in_channels > COORD_CHANNELS - 3:
        raise ValueError(f"coord_stem init='identity' needs in_channels <= {COORD_CHANNELS - 3}, got {in_channels}")
    widened = nn.Conv2d(
        COORD_CHANNELS,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        bias=conv.bias is not None,
    )
    extra = CoordConv2d(in_channels, COORD_CHANNELS, kernel_size=1, with_r=True)
    _init_conv(widened)
    if init == "identity":
        with torch.no_grad():
            extra.weight.zero_()
            extra.bias.zero_()
            extra.weight[torch.arange(in_channels), torch.arange(in_channels), 0, 0] = 1.0
            widened.weight[:, :in_channels] = conv.weight
            if conv.bias is not None:
                widened.bias.copy_(conv.bias)
    layers = OrderedDict(coordconv=extra)
    if batchnorm:
        layers["bn"] = nn.BatchNorm2d(COORD_CHANNELS)
    layers["conv"] = widened
    return nn.Sequential(layers)


def resnet50_baseline(num_classes: int = 1000, **kwargs) -> ResNet:
    """torchvision's ResNet-50, randomly initialised: ``(N, 3, H, W)`` -> ``(N, num_classes)``.

    ``kwargs`` go to :func:`torchvision.models.resnet50` (e.g. ``zero_init_residual``);
    ``weights`` is refused, both arms train from scratch as in the paper.
    """
    _checks.integer("resnet50_baseline", "num_classes", num_classes)
    if kwargs.get("weights") is not None:
        raise ValueError(f"resnet50_baseline trains from scratch: expected weights=None, got {kwargs['weights']!r}")
    kwargs.pop("weights", None)
    return resnet50(weights=None, num_classes=num_classes, **kwargs)


def coord_resnet50(num_classes: int = 1000, coord_init: str = "default", coord_batchnorm: bool = False,
                   **kwargs) -> ResNet:
    """The paper's CoordConv ResNet-50: ``(N, 3, H, W)`` -> ``(N, num_classes)``.

    torchvision's ResNet-50 whose ``conv1`` becomes
    ``Sequential(coordconv=CoordConv2d(3, 8, 1, with_r=True), conv=Conv2d(8, 64, 7, 2, 3))``
    (see the module docstring for why the extra layer feeds ``conv1`` instead of
    being concatenated with the image). Compared with :func:`resnet50_baseline`
    it has ``8 * (3 + 3) + 8 = 56`` parameters in the extra layer and
    ``64 * (8 - 3) * 7 * 7 = 15,680`` more in ``conv1``: 15,736 in all.
    The model is still a :class:`torchvision.models.ResNet` and uses its forward.
    ``coord_init`` and ``coord_batchnorm`` go to :func:`coord_stem` (``init``, ``batchnorm``).
    """
    _checks.integer("coord_resnet50", "num_classes", num_classes)
    model = resnet50_baseline(num_classes, **kwargs)
    model.conv1 = coord_stem(model.conv1, 3, coord_init, coord_batchnorm)
    return model


class SmallResNet(nn.Module):
    """A reduced ResNet of torchvision ``BasicBlock`` s for 64x64 images on a CPU.

    ``conv1`` (3x3, ``width`` channels, stride ``stem_stride``, no bias) -> BN ->
    ReLU -> four stages of ``blocks[i]`` BasicBlocks with ``width * (1, 2, 4, 8)``
    channels, strides ``(1, 2, 2, 2)`` -> global average pool -> linear. No
    max-pool after the stem (64x64 inputs are small already). With
    ``coordconv=True`` ``conv1`` is :func:`coord_stem` of the plain one, exactly
    as in :func:`coord_resnet50`; nothing else differs between the two arms.
    The plain network is built first and its ``conv1`` replaced afterwards, so
    that with the same seed both arms draw the same initial weights everywhere
    else; ``coord_init`` and ``coord_batchnorm`` go to :func:`coord_stem`.

    ``stem_stride=2`` (the default) halves 64x64 inputs to 32x32 before the
    stages: a quarter of the cost of ``stem_stride=1`` (6.1 vs 24.3 GFLOP per
    forward+backward of 64 images at ``width=16``), which is what a 2-core CPU
    can afford for several seeds per arm.

    Attribute names follow torchvision's ``ResNet`` (``conv1``, ``bn1``,
    ``layer1`` ... ``layer4``, ``fc``). Input ``(N, in_channels, H, W)`` floating,
    output ``(N, num_classes)`` logits.
    """

    def __init__(
        self,
        coordconv: bool,
        num_classes: int,
        in_channels: int = 1,
        width: int = 16,
        blocks: Sequence[int] = (1, 1, 1, 1),
        stem_stride: int = 2,
        coord_init: str = "default",
        coord_batchnorm: bool = False,
    ) -> None:
        super().__init__()
        _checks.integer("SmallResNet", "num_classes", num_classes)
        _checks.integer("SmallResNet", "in_channels", in_channels)
        _checks.integer("SmallResNet", "width", width)
        blocks = tuple(blocks)
        if len(blocks) != 4 or not all(isinstance(b, int) and b >= 1 for b in blocks):
            raise ValueError(f"SmallResNet expected blocks as 4 ints >= 1 (one per stage), got {blocks!r}")
        if stem_stride not in (1, 2):
            raise ValueError(f"SmallResNet expected stem_stride 1 or 2, got {stem_stride!r}")
        self.coordconv = bool(coordconv)
        stem = _init_conv(nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False))
        self.conv1 = stem
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        chans = [width * m for m in (1, 2, 4, 8)]
        c_in = width
        for i, (c_out, n, stride) in enumerate(zip(chans, blocks, (1, 2, 2, 2)), start=1):
            setattr(self, f"layer{i}", self._stage(c_in, c_out, n, stride))
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        if coordconv:  # last, so that every other initial weight matches the plain arm's
            self.conv1 = coord_stem(stem, in_channels, coord_init, coord_batchnorm)

    @staticmethod
    def _stage(c_in: int, c_out: int, n: int, stride: int) -> nn.Sequential:
        # Projection shortcut (1x1 conv + BN) where the shape changes, as torchvision does.
        down = None
        if stride != 1 or c_in != c_out:
            down = nn.Sequential(_init_conv(nn.Conv2d(c_in, c_out, 1, stride, bias=False)), nn.BatchNorm2d(c_out))
        layers = [BasicBlock(c_in, c_out, stride, down)]
        layers += [BasicBlock(c_out, c_out) for _ in range(n - 1)]
        for m in layers:  # BasicBlock's own convs: the same initialisation as torchvision's ResNet
            for conv in (m.conv1, m.conv2):
                _init_conv(conv)
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


