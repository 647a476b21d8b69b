"""adaptive-lr: the reference NumPy implementation of Ravaut & Gorti,
"Faster gradient descent via an adaptive learning rate".

The pieces, each next to the equations it implements:

* :mod:`adaptive_lr.models`: pure functions of one flat parameter vector;
* :mod:`adaptive_lr.probe`: ``phi(etas) = L(w - eta d)`` (Eq. 3-4);
* :mod:`adaptive_lr.finite_diff`: Eq. 12-18;
* :mod:`adaptive_lr.controllers`: the learning-rate rules (Eq. 5-21);
* :mod:`adaptive_lr.train`: the training loop and its history.
"""

from .checkpoint import CheckpointError
from .controllers import (
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    LearningRateController,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
)
from .directions import AdamDirection, AveragedGradientDirection, GradientDirection
from .models.lenet import LeNet
from .models.linear import LinearRegression
from .models.logistic import LogisticRegression
from .probe import PassCounter, Probe
from .train import History, TrainResult, evaluate, train

__version__ = "0.1.0"

__all__ = [
    "ExactNewtonLR", "FirstOrderLR", "FixedLR", "LearningRateController", "SecondOrderLR",
    "SafeguardedSecondOrderLR",
    "LeNet", "LinearRegression", "LogisticRegression", "PassCounter", "Probe",
    "History", "TrainResult", "evaluate", "train",
    "AdamDirection", "AveragedGradientDirection", "GradientDirection", "CheckpointError",
]
