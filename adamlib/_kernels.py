"""Fused, in-place update kernels over flat 1-D arrays, each with the named tuple of its scalars.

Each kernel makes one pass over memory: it loads an element of every stream into locals,
computes the update with the scalar functions of :mod:`adamlib._scalar` (the direction
:func:`~adamlib._scalar.direction` first, then the moments), and stores the results. Nothing
is allocated and nothing is returned. All floating-point arguments arrive already cast to the
arrays' dtype, so a float32 step computes in float32 throughout.

A kernel's arguments are the parameter, the gradient, its state buffers, and then its scalars.
The scalars of kernel ``k`` are the fields of the :class:`~typing.NamedTuple` ``k.scalars``
(``AdamScalars`` for :func:`adam`, …), in order: an optimizer builds it by keyword and
splats it into the call, so no value can land in the wrong slot. The names are those of the
notation table in :mod:`adamlib` (``sign``, ``l2`` = λ, ``shrink`` = δ = 1 − αλ, ``w1`` =
1 − β₁, ``c1`` = 1/(1 − β₁ᵗ), …).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from numba import prange

from ._jit import kernel
from ._scalar import accumulate_square, direction, ema, infinity_norm_ema, moments, rms_scaled


class SGDScalars(NamedTuple):
    """Scalars of :func:`sgd`: the direction's sign and λ, and the learning rate α."""
    sign: float
    l2: float
    lr: float


@kernel(scalars=SGDScalars)
def sgd(param, grad, sign, l2, lr):
    r"""Plain SGD: :math:`\theta \leftarrow \theta - \alpha d`, :math:`d = \pm g + \lambda\theta`."""
    for i in prange(param.shape[0]):
        p = param[i]
        param[i] = p - lr * direction(grad[i], p, sign, l2)


class SGDMomentumScalars(NamedTuple):
    """Scalars of :func:`sgd_momentum`; ``mu_t`` and ``w_t`` are 0 and 1 on a new buffer's first step."""
    sign: float
    l2: float
    lr: float
    mu_t: float
    w_t: float
    momentum: float
    nesterov: bool


@kernel(scalars=SGDMomentumScalars)
def sgd_momentum(param, grad, momentum_buffer, sign, l2, lr, mu_t, w_t, momentum, nesterov):
    r"""SGD with heavy-ball or Nesterov momentum, in torch's form.

    .. math::
        b \leftarrow \mu_t b + w_t d, \qquad
        \theta \leftarrow \theta - \alpha\,(d + \mu b \text{ if Nesterov else } b)

    ``mu_t`` is μ and ``w_t`` is 1 − τ, except on the first step of a new buffer, where they
    are 0 and 1: torch copies that step's direction into the buffer undamped.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        b = mu_t * momentum_buffer[i] + w_t * d
        momentum_buffer[i] = b
        if nesterov:
            param[i] = p - lr * (d + momentum * b)
        else:
            param[i] = p - lr * b


class AdagradScalars(NamedTuple):
    """Scalars of :func:`adagrad`; ``lr`` is the step's decayed rate α/(1 + (t − 1)η)."""
    sign: float
    l2: float
    lr: float
    eps: float


@kernel(scalars=AdagradScalars)
def adagrad(param, grad, sum, sign, l2, lr, eps):  # ``sum``: torch's state key
    r"""Adagrad (Duchi et al. 2011) as torch computes it.

    .. math::
        s \leftarrow s + d^2, \qquad
        \theta \leftarrow \theta - \tilde\alpha\,\frac{d}{\sqrt{s} + \epsilon},
        \qquad \tilde\alpha = \frac{\alpha}{1 + (t-1)\eta}

    ``lr`` is :math:`\tilde\alpha`, computed once per step by the optimizer.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        s = accumulate_square(sum[i], d)
        sum[i] = s
        param[i] = p - lr * rms_scaled(d, s, eps)


class RMSpropScalars(NamedTuple):
    """Scalars of :func:`rmsprop`; the two flags come from the group's options."""
    centered: bool
    use_momentum: bool
    sign: float
    l2: float
    lr: float
    w: float
    eps: float
    momentum: float


@kernel(scalars=RMSpropScalars)
def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, centered, use_momentum,
            sign, l2, lr, w, eps, momentum):
    r"""RMSprop (Tieleman & Hinton 2012) with torch's options; ``w`` is 1 − ρ.

    .. math::
        v \leftarrow \operatorname{ema}_\rho(v, d^2), \quad
        \bar g \leftarrow \operatorname{ema}_\rho(\bar g, d) \text{ (centered)}, \quad
        s = \frac{d}{\sqrt{v - \bar g^2} + \epsilon}, \quad
        \theta \leftarrow \theta - \alpha s \text{ (or through a momentum buffer)}

    ``grad_avg`` and ``momentum_buffer`` may be empty when ``centered``/``use_momentum`` is off.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        v = ema(square_avg[i], d * d, w)
        square_avg[i] = v
        if centered:
            a = ema(grad_avg[i], d, w)
            grad_avg[i] = a
            v = v - a * a
        s = rms_scaled(d, v, eps)
        if use_momentum:
            s = momentum * momentum_buffer[i] + s
            momentum_buffer[i] = s
        param[i] = p - lr * s


class AdamScalars(NamedTuple):
    """Scalars of :func:`adam`; ``amsgrad`` comes from the group's option."""
    amsgrad: bool
    sign: float
    l2: float
    shrink: float
    lr: float
    w1: float
    w2: float
    c1: float
    c2: float
    eps: float


