"""Statistics across seeds: mean with a 95% confidence interval, Welch's t-test.

All functions take one number per seed (independent runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _st

__all__ = ["Estimate", "mean_ci", "welch"]


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` runs with a two-sided confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n, "level": self.level}

    def __str__(self) -> str:
        return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}] (n={self.n})"


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of ``values`` (one per seed).

    With a single value, or values that are all equal, the interval collapses to
    the mean (there is no spread to estimate).
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of per-seed values, got shape {x.shape}")
    if not 0 < level < 1:
        raise ValueError(f"expected a confidence level in (0, 1), got {level}")
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):
        return Estimate(mean, mean, mean, int(x.size), level)
    half = float(_st.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return Estimate(mean, mean - half, mean + half, int(x.size), level)


def welch(a: Sequence[float], b: Sequence[float]) -> dict:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``, and Cohen's d.

    Returns ``{"diff", "t", "p", "cohen_d"}``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"Welch's t-test needs at least 2 runs per arm, got {a.size} and {b.size}")
    res = _st.ttest_ind(a, b, equal_var=False)
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    d = float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")
    return {"diff": float(a.mean() - b.mean()), "t": float(res.statistic), "p": float(res.pvalue), "cohen_d": d}
