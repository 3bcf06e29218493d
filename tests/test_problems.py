"""Tests of adamlib.problems: gradients by finite differences, minimizers, data, training."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import adamlib
from adamlib import problems as P


def central_differences(f, x, h=1e-6, coords=None):
    """The gradient of scalar ``f`` at float64 ``x`` by central differences (optionally some coordinates)."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    coords = range(flat.size) if coords is None else coords
    grad = np.full(flat.size, np.nan)
    for i in coords:
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad.reshape(x.shape)


# ---------------------------------------------------------------------------- quadratic
@pytest.mark.parametrize("q", [
    P.Quadratic([1.0, 10.0], rotation_angle=0.7, minimizer=[1.0, -2.0]),
    P.Quadratic([0.5, 2.0, 3.0, 40.0], minimizer=[1.0, 0.0, -1.0, 2.0]),
    P.Quadratic.with_condition_number(50.0, dim=5),
], ids=["rotated-2d", "4d", "kappa50-5d"])
def test_quadratic_gradient_matches_finite_differences(q):
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(size=q.dim)
        np.testing.assert_allclose(q.grad(x), central_differences(q.loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(q.hessian, q.hessian.T)


def test_quadratic_minimizer_eigen_structure_and_condition_number():
    theta = 0.4
    q = P.Quadratic([2.0, 8.0], rotation_angle=theta, minimizer=[3.0, -1.0])
    assert q.loss(q.minimizer) == 0.0 and isinstance(q.loss(q.minimizer), float)
    np.testing.assert_array_equal(q.grad(q.minimizer), 0.0)
    assert q.condition_number == 4.0
    # the eigenvector of the first eigenvalue points at angle theta
    np.testing.assert_allclose(q.eigenvectors[:, 0], [np.cos(theta), np.sin(theta)])
    np.testing.assert_allclose(q.hessian @ q.eigenvectors, q.eigenvectors * q.eigenvalues, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(q.hessian), [2.0, 8.0])
    # f is ½ λ s² along an eigenvector at distance s from the minimizer
    assert q.loss(q.minimizer + 0.5 * q.eigenvectors[:, 1]) == pytest.approx(0.5 * 8.0 * 0.25)
    with pytest.raises(ValueError):
        q.hessian[0, 0] = 1.0  # read-only


def test_quadratic_with_condition_number():
    q = P.Quadratic.with_condition_number(100.0)
    np.testing.assert_allclose(q.eigenvalues, [0.01, 1.0])
    assert q.condition_number == pytest.approx(100.0, rel=1e-14)
    q5 = P.Quadratic.with_condition_number(1e4, dim=5, rotation_angle=0.0)
    np.testing.assert_allclose(q5.eigenvalues, np.geomspace(1e-4, 1.0, 5), rtol=1e-14)
    assert q5.eigenvalues.max() == 1.0 and np.all(np.diff(q5.eigenvalues) > 0)
    assert P.Quadratic.with_condition_number(1.0).condition_number == 1.0


def test_quadratic_is_vectorised_over_points():
    q = P.Quadratic([1.0, 5.0], rotation_angle=1.0, minimizer=[0.5, 0.5])
    xs, ys = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-1, 1, 5))
    grid = np.stack([xs, ys], axis=-1)
    values = q.loss(grid)
    assert values.shape == (5, 7) and q.grad(grid).shape == (5, 7, 2)
    expected = [[q.loss(grid[i, j]) for j in range(7)] for i in range(5)]
    np.testing.assert_allclose(values, expected, rtol=1e-14)


def test_quadratic_gradient_keeps_float32_and_drives_adam():
    q = P.Quadratic.with_condition_number(10.0, rotation_angle=0.3, minimizer=[1.0, 2.0])
    x = np.zeros(2, dtype=np.float32)
    assert q.grad(x).dtype == np.float32
    opt = adamlib.Adam([x], lr=0.05)
    for _ in range(500):
        opt.step([q.grad(x)])
    np.testing.assert_allclose(x, q.minimizer, atol=0.05)


