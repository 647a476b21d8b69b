"""The finite-difference formulas of Eq. 12-16 against exact derivatives.

Theory (Taylor): Eq. 12, 13, 15 have error ``eps^2 f''' / 6 + O(eps^4)``; Eq. 14 has error
``eps^2 f'''' / 3 + O(eps^4)`` and is exact on cubics; rounding adds ``~u |f| / eps`` (first
differences) and ``~u |f| / eps^2`` (second differences), ``u`` the float64 unit roundoff.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr import finite_diff as fd
from adaptive_lr.controllers.second_order import newton_step

U = np.finfo(np.float64).eps
coef = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


def stencil_values(f, eta, eps):
    return [f(x) for x in fd.probe_points(eta, eps)]


@given(a=coef, b=coef, c=coef, d=coef, eta=st.floats(-2, 2), eps=st.floats(1e-3, 0.5))
def test_second_difference_exact_on_cubics(a, b, c, d, eta, eps):
    def f(x):
        return a + b * x + c * x**2 + d * x**3

    f_m2, _, f0, _, f_p2 = stencil_values(f, eta, eps)
    exact = 2 * c + 6 * d * eta
    # exact in exact arithmetic; rounding: each f-value has error <= 8 u F (F = max |f|,
    # four terms), amplified by 4 / (4 eps^2) in Eq. 14
    F = abs(a) + abs(b) * 3 + abs(c) * 9 + abs(d) * 27 + 1
    assert abs(fd.second_derivative(f_m2, f0, f_p2, eps) - exact) <= 32 * U * F / eps**2


@given(a=coef, b=coef, c=coef, eta=st.floats(-2, 2), eps=st.floats(1e-3, 0.5))
def test_central_difference_exact_on_quadratics(a, b, c, eta, eps):
    def f(x):
        return a + b * x + c * x**2

    _, f_m1, _, f_p1, _ = stencil_values(f, eta, eps)
    F = abs(a) + abs(b) * 3 + abs(c) * 9 + 1
    # Eq. 15 is exact on quadratics; rounding 2 * 6 u F / (2 eps)
    assert abs(fd.first_derivative(f_m1, f_p1, eps) - (b + 2 * c * eta)) <= 8 * U * F / eps


# smooth test functions with their derivatives up to order 3
def _exp_family(k, s):
    return (lambda x: s * np.exp(k * x), lambda x: s * k * np.exp(k * x),
            lambda x: s * k**2 * np.exp(k * x), lambda x: s * k**3 * np.exp(k * x))


@pytest.mark.parametrize("which", ["eq12", "eq13", "eq14", "eq15"])
@given(k=st.floats(0.5, 2.0), s=st.floats(0.5, 2.0), eta=st.floats(-1, 1))
def test_error_shrinks_as_eps_squared(which, k, s, eta):
    f, f1, f2, _ = _exp_family(k, s)

    def err(eps):
        f_m2, f_m1, f0, f_p1, f_p2 = stencil_values(f, eta, eps)
        if which == "eq12":
            return fd.first_derivative_ahead(f0, f_p2, eps) - f1(eta + eps)
        if which == "eq13":
            return fd.first_derivative_behind(f_m2, f0, eps) - f1(eta - eps)
        if which == "eq14":
            return fd.second_derivative(f_m2, f0, f_p2, eps) - f2(eta)
        return fd.first_derivative(f_m1, f_p1, eps) - f1(eta)

    eps = 1e-2
    # E(eps) = c2 eps^2 (1 + r eps^2 + ...) with |r| <= k^2 / 4 <= 1 for exp(k x), so
    # E(eps) / E(eps / 2) = 4 (1 + 3/4 r eps^2 + ...) = 4 +- 3.1e-4; rounding
    # (u F / eps^2 ~ 1e-11 against E ~ 1e-5) is negligible. Eq. 12 and 13 estimate f' at
    # eta +- eps, a point that moves with eps: c2 = f'''(eta +- eps) / 6, and for exp(k x)
    # c2(eta +- eps) / c2(eta +- eps / 2) = exp(+-k eps / 2) exactly.
    shift = {"eq12": np.exp(k * eps / 2), "eq13": np.exp(-k * eps / 2)}.get(which, 1.0)
    ratio = err(eps) / err(eps / 2)
    assert abs(ratio - 4 * shift) <= 1e-3


@st.composite
def smooth_convex(draw):
    """f(x) = s exp(k x) + c x^2 with c > 0: f'' > 0 everywhere."""
    k = draw(st.floats(-2, 2))
    s = draw(st.floats(0.1, 2))
    c = draw(st.floats(0.1, 2))
    derivs = [
        lambda x: s * np.exp(k * x) + c * x * x,
        lambda x: s * k * np.exp(k * x) + 2 * c * x,
        lambda x: s * k**2 * np.exp(k * x) + 2 * c,
        lambda x: s * k**3 * np.exp(k * x),
        lambda x: s * k**4 * np.exp(k * x),
    ]
    return derivs


@given(f=smooth_convex(), eta=st.floats(-1, 1))
def test_five_point_newton_step_matches_exact_newton(f, eta):
    f0, f1, f2, f3, f4 = f
    eps = 1e-3
    fd_eta = fd.newton_update(eta, stencil_values(f0, eta, eps), eps)
    exact = newton_step(eta, f1(eta), f2(eta))
    # Eq. 16 = eta - (f' + eps^2 f'''/6) / (f'' + eps^2 f''''/3) + O(eps^4): first-order error
    # eps^2 (|f'''|/6 + |f'/f''| |f''''|/3) / f''; doubled for the O(eps^4) remainder, plus
    # rounding u F / (eps f'') of the numerator and u F |f'| / (eps^2 f''^2) of the denominator.
    a1, a2, a3, a4 = abs(f1(eta)), f2(eta), abs(f3(eta)), abs(f4(eta))
    F = abs(f0(eta)) + 1
    bound = 2 * eps**2 * (a3 / 6 + a1 / a2 * a4 / 3) / a2 + 16 * U * F * (1 / eps + a1 / (
        eps**2 * a2)) / a2
    assert abs(fd_eta - exact) <= bound


def test_newton_increment_is_exact_line_search_on_a_parabola():
    f = stencil_values(lambda x: 3 * (x - 0.7) ** 2 + 1, 0.2, 0.01)
    assert fd.newton_update(0.2, f, 0.01) == pytest.approx(0.7, abs=1e-12)


def test_smoothing_rules():
    assert fd.smooth_denominator(1e-10, 1e-6, "always") == 1e-10 + 1e-6
    assert fd.smooth_denominator(1e-10, 1e-6, "if-zero") == 1e-10
    assert fd.smooth_denominator(0.0, 1e-6, "if-zero") == 1e-6


def test_always_rule_is_first_order_with_alpha_4eps2_over_delta():
    # when the denominator 4 eps^2 f'' << delta, Eq. 18 ~ -(4 eps^2 / delta) f'(eta)
    eps, delta = 1e-5, 1e-6
    f = stencil_values(lambda x: 0.5 * 2.0 * x**2 - 3.0 * x, 0.1, eps)  # f'' = 2, f'(0.1) = -2.8
    inc = fd.newton_increment(f, eps, delta, "always")
    alpha = 4 * eps**2 / delta
    den = 4 * eps**2 * 2.0
    # exactly -2 eps (2 eps f') / (den + delta) = -alpha f' delta / (den + delta)
    assert inc == pytest.approx(alpha * 2.8 * delta / (den + delta), rel=1e-6)
    assert inc == pytest.approx(alpha * 2.8, rel=1e-3)  # den / delta = 8e-4


def test_unpack_wants_five_values():
    with pytest.raises(ValueError, match="5 probe values"):
        fd.unpack([1.0, 2.0])


@given(values=st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=3, max_size=3),
       eps=st.floats(1e-6, 1.0))
def test_eq14_is_eq12_minus_eq13_over_2eps(values, eps):
    """Sec. 3.2 derives Eq. 14 from Eq. 12 and 13: f''(eta) ~ (f'(eta+eps) - f'(eta-eps)) / 2eps.
    The two forms differ only in rounding: each first difference is exact to u |f| / eps, so
    their difference over 2 eps is within ~4 u (|f(eta-2eps)| + 2|f(eta)| + |f(eta+2eps)|)
    / (4 eps^2) of Eq. 14, itself rounded to the same order."""
    f_m2, f0, f_p2 = values
    via_12_13 = (fd.first_derivative_ahead(f0, f_p2, eps)
                 - fd.first_derivative_behind(f_m2, f0, eps)) / (2 * eps)
    eq14 = fd.second_derivative(f_m2, f0, f_p2, eps)
    scale = (abs(f_m2) + 2 * abs(f0) + abs(f_p2)) / (4 * eps * eps)
    assert abs(via_12_13 - eq14) <= 8 * U * scale


@given(f=smooth_convex(), eta=st.floats(-1, 1))
def test_eq16_is_eq10_with_eq15_and_eq14(f, eta):
    """The "final simple formula" Eq. 16 is Newton's step Eq. 10 with f' from Eq. 15 and f''
    from Eq. 14, to rounding (both are one quotient of the same differences)."""
    eps = 1e-3
    values = stencil_values(f[0], eta, eps)
    f_m2, f_m1, f0, f_p1, f_p2 = values
    f1 = fd.first_derivative(f_m1, f_p1, eps)
    f2 = fd.second_derivative(f_m2, f0, f_p2, eps)
    eq10 = newton_step(eta, f1, f2)
    eq16 = fd.newton_update(eta, values, eps)
    # the increments differ by a few roundings of one quotient (~8 u of it); each sum with
    # eta rounds once more (u |eta| each)
    assert abs(eq16 - eq10) <= 8 * U * abs(f1 / f2) + 2 * U * abs(eta)
