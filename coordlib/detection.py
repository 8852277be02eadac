"""The book variant of the detection experiment: a small Faster R-CNN, with and without CoordConv.

The paper's detection result (§5) comes from the release's region proposal
network alone (:mod:`coordlib.rpn`, the chapter's main comparison). This module
is the book's extension: a full two-stage detector on the same data.

Built from ``torchvision.models.detection`` parts; only the backbone is new:

* :class:`Backbone`: the release's small network (5x5 conv 32, 2x2 max-pool,
  5x5 conv 64, 2x2 max-pool, 3x3 conv 32, ReLU after each conv); stride 4, 32
  output channels. With ``coordconv=True`` its first conv is a
  :class:`~coordlib.CoordConv2d`.
* :func:`make_detector`: torchvision's ``FasterRCNN`` on that backbone. The
  CoordConv variant adds coordinates where the paper did: at the input (the
  backbone's first conv), before the RPN's 3x3 conv and before the RPN's final
  box-regression layer (both replaced by :class:`~coordlib.CoordConv2d` of the
  same shape). Everything else is identical between the two variants.

Measures (class-agnostic, boxes ``(x0, y0, x1, y1)`` as in torchvision):

* :func:`mean_best_iou`: the mean, over every ground-truth box, of its IOU with
  the best predicted box (0 if nothing was predicted); not the release's
  measure, which is :func:`coordlib.rpn.mean_argmax_nms_iou`;
* :func:`average_precision`: greedy matching by descending score (COCO's rule:
  a prediction takes the still-unmatched ground truth it overlaps most, if that
  IOU >= the threshold), and the area under the precision-recall curve with
  all-point interpolation (precision made monotone, summed over every recall
  step: PASCAL VOC 2010+) or, with ``recall_points=101``, COCO's 101-point
  interpolation (checked against ``pycocotools`` in the tests);
* :func:`average_precision_range`: the mean AP over IOU thresholds 0.50:0.05:0.95
  (COCO's AP@[.5:.95], with the interpolation above).

Training: :func:`train_detector` (Adam, seeded, resumable checkpoints written
with :mod:`coordlib.train`'s helpers) and :func:`predict`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign, box_iou
from tqdm.auto import tqdm

from .layers import CoordConv2d
from .mnist import FieldOfMnist
from .train import epoch_seed, save_checkpoint, end_epoch, pick_device, resume

__all__ = [
    "ANCHOR_SIZES",
    "ASPECT_RATIOS",
    "FIELD_MEAN",
    "FIELD_STD",
    "Backbone",
    "average_precision",
    "average_precision_range",
    "best_iou_per_gt",
    "make_detector",
    "mean_best_iou",
    "predict",
    "train_detector",
]

ANCHOR_SIZES = (15, 20, 25)  # the release's anchors, pixels
ASPECT_RATIOS = (0.5, 1.0, 2.0)  # height / width; ink boxes of thin digits ("1") are tall and narrow
# Pixel mean and std of Field-of-MNIST images at the paper's settings (measured on
# 9,000 training images, seed 0: 0.0257 and 0.1334); the images are mostly black.
FIELD_MEAN = 0.026
FIELD_STD = 0.133
_FASTER_RCNN_DEFAULTS = {
    # Far fewer proposals and sampled RoIs than torchvision's defaults for 800 px
    # photos: a 64x64 image has 16 * 16 * 9 = 2,304 anchors and at most 5 digits.
    # On a CPU, RoIAlign's backward and NMS dominate a step; these settings cut
    # the CPU time of a step about 5x (batch 16: 1.3 s -> 0.25 s on one thread).
    "rpn_pre_nms_top_n_train": 600,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_train": 300,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 64,
}


class Backbone(nn.Module):
    """The release's small detection backbone: ``(N, C, H, W)`` -> ``(N, 32, H // 4, W // 4)``.

    5x5 conv 32 -> ReLU -> max-pool 2 -> 5x5 conv 64 -> ReLU -> max-pool 2 -> 3x3
    conv 32 -> ReLU, convolutions padded to keep the size ("same"). With
    ``coordconv`` the first conv is a :class:`CoordConv2d` (coordinates at the input).
    """

    out_channels = 32  # read by torchvision's FasterRCNN
    stride = 4

    def __init__(self, coordconv: bool = False, in_channels: int = 1) -> None:
        super().__init__()
        conv = CoordConv2d if coordconv else nn.Conv2d
        self.coordconv = bool(coordconv)
        self.body = nn.Sequential(
            conv(in_channels, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, self.out_channels, 3, padding=1), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _coordconv_like(conv: nn.Conv2d) -> CoordConv2d:
    """A :class:`CoordConv2d` with ``conv``'s shape, initialised as torchvision's RPNHead initialises its convs."""
    layer = CoordConv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
        bias=conv.bias is not None,
    )
    nn.init.normal_(layer.weight, std=0.01)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _add_coords_to_rpn(head: RPNHead) -> None:
    """Replace the RPN head's 3x3 conv and its box-regression 1x1 conv by CoordConv2d, in place."""
    # torchvision >= 0.13 keeps the 3x3 conv inside head.conv (a Sequential of
    # Conv2dNormActivation blocks); find it by type rather than by a fixed path.
    names = [name for name, m in head.conv.named_modules() if type(m) is nn.Conv2d]
    if len(names) != 1:
        raise RuntimeError(f"expected one Conv2d in torchvision's RPNHead.conv, found {len(names)}: {names}")
    parent_name, _, attr = names[0].rpartition(".")
    parent = head.conv.get_submodule(parent_name) if parent_name else head.conv
    setattr(parent, attr, _coordconv_like(getattr(parent, attr)))
    head.bbox_pred = _coordconv_like(head.bbox_pred)


