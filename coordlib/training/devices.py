"""Where a run executes: CUDA, else MPS, else the CPU; ``COORDLIB_DEVICE`` forces one.
"""

from __future__ import annotations

import os

import torch

__all__ = ["pick_device", "device_choices", "to_device", "deterministic", "DEVICE_ENV"]


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
