"""The released detection experiment: a region proposal network (RPN) on Field-of-MNIST.

What the release trained for the paper's detection result (uber-research/CoordConv
@ 27fab8b: ``model_builder_faster_rcnn.py`` ``RegionProposalSampler``,
``train_faster_rcnn.py``, ``utils_faster_rcnn.py``) is an RPN alone, with no
second stage. It is rebuilt in PyTorch here (the network and its anchors) and in
:mod:`coordlib.training.rpn` (sampling, losses, training, proposals):

* :class:`RPN`: the backbone (5x5 conv 32, ReLU, 2x2 max-pool, 5x5 conv 64,
  ReLU, 2x2 max-pool; ``"valid"`` padding as released, ``"same"`` as the
  release's ``--same`` option), the RPN's 3x3 conv 32 (+ ReLU), a box-regression
  branch (3x3 conv 32 + ReLU, then a 1x1 conv to ``4 K`` outputs, *zero*
  initialised) and an objectness branch (1x1 conv to ``2 K``). Kernels are
  ``he_normal`` (:func:`coordlib.layers.init.he_normal_`), biases zero. With
  ``coordconv=True`` coordinate channels are appended, as released, at the
  input, before the RPN's 3x3 conv and before the box-regression 1x1 conv. They
  are the release's own ``AddCoords`` channels (defined at the bottom of
  ``model_builder_faster_rcnn.py``, which shadows the imported one):
  ``x = column / (W - 1)`` and ``y = row / (H - 1)``, in [0, 1], no radius.
* :func:`anchors`: the 9 anchor shapes (height, width) of ``train_faster_rcnn.py``
  on the feature map's receptive-field centres (``utils_faster_rcnn.py``: valid
  padding 13x13 centres 8, 12, ..., 56; same padding 16x16 centres 2, 6, ..., 62).
  ``layout="release"`` reproduces what the release fed the network: its
  anchor array is laid out coordinate-major, ``(4, K, H, W)`` flattened to
  ``4 K`` channels, but read anchor-major, ``(K, 4)`` per location, so most
  anchors are not the intended shapes at the intended place (see
  :func:`anchors`). ``layout="intended"`` places each of the 9 shapes at each
  centre.
* :func:`coordlib.training.rpn.sample`: the release's ``BoxSampler``: the IOU of the *predicted* boxes
  with the ground truth; positives are (box, ground truth) pairs with IOU > 0.5
  and the box inside the image, plus each ground truth's best box; negatives
  are boxes inside the image with IOU < 0.1 with every ground truth and no
  ground truth's best; 12 samples, at most 6 positives drawn at random, and 6
  negatives drawn at random if more than 6 exist (else none: the release's
  fallback draws an empty sample).
* :func:`coordlib.training.rpn.losses`: mean over positives of the summed ``smooth_l1`` of the four
  box parameters (the release's version: ``|x|`` if ``|x| > 1`` else ``x^2``)
  plus the mean softmax cross-entropy of the sampled boxes' objectness.
* :func:`coordlib.training.rpn.propose`: softmax objectness, NMS at IOU 0.8 (``torchvision.ops.nms``),
  the 10 best proposals.
* :func:`coordlib.metrics.boxes.mean_argmax_nms_iou`: the release's metric: per image, the mean over
  its NMS proposals of each proposal's best IOU with any ground-truth box;
  averaged over images.
* :func:`coordlib.training.rpn.train_rpn`: one image per step (the release's ``minibatch_size = 1``),
  SGD with momentum 0.9 and learning rate 0.001 (the release's parser
  defaults: no detection command line was published), a fresh shuffle each
  epoch.

Boxes are ``(x0, y0, x1, y1)`` in pixel-edge coordinates (torchvision's and
:mod:`coordlib.datasets.mnist`'s), internally ``(cy, cx, h, w)`` as in the release.
"""


from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from coordlib import _checks
from coordlib.layers.init import he_normal_

__all__ = [
    "ANCHOR_SHAPES", "HIDDEN", "SAMPLE_SIZE", "POSITIVE_IOU", "NEGATIVE_IOU", "NMS_IOU", "PROPOSALS",
    "PADDINGS", "LAYOUTS", "RPN", "ReleaseAddCoords", "release_coordinates", "feature_size", "anchors",
    "to_xyxy", "from_xyxy", "apply_deltas", "target_deltas",
]

