"""One compiled call per group: a step over many arrays at the cost of one.

A step of :class:`~adamlib.Optimizer` over n parameters used to cost n kernel calls, and each call
through Numba's dispatcher costs microseconds, whatever the array's size: a model of many small
arrays paid more for the calls than for the arithmetic. This module lets a step make one call
per group (per kernel and dtype) instead, over a table of memory addresses:

* :class:`StepTable` holds, per parameter, the addresses of the parameter and of its state
  buffers (taken when the optimizer plans the parameter, and dropped with the plan whenever a
  parameter, its state or an option that decides the state changes), plus what its gradient
  must look like: dtype, shape, C order, and no memory shared with any parameter or state.
* :func:`gather_gradients` checks, in one compiled call holding the GIL, that each group's
  ``params`` list still holds the table's arrays, and every gradient of the step against the
  table. It reads CPython's list and tuple layout (the item pointers) and numpy's array header
  (``PyArrayObject_fields``: data pointer, ``nd``, dimensions, dtype and flags, at the offsets
  of numpy's public C struct), and writes each gradient's address into the table. It answers
  "all as expected" or the position of the first gradient it cannot vouch for; the optimizer
  then takes its general path, which checks everything in Python and raises the error, or
  handles what is merely unusual. So the fast path never accepts anything the general path
  would refuse.
* :func:`set_steps` writes a batch's new step count into every parameter's state in one
  compiled loop over CPython's ``PyDict_SetItem`` (what ``dict.__setitem__`` does), where a
  Python loop cost about 0.2 µs per parameter. Both it and :func:`gather_gradients` first
  prefetch every object they are about to touch (:func:`_prefetch`): after a forward and
  backward pass those objects are out of the caches, and misses that overlap cost a fraction
  of misses taken one at a time.
* When the first table is built, :func:`header_reads` checks all these reads and writes
  against Python's and numpy's own answers on probe objects; if any differs (another Python
  implementation, a free-threaded build), it is False and every step takes the general path.
* :func:`batched` turns a kernel over flat arrays into a kernel over the table: it cuts the
  concatenation of a group's arrays into equal chunks (one per thread when the group is large,
  :data:`~adamlib._jit.PARALLEL_THRESHOLD`; a single serial pass otherwise) and calls the
  serial kernel on each piece. Only elementwise kernels are batched (each piece then gives
  exactly the elements the one-array kernel gives); the step calls the others (Adafactor's)
  once per parameter.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import inspect
import sys
import sysconfig

import llvmlite.ir as ir
import numba
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.numpy_support import as_dtype

from ._jit import PARALLEL_THRESHOLD, function, kernel, scalar

# ------------------------------------------------------------------ memory access

@intrinsic
def _pointer(typingctx, address, like):
    """``address`` (an integer) as a pointer to ``like``'s dtype."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return types.CPointer(like.dtype)(address, like), codegen


