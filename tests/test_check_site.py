"""tools/check_site.py: its pure parts without a browser, and one run of the whole check on a tiny site.

The integration test needs Chromium or Chrome (``make check-site`` installs Debian's chromium); it is skipped,
saying so, only when neither is installed. None of these tests uses the network.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import shutil
import struct
import sys
import zlib
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

REQUIRE_TAG = ('<script crossorigin="anonymous" integrity="sha256-Ae2Vz/4ePdIu6ZyI/5ZGsYnb+m0JlOmKPjt6XZ9JJkA=" '
               'src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"></script>')


def _png(width: int, height: int, pixels_per_metre: int | None = None, unit: int = 1) -> bytes:
    """A valid grey PNG, with a pHYs chunk when ``pixels_per_metre`` is given."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    phys = chunk(b"pHYs", struct.pack(">IIB", pixels_per_metre, pixels_per_metre, unit)) if pixels_per_metre else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + phys
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- CDN addresses -> npm files


@pytest.mark.parametrize("url, expected", [
    ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js", cs.CdnFile("mathjax@3", "es5/tex-mml-chtml.js")),
    ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js?config=x#y", cs.CdnFile("mathjax@3", "es5/tex-chtml.js")),
    ("https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js",
     cs.CdnFile("@jupyter-widgets/html-manager@1.0.6", "dist/embed-amd.js")),
    ("https://unpkg.com/@jupyter-widgets/html-manager@^1.0.1/dist/embed-amd.js",
     cs.CdnFile("@jupyter-widgets/html-manager@^1.0.1", "dist/embed-amd.js")),
    ("https://cdn.jsdelivr.net/npm/jquery/dist/jquery.js", cs.CdnFile("jquery@latest", "dist/jquery.js")),
    ("https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js",
     cs.CdnFile("requirejs@2.3.4", "require.js", exact=False)),
    ("https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.js", cs.CdnFile("requirejs@2.3.6", "require.js")),
    ("https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css",
     cs.CdnFile("font-awesome@4.4.0", "css/font-awesome.min.css")),
    ("https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js", None),
    ("https://fonts.googleapis.com/css?family=Lato", None),
    ("https://github.com/coordconv-book/coordconv-book", None),
    ("http://book.localhost/book/intro.html", None),
])
def test_cdn_file_maps_the_pages_cdn_addresses_to_npm_package_files(url, expected):
    assert cs.cdn_file(url) == expected


def test_drop_substitute_integrity_only_drops_the_hash_of_a_replaced_build():
    html = f'<head>{REQUIRE_TAG}\n<script integrity="sha256-x" src="https://cdn.jsdelivr.net/npm/a@1/a.js"></script>'
    assert cs.drop_substitute_integrity(html) == (
        '<head><script crossorigin="anonymous" src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/'
        'require.min.js"></script>\n<script integrity="sha256-x" src="https://cdn.jsdelivr.net/npm/a@1/a.js"></script>')


class FakeRoute:
    """What Server.route uses of a Playwright Route."""

    def __init__(self, url: str, referer: str = ""):
        self.request = type("Request", (), {"url": url, "headers": {"referer": referer}})()
        self.answer = None

    def fulfill(self, **kwargs):
        self.answer = ("fulfill", kwargs)

    def abort(self, reason):
        self.answer = ("abort", reason)


def test_server_serves_book_files_cached_packages_and_aborts_the_rest(tmp_path):
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "book" / "a b.html").write_text(f"<p>x</p>{REQUIRE_TAG}")
    (tmp_path / "secret.txt").write_text("outside the book")
    cached = tmp_path / "cdn" / "@jupyter-widgets+html-manager@1.0.6" / "dist"
    cached.mkdir(parents=True)
    (cached / "embed-amd.js").write_text("define()")
    server = cs.Server(html.resolve(), tmp_path / "cdn")

    def answer(url, referer=""):
        route = FakeRoute(url, referer)
        server.route(route)
        return route.answer

    kind, page = answer(cs.BOOK + "book/a%20b.html?x=1")
    assert kind == "fulfill" and page["content_type"] == "text/html"
    assert b"integrity" not in page["body"] and page["body"].startswith(b"<p>x</p><script crossorigin")
    assert answer(cs.BOOK + "../secret.txt")[1]["status"] == 404
    assert answer(cs.BOOK + "book/missing.png")[1]["status"] == 404
    kind, js = answer("https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js")
    assert (kind, js["path"], js["headers"]) == ("fulfill", cached / "embed-amd.js", {"Access-Control-Allow-Origin": "*"})
    assert answer("https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/nope.js")[1]["status"] == 404
    assert answer("https://example.org/x.png", cs.BOOK + "book/a.html") == ("abort", "blockedbyclient")
    assert server.aborted == [("https://example.org/x.png", cs.BOOK + "book/a.html")]


