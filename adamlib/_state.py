"""What one parameter's optimizer state holds, and the checks that keep it consistent.

Each optimizer declares a :class:`StateLayout`: its scalar entries (``step``, NAdam's
``mu_product``), the buffers every parameter has, and the :class:`OptionalBuffer` entries that
only some option values ask for (``max_exp_avg_sq`` with ``amsgrad``, …). The layout creates a
parameter's state at its first step and checks an existing state — one the user edited, one
loaded from a state dict, one that met changed options — before a step uses it.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ._validation import check_array, check_int, describe

_set = dict.__setitem__  # writes a state entry without marking it replaced (see _State)


def _noting(name):
    method = getattr(dict, name)

    def noting(self, *args, **kwargs):
        self.replaced = True
        _State.edits += 1
        return method(self, *args, **kwargs)

    noting.__name__ = name
    return noting


class _State(dict):
    """One parameter's state: a dict that notes when an entry is set, replaced or removed.

    The optimizer keeps flat views of the state arrays between steps; after
    ``opt.state[0]["exp_avg"] = new_array`` (or ``del``, ``update``, …) ``replaced`` is set and
    the next step re-reads and re-checks the state, as torch re-reads its state every step.
    The optimizer writes its own scalar entries (``step``) with ``dict.__setitem__``. The
    mapping from index to state (``opt.state``) is one too. ``_State.edits`` counts such
    changes to any state, so that a step can tell in O(1) that no state changed since the last.
    """

    __slots__ = ("replaced",)
    edits = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.replaced = False

    def __reduce__(self):  # pickle and copy.deepcopy rebuild it from its items
        return _State, (dict(self),)

    __setitem__ = _noting("__setitem__")
    __delitem__ = _noting("__delitem__")
    __ior__ = _noting("__ior__")
    clear = _noting("clear")
    pop = _noting("pop")
    popitem = _noting("popitem")
    setdefault = _noting("setdefault")
    update = _noting("update")


class OptionalBuffer(NamedTuple):
    """A state buffer that exists only when a group option asks for it."""

    option: str
    """The option's name, for messages."""
    wanted: Callable[[dict], bool]
    """Whether a group's options ask for the buffer."""
    starts_late: bool = False
    """Created at the first step that asks for it, even after earlier steps (torch's SGD
    momentum buffer); otherwise an option switched on after a parameter's first step is refused
    (torch raises a KeyError there)."""


