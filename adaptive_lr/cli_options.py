"""The command line's option types, and the options and help texts several subcommands share.

The types check one value each and raise :class:`argparse.ArgumentTypeError`, which argparse
prefixes with the option's name: ``argument --batch-size: expected an integer >= 1, got 0``.
The ``add_*`` functions declare a group of options on one subcommand's parser
(:mod:`adaptive_lr.cli` builds the subcommands from them); :data:`FILES_HELP` and
:data:`PROGRESS_HELP` end the help of the subcommands that train.
"""

from __future__ import annotations

import argparse
import math

from .controllers.first_order import DERIVATIVES
from .experiments.build import DTYPES, MODELS
from .experiments.data import DATASETS
from .experiments.outputs import EPOCH_COLUMNS, ITERATION_COLUMNS

# --------------------------------------------------------------------------- option types


def _integer(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {least}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {value}")
    return value


def nonneg_int(text: str) -> int:
    """An integer >= 0 (``--epochs``, ``--seed``)."""
    return _integer(text, 0)


def positive_int(text: str) -> int:
    """An integer >= 1 (``--batch-size``, ``--steps``, ``--checkpoint-every``, ...)."""
    return _integer(text, 1)


def _number(text: str, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (rates, ``--eps``)."""
    value = _number(text, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def nonneg_float(text: str) -> float:
    """A finite number >= 0 (``--delta``)."""
    value = _number(text, "a finite number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in the open interval (0, 1) (``--val-fraction``)."""
    value = _number(text, "a number in (0, 1)")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return value


def decay(text: str) -> float:
    """A number in [0, 1) (``--beta``, ``--average``, ``--dropout``)."""
    value = _number(text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def folder_name(text: str) -> str:
    """One folder name, no path (``--name``)."""
    if text in ("", ".", "..") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"expected a folder name (no '/' or '\\'), got {text!r}")
    return text


# --------------------------------------------------------------------------- shared options

FILES_HELP = f"""\
files written into OUT/NAME/:
  history_<run>.csv   one row per iteration: {", ".join(ITERATION_COLUMNS)}
  epochs_<run>.csv    one row per epoch (0 = before training):
                      {", ".join(EPOCH_COLUMNS)}
                      (lr: the rate of the epoch's last step; time: seconds of
                      training, evaluations excluded; empty cell = n/a)
  history.json        all runs: hyperparameters and their sources, data, histories, summary
  loss.png, accuracy.png, lr.png, loss_time.png
                      figures; legends <metric>_<run>, runs end in _basic or _adaptive
  checkpoint_<run>.npz  with --checkpoint-every (or --resume)
"""
PROGRESS_HELP = """\
progress (on stderr, silenced by --quiet): a line per epoch (at most about 25 per
run) with the evaluation's numbers, the training time and the evaluation's time;
within an epoch longer than 10 s, a line every 10 s (an overwriting line on a
terminal) with the step, the mean batch loss so far and the time left.
"""

QUICK_HELP = ("reduced version: a subset and fewer epochs; uses a labelled synthetic stand-in "
              "when the real data files are absent")


def add_common(p: argparse.ArgumentParser, folder: str = "NAME", dtype: bool = True,
               quick_help: str = QUICK_HELP) -> None:
    """``--out``, ``--seed``, ``--dtype`` (unless ``dtype`` is false), ``--quick``, ``--quiet``."""
    p.add_argument("--out", default="results", metavar="DIR",
                   help=f"output folder; files go to DIR/{folder}/ (default: %(default)s)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed (default: 0)")
    if dtype:
        p.add_argument("--dtype", choices=DTYPES, default="float64",
                       help="precision of weights and data (default: float64; see "
                            "docs/design.md)")
    p.add_argument("--quick", action="store_true", help=quick_help)
    add_quiet(p)


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def add_checkpoints(p: argparse.ArgumentParser) -> None:
    """``--checkpoint-every`` and ``--resume``."""
    p.add_argument("--checkpoint-every", type=positive_int, metavar="EPOCHS",
                   help="save weights, controller state and history every EPOCHS epochs "
                        "(at epoch ends, atomically) into OUT/NAME/checkpoint_<run>.npz")
    p.add_argument("--resume", action="store_true",
                   help="continue each run from its checkpoint (bit for bit the same result "
                        "as an uninterrupted run with the same arguments)")


def add_data(p: argparse.ArgumentParser, model_help: str) -> None:
    """``--dataset`` (required) and ``--model``."""
    p.add_argument("--dataset", choices=DATASETS, required=True)
    p.add_argument("--model", choices=MODELS, help=model_help)


def add_eta(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--eta", type=positive_float, default=0.01, help=help)


def add_batch_size(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--batch-size", type=positive_int, default=None, help=help)


def add_dropout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dropout", type=decay, default=None,
                   help="the network's dropout, in [0, 1) (default: 0.5; lenet and resnet18 only)")


#: The controllers' hyperparameters as options: (dest, flag type, help). Unset ones are None
#: and take the controller's default; one that the controller does not take is an error.
HYPER = {
    "alpha": (positive_float, "meta learning rate of the first-order rule, Eq. 6 (needed by "
                              "--controller first-order)"),
    "derivative": (None, "first-order rule: f' from the next gradient (Eq. 8, default) or from "
                         "the probe by Eq. 15 (with --probe-on validation: the held-out loss)"),
    "eps": (positive_float, "finite-difference step (default: 1e-5, the paper's)"),
    "delta": (nonneg_float, "smoothing of Eq. 17-18 and floor of Eq. 19 (default: 1e-6)"),
    "delta_rule": (None, "add delta to every denominator (Eq. 18 as printed, default) or only "
                         "when it is exactly zero (the authors' code)"),
    "beta": (decay, "momentum on the rate, Eq. 20-21, in [0, 1) (default: 0; the paper tried "
                    "0.9)"),
    "average": (decay, "safeguarded: averaging of the derivative model, in [0, 1) (default: "
                       "0.99; docs/safeguarded.md recommends 0.999)"),
}
CHOICES = {"derivative": DERIVATIVES, "delta_rule": ("always", "if-zero")}


def add_hyper(p: argparse.ArgumentParser, names) -> None:
    """The options of the hyperparameters ``names`` (keys of :data:`HYPER`)."""
    for name in names:
        kind, text = HYPER[name]
        flag = "--" + name.replace("_", "-")
        if name in CHOICES:
            p.add_argument(flag, choices=CHOICES[name], help=text)
        else:
            p.add_argument(flag, type=kind, metavar=name.upper(), help=text)
