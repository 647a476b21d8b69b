"""Momentum on the learning-rate update (the paper's Eq. 20-21, Sec. 5.2).

For any rule that proposes an increment ``Delta`` of ``eta`` (Eq. 6 or Eq. 16):

* Eq. 20: ``v(t+1) = beta v(t) + Delta``
* Eq. 21: ``eta(t+1) = eta(t) + v(t+1)``

With ``beta = 0`` this is the plain rule. The paper uses ``beta = 0.9``.
"""

from __future__ import annotations


def momentum_velocity(velocity: float, increment: float, beta: float) -> float:
    """Eq. 20: ``beta * velocity + increment``.

    >>> momentum_velocity(2.0, 1.0, 0.5)
    2.0
    """
    return beta * velocity + increment


class LRMomentum:
    """The velocity of Eq. 20-21, shared by the first- and second-order controllers.

    When the update is clamped by Eq. 19, the velocity becomes the change that actually
    happened, so that a long run of negative increments cannot wind up a velocity that holds
    ``eta`` at its floor long after the increments turned positive (the paper does not say;
    with ``beta = 0`` it makes no difference).
    """

    def __init__(self, beta: float):
        self.beta = beta
        self.velocity = 0.0

    def propose(self, eta: float, increment: float) -> float:
        """Eq. 20-21: the candidate ``eta + v(t+1)`` (velocity not yet stored)."""
        self._pending = momentum_velocity(self.velocity, increment, self.beta)
        return eta + self._pending

    def commit(self, accepted: bool, clamped: bool, realized: float) -> None:
        """Store the velocity once the controller accepted, clamped (Eq. 19) or rejected the
        candidate; ``realized`` is the change of ``eta`` that actually happened."""
        if not accepted:
            self.velocity = 0.0
        elif clamped:
            self.velocity = realized
        else:
            self.velocity = self._pending


class WithLRMomentum:
    """Mixin for a controller that keeps an :class:`LRMomentum` in ``self._momentum``: exposes
    its ``velocity`` as an attribute (listed in ``_state_fields`` for checkpoints)."""

    _momentum: LRMomentum

    @property
    def velocity(self) -> float:
        return self._momentum.velocity

    @velocity.setter
    def velocity(self, value: float) -> None:
        self._momentum.velocity = float(value)
