"""Check the rendered book in headless Chromium: ``python tools/check_site.py [--html DIR] [--pages GLOB]``.

Each page is opened 1280 and 400 CSS px wide and fails on: a raw Markdown pipe table or unrendered TeX in its
visible text; MathJax not having typeset; a saved widget not rendered; a console error or uncaught exception
from the book's origin; a broken image; a figure whose smallest text shows below 9 px; sideways scrolling; a
wrong or missing Colab link on a chapter; an external file that the check cannot serve. Screenshots of both
widths go to ``screenshots/`` beside ``--html``. The exit status is 0 only if every page passes.

Playwright drives the system Chromium (``$CHROMIUM``, else the first of BROWSERS on PATH; ``make check-site``
installs Debian's) and answers every request itself: the book's files under a made-up origin (BOOK), and the
CDN files of the pages (MathJax, require.js, the widgets' HTML manager, font-awesome) from the same npm
packages, fetched with ``npm pack`` on first use into ``_build/cdn/``. So the check sees what an online reader
sees, and needs no network after its first run. Every other external request is aborted.
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# On a closed network QUIC, background networking, component updates and sync would only wait and fail.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
BOOK = "http://book.localhost/"  # never looked up: Server.route answers every request
WIDTHS = (1280, 400)  # desktop: every check; phone: console errors and horizontal scrolling
COLAB = "https://colab.research.google.com"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TIMEOUT_MS = 30_000  # a page load; half of it for images, for MathJax and for widgets each
SCREENSHOT_MAX_HEIGHT = 16_000  # CSS px; taller full-page captures are slow and may fail

# Figure text. Only pixels are known, so the smallest font is an assumption: matplotlib's default is 10 pt
# (13.9 px at 100 dpi); tick labels and legends are often smaller, so 8 pt is taken as a figure's smallest text.
SMALLEST_FONT_PT = 8
DEFAULT_DPI = 100  # matplotlib's savefig default, for a PNG without a pHYs chunk
SVG_DPI = 96  # an SVG's natural size is in CSS px, 96 to the inch
MIN_TEXT_PX = 9  # smaller text cannot be read without zooming
ICON_PX = 64  # an image narrower or lower than this (natural px) is an icon or logo, not a figure
ALLOW_SMALL_TEXT = ".check-site-allow, [data-check-site-allow]"  # set by the book on an image or an ancestor

# Markdown that did not become HTML: a pipe table's delimiter cell (Sphinx's smartquotes make "---" and "--"
# em and en dashes) and TeX delimiters ($x$ with no space inside and no digit after, $$, \( \), \[ \]).
PIPE_DELIMITER = re.compile(r"\|\s*:?(?:-{3,}|[\u2013\u2014][-\u2013\u2014]*)\s*:?\s*\|")
TEX = re.compile(r"\$\$|\\[()[\]]|(?<![\\$\w])\$(?![\s$])[^$\n]+?(?<![\s\\$])\$(?![\d$])")

# CDN addresses of the pages -> npm package (None: named in the address) and file (None: the address's path).
_NPM = r"(?P<name>(?:@[^/@]+/)?[^/@]+)(?:@(?P<version>[^/]+))?/(?P<path>.+)"
CDN = ((re.compile(r"https://cdn\.jsdelivr\.net/npm/" + _NPM), None, None),
       (re.compile(r"https://unpkg\.com/" + _NPM), None, None),
       (re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/(?P<version>[^/]+)/(?P<path>require.*\.js)"),
        "requirejs", "require.js"),  # npm has only the unminified build
       (re.compile(r"https://maxcdn\.bootstrapcdn\.com/font-awesome/(?P<version>[^/]+)/(?P<path>.+)"),
        "font-awesome", None))


# ----------------------------------------------------------------------------- pure functions


@dataclass(frozen=True)
class CdnFile:
    spec: str  # what npm pack fetches, e.g. "mathjax@3"
    path: str  # the file inside the package
    exact: bool = True  # False: another build of the same release, so an SRI hash cannot match it


def cdn_file(url: str) -> CdnFile | None:
    """The npm package file that stands in for a CDN ``url``; None for an address the check does not mirror."""
    for pattern, package, path in CDN:
        m = pattern.fullmatch(re.split(r"[?#]", url)[0])
        if m:
            return CdnFile(f"{package or m['name']}@{m['version'] or 'latest'}", path or m["path"],
                           exact=path in (None, m["path"]))
    return None


def drop_substitute_integrity(html: str) -> str:
    """Remove the SRI hash of each ``<script>`` whose CDN file the check replaces with another build."""
    def fix(tag: re.Match) -> str:
        src = re.search(r'\ssrc="([^"]+)"', tag[0])
        sub = cdn_file(src[1]) if src else None
        return re.sub(r'\sintegrity="[^"]*"', "", tag[0]) if sub and not sub.exact else tag[0]
    return re.sub(r"<script\b[^>]*>", fix, html)


def pipe_table_lines(text: str) -> list[str]:
    """Lines of ``text`` (visible text, outside code) that are the delimiter row of a raw Markdown table."""
    return [line.strip() for line in text.splitlines() if PIPE_DELIMITER.search(line)]


def unrendered_tex(text: str) -> list[str]:
    """TeX left in ``text`` (visible text outside code): each delimited formula or stray delimiter."""
    return [m[0] for m in TEX.finditer(text)]


def image_dpi(data: bytes) -> float:
    """Dots per inch of an image file's pixels: a PNG's pHYs chunk, SVG_DPI for SVG, else DEFAULT_DPI."""
    if data.startswith(b"\x89PNG"):
        at = data.find(b"pHYs", 8, 1 << 16)  # an ancillary chunk, before the image data
        if at > 0:
            x, _, unit = struct.unpack(">IIB", data[at + 4:at + 13])
            if unit == 1 and x > 0:  # pixels per metre
                return x * 0.0254
    elif b"<svg" in data[:4096]:
        return SVG_DPI
    return DEFAULT_DPI


def smallest_text_px(natural_width: float, displayed_width: float, dpi: float) -> float:
    """Displayed size in CSS px of SMALLEST_FONT_PT text in a figure ``natural_width`` px wide at ``dpi``."""
    return SMALLEST_FONT_PT * dpi / 72 * displayed_width / natural_width


def notebook_figures(nb: dict) -> int:
    """Images that a notebook's page shows: image outputs (MyST-NB prefers widgets and HTML) and HTML <img>."""
    count = 0
    for cell in nb.get("cells", ()):
        if {"remove-output", "remove-cell"} & set(cell.get("metadata", {}).get("tags", ())):
            continue
        for data in (out.get("data", {}) for out in cell.get("outputs", ())):
            if "text/html" in data and WIDGET_VIEW not in data:  # e.g. an animation: its frames in one <img>
                count += "".join(data["text/html"]).count("<img")
            elif not {WIDGET_VIEW, "application/javascript"} & set(data):
                count += any(m in data for m in ("image/svg+xml", "image/png", "image/jpeg", "image/gif"))
    return count


