"""Adafactor beyond the family table: the shapes its state takes, and its three oracles on them.

The family tests (``tests/_family.py``) run Adafactor through every check the other optimizers
pass, on the oracle problem's 12 × 25 matrix. Here: vectors, scalars, stacks of matrices,
single rows and columns, a matrix large enough for the threaded kernel; the state's shapes and
size; the options torch refuses; state dicts whose factors have the wrong shape; and the SymPy
rule (:func:`adamlib.symbolic.adafactor_rule`) against the kernels.
"""

from __future__ import annotations

import numpy as np
import pytest
from _oracle_cases import TOLERANCE_ULPS, default_dtype, deviation, problem, run_adamlib, run_reference, run_torch
from conftest import require

import adamlib
from adamlib import _jit, symbolic

SHAPES = [(40,), (), (3, 4, 5), (2, 1, 3, 7), (1, 7), (7, 1), (160, 120)]
"""Every kind of parameter: (160, 120) is above the float32 and float64 thresholds of the
threaded kernels, so the ``prange`` variants run too."""

OPTIONS = [dict(), dict(lr=0.05, beta2_decay=-0.5, eps=(1e-3, 1e-2), d=2.0, weight_decay=0.1, maximize=True)]


def _problem(shape, dtype, steps=60):
    """The oracle problem's start and gradients, reshaped; each gradient an array (0-d too)."""
    theta0, grads = problem(dtype, seed=5, steps=steps, shape=(int(np.prod(shape)),))
    return theta0.reshape(shape), [np.asarray(g) for g in grads.reshape(steps, *shape)]


def test_the_large_shape_runs_the_threaded_kernels():
    assert 160 * 120 >= max(_jit.PARALLEL_THRESHOLD.values())


