"""The step-size methods people pick instead (``docs/compare.md``): each one's defining identity,
checked against the formula of its paper on real steps of the training loop's probe."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr import (
    AdamDirection,
    ArmijoLR,
    DAdaptSGDLR,
    DoGLR,
    GeNLR,
    GradientDirection,
    LinearRegression,
    LogisticRegression,
    PolyakLR,
    Probe,
    SecondOrderLR,
    train,
)
from adaptive_lr.controllers import adam_hd, alig, sgd_hd
from adaptive_lr.controllers.gen import parabola
from adaptive_lr.registry import make_controller

# float64 unit roundoff; every tolerance below is a small multiple of it times the sizes involved
U = np.finfo(np.float64).eps


def _problem(seed=0, n=200, d=6, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=(d, k))).argmax(axis=1)
    model = LogisticRegression(d, k)
    return model, X, y, model.init_params(rng)


def _steps(ctrl, model, X, y, w, n_steps, batch=20, seed=1, direction=None):
    """A plain SGD loop on mini-batches with the training loop's probe; yields, per step, the
    weights before it, the gradient, the direction, the rate and the probe's batch."""
    rng = np.random.default_rng(seed)
    direction = direction or GradientDirection()
    for _ in range(n_steps):
        idx = rng.choice(len(X), size=batch, replace=False)
        Xb, yb = X[idx], y[idx]
        _, g = model.loss_and_grad(w, Xb, yb)
        d = direction(g)
        eta = ctrl.step(g, Probe(model, w, d, Xb, yb))
        yield w, g, d, eta, (Xb, yb)
        w = w - eta * d


# -- Armijo ------------------------------------------------------------------------------------
@pytest.mark.parametrize("eta0", [1e-3, 1.0, 50.0])
def test_armijo_condition_holds_at_every_accepted_step_and_is_the_first_trial_that_does(eta0):
    model, X, y, w = _problem()
    ctrl = ArmijoLR(eta0, n_batches=10)
    n_backtracked = total_trials = 0
    for w_k, g, _, eta, (Xb, yb) in _steps(ctrl, model, X, y, w, 60):
        info = ctrl.last_info
        total_trials += info["trials"]
        assert info["accepted"]
        f0 = model.loss(w_k, Xb, yb)
        slope = float(g @ g)
        assert info["f0"] == pytest.approx(f0, rel=1e-12)  # the probe's f(0) is the loss
        # Armijo: f(eta) <= f(0) - c eta |g|^2, recomputed with the model, not the probe
        assert model.loss(w_k - eta * g, Xb, yb) <= f0 - 0.1 * eta * slope + 1e-12 * abs(f0)
        if info["trials"] > 1:  # the trial before it (eta / 0.9) failed the condition
            n_backtracked += 1
            before = eta / 0.9
            assert model.loss(w_k - before * g, Xb, yb) > f0 - 0.1 * before * slope
    if eta0 >= 1:
        assert n_backtracked > 0  # the test saw backtracking, not only first trials
    assert ctrl.state.n_trials == total_trials


def test_armijo_charges_one_forward_pass_per_trial_on_the_steps_batch_and_masks():
    model, X, y, w = _problem()
    result = train(model, ArmijoLR(1.0, n_batches=10), X, y, epochs=1, batch_size=20, seed=0)
    h = result.history
    trials = sum(info["trials"] for info in h.internals)
    # per step: the gradient (1 forward, 1 backward), f(0) (1 forward) and the trials
    assert h.forward == 2 * len(h.lr) + trials and h.backward == len(h.lr)


def test_armijo_reset_grows_the_start_by_gamma_per_epoch_up_to_eta_max():
    ctrl = ArmijoLR(0.01, n_batches=4, gamma=2.0, eta_max=10.0)
    assert ctrl.reset(1.0) == pytest.approx(2 ** 0.25, rel=1e-15)
    assert ctrl.reset(9.9) == 10.0


# -- SPS / ALI-G -------------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", ["smooth", "max"])
def test_sps_equals_its_closed_form(smoothing):
    model, X, y, w = _problem(seed=3)
    c, gamma, n, eta_max = 0.5, 2.0, 10, 5.0
    ctrl = PolyakLR(1.0, c=c, smoothing=smoothing, gamma=gamma, n_batches=n, eta_max=eta_max)
    prev = 1.0
    for w_k, g, _, eta, (Xb, yb) in _steps(ctrl, model, X, y, w, 40):
        f = model.loss(w_k, Xb, yb)
        polyak = f / (c * float(g @ g) + 1e-8)  # f* = 0, their eps = 1e-8
        bound = gamma ** (1 / n) * prev if smoothing == "smooth" else eta_max
        # the same float64 operations in another order: a few ulps
        assert eta == pytest.approx(max(min(polyak, bound), 1e-6), rel=1e2 * U)
        prev = eta


def test_alig_is_sps_max_with_c_1():
    model, X, y, w = _problem(seed=4)
    ctrl = alig(eta_max=0.5, delta=1e-5)
    for w_k, g, _, eta, (Xb, yb) in _steps(ctrl, model, X, y, w, 20):
        f = model.loss(w_k, Xb, yb)
        assert eta == pytest.approx(min(f / (float(g @ g) + 1e-5), 0.5), rel=1e2 * U)


