r"""SymPy update rules: the definition of the math, for the book's derivations and the tests.

Every optimizer step is written once, symbolically, in the textbook form of its paper (Duchi
et al. 2011 for Adagrad, Kingma & Ba 2015 for Adam and Adamax, Reddi et al. 2018 for AMSGrad,
Loshchilov & Hutter 2019 for AdamW, Dozat 2016 for NAdam, Liu et al. 2020 for RAdam, Tieleman
& Hinton 2012 for RMSprop, Polyak 1964 and Sutskever et al. 2013 for momentum). Where
``torch.optim`` departs from the paper, the rule follows torch, because adamlib does; each such
place is documented in :func:`rule`.

>>> from adamlib.symbolic import S, rule
>>> adam = rule("adam")
>>> adam.names
('theta', 'g', 'm', 'v', 't', 'alpha', 'beta1', 'beta2', 'eps')
>>> step = adam.lambdify()
>>> out = step(theta=1.0, g=0.5, m=0.0, v=0.0, t=1, alpha=0.1, beta1=0.9, beta2=0.999, eps=0.0)
>>> round(float(out["theta"]), 12)
0.9

**Symbols.** :data:`S` holds the shared symbols; the notation table of :mod:`adamlib` maps
each to its keyword here, its torch/adamlib argument or state key, and its kernel scalar.
Inputs are the values *before* the step (``m`` is :math:`m_{t-1}`), except ``g``, the gradient
:math:`g_t` of this step, and ``t``, the index of this step (1 for the first); outputs are the
values after it.

The lambdified functions take these *keywords* (``eps``, ``lam``, …), which are the
attribute names in :data:`S`; the symbols print as Greek letters.

Two gradient transformations are not part of the rules, because they are the same for all of
them: ``maximize`` is :math:`g \to -g` and coupled (L2) weight decay is
:math:`g \to g + \lambda\theta`. Apply them with :meth:`Rule.subs`, e.g.
``rule("adam").subs(S.g, S.g + S.lam * S.theta)`` is Adam with ``weight_decay=λ``.
"""

from __future__ import annotations

try:
    import sympy as sp
except ImportError as exc:  # pragma: no cover - exercised only without sympy
    raise ImportError(
        "adamlib.symbolic needs SymPy, which is not installed; install it with "
        "`pip install sympy` (or `pip install adamlib[symbolic]`). The rest of adamlib works "
        "without it."
    ) from exc

import math

import numpy as np

__all__ = [
    "S", "Rule", "rule", "RULES", "ema_unrolled", "bias_correction", "adam_first_step",
    "nadam_mu", "radam_rho_inf", "radam_rho_t", "radam_rectification", "IndexedRule",
    "adafactor_rule",
]


class _Symbols:
    """The shared SymPy symbols, as attributes; see the table in the module docstring."""

    def __init__(self):
        real, nonneg, pos = dict(real=True), dict(nonnegative=True), dict(positive=True)
        spec = [  # (keyword, printed name, assumptions); the order is the order of inputs
            ("theta", "theta", real), ("g", "g", real), ("m", "m", real), ("v", "v", nonneg),
            ("vmax", "v_max", nonneg), ("u", "u", nonneg), ("s", "s", nonneg), ("b", "b", real),
            ("gbar", "gbar", real), ("Pi", "Pi", pos),
            ("t", "t", dict(integer=True, positive=True)),
            ("alpha", "alpha", pos), ("beta1", "beta1", pos), ("beta2", "beta2", pos),
            ("eps", "epsilon", pos), ("lam", "lamda", nonneg), ("mu", "mu", pos),
            ("dampening", "tau", real), ("rho", "rho", pos), ("psi", "psi", nonneg),
            ("eta", "eta", nonneg),
        ]
        self._by_name = {}
        for keyword, printed, assumptions in spec:
            symbol = sp.Symbol(printed, **assumptions)
            setattr(self, keyword, symbol)
            self._by_name[keyword] = symbol
        self._names = {symbol: keyword for keyword, symbol in self._by_name.items()}

    @property
    def symbols(self) -> dict:
        """``{keyword: Symbol}`` in the canonical order."""
        return dict(self._by_name)

    def name_of(self, symbol) -> str:
        """The keyword of ``symbol`` (its attribute name here), or ``str(symbol)`` if not shared."""
        return self._names.get(symbol, str(symbol))

    def order(self, symbol) -> tuple:
        """Sort key: shared symbols in canonical order, then others by name."""
        keys = list(self._by_name)
        name = self.name_of(symbol)
        return (keys.index(name), "") if name in self._by_name else (len(keys), name)

    def __repr__(self):
        return "S(" + ", ".join(f"{k}={v}" for k, v in self._by_name.items()) + ")"


