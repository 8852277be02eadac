"""Statistics across seeds: estimates whose intervals respect the measure, tests and power.

Every function takes one number per seed (independent runs). The choices, in
one place so that every chapter makes the same ones:

* **Means of bounded measures** (accuracy, IOU: ``bounds=(0, 1)``) get a
  Student-t interval on the logit scale, mapped back, so the interval never
  leaves the range. Values on a bound are pulled in by :data:`LOGIT_EPS` of the
  range first (a logit of 0 or 1 is infinite). **Positive measures** (pixels, a
  ratio: ``bounds=(0, inf)``) use the log scale the same way. **Unbounded**
  measures (a difference) use the plain Student-t interval. The interval always
  contains the sample mean, which is what ``Estimate.mean`` reports, and
  reaches a bound whenever one run sits on it.
* **Counts** ("k of n seeds solved") get the exact Clopper-Pearson interval.
* **Fewer than two runs**: no interval (``low`` and ``high`` are ``None``); the
  single value is reported with ``n = 1``. Runs that all agree exactly give the
  zero-width interval at their common value.
* **Two arms that share seeds** are compared with a paired t-test; arms with
  different seeds with Welch's. Each comparison carries the smallest effect the
  design could detect at power 0.8 (``statsmodels``' power solvers).
* **"No difference" expectations** use two one-sided tests (TOST) with a margin
  stated before the result (``statsmodels``' ``ttost_paired``/``ttost_ind``).
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats as _st

__all__ = [
    "Estimate", "Comparison", "Equivalence", "estimate", "mean_ci", "binomial", "compare", "welch",
    "equivalence", "LOGIT_EPS",
]

#: Fraction of the range by which values on a bound are pulled inside before the logit.
LOGIT_EPS = 1e-3

_METHODS = ("t", "logit-t", "log-t", "clopper-pearson", "single")


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` runs with a two-sided interval ``[low, high]`` at ``level``.

    ``low`` and ``high`` are ``None`` when ``n < 2``. ``method`` says how the
    interval was made (see the module docstring); ``values`` keeps the per-seed
    numbers (for a count: ``()``, and ``mean`` is ``k / n``).
    """

    mean: float
    low: float | None
    high: float | None
    n: int
    level: float = 0.95
    method: str = "t"
    bounds: tuple[float, float] | None = None
    values: tuple[float, ...] = field(default=(), compare=False)

    def __post_init__(self):
        if self.method not in _METHODS:
            raise ValueError(f"expected method in {_METHODS}, got {self.method!r}")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"low and high must both be set or both be None, got {self.low!r}, {self.high!r}")
        if self.low is not None and not self.low - 1e-12 <= self.mean <= self.high + 1e-12:
            raise ValueError(f"expected low <= mean <= high, got {self.mean} [{self.low}, {self.high}]")

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    @property
    def successes(self) -> int | None:
        """``k`` of a count estimate (``None`` for means)."""
        return round(self.mean * self.n) if self.method == "clopper-pearson" else None

    def ends(self) -> tuple[float, float]:
        """``(low, high)``, or ``(mean, mean)`` for a single run."""
        return (self.low, self.high) if self.has_interval else (self.mean, self.mean)

    def as_dict(self) -> dict:
        """JSON-ready: ``{"mean", "ci_low", "ci_high", "n", "level", "method", "bounds", "values"}``."""
        bounds = None if self.bounds is None else [_json_float(b) for b in self.bounds]
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n, "level": self.level,
                "method": self.method, "bounds": bounds, "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Estimate":
        """Inverse of :meth:`as_dict` (also reads the older ``{mean, ci_low, ci_high, n}`` form)."""
        missing = {"mean", "ci_low", "ci_high", "n"} - set(d)
        if missing:
            raise ValueError(f"an estimate needs keys mean, ci_low, ci_high, n; missing {sorted(missing)} in {dict(d)!r}")
        bounds = d.get("bounds")
        bounds = None if bounds is None else tuple(math.inf if b is None else float(b) for b in bounds)
        low, high = d["ci_low"], d["ci_high"]
        return cls(float(d["mean"]), None if low is None else float(low), None if high is None else float(high),
                   int(d["n"]), float(d.get("level", 0.95)), d.get("method", "t"), bounds,
                   tuple(float(v) for v in d.get("values", ())))

    def __str__(self) -> str:
        if not self.has_interval:
            return f"{self.mean:.4g} (n={self.n})"
        return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}] (n={self.n})"


def _json_float(v: float) -> float | None:
    return None if math.isinf(v) else v


def _per_seed(values: Sequence[float], what: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of per-seed {what}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"expected finite per-seed {what}, got {x.tolist()} (a missing measurement?)")
    return x


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"expected a confidence level in (0, 1), got {level!r}")


def _t_interval(z: np.ndarray, level: float) -> tuple[float, float]:
    half = float(_st.t.ppf((1 + level) / 2, z.size - 1) * z.std(ddof=1) / np.sqrt(z.size))
    m = float(z.mean())
    return m - half, m + half


