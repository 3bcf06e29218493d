"""Sphinx glue for the book's web site, loaded by ``_config.yml`` (``sphinx.local_extensions``).

Two fixes. First, every page used to log ``Identifier 'THEBE_JS_URL' has already been declared``.
Sphinx 7.4 keeps an inline script that an extension adds after the builder started twice (once
registered with the file name ``None``, once with ``''``, which compare unequal), so
sphinx-thebe's ``const THEBE_JS_URL = ...`` (and sphinx-togglebutton's selector) appear twice in
every page. This handler drops the second copy of any script before the page is written.

Second, the search page gets MathJax (Sphinx loads it only on pages with math), so that
``_static/search-math.js`` can typeset the math in the result snippets.
"""

from __future__ import annotations

from sphinx.ext.mathjax import install_mathjax


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = tuple(sorted(getattr(script, "attributes", {}).items()))
        if (str(filename), attributes) not in seen:
            seen.add((str(filename), attributes))
            unique.append(script)
    context["script_files"] = unique


def load_mathjax_on_search_page(app, pagename, templatename, context, doctree):
    if pagename != "search":
        return
    # Sphinx's own installer, told that this page needs it: the same script and configuration
    # (myst's processHtmlClass included) as on every page with math.
    policy = app.registry.html_assets_policy
    app.registry.html_assets_policy = "always"
    try:
        install_mathjax(app, pagename, templatename, context, doctree)
    finally:
        app.registry.html_assets_policy = policy


def setup(app):
    app.connect("html-page-context", load_mathjax_on_search_page)
    # After every other handler, so scripts added for this page are seen too.
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
