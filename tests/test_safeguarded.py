"""SafeguardedSecondOrderLR: each safeguard's logic on stub probes of known functions.

The stub ``phi`` returns exact values of a quadratic ``f(eta) = c (eta - m)^2 / 2 + s eta``: on a
quadratic the five-point differences of Eq. 14-15 are exact up to rounding (their truncation
errors ``eps^2 f''' / 6`` and ``eps^2 f'''' / 3`` vanish), so targets are known in closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptive_lr import LinearRegression, SafeguardedSecondOrderLR, SecondOrderLR, train
from adaptive_lr.controllers.safeguards import averaged_newton_target, ema, trust_region

OFF = {"average": 0.0, "trust_ratio": None, "curvature_fallback": False, "target_fallback": False,
       "no_increasing_step": False, "relative_eps": None}


def quadratic(minimum, curvature=1.0):
    """A stub probe: ``phi(etas) = curvature * (etas - minimum)^2 / 2``."""
    return lambda etas: 0.5 * curvature * (np.asarray(etas, dtype=np.float64) - minimum) ** 2


def test_helpers():
    assert ema(2.0, 4.0, 0.5) == 3.0
    assert averaged_newton_target(-3.0, 1.5) == 2.0
    assert trust_region(10.0, 1.0, None) == 10.0
    assert trust_region(10.0, 1.0, 4.0) == 4.0
    assert trust_region(0.1, 1.0, 4.0) == 0.1        # decreases are not limited
    assert trust_region(1.5, 1.0, 4.0) == 1.5


@pytest.mark.parametrize("minimum, curvature, eta", [(0.3, 2.0, 0.01), (2.0, 5e3, 1.5),
                                                     (0.05, 0.1, 0.2)])
def test_all_safeguards_off_is_eq16_if_zero(minimum, curvature, eta):
    """With every safeguard off the rule is the paper's pure Newton step (Eq. 16)."""
    phi = quadratic(minimum, curvature)
    ours = SafeguardedSecondOrderLR(eta, **OFF)
    paper = SecondOrderLR(eta, eps=1e-5, delta=1e-6, delta_rule="if-zero")
    for _ in range(3):
        assert ours.step(None, phi) == pytest.approx(paper.step(None, phi), rel=1e-9)
        # Same differences, scaled differently (f'/f'' vs 2 eps num/den): a few roundings of
        # the result, far below 1e-9 relative.
        assert ours.state.next_lr == pytest.approx(paper.state.next_lr, rel=1e-9)


def test_exact_newton_on_a_quadratic_lands_on_the_minimum():
    c = SafeguardedSecondOrderLR(0.2, **OFF)
    c.step(None, quadratic(0.7, 3.0))
    # Eq. 14-15 exact on quadratics; rounding ~ u |f| / eps^2 relative to f'' = 3: ~1e-6.
    assert c.state.next_lr == pytest.approx(0.7, rel=1e-5)


def test_trust_region_bounds_the_change():
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=2.0)
    c.step(None, quadratic(100.0))
    assert c.state.next_lr == pytest.approx(0.2, rel=1e-12) and c.state.n_clipped == 1
    for minimum, expected in [(0.15, 0.15), (1e-3, 1e-3), (-5.0, 1e-6)]:
        c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=2.0, target_fallback=False)
        c.step(None, quadratic(minimum))         # below 0.2: not clipped, floor of Eq. 19
        # Newton exact on the quadratic up to rounding ~u |f| / eps^2 / f'' ~ 1e-6 relative.
        assert c.state.next_lr == pytest.approx(expected, rel=1e-5, abs=1e-9)
        assert c.state.n_clipped == 0


@pytest.mark.parametrize("slope, expected", [(-1.0, 0.1), (1.0, 0.1 / 3)])
def test_fallback_on_non_positive_curvature(slope, expected):
    """f = -(eta)^2 + slope*eta: concave, so there is no Newton step; the fallback divides eta
    by r when the slope is positive and keeps it when it is negative (the slope at eta = 0.1 is
    slope - 0.2, of the same sign for |slope| = 1)."""
    def phi(etas):
        etas = np.asarray(etas, dtype=np.float64)
        return -(etas**2) + slope * etas

    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=3.0)
    c.step(None, phi)
    assert c.state.n_fallback == 1
    assert c.state.next_lr == pytest.approx(expected, rel=1e-12)
    # Without the fallback the step goes to the maximum at slope / 2 (Eq. 16 as printed).
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=None, curvature_fallback=False,
                                 target_fallback=False)
    c.step(None, phi)
    assert c.state.n_fallback == 0
    assert c.state.next_lr == pytest.approx(max(slope / 2, 1e-6), rel=1e-5)


