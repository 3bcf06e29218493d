"""adamlib.symbolic: the SymPy rules against the compiled kernels, and the derived quantities.

Each rule is lambdified and stepped alongside the adamlib optimizer from a random state
(loaded with ``load_state_dict``), for a few consecutive steps; the rule's outputs become its
next inputs. Tolerance: a few steps, each rounding to a few ulps of the largest value — 32
ulps of max|x| allows for that in both dtypes with room, and an error in a formula shows up
at the percent level.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from _oracle_cases import CLASSES, deviation

from adamlib import reference, symbolic

S, rule = symbolic.S, symbolic.rule

ULPS = 32

# (rule name, gradient transformation or None, adamlib algorithm, hyperparameters, start step)
RULE_CASES = [
    ("sgd", None, "sgd", dict(lr=0.1), 0),
    ("sgd_momentum", None, "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3), 4),
    ("sgd_nesterov", None, "sgd", dict(lr=0.1, momentum=0.9, nesterov=True), 4),
    ("adagrad", None, "adagrad", dict(lr=0.01, lr_decay=0.1, eps=1e-3), 4),
    ("adagrad", "l2", "adagrad", dict(lr=0.01, weight_decay=0.3), 0),
    ("adagrad", "maximize", "adagrad", dict(lr=0.01, maximize=True, initial_accumulator_value=0.5), 0),
    ("rmsprop", None, "rmsprop", dict(lr=0.01, alpha=0.9), 4),
    ("rmsprop_centered", None, "rmsprop", dict(lr=0.01, alpha=0.9, centered=True), 4),
    ("adam", None, "adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3), 4),
    ("adam", "l2", "adam", dict(lr=0.01, weight_decay=0.3), 4),
    ("adam", "maximize", "adam", dict(lr=0.01, maximize=True), 4),
    ("amsgrad", None, "adam", dict(lr=0.01, amsgrad=True), 4),
    ("adamw", None, "adamw", dict(lr=0.01, weight_decay=0.5), 4),
    ("adamw", None, "adam", dict(lr=0.01, weight_decay=0.5, decoupled_weight_decay=True), 4),
    ("adamax", None, "adamax", dict(lr=0.01, eps=1e-2), 4),
    ("nadam", None, "nadam", dict(lr=0.01, momentum_decay=0.1), 4),
    ("nadam", "l2", "nadam", dict(lr=0.01, weight_decay=0.3), 0),
    ("radam", None, "radam", dict(lr=0.01), 1),  # t = 2, 3, 4: ρ_t ≤ 5, unrectified
    ("radam", None, "radam", dict(lr=0.01), 40),  # rectified
    ("radam", None, "radam", dict(lr=0.01, betas=(0.9, 0.9)), 3),  # ρ_t crosses 5 at t = 5
    ("radam_rectified", None, "radam", dict(lr=0.01), 40),
    ("radam_unrectified", "maximize", "radam", dict(lr=0.01, maximize=True), 0),
    ("sgd_momentum", "l2", "sgd", dict(lr=0.1, momentum=0.5, weight_decay=0.2), 2),
]
TRANSFORMS = {None: lambda r: r, "l2": lambda r: r.subs(S.g, S.g + S.lam * S.theta),
              "maximize": lambda r: r.subs(S.g, -S.g)}


def _case_id(case):
    name, transform, algo, hp, start = case
    return f"{name}{'-' + transform if transform else ''}-{algo}-t{start + 1}" + \
        ("-b2=0.9" if hp.get("betas") == (0.9, 0.9) else "")


def _random_state(algo, theta, hp, start, rng):
    """A state with ``step = start`` and random but admissible values (v ≥ ḡ², u > 0, …)."""
    state = reference.init_state(algo, theta, **hp)
    state["step"] = start
    shape, dt = theta.shape, theta.dtype
    for key in state:
        if key in ("exp_avg", "momentum_buffer", "grad_avg"):
            state[key] = (0.3 * rng.standard_normal(shape)).astype(dt)
        elif key in ("exp_avg_sq", "square_avg", "exp_inf", "sum"):
            state[key] = rng.uniform(0.01, 1.0, shape).astype(dt)
    if "grad_avg" in state:
        state["square_avg"] += state["grad_avg"] ** 2
    if "max_exp_avg_sq" in state:  # above v for some elements, below for others
        state["max_exp_avg_sq"] = (state["exp_avg_sq"] * rng.uniform(0.5, 2.0, shape)).astype(dt)
    if "mu_product" in state:
        state["mu_product"] = float(np.prod([reference.nadam_momentum(0.9, t, hp["momentum_decay"])
                                             for t in range(1, start + 1)]))
    return state


@pytest.mark.parametrize("case", RULE_CASES, ids=[_case_id(c) for c in RULE_CASES])
def test_kernel_matches_lambdified_rule(case, dtype):
    name, transform, algo, hp, start = case
    the_rule = TRANSFORMS[transform](rule(name))
    step = the_rule.lambdify()
    rng = np.random.default_rng(11)
    theta = rng.standard_normal(200).astype(dtype)
    state = _random_state(algo, theta, hp, start, rng)
    opt = CLASSES[algo]([theta], **hp)
    opt.load_state_dict({"state": {0: state}, "param_groups": [dict(hp, params=[0])]})
    sym_theta, sym_state = theta.copy(), {k: np.copy(v) for k, v in state.items()}
    for _ in range(3):
        g = rng.standard_normal(theta.shape).astype(dtype)
        out = step(**the_rule.arguments(sym_theta, g, sym_state, opt.param_groups[0]))
        opt.step([g])
        sym_theta = out["theta"]
        sym_state["step"] += 1
        for key, state_key in the_rule.state_keys.items():
            sym_state[state_key] = out[key]
        assert np.asarray(sym_theta).dtype == dtype
        assert deviation(theta, sym_theta) <= ULPS
        for state_key, value in opt.state[0].items():
            if isinstance(value, np.ndarray):
                assert deviation(value, sym_state[state_key]) <= ULPS, state_key
            elif state_key == "mu_product":
                assert value == pytest.approx(sym_state[state_key], rel=1e-12)


# ----------------------------------------------------------------------------- the Rule API
def test_rule_api():
    adam = rule("adam")
    assert adam.name == "adam"
    assert adam.names == ("theta", "g", "m", "v", "t", "alpha", "beta1", "beta2", "eps")
    assert adam.inputs == (S.theta, S.g, S.m, S.v, S.t, S.alpha, S.beta1, S.beta2, S.eps)
    assert list(adam.outputs) == ["m", "v", "theta"]
    assert adam.state_keys == {"m": "exp_avg", "v": "exp_avg_sq"}
    assert repr(adam) == "Rule('adam', inputs=(theta, g, m, v, t, alpha, beta1, beta2, eps), outputs=(m, v, theta))"
    assert rule("adam") is adam  # cached; no method modifies a rule
    for name in symbolic.RULES:
        r = rule(name)
        assert list(r.outputs)[-1] == "theta"
        free = set().union(*(e.free_symbols for e in r.outputs.values()))
        assert free == set(r.inputs)
    with pytest.raises(ValueError, match="unknown rule"):
        rule("adadelta")
    with pytest.raises(TypeError, match="missing"):
        adam.lambdify()(theta=1.0)


def test_symbols_print_as_greek_letters():
    assert sp.latex(S.eps) == r"\epsilon" and sp.latex(S.lam) == r"\lambda"
    assert sp.latex(S.beta1) == r"\beta_{1}" and sp.latex(S.dampening) == r"\tau"
    assert S.name_of(S.eps) == "eps" and S.name_of(S.vmax) == "vmax"
    assert S.t.is_integer and S.t.is_positive and S.g.is_real and S.v.is_nonnegative


def test_subs_recomputes_the_inputs():
    no_momentum = rule("adam").subs(S.beta1, 0)
    assert "m" not in no_momentum.names and "beta1" not in no_momentum.names
    assert no_momentum.outputs["m"] == S.g
    l2 = rule("adam").subs(S.g, S.g + S.lam * S.theta)
    assert l2.names[-1] == "lam"


# ----------------------------------------------------------------------------- derived quantities
def test_ema_unrolled_is_the_recursion_from_zero():
    x = sp.IndexedBase("g")
    beta = S.beta1
    m = sp.Integer(0)
    for t in range(1, 6):
        m = beta * m + (1 - beta) * x[t]
        assert sp.expand(symbolic.ema_unrolled(beta, t) - m) == 0
    assert isinstance(symbolic.ema_unrolled(), sp.Sum)


def test_bias_correction_is_the_total_weight():
    i = sp.Symbol("i", integer=True, positive=True)
    weights = sp.Sum((1 - S.beta2) * S.beta2 ** (S.t - i), (i, 1, S.t)).doit()
    assert sp.simplify(weights - symbolic.bias_correction(S.beta2, S.t)) == 0
    # A constant input g makes the EMA (1 - β^t) g: correction recovers g exactly.
    const = symbolic.ema_unrolled(S.beta1, 7).subs({sp.IndexedBase("g")[k]: S.g for k in range(1, 8)})
    assert sp.simplify(const / symbolic.bias_correction(S.beta1, 7) - S.g) == 0


def test_adam_first_step():
    corrected = symbolic.adam_first_step(corrected=True)
    uncorrected = symbolic.adam_first_step(corrected=False)
    positive = sp.Symbol("gamma", positive=True)
    assert sp.simplify(corrected.subs({S.eps: 0, S.g: positive})) == -S.alpha  # a step of α
    assert sp.simplify(corrected.subs({S.eps: 0, S.g: -positive})) == S.alpha
    ratio = sp.simplify(uncorrected.subs(S.eps, 0) / corrected.subs(S.eps, 0))
    assert sp.simplify(ratio - (1 - S.beta1) / sp.sqrt(1 - S.beta2)) == 0
    defaults = {S.beta1: sp.Rational(9, 10), S.beta2: sp.Rational(999, 1000)}
    assert float(ratio.subs(defaults)) == pytest.approx(3.1623, abs=1e-4)
    # and it is what the rule (and so the kernel) does on step 1 from zero moments:
    first = rule("adam").outputs["theta"].subs({S.m: 0, S.v: 0, S.t: 1}) - S.theta
    assert sp.simplify(first - corrected) == 0


def test_radam_quantities():
    rho_inf, rho_t = symbolic.radam_rho_inf(), symbolic.radam_rho_t()
    assert sp.simplify(rho_t.subs(S.t, 1)) == 1  # ρ₁ = 1 for every β₂
    assert sp.limit(rho_t.subs(S.beta2, sp.Rational(999, 1000)), S.t, sp.oo) == rho_inf.subs(
        S.beta2, sp.Rational(999, 1000))
    r = symbolic.radam_rectification()
    assert sp.limit(r.subs(S.beta2, sp.Rational(99, 100)), S.t, sp.oo) == 1
    # Agrees with adamlib's scalar functions (the ones the optimizer uses) and the reference.
    from adamlib._scalar import radam_rectification, radam_rho

    for beta2 in (0.9, 0.999):
        for t in (6, 10, 100):
            inf, rt = radam_rho(beta2, t)
            assert float(rho_t.subs({S.beta2: beta2, S.t: t})) == pytest.approx(rt, rel=1e-12)
            assert reference.radam_rho(beta2, t) == pytest.approx((inf, rt), rel=1e-12)
            if rt > 5:
                assert float(r.subs({S.beta2: beta2, S.t: t})) == pytest.approx(
                    radam_rectification(inf, rt), rel=1e-12)
    rho = sp.symbols("rho_t rho_inf", positive=True)
    assert symbolic.radam_rectification(*rho).free_symbols == set(rho)


def test_nadam_mu_matches_the_reference_schedule():
    for t in (1, 10, 1000):
        value = symbolic.nadam_mu(t).subs({S.beta1: 0.9, S.psi: 0.004})
        assert float(value) == pytest.approx(reference.nadam_momentum(0.9, t, 0.004), rel=1e-14)


def test_a_missing_sympy_is_named_in_the_error():
    import subprocess
    import sys

    code = ("import sys; sys.modules['sympy'] = None\n"
            "try:\n    import adamlib.symbolic\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "adamlib.symbolic needs SymPy" in out.stdout and "pip install sympy" in out.stdout
