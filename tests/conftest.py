"""Shared test helpers."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"

DTYPES = [np.float32, np.float64]


def require(module: str):
    """Import an optional tool: skip with a reason locally, fail in CI (``CI=true``) if missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"optional dependency {module!r} is not installed ({exc})"
        if IN_CI:
            pytest.fail(message + "; CI installs it, so its absence is an error there")
        pytest.skip(message)


def skip_or_fail(message: str):
    """Skip locally, fail in CI: for a prerequisite (a built site, a browser) that CI provides."""
    if IN_CI:
        pytest.fail(message + " (CI provides it, so its absence is an error there)")
    pytest.skip(message)


def toc_docnames() -> list[str]:
    """The book's pages in table-of-contents order (root first), as Sphinx docnames."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    assert not site_map.globs(), "list every chapter in _toc.yml by name, not by glob"
    return list(site_map)


def toc_source(docname: str) -> Path:
    """The source file (.md or .ipynb) of a TOC entry; a missing one is an error."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / (docname + suffix)
        if path.exists():
            return path
    raise FileNotFoundError(f"_toc.yml lists {docname!r} but neither .ipynb nor .md exists")


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param
