"""Measured numbers of each chapter, in ``book/results/<notebook>.json``, and claim checks.

Chapters run with ``book/`` as working directory, so results land in
``book/results/`` by default; ``$COORDLIB_RESULTS_DIR`` overrides the folder.
Only the ``book`` profile writes the files the book's prose and the
reproducibility report read; ``smoke`` and ``paper`` runs write to
``<dir>/smoke/`` and ``<dir>/paper/`` so a CI run or a GPU run never overwrites
the stored book results by accident.
"""


from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Mapping

from coordlib._io import atomic_write
from coordlib._paths import repository
from coordlib.book import profiles

__all__ = ["results_dir", "path_for", "save", "load", "environment", "cpu_model", "claim", "ClaimError"]

ENV_VAR = "COORDLIB_RESULTS_DIR"


class ClaimError(AssertionError):
    """A claim of the paper (or of the book) did not hold under a strict profile."""


def results_dir(profile: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Folder for results of ``profile``: ``<root>`` for book, ``<root>/<profile>`` otherwise.

    ``root`` defaults to ``$COORDLIB_RESULTS``, else the checkout's ``book/results`` (found from the package,
    whatever the current directory), else ``results`` beside the notebook for an install without a checkout.
    """
    profile = profiles.current(profile)
    if root is None:
        repo = repository()
        root = os.environ.get(ENV_VAR) or (repo / "book" / "results" if repo else Path("results"))
    root = Path(root)
    return root if profile == "book" else root / profile


def _check_name(notebook: str) -> str:
    if not notebook or "/" in notebook or "\\" in notebook or notebook.endswith((".json", ".ipynb")):
        raise ValueError(
            f"expected a bare notebook name such as '01_not_so_clevr', got {notebook!r}"
        )
    return notebook


def path_for(notebook: str, profile: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Where :func:`save` writes the results of ``notebook`` (e.g. ``'01_not_so_clevr'``)."""
    return results_dir(profile, root) / f"{_check_name(notebook)}.json"


def _plain(value: Any) -> Any:
    """Turn numpy/torch scalars and arrays, and objects with ``as_dict``, into JSON values.

    NaN becomes ``null`` (and reads back as ``None``); infinities are refused.
    """
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return _plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "as_dict"):  # stats.Estimate, stats.Comparison, report.Judgement
        return _plain(value.as_dict())
    if isinstance(value, float) and math.isnan(value):
        return None  # JSON has no NaN: a measure that could not be computed is stored as null
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"results must be finite numbers or NaN, got {value!r}")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in results JSON: {value!r}")


def save(notebook: str, results: Mapping[str, Any], profile: str | None = None,
         root: str | os.PathLike | None = None) -> Path:
    """Write ``results`` for ``notebook`` atomically and return the path.

    The file holds ``{"notebook", "profile", "environment", "results"}``; the
    environment records the CPU model and PyTorch's CPU instruction set, because
    training is bitwise repeatable on one machine but not across instruction sets.
    """
    profile = profiles.current(profile)
    doc = {
        "notebook": _check_name(notebook),
        "profile": profile,
        "environment": environment(),
        "results": _plain(results),
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return atomic_write(path_for(notebook, profile, root), lambda f: f.write(text.encode()))


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """What a result depends on beyond the code: versions, CPU model, instruction set, device."""
    import torch  # local: results can be read without importing torch

    capability = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "cpu": cpu_model(), "cpu_capability": capability,
            "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
            "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def load(notebook: str, profile: str | None = None, root: str | os.PathLike | None = None) -> dict:
    """The ``results`` mapping saved for ``notebook``; a clear error if it was never run."""
    path = path_for(notebook, profile, root)
    if not path.exists():
        raise FileNotFoundError(f"no results for {notebook!r} at {path}: run the chapter first (make execute)")
    try:
        return json.loads(path.read_text())["results"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"results file {path} is not a coordlib results file: {err}") from err


def claim(statement: str, holds: bool, profile: str | None = None) -> bool:
    """Check a claim: raises :class:`ClaimError` if it fails under ``book``/``paper``.

    Under ``smoke`` the numbers are meaningless, so nothing is asserted; the
    truth value is returned either way.
    """
    holds = bool(holds)
    profile = profiles.current(profile)
    if profile != "smoke" and not holds:
        raise ClaimError(f"claim does not hold under the {profile!r} profile: {statement}")
    return holds
