"""What a torch user types out of habit gets an error that says what to do instead (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import adamlib


def _opt():
    p = np.ones(3)
    return adamlib.Adam([p], lr=0.1), p


def test_step_without_gradients():
    opt, p = _opt()
    with pytest.raises(TypeError, match=r"step\(\) needs the gradients: opt.step\(grads\).*reads no .grad"):
        opt.step()


def test_step_with_a_closure():
    opt, p = _opt()
    with pytest.raises(TypeError, match=r"not a closure.*loss, grads = closure\(\); opt.step\(grads\)"):
        opt.step(lambda: 1.0)
    np.testing.assert_array_equal(p, 1.0)


def test_zero_grad_explains_that_there_is_nothing_to_zero():
    opt, _ = _opt()
    # An error, not a silent no-op: code that accumulates gradients into its own arrays and
    # relies on zero_grad() to reset them would otherwise sum gradients across steps unnoticed.
    with pytest.raises(AttributeError, match=r"hold no gradients.*zero those"):
        opt.zero_grad()
    assert not hasattr(opt, "zero_grad")
    with pytest.raises(AttributeError, match="has no attribute 'foo'"):
        opt.foo  # noqa: B018


def test_an_adam_state_dict_loads_into_adamw_and_back():
    w1, w2 = np.ones(3), np.ones(3)
    adam = adamlib.Adam([w1], lr=0.1, weight_decay=0.1)
    adam.step([np.ones(3)])
    adamw = adamlib.AdamW([w2], lr=0.1)
    adamw.load_state_dict(adam.state_dict())
    group = adamw.param_groups[0]
    assert group["decoupled_weight_decay"] and group["weight_decay"] == 0.1  # as torch's AdamW
    assert adamw.state[0]["step"] == 1
    adamw.step([np.ones(3)])
    back = adamlib.Adam([np.ones(3)])
    back.load_state_dict(adamw.state_dict())
    assert back.param_groups[0]["decoupled_weight_decay"]


def test_other_families_still_refuse_each_other():
    with pytest.raises(ValueError, match="state dict is from NAdam, cannot load it into AdamW"):
        adamlib.AdamW([np.ones(3)]).load_state_dict(adamlib.NAdam([np.ones(3)]).state_dict())


@pytest.mark.torch
def test_adamw_after_an_adam_state_dict_matches_torch():
    torch = require("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(4) for _ in range(6)]
    w = np.ones(4)
    adam = adamlib.Adam([np.ones(4)], lr=0.1, weight_decay=0.1)
    tp = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
    tadam = torch.optim.Adam([torch.nn.Parameter(torch.ones(4, dtype=torch.float64))], lr=0.1, weight_decay=0.1)
    for g in grads[:3]:
        adam.step([g])
        tadam.param_groups[0]["params"][0].grad = torch.from_numpy(g.copy())
        tadam.step()
    adamw = adamlib.AdamW([w], lr=0.1)
    adamw.load_state_dict(adam.state_dict())
    tadamw = torch.optim.AdamW([tp], lr=0.1, foreach=False)
    tadamw.load_state_dict(tadam.state_dict())
    for g in grads[3:]:
        adamw.step([g])
        tp.grad = torch.from_numpy(g.copy())
        tadamw.step()
    np.testing.assert_allclose(w, tp.detach().numpy(), rtol=1e-13, atol=1e-15)
    assert tadamw.param_groups[0]["decoupled_weight_decay"] and adamw.param_groups[0]["decoupled_weight_decay"]
