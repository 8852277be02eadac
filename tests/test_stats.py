"""coordlib.book.stats against independent computations: scipy, statsmodels and hand formulas."""

import json
import math

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import expit, logit

from coordlib.book import stats
from coordlib.book.stats import Comparison, Equivalence, Estimate

INF = math.inf


def t_interval(z, level=0.95):
    z = np.asarray(z, float)
    half = st.t.ppf((1 + level) / 2, z.size - 1) * z.std(ddof=1) / math.sqrt(z.size)
    return z.mean() - half, z.mean() + half


# ----------------------------------------------------------------------------- estimate: unbounded (Student-t)


def test_plain_t_known_vector():
    e = stats.estimate([1, 2, 3, 4])
    half = st.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert half == pytest.approx(2.0542, abs=1e-4)
    assert (e.mean, e.n, e.level, e.method, e.bounds) == (2.5, 4, 0.95, "t", None)
    assert e.low == pytest.approx(2.5 - half, rel=1e-12) and e.high == pytest.approx(2.5 + half, rel=1e-12)
    assert e.values == (1.0, 2.0, 3.0, 4.0)


def test_mean_ci_is_estimate_without_bounds_at_other_level():
    x = [0.9, 0.95, 0.97, 0.99, 1.0]
    e = stats.mean_ci(x, level=0.9)
    assert e == stats.estimate(x, None, 0.9)
    assert (e.low, e.high) == pytest.approx(t_interval(x, 0.9), rel=1e-12)


def test_plain_t_of_the_issue_leaves_the_range():
    # the failure the bounded estimate fixes: 3 accuracies whose Student-t interval passes 100%
    e = stats.mean_ci([1.0, 0.97, 0.80])
    assert e.mean == pytest.approx(0.92333, abs=1e-5) and e.high > 1


# ----------------------------------------------------------------------------- estimate: bounded (logit-t, log-t)


def test_accuracies_of_the_issue_stay_inside_0_1():
    e = stats.estimate([1.0, 0.97, 0.80], bounds=(0, 1))
    assert e.method == "logit-t" and e.bounds == (0.0, 1.0)
    assert e.mean == pytest.approx(np.mean([1.0, 0.97, 0.80]), rel=1e-12)
    assert 0 <= e.low < e.mean and e.high == 1.0  # a seed at 100%: the bound stays in


def test_logit_t_matches_hand_computation():
    x = [0.90, 0.95, 0.97]
    zl, zh = t_interval(logit(x))
    e = stats.estimate(x, bounds=(0, 1))
    assert e.low == pytest.approx(expit(zl), rel=1e-12) and e.high == pytest.approx(expit(zh), rel=1e-12)
    assert e.low < e.mean < e.high  # no clamping to the mean happened


def test_logit_t_on_a_scaled_range_is_the_same_interval():
    x = np.array([0.90, 0.95, 0.97, 0.6])
    e1, e100 = stats.estimate(x, (0, 1)), stats.estimate(100 * x, (0, 100))
    assert (e100.low, e100.mean, e100.high) == pytest.approx((100 * e1.low, 100 * e1.mean, 100 * e1.high), rel=1e-9)


def test_logit_t_pulls_values_on_a_bound_in_by_logit_eps():
    x = [0.0, 0.2, 0.3]
    u = np.clip(x, stats.LOGIT_EPS, 1 - stats.LOGIT_EPS)
    _, zh = t_interval(logit(u))
    e = stats.estimate(x, (0, 1))
    assert e.low == 0.0  # a run on the bound keeps the bound inside
    assert e.high == pytest.approx(expit(zh), rel=1e-12)


def test_pixels_of_the_issue_stay_positive():
    px = [4.38, 20.7, 37.02]
    plain = stats.mean_ci(px)
    assert plain.low == pytest.approx(-19.84, abs=0.01) and plain.high == pytest.approx(61.24, abs=0.01)
    e = stats.estimate(px, bounds=(0, INF))
    zl, zh = t_interval(np.log(px))
    assert e.method == "log-t" and e.low > 0
    assert e.low == pytest.approx(math.exp(zl), rel=1e-12) and e.high == pytest.approx(math.exp(zh), rel=1e-12)
    assert e.mean == pytest.approx(20.7, rel=1e-12)


