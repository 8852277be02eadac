"""Check the rendered book in a real browser: ``python tools/check_site.py [--html _build/html]``.

Every page of ``_toc.yml`` is opened in headless Chromium and must

* load without console errors, uncaught exceptions or failed requests from the
  book's own files (``file://``);
* show every ``<img>`` with a non-zero natural size once loaded, and, on a
  chapter, one figure per image output stored in its notebook;
* embed the notebook's ipywidgets state (``<script type="application/vnd.jupyter.widget-state+json">``)
  when the notebook saved one, holding the model of every widget view on the page;
* on a chapter, offer exactly one Colab link, to
  ``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<chapter>.ipynb``
  with owner, repository and branch from ``_config.yml``.

A full-page screenshot of each page is saved under ``_build/screenshots/``.
The exit status is 1 if any page fails, with one line per problem.

External hosts are unreachable on purpose: the browser resolves every host name
to "not found" (``--host-resolver-rules``), so the check gives the same answer
offline and online and never waits on a network timeout. What the pages load
from CDNs (MathJax, require.js and the ipywidgets embedder from jsDelivr and
cdnjs, thebe from unpkg on demand) therefore fails, and the errors whose source
is an ``http(s)://`` address are listed as ignored, not counted. This also means
that widgets are checked as saved state, not as rendered controls.

The browser is driven with the Chrome DevTools Protocol over a pipe
(``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4),
which needs nothing beyond the standard library: no websocket client, no port.
The browser is ``$CHROMIUM``, else the first of chromium, chromium-browser,
google-chrome and google-chrome-stable on ``PATH`` (``make check-site`` installs
Debian's ``chromium`` when none is found).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
COLAB = "https://colab.research.google.com"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# MyST-NB's order of preference for an output's MIME types in HTML: the first one
# present is rendered. An output is a figure when that one is an image.
MIME_PRIORITY = (
    WIDGET_VIEW, "application/javascript", "text/html", "image/svg+xml", "image/png", "image/gif",
    "image/jpeg", "text/markdown", "text/latex", "text/plain",
)
# Cell tags with which MyST-NB leaves a cell's outputs out of the page.
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}
SCREENSHOT_MAX_HEIGHT = 16000  # CSS pixels; Chromium cannot capture much taller pages in one image


# ----------------------------------------------------------------------------- pure functions


def book_pages(toc: dict) -> list[str]:
    """Document names of a Jupyter Book ``_toc.yml`` (already parsed), in reading order.

    The root comes first, then every ``file:`` entry of ``parts``/``chapters``/
    ``sections`` depth-first, e.g. ``["book/intro", "book/01_not_so_clevr"]``.
    Entries without ``file`` (``url:``, ``glob:``) are skipped.
    """
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"expected a parsed _toc.yml with a 'root' entry, got {toc!r:.80}")
    pages = [str(toc["root"])]

    def walk(entries):
        for entry in entries or ():
            if "file" in entry:
                pages.append(str(entry["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk([{k: v for k, v in toc.items() if k in ("parts", "chapters", "sections")}])
    return [p.removesuffix(".md").removesuffix(".ipynb") for p in pages]


def github_repository(url: str) -> tuple[str, str]:
    """``(owner, repo)`` of a ``https://github.com/<owner>/<repo>`` URL (a trailing ``.git`` or ``/`` is dropped)."""
    parsed = urlparse(str(url))
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.scheme != "https" or parsed.netloc != "github.com" or len(parts) != 2:
        raise ValueError(f"expected repository.url like https://github.com/<owner>/<repo>, got {url!r}")
    return parts[0], parts[1].removesuffix(".git")


def colab_url(repository_url: str, branch: str, notebook: str) -> str:
    """The Colab link of ``notebook`` (path in the repository, without suffix, e.g. ``book/01_not_so_clevr``)."""
    owner, repo = github_repository(repository_url)
    return f"{COLAB}/github/{owner}/{repo}/blob/{branch}/{notebook}.ipynb"


def is_external(url: str | None) -> bool:
    """True for an ``http(s)://`` address: a CDN or other host, not a file of the book."""
    return urlparse(url or "").scheme in ("http", "https")


def rendered_mime(data: dict) -> str | None:
    """The MIME type of ``data`` (an output's bundle) that the HTML page shows, or None."""
    return next((m for m in MIME_PRIORITY if m in data), None)


