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
- :func:`multi_step_decay`: :math:`\alpha\,\gamma^{\#\{m_i \le t\}}` (``MultiStepLR``).
- :func:`polynomial_decay`: :math:`(\alpha - \alpha_T)(1 - \min(t,T)/T)^p + \alpha_T`
  (``PolynomialLR``).
- :func:`cosine_warm_restarts`: cosines restarted every :math:`T_i` steps
  (``CosineAnnealingWarmRestarts``).
- :func:`one_cycle`: up to a peak and down far below the start (``OneCycleLR``).
- :func:`join`: one schedule after another (``SequentialLR``).
- :func:`values`: the first ``n`` values of a schedule as an array, for plots.

For every counterpart, ``f(t)`` is the rate torch's scheduler sets when its ``last_epoch`` is
``t``: with the usual loop (``opt.step()`` then ``sched.step()``) the ``t``-th optimizer step,
counted from 0, uses ``f(t)`` in both libraries. The tests compare them value by value over
thousands of steps. One rate is not a schedule of the step: :class:`ReduceLROnPlateau` follows
a metric. It lives beside :class:`Scheduler` in ``adamlib._scheduler``, and :func:`join` and
:func:`values` in ``adamlib._schedule``; all are re-exported here.
"""

from __future__ import annotations

import bisect
import math
from typing import Callable, Sequence

from ._schedule import Schedule, check_factor, check_rate, describe, join, values
from ._scheduler import ReduceLROnPlateau, Scheduler
from ._validation import check_at_least, check_flag, check_int, check_real

__all__ = [
    "constant", "linear_warmup", "step_decay", "exponential_decay", "inverse_sqrt_decay",
    "cosine_decay", "warmup_cosine_decay", "multi_step_decay", "polynomial_decay",
    "cosine_warm_restarts", "one_cycle", "join", "values", "Scheduler", "ReduceLROnPlateau",
]


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
    value = check_rate("value", value)
    return Schedule(lambda t: value, describe("constant", value=value))


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

    torch's ``LinearLR(start_factor=s, end_factor=1.0, total_iters=W)`` is
    ``Scheduler(opt, linear_warmup(1.0, W, init=s), relative=True)``, value for value; torch
    refuses ``start_factor=0`` (it needs ``0 < s <= 1``), so a warm-up from zero, the common
    case, has no ``LinearLR`` equivalent, while here ``init=0.0`` is the default.

    Notes
    -----
    Warm-up keeps the first steps small while Adam's second-moment estimate is still noisy; it
    is the heuristic that RAdam (Liu et al., 2020) replaces with an analytic rectification.
    """
    peak = check_rate("peak", peak)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    init = check_rate("init", init)
    description = describe("linear_warmup", peak=peak, warmup_steps=warmup_steps, init=init)
    if warmup_steps == 0:
        return Schedule(lambda t: peak, description)
    return Schedule(lambda t: init + (peak - init) * (min(t, warmup_steps) / warmup_steps), description)


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
    init = check_rate("init", init)
    step_size = check_int("step_size", step_size, 1)
    gamma = check_factor("gamma", gamma)
    return Schedule(lambda t: init * gamma ** (t // step_size),
                     describe("step_decay", init=init, step_size=step_size, gamma=gamma))


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
    init = check_rate("init", init)
    gamma = check_factor("gamma", gamma)
    return Schedule(lambda t: init * gamma**t, describe("exponential_decay", init=init, gamma=gamma))


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
    init = check_rate("init", init)
    return Schedule(lambda t: init / math.sqrt(t + 1), describe("inverse_sqrt_decay", init=init))


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
    eta_min=final)``. After :math:`T` they part: torch's cosine is periodic, it climbs back
    to ``init`` at :math:`2T` and keeps oscillating with period :math:`2T`, while this one
    stays at ``final``. For restarts on purpose use :func:`cosine_warm_restarts`.

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
    init = check_rate("init", init)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    final = check_rate("final", final)

    def f(t):
        return final + 0.5 * (init - final) * (1.0 + math.cos(math.pi * min(t, decay_steps) / decay_steps))

    return Schedule(f, describe("cosine_decay", init=init, decay_steps=decay_steps, final=final))