def test_log_t_with_an_offset_lower_bound():
    x = [1.2, 1.5, 2.0]
    zl, zh = t_interval(np.log(np.subtract(x, 1)))
    e = stats.estimate(x, bounds=(1, INF))
    assert e.low == pytest.approx(1 + math.exp(zl), rel=1e-12) and e.high == pytest.approx(1 + math.exp(zh), rel=1e-12)
    assert e.bounds == (1.0, INF)


@pytest.mark.parametrize("x, bounds, low, high", [
    ([1.0, 1.0, 1.0], (0, 1), None, 1.0),
    ([0.0, 0.0, 0.0], (0, 1), 0.0, None),
    ([0.9, 1.0, 0.95], (0, 1), None, 1.0),
    ([0.0, 3.0, 5.0], (0, INF), 0.0, None),
])
def test_a_run_on_a_bound_keeps_that_bound(x, bounds, low, high):
    e = stats.estimate(x, bounds)
    if low is not None:
        assert e.low == low
    if high is not None:
        assert e.high == high
    assert bounds[0] <= e.low <= e.mean <= e.high <= bounds[1]


@pytest.mark.parametrize("seed", range(8))
def test_interval_contains_the_mean_and_stays_in_range(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n = int(rng.integers(2, 7))
        acc = rng.beta(rng.uniform(0.2, 5), rng.uniform(0.2, 5), n)
        acc[rng.random(n) < 0.2] = rng.choice([0.0, 1.0])
        e = stats.estimate(acc, (0, 1))
        assert 0 <= e.low <= e.mean <= e.high <= 1 and e.mean == pytest.approx(acc.mean(), rel=1e-12)
        px = rng.exponential(rng.uniform(0.1, 50), n) * (rng.random(n) > 0.15)
        e = stats.estimate(px, (0, INF))
        assert 0 <= e.low <= e.mean <= e.high < INF


def test_logit_interval_that_misses_the_mean_is_widened_to_it():
    x = [0.999] * 29 + [0.001]  # one failed seed: the logit-scale interval lies above the arithmetic mean
    zl, zh = t_interval(logit(x))
    e = stats.estimate(x, (0, 1))
    assert expit(zl) > np.mean(x)
    assert e.low == e.mean == pytest.approx(np.mean(x), rel=1e-12) and e.high == pytest.approx(expit(zh), rel=1e-12)


def test_one_seed_has_no_interval():
    e = stats.estimate([0.78], (0, 1))
    assert (e.mean, e.low, e.high, e.n, e.method, e.values) == (0.78, None, None, 1, "single", (0.78,))
    assert not e.has_interval and e.ends() == (0.78, 0.78)
    assert str(e) == "0.78 (n=1)"


@pytest.mark.parametrize("x, bounds", [([0.5, 1.01], (0, 1)), ([-0.1, 0.5], (0, 1)), ([-1.0, 2.0], (0, INF)),
                                        ([1.5], (0, 1))])
def test_values_outside_the_bounds_raise(x, bounds):
    with pytest.raises(ValueError, match=r"leave the measure's range"):
        stats.estimate(x, bounds)


@pytest.mark.parametrize("bounds", [(1, 0), (0, 0), (-INF, 0), (float("nan"), 1)])
def test_bad_bounds_raise(bounds):
    with pytest.raises(ValueError, match=r"finite a < b"):
        stats.estimate([0.5, 0.6], bounds)


@pytest.mark.parametrize("x", [[0.5, float("nan"), 0.7], [float("inf"), 1.0]])
def test_nan_or_inf_values_raise_clearly(x):
    with pytest.raises(ValueError, match=r"expected finite per-seed values.*a missing measurement\?"):
        stats.estimate(x, (0, 1) if x[0] == 0.5 else None)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0], [3.0, 4.0]]])
