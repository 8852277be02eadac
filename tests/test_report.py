"""The reproducibility report: claims judged by rules on synthetic measurements, formatting, summaries, test look-up."""

import json

import numpy as np
import pytest
from scipy import stats as st

from coordlib.book import report, stats
from coordlib.book.report import Claim, Precondition, judge
from coordlib.book.stats import Estimate

FITTED = Precondition("train accuracy", 0.99)


def acc(mean, low, high, n=3):
    """A hand-made bounded estimate, so that every printed digit is known."""
    return Estimate(mean, low, high, n, method="logit-t", bounds=(0.0, 1.0))


def claim(rule="at_least", paper=1.0, **kw):
    return Claim(kw.pop("id", "c1"), kw.pop("statement", "a claim"), kw.pop("source", "paper §4"), rule, paper, **kw)


# ----------------------------------------------------------------------------- 1. preconditions


CEILING = claim("at_most", 0.86, id="ceiling", precondition=FITTED)


def test_ceiling_with_an_unfitted_network_is_not_tested_at_this_budget():
    j = judge(CEILING, acc(0.35, 0.30, 0.40), {"train accuracy": 0.46})
    assert j.verdict == "not tested at this budget"
    assert j.why == j.condition == "train accuracy 46.0% (below 99.0%: the network did not fit its training set)"
    assert j.measured == "35.0% [30.0%, 40.0%], 3 seeds" and j.condition_mean == 0.46


def test_precondition_shows_the_train_estimate():
    j = judge(CEILING, acc(0.35, 0.30, 0.40), {"train accuracy": acc(0.46, 0.40, 0.52)})
    assert j.why.startswith("train accuracy 46.0% [40.0%, 52.0%], 3 seeds (below 99.0%: ") and "did not fit" in j.why


@pytest.mark.parametrize("test, verdict, why", [
    (acc(0.35, 0.30, 0.40), "reproduced", "upper end 40.0% <= 86.0%"),
    (acc(0.95, 0.90, 0.99), "contradicted", "lower end 90.0% > 86.0%"),
    (acc(0.85, 0.80, 0.90), "inconclusive", "interval straddles 86.0%"),
])
def test_ceiling_with_a_fitted_network_is_judged_by_the_rule(test, verdict, why):
    j = judge(CEILING, test, {"train accuracy": 1.0})
    assert (j.verdict, j.why, j.condition) == (verdict, why, "train accuracy 100.0%")


def test_precondition_at_its_threshold_holds():
    assert judge(CEILING, acc(0.35, 0.30, 0.40), {"train accuracy": 0.99}).verdict == "reproduced"
    assert judge(CEILING, acc(0.35, 0.30, 0.40), {"train accuracy": 0.9899}).verdict == "not tested at this budget"


def test_deconv_quadrant_near_zero_at_low_train_accuracy_is_not_tested():
    c = claim("at_most", 0.0, id="deconv-quadrant", tol=0.05, precondition=FITTED)
    test = acc(0.017, 0.0, 0.036)
    assert judge(c, test, {"train accuracy": 0.386}).verdict == "not tested at this budget"
    assert judge(c, test, {"train accuracy": 1.0}).verdict == "reproduced"


def test_precondition_with_another_unit_and_message():
    pre = Precondition("train IOU", 0.9, unit="iou", failed="the regressor did not fit")
    j = judge(claim("at_least", 0.8, unit="iou", precondition=pre), 0.95, {"train IOU": 0.5})
    assert j.why == "train IOU 0.500 (below 0.900: the regressor did not fit)"


# ----------------------------------------------------------------------------- 2. ceilings, floors and values


def test_rendering_quadrant_ceiling_is_reproduced_where_approx_was_not():
    iou = acc(0.209, 0.166, 0.259)
    ceiling = judge(claim("at_most", 0.36, unit="iou", precondition=FITTED), iou, {"train accuracy": 1.0})
    assert (ceiling.verdict, ceiling.why) == ("reproduced", "upper end 0.259 <= 0.360")
    approx = judge(claim("approx", 0.36, tol=0.05, unit="iou"), iou)
    assert (approx.verdict, approx.why) == ("contradicted", "interval lies below 0.360 ± 0.050")


