"""tools/gpu_check.py: on a machine without CUDA it stops clearly; its slices run and project on the CPU."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run on it")
def test_without_cuda_it_stops_says_so_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "gpu" / "report.json"
    assert gpu_check.main(["--out", str(out)]) == 2
    assert "no CUDA device on this machine" in capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["environment"]["cuda"] is False and report["environment"]["device"] == "cuda"
    assert "slices" not in report and "smoke" not in report


def test_a_run_off_cuda_never_writes_into_the_books_gpu_results(monkeypatch, tmp_path, capsys):
    default = tmp_path / "gpu" / "gpu_check.json"
    monkeypatch.setattr(gpu_check, "DEFAULT_OUT", default)
    assert gpu_check.main(["--device", "cpu", "--quick", "--skip-smoke", "--only", "detection"]) == 0
    assert not default.exists()
    assert "nothing written to" in capsys.readouterr().err


def test_cpu_self_test_projects_units_times_seconds(tmp_path):
    out = tmp_path / "report.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--skip-smoke", "--only", "detection",
                           "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    det = report["slices"]["detection"]
    assert det["profile"] == "smoke" and set(det["parts"]) == {"conv", "coordconv"}
    steps = 20 * 2  # the smoke profile: 20 RPN steps, seeds 0 and 1
    for part in det["parts"].values():
        assert part["units"] == steps and part["unit_seconds"] > 0
        assert part["projected_seconds"] == pytest.approx(part["unit_seconds"] * steps, abs=0.1)
    assert det["projected_seconds"] == pytest.approx(sum(p["projected_seconds"] for p in det["parts"].values()))


def test_every_gpu_experiment_has_a_slice_and_bad_names_are_refused(capsys):
    from coordlib.book import profiles

    assert set(gpu_check.SLICES) == set(profiles.experiments()) - {"not_so_clevr"}
    with pytest.raises(SystemExit):
        gpu_check.main(["--device", "cpu", "--only", "nonsense"])
    assert "unknown experiments ['nonsense']" in capsys.readouterr().err


def test_a_sweep_is_timed_once_per_architecture_and_counted_per_setting():
    from coordlib.book import profiles

    s = profiles.settings("conv_fails", "smoke")
    assert gpu_check._sweep_units(s, "cpu", 7) == {}  # one setting: nothing to sweep
    s = {**s, "sweep": {**s["sweep"], "lr": [1e-3, 1e-2, 5e-2], "kernel_size": [2, 3]}}
    units = gpu_check._sweep_units(s, "cpu", 7)
    assert sorted(units) == ["sweep width=1 kernel=2 batch=32", "sweep width=1 kernel=3 batch=32"]
    for sec, n in units.values():
        assert sec > 0 and n == 3 * 7  # three learning rates share each architecture


def test_the_paper_profile_is_a_choice_and_others_are_refused(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--device", "cpu", "--profile", "book"])
    assert "invalid choice: 'book'" in capsys.readouterr().err