def test_empty_or_2d_raise(bad):
    with pytest.raises(ValueError, match=r"non-empty 1-D sequence"):
        stats.estimate(bad)


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_bad_level_raises(level):
    with pytest.raises(ValueError, match=r"confidence level in \(0, 1\)"):
        stats.estimate([1, 2], level=level)


# ----------------------------------------------------------------------------- Estimate itself


@pytest.mark.parametrize("args, match", [
    ((0.5, 0.4, 0.6, 3, 0.95, "wald"), r"method in .*got 'wald'"),
    ((0.5, 0.4, None, 3), r"both be set or both be None"),
    ((0.5, 0.6, 0.7, 3), r"low <= mean <= high"),
])
def test_inconsistent_estimate_raises(args, match):
    with pytest.raises(ValueError, match=match):
        Estimate(*args)


def test_estimate_str_and_successes():
    e = Estimate(0.5, 0.25, 0.75, 4)
    assert str(e) == "0.5 [0.25, 0.75] (n=4)" and e.successes is None and e.ends() == (0.25, 0.75)
    assert stats.binomial(3, 5).successes == 3


@pytest.mark.parametrize("e", [
    stats.estimate([0.9, 0.95, 1.0], (0, 1)),
    stats.estimate([4.0, 20.0, 30.0], (0, INF)),
    stats.estimate([-0.1, 0.2]),
    stats.estimate([0.3]),
    stats.binomial(3, 5),
])
def test_estimate_round_trip_through_json(e):
    d = json.loads(json.dumps(e.as_dict(), allow_nan=False))
    assert set(d) == {"mean", "ci_low", "ci_high", "n", "level", "method", "bounds", "values"}
    back = Estimate.from_dict(d)
    assert back == e and back.values == e.values and back.bounds == e.bounds


def test_estimate_from_old_dict_and_missing_keys():
    assert Estimate.from_dict({"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 3}) == Estimate(0.5, 0.4, 0.6, 3)
    with pytest.raises(ValueError, match=r"missing \['ci_high', 'ci_low'\]"):
        Estimate.from_dict({"mean": 1.0, "n": 3})


# ----------------------------------------------------------------------------- binomial (Clopper-Pearson)


def test_binomial_3_of_5_is_the_beta_quantiles():
    e = stats.binomial(3, 5)
    assert e.low == pytest.approx(st.beta.ppf(0.025, 3, 3), rel=1e-9)
    assert e.high == pytest.approx(st.beta.ppf(0.975, 4, 2), rel=1e-9)
    assert (e.mean, e.n, e.method, e.bounds, e.values) == (0.6, 5, "clopper-pearson", (0.0, 1.0), ())
    assert round(e.low, 3) == 0.147 and round(e.high, 3) == 0.947


def test_binomial_other_level():
    e = stats.binomial(2, 7, level=0.9)
    assert (e.low, e.high) == pytest.approx((st.beta.ppf(0.05, 2, 6), st.beta.ppf(0.95, 3, 5)), rel=1e-9)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_binomial_edges(n):
    none, all_ = stats.binomial(0, n), stats.binomial(n, n)
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    assert all_.high == 1.0 and all_.low == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    assert none.mean == 0.0 and all_.mean == 1.0


@pytest.mark.parametrize("k, n", [(6, 5), (-1, 5), (0, 0), (2.5, 5), (True, 5), (1, True), ("3", 5)])
def test_binomial_invalid_counts_raise(k, n):
    with pytest.raises(ValueError, match=r"integer counts 0 <= k <= n with n >= 1"):
        stats.binomial(k, n)


def test_binomial_bad_level_raises():
    with pytest.raises(ValueError, match=r"confidence level"):
        stats.binomial(1, 2, level=1.5)


# ----------------------------------------------------------------------------- compare: paired and Welch


A = [0.90, 0.92, 0.95, 0.91, 0.93]
B = [0.80, 0.83, 0.84, 0.80, 0.85]


def two_sided_power(nc, df, alpha=0.05):
    crit = st.t.ppf(1 - alpha / 2, df)
    return st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc)


def test_paired_matches_ttest_rel_and_hand_values():
    c = stats.compare(A, B)
    d = np.subtract(A, B)
    assert (c.test, c.n_a, c.n_b, c.alpha) == ("paired t", 5, 5, 0.05)
    assert c.p == pytest.approx(st.ttest_rel(A, B).pvalue, rel=1e-12)
    assert c.diff.mean == pytest.approx(d.mean(), rel=1e-12)
    assert (c.diff.low, c.diff.high) == pytest.approx(t_interval(d), rel=1e-12)
    assert c.cohen_d == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)
    # the detectable effect has power 0.8 in a one-sample t-test on the differences
    es = c.detectable / d.std(ddof=1)
    assert two_sided_power(es * math.sqrt(5), 4) == pytest.approx(0.8, abs=1e-4)


