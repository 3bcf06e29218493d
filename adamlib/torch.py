"""torch.optim's optimizers, stepped by adamlib's kernels: change one import, keep the loop.

>>> import torch
>>> from adamlib.torch import AdamW
>>> model = torch.nn.Linear(3, 1)
>>> opt = AdamW(model.parameters(), lr=1e-2)
>>> model(torch.ones(2, 3)).sum().backward()
>>> opt.step(); opt.zero_grad()

Each class here *is* the ``torch.optim`` class of the same name (a subclass of it): the same
arguments, defaults, validation, ``param_groups``, ``state``, hooks, ``zero_grad`` and
``state_dict()``/``load_state_dict()`` in torch's own format, so every learning-rate scheduler,
``torch.save`` checkpoint and wrapper built on ``torch.optim.Optimizer`` works unchanged. Only
``step`` differs: it runs adamlib's fused kernels on zero-copy numpy views of the parameters
and of their ``.grad``; it calls torch's step hooks as torch does, but opens its profiler range
(``Optimizer.step#<class>.step``) only while a profiler is on.

How it works. An inner adamlib optimizer (:mod:`adamlib.optimizers`) holds numpy views of the
parameters; ``self.state[p]`` holds tensors that share memory with the inner optimizer's state
arrays (and 0-d tensors for ``step`` and NAdam's ``mu_product``, refreshed after each step), so
torch's own ``state_dict`` sees live values. Before each step the adapter checks, for every
parameter, that it is the same tensor at the same address with the same state tensors; if
anything moved (``model.share_memory()``, ``.to()``, ``p.data = ...``, ZeRO's bucket views,
``load_state_dict``, a group added or edited, an option that decides which state exists), the
inner optimizer is rebuilt from the tensors as they are now — never writing through an old view.
These checks run over all parameters at once, in C-level maps; the gradients then go to the
inner optimizer as plain numpy views, which its compiled check vouches for in one call. If it
cannot vouch for one (another dtype, shape or layout), the step checks every gradient one by
one, as at the first step.
Options (``lr``, ``betas``, ...) are copied from ``param_groups`` at every step, so schedulers
work.

What it refuses, with an error that says what to do: parameters that are not float32/float64
CPU tensors dense in memory (CUDA, float16, bfloat16, complex, sparse), tensor subclasses (the
DTensors of FSDP's ``fully_shard``), sparse gradients and ``differentiable=True``. ``foreach``,
``fused`` and ``capturable`` are accepted and change nothing. Gradients in another memory
layout than their parameter are copied into it first.

Under ``torch.distributed`` (tested with 2 gloo processes on one machine): the classes work with
``DistributedDataParallel`` and as ``ZeroRedundancyOptimizer(params, optimizer_class=...)``,
with or without ``parameters_as_bucket_view``, and a consolidated ZeRO ``state_dict()`` loads
into them and into torch.optim. ``ZeroRedundancyOptimizer(..., overlap_with_ddp=True)`` needs a
functional optimizer, which adamlib does not provide: torch's constructor refuses the class.
"""

from __future__ import annotations

import functools
import operator
from itertools import chain

import numpy as np
import torch
from torch.autograd.graph import increment_version
from torch.optim import optimizer as _torch_optimizer

from . import optimizers as _numpy
from ._torch_format import (
    from_torch_state_dict,
    group_from_torch,
    option_names,
    param_state_from_torch,
    param_state_to_torch,
    to_torch_state_dict,
)

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adafactor",
           "from_torch_state_dict", "to_torch_state_dict"]

_DTYPES = (torch.float32, torch.float64)


class _Stale(Exception):
    """Internal: a parameter or its state changed since the inner optimizer was built."""