class StateLayout(NamedTuple):
    """The entries of a parameter's state under one optimizer."""

    buffers: tuple = ()
    """The arrays every parameter has (zeros of its dtype, and of the shape :meth:`shapes` gives,
    to begin with)."""
    optional: dict = {}
    """State key -> :class:`OptionalBuffer`: the arrays only some option values need."""
    scalars: dict = {"step": 0}
    """The scalar entries, and their values before the first step."""
    fill: dict = {}
    """State key -> the option whose value a new buffer is filled with (Adagrad's ``sum``
    starts at ``initial_accumulator_value``); buffers not listed start at zero."""

    def shapes(self, param: np.ndarray) -> dict:
        """State key -> shape of every array a parameter's state may hold (required, then optional).

        Every buffer has the parameter's shape here. A layout whose buffers are shaped
        otherwise (Adafactor's row and column factors) overrides this method; the layout's
        other methods and the optimizer's state-dict checks follow it.
        """
        return dict.fromkeys((*self.buffers, *self.optional), param.shape)

    def views(self, state: dict) -> dict:
        """State key -> the view of each state array that the kernels take: flat, by default."""
        return {k: v.reshape(-1) for k, v in state.items() if isinstance(v, np.ndarray)}

    def new_shapes(self, group: dict, param: np.ndarray) -> dict:
        """State key -> shape of every buffer that :meth:`new` creates under ``group``'s options."""
        return {key: shape for key, shape in self.shapes(param).items()
                if key not in self.optional or self.optional[key].wanted(group)}

    def new(self, group: dict, param: np.ndarray, zeros: Callable = np.zeros) -> dict:
        """The state of a parameter before its first step under ``group``'s options, its
        buffers made by ``zeros(shape, dtype)`` (an :class:`Arena`'s, or numpy's own)."""
        state = dict(self.scalars)
        state.update((key, self._start(key, group, param, shape, zeros))
                     for key, shape in self.new_shapes(group, param).items())
        return state

    def _start(self, key: str, group: dict, param: np.ndarray, shape: tuple,
               zeros: Callable = np.zeros) -> np.ndarray:
        """Buffer ``key`` of a new state, of ``shape``: zeros, or filled with the option :attr:`fill` names."""
        buffer = zeros(shape, param.dtype)
        option = self.fill.get(key)
        if option is not None:
            buffer.fill(group[option])
        return buffer

    def check(self, state, index: int, g_index: int, group: dict, param: np.ndarray, owner: str) -> dict:
        """Check parameter ``index``'s existing state against ``group``; return the entries to add.

        Raises (naming the state entry, or the option and the group) when an entry is unknown,
        missing or not an array of the parameter's shape and dtype, or when an option asks for
        a buffer that cannot start late. ``owner`` is the optimizer's name, for messages.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state[{index}] must be a dict, got {describe(state)}")
        shapes = self.shapes(param)
        required = [*self.scalars, *(key for key in shapes if key not in self.optional)]
        if set(state) - {*required, *self.optional} or set(required) - set(state):
            optional = f" and optionally {sorted(self.optional)}" if self.optional else ""
            raise ValueError(f"state of parameter {index} has keys {sorted(state)}, {owner} expects "
                             f"{sorted(required)}{optional}")
        for key, value in state.items():
            role = f"state[{index}][{key!r}]"
            if key == "step":
                check_int(role, value, 0)
            elif key in self.scalars:
                if not isinstance(value, float):
                    raise TypeError(f"{role} must be a float, got {value!r}")
            else:
                check_array(value, role, writeable=True)
                if value.dtype != param.dtype or value.shape != shapes[key]:
                    raise ValueError(f"{role} is a {describe(value)} but parameter {index} is a {describe(param)}"
                                     + ("" if shapes[key] == param.shape else f", so it must have shape {shapes[key]}"))
        additions = {}
        for key, spec in self.optional.items():
            if key in state or not spec.wanted(group):
                continue
            if not spec.starts_late:
                raise ValueError(
                    f"{spec.option}={group[spec.option]!r} in param_groups[{g_index}] needs "
                    f"state[{index}][{key!r}], which parameter {index} lacks: its state began "
                    f"without it, and {owner} cannot start it late. Set {spec.option} back, or "
                    f"start a new optimizer with {spec.option} set"
                )
            additions[key] = self._start(key, group, param, shapes[key])
        return additions


class Arena:
    """One block of zeroed memory from which the state buffers of many parameters are cut.

    A step that creates the state of many parameters at once (the first step, a loaded state
    dict) takes each buffer from here rather than from an allocation of its own, so that the
    buffers lie one after the other, each at a cache-line boundary: a kernel passing from one
    parameter's buffers to the next then keeps reading on in the same block, where separately
    allocated buffers each start a new stream in memory. Each buffer is a view of the block,
    which lives as long as any of them does.

    ``nbytes`` lists the size of every buffer that :meth:`zeros` will be asked for.
    """

    ALIGNMENT = 64  # bytes: a cache line

    def __init__(self, nbytes):
        total = sum(map(self._padded, nbytes))
        raw = np.zeros(total + self.ALIGNMENT, np.uint8)
        start = -raw.__array_interface__["data"][0] % self.ALIGNMENT
        self._block, self._offset = raw[start:start + total], 0

    @classmethod
    def _padded(cls, nbytes: int) -> int:
        return -(-nbytes // cls.ALIGNMENT) * cls.ALIGNMENT

    def zeros(self, shape: tuple, dtype) -> np.ndarray:
        """The next zeroed buffer of ``shape`` and ``dtype``, cut from the block."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        end = self._offset + nbytes
        if end > self._block.size:
            raise RuntimeError(f"Arena: a buffer of {nbytes} bytes asked for beyond the {self._block.size} reserved")
        buffer = self._block[self._offset:end].view(dtype).reshape(shape)
        self._offset += self._padded(nbytes)
        return buffer