def test_welch_matches_ttest_ind_and_hand_values():
    a, b = A, B[:4]
    c = stats.compare(a, b, paired=False)
    assert (c.test, c.n_a, c.n_b) == ("Welch t", 5, 4)
    assert c.p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    se = math.sqrt(va / 5 + vb / 4)
    dof = (va / 5 + vb / 4) ** 2 / ((va / 5) ** 2 / 4 + (vb / 4) ** 2 / 3)
    diff = np.mean(a) - np.mean(b)
    half = st.t.ppf(0.975, dof) * se
    assert (c.diff.mean, c.diff.low, c.diff.high) == pytest.approx((diff, diff - half, diff + half), rel=1e-12)
    pooled = math.sqrt((va + vb) / 2)
    assert c.cohen_d == pytest.approx(diff / pooled, rel=1e-12)
    es = c.detectable / pooled
    assert two_sided_power(es * math.sqrt(5 * 4 / 9), 7) == pytest.approx(0.8, abs=1e-4)


def test_paired_and_welch_differ_on_shared_seeds():
    assert stats.compare(A, B).p != pytest.approx(stats.compare(A, B, paired=False).p, rel=1e-3)


def test_paired_needs_equal_lengths():
    with pytest.raises(ValueError, match=r"paired comparison needs one value per seed in each arm, got 5 and 4"):
        stats.compare(A, B[:4])


def test_compare_bad_alpha_and_nan_arm():
    with pytest.raises(ValueError, match=r"alpha in \(0, 1\)"):
        stats.compare(A, B, alpha=0)
    with pytest.raises(ValueError, match=r"finite per-seed values of arm b"):
        stats.compare(A, B[:4] + [float("nan")])


@pytest.mark.parametrize("paired", [True, False])
def test_compare_without_a_test(paired):
    one = stats.compare([0.5], [0.6], paired=paired)
    assert one.p is None and one.detectable is None and one.cohen_d is None
    assert one.diff.mean == pytest.approx(-0.1) and not one.diff.has_interval
    flat = stats.compare([0.5, 0.5, 0.5], [0.4, 0.4, 0.4], paired=paired)
    assert flat.p is None and flat.diff.mean == pytest.approx(0.1)


def test_welch_helper():
    r = stats.welch([1, 3], [5, 7])
    assert set(r) == {"diff", "p", "cohen_d"} and r["diff"] == -4.0
    assert r["p"] == pytest.approx(st.ttest_ind([1, 3], [5, 7], equal_var=False).pvalue, rel=1e-12)
    assert r["cohen_d"] == pytest.approx(-4 / math.sqrt(2), rel=1e-12)
    with pytest.raises(ValueError, match=r"at least 2 runs per arm"):
        stats.welch([1.0], [1.0, 2.0])


def test_comparison_round_trip_through_json():
    for c in (stats.compare(A, B), stats.compare(A, B[:4], paired=False), stats.compare([0.5], [0.6])):
        d = json.loads(json.dumps(c.as_dict(), allow_nan=False))
        assert Comparison.from_dict(d) == c


