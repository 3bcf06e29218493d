"""Atomic checkpoints of state dicts (and anything else made of arrays, numbers and strings).

:func:`adamlib.save` writes a ``.npz`` file: the arrays, plus a JSON description of the nesting
(dicts, lists, tuples, numbers, strings, None). Floats round-trip exactly, integer dict keys stay
integers, and nothing is pickled, so loading a checkpoint cannot run code.

The file is written beside its destination under a temporary name, flushed to disk and then
renamed over the destination in one atomic step: a crash during a save leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

_ARRAY, _TUPLE, _DICT = "__array__", "__tuple__", "__dict__"


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
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint an object of type {type(obj).__name__}")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if _ARRAY in obj:
            return arrays[f"a{obj[_ARRAY]}"]
        if _TUPLE in obj:
            return tuple(_decode(v, arrays) for v in obj[_TUPLE])
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj[_DICT]}
    return obj


def save(path, obj) -> None:
    """Write ``obj`` (e.g. ``{"params": [...], "optimizer": opt.state_dict()}``) atomically."""
    path = os.fspath(path)
    arrays: list[np.ndarray] = []
    tree = json.dumps(_encode(obj, arrays))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __tree__=np.array(tree), **{f"a{i}": a for i, a in enumerate(arrays)})
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


def load(path):
    """Read an object written by :func:`adamlib.save`."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "__tree__" not in data:
            raise ValueError(f"{path} is not an adamlib checkpoint (no '__tree__' entry)")
        arrays = {name: data[name] for name in data.files if name != "__tree__"}
        return _decode(json.loads(str(data["__tree__"])), arrays)
