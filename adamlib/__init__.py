"""adamlib: fused, Numba-compiled optimizer kernels for numpy, with torch.optim's API.

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
:mod:`adamlib.compare` (the comparison protocol the book's experiments run under).
"""

from __future__ import annotations

import importlib

from ._optimizer import Optimizer
from ._validation import NonFiniteGradientError
from .buffer import ParameterBuffer
from .checkpoint import load, save
from .clipping import clip_grad_norm_, clip_grad_value_
from .optimizers import SGD, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
    "NonFiniteGradientError", "ParameterBuffer", "clip_grad_norm_", "clip_grad_value_",
    "save", "load", "schedules", "reference", "problems", "symbolic", "compare",
]

_LAZY_MODULES = {"schedules", "reference", "problems", "symbolic", "compare"}


def __getattr__(name):
    # Submodules load on first use: `import adamlib` stays cheap and never imports SymPy.
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'adamlib' has no attribute {name!r}")
