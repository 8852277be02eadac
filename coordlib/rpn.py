"""The released detection experiment: a region proposal network (RPN) on Field-of-MNIST.

What the release trained for the paper's detection result (uber-research/CoordConv
@ 27fab8b: ``model_builder_faster_rcnn.py`` ``RegionProposalSampler``,
``train_faster_rcnn.py``, ``utils_faster_rcnn.py``) is an RPN alone, with no
second stage. This module rebuilds it in PyTorch:

* :class:`RPN`: the backbone (5x5 conv 32, ReLU, 2x2 max-pool, 5x5 conv 64,
  ReLU, 2x2 max-pool; ``"valid"`` padding as released, ``"same"`` as the
  release's ``--same`` option), the RPN's 3x3 conv 32 (+ ReLU), a box-regression
  branch (3x3 conv 32 + ReLU, then a 1x1 conv to ``4 K`` outputs, *zero*
  initialised) and an objectness branch (1x1 conv to ``2 K``). Kernels are
  ``he_normal`` (:func:`coordlib.init.he_normal_`), biases zero. With
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
* :func:`sample`: the release's ``BoxSampler``: the IOU of the *predicted* boxes
  with the ground truth; positives are (box, ground truth) pairs with IOU > 0.5
  and the box inside the image, plus each ground truth's best box; negatives
  are boxes inside the image with IOU < 0.1 with every ground truth and no
  ground truth's best; 12 samples, at most 6 positives drawn at random, and 6
  negatives drawn at random if more than 6 exist (else none: the release's
  fallback draws an empty sample).
* :func:`losses`: mean over positives of the summed ``smooth_l1`` of the four
  box parameters (the release's version: ``|x|`` if ``|x| > 1`` else ``x^2``)
  plus the mean softmax cross-entropy of the sampled boxes' objectness.
* :func:`propose`: softmax objectness, NMS at IOU 0.8 (``torchvision.ops.nms``),
  the 10 best proposals.
* :func:`mean_argmax_nms_iou`: the release's metric: per image, the mean over
  its NMS proposals of each proposal's best IOU with any ground-truth box;
  averaged over images.
* :func:`train_rpn`: one image per step (the release's ``minibatch_size = 1``),
  SGD with momentum 0.9 and learning rate 0.001 (the release's parser
  defaults: no detection command line was published), a fresh shuffle each
  epoch.

Boxes are ``(x0, y0, x1, y1)`` in pixel-edge coordinates (torchvision's and
:mod:`coordlib.mnist`'s), internally ``(cy, cx, h, w)`` as in the release.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, nms

from .init import he_normal_
from .mnist import FieldOfMnist

__all__ = [
    "ANCHOR_SHAPES", "HIDDEN", "SAMPLE_SIZE", "POSITIVE_IOU", "NEGATIVE_IOU", "NMS_IOU", "PROPOSALS",
    "PADDINGS", "LAYOUTS", "LR", "MOMENTUM",
    "RPN", "ReleaseAddCoords", "release_coordinates", "feature_size", "anchors", "to_xyxy", "from_xyxy",
    "apply_deltas", "target_deltas", "sample", "losses", "propose", "argmax_iou", "mean_argmax_nms_iou", "predict",
    "evaluate", "train_rpn",
]

# train_faster_rcnn.py: RPNParams(anchors=...), (height, width) each.
ANCHOR_SHAPES = ((15, 15), (20, 20), (25, 25), (15, 20), (20, 25), (20, 15), (25, 20), (15, 25), (25, 15))
HIDDEN = 32  # rpn_hidden_dim
SAMPLE_SIZE = 12  # BoxSamplerParams(sample_size=12): 6 positives, 6 negatives
POSITIVE_IOU = 0.5  # hi_thresh
NEGATIVE_IOU = 0.1  # lo_thresh
NMS_IOU = 0.8  # NMSParams(nms_thresh=0.8)
PROPOSALS = 10  # NMSParams(max_proposals=10)
LR = 1e-3  # util.py: --lr default
MOMENTUM = 0.9  # util.py: --opt sgd (default), --mom 0.9
PADDINGS = ("valid", "same")
LAYOUTS = ("release", "intended")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"expected {name} in {tuple(choices)}, got {value!r}")
    return value


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
    _check_choice("padding", padding, PADDINGS)
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
    _check_choice("layout", layout, LAYOUTS)
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
        _check_choice("padding", padding, PADDINGS)
        _check_choice("layout", layout, LAYOUTS)
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


# --------------------------------------------------------------------------- training


def _check_boxes(boxes: torch.Tensor, name: str) -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{name} expected boxes of shape (K, 4) as (x0, y0, x1, y1), got {shape}")


def sample(boxes: torch.Tensor, gt: torch.Tensor, image_size: int = 64,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's ``BoxSampler``: ``(positive pairs (P, 2) [box, gt], negative boxes (M,))``, ``P, M <= 6``.

    ``boxes`` ``(B, 4)`` are the *predicted* boxes, ``gt`` ``(G, 4)``, both ``(x0, y0, x1, y1)``.
    A box is inside when ``x0, y0 >= 0`` and ``x1, y1 <= image_size - 1`` (the release's bounds).
    """
    _check_boxes(boxes, "sample boxes")
    _check_boxes(gt, "sample gt")
    p_size = SAMPLE_SIZE // 2
    n_size = SAMPLE_SIZE - p_size
    edge = image_size - 1.0
    inside = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= edge) & (boxes[:, 3] <= edge)
    if len(gt) == 0:
        pairs = torch.zeros(0, 2, dtype=torch.long)
        negative = inside
        positive_any = torch.zeros_like(inside)
    else:
        iou = box_iou(boxes, gt)  # (B, G)
        closest = torch.zeros_like(iou, dtype=torch.bool)
        closest[iou.argmax(dim=0), torch.arange(len(gt))] = True  # each ground truth's best box
        positive = closest | ((iou > POSITIVE_IOU) & inside[:, None])
        pairs = positive.nonzero()  # row-major, as tf.where
        positive_any = positive.any(dim=1)
        negative = ((iou < NEGATIVE_IOU) & inside[:, None] & ~closest).all(dim=1)
        if not negative.any():
            negative = ~positive_any
    pairs = pairs[torch.randperm(len(pairs), generator=generator)[:p_size]]
    neg = negative.nonzero().squeeze(1)
    if len(neg) > n_size:
        neg = neg[torch.randperm(len(neg), generator=generator)[:n_size]]
    else:
        neg = neg[:0]  # the release's fallback samples an empty set
    return pairs, neg


