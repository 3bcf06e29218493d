"""The base class: parameter groups, state, validation and state dicts, as in ``torch.optim``.

A subclass declares what its state holds (:attr:`Optimizer._state_layout`, including the
optional buffers that some option values ask for) and says three things:
how to check a group's hyperparameters (:meth:`Optimizer._check_group`), which fused kernel
updates a parameter on which buffers (:meth:`Optimizer._operands`), and the kernel's scalars for
the current step, as the kernel's named tuple (:meth:`Optimizer._scalars`).

Between steps the optimizer keeps, per parameter, a *plan*: the kernel variant and flat views
of the parameter and its state buffers. A plan is used only while everything it was made from
is unchanged — the arrays listed in ``param_groups`` (compared by identity), the parameter's
state dict and its entries (:class:`_State` notes replacements), and the options that decide
which buffers exist — so the optimizer never writes through a view of an array that is no
longer the parameter or the state. Hyperparameters are re-checked only when a group changed.

A step takes one of two paths. The *table* path (:mod:`adamlib._batch`) checks every gradient
in one compiled call and updates each group with one kernel call, whatever the number of its
arrays; it runs while every parameter that gets a gradient has a plan, nothing changed since
the last step, and each gradient is exactly what its parameter expects. Otherwise the *general*
path checks everything in Python (raising the error that explains what is wrong), creates the
state and plans that are missing, and calls the kernel once per parameter; the next step takes
the table path again.
"""

from __future__ import annotations

import math
import operator
import weakref
from typing import NamedTuple

import numpy as np

from ._batch import StepTable, header_reads, set_steps
from ._kernels import nonfinite_count
from ._params import MISSING, NOT_OPTIONS, as_groups, check_names, gradient_list, role, split_names
from ._state import Arena, StateLayout, _set, _State
from ._torch_format import from_torch_state_dict, is_torch_format
from ._validation import MemoryMap, NonFiniteGradientError, check_array, check_flag, describe

_EMPTY = {dtype: np.empty(0, dtype) for dtype in (np.float32, np.float64)}
_PARAMS = operator.itemgetter("params")


def _wider_than_double(value) -> bool:
    return isinstance(value, np.floating) and value.itemsize > 8


def empty_like(param: np.ndarray) -> np.ndarray:
    """A shared zero-length array of ``param``'s dtype, for the buffers an option leaves unused."""
    return _EMPTY[param.dtype.type]


class KernelCall(NamedTuple):
    """One kernel call of a step: ``kernel(*arguments)`` (see :meth:`Optimizer.kernel_calls`)."""

    kernel: object
    arguments: tuple


