"""Tests of adamlib.schedules: values, shapes of the curves, errors, the Scheduler driver, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st

import adamlib
from adamlib import schedules as S

rates = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
lengths = st.integers(min_value=1, max_value=500)
steps = st.integers(min_value=0, max_value=2000)


def _is_monotone(values, increasing):
    diffs = np.diff(values)
    return np.all(diffs >= -1e-15) if increasing else np.all(diffs <= 1e-15)


# ---------------------------------------------------------------------------- values
def test_constant():
    f = S.constant(0.3)
    assert [f(t) for t in (0, 1, 10**9)] == [0.3, 0.3, 0.3]
    assert isinstance(f(np.int64(3)), float)


def test_linear_warmup_values_at_boundaries():
    f = S.linear_warmup(peak=1.0, warmup_steps=4, init=0.2)
    assert f(0) == 0.2
    assert f(2) == pytest.approx(0.6)
    assert f(4) == 1.0 and f(5) == 1.0 and f(10**6) == 1.0
    assert _is_monotone(S.values(f, 10), increasing=True)
    assert S.linear_warmup(0.5, 0)(0) == 0.5


def test_step_decay_values():
    f = S.step_decay(1.0, step_size=3, gamma=0.5)
    np.testing.assert_allclose(S.values(f, 9), [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])
    assert S.step_decay(2.0, 1)(2) == pytest.approx(0.02)  # default gamma 0.1


def test_exponential_decay_values():
    f = S.exponential_decay(2.0, 0.9)
    np.testing.assert_allclose(S.values(f, 5), 2.0 * 0.9 ** np.arange(5), rtol=1e-15)
    assert _is_monotone(S.values(f, 50), increasing=False)


def test_inverse_sqrt_decay_is_alpha_over_sqrt_t_from_one():
    f = S.inverse_sqrt_decay(0.5)
    np.testing.assert_allclose(S.values(f, 4), 0.5 / np.sqrt([1, 2, 3, 4]), rtol=1e-15)


def test_cosine_decay_values_at_boundaries():
    f = S.cosine_decay(1.0, decay_steps=10, final=0.1)
    assert f(0) == 1.0
    assert f(5) == pytest.approx(0.55)  # the midpoint
    assert f(10) == pytest.approx(0.1) and f(11) == pytest.approx(0.1) and f(10**6) == pytest.approx(0.1)
    assert _is_monotone(S.values(f, 20), increasing=False)
    # symmetric about the midpoint: f(t) + f(T - t) = init + final
    np.testing.assert_allclose([f(t) + f(10 - t) for t in range(11)], 1.1, rtol=1e-14)


def test_warmup_cosine_decay_matches_its_definition_and_is_continuous():
    peak, W, T, init, final = 2.0, 5, 25, 0.1, 0.2
    f = S.warmup_cosine_decay(peak, W, T, init=init, final=final)
    warm, cos = S.linear_warmup(peak, W, init), S.cosine_decay(peak, T - W, final)
    expected = [warm(t) if t < W else cos(t - W) for t in range(40)]
    np.testing.assert_array_equal(S.values(f, 40), expected)
    assert f(0) == init and f(W) == peak and f(T) == pytest.approx(final) and f(T + 100) == pytest.approx(final)
    # continuity at the joint: the warm-up ends exactly where the cosine starts ...
    assert warm(W) == cos(0) == peak
    # ... so no jump there is larger than the largest step-to-step change of the warm-up ramp
    v = S.values(f, T + 1)
    assert abs(v[W] - v[W - 1]) <= (peak - init) / W + 1e-12
    assert abs(v[W + 1] - v[W]) <= (peak - init) / W
    assert _is_monotone(v[: W + 1], increasing=True)
    assert _is_monotone(v[W:], increasing=False)
    assert int(np.argmax(v)) == W


def test_warmup_cosine_decay_without_warmup_is_cosine_decay():
    np.testing.assert_array_equal(
        S.values(S.warmup_cosine_decay(1.0, 0, 10), 15), S.values(S.cosine_decay(1.0, 10), 15)
    )


def test_join_shifts_the_step_of_each_schedule():
    seen = []

    def recorder(tag):
        def f(t):
            seen.append((tag, t))
            return float(tag)
        return f

    f = S.join([recorder(0), recorder(1), recorder(2)], [3, 5])
    values = S.values(f, 7)
    np.testing.assert_array_equal(values, [0, 0, 0, 1, 1, 2, 2])
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert S.join([S.constant(0.7)], [])(5) == 0.7


def test_repr_is_readable():
    assert repr(S.cosine_decay(1.0, 10)) == "cosine_decay(init=1.0, decay_steps=10, final=0.0)"


# ---------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(init=rates, final=rates, decay_steps=lengths, t=steps)
def test_cosine_decay_stays_between_its_ends(init, final, decay_steps, t):
    value = S.cosine_decay(init, decay_steps, final)(t)
    lo, hi = min(init, final), max(init, final)
    assert lo - 1e-12 <= value <= hi + 1e-12


@settings(max_examples=30, deadline=None)
@given(init=rates, final=rates, decay_steps=st.integers(1, 60))
def test_cosine_decay_is_monotone_toward_final(init, final, decay_steps):
    v = S.values(S.cosine_decay(init, decay_steps, final), decay_steps + 3)
    assert _is_monotone(v, increasing=final > init)


@settings(max_examples=60, deadline=None)
@given(init=rates, step_size=st.integers(1, 50), gamma=st.floats(0.0, 1.0), t=steps)
def test_step_decay_is_exponential_decay_sampled_every_step_size(init, step_size, gamma, t):
    assert S.step_decay(init, step_size, gamma)(t) == pytest.approx(
        S.exponential_decay(init, gamma)(t // step_size), rel=1e-12, abs=0.0
    )


@settings(max_examples=40, deadline=None)
@given(peak=rates, init=rates, warmup=st.integers(0, 100), t=steps)
def test_linear_warmup_stays_between_init_and_peak(peak, init, warmup, t):
    value = S.linear_warmup(peak, warmup, init)(t)
    assert min(peak, init) - 1e-12 <= value <= max(peak, init) + 1e-12


# ---------------------------------------------------------------------------- invalid arguments
@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: S.constant(-1.0), "value"),
        (lambda: S.constant(math.inf), "value"),
        (lambda: S.linear_warmup(1.0, -1), "warmup_steps"),
        (lambda: S.linear_warmup(-1.0, 3), "peak"),
        (lambda: S.linear_warmup(1.0, 3, init=-0.1), "init"),
        (lambda: S.step_decay(1.0, 0), "step_size"),
        (lambda: S.step_decay(1.0, 2, gamma=1.5), "gamma"),
        (lambda: S.exponential_decay(1.0, -0.5), "gamma"),
        (lambda: S.exponential_decay(math.nan, 0.5), "init"),
        (lambda: S.inverse_sqrt_decay(-1.0), "init"),
        (lambda: S.cosine_decay(1.0, 0), "decay_steps"),
        (lambda: S.cosine_decay(1.0, 10, final=-1.0), "final"),
        (lambda: S.warmup_cosine_decay(1.0, 10, 10), "decay_steps"),
        (lambda: S.warmup_cosine_decay(1.0, -1, 10), "warmup_steps"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0)], []), "boundaries"),
        (lambda: S.join([S.constant(1.0)] * 3, [5, 5]), "boundaries"),
        (lambda: S.join([S.constant(1.0)] * 2, [0]), r"boundaries\[0\]"),
        (lambda: S.join([], []), "schedules"),
        (lambda: S.values(S.constant(1.0), -1), "num_steps"),
        (lambda: S.constant(1.0)(-1), "step"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: S.cosine_decay(1.0, 2.5),
        lambda: S.step_decay(1.0, True),
        lambda: S.constant("0.1"),
        lambda: S.constant(1.0)(1.5),
        lambda: S.join([S.constant(1.0), 3.0], [2]),
    ],
)
def test_wrong_types_raise_type_error(make):
    with pytest.raises(TypeError):
        make()


# ---------------------------------------------------------------------------- the driver
def _adam_with_groups():
    params = [np.zeros(3), np.zeros(2), np.zeros(4, dtype=np.float32)]
    opt = adamlib.Adam(
        [{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.01},
         {"params": [params[2]], "lr": 1.0}],
        eps=1e-12,
    )
    return params, opt


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def test_scheduler_sets_every_group_and_drives_adam():
    params, opt = _adam_with_groups()
    schedule = S.warmup_cosine_decay(0.5, 2, 6, init=0.1)
    sched = S.Scheduler(opt, schedule)
    assert sched.last_step == 0 and _lrs(opt) == [0.1] * 3 and sched.last_lr == [0.1] * 3
    grads = [np.ones(3), np.ones(2), np.ones(4, dtype=np.float32)]
    for t in range(8):
        assert _lrs(opt) == [schedule(t)] * 3
        opt.step(grads)
        sched.step()
    assert sched.last_step == 8 and sched.get_last_lr() == [schedule(8)] * 3
    # With a constant gradient Adam moves every weight by exactly lr_t at step t (ε ≈ 0),
    # so each parameter has travelled the sum of the schedule's first 8 values.
    travelled = sum(schedule(t) for t in range(8))
    for p in params:
        np.testing.assert_allclose(p, -travelled, rtol=1e-5)


def test_relative_scheduler_scales_each_groups_initial_lr():
    params, opt = _adam_with_groups()
    factor = S.exponential_decay(1.0, 0.5)
    sched = S.Scheduler(opt, factor, relative=True)
    assert sched.base_lrs == [0.1, 0.01, 1.0]
    np.testing.assert_allclose(_lrs(opt), [0.1, 0.01, 1.0])
    for _ in range(3):
        sched.step()
    np.testing.assert_allclose(_lrs(opt), np.array([0.1, 0.01, 1.0]) / 8, rtol=1e-15)


def test_one_schedule_per_group():
    _, opt = _adam_with_groups()
    sched = S.Scheduler(opt, [S.constant(1.0), S.exponential_decay(1.0, 0.5), S.constant(0.0)])
    sched.step()
    assert _lrs(opt) == [1.0, 0.5, 0.0]


def test_scheduler_state_dict_round_trip():
    _, opt = _adam_with_groups()
    schedule = S.cosine_decay(1.0, 10)
    sched = S.Scheduler(opt, schedule, relative=True)
    for _ in range(4):
        sched.step()
    saved = sched.state_dict()
    assert saved == {"last_step": 4, "base_lrs": [0.1, 0.01, 1.0], "relative": True}
    _, opt2 = _adam_with_groups()
    for g in opt2.param_groups:
        g["lr"] = 123.0  # a restored scheduler must not take these as its base rates
    sched2 = S.Scheduler(opt2, schedule, relative=True)
    sched2.load_state_dict(saved)
    assert sched2.last_step == 4 and _lrs(opt2) == _lrs(opt)
    sched.step(), sched2.step()
    assert _lrs(opt2) == _lrs(opt)


def test_scheduler_refuses_bad_rates_and_changes_nothing():
    _, opt = _adam_with_groups()
    sched = S.Scheduler(opt, lambda t: 0.1 if t < 2 else -1.0)
    sched.step()
    with pytest.raises(ValueError, match=r"param_groups\[0\].*step 2"):
        sched.step()
    assert sched.last_step == 1 and _lrs(opt) == [0.1] * 3
    with pytest.raises(ValueError, match="last_step"):
        sched.load_state_dict({"last_step": -1})


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda opt: S.Scheduler(object(), S.constant(1.0)), TypeError),
        (lambda opt: S.Scheduler(opt, 0.1), TypeError),
        (lambda opt: S.Scheduler(opt, [S.constant(1.0)]), ValueError),
        (lambda opt: S.Scheduler(opt, S.constant(1.0), relative=1), TypeError),
    ],
)
def test_scheduler_invalid_arguments(make, error):
    _, opt = _adam_with_groups()
    with pytest.raises(error):
        make(opt)


# ---------------------------------------------------------------------------- against torch
def _torch_lrs(torch, make_scheduler, base_lrs, n):
    """Each group's lr at steps 0..n-1 under a torch scheduler (opt.step, then sched.step)."""
    params = [torch.zeros(1, requires_grad=True) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)])
    sched = make_scheduler(opt)
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(out)