def test_fallback_never_raises_the_rate_on_a_flat_noisy_line():
    """Concave, almost flat line losses whose slope is negative at every step: the fallback
    never raises eta (a first version doubled it per step on such a line)."""
    c = SafeguardedSecondOrderLR(1e-3)
    for _ in range(50):
        c.step(None, lambda e: 2.3 - 1e-4 * np.asarray(e) - 1e-3 * np.asarray(e) ** 2)
    assert c.state.next_lr == 1e-3 and c.state.n_fallback == 50


@pytest.mark.parametrize("trust_ratio, r", [(3.0, 3.0), (None, 2.0)])
def test_target_fallback_divides_by_r_instead_of_dropping_to_the_floor(trust_ratio, r):
    """A convex model whose minimum lies at a negative rate: the target fallback divides eta by
    r; without it, Eq. 19's floor takes over in one step."""
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=trust_ratio)
    c.step(None, quadratic(-0.5))
    assert c.state.next_lr == pytest.approx(0.1 / r, rel=1e-12) and c.state.n_fallback == 1
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=trust_ratio, target_fallback=False)
    c.step(None, quadratic(-0.5))
    assert c.state.next_lr == 1e-6 and c.state.n_fallback == 0
    # A positive target, however small, is taken at once (decreases are not limited).
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=trust_ratio)
    c.step(None, quadratic(1e-4))
    # Newton exact on the quadratic up to rounding ~u |f| / eps^2 / f'' ~ 1e-6 relative to 0.1.
    assert c.state.next_lr == pytest.approx(1e-4, abs=1e-6) and c.state.n_fallback == 0


@pytest.mark.parametrize("eta, minimum, shortened", [(0.1, 0.01, True), (0.015, 0.01, False),
                                                     (0.019, 0.01, False), (0.021, 0.01, True)])
def test_no_increasing_step_takes_this_step_at_the_new_rate(eta, minimum, shortened):
    """On a quadratic with its minimum at m, a step at eta raises the loss iff eta > 2 m: then
    this step is taken at the new rate (the minimum); otherwise at the probed eta."""
    c = SafeguardedSecondOrderLR(eta, average=0.0)
    used = c.step(None, quadratic(minimum))
    # Newton exact on the quadratic up to rounding ~u |f| / eps^2 / f'' ~ 1e-6 relative.
    assert c.state.next_lr == pytest.approx(minimum, rel=1e-5)
    assert c.state.n_shortened == shortened
    assert used == (c.state.next_lr if shortened else eta)
    c = SafeguardedSecondOrderLR(eta, average=0.0, no_increasing_step=False)
    assert c.step(None, quadratic(minimum)) == eta and c.state.n_shortened == 0


