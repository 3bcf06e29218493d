"""adamlib (and adamlib.reference) against torch.optim, the semantics adamlib promises.

torch is optional: these tests skip without it locally and fail in CI (``CI=true``), which
installs it. torch runs its single-tensor path (``foreach=False``, also its CPU default), with
its default dtype set to the parameters' dtype so its scalar state (``step``, NAdam's
``mu_product``) is float64 in the float64 runs; the default is restored after each run.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from _oracle_cases import (
    CASES,
    CLASSES,
    TOLERANCE_ULPS,
    TORCH_NAMES,
    case_id,
    default_dtype,
    deviation,
    problem,
    run_adamlib,
    run_reference,
    run_torch,
    state_deviations,
    torch_optimizer,
)
from conftest import DTYPES, require

from adamlib import reference

pytestmark = pytest.mark.torch

DTYPE_IDS = [np.dtype(d).name for d in DTYPES]


@pytest.fixture(scope="module")
def torch():
    return require("torch")


@pytest.fixture(scope="module", params=DTYPES, ids=DTYPE_IDS)
def data(request):
    return problem(request.param)


def test_torch_default_dtype_is_restored(torch):
    before = torch.get_default_dtype()
    with default_dtype(torch, np.float64):
        assert torch.get_default_dtype() == torch.float64
    assert torch.get_default_dtype() == before


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_adamlib_and_reference_match_torch(case, data, torch):
    algo, hp = case
    theta0, grads = data
    expected, torch_state = run_torch(torch, algo, hp, theta0, grads)
    trajectory, state = run_adamlib(algo, hp, theta0, grads)
    assert deviation(trajectory, expected) <= TOLERANCE_ULPS
    assert deviation(run_reference(algo, hp, theta0, grads)[0], expected) <= TOLERANCE_ULPS
    # Same state keys as torch (torch's SGD keeps no step count; adamlib's does).
    assert set(state) - {"step"} == set(torch_state) - {"step"}
    if "step" in torch_state:
        assert state["step"] == torch_state["step"] == len(grads)
    for key, ulps in state_deviations(state, torch_state).items():
        assert ulps <= TOLERANCE_ULPS, key
    if "mu_product" in state:
        # torch keeps it in its default dtype: in float32 it is rounded every step (and here
        # underflows to 0 after ~150 steps of μ ≈ 0.45), adamlib keeps a double.
        tol = dict(rel=1e-12, abs=0) if theta0.dtype == np.float64 else dict(rel=1e-4, abs=1e-38)
        assert state["mu_product"] == pytest.approx(torch_state["mu_product"], **tol)


GROUPS = {  # two groups with different options each
    "sgd": [dict(lr=0.05, momentum=0.9, nesterov=True), dict(momentum=0.5, dampening=0.5, weight_decay=0.1)],
    # Each group its own options, except initial_accumulator_value: torch fills every group's
    # sum with the constructor's value (tests/test_torch_adapter.py shows it).
    "adagrad": [dict(lr_decay=0.1, eps=1e-3), dict(lr=3e-3, weight_decay=0.1, maximize=True)],
    "rmsprop": [dict(centered=True, momentum=0.5), dict(lr=1e-3, alpha=0.9, weight_decay=0.1, maximize=True)],
    "adam": [dict(amsgrad=True), dict(lr=3e-3, betas=(0.5, 0.9), weight_decay=0.1, decoupled_weight_decay=True)],
    "adamw": [dict(amsgrad=True, weight_decay=0.5), dict(lr=3e-3, eps=1e-4)],
    "adamax": [dict(betas=(0.5, 0.9)), dict(lr=3e-3, weight_decay=0.1, maximize=True)],
    "nadam": [dict(momentum_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True)],
    "radam": [dict(betas=(0.9, 0.99)), dict(lr=3e-3, weight_decay=0.1)],
}


def _two_groups(algo, dtype, module):
    """Three parameters of different shapes in two groups; arrays for adamlib, tensors for torch."""
    rng = np.random.default_rng(7)
    shapes = [(40,), (8, 9), (5,)]
    values = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(60)]
    if module is None:
        params = [v.copy() for v in values]
    else:
        params = [module.nn.Parameter(module.from_numpy(v.copy())) for v in values]
    first, second = GROUPS[algo]
    groups = [dict(params=params[:2], **first), dict(params=params[2:], **second)]
    return params, groups, grads


@pytest.mark.parametrize("algo", list(GROUPS))
def test_param_groups_match_torch(algo, dtype, torch):
    params, groups, grads = _two_groups(algo, dtype, None)
    opt = CLASSES[algo](groups, lr=1e-2)
    for g in grads:
        opt.step(g)
    with default_dtype(torch, dtype):
        tparams, tgroups, _ = _two_groups(algo, dtype, torch)
        topt = torch_optimizer(torch, algo, tgroups, dict(lr=1e-2))
        for g in grads:
            for p, gi in zip(tparams, g):
                p.grad = torch.from_numpy(gi.copy())
            topt.step()
    for p, tp in zip(params, tparams):
        assert deviation(p, tp.detach().numpy()) <= TOLERANCE_ULPS


def test_adagrad_initial_accumulator_is_the_groups_own_unlike_torch(torch):
    # adamlib.Adagrad fills a new sum with its group's initial_accumulator_value; torch with the
    # constructor's for every group (adamlib.Adagrad's docstring says so; adamlib.torch follows torch).
    g = np.full(3, 2.0)
    params = [np.zeros(3), np.zeros(3)]
    opt = CLASSES["adagrad"]([{"params": params[:1], "initial_accumulator_value": 0.5}, {"params": params[1:]}],
                             initial_accumulator_value=0.1)
    opt.step([g, g])
    np.testing.assert_allclose([opt.state[0]["sum"][0], opt.state[1]["sum"][0]], [4.5, 4.1], rtol=1e-15)
    tparams = [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)) for _ in range(2)]
    topt = torch.optim.Adagrad([{"params": tparams[:1], "initial_accumulator_value": 0.5}, {"params": tparams[1:]}],
                               initial_accumulator_value=0.1)
    for p in tparams:
        p.grad = torch.from_numpy(g.copy())
    topt.step()
    assert [topt.state[p]["sum"][0].item() for p in tparams] == pytest.approx([4.1, 4.1], rel=1e-15)


@pytest.mark.parametrize("algo", list(GROUPS))
def test_learning_rate_changed_between_steps_matches_torch(algo, dtype, torch):
    # A cosine schedule applied by hand, as a scheduler would: param_groups[0]["lr"] = ...
    hp = dict(GROUPS[algo][1])
    theta0, grads = problem(dtype, seed=3, steps=80)
    schedule = [0.02 * 0.5 * (1 + math.cos(math.pi * k / len(grads))) for k in range(len(grads))]
    theta = theta0.copy()
    opt = CLASSES[algo]([theta], **hp)
    with default_dtype(torch, dtype):
        p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
        topt = torch_optimizer(torch, algo, [p], hp)
        for lr, g in zip(schedule, grads):
            opt.param_groups[0]["lr"] = lr
            topt.param_groups[0]["lr"] = lr
            opt.step([g])
            p.grad = torch.from_numpy(g.copy())
            topt.step()
            assert deviation(theta, p.detach().numpy()) <= TOLERANCE_ULPS


@pytest.mark.parametrize("algo", reference.ALGORITHMS)
def test_defaults_match_torch(algo, torch):
    cls = getattr(torch.optim, TORCH_NAMES[algo])
    torch_defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                      if p.default is not inspect.Parameter.empty}
    for name, value in reference.DEFAULTS[algo].items():
        assert torch_defaults[name] == value, name
