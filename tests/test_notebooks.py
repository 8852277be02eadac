"""Notebook hygiene: stored outputs come from one top-to-bottom run under the book profile.

The smoke-profile re-execution of every chapter is done by nbval (``make test``
passes the notebooks to pytest with ``--nbval-lax``); these tests check what is
stored in the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from coordlib import execute

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("[0-9]*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert [p.name for p in NOTEBOOKS][:1] == ["01_not_so_clevr.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executed_once_top_to_bottom_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"
    errors = [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{path.name} stores error outputs: {[e.ename for e in errors]}"
    assert nb.metadata["coordlib"]["profile"] == "book", "stored outputs must come from `make execute` (book profile)"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_setup_cell_uses_the_configured_repository(path):
    first = code_cells(nbformat.read(path, as_version=4))[0].source
    assert '"google.colab" in sys.modules' in first
    urls = re.findall(r"git\+(\S+?)[\"'\s]", first + " ")
    assert urls == [REPO_URL], f"{path.name}: set-up installs from {urls}, _config.yml says {REPO_URL}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_is_in_the_toc_and_saved_book_results(path):
    toc = (ROOT / "_toc.yml").read_text()
    assert f"file: book/{path.stem}\n" in toc
    saved = json.loads((BOOK / "results" / f"{path.stem}.json").read_text())
    assert saved["profile"] == "book" and saved["notebook"] == path.stem


def test_chapter_map_in_intro_is_generated_from_measured_runtimes():
    runtimes = json.loads((BOOK / "results" / "runtimes.json").read_text())
    assert sorted(runtimes) == [p.stem for p in NOTEBOOKS]
    for name, entry in runtimes.items():
        assert {"book", "smoke"} <= set(entry), f"{name}: run times missing for {set(entry) ^ {'book', 'smoke'}}"
    assert execute.chapter_map(runtimes, BOOK) in (BOOK / "intro.md").read_text()
    assert execute.chapter_map(runtimes, BOOK, link="book/{name}.ipynb") in (ROOT / "README.md").read_text()


def test_chapter_map_links_point_at_the_chapters():
    table = execute.chapter_map({"01_not_so_clevr": {"smoke": {"seconds": 6.0}}}, BOOK, link="book/{name}.ipynb")
    assert "](book/01_not_so_clevr.ipynb) | 6 s | not measured | not measured |" in table
    assert "](01_not_so_clevr) |" in execute.chapter_map({"01_not_so_clevr": {"smoke": {"seconds": 6.0}}}, BOOK)


def _tiny_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('one')"), nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_execute_stores_outputs_profile_and_widget_state(tmp_path, monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    path = tmp_path / "tiny.ipynb"
    _tiny_notebook(path, "import ipywidgets, os\nprint(os.getcwd())\nipywidgets.IntSlider(value=3)")
    execute.execute(path)
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2]
    assert nb.cells[1].outputs[0].text.strip() == str(tmp_path)  # runs in the notebook's folder
    assert nb.metadata["coordlib"]["profile"] == "smoke"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(w["model_name"] == "IntSliderModel" and w["state"]["value"] == 3 for w in state.values())


def test_execute_leaves_a_failing_notebook_untouched(tmp_path):
    from nbclient.exceptions import CellExecutionError

    path = tmp_path / "fails.ipynb"
    _tiny_notebook(path, "raise RuntimeError('boom')")
    before = path.read_bytes()
    with pytest.raises(CellExecutionError, match="boom"):
        execute.execute(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fails.ipynb"]