def _memory_order(p: torch.Tensor, where: str):
    """The permutation that makes ``p`` C-contiguous (None if it already is); dense tensors only."""
    if p.is_contiguous():
        return None
    order = tuple(sorted(range(p.dim()), key=lambda d: -p.stride(d)))
    if not p.permute(order).is_contiguous():
        raise ValueError(
            f"{where} is not dense in memory (shape {tuple(p.shape)}, strides {p.stride()}); "
            "adamlib.torch updates parameters as flat memory: pass p.contiguous() as the parameter"
        )
    return order


def _check_param(p, where: str, optimizer: str) -> None:
    """Refuse a parameter the kernels cannot update in place, saying what to do instead."""
    plain = p.detach()  # an nn.Parameter detaches to a Tensor; a DTensor stays one
    if type(plain) is not torch.Tensor:
        raise TypeError(
            f"{where} is a {type(plain).__name__}, a tensor subclass (FSDP's fully_shard and tensor "
            "parallelism make DTensors); adamlib.torch updates plain tensors through numpy: use "
            f"torch.optim.{optimizer}, or shard only the optimizer state with torch.distributed.optim."
            f"ZeroRedundancyOptimizer(params, optimizer_class=adamlib.torch.{optimizer})"
        )
    if p.layout != torch.strided:
        raise ValueError(f"{where} is a sparse tensor ({p.layout}); adamlib.torch updates dense "
                         f"CPU tensors only: use torch.optim.{optimizer}")
    if p.device.type != "cpu":
        raise ValueError(f"{where} is on {p.device}; adamlib's kernels run on the CPU: move the model "
                         f"with .cpu(), or use torch.optim.{optimizer}(..., fused=True) on {p.device.type}")
    if p.dtype not in _DTYPES:
        hint = ("view it as real numbers with torch.view_as_real" if p.is_complex() else
                "keep float32 master weights (e.g. torch.autocast for low-precision compute)")
        raise TypeError(f"{where} is {p.dtype}; adamlib's kernels take float32 and float64: {hint}, "
                        f"or use torch.optim.{optimizer}")
    _memory_order(p, where)


