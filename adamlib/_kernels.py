"""Fused, in-place update kernels over flat 1-D arrays.

Each kernel makes one pass over memory: it loads an element of every stream into locals,
computes the update with the scalar functions of :mod:`adamlib._scalar`, and stores the
results. Nothing is allocated and nothing is returned. All floating-point arguments arrive
already cast to the arrays' dtype, so a float32 step computes in float32 throughout.

Shared argument conventions:

``sign``
    ``-1`` when maximising, ``+1`` otherwise: the gradient used is ``sign * grad``.
``l2``
    the coupled (L2) weight-decay coefficient λ: the gradient used is ``g + λθ``.
``decay``
    the decoupled weight-decay factor ``1 - lr·λ`` (AdamW) applied to θ before the step.
``w1``, ``w2``, ``w``
    EMA weights ``1 - β``.
``c1``, ``c2``
    reciprocal bias corrections ``1 / (1 - βᵗ)``.
"""

from __future__ import annotations

import math

from numba import prange

from ._jit import kernel
from ._scalar import ema, infinity_norm_ema, rms_scaled


@kernel
def sgd(param, grad, sign, l2, lr):
    r"""Plain SGD: :math:`\theta \leftarrow \theta - \alpha (g + \lambda\theta)`."""
    for i in prange(param.shape[0]):
        p = param[i]
        param[i] = p - lr * (sign * grad[i] + l2 * p)


@kernel
def sgd_momentum(param, grad, buf, sign, l2, lr, buf_decay, buf_weight, momentum, nesterov):
    r"""SGD with heavy-ball or Nesterov momentum, in torch's form.

    .. math::
        b \leftarrow \mu_b b + w_b d, \qquad
        \theta \leftarrow \theta - \alpha\,(d + \mu b \text{ if Nesterov else } b)

    ``buf_decay`` is μ (0 on the first step, which copies the gradient into the buffer) and
    ``buf_weight`` is ``1 - dampening`` (1 on the first step).
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = sign * grad[i] + l2 * p
        b = buf_decay * buf[i] + buf_weight * d
        buf[i] = b
        if nesterov:
            param[i] = p - lr * (d + momentum * b)
        else:
            param[i] = p - lr * b


@kernel
def rmsprop(param, grad, square_avg, grad_avg, momentum_buf, centered, use_momentum,
            sign, l2, lr, w, eps, momentum):
    r"""RMSprop (Tieleman & Hinton 2012) with torch's options.

    .. math::
        v \leftarrow \operatorname{ema}(v, g^2), \quad
        \bar g \leftarrow \operatorname{ema}(\bar g, g) \text{ (centered)}, \quad
        s = \frac{g}{\sqrt{v - \bar g^2} + \epsilon}, \quad
        \theta \leftarrow \theta - \alpha s \text{ (or through a momentum buffer)}

    ``grad_avg`` and ``momentum_buf`` may be empty when ``centered``/``use_momentum`` is off.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        g = sign * grad[i] + l2 * p
        v = ema(square_avg[i], g * g, w)
        square_avg[i] = v
        if centered:
            a = ema(grad_avg[i], g, w)
            grad_avg[i] = a
            v = v - a * a
        s = rms_scaled(g, v, eps)
        if use_momentum:
            s = momentum * momentum_buf[i] + s
            momentum_buf[i] = s
        param[i] = p - lr * s


@kernel
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad,
         sign, l2, decay, lr, w1, w2, c1, c2, eps):
    r"""Adam (Kingma & Ba 2015), AdamW (Loshchilov & Hutter 2019) and AMSGrad (Reddi et al. 2018).

    .. math::
        m \leftarrow \operatorname{ema}(m, g), \quad
        v \leftarrow \operatorname{ema}(v, g^2), \quad
        \hat v = \max(\hat v, v) \text{ (AMSGrad)}, \quad
        \theta \leftarrow \delta\theta - \alpha\,\frac{c_1 m}{\sqrt{c_2 v} + \epsilon}

    ``max_exp_avg_sq`` may be empty when ``amsgrad`` is off.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        g = sign * grad[i] + l2 * p
        m = ema(exp_avg[i], g, w1)
        v = ema(exp_avg_sq[i], g * g, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = decay * p - lr * rms_scaled(c1 * m, c2 * v, eps)


@kernel
def adamax(param, grad, exp_avg, exp_inf, sign, l2, lr, w1, beta2, c1, eps):
    r"""Adamax (Kingma & Ba 2015, §7.1), with torch's ε inside the max.

    .. math::
        m \leftarrow \operatorname{ema}(m, g), \quad
        u \leftarrow \max(\beta_2 u, |g| + \epsilon), \quad
        \theta \leftarrow \theta - \alpha\,\frac{c_1 m}{u}
    """
    for i in prange(param.shape[0]):
        p = param[i]
        g = sign * grad[i] + l2 * p
        m = ema(exp_avg[i], g, w1)
        u = infinity_norm_ema(exp_inf[i], g, beta2, eps)
        exp_avg[i] = m
        exp_inf[i] = u
        param[i] = p - lr * c1 * m / u


@kernel
def nadam(param, grad, exp_avg, exp_avg_sq, sign, l2, decay, w1, w2, c2, eps,
          grad_coef, avg_coef):
    r"""NAdam (Dozat 2016) as torch computes it.

    .. math::
        \theta \leftarrow \delta\theta - \frac{a_t\, g + b_t\, m}{\sqrt{c_2 v} + \epsilon},
        \quad a_t = \frac{\alpha(1-\mu_t)}{1-\prod_{i\le t}\mu_i},
        \quad b_t = \frac{\alpha\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}
    """
    for i in prange(param.shape[0]):
        p = param[i]
        g = sign * grad[i] + l2 * p
        m = ema(exp_avg[i], g, w1)
        v = ema(exp_avg_sq[i], g * g, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = decay * p - rms_scaled(grad_coef * g + avg_coef * m, c2 * v, eps)


@kernel
def radam(param, grad, exp_avg, exp_avg_sq, rectified, sign, l2, decay, w1, w2,
          step_size, rect_scale, eps):
    r"""RAdam (Liu et al. 2020) as torch computes it.

    .. math::
        \theta \leftarrow \delta\theta - \alpha c_1 m \cdot
        \begin{cases} \dfrac{r_t\sqrt{1-\beta_2^t}}{\sqrt{v} + \epsilon} & \rho_t > 5 \\
        1 & \text{otherwise} \end{cases}

    ``step_size`` is :math:`\alpha c_1` and ``rect_scale`` is :math:`r_t\sqrt{1-\beta_2^t}`.
    Note that ε is added to the *uncorrected* :math:`\sqrt{v}`, unlike in Adam.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        g = sign * grad[i] + l2 * p
        m = ema(exp_avg[i], g, w1)
        v = ema(exp_avg_sq[i], g * g, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if rectified:
            param[i] = decay * p - step_size * rms_scaled(rect_scale * m, v, eps)
        else:
            param[i] = decay * p - step_size * m


@kernel
def nonfinite_count(x):
    """Number of NaN or infinite elements of ``x`` (one vectorised pass, no early exit)."""
    count = 0
    for i in prange(x.shape[0]):
        if not math.isfinite(x[i]):
            count += 1
    return count
