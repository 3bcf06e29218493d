"""A STREAM-style measurement of memory bandwidth: the ceiling that no optimizer step can beat.

McCalpin's STREAM benchmark times four loops over long arrays — copy, scale, add and triad —
and divides the bytes they move by the time. Here the same four loops are compiled through
:func:`adamlib._jit.kernel`, so they get exactly the compile options of adamlib's kernels
(fast-math flags, error model) and run on all threads wherever an Adam step over the same memory
would (:meth:`adamlib._jit.Kernel.for_array`), and serially everywhere.

Two ways of counting bytes:

``counted``
    STREAM's convention: every array a loop names is one stream (copy and scale 2, add and
    triad 3).
``moved``
    What a cache-based processor transfers if a store to an array the loop does not read
    first fetches the line (*write-allocate*): one more stream (copy and scale 3, add and
    triad 4). Whether it does so for every line depends on the processor; the benchmark
    cannot see it, so this count may overstate what such a loop moved.

Two loops that are not STREAM's update in place, as an Adam step does, so that their two counts
agree whatever the processor does on a write: ``axpy`` (``a = a + s·b``, three streams) and
``seven``, which reads four arrays and updates three of them, Adam's own pattern of seven
streams. On a machine whose cores, not its memory, limit the bandwidth (a few cores of a large
server), more concurrent streams can draw more bandwidth, and a ceiling measured with three
streams alone could be beaten by a kernel with seven.

Hence the *ceiling* comes from the in-place loops (:data:`IN_PLACE`) alone: their bytes are
exact, and their pattern is the step's own. STREAM's four loops are measured beside them, with
both counts, for reference.

:func:`contenders` lays the loops over one pool of memory sized to the working set of the
step they are compared with, so the bandwidth is measured in the same level of the memory
hierarchy as the step, in the same interleaved rounds.
"""

from __future__ import annotations

import inspect

import numpy as np
from numba import prange

from adamlib import _jit


@_jit.kernel
def copy(c, a):
    """``c = a``."""
    for i in prange(c.shape[0]):
        c[i] = a[i]


@_jit.kernel
def scale(b, c, s):
    """``b = s·c``."""
    for i in prange(b.shape[0]):
        b[i] = s * c[i]


@_jit.kernel
def add(c, a, b):
    """``c = a + b``."""
    for i in prange(c.shape[0]):
        c[i] = a[i] + b[i]


@_jit.kernel
def triad(a, b, c, s):
    """``a = b + s·c``."""
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@_jit.kernel
def axpy(a, b, s):
    """``a = a + s·b``, in place: BLAS's axpy, not one of STREAM's loops."""
    for i in prange(a.shape[0]):
        a[i] = a[i] + s * b[i]


@_jit.kernel
def seven(a, b, c, d, s):
    """``a, c, d += s·b``: Adam's pattern of memory traffic (read four arrays, update three in place)."""
    for i in prange(a.shape[0]):
        x = s * b[i]
        a[i] = a[i] + x
        c[i] = c[i] + x
        d[i] = d[i] + x


#: For each loop: the arrays it names (its STREAM-counted streams), and its moved streams.
STREAMS = {"copy": (2, 3), "scale": (2, 3), "add": (3, 4), "triad": (3, 4), "axpy": (3, 3), "seven": (7, 7)}
KERNELS = {"copy": copy, "scale": scale, "add": add, "triad": triad, "axpy": axpy, "seven": seven}
SCALED = {"scale", "triad", "axpy", "seven"}  # the loops that take the scalar s
STAGGER = 80  # elements between the arrays of a loop (5 cache lines of float32): see contenders


def contenders(working_set: int, dtype, like: np.ndarray) -> tuple[dict, dict]:
    """The loops as zero-argument callables over ``working_set`` bytes of ``dtype``.

    ``like`` is the parameter array of the step being compared: where its size makes the step
    run on all threads, each loop runs both threaded (``stream_<loop>_threaded``) and serially
    (``stream_<loop>``) — on a busy machine one thread may get more out of memory than two that
    wait for each other, and a ceiling must be the best either reaches. Returns
    ``(callables, bytes)`` where ``bytes[name]`` is ``(counted, moved)`` bytes per call.
    """
    dtype = np.dtype(dtype)
    # The arrays of a loop are views of one pool, each STAGGER elements after the end of the
    # previous one: arrays a power of two apart would map to the same cache sets.
    pool = np.full(max(working_set // dtype.itemsize, 6) + 4 * STAGGER, 1.0, dtype)
    s = dtype.type(0.5)
    run, moved = {}, {}
    for name, kernel in KERNELS.items():
        arrays = len(inspect.signature(kernel.py_func).parameters) - (name in SCALED)
        length = (pool.size - 4 * STAGGER) // arrays
        views = [pool[k * (length + STAGGER):k * (length + STAGGER) + length] for k in range(arrays)]
        args = (*views, s) if name in SCALED else tuple(views)
        variants = {f"stream_{name}": kernel.serial}
        if kernel.for_array(like) is kernel.parallel:
            variants[f"stream_{name}_threaded"] = kernel.parallel
        for label, variant in variants.items():
            run[label] = (lambda variant=variant, args=args: variant(*args))
            moved[label] = tuple(k * length * dtype.itemsize for k in STREAMS[name])
    return run, moved


def bandwidths(seconds: dict, moved: dict) -> dict:
    """``{loop: {"counted": GB/s, "moved": GB/s}}`` from seconds per call of each loop."""
    return {name.removeprefix("stream_"): {"counted": counted / seconds[name] / 1e9,
                                           "moved": real / seconds[name] / 1e9}
            for name, (counted, real) in moved.items()}


IN_PLACE = ("axpy", "seven")
"""The loops that store only into lines they have read: their bytes do not depend on write-allocate."""


def in_place(name: str) -> bool:
    """Whether the loop ``name`` (``"stream_seven_threaded"``, ``"axpy"``, …) is one of :data:`IN_PLACE`."""
    return name.removeprefix("stream_").split("_")[0] in IN_PLACE


def ceiling(times: dict, moved: dict) -> tuple[float, str]:
    """The best bandwidth (bytes/s) of an in-place loop in any round, and the loop that reached it.

    A ceiling is a maximum: timing noise on a busy machine can only make a loop slower, never
    faster, so the fastest round of the fastest loop is the best estimate of what memory can do.
    """
    return max((moved[name][1] / min(times[name]), name) for name in moved if in_place(name))


def top_loop(times: dict, moved: dict) -> str:
    """The in-place loop with the highest median bandwidth over the rounds of ``times``."""
    return max((name for name in times if in_place(name)),
               key=lambda name: moved[name][1] / float(np.median(times[name])))
