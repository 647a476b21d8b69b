"""The ``adaptive-lr`` subcommands (the parser is :mod:`adaptive_lr.cli`).

Each command checks that its options fit together *before* it loads data or trains: an option
that does not apply to the chosen controller, model or probe is a :class:`UsageError`
(exit status 2), never silently ignored. What fails later, while working (missing data, a
checkpoint that does not fit, a diverged run), is a ``ValueError``, ``OSError`` or
:class:`RunError` (exit status 1).
"""

from __future__ import annotations

import math
import sys
import time

from .controllers import FirstOrderLR, FixedLR
from .experiments.build import DEFAULT_MODEL, MODEL_LAYOUT
from .experiments.registry import EXPERIMENTS, Experiment, Run
from .models.base import ExactLineDerivatives
from .models.lenet import LeNet
from .models.linear import LinearRegression
from .models.logistic import LogisticRegression
from .models.resnet import ResNet18
from .registry import CONTROLLERS, make_controller, make_direction

#: ``adaptive-lr train``'s batch size when none is given: the data set's experiment's.
DEFAULT_BATCH_SIZE = {"boston": None, "mnist": 32, "cifar10": 32, "cifar100": 256}
#: ``adaptive-lr lr-find``'s batch size when none is given.
LR_FIND_BATCH_SIZE = {"boston": None, "mnist": 32, "cifar10": 32, "cifar100": 256}
#: What each data set's targets are (a model's ``task`` must match).
DATASET_TASK = {"boston": "regression", "mnist": "classification", "cifar10": "classification",
                "cifar100": "classification"}
MODEL_CLASSES = {"linear": LinearRegression, "logistic": LogisticRegression, "lenet": LeNet,
                 "resnet18": ResNet18}
#: Controllers that need the model's exact line derivatives (Eq. 7 and 11).
NEEDS_EXACT_DERIVATIVES = ("exact-newton",)
#: Every controller hyperparameter the command line offers (``eta`` has its own option).
HYPER_NAMES = tuple(sorted({name for entry in CONTROLLERS.values() for name in entry.options}
                           - {"eta"}))
DEFAULT_DROPOUT = 0.5
DEFAULT_VAL_FRACTION = 0.1


class UsageError(ValueError):
    """Options that do not fit together (exit status 2)."""


class RunError(Exception):
    """The work ran but failed, e.g. it diverged (exit status 1)."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _log_to(quiet: bool):
    return None if quiet else (lambda message: print(message, file=sys.stderr, flush=True))


# --------------------------------------------------------------------------- checks


def user_hyper(args) -> dict:
    """The controller hyperparameters set on the command line (unset options are None)."""
    values = {name: getattr(args, name, None) for name in HYPER_NAMES}
    return {name: value for name, value in values.items() if value is not None}


def hyper_of(args, controller: str) -> dict:
    """``eta`` and the hyperparameters the user set, checked against what ``controller``
    takes (its :data:`~adaptive_lr.registry.CONTROLLERS` entry): any other is an error."""
    options = CONTROLLERS[controller].options
    hyper = user_hyper(args)
    extra = [name for name in hyper if name not in options]
    if extra:
        takes = ", ".join(_flag(name) for name in options)
        raise UsageError(f"{', '.join(_flag(n) for n in extra)} "
                         f"{'does' if len(extra) == 1 else 'do'} not apply to --controller "
                         f"{controller}, which takes {takes}")
    return {"eta": args.eta, **hyper}


def build_controller(name: str, hyper: dict):
    """The controller, built now so that a bad value is a usage error before any work."""
    try:
        return make_controller(name, **hyper)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--controller {name}: {exc}") from None


def check_model(dataset: str, model: str) -> type:
    """The class of ``model``, which must suit ``dataset``'s targets."""
    cls = MODEL_CLASSES[model]
    task = DATASET_TASK[dataset]
    if cls.task != task:
        fits = [name for name, c in MODEL_CLASSES.items() if c.task == task]
        kind = "a classifier" if cls.task == "classification" else "a regression model"
        raise UsageError(f"--model {model} is {kind}; {dataset} is a {task} (use --model "
                         f"{' or '.join(fits)})")
    return cls


def check_dropout(args, model: str) -> float:
    """``--dropout`` applies to the networks (LeNet, ResNet-18) only; its value or the default."""
    if args.dropout is not None and model not in ("lenet", "resnet18"):
        raise UsageError(f"--dropout applies to --model lenet or resnet18 only, not to {model} "
                         "(it has no dropout)")
    return DEFAULT_DROPOUT if args.dropout is None else args.dropout


def evaluates_probe(controller) -> bool:
    """Whether ``controller.step`` evaluates its probe: the fixed rate never does, the
    first-order rule only with ``derivative="probe"`` (Eq. 15)."""
    if isinstance(controller, FixedLR):
        return False
    if isinstance(controller, FirstOrderLR):
        return controller.derivative == "probe"
    return True