def _adamlib_lrs(schedule, base_lrs, n, relative=False):
    params = [np.zeros(1) for _ in base_lrs]
    opt = adamlib.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)])
    sched = S.Scheduler(opt, schedule, relative=relative)
    out = []
    for _ in range(n):
        out.append(_lrs(opt))
        opt.step([np.zeros(1) for _ in params])
        sched.step()
    return np.array(out)


@pytest.mark.torch
def test_matches_torch_step_lr():
    torch = require("torch")
    lr = torch.optim.lr_scheduler
    expected = _torch_lrs(torch, lambda o: lr.StepLR(o, step_size=4, gamma=0.3), [0.2], 20)
    np.testing.assert_allclose(_adamlib_lrs(S.step_decay(0.2, 4, 0.3), [0.2], 20), expected, rtol=1e-12)


@pytest.mark.torch
def test_matches_torch_exponential_lr():
    torch = require("torch")
    lr = torch.optim.lr_scheduler
    expected = _torch_lrs(torch, lambda o: lr.ExponentialLR(o, gamma=0.9), [0.5], 30)
    np.testing.assert_allclose(_adamlib_lrs(S.exponential_decay(0.5, 0.9), [0.5], 30), expected, rtol=1e-12)


@pytest.mark.torch
def test_matches_torch_cosine_annealing_up_to_t_max():
    torch = require("torch")
    lr = torch.optim.lr_scheduler
    T = 17
    expected = _torch_lrs(torch, lambda o: lr.CosineAnnealingLR(o, T_max=T, eta_min=0.01), [0.3], T + 1)
    ours = _adamlib_lrs(S.cosine_decay(0.3, T, final=0.01), [0.3], T + 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-15)