@pytest.mark.parametrize("measured, tol, verdict, why", [
    (acc(1.0, 0.999, 1.0), 0.0, "inconclusive", "interval straddles 100.0%"),
    (acc(0.995, 0.990, 1.0), 0.01, "reproduced", "lower end 99.0% >= 99.0%"),  # the tolerance boundary is included
    (acc(0.9115, 0.8565, 0.9666), 0.01, "contradicted", "upper end 96.7% < 99.0%"),
    (1.0, 0.0, "reproduced", "lower end 100.0% >= 100.0%"),  # an exact number
])
def test_at_least(measured, tol, verdict, why):
    j = judge(claim("at_least", 1.0, tol=tol), measured)
    assert (j.verdict, j.why) == (verdict, why)


@pytest.mark.parametrize("measured, paper, verdict, why", [
    (acc(0.80, 0.78, 0.84), 0.83, "reproduced", "interval meets 83.0% ± 5.0%"),
    (acc(0.30, 0.28, 0.31), 0.36, "reproduced", "interval meets 36.0% ± 5.0%"),  # just inside the tolerance
    (acc(0.30, 0.28, 0.30), 0.36, "contradicted", "interval lies below 36.0% ± 5.0%"),
    (acc(0.50, 0.45, 0.55), 0.36, "contradicted", "interval lies above 36.0% ± 5.0%"),
])
def test_approx(measured, paper, verdict, why):
    j = judge(claim("approx", paper, tol=0.05), measured)
    assert (j.verdict, j.why) == (verdict, why)


@pytest.mark.parametrize("measured, verdict", [
    (24.3, "reproduced"), (Estimate(50, 20, 80, 3), "reproduced"), (Estimate(100, 90, 110, 3), "inconclusive"),
    (6.1, "contradicted"), (Estimate(200, 150, 250, 3), "contradicted"),
])
def test_within_a_published_range(measured, verdict):
    j = judge(claim("within", (10.0, 100.0), unit="px"), measured)
    assert j.verdict == verdict


def test_within_reason_text():
    j = judge(claim("within", (10.0, 100.0), unit="px", tol=5.0), 6.1)
    assert (j.verdict, j.why) == ("reproduced", "interval inside [5.0 px, 105.0 px]")


def test_lower_bound_cannot_refute_a_larger_value():
    c = claim("lower_bound", 150.0, unit="x")
    assert judge(c, 160.0).verdict == "reproduced"
    j = judge(c, Estimate(1.16, 1.05, 1.3, 3, method="log-t", bounds=(0.0, float("inf"))))
    assert (j.verdict, j.why) == ("inconclusive", "lower bound 1.05x < 150x: cannot refute a larger value")


def test_counts_are_judged_on_the_clopper_pearson_interval():
    c = claim("at_least", 0.5, count=True)
    j = judge(c, stats.binomial(10, 10))
    assert (j.verdict, j.measured) == ("reproduced", f"10 of 10 seeds [{st.beta.ppf(0.025, 10, 1):.1%}, 100.0%]")
    assert judge(c, stats.binomial(5, 5)).verdict == "inconclusive"  # 5 of 5: lower end 47.8% < 50%
    assert judge(c, stats.binomial(0, 5)).verdict == "inconclusive"  # 0 of 5: upper end 52.2% >= 50%
    assert judge(c, stats.binomial(0, 10)).verdict == "contradicted"


def test_holds_and_not_measured():
    c = claim("holds", None)
    assert (judge(c, True).verdict, judge(c, False).verdict) == ("reproduced", "contradicted")
    for rule, paper in (("at_least", 1.0), ("direction", "higher"), ("holds", None)):
        j = judge(claim(rule, paper, margin=None), None)
        assert (j.verdict, j.why, j.measured) == ("not tested", "not measured", "not measured")


