"""book/results/*.json: round trip, NaN as null, stats objects, environment, profile folders, refusals, atomicity;
claim checks."""

import json

import numpy as np
import pytest
import torch

from coordlib.book import report, results, stats
from coordlib.book.results import ClaimError


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("COORDLIB_PROFILE", raising=False)
    monkeypatch.delenv("COORDLIB_RESULTS_DIR", raising=False)


def test_round_trip_converts_numpy_and_torch(tmp_path):
    res = {
        "acc": np.float32(0.5),
        "n": np.int64(7),
        "flag": np.bool_(True),
        "curve": np.array([1.0, 2.5]),
        "grid": np.arange(4).reshape(2, 2),
        "loss": torch.tensor(0.25),
        "weights": torch.tensor([[1, 2], [3, 4]]),
        "nested": {"t": (1, 2), 3: "three", "none": None},
    }
    path = results.save("01_demo", res, root=tmp_path)
    assert path == tmp_path / "01_demo.json"
    back = results.load("01_demo", root=tmp_path)
    assert back == {
        "acc": 0.5,
        "n": 7,
        "flag": True,
        "curve": [1.0, 2.5],
        "grid": [[0, 1], [2, 3]],
        "loss": 0.25,
        "weights": [[1, 2], [3, 4]],
        "nested": {"t": [1, 2], "3": "three", "none": None},
    }
    assert type(back["n"]) is int and type(back["flag"]) is bool and type(back["acc"]) is float
    doc = json.loads(path.read_text())
    assert set(doc) == {"notebook", "profile", "environment", "results"}
    assert doc["notebook"] == "01_demo" and doc["profile"] == "book"
    assert doc["environment"]["torch"] == torch.__version__
    assert doc["results"] == back


@pytest.mark.parametrize("profile,sub", [("book", None), ("smoke", "smoke"), ("paper", "paper")])
def test_profile_folders(tmp_path, monkeypatch, profile, sub):
    monkeypatch.setenv("COORDLIB_PROFILE", profile)
    path = results.save("nb", {"x": 1}, root=tmp_path)
    expected = tmp_path / "nb.json" if sub is None else tmp_path / sub / "nb.json"
    assert path == expected and expected.is_file()
    assert json.loads(expected.read_text())["profile"] == profile
    assert results.load("nb", root=tmp_path) == {"x": 1}
    # only that one file was written
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [expected]


def test_explicit_profile_argument_overrides_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    path = results.save("nb", {"x": 2}, profile="paper", root=tmp_path)
    assert path == tmp_path / "paper" / "nb.json"
    with pytest.raises(FileNotFoundError):
        results.load("nb", root=tmp_path)  # smoke folder is empty
    assert results.load("nb", profile="paper", root=tmp_path) == {"x": 2}


def test_results_dir_env_var_changes_root(tmp_path, monkeypatch):
    root = tmp_path / "elsewhere"
    monkeypatch.setenv("COORDLIB_RESULTS_DIR", str(root))
    path = results.save("nb", {"x": 3})
    assert path == root / "nb.json" and path.is_file()
    assert results.load("nb") == {"x": 3}
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    assert results.path_for("nb") == root / "smoke" / "nb.json"


@pytest.mark.parametrize("bad", [float("inf"), np.float64("-inf"), torch.tensor([1.0, float("inf")]),
                                 {"deep": [1.0, float("-inf")]}])
def test_infinities_raise_and_write_nothing(tmp_path, bad):
    with pytest.raises(ValueError, match=r"finite numbers or NaN, got -?inf"):
        results.save("nb", {"v": bad}, profile="book", root=tmp_path)
    assert list(tmp_path.rglob("*")) == []


def test_nan_is_stored_as_null_and_reads_back_as_none(tmp_path):
    res = {"a": float("nan"), "b": np.float64("nan"), "c": torch.tensor([1.0, float("nan")]),
           "d": {"deep": [0.5, np.nan]}, "e": np.array([np.nan, 2.0])}
    path = results.save("nb", res, profile="smoke", root=tmp_path)
    assert path == tmp_path / "smoke" / "nb.json"
    assert "NaN" not in path.read_text()
    assert results.load("nb", profile="smoke", root=tmp_path) == {
        "a": None, "b": None, "c": [1.0, None], "d": {"deep": [0.5, None]}, "e": [None, 2.0]}


