"""The paper's basic method: plain SGD with a fixed learning rate."""

from __future__ import annotations

from .base import LearningRateController


class FixedLR(LearningRateController):
    """A constant rate: ``w(t+1) = w(t) - eta g(t)`` (Eq. 1 with ``h`` the identity).

    >>> FixedLR(0.1).step(None)
    0.1
    """

    def step(self, grad=None, phi=None) -> float:
        self.n_steps += 1
        return self.lr