class Optimizer:
    """Base class of adamlib's optimizers (the API of ``torch.optim.Optimizer``).

    Parameters
    ----------
    params : sequence of arrays, of ``(name, array)`` pairs, or of dicts
        The arrays to optimise (float32 or float64, C-contiguous, writeable), updated in place;
        or ``(name, array)`` pairs, as from torch's ``named_parameters()``, which let
        :meth:`step` take a dict of gradients by name; or parameter groups: dicts with a
        ``"params"`` list (of arrays or of pairs) and per-group options that override
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
        Mutable, as in torch: schedules set ``group["lr"]`` between steps. Named parameters
        keep their names in ``group["param_names"]``. Arrays added to, removed from or replaced
        in ``group["params"]`` are seen at the next step: a new array starts with fresh state,
        an array that moved keeps its state, a removed array's state is discarded.
    state : dict
        Per-parameter state (a dict of arrays and numbers), keyed by the parameter's position
        over all groups, created at the parameter's first step.
    """

    _state_layout = StateLayout()
    """What a parameter's state holds: see :class:`~adamlib._state.StateLayout`."""
    _forced_options: dict = {}
    """Options a loaded state dict cannot change (AdamW always decouples its weight decay)."""
    _state_dicts_from: tuple = ()
    """Other classes whose state dicts this one loads (same state, as torch allows)."""

    def __init__(self, params, defaults: dict, *, check_finite: bool = False):
        check_flag("check_finite", check_finite)
        self.defaults = self._normalised(dict(defaults))
        self.check_finite = check_finite
        self.param_groups: list[dict] = []
        self._state: dict[int, dict] = _State()  # notes entries replaced by the user, like each state
        self._layout: list = []  # the parameters, in index order, as the state is keyed
        self._group_sizes: list = []  # how many of them each group holds
        self._forget_checks()
        self._scalar_key = operator.itemgetter(*self._state_layout.scalars)
        for group in as_groups(params):
            self.add_param_group(group)

    def _forget_checks(self) -> None:
        """Drop every cached check and plan: the next step checks everything again."""
        self._plans: dict[int, tuple] = {}  # index -> (state, kernel, variant, flat param, flat buffers)
        self._table: StepTable | None = None  # the plans as one table, for the table path
        self._edits_seen = -1  # _State.edits when the table path was last known to be valid
        self._checked: list = []  # per group: its _options_of() when last validated
        self._option_values = operator.itemgetter(*self.defaults)
        self._wanted: list = []  # per group: which optional buffers its options ask for
        self._layout_checked = False
        self._memory = MemoryMap([])
        self._checked_grads: dict = {}  # index -> weak reference to a gradient checked against _memory

    # ------------------------------------------------------------------ groups and state
    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value!r}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])

    def __getattr__(self, name):
        if name == "zero_grad":
            raise AttributeError(
                "adamlib optimizers hold no gradients, so there is nothing to zero: step(grads) "
                "takes the gradients you computed. If you accumulate gradients into arrays of "
                "your own, zero those (grads[...] = 0)."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self):
        # Plans hold flat views; a copy (copy.deepcopy, pickle) would copy them as separate
        # arrays and write to those. Keep the state and groups only; the copy plans afresh.
        self._sync_layout()
        return {key: self.__dict__[key] for key in ("defaults", "check_finite", "param_groups", "_state")}

    def __setstate__(self, saved):
        self.__dict__.update(saved)
        self._state = _State(self._state)
        self._layout = self.params
        self._group_sizes = [len(group["params"]) for group in self.param_groups]
        self._scalar_key = operator.itemgetter(*self._state_layout.scalars)
        self._forget_checks()

    @property
    def params(self) -> list[np.ndarray]:
        """Every parameter, in the order of their state indices."""
        return [p for group in self.param_groups for p in group["params"]]

    @property
    def state(self) -> dict:
        """Per-parameter state by index (see the class docstring); follows changes of ``params``."""
        self._sync_layout()
        return self._state

    @state.setter
    def state(self, value: dict):
        if not isinstance(value, dict):
            raise TypeError(f"state must be a dict from parameter index to state, got {describe(value)}")
        self._sync_layout()
        self._state = _State(value)
        self._state.replaced = True  # the next step checks every state against the groups
        self._table = None

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options, as ``torch.optim`` does."""
        self._sync_layout()
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        index = len(self.param_groups)
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, np.ndarray):
            params = [params]
        if params is None or len(params) == 0:
            raise ValueError("a parameter group needs a non-empty 'params' list")
        group["params"], names = split_names(list(params), f"param_groups[{index}]['params']")
        if names is not None:
            group["param_names"] = names
        self._check_options(group, index, fill=True)
        for j, p in enumerate(group["params"]):
            check_array(p, f"param_groups[{index}]['params'][{j}]", writeable=True)
        self.param_groups.append(group)
        try:
            self._check_layout()
        except (TypeError, ValueError):
            self.param_groups.pop()
            self._sync_layout()
            raise

    @classmethod
    def _normalised(cls, options: dict) -> dict:
        """``options`` with every value in its one form: ``betas`` a tuple (lists are accepted),
        and a number wider than a double (``np.longdouble``) a Python float, so that the
        scalars every path computes from it are the same doubles."""
        if isinstance(options.get("betas"), list):
            options["betas"] = tuple(options["betas"])
        for key, value in options.items():
            if isinstance(value, tuple) and any(map(_wider_than_double, value)):
                options[key] = tuple(float(v) if _wider_than_double(v) else v for v in value)
            elif _wider_than_double(value):
                options[key] = float(value)
        return options

    def _check_options(self, group: dict, index: int, *, fill: bool = False) -> None:
        """Check that ``group`` has exactly this optimizer's options, valid; normalise them.

        ``fill`` completes missing options from the defaults, as :meth:`add_param_group` does.
        """
        unknown = sorted(set(group) - set(self.defaults) - NOT_OPTIONS)
        if unknown:
            raise ValueError(
                f"param_groups[{index}] has unknown option {unknown[0]!r}; "
                f"{type(self).__name__} takes {sorted(self.defaults)}"
            )
        if fill:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        missing = sorted(set(self.defaults) - set(group))
        if missing:
            raise ValueError(
                f"param_groups[{index}] lacks option(s) {missing}; add groups with "
                "add_param_group(), which fills in the defaults"
            )
        self._check_group(group, index)
        self._normalised(group)

    def _sync_layout(self) -> list:
        """Re-key the state when arrays were added to, removed from or moved in ``param_groups``.

        Arrays are matched by identity: an array that moved keeps its state under its new
        index, a new one has none yet, a removed one's state is discarded. Returns the
        parameters in index order. The new arrays are checked by the next step.
        """
        try:
            params = [p for group in self.param_groups for p in group["params"]]
            sizes = [len(group["params"]) for group in self.param_groups]
        except (TypeError, KeyError):
            raise TypeError("every entry of param_groups must be a dict with a 'params' list of arrays") from None
        layout = self._layout
        if (len(params) == len(layout) and not any(map(operator.is_not, params, layout))
                and sizes == self._group_sizes):
            return params
        old_index = {id(p): i for i, p in enumerate(layout)}
        moved = {}
        for new, p in enumerate(params):
            old = old_index.pop(id(p), None)  # pop: an array listed twice keeps its state once
            if old is not None and old in self._state:
                moved[new] = self._state[old]
        dict.clear(self._state)
        dict.update(self._state, moved)
        self._layout, self._group_sizes = params, sizes  # an array moved to another group: re-planned
        self._plans.clear()
        self._table = None
        self._layout_checked = False
        return params

    def _check_layout(self) -> None:
        """Check every group's arrays, names and memory (raise, changing nothing, if invalid)."""
        params = self._sync_layout()
        for g_index, group in enumerate(self.param_groups):
            if not isinstance(group.get("params"), list):
                raise TypeError(f"param_groups[{g_index}]['params'] must be a list of arrays")
            for j, p in enumerate(group["params"]):
                check_array(p, f"param_groups[{g_index}]['params'][{j}]", writeable=True)
        check_names(self.param_groups)
        self._memory = self._memory_map(params, self._state)
        self._checked_grads = {}
        self._layout_checked = True

    @staticmethod
    def _memory_map(params, states) -> MemoryMap:
        """The memory of every parameter and state array, which no two may share (nor a gradient)."""
        named = [(f"parameter {i}", p) for i, p in enumerate(params)]
        for i, state in states.items():
            named += [(f"state[{i}][{k!r}]", v) for k, v in state.items() if isinstance(v, np.ndarray)]
        return MemoryMap(named)

    def _check_changed_groups(self) -> None:
        """Validate the options of every group changed since it was last validated.

        When a change alters which optional buffers a group asks for, its plans are dropped, so
        that the next step checks each parameter's state against the new options.
        """
        groups, checked = self.param_groups, self._checked
        del checked[len(groups):]
        del self._wanted[len(groups):]
        start = 0
        for index, group in enumerate(groups):
            try:  # values are immutable once normalised (betas a tuple), so a tuple records them
                unchanged = checked[index] == self._options_of(group)
            except (IndexError, KeyError, TypeError, ValueError):
                unchanged = False
            if not unchanged:
                self._check_options(group, index)
                wanted = [spec.wanted(group) for spec in self._state_layout.optional.values()]
                if index >= len(self._wanted) or self._wanted[index] != wanted:
                    for i in range(start, start + len(group["params"])):
                        self._plans.pop(i, None)
                    self._table = None
                checked[index:index + 1] = [self._options_of(group)]
                self._wanted[index:index + 1] = [wanted]
            start += len(group["params"])

    def _options_of(self, group: dict) -> tuple:
        """``(number of option keys, option values)``: equal to a validated group's record only
        if no option changed and none was added (an unknown key counts) or removed."""
        return len(group) - sum(map(group.__contains__, NOT_OPTIONS)), self._option_values(group)

    # ------------------------------------------------------------------ what subclasses say
    def _check_group(self, group: dict, index: int) -> None:
        """Raise if a hyperparameter of ``group`` is invalid. Overridden by each optimizer."""
        raise NotImplementedError

    def _operands(self, group: dict, flat: dict) -> tuple:
        """``(kernel, buffers)``: the fused kernel for a parameter of ``group``, and the flat
        state buffers it takes after ``(param, grad)``. Overridden by each optimizer."""
        raise NotImplementedError

    def _scalars(self, group: dict, state: dict, dtype: type) -> tuple:
        """The kernel's named tuple of scalars for this step, each float computed in double
        precision and then passed through ``dtype``: the array's numpy scalar type on the
        general path, ``float`` on the table path (whose batched kernel rounds it to the
        array's dtype). So no arithmetic may follow the cast. Overridden."""
        raise NotImplementedError

    def _first_use(self, scalars: tuple, dtype: type) -> tuple:
        """The scalars for a parameter whose buffers were created in this step (same by default)."""
        return scalars

    def _advance(self, group: dict, state: dict) -> None:
        """Advance a parameter's scalar state by one step (the step count, by default)."""
        _set(state, "step", state["step"] + 1)

    def _plan(self, group: dict, param: np.ndarray, state: dict) -> tuple:
        flat = self._state_layout.views(state)  # flat, unless the layout shapes its buffers
        kernel, buffers = self._operands(group, flat)
        # The size of a parameter never changes: choose the serial or threaded variant once.
        return state, kernel, kernel.for_array(param), param.reshape(-1), buffers, param.dtype.type

    # ------------------------------------------------------------------ the step
    def step(self, grads=MISSING) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : sequence of numpy arrays (or None), or dict from name to array (or None)
            One gradient per parameter, in the order of :attr:`params` (group by group), each
            of the parameter's shape and dtype; or, for named parameters, a dict with one
            entry per name. ``None`` skips that parameter, like a torch parameter whose
            ``.grad`` is None.

        Raises
        ------
        TypeError, ValueError
            When a gradient, a hyperparameter or the state is invalid; nothing has been
            changed then.
        NonFiniteGradientError
            With ``check_finite=True``, when a gradient is not finite; nothing changed.
        """
        if self._table is not None and self._step_by_table(grads):
            return
        advance, scalar_key, cache = self._advance, self._scalar_key, {}
        count_only = type(self)._advance is Optimizer._advance
        for g_index, group, param, grad, plan, first in self._prepare(grads):
            state, kernel, variant, flat_param, buffers, dtype = plan
            if count_only:
                t = state["step"] + 1
                _set(state, "step", t)
            else:
                advance(group, state)
                t = scalar_key(state)
            key = (g_index, kernel, dtype, t, first)
            scalars = cache.get(key)
            if scalars is None:
                scalars = self._scalars(group, state, dtype)
                scalars = cache[key] = self._first_use(scalars, dtype) if first else scalars
            variant(flat_param, grad if grad.ndim == 1 else grad.reshape(-1), *buffers, *scalars)
        if self._table is None and header_reads():
            self._table = StepTable(self.param_groups, self._plans, self._memory)
        elif self._table is not None:
            for batch in self._table.batches:  # the step counts moved on without the table
                batch.step = None
        self._edits_seen = _State.edits

    def _step_by_table(self, grads) -> bool:
        """The table path of :meth:`step`; False (nothing changed) where the general path must run.

        Raises what the general path would raise for an invalid hyperparameter.
        """
        table = self._table
        if type(grads) is dict:
            grads = gradient_list(grads, self.param_groups)[0]
        elif type(grads) is list:
            grads = tuple(grads)  # held until the kernels, which run without the GIL, are done
        elif type(grads) is not tuple:
            return False
        if _State.edits != self._edits_seen:
            return False
        try:
            param_lists = tuple(map(_PARAMS, self.param_groups))
        except (TypeError, KeyError):
            return False
        unusual, missing = table.gather(param_lists, grads, self.check_finite)
        if unusual >= 0:
            return False  # a parameter changed, or a gradient needs a closer look
        self._check_changed_groups()
        if self._table is not table:
            return False  # an option that decides the state changed
        groups, arrays = self.param_groups, table.table
        count_only = type(self)._advance is Optimizer._advance
        for batch in table.batches:
            group = groups[batch.group_index]
            if count_only and not missing and batch.step is not None and batch.variant is not None:
                # Every parameter of the batch at the same step: write the new count in one pass.
                set_steps(batch, batch.step + 1)
                batch.step += 1
                state = batch.states[0]
            else:
                state = self._advance_batch(group, batch, grads)
                if state is None:
                    continue
            # Python floats: the batched kernel rounds them to the dtype (cheaper than numpy's scalars).
            batch.variant(arrays, *batch.arguments, tuple(self._scalars(group, state, float)))
        return True

    def _advance_batch(self, group: dict, batch, grads: list):
        """Advance the state of each parameter of ``batch`` that has a gradient, one by one.

        Returns a state for the batch's scalars, or None when the batch is done (no gradient,
        parameters at different steps, or a kernel that is not elementwise: then each parameter
        was updated by a call of its own).
        """
        advance, scalar_key, keys, stepped = self._advance, self._scalar_key, set(), []
        for state, row in zip(batch.states, batch.rows):
            if grads[row] is not None:
                advance(group, state)
                keys.add(scalar_key(state))
                stepped.append((state, row))
        if not stepped:
            return None
        batch.step = stepped[0][0]["step"] if len(keys) == 1 and len(stepped) == len(batch.rows) else None
        if len(keys) == 1 and batch.variant is not None:
            return stepped[0][0]
        for state, row in stepped:  # one call each
            _, _, variant, flat_param, buffers, dtype = self._plans[row]
            variant(flat_param, grads[row].reshape(-1), *buffers, *self._scalars(group, state, dtype))
        return None

    def kernel_calls(self, grads) -> list[KernelCall]:
        """The kernel calls the next :meth:`step` would make, without making them.

        For benchmarks and chapters that time or inspect the fused kernels: each
        :class:`KernelCall` holds the :class:`~adamlib._jit.Kernel` (with its ``serial`` and
        ``parallel`` variants) and its arguments — flat views of the parameter, gradient and
        state, then the scalars of the next step. Calling it updates the arrays in place but
        not the step count. Every parameter with a gradient must have taken a step already.
        """
        calls = []
        for g_index, group, param, grad, plan, first in self._prepare(grads, prepared_only=True):
            state, kernel, _, flat_param, buffers, dtype = plan
            upcoming = dict(state)
            self._advance(group, upcoming)
            scalars = self._scalars(group, upcoming, dtype)
            calls.append(KernelCall(kernel, (flat_param, grad.reshape(-1), *buffers, *scalars)))
        return calls

    def _prepare(self, grads, prepared_only: bool = False) -> list[tuple]:
        """Check the whole step, then commit new state and plans (nothing else is written).

        Returns ``(group index, group, param, grad, plan, first)`` for each parameter to
        update, where ``first`` says that its buffers were created for this step.
        """
        grads, names = gradient_list(grads, self.param_groups)
        params = self._sync_layout()
        if len(grads) != len(params):
            raise ValueError(f"got {len(grads)} gradients for {len(params)} parameters")
        if not self._layout_checked:
            self._check_layout()
        self._check_changed_groups()
        plans, states, memory, seen_before = self._plans, self._state, self._memory, self._checked_grads
        if states.replaced:  # the user set or removed an entry of opt.state: check every plan
            plans.clear()
            self._table = None
            states.replaced = False
        check_finite, ref = self.check_finite, weakref.ref
        work, stale, checked, overlaps = [], [], {}, []
        index = 0
        for g_index, group in enumerate(self.param_groups):
            for param in group["params"]:
                grad = grads[index]
                if grad is not None:
                    if not (type(grad) is np.ndarray and grad.dtype == param.dtype
                            and grad.shape == param.shape and grad.flags.c_contiguous):
                        self._explain_bad_gradient(grad, param, index, names)
                    plan = plans.get(index)
                    if plan is None or plan[0].replaced:
                        stale.append(len(work))
                    # A gradient array already checked at the last step occupies the same memory.
                    seen = seen_before.get(index)
                    if seen is None or seen() is not grad:
                        shared = memory.overlapping(grad)
                        if shared is not None:  # an error unless the state changed (checked below)
                            overlaps.append((index, shared))
                    checked[index] = ref(grad)
                    if check_finite:
                        self._check_finite(grad, index, names)
                    work.append((g_index, group, param, grad, plan, False))
                index += 1
        if stale:
            if prepared_only:
                raise RuntimeError("kernel_calls() shows a step the optimizer has prepared: take one step() first")
            self._commit_new_state(work, stale, params, names)
        elif overlaps:
            index, shared = overlaps[0]
            raise ValueError(f"{role(index, names)} shares memory with {shared}; pass a separate gradient array")
        else:
            self._checked_grads = checked
        return work

    def _commit_new_state(self, work: list, stale: list, params: list, names) -> None:
        """Check and create the state of the parameters in ``work[stale]``, and their plans."""
        states, additions, index_of = self._state, {}, {}
        index = 0
        for group in self.param_groups:  # the state index of each parameter to update
            for param in group["params"]:
                index_of[id(param)] = index
                index += 1
        layout = self._state_layout
        fresh = [work[w][1:3] for w in stale if states.get(index_of[id(work[w][2])]) is None]
        arena = Arena([math.prod(shape) * param.itemsize for group, param in fresh
                       for shape in layout.new_shapes(group, param).values()])
        for w in stale:
            g_index, group, param = work[w][:3]
            index = index_of[id(param)]
            state = states.get(index)
            additions[w] = (layout.new(group, param, arena.zeros) if state is None else
                            layout.check(state, index, g_index, group, param, type(self).__name__))
        memory = self._memory_map(params, states)  # entries the user replaced must not overlap
        for item in work:
            shared = memory.overlapping(item[3])
            if shared is not None:
                raise ValueError(f"{role(index_of[id(item[2])], names)} shares memory with {shared}; "
                                 "pass a separate gradient array")
        # Everything checked: commit the new state and plans.
        for w in stale:
            g_index, group, param, grad = work[w][:4]
            index = index_of[id(param)]
            state = states.get(index)
            if type(state) is not _State:
                state = states[index] = _State(state or {})
            dict.update(state, additions[w])
            state.replaced = False
            plan = self._plans[index] = self._plan(group, param, state)
            work[w] = (g_index, group, param, grad, plan, bool(additions[w]))
        self._table = None
        states.replaced = False
        self._memory = self._memory_map(params, states)  # new buffers: no gradient may alias them
        self._checked_grads = {}

    @staticmethod
    def _check_finite(grad, index: int, names) -> None:
        bad = nonfinite_count(grad.reshape(-1))
        if bad:
            raise NonFiniteGradientError(f"{role(index, names)} has {bad} non-finite value(s); "
                                         "step refused, nothing changed")

    @staticmethod
    def _explain_bad_gradient(grad, param, index: int, names):
        name = role(index, names)
        check_array(grad, name, writeable=False)
        raise ValueError(f"{name} is a {describe(grad)} but parameter {index} is a {describe(param)}")

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """A snapshot of the optimizer: plain numpy arrays and Python values.

        Same layout as torch's: ``{"state": {index: {...}}, "param_groups": [{..., "params":
        [indices]}]}`` (with ``"param_names"`` for named parameters), plus ``"optimizer"``, the
        class name, checked on load. Unlike torch's, the arrays are copies, so later steps do
        not change a snapshot already taken.
        """
        self._sync_layout()
        groups, start = [], 0
        for group in self.param_groups:
            entry = {k: (list(v) if k == "param_names" else v) for k, v in group.items() if k != "params"}
            entry["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(entry)
        state = {
            i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for i, s in sorted(self._state.items())
        }
        return {"optimizer": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a snapshot taken by :meth:`state_dict` (validated whole before any change).

        As in torch, the saved options replace the groups' options, and saved parameter names
        replace the current ones. State arrays must have the shapes of the state layout
        (their parameter's, except Adafactor's factors); they are copied and cast to the
        parameter's dtype, as torch does. :class:`Adam` and :class:`AdamW` load each other's
        state dicts (the same state), as torch allows. A state
        dict saved by ``torch.optim`` (recognised by having no ``"optimizer"`` name) is converted
        first, as ``adamlib.torch.from_torch_state_dict`` does, without importing torch.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("not an optimizer state dict: needs 'state' and 'param_groups'")
        if is_torch_format(state_dict):  # torch.optim's (no class name): tensors, torch-only options
            state_dict = from_torch_state_dict(state_dict, self)
        name, this = state_dict.get("optimizer", type(self).__name__), type(self).__name__
        if name != this and name not in self._state_dicts_from:
            raise ValueError(f"state dict is from {name}, cannot load it into {this}")
        self._sync_layout()
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
            unknown = set(saved) - set(self.defaults) - NOT_OPTIONS
            if unknown:
                raise ValueError(f"param_groups[{g_index}] in the state dict has unknown options {sorted(unknown)}")
            new = {**group, **{k: (list(v) if k == "param_names" else v) for k, v in saved.items() if k != "params"}}
            new.update(self._forced_options)
            self._check_options(new, g_index)
            groups.append(new)
        check_names(groups)
        owner = {}  # saved index -> (our index, group index, its new group, the parameter)
        for g_index, (saved, new) in enumerate(zip(saved_groups, groups)):
            for saved_index, param in zip(saved["params"], new["params"]):
                owner[saved_index] = (len(owner), g_index, new, param)
        states, layout = {}, self._state_layout
        arena = Arena([math.prod(shape) * owner[saved_index][3].itemsize
                       for saved_index, saved_state in state_dict["state"].items() if saved_index in owner
                       for key, shape in layout.shapes(owner[saved_index][3]).items() if key in saved_state])
        for saved_index, saved_state in state_dict["state"].items():
            if saved_index not in owner:
                raise ValueError(f"state dict has state for parameter {saved_index}, which no group lists")
            i, g_index, group, param = owner[saved_index]
            restored, shapes = dict(saved_state), layout.shapes(param)
            for key, value in saved_state.items():
                if key in shapes:
                    value = np.asarray(value)
                    if value.shape != shapes[key]:
                        raise ValueError(
                            f"state[{i}][{key!r}] has shape {value.shape}, parameter {i} has shape {param.shape}"
                            + ("" if shapes[key] == param.shape else f" (so it must be {shapes[key]})")
                        )
                    restored[key] = arena.zeros(value.shape, param.dtype)
                    restored[key][...] = value  # cast as torch casts a loaded state to its parameter's dtype
                elif key == "step" and isinstance(value, (float, np.floating)) and float(value).is_integer():
                    restored[key] = int(value)
                elif key in layout.scalars and key != "step":
                    restored[key] = float(value)
            layout.check(restored, i, g_index, group, param, this)
            states[i] = _State(restored)
        # Everything checked: now commit.
        for group, new in zip(self.param_groups, groups):
            group.clear()
            group.update(new)
        dict.clear(self._state)
        dict.update(self._state, states)
        self._forget_checks()
        self._check_layout()