def test_not_measured_needs_no_precondition_measurement():
    assert judge(CEILING, None).verdict == "not tested"


# ----------------------------------------------------------------------------- 3. direction (symmetric)


A = [0.90, 0.92, 0.95, 0.91, 0.93]
B = [0.80, 0.83, 0.84, 0.80, 0.85]
HIGHER = claim("direction", "higher", id="dir")


def test_significant_in_the_papers_direction_is_reproduced():
    comp = stats.compare(A, B)
    j = judge(HIGHER, comp)
    assert comp.p == pytest.approx(st.ttest_rel(A, B).pvalue, rel=1e-12)
    assert j.verdict == "reproduced"
    assert j.why == f"difference +9.8%, paired t p = {comp.p:.2g} < 0.05, in the paper's direction"
    assert j.estimate == comp.as_dict()
    assert judge(claim("direction", "lower"), stats.compare(B, A)).verdict == "reproduced"


def test_significant_against_the_papers_direction_is_contradicted():
    j = judge(HIGHER, stats.compare(B, A))
    assert j.verdict == "contradicted" and j.why.endswith("< 0.05, against the paper's direction")
    assert judge(claim("direction", "lower"), stats.compare(A, B)).verdict == "contradicted"


@pytest.mark.parametrize("a, b", [([0.5, 0.6, 0.55], [0.52, 0.58, 0.56]), ([0.52, 0.58, 0.56], [0.5, 0.6, 0.55])])
def test_not_significant_either_way_is_inconclusive_with_the_detectable_effect(a, b):
    comp = stats.compare(a, b)
    j = judge(HIGHER, comp)
    assert comp.p > 0.05 and j.verdict == "inconclusive"
    assert j.why.endswith(f">= 0.05; the design detects {comp.detectable:.1%} at power 0.8")


def test_welch_when_not_paired():
    b = B[:4]
    comp = stats.compare(A, b, paired=False)
    assert comp.p == pytest.approx(st.ttest_ind(A, b, equal_var=False).pvalue, rel=1e-12)
    assert "Welch t p = " in judge(HIGHER, comp).why
    with pytest.raises(ValueError, match="paired comparison needs one value per seed"):
        stats.compare(A, b, paired=True)


def test_direction_respects_the_claims_alpha():
    comp = stats.compare([0.5, 0.6, 0.7, 0.62], [0.45, 0.52, 0.66, 0.6])
    assert 0.01 < comp.p < 0.05
    assert judge(HIGHER, comp).verdict == "reproduced"
    assert judge(claim("direction", "higher", alpha=0.01), comp).verdict == "inconclusive"


def test_direction_without_a_test_is_inconclusive():
    j = judge(HIGHER, stats.compare([0.9], [0.8]))
    assert (j.verdict, j.why) == ("inconclusive", "difference +10.0%, no test possible (1 and 1 runs)")


# ----------------------------------------------------------------------------- 4. equivalence (TOST)


CLOSE_A = [0.85, 0.87, 0.83, 0.88, 0.86, 0.84]
CLOSE_B = [0.851, 0.866, 0.834, 0.878, 0.862, 0.842]


def test_close_arms_are_equivalent():
    from statsmodels.stats.weightstats import ttost_paired

    eq = stats.equivalence(CLOSE_A, CLOSE_B, 0.02)
    j = judge(claim("equivalent", None, margin=0.02), eq)
    p = ttost_paired(np.array(CLOSE_A), np.array(CLOSE_B), -0.02, 0.02)[0]
    assert eq.p == pytest.approx(p, rel=1e-12)
    assert (j.verdict, j.why) == ("reproduced", f"equivalent within ±2.0%: TOST p = {p:.2g} < 0.05")
    assert j.estimate == eq.as_dict()


