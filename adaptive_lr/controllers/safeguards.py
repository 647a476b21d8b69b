"""The safeguards of :class:`~adaptive_lr.controllers.safeguarded.SafeguardedSecondOrderLR`, as
small functions: the moving average of the derivative model, its Newton target, the one-sided
trust region."""

from __future__ import annotations

import math

from ..arguments import check_flag

__all__ = ["averaged_newton_target", "check_flag", "ema", "trust_region"]


def ema(mean: float, value: float, average: float) -> float:
    """Exponential moving average: ``average * mean + (1 - average) * value``.

    >>> ema(1.0, 3.0, 0.75)
    1.5
    """
    return average * mean + (1.0 - average) * value


def averaged_newton_target(intercept: float, curvature: float) -> float:
    """The root ``-B / A`` of the averaged derivative model ``f'(eta) ~ B + A eta``.

    Each step's probes give a local quadratic model of its line loss, i.e. a linear model of
    its derivative, ``f'_k(eta) ~ f'_k + f''_k (eta - eta_k) = B_k + A_k eta``
    (``A_k = f''_k``, ``B_k = f'_k - f''_k eta_k``). Averaging ``A`` and ``B`` and solving
    ``B + A eta = 0`` is Newton's method (Eq. 10) on the averaged model; its root is the
    curvature-weighted mean of the per-step Newton targets ``eta_k - f'_k / f''_k``.

    >>> averaged_newton_target(-6.0, 2.0)        # f'(eta) = 2 eta - 6: minimum at 3
    3.0
    """
    return -intercept / curvature


def trust_region(candidate: float, eta: float, ratio: float | None) -> float:
    """Clip ``candidate`` to at most ``eta * ratio`` (no-op when ``ratio`` is None).

    One-sided on purpose: a rate that is too large multiplies the loss at every step, so a
    decrease must take effect at once (only the floor of Eq. 19 bounds it); an increase is the
    risky move, and a start that is too small is corrected geometrically.

    >>> trust_region(100.0, 1.0, 2.0), trust_region(0.01, 1.0, 2.0)
    (2.0, 0.01)
    """
    if ratio is None or not math.isfinite(candidate):
        return candidate
    return min(candidate, eta * ratio)
