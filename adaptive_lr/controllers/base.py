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
import typing
from dataclasses import dataclass

import numpy as np

from ..arguments import check_beta, check_nonnegative, check_positive, describe

__all__ = ["LearningRateController", "RateState", "check_beta", "check_gradient",
           "check_nonnegative", "check_positive", "state_from_arrays", "state_to_arrays"]


def check_gradient(grad, name: str = "grad", shape: tuple | None = None) -> np.ndarray:
    """A gradient or direction given to a controller: a float array (of ``shape`` if given)."""
    g = np.asarray(grad)
    if g.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got "
                        f"{describe(grad) if g.dtype == object else g.dtype}")
    if g.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one flat vector like w), got shape {g.shape}")
    if shape is not None and g.shape != shape:
        raise ValueError(f"{name} has shape {g.shape}, the gradient {shape}")
    return g


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


#: State fields that are rates: finite and >= 0 (Eq. 19 keeps every rate >= delta >= 0).
RATE_FIELDS = ("lr", "next_lr")


def state_from_arrays(cls, arrays) -> object:
    """The inverse of :func:`state_to_arrays` for the state class ``cls``; each field is
    converted by its annotation (``float``, ``int`` or an optional array) and checked: numbers
    0-d and finite, rates (:data:`RATE_FIELDS`) ``>= 0``, counts integers ``>= 0`` (and
    ``n_rejected <= n_steps``), arrays 1-D, float and finite. A ``ValueError`` names the field."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in arrays:
            raise ValueError(f"{cls.__name__} has no {f.name!r} in the saved state")
        values[f.name] = _state_field(f"{cls.__name__}.{f.name}", hints[f.name],
                                      np.asarray(arrays[f.name]))
        if f.name in RATE_FIELDS and values[f.name] < 0:
            raise ValueError(f"{cls.__name__}.{f.name} is a learning rate: it must be >= 0, "
                             f"got {values[f.name]!r}")
    if values["n_rejected"] > values["n_steps"]:
        raise ValueError(f"{cls.__name__}.n_rejected ({values['n_rejected']}) exceeds n_steps "
                         f"({values['n_steps']})")
    return cls(**values)


def _state_field(name: str, hint, value: np.ndarray):
    """One saved field as its annotated type, or a ``ValueError`` naming it."""
    if hint in (float, int):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a number, got an array of shape {value.shape}")
        if value.dtype.kind not in ("iu" if hint is int else "iuf"):
            raise ValueError(f"{name} must be {'an integer' if hint is int else 'a real number'}"
                             f", got dtype {value.dtype}")
        number = hint(value)
        if not np.isfinite(number):
            raise ValueError(f"{name} must be finite, got {number!r}")
        if hint is int and number < 0:
            raise ValueError(f"{name} is a count: it must be >= 0, got {number}")
        return number
    if not value.size:
        return None
    if value.ndim != 1 or value.dtype.kind != "f" or not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be a 1-D finite float array, got {value.dtype} of shape "
                         f"{value.shape}" + ("" if value.dtype.kind != "f" or np.all(
                             np.isfinite(value)) else " with NaN or inf"))
    return value.copy()


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