@dataclass
class Expectation:
    """What a page must show, read from its source notebook (nothing for Markdown pages)."""

    figures: int | None = None  # image outputs shown on the page; None: not a notebook
    widget_models: frozenset[str] = frozenset()  # model ids of the saved widget state
    colab: str | None = None  # the one Colab link the page must offer


def notebook_expectation(nb: dict, colab: str | None = None) -> Expectation:
    """Expectation for a notebook given as its JSON (``nbformat`` 4 dict)."""
    figures = 0
    for cell in nb.get("cells", ()):
        if cell.get("cell_type") != "code" or HIDDEN_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", ())):
            continue
        for out in cell.get("outputs", ()):
            if out.get("output_type") in ("display_data", "execute_result"):
                data = out.get("data", {})
                mime = rendered_mime(data)
                figures += bool(mime and mime.startswith("image/"))
                if mime == "text/html":  # e.g. a matplotlib animation: its frames play in one <img>
                    html = data[mime]
                    figures += ("".join(html) if isinstance(html, list) else html).count("<img")
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return Expectation(figures=figures, widget_models=frozenset(state), colab=colab)


@dataclass
class Facts:
    """What the browser saw on one page."""

    load_error: str | None = None  # Page.navigate's errorText
    errors: list[tuple[str, str | None]] = field(default_factory=list)  # (message, source URL)
    images: list[dict] = field(default_factory=list)  # {"src", "width", "height", "figure"}
    widget_states: list = field(default_factory=list)  # per state script: list of model ids, or an error string
    widget_views: list = field(default_factory=list)  # per view script: model id, or an error string
    colab_links: list[str] = field(default_factory=list)


def judge(facts: Facts, expect: Expectation) -> tuple[list[str], list[str]]:
    """``(problems, ignored)``: readable failures of a page, and the external errors left out."""
    if facts.load_error:
        return [f"page did not load: {facts.load_error}"], []
    problems, ignored = [], []
    for message, source in facts.errors:
        (ignored if is_external(source) else problems).append(
            f"console: {message}" + (f" [{source}]" if source else ""))
    for img in facts.images:
        if not (img["width"] > 0 and img["height"] > 0):
            problems.append(f"image not shown (natural size {img['width']}x{img['height']}): {img['src']}")
    if expect.figures is not None:
        shown = sum(1 for img in facts.images if img["figure"])
        if shown != expect.figures:
            problems.append(f"expected {expect.figures} figures (image outputs in the notebook), the page has {shown}")
    if expect.widget_models:
        if len(facts.widget_states) != 1:
            problems.append(f"expected one embedded {WIDGET_STATE} script, found {len(facts.widget_states)}")
        else:
            models = facts.widget_states[0]
            if isinstance(models, str):
                problems.append(f"widget state does not parse: {models}")
            else:
                missing = expect.widget_models - set(models)
                if missing:
                    problems.append(f"widget state lacks {len(missing)} of the notebook's models, "
                                    f"e.g. {min(missing)}")
                for view in facts.widget_views:
                    if view not in models:
                        problems.append(f"widget view of model {view} has no saved state")
    elif facts.widget_views:
        problems.append(f"{len(facts.widget_views)} widget views but the notebook saved no widget state")
    if expect.colab is not None and facts.colab_links != [expect.colab]:
        problems.append(f"Colab link should be {expect.colab}, the page has {facts.colab_links or 'none'}")
    return problems, ignored


def split_messages(buffer: bytes) -> tuple[list[dict], bytes]:
    """Decode the complete NUL-terminated JSON messages at the start of ``buffer``; return them and the rest."""
    *complete, rest = buffer.split(b"\0")
    return [json.loads(m) for m in complete], rest


# ----------------------------------------------------------------------------- the browser


def find_browser() -> str:
    """Path of the browser to use; a clear error if there is none."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise FileNotFoundError(f"$CHROMIUM is {explicit!r}, which is not an executable")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(f"no headless browser found: expected one of {', '.join(BROWSERS)} on PATH "
                            "(Debian: apt-get install chromium; or set $CHROMIUM)")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or stopped answering."""