def _loader(bits):
    @intrinsic
    def load(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.sext(builder.load(builder.inttoptr(args[0], ir.IntType(bits).as_pointer())),
                                ir.IntType(64))
        return types.int64(address), codegen
    return load


_load_int64 = _loader(64)
_load_int32 = _loader(32)


@intrinsic
def _call_c(typingctx, function, a, b, c):
    """Call the C function at address ``function`` with three pointer-sized arguments; its int result."""
    def codegen(context, builder, signature, args):
        word = ir.IntType(64)
        prototype = ir.FunctionType(ir.IntType(32), [word, word, word])
        return builder.sext(builder.call(builder.inttoptr(args[0], prototype.as_pointer()), args[1:]), word)
    return types.int64(function, a, b, c), codegen


@intrinsic
def _prefetch(typingctx, address):
    """Ask the CPU to bring the cache line at ``address`` (an integer) into its caches.

    A hint and nothing more: ``llvm.prefetch`` never faults and changes no result, whatever
    the address. Compiled loops that are about to touch many scattered objects or arrays
    issue all their prefetches first, so that the cache misses overlap instead of coming one
    after the other.
    """
    def codegen(context, builder, signature, args):
        byte, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]), "llvm.prefetch.p0")
        # read (0), keep in all levels (3), data cache (1)
        builder.call(prefetch, [builder.inttoptr(args[0], byte), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.none(address), codegen


@scalar
def _view(address, offset, count, like):
    """The ``count`` elements at ``address`` + ``offset`` bytes as a 1-D array (none at address 0)."""
    if address == 0:
        return numba.carray(_pointer(address, like), 0)
    return numba.carray(_pointer(address + offset, like), count)


# ------------------------------------------------------------------ CPython's lists and numpy's array header
# Byte offsets on 64-bit CPython. PyObject_HEAD is the reference count, then the type; a
# PyVarObject adds ob_size. A list points to its items (ob_item); a tuple holds them inline,
# from its basic size on. PyArrayObject_fields (numpy/ndarraytypes.h) continues with data, nd,
# dimensions, strides, base, descr, flags.
_TYPE, _SIZE, _LIST_ITEMS, _TUPLE_ITEMS = 8, 16, 24, tuple.__basicsize__
_DATA, _ND, _DIMENSIONS, _DESCR, _FLAGS = 16, 24, 32, 56, 64
_DICT_KEYS = 32  # PyDictObject's ma_keys (CPython 3.11-3.14), read only to prefetch its key table
_C_CONTIGUOUS = 0x0001  # NPY_ARRAY_C_CONTIGUOUS
# The addresses of the objects compiled code compares against, passed as an argument: they
# differ from process to process, and Numba's disk cache would freeze globals.
_LIST, _TUPLE, _NONE, _NDARRAY = range(4)
_KNOWN = np.array([id(list), id(tuple), id(None), id(np.ndarray)], np.int64)


@function
def _header(obj):
    """(type, data, nd, dimensions pointer, dtype, flags) of the numpy array at address ``obj``."""
    return (_load_int64(obj + _TYPE), _load_int64(obj + _DATA), _load_int32(obj + _ND),
            _load_int64(obj + _DIMENSIONS), _load_int64(obj + _DESCR), _load_int32(obj + _FLAGS))


@function
def _dimension(dimensions, d):
    return _load_int64(dimensions + 8 * d)


@function
def _items(sequence, known):
    """(address of the item pointers, length) of the exact list or tuple at address
    ``sequence``; (0, -1) for any other object. ``known`` is :data:`_KNOWN`."""
    kind = _load_int64(sequence + _TYPE)
    if kind == known[_LIST]:
        return _load_int64(sequence + _LIST_ITEMS), _load_int64(sequence + _SIZE)
    if kind == known[_TUPLE]:
        return sequence + _TUPLE_ITEMS, _load_int64(sequence + _SIZE)
    return 0, -1


@function
def _item(sequence, j, known):
    """``id(sequence[j])`` for the list or tuple at address ``sequence``."""
    return _load_int64(_items(sequence, known)[0] + 8 * j)


_DICT_SET_ITEM = ctypes.cast(ctypes.pythonapi.PyDict_SetItem, ctypes.c_void_p).value


@function(nogil=False)  # it writes Python dicts: the C API wants the GIL held
def set_in_each(dicts, key, value, set_item):
    """``d[key] = value`` for each dict ``d`` at the addresses ``dicts`` (``id()`` of each),
    as ``dict.__setitem__`` does, bypassing a subclass's ``__setitem__``; ``set_item`` is the
    address of CPython's ``PyDict_SetItem``. Returns how many writes succeeded."""
    for j in range(dicts.shape[0]):  # the dicts, then their key tables: the misses overlap
        _prefetch(dicts[j])
        _prefetch(dicts[j] + _DICT_KEYS)
    for j in range(dicts.shape[0]):
        keys = _load_int64(dicts[j] + _DICT_KEYS)
        _prefetch(keys)
        _prefetch(keys + 64)
    for j in range(dicts.shape[0]):
        if _call_c(set_item, dicts[j], key, value) != 0:
            return j
    return dicts.shape[0]


@functools.lru_cache(maxsize=None)
def header_reads() -> bool:
    """Whether steps may check their arguments by reading CPython's lists and tuples and
    numpy's array headers: whether :func:`_items` and :func:`_header` read what Python and
    numpy say, on objects of the kinds a step meets (checked once, at the first step that
    could use the table path)."""
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))  # another object layout
    if sys.implementation.name != "cpython" or sys.maxsize != 2**63 - 1 or free_threaded:
        return False
    probes = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(5), np.zeros(()),
              np.zeros((3, 4), order="F")[:, 1:], np.zeros(0, np.float32)]
    try:
        grown = []  # a list grown by appends has spare capacity past its items
        for a in probes:
            grown.append(a)
        for sequence in (probes, tuple(probes), [], grown[:3], grown):
            if (_items(id(sequence), _KNOWN)[1] != len(sequence)
                    or [_item(id(sequence), j, _KNOWN) for j in range(len(sequence))] != list(map(id, sequence))):
                return False
        if _items(id(probes[0]), _KNOWN) != (0, -1):
            return False
        dicts, key, value = [{"step": 1}, {"step": 2, "x": probes[0]}], "step", 3
        if (set_in_each(np.array(list(map(id, dicts)), np.int64), id(key), id(value), _DICT_SET_ITEM) != 2
                or dicts != [{"step": 3}, {"step": 3, "x": probes[0]}]):
            return False
        for a in probes:
            kind, data, nd, dims, descr, flags = _header(id(a))
            shape = tuple(_dimension(dims, d) for d in range(nd))
            if (kind, data, nd, shape, descr, bool(flags & _C_CONTIGUOUS)) != (
                    id(type(a)), a.__array_interface__["data"][0], a.ndim, a.shape, id(a.dtype),
                    a.flags.c_contiguous):
                return False
    except Exception:  # noqa: BLE001 - whatever went wrong, do not read headers
        return False
    return True


