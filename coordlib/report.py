"""The reproducibility report (chapter 8): verdict rules, number formatting, test look-up.

A claim of the paper is set beside this book's measurement, an estimate across
seeds: a mapping ``{"mean", "ci_low", "ci_high", "n"}`` as written by
``Estimate.as_dict()`` into ``book/results/*.json``, a ``stats.Estimate``, a
plain number (an exact measurement, e.g. a parameter ratio), or ``None`` (not
measured). :func:`judge` compares it with the published value by one of a few
stated rules (:data:`KINDS`) and returns one of :data:`VERDICTS` with the reason.
Chapters that judged a claim themselves store a verdict string; :func:`category`
maps it onto the same four verdicts.
"""

from __future__ import annotations

import ast
import math
import os
import re
from numbers import Real
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = [
    "VERDICTS", "KINDS", "interval", "judge", "verdict", "category", "comparison_verdict",
    "fmt_estimate", "paper_text", "defined_tests", "missing_tests",
]

#: The four verdicts of the report, in the order the summary lists them.
VERDICTS = ("reproduced", "partly", "not reproduced", "not tested")

#: How a published value is read (see :func:`judge`).
KINDS = ("at_least", "at_most", "approx", "within", "lower_bound")

_EPS = 1e-12  # float slack: an interval of identical per-seed values equals its mean to rounding


def interval(measured: Any) -> tuple[float, float, float, int] | None:
    """``(mean, low, high, n)`` of a measurement, or ``None`` if it was not measured.

    Accepts ``None``; a real number (an exact value: ``low == high == mean``,
    ``n == 1``); a mapping with ``mean``, ``ci_low``, ``ci_high`` and ``n``; or an
    object with attributes ``mean``, ``low``, ``high`` and ``n`` (``stats.Estimate``).
    """
    if measured is None:
        return None
    if isinstance(measured, bool):
        raise TypeError(f"expected a number, an estimate or None, got the bool {measured!r}")
    if isinstance(measured, Real):
        v = float(measured)
        values = (v, v, v, 1)
    elif isinstance(measured, Mapping):
        missing = {"mean", "ci_low", "ci_high", "n"} - set(measured)
        if missing:
            raise ValueError(f"an estimate needs keys mean, ci_low, ci_high, n; "
                             f"missing {sorted(missing)} in {dict(measured)!r}")
        values = (float(measured["mean"]), float(measured["ci_low"]), float(measured["ci_high"]), int(measured["n"]))
    elif all(hasattr(measured, a) for a in ("mean", "low", "high", "n")):
        values = (float(measured.mean), float(measured.low), float(measured.high), int(measured.n))
    else:
        raise TypeError(f"expected a number, an estimate (mapping or stats.Estimate) or None, "
                        f"got {type(measured).__name__}")
    mean, low, high, n = values
    if not all(math.isfinite(v) for v in (mean, low, high)):
        raise ValueError(f"an estimate must be finite, got mean {mean}, interval [{low}, {high}]")
    if not low - _EPS <= mean <= high + _EPS or n < 1:
        raise ValueError(f"expected ci_low <= mean <= ci_high and n >= 1, got {mean} [{low}, {high}], n={n}")
    return values


def _show(low: float, high: float) -> str:
    return f"value {low:.3g}" if abs(high - low) <= _EPS else f"95% CI [{low:.3g}, {high:.3g}]"