def test_arms_far_apart_beyond_the_margin_are_contradicted():
    eq = stats.equivalence(CLOSE_A, [0.65, 0.68, 0.62, 0.69, 0.66, 0.63], 0.05)
    j = judge(claim("equivalent", None, margin=0.05), eq)
    assert j.verdict == "contradicted" and j.why.startswith("different beyond ±5.0%: difference +20.0%, paired t p = ")


def test_noisy_arms_are_inconclusive():
    eq = stats.equivalence([0.5, 0.9, 0.7], [0.8, 0.4, 0.6], 0.05)
    j = judge(claim("equivalent", None, margin=0.05), eq)
    assert j.verdict == "inconclusive"
    assert j.why == f"neither equivalent within ±5.0% (TOST p = {eq.p:.2g}) nor shown different"


def test_a_significant_difference_inside_the_margin_is_equivalent():
    b = np.subtract(CLOSE_A, 0.03) + [0.001, -0.001, 0.002, 0, -0.002, 0.001]
    eq = stats.equivalence(CLOSE_A, b, 0.05)
    assert eq.comparison.p < 0.05 and eq.comparison.diff.high < 0.05
    assert judge(claim("equivalent", None, margin=0.05), eq).verdict == "reproduced"


@pytest.mark.parametrize("margin", [0, -0.01])
def test_equivalence_margin_must_be_positive(margin):
    with pytest.raises(ValueError, match=r"equivalence margin > 0"):
        stats.equivalence(CLOSE_A, CLOSE_B, margin)
    with pytest.raises(ValueError, match=r"claim 'c1': rule 'equivalent' needs a margin > 0"):
        claim("equivalent", None, margin=margin)


def test_equivalence_judged_with_another_margin_than_the_claims_raises():
    eq = stats.equivalence(CLOSE_A, CLOSE_B, 0.05)
    with pytest.raises(ValueError, match=r"claim 'c1': .*margin 0.02.*0.05"):
        judge(claim("equivalent", None, margin=0.02), eq)


# ----------------------------------------------------------------------------- 7. bad input names the claim


@pytest.mark.parametrize("rule, paper, kw, match", [
    ("roughly", 1.0, {}, r"claim 'c1': expected rule in .*got 'roughly'"),
    ("within", 1.0, {}, r"claim 'c1': rule 'within' needs paper = \(low, high\), got 1.0"),
    ("within", (3, 2), {}, r"claim 'c1': rule 'within' needs paper = \(low, high\), got \(3, 2\)"),
    ("direction", "better", {}, r"claim 'c1': rule 'direction' needs paper 'higher' or 'lower', got 'better'"),
    ("equivalent", None, {}, r"claim 'c1': rule 'equivalent' needs a margin > 0, got None"),
    ("approx", None, {}, r"claim 'c1': rule 'approx' needs a numeric paper value, got None"),
    ("at_least", True, {}, r"claim 'c1': rule 'at_least' needs a numeric paper value, got True"),
    ("at_least", 1.0, {"tol": -0.1}, r"claim 'c1': expected a tolerance >= 0, got -0.1"),
    ("at_least", 1.0, {"unit": "pct"}, r"claim 'c1': expected unit in .*got 'pct'"),
    ("at_least", 1.0, {"origin": "blog"}, r"claim 'c1': expected origin in .*got 'blog'"),
    ("at_least", 1.0, {"alpha": 1.0}, r"claim 'c1': expected alpha in \(0, 1\)"),
])
def test_bad_claims_raise_naming_the_claim(rule, paper, kw, match):
    with pytest.raises(ValueError, match=match):
        claim(rule, paper, **kw)


def test_precondition_not_given_raises_naming_claim_and_measurement():
    with pytest.raises(KeyError, match=r"claim 'ceiling': its precondition needs the measurement 'train accuracy'"):
        judge(CEILING, 0.3)
    with pytest.raises(KeyError, match=r"'train accuracy'.*not given \(conditions: \['train loss'\]\)"):
        judge(CEILING, 0.3, {"train loss": 0.1})


