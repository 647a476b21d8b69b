"""The controllers against closed forms and independent implementations."""

import dataclasses
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
    """A probe that returns values of a given 1-D function (and counts its calls); with ``d``
    it is a directional probe (it says along which direction it evaluates)."""

    def __init__(self, f, d=None):
        self.f, self.calls = f, 0
        if d is not None:
            self.d = d

    def __call__(self, etas):
        self.calls += 1
        return np.array([self.f(e) for e in etas], dtype=np.float64)


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
@given(seed=st.integers(0, 2**32 - 1), eta0=st.floats(1e-3, 1.0))
def test_second_order_without_smoothing_is_exact_line_search(eps, seed, eta0):
    """On linear regression with a full batch f is exactly quadratic: one step of Eq. 16
    with delta = 0 lands on the line minimum eta* = g.g / (g.H.g), from any eta0."""
    model, w, X, y = linear_problem(seed)
    _, g, cache, _ = model.forward_backward(w, X, y)
    gHg = model.line_derivatives(w, g, 0.0, X, y)[1]  # g.H.g, H = X^T X / n (+ bias)
    exact = (g @ g) / gHg
    ctrl = SecondOrderLR(eta0, eps=eps, delta=0.0)
    assert ctrl.step(g, Probe(model, w, g, X, y, cache=cache)) == eta0  # uses eta(k)
    assert ctrl.lr == eta0  # lr: the rate of the last update; the next one is next_lr
    # the stencils are exact on quadratics; rounding: each f-value carries ~ n u F (F = max f),
    # so numerator and denominator have absolute errors ~ 2 n u F and 4 n u F against
    # 2 eps f' and 4 eps^2 f''; the step 2 eps N / D inherits both relative errors.
    f = ctrl.last_f
    F = np.abs(f).max()
    f1 = abs(model.line_derivatives(w, g, eta0, X, y)[0])
    rel = 2 * len(y) * U * F / (2 * eps * f1 + 1e-300) + 4 * len(y) * U * F / (4 * eps**2 * gHg)
    assert abs(ctrl.state.next_lr - exact) <= (abs(exact - eta0) + exact) * 2 * rel + 4 * U * exact


@given(seed=st.integers(0, 2**32 - 1), eta0=st.floats(1e-3, 1.0))
def test_exact_newton_is_exact_line_search_on_quadratics(seed, eta0):
    model, w, X, y = linear_problem(seed)
    g = model.loss_and_grad(w, X, y)[1]
    exact = (g @ g) / model.line_derivatives(w, g, 0.0, X, y)[1]
    ctrl = ExactNewtonLR(eta0)
    assert ctrl.step(g, Probe(model, w, g, X, y)) == eta0 == ctrl.lr
    # Newton on a quadratic is exact; rounding of the two n-term dot products: ~ 4 n u
    assert ctrl.state.next_lr == pytest.approx(exact, rel=8 * len(y) * U * (1 + eta0 / exact))


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


def plain_second_order(model, w, X, y, eta, steps, eps=1e-5, delta=1e-6, rule="if-zero"):
    """Eq. 16 / 18 and Eq. 19 with a full batch, written independently of the controllers:
    probe, step at eta(k), then eta(k+1) = max(eta(k) + increment, delta)."""
    etas = []
    for _ in range(steps):
        _, g = model.loss_and_grad(w, X, y)
        f = model.line_losses(w, g, probe_points(eta, eps), X, y)  # the five losses
        etas.append(eta)
        w = w - eta * g
        eta = max(eta + newton_increment(f, eps, delta, rule), delta)
    return np.array(etas)


@pytest.mark.parametrize("rule", ["if-zero", "always"])
def test_momentum_with_beta_zero_equals_the_plain_rule(rule):
    """beta = 0 in Eq. 20-21 is the plain rule (Eq. 16 / Eq. 6), bit for bit, against
    implementations without momentum; beta = 0.9 is not."""
    model, w0, X, y = linear_problem(3)
    kw = dict(epochs=20, w0=w0)
    second = train(model, SecondOrderLR(0.01, delta_rule=rule, beta=0.0), X, y, **kw).history
    np.testing.assert_array_equal(second.lr, plain_second_order(model, w0, X, y, 0.01, 20,
                                                                rule=rule))
    first = train(model, FirstOrderLR(0.01, alpha=1e-4, beta=0.0), X, y, **kw).history
    np.testing.assert_array_equal(first.lr, hypergradient_descent(model, w0, X, y, 0.01, 1e-4,
                                                                  20)[0])
    for make, plain in ((lambda: SecondOrderLR(0.01, delta_rule=rule, beta=0.9), second),
                        (lambda: FirstOrderLR(0.01, alpha=1e-4, beta=0.9), first)):
        with_momentum = train(model, make(), X, y, epochs=5, w0=w0).history
        assert not np.array_equal(with_momentum.lr, plain.lr[:5])


