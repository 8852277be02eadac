"""tools/release_seeds.py: chapter 4's models at the release's settings, one record per split and seed."""

import importlib.util
import json
from pathlib import Path

import pytest

from coordlib import models
from coordlib.book import profiles, results, tasks

_spec = importlib.util.spec_from_file_location(
    "release_seeds", Path(__file__).resolve().parents[1] / "tools" / "release_seeds.py")
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
    assert run["cpu_capability"] == results.environment()["cpu_capability"]
    first = out.read_text()
    rs.main(["--splits", "quadrant", "--seeds", "3", "--epochs", "1", "--out", str(out)])
    assert "quadrant/3: already done" in capsys.readouterr().out and out.read_text() == first


@pytest.mark.parametrize("argv, message", [
    (["--task", "rendering"], "invalid choice: 'rendering'"),
    (["--splits", "diagonal"], "unknown splits ['diagonal']; valid: uniform, quadrant"),
    (["--seeds", "a,b"], "expected comma-separated integer seeds, got 'a,b'"),
    (["--epochs", "0"], "expected --epochs >= 1 and at least one seed, got 0"),
])
def test_bad_arguments_are_refused_with_what_was_expected(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        rs.main([*argv, "--out", str(tmp_path / "x.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()



def test_the_classifier_runs_at_the_release_settings_up_to_its_50_epochs(tmp_path, monkeypatch):
    seen = {}

    def fake_run(task_name, make_model, split, **kw):
        seen.update(task=task_name, model=make_model(), split=split, **kw)
        raise SystemExit("stop after the call")  # the wiring is what is tested

    monkeypatch.setattr(tasks, "run", fake_run)
    with pytest.raises(SystemExit, match="stop after the call"):
        rs.main(["--task", "classification", "--splits", "uniform", "--seeds", "4",
                 "--out", str(tmp_path / "c.json")])
    assert seen["task"] == "classification" and seen["split"] == "uniform" and seen["seed"] == 4
    assert (seen["epochs"], seen["lr"], seen["l2"], seen["batch_size"]) == (50, 0.005, 1e-3, 16)
    assert seen["stop_when_solved"] is True
    model = seen["model"]
    assert isinstance(model, models.CoordConvClassifier)
    assert model.inputs == profiles.settings("coordconv", "book")["inputs"]
    assert not (tmp_path / "c.json").exists()


def test_each_model_has_its_own_file():
    assert rs.OUT["regression"].name == "released_regressor.json"
    assert rs.OUT["classification"].name == "released_classifier.json"
