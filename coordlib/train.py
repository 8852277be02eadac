"""One seeded training loop for every chapter: device choice, progress bar, checkpoints.

Determinism: each epoch reseeds torch from ``(seed, epoch)`` and shuffles with its
own generator, so a run that is interrupted and resumed from its checkpoint
ends with exactly the weights of an uninterrupted run (on the same device).
Checkpoints are written atomically and loaded with ``weights_only=True``.

Devices: :func:`pick_device` chooses CUDA, else MPS, else the CPU;
``COORDLIB_DEVICE=cpu`` (or ``cuda:1``, ...) forces one for every run, and a
name that is not available here is an error listing the valid ones. The batch
loop of :func:`fit` reads no value back from the device (the epoch's loss is
summed on the device and read once per epoch) and copies nothing: the data
moves to the device once, before the first epoch. For repeatable CUDA runs
call :func:`deterministic` first (cuBLAS workspace, cuDNN without autotuning,
``torch.use_deterministic_algorithms``); CPU runs are left untouched.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._io import atomic_write

__all__ = [
    "pick_device", "device_choices", "to_device", "deterministic", "DEVICE_ENV",
    "seed_everything", "epoch_seed", "fit", "History", "CheckpointError", "save_checkpoint", "load_checkpoint",
    "resume", "end_epoch",
]

_FORMAT = 1  # bump when the checkpoint layout changes


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (truncated, corrupt or foreign)."""


DEVICE_ENV = "COORDLIB_DEVICE"  # forces a device for every run, e.g. COORDLIB_DEVICE=cpu or =cuda:1
_CUBLAS_CONFIGS = (":4096:8", ":16:8")  # the values cuBLAS accepts for reproducible results


def device_choices() -> list[str]:
    """The device names :func:`pick_device` accepts on this machine: ``auto``, ``cpu``, then CUDA and MPS if present."""
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``prefer`` if given, else ``$COORDLIB_DEVICE`` if set, else the best available.

    The best available is CUDA, else Apple's MPS, else the CPU (also what
    ``"auto"`` asks for). A name that is not one of :func:`device_choices` on
    this machine (a typo, or ``cuda`` where there is none) is a ``ValueError``
    that lists the valid choices, instead of a failure deep inside a run.
    """
    source = "the device argument"
    if prefer is None and os.environ.get(DEVICE_ENV, "").strip():
        prefer, source = os.environ[DEVICE_ENV].strip(), f"${DEVICE_ENV}"
    if prefer is None or prefer == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    choices = device_choices()
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError, ValueError):
        device = None
    valid = device is not None and (
        device.type == "cpu"
        or (device.type == "cuda" and (str(device) in choices))
        or (device.type == "mps" and "mps" in choices)
    )
    if not valid:
        raise ValueError(
            f"device {prefer!r} (from {source}) is unknown or not available here; "
            f"valid choices on this machine: {', '.join(choices)}"
        )
    return device


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``; a CPU tensor bound for CUDA is pinned first and copied without blocking.

    The copy is ordered on the current stream, so kernels that use it later
    see the data; on the CPU (or already on ``device``) it is ``tensor`` itself.
    """
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def deterministic(cuda: bool | None = None, warn_only: bool = True) -> dict:
    """Make CUDA runs repeatable; returns the settings in force.

    On the CPU this library's runs are repeatable already (same machine, same
    thread count), and nothing is changed: CPU results stay bit for bit what
    they were. With ``cuda`` (default: when CUDA is available):

    * ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless already ``:4096:8`` or
      ``:16:8`` (cuBLAS's reproducible workspaces, needed since CUDA 10.2). It
      takes effect for cuBLAS handles created afterwards, so call this before
      the first CUDA computation (a warning says when CUDA is already up);
    * ``torch.backends.cudnn.deterministic = True`` and ``benchmark = False``
      (no autotuning, which picks kernels by timing);
    * ``torch.use_deterministic_algorithms(True, warn_only=warn_only)``: ops
      without a deterministic CUDA kernel warn (``warn_only``, the default) or
      raise.
    """
    cuda = torch.cuda.is_available() if cuda is None else bool(cuda)
    if cuda:
        if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in _CUBLAS_CONFIGS:
            if torch.cuda.is_initialized():
                import warnings

                warnings.warn("deterministic(): CUDA is already initialised; CUBLAS_WORKSPACE_CONFIG applies only "
                              "to cuBLAS handles created from now on; call deterministic() first", stacklevel=2)
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_CONFIGS[0]
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
    return {
        "cuda": cuda,
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
    }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's data order (and dropout) in a run seeded ``seed``: every loop uses it."""
    return (seed * 1_000_003 + epoch) % 2**63


@dataclass
class History:
    """Per-epoch records: ``{"epoch", "loss", "seconds", **callback metrics}``.

    ``seconds`` is the cumulative training wall time (callbacks excluded), so
    time-to-solution can be read off the first epoch that solved the task.
    """

    epochs: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int = 0

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    @property
    def last(self) -> dict:
        return self.epochs[-1] if self.epochs else {}


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`fit`; a clear error naming the file if unusable."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated zip, pickle error, foreign object, ...
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated or corrupt?): {err}. Delete it to train from scratch."
        ) from err
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a coordlib checkpoint of format {_FORMAT}")
    return state


def resume(path: Path | None, model: nn.Module, optimizer, seed: int) -> History:
    """Load ``path`` into ``model`` and ``optimizer`` if it exists; the history so far.

    A fresh :class:`History` (``resumed_from == 0``) when there is no checkpoint;
    :class:`CheckpointError` when it was trained with another seed.
    """
    history = History()
    if path is not None and path.exists():
        state = load_checkpoint(path)
        if state["seed"] != seed:
            raise CheckpointError(f"checkpoint {path} was trained with seed {state['seed']}, not {seed}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history.resumed_from = state["epoch"]
        history.epochs = list(state["history"])
        history.stopped_early = state["stopped_early"]
    return history


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


def save_checkpoint(path: Path, model: nn.Module, optimizer, epoch: int, seed: int, history: History) -> None:
    """Write a run's state after ``epoch`` epochs to ``path``, atomically (read by :func:`load_checkpoint`)."""
    state = {
        "format": _FORMAT,
        "epoch": epoch,
        "seed": seed,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history.epochs,
        "stopped_early": history.stopped_early,
    }
    atomic_write(path, lambda f: torch.save(state, f))


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
        model: any module; moved to ``device`` (default :func:`pick_device`).
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
            :func:`coordlib.optim.step_schedule`); ``None`` keeps it constant.
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