# ----------------------------------------------------------------------------- equivalence (TOST)


CLOSE_A = [0.85, 0.87, 0.83, 0.88, 0.86, 0.84]
CLOSE_B = [0.851, 0.866, 0.834, 0.878, 0.862, 0.842]


def test_tost_paired_matches_statsmodels():
    from statsmodels.stats.weightstats import ttost_paired

    eq = stats.equivalence(CLOSE_A, CLOSE_B, 0.02)
    assert eq.p == pytest.approx(ttost_paired(np.array(CLOSE_A), np.array(CLOSE_B), -0.02, 0.02)[0], rel=1e-12)
    assert eq.p < 0.05 and eq.margin == 0.02 and eq.comparison == stats.compare(CLOSE_A, CLOSE_B)


def test_tost_welch_matches_statsmodels():
    from statsmodels.stats.weightstats import ttost_ind

    eq = stats.equivalence(CLOSE_A, CLOSE_B[:5], 0.03, paired=False)
    ref = ttost_ind(np.array(CLOSE_A), np.array(CLOSE_B[:5]), -0.03, 0.03, usevar="unequal")[0]
    assert eq.p == pytest.approx(ref, rel=1e-12) and eq.comparison.test == "Welch t"


def test_tost_far_apart_is_not_equivalent():
    eq = stats.equivalence(CLOSE_A, [0.65, 0.68, 0.62, 0.69, 0.66, 0.63], 0.05)
    assert eq.p > 0.99 and eq.comparison.p < 1e-6


@pytest.mark.parametrize("margin", [0, -0.1, INF, float("nan"), True, "0.05"])
def test_tost_bad_margin_raises(margin):
    with pytest.raises(ValueError, match=r"equivalence margin > 0"):
        stats.equivalence(CLOSE_A, CLOSE_B, margin)


def test_tost_without_spread_has_no_p():
    eq = stats.equivalence([0.5, 0.6], [0.5, 0.6], 0.05)
    assert eq.p is None and eq.comparison.p is None


def test_equivalence_round_trip_through_json():
    eq = stats.equivalence(CLOSE_A, CLOSE_B, 0.02)
    assert Equivalence.from_dict(json.loads(json.dumps(eq.as_dict(), allow_nan=False))) == eq


def test_runs_that_all_agree_give_a_zero_width_interval_at_their_value():
    for bounds in (None, (0.0, 1.0), (0.0, float("inf"))):
        e = stats.estimate([1.0, 1.0, 1.0], bounds=bounds)
        assert (e.low, e.mean, e.high) == (1.0, 1.0, 1.0)
    e = stats.estimate([0.0, 0.0], bounds=(0.0, 1.0))
    assert (e.low, e.high) == (0.0, 0.0)


def test_compare_with_bounds_cuts_the_interval_to_possible_differences():
    a, b = [0.0, 0.78125, 0.0], [0.0, 0.0, 0.0]
    free = stats.compare(a, b, paired=True)
    assert free.diff.high > 1.0 and free.diff.low < -0.5  # the t-interval leaves [-1, 1]
    cut = stats.compare(a, b, paired=True, bounds=(0, 1))
    assert (cut.diff.low, cut.diff.high) == (max(free.diff.low, -1.0), 1.0)
    assert cut.diff.bounds == (-1.0, 1.0)
    assert cut.p == free.p and cut.diff.mean == free.diff.mean
    welch = stats.compare([0.1, 0.9, 0.2], [0.8, 0.1, 0.0], paired=False, bounds=(0, 1))
    assert -1.0 <= welch.diff.low <= welch.diff.high <= 1.0


def test_compare_with_bounds_rejects_values_outside_them():
    with pytest.raises(ValueError, match="within bounds"):
        stats.compare([0.5, 1.5], [0.2, 0.3], bounds=(0, 1))
    with pytest.raises(ValueError, match="finite lo < hi"):
        stats.compare([0.5, 0.6], [0.2, 0.3], bounds=(1, 0))
