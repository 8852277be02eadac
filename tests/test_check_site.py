"""The site checker's pure parts: which pages, what each must show, how the browser's facts are judged.

The browser half of tools/check_site.py is exercised by ``make check-site``; these
tests need no browser.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


cs = _load("check_site")
unique = _load("sphinx_unique_scripts")

COLAB_01 = "https://colab.research.google.com/github/coordconv-book/coordconv-book/blob/main/book/01_not_so_clevr.ipynb"


# ----------------------------------------------------------------------------- pages and links


def test_book_pages_of_the_real_toc_start_at_the_root_and_list_every_chapter():
    pages = cs.book_pages(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    assert pages[0] == "book/intro"
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9]*.ipynb"))
    assert [p for p in pages if p.removeprefix("book/")[:1].isdigit()] == [f"book/{c}" for c in chapters]
    assert len(pages) == len(set(pages))


def test_book_pages_walks_parts_chapters_and_sections_in_order_and_drops_suffixes():
    toc = {"root": "intro.md", "parts": [
        {"caption": "A", "chapters": [{"file": "a1.ipynb", "sections": [{"file": "a1s"}, {"url": "https://x.org"}]},
                                       {"file": "a2"}]},
        {"caption": "B", "chapters": [{"file": "b1.md"}]},
    ]}
    assert cs.book_pages(toc) == ["intro", "a1", "a1s", "a2", "b1"]
    assert cs.book_pages({"root": "index", "chapters": [{"file": "c"}]}) == ["index", "c"]


def test_book_pages_rejects_a_toc_without_root():
    with pytest.raises(ValueError, match="expected a parsed _toc.yml with a 'root' entry"):
        cs.book_pages({"parts": []})


def test_colab_url_from_the_real_config_matches_the_documented_form():
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert cs.colab_url(repo["url"], repo["branch"], "book/01_not_so_clevr") == COLAB_01


@pytest.mark.parametrize("url", ["https://github.com/o/r", "https://github.com/o/r/", "https://github.com/o/r.git"])
def test_github_repository_accepts_the_usual_spellings(url):
    assert cs.github_repository(url) == ("o", "r")


@pytest.mark.parametrize("url", ["https://gitlab.com/o/r", "http://github.com/o/r", "https://github.com/o", "",
                                 "https://github.com/o/r/tree/main"])
def test_github_repository_rejects_other_urls(url):
    with pytest.raises(ValueError, match=r"expected repository.url like https://github.com/<owner>/<repo>"):
        cs.github_repository(url)


# ----------------------------------------------------------------------------- expectations from notebooks


def _png_output(**extra):
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>", **extra})


def test_notebook_expectation_counts_the_outputs_that_render_as_images():
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0}}
    cells = [
        nbformat.v4.new_code_cell(outputs=[_png_output(), nbformat.v4.new_output("stream", text="hi")]),
        nbformat.v4.new_code_cell(outputs=[_png_output(**view)]),  # rendered as a widget, not a figure
        nbformat.v4.new_code_cell(outputs=[_png_output(**{"text/html": "<b>t</b>"})]),  # HTML wins
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("execute_result", execution_count=1,
                                                                  data={"image/svg+xml": "<svg/>"})]),
        nbformat.v4.new_code_cell(outputs=[_png_output()], metadata={"tags": ["remove-output"]}),
        nbformat.v4.new_code_cell(outputs=[_png_output()], metadata={"tags": ["hide-output"]}),  # hidden, still there
        nbformat.v4.new_markdown_cell("![x](x.png)"),
        # an animation (matplotlib's to_jshtml): HTML whose frames play in one <img>
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": '<div><img id="anim"><input type="range"></div>', "text/plain": "x"})]),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {cs.WIDGET_STATE: {"state": {"m1": {}, "m2": {}}, "version_major": 2, "version_minor": 0}}
    expect = cs.notebook_expectation(json.loads(nbformat.writes(nb)), colab="c")
    assert expect == cs.Expectation(figures=4, widget_models=frozenset({"m1", "m2"}), colab="c")


def test_notebook_expectation_of_the_first_chapter_matches_its_stored_outputs():
    nb = json.loads((ROOT / "book" / "01_not_so_clevr.ipynb").read_text())
    pngs = sum("image/png" in o.get("data", {}) and cs.WIDGET_VIEW not in o.get("data", {})
               for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    expect = cs.notebook_expectation(nb)
    assert expect.figures == pngs > 0
    assert expect.widget_models == set(nb["metadata"]["widgets"][cs.WIDGET_STATE]["state"])


# ----------------------------------------------------------------------------- judging a page


def _good_facts():
    return cs.Facts(
        errors=[("Failed to load resource: net::ERR_NAME_NOT_RESOLVED", "https://cdn.jsdelivr.net/npm/mathjax@3/x.js")],
        images=[{"src": "../_images/a.png", "width": 640, "height": 480, "figure": True},
                {"src": "../_static/images/logo_colab.png", "width": 32, "height": 32, "figure": False}],
        widget_states=[["m1", "m2"]], widget_views=["m1"], colab_links=[COLAB_01])


EXPECT = cs.Expectation(figures=1, widget_models=frozenset({"m1", "m2"}), colab=COLAB_01)


def test_judge_passes_a_good_page_and_lists_the_ignored_external_error():
    problems, ignored = cs.judge(_good_facts(), EXPECT)
    assert problems == []
    assert ignored == [("console: Failed to load resource: net::ERR_NAME_NOT_RESOLVED "
                        "[https://cdn.jsdelivr.net/npm/mathjax@3/x.js]")]


@pytest.mark.parametrize("change, message", [
    (lambda f: f.errors.append(("ReferenceError: f is not defined", "file:///b/book/01.html")),
     "console: ReferenceError: f is not defined [file:///b/book/01.html]"),
    (lambda f: f.errors.append(("SyntaxError: x", None)), "console: SyntaxError: x"),
    (lambda f: f.images[0].update(width=0, height=0), "image not shown (natural size 0x0): ../_images/a.png"),
    (lambda f: f.images[1].update(height=0), "image not shown (natural size 32x0): ../_static/images/logo_colab.png"),
    (lambda f: f.images.pop(0), "expected 1 figures (image outputs in the notebook), the page has 0"),
    (lambda f: f.widget_states.clear(),
     "expected one embedded application/vnd.jupyter.widget-state+json script, found 0"),
    (lambda f: f.widget_states.__setitem__(0, "error: SyntaxError"), "widget state does not parse: error: SyntaxError"),
    (lambda f: f.widget_states.__setitem__(0, ["m1"]), "widget state lacks 1 of the notebook's models, e.g. m2"),
    (lambda f: f.widget_views.append("m9"), "widget view of model m9 has no saved state"),
    (lambda f: f.colab_links.clear(), f"Colab link should be {COLAB_01}, the page has none"),
    (lambda f: f.colab_links.append(COLAB_01), f"Colab link should be {COLAB_01}, the page has {[COLAB_01, COLAB_01]}"),
])
def test_judge_reports_each_kind_of_failure(change, message):
    facts = _good_facts()
    change(facts)
    problems, _ = cs.judge(facts, EXPECT)
    assert problems == [message]


def test_judge_of_a_markdown_page_checks_images_and_errors_only():
    facts = cs.Facts(images=[{"src": "x.png", "width": 1, "height": 1, "figure": False}])
    assert cs.judge(facts, cs.Expectation()) == ([], [])
    facts.widget_views.append("m1")
    assert cs.judge(facts, cs.Expectation())[0] == ["1 widget views but the notebook saved no widget state"]


def test_judge_of_a_page_that_did_not_load_says_only_that():
    facts = cs.Facts(load_error="net::ERR_FILE_NOT_FOUND")
    assert cs.judge(facts, EXPECT) == (["page did not load: net::ERR_FILE_NOT_FOUND"], [])


@pytest.mark.parametrize("url, external", [
    ("https://cdn.jsdelivr.net/x.js", True), ("http://x.org", True), ("file:///b/_static/x.js", False),
    ("", False), (None, False), ("../_static/x.js", False),
])
def test_is_external(url, external):
    assert cs.is_external(url) is external


# ----------------------------------------------------------------------------- the protocol's plumbing


def test_split_messages_keeps_an_incomplete_tail():
    messages, rest = cs.split_messages(b'{"id": 1, "result": {}}\0{"method": "Page.load')
    assert messages == [{"id": 1, "result": {}}]
    assert rest == b'{"method": "Page.load'
    messages, rest = cs.split_messages(rest + b'EventFired", "params": {}}\0')
    assert messages == [{"method": "Page.loadEventFired", "params": {}}] and rest == b""


def test_error_events_reads_the_three_kinds_of_error_and_ignores_the_rest():
    events = [
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {
            "text": "Uncaught", "url": "file:///p.html",
            "exception": {"description": "TypeError: x is null\n    at f (file:///s.js:1:2)"},
            "stackTrace": {"callFrames": [{"url": "file:///s.js"}]}}}},
        {"method": "Runtime.consoleAPICalled", "params": {"type": "error", "args": [
            {"type": "string", "value": "Got invalid theme mode"}, {"type": "object", "description": "Error"}]}},
        {"method": "Runtime.consoleAPICalled", "params": {"type": "log", "args": [{"value": "fine"}]}},
        {"method": "Log.entryAdded", "params": {"entry": {"level": "error", "text": "Failed to load resource",
                                                          "url": "https://cdn.x/y.js"}}},
        {"method": "Log.entryAdded", "params": {"entry": {"level": "warning", "text": "meh"}}},
    ]
    assert cs._error_events(events) == [
        ("TypeError: x is null", "file:///s.js"),
        ("Got invalid theme mode Error", None),
        ("Failed to load resource", "https://cdn.x/y.js"),
    ]


def test_find_browser_honours_chromium_and_explains_a_missing_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM", "no-such-browser-here")
    with pytest.raises(FileNotFoundError, match=r"\$CHROMIUM is 'no-such-browser-here', which is not an executable"):
        cs.find_browser()
    monkeypatch.delenv("CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="expected one of chromium, chromium-browser, google-chrome"):
        cs.find_browser()
    fake = tmp_path / "google-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert cs.find_browser() == str(fake)


# ----------------------------------------------------------------------------- the Sphinx work-around


def test_unique_scripts_drops_the_none_and_empty_filename_twins_and_keeps_order():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, body="const X = 1"), _JavaScript("", body="const X = 1"),
               _JavaScript("_static/a.js", **{"async": "async"}), _JavaScript("_static/a.js")]
    context = {"script_files": scripts}
    unique.unique_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] is scripts  # edited in place: Sphinx restores its own list after the page
    assert [(s.filename, s.attributes) for s in scripts] == [
        ("_static/a.js", {}), (None, {"body": "const X = 1"}), ("_static/a.js", {"async": "async"})]
