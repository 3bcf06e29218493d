"""Scalar building blocks: one function per idea the book derives.

The fused kernels in :mod:`adamlib._kernels` are compositions of these functions, inlined by
Numba, so a chapter that derives an idea can show the very code that runs. They work on
whatever float type they are given (float32 stays float32): constants such as ``1 - β`` are
computed once per step by the optimizer, in the array's dtype, and passed in.
"""

from __future__ import annotations

import math

from ._jit import scalar


@scalar
def ema(average, x, weight):
    r"""One step of an exponential moving average.

    .. math:: a_t = \beta\,a_{t-1} + (1-\beta)\,x_t = a_{t-1} + (1-\beta)(x_t - a_{t-1})

    computed in the second (``lerp``) form, as torch does. ``weight`` is :math:`1-\beta`.
    """
    return average + weight * (x - average)


@scalar
def direction(grad, param, sign, l2):
    r"""The direction every update starts from: the signed gradient plus coupled weight decay.

    .. math:: d = \pm g + \lambda\theta

    ``sign`` is −1 with ``maximize`` and +1 otherwise; ``l2`` is λ for coupled (L2) weight
    decay and 0 when the decay is decoupled (AdamW), which shrinks θ instead.
    """
    return sign * grad + l2 * param


@scalar
def moments(m, v, d, w1, w2):
    r"""Adam's two moment updates, as one step of two EMAs (``w1``, ``w2`` are 1 − β₁, 1 − β₂).

    .. math:: m_t = \operatorname{ema}_{\beta_1}(m_{t-1}, d_t), \qquad
              v_t = \operatorname{ema}_{\beta_2}(v_{t-1}, d_t^2)

    Returns ``(m_t, v_t)``; shared by Adam, NAdam and RAdam.
    """
    return ema(m, d, w1), ema(v, d * d, w2)


@scalar
def accumulate_square(total, x):
    r"""Adagrad's accumulator: a running *sum* of squares, never forgetting (Duchi et al. 2011).

    .. math:: s_t = s_{t-1} + d_t^2

    Where an EMA weighs old squares down by β each step, this keeps every one at full weight,
    so :math:`s_t` grows without bound while the gradients do not vanish.
    """
    return total + x * x


@scalar
def rms_scaled(x, second_moment, eps):
    r"""Divide by a root mean square, with ε *outside* the root (torch's and Adam's placement).

    .. math:: \frac{x}{\sqrt{v} + \epsilon}
    """
    return x / (math.sqrt(second_moment) + eps)


@scalar
def infinity_norm_ema(u, g, beta, eps):
    r"""Adamax's exponentially weighted infinity norm, as torch computes it.

    .. math:: u_t = \max(\beta_2\,u_{t-1},\ |g_t| + \epsilon)
    """
    return max(beta * u, abs(g) + eps)


def bias_correction(beta: float, step: int) -> float:
    r"""The factor by which a zero-initialised EMA underestimates a stationary mean.

    .. math:: 1 - \beta^t

    Computed in double precision in Python, once per step, like torch; its reciprocal scales
    the moment estimates (Kingma & Ba 2015, §3).
    """
    return 1.0 - beta**step


def adagrad_lr(lr: float, step: int, lr_decay: float) -> float:
    r"""torch's Adagrad learning rate at step t: :math:`\alpha / (1 + (t-1)\,\eta)`.

    η is ``lr_decay`` (0 by default: a constant α, as in Duchi et al. 2011). Computed in double
    precision in Python, once per step, like torch.
    """
    return lr / (1.0 + (step - 1) * lr_decay)


def nadam_momentum(beta1: float, step: int, momentum_decay: float) -> float:
    r"""NAdam's momentum schedule (Dozat 2016), with torch's constants.

    .. math:: \mu_t = \beta_1\left(1 - \tfrac12\, 0.96^{\,t\,\psi}\right)

    where :math:`\psi` is ``momentum_decay``.
    """
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def radam_rho(beta2: float, step: int) -> tuple[float, float]:
    r"""RAdam's length of the approximated simple moving average (Liu et al. 2020).

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}

    Returns :math:`(\rho_\infty, \rho_t)`.
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * beta2**step / bias_correction(beta2, step)
    return rho_inf, rho_t


def radam_rectification(rho_inf: float, rho_t: float) -> float:
    r"""RAdam's variance rectification term, defined for :math:`\rho_t > 4`.

    .. math:: r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}
    """
    return math.sqrt(
        (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
    )
