"""Step directions ``d = direction(grad)``: the update is ``w - eta * d`` (Sec. 5.4).

The paper's methods step along the raw gradient (:class:`GradientDirection`). Its Sec. 5.4
compares them with Adam (Kingma & Ba, 2015), and its conclusion proposes to let the adaptive
rate drive another optimizer. Separating the *direction* from the *rate* does both: Adam with a
fixed rate is ``FixedLR(eta)`` + :class:`AdamDirection`; the adaptive rate driving Adam is
``SecondOrderLR(eta)`` + :class:`AdamDirection`, whose probe evaluates ``L(w - eta d)`` along
Adam's direction ``d`` instead of the gradient.

A direction is called exactly once per step, with that step's gradient; a stateful one updates
its state on the call. Its state is a dict of arrays (``state_dict`` / ``load_state_dict``) so
that checkpoints need no pickle.
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import describe
from .controllers.base import check_beta, check_positive


def check_grad(grad, moments: np.ndarray | None) -> np.ndarray:
    """The gradient given to a stateful direction: a float array (an integer one would make
    the moments' arithmetic integer), of the shape and dtype of the moments it already holds
    (a direction object belongs to one run; a new model needs a new direction)."""
    g = np.asarray(grad)
    if g.dtype.kind != "f":
        raise TypeError(f"grad must be a float array (float32 or float64), got "
                        f"{describe(grad) if g.dtype == object else g.dtype}")
    if moments is not None and (moments.shape != g.shape or moments.dtype != g.dtype):
        raise ValueError(f"grad is {g.dtype} of shape {g.shape}, the direction's moments "
                         f"{moments.dtype} of shape {moments.shape}: a direction belongs to one "
                         f"run (make a new one for another model or dtype)")
    return g


def load_moments(what: str, state, keys: tuple[str, ...]) -> tuple[int, list]:
    """``t`` and the moment arrays ``keys`` of a saved direction state, checked: ``t`` an
    integer >= 0, the moments finite float arrays of one shape (``v >= 0``), empty exactly when
    ``t == 0``. A ``ValueError`` names the field."""
    for key in ("t", *keys):
        if key not in state:
            raise ValueError(f"{what} state has no {key!r}")
    t = np.asarray(state["t"])
    if t.ndim != 0 or t.dtype.kind not in "iu" or int(t) < 0:
        raise ValueError(f"{what} state: t must be an integer >= 0, got {t!r}")
    moments = [np.asarray(state[key]) for key in keys]
    for key, a in zip(keys, moments, strict=True):
        if a.size and (a.dtype.kind != "f" or not np.all(np.isfinite(a))):
            raise ValueError(f"{what} state: {key} must be a finite float array, got {a.dtype}"
                             + (" with NaN or inf" if a.dtype.kind == "f" else ""))
        if a.shape != moments[0].shape or a.dtype != moments[0].dtype:
            raise ValueError(f"{what} state: {key} is {a.dtype} of shape {a.shape}, {keys[0]} "
                             f"{moments[0].dtype} of shape {moments[0].shape}")
        if key == "v" and np.any(a < 0):
            raise ValueError(f"{what} state: v (a mean of squares) must be >= 0")
    if (int(t) == 0) != (moments[0].size == 0):
        raise ValueError(f"{what} state: t = {int(t)} but the moments have {moments[0].size} "
                         f"entries (empty exactly before the first step)")
    return int(t), [a.copy() if a.size else None for a in moments]


class GradientDirection:
    """``d = grad``: plain SGD (the paper's Eq. 1). Stateless; returns ``grad`` itself."""

    name = "gradient"

    def __call__(self, grad: np.ndarray) -> np.ndarray:
        return grad

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state) -> None:
        return None

    def __repr__(self) -> str:
        return "GradientDirection()"


class AveragedGradientDirection:
    """The bias-corrected average of recent gradients, ``d = m / (1 - beta^t)`` with
    ``m = beta m + (1 - beta) g`` (Adam's first moment without its second).

    ``w - eta * d`` is SGD with heavy-ball momentum ``beta`` at rate ``eta (1 - beta)`` (up to the
    start-up correction): in the long run it moves like SGD at rate ``eta``, but each step's
    gradient noise reaches ``d`` only through the average over the last ``~1 / (1 - beta)``
    steps, whose variance is ``(1 - beta) / (1 + beta)`` times one gradient's (1/19 for 0.9).

    Why it is here: a controller that probes on a held-out batch (Sec. 5.3) picks the rate
    that is best for *one* step along ``d`` (the greedy rate). Measured on MNIST
    (``docs/safeguarded.md``, ``python benchmarks/bench_safeguarded.py --tables mnist,linemin``),
    held-out probes along the raw gradient settle near 0.009, far below the fixed rates that
    train best (0.1-0.2), and along this direction near 0.12-0.14, where those are. The
    expected held-out line minimum at the same weights is about the same along both
    directions, so the measurements show where each run settles, not a mechanism that would
    carry over to other problems. ``beta`` sets the horizon: too close to 1 and the direction
    lags behind the gradient while the rate grows (0.99 is worse than 0.9 on MNIST).

    Parameters
    ----------
    beta : float in [0, 1), default 0.9
        Decay of the average (0 = the gradient itself).

    Examples
    --------
    >>> avg = AveragedGradientDirection(beta=0.5)
    >>> avg(np.array([2.0, 0.0]))                  # t = 1: the gradient itself
    array([2., 0.])
    >>> avg(np.array([0.0, 2.0]))                  # m = [0.5, 1.0] / (1 - 0.25)
    array([0.66666667, 1.33333333])
    """

    name = "averaged"

    def __init__(self, beta=0.9):
        self.beta = check_beta(beta)
        self.t = 0
        self.m: np.ndarray | None = None

    def __call__(self, grad: np.ndarray) -> np.ndarray:
        grad = check_grad(grad, self.m)
        if self.m is None:
            self.m = np.zeros_like(grad)
        self.t += 1
        self.m *= grad.dtype.type(self.beta)
        self.m += grad.dtype.type(1 - self.beta) * grad
        return self.m / grad.dtype.type(1 - math.pow(self.beta, self.t))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"t": np.array(self.t, dtype=np.int64),
                "m": np.array([], dtype=np.float64) if self.m is None else self.m.copy()}

    def load_state_dict(self, state) -> None:
        self.t, (self.m,) = load_moments("averaged-gradient direction", state, ("m",))

    def __repr__(self) -> str:
        return f"AveragedGradientDirection(beta={self.beta:g})"


