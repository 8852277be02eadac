"""The reproducibility report's rules: verdicts from hand-made estimates, verdict strings, formatting, test look-up."""

import pytest

from coordlib import report, stats


def est(mean, low, high, n=3):
    """An estimate as chapters store it (Estimate.as_dict())."""
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n, "level": 0.95}


# ----------------------------------------------------------------------------- judge: one case per outcome and rule


@pytest.mark.parametrize("measured, tol, expected", [
    (est(1.0, 1.0, 1.0), 0.0, "reproduced"),            # 3 seeds at 100%: the interval collapses onto 1
    (est(0.923, 0.593, 1.254), 0.0, "partly"),          # chapter 4's quadrant classification
    (est(0.9115, 0.8565, 0.9666), 0.01, "not reproduced"),  # chapter 4's quadrant rendering against "perfect"
    (est(0.995, 0.990, 1.0), 0.01, "reproduced"),       # the tolerance boundary is included
    (est(0.995, 0.989, 1.0), 0.01, "partly"),
])
def test_at_least(measured, tol, expected):
    assert report.verdict(measured, 1.0, "at_least", tol=tol) == expected


@pytest.mark.parametrize("measured, paper, tol, expected", [
    (est(0.0174, -0.0014, 0.0361), 0.0, 0.05, "reproduced"),  # chapter 2's deconv, quadrant: "~0%"
    (est(0.34, 0.24, 0.44), 0.86, 0.0, "reproduced"),        # never above ~86%
    (est(0.85, 0.80, 0.90), 0.86, 0.0, "partly"),
    (est(0.95, 0.90, 1.0), 0.86, 0.02, "not reproduced"),
    (est(0.08, 0.06, 0.10), 0.0, 0.05, "not reproduced"),
])
def test_at_most(measured, paper, tol, expected):
    assert report.verdict(measured, paper, "at_most", tol=tol) == expected


def test_approx_reads_the_paper_value_against_the_widened_interval():
    assert report.judge(est(0.779, 0.695, 0.864), 0.83, "approx", tol=0.05) == (
        "reproduced", "95% CI [0.695, 0.864] meets 0.83 ± 0.05")
    assert report.judge(est(0.209, 0.127, 0.291), 0.36, "approx", tol=0.05) == (
        "not reproduced", "95% CI [0.127, 0.291] below 0.36 ± 0.05")
    assert report.judge(est(0.5, 0.45, 0.55), 0.36, "approx", tol=0.05) == (
        "not reproduced", "95% CI [0.45, 0.55] above 0.36 ± 0.05")
    # just inside the tolerance on either side
    assert report.verdict(est(0.30, 0.28, 0.31), 0.36, "approx", tol=0.05) == "reproduced"
    assert report.verdict(est(0.30, 0.28, 0.30), 0.36, "approx", tol=0.05) == "not reproduced"


@pytest.mark.parametrize("measured, expected", [
    (24.3, "reproduced"), (est(50, 20, 80), "reproduced"), (est(100, 90, 110), "partly"),
    (6.1, "not reproduced"), (est(200, 150, 250), "not reproduced"),
])
def test_within_a_published_range(measured, expected):
    assert report.verdict(measured, (10.0, 100.0), "within") == expected


def test_lower_bound_cannot_refute_a_larger_claim():
    assert report.judge(1.16, 150.0, "lower_bound", null=1.0) == (
        "partly", "lower bound 1.16 < 150: an effect (> 1), its size not shown")
    assert report.verdict(160.0, 150.0, "lower_bound", null=1.0) == "reproduced"
    assert report.verdict(0.8, 150.0, "lower_bound", null=1.0) == "not tested"
    assert report.verdict(1.0, 150.0, "lower_bound", null=1.0) == "not tested"


def test_nothing_measured_is_not_tested_for_every_kind():
    for kind, value in (("at_least", 1.0), ("at_most", 0.0), ("approx", 0.5), ("within", (1, 2))):
        assert report.judge(None, value, kind) == ("not tested", "not measured")
    assert report.verdict(None, 150.0, "lower_bound", null=1.0) == "not tested"


def test_estimates_numbers_and_mappings_agree():
    e = stats.mean_ci([0.9, 1.0, 1.0])
    assert report.interval(e) == report.interval(e.as_dict()) == (e.mean, e.low, e.high, 3)
    assert report.interval(0.5) == (0.5, 0.5, 0.5, 1)
    assert report.interval(None) is None
    assert report.verdict(e, 1.0, "at_least") == report.verdict(e.as_dict(), 1.0, "at_least") == "partly"


