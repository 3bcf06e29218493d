r"""SymPy rules whose elements need sums over rows, columns or a whole tensor: Adafactor's.

The rules of :mod:`adamlib.symbolic` are elementwise: each output is an expression of one
element's inputs, and lambdified they broadcast over arrays. Adafactor's step is not: its
second moment of a matrix is built from row and column sums, and its step size from the RMS
of the parameter and of the update. :class:`IndexedRule` writes such a step with SymPy
``Indexed`` elements and ``Sum`` over the rows and columns; :func:`adafactor_rule` is
Adafactor's (torch's form). Both are re-exported by :mod:`adamlib.symbolic`, whose shared
symbols (:data:`adamlib.symbolic.S`) they use.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .symbolic import S

__all__ = ["IndexedRule", "adafactor_rule"]


class IndexedRule:
    """A step whose outputs are element expressions with sums over rows, columns or all
    elements (Adafactor's), as SymPy ``Indexed`` objects and ``Sum``.

    Attributes
    ----------
    name : str
    outputs : dict
        Output keyword -> the expression of its element at :attr:`indices` ``[keyword]``
        (``"R"`` at row i, ``"C"`` at column j, ``"theta"`` at (i, j); a vector rule has
        ``"v"`` and ``"theta"`` at i), in terms of the arrays ``theta``, ``g`` and the state
        (``IndexedBase`` objects), the sizes n (rows) and m (columns), and the scalars.
    indices : dict
        Output keyword -> the tuple of index symbols of its element.
    names : tuple of str
        The keywords of the lambdified function: the arrays, ``t``, then the hyperparameters.
    state_keys : dict
        Output keyword -> adamlib/torch state key.
    """

    def __init__(self, name, outputs, indices, arrays, scalars, state_keys):
        self.name, self.outputs, self.indices, self.state_keys = name, outputs, indices, state_keys
        self._arrays, self._scalars = arrays, scalars
        self.names = (*arrays, *scalars)

    def __repr__(self):
        return f"IndexedRule({self.name!r}, inputs=({', '.join(self.names)}), outputs=({', '.join(self.outputs)}))"

    def lambdify(self):
        """A function ``f(**inputs) -> {output keyword: array}`` that evaluates every element.

        ``theta`` and ``g`` are n × m (or length-n) arrays; the state arrays may have
        adamlib's shapes (``R`` (n, 1), ``C`` (1, m)): they are read flat, and ``R`` and
        ``C`` are returned in those shapes. The sums run in Python on float64 values, so the
        results are float64 whatever the inputs' dtype. Meant for small arrays (tests, chapters).
        """
        rows, cols = _ADAFACTOR_SIZES
        i, j = _ADAFACTOR_INDICES
        fns = {key: sp.lambdify((*self._arrays.values(), rows, cols, *self._scalars.values(), i, j),
                                expr, modules=["math"]) for key, expr in self.outputs.items()}
        names, rule_name, indices = self.names, self.name, self.indices

        def update(**values):
            if set(values) != set(names):
                raise TypeError(f"rule {rule_name!r} takes keywords {names}; got {sorted(values)}")
            shape = np.shape(values["g"])
            extent = {i: shape[0], j: shape[1] if len(shape) > 1 else 1}
            arrays = [np.asarray(values[key], np.float64) for key in self._arrays]
            arrays = [a if key in ("theta", "g") else a.reshape(-1) for key, a in zip(self._arrays, arrays)]
            scalars = [float(values[key]) for key in self._scalars]
            out = {}
            for key, fn in fns.items():
                result = np.empty([extent[ix] for ix in indices[key]])
                for where in np.ndindex(*result.shape):
                    at = dict(zip(indices[key], where))
                    result[where] = fn(*arrays, extent[i], extent[j], *scalars, at.get(i, 0), at.get(j, 0))
                out[key] = result
            if "R" in out:
                out["R"], out["C"] = out["R"].reshape(-1, 1), out["C"].reshape(1, -1)
            return out

        update.__name__ = f"{rule_name}_update"
        return update

    def arguments(self, param, grad, state: dict, group: dict) -> dict:
        """The keyword arguments of :meth:`lambdify`'s function for one adamlib/torch step."""
        key_of = {"R": "row_var", "C": "col_var", "v": "variance"}
        eps1, eps2 = group["eps"]
        hyper = {"t": state["step"] + 1, "alpha": group["lr"], "kappa": group["beta2_decay"],
                 "eps1": np.finfo(np.asarray(param).dtype).eps if eps1 is None else eps1, "eps2": eps2,
                 "d": group["d"], "lam": group["weight_decay"]}
        arrays = {"theta": param, "g": -grad if group["maximize"] else grad}
        return {k: arrays[k] if k in arrays else state[key_of[k]] if k in key_of else hyper[k]
                for k in self.names}


_ADAFACTOR_SIZES = sp.symbols("n m", integer=True, positive=True)
_ADAFACTOR_INDICES = sp.symbols("i j", integer=True, nonnegative=True)


def adafactor_rule(factored: bool = True) -> IndexedRule:
    r"""Adafactor's step (torch's form) as an :class:`IndexedRule`.

    For an n × m matrix (``factored=True``), with :math:`w = 1-\hat\beta_{2,t} = t^{\kappa}`:

    .. math::
        R'_i &= (1-w) R_i + \frac wm \sum_j g_{ij}^2, \qquad
        C'_j = (1-w) C_j + \frac wn \sum_i g_{ij}^2, \qquad
        \hat V_{ij} = \frac{R'_i C'_j}{\max(\frac1n\sum_k R'_k,\ \epsilon_1)} \\
        U_{ij} &= \frac{g_{ij}}{\sqrt{\max(\hat V_{ij}, \epsilon_1^2)}}, \qquad
        \theta'_{ij} = (1-\alpha\lambda)\theta_{ij}
            - \frac{\min(\alpha, t^{-1/2})\max(\epsilon_2, \mathrm{RMS}(\theta))}
                   {\max(1, \mathrm{RMS}(U)/d)}\, U_{ij}

    with RMS the root mean square over all nm elements; ``factored=False`` is the rule of a
    vector: :math:`v'_i = (1-w) v_i + w g_i^2` in place of :math:`\hat V`. κ → ``beta2_decay``,
    ε₁, ε₂ → ``eps``; ``maximize`` is :math:`g \to -g` (done by :meth:`IndexedRule.arguments`).
    """
    n, m = _ADAFACTOR_SIZES
    i, j = _ADAFACTOR_INDICES
    theta, g = sp.IndexedBase(S.theta), sp.IndexedBase(S.g)
    t, alpha, lam = S.t, S.alpha, S.lam
    kappa = sp.Symbol("kappa", nonpositive=True)
    eps1, eps2 = sp.symbols("epsilon_1 epsilon_2", nonnegative=True)
    d = sp.Symbol("d", positive=True)
    w = t**kappa

    def total(term, *extents):
        """Σ term(k, …) over fresh summation indices (a nested sum never captures an outer index)."""
        ks = [sp.Dummy("k", integer=True, nonnegative=True) for _ in extents]
        result = term(*ks)
        for index, extent in reversed(list(zip(ks, extents))):
            result = sp.Sum(result, (index, 0, extent - 1))
        return result

    if factored:
        R, C = sp.IndexedBase("R"), sp.IndexedBase("C")
        row = lambda a: (1 - w) * R[a] + w / m * total(lambda q: g[a, q] ** 2, m)  # noqa: E731
        col = lambda b: (1 - w) * C[b] + w / n * total(lambda q: g[q, b] ** 2, n)  # noqa: E731
        mean_row = sp.Max(total(row, n) / n, eps1)
        update = lambda a, b: g[a, b] / sp.sqrt(sp.Max(row(a) * col(b) / mean_row, eps1**2))  # noqa: E731
        rms = lambda f: sp.sqrt(total(f, n, m) / (n * m))  # noqa: E731
        arrays = {"theta": theta, "g": g, "R": R, "C": C}
        moments, indices = {"R": row(i), "C": col(j)}, {"R": (i,), "C": (j,), "theta": (i, j)}
        at = (i, j)
    else:
        v = sp.IndexedBase(S.v)
        second = lambda a: (1 - w) * v[a] + w * g[a] ** 2  # noqa: E731
        update = lambda a: g[a] / sp.sqrt(sp.Max(second(a), eps1**2))  # noqa: E731
        rms = lambda f: sp.sqrt(total(f, n) / n)  # noqa: E731
        arrays = {"theta": theta, "g": g, "v": v}
        moments, indices = {"v": second(i)}, {"v": (i,), "theta": (i,)}
        at = (i,)
    step = sp.Min(alpha, 1 / sp.sqrt(t)) * sp.Max(eps2, rms(lambda *ix: theta[ix] ** 2))
    step = step / sp.Max(1, rms(lambda *ix: update(*ix) ** 2) / d)
    new_theta = (1 - alpha * lam) * theta[at] - step * update(*at)
    scalars = {"t": t, "alpha": alpha, "kappa": kappa, "eps1": eps1, "eps2": eps2, "d": d, "lam": lam}
    state_keys = {"R": "row_var", "C": "col_var"} if factored else {"v": "variance"}
    return IndexedRule("adafactor" if factored else "adafactor_vector", {**moments, "theta": new_theta},
                       indices, arrays, scalars, state_keys)
