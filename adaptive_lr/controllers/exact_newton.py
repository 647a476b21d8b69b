"""Newton's method on the learning rate with exact derivatives (a reference, not in the paper)."""

from __future__ import annotations

import math

from .base import LearningRateController, check_nonnegative


def newton_step(eta: float, f1: float, f2: float) -> float:
    """Eq. 10: ``eta - f'(eta) / f''(eta)``.

    >>> newton_step(1.0, -4.0, 2.0)          # f = (eta - 3)^2 at 1: lands on 3
    3.0
    """
    return eta - f1 / f2


class ExactNewtonLR(LearningRateController):
    """Eq. 10 with the exact ``f'(eta)`` (Eq. 7) and ``f''(eta)`` (Eq. 11) of the probe.

    For models that offer them analytically (linear and logistic regression): what the
    finite-difference controller :class:`SecondOrderLR` approximates, without ``eps`` or
    rounding. Order of operations as in the paper: derivatives at ``eta(k)``, update with
    ``eta(k)``, then ``eta(k+1) = max(eta(k) - f'/f'', delta)``.

    When ``f''(eta) <= 0`` (no minimum along the line to step to) or a derivative is not
    finite, the update is rejected and ``eta`` is kept.
    """

    needs_probe = True

    def __init__(self, eta, *, delta=1e-6):
        super().__init__(eta)
        self.delta = check_nonnegative("delta", delta)
        self.last_derivatives: tuple[float, float] | None = None

    def step(self, grad, phi) -> float:
        if phi is None:
            raise ValueError("ExactNewtonLR.step needs a probe phi with exact derivatives")
        self.n_steps += 1
        eta = self.lr
        f1, f2 = phi.derivatives(eta)
        self.last_derivatives = (f1, f2)
        if math.isfinite(f1) and math.isfinite(f2) and f2 > 0:
            self._propose(newton_step(eta, f1, f2), self.delta)
        else:
            self.n_rejected += 1
        return eta
