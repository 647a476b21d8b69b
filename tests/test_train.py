"""The training loop: reproducibility, history, counts, divergence, validation probes."""

import math

import numpy as np
import pytest

from adaptive_lr import (
    FirstOrderLR,
    FixedLR,
    LinearRegression,
    LogisticRegression,
    SecondOrderLR,
    train,
)


def data(seed=0, n=96, d=5, c=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=(d, c))).argmax(1)
    return X, y


@pytest.mark.parametrize("make", [lambda: FixedLR(0.1), lambda: FirstOrderLR(0.1, 1e-3),
                                  lambda: SecondOrderLR(0.1)])
def test_same_seed_same_history_bit_for_bit(make):
    X, y = data()
    model = LogisticRegression(5, 3)
    a = train(model, make(), X, y, epochs=3, batch_size=10, seed=11, X_test=X, y_test=y)
    b = train(model, make(), X, y, epochs=3, batch_size=10, seed=11, X_test=X, y_test=y)
    da, db = a.history.to_dict(), b.history.to_dict()
    da.pop("time"), db.pop("time")  # wall-clock seconds differ, everything else must not
    for key in da:
        np.testing.assert_array_equal(np.asarray(da[key], dtype=float if key != "diverged"
                                                 else object), np.asarray(db[key], dtype=float
                                                 if key != "diverged" else object), err_msg=key)
    assert np.array_equal(a.w, b.w)
    c = train(model, make(), X, y, epochs=3, batch_size=10, seed=12)
    assert not np.array_equal(a.w, c.w)


def test_history_shapes_and_counts():
    X, y = data(n=95)
    model = LogisticRegression(5, 3)
    res = train(model, SecondOrderLR(0.1), X, y, epochs=2, batch_size=10, X_test=X, y_test=y)
    h = res.history
    iters = 2 * 10  # ceil(95 / 10) batches per epoch
    assert len(h.lr) == len(h.loss) == len(h.epoch_of_iter) == iters
    assert h.epoch == [0, 1, 2] and len(h.train_acc) == len(h.test_loss) == 3
    # one gradient (1 forward + 1 backward) and five probe losses per step
    assert (h.forward, h.backward) == (6 * iters, iters)
    assert h.diverged is None
    fixed = train(model, FixedLR(0.1), X, y, epochs=2, batch_size=10).history
    assert (fixed.forward, fixed.backward) == (iters, iters)
    assert all(math.isnan(v) for v in fixed.test_acc)  # no test set given


def test_full_batch_regression_history():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    # delta = 0, pure Newton: each step's rate is the exact line minimum of the previous
    # direction, the Barzilai-Borwein step, which converges on a well-conditioned quadratic
    res = train(LinearRegression(3), SecondOrderLR(1e-2, delta=0.0, delta_rule="if-zero"),
                X, y, epochs=30)
    h = res.history
    assert len(h.lr) == 30 and all(math.isnan(a) for a in h.train_acc)
    assert h.train_loss[-1] < 1e-3 * h.train_loss[0]


def test_divergence_stops_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 100
    y = rng.normal(size=50)
    res = train(LinearRegression(3), FixedLR(10.0), X, y, epochs=1000)
    h = res.history
    assert h.diverged is not None
    assert "diverged at iteration" in h.diverged and "learning rate 10" in h.diverged
    assert np.all(np.isfinite(res.w))
    assert len(h.lr) < 1000


def test_validation_probes_never_touch_the_training_gradient():
    """With probes on a validation set, the weights' trajectory under a fixed rate is the one
    of the training data alone, and the validation labels change only the adaptive rate."""
    X, y = data(n=80)
    Xv, yv = data(seed=1, n=40)
    model = LogisticRegression(5, 3)
    kw = dict(epochs=2, batch_size=8, seed=3, probe_on="validation", X_val=Xv)
    a = train(model, SecondOrderLR(0.1, delta_rule="if-zero"), X, y, y_val=yv, **kw)
    b = train(model, SecondOrderLR(0.1, delta_rule="if-zero"), X, y, y_val=(yv + 1) % 3, **kw)
    assert a.history.lr[0] == b.history.lr[0]  # the first step uses eta(0)
    assert a.history.lr[1:] != b.history.lr[1:]
    # each step probes a validation batch: five forward passes, no extra backward pass
    assert a.history.forward == 6 * len(a.history.lr)


def test_float32_training_stays_float32():
    X, y = data()
    res = train(LogisticRegression(5, 3), SecondOrderLR(0.1), X, y, epochs=1, batch_size=16,
                dtype=np.float32)
    assert res.w.dtype == np.float32


def test_callback_can_stop():
    X, y = data()
    res = train(LogisticRegression(5, 3), FixedLR(0.1), X, y, epochs=5, batch_size=16,
                callback=lambda epoch, hist, w: epoch == 2)
    assert res.history.epoch == [0, 1, 2]


@pytest.mark.parametrize("make", [lambda: LinearRegression(5), lambda: LogisticRegression(5, 3)])
def test_next_forward_from_the_probe_is_the_fresh_forward(make):
    """X (w - eta d) = X w - eta X d (DESIGN.md idea 4): the derived forward equals the
    product computed afresh up to the rounding of the products, <= 4 D u (|X| |w| + |eta X d|)."""
    rng = np.random.default_rng(0)
    model = make()
    X, y = data()
    y = y if model.task == "classification" else X @ rng.normal(size=5)
    w = model.init_params(rng)
    _, g, cache = model.forward_backward(w, X, y)
    eta = 0.37
    derived = model.advance_forward(cache, model.direction_forward(g, X), eta)
    _, _, fresh = model.forward_backward(w - eta * g, X, y)
    u = np.finfo(np.float64).eps
    bound = 4 * 6 * u * (np.abs(X).max() + 1) * (np.abs(w).sum() + eta * np.abs(g).sum())
    np.testing.assert_allclose(derived, fresh, rtol=0, atol=bound)


class _NoReuse(LogisticRegression):
    supports_forward_reuse = False


class _CountReuse(LogisticRegression):
    reused = 0

    def forward_backward(self, w, X, y, *, noise=None, forward=None):
        self.reused += forward is not None
        return super().forward_backward(w, X, y, noise=noise, forward=forward)


def test_full_batch_forward_reuse_changes_only_rounding():
    """The same full-batch run with the next forward derived (default) and computed afresh.
    The two differ by the rounding of the logits (~50 u per entry between refreshes); with
    delta_rule="always" the rate is Lipschitz in the losses with a constant ~ 2 eps / delta,
    so 20 steps stay within 1e-9 of each other."""
    X, y = data()
    kw = dict(epochs=20, seed=0)
    spy = _CountReuse(5, 3)
    a = train(spy, SecondOrderLR(0.1, eps=1e-3), X, y, **kw).history
    b = train(_NoReuse(5, 3), SecondOrderLR(0.1, eps=1e-3), X, y, **kw).history
    assert spy.reused == 19  # every step but the first took its forward from the probe
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-9)
    np.testing.assert_allclose(a.lr, b.lr, rtol=1e-9)
    assert (a.forward, a.backward) == (b.forward, b.backward)  # passes counted alike
    # mini-batches, or probes on another batch: nothing to reuse
    spy.reused = 0
    train(spy, SecondOrderLR(0.1), X, y, epochs=2, batch_size=16)
    assert spy.reused == 0
