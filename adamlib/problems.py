r"""Objectives with analytic gradients, for the chapters, the tests and the benchmarks.

Every problem computes in float64 and returns gradients in the dtype of the point it was given
(float32 or float64), so that an adamlib optimizer takes them directly::

    prob = Quadratic.with_condition_number(100.0)
    x = np.array([1.0, 1.0])
    opt = adamlib.Adam([x], lr=0.1)
    for _ in range(100):
        opt.step([prob.grad(x)])

Losses are Python floats for a single point and arrays for a batch of points.

- :class:`Quadratic`: :math:`\tfrac12 (x-x^*)^\top A (x-x^*)` with chosen eigenvalues and
  (in 2-D) rotated axes; the model problem of momentum's analysis (Goh, 2017).
- :class:`Rosenbrock`: the curved valley :math:`(a-x)^2 + b(y-x^2)^2`.
- :class:`LogisticRegression`: binary or multinomial, on any data or on scikit-learn's digits
  (:meth:`LogisticRegression.digits`).
- :class:`DigitsMLP`: a one-hidden-layer network on digits, with analytic backpropagation.
- :class:`ReddiCounterexample`: the online problem on which Adam fails to converge (Reddi,
  Kale & Kumar, 2018, §3).

Only numpy is needed at import; the digits data need scikit-learn (the ``problems`` extra:
``pip install "adamlib[problems]"``), imported when first loaded.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from ._validation import check_at_least, check_int, check_real

__all__ = [
    "Quadratic", "Rosenbrock", "LogisticRegression", "DigitsMLP", "ReddiCounterexample",
    "DigitsData", "TrainTest", "digits_data",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# ---------------------------------------------------------------------------- helpers
def _out_dtype(x) -> np.dtype:
    """The dtype gradients are returned in: the input's if float32/float64, else float64."""
    dtype = getattr(x, "dtype", None)
    return dtype if dtype in _FLOATS else np.dtype(np.float64)


def _points(x, dim: int, name: str = "x") -> np.ndarray:
    """``x`` as a float64 array of shape (..., dim)."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got shape {array.shape}")
    return array


def _scalar_or_array(value: np.ndarray):
    """A Python float for a 0-d result (clean reprs in notebooks), else the array."""
    return float(value) if np.ndim(value) == 0 else value


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.flags.writeable = False
    return array


def _log_sum_exp(z: np.ndarray) -> np.ndarray:
    r"""Row-wise :math:`\log\sum_k e^{z_k}`, computed as :math:`m + \log\sum_k e^{z_k - m}`."""
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Mean cross-entropy of logits ``z`` (n, K) against labels ``y``, and its gradient in ``z``.

    :math:`\ell = \frac1n\sum_i (\operatorname{lse}(z_i) - z_{i y_i})`,
    :math:`\partial\ell/\partial z = (\operatorname{softmax}(z) - \operatorname{onehot}(y))/n`.
    """
    n = z.shape[0]
    lse = _log_sum_exp(z)
    rows = np.arange(n)
    loss = float(np.mean(lse - z[rows, y]))
    dz = np.exp(z - lse[:, None])
    dz[rows, y] -= 1.0
    dz /= n
    return loss, dz


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 1/(1+e^{-z}) = (1 + tanh(z/2))/2: no overflow for any z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _rows(batch, n: int, name: str = "batch"):
    """A row index (integer array, boolean mask or slice) checked to select at least one row."""
    if batch is None:
        return slice(None)
    if isinstance(batch, slice):
        selected = len(range(*batch.indices(n)))
    else:
        batch = np.asarray(batch)
        if batch.ndim != 1 or not (batch.dtype == bool or np.issubdtype(batch.dtype, np.integer)):
            raise ValueError(f"{name} must be a 1-D integer index array, a boolean mask or a slice")
        selected = int(batch.sum()) if batch.dtype == bool else batch.size
    if selected == 0:
        raise ValueError(f"{name} selects no examples")
    return batch


