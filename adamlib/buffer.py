"""Keep a model's parameters (or gradients) as views into one contiguous buffer.

An optimizer step costs one kernel call per parameter array, and for a model of a few hundred
small arrays that fixed cost, not memory traffic, decides the speed. A
:class:`ParameterBuffer` stores every array as a view into one flat array, so the optimizer
can be given the single flat array and update the whole model with one kernel call:

>>> import numpy as np, adamlib
>>> params = adamlib.ParameterBuffer.from_arrays([np.ones((3, 2)), np.zeros(4)])
>>> grads = params.zeros_like()
>>> opt = adamlib.Adam([params.flat], lr=0.1)
>>> grads.views[0][...] = 1.0          # the model writes its gradients into the views
>>> opt.step([grads.flat])             # one fused call updates every array
>>> bool(params.views[0][0, 0] < 1.0)
True
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import SUPPORTED_DTYPES


class ParameterBuffer:
    """Arrays of given shapes laid end to end in one C-contiguous 1-D buffer.

    Parameters
    ----------
    shapes : sequence of tuple of int
        The shape of each array.
    dtype : float32 or float64
    fill : float, default 0.0
        Initial value of every element.

    Attributes
    ----------
    flat : numpy.ndarray
        The 1-D buffer: give this to an optimizer.
    views : list of numpy.ndarray
        One array per shape, each a view into ``flat``: writing to a view writes to the buffer.
    """

    def __init__(self, shapes, dtype=np.float32, fill=0.0):
        dtype = np.dtype(dtype)
        if dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"ParameterBuffer supports float32 and float64, got {dtype}")
        self.shapes = [tuple(int(n) for n in shape) for shape in shapes]
        sizes = [math.prod(shape) for shape in self.shapes]
        self.flat = np.full(sum(sizes), fill, dtype=dtype)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.views = [
            self.flat[start:stop].reshape(shape)
            for start, stop, shape in zip(offsets[:-1], offsets[1:], self.shapes)
        ]

    @classmethod
    def from_arrays(cls, arrays, dtype=None) -> "ParameterBuffer":
        """A buffer holding copies of ``arrays`` (in their common dtype unless ``dtype`` is given)."""
        arrays = [np.asarray(a) for a in arrays]
        if dtype is None:
            dtype = np.result_type(*arrays) if arrays else np.float32
        buffer = cls([a.shape for a in arrays], dtype=dtype)
        for view, array in zip(buffer.views, arrays):
            view[...] = array
        return buffer

    def zeros_like(self) -> "ParameterBuffer":
        """A buffer of the same layout filled with zeros: the natural home of the gradients."""
        return type(self)(self.shapes, dtype=self.flat.dtype)

    def __len__(self) -> int:
        return len(self.views)

    def __repr__(self) -> str:
        return f"ParameterBuffer({len(self.views)} arrays, {self.flat.size} {self.flat.dtype} elements)"
