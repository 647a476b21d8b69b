"""The probe: Eq. 7 for every model, the checks of what a probe returns, Eq. 22-23's batches."""

import numpy as np
import pytest

from adaptive_lr import LeNet, LinearRegression, LogisticRegression, Probe
from adaptive_lr.probe import evaluate_probe, line_slope, validation_batch


def _problem(model, X, y, seed=0):
    w = model.init_params(np.random.default_rng(seed))
    d = model.loss_and_grad(w, X, y)[1]
    return w, d


@pytest.mark.parametrize("make, classes", [(lambda: LinearRegression(4), None),
                                           (lambda: LogisticRegression(4, 3), 3)])
def test_slope_by_eq7_equals_the_exact_derivative(make, classes):
    """Eq. 7 from one gradient at w - eta d is the exact f'(eta): against the models'
    analytic line derivatives, to the rounding of two n-term dot products (~ 8 n u |f'|)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 4))
    y = rng.integers(0, classes, 20) if classes else rng.normal(size=20)
    model = make()
    w, d = _problem(model, X, y)
    probe = Probe(model, w, d, X, y)
    for eta in (0.0, 0.1, 0.7):
        f1 = model.line_derivatives(w, d, eta, X, y)[0]
        u = np.finfo(np.float64).eps
        assert probe.slope(eta) == pytest.approx(f1, rel=8 * 20 * u, abs=8 * 20 * u)
    assert (probe.counter.forward, probe.counter.backward) == (3, 3)


def test_slope_by_eq7_for_lenet_matches_a_central_difference():
    """LeNet has no analytic line derivatives; Eq. 7 still applies. Against the central
    difference of the line loss: truncation h^2 |f'''| / 6 and rounding u |f| / h, both below
    1e-8 for h = 1e-5 and f, f''' of order 1."""
    rng = np.random.default_rng(2)
    model = LeNet(in_channels=1, n_classes=3, image_size=16, dropout=0.5)
    X, y = rng.normal(size=(4, 1, 16, 16)), rng.integers(0, 3, 4)
    noise = model.sample_noise(rng, 4)
    w = model.init_params(rng)
    d = model.loss_and_grad(w, X, y, noise=noise)[1]
    probe = Probe(model, w, d, X, y, noise=noise)
    h, eta = 1e-5, 0.05
    f_m, f_p = probe(np.array([eta - h, eta + h]))
    assert probe.slope(eta) == pytest.approx((f_p - f_m) / (2 * h), abs=1e-6)
    with pytest.raises(TypeError, match="no exact line derivatives"):
        probe.derivatives(eta)


def test_line_slope_is_minus_the_dot_product():
    d, g = np.array([1.0, -2.0, 0.5]), np.array([0.25, 1.0, 4.0])
    assert line_slope(d, g) == -(0.25 - 2.0 + 2.0)


@pytest.mark.parametrize("answer, error", [
    (lambda e: np.ones(len(e) + 1), "returned shape"),
    (lambda e: 1.0, "returned shape"),
    (lambda e: np.ones((len(e), 1)), "returned shape"),
    (lambda e: ["a"] * len(e), "real numbers"),
])
def test_evaluate_probe_refuses_a_wrong_answer(answer, error):
    with pytest.raises(ValueError, match=error):
        evaluate_probe(answer, np.array([0.1, 0.2, 0.3]))


def test_evaluate_probe_refuses_a_non_callable():
    with pytest.raises(TypeError, match="phi must be a callable"):
        evaluate_probe(None, np.array([0.1]))


def test_probe_refuses_bad_rates():
    model = LinearRegression(2)
    X, y = np.ones((3, 2)), np.ones(3)
    w, d = _problem(model, X, y)
    probe = Probe(model, w, d, X, y)
    for etas in (np.array([]), np.zeros((2, 2)), np.array([np.nan])):
        with pytest.raises(ValueError, match="etas"):
            probe(etas)
    with pytest.raises(ValueError, match="eta must be finite"):
        probe.slope(np.inf)


def test_validation_batch_draws_without_replacement():
    X, y = np.arange(10.0)[:, None], np.arange(10)
    rng = np.random.default_rng(0)
    for size in (3, 10, 25):
        Xb, yb = validation_batch(X, y, size, rng)
        assert len(yb) == min(size, 10) and len(np.unique(yb)) == len(yb)
        assert np.array_equal(Xb[:, 0], yb)  # rows stay paired with their labels
