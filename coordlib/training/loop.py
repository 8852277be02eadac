"""One seeded training loop for every chapter: device choice, progress bar, checkpoints.

Determinism: each epoch reseeds torch from ``(seed, epoch)`` and shuffles with its
own generator, so a run that is interrupted and resumed from its checkpoint
ends with exactly the weights of an uninterrupted run (on the same device).
Checkpoints are written atomically and loaded with ``weights_only=True``.

Devices: :func:`~coordlib.training.devices.pick_device` chooses CUDA, else MPS, else the CPU;
``COORDLIB_DEVICE=cpu`` (or ``cuda:1``, ...) forces one for every run, and a
name that is not available here is an error listing the valid ones. The batch
loop of :func:`fit` reads no value back from the device (the epoch's loss is
summed on the device and read once per epoch) and copies nothing: the data
moves to the device once, before the first epoch. For repeatable CUDA runs
call :func:`~coordlib.training.devices.deterministic` first (cuBLAS workspace, cuDNN without autotuning,
``torch.use_deterministic_algorithms``); CPU runs are left untouched.
"""


from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from coordlib.training.checkpoint import History, resume, save_checkpoint
from coordlib.training.devices import pick_device

__all__ = ["seed_everything", "epoch_seed", "fit", "History", "end_epoch"]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's data order (and dropout) in a run seeded ``seed``: every loop uses it."""
    return (seed * 1_000_003 + epoch) % 2**63



def end_epoch(history: History, record: dict, model: nn.Module, callback) -> dict:
    """Run ``callback(epoch, model)`` (eval mode, ``no_grad``) into ``record``; append it to ``history``.

    A true ``"stop"`` entry of the callback's mapping sets ``history.stopped_early``
    instead of being recorded. Returns ``record``.
    """
    if callback is not None:
        model.eval()
        with torch.no_grad():
            metrics = dict(callback(record["epoch"], model) or {})
        history.stopped_early = bool(metrics.pop("stop", False))
        record.update(metrics)
    history.epochs.append(record)
    return record


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    optimizer: Callable[[object], torch.optim.Optimizer] | None = None,
    lr: float = 1e-3,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    device: torch.device | str | None = None,
    callback: Callable[[int, nn.Module], Mapping | None] | None = None,
    progress: bool = True,
    desc: str = "train",
    schedule: Callable[[int], float] | None = None,
) -> History:
    """Train ``model`` on in-memory tensors with minibatches, seeded and resumable.

    Args:
        model: any module; moved to ``device`` (default :func:`~coordlib.training.devices.pick_device`).
        inputs, targets: ``(N, ...)`` tensors, indexed along dimension 0 together.
        loss_fn: ``loss_fn(model(x_batch), y_batch) -> scalar tensor``.
        epochs: total number of epochs (a resumed run continues up to it).
        optimizer: factory ``params -> Optimizer``; default ``Adam(lr=lr)``.
        checkpoint: file to resume from and save to every ``checkpoint_every``
            epochs. If it already holds ``epochs`` epochs the model is loaded and
            returned without training ("load if it exists, else train").
        callback: called after each epoch as ``callback(epoch, model)`` in eval
            mode under ``no_grad``; its mapping is recorded in the history, and a
            true ``"stop"`` entry ends training early (time-to-solution).
        schedule: ``schedule(epoch) -> multiplier`` (0-based epoch) of every
            parameter group's initial learning rate during that epoch (e.g.
            :func:`coordlib.training.optim.step_schedule`); ``None`` keeps it constant.
            Computed from the epoch alone, so a resumed run follows it too.

    Returns:
        the :class:`History`; the trained model is ``model`` itself.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
    if epochs < 0 or batch_size <= 0:
        raise ValueError(f"expected epochs >= 0 and batch_size > 0, got epochs={epochs}, batch_size={batch_size}")
    device = pick_device(device)
    model.to(device)
    inputs = inputs.to(device)
    targets = targets.to(device)
    opt = (optimizer or (lambda p: torch.optim.Adam(p, lr=lr)))(model.parameters())
    base_lrs = [g.get("initial_lr", g["lr"]) for g in opt.param_groups]

    path = Path(checkpoint) if checkpoint is not None else None
    history = resume(path, model, opt, seed)
    start = history.resumed_from
    if history.stopped_early:  # a finished time-to-solution run: nothing left to train
        model.eval()
        return history

    n = len(inputs)
    elapsed = history.last.get("seconds", 0.0)
    bar = tqdm(range(start, epochs), desc=desc, disable=not progress, initial=start, total=epochs, leave=False)
    for epoch in bar:
        tic = time.perf_counter()
        torch.manual_seed(epoch_seed(seed, epoch))  # dropout etc. reproducible per epoch
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch))).to(device)
        if schedule is not None:
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * schedule(epoch)
        model.train()
        total = torch.zeros((), device=device)
        for begin in range(0, n, batch_size):
            idx = order[begin : begin + batch_size]
            loss = loss_fn(model(inputs[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        elapsed += time.perf_counter() - tic
        record = {"epoch": epoch + 1, "loss": float(total) / n, "seconds": elapsed}
        if schedule is not None:
            record["lr"] = opt.param_groups[0]["lr"]
        record = end_epoch(history, record, model, callback)
        bar.set_postfix(loss=f"{record['loss']:.4g}")
        done = epoch + 1 == epochs or history.stopped_early
        if path is not None and (done or (epoch + 1) % checkpoint_every == 0):
            save_checkpoint(path, model, opt, epoch + 1, seed, history)
        if history.stopped_early:
            break
    bar.close()
    model.eval()
    return history
