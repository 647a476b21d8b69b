"""Stochastic Armijo line search (Vaswani et al., NeurIPS 2019, "Painless stochastic gradient")."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..probe import DirectionalProbe, evaluate_probe
from .base import LearningRateController, RateState, check_positive


def descent_slope(grad, phi) -> float:
    """``g . d``: minus the slope ``f'(0)`` of the line loss along the probe's direction
    (Eq. 7 at ``eta = 0``); ``|g|^2`` when the direction is the gradient (``phi`` has no
    ``d``), the case the line-search and Polyak papers write.

    >>> descent_slope(np.array([3.0, 4.0]), lambda etas: etas)
    25.0
    """
    if grad is None:
        raise TypeError("this controller needs the step's gradient, got grad=None")
    g = np.asarray(grad)
    d = np.asarray(phi.d) if isinstance(phi, DirectionalProbe) else g
    if d.shape != g.shape:
        raise ValueError(f"grad has shape {g.shape}, the probe's direction {d.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(g.ravel().astype(np.float64), d.ravel().astype(np.float64)))


def armijo_holds(f_eta: float, f0: float, eta: float, slope: float, c: float) -> bool:
    """The Armijo (sufficient decrease) condition ``f(eta) <= f(0) - c eta g.d``.

    >>> armijo_holds(0.5, 1.0, 1.0, 1.0, 0.1), armijo_holds(0.95, 1.0, 1.0, 1.0, 0.1)
    (True, False)
    """
    return f_eta <= f0 - c * eta * slope


@dataclass(frozen=True)
class ArmijoState(RateState):
    step_size: float = 0.0  #: the last accepted (or last tried) trial: the next search's start
    n_trials: int = 0  #: loss evaluations of the searches so far (one forward pass each)
    n_failed: int = 0  #: searches that found no step within ``max_trials``


class ArmijoLR(LearningRateController):
    """Stochastic Armijo line search (SGD+Armijo, Vaswani et al. 2019, Algorithm 1 and 2).

    One step on the probe ``f(eta) = L_B(w - eta d)``:

    1. reset: ``eta <- min(eta_prev * gamma^(1 / n_batches), eta_max)`` (their
       ``reset_option=1``: the rate may grow by ``gamma`` per epoch);
    2. ``f(0)`` (one forward pass) and ``g.d`` (``|g|^2`` for SGD);
    3. backtracking: while ``f(eta) > f(0) - c eta g.d``, ``eta <- backtrack * eta`` (one forward
       pass per trial, at most ``max_trials``);
    4. the step is taken at the accepted ``eta``, which is also where the next search starts.

    Every trial is evaluated on the **same batch with the same dropout masks**: the training
    loop's probe (:class:`~adaptive_lr.probe.Probe`) carries the step's batch and its noise, so
    the search sees one deterministic function, as the authors' ``closure_deterministic``
    enforces by re-seeding. The probe's counter charges each trial one forward pass, so
    ``History.forward`` includes the searches.

    Along a general direction ``d`` (Adam's, say) the condition uses ``g.d`` in place of
    ``|g|^2``: that is ``-f'(0)``, which is what ``|g|^2`` is for ``d = g``.

    Parameters
    ----------
    eta : float > 0
        The first search's starting rate before the reset (their ``init_step_size`` = 1).
    c : float > 0, default 0.1
        Armijo constant (their recommended value).
    backtrack : float in (0, 1), default 0.9
        Backtracking factor (their ``beta_b``).
    gamma : float >= 1, default 2.0
        Growth of the starting rate per epoch (their ``gamma``).
    n_batches : int >= 1, default 500
        Batches per epoch (their ``n_batches_per_epoch``, whose default is 500); set it to the
        run's value.
    eta_max : float > 0, default 10.0
        Cap of the reset (their code's 10).
    max_trials : int >= 1, default 100
        Trials per search (their code's 100).
    delta : float > 0, default 1e-6
        The rate of a step whose search fails (their code's 1e-6), and the floor of every rate.

    Notes
    -----
    When ``g.d <= 0`` (no descent along ``d``; for SGD a zero gradient) nothing is searched:
    the step is taken at ``delta`` and the start of the next search is kept (their code skips
    the update when ``|g| < 1e-8``). A non-finite ``f(0)`` or ``g.d`` is a rejection: the
    rate of the last update is used again, nothing else changes. A non-finite trial counts as
    a failed Armijo test and backtracks.
    """

    State = ArmijoState

    def __init__(self, eta, *, c=0.1, backtrack=0.9, gamma=2.0, n_batches=500, eta_max=10.0,
                 max_trials=100, delta=1e-6):
        super().__init__(eta)
        self.state = replace(self.state, step_size=self.lr)
        self.c = check_positive("c", c)
        self.backtrack = check_positive("backtrack", backtrack)
        if not self.backtrack < 1:
            raise ValueError(f"backtrack must lie in (0, 1), got {backtrack!r}")
        self.gamma = check_positive("gamma", gamma)
        if self.gamma < 1:
            raise ValueError(f"gamma must be >= 1, got {gamma!r}")
        self.n_batches = check_count("n_batches", n_batches)
        self.eta_max = check_positive("eta_max", eta_max)
        self.max_trials = check_count("max_trials", max_trials)
        self.delta = check_positive("delta", delta)

    def reset(self, step_size: float) -> float:
        """Step 1: the search's starting rate, ``min(step_size gamma^(1/n), eta_max)``."""
        return min(step_size * self.gamma ** (1.0 / self.n_batches), self.eta_max)

    def step(self, grad, phi) -> float:
        s = self.state
        slope = descent_slope(grad, phi)
        f0 = float(evaluate_probe(phi, np.array([0.0]))[0])
        if not (math.isfinite(f0) and math.isfinite(slope)):
            self.last_info = {"f0": f0, "slope": slope, "trials": 0, "accepted": False}
            self._advance(rejected=True)
            return self.lr
        if slope <= 0:
            self.last_info = {"f0": f0, "slope": slope, "trials": 0, "accepted": False}
            self._advance(lr=self.delta)
            return self.lr
        eta = max(self.reset(s.step_size), self.delta)
        trials, found = 0, False
        while trials < self.max_trials:
            f_eta = float(evaluate_probe(phi, np.array([eta]))[0])
            trials += 1
            if math.isfinite(f_eta) and armijo_holds(f_eta, f0, eta, slope, self.c):
                found = True
                break
            eta = max(eta * self.backtrack, self.delta)
        used = eta if found else self.delta
        self.last_info = {"f0": f0, "slope": slope, "trials": trials, "accepted": found,
                          "eta": eta}
        self._advance(lr=used, step_size=eta, n_trials=s.n_trials + trials,
                      n_failed=s.n_failed + (not found))
        return used

    def __repr__(self) -> str:
        return (f"ArmijoLR(lr={self.lr:.6g}, c={self.c:g}, backtrack={self.backtrack:g}, "
                f"gamma={self.gamma:g}, n_batches={self.n_batches})")


def check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)
