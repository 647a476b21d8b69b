"""The ``adaptive-lr`` command (also ``python -m adaptive_lr``).

Subcommands: ``reproduce`` (the paper's experiments by name), ``train`` (the building blocks),
``lr-find`` (the rate the adaptive method settles on) and ``list``. Errors print one line,
``adaptive-lr: error: <message>``, and exit with status 2; argparse's own errors do the same.
"""

from __future__ import annotations

import argparse
import math
import sys

from .datasets import DataError
from .experiments.build import CONTROLLERS, DEFAULT_MODEL, DTYPES, MODEL_LAYOUT, MODELS
from .experiments.data import DATASETS
from .experiments.outputs import EPOCH_COLUMNS, ITERATION_COLUMNS
from .experiments.registry import EXPERIMENTS, Experiment, Run

PROG = "adaptive-lr"
FILES_HELP = f"""\
files written into OUT/NAME/:
  history_<run>.csv   one row per iteration: {", ".join(ITERATION_COLUMNS)}
  epochs_<run>.csv    one row per epoch (0 = before training):
                      {", ".join(EPOCH_COLUMNS)}
                      (time: seconds of training, evaluations excluded; empty cell = n/a)
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
                   help="precision of weights and data (default: float64; see DESIGN.md)")
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
    p.add_argument("--eps", type=_pos_float, default=1e-5,
                   help="finite-difference step (default: 1e-5, the paper's)")
    p.add_argument("--delta", type=float, default=1e-6,
                   help="smoothing of Eq. 17-18 and floor of Eq. 19 (default: 1e-6)")
    p.add_argument("--delta-rule", choices=("always", "if-zero"), default="always",
                   help="add delta to every denominator (Eq. 18 as printed, default) or only "
                        "when it is exactly zero (the authors' code)")
    p.add_argument("--beta", type=float, default=0.0,
                   help="momentum on the rate, Eq. 20-21 (default: 0; the paper tried 0.9)")


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
        epilog="examples:\n  adaptive-lr train --dataset boston --controller exact-newton "
               "--eta 1e-2 --epochs 200\n  adaptive-lr train --dataset mnist --controller "
               "second-order --eta 0.01 --delta-rule if-zero --dtype float32\n"
               "  adaptive-lr train --dataset cifar10 --direction adam --eta 1e-3 --epochs 5\n"
               "  adaptive-lr train --dataset mnist --probe-on validation --val-fraction 0.1\n"
               "  adaptive-lr train --dataset mnist --controller safeguarded --probe-on "
               "validation --direction averaged --batch-size 32 --epochs 3\n\n"
               + FILES_HELP.replace("NAME", "NAME (--name, default train)"))
    tr.add_argument("--dataset", choices=DATASETS, required=True)
    tr.add_argument("--model", choices=MODELS,
                    help="default: linear for boston, logistic for mnist, lenet for cifar10")
    tr.add_argument("--controller", choices=CONTROLLERS, default="second-order",
                    help="learning-rate rule (default: second-order; safeguarded: "
                         "SafeguardedSecondOrderLR, beyond the paper)")
    tr.add_argument("--eta", type=_pos_float, default=0.01,
                    help="initial (or fixed) learning rate (default: 0.01)")
    tr.add_argument("--alpha", type=float, default=None,
                    help="meta learning rate of the first-order rule, Eq. 6")
    _hyper(tr)
    tr.add_argument("--direction", choices=("gradient", "averaged", "adam"), default="gradient",
                    help="step direction: the gradient (SGD), the average of recent gradients "
                         "(beta 0.9) or Adam's (default: gradient)")
    tr.add_argument("--epochs", type=_nonneg_int, default=1, help="default: 1")
    tr.add_argument("--batch-size", type=_pos_int, default=None,
                    help="mini-batch size (default: full batch)")
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
    return parser


def _log_to(quiet: bool):
    return None if quiet else (lambda message: print(message, file=sys.stderr, flush=True))


def cmd_reproduce(args) -> int:
    from .experiments.runner import format_summary, run_experiment

    result = run_experiment(
        args.name, args.out, quick=args.quick, epochs=args.epochs, seed=args.seed,
        dtype=args.dtype, delta_rule=args.delta_rule, checkpoint_every=args.checkpoint_every,
        resume=args.resume, progress=None if args.quiet else sys.stderr,
        log=_log_to(args.quiet), plots=not args.no_plots)
    print(format_summary(result))
    print(f"wrote {len(result['files'])} files to {result['out_dir']}")
    return 0


def _hyper_of(args, controller: str, eta: float) -> dict:
    hyper = {"eta": eta}
    if controller in ("first-order", "second-order"):
        hyper.update(delta=args.delta, beta=args.beta)
    if controller == "second-order":
        hyper.update(eps=args.eps, delta_rule=args.delta_rule)
    if controller == "first-order":
        hyper["alpha"] = args.alpha
    if controller == "exact-newton":
        hyper["delta"] = args.delta
    if controller == "safeguarded":
        hyper.update(eps=args.eps, delta=args.delta)
    return hyper


def cmd_train(args) -> int:
    from .experiments.runner import format_summary, run_experiment

    model = args.model or DEFAULT_MODEL[args.dataset]
    label = "basic" if args.controller == "fixed" else "adaptive"
    if args.direction != "gradient":
        label = f"{args.direction}_{label}"
    if args.probe_on == "validation" and not 0 < args.val_fraction < 1:
        raise ValueError(f"--val-fraction must lie in (0, 1), got {args.val_fraction}")
    run = Run(label, args.controller, _hyper_of(args, args.controller, args.eta),
              direction=args.direction, probe_on=args.probe_on)
    quick = {"epochs": min(args.epochs, 2), "n_train": 1000, "n_test": 500}
    exp = Experiment(
        name=args.name, title=f"{model} on {args.dataset}, {args.controller}", paper="-",
        model=model, dataset=args.dataset, batch_size=args.batch_size, epochs=args.epochs,
        runs=(run,), sources={"all": "command-line arguments"}, quick=quick,
        val_size=args.val_fraction if args.probe_on == "validation" else None,
        dropout=args.dropout)
    result = run_experiment(
        exp, args.out, quick=args.quick, seed=args.seed, dtype=args.dtype,
        checkpoint_every=args.checkpoint_every, resume=args.resume,
        progress=None if args.quiet else sys.stderr, log=_log_to(args.quiet),
        n_train=args.n_train, n_test=args.n_test)
    print(format_summary(result))
    print(f"wrote {len(result['files'])} files to {result['out_dir']}")
    return 0


def cmd_lr_find(args) -> int:
    from pathlib import Path

    from .experiments.build import make_controller, make_model, parse_dtype, settled_rate
    from .experiments.data import load_data
    from .experiments.outputs import write_iterations_csv
    from .train import train

    model_name = args.model or DEFAULT_MODEL[args.dataset]
    dtype = parse_dtype(args.dtype)
    q = {"n_train": 1000, "n_test": 200} if args.quick else {}
    data = load_data(args.dataset, MODEL_LAYOUT[model_name], allow_synthetic=args.quick,
                     dtype=dtype, **q)
    model = make_model(model_name, data, dropout=args.dropout)
    controller = make_controller("second-order", **_hyper_of(args, "second-order", args.eta))
    batch = None if args.dataset == "boston" else args.batch_size
    per_epoch = 1 if batch is None else math.ceil(len(data.X) / batch)
    epochs = math.ceil(args.steps / per_epoch)
    log = _log_to(args.quiet)
    if log:
        log(f"lr-find: {controller!r} on {model!r}, {epochs} epoch(s) of {per_epoch} steps; "
            f"data: {data.source}")
    result = train(model, controller, data.X, data.y, epochs=epochs, batch_size=batch,
                   seed=args.seed, dtype=dtype, progress=None if args.quiet else sys.stderr)
    hist = result.history
    if hist.diverged:
        raise ValueError(f"lr-find: {hist.diverged}; try a smaller --eta")
    window = max(1, len(hist.lr) // 5)
    rate = settled_rate(hist, window)
    out = Path(args.out) / "lr-find"
    out.mkdir(parents=True, exist_ok=True)
    write_iterations_csv(out / "lr_find.csv", hist)
    from .plots import plot_lr_find

    title = f"lr-find: {model_name} on {args.dataset}" + (
        " [SYNTHETIC data]" if data.synthetic else "")
    path = plot_lr_find(hist.lr, rate, window, out / "lr_find.png", title)
    print(f"settled learning rate: {rate:.6g} (median of the last {window} of {len(hist.lr)} "
          f"steps, from {args.eta:g})")
    print(f"wrote {out / 'lr_find.csv'} and {path}")
    return 0


def cmd_list(args) -> int:
    for exp in EXPERIMENTS.values():
        print(f"{exp.name:12} {exp.title} ({exp.paper}); {exp.model} on {exp.dataset}, "
              f"{exp.epochs} epochs, runs: {', '.join(r.label for r in exp.runs)}")
        for key, value in exp.sources.items():
            print(f"{'':14}{key}: {value}")
        if exp.notes:
            print(f"{'':14}note: {exp.notes}")
    return 0


COMMANDS = {"reproduce": cmd_reproduce, "train": cmd_train, "lr-find": cmd_lr_find,
            "list": cmd_list}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (data errors list missing files on several)."""
    text = " ".join(part.strip(" -") for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, DataError, OSError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (resume with --resume if checkpoints were on)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
