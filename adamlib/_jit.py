"""The one place where adamlib decides how Numba compiles its code.

Every compiled function in adamlib goes through :func:`scalar` (tiny functions inlined into
the kernels), :func:`kernel` (fused loops over flat arrays) or :func:`function` (the rest: a
step's compiled gradient check). The choices made here:

* ``fastmath`` allows contraction into FMA, reassociation and reciprocal tricks, but **never**
  ``nnan``/``ninf``: those would let LLVM delete NaN and infinity handling, and a NaN gradient
  must reach the parameters exactly as it does in numpy and torch.
* ``error_model="numpy"``: a division by zero yields ``inf``/``nan`` like numpy instead of raising
  ``ZeroDivisionError`` from inside a kernel, half-way through an update.
* ``cache=True`` when a writable cache directory exists; when none does (adamlib installed on a
  read-only file system, say) the library compiles in memory instead of failing at import.
* Each kernel exists twice, serial and multi-threaded (``prange``); :class:`Kernel` picks one by
  the array size, because starting threads costs microseconds that small arrays cannot repay.

Internal API used outside the package, kept stable for the benchmarks, tests and chapters:
:func:`kernel` (``benchmarks/stream.py`` compiles its STREAM bandwidth loops with it, so that
the measured ceiling gets exactly the kernels' compile options), :class:`Kernel` with its ``serial``,
``parallel`` and ``scalars`` attributes and :meth:`Kernel.llvm_ir`, :data:`FASTMATH` and
:data:`PARALLEL_THRESHOLD`. The optimizers expose the calls a step makes through
:meth:`adamlib.Optimizer.kernel_calls`.
"""

from __future__ import annotations

import functools
import os
import tempfile
import types
import warnings

import numba

FASTMATH = frozenset({"contract", "reassoc", "nsz", "arcp", "afn"})
"""LLVM fast-math flags used by every kernel (no ``nnan``, no ``ninf``)."""

PARALLEL_THRESHOLD = {"float32": 16_384, "float64": 8_192}
"""Arrays with at least this many elements (by dtype) are updated by the multi-threaded kernel.

Measured with the ``threshold`` section of ``benchmarks/run.py`` on the 2-core development
machine, for the Adam kernel: two threads break even with one at about 10⁴ float32 or 3·10³
float64 elements, and the thresholds sit just above, where the second thread saves time
reliably. A model of many mid-sized arrays needs them that low (``benchmarks/run.py``, section
``model``). float64 crosses over sooner: each element costs twice the time (twice the bytes,
half the SIMD lanes).
"""

_options = dict(fastmath=set(FASTMATH), error_model="numpy", nogil=True)


@functools.lru_cache(maxsize=None)
def _cache_directory_problem(path: str) -> str | None:
    """Why Numba could not write its cache files to ``path``, or None if it can."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        return f"{path} is not writable ({exc.strerror or exc})"
    return None


def _caching_jit(py_func, **options):
    """``numba.njit(py_func, cache=True, ...)``, or without the disk cache where none is writable.

    Numba looks for a cache directory when a function is decorated, but some of its locators
    (the one for zipped packages among them) only find out at the first call that they cannot
    write; both cases are caught here, at import, so a read-only installation still runs.
    """
    try:
        dispatcher = numba.njit(cache=True, **{**_options, **options})(py_func)
        problem = _cache_directory_problem(dispatcher._cache._cache_path)
    except (RuntimeError, OSError) as exc:  # numba: "cannot cache function ...: no locator"
        problem = str(exc)
    if problem is None:
        return dispatcher
    if problem not in _reported:
        _reported.add(problem)
        warnings.warn(
            f"adamlib: Numba cannot cache compiled kernels on disk ({problem}); "
            "compiling them in memory instead, once per process.",
            RuntimeWarning,
            stacklevel=3,
        )
    return numba.njit(cache=False, **{**_options, **options})(py_func)


_reported: set[str] = set()


def scalar(py_func):
    """Compile a scalar building block, inlined into every kernel that calls it."""
    return _caching_jit(py_func, inline="always")


def function(py_func=None, *, nogil=True):
    """Compile a function that runs on its own (called from Python, not inlined).

    ``@function(nogil=False)`` keeps the GIL while it runs: for code that reads Python objects
    (a list's items), which no other thread may change meanwhile.
    """
    if py_func is None:
        return lambda func: _caching_jit(func, nogil=nogil)
    return _caching_jit(py_func, nogil=nogil)


class Kernel:
    """A fused loop compiled twice: serially, and multi-threaded with ``prange``.

    Calling the kernel picks the variant by the length of its first argument. Both variants
    compute element by element, so their results are bit-identical.

    Attributes
    ----------
    serial, parallel : numba dispatcher
        The two compiled variants.
    elementwise : bool
        Whether each element is updated from its own elements alone, so that any piece of the
        arrays can be updated on its own (what :func:`adamlib._batch.batched` needs). Kernels
        that sum over a whole array (Adafactor's) say False.
    scalars : type or None
        The :class:`~typing.NamedTuple` whose fields are the kernel's parameters after its
        arrays, in order (None for a kernel that takes arrays only).
    """

    def __init__(self, py_func, scalars=None, elementwise=True):
        self.py_func = py_func
        self.scalars = scalars
        self.elementwise = elementwise
        functools.update_wrapper(self, py_func)  # name, docstring, signature for docs and help()
        self.parallel = _caching_jit(py_func, parallel=True)
        # Numba names its cache files after the function's qualified name, not its compile
        # options: give the serial twin a name of its own so the two never overwrite each other.
        twin = types.FunctionType(
            py_func.__code__, py_func.__globals__, py_func.__name__ + "_serial",
            py_func.__defaults__, py_func.__closure__,
        )
        twin.__qualname__ = py_func.__qualname__ + "_serial"
        twin.__module__ = py_func.__module__
        self.serial = _caching_jit(twin)

    def for_array(self, array):
        """The variant to use for arrays of the size and dtype of ``array``."""
        return self.parallel if array.size >= PARALLEL_THRESHOLD[array.dtype.name] else self.serial

    def __call__(self, first, *args):
        return self.for_array(first)(first, *args)

    def llvm_ir(self, *args) -> str:
        """The LLVM IR of the serial variant compiled for ``args`` (and run once on them).

        Compiles a private copy without the disk cache (Numba cannot show the code of a
        function loaded from its cache), with the same options as the kernel itself.
        """
        dispatcher = numba.njit(cache=False, **_options)(self.py_func)
        dispatcher(*args)
        return dispatcher.inspect_llvm(dispatcher.signatures[0])

    def __repr__(self):
        return f"<adamlib kernel {self.__name__}>"


def kernel(py_func=None, *, scalars=None, elementwise=True):
    """Decorator: turn a loop over flat 1-D arrays into a serial/parallel :class:`Kernel`.

    Use as ``@kernel``, or as ``@kernel(scalars=AdamScalars)`` to name the kernel's scalar
    parameters (the ones after its arrays) with a :class:`~typing.NamedTuple`;
    ``elementwise=False`` marks a kernel that must see each parameter whole.
    """
    if py_func is None:
        return lambda func: Kernel(func, scalars, elementwise)
    return Kernel(py_func, scalars, elementwise)
