"""Newton's method on the learning rate with exact derivatives (a reference, not in the paper)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..probe import ExactProbe, evaluate_derivatives
from .base import LearningRateController, RateState, check_nonnegative
from .rate_update import RateUpdate, accept_rate
from .second_order import newton_step


@dataclass(frozen=True)
class ExactNewtonState(RateState):
    next_lr: float = 0.0  #: eta(k+1), the rate of the next step


class ExactNewtonLR(LearningRateController):
    """Eq. 10 with the exact ``f'(eta)`` (Eq. 7) and ``f''(eta)`` (Eq. 11) of the probe.

    For models that offer them analytically (linear and logistic regression): what the
    finite-difference controller :class:`SecondOrderLR` approximates, without ``eps`` or
    rounding. Order of operations as in the paper: derivatives at ``eta(k)``, update with
    ``eta(k)``, then ``eta(k+1) = max(eta(k) - f'/f'', delta)``.

    The probe must offer ``phi.derivatives(eta)`` (:class:`~adaptive_lr.probe.ExactProbe`);
    a plain callable is a ``TypeError``. When ``f''(eta) <= 0`` (no minimum along the line to
    step to) or a derivative is not finite, the update is rejected and ``eta`` is kept.
    """

    State = ExactNewtonState

    def __init__(self, eta, *, delta=1e-6):
        super().__init__(eta)
        self.state = replace(self.state, next_lr=self.lr)
        self.delta = check_nonnegative("delta", delta)
        self.last_derivatives: tuple[float, float] | None = None

    def step(self, grad, phi) -> float:
        if not isinstance(phi, ExactProbe):
            raise TypeError("ExactNewtonLR needs a probe with exact derivatives, "
                            "phi.derivatives(eta) -> (f', f''), such as adaptive_lr.Probe on "
                            f"a linear or logistic model; got {type(phi).__name__}")
        eta = self.state.next_lr
        f1, f2 = evaluate_derivatives(phi, eta)
        self.last_derivatives = (f1, f2)
        if math.isfinite(f1) and math.isfinite(f2) and f2 > 0:
            update = accept_rate(newton_step(eta, f1, f2), eta, self.delta)  # Eq. 10, 19
        else:
            update = RateUpdate(eta, 0.0, False)
        self._advance(rejected=not update.accepted, lr=eta, next_lr=update.lr)
        return eta