def test_second_order_beta_zero_follows_eq16_step_by_step():
    f = lambda e: (e - 0.3) ** 2 * (1 + 0.1 * e)  # noqa: E731  cubic with a minimum near 0.3
    ctrl = SecondOrderLR(0.05, eps=1e-3, delta=1e-6, delta_rule="if-zero")
    eta = 0.05
    for _ in range(5):
        assert ctrl.step(None, StubProbe(f)) == eta
        eta = max(eta + newton_increment([f(e) for e in probe_points(eta, 1e-3)], 1e-3,
                                         1e-6, "if-zero"), 1e-6)
        assert ctrl.state.next_lr == eta


def test_momentum_follows_eq20_21():
    """Eq. 20-21 step by step, bit for bit, including the clamp of Eq. 19 (delta = 0): when the
    rate would go negative it becomes 0 and the velocity becomes the change that happened."""
    f = lambda e: 2.0 * (e - 0.05) ** 2 + 0.3 * e**3  # noqa: E731  minimum near 0.05
    beta, eps = 0.9, 1e-3
    ctrl = SecondOrderLR(1.0, eps=eps, delta=0.0, delta_rule="if-zero", beta=beta)
    eta, v, clamped = 1.0, 0.0, 0
    for _ in range(40):
        assert ctrl.step(None, StubProbe(f)) == eta  # the step uses eta(k)
        v = beta * v + newton_increment([f(e) for e in probe_points(eta, eps)], eps)  # Eq. 20
        new = eta + v  # Eq. 21
        if new < 0:  # Eq. 19 with delta = 0, and the realized change as the velocity
            new, v, clamped = 0.0, 0.0 - eta, clamped + 1
        eta = new
        # the same IEEE operations in the same order: equal bit for bit
        assert ctrl.state.next_lr == eta and ctrl.state.velocity == v
    assert clamped >= 1  # the momentum overshoots below 0 at least once: the clamp is tested


def test_probing_leaves_w_unchanged_bit_for_bit():
    model, w, X, y = linear_problem(1)
    w_before = w.copy()
    _, g, cache, _ = model.forward_backward(w, X, y)
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
        assert math.isfinite(used) and used >= min(delta, 0.1) and ctrl.lr == used
        assert math.isfinite(ctrl.state.next_lr) and ctrl.state.next_lr >= delta


def test_non_finite_probe_is_rejected_and_keeps_eta():
    ctrl = SecondOrderLR(0.1, beta=0.9)
    ctrl.state = dataclasses.replace(ctrl.state, velocity=0.05)
    ctrl.step(None, StubProbe(lambda e: np.nan if e > 0.1 else 1.0))
    s = ctrl.state
    assert s.lr == s.next_lr == 0.1 and s.n_rejected == 1 and s.velocity == 0.0
    # a zero denominator without smoothing is a non-finite update: rejected too
    ctrl = SecondOrderLR(0.1, delta=0.0, delta_rule="if-zero")
    ctrl.step(None, StubProbe(lambda e: 1.0))
    assert ctrl.state.next_lr == 0.1 and ctrl.n_rejected == 1


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
        def __call__(self, etas):
            return np.ones(len(etas))

        def derivatives(self, eta):
            return 1.0, 0.0

    ctrl = ExactNewtonLR(0.1)
    assert ctrl.step(None, Flat()) == 0.1 and ctrl.state.next_lr == 0.1 and ctrl.n_rejected == 1


def test_fixed_lr():
    ctrl = FixedLR(0.25)
    assert [ctrl.step(np.ones(2)) for _ in range(3)] == [0.25] * 3


@pytest.mark.parametrize("make", [lambda: FixedLR(0.1), lambda: FirstOrderLR(0.1, 1e-3, beta=0.5),
                                  lambda: SecondOrderLR(0.1, beta=0.5), lambda: ExactNewtonLR(0.1)])
