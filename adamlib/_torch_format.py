"""Optimizer state dicts in torch.optim's format, converted to adamlib's and back.

The two formats share their layout — ``{"state": {index: {...}}, "param_groups": [{options,
"params": [indices]}]}`` with the same option and state names — and differ in these details:

* arrays are numpy arrays in adamlib, tensors in torch;
* ``step`` is a Python int in adamlib, a 0-d float tensor in torch (float32, or float64 when
  that is torch's default dtype), and NAdam's ``mu_product`` a Python float, a 0-d tensor;
* torch's SGD keeps no step count: its state is ``{"momentum_buffer"}``, and nothing at all
  without momentum; adamlib's SGD also counts steps;
* torch's Adagrad creates every parameter's state when it is constructed (``step`` 0, ``sum``
  filled with ``initial_accumulator_value``), adamlib at the parameter's first step, with the
  same values: a dict converted either way holds state for the parameters it has state for,
  and the other library creates the rest as it would have;
* torch's groups carry implementation options that adamlib has no use for (``foreach``,
  ``fused``, ``capturable``, ``differentiable``), maybe ``param_names``, and whatever a
  learning-rate scheduler added (``initial_lr``, ...); adamlib's dict names its optimizer
  class under ``"optimizer"``.

This module imports neither torch nor adamlib's optimizers: it reads tensors through their
methods (``detach``, ``cpu``, ``numpy``, ``item``) and is told the optimizer class. The torch
drop-in (:mod:`adamlib.torch`) builds on the per-parameter functions here; users call
:func:`adamlib.torch.from_torch_state_dict` and :func:`adamlib.torch.to_torch_state_dict`.
"""

from __future__ import annotations

import copy
import functools
import numbers

import numpy as np

TORCH_ONLY_OPTIONS = ("foreach", "fused", "capturable", "differentiable")
"""torch.optim options that select an implementation, not an update rule: adamlib ignores them."""

_STEP_NOT_KEPT_BY_TORCH = {"SGD"}
"""torch's SGD keeps no step count; adamlib's counts steps to recognise the first one (whose
momentum buffer is the gradient itself), which is exactly "a momentum buffer exists" in torch."""


def is_torch_format(state_dict) -> bool:
    """True for a state dict that came from torch.optim (no ``"optimizer"`` name, tensors)."""
    return isinstance(state_dict, dict) and "optimizer" not in state_dict and "param_groups" in state_dict


@functools.lru_cache(maxsize=None)
def option_names(optimizer_class) -> tuple[str, ...]:
    """The options of an adamlib optimizer class: the keys of a parameter group it builds."""
    probe = optimizer_class([np.zeros(1, np.float32)])
    return tuple(k for k in probe.param_groups[0] if k != "params")


def plain(value):
    """An option value as adamlib takes it: 0-d tensors and numpy scalars become Python numbers."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    if hasattr(value, "item"):  # a one-element tensor or a numpy scalar
        return value.item()
    return value


def _numpy_copy(value) -> np.ndarray:
    """A numpy copy of a tensor (any device; half precision widened) or of an array."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        if value.is_floating_point() and value.element_size() < 4:  # float16, bfloat16
            value = value.float()
        return value.numpy().copy()
    return np.array(value, copy=True)


def _number(key: str, value, where: str):
    """A scalar state entry (``step``, ``mu_product``) as a Python number; ``step`` must be whole."""
    number = value.item() if hasattr(value, "item") else value
    if key == "step":
        if not float(number).is_integer() or number < 0:
            raise ValueError(f"{where}['step'] is {number!r}; a step count must be a whole number >= 0")
        return int(number)
    return float(number)


# ---------------------------------------------------------------------------- per parameter
def param_state_from_torch(torch_state, optimizer_name: str, where: str, array=_numpy_copy):
    """One parameter's state in adamlib's format, or None if it has none.

    ``array`` turns a tensor into the numpy array to store (a copy by default; the torch
    drop-in passes a zero-copy view, since adamlib copies on load anyway).
    """
    state = {}
    for key, value in (torch_state or {}).items():
        if value is None:
            continue
        is_scalar = (value.ndim == 0) if hasattr(value, "ndim") else isinstance(value, numbers.Number)
        state[key] = _number(key, value, where) if is_scalar else array(value)
    if optimizer_name in _STEP_NOT_KEPT_BY_TORCH:
        if "momentum_buffer" not in state:
            return None  # torch has taken no step with momentum: adamlib starts afresh, as torch does
        state.setdefault("step", 1)
    return state or None


