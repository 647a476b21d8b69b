"""Finite differences on the line loss ``f(eta) = L(w - eta * d)`` (the paper's Eq. 12-18).

Each equation is one function of the f-values and ``eps``. The probe points of a step are
``eta + eps * STENCIL``, i.e. ``f(eta-2eps), f(eta-eps), f(eta), f(eta+eps), f(eta+2eps)``, in
that order; :func:`unpack` names them.

Error terms (Taylor expansion, ``f`` smooth): Eq. 12, 13 and 15 are central differences with
half-width ``eps`` and error ``eps^2 f''' / 6``; Eq. 14 is a central second difference with
step ``2 eps`` and error ``(2 eps)^2 f'''' / 12 = eps^2 f'''' / 3``, so it is exact on cubics.
Rounding adds about ``u |f| / eps`` to a first difference and ``u |f| / eps^2`` to the second,
with ``u`` the unit roundoff of the dtype the losses were computed in.
"""

from __future__ import annotations

import numpy as np

from .arguments import check_choice, check_nonnegative, check_positive, check_real, check_real_array

#: Offsets of the five probe points, in units of ``eps`` (Sec. 4.1).
STENCIL = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])

#: The two readings of Eq. 17-18 (see :func:`smooth_denominator`).
DELTA_RULES = ("always", "if-zero")


def probe_points(eta: float, eps: float) -> np.ndarray:
    """``eta + eps * [-2, -1, 0, 1, 2]``: where the second-order method evaluates ``f``."""
    return check_real("eta", eta) + check_positive("eps", eps) * STENCIL


def unpack(f):
    """``(f(eta-2eps), f(eta-eps), f(eta), f(eta+eps), f(eta+2eps))`` from the 5 probe values."""
    f = check_real_array("f (the 5 probe values)", f).astype(np.float64)
    if f.shape != (5,):
        raise ValueError(f"f: expected the 5 probe values of STENCIL, got shape {f.shape}")
    return tuple(float(v) for v in f)


def first_derivative_ahead(f0: float, f_p2: float, eps: float) -> float:
    """Eq. 12: ``f'(eta + eps) ~ (f(eta + 2eps) - f(eta)) / (2 eps)``."""
    return (f_p2 - f0) / (2 * eps)


def first_derivative_behind(f_m2: float, f0: float, eps: float) -> float:
    """Eq. 13: ``f'(eta - eps) ~ (f(eta) - f(eta - 2eps)) / (2 eps)``."""
    return (f0 - f_m2) / (2 * eps)


def second_derivative(f_m2: float, f0: float, f_p2: float, eps: float) -> float:
    """Eq. 14: ``f''(eta) ~ (f(eta+2eps) + f(eta-2eps) - 2 f(eta)) / (4 eps^2)``.

    It is Eq. 12 minus Eq. 13, divided by ``2 eps``; exact when ``f`` is a cubic.

    >>> second_derivative(4.0, 0.0, 4.0, 1.0)     # f(x) = x^2 at 0, step 2
    2.0
    """
    return (f_p2 + f_m2 - 2 * f0) / (4 * eps * eps)


def first_derivative(f_m1: float, f_p1: float, eps: float) -> float:
    """Eq. 15: ``f'(eta) ~ (f(eta + eps) - f(eta - eps)) / (2 eps)``; exact on quadratics.

    >>> first_derivative(1.0, 9.0, 1.0)           # f(x) = (x + 2)^2 at 0: f' = 4
    4.0
    """
    return (f_p1 - f_m1) / (2 * eps)


def newton_numerator(f_m1: float, f_p1: float) -> float:
    """``f(eta + eps) - f(eta - eps)``, the numerator of Eq. 16 (``2 eps f'``)."""
    return f_p1 - f_m1


def newton_denominator(f_m2: float, f0: float, f_p2: float) -> float:
    """``f(eta + 2eps) + f(eta - 2eps) - 2 f(eta)``, the denominator of Eq. 16 (``4 eps^2 f''``)."""
    return f_p2 + f_m2 - 2 * f0


def smooth_denominator(den: float, delta: float, rule: str = "always") -> float:
    """Eq. 17-18: add the smoothing ``delta`` to the denominator of Eq. 16.

    ``rule="always"`` adds ``delta`` to every denominator (Eq. 18 as printed). Because the
    denominator is about ``4 eps^2 f''`` (``4e-10 f''`` for ``eps = 1e-5``), next to
    ``delta = 1e-6`` it is "~0" whenever ``f'' << delta / (4 eps^2)``, and the step becomes
    ``-(4 eps^2 / delta) f'(eta)``: gradient descent on ``eta`` with meta rate
    ``4 eps^2 / delta``, where ``f'`` is the derivative of the probed line loss. With a full
    batch that is hypergradient descent (``FirstOrderLR(alpha=4 eps^2 / delta)``); on
    mini-batches it is not, since the probe differentiates the line loss of the batch that
    made the gradient, and Eq. 8 the next batch's gradient (REPRODUCTION.md, the delta rule).
    ``rule="if-zero"`` adds ``delta`` only when the denominator is exactly zero (the authors'
    code): the pure Newton step of Eq. 16.
    """
    if rule == "always":
        return den + delta
    if rule == "if-zero":
        return den + delta if den == 0 else den
    check_choice("delta_rule", rule, DELTA_RULES)  # raises


def newton_increment(f, eps: float, delta: float = 0.0, rule: str = "always") -> float:
    """The change of ``eta`` in Eq. 16 (``delta = 0``) or Eq. 18:
    ``-2 eps (f(eta+eps) - f(eta-eps)) / (f(eta+2eps) + f(eta-2eps) - 2 f(eta) [+ delta])``.

    ``f`` holds the five probe values in :data:`STENCIL` order. The result may be inf or NaN
    (zero denominator, non-finite probes): callers decide what to do with it.

    >>> f = [(e - 3.0) ** 2 for e in probe_points(1.0, 0.1)]   # minimum at 3
    >>> round(1.0 + newton_increment(f, 0.1), 12)
    3.0
    """
    f_m2, f_m1, f0, f_p1, f_p2 = unpack(f)
    eps, delta = check_positive("eps", eps), check_nonnegative("delta", delta)
    den = smooth_denominator(newton_denominator(f_m2, f0, f_p2), delta, rule)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(np.float64(-2 * eps * newton_numerator(f_m1, f_p1)) / np.float64(den))


def newton_update(eta: float, f, eps: float, delta: float = 0.0, rule: str = "always") -> float:
    """Eq. 16 / Eq. 18: ``eta + newton_increment(f, eps, delta, rule)``."""
    return eta + newton_increment(f, eps, delta, rule)
