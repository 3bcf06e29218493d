"""Identities between optimizers (optax's convention): each shown symbolically, then numerically.

* Adam with β₁ = 0 is RMSprop (ρ = β₂) with bias correction of v.
* SGD with momentum 0 is plain SGD, whatever the dampening.
* The "EMA" form of momentum, :math:`e_t = \\mu e_{t-1} + (1-\\mu) g_t,\\ \\theta_t = \\theta_{t-1} -
  \\alpha e_t` with :math:`e_0 = 0`, gives exactly the iterates of torch's form
  :math:`b_t = \\mu b_{t-1} + g_t` (dampening 0) with learning rate :math:`\\alpha(1-\\mu)`,
  because :math:`b_t = e_t/(1-\\mu)` for every t — including t = 1, where torch copies
  :math:`b_1 = g_1`, which is what the recursion gives from :math:`b_0 = 0` when τ = 0.
* torch's form with dampening τ = μ and the *same* learning rate α is the EMA recursion from
  the second step on, but not an equivalent iteration: its first step copies :math:`g_1`
  undamped, so its buffer exceeds the EMA by :math:`\\mu^t g_1` and its iterate lags by
  :math:`\\alpha g_1\\,\\mu(1-\\mu^t)/(1-\\mu)` — a permanent offset of ≈ :math:`\\alpha g_1\\,\\mu/(1-\\mu)`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _oracle_cases import TOLERANCE_ULPS, deviation, problem

import adamlib
from adamlib import reference, symbolic

S, rule = symbolic.S, symbolic.rule


# ----------------------------------------------------------------------------- Adam(β₁=0) = RMSprop
def test_adam_without_momentum_is_rmsprop_with_bias_correction_symbolically():
    adam = rule("adam").subs(S.beta1, 0)
    rms = rule("rmsprop").subs(S.rho, S.beta2)
    v_t = rms.outputs["v"]
    assert sp.simplify(adam.outputs["v"] - v_t) == 0
    assert adam.outputs["m"] == S.g  # no momentum: m_t = g_t
    corrected = S.theta - S.alpha * S.g / (sp.sqrt(v_t / symbolic.bias_correction(S.beta2)) + S.eps)
    assert sp.simplify(adam.outputs["theta"] - corrected) == 0
    # and without the correction (β₂ᵗ → 0 as t → ∞) it is RMSprop itself
    assert sp.simplify(corrected.subs(S.beta2**S.t, 0) - rms.outputs["theta"]) == 0


def test_adam_without_momentum_is_rmsprop_with_bias_correction_numerically(dtype):
    theta0, grads = problem(dtype, seed=5)
    lr, beta2, eps = 1e-2, 0.99, 1e-8
    theta = theta0.copy()
    opt = adamlib.Adam([theta], lr=lr, betas=(0.0, beta2), eps=eps)
    expected, rms_state = theta0.copy(), reference.init_state("rmsprop", theta0)
    for t, g in enumerate(grads, start=1):
        opt.step([g])
        # v from RMSprop's own EMA (torch's alpha is β₂); the parameter it returns is unused
        _, rms_state = reference.rmsprop(theta0, g, rms_state, alpha=beta2)
        v_hat = rms_state["square_avg"] / dtype(1 - beta2**t)
        expected = expected - dtype(lr) * g / (np.sqrt(v_hat) + dtype(eps))
        assert deviation(theta, expected) <= TOLERANCE_ULPS
    # m_t = g_t, up to the rounding of the kernel's lerp form m + 1·(g - m): an ulp or two
    assert deviation(opt.state[0]["exp_avg"], grads[-1]) <= 4


# ----------------------------------------------------------------------------- momentum 0 = SGD
def test_sgd_with_zero_momentum_is_plain_sgd_symbolically():
    plain = rule("sgd").outputs["theta"]
    for name in ("sgd_momentum", "sgd_nesterov"):
        zero = rule(name).subs({S.mu: 0, S.dampening: 0})
        assert sp.simplify(zero.outputs["theta"] - plain) == 0
    # with a dampening τ but μ = 0 the rule scales the step by (1 - τ); torch and adamlib do
    # not: they keep no buffer when momentum == 0, so dampening is ignored (tested below).
    damped = rule("sgd_momentum").subs(S.mu, 0).outputs["theta"]
    assert sp.simplify(damped - (S.theta - S.alpha * (1 - S.dampening) * S.g)) == 0


def test_sgd_with_zero_momentum_is_plain_sgd_numerically(dtype):
    theta0, grads = problem(dtype, seed=6)
    for dampening in (0.0, 0.5):
        theta = theta0.copy()
        opt = adamlib.SGD([theta], lr=0.01, momentum=0.0, dampening=dampening)
        expected = theta0.copy()
        for g in grads:
            opt.step([g])
            expected = expected - dtype(0.01) * g
        assert "momentum_buffer" not in opt.state[0]
        assert deviation(theta, expected) <= TOLERANCE_ULPS


# ----------------------------------------------------------------------------- EMA-form momentum
def test_ema_momentum_is_torch_momentum_with_a_smaller_learning_rate_symbolically():
    e = sp.Symbol("e", real=True)  # the EMA buffer before the step
    ema_buffer = S.mu * e + (1 - S.mu) * S.g
    ema_theta = S.theta - S.alpha * ema_buffer
    torch_form = rule("sgd_momentum").subs({S.dampening: 0, S.b: e / (1 - S.mu),
                                             S.alpha: S.alpha * (1 - S.mu)})
    # The invariant b = e/(1-μ) is preserved, and the iterates agree.
    assert sp.simplify(torch_form.outputs["b"] - ema_buffer / (1 - S.mu)) == 0
    assert sp.simplify(torch_form.outputs["theta"] - ema_theta) == 0
    # It holds at t = 1: torch's copy b₁ = g₁ is the recursion from b₀ = 0 = e₀/(1-μ).
    assert rule("sgd_momentum").subs({S.dampening: 0, S.b: 0}).outputs["b"] == S.g


def test_ema_momentum_is_torch_momentum_with_a_smaller_learning_rate_numerically(dtype):
    theta0, grads = problem(dtype, seed=7)
    lr, mu = 0.05, 0.9
    theta = theta0.copy()
    opt = adamlib.SGD([theta], lr=lr * (1 - mu), momentum=mu)
    expected, ema = theta0.copy(), np.zeros_like(theta0)
    for g in grads:
        opt.step([g])
        ema = dtype(mu) * ema + dtype(1 - mu) * g
        expected = expected - dtype(lr) * ema
        assert deviation(theta, expected) <= TOLERANCE_ULPS
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"] * dtype(1 - mu), ema,
                               rtol=TOLERANCE_ULPS * np.finfo(dtype).eps,
                               atol=TOLERANCE_ULPS * np.finfo(dtype).eps * np.abs(ema).max())


def test_dampening_equal_to_momentum_is_not_the_ema_form(dtype):
    theta0, grads = problem(dtype, seed=8)
    lr, mu = 0.05, 0.9
    theta = theta0.copy()
    opt = adamlib.SGD([theta], lr=lr, momentum=mu, dampening=mu)
    ema_theta, ema = theta0.copy(), np.zeros_like(theta0)
    g1 = grads[0].astype(np.float64)
    for t, g in enumerate(grads, start=1):
        opt.step([g])
        ema = dtype(mu) * ema + dtype(1 - mu) * g
        ema_theta = ema_theta - dtype(lr) * ema
        # torch's undamped first step: buffer ahead by μᵗ g₁, iterate behind by α g₁ μ(1-μᵗ)/(1-μ)
        offset = -lr * g1 * mu * (1 - mu**t) / (1 - mu)
        predicted = ema_theta.astype(np.float64) + offset
        assert deviation(theta, predicted.astype(dtype)) <= TOLERANCE_ULPS
    buffer_gap = opt.state[0]["momentum_buffer"].astype(np.float64) - ema
    scale = np.abs(grads).max() * np.finfo(dtype).eps * TOLERANCE_ULPS
    np.testing.assert_allclose(buffer_gap, mu ** len(grads) * g1, atol=scale)
    # the offset is far from negligible: ≈ 9 α g₁ at μ = 0.9
    assert np.abs(offset).max() > 0.1 * np.abs(theta0).max()
