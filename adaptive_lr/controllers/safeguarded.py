"""A second-order learning-rate controller that is stable on mini-batches (beyond the paper).

The paper's pure Newton step on the rate (Eq. 16, ``delta`` only if the denominator is exactly 0)
overshoots on mini-batches: the line loss ``f_B(eta) = L_B(w - eta g_B)`` of the batch that
produced ``g_B`` has its minimum far out, because ``g_B`` is strongly aligned with its own
batch's loss (``docs/design.md``, the delta rule). :class:`SafeguardedSecondOrderLR` keeps the
idea (a Newton step on ``eta`` from five probe losses, Eq. 12-16) and adds named, switchable
safeguards; with all of them off it *is* Eq. 16 (:class:`SecondOrderLR` with
``delta_rule="if-zero"``). Their measured effect is in ``docs/safeguarded.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..finite_diff import (
    first_derivative,
    probe_points,
    second_derivative,
    smooth_denominator,
    unpack,
)
from ..probe import evaluate_probe
from .base import LearningRateController, RateState, check_nonnegative, check_positive
from .rate_update import accept_rate
from .safeguards import check_flag, ema, trust_region
from .second_order import newton_step


@dataclass(frozen=True)
class SafeguardedState(RateState):
    next_lr: float = 0.0  #: eta(k+1)
    curvature: float = 0.0  #: A, the averaged f''
    intercept: float = 0.0  #: B, the averaged f' - f'' eta
    slope: float = 0.0  #: S, the averaged f'
    n_fallback: int = 0
    n_clipped: int = 0
    n_shortened: int = 0


class _Proposal(NamedTuple):
    candidate: float  #: the proposed eta(k+1), before the trust region
    raises_loss: bool  #: the convex model says a step at eta(k) raises the loss
    fallback: bool  #: a fallback made the proposal


class SafeguardedSecondOrderLR(LearningRateController):
    """Newton's method on the *averaged* line loss, with a trust region and a fallback.

    One step at rate ``eta(k)``:

    1. ``eps_k = max(relative_eps * eta(k), eps)`` (or the fixed ``eps``); probe
       ``f`` at ``eta(k) + eps_k * [-2, -1, 0, 1, 2]`` (five losses, one fused call);
    2. ``f'_k`` by Eq. 15, ``f''_k`` by Eq. 14;
    3. averaging: ``A <- ema(A, f''_k)``, ``B <- ema(B, f'_k - f''_k eta(k))``; the averaged
       derivative at ``eta(k)`` is ``F1 = B + A eta(k)`` and the curvature ``F2 = A``
       (without averaging, ``F1 = f'_k``, ``F2 = f''_k``); ``S = ema(S, f'_k)``;
    4. if ``F2 > 0``: Newton, ``eta' = eta(k) - F1 / F2`` (Eq. 10); otherwise, with the
       fallback, ``eta' = eta(k) / r`` if ``S > 0`` and ``eta' = eta(k)`` otherwise
       (``r = trust_ratio`` or 2); without it, Eq. 16 as the authors' code reads Eq. 17-18
       (``F2 = delta / (4 eps^2)`` only if ``F2 == 0``); with the target fallback, a Newton
       target ``eta' <= 0`` becomes ``eta(k) / r``;
    5. trust region: ``eta' <- min(eta', eta(k) * trust_ratio)`` (decreases are not limited);
    6. ``eta(k+1) = max(eta', delta)`` (Eq. 19). :meth:`step` returns ``eta(k)``, the rate
       of this step's update (Sec. 4.1's order), except that with ``no_increasing_step`` a step
       the convex model predicts to raise the loss (``eta(k) > 2 * target``) is taken at
       ``eta(k+1)`` instead.

    Parameters
    ----------
    eta : float > 0
        Initial learning rate.
    average : float in [0, 1), default 0.99
        EMA coefficient of the derivative model (0 = off). *Why:* one batch's Newton target is
        noisy and, on the batch that made the gradient, biased large; Newton on the averaged
        model estimates the step that minimises the expected line loss. Averaging ``A`` and
        ``B`` (not ``f'`` and ``f''`` at drifting ``eta``) has no lag: on a fixed quadratic
        every step's target is the minimum, and so is their average.
    trust_ratio : float > 1 or None, default 2.0
        Largest factor by which ``eta`` may grow in one step (None = off). *Why:* a single
        bad estimate (tiny or noisy ``f''``) cannot raise ``eta`` by orders of magnitude; a
        start that is too small by ``10^m`` is corrected in ``m log(10) / log(r)`` steps.
        Decreases are not limited: with a two-sided region, Boston from the paper's
        ``eta0 = 1e-2`` (far above its line minima) spends steps at a diverging rate while it
        halves its way down (10 spikes, the loss up to 1e35 times the first;
        ``python benchmarks/bench_safeguarded.py --tables boston``).
    curvature_fallback : bool, default True
        When the (averaged) curvature is not positive, divide ``eta`` by ``r`` if the averaged
        slope ``S`` is positive and keep it otherwise, instead of taking the Newton step (which
        then points to a maximum, or is infinite). *Why:* Newton is only meaningful on a convex
        model; without one, a rising loss is reason enough to step back, but a falling one is
        no reason to step forward: on a flat, noisy line loss the sign of ``S`` is noise. A
        variant that also multiplied ``eta`` by ``r`` when ``S < 0`` sends the rate up through
        runs of 14-29 consecutive doublings on LeNet (held-out probes, CIFAR-10 subset), to
        final rates of 9.6 to 3.7e19 after 5 epochs (``docs/safeguarded.md``, ablation).
    target_fallback : bool, default True
        When the Newton target is not positive, divide ``eta`` by ``r`` instead of dropping it
        to the floor ``delta`` of Eq. 19 in one step. *Why:* a target ``<= 0`` says only that
        the averaged model has no minimum on the positive axis, i.e. the sign of its slope,
        which is all the curvature fallback uses too. With held-out probes near the noise floor
        the averaged intercept ``B`` is a small number whose noise makes it cross zero now and
        then; without the fallback each crossing drops ``eta`` to the floor 1e-6 in one step,
        with it ``eta`` halves per step (MNIST, ``docs/safeguarded.md``, ablation: accuracy
        0.9123-0.9137 with it, 0.9104-0.9111 without). Positive targets, however small, still
        take effect at once (see ``trust_ratio``).
    no_increasing_step : bool, default True
        When the Newton target (``F2 > 0``) lies below ``eta(k) / 2``, take *this* step at the
        new rate ``eta(k+1)`` rather than at ``eta(k)``. *Why:* on the convex quadratic model
        with its minimum at ``t``, ``f(eta) - f(0) = F2 eta (eta - 2 t) / 2``, so a step at
        ``eta(k) > 2 t`` raises the probed loss; the probes have already said so, and in the
        paper's order (probe at ``eta(k)``, step at ``eta(k)``, move the rate) the step would be
        taken anyway. Measured on Boston from the paper's ``eta0 = 1e-2``, far above its line
        minima: without it the first step multiplies the loss by 6.8e6 before the rate drops
        (``python benchmarks/bench_safeguarded.py --tables boston``).
        Smaller targets are not affected: the step stays at the probed ``eta(k)``.
    relative_eps : float > 0 or None, default 1e-3
        Finite-difference step ``eps_k = max(relative_eps * eta(k), eps)`` (None = the fixed
        ``eps``).
        *Why:* Eq. 14's denominator is ``4 eps^2 f''``; a fixed ``eps = 1e-5`` makes it
        ``4e-10 f''``, fine in float64 but below float32 rounding of a loss near 1
        (``docs/design.md``, float64 by default), and not scale-free (the method would change
        if ``eta`` were rescaled). A step proportional to ``eta`` keeps the truncation error
        (``eps^2 f''''/3``, Eq. 14) at a fixed relative size and the rounding error
        ``~u |f| / eps^2`` away from ``f''``. The floor ``eps`` matters near the floor of
        ``eta``: at ``eta = 1e-6`` a purely relative step ``1e-9`` would make ``f''`` pure
        rounding noise (``1e-16 / 1e-18 ~ 100``), and a negative "curvature" from noise once sent
        ``eta`` up by ``r`` per step until it overflowed.
    eps : float > 0, default 1e-5
        Fixed finite-difference step (the paper's value), and the floor of ``eps_k``.
    delta : float >= 0, default 1e-6
        Floor of Eq. 19, and the ``if-zero`` smoothing of Eq. 18 when the fallback is off.

    Attributes
    ----------
    state : SafeguardedState
        ``lr`` (the rate of the last update), ``next_lr`` (``eta(k+1)``), the averaged
        ``curvature``, ``intercept`` and ``slope`` (``A``, ``B``, ``S``; 0 before the first
        step), and the counts ``n_fallback``, ``n_clipped``, ``n_shortened`` of steps that used
        the curvature or target fallback / were clipped by the trust region / were taken at the
        new rate by ``no_increasing_step``.
    last_f : ndarray (5,) or None
        The five probe losses of the last step (a diagnostic, not part of the state).
    last_loss : float or None
        ``f(eta(k))`` of the last step.

    Notes
    -----
    Cost per step: the five probe losses (5 forward passes, fused), on top of the gradient's
    1 forward + 1 backward pass: the same as :class:`SecondOrderLR`. The fifth safeguard,
    probing on a batch independent of the gradient's (Sec. 5.3, Eq. 22-23), is the training
    loop's choice: ``train(..., probe_on="validation")`` with a held-out split.

    Examples
    --------
    >>> from adaptive_lr.finite_diff import probe_points
    >>> quad = lambda etas: (np.asarray(etas) - 0.3) ** 2      # a stub probe: minimum at 0.3
    >>> c = SafeguardedSecondOrderLR(0.01)
    >>> [round(c.step(None, quad), 4) for _ in range(7)]       # doubles, then lands on 0.3
    [0.01, 0.02, 0.04, 0.08, 0.16, 0.3, 0.3]
    """

    State = SafeguardedState

    def __init__(self, eta, *, average=0.99, trust_ratio=2.0, curvature_fallback=True,
                 target_fallback=True, no_increasing_step=True, relative_eps=1e-3, eps=1e-5,
                 delta=1e-6):
        super().__init__(eta)
        self.state = replace(self.state, next_lr=self.lr)
        self.average = check_nonnegative("average", average)
        if not self.average < 1:
            raise ValueError(f"average must lie in [0, 1), got {average!r}")
        if trust_ratio is not None:
            trust_ratio = check_positive("trust_ratio", trust_ratio)
            if not trust_ratio > 1:
                raise ValueError(f"trust_ratio must be > 1 or None, got {trust_ratio!r}")
        self.trust_ratio = trust_ratio
        self.curvature_fallback = check_flag("curvature_fallback", curvature_fallback)
        self.target_fallback = check_flag("target_fallback", target_fallback)
        self.no_increasing_step = check_flag("no_increasing_step", no_increasing_step)
        self.relative_eps = None if relative_eps is None else check_positive(
            "relative_eps", relative_eps)
        self.eps = check_positive("eps", eps)
        self.delta = check_nonnegative("delta", delta)
        self.last_f: np.ndarray | None = None
        self.last_loss: float | None = None

    @property
    def factor(self) -> float:
        """``r``: the trust ratio, or 2 without a trust region (the fallbacks' step factor)."""
        return 2.0 if self.trust_ratio is None else self.trust_ratio

    def step_eps(self, eta: float) -> float:
        """The finite-difference step used at rate ``eta``."""
        if self.relative_eps is None:
            return self.eps
        return max(self.relative_eps * eta, self.eps)

    def step(self, grad, phi) -> float:
        eta = self.state.next_lr
        eps = self.step_eps(eta)
        f = evaluate_probe(phi, probe_points(eta, eps))  # steps 1-2 of the class docstring
        self.last_f, self.last_loss = f, float(f[2])
        averaged = self._derivative_model(f, eta, eps) if np.all(np.isfinite(f)) else None
        if averaged is None:  # a non-finite probe or average: rejected, nothing changes
            self._advance(rejected=True, lr=eta)
            return eta
        (F1, F2), model = averaged
        proposal = self._propose(F1, F2, model["slope"], eta, eps)  # step 4
        clipped = trust_region(proposal.candidate, eta, self.trust_ratio)  # step 5
        update = accept_rate(clipped, eta, self.delta)  # step 6, Eq. 19
        shorten = update.accepted and proposal.raises_loss and self.no_increasing_step
        used = update.lr if shorten else eta
        self.last_info = {"F1": F1, "F2": F2, "candidate": proposal.candidate,
                          "fallback": proposal.fallback, "clipped": clipped != proposal.candidate,
                          "shortened": shorten}
        s = self.state
        self._advance(rejected=not update.accepted, lr=used, next_lr=update.lr,
                      n_fallback=s.n_fallback + proposal.fallback,
                      n_clipped=s.n_clipped + (update.accepted and clipped != proposal.candidate),
                      n_shortened=s.n_shortened + shorten, **model)
        return used

    def _derivative_model(self, f, eta: float, eps: float):
        """Step 3: ``((F1, F2), {curvature, intercept, slope})`` from the probes, or ``None``
        when an average is not finite."""
        f_m2, f_m1, f0, f_p1, f_p2 = unpack(f)
        d1 = first_derivative(f_m1, f_p1, eps)  # Eq. 15
        d2 = second_derivative(f_m2, f0, f_p2, eps)  # Eq. 14
        s, a = self.state, self.average
        if a == 0:
            model = {"curvature": d2, "intercept": d1 - d2 * eta, "slope": d1}
        else:
            model = {"curvature": ema(s.curvature, d2, a),
                     "intercept": ema(s.intercept, d1 - d2 * eta, a),
                     "slope": ema(s.slope, d1, a)}
        if not all(map(math.isfinite, model.values())):  # an overflow: nothing is stored
            return None
        if a == 0:
            return (d1, d2), model
        # The EMA's start-up bias (1 - average^k) cancels in the ratio F1 / F2.
        return (model["intercept"] + model["curvature"] * eta, model["curvature"]), model

    def _propose(self, F1: float, F2: float, slope: float, eta: float, eps: float) -> _Proposal:
        """Step 4: Newton on a convex model, otherwise the fallbacks."""
        if F2 > 0 or not self.curvature_fallback:
            if F2 == 0:  # Eq. 17-18, "if-zero": the denominator 4 eps^2 F2 is exactly 0
                F2 = smooth_denominator(0.0, self.delta, "if-zero") / (4 * eps * eps)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                candidate = float(newton_step(np.float64(eta), np.float64(F1),
                                              np.float64(F2)))  # Eq. 10
            raises_loss = F2 > 0 and eta > 2 * candidate  # f(eta) > f(0) on the model
            if self.target_fallback and candidate <= 0:
                return _Proposal(eta / self.factor, raises_loss, True)
            return _Proposal(candidate, raises_loss, False)
        # The sign of the averaged slope, not of F1: with A <= 0 the model's
        # extrapolation B + A eta is meaningless far from the etas it was measured at.
        return _Proposal(eta / self.factor if slope > 0 else eta, False, True)

    def __repr__(self) -> str:
        return (f"SafeguardedSecondOrderLR(lr={self.lr:.6g}, average={self.average:g}, "
                f"trust_ratio={self.trust_ratio}, curvature_fallback={self.curvature_fallback}, "
                f"target_fallback={self.target_fallback}, "
                f"no_increasing_step={self.no_increasing_step}, "
                f"relative_eps={self.relative_eps}, eps={self.eps:g}, delta={self.delta:g})")
