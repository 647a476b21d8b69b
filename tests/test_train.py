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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("batch_size", [None, 7])
def test_divergence_keeps_the_last_weights_whose_loss_is_finite(batch_size):
    """The loss is checked *before* each step, so the weights of the step that broke it are
    not the ones to keep: the run returns the last weights whose loss was evaluated finite, and
    names their iteration."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 100
    y = rng.normal(size=50)
    model = LinearRegression(3)
    res = train(model, FixedLR(10.0), X, y, epochs=1000, batch_size=batch_size)
    h, k = res.history, res.history.kept_iteration
    assert h.diverged is not None and f"those after iteration {k} " in h.diverged
    loss = model.loss(res.w, X, y)
    assert math.isfinite(loss) and math.isfinite(h.loss[k])
    if batch_size is None:  # one step per epoch: the evaluations name the same weights
        assert loss == h.loss[k]
        # evaluate's mean is (loss * n) / n: two roundings of at most u = 1.1e-16 each
        assert h.train_loss[k] == pytest.approx(loss, rel=2.3e-16)
        # the iteration is right: one more step from the kept weights makes the loss infinite
        _, grad = model.loss_and_grad(res.w, X, y)
        assert not math.isfinite(model.loss(res.w - h.lr[k] * grad, X, y))
        assert k == len(h.lr) - 1 and not math.isfinite(h.train_loss[-1])
    else:  # the last finite batch loss is at the kept weights; every later one is not finite
        assert not any(math.isfinite(v) for v in h.loss[k + 1:]) or k == len(h.lr) - 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_weights_that_overflow_are_not_applied():
    X = np.ones((4, 1)) * 1e10
    res = train(LinearRegression(1), FixedLR(1e300), X, np.zeros(4), epochs=3,
                w0=np.array([1.0, 0.0]))
    h = res.history
    assert "diverged at iteration 1 (epoch 1): the weights became non-finite" in h.diverged
    assert h.kept_iteration == 0 and np.array_equal(res.w, [1.0, 0.0])


def runaway(w0: float, eval_chunk, batch_size):
    """Linear regression on four equal rows ``x = 1``, ``y = 0``, no bias: the loss of a batch
    is ``w^2 / 2``, computed as ``(r @ r) / (2 n)`` with ``r @ r = n w^2``, and each step at
    rate 3 maps ``w`` to ``-2 w``: the loss grows by 4 per step, up to the overflow."""
    calls = []
    res = train(LinearRegression(1, fit_intercept=False), FixedLR(3.0), np.ones((4, 1)),
                np.zeros(4), epochs=5, batch_size=batch_size, w0=np.array([w0]),
                eval_chunk=eval_chunk, callback=lambda e, h, w: calls.append(e))
    return res, calls


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_an_overflowing_epoch_mean_of_finite_batch_losses_is_a_divergence():
    """Batches of one row, evaluation in chunks of one row: every batch loss and every chunk
    loss is finite (``w^2 < 1.8e308``), but the epoch mean adds 4 chunk losses ``w^2 / 2``
    before dividing and overflows once ``2 w^2 > 1.8e308``. Epoch 1 takes ``w0`` to
    ``16 w0``; with ``w0^2 = 1.2e308 / 256`` its evaluation overflows, while at the weights of
    the last step (``8 w0``, iteration 3) the training loss is finite."""
    w0 = math.sqrt(1.2e308 / 256)
    res, calls = runaway(w0, eval_chunk=1, batch_size=1)
    h = res.history
    assert all(math.isfinite(v) for v in h.loss) and len(h.loss) == 4
    assert h.train_loss[0] == w0 * w0 / 2 and not math.isfinite(h.train_loss[1])
    assert h.diverged.startswith("diverged at iteration 4 (epoch 1): the training loss became "
                                 "non-finite with learning rate 3")
    assert h.kept_iteration == 3 and res.w[0] == -8 * w0  # exact: powers of 2
    assert math.isfinite(LinearRegression(1, fit_intercept=False).loss(res.w, np.ones((4, 1)),
                                                                       np.zeros(4)))
    assert calls == [0]  # no callback (and no checkpoint) after the diverged epoch


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("w1_squared, kept", [(2e307, 1), (6e307, 0)])
def test_an_overflowing_evaluation_keeps_the_last_finite_evaluation(w1_squared, kept):
    """Batches of two rows, evaluation of all four at once (``r @ r = 4 w^2``): epoch 1 is two
    steps, ``w0 -> w1 = -2 w0 -> w2 = 4 w0``, with finite batch losses ``w0^2``, ``w1^2``
    (``r @ r = 2 w^2``) and an evaluation at ``w2`` that overflows (``4 w2^2 > 1.8e308``). If
    the training loss at ``w1`` is finite (``4 w1^2 = 8e307``), ``w1`` is kept (iteration 1);
    if not (``2.4e308``), the weights of the last finite evaluation, ``w0`` (iteration 0)."""
    w0 = math.sqrt(w1_squared / 4)
    res, _ = runaway(w0, eval_chunk=None, batch_size=2)
    h = res.history
    assert h.kept_iteration == kept and res.w[0] == (-2.0) ** kept * w0
    assert f"those after iteration {kept} (training loss " in h.diverged
    assert len(h.lr) == 2 and all(math.isfinite(v) for v in h.loss)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("batch_size", [None, 7])
def test_a_resumed_run_diverges_as_the_uninterrupted_one(tmp_path, batch_size):
    """The last checkpoint of a diverging run is its last finite epoch; resumed from it, the run
    diverges at the same step and keeps the same weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 100
    y = rng.normal(size=50)
    model, path = LinearRegression(3), tmp_path / "run.npz"
    full = train(model, FixedLR(10.0), X, y, epochs=1000, batch_size=batch_size,
                 checkpoint_path=path)
    resumed = train(model, FixedLR(10.0), X, y, epochs=1000, batch_size=batch_size,
                    resume_from=path)
    a, b = full.history.to_dict(), resumed.history.to_dict()
    a.pop("time"), b.pop("time")
    assert a.pop("diverged") == b.pop("diverged") is not None
    for key in a:  # NaN (accuracies of a regression) equals NaN here
        np.testing.assert_array_equal(np.asarray(a[key], float), np.asarray(b[key], float), key)
    assert np.array_equal(full.w, resumed.w)


def test_infinite_initial_loss_is_an_error():
    with pytest.raises(ValueError, match="initial weights"):
        train(LinearRegression(1, fit_intercept=False), FixedLR(1.0), np.ones((4, 1)),
              np.zeros(4), w0=np.array([1e200]))


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
