"""Training and running the book's Faster R-CNN variant (:mod:`coordlib.models.detection`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from tqdm.auto import tqdm

from coordlib.datasets.mnist import FieldOfMnist
from coordlib.training.checkpoint import resume, save_checkpoint
from coordlib.training.devices import pick_device
from coordlib.training.loop import end_epoch, epoch_seed

__all__ = ["predict", "train_detector"]


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
    """Train a :func:`~coordlib.models.detection.make_detector` model on ``data`` with Adam; returns one dict per epoch.

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
