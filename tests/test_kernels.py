"""The compiled kernels: float32 arithmetic stays float32, loops vectorise, both variants agree."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

import adamlib
from adamlib import _jit, _kernels



def _calls(n, dtype):
    rng = np.random.default_rng(0)
    arr = lambda: rng.random(n).astype(dtype)
    s = dtype(0.5)
    empty = np.empty(0, dtype)
    return {
        "sgd": lambda: (arr(), arr(), s, s, s),
        "sgd_momentum": lambda: (arr(), arr(), arr(), s, s, s, s, s, s, True),
        "rmsprop": lambda: (arr(), arr(), arr(), arr(), arr(), True, True, s, s, s, s, s, s),
        "adam": lambda: (arr(), arr(), arr(), arr(), empty, False, s, s, s, s, s, s, s, s, s),
        "adamax": lambda: (arr(), arr(), arr(), arr(), s, s, s, s, s, s, s),
        "nadam": lambda: (arr(), arr(), arr(), arr(), s, s, s, s, s, s, s, s, s),
        "radam": lambda: (arr(), arr(), arr(), arr(), True, s, s, s, s, s, s, s, s),
    }


KERNELS = list(_calls(1, np.float32))
DOUBLE_ARITHMETIC = re.compile(r"\b(fadd|fsub|fmul|fdiv|fneg)\b[^=\n]*\bdouble\b|\bfpext\b|@llvm\.sqrt\.f64")


@pytest.mark.parametrize("name", KERNELS)
def test_float32_kernels_compute_in_float32_and_vectorise(name):
    # Compile a private, uncached copy: Numba cannot show the code of a cached function.
    dispatcher = numba.njit(cache=False, **_jit._options)(getattr(_kernels, name).py_func)
    dispatcher(*_calls(64, np.float32)[name]())
    llvm = dispatcher.inspect_llvm(dispatcher.signatures[0])
    assert not DOUBLE_ARITHMETIC.search(llvm), "float32 kernel computes in double precision"
    assert re.search(r"<(4|8|16) x float>", llvm), "float32 kernel did not vectorise"


@pytest.mark.parametrize("name", KERNELS)
def test_serial_and_parallel_variants_are_bit_identical(name, dtype):
    kernel = getattr(_kernels, name)
    serial, parallel = _calls(10_000, dtype)[name](), _calls(10_000, dtype)[name]()
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
    for cls in (adamlib.SGD, adamlib.RMSprop, adamlib.Adam, adamlib.Adamax, adamlib.NAdam, adamlib.RAdam):
        p = np.zeros(16, np.float32)
        g = np.ones(16, np.float32)
        g[3] = np.nan
        cls([p]).step([g])
        assert np.isnan(p[3]) and np.isfinite(np.delete(p, 3)).all(), cls.__name__
