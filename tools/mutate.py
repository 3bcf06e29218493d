"""Plant realistic errors in adamlib, one at a time, and show that the test suite catches each.

``make mutate`` runs this script. It copies the working tree (tracked files and untracked ones
that git does not ignore) into a temporary directory, checks that the suite passes there
unmutated, then for every mutation below: replaces one snippet of library source with a wrong
version, runs the suite until its first failure (``pytest -x``), and restores the file. A
mutation that the suite does not catch is a hole in the tests; the script exits non-zero.

The suite run is ``make test``'s pytest stage (library tests, doctests, nbval over every
chapter), without the browser checks of the built site, which no library mutation can reach
except through the notebooks nbval already re-executes.

Usage: ``python tools/mutate.py [--list] [--only NAME ...] [--no-baseline]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"


class Mutation(NamedTuple):
    name: str
    path: str          # relative to the repository root
    original: str      # must occur exactly once in the file
    mutated: str
    what: str          # the realistic error it stands for


MUTATIONS = [
    # Filled in with the library's current source: each snippet must occur exactly once.
]


def suite(tree: Path) -> list[str]:
    """The command that runs make test's pytest stage in ``tree``, stopping at the first failure."""
    return [str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "2",
            "--dist", "loadscope", "--nbval", "--ignore=tests/test_site.py"]


def copy_tree(destination: Path) -> None:
    """Copy what git would commit (tracked and non-ignored untracked files) to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_suite(tree: Path) -> tuple[bool, str, float]:
    """``(passed, first failure or summary, seconds)``."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    done = subprocess.run(suite(tree), cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = done.stdout.splitlines()
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    summary = failed[0] if failed else (lines[-1] if lines else done.stderr.strip()[-200:])
    return done.returncode == 0, summary, seconds


def apply(tree: Path, mutation: Mutation) -> str:
    """Plant ``mutation`` in ``tree``; return the file's original text."""
    path = tree / mutation.path
    text = path.read_text()
    count = text.count(mutation.original)
    if count != 1:
        raise SystemExit(f"mutation {mutation.name!r}: its snippet occurs {count} times in "
                         f"{mutation.path}, not once; update the mutation to the current source")
    path.write_text(text.replace(mutation.original, mutation.mutated))
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip checking that the unmutated suite passes")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(args.only):
        unknown = sorted(set(args.only) - {m.name for m in MUTATIONS})
        raise SystemExit(f"unknown mutation(s) {unknown}; --list shows them")
    if args.list:
        for m in chosen:
            print(f"{m.name:28s} {m.path:24s} {m.what}")
        return 0
    if not PYTHON.exists():
        raise SystemExit(f"{PYTHON} not found: run `make venv` first")
    with tempfile.TemporaryDirectory(prefix="adamlib-mutate-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        for m in chosen:  # every snippet must apply before anything long runs
            (tree / m.path).write_text(apply(tree, m))
        if not args.no_baseline:
            passed, summary, seconds = run_suite(tree)
            print(f"baseline (no mutation): {'passes' if passed else 'FAILS'} in {seconds:.0f} s: {summary}",
                  flush=True)
            if not passed:
                print("the unmutated suite must pass first", file=sys.stderr)
                return 2
        rows, survivors = [], []
        for m in chosen:
            original = apply(tree, m)
            try:
                passed, summary, seconds = run_suite(tree)
            finally:
                (tree / m.path).write_text(original)
            caught = not passed
            if not caught:
                survivors.append(m.name)
            rows.append(f"| {m.name} | {m.what} | {'caught' if caught else '**NOT CAUGHT**'} "
                        f"| {summary.removeprefix('FAILED ').split(' - ')[0]} | {seconds:.0f} s |")
            print(rows[-1], flush=True)
        print("\n| mutation | error planted | result | first failing test | time |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
        print(f"\n{len(rows) - len(survivors)} of {len(rows)} mutations caught")
        if survivors:
            print(f"not caught: {survivors}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
