"""DoG, "distance over gradients" (Ivgi, Hinder & Carmon, ICML 2023), a parameter-free rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..probe import DirectionalProbe, WeightsProbe
from .base import LearningRateController, RateState, check_positive


def dog_rate(max_distance: float, sum_sq: float) -> float:
    """DoG's rate ``max_i |x_i - x_0| / sqrt(sum_i |g_i|^2)`` (their Eq. 1).

    >>> dog_rate(2.0, 16.0)
    0.5
    """
    return max_distance / math.sqrt(sum_sq)


@dataclass(frozen=True)
class DoGState(RateState):
    x0: np.ndarray | None = None  #: the weights at the first step (a copy)
    max_distance: float = 0.0  #: r-bar: ``max(r_eps, max_i |x_i - x_0|)``
    sum_sq: float = 0.0  #: ``sum_i |d_i|^2`` (the gradients' squared norms for SGD)


class DoGLR(LearningRateController):
    """DoG: ``eta_t = rbar_t / sqrt(G_t)`` with ``rbar_t = max(r_eps, max_{i <= t} |x_i - x_0|)``
    and ``G_t = sum_{i <= t} |g_i|^2`` (Ivgi et al. 2023, Algorithm 1).

    ``r_eps = reps_rel * (1 + |x_0|)``, ``reps_rel = 1e-6`` (the paper's recommendation), so
    the first step moves ``w`` by ``r_eps``: the method has no initial rate, and ``eta`` is only
    what ``lr`` reports before the first step.

    DoG needs the weights ``x_t``: it reads them from the probe, ``phi.w``
    (:class:`~adaptive_lr.probe.WeightsProbe`; the training loop's
    :class:`~adaptive_lr.probe.Probe` is built at ``w(k)``), and raises a ``TypeError`` for a
    probe without them. (Tracking ``x_t - x_0 = -sum_i eta_i d_i`` from the rates it returned
    would need the same vector in the state and still not give ``|x_0|`` for ``r_eps``.)

    DoG is written for SGD. Along another direction ``d`` (``phi.d``), ``G_t`` sums ``|d_i|^2``,
    so that ``eta |d|`` is still a distance; for ``d = g`` that is the paper's rule.

    Parameters
    ----------
    eta : float > 0
        The rate reported before the first step (unused by the rule).
    reps_rel : float > 0, default 1e-6
        ``r_eps / (1 + |x_0|)``.

    Notes
    -----
    A non-finite weight, direction or sum is rejected: the rate of the last update is used
    again and nothing else changes. Every accepted rate is finite and > 0.
    """

    State = DoGState

    def __init__(self, eta=1.0, *, reps_rel=1e-6):
        super().__init__(eta)
        self.reps_rel = check_positive("reps_rel", reps_rel)

    def step(self, grad, phi) -> float:
        if not isinstance(phi, WeightsProbe):
            raise TypeError("DoGLR needs the probe's weights phi.w (adaptive_lr.Probe has "
                            f"them); got {type(phi).__name__}")
        w = np.asarray(phi.w)
        d = np.asarray(phi.d) if isinstance(phi, DirectionalProbe) else np.asarray(grad)
        if d.shape != w.shape:
            raise ValueError(f"the direction has shape {d.shape}, the weights {w.shape}")
        s = self.state
        x0 = np.array(w) if s.x0 is None else s.x0
        with np.errstate(over="ignore", invalid="ignore"):
            distance = float(np.linalg.norm((w - x0).astype(np.float64)))
            d_sq = float(np.sum(np.square(d, dtype=np.float64)))
            r_eps = self.reps_rel * (1.0 + float(np.linalg.norm(x0.astype(np.float64))))
        max_distance = max(s.max_distance, r_eps, distance)
        sum_sq = s.sum_sq + d_sq
        rate = dog_rate(max_distance, sum_sq) if math.isfinite(sum_sq) and sum_sq > 0 else math.nan
        self.last_info = {"max_distance": max_distance, "sum_sq": sum_sq, "distance": distance}
        if not (math.isfinite(rate) and rate > 0 and np.all(np.isfinite(x0))):
            self._advance(rejected=True)
            return self.lr
        self._advance(lr=rate, x0=x0, max_distance=max_distance, sum_sq=sum_sq)
        return rate

    def __repr__(self) -> str:
        return f"DoGLR(lr={self.lr:.6g}, reps_rel={self.reps_rel:g})"
