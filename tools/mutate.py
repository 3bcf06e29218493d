"""Plant realistic errors in adamlib, one at a time, and show that the test suite catches each.

``make mutate`` runs this script. It copies the working tree (tracked files and untracked ones
that git does not ignore) into a temporary directory, checks that the suite passes there
unmutated, then for every mutation below: replaces one snippet of library source with a wrong
version, runs the suite until its first failure (``pytest -x``), and restores the file. A
mutation that the suite does not catch is a hole in the tests; the script exits non-zero.

The suite run is the library stage of ``make test`` (every test under ``tests/`` and adamlib's
doctests, oracle tests first), without the browser checks of the built site and without nbval,
which re-executes the chapters and so only repeats, more slowly, what the library tests check.
A mutation counts as caught when that suite fails, i.e. when ``make test`` would fail.

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
    Mutation("ema-weights-swapped", "adamlib/_scalar.py",
             "return average + weight * (x - average)", "return x + weight * (average - x)",
             "EMA: β and 1 − β swapped (every moment estimate)"),
    Mutation("bias-correction-off-by-one", "adamlib/_scalar.py",
             "return 1.0 - beta**step", "return 1.0 - beta ** (step + 1)",
             "bias correction 1 − βᵗ⁺¹ (the step counted from 0)"),
    Mutation("weight-decay-sign", "adamlib/_scalar.py",
             "return sign * grad + l2 * param", "return sign * grad - l2 * param",
             "coupled weight decay pushes away from 0 (every optimizer)"),
    Mutation("adam-eps-inside-root", "adamlib/_kernels.py",
             "param[i] = shrink * p - lr * rms_scaled(c1 * m, c2 * v, eps)",
             "param[i] = shrink * p - lr * c1 * m / math.sqrt(c2 * v + eps)",
             "Adam: ε inside the square root"),
    Mutation("adam-no-first-moment-correction", "adamlib/optimizers.py",
             "c1=dt(1.0 / bias_correction(beta1, t)),", "c1=dt(1.0),",
             "Adam: the first moment not bias-corrected"),
    Mutation("amsgrad-max-of-gradient", "adamlib/_kernels.py",
             "v = max(max_exp_avg_sq[i], v)", "v = max(max_exp_avg_sq[i], d * d)",
             "AMSGrad: the maximum taken over g² instead of v"),
    Mutation("adamw-decay-not-scaled-by-lr", "adamlib/optimizers.py",
             "return 0.0, 1.0 - lr * wd", "return 0.0, 1.0 - wd",
             "AdamW: decoupled weight decay not multiplied by the learning rate"),
    Mutation("nesterov-look-ahead-dropped", "adamlib/_kernels.py",
             "param[i] = p - lr * (d + momentum * b)", "param[i] = p - lr * (momentum * b)",
             "SGD Nesterov: the gradient term of the look-ahead dropped"),
    Mutation("sgd-first-step-damped", "adamlib/optimizers.py",
             "return scalars._replace(mu_t=dt(0.0), w_t=dt(1.0))", "return scalars._replace(mu_t=dt(0.0))",
             "SGD momentum: dampening applied to the buffer's first step"),
    Mutation("adagrad-eps-inside-root", "adamlib/_kernels.py",
             "param[i] = p - lr * rms_scaled(d, s, eps)", "param[i] = p - lr * d / math.sqrt(s + eps)",
             "Adagrad: ε inside the square root"),
    Mutation("adagrad-lr-decay-off-by-one", "adamlib/_scalar.py",
             "return lr / (1.0 + (step - 1) * lr_decay)", "return lr / (1.0 + step * lr_decay)",
             "Adagrad: the learning-rate decay counted from step 0"),
    Mutation("adagrad-sum-starts-at-zero", "adamlib/optimizers.py",
             'fill={"sum": "initial_accumulator_value"}', "fill={}",
             "Adagrad: initial_accumulator_value ignored"),
    Mutation("rmsprop-centered-mean-not-squared", "adamlib/_kernels.py",
             "v = v - a * a", "v = v - a",
             "centered RMSprop: subtracts the mean instead of its square"),
    Mutation("adamax-eps-outside-max", "adamlib/_scalar.py",
             "return max(beta * u, abs(g) + eps)", "return max(beta * u, abs(g)) + eps",
             "Adamax: ε added outside the max (the paper's form, not torch's)"),
    Mutation("nadam-current-mu-for-next", "adamlib/optimizers.py",
             "avg_coef=dt(lr * mu_next / (1.0 - mu_product * mu_next)))",
             "avg_coef=dt(lr * mu / (1.0 - mu_product * mu)))",
             "NAdam: μₜ used where μₜ₊₁ belongs"),
    Mutation("radam-threshold-paper", "adamlib/optimizers.py",
             "rectified = rho_t > 5.0", "rectified = rho_t > 4.0",
             "RAdam: the paper's threshold ρₜ > 4 instead of torch's 5"),
    Mutation("radam-rho-inf-constant", "adamlib/_scalar.py",
             "rho_inf = 2.0 / (1.0 - beta2) - 1.0", "rho_inf = 2.0 / (1.0 - beta2)",
             "RAdam: ρ∞ without the − 1"),
    Mutation("cosine-off-by-one", "adamlib/schedules.py",
             "math.cos(math.pi * min(t, decay_steps) / decay_steps)",
             "math.cos(math.pi * min(t, decay_steps) / (decay_steps + 1))",
             "cosine decay: period off by one"),
    Mutation("warmup-off-by-one", "adamlib/schedules.py",
             "(min(t, warmup_steps) / warmup_steps)", "(min(t + 1, warmup_steps) / warmup_steps)",
             "linear warm-up: one step ahead"),
    Mutation("step-decay-boundary", "adamlib/schedules.py",
             "init * gamma ** (t // step_size)", "init * gamma ** ((t + 1) // step_size)",
             "step decay: drops one step early"),
    Mutation("clip-norm-without-eps", "adamlib/clipping.py",
             "coefficient = max_norm / (total + 1e-6)", "coefficient = max_norm / total",
             "gradient clipping: torch's 1e-6 left out of the coefficient"),
    Mutation("table-ignores-dimensions", "adamlib/_batch.py",
             "if _load_int64(dims + 8 * d) != shapes[j, d]:", "if False:",
             "table path: a gradient of another shape with as many dimensions and elements accepted"),
    Mutation("table-ignores-shared-memory", "adamlib/_batch.py",
             "if k >= 0 and memory_ends[k] > data:", "if False:",
             "table path: a gradient that is (a view of) a parameter or state buffer accepted"),
    Mutation("table-chunks-overlap", "adamlib/_batch.py",
             "a, b = max(lo, begin), min(hi, begin + size)", "a, b = max(lo - 1, begin), min(hi, begin + size)",
             "table path: neighbouring chunks update an element twice"),
    Mutation("table-ignores-replaced-parameter", "adamlib/_batch.py",
             "if _load_int64(params + 8 * k) != param_ids[j]:",
             "if False:",
             "table path: an array put in place of a parameter ignored, the old one updated"),
    Mutation("table-ignores-group-boundaries", "adamlib/_batch.py",
             "if n != group_sizes[g] or", "if n < 0 or",
             "table path: an array moved to another group keeps the old group's options"),
    Mutation("table-misses-a-step-count", "adamlib/_batch.py",
             "for j in range(dicts.shape[0]):", "for j in range(dicts.shape[0] - 1):",
             "table path: the last state of a batch keeps its old step count"),
    Mutation("table-scalars-not-rounded", "adamlib/_batch.py",
             "rounded = as_dtype(like.dtype).type", "rounded = float",
             "table path: float32 kernels get float64 scalars"),
    Mutation("table-forgets-skipped-steps", "adamlib/_optimizer.py",
             "if count_only and not missing and batch.step is not None and batch.variant is not None:",
             "if count_only and batch.step is not None and batch.variant is not None:",
             "table path: a parameter without a gradient still has its step counted"),
]


# The oracle tests run first, on their own: most mutations stop there, in about a minute.
ORACLES = ["tests/test_reference.py", "tests/test_symbolic.py", "tests/test_torch_oracle.py",
           "tests/test_schedules.py", "tests/test_clipping_and_buffer.py"]
EVERYTHING = ["tests", "adamlib"]


def suite(paths: list[str], stop_at_first_failure: bool) -> list[str]:
    """make test's library stage over ``paths``: tests and adamlib's doctests, minus the browser
    checks (they need a built site) and the notebooks (nbval), which only repeat the library's
    checks more slowly."""
    return [str(PYTHON), "-m", "pytest", *(["-x"] if stop_at_first_failure else []), "-q",
            "-p", "no:cacheprovider", "-p", "no:xdist", "--ignore=tests/test_site.py", *paths]


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


def run_suite(tree: Path, stop_at_first_failure: bool = True) -> tuple[bool, str, float]:
    """``(passed, first failure or summary, seconds)``: the oracles, then, if they pass, the rest.

    Each run compiles into an empty Numba cache: Numba keys a cached kernel on its own file
    only, so a kernel compiled with a mutated scalar function from ``_scalar.py`` would survive
    the restoring of that file and fail every later run.
    """
    start = time.perf_counter()
    for paths in (ORACLES, EVERYTHING):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1",
                       NUMBA_CACHE_DIR=cache)
            done = subprocess.run(suite(paths, stop_at_first_failure), cwd=tree, env=env,
                                  capture_output=True, text=True)
        if done.returncode != 0:
            break
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
            passed, summary, seconds = run_suite(tree, stop_at_first_failure=False)
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