def make_detector(
    coordconv: bool,
    num_classes: int = 2,
    image_size: int = 64,
    anchor_sizes: Sequence[int] = ANCHOR_SIZES,
    aspect_ratios: Sequence[float] = ASPECT_RATIOS,
    representation_size: int = 128,
    seed: int = 0,
    **faster_rcnn_kwargs,
) -> FasterRCNN:
    """torchvision's Faster R-CNN on :class:`Backbone`, sized for ``image_size`` x ``image_size`` grayscale images.

    * anchors: one feature map (stride 4), sizes ``anchor_sizes`` x ratios ``aspect_ratios`` (9 per location);
    * RoI pooling: ``MultiScaleRoIAlign(["0"], 7, 2)``; box head: ``TwoMLPHead`` of ``representation_size``;
    * transform: ``min_size = max_size = image_size`` (torchvision would otherwise
      rescale a 64 px image to 800 px) and the grayscale :data:`FIELD_MEAN` / :data:`FIELD_STD`;
    * ``num_classes`` counts the background: 2 = class-agnostic ("digit"), 11 = digit classes.

    Weights are initialised from ``seed`` without touching the global RNG.
    ``faster_rcnn_kwargs`` override the other ``FasterRCNN`` arguments.
    Input: a list of ``(1, H, W)`` float tensors in [0, 1]; output as torchvision's.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"make_detector expected num_classes >= 2 (background + objects), got {num_classes!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"make_detector expected an int image_size >= 8, got {image_size!r}")
    options = {**_FASTER_RCNN_DEFAULTS, **faster_rcnn_kwargs}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = Backbone(coordconv)
        anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
        head = RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0])
        if coordconv:
            _add_coords_to_rpn(head)
        roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        box_head = TwoMLPHead(backbone.out_channels * 7 * 7, representation_size)
        predictor = FastRCNNPredictor(representation_size, num_classes)
        return FasterRCNN(
            backbone,
            num_classes=None,
            min_size=image_size,
            max_size=image_size,
            image_mean=[FIELD_MEAN],
            image_std=[FIELD_STD],
            rpn_anchor_generator=anchors,
            rpn_head=head,
            box_roi_pool=roi_pool,
            box_head=box_head,
            box_predictor=predictor,
            **options,
        )


# --------------------------------------------------------------------------- measures


def _check_boxes(boxes: torch.Tensor, name: str) -> None:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} expected a torch.Tensor of shape (K, 4), got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} expected boxes of shape (K, 4) as (x0, y0, x1, y1), got shape {tuple(boxes.shape)}")


def best_iou_per_gt(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """``(G,)`` float: each ground-truth box's IOU with its best-overlapping prediction (0 if ``P == 0``).

    ``pred_boxes`` ``(P, 4)``, ``gt_boxes`` ``(G, 4)``, ``(x0, y0, x1, y1)``.
    """
    _check_boxes(pred_boxes, "best_iou_per_gt pred_boxes")
    _check_boxes(gt_boxes, "best_iou_per_gt gt_boxes")
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return torch.zeros(len(gt_boxes), dtype=torch.float32)
    return box_iou(gt_boxes.float(), pred_boxes.float()).max(dim=1).values


def _check_pairs(predictions: Sequence[Mapping], targets: Sequence[Mapping], who: str) -> int:
    if len(predictions) != len(targets):
        raise ValueError(f"{who} expected one prediction per target, got {len(predictions)} and {len(targets)}")
    n_gt = sum(len(t["boxes"]) for t in targets)
    if n_gt == 0:
        raise ValueError(f"{who} needs at least one ground-truth box, got none in {len(targets)} images")
    return n_gt


def mean_best_iou(predictions: Sequence[Mapping], targets: Sequence[Mapping], score_threshold: float = 0.5) -> float:
    """Mean over all ground-truth boxes of the IOU of the best predicted box (the book variant's measure).

    ``predictions``: per image ``{"boxes": (P, 4), "scores": (P,)}`` (as :func:`predict`
    returns); only boxes with ``score >= score_threshold`` count. ``targets``: per
    image ``{"boxes": (G, 4)}``. A ground truth with no prediction contributes 0.
    """
    _check_pairs(predictions, targets, "mean_best_iou")
    best = []
    for pred, target in zip(predictions, targets):
        keep = pred["scores"] >= score_threshold
        best.append(best_iou_per_gt(pred["boxes"][keep].cpu(), target["boxes"].cpu()))
    return float(torch.cat(best).mean())


def _match(predictions: Sequence[Mapping], targets: Sequence[Mapping], iou_threshold: float):
    """Scores ``(P,)`` of all predictions and whether each is a true positive ``(P,)`` bool."""
    scores, hits = [], []
    for pred, target in zip(predictions, targets):
        boxes, score, gt = pred["boxes"].cpu(), pred["scores"].cpu(), target["boxes"].cpu()
        order = torch.argsort(score, descending=True, stable=True)
        hit = torch.zeros(len(order), dtype=torch.bool)
        if len(order) and len(gt):
            iou = box_iou(boxes[order].float(), gt.float())  # (P, G)
            taken = torch.zeros(len(gt), dtype=torch.bool)
            for p in range(len(order)):  # greedy: higher scores choose first
                candidates = iou[p].masked_fill(taken, -1.0)
                g = int(candidates.argmax())
                if candidates[g] >= iou_threshold:
                    taken[g] = True
                    hit[p] = True
        scores.append(score[order])
        hits.append(hit)
    return torch.cat(scores), torch.cat(hits)


def average_precision(
    predictions: Sequence[Mapping],
    targets: Sequence[Mapping],
    iou_threshold: float = 0.5,
    recall_points: int | None = None,
) -> float:
    """Class-agnostic average precision at one IOU threshold, over all images together.

    Predictions are matched greedily by descending score (each takes the unmatched
    ground truth it overlaps most, if IOU >= ``iou_threshold``; COCO's rule). The
    precision-recall curve is made monotone (the precision at recall ``r`` is the
    best precision at any recall >= ``r``) and then

    * ``recall_points=None``: integrated over every recall step (all-point
      interpolation, PASCAL VOC 2010+);
    * ``recall_points=101``: averaged over the recall levels 0, 0.01, ..., 1
      (COCO's 101-point interpolation, as ``pycocotools`` computes it; a level
      beyond the highest recall reached counts 0).

    The two differ by at most about 1/100: one true positive out of three ground
    truths, ranked first, gives 1/3 all-point but 34/101 (levels 0..0.33) at 101
    points. No predictions -> 0. Inputs as for :func:`mean_best_iou`.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"average_precision expected 0 < iou_threshold <= 1, got {iou_threshold}")
    if recall_points is not None and (isinstance(recall_points, bool) or not isinstance(recall_points, int)
                                      or recall_points < 2):
        raise ValueError(f"average_precision expected recall_points None or an int >= 2, got {recall_points!r}")
    n_gt = _check_pairs(predictions, targets, "average_precision")
    scores, hits = _match(predictions, targets, iou_threshold)
    if len(scores) == 0:
        return 0.0
    hits = hits[torch.argsort(scores, descending=True, stable=True)].double()
    tp = torch.cumsum(hits, 0)
    precision = tp / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = tp / n_gt
    # Interpolate: the precision at recall r is the best precision at any recall >= r.
    envelope = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    if recall_points is not None:
        levels = np.linspace(0.0, 1.0, recall_points)  # COCO: np.linspace(0, 1, 101)
        index = np.searchsorted(recall.numpy(), levels, side="left")
        sampled = [float(envelope[i]) if i < len(envelope) else 0.0 for i in index]
        return float(np.mean(sampled))
    steps = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((steps * envelope).sum())


def average_precision_range(
    predictions: Sequence[Mapping], targets: Sequence[Mapping], thresholds: Sequence[float] | None = None
) -> float:
    """Mean :func:`average_precision` over IOU thresholds 0.50, 0.55, ..., 0.95 (COCO's AP@[.5:.95])."""
    if thresholds is None:
        thresholds = [0.5 + 0.05 * i for i in range(10)]
    if len(thresholds) == 0:
        raise ValueError("average_precision_range expected at least one IOU threshold, got none")
    return sum(average_precision(predictions, targets, t) for t in thresholds) / len(thresholds)


# --------------------------------------------------------------------------- training


def _class_agnostic(model: FasterRCNN) -> bool:
    classes = model.roi_heads.box_predictor.cls_score.out_features
    if classes not in (2, 11):
        raise ValueError(f"Field-of-MNIST detectors have 2 (digit) or 11 (digit classes) outputs, got {classes}")
    return classes == 2


def train_detector(
    model: FasterRCNN,
    data: FieldOfMnist,
    epochs: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[int, nn.Module], Mapping | None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
) -> list[dict]:
    """Train a :func:`make_detector` model on ``data`` with Adam; returns one dict per epoch.

    Each record holds ``epoch``, the epoch means (over images) of torchvision's four
    losses (``loss_classifier``, ``loss_box_reg``, ``loss_objectness``,
    ``loss_rpn_box_reg``) and of their sum ``loss``, the cumulative training
    ``seconds``, and whatever ``callback(epoch, model)`` returns (called in eval
    mode under ``no_grad``; a true ``"stop"`` ends training).

    Seeded: the epoch's shuffle comes from a local generator, and torchvision's
    anchor/RoI samplers (which draw from the global RNG) run under a forked,
    seeded global RNG that is restored afterwards. ``checkpoint``: resume from and
    save to this file after every epoch ("load if it exists, else train").
    """
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"expected epochs >= 0 and batch_size > 0, got epochs={epochs}, batch_size={batch_size}")
    if not isinstance(data, FieldOfMnist):
        raise TypeError(f"train_detector expected a FieldOfMnist dataset, got {type(data).__name__}")
    device = pick_device(device)
    model.to(device)
    targets = data.targets(class_agnostic=_class_agnostic(model))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    path = Path(checkpoint) if checkpoint is not None else None
    history = resume(path, model, opt, seed)
    start = history.resumed_from
    n = len(data)
    elapsed = history.last.get("seconds", 0.0)
    bar = tqdm(range(start, epochs), desc="detector", disable=not progress, initial=start, total=epochs, leave=False)
    with torch.random.fork_rng(devices=[] if device.type != "cuda" else None):
        for epoch in bar:
            if history.stopped_early:
                break
            tic = time.perf_counter()
            torch.manual_seed(epoch_seed(seed, epoch))
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
            model.train()
            sums: dict[str, float] = {}
            for begin in range(0, n, batch_size):
                idx = order[begin : begin + batch_size].tolist()
                images = [data.images[i].to(device) for i in idx]
                batch = [{k: v.to(device) for k, v in targets[i].items()} for i in idx]
                losses = model(images, batch)
                loss = sum(losses.values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach()) * len(idx)
            elapsed += time.perf_counter() - tic
            record = {"epoch": epoch + 1, "loss": sum(sums.values()) / n, **{k: v / n for k, v in sums.items()},
                      "seconds": elapsed}
            end_epoch(history, record, model, callback)
            bar.set_postfix(loss=f"{record['loss']:.4g}")
            if path is not None:
                save_checkpoint(path, model, opt, epoch + 1, seed, history)
    bar.close()
    model.eval()
    return history.epochs


def predict(
    model: FasterRCNN, images: torch.Tensor, batch_size: int = 64, device: torch.device | str | None = None
) -> list[dict[str, torch.Tensor]]:
    """Detections for ``(N, 1, H, W)`` float images, in eval mode under ``no_grad``.

    Returns ``N`` dicts ``{"boxes": (P, 4) float32, "scores": (P,), "labels": (P,) int64}``
    on the CPU, as torchvision's Faster R-CNN returns them. Leaves the model in eval mode.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"predict expected images of shape (N, C, H, W), got {shape}")
    if batch_size <= 0:
        raise ValueError(f"predict expected batch_size > 0, got {batch_size}")
    device = pick_device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    out = []
    with torch.no_grad():
        for begin in range(0, len(images), batch_size):
            batch = [x.to(device) for x in images[begin : begin + batch_size]]
            out += [{k: v.cpu() for k, v in d.items()} for d in model(batch)]
    return out