@kernel(scalars=AdamScalars)
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad,
         sign, l2, shrink, lr, w1, w2, c1, c2, eps):
    r"""Adam (Kingma & Ba 2015), AdamW (Loshchilov & Hutter 2019) and AMSGrad (Reddi et al. 2018).

    .. math::
        m \leftarrow \operatorname{ema}_{\beta_1}(m, d), \quad
        v \leftarrow \operatorname{ema}_{\beta_2}(v, d^2), \quad
        v_{\max} \leftarrow \max(v_{\max}, v) \text{ (AMSGrad)}, \quad
        \theta \leftarrow \delta\theta - \alpha\,\frac{c_1 m}{\sqrt{c_2 v} + \epsilon}

    ``max_exp_avg_sq`` may be empty when ``amsgrad`` is off.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        m, v = moments(exp_avg[i], exp_avg_sq[i], d, w1, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = shrink * p - lr * rms_scaled(c1 * m, c2 * v, eps)


class AdamaxScalars(NamedTuple):
    """Scalars of :func:`adamax`."""
    sign: float
    l2: float
    lr: float
    w1: float
    beta2: float
    c1: float
    eps: float


@kernel(scalars=AdamaxScalars)
def adamax(param, grad, exp_avg, exp_inf, sign, l2, lr, w1, beta2, c1, eps):
    r"""Adamax (Kingma & Ba 2015, §7.1), with torch's ε inside the max.

    .. math::
        m \leftarrow \operatorname{ema}_{\beta_1}(m, d), \quad
        u \leftarrow \max(\beta_2 u, |d| + \epsilon), \quad
        \theta \leftarrow \theta - \alpha\,\frac{c_1 m}{u}
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        m = ema(exp_avg[i], d, w1)
        u = infinity_norm_ema(exp_inf[i], d, beta2, eps)
        exp_avg[i] = m
        exp_inf[i] = u
        param[i] = p - lr * c1 * m / u


class NAdamScalars(NamedTuple):
    """Scalars of :func:`nadam`."""
    sign: float
    l2: float
    shrink: float
    w1: float
    w2: float
    c2: float
    eps: float
    grad_coef: float
    avg_coef: float


@kernel(scalars=NAdamScalars)
def nadam(param, grad, exp_avg, exp_avg_sq, sign, l2, shrink, w1, w2, c2, eps,
          grad_coef, avg_coef):
    r"""NAdam (Dozat 2016) as torch computes it.

    .. math::
        \theta \leftarrow \delta\theta - \frac{\kappa_d\, d + \kappa_m\, m}{\sqrt{c_2 v} + \epsilon},
        \quad \kappa_d = \frac{\alpha(1-\mu_t)}{1-\Pi_t},
        \quad \kappa_m = \frac{\alpha\mu_{t+1}}{1-\Pi_t\mu_{t+1}}

    ``grad_coef`` is :math:`\kappa_d` and ``avg_coef`` is :math:`\kappa_m`.
    """
    for i in prange(param.shape[0]):
        p = param[i]
        d = direction(grad[i], p, sign, l2)
        m, v = moments(exp_avg[i], exp_avg_sq[i], d, w1, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = shrink * p - rms_scaled(grad_coef * d + avg_coef * m, c2 * v, eps)


class RAdamScalars(NamedTuple):
    """Scalars of :func:`radam`; ``rectified`` is :math:`\\rho_t > 5`."""
    rectified: bool
    sign: float
    l2: float
    shrink: float
    w1: float
    w2: float
    step_size: float
    rect_scale: float
    eps: float


@kernel(scalars=RAdamScalars)
def radam(param, grad, exp_avg, exp_avg_sq, rectified, sign, l2, shrink, w1, w2,
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
        d = direction(grad[i], p, sign, l2)
        m, v = moments(exp_avg[i], exp_avg_sq[i], d, w1, w2)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if rectified:
            param[i] = shrink * p - step_size * rms_scaled(rect_scale * m, v, eps)
        else:
            param[i] = shrink * p - step_size * m


@kernel
def nonfinite_count(x):
    """Number of NaN or infinite elements of ``x`` (one vectorised pass, no early exit)."""
    count = 0
    for i in prange(x.shape[0]):
        if not math.isfinite(x[i]):
            count += 1
    return count
