"""Seeded, resumable training: the loop, devices, checkpoints, the release's optimiser, ensembles,
and the GAN, RPN and detector loops.
"""

from . import checkpoint, detection, devices, ensemble, gan, loop, optim, rpn
from .checkpoint import CheckpointError, load_checkpoint, resume, save_checkpoint
from .detection import train_detector
from .devices import deterministic, device_choices, pick_device, to_device
from .ensemble import Ensemble, Trained
from .gan import train_gan
from .loop import History, end_epoch, epoch_seed, fit, seed_everything
from .optim import adam, constant_schedule, decayed, l2_penalty, param_groups, step_schedule
from .rpn import train_rpn

__all__ = [
    "checkpoint", "detection", "devices", "ensemble", "gan", "loop", "optim", "rpn", "CheckpointError",
    "Ensemble", "History", "Trained", "adam", "constant_schedule", "decayed", "deterministic", "device_choices",
    "end_epoch", "epoch_seed", "fit", "l2_penalty", "load_checkpoint", "param_groups", "pick_device", "resume",
    "save_checkpoint", "seed_everything", "step_schedule", "to_device", "train_detector", "train_gan",
    "train_rpn",
]