#: The shared symbols (see the module docstring for their meanings and torch names).
S = _Symbols()

#: How each hyperparameter keyword is read from a torch/adamlib parameter group.
_HYPERPARAMETERS = {
    "alpha": lambda group: group["lr"],
    "beta1": lambda group: group["betas"][0],
    "beta2": lambda group: group["betas"][1],
    "eps": lambda group: group["eps"],
    "lam": lambda group: group["weight_decay"],
    "mu": lambda group: group["momentum"],
    "dampening": lambda group: group["dampening"],
    "rho": lambda group: group["alpha"],
    "psi": lambda group: group["momentum_decay"],
    "eta": lambda group: group["lr_decay"],
}


def _sqrt(x):
    """numpy's sqrt, except that a scalar stays a Python float (which cannot promote an array)."""
    if isinstance(x, (int, float, np.generic)) and not isinstance(x, np.complexfloating):
        x = float(x)
        return math.sqrt(x) if x >= 0 else math.nan
    return np.sqrt(x)


class Rule:
    """One optimizer step as SymPy expressions of the state before the step.

    Attributes
    ----------
    name : str
    inputs : tuple of sympy.Symbol
        The free symbols of the outputs, in a fixed order: θ, g, the state variables (m, v,
        v_max, u, s, b, ḡ, Π), the step t, then the hyperparameters (α, β₁, β₂, ε, λ, μ, τ, ρ,
        ψ, η) — the order of :data:`S`.
    names : tuple of str
        The keywords of :attr:`inputs` (``S`` attribute names), accepted by :meth:`lambdify`.
    outputs : dict
        SymPy expressions of the values after the step, in terms of :attr:`inputs` only, keyed by the keyword of
        the state variable they replace (``"m"``, ``"v"``, …) and ``"theta"`` for the parameter
        (always last).
    state_keys : dict
        Output keyword → adamlib/torch state key (``"m"`` → ``"exp_avg"``, …).

    Methods: :meth:`lambdify` (numpy function of the inputs), :meth:`subs` (a new rule, e.g.
    with L2 weight decay or β₁ = 0), :meth:`arguments` (the inputs read off an adamlib or torch
    optimizer's group and state, to compare the rule with it).
    """

    def __init__(self, name: str, outputs: dict, state_keys: dict | None = None):
        self.name = name
        self.outputs = {k: sp.sympify(e) for k, e in outputs.items()}
        free = set().union(*(e.free_symbols for e in self.outputs.values()))
        self.inputs = tuple(sorted(free, key=S.order))
        self.names = tuple(S.name_of(s) for s in self.inputs)
        self.state_keys = {k: v for k, v in (state_keys or {}).items() if k in self.outputs}

    def __repr__(self):
        return (f"Rule({self.name!r}, inputs=({', '.join(self.names)}), "
                f"outputs=({', '.join(self.outputs)}))")

    def subs(self, *args, name: str | None = None) -> "Rule":
        """A new rule with ``expr.subs(*args)`` applied to every output.

        ``rule("adam").subs(S.beta1, 0)`` is Adam without momentum;
        ``rule("adam").subs(S.g, S.g + S.lam * S.theta)`` is Adam with coupled (L2) weight
        decay; ``.subs(S.g, -S.g)`` is ``maximize=True``. Inputs are recomputed from the new
        outputs' free symbols.
        """
        outputs = {k: e.subs(*args) for k, e in self.outputs.items()}
        return Rule(name or self.name, outputs, self.state_keys)

    def lambdify(self):
        """A numpy function ``f(**inputs) -> {output keyword: value}``.

        ``f`` takes exactly :attr:`names` as keywords; arrays broadcast elementwise and keep
        their dtype: scalar inputs (numpy ones included) and scalar subexpressions such as
        :math:`\\sqrt{1-\\beta_2^t}` are evaluated as Python floats, in double precision,
        which numpy does not let promote a float32 array. A rule with
        a ``Piecewise`` (RAdam) evaluates both branches with numpy and selects one; the
        warnings of the unused branch (a square root of a negative number) are silenced.
        """
        keys = list(self.outputs)
        fn = sp.lambdify(self.inputs, [self.outputs[k] for k in keys],
                         modules=[{"sqrt": _sqrt}, "numpy"])
        names = self.names
        quiet = any(e.has(sp.Piecewise) for e in self.outputs.values())
        rule_name = self.name

        def update(**values):
            if set(values) != set(names):
                missing = sorted(set(names) - set(values))
                unknown = sorted(set(values) - set(names))
                raise TypeError(f"rule {rule_name!r} takes keywords {names}; "
                                f"missing {missing}, unknown {unknown}")
            # 0-d inputs become Python numbers so that they do not promote the arrays' dtype.
            args = [v.item() if isinstance(v, (np.ndarray, np.generic)) and v.ndim == 0 else v
                    for v in (values[n] for n in names)]
            if quiet:
                with np.errstate(invalid="ignore", divide="ignore"):
                    results = fn(*args)
            else:
                results = fn(*args)
            return dict(zip(keys, results))

        update.__name__ = f"{rule_name}_update"
        update.__doc__ = f"Lambdified {self!r}."
        return update

    def arguments(self, param, grad, state: dict, group: dict) -> dict:
        """The keyword arguments of :meth:`lambdify`'s function for one adamlib/torch step.

        Parameters
        ----------
        param, grad : array
            The parameter before the step and its gradient.
        state : dict
            The parameter's optimizer state *before* the step (``opt.state[i]``); ``t`` is
            ``state["step"] + 1``.
        group : dict
            Its parameter group (``opt.param_groups[k]``), read for the hyperparameters.
        """
        key_of = {"m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq", "u": "exp_inf",
                  "s": "sum", "b": "momentum_buffer", "gbar": "grad_avg", "Pi": "mu_product", **self.state_keys}
        values = {}
        for name in self.names:
            if name == "theta":
                values[name] = param
            elif name == "g":
                values[name] = grad
            elif name == "t":
                values[name] = state["step"] + 1
            elif name in _HYPERPARAMETERS:
                values[name] = _HYPERPARAMETERS[name](group)
            else:
                values[name] = state[key_of[name]]
        return values


