"""Properties of the update rules, checked on many generated inputs with Hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from _family import BY_NAME, CLASSES

import adamlib

# Gradient histories: T steps for n independent coordinates (each coordinate is its own run).
magnitudes = st.floats(min_value=1e-3, max_value=1e3)
signed = st.builds(lambda m, s: m * s, magnitudes, st.sampled_from([-1.0, 1.0]))
histories = st.integers(1, 40).flatmap(
    lambda T: hnp.arrays(np.float64, (T, 8), elements=st.one_of(signed, st.just(0.0)))
)
betas = st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999)).filter(lambda b: b[0] ** 2 < b[1])


def adam_steps(grads, lr, betas, eps=1e-300):
    """The per-step displacements of adamlib.Adam over a gradient history."""
    theta = np.zeros(grads.shape[1])
    opt = adamlib.Adam([theta], lr=lr, betas=betas, eps=eps)
    steps = []
    for g in grads:
        before = theta.copy()
        opt.step([np.ascontiguousarray(g)])
        steps.append(theta - before)
    return np.array(steps)


def tight_bound(beta1, beta2, t):
    r"""The exact supremum of |m̂_t / √v̂_t| over all gradient histories (Cauchy–Schwarz):

    .. math:: \frac{1-\beta_1}{1-\beta_1^t}\sqrt{\frac{1-\beta_2^t}{1-\beta_2}
              \sum_{k<t} \left(\frac{\beta_1^2}{\beta_2}\right)^k}
    """
    ratio = beta1**2 / beta2
    geometric = sum(ratio**k for k in range(t))
    return (1 - beta1) / (1 - beta1**t) * np.sqrt((1 - beta2**t) / (1 - beta2) * geometric)


@settings(max_examples=150, deadline=None)
@given(grads=histories, betas=betas, lr=st.floats(1e-4, 1.0))
def test_adam_step_never_exceeds_the_cauchy_schwarz_bound(grads, betas, lr):
    steps = adam_steps(grads, lr, betas)
    for t, step in enumerate(steps, start=1):
        assert np.all(np.abs(step) <= lr * tight_bound(*betas, t) * (1 + 1e-9))


@settings(max_examples=150, deadline=None)
@given(grads=histories, lr=st.floats(1e-4, 1.0))
def test_kingma_ba_bound_holds_for_bounded_histories_at_the_defaults(grads, lr):
    # Kingma & Ba §2.1: |Δ| ≤ α(1−β₁)/√(1−β₂) ≈ 3.16α at the defaults. Within 40 steps the bias
    # correction of v keeps every generated history below it ...
    steps = adam_steps(grads, lr, (0.9, 0.999))
    assert np.all(np.abs(steps) <= lr * (1 - 0.9) / np.sqrt(1 - 0.999) * (1 + 1e-9))


def test_kingma_ba_bound_is_not_a_true_bound():
    # ... but it is not a bound in general: gradients growing by β₂/β₁ per step attain the
    # Cauchy–Schwarz supremum, which tends to (1−β₁)/√((1−β₂)(1−β₁²/β₂)) ≈ 7.27α at the defaults.
    beta1, beta2, T = 0.9, 0.999, 3000
    grads = (beta2 / beta1) ** (np.arange(T) - T + 1.0)  # ends at 1: no overflow
    steps = adam_steps(grads[:, None], 1.0, (beta1, beta2))
    worst = np.abs(steps).max()
    assert worst > 2.2 * (1 - beta1) / np.sqrt(1 - beta2)
    np.testing.assert_allclose(np.abs(steps[-1]), tight_bound(beta1, beta2, T), rtol=1e-9)


@settings(max_examples=100, deadline=None)
@given(grads=histories, betas=betas, scale=st.floats(1e-3, 1e3))
def test_adam_step_is_invariant_to_gradient_scale_as_eps_vanishes(grads, betas, scale):
    lr = 0.1
    steps = adam_steps(grads, lr, betas)
    scaled = adam_steps(grads * scale, lr, betas)
    # A step that is nearly zero comes out of a cancellation in the moving averages (a gradient
    # after its opposite), so it carries rounding errors of a few ulps of lr in absolute terms,
    # not of itself: compare such steps absolutely (Hypothesis found one of 7e-9 off by 3e-17).
    np.testing.assert_allclose(scaled, steps, rtol=1e-9, atol=1e-14 * lr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cls=st.sampled_from(CLASSES),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(max_dims=3, max_side=5),
    options=st.fixed_dictionaries({}, optional={"weight_decay": st.floats(0, 0.1), "maximize": st.booleans()}),
    seed=st.integers(0, 2**32 - 1),
)
def test_dtype_is_preserved_in_parameters_and_state(cls, dtype, shape, options, seed):
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(shape).astype(dtype)
    opt = cls([param], **options, **BY_NAME[cls.__name__].buffers)
    for _ in range(3):
        opt.step([rng.standard_normal(shape).astype(dtype)])
    assert param.dtype == dtype
    # Every buffer has the parameter's shape, except Adafactor's factors of a matrix (torch's):
    factor_shapes = {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, *shape[-1:])}
    for key, value in opt.state[0].items():
        if isinstance(value, np.ndarray):
            assert value.dtype == dtype and value.shape == factor_shapes.get(key, param.shape), key


corruptions = st.sampled_from(["shape", "dtype", "alias", "nonfinite", "count", "lr"])


@settings(max_examples=80, deadline=None)
@given(cls=st.sampled_from(CLASSES), corruption=corruptions, where=st.integers(0, 2),
       warm_steps=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_a_refused_step_mutates_nothing(cls, corruption, where, warm_steps, seed):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in [(3,), (2, 2), (5,)]]
    opt = cls(params, check_finite=True, **BY_NAME[cls.__name__].buffers)
    for _ in range(warm_steps):
        opt.step([rng.standard_normal(p.shape) for p in params])
    before = opt.state_dict()
    values = [p.copy() for p in params]
    grads = [rng.standard_normal(p.shape) for p in params]
    if corruption == "shape":
        grads[where] = np.ones(7)
    elif corruption == "dtype":
        grads[where] = grads[where].astype(np.float32)
    elif corruption == "alias":
        grads[where] = params[where]
    elif corruption == "nonfinite":
        grads[where].reshape(-1)[0] = np.nan
    elif corruption == "count":
        grads = grads[:where]
    else:
        opt.param_groups[0]["lr"] = -1.0
    with pytest.raises((ValueError, TypeError, FloatingPointError)):
        opt.step(grads)
    for p, v in zip(params, values):
        np.testing.assert_array_equal(p, v)
    after = opt.state_dict()
    assert before["state"].keys() == after["state"].keys()
    for i in before["state"]:
        for k, v in before["state"][i].items():
            np.testing.assert_array_equal(v, after["state"][i][k])