class _Param:
    """One parameter as the inner optimizer sees it: its numpy view, and its mirrored state."""

    __slots__ = ("param", "where", "ptr", "shape", "stride", "dtype", "order", "inverse", "view",
                 "state", "state_items", "scalars", "mirrored")

    def __init__(self, p: torch.Tensor, where: str, optimizer: str):
        _check_param(p, where, optimizer)
        self.param, self.where = p, where
        self.ptr, self.shape, self.stride, self.dtype = p.data_ptr(), p.shape, p.stride(), p.dtype
        self.order = _memory_order(p, where)
        self.inverse = None if self.order is None else tuple(int(i) for i in np.argsort(self.order))
        self.view = self._numpy(p.detach())
        self.state, self.state_items, self.scalars, self.mirrored = None, _items(None), (), False

    def _numpy(self, t: torch.Tensor) -> np.ndarray:
        """``t`` (shaped like the parameter) as numpy, in the parameter's memory order."""
        return (t if self.order is None else t.permute(self.order)).numpy()

    def moved(self) -> bool:
        p = self.param
        return p.data_ptr() != self.ptr or p.shape != self.shape or p.stride() != self.stride or p.dtype != self.dtype

    def view_of(self, g: torch.Tensor) -> np.ndarray | None:
        """``g`` as numpy, in the parameter's memory order, unchecked (None where torch refuses)."""
        try:
            return g.numpy() if self.order is None else g.permute(self.order).numpy()
        except (RuntimeError, TypeError):
            return None

    def gradient(self, g: torch.Tensor) -> np.ndarray:
        """A numpy view of ``g`` that the kernels read in step with :attr:`view` (or a copy)."""
        a = self.view_of(g)
        if a is None or a.shape != self.view.shape or a.dtype != self.view.dtype or not a.flags.c_contiguous:
            return self._unusual_gradient(g)
        return a

    def _unusual_gradient(self, g: torch.Tensor) -> np.ndarray:
        if self.moved():
            raise _Stale
        role = f"the gradient of {self.where}"
        if g.layout != torch.strided:
            raise ValueError(f"{role} is sparse; adamlib.torch takes dense gradients: use dense ones "
                             "(e.g. nn.Embedding(sparse=False)) or torch.optim.SparseAdam")
        if g.device.type != "cpu" or g.dtype != self.dtype or g.shape != self.shape:
            raise ValueError(f"{role} is a {g.dtype} tensor of shape {tuple(g.shape)} on {g.device}, "
                             f"the parameter a {self.dtype} tensor of shape {tuple(self.shape)} on cpu")
        g = g.detach().resolve_conj().resolve_neg()
        if g.stride() != self.stride:  # another memory layout: one copy into the parameter's
            g = torch.empty_like(self.param, memory_format=torch.preserve_format).copy_(g)
        return self._numpy(g)

    def check_state(self, state) -> None:
        """Raise :class:`_Stale` if ``state`` is not the dict of tensors mirrored last."""
        if state is not self.state:
            raise _Stale
        if state is None:
            return
        tensors, ptrs, data_ptr = self.state_items
        if len(state) != len(tensors) or not all(map(operator.is_, state.values(), tensors)):
            raise _Stale  # an entry replaced, added or removed: adopt the dict as it is now
        if list(map(data_ptr, tensors)) != ptrs:
            key = next(k for k, t, ptr in zip(state, tensors, ptrs) if _data_ptr(t) != ptr)
            raise RuntimeError(
                f"optimizer state {key!r} of {self.where} was moved to new memory (by "
                "share_memory_() or similar); adamlib.torch keeps the state in its own arrays "
                "and cannot follow it there: use torch.optim for state shared between processes"
            )

    def state_array(self, t: torch.Tensor) -> np.ndarray:
        """A torch state tensor as numpy, in the parameter's memory order and dtype (no copy if
        it already is; adamlib copies on load)."""
        t = t.detach()
        if t.device.type != "cpu" or t.dtype != self.dtype:
            t = t.to(device="cpu", dtype=self.dtype)
        if t.shape != self.shape:
            return t.numpy()  # adamlib's load_state_dict names the mismatch
        return self._numpy(t)

    def tensor(self, key, array: np.ndarray) -> torch.Tensor:
        """A tensor of the parameter's shape and strides that shares ``array``'s memory."""
        t = torch.from_numpy(array)
        return t if self.inverse is None else t.permute(self.inverse)


class _Watch:
    """What a step compares to know that nothing moved, over all parameters at once.

    Built after a step from the parameters as mirrored, when every parameter is in C order,
    mirrored, and every state value a tensor (the usual case); :meth:`views` then checks, in
    C-level maps rather than parameter by parameter, the keys and values of the optimizer's
    ``state`` (so each parameter still has the state dict it had), the identity of every
    state dict's values, and the data pointer and layout of every parameter and state tensor
    — what ``_Param.check_state`` and the step's own checks look at one by one. After such a
    step, :meth:`publish` refreshes the mirrored scalars from a list made once.
    """

    __slots__ = ("params", "layouts", "state", "keys", "dicts", "states", "values", "tensors", "ptrs",
                 "scalars")

    def __init__(self, entries: list, state: dict, inner_state: dict):
        # What each entry recorded when it was built or mirrored, gathered for C-level comparison.
        self.params = [e.param for e in entries]
        self.layouts = ([e.shape for e in entries], [e.stride for e in entries], [e.dtype for e in entries])
        self.state, self.keys, self.dicts = state, list(state), list(state.values())
        self.states = [e.state for e in entries]
        self.values = [v for e in entries for v in e.state_items[0]]
        self.tensors = self.params + self.values
        self.ptrs = [e.ptr for e in entries] + [ptr for e in entries for ptr in e.state_items[1]]
        self.scalars = [(holder, inner_state[i], key) for i, e in enumerate(entries) for key, holder in e.scalars]

    @staticmethod
    def applies(entries: list, state: dict) -> bool:
        return all(e.order is None and e.mirrored and e.state_items[2] is torch.Tensor.data_ptr
                   and state.get(e.param) is e.state for e in entries)

    def views(self, state: dict):
        """Every gradient as a numpy view, if nothing moved and every parameter has a gradient
        that torch can view; None otherwise (the step then looks at each parameter)."""
        present = list(filter(None, self.states))
        if (state is not self.state or len(state) != len(self.keys)
                or not all(map(operator.is_, state, self.keys))  # dict order pairs each key with its value
                or not all(map(operator.is_, state.values(), self.dicts))
                or sum(map(len, present)) != len(self.values)
                or not all(map(operator.is_, chain.from_iterable(map(dict.values, present)), self.values))
                or list(map(torch.Tensor.data_ptr, self.tensors)) != self.ptrs
                or _layouts(self.params) != self.layouts):  # same memory, seen another way
            return None
        try:
            return list(map(torch.Tensor.numpy, map(_GRAD, self.params)))
        except (TypeError, RuntimeError):  # a None gradient, one that requires grad, ...
            return None

    def publish(self) -> None:
        """After a step that :meth:`views` vouched for (every parameter stepped, every one
        mirrored already): what ``_KernelStep._publish`` does then, from lists made once."""
        for holder, state, key in self.scalars:
            holder[()] = state[key]
        increment_version(self.params)