# train_faster_rcnn.py: RPNParams(anchors=...), (height, width) each.
ANCHOR_SHAPES = ((15, 15), (20, 20), (25, 25), (15, 20), (20, 25), (20, 15), (25, 20), (15, 25), (25, 15))
HIDDEN = 32  # rpn_hidden_dim
SAMPLE_SIZE = 12  # BoxSamplerParams(sample_size=12): 6 positives, 6 negatives
POSITIVE_IOU = 0.5  # hi_thresh
NEGATIVE_IOU = 0.1  # lo_thresh
NMS_IOU = 0.8  # NMSParams(nms_thresh=0.8)
PROPOSALS = 10  # NMSParams(max_proposals=10)
PADDINGS = ("valid", "same")
LAYOUTS = ("release", "intended")


def release_coordinates(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The release's AddCoords channels: ``(1, 2, height, width)``, ``x = col / (W - 1)``, ``y = row / (H - 1)``."""
    if height < 2 or width < 2:
        raise ValueError(f"release_coordinates needs a grid of at least 2x2, got {height}x{width}")
    x = torch.arange(width, dtype=dtype, device=device) / (width - 1)
    y = torch.arange(height, dtype=dtype, device=device) / (height - 1)
    return torch.stack([x.expand(height, width), y[:, None].expand(height, width)]).unsqueeze(0)


class ReleaseAddCoords(nn.Module):
    """Append :func:`release_coordinates` to ``(N, C, H, W)`` -> ``(N, C + 2, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        grid = release_coordinates(h, w, x.device, x.dtype).expand(n, -1, -1, -1)
        return torch.cat([x, grid], dim=1)


def feature_size(padding: str = "valid", image_size: int = 64) -> int:
    """Side of the backbone's feature map: valid ``((S - 4) // 2 - 4) // 2`` (13 for 64), same ``S // 4`` (16)."""
    _checks.choice("rpn", "padding", padding, PADDINGS)
    if padding == "same":
        return image_size // 4
    return ((image_size - 4) // 2 - 4) // 2


def _centres(padding: str, image_size: int) -> torch.Tensor:
    # utils_faster_rcnn.py: receptive field 16, stride 4; offset 0 (valid) or -6 (same: 2 + 2 * 2).
    first = 8.0 if padding == "valid" else 2.0
    return first + 4.0 * torch.arange(feature_size(padding, image_size), dtype=torch.float32)


def anchors(padding: str = "valid", layout: str = "release", image_size: int = 64,
            shapes: Sequence[tuple[int, int]] = ANCHOR_SHAPES) -> torch.Tensor:
    """Anchors ``(H * W * K, 4)`` as ``(cy, cx, h, w)``, in the order of the network's outputs.

    Output ``a = (i * W + j) * K + k`` is anchor ``k`` of feature location
    ``(i, j)``. ``layout="intended"``: ``(cy_i, cx_j, h_k, w_k)``.
    ``layout="release"``: the release builds a ``(4, K, H, W)`` array
    (``cy``, ``cx``, ``h``, ``w`` planes), flattens it to ``4 K`` channels
    coordinate-major and hands it to a reshape that reads ``(K, 4)``
    anchor-major; this returns what that reshape yields. At location ``(i, j)``
    anchors 0 and 1 are ``(cy_i, cy_i, cy_i, cy_i)``, anchor 2
    ``(cy_i, cx_j, cx_j, cx_j)``, anchor 3 ``(cx_j,) * 4``, anchor 4
    ``(cx_j, cx_j, 15, 20)``, and anchors 5 to 8 are the same four boxes at every
    location.
    """
    _checks.choice("rpn", "layout", layout, LAYOUTS)
    cy = _centres(padding, image_size)
    side, k = len(cy), len(shapes)
    hw = torch.tensor(shapes, dtype=torch.float32)  # (K, 2)
    planes = torch.stack([
        cy.view(1, side, 1).expand(k, side, side),
        cy.view(1, 1, side).expand(k, side, side),  # square map: column centres equal row centres
        hw[:, 0].view(k, 1, 1).expand(k, side, side),
        hw[:, 1].view(k, 1, 1).expand(k, side, side),
    ])  # (4, K, H, W)
    if layout == "intended":
        return planes.permute(2, 3, 1, 0).reshape(-1, 4).contiguous()
    return planes.reshape(4 * k, side, side).permute(1, 2, 0).reshape(-1, 4).contiguous()


def to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``(cy, cx, h, w)`` -> ``(x0, y0, x1, y1)``."""
    cy, cx, h, w = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def from_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` ``(x0, y0, x1, y1)`` -> ``(cy, cx, h, w)``."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack([(y0 + y1) / 2, (x0 + x1) / 2, y1 - y0, x1 - x0], dim=-1)


def apply_deltas(anchor: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """The release's ``box_transform``: ``cy + dy h``, ``cx + dx w``, ``h exp(dh)``, ``w exp(dw)``; ``(..., 4)``."""
    cy, cx, h, w = anchor.unbind(-1)
    dy, dx, dh, dw = deltas.unbind(-1)
    return torch.stack([cy + dy * h, cx + dx * w, h * torch.exp(dh), w * torch.exp(dw)], dim=-1)


def target_deltas(anchor: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The inverse, ``invert_box_transform``: the deltas that move ``anchor`` onto ``target`` (``(cy, cx, h, w)``)."""
    return torch.stack([
        (target[..., 0] - anchor[..., 0]) / anchor[..., 2],
        (target[..., 1] - anchor[..., 1]) / anchor[..., 3],
        torch.log(target[..., 2] / anchor[..., 2]),
        torch.log(target[..., 3] / anchor[..., 3]),
    ], dim=-1)


class RPN(nn.Module):
    """The release's ``RegionProposalSampler`` network: ``(N, 1, S, S)`` -> deltas and objectness logits.

    ``forward`` returns ``(deltas, logits)``: ``(N, H * W * K, 4)`` as
    ``(dy, dx, dh, dw)`` and ``(N, H * W * K, 2)`` (column 0: object, 1:
    background), ``H = W =`` :func:`feature_size`, in :func:`anchors`' order.
    Weights come from ``seed`` without touching the global RNG.
    """

    def __init__(self, coordconv: bool = False, padding: str = "valid", layout: str = "release",
                 image_size: int = 64, in_channels: int = 1, seed: int = 0) -> None:
        super().__init__()
        _checks.choice("rpn", "padding", padding, PADDINGS)
        _checks.choice("rpn", "layout", layout, LAYOUTS)
        if isinstance(image_size, bool) or not isinstance(image_size, int) or feature_size(padding, image_size) < 2:
            raise ValueError(f"RPN expected an int image_size giving a feature map of at least 2x2, got {image_size!r}")
        self.coordconv, self.padding, self.layout, self.image_size = bool(coordconv), padding, layout, image_size
        k, extra, pad = len(ANCHOR_SHAPES), 2 if coordconv else 0, 0 if padding == "valid" else 2
        with torch.random.fork_rng(devices=[]):  # nn.Conv2d draws its default init from the global RNG
            coords = [ReleaseAddCoords()] if coordconv else []
            self.backbone = nn.Sequential(
                *coords, nn.Conv2d(in_channels + extra, 32, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
            )
            self.rpn_conv = nn.Sequential(*coords, nn.Conv2d(64 + extra, HIDDEN, 3, padding=1), nn.ReLU())
            self.box_regression = nn.Sequential(
                nn.Conv2d(HIDDEN, HIDDEN, 3, padding=1), nn.ReLU(), *coords, nn.Conv2d(HIDDEN + extra, 4 * k, 1),
            )
            self.objectness = nn.Conv2d(HIDDEN, 2 * k, 1)
            gen = torch.Generator().manual_seed(int(seed))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    he_normal_(m.weight, generator=gen)
                    nn.init.zeros_(m.bias)
            nn.init.zeros_(self.box_regression[-1].weight)  # the release: kernel and bias zero
        self.register_buffer("anchors", anchors(padding, layout, image_size), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"RPN expected images of shape (N, C, H, W), got {shape}")
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"RPN built for {self.image_size}x{self.image_size} images, got {tuple(images.shape)}")
        features = self.rpn_conv(self.backbone(images))
        n = images.shape[0]
        deltas = self.box_regression(features).permute(0, 2, 3, 1).reshape(n, -1, 4)
        logits = self.objectness(features).permute(0, 2, 3, 1).reshape(n, -1, 2)
        return deltas, logits
