"""The ``adaptive-lr`` command (also ``python -m adaptive_lr``).

Subcommands: ``reproduce`` (the paper's experiments by name), ``train`` (the building blocks),
``lr-find`` (the rate the adaptive method settles on) and ``list``; their code is in
:mod:`adaptive_lr.commands`. Errors print one line, ``adaptive-lr: error: <message>``, and exit
with status 2; argparse's own errors do the same.
"""

from __future__ import annotations

import argparse
import math
import sys

from .commands import cmd_list, cmd_lr_find, cmd_reproduce, cmd_train
from .controllers.first_order import DERIVATIVES
from .datasets import DataError
from .experiments.build import DTYPES, MODELS
from .experiments.data import DATASETS
from .experiments.outputs import EPOCH_COLUMNS, ITERATION_COLUMNS
from .experiments.registry import EXPERIMENTS
from .fast.chunks import raise_heap_thresholds
from .registry import CONTROLLERS, DIRECTIONS

PROG = "adaptive-lr"
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


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``PROG: error: message (see --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _pos_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _pos_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _common(p: Parser, out_default: str = "results") -> None:
    p.add_argument("--out", default=out_default, metavar="DIR",
                   help="output folder; files go to DIR/NAME/ (default: %(default)s)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default: 0)")
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="precision of weights and data (default: float64; see docs/design.md)")
    p.add_argument("--quick", action="store_true",
                   help="reduced version: a subset and fewer epochs; uses a labelled synthetic "
                        "stand-in when the real data files are absent")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _checkpoints(p: Parser) -> None:
    p.add_argument("--checkpoint-every", type=_pos_int, metavar="EPOCHS",
                   help="save weights, controller state and history every EPOCHS epochs "
                        "(at epoch ends, atomically) into OUT/NAME/checkpoint_<run>.npz")
    p.add_argument("--resume", action="store_true",
                   help="continue each run from its checkpoint (bit for bit the same result "
                        "as an uninterrupted run with the same arguments)")


def _hyper(p: Parser) -> None:
    """The controllers' hyperparameters; unset ones take the controller's default."""
    p.add_argument("--eps", type=_pos_float,
                   help="finite-difference step (default: 1e-5, the paper's)")
    p.add_argument("--delta", type=float,
                   help="smoothing of Eq. 17-18 and floor of Eq. 19 (default: 1e-6)")
    p.add_argument("--delta-rule", choices=("always", "if-zero"),
                   help="add delta to every denominator (Eq. 18 as printed, default) or only "
                        "when it is exactly zero (the authors' code)")
    p.add_argument("--beta", type=float,
                   help="momentum on the rate, Eq. 20-21 (default: 0; the paper tried 0.9)")
    p.add_argument("--average", type=float,
                   help="safeguarded: averaging of the derivative model, in [0, 1) (default: "
                        "0.99; docs/safeguarded.md recommends 0.999)")


