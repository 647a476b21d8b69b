"""The ``adaptive-lr`` subcommands (the parser is :mod:`adaptive_lr.cli`)."""

from __future__ import annotations

import math
import sys

from .experiments.build import DEFAULT_MODEL, MODEL_LAYOUT
from .experiments.registry import EXPERIMENTS, Experiment, Run
from .registry import CONTROLLERS, make_controller

#: ``adaptive-lr train``'s batch size when none is given: the data set's experiment's.
DEFAULT_BATCH_SIZE = {"boston": None, "mnist": 32, "cifar10": 32, "cifar100": 256}


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


def hyper_of(args, controller: str) -> dict:
    """The hyperparameters the user set that ``controller`` takes (its registry options)."""
    values = {name: getattr(args, name, None) for name in CONTROLLERS[controller].options}
    return {name: value for name, value in values.items() if value is not None}


def cmd_train(args) -> int:
    from .experiments.runner import format_summary, run_experiment

    model = args.model or DEFAULT_MODEL[args.dataset]
    label = "basic" if args.controller == "fixed" else "adaptive"
    if args.direction != "gradient":
        label = f"{args.direction}_{label}"
    if args.probe_on == "validation" and not 0 < args.val_fraction < 1:
        raise ValueError(f"--val-fraction must lie in (0, 1), got {args.val_fraction}")
    run = Run(label, args.controller, hyper_of(args, args.controller),
              direction=args.direction, probe_on=args.probe_on)
    quick = {"epochs": min(args.epochs, 2), "n_train": 1000, "n_test": 500}
    exp = Experiment(
        name=args.name, title=f"{model} on {args.dataset}, {args.controller}", paper="-",
        model=model, dataset=args.dataset, epochs=args.epochs,
        batch_size=args.batch_size or DEFAULT_BATCH_SIZE[args.dataset],
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

    from .experiments.build import make_model, parse_dtype, settled_rate
    from .experiments.data import load_data
    from .experiments.outputs import write_iterations_csv
    from .train import train

    model_name = args.model or DEFAULT_MODEL[args.dataset]
    dtype = parse_dtype(args.dtype)
    q = {"n_train": 1000, "n_test": 200} if args.quick else {}
    data = load_data(args.dataset, MODEL_LAYOUT[model_name], allow_synthetic=args.quick,
                     dtype=dtype, **q)
    model = make_model(model_name, data, dropout=args.dropout)
    controller = make_controller("second-order", **hyper_of(args, "second-order"))
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