def book_pages(toc: dict) -> list[str]:
    """Document names of a parsed ``_toc.yml`` in reading order, e.g. ``["book/intro", "book/01_x"]``."""
    pages = []

    def walk(entry: dict) -> None:
        pages.extend(str(entry[k]) for k in ("root", "file") if k in entry)
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or ():
                walk(child)
    walk(toc)
    return [p.removesuffix(".md").removesuffix(".ipynb") for p in pages]


def find_browser() -> str:
    """Path of ``$CHROMIUM`` or of the first of BROWSERS on PATH; FileNotFoundError if there is none."""
    names = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else BROWSERS
    for path in map(shutil.which, names):
        if path:
            return path
    raise FileNotFoundError(f"no Chromium or Chrome: {', '.join(names)} not found on PATH "
                            "(Debian: apt-get install chromium)")


# ----------------------------------------------------------------------------- serving


@dataclass
class Server:
    """Answers every request of the browser with a file of the book, a mirrored CDN file, or an abort."""

    html: Path
    cache: Path  # npm packages, unpacked in <cache>/<spec>
    failed: dict = field(default_factory=dict)  # spec -> why npm could not fetch it
    aborted: list = field(default_factory=list)  # (url, referer) of external requests not served

    def package(self, spec: str) -> Path | None:
        """The unpacked npm package ``spec``, fetched with ``npm pack`` on first use; None if npm cannot."""
        target = self.cache / spec.replace("/", "+")
        if target.is_dir() or spec in self.failed:
            return target if target.is_dir() else None
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            run = subprocess.run(["npm", "pack", spec, "--pack-destination", tmp, "--silent"], cwd=tmp,
                                 capture_output=True, text=True, timeout=300, check=False)
            packs = list(Path(tmp).glob("*.tgz"))
            if run.returncode or not packs:
                self.failed[spec] = (run.stderr.strip().splitlines() or ["npm pack failed"])[-1]
                return None
            with tarfile.open(packs[0]) as tar:
                tar.extractall(Path(tmp) / "x", filter="data")
            (top,) = (Path(tmp) / "x").iterdir()  # "package/" in nearly every tarball
            os.replace(top, target)  # atomic: a folder in the cache is always complete
        return target

    def route(self, route) -> None:
        """Playwright's route handler for every request."""
        url, cors = route.request.url, {"Access-Control-Allow-Origin": "*"}  # crossorigin="anonymous" needs it
        if url.startswith(BOOK):
            path = (self.html / unquote(re.split(r"[?#]", url[len(BOOK):])[0])).resolve()
            if not path.is_file() or self.html not in path.parents:
                return route.fulfill(status=404, body="not in the book")
            body = path.read_bytes()
            if path.suffix == ".html":  # else SRI blocks npm's require.js, and the widgets never render
                body = drop_substitute_integrity(body.decode()).encode()
            return route.fulfill(body=body, content_type=mimetypes.guess_type(path.name)[0])
        cdn = cdn_file(url)
        if cdn is None:
            self.aborted.append((url, route.request.headers.get("referer", "")))
            return route.abort("blockedbyclient")
        folder = self.package(cdn.spec)
        if folder is None or not (folder / cdn.path).is_file():  # the CDN's answer for a missing version or file
            return route.fulfill(status=404, body=f"{cdn.spec}/{cdn.path} not found", headers=cors)
        route.fulfill(path=folder / cdn.path, content_type=mimetypes.guess_type(cdn.path)[0] or "text/plain",
                      headers=cors)


