"""The paper's basic method: plain SGD with a fixed learning rate."""

from __future__ import annotations

from .base import LearningRateController


class FixedLR(LearningRateController):
    """A constant rate: ``w(t+1) = w(t) - eta g(t)`` (Eq. 1 with ``h`` the identity in Eq. 2).
    Ignores the gradient and the probe.

    >>> FixedLR(0.1).step(None)
    0.1
    """

    def step(self, grad=None, phi=None) -> float:
        self._advance()
        return self.lr
