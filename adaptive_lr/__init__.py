"""adaptive-lr: the reference NumPy implementation of Ravaut & Gorti,
"Faster gradient descent via an adaptive learning rate".

The pieces, each next to the equations it implements:

* :mod:`adaptive_lr.models`: pure functions of one flat parameter vector;
* :mod:`adaptive_lr.probe`: ``phi(etas) = L(w - eta d)`` and what a controller may ask of it
  (Eq. 3-4, 7, 11, 22-23);
* :mod:`adaptive_lr.finite_diff`: Eq. 12-18;
* :mod:`adaptive_lr.controllers`: the learning-rate rules (Eq. 2, 5-21);
* :mod:`adaptive_lr.train`: the paper's step (Eq. 1, Sec. 4.1) and the training loop.
"""

from .checkpoint import CheckpointError
from .controllers import (
    ArmijoLR,
    DAdaptSGDLR,
    DoGLR,
    ExactNewtonLR,
    FirstOrderLR,
    FixedLR,
    GeNLR,
    LearningRateController,
    PolyakLR,
    SafeguardedSecondOrderLR,
    SecondOrderLR,
)
from .directions import AdamDirection, AveragedGradientDirection, GradientDirection
from .models.lenet import LeNet
from .models.linear import LinearRegression
from .models.logistic import LogisticRegression
from .models.resnet import ResNet18
from .probe import PassCounter, Probe
from .train import History, TrainResult, evaluate, sgd_step, train

__version__ = "0.1.0"

__all__ = [
    "ExactNewtonLR", "FirstOrderLR", "FixedLR", "LearningRateController", "SecondOrderLR",
    "SafeguardedSecondOrderLR", "ArmijoLR", "PolyakLR", "GeNLR", "DoGLR", "DAdaptSGDLR",
    "LeNet", "LinearRegression", "LogisticRegression", "PassCounter", "Probe", "ResNet18",
    "History", "TrainResult", "evaluate", "sgd_step", "train",
    "AdamDirection", "AveragedGradientDirection", "GradientDirection", "CheckpointError",
]
