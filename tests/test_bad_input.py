"""Bad input gets a clear error, and a refused step changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _family import FAMILY, IDS

import adamlib


def _snapshot(opt):
    params = [p.copy() for p in opt.params]
    state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
             for i, s in opt.state.items()}
    return params, state


def _assert_untouched(opt, snapshot):
    params, state = snapshot
    for before, after in zip(params, opt.params):
        np.testing.assert_array_equal(before, after)
    assert set(state) == set(opt.state)
    for i, s in state.items():
        for k, v in s.items():
            np.testing.assert_array_equal(v, opt.state[i][k])


@pytest.fixture(params=FAMILY, ids=IDS)
def warm(request):
    """An optimizer over three parameters (two groups) that has taken two steps, with every buffer."""
    member = request.param
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(5).astype(np.float32),
              rng.standard_normal(2)]
    opt = member.cls([{"params": params[:2]}, {"params": params[2:], "lr": 1e-2}], **member.buffers)
    for _ in range(2):
        opt.step([rng.standard_normal(p.shape).astype(p.dtype) for p in params])
    return opt


def _grads(opt):
    return [np.ones_like(p) for p in opt.params]


def _refused(opt, grads, error, match):
    snapshot = _snapshot(opt)
    with pytest.raises(error, match=match):
        opt.step(grads)
    _assert_untouched(opt, snapshot)


def test_wrong_number_of_gradients(warm):
    _refused(warm, _grads(warm)[:-1], ValueError, "got 2 gradients for 3 parameters")


def test_wrong_shape_names_the_parameter(warm):
    grads = _grads(warm)
    grads[1] = np.ones(6, np.float32)
    _refused(warm, grads, ValueError, r"grads\[1\] is a float32 array of shape \(6,\) but parameter 1")


def test_wrong_dtype(warm):
    grads = _grads(warm)
    grads[2] = grads[2].astype(np.float32)
    _refused(warm, grads, ValueError, r"grads\[2\] is a float32 .* parameter 2 is a float64")


@pytest.mark.parametrize("bad_dtype", [np.int64, np.float16, np.complex64])
def test_unsupported_gradient_dtype(warm, bad_dtype):
    grads = _grads(warm)
    grads[0] = grads[0].astype(bad_dtype)
    _refused(warm, grads, TypeError, r"grads\[0\] has dtype .*float32 and float64 only")


def test_non_array_gradient(warm):
    grads = _grads(warm)
    grads[0] = grads[0].tolist()
    _refused(warm, grads, TypeError, r"grads\[0\] must be a numpy array, got object of type list")


def test_non_contiguous_gradient(warm):
    grads = _grads(warm)
    grads[0] = np.ones((3, 4), np.float32).T
    _refused(warm, grads, ValueError, r"grads\[0\] is not C-contiguous")


def test_a_late_bad_gradient_refuses_the_whole_step(warm):
    # The first two gradients are fine; the third is bad: nothing may have been written.
    grads = _grads(warm)
    grads[2] = np.full(2, 1.0, np.float32)
    _refused(warm, grads, ValueError, r"grads\[2\]")


def test_gradient_aliasing_a_parameter(warm):
    grads = _grads(warm)
    grads[0] = warm.params[0]
    _refused(warm, grads, ValueError, r"grads\[0\] shares memory with parameter 0")


def test_gradient_aliasing_a_state_buffer(warm):
    grads = _grads(warm)
    buffer_name = next(k for k, v in warm.state[1].items() if isinstance(v, np.ndarray))
    grads[1] = warm.state[1][buffer_name]
    _refused(warm, grads, ValueError, rf"grads\[1\] shares memory with state\[1\]\['{buffer_name}'\]")


def test_gradient_that_is_a_view_into_another_parameter():
    big = np.zeros(10)
    opt = adamlib.Adam([big, np.zeros(3)])
    with pytest.raises(ValueError, match=r"grads\[1\] shares memory with parameter 0"):
        opt.step([np.ones(10), big[4:7]])


@pytest.mark.parametrize("name, value, match", [
    ("lr", -1.0, r"Invalid learning rate \(lr\) in param_groups\[0\]: -1.0"),
    ("lr", math.nan, "learning rate .* must be finite, got nan"),
    ("lr", math.inf, "must be finite, got inf"),
    ("weight_decay", -0.1, "Invalid weight_decay"),
    ("lr", "0.1", "must be a real number"),
])
def test_invalid_hyperparameter_set_between_steps_refuses_the_step(warm, name, value, match):
    warm.param_groups[0][name] = value
    _refused(warm, _grads(warm), (ValueError, TypeError), match)


@pytest.mark.parametrize("cls, kwargs, match", [
    (adamlib.Adam, {"eps": 0.0}, r"Invalid eps in param_groups\[0\]: 0.0 \(must be > 0.0\)"),
    (adamlib.Adam, {"eps": -1e-8}, "Invalid eps"),
    (adamlib.Adam, {"betas": (1.0, 0.999)}, r"Invalid beta1 \(betas\[0\]\) in param_groups\[0\]: 1.0 \(must be in \[0, 1\)\)"),
    (adamlib.Adam, {"betas": (0.9, -0.1)}, "Invalid beta2"),
    (adamlib.Adam, {"betas": (0.9, math.nan)}, "beta2 .* must be finite"),
    (adamlib.Adam, {"betas": 0.9}, r"betas in param_groups\[0\] must be a pair"),
    (adamlib.Adam, {"amsgrad": 1}, r"amsgrad in param_groups\[0\] must be True or False"),
    (adamlib.AdamW, {"lr": -0.1}, "Invalid learning rate"),
    (adamlib.SGD, {"nesterov": True}, "Nesterov momentum .* requires momentum > 0"),
    (adamlib.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening == 0"),
    (adamlib.SGD, {"momentum": -0.5}, "Invalid momentum"),
    (adamlib.RMSprop, {"alpha": 1.0}, "Invalid alpha"),
    (adamlib.NAdam, {"momentum_decay": -1.0}, "Invalid momentum_decay"),
    (adamlib.RAdam, {"weight_decay": math.inf}, r"weight_decay in param_groups\[0\] must be finite"),
    (adamlib.Adamax, {"eps": math.nan}, r"eps in param_groups\[0\] must be finite"),
])
def test_invalid_hyperparameters_at_construction(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls([np.zeros(3)], **kwargs)


@pytest.mark.parametrize("param, error, match", [
    (np.zeros(3, np.int32), TypeError, "dtype int32"),
    (np.zeros(3, np.float16), TypeError, "dtype float16"),
    (np.zeros((3, 4)).T, ValueError, "not C-contiguous"),
    (np.zeros(3).tolist(), TypeError, "must be a numpy array"),
])
def test_invalid_parameters(param, error, match):
    with pytest.raises(error, match=match):
        adamlib.Adam([param])


def test_read_only_parameter():
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\]\[0\] is read-only"):
        adamlib.Adam([p])


def test_read_only_gradient_is_fine():
    g = np.ones(3)
    g.flags.writeable = False
    p = np.zeros(3)
    adamlib.Adam([p], lr=0.5).step([g])
    np.testing.assert_allclose(p, -0.5)


def test_overlapping_parameters():
    big = np.zeros(10)
    with pytest.raises(ValueError, match="parameter 0 and parameter 1 share memory"):
        adamlib.Adam([big[:6], big[4:]])
    with pytest.raises(ValueError, match="share memory"):
        adamlib.Adam([{"params": [big]}, {"params": [big]}])


def test_empty_and_single_array_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        adamlib.Adam([])
    with pytest.raises(TypeError, match=r"wrap it in a list: \[param\]"):
        adamlib.Adam(np.zeros(3))


def test_unknown_group_option():
    with pytest.raises(ValueError, match=r"param_groups\[0\] has unknown option 'momentum'"):
        adamlib.Adam([{"params": [np.zeros(3)], "momentum": 0.9}])


def test_failed_add_param_group_leaves_optimizer_unchanged():
    p = np.zeros(3)
    opt = adamlib.Adam([p])
    with pytest.raises(ValueError, match="share memory"):
        opt.add_param_group({"params": [p]})
    assert len(opt.param_groups) == 1
    opt.step([np.ones(3)])


class TestNonFiniteGradients:
    def test_by_default_nan_propagates_like_torch(self):
        p = np.zeros(3)
        adamlib.Adam([p]).step([np.array([1.0, np.nan, 1.0])])
        assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_check_finite_refuses_the_step(self, warm, bad):
        warm.check_finite = True
        grads = _grads(warm)
        grads[2][1] = bad
        _refused(warm, grads, adamlib.NonFiniteGradientError, r"grads\[2\] has 1 non-finite value")

    def test_check_finite_accepts_finite(self):
        p = np.zeros(300_000, np.float32)  # above the parallel threshold too
        adamlib.Adam([p], check_finite=True).step([np.ones_like(p)])
        assert np.all(p < 0)


class TestStateDictMismatch:
    def _opt(self, cls=adamlib.Adam, shapes=((3,), (2, 2)), **kwargs):
        params = [np.zeros(s) for s in shapes]
        opt = cls(params, **kwargs)
        opt.step([np.ones(s) for s in shapes])
        return opt

    def _refused_load(self, opt, sd, match):
        snapshot = _snapshot(opt)
        groups = [dict(g) for g in opt.param_groups]
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(sd)
        _assert_untouched(opt, snapshot)
        assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == \
               [{k: v for k, v in g.items() if k != "params"} for g in groups]

    def test_other_optimizer(self):
        self._refused_load(self._opt(), self._opt(adamlib.NAdam).state_dict(),
                           "state dict is from NAdam, cannot load it into Adam")

    def test_other_parameter_count(self):
        self._refused_load(self._opt(), self._opt(shapes=((3,),)).state_dict(),
                           r"param_groups\[0\] has 1 parameters in the state dict but 2")

    def test_other_shapes(self):
        self._refused_load(self._opt(), self._opt(shapes=((3,), (4,))).state_dict(),
                           r"state\[1\]\['exp_avg'\] has shape \(4,\), parameter 1 has shape \(2, 2\)")

    def test_missing_state_buffer(self):
        sd = self._opt().state_dict()
        del sd["state"][1]["exp_avg_sq"]
        self._refused_load(self._opt(), sd, r"state of parameter 1 has keys \['exp_avg', 'step'\], Adam expects")

    def test_options_travel_with_the_state_dict(self):
        # As in torch, loading restores the saved group options along with the state.
        opt = self._opt()
        opt.load_state_dict(self._opt(amsgrad=True).state_dict())
        assert opt.param_groups[0]["amsgrad"] and "max_exp_avg_sq" in opt.state[0]
        opt.step([np.ones(3), np.ones((2, 2))])

    def test_invalid_hyperparameter_in_state_dict(self):
        sd = self._opt().state_dict()
        sd["param_groups"][0]["lr"] = -1.0
        self._refused_load(self._opt(), sd, "Invalid learning rate")

    def test_group_count(self):
        sd = self._opt().state_dict()
        sd["param_groups"].append(dict(sd["param_groups"][0]))
        self._refused_load(self._opt(), sd, "2 parameter groups, optimizer has 1")

    def test_not_a_state_dict(self):
        self._refused_load(self._opt(), {"foo": 1}, "not an optimizer state dict")