def param_state_to_torch(numpy_state, optimizer_name: str, tensor, scalar):
    """One parameter's state in torch's format, or None where torch keeps none.

    ``tensor(key, array)`` makes the tensor for a state array, ``scalar(key, number)`` the 0-d
    tensor for a number (``step``, ``mu_product``).
    """
    if not numpy_state:
        return None
    state = {}
    for key, value in numpy_state.items():
        if key == "step" and optimizer_name in _STEP_NOT_KEPT_BY_TORCH:
            continue
        state[key] = tensor(key, value) if isinstance(value, np.ndarray) else scalar(key, value)
    return state or None


def group_from_torch(group: dict, names, optimizer_name: str) -> dict:
    """A parameter group's options in adamlib's terms: only adamlib's options, as plain numbers."""
    options = {k: plain(group[k]) for k in names if k in group}
    if optimizer_name == "AdamW":
        options["decoupled_weight_decay"] = True  # torch's AdamW loads an Adam dict the same way
    return options


# ---------------------------------------------------------------------------- whole dicts
def from_torch_state_dict(state_dict: dict, optimizer) -> dict:
    """Convert a ``torch.optim`` state dict into one that an adamlib optimizer loads.

    Parameters
    ----------
    state_dict : dict
        From ``torch.optim.<Name>.state_dict()`` (or ``adamlib.torch.<Name>``), possibly after a
        ``torch.save``/``torch.load`` round trip. Tensors may live on any device.
    optimizer : adamlib optimizer, or its class
        What will load the result (e.g. ``adamlib.AdamW`` or an instance): it decides which
        options are kept and the name recorded in the result.

    Returns
    -------
    dict
        adamlib's format: numpy copies of the state arrays (half-precision ones widened to
        float32; ``load_state_dict`` casts them to each parameter's dtype), Python numbers for
        ``step`` and ``mu_product``, the torch-only options (``foreach``, ``fused``,
        ``capturable``, ``differentiable``), ``param_names`` and scheduler keys (``initial_lr``,
        ...) dropped.

    Examples
    --------
    >>> import numpy as np, adamlib                      # doctest: +SKIP
    >>> opt = adamlib.AdamW([w])                         # doctest: +SKIP
    >>> opt.load_state_dict(adamlib.torch.from_torch_state_dict(torch_sd, opt))  # doctest: +SKIP
    """
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    name = cls.__name__
    if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
        raise ValueError("not an optimizer state dict: needs 'state' and 'param_groups'")
    names = option_names(cls)
    groups = []
    for group in state_dict["param_groups"]:
        groups.append({**group_from_torch(group, names, name), "params": list(group["params"])})
    state = {}
    for index, torch_state in state_dict["state"].items():
        converted = param_state_from_torch(torch_state, name, f"state[{index}]")
        if converted is not None:
            state[index] = converted
    return {"optimizer": name, "state": state, "param_groups": groups}


def to_torch_state_dict(state_dict: dict) -> dict:
    """Convert an adamlib state dict into the one ``torch.optim.<Name>`` saves and loads.

    The result is exactly what the torch optimizer of the same name would return from
    ``state_dict()`` (tensors copied from the arrays, ``step`` and ``mu_product`` as 0-d tensors
    of torch's scalar dtype, torch's implementation options at their defaults), so
    ``torch.optim.Adam(...).load_state_dict(to_torch_state_dict(opt.state_dict()))`` continues
    the run. Needs torch.
    """
    import torch  # only here: the rest of this module works without torch

    if not isinstance(state_dict, dict) or "optimizer" not in state_dict:
        raise ValueError("not an adamlib state dict: it names no 'optimizer' "
                         "(a torch.optim state dict needs no conversion)")
    name = state_dict["optimizer"]
    torch_class = getattr(torch.optim, name, None)
    if torch_class is None:
        raise ValueError(f"torch.optim has no {name!r} optimizer to convert this state dict for")
    extras = torch_defaults(torch_class)
    scalar_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    state = {}
    for index, numpy_state in state_dict["state"].items():
        converted = param_state_to_torch(
            numpy_state, name,
            tensor=lambda key, a: torch.from_numpy(np.array(a, copy=True)),
            scalar=lambda key, v: torch.tensor(float(v), dtype=scalar_dtype),
        )
        if converted is not None:
            state[index] = converted
    groups = [{**copy.deepcopy({k: v for k, v in g.items() if k != "params"}), **extras,
               "params": list(g["params"])} for g in state_dict["param_groups"]]
    return {"state": state, "param_groups": groups}


@functools.lru_cache(maxsize=None)
def _torch_only_defaults(torch_class) -> tuple:
    import torch

    defaults = torch_class([torch.zeros(1)]).defaults
    return tuple((k, defaults[k]) for k in TORCH_ONLY_OPTIONS if k in defaults)


def torch_defaults(torch_class) -> dict:
    """torch's defaults for the implementation options of ``torch_class`` (``foreach``, ...)."""
    return dict(_torch_only_defaults(torch_class))
