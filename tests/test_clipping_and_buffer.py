"""Gradient clipping (against torch.nn.utils) and ParameterBuffer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import require

import adamlib


def _grads(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2, 2, 2)]]


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_torch(dtype, norm_type, scale):
    torch = require("torch")
    grads = _grads(dtype, scale)
    tensors = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g.copy())
    expected = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm=1.0, norm_type=norm_type))
    total = adamlib.clip_grad_norm_(grads, max_norm=1.0, norm_type=norm_type)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total, expected, rtol=rtol)
    for g, t in zip(grads, tensors):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol, atol=0)


def test_clip_grad_norm_scales_to_the_limit_and_leaves_small_gradients(dtype):
    grads = _grads(dtype, scale=10.0)
    before = [g.copy() for g in grads]
    total = adamlib.clip_grad_norm_(grads, max_norm=2.0)
    after = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    np.testing.assert_allclose(after, 2.0 * total / (total + 1e-6), rtol=1e-5)
    for g, b in zip(grads, before):  # one common factor: directions are kept
        np.testing.assert_allclose(g, b * (after / total), rtol=1e-5)
    small = _grads(dtype, scale=1e-3)
    kept = [g.copy() for g in small]
    adamlib.clip_grad_norm_(small, max_norm=2.0)
    for g, k in zip(small, kept):
        np.testing.assert_array_equal(g, k)


def test_clip_grad_norm_nonfinite():
    grads = _grads(np.float64)
    grads[1][2] = np.inf
    kept = [g.copy() for g in grads]
    with pytest.raises(FloatingPointError, match="total norm of order 2.0 .* is inf; nothing was clipped"):
        adamlib.clip_grad_norm_(grads, 1.0, error_if_nonfinite=True)
    for g, k in zip(grads, kept):
        np.testing.assert_array_equal(g, k)


def test_clip_grad_value(dtype):
    grads = _grads(dtype, scale=3.0)
    expected = [np.clip(g, -1.5, 1.5) for g in grads]
    assert adamlib.clip_grad_value_(grads, 1.5) is None
    for g, e in zip(grads, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("call, match", [
    (lambda g: adamlib.clip_grad_norm_(g, -1.0), "Invalid max_norm"),
    (lambda g: adamlib.clip_grad_norm_(g, 1.0, norm_type=0), "norm_type must be positive"),
    (lambda g: adamlib.clip_grad_value_(g, math.nan), "clip_value must be finite"),
    (lambda g: adamlib.clip_grad_norm_([np.zeros(3, np.int64)], 1.0), r"grads\[0\] has dtype int64"),
])
def test_clipping_rejects_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(_grads(np.float64))


class TestParameterBuffer:
    def test_views_share_the_flat_buffer(self, dtype):
        arrays = [np.arange(6.0).reshape(2, 3), np.array(7.0), np.ones(4)]
        buffer = adamlib.ParameterBuffer.from_arrays(arrays, dtype=dtype)
        assert buffer.flat.dtype == dtype and buffer.flat.shape == (6 + 1 + 4,)
        for view, array in zip(buffer.views, arrays):
            assert view.shape == array.shape and np.shares_memory(view, buffer.flat)
            np.testing.assert_array_equal(view, array)
        buffer.views[1][...] = -1.0
        assert buffer.flat[6] == -1.0
        assert len(buffer) == 3 and "11" in repr(buffer)

    def test_one_flat_step_equals_steps_array_by_array(self, dtype):
        rng = np.random.default_rng(3)
        arrays = [rng.standard_normal(s).astype(dtype) for s in [(4, 3), (5,), (70_000,)]]
        separate = [a.copy() for a in arrays]
        params = adamlib.ParameterBuffer.from_arrays(arrays)
        grads = params.zeros_like()
        flat_opt = adamlib.Adam([params.flat], lr=1e-2)
        list_opt = adamlib.Adam(separate, lr=1e-2)
        for _ in range(5):
            gs = [rng.standard_normal(a.shape).astype(dtype) for a in arrays]
            for view, g in zip(grads.views, gs):
                view[...] = g
            flat_opt.step([grads.flat])
            list_opt.step(gs)
        for view, array in zip(params.views, separate):
            np.testing.assert_array_equal(view, array)  # elementwise kernels: bit for bit

    def test_rejects_unsupported_dtype(self):
        with pytest.raises(TypeError, match="float32 and float64, got int64"):
            adamlib.ParameterBuffer([(3,)], dtype=np.int64)
