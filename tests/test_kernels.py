"""The compiled kernels: float32 arithmetic stays float32, loops vectorise, both variants agree.

The elementwise kernels are checked strictly: no double-precision arithmetic at all, and
bit-identical variants. Adafactor's kernels (``elementwise=False``) reduce over a whole
parameter: their per-tensor
numbers (two RMS, the step size) are combined in double, as torch combines them in Python,
so for them the checks are that no *vector* arithmetic is double and that the threaded
variant, which sums in another order, agrees to rounding.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from _family import CLASSES, FAMILY, kernel
from _oracle_cases import deviation

from adamlib import _jit, _kernels

KERNELS = sorted({name for member in FAMILY for name in member.kernels})
DOUBLE_ARITHMETIC = re.compile(r"\b(fadd|fsub|fmul|fdiv|fneg)\b[^=\n]*\bdouble\b|\bfpext\b|@llvm\.sqrt\.f64")
VECTOR_DOUBLE = re.compile(r"<\d+ x double>")


def _array_shapes(name, n, count):
    """Shapes of a kernel's arrays for n elements: flat, except Adafactor's factors, which
    describe 4 matrices of √(n/4) × √(n/4) (n = 64 or 10 000)."""
    if name != "adafactor_matrix":
        return [(n,)] * count
    side = int(round((n // 4) ** 0.5))
    assert 4 * side * side == n
    return [(n,), (n,), (4, side), (4, side)]


def _arguments(name, n, dtype, flags=True):
    """Arguments for kernel ``name``: random arrays for its arrays, then its named scalars."""
    k = kernel(name)
    rng = np.random.default_rng(0)
    fields = k.scalars._fields
    arrays = list(inspect.signature(k.py_func).parameters)[:-len(fields)]
    scalars = {f: (flags if k.scalars.__annotations__[f] in (bool, "bool") else dtype(0.5)) for f in fields}
    return (*(rng.random(shape).astype(dtype) for shape in _array_shapes(name, n, len(arrays))),
            *k.scalars(**scalars))


@pytest.mark.parametrize("name", KERNELS)
def test_named_scalars_are_the_kernel_parameters_after_its_arrays(name):
    parameters = list(inspect.signature(kernel(name).py_func).parameters)
    fields = list(kernel(name).scalars._fields)
    assert parameters[-len(fields):] == fields
    assert parameters[:2] == ["param", "grad"]  # then the state buffers, named by their state keys
    assert not set(parameters[2:-len(fields)]) & set(fields)


@pytest.mark.parametrize("name", KERNELS)
def test_float32_kernels_compute_in_float32_and_vectorise(name):
    llvm = kernel(name).llvm_ir(*_arguments(name, 64, np.float32))
    double = DOUBLE_ARITHMETIC if kernel(name).elementwise else VECTOR_DOUBLE
    assert not double.search(llvm), "float32 kernel computes in double precision"
    assert re.search(r"<(4|8|16) x float>", llvm), "float32 kernel did not vectorise"


@pytest.mark.parametrize("name", KERNELS)
def test_serial_and_parallel_variants_are_bit_identical(name, dtype):
    serial, parallel = _arguments(name, 10_000, dtype), _arguments(name, 10_000, dtype)
    kernel(name).serial(*serial)
    kernel(name).parallel(*parallel)
    for a, b in zip(serial, parallel):
        if not isinstance(a, np.ndarray):
            continue
        if not kernel(name).elementwise:  # sums over 10⁴ elements in two orders: a few ulps apart
            assert deviation(b, a) <= 8
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", KERNELS)
def test_elementwise_means_two_halves_update_as_the_whole(name):
    # What a step may rely on when it updates pieces of arrays, or many arrays, in one call;
    # Adafactor's kernels declare that they may not (their RMS is over the whole parameter).
    whole, halves = _arguments(name, 64, np.float64), _arguments(name, 64, np.float64)
    fields = len(kernel(name).scalars._fields)
    arrays, scalars = halves[:-fields], halves[-fields:]
    for lower in (True, False):
        piece = [a[: len(a) // 2] if lower else a[len(a) // 2:] for a in arrays]
        kernel(name).serial(*piece, *scalars)
    kernel(name).serial(*whole)
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(whole[:-fields], arrays))
    assert same == kernel(name).elementwise


def test_kernel_picks_the_variant_by_size(monkeypatch):
    calls = []
    kernel = _kernels.sgd
    monkeypatch.setattr(kernel, "serial", lambda *a: calls.append("serial"))
    monkeypatch.setattr(kernel, "parallel", lambda *a: calls.append("parallel"))
    for dtype, n in _jit.PARALLEL_THRESHOLD.items():
        for size in (n - 1, n):
            kernel(np.zeros(size, dtype), np.zeros(size, dtype), 1.0, 0.0, 0.1)
    assert calls == ["serial", "parallel"] * len(_jit.PARALLEL_THRESHOLD)


def test_nonfinite_count():
    x = np.zeros(300_001)
    assert _kernels.nonfinite_count(x) == 0
    x[[5, 77, 300_000]] = [np.nan, np.inf, -np.inf]
    assert _kernels.nonfinite_count(x) == 3
    assert _kernels.nonfinite_count(x[:1000]) == 2


def test_nan_reaches_the_parameters_despite_fastmath():
    # fastmath never includes nnan/ninf: a NaN gradient must not be optimised away.
    for cls in CLASSES:
        p = np.zeros(16, np.float32)
        g = np.ones(16, np.float32)
        g[3] = np.nan
        cls([p]).step([g])
        assert np.isnan(p[3]) and np.isfinite(np.delete(p, 3)).all(), cls.__name__