def test_server_package_reports_what_npm_could_not_fetch_and_does_not_ask_twice(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return type("Done", (), {"returncode": 1, "stderr": "npm error code E404\nnpm error 404 No match found\n"})()
    monkeypatch.setattr(cs.subprocess, "run", fake_run)
    server = cs.Server(tmp_path, tmp_path / "cdn")
    assert server.package("@x/nope@9") is None and server.package("@x/nope@9") is None
    assert server.failed == {"@x/nope@9": "npm error 404 No match found"}
    assert len(calls) == 1 and calls[0][:3] == ["npm", "pack", "@x/nope@9"] and "--pack-destination" in calls[0]


# ----------------------------------------------------------------------------- text that did not render

TABLE = "| claim | value |\n|---|---|\n| a | 1 |"


@pytest.mark.parametrize("text, lines", [
    (TABLE, ["|---|---|"]),
    ("before\n| claim | value |\n|\u2014|\u2014|\n| a | 1 |", ["|\u2014|\u2014|"]),  # smartquotes: --- is an em dash
    ("| a | b |\n| :--- | ---: |", ["| :--- | ---: |"]),
    ("| a | b |\n|\u2013|\u2013|", ["|\u2013|\u2013|"]),  # -- became an en dash
    ("| a | b |\n|---|---|\n\n| c |\n|----|", ["|---|---|", "|----|"]),
    ("a | b and c | d", []),
    ("x --- y, and | -- |", []),
    ("| a | b |\n| 1 | 2 |", []),
])
def test_pipe_table_lines_finds_the_delimiter_rows(text, lines):
    assert cs.pipe_table_lines(text) == lines


@pytest.mark.parametrize("text, found", [
    ("the loss $L = x^2$ falls", ["$L = x^2$"]),
    ("for $x$ and $y_1$.", ["$x$", "$y_1$"]),
    ("$$\nL = 1\n$$", ["$$", "$$"]),
    (r"inline \(a+b\) and display \[c\]", ["\\(", "\\)", "\\[", "\\]"]),
    ("it costs $5 and $10", []),
    ("a $ b $ c", []),
    ("US$3 or $3.50", []),
    ("no maths here", []),
])
def test_unrendered_tex_finds_delimited_formulas_and_ignores_prices(text, found):
    assert cs.unrendered_tex(text) == found


# ----------------------------------------------------------------------------- figure text size


@pytest.mark.parametrize("data, dpi", [
    (_png(2, 2, 3937), 3937 * 0.0254),  # 100 dpi as matplotlib writes it
    (_png(2, 2, 7874), 7874 * 0.0254),
    (_png(2, 2), cs.DEFAULT_DPI),
    (_png(2, 2, 3937, unit=0), cs.DEFAULT_DPI),  # unit 0: an aspect ratio only
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="460pt"/>', cs.SVG_DPI),
    (b"\xff\xd8\xff\xe0JFIF", cs.DEFAULT_DPI),
])
def test_image_dpi(data, dpi):
    assert cs.image_dpi(data) == pytest.approx(dpi)


def test_image_dpi_reads_what_matplotlib_savefig_writes():
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    Figure(figsize=(1, 1)).savefig(buffer, format="png", dpi=150)
    assert cs.image_dpi(buffer.getvalue()) == pytest.approx(150, abs=0.05)


def test_smallest_text_px_scales_the_assumed_8pt_font_with_the_display():
    assert cs.SMALLEST_FONT_PT == 8 and cs.MIN_TEXT_PX == 9
    assert cs.smallest_text_px(640, 640, 100) == pytest.approx(100 * 8 / 72)  # 11.1 px: readable
    assert cs.smallest_text_px(1110, 688, 100) == pytest.approx(6.886, abs=1e-3)  # a wide figure shrunk: too small
    assert cs.smallest_text_px(1600, 800, 200) == pytest.approx(100 * 8 / 72)  # a 2x PNG at half size


def _image(**kw):
    return {"src": cs.BOOK + "_images/f.png", "natural": [1600, 400], "width": 688.0, "figure": True,
            "allowed": False} | kw


def test_figure_problems_reports_small_text_and_broken_images_and_skips_icons_and_allowed(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "f.png").write_bytes(_png(4, 4, 3937))
    assert cs.figure_problems([_image()], tmp_path) == [
        "figure text too small: _images/f.png is 1600x400 px at 100 dpi, shown 688 px wide: 8 pt text -> 4.8 px (< 9)"]
    assert cs.figure_problems([_image(natural=[800, 400])], tmp_path) == []  # 9.6 px
    assert cs.figure_problems([_image(allowed=True), _image(natural=[1600, 60]), _image(figure=False),
                               _image(width=0)], tmp_path) == []
    assert cs.figure_problems([_image(natural=[0, 0])], tmp_path) == ["image not shown: _images/f.png"]
    inline = "data:image/png;base64," + base64.b64encode(_png(4, 4, 7874)).decode()  # 200 dpi: 9.6 px
    assert cs.figure_problems([_image(src=inline)], tmp_path) == []
    assert cs.figure_problems([_image(src=inline, width=600.0)], tmp_path) == [
        ("figure text too small: an inline image is 1600x400 px at 200 dpi, "
         "shown 600 px wide: 8 pt text -> 8.3 px (< 9)")]


# ----------------------------------------------------------------------------- judging a page

COLAB_01 = "https://colab.research.google.com/github/coordconv-book/coordconv-book/blob/main/book/01_not_so_clevr.ipynb"
EXPECT = {"figures": 1, "colab": COLAB_01}
INLINE_100DPI = "data:image/png;base64," + base64.b64encode(_png(4, 4, 3937)).decode()


def _facts(**kw):
    return {"texts": ["Some text"], "mathjax": "typeset", "math_shown": 3,
            "widgets": [True], "scroll_width": 1280, "client_width": 1280, "widest": "", "colab": [COLAB_01],
            "images": [_image(src=INLINE_100DPI, natural=[640, 480], width=640.0)], "errors": []} | kw


def test_judge_passes_a_good_page():
    assert cs.judge(_facts(), 1280, Path("/nowhere"), EXPECT) == []


@pytest.mark.parametrize("change, problem", [
    ({"texts": ["intro", TABLE]}, "raw Markdown table: |---|---|"),
    ({"texts": ["the loss $L$ and again $L$"]}, "unrendered TeX: $L$"),
    ({"mathjax": "MathJax did not load"}, "math not typeset: MathJax did not load, 3 mjx-container elements"),
    ({"math_shown": 0}, "math not typeset: typeset, 0 mjx-container elements"),
    ({"widgets": [True, False, False]}, "2 of 3 saved widgets not rendered"),
    ({"errors": [("boom", cs.BOOK + "book/x.js")]}, f"console: boom [{cs.BOOK}book/x.js]"),
    ({"errors": [("TypeError: y", "")]}, "console: TypeError: y []"),
    ({"scroll_width": 1400, "widest": "table.table"}, "at 1280 px: scrolls sideways (1400 px wide; widest: table.table)"),
    ({"images": []}, "0 figures, but the notebook has 1 image outputs"),
    ({"colab": []}, f"Colab link should be {COLAB_01}, the page has none"),
])
def test_judge_reports_each_kind_of_failure(change, problem):
    assert cs.judge(_facts(**change), 1280, Path("/nowhere"), EXPECT) == [problem]


def test_judge_ignores_errors_of_other_origins_and_at_the_phone_width_checks_scrolling_and_errors_only():
    facts = _facts(errors=[("404", "https://cdn.jsdelivr.net/npm/x@1/y.js")], texts=[TABLE], widgets=[False])
    assert cs.judge(facts, 400, Path("/nowhere"), EXPECT) == []
    assert cs.judge(facts | {"scroll_width": 402, "client_width": 400}, 400, Path("/"), EXPECT) == [
        "at 400 px: scrolls sideways (402 px wide; widest: )"]
    assert cs.judge(facts | {"scroll_width": 401, "client_width": 400}, 400, Path("/"), EXPECT) == []
    assert cs.judge(_facts(mathjax="no math", colab=[], images=[]), 1280, Path("/"), {}) == []


# ----------------------------------------------------------------------------- pages, notebooks, options


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
        {"caption": "B", "chapters": [{"file": "b1.md"}]}]}
    assert cs.book_pages(toc) == ["intro", "a1", "a1s", "a2", "b1"]