# ----------------------------------------------------------------------------- the browser

# Runs in the loaded page: waits for images, MathJax and widgets, then reports what the checks need.
COLLECT = """async ([timeout, allow, widgetView, colab]) => {
  const later = (ms, value) => new Promise(ok => setTimeout(() => ok(value), ms));
  const imgs = Array.from(document.images);
  imgs.forEach(img => img.loading = 'eager');  // lazy images below the fold would never load
  await Promise.race([later(timeout), Promise.all(imgs.map(img => img.decode().catch(() => null)))]);
  const math = document.querySelector('.math') !== null, mj = window.MathJax;
  const mathjax = !math ? 'no math' : !(mj && mj.startup && mj.startup.promise) ? 'MathJax did not load'
    : await Promise.race([mj.startup.promise.then(() => 'typeset', e => 'failed: ' + e), later(timeout, 'timeout')]);
  const views = Array.from(document.querySelectorAll(`script[type="${widgetView}"]`));
  const shown = v => { const p = v.previousElementSibling;  // where the HTML manager renders a view
                       return !!(p && p.classList.contains('widget-subarea') && p.childElementCount); };
  for (const t0 = Date.now(); views.some(v => !shown(v)) && Date.now() - t0 < timeout;) await later(200);
  // Fonts are requested once laid-out text uses them; wait for them so that their errors are seen every time.
  await new Promise(ok => requestAnimationFrame(() => requestAnimationFrame(ok)));
  await Promise.race([document.fonts.ready, later(timeout)]);
  const skip = 'pre, code, kbd, samp, script, style, textarea, template, noscript, mjx-container, .highlight';
  const texts = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walk.nextNode());) if (n.data.trim() && !n.parentElement.closest(skip)) texts.push(n.data);
  // The culprit of sideways scrolling: the first element sticking out whose parent does not, outside scroll boxes.
  const el = document.scrollingElement, right = e => e.getBoundingClientRect().right > el.clientWidth + 1;
  const boxed = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                         if (getComputedStyle(a).overflowX !== 'visible') return true;
                       return false; };
  const wide = Array.from(document.body.querySelectorAll('*')).find(
    e => right(e) && !right(e.parentElement) && !boxed(e));
  return {texts, mathjax, math_shown: document.querySelectorAll('mjx-container').length,
    widgets: views.map(shown), scroll_width: el.scrollWidth, client_width: el.clientWidth,
    widest: wide ? wide.tagName.toLowerCase() + Array.from(wide.classList).map(c => '.' + c).join('') : '',
    colab: Array.from(document.querySelectorAll(`a[href^="${colab}"]`)).map(a => a.getAttribute('href')),
    images: imgs.map(img => ({src: img.currentSrc || img.src, natural: [img.naturalWidth, img.naturalHeight],
      width: img.getBoundingClientRect().width, allowed: !!img.closest(allow),
      figure: !!img.closest('.cell_output') && !img.closest('.widget-subarea')}))};  // not a widget's own image
}"""