_GRAD = operator.attrgetter("grad")


def _layouts(params: list) -> tuple:
    """Shapes, strides and dtypes of ``params``, in three C-level passes."""
    return (list(map(_SHAPE, params)), list(map(torch.Tensor.stride, params)), list(map(_DTYPE, params)))


_SHAPE, _DTYPE = operator.attrgetter("shape"), operator.attrgetter("dtype")


def _scalar_dtype(group, key, previous) -> type:
    """The dtype torch gives a scalar state entry (kept from a loaded tensor where there is one)."""
    if isinstance(previous, torch.Tensor) and previous.dtype in _DTYPES:
        return np.float64 if previous.dtype == torch.float64 else np.float32
    if key == "step" and group.get("fused"):
        return np.float32
    return np.float64 if torch.get_default_dtype() == torch.float64 else np.float32


def _with_hooks(step):
    """``step`` with what torch's wrapper (``torch.optim.Optimizer.profile_hook_step``) adds to
    every optimizer's step: the global and the optimizer's own pre- and post-hooks, a call of
    ``_optimizer_step_code`` (where torch's profiler looks at the optimizer), and the profiler
    range ``Optimizer.step#<class>.step``.

    One difference: the range is opened only while a profiler is on
    (``torch.autograd.profiler._is_profiler_enabled``, the flag torch's own compiled code checks
    before it records a range). Opening and closing it are two calls through torch's dispatcher:
    measured in interleaved rounds, after steps that filled the caches, 40–50 µs together, which
    torch's wrapper pays at every step, profiled or not. Marked ``hooked``, so that ``Optimizer.__init__`` does
    not wrap it again.
    """
    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        self = args[0]
        if not torch.autograd.profiler._is_profiler_enabled:
            return _call_with_hooks(step, self, args, kwargs)
        with torch.autograd.profiler.record_function(f"Optimizer.step#{type(self).__name__}.step"):
            return _call_with_hooks(step, self, args, kwargs)

    wrapper.hooked = True
    return wrapper


def _call_with_hooks(step, self, args, kwargs):
    for pre_hook in chain(_torch_optimizer._global_optimizer_pre_hooks.values(),
                          self._optimizer_step_pre_hooks.values()):
        result = pre_hook(self, args, kwargs)
        if result is not None:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), "
                                   f"but got {result}.")
            args, kwargs = result
    out = step(*args, **kwargs)
    self._optimizer_step_code()
    for post_hook in chain(self._optimizer_step_post_hooks.values(),
                           _torch_optimizer._global_optimizer_post_hooks.values()):
        post_hook(self, args, kwargs)
    return out


