"""Family-wide checks that need no oracle: convergence, examples, the kernel-call hook."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from _family import FAMILY, IDS, kernel

import adamlib

SMOKE_STEPS = 2000


def quadratic(x):
    """Gradient of f(x) = ½ Σ cᵢ (xᵢ − x*ᵢ)² with curvatures 1 and 10: minimiser x* = (1, −2)."""
    return np.array([1.0, 10.0]) * (x - np.array([1.0, -2.0]))


@pytest.mark.parametrize("member", FAMILY, ids=IDS)
def test_each_optimizer_reaches_the_minimiser_of_a_quadratic(member):
    x = np.zeros(2)
    opt = member.cls([x], **member.converges)
    for _ in range(SMOKE_STEPS):
        opt.step([quadratic(x)])
    np.testing.assert_allclose(x, [1.0, -2.0], atol=1e-2)


@pytest.mark.parametrize("member", FAMILY, ids=IDS)
def test_each_optimizer_has_a_runnable_example_and_linked_reference(member):
    doc = inspect.getdoc(member.cls)
    assert "Examples\n--------\n>>> " in doc  # executed by --doctest-modules (pyproject.toml)
    assert "<https://" in doc


@pytest.mark.parametrize("member", FAMILY, ids=IDS)
def test_kernel_calls_are_the_calls_a_step_makes(member):
    rng = np.random.default_rng(0)
    a, b = np.ones(5), np.ones((2, 3))
    twin_a, twin_b = a.copy(), b.copy()
    opt = member.cls([a, b], **member.buffers)
    twin = member.cls([twin_a, twin_b], **member.buffers)
    g = [rng.standard_normal(5), rng.standard_normal((2, 3))]
    opt.step(g)
    twin.step(g)
    with pytest.raises(RuntimeError, match=r"take one step\(\) first"):
        member.cls([np.ones(2)]).kernel_calls([np.ones(2)])
    for call in opt.kernel_calls(g):
        assert call.kernel in {kernel(name) for name in member.kernels}
        call.kernel(*call.arguments)
    twin.step(g)
    np.testing.assert_array_equal(a, twin_a)
    np.testing.assert_array_equal(b, twin_b)
    assert opt.state[0]["step"] == 1  # kernel_calls leaves the step count alone


@pytest.mark.parametrize("member", [m for m in FAMILY if "betas" in m.cls([np.ones(1)]).defaults],
                         ids=[m.name for m in FAMILY if "betas" in m.cls([np.ones(1)]).defaults])
def test_betas_are_a_tuple_wherever_they_come_from(member):
    opt = member.cls([np.ones(2)], betas=[0.8, 0.9])
    opt.add_param_group({"params": [np.ones(2)], "betas": [0.7, 0.9]})
    assert opt.defaults["betas"] == (0.8, 0.9) and opt.param_groups[1]["betas"] == (0.7, 0.9)
    opt.param_groups[0]["betas"] = [0.5, 0.9]  # set between steps, as a schedule might
    opt.step([np.ones(2), np.ones(2)])
    assert opt.param_groups[0]["betas"] == (0.5, 0.9)
    sd = opt.state_dict()
    sd["param_groups"][0]["betas"] = [0.6, 0.9]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["betas"] == (0.6, 0.9)
