"""D-Adaptation for SGD (Defazio & Mishchenko, ICML 2023), a parameter-free rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..probe import DirectionalProbe
from .base import LearningRateController, RateState, check_positive


def distance_estimate(s_sq: float, weighted_sq: float) -> float:
    """D-Adaptation's lower bound on ``|x_0 - x_*|``: ``(|s|^2 - sum_i lambda_i^2 |g_i|^2)
    / |s|`` (``dadapt_sgd.py``), with ``s = sum_i lambda_i g_i`` and ``lambda_i`` the rates.

    >>> distance_estimate(25.0, 5.0)        # (25 - 5) / 5
    4.0
    """
    return (s_sq - weighted_sq) / math.sqrt(s_sq)


@dataclass(frozen=True)
class DAdaptState(RateState):
    d: float = 0.0  #: the distance estimate D
    g0_norm: float = 0.0  #: ``|g_0|`` (0 before the first step)
    weighted_sq: float = 0.0  #: ``sum_i lambda_i^2 |g_i|^2``
    s: np.ndarray | None = None  #: sum_i lambda_i g_i (= x_0 - x_k for SGD)


class DAdaptSGDLR(LearningRateController):
    """D-Adapted SGD without momentum: the rate of step ``k`` is ``lambda_k = scale * d_k /
    |g_0|``, and ``d`` grows to the lower bound of the distance to a minimizer.

    One step, in the order of ``dadapt_sgd.py`` (github.com/facebookresearch/dadaptation, the
    version at commit 0074595; ``momentum=0`` so ``x = z = x_0 - s``):

    1. ``lambda_k = scale * d_k / |g_0|`` (this step's rate, returned);
    2. ``s <- s + lambda_k g_k``; ``W <- W + lambda_k^2 |g_k|^2``;
    3. ``d_hat = (|s|^2 - W) / |s|`` and ``d_{k+1} = max(d_k, min(d_hat, growth_rate d_k))``.

    Along a direction ``d`` other than the gradient (``phi.d``), ``g`` in these sums is that
    direction, so that ``s`` stays ``x_0 - x_k``; for SGD it is the algorithm as published.

    Parameters
    ----------
    eta : float > 0
        The rate reported before the first step (unused by the rule).
    d0 : float > 0, default 1e-6
        Initial distance estimate (their default; "rarely needs changing").
    scale : float > 0, default 1.0
        Their ``lr``, a multiplier of the adapted rate ("leave it at 1").
    growth_rate : float > 1, default inf
        Largest factor by which ``d`` may grow per step (their default: unbounded).

    Notes
    -----
    A non-finite or zero first direction, or a non-finite sum, is rejected: the rate of the
    last update is used again and nothing else changes.
    """

    State = DAdaptState

    def __init__(self, eta=1.0, *, d0=1e-6, scale=1.0, growth_rate=math.inf):
        super().__init__(eta)
        self.d0 = check_positive("d0", d0)
        self.scale = check_positive("scale", scale)
        if isinstance(growth_rate, bool) or not isinstance(growth_rate, (int, float)):
            raise TypeError(f"growth_rate must be a real number, got "
                            f"{type(growth_rate).__name__}")
        if not growth_rate > 1:
            raise ValueError(f"growth_rate must be > 1 (inf for unbounded), got {growth_rate!r}")
        self.growth_rate = float(growth_rate)

    def step(self, grad, phi=None) -> float:
        if grad is None:
            raise TypeError("DAdaptSGDLR needs the step's gradient, got grad=None")
        d_vec = np.asarray(phi.d) if isinstance(phi, DirectionalProbe) else np.asarray(grad)
        st = self.state
        with np.errstate(over="ignore", invalid="ignore"):
            g_sq = float(np.sum(np.square(d_vec, dtype=np.float64)))
            first = st.s is None
            g0_norm = math.sqrt(g_sq) if first else st.g0_norm
            d = self.d0 if first else st.d
            rate = self.scale * d / g0_norm if g0_norm > 0 else math.nan
            s = (np.zeros_like(d_vec) if first else st.s) + d_vec.dtype.type(rate) * d_vec
            s_sq = float(np.sum(np.square(s, dtype=np.float64)))
            weighted_sq = st.weighted_sq + rate * rate * g_sq
            d_hat = distance_estimate(s_sq, weighted_sq) if s_sq > 0 else -math.inf
            d_next = max(d, min(d_hat, d * self.growth_rate))
        self.last_info = {"d": d, "d_hat": d_hat, "s_sq": s_sq, "weighted_sq": weighted_sq}
        finite = all(map(math.isfinite, (rate, s_sq, weighted_sq, d_next)))
        if not (finite and rate > 0 and np.all(np.isfinite(s))):
            self._advance(rejected=True)
            return self.lr
        self._advance(lr=rate, d=d_next, g0_norm=g0_norm, weighted_sq=weighted_sq, s=s)
        return rate

    def __repr__(self) -> str:
        return (f"DAdaptSGDLR(lr={self.lr:.6g}, d0={self.d0:g}, scale={self.scale:g}, "
                f"growth_rate={self.growth_rate:g})")