@pytest.mark.torch
def test_matches_torch_lambda_lr_over_groups():
    torch = require("torch")
    lr = torch.optim.lr_scheduler
    factor = S.warmup_cosine_decay(1.0, 3, 12, init=0.1)
    base = [0.1, 0.02, 0.5]
    expected = _torch_lrs(torch, lambda o: lr.LambdaLR(o, lambda t: factor(t)), base, 15)
    np.testing.assert_allclose(_adamlib_lrs(factor, base, 15, relative=True), expected, rtol=1e-12)


@pytest.mark.torch
def test_matches_torch_linear_lr_as_a_relative_warmup():
    torch = require("torch")
    lr = torch.optim.lr_scheduler
    expected = _torch_lrs(
        torch, lambda o: lr.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6), [0.4], 10
    )
    ours = _adamlib_lrs(S.linear_warmup(1.0, 6, init=0.25), [0.4], 10, relative=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


# ---------------------------------------------------------------------------- torch's other schedulers
# Each factory below mirrors one torch class. The comparison runs the usual loop in both
# libraries (opt.step(), then sched.step()) for thousands of steps and checks, at every step,
# the rate and the counter (adamlib's last_step is torch's last_epoch). torch's recursive
# schedulers multiply the previous rate by a factor, one rounding per step, so after n steps
# they may sit n·2ε away from the closed form: that is the tolerance, and no looser.
LONG = 5000


def _compare_with_torch(make_torch, schedule, base_lr, n=LONG, relative=False):
    torch = require("torch")
    p = torch.zeros(1, requires_grad=True)
    t_opt = torch.optim.SGD([p], lr=base_lr)
    t_sched = make_torch(torch.optim.lr_scheduler, t_opt)
    w = np.zeros(1)
    opt = adamlib.SGD([w], lr=base_lr)
    sched = S.Scheduler(opt, schedule, relative=relative)
    expected, got = [], []
    for _ in range(n):
        assert sched.last_step == t_sched.last_epoch
        expected.append(t_opt.param_groups[0]["lr"])
        got.append(opt.param_groups[0]["lr"])
        t_opt.step(), t_sched.step()
        opt.step([np.zeros(1)]), sched.step()
    expected, got = np.array(expected), np.array(got)
    np.testing.assert_allclose(got, expected, rtol=2 * n * np.finfo(float).eps, atol=0)
    return expected


@pytest.mark.torch
@pytest.mark.parametrize("milestones, gamma", [([10, 500, 2000, 3500], 0.3), ([1], 0.5), ([4999], 0.1)])
def test_multi_step_decay_matches_torch_multistep_lr(milestones, gamma):
    lrs = _compare_with_torch(lambda L, o: L.MultiStepLR(o, milestones, gamma),
                              S.multi_step_decay(0.2, milestones, gamma), 0.2)
    # the rate of step m_i is already decayed (torch's convention, and this one)
    assert lrs[milestones[0]] == pytest.approx(0.2 * gamma) and lrs[milestones[0] - 1] == 0.2


@pytest.mark.torch
@pytest.mark.parametrize("decay_steps, power", [(4000, 1.0), (4000, 2.5), (777, 0.5), (1, 1.0)])
def test_polynomial_decay_matches_torch_polynomial_lr(decay_steps, power):
    lrs = _compare_with_torch(lambda L, o: L.PolynomialLR(o, total_iters=decay_steps, power=power),
                              S.polynomial_decay(0.2, decay_steps, power), 0.2)
    assert np.all(lrs[decay_steps:] == 0.0) and lrs[decay_steps - 1] > 0.0


@pytest.mark.torch
@pytest.mark.parametrize("period, mult, final", [(37, 1, 0.01), (7, 2, 0.0), (5, 3, 0.02), (1, 1, 0.0)])
def test_cosine_warm_restarts_matches_torch(period, mult, final):
    lrs = _compare_with_torch(lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=period, T_mult=mult, eta_min=final),
                              S.cosine_warm_restarts(0.2, period, mult, final), 0.2)
    # a restart lands exactly on init at the start of every cycle
    starts = np.cumsum([0] + [period * mult**i for i in range(20)])
    starts = starts[starts < LONG]
    np.testing.assert_array_equal(lrs[starts], 0.2)