def estimate(values: Sequence[float], bounds: tuple[float, float] | None = None, level: float = 0.95) -> Estimate:
    """Mean across seeds and an interval that stays inside ``bounds``.

    Args:
        values: one number per seed, shape ``(n,)``.
        bounds: ``None`` (unbounded: Student-t), ``(a, b)`` finite (logit-t on
            ``(v - a) / (b - a)``) or ``(a, inf)`` (log-t on ``v - a``).
        level: confidence level of the interval.

    Returns:
        An :class:`Estimate`; no interval when ``n == 1``.
    """
    x = _per_seed(values)
    _check_level(level)
    mean = float(x.mean())
    if bounds is not None:
        a, b = float(bounds[0]), float(bounds[1])
        if not (math.isfinite(a) and a < b):
            raise ValueError(f"expected bounds (a, b) with finite a < b, got {bounds!r}")
        if np.any(x < a) or np.any(x > b):
            raise ValueError(f"values {x.tolist()} leave the measure's range [{a}, {b}]")
        bounds = (a, b)
    vals = tuple(float(v) for v in x)
    if x.size == 1:
        return Estimate(mean, None, None, 1, level, "single", bounds, vals)
    if np.all(x == x[0]):  # no spread to estimate: the interval collapses to the common value
        method = "t" if bounds is None else ("log-t" if math.isinf(bounds[1]) else "logit-t")
        return Estimate(mean, mean, mean, int(x.size), level, method, bounds, vals)
    if bounds is None:
        low, high = _t_interval(x, level)
        return Estimate(mean, min(low, mean), max(high, mean), int(x.size), level, "t", None, vals)
    a, b = bounds
    if math.isinf(b):  # positive measure: log scale
        eps = LOGIT_EPS * max(float(np.max(x - a)), 1.0)
        zl, zh = _t_interval(np.log(np.maximum(x - a, eps)), level)
        low, high, method = a + math.exp(zl), a + math.exp(zh), "log-t"
    else:
        u = np.clip((x - a) / (b - a), LOGIT_EPS, 1 - LOGIT_EPS)
        zl, zh = _t_interval(np.log(u / (1 - u)), level)
        low, high, method = a + (b - a) * _st.logistic.cdf(zl), a + (b - a) * _st.logistic.cdf(zh), "logit-t"
    # A run on a bound means the bound cannot be excluded (the pull-in of LOGIT_EPS must not exclude it).
    if x.min() == a:
        low = a
    if x.max() == b:
        high = b
    low, high = max(min(low, mean), a), min(max(high, mean), b)
    return Estimate(mean, low, high, int(x.size), level, method, bounds, vals)


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """The plain Student-t estimate (unbounded measures); same as ``estimate(values)``."""
    return estimate(values, None, level)


def binomial(k: int, n: int, level: float = 0.95) -> Estimate:
    """``k`` of ``n`` runs (e.g. seeds that solved the task), with the exact Clopper-Pearson interval."""
    from statsmodels.stats.proportion import proportion_confint

    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n or not 0 <= k <= n or n < 1:
        raise ValueError(f"expected integer counts 0 <= k <= n with n >= 1, got k={k!r}, n={n!r}")
    _check_level(level)
    low, high = proportion_confint(int(k), int(n), alpha=1 - level, method="beta")
    low = 0.0 if k == 0 else float(low)
    high = 1.0 if k == n else float(high)
    return Estimate(k / n, low, high, int(n), level, "clopper-pearson", (0.0, 1.0))


@dataclass(frozen=True)
class Comparison:
    """Arm ``a`` minus arm ``b`` across seeds.

    ``diff`` is the estimate of the mean difference (paired differences when
    ``paired``); ``p`` the two-sided p-value (``None`` with fewer than two
    runs per arm, or no spread); ``cohen_d`` the standardised effect;
    ``detectable`` the smallest absolute difference the design detects with
    power 0.8 at ``alpha`` (in the measure's units; ``None`` when unknown).
    """

    diff: Estimate
    p: float | None
    test: str
    cohen_d: float | None
    detectable: float | None
    alpha: float = 0.05
    n_a: int = 0
    n_b: int = 0

    def as_dict(self) -> dict:
        return {"diff": self.diff.as_dict(), "p": self.p, "test": self.test, "cohen_d": self.cohen_d,
                "detectable": self.detectable, "alpha": self.alpha, "n_a": self.n_a, "n_b": self.n_b}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Comparison":
        return cls(Estimate.from_dict(d["diff"]), d["p"], d["test"], d["cohen_d"], d["detectable"],
                   d.get("alpha", 0.05), d.get("n_a", 0), d.get("n_b", 0))


