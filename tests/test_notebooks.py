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

from coordlib.book import execute, report

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
def test_stored_outputs_come_from_the_code_as_it_is(path):
    nb = nbformat.read(path, as_version=4)
    executed = nb.metadata["coordlib"].get("code_sha256")
    assert executed is not None, f"{path.name}: no code hashes; re-run it with `make execute`"
    now = execute.code_hashes(nb)
    changed = [i for i, (a, b) in enumerate(zip(executed, now)) if a != b]
    assert len(executed) == len(now) and not changed, (
        f"{path.name}: code cells {changed or 'count'} differ from what was executed; re-run `make execute`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_saved_widgets_or_progress_bars(path):
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"
    widget_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                      for o in c.outputs if execute.WIDGET_MIME in o.get("data", {})]
    assert widget_outputs == [], f"{path.name}: widget outputs in cells {widget_outputs}"
    bars = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.get("name") == "stderr" and re.search(r"\d+%\|", o.get("text", ""))]
    assert bars == [], f"{path.name}: progress bars stored in cells {bars}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_plumbing_hidden_and_code_fits_the_column(path):
    nb = nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    assert "remove-input" in cells[0].metadata.get("tags", []), f"{path.name}: the Colab set-up cell is visible"
    assert {"hide-input", "remove-input"} & set(cells[-1].metadata.get("tags", [])), (
        f"{path.name}: the closing environment cell is visible")
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        assert "NBVAL_CHECK_OUTPUT" not in c.source, f"{path.name} cell {i}: use the nbval-check-output tag"
        long = [line for line in c.source.splitlines() if len(line) > 88]
        assert not long, f"{path.name} cell {i}: code lines over 88 characters: {long[:2]}"
        if "results.save(" in c.source:
            assert {"hide-input", "remove-input"} & set(c.metadata.get("tags", [])), f"{path.name} cell {i}: save visible"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.stem.startswith("08")], ids=lambda p: p.stem)
def test_chapter_saves_its_judged_claims(path):
    saved = json.loads((BOOK / "results" / f"{path.stem}.json").read_text())
    verdicts = saved["results"]["verdicts"]
    assert isinstance(verdicts, list)
    for v in verdicts:
        assert v["verdict"] in report.VERDICTS and v["origin"] in report.ORIGINS, v
        assert v["chapter"] == path.stem, v
    assert {"cpu", "cpu_capability"} <= set(saved["environment"])


def test_nothing_cites_files_outside_the_repository():
    pattern = re.compile(r"PAPER\.md|DESIGN\.md|\.\./shared")
    skip = {".git", ".venv", "_build", "__pycache__", ".pytest_cache", "node_modules"}
    hits = []
    for path in ROOT.rglob("*"):
        if skip & set(path.relative_to(ROOT).parts) or not path.is_file() or path.suffix not in {
                ".py", ".md", ".ipynb", ".bib", ".yml", ".toml", ".cfg", ".txt", ".json", ""}:
            continue
        if path == Path(__file__):
            continue
        text = path.read_text(errors="ignore")
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert hits == [], f"citations of files outside the repository: {hits[:10]}"


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


def test_execute_stores_outputs_profile_and_hashes_but_no_widgets(tmp_path, monkeypatch):
    monkeypatch.setenv("COORDLIB_PROFILE", "smoke")
    path = tmp_path / "tiny.ipynb"
    source = ("import ipywidgets, os\nfrom tqdm.auto import tqdm\nprint(os.getcwd())\n"
              "for _ in tqdm(range(3)): pass\nout = ipywidgets.Output()\nwith out:\n    print('in a widget')\n"
              "display(out)\nipywidgets.IntSlider(value=3)")
    _tiny_notebook(path, source)
    execute.execute(path)
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2]
    assert nb.cells[1].outputs[0].text.strip() == str(tmp_path)  # runs in the notebook's folder
    assert nb.metadata["coordlib"]["profile"] == "smoke"
    assert nb.metadata["coordlib"]["code_sha256"] == execute.code_hashes(nb)
    assert len(execute.code_hashes(nb)[1]) == 64 and execute.code_hashes(nb)[0] != execute.code_hashes(nb)[1]
    assert "widgets" not in nb.metadata
    mimes = [k for o in nb.cells[1].outputs for k in o.get("data", {})]
    assert execute.WIDGET_MIME not in mimes and "text/plain" not in mimes  # the slider's output went with it
    assert not any(o.get("name") == "stderr" for o in nb.cells[1].outputs)  # no progress bar
    nb.cells[1].source += "\n"
    assert nb.metadata["coordlib"]["code_sha256"] != execute.code_hashes(nb)  # an edit is seen


def test_execute_leaves_a_failing_notebook_untouched(tmp_path):
    from nbclient.exceptions import CellExecutionError

    path = tmp_path / "fails.ipynb"
    _tiny_notebook(path, "raise RuntimeError('boom')")
    before = path.read_bytes()
    with pytest.raises(CellExecutionError, match="boom"):
        execute.execute(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fails.ipynb"]
