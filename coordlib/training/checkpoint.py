"""The checkpoint core every training loop uses: atomic writes, ``weights_only`` reads, a format tag.

:func:`write_state` and :func:`read_state` are the two primitives. A loop tags its state with its own
format (``fit``'s is 1, ImageNet's ``"coordlib.imagenet/1"``, RL's ``"coordlib.rl/1"``), and reading a file of
another format, a truncated file or a foreign pickle raises :class:`CheckpointError` naming the file.
:func:`save_checkpoint`, :func:`load_checkpoint` and :func:`resume` are ``fit``'s format on top of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from coordlib._io import atomic_write

__all__ = ["CheckpointError", "History", "write_state", "read_state", "check_matches", "save_checkpoint",
           "load_checkpoint", "resume"]

_FORMAT = 1  # fit's format; bump when its layout changes


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used (truncated, corrupt, foreign or from another run)."""

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


def write_state(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (tensors and plain types, with a ``"format"`` entry) to ``path`` atomically."""
    if not isinstance(state, dict) or "format" not in state:
        raise ValueError(f"write_state expected a dict with a 'format' entry, got {type(state).__name__}")
    atomic_write(Path(path), lambda f: torch.save(state, f))


def read_state(path: str | os.PathLike, format, what: str = "coordlib checkpoint") -> dict:
    """The state dict at ``path`` if its ``"format"`` is ``format``; :class:`CheckpointError` otherwise.

    ``FileNotFoundError`` passes through, so a caller can start from scratch when there is no file.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # truncated zip, pickle error, foreign object, ...
        raise CheckpointError(
            f"{what} {path} cannot be read (truncated or corrupt?): {err}. Delete it to train from scratch."
        ) from err
    if not isinstance(state, dict) or state.get("format") != format:
        raise CheckpointError(f"{path} is not a {what} of format {format!r}")
    return state


def check_matches(state: dict, path: str | os.PathLike, **expected) -> None:
    """:class:`CheckpointError` if ``state[key] != value`` for any ``key=value``: a checkpoint of another run."""
    for key, value in expected.items():
        if state.get(key) != value:
            shown = (lambda v: f"{len(v)} entries") if isinstance(value, (list, tuple)) else repr
            raise CheckpointError(
                f"checkpoint {path} was trained with {key} {shown(state.get(key))}, but this run has "
                f"{key} {shown(value)}; use another output or the checkpoint's settings"
            )


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`; a clear error naming the file if unusable."""
    return read_state(path, _FORMAT)


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


def save_checkpoint(path: Path, model: nn.Module, optimizer, epoch: int, seed: int, history: History) -> None:
    """Write a run's state after ``epoch`` epochs to ``path``, atomically (read by :func:`load_checkpoint`)."""
    write_state(path, {
        "format": _FORMAT,
        "epoch": epoch,
        "seed": seed,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history.epochs,
        "stopped_early": history.stopped_early,
    })
