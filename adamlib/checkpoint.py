"""Atomic checkpoints of state dicts (and anything else made of arrays, numbers and strings).

:func:`adamlib.save` writes a ``.npz`` file: the arrays, plus a JSON description of the nesting
(dicts, lists, tuples, numbers, strings, None) and the format version. Floats round-trip
exactly, integer dict keys stay integers, numpy scalars come back as numpy scalars of their
dtype, and nothing is pickled, so loading a checkpoint cannot run code.

The file is written beside its destination under a temporary name, flushed to disk and then
renamed over the destination in one atomic step: a crash during a save leaves the previous
checkpoint intact.

:func:`adamlib.load` refuses, with a :class:`~adamlib.checkpoint.CheckpointError` that names the file and says
what is wrong, a file that is empty, truncated, not a ``.npz``, a ``.npz`` that adamlib did not
write, one written by a newer adamlib, and an optimizer state whose ``step`` is not a count.

>>> import os, tempfile, numpy as np, adamlib
>>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
>>> adamlib.save(path, {"step": 10, "lr": np.float32(0.5), "w": np.zeros(2)})
>>> back = adamlib.load(path)
>>> back["step"], back["lr"], back["w"]
(10, np.float32(0.5), array([0., 0.]))
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
import zipfile
import zlib

import numpy as np

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
"""The checkpoint format :func:`adamlib.save` writes. Version 1 added the version entry itself and
numpy scalars; files without it (version 0) are read as before."""

_TREE, _VERSION = "__tree__", "__format__"
_ARRAY, _SCALAR, _TUPLE, _DICT = "__array__", "__scalar__", "__tuple__", "__dict__"
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A file that :func:`adamlib.load` cannot read as a checkpoint, or a tree it will not save."""


def _encode(obj, arrays: list):
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {_ARRAY: len(arrays) - 1}
    if isinstance(obj, dict):
        return {_DICT: [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):  # stored as a 0-d array: its dtype and bits survive
        if obj.dtype.hasobject:
            raise TypeError(f"cannot checkpoint a numpy scalar of dtype {obj.dtype}")
        arrays.append(np.asarray(obj))
        return {_SCALAR: len(arrays) - 1}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint an object of type {type(obj).__name__}")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if _ARRAY in obj:
            return arrays[f"a{obj[_ARRAY]}"]
        if _SCALAR in obj:
            return arrays[f"a{obj[_SCALAR]}"][()]
        if _TUPLE in obj:
            return tuple(_decode(v, arrays) for v in obj[_TUPLE])
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj[_DICT]}
    return obj


def _bad_optimizer_step(tree, where: str = "") -> str | None:
    """Where, in ``tree``, an optimizer state dict holds a ``step`` that is not a count.

    An optimizer state dict is a dict with a ``"state"`` dict and a ``"param_groups"`` list
    (adamlib's and torch's layout). Its step counts drive the bias corrections; a float there
    would be truncated by ``int()`` on load and silently change every later update.
    """
    if isinstance(tree, dict):
        state = tree.get("state")
        if isinstance(state, dict) and isinstance(tree.get("param_groups"), list):
            for index, entry in state.items():
                if isinstance(entry, dict) and "step" in entry:
                    step = entry["step"]
                    if isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral) or step < 0:
                        return f"{where}['state'][{index!r}]['step'] is {step!r}, not a step count (an integer >= 0)"
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return None
    for key, value in items:
        found = _bad_optimizer_step(value, f"{where}[{key!r}]")
        if found:
            return found
    return None


def save(path, obj) -> None:
    """Write ``obj`` (e.g. ``{"params": [...], "optimizer": opt.state_dict()}``) atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its directory must exist.
    obj : object
        Nested dicts, lists and tuples of numpy arrays, numpy scalars, Python numbers,
        strings, booleans and None.

    Raises
    ------
    TypeError
        If ``obj`` holds anything else; no file is written.
    adamlib.checkpoint.CheckpointError
        If an optimizer state dict in ``obj`` has a ``step`` that is not an integer >= 0.
    FileNotFoundError, PermissionError, NotADirectoryError
        If the destination's directory is missing or not writable (the message names
        ``path``).
    """
    path = os.fspath(path)
    arrays: list[np.ndarray] = []
    tree = json.dumps(_encode(obj, arrays))
    bad = _bad_optimizer_step(obj)
    if bad:
        raise CheckpointError(f"refusing to save {path}: {bad}")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    except OSError as exc:  # the error would name the temporary file, not the user's path
        reason = "the directory does not exist" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise type(exc)(exc.errno, f"cannot save checkpoint {path}: {reason} ({directory})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_VERSION: np.array(FORMAT_VERSION), _TREE: np.array(tree)},
                     **{f"a{i}": a for i, a in enumerate(arrays)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _diagnose(path: str) -> str | None:
    """Why the file at ``path`` cannot be a checkpoint, judged from its first bytes (or None)."""
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if not head:
        return "the file is empty (0 bytes); was the save interrupted before adamlib.save's atomic rename?"
    if head != _ZIP_MAGIC:
        kind = "a .npy array (numpy.save)" if head.startswith(b"\x93NUM") else "not a .npz (zip) archive"
        return f"it is {kind}; adamlib.save writes .npz files"
    return None


def load(path):
    """Read an object written by :func:`adamlib.save`.

    Files without a format version (written before it existed) load as before.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    adamlib.checkpoint.CheckpointError
        If the file is empty, truncated or otherwise corrupt, not a ``.npz``, a ``.npz`` that
        adamlib did not write, written by a newer adamlib (a higher :data:`adamlib.checkpoint.FORMAT_VERSION`), or
        if an optimizer state dict in it has a ``step`` that is not an integer >= 0. The
        message names the file and says which.
    """
    path = os.fspath(path)
    reason = _diagnose(path)
    if reason:
        raise CheckpointError(f"cannot load {path}: {reason}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if _TREE not in data.files:
                raise CheckpointError(
                    f"cannot load {path}: it is a .npz archive but not an adamlib checkpoint "
                    f"(no {_TREE!r} entry; it holds {sorted(data.files)[:5]})"
                )
            version = int(data[_VERSION]) if _VERSION in data.files else 0
            if version > FORMAT_VERSION:
                raise CheckpointError(
                    f"cannot load {path}: it was written in checkpoint format {version} by a newer adamlib; "
                    f"this one (adamlib {_adamlib_version()}) reads formats up to {FORMAT_VERSION}: upgrade adamlib"
                )
            arrays = {name: data[name] for name in data.files if name not in (_TREE, _VERSION)}
            obj = _decode(json.loads(str(data[_TREE])), arrays)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, TypeError, KeyError, OSError) as exc:
        # zipfile, zlib, numpy's header parser and json each fail in their own words on a
        # damaged file; the user needs the file's name and the verdict.
        raise CheckpointError(
            f"cannot load {path}: the file is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from exc
    bad = _bad_optimizer_step(obj)
    if bad:
        raise CheckpointError(f"cannot load {path}: {bad}")
    return obj


def _adamlib_version() -> str:
    from . import __version__

    return __version__
