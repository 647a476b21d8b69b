"""One contract, run over every model (``adaptive_lr/models/base.py``).

A new model is covered by adding one line to ``MODELS``: a factory and a batch maker. Each check
is in float64 unless it says otherwise, with its bound stated from theory:

* the gradient is the derivative of the loss: along a random direction ``v``, the central
  difference ``(L(w + h v) - L(w - h v)) / 2h`` has truncation error ``h^2 |L'''| / 6`` and
  rounding error ``~ u |L| / h``; with ``h = 1e-6`` and losses and derivatives of order 1 both
  are below ``1e-9``, so the two agree to ``1e-7 (1 + |grad . v|)``;
* the fused line losses equal the plain ones (one ``loss`` per rate) to rounding, and the forward
  cache changes nothing; the exact line derivatives, where offered, match central differences;
* no input is modified; float32 in, float32 out; ``predict`` gives labels or values;
* ``sample_noise`` is reproducible from its generator; a stateless model has no state.
"""

import numpy as np
import pytest

from adaptive_lr import LeNet, LinearRegression, LogisticRegression, ResNet18
from adaptive_lr.models.base import ExactLineDerivatives, GradientPass, Model

U = np.finfo(np.float64).eps


def features(n, d, classes=None):
    def make(rng):
        X = rng.normal(size=(n, d))
        y = rng.integers(0, classes, n) if classes else X @ rng.normal(size=d) + 0.1
        return X, y
    return make


def images(n, c, size, classes):
    h, w = (size, size) if np.ndim(size) == 0 else size

    def make(rng):
        return rng.normal(size=(n, c, h, w)), rng.integers(0, classes, n)
    return make


#: (name, model factory, batch maker)
MODELS = [
    ("linear", lambda: LinearRegression(4), features(12, 4)),
    ("linear-no-intercept", lambda: LinearRegression(4, fit_intercept=False), features(12, 4)),
    ("logistic", lambda: LogisticRegression(4, 3), features(12, 4, 3)),
    ("lenet", lambda: LeNet(in_channels=1, n_classes=3, image_size=16, dropout=0.0),
     images(5, 1, 16, 3)),
    ("lenet-dropout", lambda: LeNet(in_channels=2, n_classes=4, image_size=(16, 17),
                                    dropout=0.5), images(6, 2, (16, 17), 4)),
    ("resnet18", lambda: ResNet18(2, 3, 8, widths=(2, 3, 4, 5)), images(4, 2, 8, 3)),
    ("resnet18-no-dropout-pool", lambda: ResNet18(1, 3, (9, 7), widths=(3, 3, 2, 2),
     strides=(2, 1, 1, 2), stem_pool=False, dropout=0.0), images(3, 1, (9, 7), 3)),
]
IDS = [m[0] for m in MODELS]


