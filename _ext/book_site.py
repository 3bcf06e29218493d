"""Sphinx glue for the book's web site, loaded by ``_config.yml`` (``sphinx.local_extensions``).

One fix: every page used to log ``Identifier 'THEBE_JS_URL' has already been declared``.
Sphinx 7.4 keeps an inline script that an extension adds after the builder started twice (once
registered with the file name ``None``, once with ``''``, which compare unequal), so
sphinx-thebe's ``const THEBE_JS_URL = ...`` (and sphinx-togglebutton's selector) appear twice in
every page. This handler drops the second copy of any script before the page is written.
"""

from __future__ import annotations


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


def setup(app):
    # After every other handler, so scripts added for this page are seen too.
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
