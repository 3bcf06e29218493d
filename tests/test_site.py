"""Browser checks of the built book (``make book`` writes it to ``_build/html``).

Headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) opens every page of the table of
contents from a local HTTP server with the network cut off, and checks that the page loads with no
console errors, that MathJax (shipped with the site) has typeset all math, that every image loads
and every internal link (and #fragment) resolves. A screenshot of each page is saved under
``_build/screenshots/`` for people to look at. The search page must find "bias correction".
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from conftest import ROOT, require, skip_or_fail, toc_docnames, toc_source

SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
BUILD_LOG = ROOT / "_build" / "book.log"
BUILD_STATUS = ROOT / "_build" / "book.status"
try:
    DOCNAMES = toc_docnames()
except Exception:  # a malformed _toc.yml: test_notebooks.py's TOC test reports it
    DOCNAMES = []
REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")

# Chromium flags for a sandboxed CI container with no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# TeX left in the text a reader sees means MathJax (or the MyST parser) did not handle it.
RAW_TEX = re.compile(
    r"\$\$|\\frac|\\begin\{|\\displaystyle|\\\[|\\\("  # display math, fractions, delimiters
    r"|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$"  # $...\macro...$ that was never parsed as math
)


# --------------------------------------------------------------------------------------------
# The build itself


def test_book_built_without_warnings():
    if not BUILD_STATUS.exists():
        skip_or_fail("no build log: run `make book` (or `make test`, which builds the book first)")
    log = re.sub(r"\x1b\[[0-9;]*m", "", BUILD_LOG.read_text(encoding="utf-8", errors="replace"))
    problems = [
        line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL):", line)
    ]
    assert not problems, "the book build warned (-W makes warnings errors):\n" + "\n".join(problems)
    assert BUILD_STATUS.read_text().strip() == "0", "jupyter-book build failed; see _build/book.log"


# --------------------------------------------------------------------------------------------
# Fixtures: a local server for _build/html and one headless Chromium for the module


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        skip_or_fail("no built site in _build/html: run `make book` first")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def chromium_executable() -> str | None:
    """$CHROMIUM if set, else Debian's chromium, else a Chrome found on PATH (GitHub runners)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = require("playwright.sync_api")
    executable = chromium_executable()
    if executable is None:
        skip_or_fail("no Chromium found (apt-get install chromium, or set $CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class PageLog:
    """What went wrong while a page loaded: console errors, exceptions, failed requests."""

    def __init__(self, page, origin: str):
        self.console_errors: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", self.on_failed)
        page.on("response", self.on_response)
        # No request leaves the machine: the site must render from its own files.
        page.route(re.compile(r"^(?!" + re.escape(origin) + ")"), self.block)

    def on_console(self, message):
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def on_failed(self, request):
        if not request.url.startswith("data:") and request.url not in self.external:
            self.failed.append(f"{request.failure} {request.url}")

    def block(self, route):
        if route.request.url.startswith("data:"):
            route.continue_()
            return
        self.external.append(route.request.url)
        route.abort()


@pytest.fixture
def page(browser, site_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    page = context.new_page()
    page.log = PageLog(page, site_url.rstrip("/"))
    yield page
    context.close()


def open_page(page, url: str):
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url} does not load"
    page.wait_for_load_state("networkidle")
    # MathJax's startup promise settles after the first typeset of the page.
    page.evaluate(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        " ? MathJax.startup.promise.then(() => true) : null"
    )


def screenshot(page, name: str, max_height: int = 20_000):
    """The whole page (up to max_height pixels: the API reference is three times that)."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
    clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height}
    page.screenshot(path=str(path), full_page=True, clip=clip)


# --------------------------------------------------------------------------------------------
# Link checking, shared by all pages: each target fetched once


class IdCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def fetch(url: str) -> str | None:
    """The page at url as text ('' for a file that is not HTML), or None when it does not load."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get_content_type()
    except (urllib.error.HTTPError, urllib.error.URLError):
        return None
    return body.decode("utf-8", errors="replace") if kind == "text/html" else ""


@functools.lru_cache(maxsize=None)
def fetch_ids(url: str) -> frozenset[str] | None:
    """The ids (and <a name>s) in the page at url, or None when it does not load."""
    body = fetch(url)
    if body is None:
        return None
    collector = IdCollector()
    collector.feed(body)
    return frozenset(collector.ids)


def broken_internal_links(hrefs: list[str], site_url: str) -> list[str]:
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(site_url):
            continue
        target, _, fragment = href.partition("#")
        target = target.split("?")[0]
        if target.endswith("/"):
            target += "index.html"
        ids = fetch_ids(target)
        if ids is None:
            broken.append(f"{href} (does not load)")
        elif fragment and urllib.parse.unquote(fragment) not in ids:
            broken.append(f"{href} (no element with id {fragment!r})")
    return broken


# --------------------------------------------------------------------------------------------
# Every page of the table of contents

PAGE_FACTS = r"""() => {
  const outsideCode = (node) => !node.parentElement.closest(
      'pre, code, script, style, mjx-container, .highlight, .MathJax, mjx-assistive-mml');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (outsideCode(node)) texts.push(node.textContent);
  }
  const maths = [...document.querySelectorAll('.math')];
  return {
    text: texts.join(' '),
    mathjaxLoaded: Boolean(window.MathJax && window.MathJax.startup),
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                    .map(m => m.textContent.slice(0, 80)),
    rendered: document.querySelectorAll('mjx-container').length,
    mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    // MathJax shows an undefined macro as red text: \name in an <mtext> of the hidden MathML.
    undefinedMacros: [...document.querySelectorAll('mjx-assistive-mml mtext')]
                       .map(t => t.textContent).filter(t => /^\\[A-Za-z]+$/.test(t)),
    images: [...document.images].map(img => ({src: img.currentSrc || img.src,
                                              complete: img.complete, width: img.naturalWidth})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    equations: [...document.querySelectorAll('.math[id^="equation-"]')]
                 .map(m => ({id: m.id, numbered: Boolean(m.querySelector('.eqno'))})),
    eqrefs: [...document.querySelectorAll('a[href*="#equation-"]')]
              .filter(a => !a.classList.contains('headerlink')).map(a => a.textContent.trim()),
  };
}"""

LOAD_IMAGES = """() => Promise.all([...document.images].map(img => {
  img.loading = 'eager';
  return img.decode().catch(() => null);
}))"""


def page_problems(facts: dict, log: PageLog, site_url: str, source) -> list[str]:
    """Everything wrong with one rendered page, as sentences (empty when the page is fine)."""
    problems = []

    def check(ok, message):
        if not ok:
            problems.append(message)

    is_notebook = source.suffix == ".ipynb"
    check(not log.external, f"the page asked the internet for: {log.external}")
    check(not log.console_errors, "console errors: " + "; ".join(log.console_errors))
    check(not log.failed, "failed requests: " + "; ".join(log.failed))

    # Math: MathJax (the copy shipped with the site) typeset everything and left no TeX behind.
    check(facts["mathjaxLoaded"] or not facts["maths"], "MathJax did not load")
    check(not facts["untypeset"], f"math left untypeset: {facts['untypeset']}")
    check(not facts["mathErrors"], f"MathJax errors: {facts['mathErrors']}")
    check(not facts["undefinedMacros"], f"undefined TeX macros: {facts['undefinedMacros']}")
    raw = sorted(set(RAW_TEX.findall(facts["text"])))
    check(not raw, f"raw TeX in the text a reader sees: {raw}")
    check(facts["rendered"] > 0 or not is_notebook, "a chapter without rendered math")
    # Labelled equations carry numbers, and references to them are numbered links.
    unnumbered = [eq["id"] for eq in facts["equations"] if not eq["numbered"]]
    check(not unnumbered, f"labelled equations without a number: {unnumbered}")
    bad_refs = [text for text in facts["eqrefs"] if not re.fullmatch(r"\(\d+(\.\d+)*\)", text)]
    check(not bad_refs, f"equation references that are not numbers: {bad_refs}")

    broken_images = [i["src"] for i in facts["images"] if not i["complete"] or i["width"] == 0]
    check(not broken_images, f"images that did not load: {broken_images}")
    broken = broken_internal_links(facts["links"], site_url)
    check(not broken, "broken internal links: " + "; ".join(broken))

    # A download button for the page's source; Binder and Colab buttons for this repository.
    hrefs = facts["links"]
    docname = source.relative_to(ROOT).with_suffix("").as_posix()
    check(
        any(h.endswith(f"_sources/{docname}{source.suffix}") for h in hrefs),
        f"no download button for {source.name}",
    )
    if is_notebook:
        repo_path = urllib.parse.urlparse(REPOSITORY).path  # /owner/name
        binder = f"https://mybinder.org/v2/gh{repo_path}/"
        colab = f"https://colab.research.google.com/github{repo_path}/blob/"
        check(any(h.startswith(binder) and source.name in h for h in hrefs), "no Binder button")
        check(any(h.startswith(colab) and h.endswith(source.name) for h in hrefs), "no Colab")
    return problems


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_renders(page, site_url, docname):
    open_page(page, site_url + docname + ".html")
    page.evaluate(LOAD_IMAGES)
    screenshot(page, docname)
    problems = page_problems(page.evaluate(PAGE_FACTS), page.log, site_url, toc_source(docname))
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


def test_landing_page_says_what_the_book_proves_and_how_to_run_it(page, site_url):
    assert DOCNAMES, "_toc.yml lists no pages"
    page.goto(site_url)  # index.html redirects to the root document
    page.wait_for_url(site_url + DOCNAMES[0] + ".html")
    text = page.inner_text("main").lower()
    assert "adam" in text and "make book" in text and "make test" in text, (
        "the landing page should say what the book derives and how to build and test it"
    )


def test_site_has_a_bibliography_and_an_api_reference(site_url):
    pages = {docname: fetch(site_url + docname + ".html") or "" for docname in DOCNAMES}
    assert any('class="citation"' in body for body in pages.values()), (
        "no page in the TOC lists the references (a {bibliography} directive)"
    )
    assert any('id="adamlib.' in body for body in pages.values()), (
        "no page in the TOC documents adamlib's API (autodoc)"
    )


def test_search_finds_bias_correction(page, site_url):
    open_page(page, site_url + "search.html?q=bias+correction")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=30_000)
    screenshot(page, "search")
    hrefs = results.evaluate_all("links => links.map(a => a.href)")
    assert hrefs, "searching for 'bias correction' found nothing"
    assert all(h.startswith(site_url) for h in hrefs)
    assert not page.log.console_errors, "console errors:\n" + "\n".join(page.log.console_errors)
