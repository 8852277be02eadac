"""Intersection over union of rendered masks.
"""

from __future__ import annotations

import torch

__all__ = ["iou"]


def iou(pred: torch.Tensor, target: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """Per-image intersection over union of ``(N, H, W)`` (or ``(N, 1, H, W)``) maps.

    ``intersection = sum(pred * target)``, ``union = sum(pred) + sum(target) -
    intersection``: the usual IOU for 0/1 maps, and its soft version for values
    in [0, 1]. With ``threshold``, ``pred`` is first binarised (``pred > threshold``).
    Two empty maps have IOU 1. Returns ``(N,)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"iou expected pred and target of the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() < 3:
        raise ValueError(f"iou expected (N, H, W) or (N, 1, H, W) maps, got shape {tuple(pred.shape)}")
    if threshold is not None:
        pred = (pred > threshold).to(target.dtype if target.is_floating_point() else torch.float32)
    pred, target = pred.flatten(1).double(), target.flatten(1).double()
    inter = (pred * target).sum(1)
    union = pred.sum(1) + target.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-300), torch.ones_like(union))
