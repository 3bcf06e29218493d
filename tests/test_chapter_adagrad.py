"""Chapter 11's own AdaGrad class (adamlib has none yet) against torch.optim.Adagrad.

The test runs the chapter's code cell itself (cell id ``adagrad-class``), so what is checked is
what the chapter uses. torch is optional: skipped without it locally, a failure in CI.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import CHAPTERS, require

CELL_ID = "adagrad-class"


@pytest.fixture(scope="module")
def AdaGrad():
    nb = json.loads((CHAPTERS / "11-practice.ipynb").read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if c.get("id") == CELL_ID]
    namespace = {"np": np, "math": math}
    exec("".join(cell["source"]), namespace)
    return namespace["AdaGrad"]


@pytest.mark.torch
@pytest.mark.parametrize("lr", [1e-2, 0.5])
def test_matches_torch_adagrad_step_by_step(AdaGrad, lr):
    torch = require("torch")
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 2) for s in shapes] for _ in range(25)]
    grads[3][1][2] = 0.0  # a coordinate with no gradient yet at one step: 0 / (sqrt(s) + eps)
    tparams = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    # torch's defaults: lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10
    topt = torch.optim.Adagrad(tparams, lr=lr, foreach=False)
    opt = AdaGrad(params, lr=lr)
    for step_grads in grads:
        for p, g in zip(tparams, step_grads):
            p.grad = torch.tensor(g)
        topt.step()
        opt.step(step_grads)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-13, atol=1e-15)
    for s, tp in zip(opt.sum_sq, tparams):
        np.testing.assert_allclose(s, topt.state[tp]["sum"].numpy(), rtol=1e-13)


def test_refused_step_changes_nothing(AdaGrad):
    params = [np.ones(3), np.ones(2)]
    opt = AdaGrad(params, lr=0.1)
    with pytest.raises(ValueError, match="one gradient per parameter"):
        opt.step([np.ones(3), np.ones(3)])  # the second has the wrong shape
    np.testing.assert_array_equal(params[0], 1.0)
    np.testing.assert_array_equal(opt.sum_sq[0], 0.0)
    with pytest.raises(ValueError, match="Invalid lr"):
        AdaGrad(params, lr=0.0)
    with pytest.raises(ValueError, match="Invalid eps"):
        AdaGrad(params, eps=-1.0)