def test_no_increasing_step_in_training_from_a_rate_far_too_large():
    """Full-batch least squares is exactly quadratic along the gradient, so without averaging
    each step's target is its own line minimum t_k: a step is taken either at t_k (when
    eta_k > 2 t_k) or at eta_k <= 2 t_k, and in both cases f(eta) <= f(0): the loss never rises,
    even from a rate far too large. Without the safeguard the first step raises it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * np.array([1.0, 3.0, 10.0, 30.0, 100.0])
    y = X @ rng.normal(size=5) + rng.normal(size=200)
    model = LinearRegression(5)
    for flag, rises in [(True, False), (False, True)]:
        c = SafeguardedSecondOrderLR(10.0, average=0.0, no_increasing_step=flag)
        h = train(model, c, X, y, epochs=30, batch_size=None, seed=0).history
        assert bool(np.any(np.diff(h.loss) > 0)) == rises
        assert np.all(np.isfinite(h.loss))


def test_fallback_without_trust_region_uses_factor_two():
    c = SafeguardedSecondOrderLR(0.1, average=0.0, trust_ratio=None)
    c.step(None, lambda e: 0.5 * np.asarray(e) - np.asarray(e) ** 2)  # slope 0.3 > 0: decrease
    assert c.state.next_lr == pytest.approx(0.05)


def test_zero_curvature_without_fallback_uses_delta_if_zero():
    """A linear f has f'' = 0 exactly: Eq. 17-18 ("if-zero") add delta to the denominator."""
    c = SafeguardedSecondOrderLR(0.5, **OFF)
    c.step(None, lambda e: np.zeros_like(np.asarray(e, dtype=np.float64)))   # f' = f'' = 0
    assert c.state.next_lr == 0.5 and c.n_rejected == 0


@pytest.mark.parametrize("average", [0.5, 0.9, 0.99])
def test_averaging_on_a_fixed_quadratic_converges_to_the_minimum(average):
    """Each step's quadratic model is the function itself, so the averaged model is too: the
    target is the minimum from the first step on; only the trust region delays it."""
    c = SafeguardedSecondOrderLR(1e-3, average=average)
    lrs = [c.step(None, quadratic(0.4, 7.0)) for _ in range(20)]
    assert lrs[1] == pytest.approx(2e-3)                     # clipped by r = 2
    # 1e-3 * 2^9 > 0.4: reached within 9 steps, then stays (rounding ~1e-9 relative).
    assert c.state.next_lr == pytest.approx(0.4, rel=1e-6)
    assert all(abs(v - 0.4) < 1e-6 for v in lrs[10:])


def test_averaging_smooths_noisy_targets():
    """Targets of alternating quadratics (minima 0.2 and 0.6, equal curvature): with averaging
    the rate settles near their curvature-weighted mean 0.4; without, it jumps between them."""
    rng_targets = [0.2, 0.6] * 200
    averaged = SafeguardedSecondOrderLR(0.4, average=0.99, trust_ratio=None)
    plain = SafeguardedSecondOrderLR(0.4, average=0.0, trust_ratio=None)
    for m in rng_targets:
        averaged.step(None, quadratic(m))
        plain.step(None, quadratic(m))
    # EMA of an alternating sequence: its deviation from the mean is <= (1 - a)/(1 + a) * 0.2
    # in steady state, ~1e-3 for a = 0.99.
    assert averaged.state.next_lr == pytest.approx(0.4, abs=2e-3)
    assert plain.state.next_lr == pytest.approx(0.6, rel=1e-6)


def test_relative_eps_probes_scale_with_eta():
    seen = []

    def phi(etas):
        seen.append(np.array(etas))
        return quadratic(1.0)(etas)

    c = SafeguardedSecondOrderLR(2.0, relative_eps=1e-3)
    c.step(None, phi)
    np.testing.assert_allclose(seen[-1] - 2.0, 2e-3 * np.array([-2, -1, 0, 1, 2]), atol=1e-15)
    c = SafeguardedSecondOrderLR(1e-6, relative_eps=1e-3, eps=1e-5)   # floor: eps
    c.step(None, phi)
    np.testing.assert_allclose(seen[-1] - 1e-6, 1e-5 * np.array([-2, -1, 0, 1, 2]), atol=1e-18)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_probes_are_rejected(bad):
    c = SafeguardedSecondOrderLR(0.1)
    c.step(None, quadratic(0.3))
    state = c.state_dict()
    c.step(None, lambda e: np.full(len(e), bad))
    assert c.state.next_lr == float(state["next_lr"]) and c.n_rejected == 1
    assert c.state.curvature == float(state["curvature"])        # the average is not polluted


def test_lr_stays_finite_and_above_the_floor():
    c = SafeguardedSecondOrderLR(1e-5, average=0.0, trust_ratio=None, delta=1e-6,
                                 target_fallback=False)
    c.step(None, quadratic(-1.0))                # minimum at a negative rate
    assert c.state.next_lr == 1e-6
    c = SafeguardedSecondOrderLR(0.1, average=0.0)
    for m in [1e150, -1e150, 0.0]:                # huge and negative targets, then a tame one
        c.step(None, quadratic(m))
        assert math.isfinite(c.state.next_lr) and c.state.next_lr >= 1e-6


@pytest.mark.parametrize("name, value", [
    ("eta", 0.0), ("eta", -1.0), ("average", 1.0), ("average", -0.1), ("trust_ratio", 1.0),
    ("trust_ratio", 0.5), ("relative_eps", 0.0), ("eps", 0.0), ("delta", -1.0),
    ("curvature_fallback", "yes"), ("target_fallback", 1), ("no_increasing_step", None),
    ("average", np.nan)])
def test_bad_arguments_raise_naming_the_argument(name, value):
    kw = {"eta": 0.1, name: value}
    with pytest.raises(ValueError, match=name):
        SafeguardedSecondOrderLR(kw.pop("eta"), **kw)


def test_needs_a_probe():
    with pytest.raises(TypeError, match="phi must be a callable"):
        SafeguardedSecondOrderLR(0.1).step(np.zeros(2), None)


def test_state_dict_round_trip():
    a = SafeguardedSecondOrderLR(0.01)
    for m in [0.3, 0.5, 0.2]:
        a.step(None, quadratic(m))
    b = SafeguardedSecondOrderLR(0.01)
    b.load_state_dict(a.state_dict())
    assert b.state == a.state
    assert isinstance(b.state.n_fallback, int)
    phi = quadratic(0.25, 2.0)
    assert [a.step(None, phi) for _ in range(3)] == [b.step(None, phi) for _ in range(3)]
    assert a.state.next_lr == b.state.next_lr