def multi_step_decay(init: float, milestones: Sequence[int], gamma: float = 0.1) -> Callable[[int], float]:
    r"""Multiply the rate by ``gamma`` at each milestone (``torch``'s ``MultiStepLR``).

    .. math::
        f(t) = \alpha\,\gamma^{\,\#\{i \,:\, m_i \le t\}},

    with :math:`\alpha` → ``init``, :math:`m_i` → ``milestones``, :math:`\gamma` → ``gamma``:
    the rate of step :math:`m_i` is already decayed.

    **torch equivalent.** ``MultiStepLR(opt, milestones, gamma)`` on a group whose ``lr`` is
    ``init``: the same rate at every ``last_epoch = t``. torch multiplies the group's current
    rate by ``gamma`` at a milestone, so its values can differ from these in the last bit.
    torch accepts repeated milestones (decaying by :math:`\gamma^k` at once) and milestone 0;
    here milestones must be strictly increasing and >= 1 (write the factor into ``init``
    or ``gamma`` instead).

    Parameters
    ----------
    init : float
        The rate before the first milestone (>= 0).
    milestones : sequence of int
        Strictly increasing steps, each >= 1.
    gamma : float, default 0.1
        Decay factor, in [0, 1].

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = check_rate("init", init)
    milestones = [check_int(f"milestones[{i}]", m, 1) for i, m in enumerate(milestones)]
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ValueError(f"Invalid milestones: {milestones} (must be strictly increasing)")
    gamma = check_factor("gamma", gamma)
    return Schedule(lambda t: init * gamma ** bisect.bisect_right(milestones, t),
                     describe("multi_step_decay", init=init, milestones=milestones, gamma=gamma))


def polynomial_decay(init: float, decay_steps: int, power: float = 1.0,
                     final: float = 0.0) -> Callable[[int], float]:
    r"""A polynomial decay from ``init`` to ``final`` over ``decay_steps`` steps (``PolynomialLR``).

    .. math::
        f(t) = \alpha_T + (\alpha - \alpha_T)\left(1 - \frac{\min(t, T)}{T}\right)^{p},

    with :math:`\alpha` → ``init``, :math:`\alpha_T` → ``final``, :math:`T` → ``decay_steps``
    and :math:`p` → ``power``: linear for :math:`p = 1`, and ``final`` from step :math:`T` on.

    **torch equivalent.** ``PolynomialLR(opt, total_iters=T, power=p)`` on a group whose ``lr``
    is ``init`` gives the same rates with ``final=0.0`` (torch always decays to 0). torch
    computes each rate from the previous one by a ratio of two such factors, so the two agree
    to rounding, not bit for bit.

    Parameters
    ----------
    init : float
        The rate at step 0 (>= 0).
    decay_steps : int
        :math:`T` (>= 1).
    power : float, default 1.0
        :math:`p` (> 0).
    final : float, default 0.0
        The rate from step ``decay_steps`` on (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = check_rate("init", init)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    power = check_at_least("power", power, 0.0, strict=True)
    final = check_rate("final", final)
    return Schedule(lambda t: final + (init - final) * (1.0 - min(t, decay_steps) / decay_steps) ** power,
                     describe("polynomial_decay", init=init, decay_steps=decay_steps, power=power, final=final))


def cosine_warm_restarts(init: float, first_period: int, period_mult: int = 1,
                         final: float = 0.0) -> Callable[[int], float]:
    r"""Cosine decays from ``init`` toward ``final``, restarted at ``init`` (SGDR).

    Loshchilov & Hutter's SGDR: cycle :math:`i = 0, 1, \dots` lasts
    :math:`T_i = T_0\,r^{\,i}` steps; at step :math:`t_{cur}` of its cycle

    .. math::
        f(t) = \alpha_T + \frac{\alpha - \alpha_T}{2}
               \left(1 + \cos\frac{\pi\, t_{cur}}{T_i}\right),

    with :math:`\alpha` → ``init``, :math:`\alpha_T` → ``final``, :math:`T_0` →
    ``first_period`` and :math:`r` → ``period_mult``. A cycle starts at ``init`` and stops one
    step short of ``final``: the next step restarts at ``init``.

    **torch equivalent.** ``CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)`` on a group
    whose ``lr`` is ``init``, stepped without an ``epoch`` argument: the same rate at every
    ``last_epoch = t``. Here the cycle of a step is found with integer arithmetic; torch's
    ``step(epoch)`` form finds it with a floating-point logarithm (for ``T_mult > 1``), which
    can land one cycle off at a restart.

    Parameters
    ----------
    init : float
        The rate at the start of every cycle (>= 0).
    first_period : int
        :math:`T_0`, the length of the first cycle (>= 1).
    period_mult : int, default 1
        :math:`r`, each cycle is ``period_mult`` times longer than the one before (>= 1).
    final : float, default 0.0
        The rate the cosine decays toward (>= 0).

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    init = check_rate("init", init)
    first_period = check_int("first_period", first_period, 1)
    period_mult = check_int("period_mult", period_mult, 1)
    final = check_rate("final", final)

    def f(t):
        period = first_period
        if period_mult == 1:
            t %= period
        while t >= period:  # at most log_r(t) cycles
            t -= period
            period *= period_mult
        return final + (init - final) * (1.0 + math.cos(math.pi * t / period)) / 2.0

    return Schedule(f, describe("cosine_warm_restarts", init=init, first_period=first_period,
                                  period_mult=period_mult, final=final))


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
              div_factor: float = 25.0, final_div_factor: float = 1e4,
              three_phase: bool = False) -> Callable[[int], float]:
    r"""Smith's one-cycle policy: up from a small rate to ``max_lr``, then far below the start.

    With :math:`\alpha` → ``max_lr``, :math:`T` → ``total_steps``, :math:`p` → ``pct_start``,
    the rates :math:`\alpha_0 = \alpha/d` (``div_factor``) and :math:`\alpha_{min} =
    \alpha_0/d_f` (``final_div_factor``), the schedule moves through phases that end at steps

    - two phases: :math:`e_1 = pT - 1` (from :math:`\alpha_0` up to :math:`\alpha`) and
      :math:`e_2 = T - 1` (from :math:`\alpha` down to :math:`\alpha_{min}`);
    - ``three_phase=True``: :math:`e_1 = pT - 1` (up to :math:`\alpha`), :math:`e_2 = 2pT - 2`
      (back to :math:`\alpha_0`), :math:`e_3 = T - 1` (down to :math:`\alpha_{min}`).

    Within a phase from rate :math:`a` at step :math:`s` to rate :math:`b` at step :math:`e`,
    with :math:`\rho = (t - s)/(e - s)`, the rate is :math:`b + (a - b)(1 + \cos\pi\rho)/2`
    (``"cos"``) or :math:`a + (b - a)\rho` (``"linear"``). From step :math:`T - 1` on, the
    rate stays at :math:`\alpha_{min}`.

    **torch equivalent.** ``OneCycleLR(opt, max_lr, total_steps, pct_start, anneal_strategy,
    div_factor=d, final_div_factor=d_f, three_phase=...)`` sets the same rates at
    ``last_epoch = 0 .. T - 1`` (its phase ends are these same, possibly fractional, steps).
    Three differences: torch also cycles the momentum (``betas[0]`` of Adam) inversely unless
    ``cycle_momentum=False``, while this is a schedule of the rate only; at ``last_epoch = T``
    torch extrapolates its last cosine past its end and beyond ``T`` it raises, while here the
    rate stays at :math:`\alpha_{min}`; and torch divides by zero when a phase is empty
    (:math:`pT \le 1`), while here that is a ValueError naming ``pct_start``.

    Parameters
    ----------
    max_lr : float
        :math:`\alpha`, the peak (>= 0).
    total_steps : int
        :math:`T`, the number of steps of the cycle (>= 2).
    pct_start : float, default 0.3
        :math:`p`, the fraction of the steps spent rising, in (0, 1).
    anneal_strategy : {"cos", "linear"}, default "cos"
    div_factor : float, default 25.0
        :math:`d > 0`, the start is ``max_lr / div_factor``.
    final_div_factor : float, default 1e4
        :math:`d_f > 0`, the end is ``max_lr / (div_factor * final_div_factor)``.
    three_phase : bool, default False

    Returns
    -------
    callable
        ``f(step) -> float``.
    """
    max_lr = check_rate("max_lr", max_lr)
    total_steps = check_int("total_steps", total_steps, 2)
    pct_start = check_real("pct_start", pct_start)
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"Invalid pct_start: {pct_start!r} (must be in (0, 1))")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"Invalid anneal_strategy: {anneal_strategy!r} (must be 'cos' or 'linear')")
    div_factor = check_at_least("div_factor", div_factor, 0.0, strict=True)
    final_div_factor = check_at_least("final_div_factor", final_div_factor, 0.0, strict=True)
    check_flag("three_phase", three_phase)
    initial = max_lr / div_factor
    lowest = initial / final_div_factor
    rise = float(pct_start * total_steps) - 1
    if three_phase:
        phases = [(rise, initial, max_lr), (float(2 * pct_start * total_steps) - 2, max_lr, initial),
                  (total_steps - 1, initial, lowest)]
    else:
        phases = [(rise, initial, max_lr), (total_steps - 1, max_lr, lowest)]
    ends = [0.0] + [end for end, _, _ in phases]
    if any(b <= a for a, b in zip(ends, ends[1:])):
        raise ValueError(
            f"Invalid pct_start: {pct_start!r} (with total_steps={total_steps}"
            f"{' and three_phase=True' if three_phase else ''} a phase would be empty: the phases "
            f"end at steps {ends[1:]}, which must increase from 0)"
        )

    def f(t):
        start = 0.0
        for end, a, b in phases:
            if t <= end or end == phases[-1][0]:
                rho = min((t - start) / (end - start), 1.0)
                if anneal_strategy == "cos":
                    return b + (a - b) / 2.0 * (math.cos(math.pi * rho) + 1)
                return (b - a) * rho + a
            start = end

    return Schedule(f, describe("one_cycle", max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                                  anneal_strategy=anneal_strategy, div_factor=div_factor,
                                  final_div_factor=final_div_factor, three_phase=three_phase))


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
    peak = check_rate("peak", peak)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    decay_steps = check_int("decay_steps", decay_steps, 1)
    init = check_rate("init", init)
    final = check_rate("final", final)
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"Invalid decay_steps: {decay_steps} (the total length, warm-up included, "
            f"must be > warmup_steps = {warmup_steps})"
        )
    cosine = cosine_decay(peak, decay_steps - warmup_steps, final)
    inner = cosine if warmup_steps == 0 else join([linear_warmup(peak, warmup_steps, init), cosine], [warmup_steps])
    return Schedule(inner, describe("warmup_cosine_decay", peak=peak, warmup_steps=warmup_steps,
                                      decay_steps=decay_steps, init=init, final=final))
