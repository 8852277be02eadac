"""Claims of the paper, judged by stated rules: the reproducibility report's one API.

A :class:`Claim` names what the paper says (a value and how to read it: a
level reached, a ceiling, a number to match, a range, a direction, "no
difference"), where it says it, and, for claims about a network, the
:class:`Precondition` under which the statement means anything ("the deconv
fitted its training set"). :func:`judge` sets a chapter's measurement beside it
and returns a :class:`Judgement`, whose :meth:`~Judgement.as_dict` goes into the
chapter's results file; chapter 8 collects those and never re-judges.

The verdicts (:data:`VERDICTS`) are symmetric: *reproduced* when the evidence
supports the paper at the stated level, *contradicted* when it supports the
opposite, *inconclusive* when it supports neither (printed with what the design
could have detected), *not tested at this budget* when the precondition failed
(the run tests nothing), and *not tested* when nothing was measured.
"""


from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any, Iterable, Mapping

from coordlib.book.stats import Comparison, Equivalence, Estimate

__all__ = [
    "VERDICTS", "RULES", "UNITS", "ORIGINS", "Precondition", "Claim", "Judgement", "judge", "claim_from_dict",
    "rejudge", "fmt", "fmt_comparison", "summary", "headline", "defined_tests", "missing_tests",
]

#: The five verdicts, in the order every summary lists them.
VERDICTS = ("reproduced", "contradicted", "inconclusive", "not tested at this budget", "not tested")

#: How a published value is read (see :func:`judge`).
RULES = ("at_least", "at_most", "approx", "within", "lower_bound", "direction", "equivalent", "holds")

#: The display units, ``%`` (one decimal), ``iou`` (three digits), ``px``, ``x`` (a ratio) and ``""``
#: (three significant digits).
UNITS = ("%", "iou", "px", "x", "")

#: Whose claim a row is, the paper's (with its blog post), a third party's reproduction, or the book's
#: own variant (a fix or an ablation, which never decides a paper claim alone).
ORIGINS = ("paper", "third party", "book variant")

#: The count, beside :data:`VERDICTS`, of claims whose verdict did not survive a change of machine.
UNSTABLE = "unstable"

_EPS = 1e-12


def _number(v: float, unit: str, signed: bool = False) -> str:
    s = "+" if signed else ""
    if unit == "%":
        return f"{v:{s}.1%}"
    if unit == "iou":
        return f"{v:{s}.3f}"
    if unit == "px":
        return f"{v:{s}.1f} px"
    if unit == "x":
        return f"{v:{s}.3g}x"
    return f"{v:{s}.3g}"


def _check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"expected unit in {UNITS}, got {unit!r}")
    return unit


def _as_estimate(measured: Any) -> Estimate:
    if isinstance(measured, Estimate):
        return measured
    if isinstance(measured, Mapping):
        return Estimate.from_dict(measured)
    if isinstance(measured, Real) and not isinstance(measured, bool):
        if not math.isfinite(measured):
            raise ValueError(f"expected a finite measurement, got {measured!r}")
        return Estimate(float(measured), None, None, 1, method="single")
    raise TypeError(f"expected an Estimate, its dict or a number, got {type(measured).__name__}")


def fmt(measured: Any, unit: str = "%", signed: bool = False, runs: str = "seeds") -> str:
    """``"92.3% [59.3%, 99.1%], 3 seeds"``; ``"78.0%, n = 1"``; ``"3 of 5 seeds [14.7%, 94.7%]"``.

    ``measured`` is an :class:`~coordlib.book.stats.Estimate` (or its dict), a number
    (an exact value) or ``None`` (``"not measured"``).
    """
    _check_unit(unit)
    if measured is None:
        return "not measured"
    e = _as_estimate(measured)
    if e.method == "clopper-pearson":
        return f"{e.successes} of {e.n} {runs} [{e.low:.1%}, {e.high:.1%}]"
    if e.method == "single" and e.n == 1 and not e.values:
        return _number(e.mean, unit, signed)
    if not e.has_interval:
        return f"{_number(e.mean, unit, signed)}, n = {e.n}"
    return f"{_number(e.mean, unit, signed)} [{_number(e.low, unit, signed)}, {_number(e.high, unit, signed)}], {e.n} {runs}"


