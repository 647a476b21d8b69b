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

from .controllers.base import check_beta, check_positive


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
        self.beta1 = check_beta(beta1)
        self.beta2 = check_beta(beta2)
        self.eps = check_positive("eps", eps)
        self.t = 0
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def __call__(self, grad: np.ndarray) -> np.ndarray:
        grad = np.asarray(grad)
        if self.m is None or self.m.shape != grad.shape or self.m.dtype != grad.dtype:
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
        for key in ("t", "m", "v"):
            if key not in state:
                raise ValueError(f"Adam direction state has no {key!r}")
        self.t = int(np.asarray(state["t"]))
        m, v = np.asarray(state["m"]), np.asarray(state["v"])
        self.m = m.copy() if m.size else None
        self.v = v.copy() if v.size else None

    def __repr__(self) -> str:
        return f"AdamDirection(beta1={self.beta1:g}, beta2={self.beta2:g}, eps={self.eps:g})"


DIRECTIONS = {"gradient": GradientDirection, "adam": AdamDirection}


def make_direction(name: str, **kwargs):
    """A direction by name: ``"gradient"`` or ``"adam"`` (keyword arguments go to it)."""
    if name not in DIRECTIONS:
        raise ValueError(f"unknown direction {name!r}; choose one of {sorted(DIRECTIONS)}")
    return DIRECTIONS[name](**kwargs)
