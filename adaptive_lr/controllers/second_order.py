"""The second-order method: a finite-difference Newton step on the learning rate (Eq. 9-21)."""

from __future__ import annotations

import numpy as np

from ..finite_diff import DELTA_RULES, newton_increment, probe_points
from .base import LearningRateController, check_beta, check_nonnegative, check_positive
from .momentum import LRMomentum, WithLRMomentum


class SecondOrderLR(WithLRMomentum, LearningRateController):
    """Newton's method on ``f(eta) = L(w - eta g)`` with derivatives from five probe losses.

    One step, in the paper's order (Sec. 4.1):

    1. probe ``f`` at ``eta(k) + eps * [-2, -1, 0, 1, 2]`` (five losses, one fused call);
    2. ``L(k+1) = f(eta(k))`` (kept in ``last_loss``);
    3. the weight update uses ``eta(k)``: that is what :meth:`step` returns;
    4. ``eta(k+1) = eta(k) - 2 eps (f(eta+eps) - f(eta-eps)) / (f(eta+2eps) + f(eta-2eps)
       - 2 f(eta) [+ delta])`` (Eq. 16 / 18), with momentum (Eq. 20-21) when ``beta > 0``,
       then ``eta(k+1) = max(eta(k+1), delta)`` (Eq. 19).

    Parameters
    ----------
    eta : float > 0
        Initial learning rate.
    eps : float > 0, default 1e-5
        Finite-difference step (the paper's value for every experiment).
    delta : float >= 0, default 1e-6
        Smoothing of Eq. 17-18 and floor of Eq. 19.
    delta_rule : {"always", "if-zero"}, default "always"
        How Eq. 17-18 are read; the two readings are different methods:

        * ``"always"`` (Eq. 18 as printed): ``delta`` is added to every denominator. The
          denominator is about ``4 eps^2 f''`` (``4e-10 f''`` for ``eps = 1e-5``), so next to
          ``delta = 1e-6`` the step is ``-(4 eps^2 / delta) f'(eta)`` whenever
          ``f'' << delta / (4 eps^2) = 2500``: in effect the *first-order* rule with meta rate
          ``4 eps^2 / delta = 4e-4``. This is what reproduces the paper's ``eta ~ 0.4`` on MNIST.
        * ``"if-zero"`` (the authors' code): ``delta`` is added only when the denominator is
          exactly 0. In float64 this is the pure Newton step on the *batch's own* line loss,
          which overshoots on mini-batches (``eta`` in the thousands on MNIST after two epochs);
          in float32 the denominator is mostly rounding noise, which is what tamed it in the
          authors' runs. See DESIGN.md and REPRODUCTION.md.
    beta : float in [0, 1), default 0
        Momentum on the learning-rate update (Eq. 20-21; the paper tried 0.9).

    Attributes
    ----------
    last_f : ndarray (5,) or None
        The five probe losses of the last step.
    last_loss : float or None
        ``L(k+1) = f(eta(k))`` of the last step.

    Notes
    -----
    On a quadratic ``f`` (linear regression, full batch) Eq. 15 and 14 are exact, so with
    ``delta = 0`` one step lands on the exact line minimum ``eta* = d.g / (d.H d)``; for SGD
    that is the Barzilai-Borwein-like exact line search.
    """

    needs_probe = True
    _state_fields = LearningRateController._state_fields + ("velocity",)

    def __init__(self, eta, eps=1e-5, delta=1e-6, delta_rule="always", *, beta=0.0):
        super().__init__(eta)
        self.eps = check_positive("eps", eps)
        self.delta = check_nonnegative("delta", delta)
        if delta_rule not in DELTA_RULES:
            raise ValueError(f"delta_rule must be one of {DELTA_RULES}, got {delta_rule!r}")
        self.delta_rule = delta_rule
        self.beta = check_beta(beta)
        self._momentum = LRMomentum(self.beta)
        self.last_f: np.ndarray | None = None
        self.last_loss: float | None = None

    def step(self, grad, phi) -> float:
        if phi is None:
            raise ValueError("SecondOrderLR.step needs a probe phi (it evaluates f(eta))")
        self.n_steps += 1
        eta = self.lr
        f = np.asarray(phi(probe_points(eta, self.eps)), dtype=np.float64)
        self.last_f = f
        self.last_loss = float(f[2])
        if not np.all(np.isfinite(f)):
            self.n_rejected += 1
            self._momentum.velocity = 0.0
            return eta
        increment = newton_increment(f, self.eps, self.delta, self.delta_rule)
        candidate = self._momentum.propose(eta, increment)
        accepted = self._propose(candidate, self.delta)
        self._momentum.commit(accepted, accepted and candidate < self.delta, self.lr - eta)
        return eta

    def __repr__(self) -> str:
        return (f"SecondOrderLR(lr={self.lr:.6g}, eps={self.eps:g}, delta={self.delta:g}, "
                f"delta_rule={self.delta_rule!r}, beta={self.beta:g})")