def build_parser() -> Parser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog=PROG, formatter_class=fmt,
        description="Faster gradient descent via an adaptive learning rate (Ravaut & Gorti):\n"
                    "reproduce the paper's experiments, train, find a learning rate.",
        epilog="examples:\n  adaptive-lr reproduce boston\n  adaptive-lr reproduce mnist "
               "--quick\n  adaptive-lr train --dataset mnist --controller second-order "
               "--eta 0.01 --epochs 2\n  adaptive-lr lr-find --dataset mnist\n"
               "  adaptive-lr list\n\nrun 'adaptive-lr COMMAND --help' for a command's options")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    names = ", ".join(EXPERIMENTS)
    rep = sub.add_parser(
        "reproduce", formatter_class=fmt, help="run one of the paper's experiments by name",
        description=f"Run one of the paper's experiments with its hyperparameters and write\n"
                    f"CSV, JSON and PNG files. Experiments: {names}.",
        epilog="examples:\n  adaptive-lr reproduce boston            # Fig. 1-2, seconds\n"
               "  adaptive-lr reproduce mnist --quick     # a 2000-image subset, 2 epochs\n"
               "  adaptive-lr reproduce lenet --epochs 10 --checkpoint-every 1\n"
               "  adaptive-lr reproduce lenet --epochs 10 --resume   # after an interruption\n"
               "  adaptive-lr reproduce mnist --delta-rule if-zero   # the authors' reading\n\n"
               + FILES_HELP + "\n'adaptive-lr list' shows every experiment and its sources.")
    rep.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME",
                     help=f"the experiment: {names}")
    rep.add_argument("--epochs", type=_nonneg_int,
                     help="override the experiment's number of epochs")
    rep.add_argument("--delta-rule", choices=("always", "if-zero"),
                     help="override the second-order runs' reading of Eq. 17-18 "
                          "(default: the experiment's, 'always')")
    rep.add_argument("--no-plots", action="store_true", help="write no figures")
    _common(rep)
    _checkpoints(rep)

    tr = sub.add_parser(
        "train", formatter_class=fmt, help="train one model with one controller",
        description="Train a model with SGD (or Adam's direction) whose rate comes from a\n"
                    "controller: the building blocks of the experiments.",
        epilog="examples:\n"
               "  adaptive-lr train --dataset mnist --epochs 2       # second-order, batch 32\n"
               "  adaptive-lr train --dataset boston --controller exact-newton --eta 1e-2 "
               "--epochs 500\n"
               "  adaptive-lr train --dataset mnist --delta-rule if-zero  # the authors' reading:"
               " the rate overshoots\n"
               "  adaptive-lr train --dataset cifar10 --controller fixed --direction adam "
               "--eta 1e-3 --epochs 5\n"
               "  adaptive-lr train --dataset mnist --probe-on validation --val-fraction 0.1\n"
               "  adaptive-lr train --dataset mnist --controller safeguarded --probe-on "
               "validation --direction averaged --epochs 3\n\n"
               + FILES_HELP.replace("NAME", "NAME (--name, default train)"))
    tr.add_argument("--dataset", choices=DATASETS, required=True)
    tr.add_argument("--model", choices=MODELS,
                    help="default: linear for boston, logistic for mnist, lenet for cifar10")
    tr.add_argument("--controller", choices=list(CONTROLLERS), default="second-order",
                    help="learning-rate rule (default: second-order): "
                         + "; ".join(f"{k}: {e.summary}" for k, e in CONTROLLERS.items()))
    tr.add_argument("--eta", type=_pos_float, default=0.01,
                    help="initial (or fixed) learning rate (default: 0.01)")
    tr.add_argument("--alpha", type=float, default=None,
                    help="meta learning rate of the first-order rule, Eq. 6")
    tr.add_argument("--derivative", choices=DERIVATIVES,
                    help="first-order rule: f' from the next gradient (Eq. 8, default) or from "
                         "the probe by Eq. 15 (with --probe-on validation: the held-out loss)")
    _hyper(tr)
    tr.add_argument("--direction", choices=list(DIRECTIONS), default="gradient",
                    help="step direction (default: gradient): "
                         + "; ".join(f"{k}: {e.summary}" for k, e in DIRECTIONS.items()))
    tr.add_argument("--epochs", type=_nonneg_int, default=1, help="default: 1")
    tr.add_argument("--batch-size", type=_pos_int, default=None,
                    help="mini-batch size (default: the data set's experiment: the full "
                         "batch for boston, 32 for mnist and cifar10)")
    tr.add_argument("--probe-on", choices=("train", "validation"), default="train",
                    help="batch the probe evaluates (validation: Sec. 5.3)")
    tr.add_argument("--val-fraction", type=float, default=0.1,
                    help="training fraction held out for --probe-on validation (default: 0.1)")
    tr.add_argument("--dropout", type=float, default=0.5, help="LeNet's dropout (default 0.5)")
    tr.add_argument("--n-train", type=_pos_int, help="use the first N training examples")
    tr.add_argument("--n-test", type=_pos_int, help="use the first N test examples")
    tr.add_argument("--name", default="train", help="subfolder of --out (default: train)")
    _common(tr)
    _checkpoints(tr)

    lf = sub.add_parser(
        "lr-find", formatter_class=fmt, help="print the rate the adaptive method settles on",
        description="Run the second-order method for a short while and print the learning\n"
                    "rate it settles on (the median over the last fifth of the steps), as the\n"
                    "paper's conclusion proposes; the curve goes to OUT/lr-find/lr_find.png.\n"
                    "A rate from a full-batch run (boston) may exceed the stability limit of\n"
                    "a fixed rate: see REPRODUCTION.md.",
        epilog="examples:\n  adaptive-lr lr-find --dataset mnist\n"
               "  adaptive-lr lr-find --dataset boston --eta 1e-2 --steps 300\n"
               "  adaptive-lr lr-find --dataset cifar10 --steps 400 --batch-size 32")
    lf.add_argument("--dataset", choices=DATASETS, required=True)
    lf.add_argument("--model", choices=MODELS, help="default: as for train")
    lf.add_argument("--eta", type=_pos_float, default=0.01, help="initial rate (default 0.01)")
    lf.add_argument("--steps", type=_pos_int, default=500,
                    help="at least this many steps, in whole epochs (default: 500)")
    lf.add_argument("--batch-size", type=_pos_int, default=32,
                    help="mini-batch size (default: 32; boston uses the full batch)")
    lf.add_argument("--dropout", type=float, default=0.5, help="LeNet's dropout (default 0.5)")
    _hyper(lf)
    _common(lf)

    sub.add_parser("list", help="list the experiments, with the paper's figures and sources",
                   description="List the experiments of 'reproduce' and where each value "
                               "comes from.")
    add_compare_parser(sub)
    return parser