# --------------------------------------------------------------------------- derived quantities
def ema_unrolled(beta=S.beta1, t=S.t, x=None):
    r"""The closed form of an EMA started at zero, as a weighted sum of its inputs.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) x_t,\quad m_0 = 0
        \;\Longrightarrow\;
        m_t = \sum_{i=1}^{t} (1-\beta)\,\beta^{t-i}\, x_i

    Parameters
    ----------
    beta : sympy expression, default ``S.beta1``
    t : int or sympy expression, default ``S.t``
        With an integer ``t`` the sum is written out term by term.
    x : sympy.IndexedBase, optional
        The sequence averaged; default ``IndexedBase("g")``.

    Returns
    -------
    sympy.Sum (symbolic t) or sympy.Expr (integer t)
    """
    x = sp.IndexedBase("g") if x is None else x
    i = sp.Symbol("i", integer=True, positive=True)
    total = sp.Sum((1 - beta) * beta ** (t - i) * x[i], (i, 1, t))
    return total.doit() if isinstance(t, int) else total


def bias_correction(beta=S.beta1, t=S.t):
    r"""The total weight of a zero-started EMA after t steps, :math:`1-\beta^t`.

    It is the sum of the weights of :func:`ema_unrolled`,
    :math:`\sum_{i=1}^t (1-\beta)\beta^{t-i} = 1-\beta^t`, so dividing by it turns the EMA into
    a weighted *mean* of the inputs (Kingma & Ba 2015, §3).
    """
    return 1 - beta**t


