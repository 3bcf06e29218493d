"""The base class: parameter groups, state, validation and state dicts, as in ``torch.optim``.

Subclasses say four things: which hyperparameters a group takes and how to check them
(:meth:`Optimizer._check_group`), which state a parameter needs (:meth:`Optimizer._new_state`),
which fused kernel updates a parameter and on which buffers (:meth:`Optimizer._operands`), and
the kernel's scalar arguments for the current step (:meth:`Optimizer._scalars`).

A step costs one kernel call per parameter plus a little Python: hyperparameters are re-checked
only when a group changed, and the scalars of a step are computed once per group, dtype and
step count, not once per parameter.
"""

from __future__ import annotations

import copy
import weakref

import numpy as np

from ._kernels import nonfinite_count
from ._validation import (
    MemoryMap,
    NonFiniteGradientError,
    check_array,
    check_flag,
    describe,
)

_EMPTY = {dtype: np.empty(0, dtype) for dtype in (np.float32, np.float64)}


def empty_like(param: np.ndarray) -> np.ndarray:
    """A shared zero-length array of ``param``'s dtype, for the buffers an option leaves unused."""
    return _EMPTY[param.dtype.type]


class Optimizer:
    """Base class of adamlib's optimizers (the API of ``torch.optim.Optimizer``).

    Parameters
    ----------
    params : sequence of numpy arrays, or sequence of dicts
        The arrays to optimise (float32 or float64, C-contiguous, writeable), updated in place;
        or parameter groups: dicts with a ``"params"`` list and per-group options that override
        ``defaults``.
    defaults : dict
        The default hyperparameters of every group.
    check_finite : bool, default False
        By default a NaN or infinite gradient propagates into the parameters and state, as in
        numpy and torch. With ``check_finite=True`` such a step raises
        :class:`NonFiniteGradientError` and changes nothing.

    Attributes
    ----------
    param_groups : list of dict
        Mutable, as in torch: schedules set ``group["lr"]`` between steps.
    state : dict
        Per-parameter state (a dict of arrays and numbers), keyed by the parameter's position
        over all groups.
    """

    def __init__(self, params, defaults: dict, *, check_finite: bool = False):
        check_flag("check_finite", check_finite)
        self.defaults = dict(defaults)
        self.check_finite = check_finite
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        # index -> (kernel, its serial or threaded variant, flat param, flat state buffers)
        self._operands_of: dict[int, tuple] = {}
        self._checked: list = []  # the group options last validated, per group
        if isinstance(params, np.ndarray):
            raise TypeError(
                "params must be a sequence of arrays or of dicts, not a single array; "
                "wrap it in a list: [param]"
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups and state
    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value!r}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])

    @property
    def params(self) -> list[np.ndarray]:
        """Every parameter, in the order of their state indices."""
        return [p for group in self.param_groups for p in group["params"]]

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options, as ``torch.optim`` does."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, np.ndarray):
            params = [params]
        if params is None or len(params) == 0:
            raise ValueError("a parameter group needs a non-empty 'params' list")
        group["params"] = list(params)
        index = len(self.param_groups)
        for key in group:
            if key != "params" and key not in self.defaults:
                raise ValueError(
                    f"param_groups[{index}] has unknown option {key!r}; "
                    f"{type(self).__name__} takes {sorted(self.defaults)}"
                )
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        for j, p in enumerate(group["params"]):
            check_array(p, f"param_groups[{index}]['params'][{j}]", writeable=True)
        self._check_group(group, index)
        self.param_groups.append(group)
        try:
            self._map_memory()
        except ValueError:
            self.param_groups.pop()
            raise

    def _check_changed_groups(self) -> None:
        """Validate the options of every group changed since it was last validated."""
        del self._checked[len(self.param_groups):]
        for index, group in enumerate(self.param_groups):
            options = [(k, v) for k, v in group.items() if k != "params"]
            if index >= len(self._checked) or self._checked[index] != options:
                self._check_group(group, index)
                self._checked[index:index + 1] = [copy.deepcopy(options)]

    def _map_memory(self) -> None:
        """Record the memory of every parameter and state buffer, which gradients must not share.

        Raises ValueError (and changes nothing) if two parameters share memory.
        """
        named = [(f"parameter {i}", p) for i, p in enumerate(self.params)]
        for i, state in self.state.items():
            named += [(f"state[{i}][{k!r}]", v) for k, v in state.items() if isinstance(v, np.ndarray)]
        self._memory = MemoryMap(named)
        self._checked_grads = {}  # index -> weak reference to a gradient checked against the map

    def _check_group(self, group: dict, index: int) -> None:
        """Raise if a hyperparameter of ``group`` is invalid. Overridden by each optimizer."""
        raise NotImplementedError

    def _new_state(self, group: dict, param: np.ndarray) -> dict:
        """The state of a parameter before its first step. Overridden by each optimizer."""
        raise NotImplementedError

    def _operands(self, state: dict, flat: dict) -> tuple:
        """``(kernel, buffers)``: the fused kernel for a parameter with this state, and the flat
        state buffers it takes after ``(param, grad)``. Overridden by each optimizer."""
        raise NotImplementedError

    def _advance(self, group: dict, state: dict) -> None:
        """Advance a parameter's scalar state by one step (the step count, by default)."""
        state["step"] += 1

    def _scalars(self, group: dict, state: dict, dtype: type) -> tuple:
        """The kernel's arguments after its buffers, for this step, cast to ``dtype``. Overridden."""
        raise NotImplementedError

    def _scalar_key(self, state: dict):
        """The scalar state on which :meth:`_scalars` depends (the step count, by default)."""
        return state["step"]

    def _register(self, index: int, param: np.ndarray, state: dict) -> None:
        self.state[index] = state
        flat = {k: v.reshape(-1) for k, v in state.items() if isinstance(v, np.ndarray)}
        kernel, buffers = self._operands(state, flat)
        # The size of a parameter never changes: choose the serial or threaded variant once.
        self._operands_of[index] = (kernel, kernel.for_array(param), param.reshape(-1), buffers)

    # ------------------------------------------------------------------ the step
    def step(self, grads) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : sequence of numpy arrays (or None)
            One gradient per parameter, in the order of :attr:`params`, each of the
            parameter's shape and dtype. ``None`` skips that parameter, like a torch parameter
            whose ``.grad`` is None.

        Raises
        ------
        TypeError, ValueError
            When a gradient or a hyperparameter is invalid; nothing has been changed then.
        NonFiniteGradientError
            With ``check_finite=True``, when a gradient is not finite; nothing changed.
        """
        created = False
        scalars_of = {}  # a step's scalars, computed once per group, kernel, dtype and step count
        for g_index, group, index, param, grad in self._validated(grads):
            if index not in self.state:
                self._register(index, param, self._new_state(group, param))
                created = True
            state = self.state[index]
            self._advance(group, state)
            kernel, variant, flat_param, buffers = self._operands_of[index]
            key = (g_index, kernel, param.dtype.char, self._scalar_key(state))
            scalars = scalars_of.get(key)
            if scalars is None:
                scalars = scalars_of[key] = self._scalars(group, state, param.dtype.type)
            variant(flat_param, grad if grad.ndim == 1 else grad.reshape(-1), *buffers, *scalars)
        if created:  # new state buffers: gradients must not alias them either
            self._map_memory()

    def _validated(self, grads) -> list[tuple]:
        """Check the whole step; return (group, index, param, grad) for the parameters to update."""
        if isinstance(grads, np.ndarray) or not hasattr(grads, "__len__"):
            raise TypeError("grads must be a sequence with one array (or None) per parameter")
        params = self.params
        if len(grads) != len(params):
            raise ValueError(f"got {len(grads)} gradients for {len(params)} parameters")
        self._check_changed_groups()
        work = []
        checked = {}
        index = 0
        for g_index, group in enumerate(self.param_groups):
            for param in group["params"]:
                grad = grads[index]
                if grad is not None:
                    if not (type(grad) is np.ndarray and grad.dtype == param.dtype
                            and grad.shape == param.shape and grad.flags.c_contiguous):
                        self._explain_bad_gradient(grad, param, index)
                    # A gradient array already checked at the last step occupies the same memory.
                    seen = self._checked_grads.get(index)
                    if seen is None or seen() is not grad:
                        shared = self._memory.overlapping(grad)
                        if shared is not None:
                            raise ValueError(f"grads[{index}] shares memory with {shared}; "
                                             "pass a separate gradient array")
                    checked[index] = weakref.ref(grad)
                    if self.check_finite:
                        bad = nonfinite_count(grad.reshape(-1))
                        if bad:
                            raise NonFiniteGradientError(
                                f"grads[{index}] has {bad} non-finite value(s); step refused, nothing changed"
                            )
                    work.append((g_index, group, index, param, grad))
                index += 1
        self._checked_grads = checked
        return work

    @staticmethod
    def _explain_bad_gradient(grad, param, index: int):
        role = f"grads[{index}]"
        check_array(grad, role, writeable=False)
        raise ValueError(f"{role} is a {describe(grad)} but parameter {index} is a {describe(param)}")

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """A snapshot of the optimizer: plain numpy arrays and Python values.

        Same layout as torch's: ``{"state": {index: {...}}, "param_groups": [{..., "params":
        [indices]}]}``, plus ``"optimizer"``, the class name, checked on load. Unlike torch's,
        the arrays are copies, so later steps do not change a snapshot already taken.
        """
        groups, start = [], 0
        for group in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            entry["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(entry)
        state = {
            i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for i, s in sorted(self.state.items())
        }
        return {"optimizer": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a snapshot taken by :meth:`state_dict` (validated whole before any change).

        State arrays must have their parameter's shape; they are copied and cast to the
        parameter's dtype, as torch does.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("not an optimizer state dict: needs 'state' and 'param_groups'")
        name = state_dict.get("optimizer", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"state dict is from {name}, cannot load it into {type(self).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"state dict has {len(saved_groups)} parameter groups, optimizer has {len(self.param_groups)}"
            )
        groups = []
        for g_index, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"param_groups[{g_index}] has {len(saved['params'])} parameters in the state dict "
                    f"but {len(group['params'])} in the optimizer"
                )
            unknown = set(saved) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"param_groups[{g_index}] in the state dict has unknown options {sorted(unknown)}")
            new = {**group, **{k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}}
            if "betas" in new:
                new["betas"] = tuple(new["betas"])
            self._check_group(new, g_index)
            groups.append(new)
        owner = {}  # saved index -> (our index, its new group, the parameter)
        for saved, new in zip(saved_groups, groups):
            for saved_index, param in zip(saved["params"], new["params"]):
                owner[saved_index] = (len(owner), new, param)
        states = {}
        for saved_index, saved_state in state_dict["state"].items():
            if saved_index not in owner:
                raise ValueError(f"state dict has state for parameter {saved_index}, which no group lists")
            i, group, param = owner[saved_index]
            expected = self._new_state(group, param)
            if set(saved_state) != set(expected):
                raise ValueError(
                    f"state of parameter {i} has keys {sorted(saved_state)}, "
                    f"{type(self).__name__} expects {sorted(expected)}"
                )
            restored = {}
            for key, value in saved_state.items():
                if isinstance(expected[key], np.ndarray):
                    value = np.asarray(value)
                    if value.shape != expected[key].shape:
                        raise ValueError(
                            f"state[{i}][{key!r}] has shape {value.shape}, parameter {i} has shape {param.shape}"
                        )
                    restored[key] = np.array(value, dtype=param.dtype, order="C", copy=True)
                else:
                    restored[key] = type(expected[key])(value)
            states[i] = restored
        # Everything checked: now commit.
        for group, new in zip(self.param_groups, groups):
            group.clear()
            group.update(new)
        self.state.clear()
        self._operands_of.clear()
        self._checked.clear()
        params = self.params
        for i, s in states.items():
            self._register(i, params[i], s)
        self._map_memory()