def test_objects_with_as_dict_are_stored_as_their_dicts(tmp_path):
    e = stats.estimate([0.9, 0.95, 1.0], (0, 1))
    px = stats.estimate([4.0, 20.0, 30.0], (0, float("inf")))
    c = stats.compare([0.9, 0.92, 0.95], [0.8, 0.83, 0.84])
    eq = stats.equivalence([0.9, 0.92, 0.95], [0.89, 0.93, 0.95], 0.05)
    j = report.judge(report.Claim("x", "a claim", "paper", "at_least", 0.9), e)
    results.save("nb", {"e": e, "px": px, "c": c, "eq": eq, "rows": [j]}, profile="book", root=tmp_path)
    back = results.load("nb", profile="book", root=tmp_path)
    assert back["e"] == e.as_dict() and back["rows"] == [j.as_dict()]
    assert back["px"]["bounds"] == [0.0, None] and stats.Estimate.from_dict(back["px"]) == px
    assert stats.Comparison.from_dict(back["c"]) == c and stats.Equivalence.from_dict(back["eq"]) == eq


def test_environment_records_cpu_model_and_instruction_set(tmp_path):
    path = results.save("nb", {"x": 1}, profile="book", root=tmp_path)
    env = json.loads(path.read_text())["environment"]
    assert {"python", "torch", "machine", "cpu", "cpu_capability", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
            "cuda"} <= set(env)
    assert env["cpu"] == results.cpu_model() and isinstance(env["cpu"], str) and env["cpu"]
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert env == results.environment()


def test_environment_records_the_isa_variables(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    env = results.environment()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] is None


@pytest.mark.parametrize("name", ["a/b", "x.json", "x.ipynb", "a\\b", ""])
def test_bad_notebook_names(tmp_path, name):
    with pytest.raises(ValueError):
        results.save(name, {"x": 1}, root=tmp_path)
    with pytest.raises(ValueError):
        results.load(name, root=tmp_path)
    assert list(tmp_path.rglob("*")) == []


def test_load_missing_mentions_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        results.load("02_missing", root=tmp_path)
    assert str(tmp_path / "02_missing.json") in str(err.value)


def test_load_foreign_file_raises_valueerror(tmp_path):
    (tmp_path / "nb.json").write_text('{"something": 1}')
    with pytest.raises(ValueError):
        results.load("nb", root=tmp_path)


def test_failed_save_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):
        results.save("nb", {"x": object()}, root=tmp_path)
    with pytest.raises(TypeError):
        results.save("nb", {"x": {1, 2}}, root=tmp_path)
    assert list(tmp_path.rglob("*")) == []


def test_failed_save_keeps_previous_file(tmp_path):
    path = results.save("nb", {"x": 1}, root=tmp_path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        results.save("nb", {"x": object()}, root=tmp_path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_claim_smoke_does_not_raise(monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    assert results.claim("2 + 2 == 5", False) is False
    assert results.claim("2 + 2 == 4", True) is True
    assert results.claim("numpy false", np.bool_(False)) is False


@pytest.mark.parametrize("profile", ["book", "paper"])
def test_claim_strict_profiles_raise(monkeypatch, profile):
    monkeypatch.setenv("COORDLIB_PROFILE", profile)
    assert issubclass(ClaimError, AssertionError)
    with pytest.raises(ClaimError) as err:
        results.claim("CoordConv test accuracy is 100%", False)
    assert "CoordConv test accuracy is 100%" in str(err.value)
    assert results.claim("true claim", True) is True
    assert results.claim("tensor claim", torch.tensor(True)) is True


def test_claim_profile_argument_overrides_env(monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    with pytest.raises(AssertionError):
        results.claim("x", False, profile="book")
    monkeypatch.setenv("COORDLIB_PROFILE", "paper")
    assert results.claim("x", False, profile="smoke") is False
