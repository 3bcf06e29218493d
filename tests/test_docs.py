"""The engineers' documentation runs: every ```python block of adamlib's README (which is also
the book page chapters/adamlib.md) is executed in order, and the docstring examples of the
modules that carry them pass as doctests."""

from __future__ import annotations

import doctest
import importlib
import re
import tomllib

import pytest
from conftest import ROOT, require

README = ROOT / "adamlib" / "README.md"
BOOK_PAGE = ROOT / "chapters" / "adamlib.md"
FENCE = re.compile(r"^```([^\s`]*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
TORCH_IMPORT = re.compile(r"^\s*(import torch|from torch)\b", re.M)


def python_blocks(path):
    return [code for language, code in FENCE.findall(path.read_text(encoding="utf-8")) if language == "python"]


def test_readme_code_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a block writes stays in a temporary directory
    blocks = python_blocks(README)
    assert len(blocks) >= 6, "the README lost its examples"
    torch_available = importlib.util.find_spec("torch") is not None
    namespace = {"__name__": "readme"}
    skipped = []
    for number, code in enumerate(blocks, 1):
        if TORCH_IMPORT.search(code) and not torch_available:
            skipped.append(number)  # the blocks after it do not depend on it
            continue
        try:
            exec(compile(code, f"{README.name}, python block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"python block {number} of {README} failed: {exc!r}") from exc
    if skipped:
        require("torch")  # skips locally, fails in CI, where torch is installed


def test_every_fence_is_labelled_so_none_escapes_execution():
    # A block fenced without a language would be neither highlighted nor run.
    for path in (README, BOOK_PAGE):
        languages = [language for language, _ in FENCE.findall(path.read_text(encoding="utf-8"))]
        assert all(languages), f"{path.name} has a code fence without a language"
        assert set(languages) <= {"python", "text", "{include}"}, f"{path.name}: unexpected fences {set(languages)}"


def test_the_book_page_is_the_readme():
    # One text for both: the book page includes the README instead of repeating it.
    text = BOOK_PAGE.read_text(encoding="utf-8")
    assert re.search(r"^```\{include\} \.\./adamlib/README\.md\s*$", text, re.M), text
    assert not python_blocks(BOOK_PAGE), "examples belong in the README, where the test runs them"


def test_readme_is_the_package_long_description():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["readme"] == "adamlib/README.md"


def test_readme_keeps_the_torch_section_for_the_drop_in():
    assert re.search(r"^## Using adamlib from torch$", README.read_text(encoding="utf-8"), re.M)


@pytest.mark.parametrize("module", ["adamlib.schedules", "adamlib._schedule", "adamlib._scheduler",
                                    "adamlib.checkpoint"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 or module == "adamlib._schedule", f"{module} has no examples to run"
    assert result.failed == 0