def test_count_for_a_mean_claim_and_mean_for_a_count_claim_raise():
    with pytest.raises(ValueError, match=r"claim 'c1': expected a mean across runs \(stats.estimate\), "
                                         r"got an estimate by 'clopper-pearson'"):
        judge(claim("at_least", 0.5), stats.binomial(3, 5))
    with pytest.raises(ValueError, match=r"claim 'c1': expected a count \(stats.binomial\), got an estimate by 'logit-t'"):
        judge(claim("at_least", 0.5, count=True), stats.estimate([0.6, 0.7], (0, 1)))


def test_wrong_measurement_types_raise_naming_the_claim():
    with pytest.raises(TypeError, match=r"claim 'dir': rule 'direction' needs a stats.Comparison, got Estimate"):
        judge(HIGHER, stats.estimate(A, (0, 1)))
    with pytest.raises(TypeError, match=r"claim 'c1': rule 'equivalent' needs a stats.Equivalence, got Comparison"):
        judge(claim("equivalent", None, margin=0.02), stats.compare(A, B))
    with pytest.raises(TypeError, match=r"claim 'c1': rule 'holds' needs a bool, got float"):
        judge(claim("holds", None), 1.0)
    with pytest.raises(TypeError, match=r"expected an Estimate, its dict or a number, got str"):
        judge(claim(), "0.9")
    with pytest.raises(TypeError, match=r"expected a Claim, got dict"):
        judge({"id": "x"}, 0.9)


def test_non_finite_or_inconsistent_measurements_raise():
    with pytest.raises(ValueError, match=r"finite measurement, got nan"):
        judge(claim(), float("nan"))
    with pytest.raises(ValueError, match=r"low <= mean <= high"):
        judge(claim(), {"mean": 0.5, "ci_low": 0.6, "ci_high": 0.7, "n": 3})


def test_bad_precondition_unit_raises():
    with pytest.raises(ValueError, match=r"expected unit in .*got 'percent'"):
        Precondition("train accuracy", 0.99, unit="percent")


# ----------------------------------------------------------------------------- 8. summary and headline


def rows():
    r = [judge(claim(id="a"), 1.0), judge(claim(id="b"), 0.5), judge(claim(id="c"), acc(0.9, 0.8, 1.0)),
         judge(CEILING, 0.3, {"train accuracy": 0.4}), judge(claim(id="e"), None),
         judge(claim(id="f", origin="third party"), 1.0), judge(claim(id="g", origin="book variant"), 0.2)]
    return r[:3] + [x.as_dict() for x in r[3:]]  # Judgements and saved rows mix


def test_summary_counts_every_verdict_by_origin():
    zero = dict.fromkeys((*report.VERDICTS, "unstable"), 0)
    assert report.summary(rows()) == {"reproduced": 1, "contradicted": 1, "inconclusive": 1,
                                      "not tested at this budget": 1, "not tested": 1, "unstable": 0}
    assert list(report.summary(rows())) == [*report.VERDICTS, "unstable"]
    assert report.summary(rows(), "third party") == zero | {"reproduced": 1}
    assert report.summary(rows(), "book variant") == zero | {"contradicted": 1}
    assert report.summary([]) == zero


def test_an_unstable_claim_is_counted_apart_from_its_verdict():
    counts = report.summary(rows(), unstable={"a", "c", "f"})  # f is a third party's: not counted here
    assert counts == {"reproduced": 0, "contradicted": 1, "inconclusive": 0,
                      "not tested at this budget": 1, "not tested": 1, "unstable": 2}
    assert report.headline(counts).endswith(
        "**1 not tested at this budget** and **1 not tested**; **2 unstable**: their verdicts changed when the "
        "chapter ran on another instruction set, so they are not counted as findings.")
    one = report.headline(report.summary(rows(), unstable={"a"}))
    assert one.startswith("Of the paper's 5 claims: **0 reproduced**")
    assert one.endswith("; **1 unstable**: its verdict changed when the chapter ran on another instruction set, "
                        "so it is not counted as a finding.")