@scalar
def _all_finite(address, count, like):
    for x in numba.carray(_pointer(address, like), count):
        if not np.isfinite(x):
            return False
    return True


_FLOAT32, _FLOAT64 = np.empty(0, np.float32), np.empty(0, np.float64)


@function(nogil=False)  # it reads Python lists, which no other thread may change meanwhile
def gather_gradients(groups, group_sizes, param_ids, grads, descrs, ndims, shapes, sizes, itemsizes,
                     table, memory_starts, memory_ends, known):
    """Check that the parameters are still those of the table, check each gradient of a step
    and write its address into ``table[:, 1]``.

    Parameters
    ----------
    groups : int
        ``id()`` of a tuple with each group's ``params`` list: ``group_sizes[g]`` arrays in
        list g, and all of them together exactly the arrays ``param_ids`` (their ``id()``), in
        order — so an array moved from one group to another is seen too.
    grads : int
        ``id()`` of the list or tuple of gradients, one per parameter, each None (its address
        is written as 0) or exactly a numpy array of the dtype object ``descrs[j]`` with
        ``ndims[j]`` dimensions ``shapes[j, :ndims[j]]`` in C order, ``sizes[j]`` elements of
        ``itemsizes[j]`` bytes. ``ndims[j] == -1`` marks a parameter without state yet, whose
        gradient must be None.
    table : int64 array
        The step table; column 1 receives the gradients' addresses.
    memory_starts, memory_ends : int64 arrays
        The sorted, disjoint memory ranges of every parameter and state buffer; a gradient
        may overlap none of them.
    known : int64 array
        :data:`_KNOWN`: the addresses of ``list``, ``tuple``, ``None`` and ``numpy.ndarray``.

    Returns
    -------
    (int, int)
        -1 when the parameters and every gradient are as expected, else the position of the
        first gradient that is not (0 when the parameters are not); and the number of
        gradients that are None.
    """
    lists, count = _items(groups, known)
    if count != group_sizes.shape[0]:
        return 0, 0
    j = 0
    for g in range(count):
        params, n = _items(_load_int64(lists + 8 * g), known)
        if n != group_sizes[g] or _load_int64(_load_int64(lists + 8 * g) + _TYPE) != known[_LIST]:
            return 0, 0
        for k in range(n):
            if _load_int64(params + 8 * k) != param_ids[j]:
                return 0, 0
            j += 1
    items, count = _items(grads, known)
    if j != param_ids.shape[0] or count != j:
        return 0, 0
    for j in range(count):  # the array headers, then their shapes: the misses overlap
        obj = _load_int64(items + 8 * j)
        _prefetch(obj)
        _prefetch(obj + _FLAGS)
    for j in range(count):
        obj = _load_int64(items + 8 * j)
        if obj != known[_NONE] and _load_int64(obj + _TYPE) == known[_NDARRAY]:
            _prefetch(_load_int64(obj + _DIMENSIONS))
    missing = 0
    for j in range(count):
        obj = _load_int64(items + 8 * j)
        if obj == known[_NONE]:
            table[j, 1] = 0
            missing += 1
            continue
        nd = ndims[j]
        if nd < 0 or _load_int64(obj + _TYPE) != known[_NDARRAY]:  # the type first: any object has one
            return j, missing
        kind, data, obj_nd, dims, descr, flags = _header(obj)
        if descr != descrs[j] or obj_nd != nd or (flags & _C_CONTIGUOUS) == 0:
            return j, missing
        for d in range(nd):
            if _load_int64(dims + 8 * d) != shapes[j, d]:
                return j, missing
        if data != table[j, 1]:  # the address the last step checked needs no second look
            end = data + sizes[j] * itemsizes[j]
            if end > data:
                k = np.searchsorted(memory_starts, end) - 1
                if k >= 0 and memory_ends[k] > data:
                    return j, missing
            table[j, 1] = data
    return -1, missing