# ---------------------------------------------------------------------------- quadratic
class Quadratic:
    r"""The quadratic :math:`f(x) = \tfrac12 (x - x^*)^\top A\,(x - x^*)`, with :math:`A \succ 0`.

    .. math::
        A = R^\top \operatorname{diag}(\lambda_1, \dots, \lambda_d)\, R, \qquad
        \nabla f(x) = A\,(x - x^*), \qquad \nabla^2 f = A,

    where :math:`R` is the identity, or in 2-D the rotation whose rows are
    :math:`(\cos\theta, \sin\theta)` and :math:`(-\sin\theta, \cos\theta)`: the eigenvector of
    :math:`\lambda_1` points at angle :math:`\theta` (counter-clockwise from the first axis), so
    ``rotation_angle`` turns the level-set ellipses by :math:`\theta`. With
    :math:`\theta \ne 0` the coordinates are coupled and no per-coordinate scaling (Adam's
    diagonal preconditioner) can undo the conditioning.

    Parameters
    ----------
    eigenvalues : array_like of shape (d,)
        :math:`\lambda_i > 0`, the curvatures along the principal axes.
    rotation_angle : float, default 0.0
        :math:`\theta` in radians; non-zero only for ``d == 2``.
    minimizer : array_like of shape (d,), optional
        :math:`x^*`; the origin by default.

    Attributes
    ----------
    dim : int
    eigenvalues : ndarray
        The :math:`d` eigenvalues of :math:`A`.
    eigenvectors : ndarray
        :math:`d \times d`; column ``i`` is the unit eigenvector of ``eigenvalues[i]``
        (:math:`R^\top`).
    hessian : ndarray
        :math:`A`, :math:`d \times d` (read-only).
    minimizer : ndarray
        :math:`x^*`, of length :math:`d` (read-only); :math:`f(x^*) = 0`.
    condition_number : float
        :math:`\kappa = \lambda_{\max}/\lambda_{\min}`.

    Examples
    --------
    >>> q = Quadratic([1.0, 10.0])
    >>> q.loss([1.0, 1.0]), q.grad([1.0, 1.0]).tolist()
    (5.5, [1.0, 10.0])

    ``loss`` and ``grad`` take a batch of points of shape ``(..., d)``, e.g. a grid for a
    contour plot: ``q.loss(np.stack(np.meshgrid(xs, ys), axis=-1))``.
    """

    def __init__(self, eigenvalues, rotation_angle: float = 0.0, minimizer=None):
        lam = np.asarray(eigenvalues, dtype=np.float64)
        if lam.ndim != 1 or lam.size == 0:
            raise ValueError(f"eigenvalues must be a non-empty 1-D sequence, got shape {lam.shape}")
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValueError(f"eigenvalues must be finite and > 0 (a strictly convex quadratic), got {lam}")
        angle = check_real("rotation_angle", rotation_angle)
        dim = lam.size
        if angle != 0.0 and dim != 2:
            raise ValueError(f"rotation_angle is defined for 2-D quadratics only; got {dim} eigenvalues")
        c, s = math.cos(angle), math.sin(angle)
        rotation = np.array([[c, s], [-s, c]]) if dim == 2 else np.eye(dim)
        if minimizer is None:
            minimizer = np.zeros(dim)
        minimizer = np.asarray(minimizer, dtype=np.float64)
        if minimizer.shape != (dim,) or not np.all(np.isfinite(minimizer)):
            raise ValueError(f"minimizer must be a finite array of shape ({dim},), got {minimizer!r}")
        hessian = rotation.T @ (lam[:, None] * rotation)
        self.dim = dim
        self.rotation_angle = angle
        self.eigenvalues = _readonly(lam)
        self.eigenvectors = _readonly(rotation.T)
        self.hessian = _readonly(0.5 * (hessian + hessian.T))  # exactly symmetric
        self.minimizer = _readonly(minimizer)
        self.condition_number = float(lam.max() / lam.min())

    @classmethod
    def with_condition_number(cls, kappa: float, dim: int = 2, *, rotation_angle: float = 0.0,
                              minimizer=None) -> "Quadratic":
        r"""A quadratic with eigenvalues from :math:`1/\kappa` to :math:`1`, geometrically spaced.

        .. math::
            \lambda_i = \kappa^{(i - d + 1)/(d - 1)}, \quad i = 0, \dots, d-1,

        so :math:`\lambda_{\min} = 1/\kappa`, :math:`\lambda_{\max} = 1` (the smoothness
        constant :math:`L` is 1 whatever :math:`\kappa`, and gradient descent is stable for
        learning rates below 2), and in 2-D :math:`\lambda = (1/\kappa, 1)`: the flat direction
        is the first axis (before rotation).

        Parameters
        ----------
        kappa : float
            Condition number, >= 1.
        dim : int, default 2
            Dimension, >= 2.
        rotation_angle : float, default 0.0
            As in :class:`Quadratic` (2-D only).
        minimizer : array_like, optional
            As in :class:`Quadratic`.
        """
        kappa = check_at_least("kappa", kappa, 1.0)
        dim = check_int("dim", dim, 2)
        eigenvalues = kappa ** (np.arange(dim) / (dim - 1) - 1.0)
        eigenvalues[-1] = 1.0
        return cls(eigenvalues, rotation_angle=rotation_angle, minimizer=minimizer)

    def __repr__(self):
        return (f"Quadratic(eigenvalues={self.eigenvalues.tolist()}, rotation_angle={self.rotation_angle!r}, "
                f"minimizer={self.minimizer.tolist()})")

    def loss(self, x):
        """:math:`f(x)` for a point of shape (d,) (a float) or a batch of shape (..., d) (an array)."""
        d = _points(x, self.dim) - self.minimizer
        return _scalar_or_array(0.5 * np.einsum("...i,...i->...", d @ self.hessian, d))

    def grad(self, x) -> np.ndarray:
        r""":math:`\nabla f(x) = A(x - x^*)`, of ``x``'s shape and (float) dtype."""
        d = _points(x, self.dim) - self.minimizer
        return (d @ self.hessian).astype(_out_dtype(x), copy=False)

    def loss_and_grad(self, x):
        """``(loss(x), grad(x))``."""
        return self.loss(x), self.grad(x)