class Browser:
    """Headless Chromium driven over ``--remote-debugging-pipe``. Use as a context manager."""

    def __init__(self, executable: str, timeout: float = 30.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="check-site-")
        self._log = open(Path(self._profile.name) / "stderr.log", "w+b")
        cmd_read, self._cmd_write = os.pipe()
        self._reply_read, reply_write = os.pipe()

        def onto_3_and_4():
            # Chromium reads commands on fd 3 and writes replies on fd 4. Copy both
            # ends above 10 first, so that the dup2s cannot overwrite one another.
            a, b = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 10), fcntl.fcntl(reply_write, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._proc = subprocess.Popen(
            [executable, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
             "--no-sandbox",  # runs as root in containers; it opens only the book's own files
             "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: see the module docstring
             "--disable-gpu", "--hide-scrollbars", "--mute-audio", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=onto_3_and_4, close_fds=False,
        )
        os.close(cmd_read)
        os.close(reply_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
            except CDPError:
                pass
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._cmd_write, self._reply_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        self._profile.cleanup()

    def _stderr_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def _receive(self, deadline: float) -> bool:
        """Read what the browser has sent until ``deadline``; False when nothing arrived in time."""
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([self._reply_read], [], [], wait)[0]:
            return False
        chunk = os.read(self._reply_read, 1 << 20)
        if not chunk:
            raise CDPError(f"the browser exited (status {self._proc.poll()}); "
                           f"its output ends with:\n{self._stderr_tail()}")
        messages, self._buffer = split_messages(self._buffer + chunk)
        self._events.extend(messages)
        return True

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._cmd_write, data):]
        except BrokenPipeError:
            raise CDPError(f"{method}: the browser is gone; its output ends with:\n{self._stderr_tail()}") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, m in enumerate(self._events):
                if m.get("id") == self._next_id:
                    del self._events[i]
                    if "error" in m:
                        raise CDPError(f"{method}: {m['error'].get('message')} {m['error'].get('data', '')}".strip())
                    return m.get("result", {})
            if not self._receive(deadline):
                raise CDPError(f"{method}: no answer within {timeout or self.timeout:.0f} s")

    def wait_for(self, event: str, session: str, timeout: float | None = None, **match) -> dict:
        """Wait for ``event`` on ``session`` whose parameters include ``match``; return its parameters."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for m in self._events:
                params = m.get("params", {})
                if (m.get("method") == event and m.get("sessionId") == session
                        and all(params.get(k) == v for k, v in match.items())):
                    return params
            if not self._receive(deadline):
                raise CDPError(f"no {event} within {timeout or self.timeout:.0f} s")

    def drain(self, seconds: float) -> list[dict]:
        """Collect events for ``seconds``; return (and forget) every event received so far."""
        deadline = time.monotonic() + seconds
        while self._receive(deadline):
            pass
        events, self._events = [m for m in self._events if "method" in m], [m for m in self._events if "id" in m]
        return events


# Runs in the page: wait for every image, then report what the checks need.
_COLLECT = """
(async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = 'eager';  // lazy images below the fold would never load
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done, {once: true});
    img.addEventListener('error', done, {once: true});
    setTimeout(done, %(timeout_ms)d);
  })));
  const parse = (s, pick) => { try { return pick(JSON.parse(s.textContent)); } catch (e) { return 'error: ' + e; } };
  const scripts = type => Array.from(document.querySelectorAll(`script[type="${type}"]`));
  return {
    images: imgs.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth, height: img.naturalHeight,
                              figure: img.closest('.cell_output') !== null})),
    widget_states: scripts('%(state)s').map(s => parse(s, j => Object.keys(j.state))),
    widget_views: scripts('%(view)s').map(s => parse(s, j => j.model_id)),
    colab_links: Array.from(document.querySelectorAll('a[href^="%(colab)s"]')).map(a => a.getAttribute('href')),
  };
})()
"""


def _error_events(events: list[dict]) -> list[tuple[str, str | None]]:
    """(message, source URL) of the error events among ``events``."""
    errors = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            frames = (d.get("stackTrace") or {}).get("callFrames") or [{}]
            text = (d.get("exception") or {}).get("description") or d.get("text", "")
            message = text.splitlines()[0] if text else "uncaught exception"
            errors.append((message, frames[0].get("url") or d.get("url")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", ()))
            frames = (p.get("stackTrace") or {}).get("callFrames") or [{}]
            errors.append((text, frames[0].get("url")))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            errors.append((p["entry"].get("text", ""), p["entry"].get("url")))
    return errors


def inspect_page(browser: Browser, url: str, screenshot: Path | None = None,
                 width: int = 1280, height: int = 900, settle: float = 0.5) -> Facts:
    """Open ``url`` in a fresh tab, collect the :class:`Facts`, optionally save a full-page PNG."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.drain(0)  # forget about:blank's events
        nav = browser.call("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            return Facts(load_error=nav["errorText"])
        # The load event of this navigation (its loaderId), not a late one of about:blank.
        browser.wait_for("Page.lifecycleEvent", session, name="load", loaderId=nav.get("loaderId"))
        collect = _COLLECT % {"timeout_ms": int(browser.timeout * 1000), "state": WIDGET_STATE,
                              "view": WIDGET_VIEW, "colab": COLAB}
        result = browser.call("Runtime.evaluate", {"expression": collect, "awaitPromise": True,
                                                   "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            raise CDPError(f"collecting facts on {url} failed: {result['exceptionDetails'].get('text')}")
        facts = Facts(**result["result"]["value"])
        if screenshot is not None:
            size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": width, "height": min(size["height"], SCREENSHOT_MAX_HEIGHT), "scale": 1}
            png = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                          "clip": clip}, session=session)["data"]
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            tmp = screenshot.with_name(f".{screenshot.name}.tmp")
            tmp.write_bytes(base64.b64decode(png))
            os.replace(tmp, screenshot)  # atomic: never a half-written screenshot
        events = browser.drain(settle)
        facts.errors = _error_events([e for e in events if e.get("sessionId") == session])
        return facts
    finally:
        browser.call("Target.closeTarget", {"targetId": target})


# ----------------------------------------------------------------------------- the check


def expectations(root: Path, pages: list[str], config: dict) -> dict[str, Expectation]:
    """Per page, what it must show; notebooks are read from ``root``."""
    repo = config.get("repository", {})
    out = {}
    for page in pages:
        source = root / f"{page}.ipynb"
        if source.is_file():
            colab = colab_url(repo.get("url", ""), repo.get("branch", "main"), page)
            out[page] = notebook_expectation(json.loads(source.read_text()), colab)
        else:
            out[page] = Expectation()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's source folder (holds _toc.yml)")
    parser.add_argument("--html", type=Path, help="the built site (default: <root>/_build/html)")
    parser.add_argument("--screenshots", type=Path, help="where to save PNGs (default: <root>/_build/screenshots)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per page step")
    parser.add_argument("--which", action="store_true", help="print the browser that would be used and exit")
    args = parser.parse_args(argv)
    try:
        executable = find_browser()
    except FileNotFoundError as e:
        print(f"check_site: {e}", file=sys.stderr)
        return 2
    if args.which:
        print(executable)
        return 0

    import yaml  # Jupyter Book's dependency; imported here so --which works without it

    root = args.root.resolve()
    html = (args.html or root / "_build" / "html").resolve()
    shots = (args.screenshots or root / "_build" / "screenshots").resolve()
    config = yaml.safe_load((root / "_config.yml").read_text())
    pages = book_pages(yaml.safe_load((root / "_toc.yml").read_text()))
    missing = [p for p in pages if not (html / f"{p}.html").is_file()]
    if missing:
        print(f"check_site: {html} lacks {', '.join(p + '.html' for p in missing)}; run `make book` first",
              file=sys.stderr)
        return 2
    expect = expectations(root, pages, config)

    tic = time.perf_counter()
    failed, all_ignored = 0, {}
    with Browser(executable, timeout=args.timeout) as browser:
        version = browser.call("Browser.getVersion")["product"]
        print(f"check_site: {len(pages)} pages of {html} in {version}; screenshots in {shots}")
        for page in pages:
            try:
                shot = shots / f"{page.replace('/', '__')}.png"
                facts = inspect_page(browser, (html / f"{page}.html").as_uri(), shot)
            except CDPError as e:  # report the page and go on with the others
                facts = Facts(load_error=str(e))
            problems, ignored = judge(facts, expect[page])
            for message in ignored:
                all_ignored[message] = all_ignored.get(message, 0) + 1
            e = expect[page]
            summary = (f"{sum(i['figure'] for i in facts.images)} figures" if e.figures is not None else "page")
            summary += f", widget state {len(e.widget_models)} models" if e.widget_models else ""
            summary += ", Colab link" if e.colab else ""
            print(f"  {'FAIL' if problems else 'ok  '} {page}: {summary}; {len(ignored)} external errors ignored")
            for p in problems:
                print(f"       - {p}")
            failed += bool(problems)
    if all_ignored:
        print("ignored, because external hosts are unreachable by design (see tools/check_site.py):")
        for message, pages_with_it in all_ignored.items():
            print(f"  {pages_with_it} page(s): {message}")
    print(f"check_site: {len(pages) - failed} of {len(pages)} pages pass ({time.perf_counter() - tic:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