@pytest.mark.parametrize("args, error, match", [
    ((est(1, 1, 1), 1.0, "roughly"), ValueError, r"kind in .*'at_least'.*got 'roughly'"),
    ((est(1, 1, 1), 1.0, "at_least", -0.1), ValueError, r"tolerance >= 0, got -0.1"),
    ((est(1, 1, 1), 1.0, "within"), ValueError, r"'within' needs paper_value = \(low, high\)"),
    ((est(1, 1, 1), (3, 2), "within"), ValueError, r"low <= high, got \(3, 2\)"),
    ((est(1, 1, 1), None, "approx"), ValueError, r"numeric paper_value, got None"),
    ((2.0, 150.0, "lower_bound"), ValueError, r"needs null"),
    ((True, 1.0, "at_least"), TypeError, r"got the bool True"),
    (("0.9", 1.0, "at_least"), TypeError, r"got str"),
    (({"mean": 1.0, "n": 3}, 1.0, "at_least"), ValueError, r"missing \['ci_high', 'ci_low'\]"),
    ((est(0.5, 0.6, 0.7), 1.0, "at_least"), ValueError, r"ci_low <= mean <= ci_high"),
    ((est(float("nan"), 0.6, 0.7), 1.0, "at_least"), ValueError, r"must be finite"),
])
def test_bad_input_raises(args, error, match):
    with pytest.raises(error, match=match):
        report.judge(*args)


# ----------------------------------------------------------------------------- the chapters' own verdict strings


@pytest.mark.parametrize("text, expected", [
    ("reproduced", "reproduced"),
    ("partly (2 of 3 seeds)", "partly"),
    ("partly (an improvement, of a different size)", "partly"),
    ("not reproduced", "not reproduced"),
    ("not reproduced (no significant improvement)", "not reproduced"),
    ("Not reproduced (CoordConv worse)", "not reproduced"),
    ("not measurable (the plain arm scored 0)", "not tested"),
    ("not tested", "not tested"),
])
def test_category_of_chapter_verdicts(text, expected):
    assert report.category(text) == expected


@pytest.mark.parametrize("text", ["as expected (no significant difference)", "reproducedish", "", "yes"])
def test_category_rejects_other_strings(text):
    with pytest.raises(ValueError, match="cannot read .* as a verdict"):
        report.category(text)
    with pytest.raises(TypeError, match="verdict string"):
        report.category(None)


def test_comparison_verdict_rules():
    assert report.comparison_verdict("yes (p = 0.01)", p=0.012) == ("reproduced", "CoordConv better, p = 0.012 < 0.05")
    assert report.comparison_verdict("yes (p = 0.30)", p=0.3) == (
        "partly", "CoordConv better on average, p = 0.3 >= 0.05")
    assert report.comparison_verdict("yes") == ("partly", "CoordConv better on average, no test")
    assert report.comparison_verdict("no (p = 0.02)", p=0.02)[0] == "not reproduced"
    assert report.comparison_verdict("not measurable (no objects found)") == (
        "not tested", "not measurable (no objects found)")
    assert report.comparison_verdict("yes", p=0.04, alpha=0.01)[0] == "partly"
    with pytest.raises(ValueError, match="starting with 'yes', 'no'"):
        report.comparison_verdict("nope")
    with pytest.raises(ValueError, match=r"p-value in \[0, 1\]"):
        report.comparison_verdict("yes", p=1.5)


# ----------------------------------------------------------------------------- formatting


def test_fmt_estimate_clips_the_interval_and_counts_seeds():
    assert report.fmt_estimate(est(0.9232, 0.5927, 1.2537)) == "92.3% [59.3%, 100.0%], 3 seeds"
    assert report.fmt_estimate(est(0.0174, -0.0014, 0.0361)) == "1.7% [0.0%, 3.6%], 3 seeds"
    assert report.fmt_estimate(est(0.0174, -0.0014, 0.0361), bounds=None) == "1.7% [-0.1%, 3.6%], 3 seeds"
    assert report.fmt_estimate(est(0.9631, 0.8970, 1.0293), pct=False) == "0.963 [0.897, 1], 3 seeds"
    signed = report.fmt_estimate(est(0.05, -0.02, 0.12, n=5), bounds=None, signed=True)
    assert signed == "+5.0% [-2.0%, +12.0%], 5 seeds"
    assert report.fmt_estimate(est(0.25, 0.25, 0.25, n=1)) == "25.0%, 1 seed"
    assert report.fmt_estimate(None) == "not measured"


def test_paper_text():
    assert report.paper_text(0.86, "at_most") == "at most 86%"
    assert report.paper_text(1.0, "at_least") == "100%"
    assert report.paper_text(0.83, pct=False) == "0.83"
    assert report.paper_text(0.486) == "48.6%"
    assert report.paper_text(0.0004, signed=True) == "+0.04%"
    assert report.paper_text((10.0, 100.0), "within", pct=False) == "10-100"
    assert report.paper_text(None) == "words only"
    with pytest.raises(ValueError, match="kind in"):
        report.paper_text(1.0, "about")


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
