"""Structure checks of the chapters: what nbval and the book build do not check by themselves.

nbval (``make test`` runs ``pytest --nbval``) re-executes every chapter and compares its outputs
with the stored ones; these tests check that the stored notebooks are worth comparing with:
executed top to bottom, asserting something, printing SymPy as MathJax, and all in the book.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import CHAPTERS, ROOT, toc_docnames, toc_source

NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
ASSERTION = re.compile(r"^\s*assert\b|\bassert_(allclose|array_equal|equal|array_less)\b", re.M)
# Reprs that differ between runs (addresses), and a figure's text fallback shown without the
# figure (the figure was not rendered: the cell printed its repr instead of showing it).
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
FIGURE_REPR = re.compile(r"^<Figure size [^>]*>$", re.M)


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)


@notebook
def test_every_code_cell_is_executed_in_order(path):
    counts = [cell["execution_count"] for cell in code_cells(load(path)) if source(cell).strip()]
    unexecuted = [i for i, count in enumerate(counts, 1) if count is None]
    assert not unexecuted, f"code cells {unexecuted} have no execution count: run top to bottom"
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts are {counts}; restart the kernel and run all cells once"
    )


@notebook
def test_chapter_asserts_its_claims(path):
    cells = [source(cell) for cell in code_cells(load(path))]
    assert any(ASSERTION.search(cell) for cell in cells), (
        "no code cell asserts anything (`assert ...` or `np.testing.assert_allclose`)"
    )


@notebook
def test_notebook_uses_the_python3_kernel(path):
    assert load(path)["metadata"].get("kernelspec", {}).get("name") == "python3"


@notebook
def test_sympy_prints_as_mathjax_not_png(path):
    # sp.init_printing() with matplotlib present renders each expression to a PNG that myst-nb
    # prefers over the LaTeX; init_printing(use_latex="mathjax") emits text/latex only.
    for i, cell in enumerate(code_cells(load(path)), 1):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert not ("text/latex" in data and "image/png" in data), (
                f"code cell {i} has a PNG equation: use sp.init_printing(use_latex='mathjax')"
            )


@notebook
def test_no_unstable_or_noisy_reprs(path):
    for i, cell in enumerate(code_cells(load(path)), 1):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            plain = text(data.get("text/plain", "")) + text(output.get("text", ""))
            match = ADDRESS.search(plain)
            if match is None and not any(mime.startswith("image/") for mime in data):
                match = FIGURE_REPR.search(plain)
            assert match is None, (
                f"code cell {i} prints {match.group(0)!r}: end the cell with plt.show() or ';'"
            )


@notebook
def test_no_error_outputs(path):
    for i, cell in enumerate(code_cells(load(path)), 1):
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"code cell {i} stored an error: {errors[0].get('ename')}"


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = toc_docnames()
    for docname in listed:
        toc_source(docname)  # raises for an entry without a source file
    on_disk = {
        path.relative_to(ROOT).with_suffix("").as_posix()
        for pattern in ("*.ipynb", "*.md")
        for path in CHAPTERS.glob(pattern)
    }
    missing = sorted(on_disk - set(listed))
    assert not missing, f"chapters not listed in _toc.yml: {missing}"
    assert len(listed) == len(set(listed)), "a page is listed twice in _toc.yml"


@notebook
def test_colab_setup_cell_fetches_the_configured_repository(path):
    # The Colab launch button opens a lone notebook: its first code cell clones the repository
    # named in _config.yml and installs adamlib from it (and does nothing anywhere else).
    import yaml

    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    first = code_cells(load(path))[0]
    assert "google.colab" in source(first) and f'"{repository}"' in source(first)
    assert "remove-cell" in first["metadata"].get("tags", []), "the set-up cell is not part of the page"
    if any(re.search(r"^\s*(from|import) explorable\b", source(c), re.M) for c in code_cells(load(path))):
        assert 'f"{checkout}/book"' in source(first), (
            "the chapter imports explorable: its Colab cell must install the book's package too"
        )


def test_every_bibliography_entry_links_to_the_work():
    """The bibliography promises links: every entry has a DOI or a URL."""
    text = (ROOT / "references.bib").read_text()
    entries = re.split(r"\n(?=@)", text.strip())
    missing = [re.match(r"@\w+\{([^,]+),", e).group(1) for e in entries
               if not re.search(r"^\s*(doi|url)\s*=", e, re.M)]
    assert not missing, f"bibliography entries without a DOI or URL: {missing}"