def check_train(args) -> tuple[str, dict, float | None, float]:
    """The model name, the hyperparameters, the validation fraction (None: no held-out
    probe) and the dropout of ``adaptive-lr train``; a :class:`UsageError` for options that
    do not apply."""
    model = args.model or DEFAULT_MODEL[args.dataset]
    cls = check_model(args.dataset, model)
    hyper = hyper_of(args, args.controller)
    controller = build_controller(args.controller, hyper)
    make_direction(args.direction)
    if args.controller in NEEDS_EXACT_DERIVATIVES and not issubclass(cls, ExactLineDerivatives):
        exact = [name for name, c in MODEL_CLASSES.items() if issubclass(c, ExactLineDerivatives)]
        raise UsageError(f"--controller {args.controller} needs a model with exact line "
                         f"derivatives ({' or '.join(exact)}); {model} has none (use "
                         "--controller second-order, which estimates them)")
    val_fraction = None
    if args.probe_on == "validation":
        if not evaluates_probe(controller):
            how = ("evaluates the probe only with --derivative probe"
                   if isinstance(controller, FirstOrderLR) else "never evaluates the probe")
            raise UsageError(f"--probe-on validation does not apply: --controller "
                             f"{args.controller} {how}")
        val_fraction = DEFAULT_VAL_FRACTION if args.val_fraction is None else args.val_fraction
    elif args.val_fraction is not None:
        raise UsageError("--val-fraction applies only with --probe-on validation")
    return model, hyper, val_fraction, check_dropout(args, model)


def check_reproduce(args, exp: Experiment) -> None:
    """``--delta-rule`` needs a second-order run to override."""
    if args.delta_rule is not None and not any(r.controller == "second-order"
                                               for r in exp.runs):
        raise UsageError(f"--delta-rule does not apply to {exp.name}: it has no second-order "
                         "run")


# --------------------------------------------------------------------------- reporting


def format_times(result: dict, wall: float, resumed: bool = False) -> str:
    """Where the command's wall-clock time went: training, evaluation (with checkpoints and
    the CSV files, per run) and the rest (data, JSON, figures)."""
    summaries = [run["summary"] for run in result["runs"]]
    train = sum(s["train_seconds"] for s in summaries)
    runs = sum(s["wall_seconds"] for s in summaries)
    if resumed:  # the training time counts the interrupted parts of the run too
        return (f"time: {wall:.1f}s in all since --resume; training over the whole run, "
                f"interrupted parts included, {train:.1f}s")
    return (f"time: {wall:.1f}s in all: training {train:.1f}s, evaluation and checkpoints "
            f"{runs - train:.1f}s, data, files and figures {wall - runs:.1f}s")


def _report(result: dict, wall: float, resumed: bool) -> None:
    from .experiments.runner import format_summary

    print(format_summary(result))
    print(format_times(result, wall, resumed))
    print(f"wrote {len(result['files'])} files to {result['out_dir']}")


# --------------------------------------------------------------------------- commands


def cmd_reproduce(args) -> int:
    from .experiments.runner import run_experiment

    exp = EXPERIMENTS[args.name]
    check_reproduce(args, exp)
    t0 = time.perf_counter()
    result = run_experiment(
        exp, args.out, quick=args.quick, epochs=args.epochs, seed=args.seed,
        dtype=args.dtype, delta_rule=args.delta_rule, checkpoint_every=args.checkpoint_every,
        resume=args.resume, progress=None if args.quiet else sys.stderr,
        log=_log_to(args.quiet), plots=not args.no_plots)
    _report(result, time.perf_counter() - t0, args.resume)
    return 0  # a run that diverges is one of the experiment's findings (the summary says so)


def cmd_train(args) -> int:
    from .experiments.runner import run_experiment

    model, hyper, val_fraction, dropout = check_train(args)
    label = "basic" if args.controller == "fixed" else "adaptive"
    if args.direction != "gradient":
        label = f"{args.direction}_{label}"
    run = Run(label, args.controller, hyper, direction=args.direction, probe_on=args.probe_on)
    quick = {"epochs": min(args.epochs, 2), "n_train": 1000, "n_test": 500}
    exp = Experiment(
        name=args.name, title=f"{model} on {args.dataset}, {args.controller}", paper="-",
        model=model, dataset=args.dataset, epochs=args.epochs,
        batch_size=args.batch_size or DEFAULT_BATCH_SIZE[args.dataset],
        runs=(run,), sources={"all": "command-line arguments"}, quick=quick,
        val_size=val_fraction, dropout=dropout)
    t0 = time.perf_counter()
    result = run_experiment(
        exp, args.out, quick=args.quick, seed=args.seed, dtype=args.dtype,
        checkpoint_every=args.checkpoint_every, resume=args.resume,
        progress=None if args.quiet else sys.stderr, log=_log_to(args.quiet),
        n_train=args.n_train, n_test=args.n_test)
    _report(result, time.perf_counter() - t0, args.resume)
    diverged = result["runs"][0]["summary"]["diverged"]
    if diverged:
        raise RunError(f"run {label} {diverged}; its files are in {result['out_dir']}; try a "
                       "smaller --eta")
    return 0


