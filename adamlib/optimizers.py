"""The optimizers: torch.optim's names, arguments, defaults and update rules, on numpy arrays.

Each class validates its hyperparameters, declares its per-parameter state (kept in the
parameter's own dtype) and which option asks for which optional buffer, and names the fused
kernel from :mod:`adamlib._kernels` that updates a parameter, with the kernel's named tuple of
scalars for each step, cast to the parameter's dtype. Symbols follow the notation table of
:mod:`adamlib`. :class:`~adamlib.Adafactor`, whose state is not shaped like its parameters, lives in
its own module and is re-exported here.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._adafactor import Adafactor
from ._optimizer import Optimizer, empty_like
from ._state import OptionalBuffer, StateLayout
from ._scalar import adagrad_lr, bias_correction, nadam_momentum, radam_rectification, radam_rho
from ._validation import check_at_least, check_betas, check_flag, check_unit_interval

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adafactor"]


def _sign(group) -> int:
    return -1 if group["maximize"] else 1


def _weight_decay_terms(group, lr: float) -> tuple[float, float]:
    """``(l2, shrink)``: λ added to the direction (coupled), and δ = 1 − αλ on θ (decoupled)."""
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
        b_t &= \mu b_{t-1} + (1-\tau) d_t \quad (b = d \text{ on the buffer's first step}) \\
        \theta_t &= \theta_{t-1} - \alpha\,(d_t + \mu b_t \text{ if Nesterov else } b_t)

    Symbols: α → ``lr``, μ → ``momentum``, τ → ``dampening``, λ → ``weight_decay``; the sign
    is − with ``maximize``. References: `Polyak (1964)
    <https://doi.org/10.1016/0041-5553(64)90137-5>`_; `Sutskever et al. (2013)
    <https://proceedings.mlr.press/v28/sutskever13.html>`_ for the Nesterov form.

    Frameworks differ: this is torch's form, in which the buffer sums gradients (its steady
    state is :math:`g/(1-\mu)`). The "EMA" form :math:`b = \mu b + (1-\mu) g`, :math:`\theta
    \leftarrow \theta - \alpha b` used by many texts gives exactly the iterates of this class
    with ``lr`` :math:`= \alpha(1-\mu)` and ``dampening=0``, from the first step on. Setting
    ``dampening=momentum`` instead does *not* reproduce it: torch's first step copies the gradient
    into the buffer undamped, and that head start never decays out of the weights.

    Like torch, a ``momentum`` switched on after earlier steps starts the buffer then (from
    that step's direction); switched off, the buffer is kept, unused, and resumes if momentum
    returns.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 1e-3
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
    nesterov : bool, default False
        Requires ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
    check_finite : bool, default False
        Refuse a step whose gradients hold NaN or infinity (see :class:`Optimizer`).

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.step([2 * w])  # the gradient of |w|²
    >>> w
    array([ 0.46, -0.92])
    """

    _state_layout = StateLayout(optional={
        "momentum_buffer": OptionalBuffer("momentum", lambda group: group["momentum"] != 0, starts_late=True)})

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

    def _operands(self, group, flat):
        if group["momentum"] != 0:
            return _kernels.sgd_momentum, (flat["momentum_buffer"],)
        return _kernels.sgd, ()

    def _scalars(self, group, state, dt):
        sign, l2, lr = dt(_sign(group)), dt(group["weight_decay"]), dt(group["lr"])
        momentum = group["momentum"]
        if momentum == 0:
            return _kernels.SGDScalars(sign=sign, l2=l2, lr=lr)
        return _kernels.SGDMomentumScalars(sign=sign, l2=l2, lr=lr, mu_t=dt(momentum),
                                           w_t=dt(1.0 - group["dampening"]), momentum=dt(momentum),
                                           nesterov=group["nesterov"])

    def _first_use(self, scalars, dt):
        # torch copies the first direction into a new momentum buffer, undamped.
        if isinstance(scalars, _kernels.SGDMomentumScalars):
            return scalars._replace(mu_t=dt(0.0), w_t=dt(1.0))
        return scalars


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al. 2011): each coordinate's step divided by the root of its summed squares.

    .. math::
        d_t &= \pm g_t + \lambda\theta_{t-1}, \qquad s_t = s_{t-1} + d_t^2, \qquad
        s_0 = s_{\mathrm{init}} \\
        \theta_t &= \theta_{t-1} - \frac{\alpha}{1 + (t-1)\eta}\,\frac{d_t}{\sqrt{s_t} + \epsilon}

    Symbols: α → ``lr``, η → ``lr_decay``, s₀ → ``initial_accumulator_value``, ε → ``eps``,
    λ → ``weight_decay`` (L2); the sign is − with ``maximize``. The state is torch's: ``step``
    and ``sum`` (:math:`s_t`). Reference: `Duchi, Hazan & Singer (2011)
    <https://jmlr.org/papers/v12/duchi11a.html>`_, the diagonal variant.

    Frameworks differ: torch (and this class) decay α by η, which the paper does not; the
    paper's δ plays the part of ε, added to :math:`\sqrt{s_t}` as here. torch fills ``sum``
    with the *constructor's* ``initial_accumulator_value`` for every group; this class uses
    each group's own value, at the parameter's first step (``adamlib.torch.Adagrad`` follows
    torch). Sparse gradients, which torch's Adagrad accepts, do not exist in numpy.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
        The value ``sum`` starts from; a positive one shortens the first steps, to
        :math:`\alpha|d_1|/\sqrt{s_0 + d_1^2}` for the first instead of α.
    eps : float, default 1e-10
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.Adagrad([w], lr=0.1)
    >>> for _ in range(4):  # a constant gradient: step t moves each coordinate by lr/√t
    ...     opt.step([np.array([1.0, -100.0])])
    >>> np.round(w, 4)
    array([ 0.7216, -1.7216])
    """

    _state_layout = StateLayout(buffers=("sum",), fill={"sum": "initial_accumulator_value"})

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index, betas=False)
        check_at_least("lr_decay", group["lr_decay"], 0.0, group=index)
        check_at_least("initial_accumulator_value", group["initial_accumulator_value"], 0.0, group=index)

    def _operands(self, group, flat):
        return _kernels.adagrad, (flat["sum"],)

    def _scalars(self, group, state, dt):
        return _kernels.AdagradScalars(
            sign=dt(_sign(group)), l2=dt(group["weight_decay"]),
            lr=dt(adagrad_lr(group["lr"], state["step"], group["lr_decay"])), eps=dt(group["eps"]))


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton 2012), optionally centered and with momentum.

    .. math::
        d_t &= \pm g_t + \lambda\theta_{t-1} \\
        v_t &= \rho v_{t-1} + (1-\rho) d_t^2 \\
        \bar g_t &= \rho \bar g_{t-1} + (1-\rho) d_t \quad\text{(centered; else } \bar g_t = 0) \\
        s_t &= \frac{d_t}{\sqrt{v_t - \bar g_t^2} + \epsilon}, \qquad
        b_t = \mu b_{t-1} + s_t \quad\text{(momentum; else } b_t = s_t) \\
        \theta_t &= \theta_{t-1} - \alpha\, b_t

    Symbols: α → ``lr``, ρ → ``alpha`` (torch's name for the smoothing constant), ε → ``eps``,
    μ → ``momentum``, λ → ``weight_decay`` (added to g as an L2 term). No bias correction.
    Reference: `Tieleman & Hinton (2012), lecture 6.5
    <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_.

    Frameworks differ on ε: torch (and this class) add it outside the square root; optax's
    ``scale_by_rms`` and Keras put it inside, :math:`g/\sqrt{v + \epsilon}` — a different
    update whenever :math:`v` is comparable to ε.

    ``momentum`` and ``centered`` decide which buffers a parameter's state has when it is
    created. Switching either on after a parameter's first step is refused with an error that
    names the option (torch fails there with a KeyError); switched off, the buffer is kept,
    unused.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 1e-2
    alpha : float, default 0.99
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum : float, default 0
    centered : bool, default False
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.RMSprop([w], lr=0.01)
    >>> opt.step([2 * w])  # the first step moves every coordinate by lr / sqrt(1 - ρ), ε aside
    >>> np.round(w, 6)
    array([ 0.9, -1.9])
    """

    _state_layout = StateLayout(buffers=("square_avg",), optional={
        "momentum_buffer": OptionalBuffer("momentum", lambda group: group["momentum"] > 0),
        "grad_avg": OptionalBuffer("centered", lambda group: group["centered"]),
    })

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

    def _operands(self, group, flat):
        empty = empty_like(flat["square_avg"])
        return _kernels.rmsprop, (flat["square_avg"], flat.get("grad_avg", empty),
                                  flat.get("momentum_buffer", empty))

    def _scalars(self, group, state, dt):
        return _kernels.RMSpropScalars(
            centered=group["centered"], use_momentum=group["momentum"] > 0, sign=dt(_sign(group)),
            l2=dt(group["weight_decay"]), lr=dt(group["lr"]), w=dt(1.0 - group["alpha"]),
            eps=dt(group["eps"]), momentum=dt(group["momentum"]))


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), with AMSGrad (Reddi et al. 2018) and weight decay options.

    .. math::
        d_t &= \pm g_t + \lambda\theta_{t-1} \quad\text{(L2; } \lambda \to 0 \text{ here when decoupled)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) d_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t^2, \qquad m_0 = v_0 = 0 \\
        \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad
        \hat v_t = \frac{\max_{s\le t} v_s \text{ (AMSGrad) or } v_t}{1-\beta_2^t} \\
        \theta_t &= \delta\,\theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon},
        \qquad \delta = 1 - \alpha\lambda \text{ if decoupled, else } 1

    Symbols: α → ``lr``, β₁ → ``betas[0]``, β₂ → ``betas[1]``, ε → ``eps``,
    λ → ``weight_decay``; the sign is − with ``maximize``. References: `Kingma & Ba (2015)
    <https://arxiv.org/abs/1412.6980>`_; `Reddi et al. (2018)
    <https://openreview.net/forum?id=ryQu7f-RZ>`_ for AMSGrad.

    Frameworks differ: torch (and this class) add ε to :math:`\sqrt{\hat v_t}`, the paper's
    Algorithm 1; the paper's "efficient" form (§2) adds :math:`\hat\epsilon` to
    :math:`\sqrt{v_t}` instead, which equals it only for :math:`\hat\epsilon =
    \epsilon\sqrt{1-\beta_2^t}`. AMSGrad here takes the maximum of the raw :math:`v_t` and
    bias-corrects it, as torch does; Reddi et al. have no bias correction.

    ``amsgrad`` decides whether a parameter's state has ``max_exp_avg_sq``. Switching it on
    after a parameter's first step is refused with an error that names it (torch fails there
    with a KeyError); switched off, the buffer is kept, unused.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
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

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.Adam([w], lr=0.1)
    >>> opt.step([2 * w])  # the first step moves every coordinate by lr (ε aside)
    >>> w
    array([ 0.9, -1.9])
    """

    _state_layout = StateLayout(buffers=("exp_avg", "exp_avg_sq"), optional={
        "max_exp_avg_sq": OptionalBuffer("amsgrad", lambda group: group["amsgrad"])})
    _state_dicts_from = ("Adam", "AdamW")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)
        check_flag("amsgrad", group["amsgrad"], group=index)

    def _operands(self, group, flat):
        return _kernels.adam, (flat["exp_avg"], flat["exp_avg_sq"],
                               flat.get("max_exp_avg_sq", empty_like(flat["exp_avg"])))

    def _scalars(self, group, state, dt):
        t, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        l2, shrink = _weight_decay_terms(group, lr)
        return _kernels.AdamScalars(
            amsgrad=group["amsgrad"], sign=dt(_sign(group)), l2=dt(l2), shrink=dt(shrink), lr=dt(lr),
            w1=dt(1.0 - beta1), w2=dt(1.0 - beta2), c1=dt(1.0 / bias_correction(beta1, t)),
            c2=dt(1.0 / bias_correction(beta2, t)), eps=dt(group["eps"]))


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    .. math::
        \theta_t = (1 - \alpha\lambda)\,\theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` as in :class:`Adam`, computed from the gradient alone.
    This is **not** L2 regularisation: under Adam an L2 term λθ joins the gradient and is then
    divided by :math:`\sqrt{\hat v_t} + \epsilon`, so weights with large gradients are
    regularised less; here every weight decays at the same rate αλ. Reference:
    `Loshchilov & Hutter (2019) <https://arxiv.org/abs/1711.05101>`_.

    Frameworks differ: torch multiplies by :math:`1-\alpha\lambda` (decay tied to the learning
    rate, and so to its schedule); the paper multiplies by :math:`1-\eta_t\lambda` with a separate
    schedule multiplier :math:`\eta_t`. Same parameters as :class:`Adam`, except
    ``weight_decay`` defaults to 1e-2. An :class:`Adam` state dict loads into AdamW (the same
    state; its groups then decouple), as in torch.

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> opt.step([np.zeros(2)])  # no gradient: only the decay, θ ← (1 − αλ)θ
    >>> w
    array([ 0.95, -1.9 ])
    """

    _forced_options = {"decoupled_weight_decay": True}

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
        m_t = \beta_1 m_{t-1} + (1-\beta_1) d_t, \qquad
        u_t = \max(\beta_2 u_{t-1}, |d_t| + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \frac{\alpha}{1-\beta_1^t}\,\frac{m_t}{u_t}

    with :math:`d_t = \pm g_t + \lambda\theta_{t-1}`. Symbols: α → ``lr``, β₁, β₂ → ``betas``,
    ε → ``eps``, λ → ``weight_decay`` (L2). Reference: `Kingma & Ba (2015), §7.1
    <https://arxiv.org/abs/1412.6980>`_. Frameworks differ: torch (and this class) put ε
    inside the max; the paper has no ε.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.Adamax([w], lr=0.1)
    >>> opt.step([2 * w])  # the first step moves every coordinate by lr, ε aside
    >>> np.round(w, 6)
    array([ 0.9, -1.9])
    """

    _state_layout = StateLayout(buffers=("exp_avg", "exp_inf"))

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False, check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)

    def _operands(self, group, flat):
        return _kernels.adamax, (flat["exp_avg"], flat["exp_inf"])

    def _scalars(self, group, state, dt):
        beta1, beta2 = group["betas"]
        return _kernels.AdamaxScalars(
            sign=dt(_sign(group)), l2=dt(group["weight_decay"]), lr=dt(group["lr"]), w1=dt(1.0 - beta1),
            beta2=dt(beta2), c1=dt(1.0 / bias_correction(beta1, state["step"])), eps=dt(group["eps"]))


class NAdam(Optimizer):
    r"""NAdam (Dozat 2016): Adam with Nesterov momentum and a momentum schedule.

    .. math::
        \mu_t &= \beta_1\bigl(1 - \tfrac12\,0.96^{t\psi}\bigr), \qquad
        \Pi_t = \textstyle\prod_{i\le t}\mu_i \\
        \theta_t &= \delta\theta_{t-1} - \alpha\left(\frac{1-\mu_t}{1-\Pi_t}\,d_t
            + \frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\,m_t\right)\Big/\left(\sqrt{\hat v_t} + \epsilon\right)

    with :math:`d_t, m_t, \hat v_t` and δ as in :class:`Adam`. Symbols: α → ``lr``, β →
    ``betas``, ε → ``eps``, ψ → ``momentum_decay``, λ → ``weight_decay``. The running product
    :math:`\Pi_t` is kept in double precision in ``state["mu_product"]``. Reference:
    `Dozat (2016) <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`_.

    Frameworks differ: torch keeps ``mu_product`` as a tensor of its default dtype (float32
    unless changed), so for float64 parameters its scale factors carry float32 rounding (about
    1e-7 relative); after 300 steps the weights differ from this class's by about 1e-10.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum_decay : float, default 4e-3
    decoupled_weight_decay : bool, default False
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.NAdam([w], lr=0.1)
    >>> for _ in range(100):
    ...     opt.step([2 * w])
    >>> bool(np.all(np.abs(w) < 0.1))
    True
    """

    _state_layout = StateLayout(buffers=("exp_avg", "exp_avg_sq"), scalars={"step": 0, "mu_product": 1.0})

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

    def _operands(self, group, flat):
        return _kernels.nadam, (flat["exp_avg"], flat["exp_avg_sq"])

    def _advance(self, group, state):
        t = state["step"] + 1
        dict.__setitem__(state, "step", t)
        dict.__setitem__(state, "mu_product",
                         state["mu_product"] * nadam_momentum(group["betas"][0], t, group["momentum_decay"]))

    def _scalars(self, group, state, dt):
        t, lr, mu_product = state["step"], group["lr"], state["mu_product"]
        beta1, beta2 = group["betas"]
        mu = nadam_momentum(beta1, t, group["momentum_decay"])
        mu_next = nadam_momentum(beta1, t + 1, group["momentum_decay"])
        l2, shrink = _weight_decay_terms(group, lr)
        return _kernels.NAdamScalars(
            sign=dt(_sign(group)), l2=dt(l2), shrink=dt(shrink), w1=dt(1.0 - beta1), w2=dt(1.0 - beta2),
            c2=dt(1.0 / bias_correction(beta2, t)), eps=dt(group["eps"]),
            grad_coef=dt(lr * (1.0 - mu) / (1.0 - mu_product)),
            avg_coef=dt(lr * mu_next / (1.0 - mu_product * mu_next)))


class RAdam(Optimizer):
    r"""RAdam (Liu et al. 2020): Adam with the variance of its adaptive rate rectified.

    .. math::
        \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
        \theta_t &= \delta\theta_{t-1} - \alpha\,\hat m_t \cdot
        \begin{cases} r_t\,\dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5 \\[1ex]
                      1 & \text{otherwise (momentum SGD)} \end{cases} \\
        r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

    with :math:`\hat m_t, v_t` and δ as in :class:`Adam`. Symbols: α → ``lr``, β → ``betas``,
    ε → ``eps``, λ → ``weight_decay``. Reference: `Liu et al. (2020)
    <https://arxiv.org/abs/1908.03265>`_.

    Frameworks differ: torch (and this class) switch at :math:`\rho_t > 5` and add ε to the
    uncorrected :math:`\sqrt{v_t}`; the paper switches at :math:`\rho_t > 4` and has no ε.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    decoupled_weight_decay : bool, default False
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.array([1.0, -2.0])
    >>> opt = adamlib.RAdam([w], lr=0.1)
    >>> opt.step([2 * w])  # ρ₁ ≤ 5: the first steps are momentum SGD, θ ← θ − α m̂
    >>> w
    array([ 0.8, -1.6])
    """

    _state_layout = StateLayout(buffers=("exp_avg", "exp_avg_sq"))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    def _check_group(self, group, index):
        _check_common(group, index)

    def _operands(self, group, flat):
        return _kernels.radam, (flat["exp_avg"], flat["exp_avg_sq"])

    def _scalars(self, group, state, dt):
        t, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        rho_inf, rho_t = radam_rho(beta2, t)
        rectified = rho_t > 5.0
        rect_scale = radam_rectification(rho_inf, rho_t) * bias_correction(beta2, t) ** 0.5 if rectified else 1.0
        l2, shrink = _weight_decay_terms(group, lr)
        return _kernels.RAdamScalars(
            rectified=rectified, sign=dt(_sign(group)), l2=dt(l2), shrink=dt(shrink), w1=dt(1.0 - beta1),
            w2=dt(1.0 - beta2), step_size=dt(lr / bias_correction(beta1, t)), rect_scale=dt(rect_scale),
            eps=dt(group["eps"]))
