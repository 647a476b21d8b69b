"""GeN, the generalized Newton's method for the rate (Bu & Xu, "Gradient descent with
generalized Newton's method", ICLR 2025; arXiv:2407.02772)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..probe import evaluate_probe
from .armijo import check_count
from .base import LearningRateController, RateState, check_nonnegative, check_positive

#: GeN's stencil, in units of the current rate: ``f(-eta), f(eta), f(0)``.
STENCIL = np.array([-1.0, 1.0, 0.0])


def parabola(f_minus: float, f_plus: float, f0: float, eta: float) -> tuple[float, float]:
    """The parabola ``f(x) - f(0) = A x^2 / 2 - B x`` through the losses at ``x = -eta, 0,
    +eta`` along the line (``x`` the rate): ``A = (f(eta) + f(-eta) - 2 f(0)) / eta^2``
    (``d.H d``) and ``B = (f(-eta) - f(eta)) / (2 eta)`` (``g.d``). With three points and two
    coefficients the least-squares fit of Bu & Xu's code interpolates.

    >>> parabola(9.0, 1.0, 4.0, 1.0)    # f(x) = (x - 2)^2: A = 2, B = 4, minimum B / A = 2
    (2.0, 4.0)
    """
    return (f_plus + f_minus - 2.0 * f0) / (eta * eta), (f_minus - f_plus) / (2.0 * eta)


@dataclass(frozen=True)
class GeNState(RateState):
    n_updates: int = 0  #: steps that fitted a parabola (one in ``every``)
    n_accepted: int = 0  #: fits that passed the conditions ``A > 0`` and ``B > 0``


class GeNLR(LearningRateController):
    """GeN-SGD: every ``every`` steps, the rate moves towards the minimum of a parabola fitted
    to the line loss at ``eta * {-1, 0, +1}``.

    On a fitting step, with ``A``, ``B`` from :func:`parabola` (three probe losses, three
    forward passes):

    * accepted only if ``A > 0`` and ``B > 0`` (a convex parabola with a descent slope; their
      code also asks ``R^2 > 0.99`` of the fit, which three points always meet);
    * ``eta <- smooth * eta + (1 - smooth) * clip(B / A, eta / 2, 2 eta)``, ``smooth = 0.9``
      (their ``lr_parabola``, with ``scale = 1``: no horizon-dependent decay);
    * the step is taken at the new rate (their code sets the rate, then calls
      ``optimizer.step()``).

    Other steps use the rate unchanged and evaluate nothing.

    How it differs from the paper's Eq. 16 (:class:`SecondOrderLR`), its nearest relative:

    * stencil: GeN probes at ``0`` and ``+-eta`` and takes the Newton step from ``eta = 0``
      (``B / A = -f'(0) / f''(0)``), a secant fit over the whole step; Eq. 16 probes at
      ``eta(k) + eps * {-2, -1, 0, 1, 2}`` with ``eps = 1e-5`` and takes the Newton step from
      ``eta(k)``, local derivatives. On a quadratic both land on the line minimum; the wide
      stencil's curvature is ``4 eps^2 / eta^2`` times less exposed to rounding (``eta = 0.1``:
      ``2.5e7`` times), which is why GeN needs no ``delta`` rule;
    * batch: Bu & Xu fit on the *next* training batch (``next(tr_iter)``), independent of the
      gradient's; here the probe is the step's own batch with its dropout masks
      (``train(..., probe_on="validation")`` gives an independent batch, of held-out data);
    * safeguards: GeN accepts a fit only when ``A > 0`` and ``B > 0``, moves at most a factor
      2 from ``eta`` and then averages with weight 0.9, so the rate changes by at most
      ``+10 %`` / ``-5 %`` per fit; Eq. 16 has only the floor ``delta`` (Eq. 19);
    * frequency: every ``every`` steps (their "lazy" update, ``lazy_freq >= 4``), not every
      step.

    Parameters
    ----------
    eta : float > 0
        Initial rate.
    every : int >= 1, default 4
        Fit a parabola on one step in ``every``: steps ``every``, ``2 every``, ... (their
        ``lazy_freq``).
    smooth : float in [0, 1), default 0.9
        Weight of the old rate (their ``smooth``).
    delta : float > 0, default 1e-6
        Floor of the rate (the package's Eq. 19 floor; not in GeN).

    Notes
    -----
    Their code halves the rate when the fit raises an exception (a NaN loss); here a
    non-finite probe is rejected like in every controller: the rate is kept and the rejection
    counted.
    """

    State = GeNState

    def __init__(self, eta, *, every=4, smooth=0.9, delta=1e-6):
        super().__init__(eta)
        self.every = check_count("every", every)
        self.smooth = check_nonnegative("smooth", smooth)
        if not self.smooth < 1:
            raise ValueError(f"smooth must lie in [0, 1), got {smooth!r}")
        self.delta = check_positive("delta", delta)

    def step(self, grad, phi) -> float:
        s = self.state
        eta = self.lr
        if (s.n_steps + 1) % self.every != 0:  # their loop: (batch_idx + 1) % lazy_freq == 0
            self.last_info = {"fitted": False}
            self._advance()
            return eta
        f_minus, f_plus, f0 = (float(v) for v in evaluate_probe(phi, eta * STENCIL))
        with np.errstate(over="ignore", invalid="ignore"):
            A, B = parabola(f_minus, f_plus, f0, eta)
        info = {"fitted": True, "A": A, "B": B, "target": B / A if A != 0 else math.nan}
        if not all(map(math.isfinite, (f_minus, f_plus, f0, A, B))):
            self.last_info = {**info, "accepted": False}
            self._advance(rejected=True, n_updates=s.n_updates + 1)
            return eta
        accepted = A > 0 and B > 0
        new = eta
        if accepted:
            target = min(max(B / A, eta / 2), 2 * eta)
            new = max(self.smooth * eta + (1 - self.smooth) * target, self.delta)
        self.last_info = {**info, "accepted": accepted}
        self._advance(lr=new, n_updates=s.n_updates + 1, n_accepted=s.n_accepted + accepted)
        return new

    def __repr__(self) -> str:
        return f"GeNLR(lr={self.lr:.6g}, every={self.every}, smooth={self.smooth:g})"

