"""The schedule type and what builds on any schedule: :func:`join` and :func:`values`.

A schedule is a callable ``f(step) -> float``. The factories of :mod:`adamlib.schedules` return
a :class:`Schedule`, which checks the step and prints readably; :func:`join` and :func:`values`
take any callable. Everything here is re-exported by :mod:`adamlib.schedules`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ._validation import check_at_least, check_int, check_real

# ---------------------------------------------------------------------------- validation
def check_rate(name: str, value) -> float:
    """A finite learning rate ``>= 0``."""
    return check_at_least(name, value, 0.0)


def check_factor(name: str, value) -> float:
    """A decay factor γ in [0, 1]."""
    value = check_real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be in [0, 1])")
    return value


class Schedule:
    """A schedule: a pure function of the step with a readable ``repr``.

    Calling it validates the step (an integer >= 0) and returns a Python float.
    """

    __slots__ = ("_function", "_description")

    def __init__(self, function: Callable[[int], float], description: str):
        self._function = function
        self._description = description

    def __call__(self, step) -> float:
        return float(self._function(check_int("step", step, 0)))

    def __repr__(self) -> str:
        return self._description


def describe(name: str, **arguments) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"



def join(schedules: Sequence[Callable[[int], float]], boundaries: Sequence[int]) -> Callable[[int], float]:
    r"""Run schedules one after another; each one sees its own step, counted from 0.

    With boundaries :math:`b_1 < b_2 < \dots < b_{k}` and schedules :math:`f_0, \dots, f_k`
    (and :math:`b_0 = 0`),

    .. math::
        f(t) = f_i(t - b_i) \quad \text{for } b_i \le t < b_{i+1},

    so schedule ``i+1`` starts at step ``boundaries[i]`` and is called with
    ``step - boundaries[i]``. The join is continuous at a boundary exactly when
    :math:`f_{i}(b_{i+1} - b_i) = f_{i+1}(0)`, i.e. when each schedule ends where the next
    begins (as in :func:`warmup_cosine_decay`).

    Parameters
    ----------
    schedules : sequence of callables
        ``k+1`` schedules ``f(step) -> float``.
    boundaries : sequence of int
        ``k`` strictly increasing steps, each >= 1.

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    schedules = list(schedules)
    boundaries = [check_int(f"boundaries[{i}]", b, 1) for i, b in enumerate(boundaries)]
    if not schedules:
        raise ValueError("schedules must hold at least one schedule")
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"schedules[{i}] must be callable, got {s!r}")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must have one entry fewer than schedules: got {len(boundaries)} "
            f"boundaries for {len(schedules)} schedules"
        )
    for i in range(1, len(boundaries)):
        if boundaries[i] <= boundaries[i - 1]:
            raise ValueError(f"boundaries must be strictly increasing, got {boundaries}")
    starts = [0] + boundaries

    def f(t):
        i = len(starts) - 1
        while starts[i] > t:
            i -= 1
        return schedules[i](t - starts[i])

    return Schedule(f, describe("join", schedules=schedules, boundaries=boundaries))



def values(schedule: Callable[[int], float], num_steps: int) -> np.ndarray:
    """The first ``num_steps`` values of a schedule, as a float64 array (for plots and tests).

    Parameters
    ----------
    schedule : callable
        ``f(step) -> float``.
    num_steps : int
        How many steps, from step 0 (>= 0).

    Returns
    -------
    numpy.ndarray
        ``[f(0), f(1), ..., f(num_steps - 1)]``.
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be callable, got {schedule!r}")
    num_steps = check_int("num_steps", num_steps, 0)
    return np.array([schedule(t) for t in range(num_steps)], dtype=np.float64)