@pytest.mark.parametrize("make, name", [
    (lambda: P.Quadratic([1.0, -1.0]), "eigenvalues"),
    (lambda: P.Quadratic([]), "eigenvalues"),
    (lambda: P.Quadratic([1.0, 2.0, 3.0], rotation_angle=0.1), "rotation_angle"),
    (lambda: P.Quadratic([1.0, 2.0], minimizer=[1.0]), "minimizer"),
    (lambda: P.Quadratic.with_condition_number(0.5), "kappa"),
    (lambda: P.Quadratic.with_condition_number(10.0, dim=1), "dim"),
    (lambda: P.Quadratic([1.0, 2.0]).loss([1.0, 2.0, 3.0]), "x"),
])
def test_quadratic_invalid_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# ---------------------------------------------------------------------------- Rosenbrock
@pytest.mark.parametrize("a, b", [(1.0, 100.0), (-0.5, 3.0)])
def test_rosenbrock_gradient_and_minimum(a, b):
    r = P.Rosenbrock(a, b)
    rng = np.random.default_rng(2)
    for x in [r.start, *rng.normal(size=(3, 2))]:
        np.testing.assert_allclose(r.grad(x), central_differences(r.loss, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(r.minimizer, [a, a * a])
    assert r.loss(r.minimizer) == 0.0
    np.testing.assert_array_equal(r.grad(r.minimizer), 0.0)
    # a strict minimum: the Hessian there (by differences of the gradient) is positive definite
    hessian = np.array([central_differences(lambda x, i=i: r.grad(x)[i], r.minimizer) for i in range(2)])
    assert np.all(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)) > 0)
    # and nearby points are higher
    assert np.all(r.loss(r.minimizer + 1e-3 * rng.normal(size=(50, 2))) > 0)


