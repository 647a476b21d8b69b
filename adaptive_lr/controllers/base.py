"""The one interface of every learning-rate controller.

Contract (``tests/test_controller_contract.py`` checks it over every controller):

* ``controller = SomeLR(eta, ...)``: the initial rate is the first argument;
* ``eta = controller.step(grad, phi)`` returns the rate of this step's update ``w - eta * d``
  (``d = grad`` for SGD); ``phi`` is the step's probe of the line loss (:mod:`adaptive_lr.probe`
  states what a controller may ask of it; a plain callable ``phi(etas) -> losses`` is always
  accepted, and a controller that needs more raises a ``TypeError`` naming it);
* ``controller.lr`` is **the rate of the last update**: the value the last :meth:`step`
  returned, or the initial rate before any step. It means this for every controller, so a
  history's ``lr`` column means one thing. A rule that already knows the next step's rate (the
  second-order rule, Sec. 4.1: ``eta(k+1)`` is computed in step ``k``) keeps it in its state
  as ``next_lr``;
* ``controller.state`` is a frozen dataclass of plain numbers and arrays (one class per
  controller, as optax keeps a NamedTuple per optimizer); ``state_dict()`` and
  ``load_state_dict()`` turn it into arrays for checkpoints and back, without pickle.

Safety, shared by all controllers: every rate stays finite and ``>= delta`` (Eq. 19). When a probe
returns NaN or inf, or an update comes out non-finite, the update is *rejected*: the rate keeps its
value, the momentum velocity (if any) is reset to 0, and ``n_rejected`` counts the event
(:func:`~adaptive_lr.controllers.rate_update.apply_increment`). The weights are the training
loop's business; a controller never sees them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

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


def check_beta(value, name: str = "beta") -> float:
    """A momentum coefficient in ``[0, 1)``."""
    v = _as_float(name, value)
    if not 0 <= v < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return v


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


@dataclass(frozen=True)
class RateState:
    """What every controller carries."""

    lr: float  #: the rate of the last update (the initial rate before any step)
    n_steps: int = 0  #: calls to ``step`` so far
    n_rejected: int = 0  #: updates rejected because a probe or the update was not finite


def state_to_arrays(state) -> dict[str, np.ndarray]:
    """A controller state as ``np.savez``-ready arrays: numbers as 0-d float64 / int64 arrays,
    arrays as copies in their own dtype (a float32 run stays float32), ``None`` as an empty
    float64 array."""
    out = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if value is None:
            out[f.name] = np.array([], dtype=np.float64)
        elif isinstance(value, np.ndarray):
            out[f.name] = value.copy()
        elif isinstance(value, int):
            out[f.name] = np.array(value, dtype=np.int64)
        else:
            out[f.name] = np.array(value, dtype=np.float64)
    return out


def state_from_arrays(cls, arrays) -> object:
    """The inverse of :func:`state_to_arrays` for the state class ``cls``; each field is
    converted by its annotation (``float``, ``int`` or an optional array)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in arrays:
            raise ValueError(f"{cls.__name__} has no {f.name!r} in the saved state")
        value = np.asarray(arrays[f.name])
        if hints[f.name] in (float, int):
            if value.ndim != 0:
                raise ValueError(f"{cls.__name__}.{f.name} must be a number, got an array of "
                                 f"shape {value.shape}")
            values[f.name] = hints[f.name](value)
        else:
            values[f.name] = value.copy() if value.size else None
    return cls(**values)


class LearningRateController:
    """Base class: the state record, the rate, checkpoints. Subclasses set ``State`` and
    implement :meth:`step`."""

    #: The frozen dataclass of this controller's state.
    State: typing.ClassVar[type] = RateState

    def __init__(self, eta, **state):
        self.state = self.State(lr=check_positive("eta", eta), **state)
        #: The rule's internals of the last step (numbers and flags; not part of the state).
        self.last_info: dict = {}

    @property
    def lr(self) -> float:
        """The rate of the last update (the initial rate before any step)."""
        return self.state.lr

    @property
    def n_steps(self) -> int:
        return self.state.n_steps

    @property
    def n_rejected(self) -> int:
        return self.state.n_rejected

    def step(self, grad: np.ndarray, phi=None) -> float:
        """The rate of this step's update (Eq. 2); see the module docstring."""
        raise NotImplementedError

    def _advance(self, *, rejected: bool = False, **changes) -> None:
        """Replace the state: one more step (one more rejection if ``rejected``) and
        ``changes``."""
        s = self.state
        self.state = dataclasses.replace(s, n_steps=s.n_steps + 1,
                                         n_rejected=s.n_rejected + bool(rejected), **changes)

    # -- checkpoints: plain numbers and arrays, no pickle ----------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as arrays (see :func:`state_to_arrays`)."""
        return state_to_arrays(self.state)

    def load_state_dict(self, arrays) -> None:
        """Restore what :meth:`state_dict` saved (same class and hyperparameters)."""
        self.state = state_from_arrays(self.State, arrays)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:.6g})"
