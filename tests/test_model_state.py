"""The room the model interface leaves for non-parameter state (BatchNorm's running statistics):
only the gradient's pass updates it, once per step; probes read it and cannot change it;
evaluation uses it; checkpoints carry it, and a resumed run continues bit for bit."""

import numpy as np
import pytest

from adaptive_lr import LinearRegression, SecondOrderLR, train
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