def judge(measured: Any, paper_value: Any, kind: str, tol: float = 0.0,
          null: float | None = None) -> tuple[str, str]:
    """The verdict on one claim and the reason for it, as ``(verdict, reason)``.

    ``measured`` as in :func:`interval`; ``None`` gives ``"not tested"``. With
    ``[low, high]`` the measurement's 95% CI (a single value has ``low == high``)
    and ``t`` the published value, the rules are:

    * ``at_least`` (a level the paper's model reached: 100%, perfect): reproduced
      if ``low >= t - tol``, not reproduced if ``high < t - tol``, else partly;
    * ``at_most`` (a ceiling: "~0%", "never above 86%"): reproduced if
      ``high <= t + tol``, not reproduced if ``low > t + tol``, else partly;
    * ``approx`` (a number to match): reproduced if ``t`` lies in
      ``[low - tol, high + tol]``, else not reproduced;
    * ``within`` (``paper_value = (a, b)``, a published range): reproduced if
      ``[low, high]`` lies in ``[a - tol, b + tol]``, not reproduced if it lies
      wholly outside, else partly;
    * ``lower_bound`` (the measurement bounds the true value from below, e.g. a
      speed-up over a baseline that never finished): reproduced if
      ``low >= t - tol``; otherwise it cannot refute the claim: partly if
      ``low > null`` (the no-effect value, required), else not tested.
    """
    if kind not in KINDS:
        raise ValueError(f"expected kind in {KINDS}, got {kind!r}")
    if not isinstance(tol, Real) or isinstance(tol, bool) or not tol >= 0:
        raise ValueError(f"expected a tolerance >= 0, got {tol!r}")
    if kind == "within":
        if not (isinstance(paper_value, (tuple, list)) and len(paper_value) == 2 and paper_value[0] <= paper_value[1]):
            raise ValueError(f"kind 'within' needs paper_value = (low, high) with low <= high, got {paper_value!r}")
    elif not isinstance(paper_value, Real) or isinstance(paper_value, bool):
        raise ValueError(f"kind {kind!r} needs a numeric paper_value, got {paper_value!r}")
    if kind == "lower_bound" and null is None:
        raise ValueError("kind 'lower_bound' needs null, the value that means no effect (e.g. 1 for a speed-up)")
    est = interval(measured)
    if est is None:
        return "not tested", "not measured"
    _, low, high, _ = est
    shown = _show(low, high)
    if kind == "at_least":
        t = paper_value - tol
        if low >= t - _EPS:
            return "reproduced", f"{shown} >= {t:g}"
        if high < t - _EPS:
            return "not reproduced", f"{shown} < {t:g}"
        return "partly", f"{shown} straddles {t:g}"
    if kind == "at_most":
        t = paper_value + tol
        if high <= t + _EPS:
            return "reproduced", f"{shown} <= {t:g}"
        if low > t + _EPS:
            return "not reproduced", f"{shown} > {t:g}"
        return "partly", f"{shown} straddles {t:g}"
    if kind == "approx":
        window = f"{paper_value:g} ± {tol:g}"
        if low - tol - _EPS <= paper_value <= high + tol + _EPS:
            return "reproduced", f"{shown} meets {window}"
        side = "below" if high + tol < paper_value else "above"
        return "not reproduced", f"{shown} {side} {window}"
    if kind == "within":
        a, b = paper_value[0] - tol, paper_value[1] + tol
        if low >= a - _EPS and high <= b + _EPS:
            return "reproduced", f"{shown} inside [{a:g}, {b:g}]"
        if high < a - _EPS or low > b + _EPS:
            return "not reproduced", f"{shown} outside [{a:g}, {b:g}]"
        return "partly", f"{shown} overlaps [{a:g}, {b:g}]"
    # lower_bound
    t = paper_value - tol
    if low >= t - _EPS:
        return "reproduced", f"lower bound {low:.3g} >= {t:g}"
    if low > null + _EPS:
        return "partly", f"lower bound {low:.3g} < {t:g}: an effect (> {null:g}), its size not shown"
    return "not tested", f"lower bound {low:.3g} <= {null:g}: says nothing about {t:g}"


def verdict(measured: Any, paper_value: Any, kind: str, tol: float = 0.0, null: float | None = None) -> str:
    """The verdict of :func:`judge` without its reason."""
    return judge(measured, paper_value, kind, tol, null)[0]