def test_notebook_figures_counts_what_the_page_shows_as_images():
    png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    view = {cs.WIDGET_VIEW: {"model_id": "m1"}}

    def out(data):
        return nbformat.v4.new_output("display_data", data=data)
    cells = [nbformat.v4.new_code_cell(outputs=[out(png), nbformat.v4.new_output("stream", text="hi")]),
             nbformat.v4.new_code_cell(outputs=[out(png | view)]),  # a widget, not a figure
             nbformat.v4.new_code_cell(outputs=[out(png | {"text/html": "<b>t</b>"})]),  # HTML wins
             nbformat.v4.new_code_cell(outputs=[out({"text/html": '<div><img id="anim"></div>'})]),  # an animation
             nbformat.v4.new_code_cell(outputs=[out({"image/svg+xml": "<svg/>"})]),
             nbformat.v4.new_code_cell(outputs=[out(png)], metadata={"tags": ["remove-output"]}),
             nbformat.v4.new_code_cell(outputs=[out(png)], metadata={"tags": ["hide-output"]})]  # hidden, still there
    assert cs.notebook_figures(nbformat.from_dict(nbformat.v4.new_notebook(cells=cells))) == 4


def test_find_browser_honours_chromium_and_explains_a_missing_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM", "no-such-browser-here")
    with pytest.raises(FileNotFoundError, match="no Chromium or Chrome: no-such-browser-here not found on PATH"):
        cs.find_browser()
    monkeypatch.delenv("CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="chromium, chromium-browser, google-chrome, google-chrome-stable"):
        cs.find_browser()
    assert cs.main(["--which"]) == 1
    fake = tmp_path / "google-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert cs.find_browser() == str(fake)
    assert cs.main(["--which"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--html", "/no/such/folder"], "--html /no/such/folder is not a folder; build the book first"),
    (["--html", "{tmp}", "--pages", "*.html"], "--pages matches no file under {tmp}"),
])
def test_option_errors_exit_2_with_a_message(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cs.parse_args([a.format(tmp=tmp_path) for a in argv])
    assert stop.value.code == 2 and message.format(tmp=tmp_path) in capsys.readouterr().err


def test_default_pages_come_from_the_toc_and_a_missing_one_is_named(tmp_path, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text("<p>x</p>")
    with pytest.raises(SystemExit):
        cs.parse_args(["--html", str(tmp_path)])
    assert "lacks book/01_not_so_clevr.html" in capsys.readouterr().err
    assert cs.parse_args(["--html", str(tmp_path), "--pages", "book/*.html"]).pages == ["book/intro"]


# ----------------------------------------------------------------------------- the whole check in Chromium

GOOD = """<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body>
<h1>Good</h1><p>Prices like $5 and $10 are not maths.</p><table><tr><td>a</td><td>b</td></tr></table>
<pre>| code | stays |\n|---|---|\n$x$</pre>
<div class="cell_output"><img src="fig.png" style="width: 100%%; max-width: 640px"></div>%s</body></html>"""


@pytest.mark.skipif(not any(map(shutil.which, cs.BROWSERS)),
                    reason=f"neither Chromium nor Chrome is installed (looked for {', '.join(cs.BROWSERS)}); "
                           "make check-site installs Debian's chromium")
def test_the_check_passes_a_good_page_and_fails_each_bad_one_for_its_reason(tmp_path, capsys):
    from matplotlib.figure import Figure

    html = tmp_path / "html"
    html.mkdir()
    for name, size in (("fig.png", (6.4, 4.8)), ("wide.png", (16, 4))):  # 640x480 and 1600x400 px at 100 dpi
        Figure(figsize=size).savefig(html / name, dpi=100)
    (html / "good.html").write_text(GOOD % "")
    (html / "table.html").write_text(GOOD % f"<p>{TABLE}</p>")
    (html / "small.html").write_text((GOOD % "").replace('src="fig.png"', 'src="wide.png"'))
    (html / "misc.html").write_text(GOOD % '<div style="width: 600px">wide</div><script>console.error("boom")</script>'
                                    '<img src="https://example.org/x.png">')
    assert cs.main(["--html", str(html), "--pages", "*.html"]) == 1
    out = capsys.readouterr().out
    report = {line.split()[1].rstrip(":"): [] for line in out.splitlines() if line.startswith(("  ok", "  FAIL"))}
    page = None
    for line in out.splitlines():
        if line.startswith(("  ok", "  FAIL")):
            page = line.split()[1].rstrip(":")
        elif line.startswith("       - "):
            report[page].append(line.removeprefix("       - "))
    assert report == {
        "good": [], "table": ["raw Markdown table: |---|---|"],
        "small": [("figure text too small: wide.png is 1600x400 px at 100 dpi, shown 640 px wide: "
                   "8 pt text -> 4.4 px (< 9)")],
        "misc": [f"console: boom [{cs.BOOK}misc.html]", "image not shown: https://example.org/x.png",
                 "external request not served: https://example.org/x.png",
                 "at 400 px: scrolls sideways (608 px wide; widest: div)"],
    }, out
    assert "  ok   good: 1 figures, 0 formulas, 0/0 widgets rendered" in out
    assert "check_site: 1 of 4 pages pass" in out
    shots = sorted(p.name for p in (tmp_path / "screenshots").iterdir())
    assert shots == sorted(f"{p}@{w}.png" for p in ("good", "table", "small", "misc") for w in (400, 1280))


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
