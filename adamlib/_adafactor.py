r"""Adafactor: the optimizer whose state is smaller than its parameters.

Its state layout is the one place in adamlib where a state buffer does not have its
parameter's shape: a matrix keeps a row factor and a column factor of its second moment
(torch's ``row_var`` and ``col_var``), a vector an elementwise one (``variance``). The layout
says so (:class:`FactoredLayout`), so that state checks, state dicts and checkpoints treat
these buffers like every other; the kernels are those of :mod:`adamlib._factored`.
"""

from __future__ import annotations

import numpy as np

from . import _factored
from ._optimizer import Optimizer
from ._state import StateLayout
from ._validation import check_at_least, check_flag, check_real


class FactoredLayout(StateLayout):
    """Adafactor's state: ``row_var`` and ``col_var`` for a parameter of two or more dimensions,
    factored over its last two (shapes ``(..., n, 1)`` and ``(..., 1, m)``, as torch keeps
    them); ``variance`` of the parameter's shape for a vector or a scalar."""

    def shapes(self, param: np.ndarray) -> dict:
        shape = param.shape
        if param.ndim > 1:
            return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1])}
        return {"variance": shape}

    def views(self, state: dict) -> dict:
        views = super().views(state)  # flat; the factors as (matrices, rows) and (matrices, columns)
        if "row_var" in state:
            views["row_var"] = state["row_var"].reshape(-1, state["row_var"].shape[-2])
            views["col_var"] = state["col_var"].reshape(-1, state["col_var"].shape[-1])
        return views


def _check_eps(eps, index: int) -> None:
    if not isinstance(eps, tuple) or len(eps) != 2:
        raise ValueError(f"eps in param_groups[{index}] must be a pair (eps1, eps2), got {eps!r}; "
                         "eps1 may be None (the parameters' machine epsilon)")
    if eps[0] is not None:
        check_at_least("eps1 (eps[0])", eps[0], 0.0, group=index)
    check_at_least("eps2 (eps[1])", eps[1], 0.0, group=index)


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern 2018): a factored second moment and a relative step size.

    .. math::
        \hat\beta_{2,t} &= 1 - t^{\kappa}, \qquad \rho_t = \min(\alpha, 1/\sqrt t), \qquad
        a_t = \rho_t \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1})) \\
        R_t &= \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,\tfrac1m (g_t^2)\,1_m, \qquad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\tfrac1n 1_n^\top (g_t^2) \\
        \hat V_t &= \frac{R_t C_t}{\max(\tfrac1n 1_n^\top R_t,\ \epsilon_1)}
            \quad\text{(a matrix; a vector keeps } \hat V_t = \hat\beta_{2,t}\hat V_{t-1}
            + (1-\hat\beta_{2,t})\,g_t^2\text{)} \\
        U_t &= \frac{\pm g_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \qquad
        \theta_t = (1-\alpha\lambda)\,\theta_{t-1} - \frac{a_t}{\max(1, \mathrm{RMS}(U_t)/d)}\,U_t

    for an n × m matrix (a tensor of more dimensions is factored over its last two, slice by
    slice), with :math:`R_0 = C_0 = \hat V_0 = 0`; RMS is over the whole tensor. Symbols:
    α → ``lr``, κ → ``beta2_decay``, (ε₁, ε₂) → ``eps`` (ε₁ = None means the dtype's machine
    epsilon), d → ``d``, λ → ``weight_decay``; the sign is − with ``maximize``. Reference:
    `Shazeer & Stern (2018) <https://arxiv.org/abs/1804.04235>`_.

    The state of an n × m matrix holds n + m numbers where Adam's holds 2nm: the memory the
    method is named for. The factored :math:`\hat V` is the rank-one matrix nearest to the
    moving average of :math:`g^2` in generalised Kullback–Leibler divergence.

    Frameworks differ (this class follows torch 2.13): the paper has no ``lr`` (torch caps
    :math:`\rho_t` at α, the paper at 0.01, and uses α for the decoupled weight decay, which
    the paper leaves open); torch adds ε₁ to no sum but clamps :math:`\bar R` and
    :math:`\hat V` from below, where the paper adds ε₁ = 1e-30 to :math:`g^2`; and torch
    averages squares where the paper sums them (the same :math:`\hat V`). There is no first
    moment (the paper's β₁ = 0 setting) and no bias correction: :math:`\hat\beta_{2,1} = 0`.

    Parameters
    ----------
    params : sequence of arrays, of (name, array) pairs, or of parameter-group dicts
    lr : float, default 1e-2
    beta2_decay : float, default -0.8
        Must be <= 0.
    eps : (float or None, float), default (None, 1e-3)
    d : float, default 1.0
        The clipping threshold; must be >= 1.
    weight_decay : float, default 0
    maximize : bool, default False
    check_finite : bool, default False

    Examples
    --------
    >>> import numpy as np, adamlib
    >>> w = np.full((2, 3), 2.0)
    >>> opt = adamlib.Adafactor([w])
    >>> opt.step([np.ones((2, 3))])  # first step: θ ← θ − ρ₁ RMS(θ) U, with ρ₁ = lr and U = 1
    >>> w
    array([[1.98, 1.98, 1.98],
           [1.98, 1.98, 1.98]])
    >>> sorted((key, value.shape) for key, value in opt.state[0].items() if key != "step")
    [('col_var', (1, 3)), ('row_var', (2, 1))]
    """

    _state_layout = FactoredLayout()

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                 *, maximize=False, check_finite=False):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults, check_finite=check_finite)

    @classmethod
    def _normalised(cls, options: dict) -> dict:
        if isinstance(options.get("eps"), list):
            options["eps"] = tuple(options["eps"])
        return super()._normalised(options)

    def _check_group(self, group, index):
        check_at_least("learning rate (lr)", group["lr"], 0.0, group=index)
        if check_real("beta2_decay", group["beta2_decay"], group=index) > 0:
            raise ValueError(f"Invalid beta2_decay in param_groups[{index}]: {group['beta2_decay']!r} "
                             "(must be <= 0, so that 1 - t**beta2_decay grows towards 1)")
        _check_eps(tuple(group["eps"]) if isinstance(group["eps"], list) else group["eps"], index)
        check_at_least("d", group["d"], 1.0, group=index)
        check_at_least("weight_decay", group["weight_decay"], 0.0, group=index)
        check_flag("maximize", group["maximize"], group=index)

    def _operands(self, group, flat):
        if "row_var" in flat:
            return _factored.adafactor_matrix, (flat["row_var"], flat["col_var"])
        return _factored.adafactor_vector, (flat["variance"],)

    def _scalars(self, group, state, dt):
        t, lr = state["step"], float(group["lr"])
        eps1, eps2 = group["eps"]
        return _factored.AdafactorScalars(
            sign=dt(-1 if group["maximize"] else 1), shrink=dt(1.0 - lr * group["weight_decay"]),
            w2=dt(t ** float(group["beta2_decay"])),
            eps1=dt(np.finfo(dt).eps if eps1 is None else eps1),
            rho=min(lr, 1.0 / t**0.5), eps2=float(eps2), d=float(group["d"]))
