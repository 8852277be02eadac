"""mean_ci and welch against hand computations and scipy."""

import math

import numpy as np
import pytest
from scipy import stats as st

from coordlib.stats import Estimate, mean_ci, welch


def test_mean_ci_known_vector():
    e = mean_ci([1, 2, 3, 4])
    half = st.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert half == pytest.approx(2.0542, abs=1e-4)
    assert e.mean == 2.5 and e.n == 4 and e.level == 0.95
    assert e.low == pytest.approx(2.5 - half, rel=1e-12)
    assert e.high == pytest.approx(2.5 + half, rel=1e-12)
    assert e.half_width == pytest.approx(half, rel=1e-12)
    assert e.as_dict() == {"mean": e.mean, "ci_low": e.low, "ci_high": e.high, "n": 4, "level": 0.95}


def test_mean_ci_other_level():
    x = [0.9, 0.95, 0.97, 0.99, 1.0]
    e = mean_ci(x, level=0.9)
    half = st.t.ppf(0.95, 4) * np.std(x, ddof=1) / math.sqrt(5)
    assert e.mean == pytest.approx(np.mean(x))
    assert e.half_width == pytest.approx(half, rel=1e-10)


@pytest.mark.parametrize("values", [[0.7], [0.3, 0.3, 0.3]])
def test_mean_ci_collapses(values):
    e = mean_ci(values)
    assert e == Estimate(values[0], values[0], values[0], len(values), 0.95)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0], [3.0, 4.0]]])
def test_mean_ci_rejects_empty_or_2d(bad):
    with pytest.raises(ValueError):
        mean_ci(bad)


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_mean_ci_rejects_bad_level(level):
    with pytest.raises(ValueError):
        mean_ci([1, 2], level=level)


def test_welch_matches_scipy_and_hand_cohen_d():
    a = [0.91, 0.94, 0.90, 0.96, 0.93]
    b = [0.80, 0.86, 0.79, 0.84]
    r = welch(a, b)
    ref = st.ttest_ind(a, b, equal_var=False)
    assert r["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert r["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert r["diff"] == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12)
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    d = (np.mean(a) - np.mean(b)) / math.sqrt((va + vb) / 2)
    assert r["cohen_d"] == pytest.approx(d, rel=1e-12)
    assert set(r) == {"diff", "t", "p", "cohen_d"}


def test_welch_small_exact_case():
    # a = [1, 3], b = [5, 7]: means 2 and 6, variances 2 and 2
    r = welch([1, 3], [5, 7])
    assert r["diff"] == -4.0
    assert r["t"] == pytest.approx(-4 / math.sqrt(2 / 2 + 2 / 2))  # -2.828...
    assert r["cohen_d"] == pytest.approx(-4 / math.sqrt(2))
    assert r["p"] == pytest.approx(st.ttest_ind([1, 3], [5, 7], equal_var=False).pvalue)


@pytest.mark.parametrize("a,b", [([1.0], [1.0, 2.0]), ([1.0, 2.0], [3.0]), ([], [1.0, 2.0])])
def test_welch_needs_two_per_arm(a, b):
    with pytest.raises(ValueError):
        welch(a, b)