def _adam_theta(corrected: bool):
    """Adam's new θ from (θ, g, m, v, t), with or without bias correction."""
    m_t = S.beta1 * S.m + (1 - S.beta1) * S.g
    v_t = S.beta2 * S.v + (1 - S.beta2) * S.g**2
    if corrected:
        m_t, v_t = m_t / bias_correction(S.beta1), v_t / bias_correction(S.beta2)
    return S.theta - S.alpha * m_t / (sp.sqrt(v_t) + S.eps)


def adam_first_step(corrected: bool = True):
    r"""Adam's first update :math:`\Delta\theta_1 = \theta_1 - \theta_0` from :math:`m_0 = v_0 = 0`.

    .. math::
        \Delta\theta_1 = -\alpha\,\frac{g}{|g| + \epsilon} \quad\text{(corrected)},\qquad
        \Delta\theta_1 = -\alpha\,\frac{(1-\beta_1)\,g}{\sqrt{1-\beta_2}\,|g| + \epsilon}
        \quad\text{(uncorrected)}

    so with ε → 0 the corrected step is exactly :math:`\alpha` in size and the uncorrected one
    :math:`\alpha(1-\beta_1)/\sqrt{1-\beta_2}` (≈ 3.16 α at the defaults): too large, not zero.
    """
    theta = _adam_theta(corrected).subs({S.m: 0, S.v: 0, S.t: 1})
    return sp.simplify(theta - S.theta)


def nadam_mu(t=S.t, beta1=S.beta1, psi=S.psi):
    r"""NAdam's momentum schedule, with torch's constants: :math:`\mu_t = \beta_1(1 - \tfrac12\,0.96^{t\psi})`.

    Dozat (2016) uses ψ = 0.004 (torch's default ``momentum_decay``), so :math:`\mu_t` rises
    from about :math:`\beta_1/2` towards :math:`\beta_1` over thousands of steps.
    """
    return beta1 * (1 - sp.Rational(1, 2) * sp.Rational(24, 25) ** (t * psi))


def radam_rho_inf(beta2=S.beta2):
    r""":math:`\rho_\infty = \frac{2}{1-\beta_2} - 1`, the length of the SMA that RAdam likens the EMA to."""
    return 2 / (1 - beta2) - 1


def radam_rho_t(beta2=S.beta2, t=S.t):
    r""":math:`\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}` (Liu et al. 2020)."""
    return radam_rho_inf(beta2) - 2 * t * beta2**t / bias_correction(beta2, t)


def radam_rectification(rho_t=None, rho_inf=None, *, beta2=S.beta2, t=S.t):
    r"""RAdam's variance rectification term, real for :math:`\rho_t > 4`.

    .. math:: r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}

    ``rho_t`` and ``rho_inf`` default to :func:`radam_rho_t` and :func:`radam_rho_inf` of
    ``beta2`` and ``t``; pass symbols to get the formula in terms of ρ.
    """
    rho_t = radam_rho_t(beta2, t) if rho_t is None else rho_t
    rho_inf = radam_rho_inf(beta2) if rho_inf is None else rho_inf
    return sp.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


# --------------------------------------------------------------------------- the rules
def _ema(previous, x, beta):
    return beta * previous + (1 - beta) * x


