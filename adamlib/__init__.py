r"""adamlib: fused, Numba-compiled optimizer kernels for numpy, with torch.optim's API.

>>> import numpy as np, adamlib
>>> w = np.zeros(3, dtype=np.float32)
>>> opt = adamlib.Adam([w], lr=0.1)
>>> opt.step([np.ones(3, dtype=np.float32)])
>>> w
array([-0.1, -0.1, -0.1], dtype=float32)

Modules: :mod:`adamlib.optimizers` (the optimizers), :mod:`adamlib.schedules`,
:mod:`adamlib.clipping`, :mod:`adamlib.checkpoint`, :mod:`adamlib.buffer`,
:mod:`adamlib.reference` (plain numpy oracles), :mod:`adamlib.problems` (test objectives) and
:mod:`adamlib.symbolic` (SymPy update rules; needs sympy, imported on first use) and
:mod:`adamlib.compare` (the comparison protocol the book's experiments run under); ``adamlib.torch``
(``torch.optim`` subclasses stepped by these kernels; needs torch, never imported by
``import adamlib``).

**Which module is the truth for what.** Each update rule exists three times, written three
ways, and the tests hold each against the others:

* :mod:`adamlib.symbolic` *defines the math*: the SymPy rule of each optimizer, in the form of
  its paper (adjusted where torch departs from it). The chapters derive from it, and
  ``tests/test_symbolic.py`` checks the compiled optimizers against its lambdified rules.
* :mod:`adamlib.reference` is the *readable oracle*: plain numpy, textbook formulas, one pure
  function per algorithm. ``tests/test_reference.py`` checks the optimizers against it on every
  option combination, and ``tests/test_torch_oracle.py`` checks both against ``torch.optim``.
* The kernels (``adamlib._kernels``, composed from the scalar functions of ``adamlib._scalar``)
  are the *fast path* the optimizers run; they import neither of the other two, and neither
  imports them.

**Notation.** One vocabulary in every docstring — the optimizers', the reference's, the
kernels' and the SymPy rules' (whose keyword is the attribute of :data:`adamlib.symbolic.S`):

======  ====================  ===============================  ================================
symbol  SymPy keyword         argument or state key (torch's)  kernel scalar
======  ====================  ===============================  ================================
θ       ``theta``             the parameter array              ``param``
g       ``g``                 the gradient array               ``grad``
d       —                     the direction ±g + λθ            ``sign``, ``l2``
α       ``alpha``             ``lr``                           ``lr``
β₁, β₂  ``beta1``, ``beta2``  ``betas``                        ``w1`` = 1 − β₁, ``w2`` = 1 − β₂
ε       ``eps``               ``eps``                          ``eps``
λ       ``lam``               ``weight_decay``                 ``l2`` (0 when decoupled)
δ       —                     1 − αλ (decoupled weight decay)  ``shrink`` (1 when coupled)
μ       ``mu``                ``momentum``                     ``momentum``, ``mu_t``
τ       ``dampening``         ``dampening``                    ``w_t`` = 1 − τ
ρ       ``rho``               ``alpha`` (RMSprop's smoothing)  ``w`` = 1 − ρ
ψ       ``psi``               ``momentum_decay`` (NAdam)       —
η       ``eta``               ``lr_decay`` (Adagrad)           ``lr`` = α/(1 + (t − 1)η)
s₀      —                     ``initial_accumulator_value``    —
t       ``t``                 ``step``, after the increment    ``c1``, ``c2`` = 1/(1 − βᵗ)
m       ``m``                 ``exp_avg``                      —
v       ``v``                 ``exp_avg_sq``, ``square_avg``   —
v_max   ``vmax``              ``max_exp_avg_sq`` (AMSGrad)     —
u       ``u``                 ``exp_inf`` (Adamax)             —
s       ``s``                 ``sum`` (Adagrad)                —
b       ``b``                 ``momentum_buffer``              —
ḡ       ``gbar``              ``grad_avg`` (centered RMSprop)  —
Π       ``Pi``                ``mu_product`` (NAdam)           —
κ       ``kappa``             ``beta2_decay`` (Adafactor)      ``w2`` = t^κ = 1 − β̂₂,ₜ
ε₁, ε₂  ``eps1``, ``eps2``    ``eps`` (Adafactor's pair)       ``eps1``, ``eps2``
d       ``d``                 ``d``: Adafactor's clipping      ``d`` (not the direction above)
ρₜ      —                     min(lr, 1/√t) (Adafactor)        ``rho``
R, C    ``R``, ``C``          ``row_var``, ``col_var``         —
======  ====================  ===============================  ================================
"""

from __future__ import annotations

import importlib

from ._optimizer import Optimizer
from ._validation import NonFiniteGradientError
from .buffer import ParameterBuffer
from .checkpoint import load, save
from .clipping import clip_grad_norm_, clip_grad_value_
from .optimizers import SGD, Adafactor, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adafactor",
    "NonFiniteGradientError", "ParameterBuffer", "clip_grad_norm_", "clip_grad_value_",
    "save", "load", "schedules", "reference", "problems", "symbolic", "compare",
]

_LAZY_MODULES = {"schedules", "reference", "problems", "symbolic", "compare"}


def __getattr__(name):
    # Submodules load on first use: `import adamlib` stays cheap and never imports SymPy.
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'adamlib' has no attribute {name!r}")
