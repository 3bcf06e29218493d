r"""Plain numpy reference implementations of every optimizer: the readable oracle of the kernels.

One pure function per algorithm, written as the textbook formulas rather than the fused,
``lerp``-form kernels of :mod:`adamlib._kernels`, so that agreement between the two is an
independent check (the package docstring says which module checks which, and gives the
notation used here)::

    state = reference.init_state("adam", theta, lr=1e-2)
    theta, state = reference.adam(theta, grad, state, lr=1e-2)

Conventions shared by every function:

* **Pure.** Neither ``param``, ``grad`` nor ``state`` is modified; a new parameter array and
  a new state dict are returned.
* **torch's update rules and names.** Each function follows the single-tensor branch of the
  ``torch.optim`` class of the same name (torch 2.13): the same hyperparameter names and
  defaults, the same placement of ε, the same weight-decay and ``maximize`` conventions.
* **adamlib's state.** ``state`` holds the keys of the matching :mod:`adamlib.optimizers`
  class (``step`` is a Python ``int``; ``mu_product`` a Python ``float``; the rest arrays of
  the parameter's shape), so a reference state and ``opt.state[i]`` can be compared key by key.
  :func:`init_state` builds the state before the first step.
* **The parameter's dtype.** Every array operation runs in ``param.dtype``: scalars that
  depend only on the step (bias corrections, schedules) are computed in double precision in
  Python, as torch does, and cast to the dtype before they meet an array, so a float32
  parameter is updated in float32 throughout.

Two transformations of the gradient are common to all algorithms and are written once:
``maximize`` negates it, and a coupled ("L2") weight decay adds :math:`\lambda\theta`,

.. math:: d_t = \pm g_t + \lambda\,\theta_{t-1}.

Decoupled weight decay (AdamW, and ``decoupled_weight_decay=True`` in Adam, NAdam, RAdam)
instead multiplies the parameter by :math:`1-\alpha\lambda` before the update, and the
gradient is left alone.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ALGORITHMS", "DEFAULTS", "init_state", "sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax",
           "nadam", "radam", "adafactor", "nadam_momentum", "radam_rho"]

#: Hyperparameter names and defaults of each algorithm, as in ``torch.optim`` (and adamlib).
DEFAULTS: dict[str, dict] = {
    "sgd": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                maximize=False),
    "adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                    maximize=False),
    "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                    maximize=False),
    "adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False),
    "adamw": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                  maximize=False),
    "adamax": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False),
    "nadam": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                  decoupled_weight_decay=False, maximize=False),
    "radam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                  decoupled_weight_decay=False, maximize=False),
    "adafactor": dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                      maximize=False),
}

#: The algorithms implemented here, by the name of their function.
ALGORITHMS = tuple(DEFAULTS)


def _hyperparameters(algo: str, given: dict) -> dict:
    """``given`` completed with the defaults of ``algo``; unknown names raise ``TypeError``."""
    if algo not in DEFAULTS:
        raise ValueError(f"unknown algorithm {algo!r}; expected one of {ALGORITHMS}")
    unknown = set(given) - set(DEFAULTS[algo])
    if unknown:
        raise TypeError(f"{algo} got unknown hyperparameter(s) {sorted(unknown)}; "
                        f"it takes {sorted(DEFAULTS[algo])}")
    return {**DEFAULTS[algo], **given}


def init_state(algo: str, param: np.ndarray, **hyperparameters) -> dict:
    """The state of ``param`` before its first step under ``algo``.

    Parameters
    ----------
    algo : str
        One of :data:`ALGORITHMS`.
    param : numpy.ndarray
        The parameter (float32 or float64); state arrays have its shape and dtype, and start
        at zero (Adagrad's ``sum`` at ``initial_accumulator_value``).
    **hyperparameters
        The same keyword arguments the step function takes (unknown names raise
        ``TypeError``). Options decide which buffers exist: ``momentum_buffer`` only with
        momentum, ``grad_avg`` only for centered RMSprop, ``max_exp_avg_sq`` only with AMSGrad,
        exactly as in :mod:`adamlib.optimizers`; Adafactor's buffers depend on the parameter's
        dimension instead (``row_var`` and ``col_var`` for a matrix, ``variance`` otherwise).

    Returns
    -------
    dict
        ``{"step": 0, ...}`` with adamlib's (and torch's) state keys.
    """
    hp = _hyperparameters(algo, hyperparameters)
    param = np.asarray(param)
    zeros = lambda: np.zeros_like(param)  # noqa: E731
    state: dict = {"step": 0}
    if algo == "sgd":
        if hp["momentum"] != 0:
            state["momentum_buffer"] = zeros()
    elif algo == "adagrad":
        state["sum"] = np.full_like(param, hp["initial_accumulator_value"])
    elif algo == "rmsprop":
        state["square_avg"] = zeros()
        if hp["momentum"] > 0:
            state["momentum_buffer"] = zeros()
        if hp["centered"]:
            state["grad_avg"] = zeros()
    elif algo in ("adam", "adamw"):
        state["exp_avg"] = zeros()
        state["exp_avg_sq"] = zeros()
        if hp["amsgrad"]:
            state["max_exp_avg_sq"] = zeros()
    elif algo == "adamax":
        state["exp_avg"] = zeros()
        state["exp_inf"] = zeros()
    elif algo == "nadam":
        state["mu_product"] = 1.0
        state["exp_avg"] = zeros()
        state["exp_avg_sq"] = zeros()
    elif algo == "radam":
        state["exp_avg"] = zeros()
        state["exp_avg_sq"] = zeros()
    elif algo == "adafactor" and param.ndim > 1:  # factored over the last two dimensions
        state["row_var"] = np.zeros((*param.shape[:-1], 1), param.dtype)
        state["col_var"] = np.zeros((*param.shape[:-2], 1, param.shape[-1]), param.dtype)
    elif algo == "adafactor":
        state["variance"] = zeros()
    return state


def _direction(param, grad, maximize, weight_decay, dt):
    r"""The gradient the moments see: :math:`d = \pm g + \lambda\theta` (λ = 0 when decoupled)."""
    d = -grad if maximize else grad.copy()
    if weight_decay != 0:
        d = d + dt(weight_decay) * param
    return d


def _ema(average, x, beta, dt):
    r"""Textbook exponential moving average :math:`\beta a + (1-\beta) x` (not the lerp form)."""
    return dt(beta) * average + dt(1.0 - beta) * x


def _adam_moments(param, grad, state, betas, weight_decay, decoupled, maximize, dt):
    r"""What Adam, NAdam and RAdam share: the step t, the direction :math:`d_t` and both EMAs.

    .. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1)\, d_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2
    """
    d = _direction(param, grad, maximize, 0.0 if decoupled else weight_decay, dt)
    m = _ema(state["exp_avg"], d, betas[0], dt)
    v = _ema(state["exp_avg_sq"], d * d, betas[1], dt)
    return state["step"] + 1, d, m, v


def _shrink(lr, weight_decay, decoupled, dt):
    """The decoupled weight-decay factor δ = 1 - αλ (1 when the decay is coupled)."""
    return dt(1.0 - lr * weight_decay) if decoupled else dt(1.0)


def _check(param, grad, state, keys):
    param, grad = np.asarray(param), np.asarray(grad)
    if param.dtype not in (np.float32, np.float64):
        raise TypeError(f"param must be float32 or float64, got {param.dtype}")
    if grad.dtype != param.dtype or grad.shape != param.shape:
        raise ValueError(f"grad ({grad.dtype}, {grad.shape}) must match param ({param.dtype}, {param.shape})")
    missing = set(keys) - set(state)
    if missing:
        raise KeyError(f"state lacks {sorted(missing)}; build it with init_state()")
    return param, grad, param.dtype.type


def sgd(param, grad, state, *, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
        nesterov=False, maximize=False):
    r"""One step of SGD with optional heavy-ball or Nesterov momentum (``torch.optim.SGD``).

    .. math::
        d_t &= \pm g_t + \lambda\,\theta_{t-1} \\
        b_t &= \begin{cases} d_1 & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, d_t & t > 1 \end{cases} \\
        \theta_t &= \theta_{t-1} - \alpha \begin{cases} d_t + \mu\, b_t & \text{Nesterov} \\
                                                         b_t & \text{otherwise} \end{cases}

    and :math:`\theta_t = \theta_{t-1} - \alpha d_t` when :math:`\mu = 0`.

    Symbols: α → ``lr``, μ → ``momentum``, τ → ``dampening``, λ → ``weight_decay``; the sign is
    − when ``maximize``. Like torch, the first step copies :math:`d_1` into the buffer undamped
    (torch and adamlib create the buffer then, from that step's direction).

    Parameters
    ----------
    param, grad : numpy.ndarray
        Same shape and dtype (float32 or float64).
    state : dict
        ``{"step", "momentum_buffer" (only when momentum != 0)}``.
    lr, momentum, dampening, weight_decay, nesterov, maximize
        As in ``torch.optim.SGD``.

    Returns
    -------
    new_param : numpy.ndarray
    new_state : dict
    """
    keys = ["step"] + (["momentum_buffer"] if momentum != 0 else [])
    param, grad, dt = _check(param, grad, state, keys)
    t = state["step"] + 1
    d = _direction(param, grad, maximize, weight_decay, dt)
    new_state = {"step": t}
    if momentum != 0:
        if t == 1:
            b = d.copy()
        else:
            b = dt(momentum) * state["momentum_buffer"] + dt(1.0 - dampening) * d
        new_state["momentum_buffer"] = b
        d = d + dt(momentum) * b if nesterov else b
    return param - dt(lr) * d, new_state


def adagrad(param, grad, state, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
            initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    r"""One step of Adagrad (Duchi et al. 2011) as ``torch.optim.Adagrad`` computes it.

    .. math::
        d_t &= \pm g_t + \lambda\,\theta_{t-1} \\
        s_t &= s_{t-1} + d_t^2, \qquad s_0 = s_{\mathrm{init}} \\
        \theta_t &= \theta_{t-1} - \frac{\alpha}{1 + (t-1)\,\eta}\,\frac{d_t}{\sqrt{s_t} + \epsilon}

    Symbols: α → ``lr``, η → ``lr_decay``, :math:`s_{\mathrm{init}}` →
    ``initial_accumulator_value`` (used by :func:`init_state` only), ε → ``eps``,
    λ → ``weight_decay``. ε is outside the square root, as in torch.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "sum"}``.
    lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize
        As in ``torch.optim.Adagrad``.

    Returns
    -------
    new_param, new_state
    """
    param, grad, dt = _check(param, grad, state, ["step", "sum"])
    t = state["step"] + 1
    d = _direction(param, grad, maximize, weight_decay, dt)
    s = state["sum"] + d * d
    decayed_lr = dt(lr / (1.0 + (t - 1) * lr_decay))
    return param - decayed_lr * d / (np.sqrt(s) + dt(eps)), {"step": t, "sum": s}


def rmsprop(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            centered=False, maximize=False):
    r"""One step of RMSprop (Tieleman & Hinton 2012) as ``torch.optim.RMSprop`` computes it.

    .. math::
        d_t &= \pm g_t + \lambda\,\theta_{t-1} \\
        v_t &= \rho\, v_{t-1} + (1-\rho)\, d_t^2 \\
        \bar g_t &= \rho\, \bar g_{t-1} + (1-\rho)\, d_t
            \quad\text{(centered; otherwise } \bar g_t = 0\text{)} \\
        s_t &= \frac{d_t}{\sqrt{v_t - \bar g_t^2} + \epsilon} \\
        \theta_t &= \theta_{t-1} - \alpha\, b_t, \qquad
            b_t = \mu\, b_{t-1} + s_t \quad\text{(momentum; otherwise } b_t = s_t\text{)}

    Symbols: α → ``lr``, ρ → ``alpha`` (torch's name for the smoothing constant), ε → ``eps``,
    λ → ``weight_decay``, μ → ``momentum``. ε is outside the square root (torch's placement;
    Keras and optax put it inside). There is no bias correction: :math:`v_0 = 0`.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "square_avg", "momentum_buffer" (momentum > 0), "grad_avg" (centered)}``.
    lr, alpha, eps, weight_decay, momentum, centered, maximize
        As in ``torch.optim.RMSprop``.

    Returns
    -------
    new_param, new_state
    """
    keys = ["step", "square_avg"] + (["momentum_buffer"] if momentum > 0 else []) + \
        (["grad_avg"] if centered else [])
    param, grad, dt = _check(param, grad, state, keys)
    d = _direction(param, grad, maximize, weight_decay, dt)
    v = _ema(state["square_avg"], d * d, alpha, dt)
    new_state = {"step": state["step"] + 1, "square_avg": v}
    if centered:
        g_bar = _ema(state["grad_avg"], d, alpha, dt)
        new_state["grad_avg"] = g_bar
        s = d / (np.sqrt(v - g_bar * g_bar) + dt(eps))
    else:
        s = d / (np.sqrt(v) + dt(eps))
    if momentum > 0:
        s = dt(momentum) * state["momentum_buffer"] + s
        new_state["momentum_buffer"] = s
    return param - dt(lr) * s, new_state


def adam(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
         amsgrad=False, maximize=False, decoupled_weight_decay=False):
    r"""One step of Adam (Kingma & Ba 2015) with torch's AMSGrad and weight-decay options.

    .. math::
        d_t &= \pm g_t + \lambda\,\theta_{t-1}
            \quad(\lambda \to 0 \text{ here when decoupled}) \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, d_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2, \qquad m_0 = v_0 = 0 \\
        \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad
        \hat v_t = \frac{v_t}{1-\beta_2^t}
            \quad\text{or, with AMSGrad,}\quad
            \hat v_t = \frac{v^{\max}_t}{1-\beta_2^t},\ v^{\max}_t = \max(v^{\max}_{t-1}, v_t) \\
        \theta_t &= \delta\,\theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},
            \qquad \delta = 1 - \alpha\lambda \text{ if decoupled, else } 1

    Symbols: α → ``lr``, β₁ → ``betas[0]``, β₂ → ``betas[1]``, ε → ``eps``,
    λ → ``weight_decay``. ε is added to the bias-corrected :math:`\sqrt{\hat v_t}` (the paper's
    Algorithm 1, and torch). AMSGrad keeps the maximum of the raw :math:`v_t` and bias-corrects
    it, as torch does (Reddi et al. 2018 have no bias correction).

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad)}``.
    lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay
        As in ``torch.optim.Adam``.

    Returns
    -------
    new_param, new_state
    """
    keys = ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
    param, grad, dt = _check(param, grad, state, keys)
    beta1, beta2 = betas
    t, d, m, v = _adam_moments(param, grad, state, betas, weight_decay, decoupled_weight_decay,
                               maximize, dt)
    new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    if amsgrad:
        v = np.maximum(state["max_exp_avg_sq"], v)
        new_state["max_exp_avg_sq"] = v
    m_hat = m / dt(1.0 - beta1**t)
    v_hat = v / dt(1.0 - beta2**t)
    shrink = _shrink(lr, weight_decay, decoupled_weight_decay, dt)
    return shrink * param - dt(lr) * m_hat / (np.sqrt(v_hat) + dt(eps)), new_state


def adamw(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
          amsgrad=False, maximize=False):
    r"""One step of AdamW (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    .. math::
        \theta_t = (1 - \alpha\lambda)\,\theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` as in :func:`adam`, computed from the gradient alone: this
    is :func:`adam` with ``decoupled_weight_decay=True`` (and ``weight_decay`` defaulting to
    1e-2). torch ties the decay to the learning rate (the factor is :math:`1-\alpha\lambda`);
    the paper multiplies it by a separate schedule multiplier :math:`\eta_t` instead.
    """
    return adam(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


def adamax(param, grad, state, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
           maximize=False):
    r"""One step of Adamax (Kingma & Ba 2015, §7.1), as ``torch.optim.Adamax``.

    .. math::
        d_t &= \pm g_t + \lambda\,\theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, d_t, \qquad
        u_t = \max\left(\beta_2 u_{t-1},\ |d_t| + \epsilon\right) \\
        \theta_t &= \theta_{t-1} - \frac{\alpha}{1-\beta_1^t}\,\frac{m_t}{u_t}

    Symbols: α → ``lr``, β₁, β₂ → ``betas``, ε → ``eps``, λ → ``weight_decay``. torch puts ε
    inside the max (the paper has no ε), which keeps :math:`u_t > 0`.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "exp_avg", "exp_inf"}``.
    lr, betas, eps, weight_decay, maximize
        As in ``torch.optim.Adamax``.

    Returns
    -------
    new_param, new_state
    """
    param, grad, dt = _check(param, grad, state, ["step", "exp_avg", "exp_inf"])
    beta1, beta2 = betas
    t = state["step"] + 1
    d = _direction(param, grad, maximize, weight_decay, dt)
    m = _ema(state["exp_avg"], d, beta1, dt)
    u = np.maximum(dt(beta2) * state["exp_inf"], np.abs(d) + dt(eps))
    new_param = param - dt(lr / (1.0 - beta1**t)) * (m / u)
    return new_param, {"step": t, "exp_avg": m, "exp_inf": u}


def nadam_momentum(beta1: float, t: int, momentum_decay: float) -> float:
    r"""NAdam's momentum schedule :math:`\mu_t = \beta_1\left(1 - \tfrac12\,0.96^{t\psi}\right)`.

    ψ → ``momentum_decay``; torch's constants (Dozat 2016 uses ψ = 1/250 = 0.004).
    """
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


def nadam(param, grad, state, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    r"""One step of NAdam (Dozat 2016), as ``torch.optim.NAdam``.

    .. math::
        \mu_t &= \beta_1\left(1 - \tfrac12\,0.96^{t\psi}\right), \qquad
        \Pi_t = \Pi_{t-1}\,\mu_t, \quad \Pi_0 = 1 \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, d_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2, \qquad
        \hat v_t = \frac{v_t}{1-\beta_2^t} \\
        \theta_t &= \delta\,\theta_{t-1} - \alpha\,\frac{
            \frac{1-\mu_t}{1-\Pi_t}\, d_t + \frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\, m_t}
            {\sqrt{\hat v_t} + \epsilon}

    with :math:`d_t` and δ as in :func:`adam` (coupled L2 or decoupled decay). Symbols:
    α → ``lr``, β → ``betas``, ε → ``eps``, ψ → ``momentum_decay``, λ → ``weight_decay``.
    :math:`\Pi_t` is ``state["mu_product"]``, a Python float (double precision). torch keeps it
    in a tensor of its default dtype, so torch in float32 rounds it to float32 every step.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "mu_product", "exp_avg", "exp_avg_sq"}``.
    lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay, maximize
        As in ``torch.optim.NAdam``.

    Returns
    -------
    new_param, new_state
    """
    param, grad, dt = _check(param, grad, state, ["step", "mu_product", "exp_avg", "exp_avg_sq"])
    beta1, beta2 = betas
    t, d, m, v = _adam_moments(param, grad, state, betas, weight_decay, decoupled_weight_decay,
                               maximize, dt)
    mu = nadam_momentum(beta1, t, momentum_decay)
    mu_next = nadam_momentum(beta1, t + 1, momentum_decay)
    mu_product = state["mu_product"] * mu
    v_hat = v / dt(1.0 - beta2**t)
    grad_coef = dt((1.0 - mu) / (1.0 - mu_product))
    avg_coef = dt(mu_next / (1.0 - mu_product * mu_next))
    shrink = _shrink(lr, weight_decay, decoupled_weight_decay, dt)
    new_param = shrink * param - dt(lr) * (grad_coef * d + avg_coef * m) / (np.sqrt(v_hat) + dt(eps))
    return new_param, {"step": t, "mu_product": mu_product, "exp_avg": m, "exp_avg_sq": v}


def radam_rho(beta2: float, t: int) -> tuple[float, float]:
    r"""RAdam's :math:`(\rho_\infty, \rho_t)` (Liu et al. 2020, eq. 6 and the text after).

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf, rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)


def radam(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          decoupled_weight_decay=False, maximize=False):
    r"""One step of RAdam (Liu et al. 2020), as ``torch.optim.RAdam``.

    .. math::
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, d_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d_t^2, \qquad
        \hat m_t = \frac{m_t}{1-\beta_1^t} \\
        r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}},
        \qquad l_t = \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} \\
        \theta_t &= \delta\,\theta_{t-1} - \alpha\,\hat m_t \cdot
            \begin{cases} r_t\, l_t & \rho_t > 5 \\ 1 & \text{otherwise} \end{cases}

    with :math:`\rho_\infty, \rho_t` from :func:`adamlib.reference.radam_rho` and :math:`d_t`, δ as in
    :func:`adam`. Symbols: α → ``lr``, β → ``betas``, ε → ``eps``, λ → ``weight_decay``.
    torch's conventions: the switch is at :math:`\rho_t > 5` (the paper: 4), and ε is added to
    the *uncorrected* :math:`\sqrt{v_t}` (the paper has no ε), unlike Adam.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "exp_avg", "exp_avg_sq"}``.
    lr, betas, eps, weight_decay, decoupled_weight_decay, maximize
        As in ``torch.optim.RAdam``.

    Returns
    -------
    new_param, new_state
    """
    param, grad, dt = _check(param, grad, state, ["step", "exp_avg", "exp_avg_sq"])
    beta1, beta2 = betas
    t, d, m, v = _adam_moments(param, grad, state, betas, weight_decay, decoupled_weight_decay,
                               maximize, dt)
    m_hat = m / dt(1.0 - beta1**t)
    rho_inf, rho_t = radam_rho(beta2, t)
    if rho_t > 5.0:
        r = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        adaptive = dt(math.sqrt(1.0 - beta2**t)) / (np.sqrt(v) + dt(eps))
        step = m_hat * adaptive * dt(r)
    else:
        step = m_hat
    shrink = _shrink(lr, weight_decay, decoupled_weight_decay, dt)
    return shrink * param - dt(lr) * step, {"step": t, "exp_avg": m, "exp_avg_sq": v}


def _rms(x):
    """Root mean square of all elements (the mean in the dtype), as a Python float, as torch's."""
    return math.sqrt(float(np.mean(x * x))) if x.size else math.nan


def adafactor(param, grad, state, *, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
              weight_decay=0.0, maximize=False):
    r"""One step of Adafactor (Shazeer & Stern 2018), as ``torch.optim.Adafactor`` computes it.

    .. math::
        \hat\beta_{2,t} &= 1 - t^{\kappa}, \qquad \rho_t = \min(\alpha, 1/\sqrt t), \qquad
        a_t = \rho_t \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1})) \\
        R_t &= \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_j\, g_t^2, \qquad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_i\, g_t^2, \qquad
        \hat V_t = \frac{R_t C_t}{\max(\mathrm{mean}_i R_t, \epsilon_1)} \\
        U_t &= \frac{\pm g_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \qquad
        \theta_t = (1-\alpha\lambda)\,\theta_{t-1} - \frac{a_t}{\max(1, \mathrm{RMS}(U_t)/d)}\, U_t

    for a parameter of two or more dimensions (rows i and columns j are its last two axes);
    a vector or scalar keeps :math:`\hat V_t = \hat\beta_{2,t}\hat V_{t-1} +
    (1-\hat\beta_{2,t}) g_t^2` instead. Symbols: α → ``lr``, κ → ``beta2_decay``,
    (ε₁, ε₂) → ``eps`` (ε₁ = None: the dtype's machine epsilon), d → ``d``,
    λ → ``weight_decay``. The per-tensor numbers (RMS, :math:`a_t`, the clipping divisor)
    are Python floats, as in torch.

    Parameters
    ----------
    param, grad : numpy.ndarray
    state : dict
        ``{"step", "row_var", "col_var"}`` (shapes ``(..., n, 1)`` and ``(..., 1, m)``) for a
        matrix, ``{"step", "variance"}`` otherwise.
    lr, beta2_decay, eps, d, weight_decay, maximize
        As in ``torch.optim.Adafactor``.

    Returns
    -------
    new_param, new_state
    """
    factored = np.ndim(param) > 1
    param, grad, dt = _check(param, grad, state, ["step", "row_var", "col_var"] if factored else
                             ["step", "variance"])
    t = state["step"] + 1
    beta2_t = 1.0 - t**beta2_decay
    eps1 = np.finfo(dt).eps if eps[0] is None else eps[0]
    size = min(lr, 1.0 / math.sqrt(t)) * max(eps[1], _rms(param))
    g = -grad if maximize else grad
    if factored:
        row = _ema(state["row_var"], np.mean(g * g, axis=-1, keepdims=True), beta2_t, dt)
        col = _ema(state["col_var"], np.mean(g * g, axis=-2, keepdims=True), beta2_t, dt)
        v_hat = row * col / np.maximum(np.mean(row, axis=-2, keepdims=True), dt(eps1))
        new_state = {"step": t, "row_var": row, "col_var": col}
    else:
        v_hat = _ema(state["variance"], g * g, beta2_t, dt)
        new_state = {"step": t, "variance": v_hat}
    update = g / np.sqrt(np.maximum(v_hat, dt(eps1 * eps1)))
    step = size / max(1.0, _rms(update) / d)
    return dt(1.0 - lr * weight_decay) * param - dt(step) * update, new_state