@pytest.mark.torch
@pytest.mark.parametrize(
    "total, pct, strategy, three_phase",
    [(LONG, 0.3, "cos", False), (LONG - 1, 0.27, "linear", True), (LONG, 0.25, "cos", True),
     (LONG - 3, 0.1, "linear", False)],
)
def test_one_cycle_matches_torch_one_cycle_lr(total, pct, strategy, three_phase):
    # The group's own lr is ignored by both: the cycle is defined by max_lr and the divisors.
    lrs = _compare_with_torch(
        lambda L, o: L.OneCycleLR(o, max_lr=0.2, total_steps=total, pct_start=pct, anneal_strategy=strategy,
                                  div_factor=20.0, final_div_factor=1e3, three_phase=three_phase,
                                  cycle_momentum=False),
        S.one_cycle(0.2, total, pct, strategy, div_factor=20.0, final_div_factor=1e3, three_phase=three_phase),
        base_lr=0.7, n=total)
    # the peak falls between two steps when p·T is not an integer, so it is only approached
    assert lrs[0] == pytest.approx(0.2 / 20) and lrs.max() == pytest.approx(0.2, rel=1e-3) and lrs.max() <= 0.2
    assert lrs[-1] == pytest.approx(0.2 / 20 / 1e3)


def test_one_cycle_holds_its_last_rate_where_torch_extrapolates_or_raises():
    f = S.one_cycle(1.0, 100)
    assert f(99) == f(100) == f(10**6) == pytest.approx(1.0 / 25 / 1e4)