class _KernelStep:
    """The step of an adamlib.torch optimizer: mixed into the torch.optim class of its name."""

    _numpy_class: type
    _state_options: tuple = ()  # options whose truth decides which state buffers exist

    def __init__(self, params, *args, **kwargs):
        self._params = None  # the inner optimizer's view of the parameters, built at a step
        self._watch = None  # what the next step compares (see _Watch), built after a step
        super().__init__(params, *args, **kwargs)
        # fused=True makes torch's class advertise a step that unscales gradients itself.
        self._step_supports_amp_scaling = False

    def __setstate__(self, state):  # unpickling, and torch's load_state_dict
        super().__setstate__(state)
        self._params = self._watch = None

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group, index = self.param_groups[-1], len(self.param_groups) - 1
        try:
            self._check_group(group, index)
            for j, p in enumerate(group["params"]):
                _check_param(p, self._where(group, index, j), type(self).__name__)
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise
        self._params = self._watch = None

    def _check_group(self, group, index):
        if group.get("differentiable"):
            name = type(self).__name__
            raise ValueError(f"param_groups[{index}] has differentiable=True, but adamlib.torch.{name}'s "
                             f"step runs outside autograd: use torch.optim.{name}(differentiable=True)")

    @staticmethod
    def _where(group, index, j):
        names = group.get("param_names")
        return f"parameter {names[j]!r}" if names else f"param_groups[{index}]['params'][{j}]"

    def load_state_dict(self, state_dict):
        """torch's ``load_state_dict``; also takes a state dict of adamlib's numpy optimizers."""
        if isinstance(state_dict, dict) and "optimizer" in state_dict:
            state_dict = to_torch_state_dict(state_dict)
        super().load_state_dict(state_dict)

    # ------------------------------------------------------------------ the step
    @_with_hooks
    def step(self, closure=None):
        """One update of every parameter that has a ``.grad``, by adamlib's kernel.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called with gradients enabled).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        try:
            grads, watched = self._step_inner()
        except _Stale:  # raised before anything changed
            self._rebuild()
            grads, watched = self._step_inner()
        if watched:
            self._watch.publish()
        elif grads is not None:
            self._publish(grads)
            if self._watch is None and _Watch.applies(self._params, self.state):
                self._watch = _Watch(self._params, self.state, self._inner.state)
        return loss

    def _step_inner(self) -> tuple:
        """Step the inner optimizer: its gradients (None if there was nothing to step), and
        whether the watch (:class:`_Watch`) vouched for them and the table path stepped.

        Raises :class:`_Stale` (having changed nothing) if a parameter or its state moved.
        """
        watch = self._watch
        views = None if watch is None or self._groups_changed() else watch.views(self.state)
        watched = views is not None
        if views is None:
            views = self._gradient_views()
        if self._inner is None or all(g is None for g in views):
            return None, False
        for index, torch_group, inner_group in self._group_pairs:
            self._check_group(torch_group, index)
            inner_group.update(self._inner_options(torch_group))
        inner = self._inner
        # The inner optimizer's table path checks the plain views in one compiled call. If it
        # cannot vouch for one (another dtype, shape or memory layout), every gradient goes
        # through the checks here, which copy or refuse it with the parameter's name, and the
        # general path steps.
        if inner._table is not None and inner._step_by_table(views):
            return views, watched
        grads = [None if g is None else entry.gradient(entry.param.grad) for entry, g in zip(self._params, views)]
        inner.step(grads)
        return grads, False

    def _gradient_views(self) -> list:
        """Each parameter's gradient as numpy, unchecked: None where it has none, the tensor
        itself where torch makes no view; raises :class:`_Stale` if a parameter or its state moved."""
        params = self._params
        if params is None or self._groups_changed():
            raise _Stale
        state_get = self.state.get
        views = []
        for entry in params:
            if entry.moved():  # another address, or the same memory seen another way
                raise _Stale
            p = entry.param
            entry.check_state(state_get(p))
            g = p.grad
            if g is not None:
                view = entry.view_of(g)
                g = g if view is None else view  # a tensor: the table path refuses it
            views.append(g)
        return views

    def _groups_changed(self) -> bool:
        groups = self.param_groups
        if len(groups) != len(self._groups):
            return True
        for group, (known, params, shape) in zip(groups, self._groups):
            if group is not known or len(group["params"]) != len(params) or self._state_shape(group) != shape:
                return True
            for p, q in zip(group["params"], params):
                if p is not q:
                    return True
        return False

    def _inner_options(self, group) -> dict:
        """A torch group's options as the inner optimizer takes them (read at every step)."""
        return group_from_torch(group, self._options, self._numpy_class.__name__)

    def _state_shape(self, group) -> tuple:
        return tuple(bool(group[k]) for k in self._state_options)

    # ------------------------------------------------------------------ inner optimizer
    def _rebuild(self) -> None:
        """Build the inner optimizer over the parameters as they are now, with torch's state."""
        name = type(self).__name__
        numpy_name = self._numpy_class.__name__
        self._options = option_names(self._numpy_class)
        params, inner_groups, torch_groups = [], [], []
        for index, group in enumerate(self.param_groups):
            self._check_group(group, index)
            entries = [_Param(p, self._where(group, index, j), name) for j, p in enumerate(group["params"])]
            params += entries
            if entries:  # torch allows an empty group (ZeRO makes them); adamlib does not
                inner_groups.append({**self._inner_options(group),
                                     "params": [e.view for e in entries]})
                torch_groups.append((index, group))
        self._groups = [(g, list(g["params"]), self._state_shape(g)) for g in self.param_groups]
        self._params, self._inner, self._group_pairs, self._watch = params, None, [], None
        if not inner_groups:
            return
        inner = self._numpy_class(inner_groups)
        state = {}
        for i, entry in enumerate(params):
            converted = param_state_from_torch(self.state.get(entry.param), numpy_name,
                                               f"state of {entry.where}", array=entry.state_array)
            if converted is not None:
                state[i] = converted
        if state:
            snapshot = inner.state_dict()
            snapshot["state"] = state
            inner.load_state_dict(snapshot)  # validated whole, copied into the inner's own arrays
        self._inner = inner
        self._group_pairs = [(index, group, inner_group)
                             for (index, group), inner_group in zip(torch_groups, inner.param_groups)]
        for i, entry in enumerate(params):
            if i in inner.state:
                self._mirror(i, entry)
            else:
                entry.state = self.state.get(entry.param)
                entry.state_items = _items(entry.state)

    def _mirror(self, i: int, entry: _Param) -> None:
        """Point ``self.state[p]`` at tensors sharing the inner optimizer's state of parameter i."""
        group = self._group_of(i)
        previous = self.state.get(entry.param) or {}
        scalars = []

        def scalar(key, value):
            holder = np.array(value, dtype=_scalar_dtype(group, key, previous.get(key)))
            scalars.append((key, holder))
            return torch.from_numpy(holder)

        converted = param_state_to_torch(self._inner.state[i], self._numpy_class.__name__,
                                         tensor=entry.tensor, scalar=scalar)
        entry.mirrored = True
        self._watch = None
        if converted is None:  # torch keeps no state here (SGD without momentum)
            entry.state = self.state.get(entry.param)
        else:
            state = self.state[entry.param]
            state.clear()
            state.update(converted)
            entry.state = state
        entry.state_items = _items(entry.state)
        entry.scalars = tuple(scalars)

    def _group_of(self, i: int) -> dict:
        for group, _, _ in self._groups:
            if i < len(group["params"]):
                return group
            i -= len(group["params"])
        raise IndexError(i)

    def _publish(self, grads) -> None:
        """After the inner step: refresh the scalar state tensors, mirror new state, bump versions."""
        inner_state = self._inner.state
        stepped = []
        for i, (entry, g) in enumerate(zip(self._params, grads)):
            if g is None:
                continue
            stepped.append(entry.param)
            if not entry.mirrored:
                self._mirror(i, entry)
                continue
            state = inner_state[i]
            for key, holder in entry.scalars:
                holder[()] = state[key]
        # The parameters changed behind autograd's back (through numpy): say so, as an in-place
        # torch op would, so a graph that saved them refuses to backpropagate through stale values.
        increment_version(stepped)


