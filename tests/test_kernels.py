"""The compiled kernels: float32 arithmetic stays float32, loops vectorise, both variants agree."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from _family import CLASSES, FAMILY

from adamlib import _jit, _kernels

KERNELS = sorted({name for member in FAMILY for name in member.kernels})
DOUBLE_ARITHMETIC = re.compile(r"\b(fadd|fsub|fmul|fdiv|fneg)\b[^=\n]*\bdouble\b|\bfpext\b|@llvm\.sqrt\.f64")


def _arguments(name, n, dtype, flags=True):
    """Arguments for kernel ``name``: random arrays for its arrays, then its named scalars."""
    kernel = getattr(_kernels, name)
    rng = np.random.default_rng(0)
    fields = kernel.scalars._fields
    arrays = list(inspect.signature(kernel.py_func).parameters)[:-len(fields)]
    scalars = {f: (flags if kernel.scalars.__annotations__[f] in (bool, "bool") else dtype(0.5)) for f in fields}
    return (*(rng.random(n).astype(dtype) for _ in arrays), *kernel.scalars(**scalars))


@pytest.mark.parametrize("name", KERNELS)
def test_named_scalars_are_the_kernel_parameters_after_its_arrays(name):
    kernel = getattr(_kernels, name)
    parameters = list(inspect.signature(kernel.py_func).parameters)
    fields = list(kernel.scalars._fields)
    assert parameters[-len(fields):] == fields
    assert parameters[:2] == ["param", "grad"]  # then the state buffers, named by their state keys
    assert not set(parameters[2:-len(fields)]) & set(fields)


@pytest.mark.parametrize("name", KERNELS)
def test_float32_kernels_compute_in_float32_and_vectorise(name):
    llvm = getattr(_kernels, name).llvm_ir(*_arguments(name, 64, np.float32))
    assert not DOUBLE_ARITHMETIC.search(llvm), "float32 kernel computes in double precision"
    assert re.search(r"<(4|8|16) x float>", llvm), "float32 kernel did not vectorise"


@pytest.mark.parametrize("name", KERNELS)
def test_serial_and_parallel_variants_are_bit_identical(name, dtype):
    kernel = getattr(_kernels, name)
    serial, parallel = _arguments(name, 10_000, dtype), _arguments(name, 10_000, dtype)
    kernel.serial(*serial)
    kernel.parallel(*parallel)
    for a, b in zip(serial, parallel):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)


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
