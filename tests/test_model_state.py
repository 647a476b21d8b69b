"""The room the model interface leaves for non-parameter state (BatchNorm's running statistics):
only the gradient's pass updates it, once per step; probes read it and cannot change it;
evaluation uses it; checkpoints carry it, and a resumed run continues bit for bit."""

import numpy as np
import pytest

from adaptive_lr import FixedLR, GradientDirection, LinearRegression, SecondOrderLR, train
from adaptive_lr.models.base import GradientPass


class RunningResidual(LinearRegression):
    """Linear regression with a running mean of the training residual as its state (a stand-in
    for BatchNorm's running statistics), counting who sees which state."""

    def __init__(self, d):
        super().__init__(d)
        self.updates, self.probed_with, self.evaluated_with = 0, [], []

    def init_state(self, dtype=np.float64):
        return {"steps": np.zeros(1), "mean_residual": np.zeros(1, dtype=dtype)}

    def _check_state(self, state):
        assert state is None or set(state) == {"steps", "mean_residual"}

    def forward_backward(self, w, X, y, *, noise=None, state=None):
        out = super().forward_backward(w, X, y)
        r = float(np.mean(out.cache - y))
        self.updates += 1
        new = {"steps": state["steps"] + 1,
               "mean_residual": 0.9 * state["mean_residual"] + 0.1 * r}
        return GradientPass(out.loss, out.grad, out.cache, new)

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None, state=None):
        self.probed_with.append(state)
        return super().line_losses(w, d, etas, X, y, cache=cache)

    def loss(self, w, X, y, *, noise=None, state=None):
        self.evaluated_with.append(state)
        return super().loss(w, X, y)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return X, X @ np.array([1.0, -1.0, 2.0]) + 0.5 + 0.1 * rng.normal(size=60)


def test_state_is_updated_once_per_step_by_the_gradient_pass_only():
    X, y = _data()
    model = RunningResidual(3)
    res = train(model, SecondOrderLR(0.05), X, y, epochs=3, batch_size=20)
    steps = len(res.history.lr)
    assert model.updates == steps == 9
    assert res.model_state["steps"][0] == steps  # stored once per step, never by a probe
    # each step's probe saw the state that the step started from (0, 1, ..., steps - 1
    # updates), not one it made itself
    assert [float(s["steps"][0]) for s in model.probed_with] == list(range(steps))
    # evaluations (epochs 0..3: train set) used the state reached at that point
    assert [float(s["steps"][0]) for s in model.evaluated_with] == [0, 3, 6, 9]


def test_checkpoint_carries_the_state_and_resume_is_bit_for_bit(tmp_path):
    X, y = _data()
    kw = dict(batch_size=20, seed=1)
    full = train(RunningResidual(3), SecondOrderLR(0.05), X, y, epochs=4, **kw)
    path = tmp_path / "run.npz"
    train(RunningResidual(3), SecondOrderLR(0.05), X, y, epochs=2, checkpoint_path=path, **kw)
    resumed = train(RunningResidual(3), SecondOrderLR(0.05), X, y, epochs=4, resume_from=path,
                    **kw)
    assert np.array_equal(resumed.w, full.w)
    for key in ("steps", "mean_residual"):
        assert np.array_equal(resumed.model_state[key], full.model_state[key])
    assert resumed.history.lr == full.history.lr


def test_stateless_models_refuse_a_state():
    model = LinearRegression(2)
    w = model.init_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match="no non-parameter state"):
        model.loss(w, np.ones((2, 2)), np.ones(2), state={"x": np.zeros(1)})
    assert model.init_state() is None


# -- ResNet-18: BatchNorm's running statistics, the state these rules exist for ----------------
def _resnet_data(n=24, seed=0):
    from adaptive_lr import ResNet18

    rng = np.random.default_rng(seed)
    model = ResNet18(3, 3, 8, widths=(2, 3, 4, 4))
    X = rng.normal(size=(n, 3, 8, 8))
    return model, X, rng.integers(0, 3, n)


