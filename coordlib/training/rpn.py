"""Training and running the release's region proposal network (:mod:`coordlib.models.rpn`):
anchor sampling, losses, SGD with momentum, proposals after NMS, and the evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Callable

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, nms

from coordlib import _checks
from coordlib.datasets.mnist import FieldOfMnist
from coordlib.metrics.boxes import mean_argmax_nms_iou
from coordlib.models.rpn import (
    NEGATIVE_IOU,
    NMS_IOU,
    POSITIVE_IOU,
    PROPOSALS,
    RPN,
    SAMPLE_SIZE,
    apply_deltas,
    from_xyxy,
    target_deltas,
    to_xyxy,
)

__all__ = ["LR", "MOMENTUM", "sample", "losses", "propose", "predict", "evaluate", "train_rpn"]


LR = 1e-3  # util.py: --lr default
MOMENTUM = 0.9  # util.py: --opt sgd (default), --mom 0.9


# --------------------------------------------------------------------------- training


def sample(boxes: torch.Tensor, gt: torch.Tensor, image_size: int = 64,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's ``BoxSampler``: ``(positive pairs (P, 2) [box, gt], negative boxes (M,))``, ``P, M <= 6``.

    ``boxes`` ``(B, 4)`` are the *predicted* boxes, ``gt`` ``(G, 4)``, both ``(x0, y0, x1, y1)``.
    A box is inside when ``x0, y0 >= 0`` and ``x1, y1 <= image_size - 1`` (the release's bounds).
    """
    _checks.boxes(boxes, "sample boxes")
    _checks.boxes(gt, "sample gt")
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
    """:func:`~coordlib.metrics.boxes.mean_argmax_nms_iou` of ``model``'s proposals on ``data``."""
    return mean_argmax_nms_iou([b for b, _ in predict(model, data.images)], data.boxes)
