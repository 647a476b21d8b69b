"""The first-order method: gradient descent on the learning rate (Eq. 5-8)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arguments import check_choice
from ..finite_diff import first_derivative
from ..probe import DirectionalProbe, evaluate_probe, line_slope
from .base import (
    LearningRateController,
    RateState,
    check_beta,
    check_gradient,
    check_nonnegative,
    check_positive,
)
from .rate_update import RateUpdate, apply_increment, probe_update

#: Where ``f'(eta)`` comes from (see :class:`FirstOrderLR`).
DERIVATIVES = ("next-gradient", "probe")


def hypergradient(direction_prev: np.ndarray, grad: np.ndarray) -> float:
    """Eq. 8: ``f'(eta(t)) = -d(t) . g(t+1)``, Eq. 7 at ``eta(t)``, where ``w(t) - eta(t) d(t)``
    is ``w(t+1)`` and the gradient there is the next step's (``d = g`` for SGD).

    >>> hypergradient(np.array([1.0, 2.0]), np.array([3.0, -1.0]))
    -1.0
    """
    return line_slope(direction_prev, grad)


def first_order_increment(hypergrad: float, alpha: float) -> float:
    """Eq. 6: the change ``-alpha f'(eta)`` of the learning rate.

    >>> first_order_increment(-2.0, 0.25)
    0.5
    """
    return -alpha * hypergrad


@dataclass(frozen=True)
class FirstOrderState(RateState):
    velocity: float = 0.0  #: v of Eq. 20-21
    direction_prev: np.ndarray | None = None  #: d(t), copied ("next-gradient")
    next_lr: float = 0.0  #: eta(k+1) ("probe"; equal to ``lr`` in "next-gradient")


class FirstOrderLR(LearningRateController):
    """Gradient descent on ``eta`` (Eq. 6), ``eta <- max(eta - alpha f'(eta), delta)``.

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
    derivative : {"next-gradient", "probe"}, default "next-gradient"
        Where ``f'`` comes from:

        * ``"next-gradient"`` (Eq. 8, the paper's analytic rule): at step ``t+1`` the new
          gradient gives ``f'(eta(t)) = -d(t) . g(t+1)``, the derivative of the *previous*
          step's line loss, and ``eta(t+1) = eta(t) - alpha f'(eta(t))`` is used at once, for
          this step's update (the first step uses ``eta``). The probe is not evaluated. With
          full batches this is hypergradient descent (Baydin et al., 2018).
        * ``"probe"`` (Eq. 15 on the probe, "finite differences where more convenient",
          Sec. 3.1): ``f'(eta(k))`` is the central difference of ``phi`` at ``eta(k) +- eps``
          (two forward passes), the update uses ``eta(k)`` and ``eta(k+1)`` is computed for the
          next step, in the order of Sec. 4.1. On a held-out probe
          (``train(..., probe_on="validation")``) it is the first-order rule on the validation
          loss; on the training batch it differentiates *this* batch's line loss.
    eps : float > 0, default 1e-5
        The step of Eq. 15 (``derivative="probe"`` only).

    Notes
    -----
    ``d(t)`` is the direction of the previous step, read from ``phi.d`` when the probe has it
    (so the rule stays exact when the step direction is not the raw gradient) and otherwise
    taken to be the previous gradient. The state keeps its own *copy* of it: a reference to a
    buffer that the caller later overwrites or zeroes would make ``f'`` wrong (the authors' code
    zeroed the buffer, so ``eta`` could only grow). A non-finite direction is not kept, and the
    next step skips its correction.

    Examples
    --------
    >>> c = FirstOrderLR(0.125, alpha=0.0625)
    >>> c.step(np.array([1.0, 0.0]))          # first step: nothing to correct
    0.125
    >>> c.step(np.array([2.0, 5.0]))          # f' = -(1*2 + 0*5) = -2: eta grows by 0.125
    0.25
    """

    State = FirstOrderState

    def __init__(self, eta, alpha, *, delta=1e-6, beta=0.0, derivative="next-gradient",
                 eps=1e-5):
        super().__init__(eta)
        self.state = replace(self.state, next_lr=self.lr)
        self.alpha = check_nonnegative("alpha", alpha)
        self.delta = check_nonnegative("delta", delta)
        self.beta = check_beta(beta)
        self.derivative = check_choice("derivative", derivative, DERIVATIVES)
        self.eps = check_positive("eps", eps)

    def step(self, grad: np.ndarray, phi=None) -> float:
        if self.derivative == "probe":
            return self._step_on_probe(phi)
        s = self.state
        grad = check_gradient(grad)
        update = RateUpdate(s.lr, s.velocity, True)
        if s.direction_prev is not None:
            if s.direction_prev.shape != grad.shape:
                raise ValueError(f"grad has shape {grad.shape}, the previous step's direction "
                                 f"{s.direction_prev.shape}")
            hyper = hypergradient(s.direction_prev, grad)  # Eq. 8
            increment = first_order_increment(hyper, self.alpha)  # Eq. 6
            self.last_info = {"hypergradient": hyper, "increment": increment}
            update = apply_increment(s.lr, increment, delta=self.delta,  # Eq. 20, 21, 19
                                     velocity=s.velocity, beta=self.beta)
        d = (check_gradient(phi.d, "phi.d", grad.shape) if isinstance(phi, DirectionalProbe)
             else grad)
        kept = np.array(d) if np.all(np.isfinite(d)) else None  # a copy, never a reference
        self._advance(rejected=not update.accepted, lr=update.lr, next_lr=update.lr,
                      velocity=update.velocity, direction_prev=kept)
        return self.lr

    def _step_on_probe(self, phi) -> float:
        eta, eps = self.state.next_lr, self.eps
        f = evaluate_probe(phi, np.array([eta - eps, eta + eps]))
        update = probe_update(  # Eq. 15, Eq. 6, then Eq. 20, 21, 19
            eta, f, lambda f: first_order_increment(first_derivative(
                float(f[0]), float(f[1]), eps), self.alpha),
            delta=self.delta, velocity=self.state.velocity, beta=self.beta)
        self._advance(rejected=not update.accepted, lr=eta, next_lr=update.lr,
                      velocity=update.velocity)
        return eta

    def __repr__(self) -> str:
        return (f"FirstOrderLR(lr={self.lr:.6g}, alpha={self.alpha:g}, delta={self.delta:g}, "
                f"beta={self.beta:g}, derivative={self.derivative!r})")
