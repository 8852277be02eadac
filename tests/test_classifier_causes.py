"""tools/classifier_causes.py: every arm stored as soon as it is done, none run twice."""

import importlib.util
import json
from pathlib import Path

import pytest

from coordlib.book import causes

_spec = importlib.util.spec_from_file_location(
    "classifier_causes", Path(__file__).resolve().parents[1] / "tools" / "classifier_causes.py")
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)


def _fake_run(change, *, seed, split, epochs, train_limit=None):
    return {"max_epochs": epochs, "solved_at": 1, "train": {"accuracy": 1.0},
            "test": {"accuracy": 1.0}, "seconds": 0.0, "curve": []}


def test_arms_are_stored_and_not_rerun(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(causes, "arm_run", _fake_run)
    out = tmp_path / "causes.json"
    assert cc.main(["--epochs", "2", "--long-epochs", "4", "--out", str(out)]) == 0
    done = json.loads(out.read_text())
    assert sorted(done) == sorted(n for n, _ in causes.ARMS)
    first = done[causes.ARMS[0][0]]
    assert (first["seed"], first["split"], first["max_epochs"]) == (2, "quadrant", 4)
    assert capsys.readouterr().out.count("solved at epoch 1") == 6
    text = out.read_text()
    cc.main(["--epochs", "2", "--long-epochs", "4", "--out", str(out)])
    assert capsys.readouterr().out == "" and out.read_text() == text


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "expected 1 <= --epochs <= --long-epochs, got 0 and 20"),
    (["--epochs", "9", "--long-epochs", "3"], "got 9 and 3"),
    (["--split", "diagonal"], "invalid choice: 'diagonal'"),
])
def test_bad_arguments_are_refused_with_what_was_expected(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        cc.main([*argv, "--out", str(tmp_path / "x.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
