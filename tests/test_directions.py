"""Directions: the gradient (identity), the averaged gradient and Adam's, checked against naive
references."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptive_lr import FixedLR, LogisticRegression, train
from adaptive_lr.directions import (
    AdamDirection,
    AveragedGradientDirection,
    GradientDirection,
)
from adaptive_lr.registry import make_direction

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)


def adam_reference(grads, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1, written out step by step in plain Python floats."""
    m = [0.0] * len(grads[0])
    v = [0.0] * len(grads[0])
    out = []
    for t, g in enumerate(grads, start=1):
        m = [beta1 * a + (1 - beta1) * b for a, b in zip(m, g, strict=True)]
        v = [beta2 * a + (1 - beta2) * b * b for a, b in zip(v, g, strict=True)]
        out.append([(a / (1 - beta1**t)) / ((c / (1 - beta2**t)) ** 0.5 + eps)
                    for a, c in zip(m, v, strict=True)])
    return np.array(out)


@given(arrays(np.float64, (4, 3), elements=finite))
def test_adam_matches_reference(grads):
    adam = AdamDirection()
    ours = np.array([adam(g) for g in grads])
    # relative rounding of a few float64 operations per entry: 1e-12 is generous
    np.testing.assert_allclose(ours, adam_reference(grads.tolist()), rtol=1e-12, atol=1e-12)


def test_gradient_direction_is_identity():
    g = np.array([1.0, -2.0])
    assert GradientDirection()(g) is g


def test_adam_state_round_trip():
    a, b = AdamDirection(), AdamDirection()
    a(np.array([1.0, 2.0]))
    b.load_state_dict(a.state_dict())
    g = np.array([0.5, -3.0])
    assert np.array_equal(a(g), b(g)) and b.t == 2


def test_train_with_adam_direction_equals_manual_adam():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    model = LogisticRegression(4, 3)
    w0 = model.init_params(np.random.default_rng(1))
    result = train(model, FixedLR(0.05), X, y, epochs=3, w0=w0, direction=AdamDirection())
    w, adam = w0.copy(), AdamDirection()
    for _ in range(3):  # full batch: one step per epoch
        _, g = model.loss_and_grad(w, X, y)
        w = w - 0.05 * adam(g)
    np.testing.assert_array_equal(result.w, w)


def averaged_reference(grads, beta):
    """``d_t = sum_{s<=t} (1 - beta) beta^(t-s) g_s / (1 - beta^t)``: the weighted mean, in plain
    Python floats, written as the explicit sum rather than the recursion."""
    out = []
    for t in range(1, len(grads) + 1):
        weights = [(1 - beta) * beta ** (t - s) for s in range(1, t + 1)]
        out.append([sum(wt * g[i] for wt, g in zip(weights, grads[:t], strict=True))
                    / (1 - beta**t) for i in range(len(grads[0]))])
    return np.array(out)


@given(arrays(np.float64, (5, 3), elements=finite), st.sampled_from([0.0, 0.5, 0.9, 0.99]))
def test_averaged_direction_matches_reference(grads, beta):
    avg = AveragedGradientDirection(beta)
    ours = np.array([avg(g) for g in grads])
    # a few float64 roundings per term of sums of <= 5 terms of size <= 1e3: 1e-12 relative to
    # the largest term, hence the absolute part
    np.testing.assert_allclose(ours, averaged_reference(grads.tolist(), beta),
                               rtol=1e-12, atol=1e-9)


def test_averaged_direction_of_a_constant_gradient_is_that_gradient():
    """The bias correction makes the weights sum to 1 from the first step on."""
    avg = AveragedGradientDirection(0.9)
    g = np.array([3.0, -1.0], dtype=np.float32)
    for _ in range(4):
        d = avg(g)
        assert d.dtype == np.float32
        # float32 roundings of a weighted mean: a few ulps (6e-8 each) of |g| = 3
        np.testing.assert_allclose(d, g, rtol=1e-6)


def test_averaged_direction_state_round_trip_and_bad_beta():
    a, b = AveragedGradientDirection(0.8), AveragedGradientDirection(0.8)
    a(np.array([1.0, 2.0]))
    b.load_state_dict(a.state_dict())
    g = np.array([0.5, -3.0])
    assert np.array_equal(a(g), b(g)) and b.t == 2
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            AveragedGradientDirection(bad)
    with pytest.raises(ValueError, match="has no 'm'"):
        AveragedGradientDirection().load_state_dict({"t": np.array(1)})
    assert isinstance(make_direction("averaged", beta=0.5), AveragedGradientDirection)
