"""The optimizers: torch.optim's names, arguments, defaults and update rules, on numpy arrays.

Each class validates its hyperparameters, keeps per-parameter state in the parameter's own
dtype, and names the fused kernel from :mod:`adamlib._kernels` that updates a parameter and the
scalars of each step, cast to the parameter's dtype.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._optimizer import Optimizer, empty_like
from ._scalar import bias_correction, nadam_momentum, radam_rectification, radam_rho
from ._validation import check_at_least, check_betas, check_flag, check_unit_interval

__all__ = ["SGD", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _sign(group) -> int:
    return -1 if group["maximize"] else 1


def _weight_decay_terms(group, lr: float) -> tuple[float, float]:
    """``(l2, decay)``: the coupled coefficient added to the gradient, the decoupled factor on θ."""
    wd = group["weight_decay"]
    if group.get("decoupled_weight_decay", False):
        return 0.0, 1.0 - lr * wd
    return wd, 1.0


def _check_common(group, index, *, betas=True):
    check_at_least("learning rate (lr)", group["lr"], 0.0, group=index)
    check_at_least("weight_decay", group["weight_decay"], 0.0, group=index)
    check_flag("maximize", group["maximize"], group=index)
    if "eps" in group:
        check_at_least("eps", group["eps"], 0.0, group=index, strict=True)
    if betas:
        check_betas(group["betas"], group=index)
    if "decoupled_weight_decay" in group:
        check_flag("decoupled_weight_decay", group["decoupled_weight_decay"], group=index)


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional heavy-ball or Nesterov momentum.

    .. math::
        d_t &= \pm g_t + \lambda\theta_{t-1} \\
        b_t &= \mu b_{t-1} + (1-\tau) d_t \quad (b_1 = d_1) \\
        \theta_t &= \theta_{t-1} - \alpha\,(d_t + \mu b_t \text{ if Nesterov else } b_t)

    Symbols: α → ``lr``, μ → ``momentum``, τ → ``dampening``, λ → ``weight_decay``; the sign
    is − with ``maximize``. Polyak (1964); Sutskever et al. (2013) for the Nesterov form.

    Frameworks differ: this is torch's form, in which the buffer sums gradients (its steady
    state is :math:`g/(1-\mu)`). The "EMA" form :math:`b = \mu b + (1-\mu) g`, :math:`\theta
    \leftarrow \theta - \alpha b` used by many texts gives exactly the iterates of this class
    with ``lr`` :math:`= \alpha(1-\mu)` and ``dampening=0``, from the first step on. Setting
    ``dampening=momentum`` instead does *not* reproduce it: torch's first step copies the gradient
    into the buffer undamped, and that head start never decays out of the weights.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 1e-3
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
    nesterov : bool, default False
        Requires ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
    check_finite : bool, default False
        Refuse a step whose gradients hold NaN or infinity (see :class:`Optimizer`).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index, betas=False)
        check_at_least("momentum", group["momentum"], 0.0, group=index)
        check_at_least("dampening", group["dampening"], float("-inf"), group=index)
        check_flag("nesterov", group["nesterov"], group=index)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum in param_groups[{index}] requires momentum > 0 and "
                f"dampening == 0 (got momentum={group['momentum']!r}, dampening={group['dampening']!r})"
            )

    def _new_state(self, group, param):
        state = {"step": 0}
        if group["momentum"] != 0:
            state["momentum_buffer"] = np.zeros_like(param)
        return state

    def _operands(self, state, flat):
        if "momentum_buffer" in flat:
            return _kernels.sgd_momentum, (flat["momentum_buffer"],)
        return _kernels.sgd, ()

    def _scalars(self, group, state, dt):
        common = (dt(_sign(group)), dt(group["weight_decay"]), dt(group["lr"]))
        if "momentum_buffer" not in state:
            return common
        momentum, first = group["momentum"], state["step"] == 1
        return common + (dt(0.0 if first else momentum), dt(1.0 if first else 1.0 - group["dampening"]),
                         dt(momentum), group["nesterov"])


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton 2012), optionally centered and with momentum.

    .. math::
        v_t &= \alpha_s v_{t-1} + (1-\alpha_s) g_t^2 \\
        \bar g_t &= \alpha_s \bar g_{t-1} + (1-\alpha_s) g_t \quad\text{(centered; else } \bar g_t = 0) \\
        s_t &= \frac{g_t}{\sqrt{v_t - \bar g_t^2} + \epsilon}, \qquad
        b_t = \mu b_{t-1} + s_t \quad\text{(momentum; else } b_t = s_t) \\
        \theta_t &= \theta_{t-1} - \eta\, b_t

    Symbols: η → ``lr``, α_s → ``alpha``, ε → ``eps``, μ → ``momentum``, λ → ``weight_decay``
    (added to g as an L2 term). No bias correction.

    Frameworks differ on ε: torch (and this class) add it outside the square root; optax's
    ``scale_by_rms`` and Keras put it inside, :math:`g/\sqrt{v + \epsilon}` — a different
    update whenever :math:`v` is comparable to ε.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 1e-2
    alpha : float, default 0.99
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum : float, default 0
    centered : bool, default False
    maximize : bool, default False
    check_finite : bool, default False
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index, betas=False)
        check_unit_interval("alpha", group["alpha"], group=index)
        check_at_least("momentum", group["momentum"], 0.0, group=index)
        check_flag("centered", group["centered"], group=index)

    def _new_state(self, group, param):
        state = {"step": 0, "square_avg": np.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def _operands(self, state, flat):
        empty = empty_like(flat["square_avg"])
        return _kernels.rmsprop, (flat["square_avg"], flat.get("grad_avg", empty),
                                  flat.get("momentum_buffer", empty))

    def _scalars(self, group, state, dt):
        return ("grad_avg" in state, "momentum_buffer" in state, dt(_sign(group)),
                dt(group["weight_decay"]), dt(group["lr"]), dt(1.0 - group["alpha"]), dt(group["eps"]),
                dt(group["momentum"]))


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), with AMSGrad (Reddi et al. 2018) and weight decay options.

    .. math::
        g_t &\leftarrow \pm g_t + \lambda\theta_{t-1} \quad\text{(L2; omitted when decoupled)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad m_0 = v_0 = 0 \\
        \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad
        \hat v_t = \frac{\max_{s\le t} v_s \text{ (AMSGrad) or } v_t}{1-\beta_2^t} \\
        \theta_t &= (1 - \alpha\lambda\,[\text{decoupled}])\,\theta_{t-1}
                   - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    Symbols: α → ``lr``, β₁ → ``betas[0]``, β₂ → ``betas[1]``, ε → ``eps``,
    λ → ``weight_decay``; the sign is − with ``maximize``.

    Frameworks differ: torch (and this class) add ε to :math:`\sqrt{\hat v_t}`, the paper's
    Algorithm 1; the paper's "efficient" form (§2) adds :math:`\hat\epsilon` to
    :math:`\sqrt{v_t}` instead, which equals it only for :math:`\hat\epsilon =
    \epsilon\sqrt{1-\beta_2^t}`. AMSGrad here takes the maximum of the raw :math:`v_t` and
    bias-corrects it, as torch does; Reddi et al. have no bias correction.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
        An L2 term added to the gradient — unless ``decoupled_weight_decay``, which makes this
        AdamW.
    amsgrad : bool, default False
    maximize : bool, default False
    decoupled_weight_decay : bool, default False
    check_finite : bool, default False
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, check_finite=False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)
        check_flag("amsgrad", group["amsgrad"], group=index)

    def _new_state(self, group, param):
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def _operands(self, state, flat):
        return _kernels.adam, (flat["exp_avg"], flat["exp_avg_sq"],
                               flat.get("max_exp_avg_sq", empty_like(flat["exp_avg"])))

    def _scalars(self, group, state, dt):
        t, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        l2, decay = _weight_decay_terms(group, lr)
        return ("max_exp_avg_sq" in state, dt(_sign(group)), dt(l2), dt(decay), dt(lr),
                dt(1.0 - beta1), dt(1.0 - beta2), dt(1.0 / bias_correction(beta1, t)),
                dt(1.0 / bias_correction(beta2, t)), dt(group["eps"]))


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    .. math::
        \theta_t = (1 - \alpha\lambda)\,\theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` as in :class:`Adam`, computed from the gradient alone.
    This is **not** L2 regularisation: under Adam an L2 term λθ joins the gradient and is then
    divided by :math:`\sqrt{\hat v_t} + \epsilon`, so weights with large gradients are
    regularised less; here every weight decays at the same rate αλ.

    Frameworks differ: torch multiplies by :math:`1-\alpha\lambda` (decay tied to the learning
    rate, and so to its schedule); the paper multiplies by :math:`1-\eta_t\lambda` with a separate
    schedule multiplier :math:`\eta_t`. Same parameters as :class:`Adam`, except
    ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, check_finite=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True,
                         check_finite=check_finite)

    def _check_group(self, group, index):
        super()._check_group(group, index)
        if not group["decoupled_weight_decay"]:
            raise ValueError(f"AdamW always decouples weight decay (param_groups[{index}])")


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba 2015, §7.1): Adam with the infinity norm in place of the RMS.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \frac{\alpha}{1-\beta_1^t}\,\frac{m_t}{u_t}

    Symbols: α → ``lr``, β₁, β₂ → ``betas``, ε → ``eps``, λ → ``weight_decay`` (L2).
    Frameworks differ: torch (and this class) put ε inside the max; the paper has no ε.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    maximize : bool, default False
    check_finite : bool, default False
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False, check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)

    def _new_state(self, group, param):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_inf": np.zeros_like(param)}

    def _operands(self, state, flat):
        return _kernels.adamax, (flat["exp_avg"], flat["exp_inf"])

    def _scalars(self, group, state, dt):
        beta1, beta2 = group["betas"]
        return (dt(_sign(group)), dt(group["weight_decay"]), dt(group["lr"]), dt(1.0 - beta1),
                dt(beta2), dt(1.0 / bias_correction(beta1, state["step"])), dt(group["eps"]))


class NAdam(Optimizer):
    r"""NAdam (Dozat 2016): Adam with Nesterov momentum and a momentum schedule.

    .. math::
        \mu_t &= \beta_1\bigl(1 - \tfrac12\,0.96^{t\psi}\bigr), \qquad
        \Pi_t = \textstyle\prod_{i\le t}\mu_i \\
        \theta_t &= \theta_{t-1} - \alpha\left(\frac{1-\mu_t}{1-\Pi_t}\,g_t
            + \frac{\mu_{t+1}}{1-\Pi_{t+1}}\,m_t\right)\Big/\left(\sqrt{\hat v_t} + \epsilon\right)

    with :math:`m_t, \hat v_t` as in :class:`Adam`. Symbols: α → ``lr``, β → ``betas``,
    ε → ``eps``, ψ → ``momentum_decay``, λ → ``weight_decay``. The running product
    :math:`\Pi_t` is kept in double precision in ``state["mu_product"]``.

    Frameworks differ: torch keeps ``mu_product`` as a tensor of its default dtype (float32
    unless changed), so for float64 parameters its scale factors carry float32 rounding (about
    1e-7 relative); after 300 steps the weights differ from this class's by about 1e-10.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum_decay : float, default 4e-3
    decoupled_weight_decay : bool, default False
    maximize : bool, default False
    check_finite : bool, default False
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False,
                 check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)
        check_at_least("momentum_decay", group["momentum_decay"], 0.0, group=index)

    def _new_state(self, group, param):
        return {"step": 0, "mu_product": 1.0, "exp_avg": np.zeros_like(param),
                "exp_avg_sq": np.zeros_like(param)}

    def _operands(self, state, flat):
        return _kernels.nadam, (flat["exp_avg"], flat["exp_avg_sq"])

    def _advance(self, group, state):
        state["step"] += 1
        state["mu_product"] *= nadam_momentum(group["betas"][0], state["step"], group["momentum_decay"])

    def _scalar_key(self, state):
        return state["step"], state["mu_product"]

    def _scalars(self, group, state, dt):
        t, lr, mu_product = state["step"], group["lr"], state["mu_product"]
        beta1, beta2 = group["betas"]
        mu = nadam_momentum(beta1, t, group["momentum_decay"])
        mu_next = nadam_momentum(beta1, t + 1, group["momentum_decay"])
        l2, decay = _weight_decay_terms(group, lr)
        return (dt(_sign(group)), dt(l2), dt(decay), dt(1.0 - beta1), dt(1.0 - beta2),
                dt(1.0 / bias_correction(beta2, t)), dt(group["eps"]),
                dt(lr * (1.0 - mu) / (1.0 - mu_product)), dt(lr * mu_next / (1.0 - mu_product * mu_next)))


