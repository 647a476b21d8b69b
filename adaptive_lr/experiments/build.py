"""Building blocks by name: models, controllers and directions for the experiments and the CLI."""

from __future__ import annotations

import numpy as np

from ..controllers import ExactNewtonLR, FirstOrderLR, FixedLR, SecondOrderLR
from ..models.linear import LinearRegression
from ..models.logistic import LogisticRegression

MODELS = ("linear", "logistic", "lenet")
#: The input layout each model takes (see :func:`adaptive_lr.experiments.data.load_data`).
MODEL_LAYOUT = {"linear": "features", "logistic": "features", "lenet": "images"}
#: The model used for a data set when none is named.
DEFAULT_MODEL = {"boston": "linear", "mnist": "logistic", "cifar10": "lenet"}
CONTROLLERS = ("fixed", "first-order", "second-order", "exact-newton", "safeguarded")
DIRECTIONS = ("gradient", "adam")
DTYPES = ("float64", "float32")


def make_model(name: str, data, *, dropout: float = 0.5):
    """The model ``name`` sized for ``data`` (an :class:`~.data.Data`)."""
    if name == "linear":
        if data.n_classes is not None:
            raise ValueError(f"a linear regression needs real-valued targets; {data.name} has "
                             "class labels (use --model logistic)")
        return LinearRegression(data.X.shape[1])
    if data.n_classes is None:
        raise ValueError(f"{name} is a classifier; {data.name} is a regression (use --model "
                         "linear)")
    if name == "logistic":
        return LogisticRegression(data.X.shape[1], data.n_classes)
    if name == "lenet":
        from ..models.lenet import LeNet  # imported only when needed

        c, h, w = data.image_shape
        return LeNet(in_channels=c, n_classes=data.n_classes, image_size=(h, w), dropout=dropout)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def make_controller(kind: str, eta: float, *, alpha: float | None = None, eps: float = 1e-5,
                    delta: float = 1e-6, delta_rule: str = "always", beta: float = 0.0):
    """A learning-rate controller by name, with the hyperparameters that apply to it.

    ``"safeguarded"`` is :class:`~adaptive_lr.controllers.SafeguardedSecondOrderLR` (beyond
    the paper) with its default safeguards; ``eps`` and ``delta`` apply to it.
    """
    if kind == "fixed":
        return FixedLR(eta)
    if kind == "first-order":
        if alpha is None:
            raise ValueError("the first-order controller needs alpha (--alpha)")
        return FirstOrderLR(eta, alpha, delta=delta, beta=beta)
    if kind == "second-order":
        return SecondOrderLR(eta, eps=eps, delta=delta, delta_rule=delta_rule, beta=beta)
    if kind == "exact-newton":
        return ExactNewtonLR(eta, delta=delta)
    if kind == "safeguarded":  # beyond the paper; its own defaults for the safeguards
        from ..controllers import SafeguardedSecondOrderLR

        return SafeguardedSecondOrderLR(eta, eps=eps, delta=delta)
    raise ValueError(f"unknown controller {kind!r}; choose one of {', '.join(CONTROLLERS)}")


def parse_dtype(name: str) -> np.dtype:
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose float64 or float32")
    return np.dtype(name)


def settled_rate(history, window: int | None = None) -> float:
    """The rate a run settled on: the median ``lr`` over its last epoch (or last ``window``
    steps). Sec. 5.1 starts new runs from it; ``adaptive-lr lr-find`` prints it."""
    lr = np.asarray(history.lr, dtype=np.float64)
    if lr.size == 0:
        raise ValueError("the run made no step, so it settled on no rate")
    if window is None:
        last = history.epoch_of_iter[-1]
        lr = lr[np.asarray(history.epoch_of_iter) == last]
    else:
        lr = lr[-window:]
    return float(np.median(lr))