def setup(make_model, make_batch, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = make_model()
    w = model.init_params(rng, dtype)
    X, y = make_batch(rng)
    X = X.astype(dtype)
    y = y.astype(dtype) if model.task == "regression" else y
    return model, w, X, y, model.sample_noise(rng, len(X))


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
def test_parameters_and_views(name, make_model, make_batch):
    model = make_model()
    for dtype in (np.float32, np.float64):
        w = model.init_params(np.random.default_rng(3), dtype)
        assert w.shape == (model.num_params,) and w.dtype == dtype and np.all(np.isfinite(w))
        assert np.array_equal(w, model.init_params(np.random.default_rng(3), dtype))
    views = model.unflatten(w)
    assert [(k, v.shape) for k, v in views.items()] == list(model.layout)
    assert sum(v.size for v in views.values()) == model.num_params
    for v in views.values():
        assert np.shares_memory(v, w)
    state = model.init_state()  # None, or a dict of arrays (BatchNorm's running statistics)
    assert state is None or all(isinstance(v, np.ndarray) for v in state.values())


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_is_the_derivative_of_the_loss(name, make_model, make_batch, seed):
    model, w, X, y, noise = setup(make_model, make_batch, seed)
    out = model.forward_backward(w, X, y, noise=noise)
    assert isinstance(out, GradientPass)
    assert (out.state is None) == (model.init_state() is None)
    assert out.grad.shape == w.shape and out.grad.dtype == w.dtype
    assert out.loss == pytest.approx(model.loss(w, X, y, noise=noise), rel=64 * U, abs=64 * U)
    v = np.random.default_rng(seed + 10).normal(size=w.shape)
    v /= np.linalg.norm(v)
    h = 1e-6
    numeric = (model.loss(w + h * v, X, y, noise=noise)
               - model.loss(w - h * v, X, y, noise=noise)) / (2 * h)
    exact = float(out.grad @ v)
    # see the module docstring; a ReLU kink or a pooling tie inside [w - h v, w + h v] would
    # break this, with probability ~ (units) * h on random data: ~1e-3 per seed for LeNet
    assert abs(numeric - exact) <= 1e-7 * (1 + abs(exact)), (numeric, exact)


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_line_losses_equal_plain_losses(name, make_model, make_batch, dtype):
    model, w, X, y, noise = setup(make_model, make_batch, 1, dtype)
    out = model.forward_backward(w, X, y, noise=noise)
    etas = 0.3 + 1e-3 * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    plain = Model.line_losses(model, w, out.grad, etas, X, y, noise=noise)
    fused = model.line_losses(w, out.grad, etas, X, y, noise=noise)
    cached = model.line_losses(w, out.grad, etas, X, y, noise=noise, cache=out.cache)
    assert fused.shape == (5,) and fused.dtype == np.float64
    # both sum the same terms in another order: ~ n_terms u |f| apart, with n_terms the
    # number of products and sums behind one loss (a few hundred here); in float32 u is 6e-8
    u = np.finfo(dtype).eps
    tol = 1e3 * u * np.abs(plain).max()
    np.testing.assert_allclose(fused, plain, rtol=0, atol=tol)
    np.testing.assert_allclose(cached, fused, rtol=0, atol=tol)


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
def test_exact_line_derivatives_match_central_differences(name, make_model, make_batch):
    model, w, X, y, _ = setup(make_model, make_batch, 2)
    if not isinstance(model, ExactLineDerivatives):
        pytest.skip(f"{name} offers no exact line derivatives")
    d = model.loss_and_grad(w, X, y)[1]
    eta, h = 0.2, 1e-4
    f = Model.line_losses(model, w, d, eta + h * np.array([-1.0, 0.0, 1.0]), X, y)
    f1, f2 = model.line_derivatives(w, d, eta, X, y)
    # central differences: errors h^2 f'''/6 and h^2 f''''/12, plus rounding u |f| / h^2
    scale = 1 + abs(f1) + abs(f2)
    assert (f[2] - f[0]) / (2 * h) == pytest.approx(f1, abs=1e-6 * scale)
    assert (f[2] - 2 * f[1] + f[0]) / h**2 == pytest.approx(f2, abs=1e-5 * scale)


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
def test_no_input_is_modified_and_float32_stays_float32(name, make_model, make_batch):
    for dtype in (np.float32, np.float64):
        model, w, X, y, noise = setup(make_model, make_batch, 0, dtype)
        copies = [a.copy() for a in (w, X, y)]
        out = model.forward_backward(w, X, y, noise=noise)
        model.line_losses(w, out.grad, np.array([0.1, 0.2]), X, y, noise=noise,
                          cache=out.cache)
        pred = model.predict(w, X)
        model.loss(w, X, y)
        for before, after in zip(copies, (w, X, y), strict=True):
            assert np.array_equal(before, after)
        assert out.grad.dtype == dtype
        assert pred.shape == (len(X),)
        if model.task == "classification":
            assert pred.dtype == np.int64 and pred.min() >= 0
        else:
            assert pred.dtype == dtype


@pytest.mark.parametrize("name, make_model, make_batch", MODELS, ids=IDS)
def test_noise_is_reproducible_and_stateless_models_refuse_a_state(name, make_model,
                                                                   make_batch):
    model = make_model()
    a = model.sample_noise(np.random.default_rng(5), 7)
    b = model.sample_noise(np.random.default_rng(5), 7)
    assert (a is None) == (b is None)
    if a is not None:
        for x, z in zip(a, b, strict=True):
            assert np.array_equal(x, z)
    model, w, X, y, noise = setup(make_model, make_batch)
    with pytest.raises(ValueError, match="state"):
        model.forward_backward(w, X, y, noise=noise, state={"running_mean": np.zeros(1)})
