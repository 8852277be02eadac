"""The package's layout: dependencies point one way, paths come from the checkout, checks share one wording."""

import ast
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from coordlib import _checks, _paths
from coordlib.book import results
from coordlib.training import checkpoint

PACKAGE = Path(__file__).resolve().parents[1] / "coordlib"
# A subpackage may import only subpackages of a lower rank (and the private helpers _io, _checks, _paths).
RANK = {"layers": 0, "datasets": 1, "models": 2, "metrics": 3, "training": 4, "rl": 5, "programs": 5, "book": 6}
PRIVATE = {"_io", "_checks", "_paths"}


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The coordlib subpackages (or private helpers) that ``path`` imports, absolute or relative."""
    parts = path.relative_to(package.parent).with_suffix("").parts  # ("coordlib", "models", "rpn")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(parts[: len(parts) - node.level])
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            if module[:1] == ["coordlib"]:
                if len(module) > 1:
                    found.add(module[1])
                else:  # from coordlib import x, y
                    found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module = alias.name.split(".")
                if module[0] == "coordlib" and len(module) > 1:
                    found.add(module[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_dependencies_point_one_way(path):
    own = path.relative_to(PACKAGE).parts[0]
    for target in _imports(path) - {own} - PRIVATE:
        assert target in RANK, f"{path.name} imports an unknown part coordlib.{target}"
        assert RANK[target] < RANK[own], f"coordlib.{own} must not import coordlib.{target} ({path.name})"


def test_the_layout_check_sees_forbidden_imports(tmp_path):
    bad = tmp_path / "coordlib" / "layers" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from coordlib.book import results\nfrom ..training import fit\nimport coordlib.models.rpn\n"
                   "from coordlib import _checks\n")
    assert _imports(bad, tmp_path / "coordlib") == {"book", "training", "models", "_checks"}


def test_every_module_of_the_package_is_in_a_subpackage():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "_checks.py", "_io.py", "_paths.py"]
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(RANK)


def test_results_are_found_from_the_checkout_not_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(results.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    repo = _paths.repository()
    assert repo == PACKAGE.parent
    assert results.results_dir("book") == repo / "book" / "results"
    assert results.results_dir("smoke") == repo / "book" / "results" / "smoke"
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path / "elsewhere"))
    assert results.results_dir("book") == tmp_path / "elsewhere"


def test_no_repository_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(_paths, "_PACKAGE", tmp_path / "site-packages" / "coordlib")
    assert _paths.repository() is None


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_integer_accepts_ints(value):
    assert _checks.integer("f", "n", value) == int(value)
    assert type(_checks.integer("f", "n", value)) is int


@pytest.mark.parametrize(
    "value, minimum, error, message",
    [
        (0, 1, ValueError, r"^f expected n as an int >= 1, got 0$"),
        (-1, 0, ValueError, r"^f expected n as an int >= 0, got -1$"),
        (2.0, 1, TypeError, r"^f expected n as an int >= 1, got float 2.0$"),
        (True, 1, TypeError, r"^f expected n as an int >= 1, got bool True$"),
        ("3", 1, TypeError, r"^f expected n as an int >= 1, got str '3'$"),
    ],
)
def test_integer_refuses_with_one_wording(value, minimum, error, message):
    with pytest.raises(error, match=message):
        _checks.integer("f", "n", value, minimum)


def test_integer_gives_the_reason_for_its_minimum():
    with pytest.raises(ValueError, match=r"^f expected size as an int >= 16 \(two must fit\), got 15$"):
        _checks.integer("f", "size", 15, 16, why="two must fit")


def test_choice_and_boxes():
    assert _checks.choice("rpn", "padding", "valid", ("valid", "same")) == "valid"
    with pytest.raises(ValueError, match=r"^rpn expected padding as one of 'valid', 'same', got 'full'$"):
        _checks.choice("rpn", "padding", "full", ("valid", "same"))
    boxes = torch.zeros(3, 4)
    assert _checks.boxes(boxes, "f") is boxes
    with pytest.raises(TypeError, match="f expected a torch.Tensor of shape"):
        _checks.boxes([[0, 0, 1, 1]], "f")
    with pytest.raises(ValueError, match=r"got shape \(3, 5\)"):
        _checks.boxes(torch.zeros(3, 5), "f")


def test_checkpoint_core_round_trip_and_refusals(tmp_path):
    path = tmp_path / "run" / "state.pt"
    path.parent.mkdir()
    checkpoint.write_state(path, {"format": "demo/1", "seed": 3, "w": torch.arange(4.0)})
    state = checkpoint.read_state(path, "demo/1")
    assert state["seed"] == 3 and torch.equal(state["w"], torch.arange(4.0))
    assert sorted(os.listdir(path.parent)) == ["state.pt"]  # no temporary file left behind
    with pytest.raises(checkpoint.CheckpointError, match="is not a demo checkpoint of format 'demo/2'"):
        checkpoint.read_state(path, "demo/2", what="demo checkpoint")
    checkpoint.check_matches(state, path, seed=3)
    with pytest.raises(checkpoint.CheckpointError, match="trained with seed 3, but this run has seed 4"):
        checkpoint.check_matches(state, path, seed=4)
    path.write_bytes(b"not a zip")
    with pytest.raises(checkpoint.CheckpointError, match="cannot be read"):
        checkpoint.read_state(path, "demo/1")
    with pytest.raises(FileNotFoundError):
        checkpoint.read_state(tmp_path / "missing.pt", "demo/1")
    with pytest.raises(ValueError, match="with a 'format' entry"):
        checkpoint.write_state(path, {"seed": 1})