class FiveProbesFixedLR(FixedLR):
    """A fixed rate that asks for the five losses of Eq. 16 at every step and ignores them: a
    run with it differs from a plain SGD run only in its probes."""

    def step(self, grad=None, phi=None) -> float:
        eta, eps = self.lr, 1e-5
        self.probed = phi(np.array([eta - 2 * eps, eta - eps, eta, eta + eps, eta + 2 * eps]))
        return super().step(grad, phi)


def test_resnet_five_probes_per_step_leave_the_state_of_plain_sgd_bit_for_bit():
    model, X, y = _resnet_data()
    kw = dict(epochs=2, batch_size=8, seed=3)
    plain = train(model, FixedLR(0.05), X, y, **kw)
    probed = train(model, FiveProbesFixedLR(0.05), X, y, **kw)
    assert probed.history.forward == plain.history.forward + 5 * 6  # 6 steps, 5 probes each
    assert np.array_equal(probed.w, plain.w)
    assert set(probed.model_state) == set(plain.model_state)
    for key, value in plain.model_state.items():
        assert np.array_equal(probed.model_state[key], value), key
    assert int(probed.model_state["bn1.num_batches_tracked"]) == 6  # once per step
    assert probed.history.train_loss == plain.history.train_loss  # evaluation: same state


def test_resnet_second_order_steps_change_the_state_as_plain_steps_do():
    """Two steps of the real second-order method (five probes each) and two plain SGD steps
    from the same run state. The first update of both uses eta(0), so the second step starts
    from the same weights: its running statistics must be bit-equal, while its update already
    uses the learned rate (the weights differ)."""
    from adaptive_lr.train import start_run, train_step

    model, X, y = _resnet_data(8)
    states = []
    for controller in (SecondOrderLR(0.05), FixedLR(0.05)):
        run = start_run(model, controller, GradientDirection(), 1, None, np.float64)
        run.model_state = model.forward_backward(run.w, X, y, noise=model.sample_noise(
            np.random.default_rng(0), 8), state=run.model_state).state  # a non-trivial state
        assert train_step(model, run, (X, y)) and train_step(model, run, (X, y))
        states.append((run.w, run.model_state, run.counter.forward))
    (w2, s2, f2), (w0, s0, f0) = states
    assert f2 == f0 + 2 * 5 and not np.array_equal(w2, w0)
    for key in s0:
        assert np.array_equal(s2[key], s0[key]), key
    assert int(s0["bn1.num_batches_tracked"]) == 3


def test_resnet_checkpoint_carries_the_running_statistics_and_resume_is_bit_for_bit(tmp_path):
    model, X, y = _resnet_data()
    kw = dict(batch_size=8, seed=2)
    full = train(model, SecondOrderLR(0.05), X, y, epochs=3, **kw)
    path = tmp_path / "resnet.npz"
    train(model, SecondOrderLR(0.05), X, y, epochs=1, checkpoint_path=path, **kw)
    with np.load(path, allow_pickle=False) as saved:
        assert int(saved["model_state.bn1.num_batches_tracked"]) == 3
    resumed = train(model, SecondOrderLR(0.05), X, y, epochs=3, resume_from=path, **kw)
    assert np.array_equal(resumed.w, full.w)
    for key, value in full.model_state.items():
        assert np.array_equal(resumed.model_state[key], value), key
    assert resumed.history.lr == full.history.lr
    assert resumed.history.train_loss == full.history.train_loss


def test_resnet_evaluation_uses_the_running_statistics():
    model, X, y = _resnet_data()
    res = train(model, FixedLR(0.05), X, y, epochs=1, batch_size=8, X_test=X[:8],
                y_test=y[:8])
    assert res.history.test_loss[-1] == model.loss(res.w, X[:8], y[:8], state=res.model_state)
    assert res.history.test_loss[-1] != model.loss(res.w, X[:8], y[:8])  # fresh statistics