@function  # without the GIL: a scan over every gradient; the step holds them meanwhile
def first_nonfinite(table, sizes, itemsizes):
    """The position of the first gradient in ``table[:, 1]`` with a NaN or an infinity, or -1.

    Reads each as float32 or float64 by its item size (dtype objects equal to float32 need
    not be numpy's own); rows whose address is 0 (no gradient) are skipped.
    """
    for j in range(table.shape[0]):
        data = table[j, 1]
        if data != 0 and sizes[j] > 0:
            finite = (_all_finite(data, sizes[j], _FLOAT32) if itemsizes[j] == 4
                      else _all_finite(data, sizes[j], _FLOAT64))
            if not finite:
                return j
    return -1


# ------------------------------------------------------------------ kernels over the table
def in_dtype(x, like):
    """``x`` rounded to the dtype of the array ``like`` when it is a float; flags unchanged.

    In compiled code only: the step passes its scalars as Python floats and the batched
    kernel rounds them once, which gives what numpy's scalar types give (``np.float32(x)``)
    at a fraction of their cost.
    """
    raise NotImplementedError("in_dtype runs in compiled code only")


@overload(in_dtype, inline="always")
def _in_dtype(x, like):
    if isinstance(x, types.Float):
        rounded = as_dtype(like.dtype).type
        return lambda x, like: rounded(x)
    return lambda x, like: x


_TEMPLATE = """
def batched_{name}_{digest}(table, rows, starts, counts, chunks, like, scalars):
    itemsize = like.itemsize
    {casts}
    for c in prange(chunks.shape[0] - 1):
        for s in range(chunks[c], chunks[c + 1]):
            row = rows[s]
            if table[row, 1] != 0:  # 0: no gradient this step
                offset, n = starts[s] * itemsize, counts[s]
                kernel({views}, {names})
"""

STREAMS = 5
"""Columns of the step table: parameter, gradient, and up to three state buffers."""


