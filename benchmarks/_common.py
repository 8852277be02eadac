"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import json
import os

from coordlib._io import atomic_write


def loadavg() -> float | None:
    """1-minute load average, or None where the OS does not provide it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as JSON atomically (no NaN or infinity allowed)."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