def _smooth_l1(x: torch.Tensor) -> torch.Tensor:
    """The release's ``smooth_l1``: ``|x|`` where ``|x| > 1``, else ``x^2``, summed over the last dim."""
    a = x.abs()
    return torch.where(a > 1, a, x * x).sum(-1)


def losses(deltas: torch.Tensor, logits: torch.Tensor, anchor: torch.Tensor, gt: torch.Tensor,
           image_size: int = 64, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One image's losses: ``{"box_loss", "score_loss", "loss"}`` (scalars).

    ``deltas`` ``(A, 4)``, ``logits`` ``(A, 2)``, ``anchor`` ``(A, 4)`` ``(cy, cx, h, w)``,
    ``gt`` ``(G, 4)`` ``(x0, y0, x1, y1)``. An empty sample contributes 0.
    """
    with torch.no_grad():
        pairs, neg = sample(to_xyxy(apply_deltas(anchor, deltas)), gt, image_size, generator)
    zero = deltas.sum() * 0.0
    if len(pairs):
        box, g = pairs[:, 0], pairs[:, 1]
        target = target_deltas(anchor[box], from_xyxy(gt[g].to(deltas.dtype)))
        box_loss = _smooth_l1(deltas[box] - target).mean()
    else:
        box_loss = zero
    chosen = torch.cat([pairs[:, 0], neg])
    if len(chosen):
        labels = torch.cat([torch.zeros(len(pairs), dtype=torch.long), torch.ones(len(neg), dtype=torch.long)])
        score_loss = F.cross_entropy(logits[chosen], labels.to(logits.device))
    else:
        score_loss = zero
    return {"box_loss": box_loss, "score_loss": score_loss, "loss": box_loss + score_loss}


def train_rpn(model: RPN, data: FieldOfMnist, steps: int, lr: float = LR, momentum: float = MOMENTUM,
              seed: int = 0, log_every: int | None = None,
              callback: Callable[[int, RPN], Mapping | None] | None = None) -> list[dict]:
    """Train ``model`` for ``steps`` steps of one image each, SGD with momentum; returns the log.

    Images are visited epoch by epoch, each epoch in a fresh order drawn from
    ``seed`` (the release shuffles every epoch); sampling draws from the same
    generator, so a run is deterministic per seed. Every ``log_every`` steps
    (default: once, at the end) a record is appended: ``step``, ``epochs``
    (steps / images), the means since the last record of ``box_loss``,
    ``score_loss`` and ``loss``, cumulative training ``seconds``, and what
    ``callback(step, model)`` returns (called in eval mode under ``no_grad``).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"train_rpn expected an int steps >= 0, got {steps!r}")
    if not isinstance(data, FieldOfMnist):
        raise TypeError(f"train_rpn expected a FieldOfMnist dataset, got {type(data).__name__}")
    if not (lr > 0 and 0 <= momentum < 1):
        raise ValueError(f"train_rpn expected lr > 0 and 0 <= momentum < 1, got lr={lr!r}, momentum={momentum!r}")
    log_every = steps if log_every is None else log_every
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1 and steps > 0:
        raise ValueError(f"train_rpn expected an int log_every >= 1, got {log_every!r}")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(int(seed))
    anchor = model.anchors
    history, elapsed, order = [], 0.0, []
    sums, count = dict.fromkeys(("box_loss", "score_loss", "loss"), 0.0), 0
    model.train()
    tic = time.perf_counter()
    for step in range(1, steps + 1):
        if not order:
            order = torch.randperm(len(data), generator=gen).tolist()[::-1]
        i = order.pop()
        deltas, logits = model(data.images[i : i + 1])
        out = losses(deltas[0], logits[0], anchor, data.boxes[i], model.image_size, gen)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        for k in sums:
            sums[k] += float(out[k].detach())
        count += 1
        if step % log_every == 0 or step == steps:
            elapsed += time.perf_counter() - tic
            record = {"step": step, "epochs": step / len(data), **{k: v / count for k, v in sums.items()},
                      "seconds": elapsed}
            if callback is not None:
                model.eval()
                with torch.no_grad():
                    record.update(callback(step, model) or {})
                model.train()
            history.append(record)
            sums, count = dict.fromkeys(sums, 0.0), 0
            tic = time.perf_counter()
    model.eval()
    return history