@functools.lru_cache(maxsize=None)
def batched(one: kernel) -> kernel:
    """The kernel ``one`` (over flat arrays) as a kernel over a step table.

    ``batched(k).serial(table, rows, starts, counts, chunks, like, scalars)`` calls ``k``'s
    serial variant on the pieces ``rows[s]`` (a row of ``table``), elements
    ``starts[s]:starts[s] + counts[s]``, for every piece s of every chunk c
    (``chunks[c]:chunks[c + 1]``); the parallel variant runs the chunks on threads. ``like`` is
    an empty array of the dtype; ``scalars`` is ``k``'s scalars as a plain tuple, the floats
    among them as Python floats, which :func:`in_dtype` rounds to the dtype. Rows whose
    gradient address is 0 are skipped.

    Written from a template because Numba needs the number of arrays ``k`` takes at compile
    time. Numba caches the result on disk as if it were defined in ``k``'s own source file, so
    that editing that file (the kernel) also invalidates the cached batched kernel, which has
    ``k`` compiled into it. Numba checks that one file only, while the template and
    :func:`_view` live in this one: the compiled function's name carries a digest of this
    module's source (:func:`_source_digest`), so that editing them names a new cache entry
    instead of reusing a stale one.
    """
    arity = len(inspect.signature(one.py_func).parameters) - len(one.scalars._fields)
    if arity > STREAMS:
        raise ValueError(f"kernel {one.__name__} takes {arity} arrays; the step table has {STREAMS} columns")
    views = ", ".join(f"view(table[row, {k}], offset, n, like)" for k in range(arity))
    names = [f"s{k}" for k in range(len(one.scalars._fields))]
    casts = "; ".join(f"{name} = in_dtype(scalars[{k}], like)" for k, name in enumerate(names))
    digest = _source_digest()
    source = _TEMPLATE.format(name=one.__name__, views=views, casts=casts, names=", ".join(names),
                             digest=digest)
    namespace = {"prange": prange, "kernel": one.serial, "view": _view, "in_dtype": in_dtype,
                 "__name__": one.py_func.__module__}
    exec(compile(source, inspect.getfile(one.py_func), "exec"), namespace)
    return kernel(namespace[f"batched_{one.__name__}_{digest}"])


@functools.lru_cache(maxsize=None)
def _source_digest() -> str:
    """A digest of this module's source, part of each batched kernel's name (see :func:`batched`);
    computed at the first step that needs a batched kernel, not at import."""
    try:
        source = inspect.getsource(sys.modules[__name__])
    except (OSError, TypeError):  # no source to read (a frozen or zipped install): the template alone
        source = _TEMPLATE
    return hashlib.sha256(source.encode()).hexdigest()[:12]