@pytest.mark.torch
def test_cosine_decay_parts_from_torch_cosine_annealing_beyond_t_max():
    # Up to T_max the two agree (to torch's recursive rounding); beyond it torch's cosine
    # climbs back to init at 2·T_max while this one stays at final, as the docstring says.
    torch = require("torch")
    T = 1000
    expected = _torch_lrs(torch, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=0.01),
                          [0.3], 4 * T + 1)[:, 0]
    ours = S.values(S.cosine_decay(0.3, T, final=0.01), 4 * T + 1)
    np.testing.assert_allclose(ours[: T + 1], expected[: T + 1], rtol=2 * T * np.finfo(float).eps)
    assert expected[2 * T] == pytest.approx(0.3) and ours[2 * T] == pytest.approx(0.01)
    assert expected[4 * T] == pytest.approx(0.3, rel=1e-9)  # periodic, period 2·T_max


@pytest.mark.torch
def test_linear_lr_refuses_a_warmup_from_zero_that_linear_warmup_accepts():
    torch = require("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError):
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.0, total_iters=5)
    assert S.linear_warmup(1.0, 5)(0) == 0.0


def test_new_schedules_values_by_hand():
    np.testing.assert_allclose(S.values(S.multi_step_decay(1.0, [2, 4], 0.5), 6), [1, 1, .5, .5, .25, .25])
    np.testing.assert_allclose(S.values(S.polynomial_decay(1.0, 4, 2.0, final=0.2), 6),
                               [1.0, 0.65, 0.4, 0.25, 0.2, 0.2])
    np.testing.assert_allclose(S.values(S.cosine_warm_restarts(1.0, 2, 2), 8),
                               [1.0, 0.5] + [(1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
                               + [1.0, (1 + math.cos(math.pi / 8)) / 2], rtol=1e-15)
    f = S.one_cycle(1.0, 11, pct_start=0.5, anneal_strategy="linear", div_factor=10.0, final_div_factor=10.0)
    # rises from 0.1 at step 0 to 1.0 at step 4.5 (= 0.5·11 − 1), falls to 0.01 at step 10
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(0.01)
    assert f(4) == pytest.approx(0.1 + 0.9 * 4 / 4.5) and f(5) == pytest.approx(1.0 - 0.99 * 0.5 / 5.5)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: S.multi_step_decay(1.0, [5, 5]), "milestones"),
        (lambda: S.multi_step_decay(1.0, [0, 5]), r"milestones\[0\]"),
        (lambda: S.multi_step_decay(1.0, [3], gamma=2.0), "gamma"),
        (lambda: S.polynomial_decay(1.0, 0), "decay_steps"),
        (lambda: S.polynomial_decay(1.0, 10, power=0.0), "power"),
        (lambda: S.polynomial_decay(1.0, 10, final=-1.0), "final"),
        (lambda: S.cosine_warm_restarts(1.0, 0), "first_period"),
        (lambda: S.cosine_warm_restarts(1.0, 5, period_mult=0), "period_mult"),
        (lambda: S.one_cycle(1.0, 1), "total_steps"),
        (lambda: S.one_cycle(1.0, 100, pct_start=1.0), "pct_start"),
        (lambda: S.one_cycle(1.0, 100, pct_start=0.01), "pct_start"),  # torch: ZeroDivisionError
        (lambda: S.one_cycle(1.0, 100, pct_start=0.6, three_phase=True), "pct_start"),
        (lambda: S.one_cycle(1.0, 100, anneal_strategy="cosine"), "anneal_strategy"),
        (lambda: S.one_cycle(1.0, 100, div_factor=0.0), "div_factor"),
        (lambda: S.one_cycle(1.0, 100, final_div_factor=-1.0), "final_div_factor"),
        (lambda: S.one_cycle(-1.0, 100), "max_lr"),
    ],
)
def test_new_schedules_name_their_invalid_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: S.cosine_warm_restarts(1.0, 5, period_mult=1.5), lambda: S.one_cycle(1.0, 100, three_phase=1),
     lambda: S.multi_step_decay(1.0, [2.5])],
)
def test_new_schedules_wrong_types(make):
    with pytest.raises(TypeError):
        make()