def _data_ptr(value):
    return value.data_ptr() if isinstance(value, torch.Tensor) else None


def _items(state) -> tuple:
    """The values of a state dict, their addresses, and the function that reads an address
    (the tensor method itself when every value is a tensor, as usual), as mirrored: see
    ``_Param.check_state``."""
    tensors = tuple(state.values()) if state else ()
    data_ptr = torch.Tensor.data_ptr if all(isinstance(t, torch.Tensor) for t in tensors) else _data_ptr
    return tensors, list(map(data_ptr, tensors)), data_ptr


def _document(cls, torch_class, numpy_class):
    cls.__doc__ = (
        f"``torch.optim.{torch_class.__name__}``, stepped by adamlib's fused kernel "
        f"(:class:`adamlib.{numpy_class.__name__}`).\n\n"
        f"Same arguments, defaults and behaviour as ``torch.optim.{torch_class.__name__}`` (a "
        f"subclass of it); see :mod:`adamlib.torch` for what is refused.\n"
    )
    return cls


class SGD(_KernelStep, torch.optim.SGD):
    _numpy_class = _numpy.SGD
    _state_options = ("momentum",)


class Adagrad(_KernelStep, torch.optim.Adagrad):
    _numpy_class = _numpy.Adagrad

    def _inner_options(self, group) -> dict:
        # torch fills a new parameter's ``sum`` with the constructor's initial_accumulator_value
        # (at construction, or at the first step of a parameter added later), whatever its
        # group says; the inner optimizer would use the group's.
        return {**super()._inner_options(group),
                "initial_accumulator_value": self.defaults["initial_accumulator_value"]}