def _build(name: str) -> Rule:
    th, g, a, eps = S.theta, S.g, S.alpha, S.eps
    b1, b2, t = S.beta1, S.beta2, S.t
    adam_keys = {"m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq", "u": "exp_inf",
                 "Pi": "mu_product"}
    if name == "sgd":
        return Rule(name, {"theta": th - a * g})
    if name == "sgd_momentum":
        b = S.mu * S.b + (1 - S.dampening) * g
        return Rule(name, {"b": b, "theta": th - a * b}, {"b": "momentum_buffer"})
    if name == "sgd_nesterov":
        b = S.mu * S.b + g
        return Rule(name, {"b": b, "theta": th - a * (g + S.mu * b)}, {"b": "momentum_buffer"})
    if name == "adagrad":
        s = S.s + g**2
        return Rule(name, {"s": s, "theta": th - a / (1 + (t - 1) * S.eta) * g / (sp.sqrt(s) + eps)},
                    {"s": "sum"})
    if name == "rmsprop":
        v = _ema(S.v, g**2, S.rho)
        return Rule(name, {"v": v, "theta": th - a * g / (sp.sqrt(v) + eps)}, {"v": "square_avg"})
    if name == "rmsprop_centered":
        v = _ema(S.v, g**2, S.rho)
        gbar = _ema(S.gbar, g, S.rho)
        return Rule(name, {"v": v, "gbar": gbar, "theta": th - a * g / (sp.sqrt(v - gbar**2) + eps)},
                    {"v": "square_avg", "gbar": "grad_avg"})
    m = _ema(S.m, g, b1)
    v = _ema(S.v, g**2, b2)
    m_hat = m / bias_correction(b1, t)
    if name in ("adam", "adamw"):
        step = a * m_hat / (sp.sqrt(v / bias_correction(b2, t)) + eps)
        shrink = (1 - a * S.lam) if name == "adamw" else 1
        return Rule(name, {"m": m, "v": v, "theta": shrink * th - step}, adam_keys)
    if name == "amsgrad":
        vmax = sp.Max(S.vmax, v)
        step = a * m_hat / (sp.sqrt(vmax / bias_correction(b2, t)) + eps)
        return Rule(name, {"m": m, "v": v, "vmax": vmax, "theta": th - step}, adam_keys)
    if name == "adamax":
        u = sp.Max(b2 * S.u, sp.Abs(g) + eps)
        return Rule(name, {"m": m, "u": u, "theta": th - a / bias_correction(b1, t) * m / u}, adam_keys)
    if name == "nadam":
        mu_t, mu_next = nadam_mu(t), nadam_mu(t + 1)
        pi_t = S.Pi * mu_t
        direction = (1 - mu_t) / (1 - pi_t) * g + mu_next / (1 - pi_t * mu_next) * m
        theta = th - a * direction / (sp.sqrt(v / bias_correction(b2, t)) + eps)
        return Rule(name, {"m": m, "v": v, "Pi": pi_t, "theta": theta}, adam_keys)
    if name in ("radam", "radam_rectified", "radam_unrectified"):
        adaptive = sp.sqrt(bias_correction(b2, t)) / (sp.sqrt(v) + eps)
        rectified = th - a * m_hat * radam_rectification() * adaptive
        unrectified = th - a * m_hat
        theta = {"radam_rectified": rectified, "radam_unrectified": unrectified}.get(
            name, sp.Piecewise((rectified, radam_rho_t() > 5), (unrectified, True)))
        return Rule(name, {"m": m, "v": v, "theta": theta}, adam_keys)
    raise ValueError(f"unknown rule {name!r}; expected one of {RULES}")


#: The names :func:`rule` accepts.
RULES = ("sgd", "sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "rmsprop_centered", "adam",
         "amsgrad", "adamw", "adamax", "nadam", "radam", "radam_rectified", "radam_unrectified")

_CACHE: dict[str, Rule] = {}


