"""The controllers against closed forms and independent implementations."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from adaptive_lr.finite_diff import newton_increment, probe_points

U = np.finfo(np.float64).eps


def linear_problem(seed, n=30, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d)
    y = X @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    model = LinearRegression(d)
    return model, model.init_params(rng), X, y


class StubProbe:
    """A probe that returns values of a given 1-D function (and counts its calls)."""

    def __init__(self, f, d=None):
        self.f, self.d, self.calls = f, d, 0

    def __call__(self, etas):
        self.calls += 1
        return np.array([self.f(e) for e in etas], dtype=np.float64)


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
@given(seed=st.integers(0, 2**32 - 1), eta0=st.floats(1e-3, 1.0))
def test_second_order_without_smoothing_is_exact_line_search(eps, seed, eta0):
    """On linear regression with a full batch f is exactly quadratic: one step of Eq. 16
    with delta = 0 lands on the line minimum eta* = g.g / (g.H.g), from any eta0."""
    model, w, X, y = linear_problem(seed)
    loss, g, cache = model.forward_backward(w, X, y)
    gHg = model.line_derivatives(w, g, 0.0, X, y)[1]  # g.H.g, H = X^T X / n (+ bias)
    exact = (g @ g) / gHg
    ctrl = SecondOrderLR(eta0, eps=eps, delta=0.0)
    assert ctrl.step(g, Probe(model, w, g, X, y, cache=cache)) == eta0  # uses eta(k)
    # the stencils are exact on quadratics; rounding: each f-value carries ~ n u F (F = max f),
    # so numerator and denominator have absolute errors ~ 2 n u F and 4 n u F against
    # 2 eps f' and 4 eps^2 f''; the step 2 eps N / D inherits both relative errors.
    f = ctrl.last_f
    F = np.abs(f).max()
    f1 = abs(model.line_derivatives(w, g, eta0, X, y)[0])
    rel = 2 * len(y) * U * F / (2 * eps * f1 + 1e-300) + 4 * len(y) * U * F / (4 * eps**2 * gHg)
    assert abs(ctrl.lr - exact) <= (abs(exact - eta0) + exact) * 2 * rel + 4 * U * exact


@given(seed=st.integers(0, 2**32 - 1), eta0=st.floats(1e-3, 1.0))
def test_exact_newton_is_exact_line_search_on_quadratics(seed, eta0):
    model, w, X, y = linear_problem(seed)
    _, g, _ = model.forward_backward(w, X, y)
    exact = (g @ g) / model.line_derivatives(w, g, 0.0, X, y)[1]
    ctrl = ExactNewtonLR(eta0)
    ctrl.step(g, Probe(model, w, g, X, y))
    # Newton on a quadratic is exact; rounding of the two n-term dot products: ~ 4 n u
    assert ctrl.lr == pytest.approx(exact, rel=8 * len(y) * U * (1 + eta0 / exact))


def hypergradient_descent(model, w, X, y, eta, alpha, steps, delta=1e-6):
    """Baydin et al. (2018), written independently: eta += alpha g_t . g_{t-1}."""
    etas, g_prev = [], None
    for _ in range(steps):
        _, g = model.loss_and_grad(w, X, y)
        if g_prev is not None:
            eta = max(eta + alpha * float(g @ g_prev), delta)
        etas.append(eta)
        w = w - eta * g
        g_prev = g
    return np.array(etas), w


@pytest.mark.parametrize("alpha", [0.0, 1e-4, 1e-3])
def test_first_order_equals_hypergradient_descent(alpha):
    model, w0, X, y = linear_problem(7)
    expected_etas, expected_w = hypergradient_descent(model, w0, X, y, 0.01, alpha, 50)
    result = train(model, FirstOrderLR(0.01, alpha), X, y, epochs=50, w0=w0)
    # the same IEEE operations in the same order: equal bit for bit
    np.testing.assert_array_equal(result.history.lr, expected_etas)
    np.testing.assert_array_equal(result.w, expected_w)


def test_first_order_keeps_a_copy_of_the_previous_gradient():
    ctrl = FirstOrderLR(0.1, alpha=0.01)
    g = np.array([1.0, 0.0])
    ctrl.step(g)
    g[:] = 0.0  # the caller reuses (zeroes) its buffer, as the authors' code did
    assert ctrl.step(np.array([2.0, 5.0])) == pytest.approx(0.12, rel=1e-15)


def test_first_order_uses_the_probe_direction():
    ctrl = FirstOrderLR(0.1, alpha=0.01)
    ctrl.step(np.array([1.0, 0.0]), StubProbe(lambda e: 0.0, d=np.array([0.0, 1.0])))
    # f'(eta) = -d(t) . g(t+1) = -(0*2 + 1*5) = -5
    assert ctrl.step(np.array([2.0, 5.0])) == pytest.approx(0.15, rel=1e-15)


def test_momentum_with_beta_zero_equals_the_plain_rule():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, 64)
    model = LogisticRegression(6, 3)
    kw = dict(epochs=3, batch_size=8, seed=5)
    for make in (lambda b: SecondOrderLR(0.05, delta_rule="if-zero", beta=b),
                 lambda b: FirstOrderLR(0.05, alpha=1e-2, beta=b)):
        plain = make(0.0)
        a = train(model, plain, X, y, **kw)
        b = train(model, make(0.0), X, y, **kw)
        np.testing.assert_array_equal(a.history.lr, b.history.lr)
        # and the plain rule is Eq. 16 / Eq. 6 applied to what the controller saw
        c = train(model, make(0.9), X, y, **kw)
        assert not np.array_equal(a.history.lr, c.history.lr)


def test_second_order_beta_zero_follows_eq16_step_by_step():
    f = lambda e: (e - 0.3) ** 2 * (1 + 0.1 * e)  # noqa: E731  cubic with a minimum near 0.3
    ctrl = SecondOrderLR(0.05, eps=1e-3, delta=1e-6, delta_rule="if-zero")
    eta = 0.05
    for _ in range(5):
        ctrl.step(None, StubProbe(f))
        eta = max(eta + newton_increment([f(e) for e in probe_points(eta, 1e-3)], 1e-3,
                                         1e-6, "if-zero"), 1e-6)
        assert ctrl.lr == eta


def test_momentum_follows_eq20_21():
    f = lambda e: 2.0 * (e - 0.5) ** 2  # noqa: E731
    beta, eps = 0.9, 1e-3
    ctrl = SecondOrderLR(0.1, eps=eps, delta=0.0, beta=beta)
    eta, v = 0.1, 0.0
    for _ in range(6):
        ctrl.step(None, StubProbe(f))
        v = beta * v + newton_increment([f(e) for e in probe_points(eta, eps)], eps)  # Eq. 20
        eta = eta + v  # Eq. 21
        if eta < 0:  # clamp of Eq. 19 at delta = 0; velocity becomes the realized change
            break
        # the same IEEE operations in the same order: equal bit for bit
        assert ctrl.lr == eta and ctrl.velocity == v


def test_probing_leaves_w_unchanged_bit_for_bit():
    model, w, X, y = linear_problem(1)
    w_before = w.copy()
    loss, g, cache = model.forward_backward(w, X, y)
    g_before = g.copy()
    phi = Probe(model, w, g, X, y, cache=cache)
    SecondOrderLR(0.01).step(g, phi)
    ExactNewtonLR(0.01).step(g, phi)
    assert np.array_equal(w, w_before) and np.array_equal(g, g_before)
    assert phi.counter.forward == 6 and phi.counter.backward == 1


@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 st.floats(-1e3, 1e3)), min_size=5, max_size=5),
       rule=st.sampled_from(["always", "if-zero"]), delta=st.sampled_from([0.0, 1e-6, 1e-2]),
       beta=st.sampled_from([0.0, 0.9]))
def test_second_order_eta_stays_finite_and_above_delta(values, rule, delta, beta):
    ctrl = SecondOrderLR(0.1, delta=delta, delta_rule=rule, beta=beta)
    stream = iter(values * 3)  # 5 probe values per step, 3 steps
    for _ in range(3):
        used = ctrl.step(None, StubProbe(lambda e: next(stream)))
        assert math.isfinite(used) and used >= min(delta, 0.1)
        assert math.isfinite(ctrl.lr) and ctrl.lr >= delta


def test_non_finite_probe_is_rejected_and_keeps_eta():
    ctrl = SecondOrderLR(0.1, beta=0.9)
    ctrl.velocity = 0.05
    ctrl.step(None, StubProbe(lambda e: np.nan if e > 0.1 else 1.0))
    assert ctrl.lr == 0.1 and ctrl.n_rejected == 1 and ctrl.velocity == 0.0
    # a zero denominator without smoothing is a non-finite update: rejected too
    ctrl = SecondOrderLR(0.1, delta=0.0, delta_rule="if-zero")
    ctrl.step(None, StubProbe(lambda e: 1.0))
    assert ctrl.lr == 0.1 and ctrl.n_rejected == 1


def test_first_order_non_finite_gradient_is_rejected():
    ctrl = FirstOrderLR(0.1, alpha=1.0)
    ctrl.step(np.array([1.0, 1.0]))
    ctrl.step(np.array([np.inf, 1.0]))
    assert ctrl.lr == 0.1 and ctrl.n_rejected == 1
    ctrl.step(np.array([1.0, 1.0]))  # the non-finite gradient was not kept: no correction
    assert ctrl.lr == 0.1


def test_clamp_at_delta_eq19():
    ctrl = FirstOrderLR(0.1, alpha=1.0, delta=1e-3)
    ctrl.step(np.array([1.0]))
    ctrl.step(np.array([-5.0]))  # f' = 5: eta would become -4.9
    assert ctrl.lr == 1e-3


def test_exact_newton_rejects_non_positive_curvature():
    class Flat:
        def derivatives(self, eta):
            return 1.0, 0.0

    ctrl = ExactNewtonLR(0.1)
    assert ctrl.step(None, Flat()) == 0.1 and ctrl.lr == 0.1 and ctrl.n_rejected == 1


def test_fixed_lr():
    ctrl = FixedLR(0.25)
    assert [ctrl.step(np.ones(2)) for _ in range(3)] == [0.25] * 3


@pytest.mark.parametrize("make", [lambda: FixedLR(0.1), lambda: FirstOrderLR(0.1, 1e-3, beta=0.5),
                                  lambda: SecondOrderLR(0.1, beta=0.5), lambda: ExactNewtonLR(0.1)])
def test_state_dict_round_trip(make):
    model, w, X, y = linear_problem(2)
    a = make()
    for _ in range(3):
        _, g, c = model.forward_backward(w, X, y)
        eta = a.step(g, Probe(model, w, g, X, y, cache=c))
        w = w - 1e-3 * eta * g
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b = make()
    b.load_state_dict(state)
    _, g, c = model.forward_backward(w, X, y)
    assert a.step(g, Probe(model, w, g, X, y, cache=c)) == b.step(g, Probe(model, w, g, X, y))
    assert a.lr == b.lr and a.n_steps == b.n_steps


def test_state_dict_keeps_the_dtype_of_array_state():
    ctrl = FirstOrderLR(0.1, alpha=1e-3)
    ctrl.step(np.array([1.0, 2.0], dtype=np.float32))
    state = ctrl.state_dict()
    assert state["direction_prev"].dtype == np.float32
    other = FirstOrderLR(0.1, alpha=1e-3)
    other.load_state_dict(state)
    assert other.direction_prev.dtype == np.float32
    assert other.direction_prev is not state["direction_prev"]  # a copy