def cmd_lr_find(args) -> int:
    from pathlib import Path

    import numpy as np

    from .experiments.build import make_model, parse_dtype, settled_rate
    from .experiments.data import load_data
    from .experiments.outputs import write_iterations_csv
    from .train import train

    model_name = args.model or DEFAULT_MODEL[args.dataset]
    check_model(args.dataset, model_name)
    dropout = check_dropout(args, model_name)
    controller = build_controller("second-order", hyper_of(args, "second-order"))
    dtype = parse_dtype(args.dtype)
    q = {"n_train": 1000, "n_test": 200} if args.quick else {}
    data = load_data(args.dataset, MODEL_LAYOUT[model_name], allow_synthetic=args.quick,
                     dtype=dtype, **q)
    model = make_model(model_name, data, dropout=dropout)
    batch = args.batch_size or LR_FIND_BATCH_SIZE[args.dataset]
    per_epoch = 1 if batch is None else math.ceil(len(data.X) / batch)
    epochs = math.ceil(args.steps / per_epoch)
    log = _log_to(args.quiet)
    if log:
        log(f"lr-find: {controller!r} on {model!r}, {epochs} epoch(s) of {per_epoch} steps; "
            f"data: {data.source}")
    # as in every training run of the experiments (experiments.runner.run_training): a
    # diverging run overflows before train() stops it and says so in history.diverged
    with np.errstate(over="ignore", invalid="ignore"):
        result = train(model, controller, data.X, data.y, epochs=epochs, batch_size=batch,
                       seed=args.seed, dtype=dtype, progress=None if args.quiet else sys.stderr)
    hist = result.history
    out = Path(args.out) / "lr-find"
    out.mkdir(parents=True, exist_ok=True)
    csv = write_iterations_csv(out / "lr_find.csv", hist)
    if hist.diverged:
        raise RunError(f"lr-find: {hist.diverged}; try a smaller --eta (the steps are in {csv})")
    window = max(1, len(hist.lr) // 5)
    rate = settled_rate(hist, window)
    from .plots import plot_lr_find

    title = f"lr-find: {model_name} on {args.dataset}" + (
        " [SYNTHETIC data]" if data.synthetic else "")
    path = plot_lr_find(hist.lr, rate, window, out / "lr_find.png", title)
    print(f"settled learning rate: {rate:.6g} (median of the last {window} of {len(hist.lr)} "
          f"steps, from {args.eta:g})")
    print(f"wrote {csv} and {path}")
    return 0


def _download_mnist(log) -> list[str]:
    from .datasets import data_dir, load_mnist
    from .datasets.mnist import FILES

    folder = data_dir() / "mnist"

    def present():  # stem -> file, the plain one first, as the loader looks
        found = {}
        for stem in FILES:
            for path in (folder / stem, folder / f"{stem}.gz"):
                if path.is_file():
                    found.setdefault(stem, path)
        return found

    missing = len(FILES) - len(present())
    if missing and log:
        log(f"MNIST: downloading {missing} file(s) into {folder}")
    X, _, X_test, _ = load_mnist(download=True)  # fetched files are checksummed, then all are
    how = "downloaded and verified" if missing else "verified"
    return [f"MNIST: {how} (sha256 of every payload): {len(X)} training and {len(X_test)} "
            f"test images, in {folder}:", *(f"  {present()[stem]}" for stem in FILES)]


def _download_cifar10(log, full: bool) -> list[str]:
    from .datasets import data_dir, load_cifar10, locate_cifar10

    folder = data_dir() / "cifar10"
    variant = "full" if full else "auto"
    try:
        locate_cifar10(variant=variant)
        fetched = False
    except FileNotFoundError:
        if log:
            log(f"CIFAR-10: downloading the official archive into {folder}")
        fetched = True
    files = locate_cifar10(download=True, variant=variant)  # the archive's md5 is checked
    X, _, X_test, _ = load_cifar10(variant=files.variant)  # and every file's record count
    how = "downloaded and verified" if fetched else "verified"
    kind = "the 4000/1000 subset" if files.variant == "subset" else "the official files"
    lines = [f"CIFAR-10: {how} ({kind}; size of every file): {len(X)} training and "
             f"{len(X_test)} test images, in {folder}:",
             *(f"  {p}" for p in (*files.train, files.test))]
    if files.variant == "subset":
        lines.append("  (--full downloads the official 50000/10000 files next to them)")
    return lines


def cmd_download(args) -> int:
    from .datasets.cache import path_of_env

    log = _log_to(args.quiet)
    names = ("mnist", "cifar10") if args.name == "all" else (args.name,)
    if args.full and "cifar10" not in names:
        raise UsageError("--full applies to cifar10 only")
    print(f"data folder: {path_of_env()}")
    for name in names:
        lines = _download_mnist(log) if name == "mnist" else _download_cifar10(log, args.full)
        print("\n".join(lines), flush=True)
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
