"""Models: pure functions of one flat parameter vector (see :mod:`adaptive_lr.models.base`)."""

from .base import Model
from .lenet import LeNet, LeNetNoise
from .linear import LinearRegression
from .logistic import LogisticRegression
from .resnet import ResNet18, ResNetNoise

__all__ = ["Model", "LeNet", "LeNetNoise", "LinearRegression", "LogisticRegression",
           "ResNet18", "ResNetNoise"]