# ---------------------------------------------------------------------------- Rosenbrock
class Rosenbrock:
    r"""Rosenbrock's function :math:`f(x, y) = (a - x)^2 + b\,(y - x^2)^2`.

    .. math::
        \nabla f = \begin{pmatrix} -2(a - x) - 4 b x (y - x^2) \\ 2 b (y - x^2) \end{pmatrix},

    with its unique minimum :math:`f = 0` at :math:`(a, a^2)`, at the bottom of a narrow curved
    valley along :math:`y = x^2`.

    Parameters
    ----------
    a : float, default 1.0
    b : float, default 100.0
        > 0; the valley's steepness.

    Attributes
    ----------
    dim : int
        2.
    minimizer : ndarray
        :math:`(a, a^2)` (read-only).
    start : ndarray
        The customary starting point :math:`(-1.2, 1)` (a new array each time).
    """

    dim = 2

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a = check_real("a", a)
        self.b = check_at_least("b", b, 0.0, strict=True)
        self.minimizer = _readonly([self.a, self.a * self.a])

    def __repr__(self):
        return f"Rosenbrock(a={self.a!r}, b={self.b!r})"

    @property
    def start(self) -> np.ndarray:
        return np.array([-1.2, 1.0])

    def loss(self, x):
        """:math:`f` at a point of shape (2,) (a float) or a batch of shape (..., 2) (an array)."""
        p = _points(x, 2)
        u, v = p[..., 0], p[..., 1]
        return _scalar_or_array((self.a - u) ** 2 + self.b * (v - u * u) ** 2)

    def grad(self, x) -> np.ndarray:
        """:math:`\\nabla f`, of ``x``'s shape and (float) dtype."""
        p = _points(x, 2)
        u, v = p[..., 0], p[..., 1]
        r = v - u * u
        g = np.stack([-2.0 * (self.a - u) - 4.0 * self.b * u * r, 2.0 * self.b * r], axis=-1)
        return g.astype(_out_dtype(x), copy=False)

    def loss_and_grad(self, x):
        """``(loss(x), grad(x))``."""
        return self.loss(x), self.grad(x)