COMMANDS = {"reproduce": cmd_reproduce, "train": cmd_train, "lr-find": cmd_lr_find,
            "list": cmd_list, "compare": lambda args: args.run(args)}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (data errors list missing files on several)."""
    text = " ".join(part.strip(" -") for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # once per process: keep a step's large temporaries (full-batch logits, LeNet's unfolded
    # input) in malloc's heap instead of page-faulting them afresh every step
    raise_heap_thresholds()
    try:
        return COMMANDS[args.command](args)
    except (ValueError, DataError, OSError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (resume with --resume if checkpoints were on)",
              file=sys.stderr)
        return 130


def add_compare_parser(sub) -> None:
    """The ``compare`` subcommand (:mod:`adaptive_lr.experiments.compare`)."""
    from .experiments.compare import METHODS, PROBLEMS, cmd_compare

    p = sub.add_parser(
        "compare", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="the paper's rules against the step-size methods people pick instead",
        description="Run the paper's rules, SafeguardedSecondOrderLR, a fixed rate and the\n"
                    "methods people pick instead (Armijo line search, SPS, GeN, SGD-HD, DoG,\n"
                    "D-Adaptation) from several initial rates, in one training loop, and\n"
                    "write a table and figures to OUT/compare/ (docs/compare.md).",
        epilog="examples:\n  adaptive-lr compare --quick\n"
               "  adaptive-lr compare --problems mnist,boston\n"
               "  adaptive-lr compare --problems lenet --methods sgd,armijo,gen --epochs 5")
    p.add_argument("--problems", default=",".join(PROBLEMS),
                   help=f"comma-separated, among {', '.join(PROBLEMS)} (default: all)")
    p.add_argument("--methods", default=None,
                   help="comma-separated, among " + ", ".join(m.label for m in METHODS)
                        + " (default: all)")
    p.add_argument("--epochs", type=_nonneg_int, help="override each problem's epochs")
    p.add_argument("--no-plots", action="store_true", help="write no figures")
    p.add_argument("--out", default="results", metavar="DIR",
                   help="output folder; files go to DIR/compare/ (default: %(default)s)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true",
                   help="subsets, fewer epochs and two initial rates: seconds")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_compare)


if __name__ == "__main__":
    sys.exit(main())