def _finite_or_none(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _within(diff: Estimate, bounds: tuple[float, float] | None) -> Estimate:
    """``diff`` with its interval cut to the differences that arms in ``bounds`` allow, ``[lo - hi, hi - lo]``."""
    if bounds is None or diff.low is None:
        return diff
    lo, hi = float(bounds[0]), float(bounds[1])
    width = hi - lo
    return replace(diff, low=max(diff.low, -width), high=min(diff.high, width), bounds=(-width, width))


def compare(a: Sequence[float], b: Sequence[float], paired: bool = True, alpha: float = 0.05,
            level: float = 0.95, bounds: tuple[float, float] | None = None) -> Comparison:
    """Compare arm ``a`` with arm ``b`` (``a - b``): paired t-test when the arms share seeds, else Welch's.

    With ``paired``, ``a[i]`` and ``b[i]`` must come from the same seed. The
    detectable effect solves ``statsmodels``' t-test power for effect size at
    power 0.8 and scales it by the standard deviation of the design.
    ``bounds``, the range of each arm's measure (e.g. ``(0, 1)`` for a share),
    cuts the difference's t-interval to the differences that are possible,
    ``[lo - hi, hi - lo]`` (the test and its p-value are unchanged); every
    value must lie in it.
    """
    from statsmodels.stats.power import TTestIndPower, TTestPower

    a, b = _per_seed(a, "values of arm a"), _per_seed(b, "values of arm b")
    if not 0 < alpha < 1:
        raise ValueError(f"expected alpha in (0, 1), got {alpha!r}")
    if bounds is not None:
        lo, hi = float(bounds[0]), float(bounds[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"expected bounds (lo, hi) with finite lo < hi, got {bounds!r}")
        outside = [float(v) for v in np.concatenate([a, b]) if not lo <= v <= hi]
        if outside:
            raise ValueError(f"expected every value within bounds {bounds!r}, got {outside}")
        c = compare(a, b, paired, alpha, level)
        return replace(c, diff=_within(c.diff, (lo, hi)))
    if paired:
        if a.size != b.size:
            raise ValueError(f"a paired comparison needs one value per seed in each arm, got {a.size} and {b.size}")
        d = a - b
        diff = estimate(d, None, level)
        if d.size < 2 or float(np.ptp(d)) <= 1e-12 * max(1.0, float(np.abs(d).max())):  # no spread
            return Comparison(diff, None, "paired t", None, None, alpha, a.size, b.size)
        p = float(_st.ttest_rel(a, b).pvalue)
        sd = float(d.std(ddof=1))
        es = TTestPower().solve_power(effect_size=None, nobs=d.size, alpha=alpha, power=0.8) if d.size > 2 else None
        return Comparison(diff, p, "paired t", float(d.mean() / sd), None if es is None else float(es) * sd,
                          alpha, a.size, b.size)
    diff_mean = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Comparison(Estimate(diff_mean, None, None, min(a.size, b.size), level, "single"), None, "Welch t",
                          None, None, alpha, a.size, b.size)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0 or (np.all(a == a[0]) and np.all(b == b[0])):  # no spread (var may be rounding noise)
        return Comparison(Estimate(diff_mean, diff_mean, diff_mean, min(a.size, b.size), level, "t"), None, "Welch t",
                          None, None, alpha, a.size, b.size)
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(_st.t.ppf((1 + level) / 2, dof)) * se
    p = float(_st.ttest_ind(a, b, equal_var=False).pvalue)
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    es = TTestIndPower().solve_power(effect_size=None, nobs1=a.size, ratio=b.size / a.size, alpha=alpha, power=0.8)
    diff = Estimate(diff_mean, diff_mean - half, diff_mean + half, min(a.size, b.size), level, "t")
    return Comparison(diff, p, "Welch t", _finite_or_none(diff_mean / pooled) if pooled else None,
                      float(es) * pooled if pooled else None, alpha, a.size, b.size)


def welch(a: Sequence[float], b: Sequence[float]) -> dict:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)``: ``{"diff", "p", "cohen_d"}``."""
    c = compare(a, b, paired=False)
    if c.p is None:
        raise ValueError(f"Welch's t-test needs at least 2 runs per arm with some spread, got {len(a)} and {len(b)}")
    return {"diff": c.diff.mean, "p": c.p, "cohen_d": c.cohen_d}


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests that ``|a - b| < margin``: ``p`` below ``alpha`` supports "no difference"."""

    comparison: Comparison
    margin: float
    p: float | None

    def as_dict(self) -> dict:
        return {"comparison": self.comparison.as_dict(), "margin": self.margin, "p": self.p}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Equivalence":
        return cls(Comparison.from_dict(d["comparison"]), float(d["margin"]), d["p"])


def equivalence(a: Sequence[float], b: Sequence[float], margin: float, paired: bool = True,
                alpha: float = 0.05) -> Equivalence:
    """TOST of ``-margin < mean(a - b) < margin`` (``statsmodels``), with the difference test beside it."""
    from statsmodels.stats.weightstats import ttost_ind, ttost_paired

    if isinstance(margin, bool) or not (isinstance(margin, (int, float)) and margin > 0 and math.isfinite(margin)):
        raise ValueError(f"expected an equivalence margin > 0 in the measure's units, got {margin!r}")
    comp = compare(a, b, paired=paired, alpha=alpha)
    if comp.p is None:
        return Equivalence(comp, float(margin), None)
    x1, x2 = np.asarray(a, float), np.asarray(b, float)
    if paired:
        p = ttost_paired(x1, x2, -margin, margin)[0]
    else:
        p = ttost_ind(x1, x2, -margin, margin, usevar="unequal")[0]
    return Equivalence(comp, float(margin), float(p))