# -- GeN ---------------------------------------------------------------------------------------
@given(a=st.floats(0.1, 10), b=st.floats(-10, 10), c=st.floats(-10, 10), e=st.floats(0.01, 1))
def test_gen_parabola_is_exact_on_quadratics(a, b, c, e):
    f = lambda x: 0.5 * a * x * x - b * x + c  # noqa: E731
    A, B = parabola(f(-e), f(e), f(0.0), e)
    # rounding: each loss carries ~u * 30 (|f| <= 30 here); the second difference divides
    # 4 such errors by e^2, the first difference 2 by 2e
    assert abs(A - a) <= 4 * 30 * 4 * U / e**2
    assert abs(B - b) <= 2 * 30 * 4 * U / (2 * e)


def test_gen_parabola_gives_the_exact_line_derivatives_of_a_linear_regression():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    model = LinearRegression(4)
    w = model.init_params(rng)
    _, g = model.loss_and_grad(w, X, y)
    probe = Probe(model, w, g, X, y)
    f1, f2 = probe.derivatives(0.0)  # exact f'(0), f''(0): the line loss is a quadratic
    eta = 0.05
    A, B = parabola(*probe(np.array([-eta, eta, 0.0])), eta)
    assert A == pytest.approx(f2, rel=1e-8) and B == pytest.approx(-f1, rel=1e-8)


def test_gen_moves_towards_the_parabola_minimum_clamped_and_averaged_every_few_steps():
    quad = lambda etas: (np.asarray(etas) - 0.3) ** 2  # noqa: E731  minimum at 0.3
    ctrl = GeNLR(0.01, every=2)
    rates = [ctrl.step(np.ones(1), quad) for _ in range(6)]
    assert rates[0] == 0.01  # step 1 does not fit
    # step 2 fits: target 0.3 clamped to 2 * 0.01, then 0.9 * 0.01 + 0.1 * 0.02 = 0.011
    assert rates[1] == pytest.approx(0.011, rel=1e-12)
    assert rates[2] == rates[1]  # not a fitting step
    assert rates[3] == pytest.approx(0.9 * 0.011 + 0.1 * 0.022, rel=1e-12)
    assert ctrl.state.n_updates == 3 and ctrl.state.n_accepted == 3
    ctrl = GeNLR(1.0, every=1)  # far above the minimum: at most -5 % per fit
    assert ctrl.step(np.ones(1), quad) == pytest.approx(0.95, rel=1e-12)
    rising = GeNLR(0.5, every=1)  # f'(0) > 0 (B < 0): the fit is not accepted
    assert rising.step(np.ones(1), lambda e: (np.asarray(e) + 1.0) ** 2) == 0.5
    assert not rising.last_info["accepted"] and rising.state.n_accepted == 0


# -- DoG and D-Adaptation ----------------------------------------------------------------------
def test_dog_rate_equals_its_formula_on_a_recorded_run():
    model, X, y, w = _problem(seed=6)
    ctrl = DoGLR()
    xs, gs, rates = [], [], []
    for w_k, g, _, eta, _ in _steps(ctrl, model, X, y, w, 30):
        xs.append(w_k)
        gs.append(g)
        rates.append(eta)
    x0 = xs[0]
    r_eps = 1e-6 * (1 + np.linalg.norm(x0))
    for t in range(len(rates)):
        rbar = max(r_eps, max(np.linalg.norm(x - x0) for x in xs[: t + 1]))
        expected = rbar / math.sqrt(sum(float(g @ g) for g in gs[: t + 1]))
        # sums of t + 1 <= 30 terms in another order: relative error <= 30 u, times a few
        assert rates[t] == pytest.approx(expected, rel=1e3 * U)
    assert rates[-1] > 10 * rates[0]  # the rate grew from its first, r_eps-sized step


def test_dog_needs_the_weights():
    with pytest.raises(TypeError, match="phi.w"):
        DoGLR().step(np.ones(2), lambda etas: np.zeros(len(etas)))


def test_dadapt_sgd_equals_the_published_loop():
    model, X, y, w = _problem(seed=7)
    ctrl = DAdaptSGDLR(d0=1e-6)
    d, s, weighted, g0 = 1e-6, np.zeros_like(w), 0.0, None
    for _, g, _, eta, _ in _steps(ctrl, model, X, y, w, 40):
        g0 = np.linalg.norm(g) if g0 is None else g0
        lam = d / g0  # dadapt_sgd.py: dlr = d * lr / g0_norm, lr = 1
        assert eta == pytest.approx(lam, rel=1e3 * U)
        s = s + lam * g
        weighted += lam * lam * float(g @ g)
        d = max(d, (float(s @ s) - weighted) / np.linalg.norm(s))
    assert ctrl.state.d > 1e-6  # the estimate grew


