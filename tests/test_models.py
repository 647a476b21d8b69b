"""Analytic gradients and exact line derivatives of the linear and logistic models.

Oracles: complex-step derivatives of an independent reference loss written here (exact to
rounding: ``Im f(x + ih) / h = f'(x) + O(h^2)`` with ``h = 1e-20``, no subtraction), checked
first against the model's own loss; central differences of the model's own line loss.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr import LinearRegression, LogisticRegression
from adaptive_lr.finite_diff import probe_points

U = np.finfo(np.float64).eps  # unit roundoff (x2) of float64
H_CS = 1e-20  # complex step: the O(h^2) error is 1e-40, far below rounding


def ref_linear_loss(w, X, y, reduction):
    """Independent reference of the square loss; works for complex ``w``."""
    d = X.shape[1]
    r = X @ w[:d] + w[d] - y
    c = 0.5 / len(y) if reduction == "half_mse" else 1.0
    return c * np.sum(r * r)


def ref_logistic_loss(w, X, y, n_classes):
    """Independent reference of softmax cross-entropy; works for complex ``w``.

    The shift uses the real part of the logits only, which keeps exp/log analytic."""
    d = X.shape[1]
    W = w[: n_classes * d].reshape(n_classes, d)
    Z = X @ W.T + w[n_classes * d :]
    Z = Z - Z.real.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z).sum(axis=1))
    return np.mean(lse - Z[np.arange(len(y)), y])


def ref_logistic_line_slope(w, d, eta, X, y, n_classes):
    """Reference ``f'(eta) = -mean_i (P_i - Y_i) . Q_i`` at ``w - eta d``; complex-safe."""
    dim = X.shape[1]

    def logits(v):
        return X @ v[: n_classes * dim].reshape(n_classes, dim).T + v[n_classes * dim :]

    Q = logits(d)
    Z = logits(w) - eta * Q
    E = np.exp(Z - Z.real.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1.0
    return -np.mean(np.sum(P * Q, axis=1))


def complex_step_grad(f, w):
    g = np.empty_like(w)
    for i in range(len(w)):
        wc = w.astype(np.complex128)
        wc[i] += 1j * H_CS
        g[i] = f(wc).imag / H_CS
    return g


@st.composite
def regression_problem(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n), rng.normal(size=d + 1), rng


@st.composite
def classification_problem(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, 6))
    c = draw(st.integers(2, 5))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, c, size=n)
    w = scale * rng.normal(size=c * d + c)
    return X, y, w, c, rng


@pytest.mark.parametrize("reduction", ["half_mse", "sum"])
@given(problem=regression_problem())
def test_linear_gradient_matches_complex_step(reduction, problem):
    X, y, w, _ = problem
    model = LinearRegression(X.shape[1], reduction=reduction)
    loss, grad = model.loss_and_grad(w, X, y)
    ref = ref_linear_loss(w, X, y, reduction)
    # both sum the same squares in a different order: rounding <= n * u * sum|terms| = n u (c r.r)
    assert abs(loss - ref) <= 4 * len(y) * U * abs(ref) + 1e-300
    g_ref = complex_step_grad(lambda v: ref_linear_loss(v, X, y, reduction), w)
    # gradient = 2c [X^T r; sum r]: each entry a sum of n products, rounding <= n u sum|x r|
    bound = 4 * len(y) * U * (np.abs(X).sum(0).max() + 1) * np.abs(X @ w[:-1] + w[-1] - y).max()
    np.testing.assert_allclose(grad, g_ref, rtol=0, atol=bound * 2 * max(0.5 / len(y), 1) + 1e-300)


@given(problem=classification_problem())
def test_logistic_gradient_matches_complex_step(problem):
    X, y, w, c, _ = problem
    model = LogisticRegression(X.shape[1], c)
    loss, grad = model.loss_and_grad(w, X, y)
    ref = ref_logistic_loss(w, X, y, c)
    zmax = np.abs(X).sum(1).max() * np.abs(w).max() + np.abs(w).max()  # bound on |logits|
    # a log-sum-exp of C terms and a mean of n values: relative rounding O((C + n) u) of |z|
    tol = 8 * (c + len(y)) * U * (zmax + 1)
    assert abs(loss - ref) <= tol
    g_ref = complex_step_grad(lambda v: ref_logistic_loss(v, X, y, c), w)
    # entries of (P - Y)^T X / n: |P - Y| <= 1, so each is a mean of n terms bounded by max|x|
    np.testing.assert_allclose(grad, g_ref, rtol=0, atol=tol * (np.abs(X).max() + 1))


@given(problem=regression_problem(), eta=st.floats(-2, 2))
def test_linear_line_derivatives_exact(problem, eta):
    X, y, w, rng = problem
    model = LinearRegression(X.shape[1])
    d = rng.normal(size=w.shape)
    f1, f2 = model.line_derivatives(w, d, eta, X, y)
    # f is exactly quadratic in eta, so the central differences are exact up to rounding:
    # with step h, |error of f'| <= 2 u F / (2h) and |error of f''| <= 4 u F / h^2, F = max |f|
    h = 0.5
    f = model.line_losses(w, d, np.array([eta - h, eta, eta + h]), X, y)
    F = np.abs(f).max() * 4 * len(y)  # n-term sums: rounding <= n u F
    assert abs(f1 - (f[2] - f[0]) / (2 * h)) <= U * F / h + 1e-12 * abs(f1)
    assert abs(f2 - (f[2] - 2 * f[1] + f[0]) / h**2) <= 4 * U * F / h**2 + 1e-12 * abs(f2)


