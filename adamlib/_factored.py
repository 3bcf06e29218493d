r"""Adafactor's kernels: an update that needs sums over a whole row, column or tensor.

The kernels of :mod:`adamlib._kernels` update each element from that element alone, so they
run over flat arrays in any order. Adafactor (Shazeer & Stern 2018) cannot: its second moment
of a matrix is the outer product of a row and a column factor (the means of :math:`g^2` over
the columns and over the rows), and its step is scaled by the RMS of the parameter and clipped
by the RMS of the whole update. So each kernel here makes three passes over one parameter:

1. the RMS of θ (before the step), and the factors' moving averages (or, for a vector, the
   elementwise one);
2. the RMS of the unclipped update :math:`U`;
3. the update of θ, with :math:`U` recomputed from the factors rather than stored.

Nothing of the parameter's size is allocated: a matrix's column sums use one scratch row. A
tensor of more than two dimensions is a stack of matrices (its last two dimensions, as in
torch): ``row_var`` arrives as a ``(slices, rows)`` array, ``col_var`` as ``(slices, cols)``,
and the parameter and gradient flat, row after row. Element arithmetic stays in the arrays'
dtype; the few per-tensor numbers (the two RMS, the step size ρ·max(ε₂, RMS θ), the clipping
divisor) are combined in double precision, as torch combines them in Python. Both variants
(serial, ``prange``) sum in different orders, so they agree to rounding, not bit for bit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import prange

from ._jit import kernel, scalar
from ._scalar import ema


class AdafactorScalars(NamedTuple):
    """Scalars of :func:`adafactor_matrix` and :func:`adafactor_vector`.

    ``sign``, ``shrink`` (δ = 1 − αλ), ``w2`` (:math:`1-\\hat\\beta_{2,t} = t^{\\kappa}`, the
    weight of the new squares) and ``eps1`` (ε₁) meet the arrays and arrive in their dtype;
    ``rho`` (:math:`\\rho_t = \\min(\\alpha, 1/\\sqrt t)`), ``eps2`` (ε₂) and ``d`` (the
    clipping threshold) only meet per-tensor numbers and stay Python floats.
    """
    sign: float
    shrink: float
    w2: float
    eps1: float
    rho: float
    eps2: float
    d: float


@scalar
def _step_size(sum_sq_param, sum_sq_update, size, rho, eps2, d):
    r"""The step along :math:`U`: :math:`\rho_t\max(\epsilon_2, \mathrm{RMS}(\theta)) / \max(1, \mathrm{RMS}(U)/d)`."""
    rms_param = math.sqrt(np.float64(sum_sq_param) / size)
    rms_update = math.sqrt(np.float64(sum_sq_update) / size)
    return rho * max(eps2, rms_param) / max(1.0, rms_update / d)


@kernel(scalars=AdafactorScalars, elementwise=False)
def adafactor_matrix(param, grad, row_var, col_var, sign, shrink, w2, eps1, rho, eps2, d):
    r"""One Adafactor step of a matrix (or a stack of them), with a factored second moment.

    .. math::
        R_i &\leftarrow \operatorname{ema}(R_i, \tfrac1m\textstyle\sum_j g_{ij}^2), \qquad
        C_j \leftarrow \operatorname{ema}(C_j, \tfrac1n\textstyle\sum_i g_{ij}^2), \qquad
        \hat V_{ij} = \frac{R_i C_j}{\max(\bar R, \epsilon_1)} \\
        U_{ij} &= \frac{\pm g_{ij}}{\sqrt{\max(\hat V_{ij}, \epsilon_1^2)}}, \qquad
        \theta \leftarrow \delta\theta - \frac{\rho_t \max(\epsilon_2, \mathrm{RMS}(\theta))}
            {\max(1, \mathrm{RMS}(U)/d)}\, U

    for an n × m matrix, with :math:`\bar R` the mean of its row factor, EMAs of weight
    :math:`t^{\kappa}`, and :math:`\mathrm{RMS}` over the whole tensor.
    """
    slices, rows = row_var.shape
    cols = col_var.shape[1]
    size = param.shape[0]
    real = row_var.dtype.type
    zero, inv_rows, inv_cols = real(0), real(1) / real(rows), real(1) / real(cols)
    floor = eps1 * eps1
    sum_sq_param = zero
    for q in prange(slices * rows):  # q: row q % rows of matrix q // rows, contiguous in memory
        b = q // rows
        total = zero
        for j in range(cols):
            g = grad[q * cols + j]
            total += g * g
            sum_sq_param += param[q * cols + j] * param[q * cols + j]
        row_var[b, q - b * rows] = ema(row_var[b, q - b * rows], total * inv_cols, w2)
    column_sums = np.empty(cols, row_var.dtype)
    row_scale = np.empty(slices, row_var.dtype)  # 1 / max(mean of R, ε₁), per matrix
    for b in range(slices):
        start = b * rows * cols
        column_sums[:] = zero
        for i in range(rows):  # the columns, row by row: memory is read in order
            for j in range(cols):
                g = grad[start + i * cols + j]
                column_sums[j] += g * g
        for j in range(cols):
            col_var[b, j] = ema(col_var[b, j], column_sums[j] * inv_rows, w2)
        mean_row = zero
        for i in range(rows):
            mean_row += row_var[b, i]
        row_scale[b] = real(1) / max(mean_row * inv_rows, eps1)
    sum_sq_update = zero
    for q in prange(slices * rows):  # q: row q % rows of matrix q // rows
        b = q // rows
        r = row_var[b, q - b * rows] * row_scale[b]
        for j in range(cols):
            u = grad[q * cols + j] / math.sqrt(max(r * col_var[b, j], floor))
            sum_sq_update += u * u
    step = sign * real(_step_size(sum_sq_param, sum_sq_update, size, rho, eps2, d))
    for q in prange(slices * rows):
        b = q // rows
        r = row_var[b, q - b * rows] * row_scale[b]
        for j in range(cols):
            k = q * cols + j
            param[k] = shrink * param[k] - step * (grad[k] / math.sqrt(max(r * col_var[b, j], floor)))


@kernel(scalars=AdafactorScalars, elementwise=False)
def adafactor_vector(param, grad, variance, sign, shrink, w2, eps1, rho, eps2, d):
    r"""One Adafactor step of a vector (or a scalar): an unfactored second moment, as RMSprop's.

    .. math::
        v \leftarrow \operatorname{ema}(v, g^2), \qquad
        U = \frac{\pm g}{\sqrt{\max(v, \epsilon_1^2)}}, \qquad
        \theta \leftarrow \delta\theta - \frac{\rho_t \max(\epsilon_2, \mathrm{RMS}(\theta))}
            {\max(1, \mathrm{RMS}(U)/d)}\, U
    """
    size = param.shape[0]
    zero = param.dtype.type(0)
    floor = eps1 * eps1
    sum_sq_param = zero
    sum_sq_update = zero
    for k in prange(size):
        g = grad[k]
        v = ema(variance[k], g * g, w2)
        variance[k] = v
        u = g / math.sqrt(max(v, floor))
        sum_sq_param += param[k] * param[k]
        sum_sq_update += u * u
    step = sign * param.dtype.type(_step_size(sum_sq_param, sum_sq_update, size, rho, eps2, d))
    for k in prange(size):
        param[k] = shrink * param[k] - step * (grad[k] / math.sqrt(max(variance[k], floor)))