def test_state_dict_round_trip(make):
    model, w, X, y = linear_problem(2)
    a = make()
    for _ in range(3):
        _, g, c, _ = model.forward_backward(w, X, y)
        eta = a.step(g, Probe(model, w, g, X, y, cache=c))
        w = w - 1e-3 * eta * g
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b = make()
    b.load_state_dict(state)
    _, g, c, _ = model.forward_backward(w, X, y)
    assert a.step(g, Probe(model, w, g, X, y, cache=c)) == b.step(g, Probe(model, w, g, X, y))
    assert a.lr == b.lr and a.n_steps == b.n_steps


def test_state_dict_keeps_the_dtype_of_array_state():
    ctrl = FirstOrderLR(0.1, alpha=1e-3)
    ctrl.step(np.array([1.0, 2.0], dtype=np.float32))
    state = ctrl.state_dict()
    assert state["direction_prev"].dtype == np.float32
    other = FirstOrderLR(0.1, alpha=1e-3)
    other.load_state_dict(state)
    assert other.state.direction_prev.dtype == np.float32
    assert other.state.direction_prev is not state["direction_prev"]  # a copy


def _bb1_run(ctrl, steps=12, seed=4):
    """A full-batch linear regression run; returns its rates, and per step the BB1 step
    s.s / s.y of the run's own consecutive weights and gradients, with a bound on the rounding
    of y = g(k) - g(k-1) (a difference of two n-term sums: ~ 4 n u (|g(k)| + |g(k-1)|) / |y|
    relative) and the controller's probe values at each step."""
    model, w0, X, y = linear_problem(seed, n=40, d=3)
    ws, probes = [], []

    def keep(epoch, hist, w):  # epoch 0 (before training), then after each full-batch step
        ws.append(w)  # each w is a new array: later steps never overwrite it
        probes.append(getattr(ctrl, "last_f", None))

    h = train(model, ctrl, X, y, epochs=steps, w0=w0, callback=keep).history
    grads = [model.loss_and_grad(w, X, y)[1] for w in ws]
    bb1, bound = [], []
    for k in range(1, steps):
        s, yk = ws[k] - ws[k - 1], grads[k] - grads[k - 1]
        bb1.append((s @ s) / (s @ yk))
        scale = np.linalg.norm(grads[k]) + np.linalg.norm(grads[k - 1])
        bound.append(4 * len(y) * U * scale / np.linalg.norm(yk))
    return np.array(h.lr), np.array(bb1), np.array(bound), probes[1:], (model, X, y, ws)


def test_exact_newton_rate_is_barzilai_borwein_step_by_step():
    """Sec. 4.1 orders the step so that eta(k+1), the exact line minimum along g(k), is used
    with g(k+1): on a quadratic that is the BB1 step s.s / s.y of the last move, for every
    step of the run (REPRODUCTION.md, Boston)."""
    lr, bb1, bound, _, _ = _bb1_run(ExactNewtonLR(0.05, delta=0.0))
    # lr[k] is the rate of step k+1, computed from (w(k-1), w(k)); Newton's own rounding of two
    # n-term dot products adds ~ 8 n u
    rel = np.abs(lr[1:] - bb1) / bb1
    assert np.all(rel <= bound + 8 * 40 * U), (rel, bound)


def test_second_order_rate_without_smoothing_is_barzilai_borwein_step_by_step():
    """The same for Eq. 16 with delta = 0: its stencils are exact on a quadratic, so it
    differs from BB1 only by the rounding of the five losses (bound as in
    test_second_order_without_smoothing_is_exact_line_search)."""
    eps = 1e-4
    ctrl = SecondOrderLR(0.05, eps=eps, delta=0.0, delta_rule="if-zero")
    lr, bb1, bound, probes, (model, X, y, ws) = _bb1_run(ctrl)
    for k in range(1, len(lr)):
        f = probes[k - 1]  # the probes of step k, which set lr[k]
        g = model.loss_and_grad(ws[k - 1], X, y)[1]
        f1, f2 = model.line_derivatives(ws[k - 1], g, lr[k - 1], X, y)
        F = np.abs(f).max()
        fd = 2 * len(y) * U * F / (2 * eps * abs(f1)) + 4 * len(y) * U * F / (4 * eps**2 * f2)
        # the step 2 eps N / D moves eta by |bb1 - lr[k-1]|; its relative error is fd
        tol = abs(bb1[k - 1] - lr[k - 1]) * 2 * fd + bb1[k - 1] * (bound[k - 1] + 8 * U)
        assert abs(lr[k] - bb1[k - 1]) <= tol, (k, lr[k], bb1[k - 1], tol)


