"""tools/regressor_seeds.py: the released regressor at the release's settings, one record per split and seed."""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "regressor_seeds", Path(__file__).resolve().parents[1] / "tools" / "regressor_seeds.py")
rs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rs)


def test_a_run_is_recorded_at_the_release_settings_and_not_repeated(tmp_path, capsys):
    out = tmp_path / "seeds.json"
    assert rs.main(["--splits", "quadrant", "--seeds", "3", "--epochs", "1", "--out", str(out)]) == 0
    done = json.loads(out.read_text())
    assert list(done) == ["quadrant/3"]
    run = done["quadrant/3"]
    assert run["settings"] == {"lr": 0.01, "l2": 1e-5, "batch_size": 256}  # README; util.py's default batch
    assert run["params"] == 906 and run["epochs"] == 1 and run["max_epochs"] == 1
    assert [p["epoch"] for p in run["curve"]] == [1] and run["curve"][0]["test_error_px"] == run["test"]["error_px"]
    assert run["solved_at"] is None and 0.0 <= run["test"]["accuracy"] <= 1.0
    first = out.read_text()
    rs.main(["--splits", "quadrant", "--seeds", "3", "--epochs", "1", "--out", str(out)])
    assert "quadrant/3: already done" in capsys.readouterr().out and out.read_text() == first


@pytest.mark.parametrize("argv, message", [
    (["--splits", "diagonal"], "unknown splits ['diagonal']; valid: uniform, quadrant"),
    (["--seeds", "a,b"], "expected comma-separated integer seeds, got 'a,b'"),
    (["--epochs", "0"], "expected --epochs >= 1 and at least one seed, got 0"),
])
def test_bad_arguments_are_refused_with_what_was_expected(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        rs.main([*argv, "--out", str(tmp_path / "x.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()

