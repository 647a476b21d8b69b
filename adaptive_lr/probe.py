"""The probe ``phi(etas) = [L(w - eta * d) for eta in etas]`` on one batch (Eq. 3-4, 22-23).

A controller never touches the parameters: it receives a probe and asks it for the losses it
needs. The probe evaluates trial points without moving ``w``, so the paper's "cancellation" of the
five forward passes (Sec. 4.1) is not needed (DESIGN.md, idea 2). It reuses the model's fused
evaluation (two products ``X w`` and ``X d`` for the linear models, DESIGN.md idea 4) and the
forward cache of the gradient when both are on the same batch.

Counting: one loss evaluated at one parameter point counts as one forward pass, a gradient as one
backward pass, whatever fusion saves in time; exact derivatives ``f'``, ``f''`` (a
Hessian-vector product) count as one forward and one backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PassCounter:
    """Forward and backward passes spent by the optimizer (evaluations are not counted)."""

    forward: int = 0
    backward: int = 0

    def add(self, forward: int = 0, backward: int = 0) -> None:
        self.forward += forward
        self.backward += backward


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
        The step's random state (dropout masks), shared with the gradient (DESIGN.md, idea 3).
    cache : optional
        The forward cache of ``model.forward_backward(w, X, y)``; pass it only when ``w`` and
        the batch are exactly those of the gradient.
    counter : PassCounter, optional
        Charged one forward pass per evaluated ``eta``.

    Attributes
    ----------
    direction_cache : ndarray or None
        For a model whose forward is linear in ``w`` (``supports_forward_reuse``) and a probe
        on the gradient's batch: ``X d``, computed once by the first call and reused by the
        next ones; the training loop also derives the next step's forward from it.
    """

    def __init__(self, model, w, d, X, y, *, noise=None, cache=None, counter=None):
        self.model, self.w, self.d, self.X, self.y = model, w, d, X, y
        self.noise, self.cache = noise, cache
        self.counter = counter if counter is not None else PassCounter()
        self.direction_cache = None

    def __call__(self, etas) -> np.ndarray:
        """Losses ``L(w - eta d)`` for a 1-D array of step sizes, as float64, shape (K,)."""
        etas = np.asarray(etas, dtype=np.float64)
        if etas.ndim != 1 or etas.shape[0] == 0:
            raise ValueError(f"etas must be a non-empty 1-D array, got shape {etas.shape}")
        if not np.all(np.isfinite(etas)):
            raise ValueError("etas contains NaN or inf")
        self.counter.add(forward=etas.shape[0])
        extra = {}
        if self.cache is not None and getattr(self.model, "supports_forward_reuse", False):
            if self.direction_cache is None:
                self.direction_cache = self.model.direction_forward(self.d, self.X)
            extra["direction_cache"] = self.direction_cache
        return self.model.line_losses(self.w, self.d, etas, self.X, self.y,
                                      noise=self.noise, cache=self.cache, **extra)

    @property
    def has_derivatives(self) -> bool:
        return bool(getattr(self.model, "has_exact_line_derivatives", False))

    def derivatives(self, eta: float) -> tuple[float, float]:
        """Exact ``(f'(eta), f''(eta))`` (Eq. 7 and 11) where the model offers them."""
        if not self.has_derivatives:
            raise NotImplementedError(f"{type(self.model).__name__} has no exact line derivatives")
        if not np.isfinite(eta):
            raise ValueError(f"eta must be finite, got {eta}")
        self.counter.add(forward=1, backward=1)
        return self.model.line_derivatives(self.w, self.d, eta, self.X, self.y)
