"""The training loop: reproducibility, history, counts, divergence, validation probes."""

import math

import numpy as np
import pytest

from adaptive_lr import (
    FirstOrderLR,
    FixedLR,
    LeNet,
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


class BatchSpy(LogisticRegression):
    """Records the first feature of every example of every gradient batch it is given."""

    def __init__(self, *args):
        super().__init__(*args)
        self.seen = []

    def forward_backward(self, w, X, y, **kw):
        self.seen.append(np.asarray(X)[:, 0].copy())
        return super().forward_backward(w, X, y, **kw)


def test_validation_probes_never_touch_the_training_gradient():
    """With probes on a validation set, the training batches and the weights' trajectory under
    a fixed rate are those of the training data alone; the validation data change only the
    adaptive rate, never the batches the gradient sees."""
    X, y = data(n=80)
    Xv, yv = data(seed=1, n=40)
    kw = dict(epochs=2, batch_size=8, seed=3, X_val=Xv)
    controllers = {"fixed": lambda: FixedLR(0.1),
                   "second": lambda: SecondOrderLR(0.1, delta_rule="if-zero")}
    runs = {}
    for labels, y_val in (("a", yv), ("b", (yv + 1) % 3)):
        for name, make in controllers.items():
            spy = BatchSpy(5, 3)
            res = train(spy, make(), X, y, y_val=y_val, probe_on="validation", **kw)
            runs[name, labels] = (res, spy.seen)
    (fixed_a, seen_fa), (fixed_b, seen_fb) = runs["fixed", "a"], runs["fixed", "b"]
    assert np.array_equal(fixed_a.w, fixed_b.w)  # a fixed rate never reads the probe
    (second_a, seen_sa), (second_b, seen_sb) = runs["second", "a"], runs["second", "b"]
    for seen in (seen_fb, seen_sa, seen_sb):  # the same training batches in every run
        assert all(np.array_equal(p, q) for p, q in zip(seen_fa, seen, strict=True))
    assert second_a.history.lr[0] == second_b.history.lr[0]  # the first step uses eta(0)
    assert second_a.history.lr[1:] != second_b.history.lr[1:]  # the labels move the rate
    assert not np.array_equal(second_a.w, second_b.w)
    # each step probes a validation batch: five forward passes, no extra backward pass
    assert second_a.history.forward == 6 * len(second_a.history.lr)


@pytest.mark.parametrize("make_model", [
    lambda: LogisticRegression(5, 3),
    lambda: LeNet(in_channels=1, n_classes=3, image_size=16, dropout=0.5),
], ids=["logistic", "lenet-dropout"])
def test_fixed_rate_run_is_bit_identical_under_both_probes(make_model):
    """Shuffles, dropout masks and validation batches have their own random streams: a run
    that differs only in where it probes differs in nothing else."""
    model = make_model()
    rng = np.random.default_rng(0)
    if isinstance(model, LeNet):
        X, y = rng.normal(size=(24, 1, 16, 16)), rng.integers(0, 3, 24)
    else:
        X, y = data(n=24)
    kw = dict(epochs=2, batch_size=8, seed=5, X_test=X[:8], y_test=y[:8])
    a = train(model, FixedLR(0.05), X[:16], y[:16], probe_on="train", **kw)
    b = train(model, FixedLR(0.05), X[:16], y[:16], probe_on="validation", X_val=X[16:],
              y_val=y[16:], **kw)
    assert np.array_equal(a.w, b.w)
    assert a.history.loss == b.history.loss and a.history.test_loss == b.history.test_loss


def test_validation_batches_are_drawn_without_replacement():
    class ProbeSpy(LogisticRegression):
        batches = []

        def line_losses(self, w, d, etas, X, y, **kw):
            self.batches.append(np.asarray(X)[:, 0].copy())
            return super().line_losses(w, d, etas, X, y, **kw)

    X, y = data(n=64)
    Xv = np.arange(12.0)[:, None] * np.ones((1, 5))  # feature 0 names the example
    model = ProbeSpy(5, 3)
    train(model, SecondOrderLR(0.05), X, y, epochs=1, batch_size=10, probe_on="validation",
          X_val=Xv, y_val=np.arange(12) % 3)
    assert len(model.batches) == 7  # 64 = 6 * 10 + 4
    for batch, size in zip(model.batches, [10] * 6 + [4], strict=True):
        # as many held-out examples as the step's training batch has, none twice
        assert len(batch) == size and len(np.unique(batch)) == size
    assert len({tuple(b) for b in model.batches}) > 1  # and not always the same ones


def test_callback_keeps_the_weights_of_its_epoch():
    """Eq. 1 makes a new array: a w kept by the callback is never overwritten by later
    steps (it equals the weights of a run stopped at that epoch)."""
    X, y = data()
    model = LogisticRegression(5, 3)
    kept = {}
    full = train(model, SecondOrderLR(0.1), X, y, epochs=3, batch_size=16,
                 callback=lambda epoch, hist, w: kept.setdefault(epoch, w) is None)
    one = train(model, SecondOrderLR(0.1), X, y, epochs=1, batch_size=16)
    assert np.array_equal(kept[1], one.w)
    assert not np.array_equal(kept[1], full.w) and np.array_equal(kept[3], full.w)


def test_first_order_on_a_held_out_probe_depends_on_the_validation_data():
    """FirstOrderLR(derivative="probe") differentiates the probe, so on validation probes it
    is the first-order rule on the held-out loss; with derivative="next-gradient" (Eq. 8) it
    never reads the probe, and the validation data change nothing."""
    X, y = data(n=80)
    Xv, yv = data(seed=1, n=40)
    kw = dict(epochs=2, batch_size=8, seed=3, probe_on="validation", X_val=Xv)
    for derivative, differs in (("probe", True), ("next-gradient", False)):
        a, b = (train(LogisticRegression(5, 3), FirstOrderLR(0.1, 1e-2, derivative=derivative),
                      X, y, y_val=labels, **kw) for labels in (yv, (yv + 1) % 3))
        assert (a.history.lr != b.history.lr) is differs
        assert (not np.array_equal(a.w, b.w)) is differs


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