class RAdam(Optimizer):
    r"""RAdam (Liu et al. 2020): Adam with the variance of its adaptive rate rectified.

    .. math::
        \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
        \theta_t &= \theta_{t-1} - \alpha\,\hat m_t \cdot
        \begin{cases} r_t\,\dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5 \\[1ex]
                      1 & \text{otherwise (momentum SGD)} \end{cases} \\
        r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

    Symbols: α → ``lr``, β → ``betas``, ε → ``eps``, λ → ``weight_decay``.

    Frameworks differ: torch (and this class) switch at :math:`\rho_t > 5` and add ε to the
    uncorrected :math:`\sqrt{v_t}`; the paper switches at :math:`\rho_t > 4` and has no ε.

    Parameters
    ----------
    params : sequence of arrays or of parameter-group dicts
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    decoupled_weight_decay : bool, default False
    maximize : bool, default False
    check_finite : bool, default False
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)

    def _new_state(self, group, param):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def _operands(self, state, flat):
        return _kernels.radam, (flat["exp_avg"], flat["exp_avg_sq"])

    def _scalars(self, group, state, dt):
        t, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        rho_inf, rho_t = radam_rho(beta2, t)
        rectified = rho_t > 5.0
        rect_scale = radam_rectification(rho_inf, rho_t) * bias_correction(beta2, t) ** 0.5 if rectified else 1.0
        l2, decay = _weight_decay_terms(group, lr)
        return (rectified, dt(_sign(group)), dt(l2), dt(decay), dt(1.0 - beta1), dt(1.0 - beta2),
                dt(lr / bias_correction(beta1, t)), dt(rect_scale), dt(group["eps"]))
