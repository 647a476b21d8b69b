"""Learning-rate controllers behind one interface (see :mod:`.base` for the contract).

The paper's rules (fixed, first order, second order) and, for comparison, the step-size methods
people pick instead: a stochastic Armijo line search, the stochastic Polyak step, GeN, DoG,
D-Adaptation, and hypergradient descent (which is :class:`FirstOrderLR`).
"""

from .armijo import ArmijoLR
from .base import LearningRateController
from .dadapt import DAdaptSGDLR
from .dog import DoGLR
from .exact_newton import ExactNewtonLR
from .first_order import FirstOrderLR
from .fixed import FixedLR
from .gen import GeNLR
from .hypergradient import adam_hd, sgd_hd
from .polyak import PolyakLR, alig
from .safeguarded import SafeguardedSecondOrderLR
from .second_order import SecondOrderLR

__all__ = ["LearningRateController", "FixedLR", "FirstOrderLR", "SecondOrderLR", "ExactNewtonLR",
           "SafeguardedSecondOrderLR", "ArmijoLR", "PolyakLR", "GeNLR", "DoGLR", "DAdaptSGDLR",
           "alig", "sgd_hd", "adam_hd"]