# -- Adam-HD and SGD-HD are FirstOrderLR ------------------------------------------------------
def _baydin_hd(w, grad_of, alpha0, beta, steps, adam):
    """Baydin et al. 2018, Algorithm 4 (Adam-HD) and 2 (SGD-HD), as plain loops."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    alpha, m, v, u_prev = alpha0, np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    rates, weights = [], []
    for t in range(1, steps + 1):
        g = grad_of(w)
        h = float(g @ u_prev)  # h_t = g_t . u_{t-1} with u the (rate-free) update direction
        alpha = alpha - beta * h
        if adam:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            d = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        else:
            d = g
        u_prev = -d
        w = w - alpha * d
        rates.append(alpha)
        weights.append(w)
    return rates, weights


@pytest.mark.parametrize("adam", [True, False], ids=["adam-hd", "sgd-hd"])
def test_hypergradient_descent_is_first_order_lr(adam):
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    model = LinearRegression(3)  # a quadratic
    w0 = model.init_params(rng)
    alpha0, beta = (0.01, 1e-3) if adam else (0.01, 1e-2)
    ref_rates, ref_w = _baydin_hd(w0, lambda w: model.loss_and_grad(w, X, y)[1], alpha0, beta,
                                  12, adam)
    ctrl = (adam_hd if adam else sgd_hd)(alpha0, alpha=beta)
    seen = []
    result = train(model, ctrl, X, y, epochs=12, batch_size=None, w0=w0,
                   direction=AdamDirection() if adam else None,
                   callback=lambda e, h, w: seen.append(w.copy()) and False)
    # the same operations up to the order of two negations: a few ulps per step
    np.testing.assert_allclose(result.history.lr, ref_rates, rtol=1e3 * U)
    np.testing.assert_allclose(np.array(seen[1:]), np.array(ref_w), rtol=1e3 * U, atol=1e3 * U)
    assert len(set(result.history.lr)) > 1  # the rate moved


# -- the internals in the history -------------------------------------------------------------
def test_the_history_records_the_paper_rules_internals():
    model, X, y, _ = _problem(seed=9)
    h = train(model, SecondOrderLR(0.1), X, y, epochs=1, batch_size=20, seed=0).history
    assert len(h.internals) == len(h.lr)
    for info in h.internals:
        assert info["smoothed"] == info["denominator"] + 1e-6  # "always": Eq. 18
        assert info["delta_dominates"] == (1e-6 > abs(info["denominator"]))
    assert any(info["delta_dominates"] for info in h.internals)


# -- registry and bad input --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["armijo", "sps", "alig", "gen", "sgd-hd", "adam-hd", "dog",
                                  "d-adapt"])
def test_the_registry_builds_each_method(name):
    ctrl = make_controller(name, eta=0.1)
    assert ctrl.lr == 0.1
    with pytest.raises(ValueError, match="does not apply|do\\(es\\) not apply"):
        make_controller(name, eta=0.1, not_an_option=1)


@pytest.mark.parametrize("make, match, exc", [
    (lambda: ArmijoLR(0.1, c=0), "c", ValueError),
    (lambda: ArmijoLR(0.1, backtrack=1.0), "backtrack", ValueError),
    (lambda: ArmijoLR(0.1, gamma=0.5), "gamma", ValueError),
    (lambda: ArmijoLR(0.1, n_batches=0), "n_batches", ValueError),
    (lambda: ArmijoLR(0.1, n_batches=2.5), "n_batches", TypeError),
    (lambda: ArmijoLR(0.1, max_trials=0), "max_trials", ValueError),
    (lambda: PolyakLR(0.1, c=-1), "c", ValueError),
    (lambda: PolyakLR(0.1, smoothing="mean"), "smoothing", ValueError),
    (lambda: PolyakLR(0.1, f_star=math.nan), "f_star", ValueError),
    (lambda: PolyakLR(0.1, eta_max=0), "eta_max", ValueError),
    (lambda: GeNLR(0.1, every=0), "every", ValueError),
    (lambda: GeNLR(0.1, smooth=1.0), "smooth", ValueError),
    (lambda: GeNLR(0.1, smooth="0.9"), "smooth", TypeError),
    (lambda: DoGLR(0.1, reps_rel=0), "reps_rel", ValueError),
    (lambda: DoGLR(-1.0), "eta", ValueError),
    (lambda: DAdaptSGDLR(0.1, d0=0), "d0", ValueError),
    (lambda: DAdaptSGDLR(0.1, growth_rate=1.0), "growth_rate", ValueError),
    (lambda: DAdaptSGDLR(0.1, growth_rate="fast"), "growth_rate", TypeError),
])
def test_bad_hyperparameters_are_clear_errors(make, match, exc):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("ctrl", [ArmijoLR(0.1), PolyakLR(0.1), DAdaptSGDLR()],
                         ids=["armijo", "sps", "d-adapt"])
def test_a_missing_gradient_is_a_clear_error(ctrl):
    with pytest.raises(TypeError, match="grad"):
        ctrl.step(None, lambda etas: np.zeros(len(etas)))


def test_a_direction_of_another_shape_is_a_clear_error():
    class Probe2:
        d = np.ones(3)

        def __call__(self, etas):
            return np.zeros(len(etas))

    with pytest.raises(ValueError, match="shape"):
        ArmijoLR(0.1).step(np.ones(2), Probe2())