class AdamDirection:
    """Adam's direction ``d = m_hat / (sqrt(v_hat) + eps)`` (Kingma & Ba, 2015, Algorithm 1).

    With ``t`` the step count, ``m = beta1 m + (1 - beta1) g``, ``v = beta2 v + (1 - beta2) g^2``,
    ``m_hat = m / (1 - beta1^t)`` and ``v_hat = v / (1 - beta2^t)``. Adam's update is then
    ``w - eta * d``: the rate ``eta`` is the controller's business.

    Parameters
    ----------
    beta1, beta2 : float in [0, 1)
        Decay of the first and second moment estimates (Adam's defaults 0.9 and 0.999).
    eps : float > 0
        Added to ``sqrt(v_hat)`` (Adam's default 1e-8).

    Examples
    --------
    >>> adam = AdamDirection()
    >>> np.round(adam(np.array([2.0, -0.5])), 6)  # first step: d = g / (|g| + eps)
    array([ 1., -1.])
    """

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1 = check_beta(beta1, "beta1")
        self.beta2 = check_beta(beta2, "beta2")
        self.eps = check_positive("eps", eps)
        self.t = 0
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def __call__(self, grad: np.ndarray) -> np.ndarray:
        grad = check_grad(grad, self.m)
        if self.m is None:
            self.m = np.zeros_like(grad)
            self.v = np.zeros_like(grad)
        self.t += 1
        b1, b2 = grad.dtype.type(self.beta1), grad.dtype.type(self.beta2)
        self.m *= b1
        self.m += (1 - b1) * grad
        self.v *= b2
        self.v += (1 - b2) * (grad * grad)
        m_hat = self.m / grad.dtype.type(1 - math.pow(self.beta1, self.t))
        v_hat = self.v / grad.dtype.type(1 - math.pow(self.beta2, self.t))
        return m_hat / (np.sqrt(v_hat) + grad.dtype.type(self.eps))

    def state_dict(self) -> dict[str, np.ndarray]:
        empty = np.array([], dtype=np.float64)
        return {"t": np.array(self.t, dtype=np.int64),
                "m": empty if self.m is None else self.m.copy(),
                "v": empty if self.v is None else self.v.copy()}

    def load_state_dict(self, state) -> None:
        self.t, (self.m, self.v) = load_moments("Adam direction", state, ("m", "v"))

    def __repr__(self) -> str:
        return f"AdamDirection(beta1={self.beta1:g}, beta2={self.beta2:g}, eps={self.eps:g})"
