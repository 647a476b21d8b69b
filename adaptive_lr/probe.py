"""The line loss ``f(eta) = L(w - eta d)`` of one step and what a controller may ask of it
(Eq. 3-4, 7, 11, 22-23).

A controller never touches the parameters: it receives a *probe* ``phi`` and asks it for the
losses it needs. The probe evaluates trial points without moving ``w``, so the paper's
"cancellation" of the five forward passes (Sec. 4.1) is not needed.

The probe protocol
------------------
Every controller accepts **any callable** ``phi(etas) -> losses``: a 1-D array of step sizes in,
the same number of losses out (:func:`evaluate_probe` checks the answer). Beyond calling it, a
controller may ask for

* ``phi.d``, the step's direction (:class:`DirectionalProbe`): :class:`FirstOrderLR` reads it to
  form Eq. 8 along the direction actually taken and, without it, takes ``d = grad`` (SGD);
* ``phi.derivatives(eta) -> (f'(eta), f''(eta))``, exact (:class:`ExactProbe`):
  :class:`ExactNewtonLR` needs it and raises a ``TypeError`` naming it when ``phi`` lacks it;
* ``phi.w``, the weights the line starts from (:class:`WeightsProbe`): :class:`DoGLR` needs
  them (its rate is a distance from the first weights) and raises a ``TypeError`` without.

:class:`Probe` is the training loop's probe and offers all three, plus :meth:`Probe.slope`, the
exact ``f'(eta)`` of Eq. 7 from one gradient at ``w - eta d``, for every model.

Counting: one loss evaluated at one parameter point counts as one forward pass, a gradient as one
backward pass, whatever fusion saves in time; exact derivatives ``f'``, ``f''`` (a
Hessian-vector product) count as one forward and one backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .arguments import ArgumentTypeError, check_real
from .models.base import ExactLineDerivatives, check_etas


@dataclass
class PassCounter:
    """Forward and backward passes spent by the optimizer (evaluations are not counted)."""

    forward: int = 0
    backward: int = 0

    def add(self, forward: int = 0, backward: int = 0) -> None:
        self.forward += forward
        self.backward += backward


@runtime_checkable
class DirectionalProbe(Protocol):
    """A probe that also says along which direction ``d`` it evaluates ``L(w - eta d)``."""

    d: np.ndarray

    def __call__(self, etas) -> np.ndarray: ...


@runtime_checkable
class WeightsProbe(Protocol):
    """A probe that also says from which weights ``w`` it evaluates ``L(w - eta d)``."""

    w: np.ndarray

    def __call__(self, etas) -> np.ndarray: ...


@runtime_checkable
class ExactProbe(Protocol):
    """A probe that also gives the exact derivatives of its line loss (Eq. 7 and 11)."""

    def __call__(self, etas) -> np.ndarray: ...

    def derivatives(self, eta: float) -> tuple[float, float]: ...


def line_slope(d: np.ndarray, grad_at: np.ndarray) -> float:
    """Eq. 7: ``f'(eta) = -d . grad L(w - eta d)``, with ``grad_at`` the gradient at
    ``w - eta d``. At ``eta(t)`` that point is ``w(t+1)`` and this is Eq. 8.

    The printed paper writes ``f: R^n -> R`` in Eq. 3 (and 22); ``f`` maps a rate to a loss,
    ``R -> R``.

    >>> line_slope(np.array([1.0, 2.0]), np.array([3.0, -1.0]))   # -(3 - 2)
    -1.0
    """
    return -float(d @ grad_at)


def evaluate_probe(phi, etas: np.ndarray) -> np.ndarray:
    """``phi(etas)`` as a float64 array of one loss per rate, or a clear error.

    Raises ``TypeError`` if ``phi`` is not callable or returns something other than real
    numbers (strings, complex, bools, objects: an
    :class:`~adaptive_lr.arguments.ArgumentTypeError`, also a ``ValueError``), and
    ``ValueError`` if it returns another number of values than ``etas`` has; the shape is
    checked before any value is read. Non-finite
    losses are returned as they are: what to do with them is the controller's decision (it
    rejects the update).
    """
    if not callable(phi):
        raise TypeError(f"phi must be a callable phi(etas) -> losses, got {type(phi).__name__}")
    try:
        f = np.asarray(phi(etas))
    except ValueError as exc:  # a ragged answer
        raise ValueError(f"phi(etas) must return {len(etas)} real numbers ({exc})") from None
    if f.shape != np.shape(etas):
        raise ValueError(f"phi(etas) returned shape {f.shape} for {len(etas)} step sizes; "
                         f"expected {np.shape(etas)}")
    if f.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"phi(etas) must return real numbers (the losses), got dtype "
                                f"{f.dtype}")
    return f.astype(np.float64, copy=False)


def evaluate_derivatives(phi, eta: float) -> tuple[float, float]:
    """``phi.derivatives(eta)`` as two floats ``(f', f'')``, or a clear error: a ``ValueError``
    if it returns another number of values, a ``TypeError`` if they are not real numbers."""
    out = phi.derivatives(eta)
    try:
        f = np.asarray(out)
    except ValueError:
        f = np.asarray(None)
    if f.shape != (2,):
        raise ValueError(f"phi.derivatives(eta) must return two numbers (f'(eta), f''(eta)), "
                         f"got {out!r:.80}")
    if f.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"phi.derivatives(eta) must return real numbers, got dtype "
                                f"{f.dtype}")
    return float(f[0]), float(f[1])


def validation_batch(X_val, y_val, size: int, rng: np.random.Generator):
    """Eq. 22-23: a random batch of ``min(size, len(X_val))`` held-out examples, drawn
    without replacement, for the probe ``eta -> L_val(w - eta grad L_train)`` of Sec. 5.3."""
    idx = rng.choice(len(X_val), size=min(size, len(X_val)), replace=False)
    return X_val[idx], y_val[idx]


class Probe:
    """``phi(etas)``: the line loss of ``model`` at ``w - eta * d`` on the batch ``(X, y)``.

    Parameters
    ----------
    model : Model
    w, d : ndarray, shape (P,)
        Current parameters and search direction (the gradient for SGD). Neither is modified;
        the probe keeps references, so do not modify them while the probe is in use.
    X, y : ndarray
        The probe batch: the training batch (Eq. 4) or a validation batch (Eq. 23).
    noise : optional
        The step's random state (dropout masks), shared with the gradient when the batch is
        the gradient's: every probe of a step sees one function.
    cache : optional
        The forward cache of ``model.forward_backward(w, X, y)``; pass it only when ``w`` and
        the batch are exactly those of the gradient.
    state : dict or None
        The model's non-parameter state at this step (read, never updated).
    counter : PassCounter, optional
        Charged one forward pass per evaluated ``eta``.
    """

    def __init__(self, model, w, d, X, y, *, noise=None, cache=None, state=None, counter=None):
        self.model, self.w, self.d, self.X, self.y = model, w, d, X, y
        self.noise, self.cache, self.state = noise, cache, state
        self.counter = counter if counter is not None else PassCounter()

    def __call__(self, etas) -> np.ndarray:
        """Losses ``L(w - eta d)`` (Eq. 4) for a 1-D array of step sizes, as float64, (K,)."""
        etas = check_etas(etas)
        self.counter.add(forward=etas.shape[0])
        return self.model.line_losses(self.w, self.d, etas, self.X, self.y, noise=self.noise,
                                      cache=self.cache, state=self.state)

    def slope(self, eta: float) -> float:
        """Exact ``f'(eta)`` by Eq. 7, from the gradient at ``w - eta d`` (any model)."""
        eta = _finite("eta", eta)
        self.counter.add(forward=1, backward=1)
        w_eta = self.w - self.w.dtype.type(eta) * self.d
        _, grad_at = self.model.loss_and_grad(w_eta, self.X, self.y, noise=self.noise,
                                              state=self.state)
        return line_slope(self.d, grad_at)

    def derivatives(self, eta: float) -> tuple[float, float]:
        """Exact ``(f'(eta), f''(eta))`` (Eq. 7 and 11) where the model computes them.

        Eq. 11 as printed reads ``q(t)^T . H_L(w(t) - eta q(t))``: it means
        ``g(t)^T H_L(w(t) - eta g(t)) g(t)``, the curvature along ``d``.
        """
        if not isinstance(self.model, ExactLineDerivatives):
            raise TypeError(f"{type(self.model).__name__} has no exact line derivatives "
                            f"(line_derivatives); use the finite differences of SecondOrderLR")
        eta = _finite("eta", eta)
        self.counter.add(forward=1, backward=1)
        return self.model.line_derivatives(self.w, self.d, eta, self.X, self.y)


def _finite(name: str, value) -> float:
    return check_real(name, value)