@given(problem=classification_problem(), eta=st.floats(-1, 1))
def test_logistic_line_derivatives(problem, eta):
    X, y, w, c, rng = problem
    model = LogisticRegression(X.shape[1], c)
    d = rng.normal(size=w.shape)
    f1, f2 = model.line_derivatives(w, d, eta, X, y)
    # f'(eta) against the complex step of the reference loss along the line (exact to rounding)
    f_line = lambda e: ref_logistic_loss(w - e * d, X, y, c)  # noqa: E731
    f1_cs = f_line(eta + 1j * H_CS).imag / H_CS
    q = np.abs(X).sum(1).max() * np.abs(d).max() + np.abs(d).max()  # bound on |Q| = |X d|
    zmax = np.abs(X).sum(1).max() * np.abs(w - eta * d).max() + np.abs(w - eta * d).max()
    assert abs(f1 - f1_cs) <= 16 * (c + len(y)) * U * q * (zmax + 1)
    # f''(eta) against the complex step of an independent reference f'(eta) (Eq. 7 written
    # with the softmax below): exact to rounding, O((C + n) u q^2 (zmax + 1)).
    f2_cs = ref_logistic_line_slope(w, d, eta + 1j * H_CS, X, y, c).imag / H_CS
    assert abs(f2 - f2_cs) <= 16 * (c + len(y)) * U * q * q * (zmax + 1)
    assert f2 >= -1e-12 * q * q  # convex: f'' >= 0 up to rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("etas", [
    probe_points(0.1, 1e-3),  # an equally spaced stencil: two exponentials for all five
    np.array([-0.3, 0.0, 0.01, 0.2, 1.5]),  # irregular: one shared log-sum-exp shift
    100 * np.array([-0.3, 0.0, 0.01, 0.2, 1.5]),  # far apart: one shift per eta
], ids=["stencil", "irregular", "spread"])
def test_fused_line_losses_match_plain_losses(dtype, etas):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5)).astype(dtype)
    for model, y in ((LinearRegression(5), rng.normal(size=40)),
                     (LogisticRegression(5, 4), rng.integers(0, 4, 40))):
        w = model.init_params(rng, dtype)
        d = rng.normal(size=w.shape).astype(dtype)
        spread = np.abs(etas).max()
        fused = model.line_losses(w, d, etas, X, y)
        plain = [model.loss(w - dtype(e) * d, X, y) for e in etas]
        # same arithmetic up to distributivity (X w - eta X d vs X (w - eta d)): the difference
        # is rounding of the logits, n * u * |X| (|w| + |eta d|) per entry, and f is Lipschitz
        # in the logits with constant 1 (softmax CE) or 2 |r| (squares): 1e3 u (1 + |eta|) |f|
        # covers n = 40, |X|, |w|, |d| < 3
        u = np.finfo(dtype).eps
        np.testing.assert_allclose(fused, plain, rtol=1e3 * u * (1 + spread),
                                   atol=1e3 * u * (1 + spread))
        assert fused.dtype == np.float64


def test_dtype_is_kept_in_float32():
    rng = np.random.default_rng(0)
    model = LogisticRegression(3, 2)
    w = model.init_params(rng, np.float32)
    X = rng.normal(size=(10, 3)).astype(np.float32)
    _, grad = model.loss_and_grad(w, X, rng.integers(0, 2, 10))
    assert grad.dtype == np.float32


def test_unflatten_views_share_memory_and_names():
    model = LogisticRegression(3, 4)
    w = np.arange(model.num_params, dtype=np.float64)
    views = model.unflatten(w)
    assert list(views) == ["weight", "bias"]
    assert views["weight"].shape == (4, 3) and views["bias"].shape == (4,)
    views["bias"][0] = -1.0
    assert w[12] == -1.0


def test_linear_sum_reduction_is_2n_times_half_mse():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(7, 2)), rng.normal(size=7)
    w = rng.normal(size=3)
    a = LinearRegression(2, reduction="sum").loss(w, X, y)
    b = LinearRegression(2, reduction="half_mse").loss(w, X, y)
    assert a == pytest.approx(2 * 7 * b, rel=1e-14)


def test_predict_shapes():
    rng = np.random.default_rng(2)
    m = LogisticRegression(3, 5)
    w = m.init_params(rng)
    p = m.predict(w, rng.normal(size=(6, 3)))
    assert p.shape == (6,) and p.min() >= 0 and p.max() < 5
    proba = m.predict_proba(w, rng.normal(size=(6, 3)))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-15 * 10)


@pytest.mark.parametrize("etas", [probe_points(0.3, 1e-5), probe_points(2.0, 1e-2),
                                  np.array([0.1, 0.2, 0.4, 0.8, 1.6])],
                         ids=["stencil", "wide-stencil", "irregular"])
def test_line_logsumexp_paths_agree(etas):
    """The shared-shift paths of the fused logistic probe (used above SMALL logits) against
    the direct log-sum-exp of every ``Z - eta Q``: the same sums of exponentials up to a few
    roundings each (the stencil path multiplies by exp(-h Q) up to twice: 4 ulps). The log of
    a sum with relative error e is off by e absolutely, and adding the shift m rounds by
    u |m|: atol 64 u (1 + max |Z - eta Q|) covers both."""
    from adaptive_lr.models.logistic import SMALL, _line_logsumexp, logsumexp_columns

    rng = np.random.default_rng(0)
    ZT = 3 * rng.normal(size=(10, SMALL // 10 + 1))
    QT = rng.normal(size=ZT.shape)
    direct = logsumexp_columns(ZT - etas[:, None, None] * QT)
    scale = 1 + np.abs(ZT).max() + np.abs(etas).max() * np.abs(QT).max()
    np.testing.assert_allclose(_line_logsumexp(ZT, QT, etas), direct, rtol=0,
                               atol=64 * U * scale)