def test_exact_newton_needs_exact_derivatives_and_says_so():
    with pytest.raises(TypeError, match=r"derivatives"):
        ExactNewtonLR(0.1).step(np.ones(2), lambda etas: np.zeros(len(etas)))
    # a probe on a model without exact line derivatives says which model lacks them
    from adaptive_lr import LeNet

    model = LeNet(in_channels=1, image_size=16, n_classes=3, dropout=0.0)
    w = model.init_params(np.random.default_rng(0))
    X, y = np.zeros((2, 1, 16, 16)), np.array([0, 1])
    with pytest.raises(TypeError, match="LeNet has no exact line derivatives"):
        ExactNewtonLR(0.1).step(w, Probe(model, w, w, X, y))


def test_first_order_rule_on_the_probe_is_eq6_with_eq15():
    """derivative="probe": f'(eta(k)) by Eq. 15 from two probe values, then Eq. 6 and 19;
    the step uses eta(k), as in Sec. 4.1."""
    f = lambda e: (e - 0.3) ** 2  # noqa: E731  f'(eta) = 2 (eta - 0.3), exact for Eq. 15
    ctrl = FirstOrderLR(0.1, alpha=0.25, derivative="probe", eps=1e-3)
    probe = StubProbe(f)
    assert ctrl.step(None, probe) == 0.1 and probe.calls == 1
    # eta(1) = 0.1 - 0.25 * 2 * (0.1 - 0.3) = 0.2, to the rounding of Eq. 15
    assert ctrl.state.next_lr == pytest.approx(0.2, rel=1e-12)
    assert ctrl.step(None, probe) == ctrl.lr == pytest.approx(0.2, rel=1e-12)


class StepSpy(LogisticRegression):
    """Keeps the weights and the batch of every gradient it computes."""

    def __init__(self, *args):
        super().__init__(*args)
        self.ws, self.batches = [], []

    def forward_backward(self, w, X, y, **kw):
        self.ws.append(w)
        self.batches.append((X, y))
        return super().forward_backward(w, X, y, **kw)


def test_always_rule_is_hypergradient_descent_on_a_full_batch_only():
    """With a full batch, the "always" reading of Eq. 18 is FirstOrderLR with
    alpha = 4 eps^2 / delta (hypergradient descent): its probe's f'(eta(k)) on the line
    L(w(k) - eta g(k)) is -g(k) . g(k+1), the Eq. 8 that FirstOrderLR forms one step later.
    Checked step by step on FirstOrderLR's own trajectory. On mini-batches the two differ: the
    probe differentiates the batch's own line loss, Eq. 8 takes the next batch's gradient."""
    eps, delta = 1e-5, 1e-6
    alpha = 4 * eps**2 / delta
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(200, 6)), rng.integers(0, 3, 200)
    model = LogisticRegression(6, 3)
    for batch_size, epochs, agree in ((None, 30, True), (20, 3, False)):
        spy = StepSpy(6, 3)
        h = train(spy, FirstOrderLR(0.5, alpha), X, y, epochs=epochs, batch_size=batch_size,
                  seed=1).history
        ws, batches = spy.ws, spy.batches
        errors, bounds = [], []
        for k in range(len(h.lr) - 1):
            Xb, yb = batches[k]
            g = model.loss_and_grad(ws[k], Xb, yb)[1]
            f = model.line_losses(ws[k], g, probe_points(h.lr[k], eps), Xb, yb)
            always = h.lr[k] + newton_increment(f, eps, delta, "always")
            first = h.lr[k + 1] - h.lr[k]  # FirstOrderLR's increment, from g(k+1)
            den = abs(f[0] + f[4] - 2 * f[2])
            # Eq. 18 = -(alpha f'_fd) / (1 + den / delta); f'_fd has truncation eps^2 f''' / 6
            # (< 1e-9 here) and rounding ~ 4 u max|f| / eps
            bounds.append(abs(first) * den / delta + alpha * (1e-9 + 4 * U * f.max() / eps)
                          + 4 * U * h.lr[k])
            errors.append(abs(always - h.lr[k + 1]))
        within = np.array(errors) <= np.array(bounds)
        assert len(errors) >= 29 and (within.all() if agree else not within.any())
