"""Checks that run before anything is written, and the errors they raise.

A step is validated whole (every gradient, every hyperparameter) before the first kernel runs,
so a refused step leaves every parameter and every state buffer exactly as it was.
"""

from __future__ import annotations

import bisect
import math
import operator

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NonFiniteGradientError(FloatingPointError):
    """Raised by ``step`` when ``check_finite=True`` and a gradient holds NaN or infinity."""


def describe(array) -> str:
    """A short description of an array for error messages: ``float32 array of shape (3, 4)``."""
    if not isinstance(array, np.ndarray):
        return f"object of type {type(array).__name__}"
    return f"{array.dtype} array of shape {array.shape}"


def check_array(array, role: str, *, writeable: bool) -> None:
    """Refuse anything a kernel cannot update in place: wrong type, dtype, layout or flags."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{role} must be a numpy array, got {describe(array)}")
    if array.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{role} has dtype {array.dtype}; adamlib supports float32 and float64 only "
            "(cast integer or float16 data to float32 first)"
        )
    if not array.flags.c_contiguous:
        raise ValueError(
            f"{role} is not C-contiguous ({describe(array)} with strides {array.strides}); "
            "pass np.ascontiguousarray(...) or keep parameters in a ParameterBuffer"
        )
    if writeable and not array.flags.writeable:
        raise ValueError(f"{role} is read-only; adamlib updates parameters in place")


def check_real(name: str, value, *, group: int | None = None) -> float:
    """A finite real number, or a ValueError naming the hyperparameter."""
    where = "" if group is None else f" in param_groups[{group}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}{where} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}{where} must be finite, got {value!r}")
    return float(value)


def check_int(name: str, value, low: int) -> int:
    """An integer (Python or numpy, not bool) ``>= low``, or an error naming the argument."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if value < low:
        raise ValueError(f"Invalid {name}: {value!r} (must be >= {low})")
    return value


def check_at_least(name: str, value, low: float, *, group: int | None = None, strict=False):
    value = check_real(name, value, group=group)
    if value < low or (strict and value == low):
        where = "" if group is None else f" in param_groups[{group}]"
        relation = ">" if strict else ">="
        raise ValueError(f"Invalid {name}{where}: {value!r} (must be {relation} {low})")
    return value


def check_unit_interval(name: str, value, *, group: int | None = None) -> float:
    """A number in [0, 1), as every EMA coefficient β must be."""
    value = check_real(name, value, group=group)
    if not 0.0 <= value < 1.0:
        where = "" if group is None else f" in param_groups[{group}]"
        raise ValueError(f"Invalid {name}{where}: {value!r} (must be in [0, 1))")
    return value


def check_betas(betas, *, group: int | None = None) -> None:
    where = "" if group is None else f" in param_groups[{group}]"
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas{where} must be a pair (beta1, beta2), got {betas!r}")
    check_unit_interval("beta1 (betas[0])", betas[0], group=group)
    check_unit_interval("beta2 (betas[1])", betas[1], group=group)


def check_flag(name: str, value, *, group: int | None = None) -> None:
    if not isinstance(value, (bool, np.bool_)):
        where = "" if group is None else f" in param_groups[{group}]"
        raise TypeError(f"{name}{where} must be True or False, got {value!r}")


def _interval(array: np.ndarray) -> tuple[int, int]:
    start = array.__array_interface__["data"][0]
    return start, start + array.nbytes


class MemoryMap:
    """The memory ranges of the arrays an optimizer writes (parameters and state buffers).

    Answers "does this array overlap any of them?" in O(log n), so a gradient that shares memory
    with a parameter or a state buffer is refused before a kernel reads a value it has already
    overwritten.
    """

    def __init__(self, named_arrays):
        ranges = []
        for name, array in named_arrays:
            start, end = _interval(array)
            if end > start:
                ranges.append((start, end, name))
        ranges.sort()
        for (s0, e0, n0), (s1, e1, n1) in zip(ranges, ranges[1:]):
            if s1 < e0:
                raise ValueError(f"{n0} and {n1} share memory; every parameter must own its memory")
        self.starts = [r[0] for r in ranges]
        self.ends = [r[1] for r in ranges]
        self._names = [r[2] for r in ranges]

    def overlapping(self, array: np.ndarray) -> str | None:
        """The name of an array that shares memory with ``array``, or None."""
        start, end = _interval(array)
        if end == start:
            return None
        j = bisect.bisect_left(self.starts, end) - 1
        if j >= 0 and self.ends[j] > start:
            return self._names[j]
        return None
