"""Models by name, sized for a data set, for the experiments and the CLI (controllers and
directions by name: :mod:`adaptive_lr.registry`)."""

from __future__ import annotations

import numpy as np

from ..models.linear import LinearRegression
from ..models.logistic import LogisticRegression

MODELS = ("linear", "logistic", "lenet", "resnet18")
#: The input layout each model takes (see :func:`adaptive_lr.experiments.data.load_data`).
MODEL_LAYOUT = {"linear": "features", "logistic": "features", "lenet": "images",
                "resnet18": "images"}
#: The model used for a data set when none is named.
DEFAULT_MODEL = {"boston": "linear", "mnist": "logistic", "cifar10": "lenet",
                 "cifar100": "resnet18"}
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
    if name == "resnet18":
        from ..models.resnet import ResNet18  # imported only when needed

        c, h, w = data.image_shape
        return ResNet18(in_channels=c, n_classes=data.n_classes, image_size=(h, w),
                        dropout=dropout)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


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