# --------------------------------------------------------------------------- proposals and the metric


def propose(deltas: torch.Tensor, logits: torch.Tensor, anchor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's ``BoxNMS`` for one image: ``(boxes (P, 4) x0y0x1y1, scores (P,))``, ``P <= 10``.

    Softmax objectness (column 0), ``torchvision.ops.nms`` at IOU 0.8, the
    :data:`PROPOSALS` best survivors.
    """
    boxes = to_xyxy(apply_deltas(anchor, deltas))
    scores = torch.softmax(logits, dim=-1)[:, 0]
    keep = nms(boxes, scores, NMS_IOU)[:PROPOSALS]
    return boxes[keep], scores[keep]


def argmax_iou(proposals: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``(P,)``: each proposal's best IOU with any ground-truth box (0 when there is none)."""
    _check_boxes(proposals, "argmax_iou proposals")
    _check_boxes(gt, "argmax_iou gt")
    if len(gt) == 0 or len(proposals) == 0:
        return torch.zeros(len(proposals))
    return box_iou(proposals.float(), gt.float()).max(dim=1).values


def mean_argmax_nms_iou(proposals: Sequence[torch.Tensor], gts: Sequence[torch.Tensor]) -> float:
    """The release's metric over a set of images: the mean over images of the mean of :func:`argmax_iou`.

    An image with no ground-truth box scores 0 (the release always had 5 boxes,
    of which the ones outside the crop overlap nothing).
    """
    if len(proposals) != len(gts) or len(gts) == 0:
        raise ValueError(f"mean_argmax_nms_iou expected one proposal set per image, got {len(proposals)} "
                         f"and {len(gts)} images")
    per_image = [float(argmax_iou(p, g).mean()) if len(p) else 0.0 for p, g in zip(proposals, gts)]
    return sum(per_image) / len(per_image)


@torch.no_grad()
def predict(model: RPN, images: torch.Tensor, batch_size: int = 256) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """NMS proposals ``(boxes, scores)`` for each of ``(N, 1, S, S)`` images, in eval mode.

    Batching changes nothing here: the network has no batch statistics.
    """
    model.eval()
    out = []
    for begin in range(0, len(images), batch_size):
        deltas, logits = model(images[begin : begin + batch_size])
        out += [propose(d, s, model.anchors) for d, s in zip(deltas, logits)]
    return out


def evaluate(model: RPN, data: FieldOfMnist) -> float:
    """:func:`mean_argmax_nms_iou` of ``model``'s proposals on ``data``."""
    return mean_argmax_nms_iou([b for b, _ in predict(model, data.images)], data.boxes)