@pytest.mark.parametrize("hp", OPTIONS, ids=["defaults", "options"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_shape_matches_the_reference(shape, hp, dtype):
    theta0, grads = _problem(shape, dtype)
    trajectory, state = run_adamlib("adafactor", hp, theta0, grads)
    expected, expected_state = run_reference("adafactor", hp, theta0, grads)
    assert deviation(trajectory, expected) <= TOLERANCE_ULPS
    assert set(state) == set(expected_state)
    for key in set(state) - {"step"}:
        assert state[key].shape == expected_state[key].shape and state[key].dtype == dtype
        assert deviation(state[key], expected_state[key]) <= TOLERANCE_ULPS, key


@pytest.mark.torch
@pytest.mark.parametrize("hp", OPTIONS, ids=["defaults", "options"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_shape_matches_torch(shape, hp, dtype):
    torch = require("torch")
    theta0, grads = _problem(shape, dtype)
    expected, torch_state = run_torch(torch, "adafactor", hp, theta0, grads)
    trajectory, state = run_adamlib("adafactor", hp, theta0, grads)
    assert deviation(trajectory, expected) <= TOLERANCE_ULPS
    assert set(state) == set(torch_state) and state["step"] == torch_state["step"]
    for key in set(state) - {"step"}:
        expected_state = np.asarray(torch_state[key], dtype)  # run_torch makes a 0-d state a float
        assert state[key].shape == expected_state.shape
        assert deviation(state[key], expected_state) <= TOLERANCE_ULPS, key


def test_a_matrix_keeps_a_row_and_a_column():
    stack, vector = np.zeros((4, 6, 5), np.float32), np.zeros(9, np.float32)
    opt = adamlib.Adafactor([stack, vector])
    opt.step([np.ones_like(stack), np.ones_like(vector)])
    assert {k: v.shape for k, v in opt.state[0].items() if k != "step"} == {"row_var": (4, 6, 1), "col_var": (4, 1, 5)}
    assert {k: v.shape for k, v in opt.state[1].items() if k != "step"} == {"variance": (9,)}
    # n + m numbers per matrix where Adam keeps 2nm
    assert sum(v.nbytes for v in opt.state[0].values() if isinstance(v, np.ndarray)) == 4 * (6 + 5) * 4


def test_the_first_step_is_the_relative_step_size_times_the_rms_of_theta():
    # t = 1: β̂₂ = 0, so V̂ = g² exactly for a vector, U = sign(g), RMS(U) = 1 = d: no clipping.
    w = np.array([3.0, -4.0])  # RMS 3.5355…
    adamlib.Adafactor([w], lr=0.1).step([np.array([-2.0, 5.0])])
    np.testing.assert_allclose(w, [3.0, -4.0] - 0.1 * np.sqrt(12.5) * np.array([-1.0, 1.0]), rtol=1e-15)
    # From θ = 0 the step is ρ₁ε₂: Adafactor cannot leave the origin quickly.
    z = np.zeros(3)
    adamlib.Adafactor([z]).step([np.ones(3)])
    np.testing.assert_allclose(z, -1e-2 * 1e-3, rtol=1e-15)


@pytest.mark.parametrize("option, value, match", [
    ("beta2_decay", 0.1, r"beta2_decay in param_groups\[0\]: 0.1 \(must be <= 0"),
    ("d", 0.5, r"Invalid d in param_groups\[0\]: 0.5 \(must be >= 1"),
    ("eps", (-1.0, 1e-3), r"eps1 \(eps\[0\]\) in param_groups\[0\]"),
    ("eps", (None, -1.0), r"eps2 \(eps\[1\]\) in param_groups\[0\]"),
    ("eps", 1e-3, r"eps in param_groups\[0\] must be a pair \(eps1, eps2\)"),
    ("lr", -1.0, r"learning rate \(lr\)"),
])
def test_bad_options_are_refused_by_name(option, value, match):
    with pytest.raises(ValueError, match=match):
        adamlib.Adafactor([np.zeros(3)], **{option: value})


def test_eps_given_as_a_list_is_a_tuple():
    opt = adamlib.Adafactor([np.zeros(3)], eps=[None, 1e-2])
    assert opt.defaults["eps"] == (None, 1e-2) and opt.param_groups[0]["eps"] == (None, 1e-2)


def test_a_state_dict_with_factors_of_the_wrong_shape_is_refused_and_changes_nothing():
    w = np.ones((3, 4))
    opt = adamlib.Adafactor([w])
    opt.step([np.ones((3, 4))])
    before = opt.state_dict()
    bad = opt.state_dict()
    bad["state"][0]["row_var"] = np.ones((3, 4))  # a full second moment is not a factor
    with pytest.raises(ValueError, match=r"state\[0\]\['row_var'\] has shape \(3, 4\).*must be \(3, 1\)"):
        opt.load_state_dict(bad)
    bad["state"][0] = {"step": 1, "variance": np.ones((3, 4))}  # a vector's state for a matrix
    with pytest.raises(ValueError, match=r"expects \['col_var', 'row_var', 'step'\]"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    for key in ("row_var", "col_var"):
        np.testing.assert_array_equal(after["state"][0][key], before["state"][0][key])
    opt.state[0]["col_var"] = np.ones((1, 3))  # and the same check when the state is edited
    with pytest.raises(ValueError, match=r"state\[0\]\['col_var'\].*must have shape \(1, 4\)"):
        opt.step([np.ones((3, 4))])
    np.testing.assert_array_equal(w, after["state"][0]["row_var"] * 0 + w)  # step refused: w unchanged


def test_a_checkpoint_restores_the_factors(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 6))
    opt = adamlib.Adafactor([w])
    grads = rng.standard_normal((6, 5, 6))
    for g in grads[:3]:
        opt.step([g])
    adamlib.save(tmp_path / "ckpt.npz", {"params": [w], "optimizer": opt.state_dict()})
    checkpoint = adamlib.load(tmp_path / "ckpt.npz")
    twin = checkpoint["params"][0].copy()
    restored = adamlib.Adafactor([twin])
    restored.load_state_dict(checkpoint["optimizer"])
    assert restored.state[0]["row_var"].shape == (5, 1) and restored.state[0]["col_var"].shape == (1, 6)
    for g in grads[3:]:
        opt.step([g])
        restored.step([g])
    np.testing.assert_array_equal(twin, w)


# ---------------------------------------------------------------------------- the SymPy rule
@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (6,)], ids=str)
@pytest.mark.parametrize("hp", OPTIONS + [dict(lr=0.3, d=1.0, eps=(0.5, 1e-3))], ids=["defaults", "options", "clamped"])
def test_kernel_matches_the_sympy_rule(shape, hp, dtype):
    the_rule = symbolic.adafactor_rule(factored=len(shape) > 1)
    step = the_rule.lambdify()
    rng = np.random.default_rng(11)
    theta = rng.standard_normal(shape).astype(dtype)
    opt = adamlib.Adafactor([theta], **hp)
    opt.step([rng.standard_normal(shape).astype(dtype)])  # a state to start from
    state = {k: np.copy(v) for k, v in opt.state[0].items()}
    sym_theta = theta.copy()
    for _ in range(3):
        g = rng.standard_normal(shape).astype(dtype)
        out = step(**the_rule.arguments(sym_theta, g, state, opt.param_groups[0]))
        opt.step([g])
        sym_theta = out["theta"].astype(dtype)
        state["step"] += 1
        for key, state_key in the_rule.state_keys.items():
            state[state_key] = out[key].astype(dtype)
            assert deviation(opt.state[0][state_key], state[state_key]) <= 32, state_key
        assert deviation(theta, sym_theta) <= 32


def test_the_rule_names_its_inputs():
    rule = symbolic.adafactor_rule()
    assert rule.names == ("theta", "g", "R", "C", "t", "alpha", "kappa", "eps1", "eps2", "d", "lam")
    assert list(rule.outputs) == ["R", "C", "theta"] and rule.state_keys == {"R": "row_var", "C": "col_var"}
    with pytest.raises(TypeError, match="takes keywords"):
        rule.lambdify()(theta=np.zeros((2, 2)))


@pytest.mark.torch
def test_foreach_is_accepted_by_the_drop_in_and_torch_agrees_with_itself():
    torch = require("torch")
    import adamlib.torch as at

    theta0, grads = _problem((6, 7), np.float64, steps=20)
    results = []
    with default_dtype(torch, np.float64):
        for cls, extra in ((at.Adafactor, {}), (at.Adafactor, dict(foreach=True)), (torch.optim.Adafactor, {})):
            p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
            opt = cls([p], lr=0.02, **extra)
            for g in grads:
                p.grad = torch.from_numpy(g.copy())
                opt.step()
            results.append(p.detach().numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert deviation(results[0], results[2]) <= TOLERANCE_ULPS
