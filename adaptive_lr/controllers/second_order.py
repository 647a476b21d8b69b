"""The second-order method: a finite-difference Newton step on the learning rate (Eq. 9-21)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arguments import check_choice
from ..finite_diff import (
    DELTA_RULES,
    newton_denominator,
    newton_increment,
    newton_numerator,
    probe_points,
    smooth_denominator,
    unpack,
)
from ..probe import evaluate_probe
from .base import (
    LearningRateController,
    RateState,
    check_beta,
    check_nonnegative,
    check_positive,
)
from .rate_update import probe_update


def newton_step(eta: float, f1: float, f2: float) -> float:
    """Eq. 10: ``eta - f'(eta) / f''(eta)``. Eq. 16 is this step with ``f'`` from Eq. 15 and
    ``f''`` from Eq. 14 (written as one fraction of loss differences).

    >>> newton_step(1.0, -4.0, 2.0)          # f = (eta - 3)^2 at 1: lands on 3
    3.0
    """
    return eta - f1 / f2


def newton_info(f, delta: float, rule: str) -> dict:
    """The internals of one step of Eq. 16 / 18: its numerator ``f(eta+eps) - f(eta-eps)``,
    its denominator before and after Eq. 17-18, and whether ``delta`` dominated it (more than
    half of the smoothed denominator)."""
    f_m2, f_m1, f0, f_p1, f_p2 = unpack(f)
    den = newton_denominator(f_m2, f0, f_p2)
    smoothed = smooth_denominator(den, delta, rule)
    return {"numerator": newton_numerator(f_m1, f_p1), "denominator": den,
            "smoothed": smoothed, "delta_dominates": smoothed != den and delta > abs(den)}


@dataclass(frozen=True)
class SecondOrderState(RateState):
    next_lr: float = 0.0  #: eta(k+1), the rate of the next step (computed in step k)
    velocity: float = 0.0  #: v of Eq. 20-21


class SecondOrderLR(LearningRateController):
    """Newton's method on ``f(eta) = L(w - eta g)`` with derivatives from five probe losses.

    One step, in the paper's order (Sec. 4.1):

    1. probe ``f`` at ``eta(k) + eps * [-2, -1, 0, 1, 2]`` (five losses, one fused call);
    2. ``L(k+1) = f(eta(k))`` (kept in ``last_loss``);
    3. the weight update uses ``eta(k)``: that is what :meth:`step` returns (and ``lr`` then);
    4. ``eta(k+1) = eta(k) - 2 eps (f(eta+eps) - f(eta-eps)) / (f(eta+2eps) + f(eta-2eps)
       - 2 f(eta) [+ delta])`` (Eq. 16 / 18), with momentum (Eq. 20-21) when ``beta > 0``,
       then ``eta(k+1) = max(eta(k+1), delta)`` (Eq. 19); kept in ``state.next_lr``.

    Parameters
    ----------
    eta : float > 0
        Initial learning rate.
    eps : float > 0, default 1e-5
        Finite-difference step (the paper's value for every experiment).
    delta : float >= 0, default 1e-6
        Smoothing of Eq. 17-18 and floor of Eq. 19. With ``delta = 0`` (the exact identities
        of the tests) a negative proposal makes the next rate exactly 0, a step that does not
        move ``w`` (:func:`~adaptive_lr.controllers.rate_update.clamp_rate`).
    delta_rule : {"always", "if-zero"}, default "always"
        How Eq. 17-18 are read; the two readings are different methods:

        * ``"always"`` (Eq. 18 as printed): ``delta`` is added to every denominator. The
          denominator is about ``4 eps^2 f''`` (``4e-10 f''`` for ``eps = 1e-5``), so next to
          ``delta = 1e-6`` the step is ``-(4 eps^2 / delta) f'(eta)`` whenever
          ``f'' << delta / (4 eps^2) = 2500``: gradient descent on ``eta`` with meta rate
          ``4 eps^2 / delta = 4e-4``, where ``f'`` is the derivative of *this* batch's line
          loss at ``eta(k)``. With a full batch that is :class:`FirstOrderLR` with
          ``alpha = 4e-4`` (hypergradient descent); on mini-batches it is not (Eq. 8 takes the
          next batch's gradient) and settles at a much larger rate. This is what reproduces
          the paper's ``eta ~ 0.4`` on MNIST.
        * ``"if-zero"`` (the authors' code): ``delta`` is added only when the denominator is
          exactly 0: the pure Newton step on the *batch's own* line loss, which overshoots on
          mini-batches in float64. See ``docs/design.md`` and REPRODUCTION.md.
    beta : float in [0, 1), default 0
        Momentum on the learning-rate update (Eq. 20-21; the paper tried 0.9).

    Attributes
    ----------
    last_f : ndarray (5,) or None
        The five probe losses of the last step (a diagnostic, not part of the state).
    last_loss : float or None
        ``L(k+1) = f(eta(k))`` of the last step.

    Notes
    -----
    On a quadratic ``f`` (linear regression, full batch) Eq. 15 and 14 are exact, so with
    ``delta = 0`` one step lands on the exact line minimum ``eta* = d.g / (d.H d)``; used one
    step later, as Sec. 4.1 orders it, that is the Barzilai-Borwein step ``s.s / s.y``.
    """

    State = SecondOrderState

    def __init__(self, eta, eps=1e-5, delta=1e-6, delta_rule="always", *, beta=0.0):
        super().__init__(eta)
        self.state = replace(self.state, next_lr=self.lr)
        self.eps = check_positive("eps", eps)
        self.delta = check_nonnegative("delta", delta)
        self.delta_rule = check_choice("delta_rule", delta_rule, DELTA_RULES)
        self.beta = check_beta(beta)
        self.last_f: np.ndarray | None = None
        self.last_loss: float | None = None

    def step(self, grad, phi) -> float:
        eta = self.state.next_lr
        f = evaluate_probe(phi, probe_points(eta, self.eps))  # Eq. 4 at the five points
        self.last_f, self.last_loss = f, float(f[2])
        self.last_info = newton_info(f, self.delta, self.delta_rule)
        update = probe_update(  # Eq. 16 / 18, then Eq. 20, 21, 19
            eta, f, lambda f: newton_increment(f, self.eps, self.delta, self.delta_rule),
            delta=self.delta, velocity=self.state.velocity, beta=self.beta)
        self._advance(rejected=not update.accepted, lr=eta, next_lr=update.lr,
                      velocity=update.velocity)
        return eta

    def __repr__(self) -> str:
        return (f"SecondOrderLR(lr={self.lr:.6g}, eps={self.eps:g}, delta={self.delta:g}, "
                f"delta_rule={self.delta_rule!r}, beta={self.beta:g})")