def test_summary_rejects_unknown_verdicts_and_origins():
    bad = judge(claim(id="old"), 1.0).as_dict() | {"verdict": "partly"}
    with pytest.raises(ValueError, match=r"claim 'old' has an unknown verdict 'partly'"):
        report.summary([bad])
    with pytest.raises(ValueError, match=r"expected origin in .*got 'blog'"):
        report.summary([], origin="blog")


def test_headline():
    counts = report.summary(rows())
    assert report.headline(counts) == (
        "Of the paper's 5 claims: **1 reproduced**, **1 contradicted**, **1 inconclusive**, "
        "**1 not tested at this budget** and **1 not tested**.")
    assert report.headline({"reproduced": 2}, link="report.html") == (
        "Of the paper's 2 claims ([the reproducibility report](report.html)): **2 reproduced**, **0 contradicted**, "
        "**0 inconclusive**, **0 not tested at this budget** and **0 not tested**.")


# ----------------------------------------------------------------------------- 9. display precision


@pytest.mark.parametrize("measured, unit, kw, text", [
    (Estimate(0.92333, 0.6554, 1.0, 3, method="logit-t", bounds=(0.0, 1.0)), "%", {}, "92.3% [65.5%, 100.0%], 3 seeds"),
    (acc(0.2093, 0.1662, 0.2585), "iou", {}, "0.209 [0.166, 0.259], 3 seeds"),
    (Estimate(20.7, 0.9657, 232.1, 3, method="log-t", bounds=(0.0, float("inf"))), "px", {},
     "20.7 px [1.0 px, 232.1 px], 3 seeds"),
    (Estimate(1.234, 1.1, 1.4, 5, method="log-t", bounds=(0.0, float("inf"))), "x", {}, "1.23x [1.1x, 1.4x], 5 seeds"),
    (Estimate(0.05, -0.02, 0.12, 5), "%", {"signed": True}, "+5.0% [-2.0%, +12.0%], 5 seeds"),
    (Estimate(0.5, 0.4, 0.6, 4), "", {"runs": "runs"}, "0.5 [0.4, 0.6], 4 runs"),
    (0.78, "%", {}, "78.0%"),
    (None, "%", {}, "not measured"),
])
def test_fmt(measured, unit, kw, text):
    assert report.fmt(measured, unit, **kw) == text


def test_fmt_one_seed_and_a_count():
    assert report.fmt(stats.estimate([0.78], (0, 1))) == "78.0%, n = 1"
    assert report.fmt(stats.estimate([20.66], (0, float("inf"))), "px") == "20.7 px, n = 1"
    assert report.fmt(stats.binomial(3, 5)) == "3 of 5 seeds [14.7%, 94.7%]"
    assert report.fmt(stats.binomial(3, 5).as_dict()) == "3 of 5 seeds [14.7%, 94.7%]"
    with pytest.raises(ValueError, match=r"expected unit in"):
        report.fmt(0.5, "percent")


def test_fmt_comparison():
    c = stats.Comparison(Estimate(0.121, 0.03, 0.212, 5), 0.0213, "paired t", 1.2, 0.05, n_a=5, n_b=5)
    assert report.fmt_comparison(c) == "+12.1% [+3.0%, +21.2%], 5 seeds; paired t p = 0.021"
    assert report.fmt_comparison(c.as_dict()) == report.fmt_comparison(c)
    assert report.fmt_comparison(stats.compare([0.9], [0.8])).endswith("; no test")


@pytest.mark.parametrize("rule, paper, unit, text", [
    ("at_most", 0.86, "%", "at most 86.0%"), ("at_least", 1.0, "%", "100.0%"), ("at_least", 0.9, "%", "at least 90.0%"),
    ("at_least", 20.0, "px", "at least 20.0 px"), ("approx", 0.36, "iou", "0.360"),
    ("within", (10.0, 100.0), "px", "10.0 px to 100.0 px"), ("direction", "higher", "%", "CoordConv higher"),
    ("holds", None, "%", "stated in words"), ("lower_bound", 150.0, "x", "150x"),
])
def test_paper_text(rule, paper, unit, text):
    assert claim(rule, paper, unit=unit).paper_text() == text
    assert claim(rule, paper, unit=unit, paper_shown="as printed").paper_text() == "as printed"


