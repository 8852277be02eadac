"""tools/cross_machine.py: comparing a chapter's verdicts and effect signs across instruction sets."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "cross_machine", Path(__file__).resolve().parents[1] / "tools" / "cross_machine.py")
cm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cm)


def _row(id_, verdict, diff=None, equivalence=False):
    est = None if diff is None else {"diff": {"mean": diff}}
    if equivalence and est is not None:
        est = {"comparison": est, "margin": 0.03, "p": 0.2}
    return {"id": id_, "claim": f"claim {id_}", "verdict": verdict, "estimate": est}


def test_effect_sign_reads_comparisons_and_equivalences_only():
    assert cm.effect_sign(_row("a", "reproduced", 0.12)) == 1
    assert cm.effect_sign(_row("a", "reproduced", -0.5, equivalence=True)) == -1
    assert cm.effect_sign(_row("a", "reproduced", 0.0)) == 0
    assert cm.effect_sign(_row("a", "reproduced")) is None
    assert cm.effect_sign({"id": "a", "estimate": {"mean": 0.9, "ci_low": 0.8}}) is None


def test_a_flipped_direction_or_verdict_is_unstable_and_missing_claims_count():
    stored = [_row("same", "inconclusive", 0.1), _row("flip", "inconclusive", 0.1),
              _row("verdict", "reproduced"), _row("gone", "reproduced")]
    rerun = [_row("same", "inconclusive", 0.3), _row("flip", "inconclusive", -0.1),
             _row("verdict", "contradicted"), _row("new", "reproduced")]
    out = {c["id"]: c for c in cm.compare_verdicts(stored, rerun)}
    assert out["same"]["stable"] is True
    assert out["flip"]["stable"] is False and (out["flip"]["stored_sign"], out["flip"]["rerun_sign"]) == (1, -1)
    assert out["verdict"]["stable"] is False and out["verdict"]["rerun"] == "contradicted"
    assert out["gone"]["stable"] is False and out["gone"]["rerun"] is None
    assert out["new"]["stable"] is False and out["new"]["stored"] is None


def test_same_numbers_tells_a_rerun_that_measured_nothing_new():
    stored = [_row("same", "inconclusive", 0.1), _row("moved", "inconclusive", 0.1)]
    rerun = [_row("same", "inconclusive", 0.1), _row("moved", "inconclusive", 0.2)]
    out = {c["id"]: c for c in cm.compare_verdicts(stored, rerun)}
    assert out["same"]["same_numbers"] is True and out["same"]["stable"] is True
    assert out["moved"]["same_numbers"] is False and out["moved"]["stable"] is True
    gone = cm.compare_verdicts([_row("gone", "reproduced")], [])
    assert gone[0]["same_numbers"] is False


def test_unknown_instruction_set_is_refused():
    with pytest.raises(ValueError, match="expected --isa in"):
        cm.rerun(Path("book/01_not_so_clevr.ipynb"), "avx9000", 10)