def test_rosenbrock_is_vectorised_and_validates():
    r = P.Rosenbrock()
    pts = np.random.default_rng(3).normal(size=(4, 3, 2))
    np.testing.assert_allclose(r.loss(pts), [[r.loss(p) for p in row] for row in pts])
    np.testing.assert_allclose(r.grad(pts), [[r.grad(p) for p in row] for row in pts])
    assert r.loss([-1.2, 1.0]) == pytest.approx(24.2)
    assert r.grad(np.ones(2, dtype=np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="b"):
        P.Rosenbrock(b=0.0)
    with pytest.raises(ValueError, match="x"):
        r.loss([1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------- logistic regression
def _toy(n_classes, l2=0.1, n=30, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return P.LogisticRegression(rng.normal(size=(n, d)), rng.integers(0, n_classes, n), l2=l2)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_gradient_matches_finite_differences(n_classes):
    prob = _toy(n_classes)
    w = np.random.default_rng(5).normal(size=prob.param_shape)
    np.testing.assert_allclose(prob.grad(w), central_differences(prob.loss, w), rtol=1e-6, atol=1e-8)
    batch = np.array([0, 3, 7, 11])
    np.testing.assert_allclose(
        prob.grad(w, batch), central_differences(lambda v: prob.loss(v, batch), w), rtol=1e-6, atol=1e-8
    )


def test_logistic_minibatch_and_flat_weights():
    prob = _toy(3, l2=0.0)
    w = np.random.default_rng(6).normal(size=prob.param_shape)
    loss, grad = prob.loss_and_grad(w)
    # the mean over the whole data is the average of equal-sized minibatch means
    halves = [prob.loss_and_grad(w, batch=np.arange(i, 30, 2)) for i in (0, 1)]
    assert loss == pytest.approx(np.mean([h[0] for h in halves]))
    np.testing.assert_allclose(grad, np.mean([h[1] for h in halves], axis=0))
    loss_flat, grad_flat = prob.loss_and_grad(w.reshape(-1))
    assert loss_flat == loss and grad_flat.shape == (w.size,)
    np.testing.assert_array_equal(grad_flat, grad.reshape(-1))
    by_slice, by_index = prob.loss_and_grad(w, batch=slice(0, 10)), prob.loss_and_grad(w, np.arange(10))
    assert by_slice[0] == by_index[0]
    np.testing.assert_array_equal(by_slice[1], by_index[1])
    with pytest.raises(ValueError, match="batch"):
        prob.loss_and_grad(w, batch=np.array([], dtype=int))
    with pytest.raises(ValueError, match="w"):
        prob.loss(np.zeros(3))


def test_logistic_binary_and_softmax_agree_on_two_classes():
    # A 2-class softmax with columns (0, w) is the binary model with weights w.
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    binary = P.LogisticRegression(X, y)
    w = rng.normal(size=4)
    z = np.hstack([X, np.ones((20, 1))]) @ w
    expected = np.mean(np.log1p(np.exp(z)) - y * z)
    assert binary.loss(w) == pytest.approx(expected, rel=1e-13)
    softmax_loss = np.mean(np.log(np.exp(0.0) + np.exp(z)) - np.where(y == 1, z, 0.0))
    assert binary.loss(w) == pytest.approx(softmax_loss, rel=1e-13)


@pytest.mark.parametrize("n_classes", [2, 5])
def test_logistic_loss_is_stable_for_huge_logits(n_classes):
    prob = _toy(n_classes, l2=0.0)
    w = 1e4 * np.random.default_rng(8).normal(size=prob.param_shape)
    loss, grad = prob.loss_and_grad(w)
    assert np.isfinite(loss) and loss > 0 and np.all(np.isfinite(grad))


def test_logistic_invalid_arguments():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="y"):
        P.LogisticRegression(X, [0.0, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="y"):
        P.LogisticRegression(X, [0, 1])
    with pytest.raises(ValueError, match="l2"):
        P.LogisticRegression(X, [0, 1, 0, 1], l2=-1.0)
    with pytest.raises(ValueError, match="n_classes"):
        P.LogisticRegression(X, [0, 1, 2, 1], n_classes=2)
    with pytest.raises(ValueError, match="X"):
        P.LogisticRegression(np.zeros(4), [0, 1, 0, 1])


def test_digits_loader_shapes_determinism_and_scaling():
    data = P.digits_data()
    assert data.X_train.shape == (1348, 64) and data.X_test.shape == (449, 64)
    assert data.y_train.shape == (1348,) and set(np.unique(data.y_train)) == set(range(10))
    assert data.X_train.dtype == np.float64 and data.X_train.flags.c_contiguous
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    again, other = P.digits_data(), P.digits_data(seed=1)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(data.y_test, other.y_test)
    raw = P.digits_data(binary=True, standardize=False, test_fraction=0.5)
    assert raw.X_train.min() == 0.0 and raw.X_train.max() == 16.0
    assert set(np.unique(raw.y_train)) == {0, 1} and raw.X_test.shape[0] == 898
    with pytest.raises(ValueError, match="test_fraction"):
        P.digits_data(test_fraction=1.0)


def test_digits_logistic_regression_trains_with_adam():
    train, test = P.LogisticRegression.digits(l2=1e-3)
    assert train.param_shape == (65, 10) and test.n_classes == 10 and train.n_samples == 1348
    batch = np.arange(0, 1348, 97)  # gradient check on a 14-row subset, a few coordinates
    w0 = np.random.default_rng(9).normal(scale=0.1, size=train.param_shape)
    coords = np.random.default_rng(10).choice(w0.size, 40, replace=False)
    numeric = central_differences(lambda v: train.loss(v, batch), w0, coords=coords).reshape(-1)[coords]
    np.testing.assert_allclose(train.grad(w0, batch).reshape(-1)[coords], numeric, rtol=1e-6, atol=1e-9)

    w = train.init_params(np.float32)
    opt = adamlib.Adam([w], lr=0.01)
    start = train.loss(w)
    assert start == pytest.approx(np.log(10))
    for _ in range(200):
        loss, grad = train.loss_and_grad(w)
        assert grad.dtype == np.float32
        opt.step([grad])
    assert train.loss(w) < 0.25 * start
    assert train.accuracy(w) > 0.95 and test.accuracy(w) > 0.9


def test_digits_binary_logistic_regression_trains():
    train, test = P.LogisticRegression.digits(binary=True)
    assert not train.multinomial and train.param_shape == (65,)
    w = train.init_params()
    opt = adamlib.Adam([w], lr=0.01)
    losses = []
    for t in range(200):
        loss, grad = train.loss_and_grad(w, batch=np.arange(t % 4, 1348, 4))
        losses.append(loss)
        opt.step([grad])
    assert train.loss(w) < 0.6 * losses[0] and test.accuracy(w) > 0.85


def test_missing_scikit_learn_gives_a_clear_import_error(monkeypatch):
    P._load_digits.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(ImportError, match="pip install scikit-learn"):
            P.digits_data()
    finally:
        P._load_digits.cache_clear()


def test_importing_problems_does_not_import_scikit_learn():
    code = "import sys, adamlib.problems; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- MLP
@pytest.fixture(scope="module")
def mlp_tanh():
    return P.DigitsMLP(hidden=16, l2=1e-2)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradients_match_finite_differences(activation):
    mlp = P.DigitsMLP(hidden=8, activation=activation, l2=1e-2)
    params = mlp.init_params(rng=3)
    for p in params[1::2]:  # non-zero biases, so their gradients are tested away from the start
        p += np.random.default_rng(4).normal(scale=0.1, size=p.shape)
    batch = np.arange(0, 40, 3)
    loss, grads = mlp.loss_and_grads(params, batch)
    assert [g.shape for g in grads] == mlp.shapes

    def loss_of(i):
        def f(value):
            trial = list(params)
            trial[i] = value
            return mlp.loss_and_grads(trial, batch)[0]
        return f

    rng = np.random.default_rng(11)
    for i, (p, g) in enumerate(zip(params, grads)):
        coords = rng.choice(p.size, min(p.size, 25), replace=False)
        numeric = central_differences(loss_of(i), p, coords=coords).reshape(-1)[coords]
        np.testing.assert_allclose(g.reshape(-1)[coords], numeric, rtol=1e-5, atol=1e-8)


def test_mlp_params_are_optimizer_ready_and_deterministic(mlp_tanh):
    params = mlp_tanh.init_params(dtype=np.float32)
    assert [p.shape for p in params] == [(64, 16), (16,), (16, 10), (10,)]
    assert all(p.dtype == np.float32 and p.flags.c_contiguous for p in params)
    for a, b in zip(mlp_tanh.init_params(), mlp_tanh.init_params(np.random.default_rng(0))):
        np.testing.assert_array_equal(a, b)  # rng=None means default_rng(seed)
    loss, grads = mlp_tanh.loss_and_grads(params, batch=np.arange(32))
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 and g.flags.c_contiguous for g in grads)


def test_mlp_trains_with_adam(mlp_tanh):
    params = mlp_tanh.init_params(dtype=np.float32)
    opt = adamlib.Adam(params, lr=1e-2)
    start = mlp_tanh.loss(params)
    rng = np.random.default_rng(0)
    for _ in range(300):
        _, grads = mlp_tanh.loss_and_grads(params, batch=rng.integers(0, mlp_tanh.n_train, 64))
        opt.step(grads)
    assert mlp_tanh.loss(params) < 0.2 * start
    assert mlp_tanh.accuracy(params) > 0.9  # the test split
    assert mlp_tanh.accuracy(params, split="train") > 0.95


def test_mlp_invalid_arguments(mlp_tanh):
    with pytest.raises(ValueError, match="activation"):
        P.DigitsMLP(activation="sigmoid")
    with pytest.raises(ValueError, match="hidden"):
        P.DigitsMLP(hidden=0)
    params = mlp_tanh.init_params()
    with pytest.raises(ValueError, match="split"):
        mlp_tanh.accuracy(params, split="validation")
    with pytest.raises(ValueError, match=r"params\[2\]"):
        mlp_tanh.loss_and_grads([params[0], params[1], params[2].T, params[3]])
    with pytest.raises(ValueError, match="params"):
        mlp_tanh.loss_and_grads(params[:3])


# ---------------------------------------------------------------------------- Reddi et al.
def test_reddi_losses_and_gradients():
    r = P.ReddiCounterexample(C=3.0)
    assert r.paper_betas == (0.0, 0.1)
    assert [r.grad(0.3, t) for t in range(1, 8)] == [3.0, -1.0, -1.0, 3.0, -1.0, -1.0, 3.0]
    assert [r.loss(0.5, t) for t in (1, 2, 3)] == [1.5, -0.5, -0.5]
    for t in (1, 2):
        assert r.grad(0.2, t) == pytest.approx(central_differences(lambda x: r.loss(x[0], t), [0.2])[0])
    g = r.grad(np.zeros(1, dtype=np.float32), 4)
    assert g.dtype == np.float32 and g.shape == (1,) and g[0] == 3.0
    with pytest.raises(ValueError, match="t"):
        r.grad(0.0, 0)


def test_reddi_projection():
    x = np.array([-3.0, -0.5, 0.25, 7.0])
    out = P.ReddiCounterexample.project(x)
    assert out is x
    np.testing.assert_array_equal(x, [-1.0, -0.5, 0.25, 1.0])
    assert P.ReddiCounterexample().project(2.5) == 1.0


@pytest.mark.parametrize("C", [2.5, 3.0, 10.0])
def test_reddi_minus_one_minimises_the_average_loss(C):
    r = P.ReddiCounterexample(C)
    grid = np.linspace(-1.0, 1.0, 201)
    period = np.mean([r.loss(grid, t) for t in (1, 2, 3)], axis=0)
    np.testing.assert_allclose(period, r.period_loss(grid), atol=1e-15)
    assert grid[np.argmin(period)] == r.minimizer == -1.0
    # -1 is the best fixed point in hindsight after every number of rounds, not only whole periods
    for T in range(1, 13):
        total = sum(r.loss(grid, t) for t in range(1, T + 1))
        assert grid[np.argmin(total)] == -1.0


def test_reddi_average_regret():
    r = P.ReddiCounterexample(3.0)
    assert r.average_regret(-np.ones(30)) == 0.0
    # sitting at +1: each period costs (C - 2)·2 more than x* = -1
    assert r.average_regret(np.ones(30)) == pytest.approx(2 * (3.0 - 2) / 3)
    xs = np.random.default_rng(12).uniform(-1, 1, size=10)
    curve = r.average_regret(xs, cumulative=True)
    expected = [np.mean([r.loss(xs[i], i + 1) - r.loss(-1.0, i + 1) for i in range(T)]) for T in range(1, 11)]
    np.testing.assert_allclose(curve, expected, rtol=1e-13)
    assert r.average_regret(xs) == pytest.approx(expected[-1])
    runs = np.stack([xs, -np.ones(10)], axis=1)
    np.testing.assert_allclose(r.average_regret(runs), [expected[-1], 0.0])
    with pytest.raises(ValueError, match="xs"):
        r.average_regret([0.0, 2.0])
    with pytest.raises(ValueError, match="C"):
        P.ReddiCounterexample(C=2.0)
