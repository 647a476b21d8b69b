"""The stochastic Polyak step (Loizou et al., AISTATS 2021) and ALI-G (Berrada et al., 2020)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..probe import evaluate_probe
from .armijo import check_count, descent_slope
from .base import LearningRateController, RateState, check_nonnegative, check_positive

#: How the Polyak rate is bounded (see :class:`PolyakLR`).
SMOOTHING = ("smooth", "max")


def polyak_rate(f: float, f_star: float, slope: float, c: float, eps: float = 0.0) -> float:
    """The stochastic Polyak step ``(f_i - f*) / (c g.d + eps)`` (SPS, Eq. 5 of Loizou et al.
    with ``g.d = |g_i|^2`` for SGD); 0 when ``f_i < f*``.

    >>> polyak_rate(2.0, 0.0, 8.0, 0.5)             # 2 / (0.5 * 8)
    0.5
    """
    if f < f_star:
        return 0.0
    return (f - f_star) / (c * slope + eps)


@dataclass(frozen=True)
class PolyakState(RateState):
    pass


class PolyakLR(LearningRateController):
    """SPS_max, the stochastic Polyak step, as the authors' code runs it (``sps/sps.py`` of
    github.com/IssamLaradji/sps).

    With ``f_i = L_B(w)`` the batch loss (one probe at ``eta = 0``: one forward pass) and
    ``g.d`` (``|g_i|^2`` for SGD; along another direction ``-f'(0) = g.d``):

    * ``smoothing="smooth"`` (their default ``adapt_flag="smooth_iter"``, the one their
      deep-learning experiments run):
      ``eta(t) = min(f_i / (c g.d + eps), gamma^(1 / n_batches) eta(t-1))``,
      with ``f* = 0``: the bound grows by ``gamma`` per epoch from the previous rate, which
      replaces the paper's constant ``eta_max`` (``eta`` here is their ``init_step_size``);
    * ``smoothing="max"`` (their ``"constant"``, the paper's SPS_max):
      ``eta(t) = min((f_i - f*) / (c g.d + eps), eta_max)``.

    ALI-G (Berrada et al., ICML 2020, without its momentum) is ``smoothing="max"`` with
    ``c = 1``, ``f* = 0`` and its small constant ``delta`` as ``eps``: ``aligd(...)``.

    Parameters
    ----------
    eta : float > 0
        The previous rate of the first step (their ``init_step_size`` = 1).
    c : float > 0, default 0.5
        SPS's ``c`` (the paper's recommendation; their synthetic runs use 0.2).
    smoothing : {"smooth", "max"}, default "smooth"
    gamma : float >= 1, default 2.0
        Growth per epoch of the bound ("smooth").
    n_batches : int >= 1, default 500
        Batches per epoch (their default 500); set it to the run's value.
    eta_max : float > 0, default 10.0
        The constant bound ("max"); the paper tries 1, 5 and 100.
    f_star : float, default 0.0
        The lower bound ``f*`` of the batch losses (0 for cross-entropy and squared error).
    eps : float >= 0, default 1e-8
        Added to the denominator (their code's 1e-8).
    delta : float > 0, default 1e-6
        Floor of the rate (the package's Eq. 19 floor; not in SPS, where a batch at
        ``f_i <= f*`` or a zero gradient gives a rate of 0: in "smooth" mode a rate of 0 would
        bound every later rate to 0, so the floor is needed for a run to recover).

    Notes
    -----
    A non-finite ``f_i``, ``g.d`` or rate is rejected: the rate of the last update is used
    again. When ``g.d <= 0`` the Polyak step is undefined (their code takes a step of 0 for
    ``|g| < 1e-8``); the step is taken at ``delta``.
    """

    State = PolyakState

    def __init__(self, eta, *, c=0.5, smoothing="smooth", gamma=2.0, n_batches=500,
                 eta_max=10.0, f_star=0.0, eps=1e-8, delta=1e-6):
        super().__init__(eta)
        self.c = check_positive("c", c)
        if smoothing not in SMOOTHING:
            raise ValueError(f"smoothing must be one of {SMOOTHING}, got {smoothing!r}")
        self.smoothing = smoothing
        self.gamma = check_positive("gamma", gamma)
        if self.gamma < 1:
            raise ValueError(f"gamma must be >= 1, got {gamma!r}")
        self.n_batches = check_count("n_batches", n_batches)
        self.eta_max = check_positive("eta_max", eta_max)
        if not _finite_number(f_star):
            raise ValueError(f"f_star must be a finite real number, got {f_star!r}")
        self.f_star = float(f_star)
        self.eps = check_nonnegative("eps", eps)
        self.delta = check_positive("delta", delta)

    def bound(self) -> float:
        """The bound of this step: ``gamma^(1/n) eta(t-1)`` ("smooth") or ``eta_max``."""
        if self.smoothing == "smooth":
            return self.gamma ** (1.0 / self.n_batches) * self.lr
        return self.eta_max

    def step(self, grad, phi) -> float:
        slope = descent_slope(grad, phi)
        f = float(evaluate_probe(phi, np.array([0.0]))[0])
        bound = self.bound()
        info = {"f": f, "slope": slope, "bound": bound}
        if not (math.isfinite(f) and math.isfinite(slope)):
            self.last_info = {**info, "polyak": math.nan, "capped": False}
            self._advance(rejected=True)
            return self.lr
        if slope <= 0:
            self.last_info = {**info, "polyak": math.nan, "capped": False}
            self._advance(lr=self.delta)
            return self.lr
        with np.errstate(over="ignore"):
            raw = polyak_rate(f, self.f_star, slope, self.c, self.eps)
        if not math.isfinite(raw):
            self.last_info = {**info, "polyak": raw, "capped": False}
            self._advance(rejected=True)
            return self.lr
        rate = max(min(raw, bound), self.delta)
        self.last_info = {**info, "polyak": raw, "capped": raw > bound}
        self._advance(lr=rate)
        return rate

    def __repr__(self) -> str:
        return (f"PolyakLR(lr={self.lr:.6g}, c={self.c:g}, smoothing={self.smoothing!r}, "
                f"gamma={self.gamma:g}, n_batches={self.n_batches}, eta_max={self.eta_max:g})")


def alig(eta=1.0, *, eta_max=10.0, delta=1e-5, n_batches=500) -> PolyakLR:
    """ALI-G without momentum (Berrada et al., ICML 2020):
    ``min(f_i / (|g_i|^2 + delta), eta_max)``, i.e. :class:`PolyakLR` with ``c = 1``,
    ``f* = 0``, ``smoothing="max"`` and ``eps = delta`` (their ``delta``; their default 1e-5).
    ``eta`` is only the rate before the first step; ``eta_max`` is ALI-G's maximal rate, the
    one knob its authors tune.

    >>> alig(eta_max=0.1)
    PolyakLR(lr=1, c=1, smoothing='max', gamma=2, n_batches=500, eta_max=0.1)
    """
    return PolyakLR(eta, c=1.0, smoothing="max", eta_max=eta_max, eps=delta,
                    n_batches=n_batches)


def _finite_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.number))
            and math.isfinite(float(value)))