def category(text: str) -> str:
    """Map a chapter's own verdict string onto :data:`VERDICTS`.

    ``"reproduced"``, ``"partly (2 of 3 seeds)"``, ``"not reproduced (...)"`` map
    to themselves without the detail; ``"not measurable (...)"`` and
    ``"not tested (...)"`` map to ``"not tested"``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a verdict string, got {type(text).__name__}")
    t = text.strip().lower()
    for prefix, result in (("reproduced", "reproduced"), ("partly", "partly"), ("not reproduced", "not reproduced"),
                           ("not tested", "not tested"), ("not measurable", "not tested")):
        if t == prefix or t.startswith(prefix + " ") or t.startswith(prefix + "("):
            return result
    raise ValueError(f"cannot read {text!r} as a verdict: expected it to start with one of "
                     f"{', '.join(repr(v) for v in VERDICTS)} or 'not measurable'")


def comparison_verdict(better: str, p: float | None = None, alpha: float = 0.05) -> tuple[str, str]:
    """Verdict on a qualitative "CoordConv is better" claim from a two-arm comparison.

    ``better`` is the chapter's answer to "is the CoordConv arm's mean better?":
    it starts with ``"yes"``, ``"no"`` or ``"not measurable"``. ``p`` is Welch's
    p-value of the difference (``None`` if it could not be computed, e.g. one
    seed). Rules: yes with ``p < alpha``: reproduced; yes otherwise: partly
    (better on average, not significantly); no: not reproduced; not
    measurable: not tested.
    """
    if not isinstance(better, str):
        raise TypeError(f"expected the chapter's 'yes'/'no'/'not measurable' string, got {type(better).__name__}")
    if not 0 < alpha < 1:
        raise ValueError(f"expected alpha in (0, 1), got {alpha!r}")
    word = better.strip().lower()
    if p is not None and not (isinstance(p, Real) and 0 <= p <= 1):
        raise ValueError(f"expected a p-value in [0, 1] or None, got {p!r}")
    shown = "no test" if p is None else f"p = {p:.2g}"
    if word.startswith("not measurable"):
        return "not tested", better.strip()
    if re.match(r"yes\b", word):
        if p is not None and p < alpha:
            return "reproduced", f"CoordConv better, {shown} < {alpha:g}"
        return "partly", f"CoordConv better on average, {shown}" + ("" if p is None else f" >= {alpha:g}")
    if re.match(r"no\b", word):
        return "not reproduced", f"CoordConv not better ({shown})"
    raise ValueError(f"expected a string starting with 'yes', 'no' or 'not measurable', got {better!r}")


def fmt_estimate(measured: Any, pct: bool = True, bounds: tuple[float, float] | None = (0.0, 1.0),
                 signed: bool = False, unit: str = "seeds") -> str:
    """``"92.3% [59.3%, 100.0%], 3 seeds"``: mean and 95% CI for a table.

    The interval is clipped to ``bounds`` for display (a Student-t interval on
    three accuracies can reach past 100%); ``None`` gives ``"not measured"``; a
    single run shows no interval.
    """
    est = interval(measured)
    if est is None:
        return "not measured"
    mean, low, high, n = est
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    sign = "+" if signed else ""
    f = (lambda v: f"{v:{sign}.1%}") if pct else (lambda v: f"{v:{sign}.3g}")
    if n == 1:
        return f"{f(mean)}, 1 {unit[:-1] if unit.endswith('s') else unit}"
    return f"{f(mean)} [{f(low)}, {f(high)}], {n} {unit}"


def paper_text(value: Any, kind: str = "approx", pct: bool = True, signed: bool = False) -> str:
    """A published value as the table shows it: ``"at most 86%"``, ``"10-100"``, ``"words only"``."""
    if kind not in KINDS:
        raise ValueError(f"expected kind in {KINDS}, got {kind!r}")
    sign = "+" if signed else ""
    f = (lambda v: f"{v * 100:{sign}g}%") if pct else (lambda v: f"{v:{sign}g}")
    if value is None:
        return "words only"
    if kind == "within":
        return f"{f(value[0])}-{f(value[1])}"
    return {"at_most": "at most ", "lower_bound": ""}.get(kind, "") + f(value)


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