def fmt_comparison(c: Comparison | Mapping, unit: str = "%") -> str:
    """``"+12.1% [+3.0%, +21.2%], paired t p = 0.02, 5 seeds"``."""
    c = c if isinstance(c, Comparison) else Comparison.from_dict(c)
    p = "no test" if c.p is None else f"{c.test} p = {c.p:.2g}"
    return f"{fmt(c.diff, unit, signed=True)}; {p}"


@dataclass(frozen=True)
class Precondition:
    """A measurement that must reach ``at_least`` for the claim to be tested.

    ``measure`` names an entry of the ``conditions`` mapping given to
    :func:`judge` (e.g. ``"train accuracy"``); its mean across seeds is compared.
    ``failed`` is what the row says when it does not hold.
    """

    measure: str
    at_least: float
    unit: str = "%"
    failed: str = "the network did not fit its training set"

    def __post_init__(self):
        _check_unit(self.unit)


@dataclass(frozen=True)
class Claim:
    """One statement of the paper (or of a third party), read by ``rule``.

    Args:
        id: short stable key, unique within the book.
        statement: the claim in the book's words.
        source: where it is stated (``"paper §4.1"``, ``"blog"``, ``"Cambridge Spark"``).
        rule: one of :data:`RULES`.
        paper: the published value: a number (``at_least``, ``at_most``,
            ``approx``, ``lower_bound``), ``(low, high)`` (``within``),
            ``"higher"``/``"lower"`` (``direction``: the expected sign of
            CoordConv minus baseline), ``None`` for ``equivalent`` and ``holds``.
        tol: tolerance in the measure's units, stated with the claim.
        unit: display unit of the measure (:data:`UNITS`).
        precondition: when the statement is meaningful (e.g. the network fitted).
        margin: equivalence margin (``equivalent`` only), stated before the result.
        count: the measurement is ``k of n`` runs (a Clopper-Pearson estimate).
        origin: one of :data:`ORIGINS`; only the paper's claims enter the headline.
        paper_shown: how the table shows the published value (default: generated).
    """

    id: str
    statement: str
    source: str
    rule: str
    paper: Any = None
    tol: float = 0.0
    unit: str = "%"
    precondition: Precondition | None = None
    margin: float | None = None
    count: bool = False
    origin: str = "paper"
    paper_shown: str | None = None
    alpha: float = 0.05

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"claim {self.id!r}: expected rule in {RULES}, got {self.rule!r}")
        if self.unit not in UNITS:
            raise ValueError(f"claim {self.id!r}: expected unit in {UNITS}, got {self.unit!r}")
        if self.origin not in ORIGINS:
            raise ValueError(f"claim {self.id!r}: expected origin in {ORIGINS}, got {self.origin!r}")
        if isinstance(self.tol, bool) or not isinstance(self.tol, Real) or not self.tol >= 0:
            raise ValueError(f"claim {self.id!r}: expected a tolerance >= 0, got {self.tol!r}")
        if self.rule == "within":
            p = self.paper
            if not (isinstance(p, (tuple, list)) and len(p) == 2 and p[0] <= p[1]):
                raise ValueError(f"claim {self.id!r}: rule 'within' needs paper = (low, high), got {p!r}")
        elif self.rule == "direction":
            if self.paper not in ("higher", "lower"):
                raise ValueError(f"claim {self.id!r}: rule 'direction' needs paper 'higher' or 'lower', got {self.paper!r}")
        elif self.rule == "equivalent":
            if self.margin is None or not self.margin > 0:
                raise ValueError(f"claim {self.id!r}: rule 'equivalent' needs a margin > 0, got {self.margin!r}")
        elif self.rule != "holds":
            if isinstance(self.paper, bool) or not isinstance(self.paper, Real):
                raise ValueError(f"claim {self.id!r}: rule {self.rule!r} needs a numeric paper value, got {self.paper!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"claim {self.id!r}: expected alpha in (0, 1), got {self.alpha!r}")

    def paper_text(self) -> str:
        """The published value as the table shows it."""
        if self.paper_shown is not None:
            return self.paper_shown
        u = self.unit
        if self.rule == "at_least":
            return f"at least {_number(self.paper, u)}" if self.paper < (1 if u in ("%", "iou") else math.inf) \
                else _number(self.paper, u)
        if self.rule == "at_most":
            return f"at most {_number(self.paper, u)}"
        if self.rule in ("approx", "lower_bound"):
            return _number(self.paper, u)
        if self.rule == "within":
            return f"{_number(self.paper[0], u)} to {_number(self.paper[1], u)}"
        if self.rule == "direction":
            return f"CoordConv {self.paper}"
        if self.rule == "equivalent":
            return "no difference"
        return "stated in words"


@dataclass(frozen=True)
class Judgement:
    """A claim beside its measurement, with the verdict and the reason."""

    claim: Claim
    verdict: str
    why: str
    measured: str
    condition: str | None = None
    chapter: str | None = None
    estimate: dict | None = field(default=None, compare=False)
    condition_mean: float | None = None

    def as_dict(self) -> dict:
        """JSON-ready row for ``book/results/*.json``."""
        c = self.claim
        paper = list(c.paper) if isinstance(c.paper, tuple) else c.paper
        pre = c.precondition
        return {"id": c.id, "claim": c.statement, "source": c.source, "rule": c.rule, "paper_value": paper,
                "paper": c.paper_text(), "paper_shown": c.paper_shown, "tol": c.tol, "margin": c.margin,
                "count": c.count, "alpha": c.alpha, "origin": c.origin, "unit": c.unit,
                "precondition": None if pre is None else {"measure": pre.measure, "at_least": pre.at_least,
                                                           "unit": pre.unit, "failed": pre.failed},
                "condition_mean": self.condition_mean,
                "measured": self.measured, "condition": self.condition, "verdict": self.verdict, "why": self.why,
                "chapter": self.chapter, "estimate": self.estimate}


def claim_from_dict(row: Mapping[str, Any]) -> Claim:
    """The :class:`Claim` of a saved row (:meth:`Judgement.as_dict`)."""
    pre = row.get("precondition")
    paper = row["paper_value"]
    return Claim(row["id"], row["claim"], row["source"], row["rule"], tuple(paper) if isinstance(paper, list) else paper,
                 row["tol"], row["unit"], None if pre is None else Precondition(**pre), row.get("margin"),
                 row.get("count", False), row["origin"], row.get("paper_shown"), row.get("alpha", 0.05))


def rejudge(row: Mapping[str, Any], **changes) -> Judgement:
    """Judge a saved row again on its saved measurement, with claim fields changed (e.g. ``tol=0.02``).

    Rows whose measurement was not saved (``holds``, not measured) keep their verdict.
    """
    import dataclasses

    c = dataclasses.replace(claim_from_dict(row), **changes)
    est = row.get("estimate")
    if est is None or c.rule == "holds":
        return Judgement(c, row["verdict"], row["why"], row["measured"], row.get("condition"), row.get("chapter"),
                         est, row.get("condition_mean"))
    measured = (Comparison.from_dict(est) if c.rule == "direction" else
                Equivalence.from_dict(est) if c.rule == "equivalent" else Estimate.from_dict(est))
    conditions = None if c.precondition is None else {c.precondition.measure: row["condition_mean"]}
    return judge(c, measured, conditions, row.get("chapter"), shown=row["measured"])


def _condition(claim: Claim, conditions: Mapping[str, Any] | None) -> tuple[bool, str | None, float | None]:
    pre = claim.precondition
    if pre is None:
        return True, None, None
    if conditions is None or pre.measure not in conditions:
        have = sorted(conditions) if conditions else []
        raise KeyError(f"claim {claim.id!r}: its precondition needs the measurement {pre.measure!r}, "
                       f"which was not given (conditions: {have})")
    e = _as_estimate(conditions[pre.measure])
    holds = e.mean >= pre.at_least - _EPS
    text = f"{pre.measure} {fmt(e, pre.unit)}"
    if not holds:
        text += f" (below {_number(pre.at_least, pre.unit)}: {pre.failed})"
    return holds, text, e.mean


def _judge_value(c: Claim, e: Estimate) -> tuple[str, str]:
    low, high = e.ends()
    u = c.unit
    if c.rule == "at_least":
        t = c.paper - c.tol
        if low >= t - _EPS:
            return "reproduced", f"lower end {_number(low, u)} >= {_number(t, u)}"
        if high < t - _EPS:
            return "contradicted", f"upper end {_number(high, u)} < {_number(t, u)}"
        return "inconclusive", f"interval straddles {_number(t, u)}"
    if c.rule == "at_most":
        t = c.paper + c.tol
        if high <= t + _EPS:
            return "reproduced", f"upper end {_number(high, u)} <= {_number(t, u)}"
        if low > t + _EPS:
            return "contradicted", f"lower end {_number(low, u)} > {_number(t, u)}"
        return "inconclusive", f"interval straddles {_number(t, u)}"
    if c.rule == "approx":
        window = f"{_number(c.paper, u)} ± {_number(c.tol, u)}"
        if low - c.tol - _EPS <= c.paper <= high + c.tol + _EPS:
            return "reproduced", f"interval meets {window}"
        side = "below" if high + c.tol < c.paper else "above"
        return "contradicted", f"interval lies {side} {window}"
    if c.rule == "within":
        a, b = c.paper[0] - c.tol, c.paper[1] + c.tol
        if low >= a - _EPS and high <= b + _EPS:
            return "reproduced", f"interval inside [{_number(a, u)}, {_number(b, u)}]"
        if high < a - _EPS or low > b + _EPS:
            return "contradicted", f"interval outside [{_number(a, u)}, {_number(b, u)}]"
        return "inconclusive", f"interval overlaps the edge of [{_number(a, u)}, {_number(b, u)}]"
    # lower_bound: the measurement bounds the true value from below; it cannot refute the claim
    t = c.paper - c.tol
    if low >= t - _EPS:
        return "reproduced", f"lower bound {_number(low, u)} >= {_number(t, u)}"
    return "inconclusive", f"lower bound {_number(low, u)} < {_number(t, u)}: cannot refute a larger value"


def _judge_direction(c: Claim, comp: Comparison) -> tuple[str, str]:
    u, d = c.unit, comp.diff.mean
    can = ("" if comp.detectable is None
           else f"; the design detects {_number(comp.detectable, u)} at power 0.8")
    if comp.p is None:
        return "inconclusive", f"difference {_number(d, u, True)}, no test possible ({comp.n_a} and {comp.n_b} runs){can}"
    expected = 1 if c.paper == "higher" else -1
    sig = comp.p < c.alpha
    shown = f"difference {_number(d, u, True)}, {comp.test} p = {comp.p:.2g}"
    if sig and d * expected > 0:
        return "reproduced", f"{shown} < {c.alpha:g}, in the paper's direction"
    if sig and d * expected < 0:
        return "contradicted", f"{shown} < {c.alpha:g}, against the paper's direction"
    return "inconclusive", f"{shown} >= {c.alpha:g}{can}"


def _judge_equivalence(c: Claim, eq: Equivalence) -> tuple[str, str]:
    u, comp = c.unit, eq.comparison
    margin = f"±{_number(eq.margin, u)}"
    if eq.p is None:
        return "inconclusive", f"no test possible ({comp.n_a} and {comp.n_b} runs)"
    low, high = comp.diff.ends()
    if eq.p < c.alpha:
        return "reproduced", f"equivalent within {margin}: TOST p = {eq.p:.2g} < {c.alpha:g}"
    if comp.p is not None and comp.p < c.alpha and (low >= eq.margin or high <= -eq.margin):
        return "contradicted", (f"different beyond {margin}: difference {_number(comp.diff.mean, u, True)}, "
                                f"{comp.test} p = {comp.p:.2g}")
    return "inconclusive", f"neither equivalent within {margin} (TOST p = {eq.p:.2g}) nor shown different"


def judge(claim: Claim, measured: Any, conditions: Mapping[str, Any] | None = None,
          chapter: str | None = None, shown: str | None = None) -> Judgement:
    """Judge ``claim`` on ``measured`` (and its precondition on ``conditions``).

    ``measured`` by rule: an :class:`~coordlib.book.stats.Estimate` (or its dict) or
    an exact number for the value rules; a :class:`~coordlib.book.stats.Comparison`
    (CoordConv minus baseline) for ``direction``; an
    :class:`~coordlib.book.stats.Equivalence` for ``equivalent``; a bool for
    ``holds`` (a claim in words that the chapter asserted); ``None`` when not
    measured. ``shown`` replaces the generated measurement text.

    The value rules, with ``[l, h]`` the interval (a single run: its value) and
    ``t`` the published value: ``at_least`` reproduced if ``l >= t - tol``,
    contradicted if ``h < t - tol``; ``at_most`` the mirror image (a ceiling:
    "unable to achieve over X"); ``approx`` reproduced if ``t`` lies in
    ``[l - tol, h + tol]``, else contradicted; ``within`` ``(a, b)`` reproduced
    inside, contradicted wholly outside; ``lower_bound`` reproduced if
    ``l >= t - tol``, else inconclusive (a lower bound cannot refute). All other
    cases are inconclusive.
    """
    if not isinstance(claim, Claim):
        raise TypeError(f"expected a Claim, got {type(claim).__name__}")
    if measured is None:
        # Nothing measured: "not tested", unless a precondition that was measured already failed.
        pre = claim.precondition
        if pre is not None and conditions and conditions.get(pre.measure) is not None:
            holds, cond_text, cond_mean = _condition(claim, conditions)
            if not holds:
                return Judgement(claim, "not tested at this budget", cond_text, "not measured", cond_text, chapter,
                                 None, cond_mean)
        return Judgement(claim, "not tested", "not measured", "not measured", None, chapter)
    holds, cond_text, cond_mean = _condition(claim, conditions)
    est_dict = None
    if claim.rule == "holds":
        if not isinstance(measured, bool):
            raise TypeError(f"claim {claim.id!r}: rule 'holds' needs a bool, got {type(measured).__name__}")
        text = shown or ("holds" if measured else "fails")
        verdict, why = ("reproduced", "the chapter's assertion holds") if measured else \
            ("contradicted", "the chapter's assertion fails")
    elif claim.rule == "direction":
        comp = measured if isinstance(measured, Comparison) else None
        if comp is None:
            raise TypeError(f"claim {claim.id!r}: rule 'direction' needs a stats.Comparison, "
                            f"got {type(measured).__name__}")
        text, est_dict = shown or fmt_comparison(comp, claim.unit), comp.as_dict()
        verdict, why = _judge_direction(claim, comp)
    elif claim.rule == "equivalent":
        if not isinstance(measured, Equivalence):
            raise TypeError(f"claim {claim.id!r}: rule 'equivalent' needs a stats.Equivalence, "
                            f"got {type(measured).__name__}")
        if not math.isclose(measured.margin, claim.margin):
            raise ValueError(f"claim {claim.id!r}: the claim states margin {claim.margin!r}, "
                             f"the equivalence test used {measured.margin!r}")
        text, est_dict = shown or fmt_comparison(measured.comparison, claim.unit), measured.as_dict()
        verdict, why = _judge_equivalence(claim, measured)
    else:
        e = _as_estimate(measured)
        is_count = e.method == "clopper-pearson"
        if is_count != claim.count:
            want = "a count (stats.binomial)" if claim.count else "a mean across runs (stats.estimate)"
            raise ValueError(f"claim {claim.id!r}: expected {want}, got an estimate by {e.method!r}")
        text, est_dict = shown or fmt(e, claim.unit), e.as_dict()
        verdict, why = _judge_value(claim, e)
    if not holds:
        verdict, why = "not tested at this budget", cond_text
    return Judgement(claim, verdict, why, text, cond_text, chapter, est_dict, cond_mean)


def summary(rows: Iterable[Judgement | Mapping], origin: str = "paper",
            unstable: Iterable[str] = ()) -> dict[str, int]:
    """Count of each verdict over the rows of ``origin``: every one of :data:`VERDICTS`, then :data:`UNSTABLE`.

    A claim whose id is in ``unstable`` (its verdict or the direction of its effect changed when the
    chapter was re-executed on another instruction set, ``tools/cross_machine.py``) is not a finding:
    it is counted under :data:`UNSTABLE`, not under its verdict.
    """
    if origin not in ORIGINS:
        raise ValueError(f"expected origin in {ORIGINS}, got {origin!r}")
    unstable = set(unstable)
    counts = dict.fromkeys((*VERDICTS, UNSTABLE), 0)
    for r in rows:
        d = r.as_dict() if isinstance(r, Judgement) else r
        if d["origin"] != origin:
            continue
        if d["verdict"] not in VERDICTS:
            raise ValueError(f"claim {d.get('id')!r} has an unknown verdict {d['verdict']!r}; expected one of {VERDICTS}")
        counts[UNSTABLE if d["id"] in unstable else d["verdict"]] += 1
    return counts


def headline(counts: Mapping[str, int], link: str | None = None) -> str:
    """One Markdown sentence: ``"Of the paper's 24 claims the book tests, 9 are reproduced, ..."``.

    Unstable claims (see :func:`summary`) are named after the verdicts, only when there are any.
    """
    total = sum(counts.values())
    parts = [f"**{counts.get(v, 0)} {v}**" for v in VERDICTS]
    where = f" ([the reproducibility report]({link}))" if link else ""
    text = f"Of the paper's {total} claims{where}: " + ", ".join(parts[:-1]) + f" and {parts[-1]}"
    n = counts.get(UNSTABLE, 0)
    if n:
        what = ("its verdict changed", "it is", "a finding") if n == 1 else ("their verdicts changed", "they are",
                                                                           "findings")
        text += (f"; **{n} {UNSTABLE}**: {what[0]} when the chapter ran on another instruction set, so "
                 f"{what[1]} not counted as {what[2]}")
    return text + "."


def defined_tests(path: str | os.PathLike) -> set[str]:
    """Names of the test functions a pytest file defines: ``test_x`` and ``TestY::test_x``.

    The file is parsed, not imported, so nothing in it runs.
    """
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {f"{node.name}::{m.name}" for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name.startswith("test")}
    return names


def missing_tests(ids: Iterable[str], root: str | os.PathLike) -> list[str]:
    """The pytest ids (``"tests/test_x.py::test_name"``) whose file or function does not exist under ``root``."""
    root = Path(root)
    missing, cache = [], {}
    for node_id in ids:
        if not isinstance(node_id, str) or "::" not in node_id or not node_id.split("::", 1)[0].endswith(".py"):
            raise ValueError(f"expected a pytest id like 'tests/test_x.py::test_name', got {node_id!r}")
        file, name = node_id.split("::", 1)
        if file not in cache:
            cache[file] = defined_tests(root / file) if (root / file).is_file() else set()
        if name not in cache[file]:
            missing.append(node_id)
    return missing
