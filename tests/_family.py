"""The one table of optimizers that every family test iterates.

Not a test module (pytest collects only ``test_*.py``); tests import it by name, as they import
``conftest``. Adding an optimizer to adamlib is adding a row here: bad input, refused steps,
properties, kernels, the reference and torch oracles, state-shaping options and convergence
then cover it.
"""

from __future__ import annotations

from typing import NamedTuple

import adamlib
from adamlib import _factored, _kernels


class Member(NamedTuple):
    cls: type
    algo: str
    """Its name in :mod:`adamlib.reference` (and the oracle cases)."""
    torch_name: str
    kernels: tuple
    """The names of the kernels it uses, in :mod:`adamlib._kernels` or :mod:`adamlib._factored`
    (see :func:`kernel`)."""
    buffers: dict
    """Options that give it every kind of state buffer it can have (for tests that want state)."""
    converges: dict
    """Options with which it reaches the minimiser of :func:`quadratic` in ``SMOKE_STEPS`` steps."""
    oracle_base: dict
    """Options of every oracle case (learning rates large enough that 300 steps move θ by O(1))."""
    oracle_grid: dict
    """Option values whose every combination the oracles (reference, torch) check."""
    state_options: tuple = ()
    """``(option, off, on)`` for each option that decides which state buffers exist."""

    @property
    def name(self) -> str:
        return self.cls.__name__


_WD = dict(weight_decay=[0.0, 1e-1], maximize=[False, True])

FAMILY = [
    Member(adamlib.SGD, "sgd", "SGD", ("sgd", "sgd_momentum"), {"momentum": 0.9},
           {"lr": 0.05, "momentum": 0.9}, {"lr": 1e-2},
           dict(momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                weight_decay=[0.0, 1e-2], maximize=[False, True]),
           (("momentum", 0.0, 0.9),)),
    Member(adamlib.Adagrad, "adagrad", "Adagrad", ("adagrad",), {}, {"lr": 0.5}, {"lr": 5e-2},
           dict(lr_decay=[0.0, 0.05], initial_accumulator_value=[0.0, 0.1], eps=[1e-10, 1e-3], **_WD)),
    Member(adamlib.RMSprop, "rmsprop", "RMSprop", ("rmsprop",), {"momentum": 0.9, "centered": True},
           {"lr": 1e-2}, {"lr": 1e-3, "alpha": 0.95},
           dict(centered=[False, True], momentum=[0.0, 0.9], weight_decay=[0.0, 1e-2], maximize=[False, True]),
           (("momentum", 0.0, 0.9), ("centered", False, True))),
    Member(adamlib.Adam, "adam", "Adam", ("adam",), {"amsgrad": True}, {"lr": 0.05}, {"lr": 1e-2},
           dict(amsgrad=[False, True], decoupled_weight_decay=[False, True], **_WD),
           (("amsgrad", False, True),)),
    Member(adamlib.AdamW, "adamw", "AdamW", ("adam",), {"amsgrad": True}, {"lr": 0.05, "weight_decay": 0.0},
           {"lr": 1e-2, "betas": (0.8, 0.99)},
           dict(amsgrad=[False, True], weight_decay=[1e-2, 1.0], maximize=[False, True]),
           (("amsgrad", False, True),)),
    Member(adamlib.Adamax, "adamax", "Adamax", ("adamax",), {}, {"lr": 0.05}, {"lr": 1e-2}, _WD),
    Member(adamlib.NAdam, "nadam", "NAdam", ("nadam",), {}, {"lr": 0.05}, {"lr": 1e-2},
           dict(decoupled_weight_decay=[False, True], momentum_decay=[4e-3, 0.2], **_WD)),
    Member(adamlib.RAdam, "radam", "RAdam", ("radam",), {}, {"lr": 0.05}, {"lr": 1e-2},
           dict(decoupled_weight_decay=[False, True], betas=[(0.9, 0.999), (0.8, 0.9)], **_WD)),
    Member(adamlib.Adafactor, "adafactor", "Adafactor", ("adafactor_matrix", "adafactor_vector"), {},
           {"lr": 1e-2}, {"lr": 1e-2},
           dict(beta2_decay=[-0.8, -0.5], eps=[(None, 1e-3), (1e-3, 1e-1)], d=[1.0, 4.0], **_WD)),
]


def kernel(name: str):
    """The kernel called ``name``: the elementwise ones are in ``_kernels``, Adafactor's in ``_factored``."""
    return getattr(_kernels, name, None) or getattr(_factored, name)


BY_NAME = {member.name: member for member in FAMILY}
CLASSES = [member.cls for member in FAMILY]
IDS = [member.name for member in FAMILY]
STATE_OPTIONS = [(member, option, off, on) for member in FAMILY for option, off, on in member.state_options]
STATE_OPTION_IDS = [f"{member.name}-{option}" for member, option, _, _ in STATE_OPTIONS]