# ---------------------------------------------------------------------------- digits data
class DigitsData(NamedTuple):
    """scikit-learn's digits, split into train and test rows (float64 features, int64 labels)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


class TrainTest(NamedTuple):
    """A pair of problems on the train and the test split; unpacks as ``train, test``."""

    train: "LogisticRegression"
    test: "LogisticRegression"


@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "the digits data set comes with scikit-learn, which is not installed: "
            "pip install scikit-learn (or pip install 'adamlib[problems]')"
        ) from exc
    data = load_digits()
    X = np.ascontiguousarray(data.data, dtype=np.float64)
    y = np.ascontiguousarray(data.target, dtype=np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def digits_data(binary: bool = False, standardize: bool = True, test_fraction: float = 0.25,
                seed: int = 0) -> DigitsData:
    r"""scikit-learn's digits (1797 images of 8×8 pixels, values 0–16), split and scaled.

    The data ship with scikit-learn (no download). Rows are shuffled with
    ``numpy.random.default_rng(seed)``; the last ``round(test_fraction · 1797)`` of the shuffled
    rows form the test split. The result depends only on the arguments.

    Parameters
    ----------
    binary : bool, default False
        If True, the label is the digit's parity (1 for odd digits, 0 for even), a binary task
        using every image; otherwise the digit 0–9.
    standardize : bool, default True
        Subtract each pixel's training mean and divide by its training standard deviation
        (pixels constant on the training split, such as some corners, are only centred). If
        False, the raw pixel values 0–16.
    test_fraction : float, default 0.25
        In (0, 1).
    seed : int, default 0
        Seed of the shuffle.

    Returns
    -------
    DigitsData
        ``(X_train, y_train, X_test, y_test)``, C-contiguous float64 (n, 64) and int64 (n,).

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    if not isinstance(binary, (bool, np.bool_)):
        raise TypeError(f"binary must be True or False, got {binary!r}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize must be True or False, got {standardize!r}")
    test_fraction = check_real("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"Invalid test_fraction: {test_fraction!r} (must be in (0, 1))")
    seed = check_int("seed", seed, 0)
    X, y = _load_digits()
    n = X.shape[0]
    n_test = min(max(int(round(test_fraction * n)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: n - n_test], order[n - n_test:]
    labels = y % 2 if binary else y
    X_train, X_test = X[train], X[test]
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0.0] = 1.0
        X_train = (X_train - mean) / std
        X_test = (X_test - mean) / std
    return DigitsData(np.ascontiguousarray(X_train), np.ascontiguousarray(labels[train]),
                      np.ascontiguousarray(X_test), np.ascontiguousarray(labels[test]))


# ---------------------------------------------------------------------------- logistic regression
class LogisticRegression:
    r"""L2-regularised logistic regression, binary or multinomial (softmax), with a bias.

    With :math:`\tilde x_i = (x_i, 1)` (a constant feature for the bias) and weights :math:`W`:

    - **binary** (2 classes, labels 0/1), :math:`w \in \mathbb R^{p+1}`, :math:`z_i = \tilde
      x_i^\top w`:

      .. math::
          f(w) = \frac1n\sum_i \bigl(\log(1 + e^{z_i}) - y_i z_i\bigr) + \frac\lambda2\|w_{1:p}\|^2,
          \qquad \nabla f = \frac1n \tilde X^\top(\sigma(z) - y) + \lambda (w_{1:p}, 0);

    - **multinomial** (:math:`K > 2` classes), :math:`W \in \mathbb R^{(p+1)\times K}`,
      :math:`z_i = W^\top \tilde x_i`:

      .. math::
          f(W) = \frac1n\sum_i \bigl(\operatorname{lse}(z_i) - z_{i,y_i}\bigr)
                 + \frac\lambda2\|W_{1:p,:}\|_F^2,
          \qquad \nabla f = \frac1n \tilde X^\top\bigl(\operatorname{softmax}(z) - Y\bigr)
                 + \lambda (W_{1:p,:}; 0),

      with :math:`Y` the one-hot labels and :math:`\operatorname{lse}(z) = m +
      \log\sum_k e^{z_k - m}`, :math:`m = \max_k z_k` (no overflow).

    The bias (last entry of :math:`w`, last row of :math:`W`) is not regularised;
    :math:`\lambda` → ``l2``. Both losses are convex; with :math:`\lambda > 0` strictly.

    Parameters
    ----------
    X : array_like of shape (n, p)
        Features.
    y : array_like of int, shape (n,)
        Labels in ``0 .. n_classes-1``.
    l2 : float, default 0.0
        :math:`\lambda \ge 0`.
    n_classes : int, optional
        Default ``max(2, max(y) + 1)``; give it when a split may miss the largest label.

    Attributes
    ----------
    n_samples, n_features, n_classes : int
    multinomial : bool
        ``n_classes > 2``.
    param_shape : tuple
        ``(p + 1,)`` (binary) or ``(p + 1, n_classes)`` (multinomial). Weights may also be
        passed flattened, ``(p + 1) · n_classes`` long (e.g. a slice of a
        :class:`~adamlib.ParameterBuffer`); gradients come back in the shape and (float) dtype
        of the weights given.
    X, y : ndarray
        The data (read-only).
    """

    def __init__(self, X, y, l2: float = 0.0, *, n_classes: int | None = None):
        X = np.array(X, dtype=np.float64, copy=True, order="C")
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X must be finite")
        y_array = np.asarray(y)
        if y_array.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y_array.shape}")
        if not np.issubdtype(y_array.dtype, np.integer):
            raise ValueError(f"y must hold integer class labels, got dtype {y_array.dtype}")
        y_array = np.array(y_array, dtype=np.int64, copy=True)
        if y_array.min() < 0:
            raise ValueError("y must hold labels >= 0")
        if n_classes is None:
            n_classes = max(2, int(y_array.max()) + 1)
        n_classes = check_int("n_classes", n_classes, 2)
        if y_array.max() >= n_classes:
            raise ValueError(f"y has label {int(y_array.max())}, not below n_classes = {n_classes}")
        self.l2 = check_at_least("l2", l2, 0.0)
        self.n_samples, self.n_features = X.shape
        self.n_classes = n_classes
        self.multinomial = n_classes > 2
        p = self.n_features + 1
        self.param_shape = (p, n_classes) if self.multinomial else (p,)
        X.flags.writeable = False
        y_array.flags.writeable = False
        self.X, self.y = X, y_array
        self._Xb = np.hstack([X, np.ones((X.shape[0], 1))])

    @classmethod
    def digits(cls, binary: bool = False, standardize: bool = True, test_fraction: float = 0.25,
               seed: int = 0, *, l2: float = 0.0) -> TrainTest:
        """Logistic regression on scikit-learn's digits: a ``(train, test)`` pair of problems.

        Parameters are those of :func:`digits_data` (binary: odd vs even digit; otherwise 10
        classes, multinomial), plus ``l2``. Both problems share ``n_classes``, so weights fitted
        on ``train`` are evaluated with ``test.loss(w)`` and ``test.accuracy(w)``.

        Returns
        -------
        TrainTest
            A named tuple ``(train, test)``.

        Examples
        --------
        >>> train, test = LogisticRegression.digits()
        >>> train.param_shape, train.n_samples, test.n_samples
        ((65, 10), 1348, 449)
        """
        data = digits_data(binary=binary, standardize=standardize, test_fraction=test_fraction, seed=seed)
        k = 2 if binary else 10
        return TrainTest(cls(data.X_train, data.y_train, l2, n_classes=k),
                         cls(data.X_test, data.y_test, l2, n_classes=k))

    def __repr__(self):
        kind = "multinomial" if self.multinomial else "binary"
        return (f"LogisticRegression({kind}, n_samples={self.n_samples}, n_features={self.n_features}, "
                f"n_classes={self.n_classes}, l2={self.l2!r})")

    def init_params(self, dtype=np.float64) -> np.ndarray:
        """Zero weights of shape :attr:`param_shape` (a fine start: the loss is convex)."""
        dtype = np.dtype(dtype)
        if dtype not in _FLOATS:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        return np.zeros(self.param_shape, dtype=dtype)

    def _weights(self, w) -> np.ndarray:
        array = np.asarray(w, dtype=np.float64)
        size = math.prod(self.param_shape)
        if array.shape == self.param_shape or (self.multinomial and array.shape == (size,)):
            return array.reshape(self.param_shape)
        flat = f" or ({size},)" if self.multinomial else ""
        raise ValueError(f"w must have shape {self.param_shape}{flat}, got {array.shape}")

    def _logits(self, W: np.ndarray, rows) -> np.ndarray:
        return self._Xb[rows] @ W

    def loss_and_grad(self, w, batch=None) -> tuple[float, np.ndarray]:
        """The loss and its gradient, over all examples or a minibatch.

        Parameters
        ----------
        w : array_like
            Weights, shape :attr:`param_shape` (or flat, multinomial case).
        batch : array of int, boolean mask or slice, optional
            The rows to average over (a minibatch); all rows by default. The L2 term is added
            whole whatever the batch, so the minibatch gradient is an unbiased estimate of the
            full one under uniform sampling.

        Returns
        -------
        (float, ndarray)
            The loss, and the gradient in the shape and (float) dtype of ``w``.
        """
        W = self._weights(w)
        rows = _rows(batch, self.n_samples)
        Xb, y = self._Xb[rows], self.y[rows]
        z = Xb @ W
        if self.multinomial:
            loss, dz = _softmax_cross_entropy(z, y)
        else:
            loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
            dz = (_sigmoid(z) - y) / z.shape[0]
        grad = Xb.T @ dz
        if self.l2:
            weights = W[:-1]
            loss += 0.5 * self.l2 * float(np.sum(weights * weights))
            grad[:-1] += self.l2 * weights
        return loss, np.ascontiguousarray(grad.reshape(np.shape(w)), dtype=_out_dtype(w))

    def loss(self, w, batch=None) -> float:
        """The loss (see :meth:`loss_and_grad`)."""
        return self.loss_and_grad(w, batch)[0]

    def grad(self, w, batch=None) -> np.ndarray:
        """The gradient (see :meth:`loss_and_grad`)."""
        return self.loss_and_grad(w, batch)[1]

    def predict(self, w) -> np.ndarray:
        """Predicted labels: :math:`[z > 0]` (binary) or :math:`\\arg\\max_k z_k`."""
        z = self._logits(self._weights(w), slice(None))
        return np.argmax(z, axis=1) if self.multinomial else (z > 0).astype(np.int64)

    def accuracy(self, w) -> float:
        """Fraction of examples whose label :meth:`predict` gets right."""
        return float(np.mean(self.predict(w) == self.y))


# ---------------------------------------------------------------------------- MLP
class DigitsMLP:
    r"""A one-hidden-layer network with softmax cross-entropy on scikit-learn's digits.

    .. math::
        H = \phi(X W_1 + b_1), \qquad Z = H W_2 + b_2, \qquad
        f = \frac1n\sum_i \bigl(\operatorname{lse}(Z_i) - Z_{i,y_i}\bigr)
            + \frac\lambda2\bigl(\|W_1\|_F^2 + \|W_2\|_F^2\bigr),

    with :math:`\phi` = tanh or ReLU, 64 inputs, ``hidden`` units and 10 outputs.
    Backpropagation, with :math:`\Delta = (\operatorname{softmax}(Z) - Y)/n`:

    .. math::
        \nabla_{W_2} f = H^\top\Delta + \lambda W_2, \quad \nabla_{b_2} f = \mathbf 1^\top\Delta,
        \quad \Delta_1 = (\Delta W_2^\top) \odot \phi'(\cdot), \quad
        \nabla_{W_1} f = X^\top\Delta_1 + \lambda W_1, \quad \nabla_{b_1} f = \mathbf 1^\top\Delta_1,

    where :math:`\phi' = 1 - H^2` for tanh and :math:`[XW_1 + b_1 > 0]` for ReLU.

    Parameters
    ----------
    hidden : int, default 64
        Hidden units.
    seed : int, default 0
        Seed of the train/test shuffle, and of :meth:`init_params` when it is given no ``rng``.
    activation : {"tanh", "relu"}, default "tanh"
    l2 : float, default 0.0
        :math:`\lambda \ge 0` (weights only, not biases).
    test_fraction : float, default 0.25
    standardize : bool, default True
        As in :func:`digits_data`.

    Attributes
    ----------
    data : DigitsData
        The split data (float64; cast once per dtype when used).
    shapes : list of tuple
        ``[(64, hidden), (hidden,), (hidden, 10), (10,)]``: the shapes of :math:`W_1, b_1,
        W_2, b_2`, in the order of the parameter lists.
    n_train : int

    Notes
    -----
    Parameters are a list of C-contiguous float32 or float64 arrays, passed as they are to an
    adamlib optimizer; the computation runs in their dtype and the gradients share it::

        mlp = DigitsMLP()
        params = mlp.init_params()
        opt = adamlib.Adam(params, lr=1e-3)
        loss, grads = mlp.loss_and_grads(params, batch=np.arange(64))
        opt.step(grads)
    """

    n_inputs = 64
    n_classes = 10

    def __init__(self, hidden: int = 64, seed: int = 0, *, activation: str = "tanh", l2: float = 0.0,
                 test_fraction: float = 0.25, standardize: bool = True):
        self.hidden = check_int("hidden", hidden, 1)
        self.seed = check_int("seed", seed, 0)
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
        self.activation = activation
        self.l2 = check_at_least("l2", l2, 0.0)
        self.data = digits_data(binary=False, standardize=standardize, test_fraction=test_fraction, seed=seed)
        self.n_train = self.data.X_train.shape[0]
        self.shapes = [(self.n_inputs, self.hidden), (self.hidden,), (self.hidden, self.n_classes), (self.n_classes,)]
        self._cast: dict = {}

    def __repr__(self):
        return f"DigitsMLP(hidden={self.hidden}, seed={self.seed}, activation={self.activation!r}, l2={self.l2!r})"

    def init_params(self, rng=None, dtype=np.float64) -> list[np.ndarray]:
        r"""Fresh parameters ``[W1, b1, W2, b2]``: weights :math:`\mathcal N(0, s^2/\text{fan-in})`, zero biases.

        :math:`s^2 = 1` for tanh (LeCun) and :math:`2` for ReLU (He).

        Parameters
        ----------
        rng : numpy.random.Generator or int, optional
            Source of randomness; default ``numpy.random.default_rng(self.seed)``.
        dtype : float32 or float64, default float64

        Returns
        -------
        list of ndarray
            C-contiguous arrays of :attr:`shapes`.
        """
        dtype = np.dtype(dtype)
        if dtype not in _FLOATS:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        if rng is None:
            rng = np.random.default_rng(self.seed)
        elif not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(check_int("rng", rng, 0))
        gain = 2.0 if self.activation == "relu" else 1.0
        params = []
        for shape in self.shapes:
            if len(shape) == 2:
                scale = math.sqrt(gain / shape[0])
                params.append(np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype))
            else:
                params.append(np.zeros(shape, dtype=dtype))
        return params

    def _split(self, split: str, dtype: np.dtype):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        key = (split, dtype)
        if key not in self._cast:
            X = self.data.X_train if split == "train" else self.data.X_test
            y = self.data.y_train if split == "train" else self.data.y_test
            self._cast[key] = (np.ascontiguousarray(X, dtype=dtype), y)
        return self._cast[key]

    def _check_params(self, params) -> np.dtype:
        params = list(params)
        if len(params) != 4:
            raise ValueError(f"params must be [W1, b1, W2, b2], got {len(params)} arrays")
        dtype = np.asarray(params[0]).dtype
        if dtype not in _FLOATS:
            raise ValueError(f"params must be float32 or float64 arrays, got {dtype}")
        for i, (p, shape) in enumerate(zip(params, self.shapes)):
            p = np.asarray(p)
            if p.shape != shape or p.dtype != dtype:
                raise ValueError(f"params[{i}] must be a {dtype} array of shape {shape}, got {p.dtype} {p.shape}")
        return dtype

    def _forward(self, params, X):
        W1, b1, W2, b2 = params
        a = X @ W1 + b1
        h = np.tanh(a) if self.activation == "tanh" else np.maximum(a, 0)
        return a, h, h @ W2 + b2

    def _penalty(self, params) -> float:
        if not self.l2:
            return 0.0
        W1, W2 = params[0], params[2]
        return 0.5 * self.l2 * float(np.sum(W1 * W1, dtype=np.float64) + np.sum(W2 * W2, dtype=np.float64))

    def loss_and_grads(self, params, batch=None) -> tuple[float, list[np.ndarray]]:
        """The training loss and its gradients, over all training rows or a minibatch.

        Parameters
        ----------
        params : list of ndarray
            ``[W1, b1, W2, b2]``, one dtype.
        batch : array of int, boolean mask or slice, optional
            Rows of the training split to average over; all by default. The L2 term is added
            whole.

        Returns
        -------
        (float, list of ndarray)
            The loss, and C-contiguous gradients of the parameters' shapes and dtype.
        """
        dtype = self._check_params(params)
        X, y = self._split("train", dtype)
        rows = _rows(batch, self.n_train)
        X, y = X[rows], y[rows]
        W1, b1, W2, b2 = params
        a, h, z = self._forward(params, X)
        loss, dz = _softmax_cross_entropy(z, y)
        gW2 = h.T @ dz
        gb2 = dz.sum(axis=0)
        dh = dz @ W2.T
        da = dh * (1.0 - h * h) if self.activation == "tanh" else dh * (a > 0)
        gW1 = X.T @ da
        gb1 = da.sum(axis=0)
        if self.l2:
            gW1 += self.l2 * W1
            gW2 += self.l2 * W2
        grads = [np.ascontiguousarray(g, dtype=dtype) for g in (gW1, gb1, gW2, gb2)]
        return loss + self._penalty(params), grads

    def loss(self, params, split: str = "train") -> float:
        """Mean cross-entropy (plus the L2 term) on ``"train"`` or ``"test"``."""
        dtype = self._check_params(params)
        X, y = self._split(split, dtype)
        _, _, z = self._forward(params, X)
        return float(np.mean(_log_sum_exp(z) - z[np.arange(z.shape[0]), y])) + self._penalty(params)

    def accuracy(self, params, split: str = "test") -> float:
        """Fraction of ``split`` (``"test"`` or ``"train"``) classified correctly."""
        dtype = self._check_params(params)
        X, y = self._split(split, dtype)
        _, _, z = self._forward(params, X)
        return float(np.mean(np.argmax(z, axis=1) == y))


