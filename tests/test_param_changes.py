"""Every change a user can make to what the optimizer updates is seen at the next step (issue 9).

adamlib keeps flat views of parameters and state between steps. None of these may survive a
change: an array replaced, added, removed or moved in ``param_groups``, a group dict replaced,
a state entry replaced or removed, a state dict loaded, a copied optimizer. Arrays are matched
by identity, as torch keys its state by tensor: a new array starts fresh, a moved one keeps its
state, a removed one's state is discarded.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from _family import FAMILY, IDS

import adamlib


def _sgd_pair():
    w, b = np.ones(3), np.ones(2)
    opt = adamlib.SGD([w, b], lr=0.1, momentum=0.9)
    opt.step([np.ones(3), np.ones(2)])
    return opt, w, b


def test_a_replaced_array_is_updated_with_fresh_state():
    opt, w, b = _sgd_pair()
    w2 = np.zeros(3)
    opt.param_groups[0]["params"][0] = w2
    opt.step([np.ones(3), np.ones(2)])
    np.testing.assert_array_equal(w, 0.9)  # the old array is left alone
    np.testing.assert_allclose(w2, -0.1)  # a first momentum step: the buffer starts afresh
    np.testing.assert_allclose(b, 0.9 - 0.1 * 1.9)  # b keeps its buffer
    assert opt.params[0] is w2


def test_an_appended_array_gets_state_and_later_groups_keep_theirs():
    w, b, c = np.ones(3), np.ones(2), np.ones(4)
    opt = adamlib.Adam([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    opt.step([np.ones(3), np.ones(2)])
    b_state = opt.state[1]
    opt.param_groups[0]["params"].append(c)
    assert opt.state[2] is b_state and 1 not in opt.state  # re-keyed by position, as state_dict
    opt.step([np.ones(3), np.ones(4), np.ones(2)])
    assert opt.state[1]["step"] == 1 and opt.state[2]["step"] == 2 and opt.state[0]["step"] == 2
    np.testing.assert_allclose(c, 0.9)
    assert opt.state_dict()["param_groups"][0]["params"] == [0, 1]


def test_a_removed_array_is_no_longer_updated():
    opt, w, b = _sgd_pair()
    del opt.param_groups[0]["params"][0]
    with pytest.raises(ValueError, match="got 2 gradients for 1 parameters"):
        opt.step([np.ones(3), np.ones(2)])
    opt.step([np.ones(2)])
    np.testing.assert_array_equal(w, 0.9)
    np.testing.assert_allclose(b, 0.9 - 0.1 * 1.9)
    assert list(opt.state) == [0]


def test_an_array_moved_to_another_group_keeps_its_state_and_takes_the_group_options():
    w, b = np.ones(3), np.ones(2)
    opt = adamlib.SGD([{"params": [w, b]}, {"params": [np.ones(1)], "lr": 0.0}], lr=0.1, momentum=0.9)
    opt.step([np.ones(3), np.ones(2), np.ones(1)])
    buffer = opt.state[0]["momentum_buffer"]
    opt.param_groups[1]["params"].append(opt.param_groups[0]["params"].pop(0))
    opt.step([np.ones(2), np.ones(1), np.ones(3)])
    assert opt.state[2]["momentum_buffer"] is buffer and opt.state[2]["step"] == 2
    np.testing.assert_array_equal(w, 0.9)  # lr = 0 in its new group


def test_a_replaced_group_dict_is_seen():
    opt, w, b = _sgd_pair()
    w2 = np.zeros(3)
    opt.param_groups[0] = {**opt.param_groups[0], "params": [w2, b], "lr": 1.0}
    opt.step([np.ones(3), np.ones(2)])
    np.testing.assert_allclose(w2, -1.0)
    np.testing.assert_array_equal(w, 0.9)


def test_a_group_appended_without_add_param_group_is_checked():
    opt, w, b = _sgd_pair()
    c = np.ones(2, np.float32)
    opt.param_groups.append({"params": [c]})
    with pytest.raises(ValueError, match=r"param_groups\[1\] lacks option\(s\) \['dampening', 'lr'.*add_param_group"):
        opt.step([np.ones(3), np.ones(2), np.ones(2, np.float32)])
    np.testing.assert_array_equal(w, 0.9)
    opt.param_groups[1] = {**opt.param_groups[0], "params": [c]}
    opt.step([np.ones(3), np.ones(2), np.ones(2, np.float32)])
    assert c.dtype == np.float32 and np.all(c < 1)


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros(3, np.float16), TypeError, r"param_groups\[0\]\['params'\]\[2\] has dtype float16"),
    ("not an array", TypeError, r"param_groups\[0\]\['params'\]\[2\] must be a numpy array"),
    (None, ValueError, "parameter 0 and parameter 2 share memory"),
])
def test_a_bad_new_array_refuses_the_step(bad, error, match):
    opt, w, b = _sgd_pair()
    opt.param_groups[0]["params"].append(w[:] if bad is None else bad)
    state = copy.deepcopy(opt.state_dict()["state"])
    with pytest.raises(error, match=match):
        opt.step([np.ones(3), np.ones(2), None])
    np.testing.assert_array_equal(w, 0.9)
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], state[0]["momentum_buffer"])


def test_state_dict_between_the_change_and_the_next_step_is_consistent():
    opt, w, b = _sgd_pair()
    opt.param_groups[0]["params"].insert(0, np.zeros(5))
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [1, 2]
    assert sd["state"][1]["momentum_buffer"].shape == (3,) and sd["state"][2]["momentum_buffer"].shape == (2,)


@pytest.mark.parametrize("member", FAMILY, ids=IDS)
def test_a_replaced_state_buffer_is_used(member):
    p = np.ones(4)
    opt = member.cls([p], **member.buffers)
    opt.step([np.ones(4)])
    key = next(k for k, v in opt.state[0].items() if isinstance(v, np.ndarray))
    old = opt.state[0][key]
    new = old.copy()
    opt.state[0][key] = new
    snapshot = old.copy()
    opt.step([np.full(4, 2.0)])  # a new gradient: a buffer that averages squares changes too
    np.testing.assert_array_equal(old, snapshot)  # never written through the old view
    assert not np.array_equal(new, snapshot) or key == "max_exp_avg_sq"


@pytest.mark.parametrize("value, error, match", [
    (np.zeros(4, np.float32), ValueError, r"state\[0\]\['exp_avg'\] is a float32 array of shape \(4,\) but parameter 0"),
    (np.zeros(5), ValueError, r"state\[0\]\['exp_avg'\] is a float64 array of shape \(5,\)"),
    ([0.0] * 4, TypeError, r"state\[0\]\['exp_avg'\] must be a numpy array"),
])
def test_a_bad_replacement_state_buffer_refuses_the_step(value, error, match):
    p = np.ones(4)
    opt = adamlib.Adam([p])
    opt.step([np.ones(4)])
    opt.state[0]["exp_avg"] = value
    before = p.copy()
    with pytest.raises(error, match=match):
        opt.step([np.ones(4)])
    np.testing.assert_array_equal(p, before)


def test_a_state_buffer_replaced_by_a_parameter_is_refused():
    a, b = np.ones(4), np.ones(4)
    opt = adamlib.Adam([a, b])
    opt.step([np.ones(4), np.ones(4)])
    opt.state[0]["exp_avg"] = b
    with pytest.raises(ValueError, match="share memory"):
        opt.step([np.ones(4), np.ones(4)])


def test_a_gradient_aliasing_a_replaced_state_buffer_is_refused():
    p = np.ones(4)
    opt = adamlib.Adam([p])
    opt.step([np.ones(4)])
    opt.state[0]["exp_avg"] = fresh = np.zeros(4)
    with pytest.raises(ValueError, match=r"grads\[0\] shares memory with state\[0\]\['exp_avg'\]"):
        opt.step([fresh])


@pytest.mark.parametrize("how", ["del entry", "replace dict", "new state dict", "clear"])
def test_removed_state_starts_afresh(how):
    p = np.ones(3)
    opt = adamlib.Adam([p], lr=0.1)
    for _ in range(3):
        opt.step([np.ones(3)])
    if how == "del entry":
        del opt.state[0]
    elif how == "replace dict":
        opt.state[0] = {}
        opt.state = {k: v for k, v in opt.state.items() if v}
    elif how == "new state dict":
        opt.state = {}
    else:
        opt.state.clear()
    before = p.copy()
    opt.step([np.ones(3)])
    np.testing.assert_allclose(before - p, 0.1)  # a first Adam step moves by lr
    assert opt.state[0]["step"] == 1


def test_a_state_dict_assigned_by_hand_is_used():
    p = np.ones(3)
    opt = adamlib.SGD([p], lr=0.1, momentum=0.5)
    opt.step([np.ones(3)])
    opt.state[0] = {"step": 1, "momentum_buffer": np.full(3, 10.0)}
    opt.step([np.zeros(3)])
    np.testing.assert_allclose(p, 0.9 - 0.1 * 5.0)


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))], ids=["deepcopy", "pickle"])
def test_a_copied_optimizer_updates_its_own_arrays(copier):
    p = np.ones(3)
    opt = adamlib.Adam([p], lr=0.1)
    opt.step([np.ones(3)])
    twin = copier(opt)
    twin.step([np.ones(3)])
    np.testing.assert_allclose(p, 0.9)  # the original is untouched
    np.testing.assert_allclose(twin.params[0], 0.8)
    assert twin.state[0]["step"] == 2 and opt.state[0]["step"] == 1
    opt.step([np.ones(3)])
    np.testing.assert_allclose(p, twin.params[0])


def test_loaded_state_is_a_copy():
    opt = adamlib.Adam([np.ones(3)])
    other = adamlib.Adam([np.ones(3)])
    other.step([np.ones(3)])
    sd = other.state_dict()
    opt.load_state_dict(sd)
    sd["state"][0]["exp_avg"][...] = 1e6  # the caller's arrays are not the optimizer's
    opt.step([np.ones(3)])
    assert np.all(np.abs(opt.state[0]["exp_avg"]) < 1)


def test_add_param_group_after_steps():
    w = np.ones(3)
    opt = adamlib.SGD([w], lr=0.1, momentum=0.9)
    opt.step([np.ones(3)])
    c = np.ones(2)
    opt.add_param_group({"params": [c], "lr": 1.0})
    opt.step([np.ones(3), np.ones(2)])
    np.testing.assert_allclose(c, 0.0)
    np.testing.assert_allclose(w, 0.9 - 0.1 * 1.9)


def test_a_parameter_cannot_be_resized_in_place_under_the_optimizer():
    p = np.ones(4)
    opt = adamlib.Adam([p])
    opt.step([np.ones(4)])
    with pytest.raises(ValueError, match="cannot resize"):
        p.resize(8)  # numpy refuses: the optimizer's views reference it