# ---------------------------------------------------------------------------- reduce on plateau
def _metrics(n, seed=0):
    """A validation loss with the shape that makes a plateau scheduler act: decreasing overall,
    noisy, with long flat stretches, a late rise, and some exact repeats."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    trend = 1.0 / (1.0 + t / 300.0) + 0.05 * np.sin(t / 150.0)
    flat = np.where((t // 400) % 3 == 2, trend[(t // 400) * 400], trend)
    loss = flat + 0.01 * rng.standard_normal(n)
    loss[n // 2: n // 2 + 50] = loss[n // 2]
    return loss


PLATEAU_SETTINGS = [
    dict(),
    dict(mode="max", factor=0.5, patience=3, threshold=0.01, threshold_mode="abs", cooldown=5),
    dict(factor=0.7, patience=0, threshold=0.0, cooldown=2, min_lr=1e-3),
    dict(factor=0.9, patience=20, threshold=1e-3, threshold_mode="abs", eps=1e-4),
    dict(mode="max", factor=0.0, patience=50, min_lr=0.05),
    dict(mode="min", factor=0.5, patience=2, threshold=0.1),  # rel, applied to negative metrics below
]


@pytest.mark.torch
@pytest.mark.parametrize("settings", PLATEAU_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults")
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reduce_lr_on_plateau_matches_torch(settings, sign):
    torch = require("torch")
    metrics = sign * _metrics(LONG)
    base = [0.3, 0.01]
    params = [torch.zeros(1, requires_grad=True) for _ in base]
    t_opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base)])
    t_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **settings)
    opt = adamlib.SGD([{"params": [np.zeros(1)], "lr": lr} for lr in base])
    plateau = S.ReduceLROnPlateau(opt, **settings)
    reductions = 0
    for metric in metrics:
        before = _lrs(opt)
        t_opt.step(), opt.step([np.zeros(1), np.zeros(1)])
        t_plateau.step(float(metric)), plateau.step(metric)
        assert _lrs(opt) == [g["lr"] for g in t_opt.param_groups]
        assert plateau.get_last_lr() == t_plateau.get_last_lr()
        assert (plateau.last_step, plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter) == (
            t_plateau.last_epoch, t_plateau.best, t_plateau.num_bad_epochs, t_plateau.cooldown_counter)
        reductions += _lrs(opt) != before
    # the sequence must make the scheduler act, or the test proves nothing (factor=0 with a
    # floor can act only once)
    assert reductions >= (1 if settings.get("factor") == 0.0 else 2)


def test_reduce_lr_on_plateau_counts_patience_and_cooldown():
    opt = adamlib.SGD([np.zeros(1)], lr=1.0)
    plateau = S.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, threshold=0.0)
    lrs = []
    for loss in [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]:
        plateau.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    # bad: steps 3,4 (count 1,2), step 4 is the third bad → reduce; cooldown swallows step 5;
    # steps 6,7? 7 improves; 8, 9, 10 bad → reduce at the third.
    assert lrs == [1, 1, 1, 1, .5, .5, .5, .5, .5, .5, .25]


def test_reduce_lr_on_plateau_refuses_bad_input_and_changes_nothing():
    opt = adamlib.SGD([np.zeros(1)], lr=1.0)
    plateau = S.ReduceLROnPlateau(opt, patience=0)
    plateau.step(1.0)
    before = plateau.state_dict()
    for bad, error in [(math.nan, ValueError), (math.inf, ValueError), ("1.0", TypeError), (True, TypeError),
                       (np.zeros(3), TypeError)]:
        with pytest.raises(error, match="metric"):
            plateau.step(bad)
        assert plateau.state_dict() == before and opt.param_groups[0]["lr"] == 1.0
    plateau.step(np.float32(2.0))  # numpy scalars and 0-d arrays are numbers
    plateau.step(np.array(3.0))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(mode="minimum"), "mode"), (dict(threshold_mode="relative"), "threshold_mode"),
        (dict(factor=1.0), "factor"), (dict(factor=-0.1), "factor"), (dict(patience=-1), "patience"),
        (dict(threshold=-1e-4), "threshold"), (dict(cooldown=-1), "cooldown"), (dict(min_lr=-1.0), "min_lr"),
        (dict(min_lr=[0.0, 0.0]), "min_lr"), (dict(eps=-1.0), "eps"),
    ],
)
def test_reduce_lr_on_plateau_names_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        S.ReduceLROnPlateau(adamlib.SGD([np.zeros(1)], lr=1.0), **kwargs)


def test_reduce_lr_on_plateau_state_dict_resumes_exactly(tmp_path):
    metrics = _metrics(600, seed=1)
    make = lambda: adamlib.SGD([np.zeros(1)], lr=0.5)
    settings = dict(factor=0.5, patience=5, cooldown=3, min_lr=[1e-3])
    opt = make()
    straight = S.ReduceLROnPlateau(opt, **settings)
    history = []
    for m in metrics:
        straight.step(m)
        history.append(opt.param_groups[0]["lr"])
    opt2 = make()
    first = S.ReduceLROnPlateau(opt2, **settings)
    for m in metrics[:300]:
        first.step(m)
    adamlib.save(tmp_path / "ckpt.npz", {"optimizer": opt2.state_dict(), "plateau": first.state_dict()})
    saved = adamlib.load(tmp_path / "ckpt.npz")
    opt3 = make()
    resumed = S.ReduceLROnPlateau(opt3, **settings)
    opt3.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["plateau"])
    assert resumed.state_dict() == first.state_dict()
    for t, m in enumerate(metrics[300:], 300):
        resumed.step(m)
        assert opt3.param_groups[0]["lr"] == history[t]
    with pytest.raises(ValueError, match="patience"):
        S.ReduceLROnPlateau(make(), **{**settings, "patience": 6}).load_state_dict(saved["plateau"])
