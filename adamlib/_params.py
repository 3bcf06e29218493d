"""What an optimizer is given: arrays, ``(name, array)`` pairs or groups of either, and gradients.

torch 2.13 accepts ``model.named_parameters()`` — ``(name, tensor)`` pairs — as well as plain
tensors, and keeps the names of a group in ``group["param_names"]``; every group is named or
none is. adamlib does the same with numpy arrays, and names let :meth:`Optimizer.step` take a
dict of gradients by name; :func:`gradient_list` turns what ``step`` was given into one
gradient per parameter, or explains what to pass instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

NOT_OPTIONS = frozenset({"params", "param_names"})
"""The keys of a parameter group that are not hyperparameters."""

MISSING = object()
"""The default of ``step``'s ``grads``: a call without gradients gets an explanation."""


def as_groups(params) -> list[dict]:
    """The parameter groups described by an optimizer's ``params`` argument."""
    if isinstance(params, np.ndarray):
        raise TypeError("params must be a sequence of arrays or of dicts, not a single array; "
                        "wrap it in a list: [param]")
    if isinstance(params, Mapping):
        hint = ("wrap the group in a list: [group]" if "params" in params else
                "pass list(params.items()) for named parameters, or list(params.values())")
        raise TypeError(f"params must be a sequence of arrays, (name, array) pairs or group dicts, "
                        f"not a dict; {hint}")
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    return params if isinstance(params[0], dict) else [{"params": params}]


def split_names(items: list, role: str) -> tuple[list, list | None]:
    """``(arrays, names)`` from a list of arrays (names None) or of ``(name, array)`` pairs."""
    pairs = [isinstance(item, tuple) for item in items]
    if not any(pairs):
        return items, None
    if not all(pairs):
        raise ValueError(f"{role} mixes named and unnamed parameters; name all of them or none")
    for j, item in enumerate(items):
        if len(item) != 2:
            raise ValueError(f"{role}[{j}] must be a (name, array) pair, got a tuple of {len(item)}")
    return [array for _, array in items], [name for name, _ in items]


def check_names(groups: list[dict]) -> None:
    """Every group named or none; names are strings, one per parameter, unique over all groups."""
    named = ["param_names" in group for group in groups]
    if any(named) and not all(named):
        j = named.index(not named[0])
        has = lambda k: "has" if named[k] else "lacks"  # noqa: E731
        raise ValueError(f"param_groups[{j}] {has(j)} parameter names but param_groups[0] {has(0)} "
                         "them; name every parameter or none")
    if not any(named):
        return
    seen = {}
    for g_index, group in enumerate(groups):
        names = group["param_names"]
        if not isinstance(names, list) or len(names) != len(group["params"]):
            count = len(names) if isinstance(names, list) else names
            raise ValueError(f"param_groups[{g_index}] has {len(group['params'])} params but "
                             f"param_names {count!r}; keep one name per array, in the same order")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"parameter names must be strings, got {name!r} in param_groups[{g_index}]")
            if name in seen:
                raise ValueError(f"parameter name {name!r} appears twice (param_groups[{seen[name]}] "
                                 f"and param_groups[{g_index}]); names must be unique")
            seen[name] = g_index


def gradient_list(grads, groups: list[dict]) -> tuple[list, list | None]:
    """``(gradients in index order, parameter names or None)`` from what ``step`` was given."""
    if type(grads) is list or type(grads) is tuple:  # the common case, first
        return grads, None
    if grads is MISSING:
        raise TypeError(
            "step() needs the gradients: opt.step(grads), one array (or None) per parameter "
            "in the order of opt.params, or a dict from parameter name to gradient. adamlib "
            "reads no .grad attributes, unlike torch.optim."
        )
    if isinstance(grads, Mapping):
        return _gradients_by_name(grads, groups)
    if callable(grads) and not hasattr(grads, "__len__"):
        raise TypeError(
            "step() takes gradients, not a closure: adamlib does not evaluate your model. "
            "Call the closure yourself and pass the gradients it computes: "
            "loss, grads = closure(); opt.step(grads)"
        )
    if isinstance(grads, np.ndarray) or not hasattr(grads, "__len__"):
        raise TypeError("grads must be a sequence with one array (or None) per parameter, "
                        "or a dict from parameter name to array")
    return grads, None


def _gradients_by_name(grads: Mapping, groups: list[dict]) -> tuple[list, list]:
    if not groups or "param_names" not in groups[0]:
        raise TypeError(
            "step() got a dict of gradients, but the parameters have no names: pass "
            "(name, array) pairs to the optimizer, or pass a list of gradients in the order "
            "of opt.params"
        )
    check_names(groups)
    names = [name for group in groups for name in group["param_names"]]
    unknown = sorted(set(grads) - set(names), key=str)
    if unknown:
        raise ValueError(f"grads has gradients for unknown parameter name(s) {unknown}; "
                         f"the parameters are {names}")
    missing = [name for name in names if name not in grads]
    if missing:
        raise ValueError(f"grads lacks gradients for parameter(s) {missing}; "
                         "give None to skip a parameter")
    return [grads[name] for name in names], names


def role(index: int, names) -> str:
    """How an error message names a gradient: by position, or by name when given a dict."""
    return f"grads[{index}]" if names is None else f"grads[{names[index]!r}]"
