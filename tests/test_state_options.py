"""Options that decide which state buffers exist, changed between steps (issue 14).

torch 2.13 honours some of these changes and fails on others (with a KeyError): adamlib
honours the same ones, with the same numbers, and refuses the others with an error that
names the option and the group — and changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
from _family import STATE_OPTION_IDS, STATE_OPTIONS
from _oracle_cases import TOLERANCE_ULPS, default_dtype, deviation, problem, torch_optimizer
from conftest import require

import adamlib

STEPS = 6


def _schedule(option, off, on):
    """The option's value at each step: off, on, off, on — every switch torch can honour."""
    return [off, off, on, on, off, on][:STEPS]


def test_sgd_momentum_switched_on_starts_the_buffer_as_torch_does():
    # The example: torch gives 0.61 (the buffer starts at the first step with momentum).
    w = np.array([1.0])
    opt = adamlib.SGD([w], lr=0.1)
    opt.step([np.array([1.0])])
    opt.param_groups[0]["momentum"] = 0.9
    opt.step([np.array([1.0])])
    opt.step([np.array([1.0])])
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.1 - 0.1 * 1.9])
    assert sorted(opt.state[0]) == ["momentum_buffer", "step"]


def test_sgd_momentum_started_late_copies_the_direction_undamped():
    w = np.array([1.0, -1.0])
    opt = adamlib.SGD([w], lr=0.1, dampening=0.5)
    opt.step([np.ones(2)])
    opt.param_groups[0]["momentum"] = 0.9
    opt.step([np.full(2, 2.0)])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], [2.0, 2.0])  # not (1 - 0.5)·2


@pytest.mark.parametrize("member, option, off, on", STATE_OPTIONS, ids=STATE_OPTION_IDS)
def test_option_switched_on_after_the_first_step(member, option, off, on):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(3), rng.standard_normal(2)]
    opt = member.cls([{"params": params[:1]}, {"params": params[1:], option: off}], **{option: off})
    grads = [rng.standard_normal(3), rng.standard_normal(2)]
    opt.step(grads)
    opt.param_groups[1][option] = on
    if member.cls is adamlib.SGD:  # torch starts the buffer: so does adamlib
        opt.step(grads)
        assert "momentum_buffer" in opt.state[1] and "momentum_buffer" not in opt.state[0]
        return
    before = opt.state_dict()
    values = [p.copy() for p in params]
    with pytest.raises(ValueError, match=rf"{option}={on!r} in param_groups\[1\] needs state\[1\]\[.*"
                                         rf"Set {option} back"):
        opt.step(grads)
    for p, v in zip(params, values):
        np.testing.assert_array_equal(p, v)
    after = opt.state_dict()
    for i in before["state"]:
        assert before["state"][i].keys() == after["state"][i].keys()
    opt.param_groups[1][option] = off  # as the message says: set it back, and it steps again
    opt.step(grads)


@pytest.mark.parametrize("member, option, off, on", STATE_OPTIONS, ids=STATE_OPTION_IDS)
def test_a_parameter_without_state_starts_with_the_current_options(member, option, off, on):
    a, b = np.ones(3), np.ones(3)
    opt = member.cls([a, b], **{option: off})
    opt.step([np.ones(3), None])  # b has no state yet
    opt.param_groups[0][option] = on
    with pytest.raises(ValueError, match=option) if member.cls is not adamlib.SGD else _nothing():
        opt.step([np.ones(3), np.ones(3)])
    opt.step([None, np.ones(3)])  # b's state begins now, with the option on
    fresh = member.cls([np.ones(3)], **{option: on})
    fresh.step([np.ones(3)])
    assert set(opt.state[1]) == set(fresh.state[0])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.torch
@pytest.mark.parametrize("member, option, off, on", STATE_OPTIONS, ids=STATE_OPTION_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_switches_torch_honours_match_torch(member, option, off, on, dtype):
    """Start with the option on, then off, then on again (and, for SGD, off first)."""
    torch = require("torch")
    theta0, grads = problem(dtype, seed=5, steps=STEPS)
    schedule = _schedule(option, off, on)
    if member.cls is not adamlib.SGD:
        schedule = [on, on, off, off, on, on]  # torch cannot start these late; it can pause them
    hp = dict(member.oracle_base, dampening=0.3) if member.cls is adamlib.SGD else dict(member.oracle_base)
    theta = theta0.copy()
    opt = member.cls([theta], **hp, **{option: schedule[0]})
    with default_dtype(torch, dtype):
        p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
        topt = torch_optimizer(torch, member.algo, [p], {**hp, option: schedule[0]})
        for value, g in zip(schedule, grads):
            opt.param_groups[0][option] = value
            topt.param_groups[0][option] = value
            opt.step([g])
            p.grad = torch.from_numpy(g.copy())
            topt.step()
            assert deviation(theta, p.detach().numpy()) <= TOLERANCE_ULPS
        for key, value in topt.state[p].items():
            if torch.is_tensor(value) and value.ndim:
                assert deviation(opt.state[0][key], value.numpy()) <= TOLERANCE_ULPS, key


@pytest.mark.torch
@pytest.mark.parametrize("member, option, off, on", [c for c in STATE_OPTIONS if c[0].cls is not adamlib.SGD],
                         ids=[i for c, i in zip(STATE_OPTIONS, STATE_OPTION_IDS) if c[0].cls is not adamlib.SGD])
def test_switches_adamlib_refuses_fail_in_torch_too(member, option, off, on):
    torch = require("torch")
    p = torch.nn.Parameter(torch.ones(3))
    topt = torch_optimizer(torch, member.algo, [p], {option: off})
    p.grad = torch.ones(3)
    topt.step()
    topt.param_groups[0][option] = on
    with pytest.raises(KeyError):
        topt.step()
