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
