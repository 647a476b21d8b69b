"""Learning-rate controllers behind one interface (see :mod:`.base` for the contract)."""

from .base import LearningRateController
from .exact_newton import ExactNewtonLR
from .first_order import FirstOrderLR
from .fixed import FixedLR
from .safeguarded import SafeguardedSecondOrderLR
from .second_order import SecondOrderLR

__all__ = ["LearningRateController", "FixedLR", "FirstOrderLR", "SecondOrderLR", "ExactNewtonLR",
           "SafeguardedSecondOrderLR"]
