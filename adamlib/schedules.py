r"""Learning-rate schedules: pure functions of the step, and a driver that applies them.

A *schedule* is a callable ``f(step) -> float``; the step is an integer counted from 0, the
index of the optimizer step about to be taken. Factories build them (the style of optax):

>>> from adamlib import schedules
>>> f = schedules.warmup_cosine_decay(peak=1.0, warmup_steps=2, decay_steps=6)
>>> [round(f(t), 3) for t in range(8)]
[0.0, 0.5, 1.0, 0.854, 0.5, 0.146, 0.0, 0.0]

Being pure, a schedule can be plotted, tested and composed (:func:`join`) without an
optimizer. :class:`Scheduler` drives any adamlib optimizer with one, the way
``torch.optim.lr_scheduler`` drives torch's: it writes ``group["lr"]`` before every step.

The factories, with their torch counterparts where one exists:

- :func:`constant`: :math:`f(t) = \alpha`.
- :func:`linear_warmup`: :math:`\alpha_0 + (\alpha - \alpha_0)\min(t, W)/W`
  (``LinearLR`` as a relative schedule).
- :func:`step_decay`: :math:`\alpha\,\gamma^{\lfloor t/s \rfloor}` (``StepLR``).
- :func:`exponential_decay`: :math:`\alpha\,\gamma^{t}` (``ExponentialLR``).
- :func:`inverse_sqrt_decay`: :math:`\alpha/\sqrt{t+1}`.
- :func:`cosine_decay`: half a cosine from :math:`\alpha` to :math:`\alpha_T`
  (``CosineAnnealingLR`` up to ``T_max``).
- :func:`warmup_cosine_decay`: linear warm-up, then half a cosine.
- :func:`join`: one schedule after another (``SequentialLR``).
- :func:`values`: the first ``n`` values of a schedule as an array, for plots.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ._validation import check_at_least, check_flag, check_int, check_real

__all__ = [
    "constant", "linear_warmup", "step_decay", "exponential_decay", "inverse_sqrt_decay",
    "cosine_decay", "warmup_cosine_decay", "join", "values", "Scheduler",
]


# ---------------------------------------------------------------------------- validation
def _check_rate(name: str, value) -> float:
    """A finite learning rate ``>= 0``."""
    return check_at_least(name, value, 0.0)


def _check_factor(name: str, value) -> float:
    """A decay factor γ in [0, 1]."""
    value = check_real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be in [0, 1])")
    return value


class _Schedule:
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


def _describe(name: str, **arguments) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"


# ---------------------------------------------------------------------------- factories
def constant(value: float) -> Callable[[int], float]:
    r"""The constant schedule :math:`f(t) = \alpha`.

    Parameters
    ----------
    value : float
        :math:`\alpha \ge 0`.

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    value = _check_rate("value", value)
    return _Schedule(lambda t: value, _describe("constant", value=value))


def linear_warmup(peak: float, warmup_steps: int, init: float = 0.0) -> Callable[[int], float]:
    r"""Linear warm-up from ``init`` to ``peak`` over ``warmup_steps`` steps, then constant.

    .. math::
        f(t) = \alpha_0 + (\alpha - \alpha_0)\,\frac{\min(t, W)}{W},

    with :math:`\alpha` → ``peak``, :math:`\alpha_0` → ``init``, :math:`W` → ``warmup_steps``.
    So :math:`f(0) = \alpha_0` and :math:`f(t) = \alpha` for :math:`t \ge W`. With
    ``warmup_steps=0`` the schedule is the constant ``peak``.

    Parameters
    ----------
    peak : float
        The rate reached at step ``warmup_steps`` (>= 0).
    warmup_steps : int
        Length of the ramp (>= 0).
    init : float, default 0.0
        The rate at step 0 (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.

    Notes
    -----
    Warm-up keeps the first steps small while Adam's second-moment estimate is still noisy; it
    is the heuristic that RAdam (Liu et al., 2020) replaces with an analytic rectification.
    """
    peak = _check_rate("peak", peak)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    init = _check_rate("init", init)
    description = _describe("linear_warmup", peak=peak, warmup_steps=warmup_steps, init=init)
    if warmup_steps == 0:
        return _Schedule(lambda t: peak, description)
    return _Schedule(lambda t: init + (peak - init) * (min(t, warmup_steps) / warmup_steps), description)


