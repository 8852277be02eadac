"""Box measures: the paper's mean argmax IOU after NMS, and the book's best IOU per ground
truth and average precision (class-agnostic, boxes ``(x0, y0, x1, y1)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from coordlib import _checks

__all__ = [
    "average_precision", "average_precision_range", "best_iou_per_gt", "mean_best_iou", "argmax_iou",
    "mean_argmax_nms_iou",
]


# --------------------------------------------------------------------------- measures


def best_iou_per_gt(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """``(G,)`` float: each ground-truth box's IOU with its best-overlapping prediction (0 if ``P == 0``).

    ``pred_boxes`` ``(P, 4)``, ``gt_boxes`` ``(G, 4)``, ``(x0, y0, x1, y1)``.
    """
    _checks.boxes(pred_boxes, "best_iou_per_gt pred_boxes")
    _checks.boxes(gt_boxes, "best_iou_per_gt gt_boxes")
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

    ``predictions``: per image ``{"boxes": (P, 4), "scores": (P,)}`` (as :func:`~coordlib.training.detection.predict`
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


def argmax_iou(proposals: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``(P,)``: each proposal's best IOU with any ground-truth box (0 when there is none)."""
    _checks.boxes(proposals, "argmax_iou proposals")
    _checks.boxes(gt, "argmax_iou gt")
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
