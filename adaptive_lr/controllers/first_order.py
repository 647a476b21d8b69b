"""The first-order method: gradient descent on the learning rate (Eq. 5-8)."""

from __future__ import annotations

import numpy as np

from .base import LearningRateController, check_beta, check_nonnegative
from .momentum import LRMomentum, WithLRMomentum


def hypergradient(direction_prev: np.ndarray, grad: np.ndarray) -> float:
    """Eq. 8: ``f'(eta(t)) = -d(t) . g(t+1)``, with ``d = g`` for SGD (Eq. 7 at ``eta(t)``).

    >>> hypergradient(np.array([1.0, 2.0]), np.array([3.0, -1.0]))
    -1.0
    """
    return -float(direction_prev @ grad)


def first_order_increment(hypergrad: float, alpha: float) -> float:
    """Eq. 6: the change ``-alpha f'(eta)`` of the learning rate."""
    return -alpha * hypergrad


class FirstOrderLR(WithLRMomentum, LearningRateController):
    """Gradient descent on ``eta`` with the analytic hypergradient of Eq. 8.

    At step ``t+1`` the new gradient ``g(t+1)`` gives ``f'(eta(t)) = -d(t) . g(t+1)``, the
    derivative of the previous step's line loss; then ``eta(t+1) = eta(t) - alpha f'(eta(t))``
    (Eq. 6), clamped to ``>= delta`` (Eq. 19), is used for this step's update. With full
    batches this is hypergradient descent (Baydin et al., 2018). The first step uses ``eta``.

    Parameters
    ----------
    eta : float > 0
        Initial learning rate.
    alpha : float >= 0
        Meta learning rate (the paper: 1e-9 on Boston, 1e-6 on MNIST).
    delta : float >= 0, default 1e-6
        Floor of Eq. 19.
    beta : float in [0, 1), default 0
        Momentum on the rate (the analogue of Eq. 20-21).

    Notes
    -----
    ``d(t)`` is the direction of the previous step, read from ``phi.d`` when a probe is given
    (so the rule stays exact when the step direction is not the raw gradient) and otherwise
    taken to be the previous gradient. The controller keeps its own *copy* of it: keeping a
    reference to a buffer that the caller later overwrites or zeroes would make ``f'`` wrong
    (the authors' code zeroed the buffer, so ``eta`` could only grow). ``controller.lr`` after
    a step is the rate just used; the next step corrects it with its own hypergradient before
    using it. A non-finite gradient is not kept, and the next step skips its correction.

    Examples
    --------
    >>> c = FirstOrderLR(0.1, alpha=0.01)
    >>> c.step(np.array([1.0, 0.0]))          # first step: nothing to correct
    0.1
    >>> c.step(np.array([2.0, 5.0]))          # f' = -(1*2 + 0*5) = -2: eta grows by 0.02
    0.12
    """

    _state_fields = LearningRateController._state_fields + ("direction_prev", "velocity")

    def __init__(self, eta, alpha, *, delta=1e-6, beta=0.0):
        super().__init__(eta)
        self.alpha = check_nonnegative("alpha", alpha)
        self.delta = check_nonnegative("delta", delta)
        self.beta = check_beta(beta)
        self._momentum = LRMomentum(self.beta)
        self.direction_prev: np.ndarray | None = None

    def step(self, grad: np.ndarray, phi=None) -> float:
        self.n_steps += 1
        grad = np.asarray(grad)
        if self.direction_prev is not None:
            if self.direction_prev.shape != grad.shape:
                raise ValueError(f"grad has shape {grad.shape}, the previous step's direction "
                                 f"{self.direction_prev.shape}")
            eta = self.lr
            candidate = self._momentum.propose(
                eta, first_order_increment(hypergradient(self.direction_prev, grad), self.alpha))
            accepted = self._propose(candidate, self.delta)
            self._momentum.commit(accepted, accepted and candidate < self.delta, self.lr - eta)
        direction = grad if phi is None else phi.d
        if np.all(np.isfinite(direction)):
            if self.direction_prev is None or self.direction_prev.dtype != direction.dtype:
                self.direction_prev = np.array(direction)  # copies
            else:
                np.copyto(self.direction_prev, direction)  # a copy, never a reference
        else:
            self.direction_prev = None
        return self.lr
