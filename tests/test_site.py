"""Browser checks of the built book (``make book`` writes it to ``_build/html``).

Headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) opens every page of the table of
contents from a local HTTP server with the network cut off, and checks that the page loads with no
console errors, that MathJax (shipped with the site) has typeset all math, that every image loads
and every internal link (and #fragment) resolves. A screenshot of each page is saved under
``_build/screenshots/`` for people to look at. The search page must find "bias correction", and
show the math in its snippets typeset.

What a reader sees, on a laptop (1280 px), a tablet (800 px) and a phone (390 px): the chapters
menu (☰) and the contents button open their panels; one search box; nothing scrolls sideways on
a phone; the right-hand contents follows the reading position; every figure has a numbered
caption and alt text that describes it; visible code takes at most a quarter of a chapter's
height (the rest is collapsed behind toggles); equations are numbered per chapter, (3.17), and
references from one chapter to another's equations carry that chapter's number.

Waiting: a page is ready when MathJax says so (its startup promise, which every later
typesetPromise chains onto), not when the network is idle; the time limits fit the slowest page
on a loaded two-core machine. The API reference is split over pages of at most ~150 formulas so
that none of them takes long to typeset.
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
# Screens: a laptop (the default page fixture), a tablet and a phone.
DESKTOP = {"width": 1280, "height": 900}
SCREENS = {"tablet": {"width": 800, "height": 1024}, "phone": {"width": 390, "height": 844}}
# Any wait for the browser. The whole API reference on one page (~300 formulas) needed 4-9 s to
# typeset on a quiet machine and 20-30 s with other jobs on both cores; split over four pages,
# the slowest (api-oracles) took 11 s and the others 4-7 s at a load average of 10. The limit
# leaves room for a machine several times busier than that.
TIMEOUT_MS = 180_000
# The most page height that code a reader sees (not collapsed behind a toggle) may take.
CODE_BUDGET = 0.25
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
def new_page(browser, site_url):
    """A factory: a fresh browser page with the given viewport, closed after the test."""
    contexts = []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, service_workers="block")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.log = PageLog(page, site_url.rstrip("/"))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page(DESKTOP)


def wait_for_mathjax(page):
    """Wait until MathJax has typeset everything asked of it so far (no-op without MathJax).

    ``MathJax.startup.promise`` settles after the page's first typeset, and every later
    ``typesetPromise`` (the search snippets') chains onto it. After the load event the deferred
    MathJax script has run, so a page that loads MathJax has ``MathJax.startup`` by now.
    """
    token = page.evaluate(
        """() => {
      if (!document.querySelector('script[src*="mathjax"]')) return null;
      if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'absent';
      const token = '__typeset' + Math.random().toString(36).slice(2);
      window[token] = 'pending';
      MathJax.startup.promise.then(() => { window[token] = 'done'; },
                                   (error) => { window[token] = 'failed: ' + error; });
      return token;
    }"""
    )
    if token is None:
        return
    assert token != "absent", "the page loads MathJax but MathJax did not start"
    page.wait_for_function(f"() => window['{token}'] !== 'pending'", polling=200)
    state = page.evaluate(f"() => window['{token}']")
    assert state == "done", f"MathJax {state}"


def open_page(page, url: str):
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url} does not load"
    wait_for_mathjax(page)


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
    // "3" on chapter 3 (the number the numbered TOC gives its title), "" on unnumbered pages.
    chapter: ((document.querySelector('article h1 .section-number') || {}).textContent || '')
               .trim().replace(/\.$/, ''),
    eqnos: [...document.querySelectorAll('.math .eqno')]
             .map(e => (e.firstChild ? e.firstChild.textContent : '').trim()),
    figures: [...document.querySelectorAll('article.bd-article img')].map(img => {
      const caption = img.closest('figure') && img.closest('figure').querySelector('figcaption');
      const part = (selector) => caption && caption.querySelector(selector)
                                 ? caption.querySelector(selector).textContent.trim() : '';
      return {src: img.getAttribute('src') || '', alt: (img.getAttribute('alt') || '').trim(),
              number: part('.caption-number'), caption: part('.caption-text')};
    }),
    // Code a reader sees: code cells' sources and code blocks that are not collapsed behind a
    // toggle (a closed <details> hides them); printed output is not code.
    code: (() => {
      const article = document.querySelector('article.bd-article');
      const blocks = [...article.querySelectorAll('.cell_input, div[class*="highlight-"]')]
        .filter(el => !el.parentElement.closest('.cell_input, div[class*="highlight-"], .cell_output'))
        .filter(el => el.checkVisibility());
      return {height: blocks.reduce((sum, el) => sum + el.getBoundingClientRect().height, 0),
              page: article.getBoundingClientRect().height, blocks: blocks.length};
    })(),
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
    # A numbered chapter numbers its equations (N.k): its own number, then a count.
    if facts["chapter"]:
        prefix = re.compile(rf"\({re.escape(facts['chapter'])}\.\d+\)")
        wrong = [n for n in facts["eqnos"] if not prefix.fullmatch(n)]
        check(not wrong, f"equation numbers without the chapter's ({facts['chapter']}.k): {wrong}")
    check(not is_notebook or facts["chapter"], "a chapter without a number (numbered: in _toc.yml)")

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


# What test_page_renders measured on each page at 1280 px, for the tests below that judge the
# same rendering (figures, code budget) without loading the page again.
FACTS: dict[str, dict] = {}


def load_facts(page, url: str) -> dict:
    open_page(page, url)
    page.evaluate(LOAD_IMAGES)  # lazy images get their height before anything is measured
    return page.evaluate(PAGE_FACTS)


def facts_of(new_page, site_url, docname) -> dict:
    if docname not in FACTS:
        FACTS[docname] = load_facts(new_page(DESKTOP), site_url + docname + ".html")
    return FACTS[docname]


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_renders(page, site_url, docname):
    facts = FACTS[docname] = load_facts(page, site_url + docname + ".html")
    screenshot(page, docname)
    problems = page_problems(facts, page.log, site_url, toc_source(docname))
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


NOTEBOOKS = [d for d in DOCNAMES if toc_source(d).suffix == ".ipynb"]
HASH_NAME = re.compile(r"(^|/)[0-9a-f]{16,}\.\w+$")


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_figures_have_captions_and_alt_text(new_page, site_url, docname):
    """Each figure: a numbered caption (what to look at, what it shows) and alt text that
    describes it; myst-nb's default alt text is the image's hash file name. Set both in the
    cell's metadata: {"mystnb": {"figure": {"caption": ..., "name": ...}, "image": {"alt": ...}}}."""
    problems = []
    for figure in facts_of(new_page, site_url, docname)["figures"]:
        name = figure["src"].rsplit("/", 1)[-1]
        if not (figure["number"] and figure["caption"]):
            problems.append(f"{name}: no numbered caption")
        alt = figure["alt"]
        if len(alt) < 15 or HASH_NAME.search(alt) or name in alt:
            problems.append(f"{name}: alt text {alt!r} does not describe the figure")
    assert not problems, f"{docname}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_visible_code_within_budget(new_page, site_url, docname):
    """Code a reader sees takes at most CODE_BUDGET of the chapter's height at 1280 px; the rest
    is collapsed (hide-input, hide-cell), never deleted."""
    code = facts_of(new_page, site_url, docname)["code"]
    share = code["height"] / code["page"]
    assert share <= CODE_BUDGET, (
        f"{docname}: visible code is {share:.0%} of the page ({code['blocks']} blocks, "
        f"{code['height']:.0f} of {code['page']:.0f} px); the budget is {CODE_BUDGET:.0%}"
    )


EQREF = re.compile(r'<a class="reference internal" href="([^"#]+)#(equation-[^"]+)">([^<]*)</a>')


def equation_numbers(body: str) -> dict[str, str]:
    """{"equation-label": "(3.17)"} for the numbered equations of a page's HTML."""
    return dict(re.findall(r'id="(equation-[^"]+)">\s*<span class="eqno">([^<]*)<', body))


def test_equation_references_across_chapters_carry_the_chapter_number(site_url):
    """{eq} references to another page's equation link there and print the number that page
    gives it, chapter prefix included. The notation page refers to every chapter's equations."""
    references = []
    for docname in DOCNAMES:
        body = fetch(site_url + docname + ".html") or ""
        for href, anchor, text in EQREF.findall(body):
            references.append((docname, urllib.parse.urljoin(site_url + docname, href), anchor, text))
    assert references, "no page refers to another page's equations"
    wrong = []
    for docname, target, anchor, text in references:
        number = equation_numbers(fetch(target) or "").get(anchor)
        if number is None or text.strip() != number.strip() or "." not in number:
            wrong.append(f"{docname}: {text!r} -> {target}#{anchor}, numbered {number!r} there")
    assert not wrong, "cross-page equation references:\n  " + "\n  ".join(wrong)


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


def test_search_finds_bias_correction_and_typesets_its_snippets(page, site_url):
    open_page(page, site_url + "search.html?q=bias+correction")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for()
    # The list is complete when searchtools.js says so; each snippet is then fetched from its
    # page (network idle: every fetch answered) and typeset (MathJax's promise).
    page.wait_for_function(
        "() => /finished/i.test((document.querySelector('#search-results .search-summary')"
        " || {textContent: ''}).textContent)",
        polling=200,
    )
    page.wait_for_load_state("networkidle")
    wait_for_mathjax(page)
    screenshot(page, "search")
    hrefs = results.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs, "searching for 'bias correction' found nothing"
    assert all(h.startswith(site_url) for h in hrefs)
    snippets = page.evaluate(
        """() => [...document.querySelectorAll('#search-results p.context')].map(p => {
          const copy = p.cloneNode(true);
          copy.querySelectorAll('mjx-container').forEach(m => m.remove());
          return {text: copy.textContent, math: p.querySelectorAll('mjx-container').length,
                  errors: p.querySelectorAll('mjx-merror').length};
        })"""
    )
    # A TeX macro outside a string literal (a code snippet may quote r"\varepsilon").
    macro = re.compile(r"""(?<!["'])\\[A-Za-z]+""")
    raw = [s["text"][:120] for s in snippets if RAW_TEX.search(s["text"]) or macro.search(s["text"])]
    assert not raw, "search snippets show raw LaTeX:\n  " + "\n  ".join(raw)
    assert not any(s["errors"] for s in snippets), "MathJax errors in the search snippets"
    assert any(s["math"] for s in snippets), "no snippet shows typeset math (the check saw none)"
    assert not page.log.console_errors, "console errors:\n" + "\n".join(page.log.console_errors)


# --------------------------------------------------------------------------------------------
# Narrow screens: menus, one search box, nothing sideways

# The chapter with the most sections, for the navigation checks, and the pages of the API
# reference (its parts: the index page has no sections), whose long names must fit the
# contents panel.
def _nav_pages() -> list[str]:
    pages = [d for d in DOCNAMES if re.search(r"/api-[a-z]+$", d)]
    if NOTEBOOKS:
        pages.insert(0, NOTEBOOKS[0])
    return pages or DOCNAMES[:1]


VISIBLE_SEARCH_FIELDS = """() => [...document.querySelectorAll(
    'input[type="search"], .search-button-field')].filter(el => el.checkVisibility()).length"""

PANEL_FACTS = """(dialog) => {
  const box = dialog.getBoundingClientRect();
  const links = [...dialog.querySelectorAll('a')].filter(a => a.checkVisibility());
  return {links: links.length,
          sticking_out: links.filter(a => a.getBoundingClientRect().right > box.right + 1)
                             .map(a => a.textContent.trim().slice(0, 60)),
          sideways: dialog.scrollWidth - dialog.clientWidth};
}"""


@pytest.mark.parametrize("screen", list(SCREENS))
def test_menus_open_on_narrow_screens(new_page, site_url, screen):
    """The ☰ button opens the chapters menu and the contents button the page's sections (the
    theme moves the sidebars into <dialog>s on narrow screens); one search box at most."""
    page = new_page(SCREENS[screen])
    problems = []
    for docname in _nav_pages():
        response = page.goto(site_url + docname + ".html", wait_until="load")
        assert response is not None and response.ok
        fields = page.evaluate(VISIBLE_SEARCH_FIELDS)
        if fields > 1:
            problems.append(f"{docname}: {fields} search boxes")
        if not page.locator(".search-button:visible, .search-button-field:visible").count():
            problems.append(f"{docname}: no way to search")
        for toggle, dialog, what in (
            ("primary-toggle", "#pst-primary-sidebar-modal", "chapters menu"),
            ("secondary-toggle", "#pst-secondary-sidebar-modal", "contents"),
        ):
            buttons = page.locator(f"button.{toggle}:visible")
            if buttons.count() != 1:
                problems.append(f"{docname}: {buttons.count()} visible {what} buttons, not 1")
                continue
            buttons.click()
            panel = page.locator(f"{dialog}[open]")
            try:
                panel.wait_for(state="visible", timeout=10_000)
            except Exception:
                problems.append(f"{docname}: the {what} button opened nothing")
                continue
            facts = panel.evaluate(PANEL_FACTS)
            if not facts["links"]:
                problems.append(f"{docname}: the {what} panel shows no links")
            if facts["sticking_out"] or facts["sideways"] > 1:
                problems.append(
                    f"{docname}: entries run out of the {what} panel: {facts['sticking_out']}"
                )
            page.screenshot(path=str(SCREENSHOTS / f"{screen}-{what.replace(' ', '-')}.png"))
            page.keyboard.press("Escape")
            page.locator(dialog).wait_for(state="hidden", timeout=10_000)
    assert not problems, f"{screen}:\n  " + "\n  ".join(problems)


def test_one_search_box_on_a_laptop(page, site_url):
    page.goto(site_url + (NOTEBOOKS or DOCNAMES)[0] + ".html", wait_until="load")
    assert page.evaluate(VISIBLE_SEARCH_FIELDS) == 1, "not exactly one search box at 1280 px"


SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  const scrollsItself = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  const culprits = [...document.querySelectorAll('body *')]
    .filter(el => el.checkVisibility() && el.getBoundingClientRect().right > width + 1)
    .filter(el => !scrollsItself(el))
    .filter(el => ![...el.children].some(c => c.getBoundingClientRect().right > width + 1))
    .map(el => `${el.tagName.toLowerCase()}.${el.className} `
               + `(${Math.round(el.getBoundingClientRect().right - width)} px): `
               + el.textContent.trim().slice(0, 60));
  return {overflow: document.documentElement.scrollWidth - width, culprits: culprits.slice(0, 5)};
}"""


@pytest.mark.parametrize("docname", DOCNAMES)
def test_nothing_scrolls_sideways_on_a_phone(new_page, site_url, docname):
    """At 390 px the page is as wide as the screen: wide tables, code, outputs and display math
    scroll inside their own box; long inline code and names wrap."""
    page = new_page(SCREENS["phone"])
    open_page(page, site_url + docname + ".html")
    page.evaluate(LOAD_IMAGES)
    result = page.evaluate(SIDEWAYS)
    assert result["overflow"] <= 0, (
        f"{docname} scrolls {result['overflow']} px sideways at 390 px; sticking out:\n  "
        + "\n  ".join(result["culprits"])
    )


# --------------------------------------------------------------------------------------------
# The right-hand contents follows the reader

JUMP_THROUGH_SECTIONS = """async () => {
  const frame = () => new Promise(resolve => requestAnimationFrame(() => resolve()));
  const settle = async () => { await frame(); await frame();
                               await new Promise(resolve => setTimeout(resolve, 100)); };
  const links = [...document.querySelectorAll('#pst-page-toc-nav a.nav-link[href^="#"]')];
  const top = (el) => el.getBoundingClientRect().top + window.scrollY;
  const sections = links.map(a => {
    const target = document.getElementById(decodeURIComponent(a.hash.slice(1)));
    return {href: a.hash, heading: target && (target.querySelector('h2, h3, h4') || target)};
  }).filter(s => s.heading);
  const reachable = document.documentElement.scrollHeight - window.innerHeight;
  // Sections long enough that their heading alone is in the top 30 % after the jump.
  const candidates = sections.filter((s, i) => {
    const next = sections[i + 1];
    return top(s.heading) < reachable
        && (!next || top(next.heading) - top(s.heading) > 0.4 * window.innerHeight);
  });
  // Every other section going down (each jump skips one), then back up to the first.
  const jumps = candidates.filter((s, i) => i % 2 === 1);
  if (candidates.length) jumps.push(candidates[0]);
  const wrong = [];
  for (const s of jumps) {
    window.scrollTo(0, top(s.heading) - 10);
    await settle();
    const active = [...document.querySelectorAll('#pst-page-toc-nav a.nav-link.active')]
                     .map(a => a.hash);
    if (active.length !== 1 || active[0] !== s.href) wrong.push(`${s.href}: ${active}`);
  }
  return {jumps: jumps.length, wrong};
}"""


def test_contents_highlight_follows_jumps(page, site_url):
    """Jumping to a section (Page Down, the scroll bar, a fling) highlights it in the contents;
    the theme's own observer alone missed headings that jumped past the top of the window."""
    counts = {d: (fetch(site_url + d + ".html") or "").count('class="toc-entry') for d in NOTEBOOKS}
    assert counts, "no chapters"
    docname = max(counts, key=counts.get)
    open_page(page, site_url + docname + ".html")
    page.evaluate(LOAD_IMAGES)
    result = page.evaluate(JUMP_THROUGH_SECTIONS)
    assert result["jumps"] >= 3, f"{docname}: too few long sections to test ({result})"
    assert not result["wrong"], (
        f"{docname}: after a jump the contents highlight is elsewhere:\n  "
        + "\n  ".join(result["wrong"])
    )
