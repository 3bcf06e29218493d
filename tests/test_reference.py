"""The compiled optimizers against the plain numpy reference (adamlib.reference).

The reference writes the textbook formulas (``m = β₁m + (1-β₁)g``), the kernels the fused lerp
form (``m + (1-β₁)(g - m)``): agreement over 300 steps, every option combination, float32 and
float64, checks the kernels independently of how they are written.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from _oracle_cases import (
    CASES,
    CLASSES,
    TOLERANCE_ULPS,
    case_id,
    deviation,
    problem,
    run_adamlib,
    run_reference,
    state_deviations,
)
from conftest import DTYPES

from adamlib import reference

DTYPE_IDS = [np.dtype(d).name for d in DTYPES]


@pytest.fixture(scope="module", params=DTYPES, ids=DTYPE_IDS)
def data(request):
    return problem(request.param)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_kernel_matches_reference(case, data):
    algo, hp = case
    theta0, grads = data
    trajectory, state = run_adamlib(algo, hp, theta0, grads)
    expected, expected_state = run_reference(algo, hp, theta0, grads)
    assert trajectory.dtype == expected.dtype == theta0.dtype
    assert deviation(trajectory, expected) <= TOLERANCE_ULPS
    assert set(state) == set(expected_state)  # the reference keeps adamlib's state keys
    assert state["step"] == expected_state["step"] == len(grads)
    for key, ulps in state_deviations(state, expected_state).items():
        assert state[key].dtype == theta0.dtype, key
        assert ulps <= TOLERANCE_ULPS, key
    if "mu_product" in state:  # a Python float in both, computed by the same products
        assert state["mu_product"] == pytest.approx(expected_state["mu_product"], rel=1e-12)


def _random_state(algo, theta, hp, rng):
    state = reference.init_state(algo, theta, **hp)
    state["step"] = 5
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            state[key] = rng.random(theta.shape).astype(theta.dtype)
    if "grad_avg" in state:  # centered RMSprop needs v ≥ ḡ²
        state["square_avg"] += state["grad_avg"] ** 2
    if "mu_product" in state:
        state["mu_product"] = 0.01
    return state


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_reference_is_pure_and_keeps_the_dtype(case, dtype):
    algo, hp = case
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(7).astype(dtype)
    grad = rng.standard_normal(7).astype(dtype)
    state = _random_state(algo, theta, hp, rng)
    before = (theta.copy(), grad.copy(), {k: np.copy(v) for k, v in state.items()})
    new_theta, new_state = getattr(reference, algo)(theta, grad, state, **hp)
    np.testing.assert_array_equal(theta, before[0])
    np.testing.assert_array_equal(grad, before[1])
    assert set(state) == set(before[2])
    for key, value in state.items():
        np.testing.assert_array_equal(value, before[2][key])
    assert new_theta.dtype == dtype
    assert new_state["step"] == 6
    for key, value in new_state.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == dtype, key
            assert not np.shares_memory(value, state[key]) and not np.shares_memory(value, grad), key
    assert not np.shares_memory(new_theta, theta)


@pytest.mark.parametrize("algo", reference.ALGORITHMS)
def test_defaults_and_hyperparameter_names_match_adamlib(algo):
    signature = inspect.signature(CLASSES[algo].__init__)
    adamlib_defaults = {name: p.default for name, p in signature.parameters.items()
                        if p.default is not inspect.Parameter.empty and name != "check_finite"}
    assert adamlib_defaults == reference.DEFAULTS[algo]
    step = inspect.signature(getattr(reference, algo))
    assert {name: p.default for name, p in step.parameters.items()
            if p.default is not inspect.Parameter.empty} == reference.DEFAULTS[algo]


def test_init_state_keys_follow_the_options():
    theta = np.zeros(3)
    assert set(reference.init_state("sgd", theta)) == {"step"}
    assert set(reference.init_state("sgd", theta, momentum=0.9)) == {"step", "momentum_buffer"}
    assert set(reference.init_state("rmsprop", theta, centered=True, momentum=0.5)) == {
        "step", "square_avg", "grad_avg", "momentum_buffer"}
    assert set(reference.init_state("adam", theta, amsgrad=True)) == {
        "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert reference.init_state("nadam", theta)["mu_product"] == 1.0
    assert set(reference.init_state("adamax", theta)) == {"step", "exp_avg", "exp_inf"}
    np.testing.assert_array_equal(reference.init_state("adagrad", theta, initial_accumulator_value=0.5)["sum"],
                                  np.full(3, 0.5))


def test_bad_calls_are_refused():
    theta = np.zeros(3)
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        reference.init_state("adam", theta, momentum=0.9)
    with pytest.raises(ValueError, match="unknown algorithm"):
        reference.init_state("adadelta", theta)
    with pytest.raises(ValueError, match="must match"):
        reference.adam(theta, np.zeros(3, np.float32), reference.init_state("adam", theta))
    with pytest.raises(KeyError, match="init_state"):
        reference.sgd(theta, theta, {"step": 0}, momentum=0.9)


def test_first_steps_by_hand():
    # Small cases worked out on paper, in float64.
    g = np.array([2.0, -0.5])
    theta = np.array([1.0, 1.0])
    # Adam, first step: m̂ = g, v̂ = g², so θ₁ = θ₀ - α g/(|g| + ε).
    new, _ = reference.adam(theta, g, reference.init_state("adam", theta), lr=0.1, eps=0.0)
    np.testing.assert_allclose(new, [0.9, 1.1], rtol=1e-15)
    # SGD with dampening: the first step copies g undamped, the second damps it.
    state = reference.init_state("sgd", theta, momentum=0.5)
    t1, state = reference.sgd(theta, g, state, lr=1.0, momentum=0.5, dampening=0.5)
    np.testing.assert_allclose(state["momentum_buffer"], g)
    t2, state = reference.sgd(t1, g, state, lr=1.0, momentum=0.5, dampening=0.5)
    np.testing.assert_allclose(state["momentum_buffer"], 0.5 * g + 0.5 * g)
    np.testing.assert_allclose(t2, theta - 2 * g)
    # Adamax: u₁ = |g| + ε, so θ₁ = θ₀ - α/(1-β₁) (1-β₁) g / |g| = θ₀ - α sign(g).
    new, state = reference.adamax(theta, g, reference.init_state("adamax", theta), lr=0.1, eps=0.0)
    np.testing.assert_allclose(new, [0.9, 1.1], rtol=1e-15)
    # RAdam's first steps are un-rectified (ρ₁ = 1): θ₁ = θ₀ - α m̂₁ = θ₀ - α g.
    new, _ = reference.radam(theta, g, reference.init_state("radam", theta), lr=0.1)
    np.testing.assert_allclose(new, theta - 0.1 * g, rtol=1e-15)
    # Adagrad from s₀ = 0 with a constant gradient: s_t = t g², so step t moves by α sign(g)/√t;
    # with lr_decay η the t-th step is divided by 1 + (t-1)η as well.
    state, new = reference.init_state("adagrad", theta), theta
    for t in range(1, 4):
        previous = new
        new, state = reference.adagrad(previous, g, state, lr=0.1, lr_decay=0.5, eps=0.0)
        np.testing.assert_allclose(previous - new, 0.1 * np.sign(g) / np.sqrt(t) / (1 + 0.5 * (t - 1)), rtol=1e-13)
    np.testing.assert_allclose(state["sum"], 3 * g**2, rtol=1e-15)