def step_decay(init: float, step_size: int, gamma: float = 0.1) -> Callable[[int], float]:
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps (``torch``'s ``StepLR``).

    .. math::
        f(t) = \alpha\,\gamma^{\lfloor t / s \rfloor},

    with :math:`\alpha` → ``init``, :math:`s` → ``step_size``, :math:`\gamma` → ``gamma``.

    Parameters
    ----------
    init : float
        The rate for steps ``0 .. step_size-1`` (>= 0).
    step_size : int
        Steps between two decays (>= 1).
    gamma : float, default 0.1
        Decay factor, in [0, 1].

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = _check_rate("init", init)
    step_size = check_int("step_size", step_size, 1)
    gamma = _check_factor("gamma", gamma)
    return _Schedule(lambda t: init * gamma ** (t // step_size),
                     _describe("step_decay", init=init, step_size=step_size, gamma=gamma))


def exponential_decay(init: float, gamma: float) -> Callable[[int], float]:
    r"""Multiply the rate by ``gamma`` at every step (``torch``'s ``ExponentialLR``).

    .. math::
        f(t) = \alpha\,\gamma^{t},

    with :math:`\alpha` → ``init`` and :math:`\gamma` → ``gamma``. The half-life is
    :math:`\ln 2 / \ln(1/\gamma)` steps.

    Parameters
    ----------
    init : float
        The rate at step 0 (>= 0).
    gamma : float
        Decay factor per step, in [0, 1].

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = _check_rate("init", init)
    gamma = _check_factor("gamma", gamma)
    return _Schedule(lambda t: init * gamma**t, _describe("exponential_decay", init=init, gamma=gamma))


def inverse_sqrt_decay(init: float) -> Callable[[int], float]:
    r"""The decay of online convex optimisation, :math:`\alpha_t = \alpha/\sqrt{t}` with t from 1.

    With the step counted from 0:

    .. math::
        f(t) = \frac{\alpha}{\sqrt{t + 1}}.

    This is the step size of the regret analyses of Kingma & Ba (2015, §4) and of Reddi, Kale &
    Kumar (2018), whose counterexample (:class:`adamlib.problems.ReddiCounterexample`) uses it.

    Parameters
    ----------
    init : float
        :math:`\alpha`, the rate at step 0 (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = _check_rate("init", init)
    return _Schedule(lambda t: init / math.sqrt(t + 1), _describe("inverse_sqrt_decay", init=init))


def cosine_decay(init: float, decay_steps: int, final: float = 0.0) -> Callable[[int], float]:
    r"""Half a cosine from ``init`` down to ``final`` over ``decay_steps`` steps, then constant.

    .. math::
        f(t) = \alpha_T + \frac{\alpha - \alpha_T}{2}
               \left(1 + \cos\frac{\pi \min(t, T)}{T}\right),

    with :math:`\alpha` → ``init``, :math:`\alpha_T` → ``final``, :math:`T` → ``decay_steps``
    (Loshchilov & Hutter's SGDR without restarts). So :math:`f(0) = \alpha`,
    :math:`f(T/2)` is the midpoint and :math:`f(t) = \alpha_T` for :math:`t \ge T`; between
    them :math:`f` is monotone and stays in :math:`[\min(\alpha, \alpha_T), \max(\alpha, \alpha_T)]`.

    For :math:`t \le T` this equals ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T,
    eta_min=final)``; after :math:`T` torch's cosine rises again, this one stays at ``final``.

    Parameters
    ----------
    init : float
        The rate at step 0 (>= 0).
    decay_steps : int
        :math:`T` (>= 1).
    final : float, default 0.0
        The rate from step ``decay_steps`` on (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = _check_rate("init", init)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    final = _check_rate("final", final)

    def f(t):
        return final + 0.5 * (init - final) * (1.0 + math.cos(math.pi * min(t, decay_steps) / decay_steps))

    return _Schedule(f, _describe("cosine_decay", init=init, decay_steps=decay_steps, final=final))


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

    return _Schedule(f, _describe("join", schedules=schedules, boundaries=boundaries))


def warmup_cosine_decay(peak: float, warmup_steps: int, decay_steps: int, init: float = 0.0,
                        final: float = 0.0) -> Callable[[int], float]:
    r"""Linear warm-up from ``init`` to ``peak``, then half a cosine down to ``final``.

    As in optax's ``warmup_cosine_decay_schedule``, ``decay_steps`` is the length of the
    **whole** schedule, warm-up included: with :math:`W` → ``warmup_steps`` and
    :math:`T` → ``decay_steps``,

    .. math::
        f = \operatorname{join}\bigl(
            [\,\text{linear\_warmup}(\alpha, W, \alpha_0),\;
               \text{cosine\_decay}(\alpha, T - W, \alpha_T)\,],\; [W]\bigr),

    so :math:`f(0) = \alpha_0`, :math:`f(W) = \alpha` (the peak), :math:`f(t) = \alpha_T` for
    :math:`t \ge T`, and :math:`f` is continuous at the joint (the warm-up ends where the cosine
    starts).

    Parameters
    ----------
    peak : float
        :math:`\alpha`, the rate at step ``warmup_steps`` (>= 0).
    warmup_steps : int
        :math:`W` (>= 0; 0 means no warm-up).
    decay_steps : int
        :math:`T`, total length of warm-up plus decay (> ``warmup_steps``).
    init : float, default 0.0
        :math:`\alpha_0`, the rate at step 0 (>= 0).
    final : float, default 0.0
        :math:`\alpha_T`, the rate from step ``decay_steps`` on (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    peak = _check_rate("peak", peak)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    init = _check_rate("init", init)
    final = _check_rate("final", final)
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"Invalid decay_steps: {decay_steps} (the total length, warm-up included, "
            f"must be > warmup_steps = {warmup_steps})"
        )
    cosine = cosine_decay(peak, decay_steps - warmup_steps, final)
    inner = cosine if warmup_steps == 0 else join([linear_warmup(peak, warmup_steps, init), cosine], [warmup_steps])
    return _Schedule(inner, _describe("warmup_cosine_decay", peak=peak, warmup_steps=warmup_steps,
                                      decay_steps=decay_steps, init=init, final=final))


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


# ---------------------------------------------------------------------------- the driver
class Scheduler:
    r"""Drive an optimizer's learning rate with a schedule, like ``torch.optim.lr_scheduler``.

    At construction the scheduler sets every group's ``lr`` to the value for step 0; each call
    of :meth:`step` advances its counter :math:`t` by one and sets the value for step
    :math:`t`. Call :meth:`step` **once per optimizer step, after it**, as with torch::

        sched = Scheduler(opt, schedules.cosine_decay(1e-3, 1000))
        for batch in data:
            opt.step(grads(batch))   # uses lr = f(t)
            sched.step()             # t -> t + 1, lr = f(t + 1)

    Parameters
    ----------
    optimizer : adamlib.Optimizer
        Any object with ``param_groups``, a list of dicts with an ``"lr"`` entry.
    schedule : callable or sequence of callables
        ``f(step) -> float``, or one such callable per parameter group.
    relative : bool, default False
        If False, ``group["lr"] = f(t)`` (absolute rates; the groups' initial ``lr`` is
        overwritten). If True, ``group["lr"] = lr_0 · f(t)`` where ``lr_0`` is the group's
        ``lr`` at construction: :math:`f` is a *factor* and groups keep their ratios
        (``torch.optim.lr_scheduler.LambdaLR`` semantics).

    Attributes
    ----------
    last_step : int
        :math:`t`, the step whose rate is set now (0 after construction).
    base_lrs : list of float
        Each group's ``lr`` at construction (the ``lr_0`` of ``relative=True``).
    last_lr : list of float
        The rate each group has now (torch's ``get_last_lr()``).

    Raises
    ------
    ValueError
        If a schedule returns a negative or non-finite rate; the optimizer then keeps the
        rates it had.
    """

    def __init__(self, optimizer, schedule, relative: bool = False):
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) and "lr" in g for g in groups):
            raise TypeError("optimizer must have param_groups: a non-empty list of dicts with an 'lr' entry")
        check_flag("relative", relative)
        if callable(schedule):
            schedule_list = [schedule] * len(groups)
        else:
            try:
                schedule_list = list(schedule)
            except TypeError:
                raise TypeError(f"schedule must be callable or a sequence of callables, got {schedule!r}") from None
            if len(schedule_list) != len(groups):
                raise ValueError(
                    f"schedule is a sequence of {len(schedule_list)} callables but the optimizer has "
                    f"{len(groups)} parameter groups"
                )
            for i, s in enumerate(schedule_list):
                if not callable(s):
                    raise TypeError(f"schedule[{i}] must be callable, got {s!r}")
        self.optimizer = optimizer
        self.schedules = schedule_list
        self.relative = relative
        self.base_lrs = [_check_rate(f"param_groups[{i}]['lr']", g["lr"]) for i, g in enumerate(groups)]
        self.last_step = 0
        self.last_lr: list[float] = []
        self._apply()

    def __repr__(self):
        kind = ", relative=True" if self.relative else ""
        shown = self.schedules[0] if all(s is self.schedules[0] for s in self.schedules) else self.schedules
        return f"Scheduler({type(self.optimizer).__name__}, {shown!r}{kind}, last_step={self.last_step})"

    def _rates(self, t: int) -> list[float]:
        rates = []
        for i, (f, base) in enumerate(zip(self.schedules, self.base_lrs)):
            value = f(t)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"schedule for param_groups[{i}] returned {value!r} at step {t}, not a number") from None
            rate = base * value if self.relative else value
            if not math.isfinite(rate) or rate < 0.0:
                raise ValueError(
                    f"schedule for param_groups[{i}] gives lr = {rate!r} at step {t}; a rate must be finite and >= 0"
                )
            rates.append(rate)
        return rates

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(
                f"the optimizer has {len(groups)} parameter groups but the scheduler was built for "
                f"{len(self.base_lrs)}; build a new Scheduler after add_param_group"
            )
        rates = self._rates(self.last_step)  # computed whole before any group changes
        for group, rate in zip(groups, rates):
            group["lr"] = rate
        self.last_lr = rates

    def step(self) -> None:
        """Advance to the next step and set every group's ``lr`` to its value there."""
        self.last_step += 1
        try:
            self._apply()
        except Exception:
            self.last_step -= 1
            raise

    def get_last_lr(self) -> list[float]:
        """The rate of each group now (the name torch uses)."""
        return list(self.last_lr)

    def state_dict(self) -> dict:
        """The counter and the base rates: ``{"last_step": int, "base_lrs": [...], "relative": bool}``.

        The schedules themselves are functions and are not saved: rebuild the scheduler with
        the same schedule, then load.
        """
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs), "relative": self.relative}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a :meth:`state_dict` and set every group's ``lr`` for the restored step."""
        if not isinstance(state_dict, dict) or "last_step" not in state_dict:
            raise ValueError("not a Scheduler state dict: needs 'last_step'")
        last_step = check_int("last_step", state_dict["last_step"], 0)
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.base_lrs):
            raise ValueError(
                f"state dict has {len(base_lrs)} base_lrs but the scheduler drives {len(self.base_lrs)} groups"
            )
        base_lrs = [_check_rate(f"base_lrs[{i}]", b) for i, b in enumerate(base_lrs)]
        relative = state_dict.get("relative", self.relative)
        if relative != self.relative:
            raise ValueError(f"state dict has relative={relative!r}, this scheduler relative={self.relative!r}")
        old = (self.last_step, self.base_lrs)
        self.last_step, self.base_lrs = last_step, base_lrs
        try:
            self._apply()
        except Exception:
            self.last_step, self.base_lrs = old
            raise