def rule(name: str) -> Rule:
    r"""The update rule ``name`` (one of :data:`RULES`) as a :class:`Rule`.

    ``sgd``
        :math:`\theta - \alpha g`.
    ``sgd_momentum``
        torch's heavy ball: :math:`b_t = \mu b + (1-\tau) g,\ \theta_t = \theta - \alpha b_t`
        (μ → ``momentum``, τ → ``dampening``). torch's *first* step copies the gradient
        undamped, :math:`b_1 = g_1`; the rule gives that from :math:`b_0 = 0` only when τ = 0.
        The buffer sums gradients (steady state :math:`g/(1-\mu)`); the "EMA" form of many
        texts, :math:`b_t = \mu b + (1-\mu) g` with step α, gives the same iterates as this
        rule with τ = 0 and step :math:`\alpha(1-\mu)`.
    ``sgd_nesterov``
        torch's Nesterov form (Sutskever et al. 2013, rewritten at the look-ahead point):
        :math:`b_t = \mu b + g,\ \theta_t = \theta - \alpha(g + \mu b_t)`.
    ``adagrad``
        Duchi et al.'s diagonal AdaGrad with torch's additions: :math:`s_t = s + g^2`,
        :math:`\theta_t = \theta - \frac{\alpha}{1+(t-1)\eta}\, g/(\sqrt{s_t} + \epsilon)`
        (η → ``lr_decay``; the paper has no decay). ``initial_accumulator_value`` is the
        :math:`s` of the first step, not part of the rule.
    ``rmsprop``
        :math:`v_t = \rho v + (1-\rho) g^2,\ \theta_t = \theta - \alpha g / (\sqrt{v_t} + \epsilon)`.
        ε outside the root, as torch (Keras and optax put it inside); ρ is torch's ``alpha``.
    ``rmsprop_centered``
        as ``rmsprop`` with :math:`\bar g_t = \rho \bar g + (1-\rho) g` and
        :math:`\sqrt{v_t - \bar g_t^2}` in the denominator (Graves 2013; torch's ``centered``).
    ``adam``
        Kingma & Ba's Algorithm 1: :math:`\hat m_t = m_t/(1-\beta_1^t)`,
        :math:`\hat v_t = v_t/(1-\beta_2^t)`,
        :math:`\theta_t = \theta - \alpha \hat m_t/(\sqrt{\hat v_t} + \epsilon)`
        — ε outside the root of the *corrected* :math:`\hat v_t`, which is also torch's form.
    ``amsgrad``
        torch's AMSGrad: :math:`v^{\max}_t = \max(v^{\max}, v_t)` of the raw EMA, then
        bias-corrected like Adam's :math:`v_t`; Reddi et al. (2018) have no bias correction.
    ``adamw``
        :math:`\theta_t = (1 - \alpha\lambda)\theta - \alpha \hat m_t/(\sqrt{\hat v_t}+\epsilon)`:
        torch ties the decay to the learning rate; Loshchilov & Hutter multiply
        :math:`\lambda\theta` by a schedule multiplier :math:`\eta_t` instead of α.
    ``adamax``
        :math:`u_t = \max(\beta_2 u, |g| + \epsilon)`,
        :math:`\theta_t = \theta - \frac{\alpha}{1-\beta_1^t} m_t / u_t`; torch adds ε inside
        the max (the paper has none).
    ``nadam``
        torch's NAdam with Dozat's momentum schedule :func:`nadam_mu`:
        :math:`\Pi_t = \Pi\,\mu_t` and
        :math:`\theta_t = \theta - \alpha\,[\frac{1-\mu_t}{1-\Pi_t} g +
        \frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}} m_t] / (\sqrt{\hat v_t} + \epsilon)`.
    ``radam``
        a ``Piecewise`` on :math:`\rho_t > 5` (torch's threshold; the paper uses 4) between
        ``radam_rectified``,
        :math:`\theta - \alpha \hat m_t\, r_t \sqrt{1-\beta_2^t}/(\sqrt{v_t} + \epsilon)` — ε on
        the *uncorrected* root, as torch (the paper has no ε) — and ``radam_unrectified``,
        :math:`\theta - \alpha \hat m_t` (SGD with bias-corrected momentum). The two branches
        are also rules of their own, for derivations that need no ``Piecewise``.

    Rules are built once and cached; :class:`Rule` objects are not modified by any method.
    """
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; expected one of {RULES}")
    if name not in _CACHE:
        _CACHE[name] = _build(name)
    return _CACHE[name]



# --------------------------------------------------------------------------- Adafactor
# Its rule needs sums over rows, columns and the whole tensor: a rule of its own kind, in its
# own module (which takes the shared symbols from this one, defined above).
from ._indexed_rules import IndexedRule, adafactor_rule  # noqa: E402
