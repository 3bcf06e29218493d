"""Named parameters, as torch 2.13 takes ``model.named_parameters()`` (issue 9)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import adamlib


def _model():
    return {"head": np.ones(2), "backbone": np.ones(3)}


def test_gradients_by_name_reach_their_parameters_whatever_the_order():
    m = _model()
    opt = adamlib.SGD([{"params": [("head", m["head"])], "lr": 0.1},
                       {"params": [("backbone", m["backbone"])], "lr": 1e-3}])
    opt.step({"backbone": np.ones(3), "head": np.ones(2)})  # model order, not group order
    np.testing.assert_allclose(m["head"], 0.9)
    np.testing.assert_allclose(m["backbone"], 0.999)
    assert opt.param_groups[0]["param_names"] == ["head"]


def test_pairs_as_params_and_a_sequence_still_works():
    m = _model()
    opt = adamlib.Adam(list(m.items()), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["head", "backbone"]
    opt.step([np.ones(2), np.ones(3)])  # the documented order still works
    opt.step({"head": None, "backbone": np.ones(3)})  # None skips, as p.grad is None in torch
    assert opt.state[0]["step"] == 1 and opt.state[1]["step"] == 2


def test_unknown_and_missing_names_are_named():
    m = _model()
    opt = adamlib.Adam(list(m.items()))
    with pytest.raises(ValueError, match=r"unknown parameter name\(s\) \['bakbone'\]"):
        opt.step({"head": np.ones(2), "bakbone": np.ones(3)})
    with pytest.raises(ValueError, match=r"lacks gradients for parameter\(s\) \['backbone'\].*None to skip"):
        opt.step({"head": np.ones(2)})
    np.testing.assert_array_equal(m["head"], 1.0)


def test_errors_about_a_gradient_use_its_name():
    opt = adamlib.Adam(list(_model().items()))
    with pytest.raises(ValueError, match=r"grads\['backbone'\] is a float64 array of shape \(2,\)"):
        opt.step({"head": np.ones(2), "backbone": np.ones(2)})


def test_a_dict_of_gradients_needs_names():
    opt = adamlib.Adam([np.ones(2)])
    with pytest.raises(TypeError, match="parameters have no names"):
        opt.step({"w": np.ones(2)})


@pytest.mark.parametrize("params, match", [
    ([("a", np.ones(2)), np.ones(2)], "mixes named and unnamed"),
    ([{"params": [("a", np.ones(2))]}, {"params": [np.ones(2)]}], r"param_groups\[1\] lacks parameter names"),
    ([("a", np.ones(2)), ("a", np.ones(3))], "'a' appears twice"),
    ([("a", np.ones(2), 1)], r"must be a \(name, array\) pair"),
    ({"a": np.ones(2)}, r"not a dict; pass list\(params.items\(\)\)"),
])
def test_bad_names_are_refused(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        adamlib.Adam(params)


def test_names_travel_with_the_state_dict():
    m = _model()
    opt = adamlib.Adam(list(m.items()))
    opt.step({"head": np.ones(2), "backbone": np.ones(3)})
    sd = opt.state_dict()
    assert sd["param_groups"][0]["param_names"] == ["head", "backbone"]
    other = adamlib.Adam([np.ones(2), np.ones(3)])
    other.load_state_dict(sd)  # as in torch, the saved names replace the current ones
    other.step({"head": np.ones(2), "backbone": np.ones(3)})


def test_added_arrays_need_their_names():
    m = _model()
    opt = adamlib.SGD(list(m.items()), lr=0.1)
    opt.param_groups[0]["params"].append(np.ones(1))
    with pytest.raises(ValueError, match=r"has 3 params but param_names 2.*one name per array"):
        opt.step([np.ones(2), np.ones(3), np.ones(1)])
    opt.param_groups[0]["param_names"].append("bias")
    opt.step({"head": np.ones(2), "backbone": np.ones(3), "bias": np.ones(1)})


@pytest.mark.torch
def test_groups_store_names_as_torch_does():
    torch = require("torch")
    model = torch.nn.Linear(3, 2)
    tgroup = torch.optim.Adam(model.named_parameters()).param_groups[0]
    arrays = [(name, p.detach().numpy().copy()) for name, p in model.named_parameters()]
    group = adamlib.Adam(arrays).param_groups[0]
    assert group["param_names"] == tgroup["param_names"] == ["weight", "bias"]
