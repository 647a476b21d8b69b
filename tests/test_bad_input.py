"""Bad input: each a ValueError (or TypeError for a wrong type) whose message names the problem."""

import numpy as np
import pytest

from adaptive_lr import (
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    LinearRegression,
    LogisticRegression,
    Probe,
    SecondOrderLR,
    train,
)
from adaptive_lr.finite_diff import smooth_denominator

rng = np.random.default_rng(0)
X = rng.normal(size=(8, 3))
y_reg = rng.normal(size=8)
y_cls = rng.integers(0, 3, size=8)
LIN = LinearRegression(3)
LOG = LogisticRegression(3, 3)
W_LIN = LIN.init_params(rng)
W_LOG = LOG.init_params(rng)


@pytest.mark.parametrize("model, w, y", [(LIN, W_LIN, y_reg), (LOG, W_LOG, y_cls)])
def test_shape_mismatches(model, w, y):
    with pytest.raises(ValueError, match="features"):
        model.loss(w, X[:, :2], y)
    with pytest.raises(ValueError, match="rows|labels|entries"):
        model.loss(w, X, y[:5])
    with pytest.raises(ValueError, match="2-D"):
        model.loss(w, X[0], y)
    with pytest.raises(ValueError, match="1-D"):
        model.loss(w, X, y[:, None])
    with pytest.raises(ValueError, match="parameters"):
        model.loss(w[:-1], X, y)
    with pytest.raises(ValueError, match="1-D"):
        model.loss(w[None, :], X, y)
    with pytest.raises(ValueError, match="dtype"):
        model.line_losses(w, w.astype(np.float32), [0.1], X, y)


@pytest.mark.parametrize("model, w, y", [(LIN, W_LIN, y_reg), (LOG, W_LOG, y_cls)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(model, w, y, bad):
    Xb = X.copy()
    Xb[2, 1] = bad
    for call in (lambda: model.loss(w, Xb, y), lambda: model.loss_and_grad(w, Xb, y)):
        with pytest.raises(ValueError, match="X contains NaN or inf"):
            call()


def test_non_finite_y():
    yb = y_reg.copy()
    yb[0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        LIN.loss(W_LIN, X, yb)


def test_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        LOG.loss(W_LOG, X, np.array([0, 1, 2, 3, 0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"labels must lie"):
        LOG.loss(W_LOG, X, -np.ones(8, dtype=int))
    with pytest.raises(ValueError, match="integer class labels"):
        LOG.loss(W_LOG, X, y_cls.astype(float))


def test_model_constructor_arguments():
    with pytest.raises(ValueError, match="n_features"):
        LinearRegression(0)
    with pytest.raises(ValueError, match="reduction"):
        LinearRegression(3, reduction="mean")
    with pytest.raises(ValueError, match="n_classes"):
        LogisticRegression(3, 1)


@pytest.mark.parametrize("make, name", [
    (lambda: FixedLR(0.0), "eta"),
    (lambda: FixedLR(-1e-3), "eta"),
    (lambda: FixedLR(float("nan")), "eta"),
    (lambda: FirstOrderLR(0.1, alpha=-1e-6), "alpha"),
    (lambda: FirstOrderLR(0.1, alpha=1e-6, beta=1.0), "beta"),
    (lambda: SecondOrderLR(0.1, eps=0.0), "eps"),
    (lambda: SecondOrderLR(0.1, eps=-1e-5), "eps"),
    (lambda: SecondOrderLR(0.1, delta=-1e-6), "delta"),
    (lambda: SecondOrderLR(0.1, beta=-0.1), "beta"),
    (lambda: SecondOrderLR(0.1, beta=1.5), "beta"),
    (lambda: SecondOrderLR(0.1, delta_rule="sometimes"), "delta_rule"),
    (lambda: ExactNewtonLR(0.0), "eta"),
    (lambda: ExactNewtonLR(0.1, delta=-1.0), "delta"),
])
def test_controller_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_controller_argument_types():
    with pytest.raises(TypeError, match="eta"):
        FixedLR("0.1")
    with pytest.raises(TypeError, match="eta"):
        FixedLR(True)


def test_smoothing_rule_name():
    with pytest.raises(ValueError, match="delta_rule"):
        smooth_denominator(1.0, 1e-6, "never")


def test_probe_etas():
    phi = Probe(LOG, W_LOG, W_LOG.copy(), X, y_cls)
    with pytest.raises(ValueError, match="1-D"):
        phi(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        phi([])
    with pytest.raises(ValueError, match="etas contains NaN"):
        phi([0.1, np.nan])


def test_second_order_needs_a_probe():
    with pytest.raises(TypeError, match="phi must be a callable"):
        SecondOrderLR(0.1).step(np.ones(3), None)


def test_train_arguments():
    with pytest.raises(ValueError, match="epochs"):
        train(LIN, FixedLR(1e-3), X, y_reg, epochs=-1)
    with pytest.raises(ValueError, match="batch_size"):
        train(LIN, FixedLR(1e-3), X, y_reg, batch_size=0)
    with pytest.raises(ValueError, match="rows"):
        train(LIN, FixedLR(1e-3), X, y_reg[:4])
    Xb = X.copy()
    Xb[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        train(LIN, FixedLR(1e-3), Xb, y_reg)
    with pytest.raises(ValueError, match="probe_on"):
        train(LIN, FixedLR(1e-3), X, y_reg, probe_on="test")
    with pytest.raises(ValueError, match="X_val"):
        train(LIN, FixedLR(1e-3), X, y_reg, probe_on="validation")
