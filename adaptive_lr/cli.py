"""The ``adaptive-lr`` command (also ``python -m adaptive_lr``).

Subcommands: ``reproduce`` (the paper's experiments by name), ``train`` (the building blocks),
``lr-find`` (the rate the adaptive method settles on), ``download`` (the data sets) and
``list``. Each has one function here that declares its options (``add_<name>``) and one in
:mod:`adaptive_lr.commands` that runs it; a new subcommand adds one of each and a line to
:data:`SUBCOMMANDS`. The option types and the options several subcommands share are in
:mod:`adaptive_lr.cli_options`.

Errors print one line, ``adaptive-lr: error: <message>``, never a traceback (set
``ADAPTIVE_LR_DEBUG=1`` to get the traceback instead). Exit status: 0 done; 1 the work failed
(missing or corrupt data, an unusable checkpoint, a file that cannot be written, a diverged
``train`` run); 2 a bad command line, from argparse or from options that do not fit together;
130 interrupted (Ctrl-C); 141 the reader of the output went away (``adaptive-lr list | head``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from .cli_options import (  # noqa: F401  (the option types, importable from here as before)
    CHOICES,
    FILES_HELP,
    HYPER,
    PROGRESS_HELP,
    add_batch_size,
    add_checkpoints,
    add_common,
    add_data,
    add_dropout,
    add_eta,
    add_hyper,
    add_quiet,
    decay,
    folder_name,
    fraction,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)
from .commands import (
    RunError,
    UsageError,
    cmd_download,
    cmd_list,
    cmd_lr_find,
    cmd_reproduce,
    cmd_train,
)
from .experiments.registry import EXPERIMENTS
from .fast.chunks import raise_heap_thresholds
from .registry import CONTROLLERS, DIRECTIONS

PROG = "adaptive-lr"
#: Set to 1 to let errors propagate with their traceback (for debugging).
DEBUG_VAR = "ADAPTIVE_LR_DEBUG"
BULLET = re.compile(r"^\s*- ")  # the list items of a multi-line message
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141
class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``PROG: error: message (see --help)``."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------- subcommands


def _subcommand(sub, name: str, run, **texts) -> Parser:
    """The parser of subcommand ``name``, run by ``run``; ``texts``: its help, description and
    epilog (printed as written)."""
    p = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    p.set_defaults(run=run)
    return p


def add_reproduce(sub) -> Parser:
    names = ", ".join(EXPERIMENTS)
    p = _subcommand(
        sub, "reproduce", cmd_reproduce,
        help="run one of the paper's experiments by name",
        description=f"Run one of the paper's experiments with its hyperparameters and write\n"
                    f"CSV, JSON and PNG files. Experiments: {names}.",
        epilog="examples:\n  adaptive-lr reproduce boston            # Fig. 1-2, seconds\n"
               "  adaptive-lr reproduce mnist --quick     # a 2000-image subset, 2 epochs\n"
               "  adaptive-lr reproduce lenet --epochs 10 --checkpoint-every 1\n"
               "  adaptive-lr reproduce lenet --epochs 10 --resume   # after an interruption\n"
               "  adaptive-lr reproduce mnist --delta-rule if-zero   # the authors' reading\n\n"
               + FILES_HELP + "\n" + PROGRESS_HELP
               + "\n'adaptive-lr list' shows every experiment and its sources.")
    p.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME",
                   help=f"the experiment: {names}")
    p.add_argument("--epochs", type=nonneg_int,
                   help="override the experiment's number of epochs")
    p.add_argument("--delta-rule", choices=CHOICES["delta_rule"],
                   help="override the second-order runs' reading of Eq. 17-18 "
                        "(default: the experiment's, 'always')")
    p.add_argument("--no-plots", action="store_true", help="write no figures")
    add_common(p)
    add_checkpoints(p)
    return p


def add_train(sub) -> Parser:
    p = _subcommand(
        sub, "train", cmd_train,
        help="train one model with one controller",
        description="Train a model with SGD (or Adam's direction) whose rate comes from a\n"
                    "controller: the building blocks of the experiments. An option that does\n"
                    "not apply to the chosen controller, model or probe is an error.",
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
               "exit status 1 if the run diverges (its files are still written).\n\n"
               + FILES_HELP.replace("NAME", "NAME (--name, default train)") + "\n"
               + PROGRESS_HELP)
    add_data(p, model_help="default: linear for boston, logistic for mnist, lenet for cifar10")
    p.add_argument("--controller", choices=list(CONTROLLERS), default="second-order",
                   help="learning-rate rule (default: second-order): "
                        + "; ".join(f"{k}: {e.summary}" for k, e in CONTROLLERS.items()))
    add_eta(p, help="initial (or fixed) learning rate (default: 0.01)")
    add_hyper(p, HYPER)
    p.add_argument("--direction", choices=list(DIRECTIONS), default="gradient",
                   help="step direction (default: gradient): "
                        + "; ".join(f"{k}: {e.summary}" for k, e in DIRECTIONS.items()))
    p.add_argument("--epochs", type=nonneg_int, default=1, help="default: 1")
    add_batch_size(p, help="mini-batch size (default: the data set's experiment: the full "
                           "batch for boston, 32 for mnist and cifar10)")
    p.add_argument("--probe-on", choices=("train", "validation"), default="train",
                   help="batch the probe evaluates (validation: Sec. 5.3; only for "
                        "controllers that evaluate the probe)")
    p.add_argument("--val-fraction", type=fraction, default=None,
                   help="training fraction held out for --probe-on validation, in (0, 1) "
                        "(default: 0.1)")
    add_dropout(p)
    p.add_argument("--n-train", type=positive_int, help="use the first N training examples")
    p.add_argument("--n-test", type=positive_int, help="use the first N test examples")
    p.add_argument("--name", type=folder_name, default="train",
                   help="subfolder of --out (default: train)")
    add_common(p)
    add_checkpoints(p)
    return p


def add_lr_find(sub) -> Parser:
    p = _subcommand(
        sub, "lr-find", cmd_lr_find,
        help="print the rate the adaptive method settles on",
        description="Run the second-order method for a short while and print the learning\n"
                    "rate it settles on (the median over the last fifth of the steps), as the\n"
                    "paper's conclusion proposes; the curve goes to OUT/lr-find/lr_find.png.\n"
                    "A rate from a full-batch run (boston) may exceed the stability limit of\n"
                    "a fixed rate: see REPRODUCTION.md.",
        epilog="examples:\n  adaptive-lr lr-find --dataset mnist\n"
               "  adaptive-lr lr-find --dataset boston --eta 1e-2 --steps 300\n"
               "  adaptive-lr lr-find --dataset cifar10 --steps 400 --batch-size 32\n\n"
               "exit status 1 if the run diverges.")
    add_data(p, model_help="default: as for train")
    add_eta(p, help="initial rate (default 0.01)")
    p.add_argument("--steps", type=positive_int, default=500,
                   help="at least this many steps, in whole epochs (default: 500)")
    add_batch_size(p, help="mini-batch size (default: 32; the full batch for boston)")
    add_dropout(p)
    add_hyper(p, [n for n in HYPER if n in CONTROLLERS["second-order"].options])
    add_common(p)
    return p


def add_download(sub) -> Parser:
    p = _subcommand(
        sub, "download", cmd_download,
        help="download and verify MNIST and CIFAR-10",
        description="Download the data sets that are absent into the data folder\n"
                    "($ADAPTIVE_LR_DATA, else ~/.cache/adaptive-lr), verify every file\n"
                    "(MNIST: the sha256 of each payload; CIFAR-10: the md5 of the archive\n"
                    "and the size of each file) and print where the files are. Files that\n"
                    "are present are verified, not downloaded again. Boston Housing is\n"
                    "bundled with the package.",
        epilog="examples:\n  adaptive-lr download all\n"
               "  ADAPTIVE_LR_DATA=/data/adaptive-lr adaptive-lr download mnist\n"
               "  adaptive-lr download cifar10 --full   # even where the 4000/1000 subset is")
    p.add_argument("name", choices=("mnist", "cifar10", "all"), metavar="NAME",
                   help="mnist, cifar10 or all")
    p.add_argument("--full", action="store_true",
                   help="CIFAR-10: the official 50000/10000 files even where the folder holds "
                        "the 4000/1000 subset (which the loaders read when it is the only one)")
    add_quiet(p)
    return p


def add_list(sub) -> Parser:
    p = sub.add_parser("list", help="list the experiments, with the paper's figures and sources",
                       description="List the experiments of 'reproduce' and where each value "
                                   "comes from.")
    p.set_defaults(run=cmd_list)
    return p


def add_compare(sub) -> Parser:
    """The ``compare`` subcommand (:mod:`adaptive_lr.experiments.compare`)."""
    from .experiments.compare import METHODS, PROBLEMS, cmd_compare

    p = _subcommand(
        sub, "compare", cmd_compare,
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
    p.add_argument("--epochs", type=nonneg_int, help="override each problem's epochs")
    p.add_argument("--no-plots", action="store_true", help="write no figures")
    add_common(p, folder="compare", dtype=False,
               quick_help="subsets, fewer epochs and two initial rates: seconds")
    return p


#: The subcommands, in the order of ``adaptive-lr --help``.
SUBCOMMANDS = (add_reproduce, add_train, add_lr_find, add_compare, add_download, add_list)


def package_version() -> str:
    """The installed distribution's version, else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adaptive-lr")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Faster gradient descent via an adaptive learning rate (Ravaut & Gorti):\n"
                    "reproduce the paper's experiments, train, find a learning rate.",
        epilog="examples:\n  adaptive-lr reproduce boston\n  adaptive-lr reproduce mnist "
               "--quick\n  adaptive-lr train --dataset mnist --controller second-order "
               "--eta 0.01 --epochs 2\n  adaptive-lr lr-find --dataset mnist\n"
               "  adaptive-lr compare --quick\n  adaptive-lr download mnist\n  adaptive-lr list\n\n"
               "exit status: 0 done, 1 the work failed (data, files, checkpoint, divergence),\n"
               "2 bad command line, 130 interrupted; ADAPTIVE_LR_DEBUG=1 shows tracebacks.\n\n"
               "run 'adaptive-lr COMMAND --help' for a command's options")
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (data errors list missing files on several)."""
    parts = (BULLET.sub("", part).strip() for part in str(exc).splitlines())
    text = " ".join(part for part in parts if part)
    return text or type(exc).__name__


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _run(argv: list[str] | None, debug: bool) -> int:
    args = build_parser().parse_args(argv)
    # once per process: keep a step's large temporaries (full-batch logits, LeNet's unfolded
    # input) in malloc's heap instead of page-faulting them afresh every step
    raise_heap_thresholds()
    try:
        return args.run(args)
    except BrokenPipeError:
        raise  # main's business
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, UsageError):
            _error(one_line(exc))
            return EXIT_USAGE
        if isinstance(exc, (RunError, ValueError, TypeError, OSError)):
            # includes CheckpointError and DataError (ValueErrors) and DataNotFoundError
            _error(one_line(exc))
        elif isinstance(exc, MemoryError):
            _error("out of memory (try a smaller --batch-size, --n-train or --dtype float32)")
        else:
            _error(f"internal error, a bug: {type(exc).__name__}: {one_line(exc)} (run with "
                   f"{DEBUG_VAR}=1 for the traceback)")
        return EXIT_FAILED
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{PROG}: interrupted (with --checkpoint-every, --resume continues from the last "
              "checkpoint)", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


def _silence_broken_pipe() -> None:
    """Point stdout and stderr at the null device, so that Python's final flush of what is
    left in their buffers fails neither (as the Python documentation on SIGPIPE advises)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, OSError, ValueError):
            pass  # not a real file (captured in a test): nothing is flushed to a pipe


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    argparse's errors, ``--help`` and ``--version`` raise ``SystemExit`` (status 2 or 0).
    """
    debug = os.environ.get(DEBUG_VAR, "") not in ("", "0")
    try:
        try:
            return _run(argv, debug)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()  # here, so that a closed pipe is noticed while we can act
    except BrokenPipeError:
        _silence_broken_pipe()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
