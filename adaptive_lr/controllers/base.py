"""The one interface of every learning-rate controller.

Contract (other code depends on these names):

* ``controller = SomeLR(eta, ...)``: the initial rate is the first argument;
* ``eta = controller.step(grad, phi)`` returns the rate for this step's update
  ``w - eta * d`` (``d = grad`` for SGD); ``phi`` is a :class:`~adaptive_lr.probe.Probe` along
  ``d``; controllers that need no probe accept ``phi=None``;
* ``controller.lr`` is the rate the next step will use.

Safety, shared by all controllers: ``lr`` stays finite and ``>= delta`` (Eq. 19). When a probe
returns NaN or inf, or an update comes out non-finite, the update is *rejected*: ``lr`` keeps its
value, the momentum velocity (if any) is reset to 0, and ``n_rejected`` counts the event. The
weights are the training loop's business; a controller never sees them.
"""

from __future__ import annotations

import math

import numpy as np


def check_positive(name: str, value) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless finite and > 0."""
    v = _as_float(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless finite and >= 0."""
    v = _as_float(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def check_beta(value) -> float:
    """A momentum coefficient in ``[0, 1)``."""
    v = _as_float("beta", value)
    if not 0 <= v < 1:
        raise ValueError(f"beta must lie in [0, 1), got {value!r}")
    return v


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


class LearningRateController:
    """Base class: holds ``lr`` and the bookkeeping shared by all controllers.

    Attributes
    ----------
    lr : float
        The rate the next step will use.
    n_steps : int
        Calls to :meth:`step` so far.
    n_rejected : int
        Updates rejected because a probe or the update was not finite.
    """

    #: Names of the attributes saved by :meth:`state_dict` (numbers or float arrays only).
    _state_fields: tuple[str, ...] = ("lr", "n_steps", "n_rejected")
    #: Whether :meth:`step` uses the probe at all (lets a training loop skip building one).
    needs_probe: bool = False

    def __init__(self, eta):
        self.lr = check_positive("eta", eta)
        self.n_steps = 0
        self.n_rejected = 0

    def step(self, grad: np.ndarray, phi=None) -> float:
        raise NotImplementedError

    def _propose(self, candidate: float, floor: float) -> bool:
        """Set ``lr = max(candidate, floor)`` (Eq. 19) if ``candidate`` is finite; else reject."""
        if not math.isfinite(candidate):
            self.n_rejected += 1
            return False
        self.lr = max(float(candidate), floor)
        return True

    # -- checkpoints: plain numbers and float arrays, no pickle ----------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The controller's state as arrays (``np.savez``-friendly): numbers as float64 scalars,
        arrays (a previous direction) as copies in their own dtype; see :meth:`load_state_dict`."""
        state = {}
        for name in self._state_fields:
            value = getattr(self, name)
            if value is None:
                state[name] = np.array([], dtype=np.float64)
            elif isinstance(value, np.ndarray):
                state[name] = value.copy()  # keeps its dtype: a float32 run stays float32
            else:
                state[name] = np.array(value, dtype=np.float64)
        return state

    def load_state_dict(self, state) -> None:
        """Restore what :meth:`state_dict` saved (same class and hyperparameters)."""
        for name in self._state_fields:
            if name not in state:
                raise ValueError(f"controller state has no {name!r}")
            value = np.asarray(state[name])
            if value.ndim == 0:
                current = getattr(self, name)
                setattr(self, name, int(value) if isinstance(current, int) else float(value))
            else:
                setattr(self, name, value.copy() if value.size else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:.6g})"