def inspect(context, url: str, shot: Path) -> dict:
    """Open ``url`` in a new tab of ``context``; COLLECT's facts plus ``errors``; save a screenshot."""
    page, errors = context.new_page(), []
    page.on("console", lambda m: m.type == "error" and errors.append((m.text, m.location.get("url", ""))))
    page.on("pageerror", lambda e: errors.append(
        (str(e), (re.findall(r"(?:https?|file)://[^\s):]+", e.stack or "") or [""])[0])))
    try:
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        facts = page.evaluate(COLLECT, [TIMEOUT_MS // 2, ALLOW_SMALL_TEXT, WIDGET_VIEW, COLAB])
        height = min(page.evaluate("document.scrollingElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot, full_page=True, clip={"x": 0, "y": 0, "width": facts["client_width"],
                                                         "height": height})
    finally:
        page.close()
    return facts | {"errors": errors}


def judge(facts: dict, width: int, html: Path, expect: dict) -> list[str]:
    """Problems of one page at one width; the content checks run at the first of WIDTHS only."""
    sources = {}  # console text -> where it came from; e.g. one 404 message for several missing files
    for text, src in facts["errors"]:
        if not src or src.startswith(BOOK):  # not an error inside a CDN library: the book cannot fix those
            sources.setdefault(text, []).append(src)
    problems = [f"console: {text} [{min(src)}" + (f" and {len(src) - 1} more]" if len(src) > 1 else "]")
                for text, src in sources.items()]  # min: the same line whatever the order of the errors
    if facts["scroll_width"] > facts["client_width"] + 1:
        problems.append(f"at {width} px: scrolls sideways ({facts['scroll_width']} px wide; widest: {facts['widest']})")
    if width != WIDTHS[0]:
        return problems
    text = "\n".join(facts["texts"])
    problems += [f"raw Markdown table: {line[:70]}" for line in pipe_table_lines(text)]
    problems += [f"unrendered TeX: {tex[:50]}" for tex in dict.fromkeys(unrendered_tex(text))]
    if facts["mathjax"] not in ("no math", "typeset") or (facts["mathjax"] == "typeset" and not facts["math_shown"]):
        problems.append(f"math not typeset: {facts['mathjax']}, {facts['math_shown']} mjx-container elements")
    if not all(facts["widgets"]):
        problems.append(f"{facts['widgets'].count(False)} of {len(facts['widgets'])} saved widgets not rendered")
    problems += figure_problems(facts["images"], html)
    figures = sum(i["figure"] for i in facts["images"])
    if "figures" in expect and figures != expect["figures"]:
        problems.append(f"{figures} figures, but the notebook has {expect['figures']} image outputs")
    if "colab" in expect and facts["colab"] != [expect["colab"]]:
        problems.append(f"Colab link should be {expect['colab']}, the page has {facts['colab'] or 'none'}")
    return problems


def figure_problems(images: list[dict], html: Path) -> list[str]:
    """Broken images, and figures whose SMALLEST_FONT_PT text shows below MIN_TEXT_PX."""
    problems = []
    for img in images:
        (w, h), src = img["natural"], img["src"].removeprefix(BOOK)
        if not w or not h:
            problems.append(f"image not shown: {src[:80]}")
        elif img["figure"] and img["width"] and not img["allowed"] and min(w, h) >= ICON_PX:
            inline = src.startswith("data:")
            dpi = image_dpi(base64.b64decode(src.split(",", 1)[1]) if inline else (html / unquote(src)).read_bytes())
            px = smallest_text_px(w, img["width"], dpi)
            if px < MIN_TEXT_PX:
                problems.append(f"figure text too small: {'an inline image' if inline else src[:40]} is {w}x{h} px "
                                f"at {dpi:.0f} dpi, shown {img['width']:.0f} px wide: {SMALLEST_FONT_PT} pt text -> "
                                f"{px:.1f} px (< {MIN_TEXT_PX})")
    return problems


# ----------------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, with ``pages`` as page names (paths under --html without ``.html``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built book")
    parser.add_argument("--pages", help="glob of pages under --html, e.g. 'book/0*.html' (default: _toc.yml's)")
    parser.add_argument("--which", action="store_true", help="print the browser's path (exit 1 if none)")
    args = parser.parse_args(argv)
    if args.which:
        return args
    args.html = args.html.resolve()
    if not args.html.is_dir():
        parser.error(f"--html {args.html} is not a folder; build the book first (make book)")
    if args.pages:
        args.pages = sorted(str(p.relative_to(args.html).with_suffix("")) for p in args.html.glob(args.pages))
        if not args.pages:
            parser.error(f"--pages matches no file under {args.html}")
    else:
        import yaml  # Jupyter Book's dependency, needed only here
        args.pages = book_pages(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    missing = [p + ".html" for p in args.pages if not (args.html / f"{p}.html").is_file()]
    if missing:
        parser.error(f"{args.html} lacks {', '.join(missing)}; build the book first (make book)")
    return args


def expectation(page: str) -> dict:
    """What a chapter (a page built from ROOT/<page>.ipynb) must show: its figure count and Colab link."""
    source = ROOT / f"{page}.ipynb"
    if not source.is_file():
        return {}
    import yaml
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    owner_repo = repo["url"].removeprefix("https://github.com/").removesuffix(".git").strip("/")
    return {"figures": notebook_figures(json.loads(source.read_text())),
            "colab": f"{COLAB}/github/{owner_repo}/blob/{repo.get('branch', 'main')}/{page}.ipynb"}


def check_page(page: str, contexts: dict, server: Server, html: Path) -> tuple[list[str], str]:
    """Problems of ``page`` at every width (each once), and a summary of what it showed at the first."""
    from playwright.sync_api import Error as PlaywrightError

    problems, expect, seen = [], expectation(page), {}
    for width, context in contexts.items():
        server.aborted.clear()
        shot = html.parent / "screenshots" / f"{page.replace('/', '__')}@{width}.png"
        try:
            facts = inspect(context, f"{BOOK}{page}.html", shot)
            problems += judge(facts, width, html, expect)
            seen = seen or facts
        except (PlaywrightError, OSError) as e:  # a page that times out or crashes fails; the others still run
            problems.append(f"at {width} px: {type(e).__name__}: {str(e).splitlines()[0]}")
        problems += [f"external request not served: {u}" for u, ref in server.aborted if ref.startswith(BOOK)]
    widgets = seen.get("widgets", [])
    summary = (f"{sum(i['figure'] for i in seen.get('images', ()))} figures, {seen.get('math_shown', 0)} formulas, "
               f"{sum(widgets)}/{len(widgets)} widgets rendered" + (", Colab link" * bool(seen.get("colab"))))
    return list(dict.fromkeys(problems)), summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        browser_path = find_browser()
    except FileNotFoundError as e:
        print(f"check_site: {e}", file=sys.stderr)
        return 1
    if args.which:
        print(browser_path)
        return 0
    from playwright.sync_api import sync_playwright  # only here: --which works without it

    tic, server = time.perf_counter(), Server(args.html, ROOT / "_build" / "cdn")
    for p in args.pages:  # fetch the packages now, not while a page waits for them
        for url in re.findall(r'(?:src|href)="(https://[^"]+)"', (args.html / f"{p}.html").read_text()):
            if cdn_file(url):
                server.package(cdn_file(url).spec)
    failed = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=LAUNCH_ARGS)
        contexts = {w: browser.new_context(viewport={"width": w, "height": 900}) for w in WIDTHS}
        for context in contexts.values():
            context.route("**/*", server.route)
        print(f"check_site: {len(args.pages)} pages of {args.html} in Chromium {browser.version} at {WIDTHS} px; "
              f"screenshots in {args.html.parent / 'screenshots'}")
        for page in args.pages:
            problems, summary = check_page(page, contexts, server, args.html)
            failed += bool(problems)
            print(f"  {'FAIL' if problems else 'ok  '} {page}: {summary}")
            for p in problems:
                print(f"       - {p}")
        browser.close()
    for spec, why in server.failed.items():
        print(f"check_site: npm could not fetch {spec}, so it was answered 404: {why}")
    print(f"check_site: {len(args.pages) - failed} of {len(args.pages)} pages pass ({time.perf_counter() - tic:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
