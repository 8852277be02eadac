"""tools/gan_budget.py: validity against iterations, written per configuration."""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "gan_budget", Path(__file__).resolve().parents[1] / "tools" / "gan_budget.py")
gb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gb)

TINY = ["--sizes", "16", "--widths", "2", "--z", "4", "--images", "32", "--iterations", "4", "--every", "2",
        "--samples", "6"]


def test_each_configuration_gets_a_curve_of_both_validities_in_both_batchnorm_modes(tmp_path):
    out = tmp_path / "budget.json"
    assert gb.main([*TINY, "--arms", "deconv,coordconv", "--out", str(out)]) == 0
    done = json.loads(out.read_text())
    assert sorted(done) == ["coordconv size=16 width=2 z=4 d_sees=released seed=0",
                            "deconv size=16 width=2 z=4 d_sees=released seed=0"]
    run = done["deconv size=16 width=2 z=4 d_sees=released seed=0"]
    assert [r["step"] for r in run["curve"]] == [2, 4]
    for r in run["curve"]:
        for k in ("strict_running", "loose_running", "strict_batch", "loose_batch"):
            assert 0.0 <= r[k] <= 1.0 and r[k] * 6 == round(r[k] * 6)  # a share of 6 samples
    assert run["settings"]["g_steps"] == 2 and run["settings"]["lr_d"] == 1e-4  # the release's


def test_a_second_run_adds_to_the_file_and_the_corrected_variant_has_its_own_key(tmp_path):
    out = tmp_path / "budget.json"
    gb.main([*TINY, "--arms", "coordconv", "--out", str(out)])
    gb.main([*TINY, "--arms", "coordconv", "--d-sees", "images", "--out", str(out)])
    assert sorted(json.loads(out.read_text())) == ["coordconv size=16 width=2 z=4 d_sees=images seed=0",
                                                   "coordconv size=16 width=2 z=4 d_sees=released seed=0"]


@pytest.mark.parametrize("argv, message", [
    (["--arms", "vae"], "unknown arms ['vae']; valid: deconv, coordconv"),
    (["--every", "5", "--iterations", "4"], "expected 1 <= --every <= --iterations, got --every 5"),
])
def test_bad_arguments_are_refused_with_what_was_expected(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        gb.main([*argv, "--out", str(tmp_path / "x.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