class Batch:
    """The parameters of one group that one kernel updates, in one dtype: one call per step.

    ``variant`` is the :func:`batched` kernel's serial or threaded variant, or None for a
    kernel that is not elementwise (then the step calls the kernel on each parameter).
    """

    __slots__ = ("group_index", "kernel", "dtype", "rows", "states", "state_ids", "variant", "arguments", "step")

    def __init__(self, group_index: int, one: kernel, dtype: type, rows: list, states: list, sizes: list):
        self.group_index, self.kernel, self.dtype = group_index, one, dtype
        self.rows, self.states = rows, states
        self.state_ids = np.array(list(map(id, states)), np.int64)
        self.step = None  # the step count all its parameters share, where the step knows it
        total = sum(sizes)
        threads = numba.config.NUMBA_NUM_THREADS
        chunks = min(threads, total // 4096) if total >= PARALLEL_THRESHOLD[np.dtype(dtype).name] else 1
        chunks = max(chunks, 1)
        bounds = [0] + [-(-total * (c + 1) // chunks) // 64 * 64 for c in range(chunks - 1)] + [total]
        pieces, starts, counts, first_piece = [], [], [], [0]
        begin = 0  # where each array starts in the concatenation
        for c in range(chunks):
            lo, hi = bounds[c], bounds[c + 1]
            begin = 0
            for row, size in zip(rows, sizes):
                a, b = max(lo, begin), min(hi, begin + size)
                if b > a:
                    pieces.append(row)
                    starts.append(a - begin)
                    counts.append(b - a)
                begin += size
            first_piece.append(len(pieces))
        if one.elementwise:
            compiled = batched(one)
            self.variant = compiled.parallel if chunks > 1 else compiled.serial
        else:  # the kernel needs whole arrays: the step calls it once per parameter
            self.variant = None
        self.arguments = (np.array(pieces, np.int64), np.array(starts, np.int64), np.array(counts, np.int64),
                          np.array(first_piece, np.int64), np.empty(0, dtype))


def set_steps(batch: Batch, step: int) -> None:
    """Write the step count ``step`` into the state of every parameter of ``batch``, in one call."""
    if set_in_each(batch.state_ids, id("step"), id(step), _DICT_SET_ITEM) != len(batch.states):
        raise MemoryError("could not write the step count into a parameter's state")


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0] if array.size else 0


class StepTable:
    """Everything a step needs to update every planned parameter in one call per :class:`Batch`.

    Built from the optimizer's per-parameter plans ``(state, kernel, variant, flat param,
    flat buffers, dtype)`` and its memory map; valid as long as those are (the optimizer drops
    the table whenever it drops or makes a plan).
    """

    def __init__(self, groups: list, plans: dict, memory):
        params = [p for group in groups for p in group["params"]]
        n = len(params)
        self.size = n
        self.params = params  # alive while the table is, so that no other array takes their ids
        self.param_ids = np.array(list(map(id, params)), np.int64)
        self.group_sizes = np.array([len(group["params"]) for group in groups], np.int64)
        self.table = np.zeros((n, STREAMS), np.int64)
        self.descrs = np.zeros(n, np.int64)
        self.ndims = np.full(n, -1, np.int64)
        self.shapes = np.zeros((n, max([p.ndim for p in params] + [1])), np.int64)
        self.sizes = np.zeros(n, np.int64)
        self.itemsizes = np.zeros(n, np.int64)
        members: dict = {}
        index = 0
        for g_index, group in enumerate(groups):
            for param in group["params"]:
                plan = plans.get(index)
                if plan is not None:
                    state, one, _, flat, buffers, dtype = plan
                    self.table[index, 0] = _address(flat)
                    for k, buffer in enumerate(buffers):
                        self.table[index, 2 + k] = _address(buffer)
                    self.descrs[index] = id(param.dtype)
                    self.ndims[index] = param.ndim
                    self.shapes[index, :param.ndim] = param.shape
                    self.sizes[index], self.itemsizes[index] = param.size, param.itemsize
                    rows, states, sizes = members.setdefault((g_index, one, dtype), ([], [], []))
                    rows.append(index)
                    states.append(state)
                    sizes.append(param.size)
                index += 1
        self.batches = [Batch(g_index, one, dtype, *lists) for (g_index, one, dtype), lists in members.items()]
        self.memory_starts = np.array(memory.starts, np.int64)
        self.memory_ends = np.array(memory.ends, np.int64)

    def gather(self, param_lists: tuple, grads, check_finite: bool) -> tuple[int, int]:
        """Check the groups' ``params`` lists and ``grads`` (a list or tuple, one per
        parameter) with :func:`gather_gradients`, and with ``check_finite`` every gradient's
        values with :func:`first_nonfinite`."""
        unusual, missing = gather_gradients(
            id(param_lists), self.group_sizes, self.param_ids, id(grads), self.descrs, self.ndims, self.shapes,
            self.sizes, self.itemsizes, self.table, self.memory_starts, self.memory_ends, _KNOWN)
        if unusual < 0 and check_finite:
            unusual = first_nonfinite(self.table, self.sizes, self.itemsizes)
        return unusual, missing

