"""Gradient clipping over a list of gradients, with torch's names and semantics."""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_array, check_at_least


def _checked(grads) -> list[np.ndarray]:
    grads = [grads] if isinstance(grads, np.ndarray) else [g for g in grads if g is not None]
    for i, g in enumerate(grads):
        check_array(g, f"grads[{i}]", writeable=True)
    return grads


def clip_grad_norm_(grads, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Scale gradients in place so that their global norm is at most ``max_norm``.

    .. math::
        \|g\| = \Bigl(\sum_i \|g_i\|_p^p\Bigr)^{1/p}, \qquad
        g_i \leftarrow g_i \cdot \min\Bigl(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Bigr)

    as ``torch.nn.utils.clip_grad_norm_`` computes it (``norm_type=inf`` takes the largest
    absolute value). Returns the total norm before clipping.

    Raises
    ------
    FloatingPointError
        With ``error_if_nonfinite=True``, when the total norm is NaN or infinite; the gradients
        are left untouched then.
    """
    grads = _checked(grads)
    max_norm = check_at_least("max_norm", max_norm, 0.0)
    norm_type = float(norm_type)
    if not (norm_type > 0):
        raise ValueError(f"norm_type must be positive or inf, got {norm_type!r}")
    if not grads:
        return 0.0
    norms = [float(np.linalg.norm(g.reshape(-1), ord=norm_type)) for g in grads]
    if math.isinf(norm_type):
        total = max(norms)
    else:
        total = float(np.linalg.norm(np.asarray(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"the total norm of order {norm_type} of the gradients is {total}; nothing was clipped"
        )
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1.0:
        for g in grads:
            np.multiply(g, g.dtype.type(coefficient), out=g)
    return total


def clip_grad_value_(grads, clip_value: float) -> None:
    r"""Clamp every gradient element in place to :math:`[-c, c]`, as torch's ``clip_grad_value_``."""
    grads = _checked(grads)
    clip_value = check_at_least("clip_value", clip_value, 0.0)
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