# ---------------------------------------------------------------------------- Reddi et al.
class ReddiCounterexample:
    r"""The online problem on which Adam does not converge (Reddi, Kale & Kumar, 2018, §3).

    On the feasible set :math:`\mathcal F = [-1, 1]`, at rounds :math:`t = 1, 2, \dots`,

    .. math::
        f_t(x) = \begin{cases} C x & t \bmod 3 = 1, \\ -x & \text{otherwise,} \end{cases}
        \qquad C > 2.

    Over a period the average loss is :math:`\tfrac13 (C - 2)\,x`, minimised at
    :math:`x^* = -1`; in fact :math:`x^* = -1` is the best fixed point in hindsight after every
    number of rounds :math:`T \ge 1`, so the regret is
    :math:`R_T = \sum_{t \le T} f_t(x_t) - f_t(-1)`. An algorithm that converges to
    :math:`x^*` has :math:`R_T/T \to 0`.

    The paper's construction (Theorem 1) takes :math:`\beta_1 = 0`,
    :math:`\beta_2 = 1/(1 + C^2)` (``paper_betas``) and step sizes :math:`\alpha/\sqrt t`
    (:func:`adamlib.schedules.inverse_sqrt_decay`), with projection onto :math:`\mathcal F`
    after each step, and argues that Adam then drifts to :math:`x = +1`: the rare large
    gradient :math:`C` is divided by a :math:`\sqrt{v_t}` it has itself inflated, so it moves
    :math:`x` about as far as one small gradient :math:`-1`, of which there are two per period.
    :math:`R_T/T` then tends to a positive constant. Theorem 2 of the paper extends
    non-convergence to every :math:`\beta_1 < \sqrt{\beta_2}` with a different sequence. The
    book checks the β₁ = 0 case numerically rather than relying on this summary; AMSGrad
    (``amsgrad=True``), which never lets :math:`v` decrease, converges to :math:`-1` here.

    Parameters
    ----------
    C : float, default 3.0
        The large gradient, > 2.

    Attributes
    ----------
    C : float
    minimizer : float
        -1.0.
    paper_betas : tuple of float
        :math:`(0, 1/(1 + C^2))`.
    """

    minimizer = -1.0

    def __init__(self, C: float = 3.0):
        self.C = check_at_least("C", C, 2.0, strict=True)
        self.paper_betas = (0.0, 1.0 / (1.0 + self.C * self.C))

    def __repr__(self):
        return f"ReddiCounterexample(C={self.C!r})"

    def _slope(self, t) -> float:
        t = check_int("t", t, 1)
        return self.C if t % 3 == 1 else -1.0

    def loss(self, x, t: int):
        """:math:`f_t(x)`, for a float or an array of points."""
        return _scalar_or_array(self._slope(t) * np.asarray(x, dtype=np.float64))

    def grad(self, x, t: int):
        """:math:`f_t'(x)`: ``C`` or ``-1``, a float for a float, else an array of ``x``'s shape and dtype."""
        slope = self._slope(t)
        if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
            return slope
        return np.full(np.shape(x), slope, dtype=_out_dtype(x))

    def period_loss(self, x):
        r"""The average of :math:`f_1, f_2, f_3` at ``x``: :math:`(C - 2)\,x/3`."""
        return _scalar_or_array((self.C - 2.0) * np.asarray(x, dtype=np.float64) / 3.0)

    @staticmethod
    def project(x):
        """Euclidean projection onto [-1, 1]: in place for a numpy array (returned), else a new float."""
        if isinstance(x, np.ndarray):
            return np.clip(x, -1.0, 1.0, out=x)
        return float(min(max(float(x), -1.0), 1.0))

    def average_regret(self, xs, cumulative: bool = False):
        r"""The average regret :math:`R_T/T = \frac1T\sum_{t=1}^T \bigl(f_t(x_t) - f_t(-1)\bigr)`.

        Parameters
        ----------
        xs : array_like of shape (T,) or (T, ...)
            The points played: ``xs[i]`` at round ``t = i + 1``; each in [-1, 1]. Extra axes
            hold independent runs.
        cumulative : bool, default False
            If True, return :math:`R_t/t` for every :math:`t = 1..T` (shape of ``xs``).

        Returns
        -------
        float or ndarray
        """
        xs = np.asarray(xs, dtype=np.float64)
        if xs.ndim == 0 or xs.shape[0] == 0:
            raise ValueError("xs must be a non-empty trajectory of shape (T,) or (T, ...)")
        if not np.all(np.abs(xs) <= 1.0):
            raise ValueError("xs must lie in the feasible set [-1, 1] (project the iterates first)")
        t = np.arange(1, xs.shape[0] + 1)
        slopes = np.where(t % 3 == 1, self.C, -1.0).reshape((-1,) + (1,) * (xs.ndim - 1))
        excess = slopes * (xs + 1.0)
        if cumulative:
            return np.cumsum(excess, axis=0) / t.reshape(slopes.shape)
        return _scalar_or_array(excess.sum(axis=0) / xs.shape[0])