def test_paper_text_of_equivalence():
    assert claim("equivalent", None, margin=0.02).paper_text() == "no difference"


# ----------------------------------------------------------------------------- 10. Judgement rows


def test_judgement_row_is_json_and_reads_back_as_its_claim():
    c = claim("within", (0.1, 0.3), id="rows", unit="iou", tol=0.01, precondition=FITTED, origin="third party")
    j = judge(c, stats.estimate([0.2, 0.21, 0.19], (0, 1)), {"train accuracy": 1.0}, chapter="04_coordconv")
    d = json.loads(json.dumps(j.as_dict(), allow_nan=False))
    assert {k: d[k] for k in ("id", "rule", "paper_value", "paper", "origin", "unit", "verdict", "chapter")} == {
        "id": "rows", "rule": "within", "paper_value": [0.1, 0.3], "paper": "0.100 to 0.300",
        "origin": "third party", "unit": "iou", "verdict": "reproduced", "chapter": "04_coordconv"}
    assert Estimate.from_dict(d["estimate"]) == stats.estimate([0.2, 0.21, 0.19], (0, 1))
    assert report.claim_from_dict(d) == c


@pytest.mark.parametrize("measured", [lambda: stats.compare(A, B), lambda: stats.equivalence(CLOSE_A, CLOSE_B, 0.02)])
def test_rejudge_of_a_saved_row_gives_the_same_verdict(measured):
    m = measured()
    c = HIGHER if isinstance(m, stats.Comparison) else claim("equivalent", None, margin=0.02)
    j = judge(c, m)
    again = report.rejudge(json.loads(json.dumps(j.as_dict())))
    assert (again.verdict, again.why, again.measured) == (j.verdict, j.why, j.measured)


def test_rejudge_with_a_tolerance():
    j = judge(claim("at_least", 1.0), acc(0.995, 0.990, 1.0))
    assert j.verdict == "inconclusive" and report.rejudge(j.as_dict(), tol=0.01).verdict == "reproduced"
    unfit = judge(CEILING, 0.3, {"train accuracy": 0.4})
    assert report.rejudge(unfit.as_dict()).verdict == "not tested at this budget"


# ----------------------------------------------------------------------------- the guards named by the report exist


def test_defined_tests_parses_functions_and_test_classes(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(
        "import sys\nsys.exit('never imported')\n"
        "def helper():\n    pass\n"
        "def test_one():\n    pass\n"
        "async def test_two():\n    pass\n"
        "class TestGroup:\n    def test_three(self):\n        pass\n    def helper(self):\n        pass\n"
        "class Other:\n    def test_hidden(self):\n        pass\n"
    )
    assert report.defined_tests(tmp_path / "tests" / "test_a.py") == {"test_one", "test_two", "TestGroup::test_three"}
    ids = ["tests/test_a.py::test_one", "tests/test_a.py::TestGroup::test_three", "tests/test_a.py::helper",
           "tests/test_a.py::test_four", "tests/test_b.py::test_one"]
    assert report.missing_tests(ids, tmp_path) == ids[2:]
    with pytest.raises(ValueError, match="pytest id like"):
        report.missing_tests(["tests/test_a.py"], tmp_path)


def test_unmeasured_claim_whose_measured_precondition_failed_is_not_tested_at_this_budget():
    c = report.Claim("x", "s", "paper", "direction", "higher",
                     precondition=report.Precondition("valid scenes", 0.5))
    j = report.judge(c, None, {"valid scenes": 0.1})
    assert j.verdict == "not tested at this budget" and "valid scenes 10.0%" in j.why
    assert report.judge(c, None, {"valid scenes": 0.9}).verdict == "not tested"
    assert report.judge(c, None).verdict == "not tested"
