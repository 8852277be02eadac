"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<script>.py``)."""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import torch

from coordlib._io import atomic_write


def loadavg() -> float | None:
    """1-minute load average, or None where the OS does not provide it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def relative_iqr(values: list[float]) -> float:
    """Interquartile range over median (linear interpolation, as numpy's default): the run's noise."""
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return float((q3 - q1) / median)


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as JSON atomically (no NaN or infinity allowed)."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


class Session:
    """One benchmark run: the environment it ran in and the machine's load around it.

    Printing the environment and the load before starts the run;
    :meth:`start` and :meth:`stop` time the measured part; :meth:`fields` are
    the entries every benchmark's JSON shares.
    """

    def __init__(self, device=None) -> None:
        self.threads = torch.get_num_threads()
        self.device = device
        where = "" if device is None else f", device {device}"
        print(f"torch {torch.__version__}, threads {self.threads}{where}, "
              f"python {platform.python_version()}, {platform.machine()}")
        self.load_before = loadavg()
        if self.load_before is not None:
            print(f"load average before: {self.load_before:.2f} (anything near the thread count means a busy machine)")
        self.started = self.elapsed = self.load_after = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> float:
        """End the measured part; print the load after it; return its seconds."""
        self.elapsed = time.perf_counter() - self.started
        self.load_after = loadavg()
        print()
        if self.load_after is not None:
            print(f"load average after: {self.load_after:.2f} (this run itself contributes about {self.threads})")
        return self.elapsed

    def fields(self) -> dict:
        out = {"torch": torch.__version__, "threads": self.threads, "python": platform.python_version(),
               "machine": platform.machine()}
        if self.device is not None:
            out["device"] = str(self.device)
        return {**out, "elapsed_s": self.elapsed, "loadavg_1min_before": self.load_before,
                "loadavg_1min_after": self.load_after}
