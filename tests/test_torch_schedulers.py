"""Chapter 10's table of torch equivalents, checked value by value against torch.optim.lr_scheduler.

Each row of the table in chapters/10-schedules.ipynb ("The same schedules in torch") names the
torch scheduler that reproduces an adamlib schedule, and where the two part: CosineAnnealingLR
is periodic beyond ``T_max``, LinearLR refuses ``start_factor=0``, and calling the scheduler
before the optimizer shifts every rate by one step. torch is optional: these tests skip
without it locally and fail in CI, which installs it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import adamlib
from adamlib import schedules as S
from conftest import require

pytestmark = pytest.mark.torch

PEAK, W, T, INIT, FINAL = 0.3, 4, 12, 0.03, 0.01
N = 3 * T  # well past the end of every decay


@pytest.fixture(scope="module")
def lr_scheduler():
    return require("torch").optim.lr_scheduler


def torch_rates(make_scheduler, lr=PEAK, n=N, scheduler_first=False):
    """The lr of each of ``n`` torch optimizer steps, with the scheduler stepped after the
    optimizer (the documented order) or, with ``scheduler_first``, before it."""
    torch = require("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(n):
        if scheduler_first:
            sched.step()
        rates.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(1)
        opt.step()
        if not scheduler_first:
            sched.step()
    return np.array(rates), sched.last_epoch


def adamlib_rates(schedule, n=N):
    """The lr of each of ``n`` adamlib optimizer steps under ``Scheduler`` (and its counter)."""
    x = np.zeros(1)
    opt = adamlib.SGD([x], lr=1.0)
    sched = S.Scheduler(opt, schedule)
    rates = []
    for _ in range(n):
        rates.append(opt.param_groups[0]["lr"])
        opt.step([np.zeros(1)])
        sched.step()
    return np.array(rates), sched.last_step


# the rows of the chapter's table where the two agree at every step: (adamlib, torch)
ROWS = {
    "constant": (S.constant(PEAK), lambda L: (lambda o: L.ConstantLR(o, factor=1.0))),
    "linear_warmup (init > 0)": (
        S.linear_warmup(PEAK, W, INIT),
        lambda L: (lambda o: L.LinearLR(o, start_factor=INIT / PEAK, end_factor=1.0, total_iters=W)),
    ),
    "linear_warmup (init = 0)": (
        S.linear_warmup(PEAK, W),
        lambda L: (lambda o: L.LambdaLR(o, lambda t: min(t, W) / W)),
    ),
    "step_decay": (S.step_decay(PEAK, 5, 0.3), lambda L: (lambda o: L.StepLR(o, step_size=5, gamma=0.3))),
    "exponential_decay": (S.exponential_decay(PEAK, 0.9), lambda L: (lambda o: L.ExponentialLR(o, gamma=0.9))),
    "inverse_sqrt_decay": (
        S.inverse_sqrt_decay(PEAK),
        lambda L: (lambda o: L.LambdaLR(o, lambda t: 1.0 / math.sqrt(t + 1))),
    ),
    "join (SequentialLR)": (
        S.join([S.constant(PEAK), S.exponential_decay(PEAK, 0.8)], [W]),
        lambda L: (lambda o: L.SequentialLR(o, [L.ConstantLR(o, factor=1.0), L.ExponentialLR(o, gamma=0.8)],
                                            milestones=[W])),
    ),
}

# the rows where the two agree only up to the end of the decay, t <= T
ROWS_UP_TO_T = {
    "cosine_decay": (
        S.cosine_decay(PEAK, T, FINAL),
        lambda L: (lambda o: L.CosineAnnealingLR(o, T_max=T, eta_min=FINAL)),
    ),
    "warmup_cosine_decay": (
        S.warmup_cosine_decay(PEAK, W, T, INIT, FINAL),
        lambda L: (lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=INIT / PEAK, total_iters=W),
                                                L.CosineAnnealingLR(o, T_max=T - W, eta_min=FINAL)],
                                            milestones=[W])),
    ),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_torch_equivalent_agrees_at_every_step(row, lr_scheduler):
    schedule, make = ROWS[row]
    ours, _ = adamlib_rates(schedule)
    theirs, _ = torch_rates(make(lr_scheduler))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("row", list(ROWS_UP_TO_T))
def test_torch_cosine_agrees_up_to_the_end_of_the_decay_then_rises_again(row, lr_scheduler):
    schedule, make = ROWS_UP_TO_T[row]
    ours, _ = adamlib_rates(schedule)
    theirs, _ = torch_rates(make(lr_scheduler))
    # torch's CosineAnnealingLR updates its rate recursively: equal to rounding, not bit for bit
    np.testing.assert_allclose(ours[: T + 1], theirs[: T + 1], rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(ours[T:], FINAL)  # adamlib holds the final rate
    assert np.all(np.diff(theirs[T: T + 4]) > 0)  # torch's climbs back up after T


def test_cosine_annealing_is_the_periodic_continuation_of_the_cosine(lr_scheduler):
    theirs, _ = torch_rates(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T, eta_min=FINAL))
    t = np.arange(N)
    periodic = FINAL + (PEAK - FINAL) * (1 + np.cos(np.pi * t / T)) / 2  # period 2T, no clamp at T
    np.testing.assert_allclose(theirs, periodic, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(theirs[2 * T], PEAK, rtol=1e-9)  # back at the peak after 2T steps


def test_linear_lr_refuses_a_warmup_from_zero(lr_scheduler):
    torch = require("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=PEAK)
    with pytest.raises(ValueError, match="greater than 0"):
        lr_scheduler.LinearLR(opt, start_factor=0.0, total_iters=W)
    assert S.linear_warmup(PEAK, W)(0) == 0.0  # adamlib's warm-up may start at 0


def test_step_counters_agree_and_the_scheduler_first_order_shifts_by_one(lr_scheduler):
    make = lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
    schedule = S.step_decay(PEAK, 2, 0.5)
    ours, last_step = adamlib_rates(schedule, n=7)
    theirs, last_epoch = torch_rates(make, n=7)
    np.testing.assert_array_equal(ours, theirs)
    # after n optimizer steps both counters read n: the rate of step t is f(t), and the
    # optimizer's own count (Adam's bias-correction t) is t + 1 during that step
    assert last_step == last_epoch == 7
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shifted, _ = torch_rates(make, n=7, scheduler_first=True)
    assert any("before `optimizer.step()`" in str(w.message) for w in caught)
    np.testing.assert_array_equal(shifted, S.values(schedule, 8)[1:])  # f(0) is never used
