"""The paper's experiments by name, and the building blocks behind ``adaptive-lr``.

* :mod:`.registry`: each experiment's model, data, runs and hyperparameters, with sources;
* :mod:`.data`: the data sets, subsets and labelled synthetic stand-ins;
* :mod:`.build`: models by name (controllers and directions: :mod:`adaptive_lr.registry`);
* :mod:`.runner`: run an experiment and write its files;
* :mod:`.outputs`: the CSV and JSON formats.
"""

from ..registry import make_controller, make_direction
from .build import make_model, settled_rate
from .data import Data, load_data
from .registry import EXPERIMENTS, Experiment, Run, get_experiment
from .runner import format_summary, run_experiment, run_training

__all__ = [
    "EXPERIMENTS", "Data", "Experiment", "Run", "format_summary", "get_experiment", "load_data",
    "make_controller", "make_direction", "make_model", "run_experiment", "run_training",
    "settled_rate",
]
