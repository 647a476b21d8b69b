"""Directions: the gradient (identity) and Adam's, checked against a naive reference."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptive_lr import FixedLR, LogisticRegression, train
from adaptive_lr.directions import AdamDirection, GradientDirection

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
