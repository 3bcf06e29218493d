"""What an optimizer is given to optimise: arrays, ``(name, array)`` pairs, or groups of either.

torch 2.13 accepts ``model.named_parameters()`` — ``(name, tensor)`` pairs — as well as plain
tensors, and keeps the names of a group in ``group["param_names"]``; every group is named or
none is. adamlib does the same with numpy arrays, and names let :meth:`Optimizer.step` take a
dict of gradients by name.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

NOT_OPTIONS = frozenset({"params", "param_names"})
"""The keys of a parameter group that are not hyperparameters."""


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
