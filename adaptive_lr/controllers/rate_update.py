"""What every rule does with its proposal: momentum (Eq. 20-21), the floor (Eq. 19), rejection.

A rule proposes an increment ``Delta`` of the rate (Eq. 6 for the first-order rule, Eq. 16 / 18
for the second-order rule); :func:`apply_increment` then applies, in this order,

* Eq. 20: ``v(t+1) = beta v(t) + Delta`` (the paper reuses the letter ``delta`` for this
  velocity; here it is ``v``, since ``delta`` is the smoothing of Eq. 17-19);
* Eq. 21: ``eta(t+1) = eta(t) + v(t+1)``;
* rejection: a non-finite result keeps ``eta(t)`` and resets ``v`` to 0;
* Eq. 19: ``eta(t+1) = max(eta(t+1), delta)``.

With ``beta = 0`` this is the plain rule (``v = Delta``, bit for bit). The paper uses
``beta = 0.9`` (Sec. 5.2).
"""

from __future__ import annotations

import math
from typing import NamedTuple


def clamp_rate(eta: float, delta: float) -> float:
    """Eq. 19: ``max(eta, delta)``; the rate never falls below the smoothing value.

    With ``delta = 0`` a negative proposal becomes a rate of exactly 0, a step that does not
    move the weights; the rules recover from it (the next probe or gradient still sees a
    slope), but ``delta > 0`` avoids the wasted step.

    >>> clamp_rate(-0.3, 1e-6), clamp_rate(0.25, 1e-6)
    (1e-06, 0.25)
    """
    if math.isnan(eta):
        raise ValueError("clamp_rate: eta is NaN (reject the update instead)")
    return max(float(eta), delta)


def momentum_velocity(velocity: float, increment: float, beta: float) -> float:
    """Eq. 20: ``beta * velocity + increment``.

    >>> momentum_velocity(2.0, 1.0, 0.5)
    2.0
    """
    return beta * velocity + increment


def momentum_rate(eta: float, velocity: float) -> float:
    """Eq. 21: ``eta + velocity``.

    >>> momentum_rate(0.5, 0.25)
    0.75
    """
    return eta + velocity


class RateUpdate(NamedTuple):
    """The outcome of a proposal: the new rate, the new velocity, whether it was accepted."""

    lr: float
    velocity: float
    accepted: bool


def accept_rate(candidate: float, eta: float, delta: float) -> RateUpdate:
    """A proposed rate ``candidate`` replacing ``eta``: rejected (``eta`` kept) unless
    finite, else clamped by Eq. 19. The velocity field is the change that happened."""
    if not math.isfinite(candidate):
        return RateUpdate(float(eta), 0.0, False)
    new = clamp_rate(candidate, delta)
    return RateUpdate(new, float(new - eta), True)


def apply_increment(eta: float, increment: float, *, delta: float, velocity: float = 0.0,
                    beta: float = 0.0) -> RateUpdate:
    """Eq. 20, 21, rejection and Eq. 19, in that order (module docstring).

    When Eq. 19 clamps the rate, the velocity becomes the change that actually happened, so a
    long run of negative increments cannot wind up a velocity that holds ``eta`` at its floor
    long after the increments turned positive (the paper does not say; with ``beta = 0`` it
    makes no difference).

    >>> apply_increment(0.1, 0.05, delta=1e-6, velocity=0.1, beta=0.5)  # v = 0.05 + 0.05
    RateUpdate(lr=0.2, velocity=0.1, accepted=True)
    >>> apply_increment(0.1, float("nan"), delta=1e-6, velocity=0.1)    # rejected
    RateUpdate(lr=0.1, velocity=0.0, accepted=False)
    """
    v = momentum_velocity(velocity, increment, beta)  # Eq. 20
    candidate = momentum_rate(eta, v)  # Eq. 21
    update = accept_rate(candidate, eta, delta)  # rejection, Eq. 19
    if update.accepted and update.lr == candidate:
        return RateUpdate(float(candidate), float(v), True)
    return update


def probe_update(eta: float, f, increment_of, *, delta: float, velocity: float = 0.0,
                 beta: float = 0.0) -> RateUpdate:
    """The update of a rule that probes at ``eta(k)``: ``increment_of(f)`` from the probe
    values ``f`` through :func:`apply_increment`, or a rejection (``eta`` kept, velocity 0)
    when a probe value is not finite, before any arithmetic on it.

    >>> probe_update(0.5, [1.0, float("inf")], lambda f: 0.25, delta=1e-6)
    RateUpdate(lr=0.5, velocity=0.0, accepted=False)
    """
    if not all(math.isfinite(v) for v in f):
        return RateUpdate(float(eta), 0.0, False)
    return apply_increment(eta, increment_of(f), delta=delta, velocity=velocity, beta=beta)