class RMSprop(_KernelStep, torch.optim.RMSprop):
    _numpy_class = _numpy.RMSprop
    _state_options = ("momentum", "centered")


class Adam(_KernelStep, torch.optim.Adam):
    _numpy_class = _numpy.Adam
    _state_options = ("amsgrad",)


class AdamW(_KernelStep, torch.optim.AdamW):
    _numpy_class = _numpy.AdamW
    _state_options = ("amsgrad",)


class Adamax(_KernelStep, torch.optim.Adamax):
    _numpy_class = _numpy.Adamax


class NAdam(_KernelStep, torch.optim.NAdam):
    _numpy_class = _numpy.NAdam


class RAdam(_KernelStep, torch.optim.RAdam):
    _numpy_class = _numpy.RAdam


class Adafactor(_KernelStep, torch.optim.Adafactor):
    _numpy_class = _numpy.Adafactor

    def _check_group(self, group, index):
        # Adafactor factors a matrix over its last two dimensions, and the kernels see a
        # parameter in its memory order: the two orders must be the same.
        super()._check_group(group, index)
        for j, p in enumerate(group["params"]):
            if p.dim() > 1 and not p.is_contiguous():
                raise ValueError(
                    f"{self._where(group, index, j)} is not C-contiguous (shape {tuple(p.shape)}, "
                    f"strides {p.stride()}); adamlib.torch.Adafactor factors each matrix over its "
                    "last two dimensions, which must be the last two in memory: pass p.contiguous() "
                    "as the parameter, or use torch.optim.Adafactor")


for _cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, NAdam, RAdam, Adafactor):
    _document(_cls, _cls.__mro__[2], _cls._numpy_class)
del _cls
