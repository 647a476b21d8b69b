"""``adaptive-lr compare``: the paper's rules against the step-size methods people pick instead,
at equal compute, on the paper's three problems (``docs/compare.md``).

Every method runs in the same training loop (:func:`adaptive_lr.train.train`), so a
forward or backward pass costs the same for all of them and is counted by the same counter:
the probes of the line searches, of GeN and of the paper's rule are forward passes of the
probe (:mod:`adaptive_lr.probe`). For each problem, each method runs from every initial rate of
the problem's grid (a parameter-free method, which has none, runs once), with one seed, and the
comparison reports the final test metric, its spread across the initial rates, the passes per
step, and figures of the test metric against epochs, passes and seconds
(:mod:`adaptive_lr.experiments.compare_report`). This module is what runs: the problems, the
methods with their settings, one run, the whole comparison and its command.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import validation_split
from ..registry import make_controller, make_direction
from ..train import train
from .build import MODEL_LAYOUT, make_model
from .compare_report import (  # noqa: F401  (importable from here, as before)
    PAPER_RULES,
    failed,
    format_table,
    metric_of,
    plot_problem,
    replot,
    summarize_method,
    write_iterations,
)
from .data import load_data
from .outputs import write_epochs_csv, write_json


@dataclass(frozen=True)
class Problem:
    """One problem of the comparison, full size and ``--quick``."""

    dataset: str
    model: str
    batch_size: int | None
    epochs: int
    etas: tuple[float, ...]  #: initial rates tried
    alpha: float  #: FirstOrderLR's meta rate (the paper's, where it gives one)
    quick_epochs: int
    quick_train: int | None
    quick_test: int | None
    dropout: float = 0.0


PROBLEMS = {
    "mnist": Problem("mnist", "logistic", 32, 3, (1e-3, 1e-2, 1e-1, 1.0), 1e-6, 1, 1000, 500),
    "lenet": Problem("cifar10", "lenet", 32, 5, (1e-3, 1e-2, 1e-1, 1.0), 1e-6, 1, 64, 100,
                     dropout=0.5),
    "boston": Problem("boston", "linear", None, 300, (1e-6, 1e-4, 1e-2, 1.0), 1e-9, 30, None,
                      None),
}


@dataclass(frozen=True)
class Method:
    """A controller by registry name with its authors' recommended settings."""

    label: str
    controller: str
    hyper: dict
    sweeps: bool = True  #: False: no initial rate (runs once)
    per_epoch: tuple[str, ...] = ()  #: options set to the number of batches per epoch
    direction: str = "gradient"
    probe_on: str = "train"  #: "validation": probes on a held-out tenth of the training set


METHODS = (
    Method("sgd", "fixed", {}),
    Method("first-order", "first-order", {}),  # alpha: the problem's
    Method("sgd-hd", "sgd-hd", {}),
    Method("second-order", "second-order", {"delta_rule": "always"}),
    Method("second-order-if-zero", "second-order", {"delta_rule": "if-zero"}),
    Method("safeguarded", "safeguarded", {"average": 0.999}),
    Method("safeguarded-recommended", "safeguarded", {"average": 0.999},
           direction="averaged", probe_on="validation"),
    Method("armijo", "armijo", {}, per_epoch=("n_batches",)),
    Method("sps", "sps", {}, per_epoch=("n_batches",)),
    Method("gen", "gen", {}),
    Method("dog", "dog", {}, sweeps=False),
    Method("d-adapt", "d-adapt", {}, sweeps=False),
)


class MeteredController:
    """A controller whose step also records the training loop's pass count after each step
    (read from the probe's counter), for the figures against passes."""

    def __init__(self, inner):
        self.inner = inner
        self.passes: list[int] = []

    def step(self, grad, phi):
        eta = self.inner.step(grad, phi)
        counter = getattr(phi, "counter", None)
        if counter is not None:
            self.passes.append(counter.forward + counter.backward)
        return eta

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run_one(problem: Problem, method: Method, eta: float, data, *, epochs: int, seed: int):
    """One run: its history, the cumulative passes at each epoch end, wall seconds."""
    n_train = len(data.X) - (len(data.X) // 10 if method.probe_on == "validation" else 0)
    n_batches = 1 if problem.batch_size is None else math.ceil(n_train / problem.batch_size)
    hyper = {"eta": eta, **method.hyper, **{k: n_batches for k in method.per_epoch}}
    if method.controller == "first-order":
        hyper["alpha"] = problem.alpha
    controller = MeteredController(make_controller(method.controller, **hyper))
    model = make_model(problem.model, data, dropout=problem.dropout)
    X, y, held_out = data.X, data.y, {}
    if method.probe_on == "validation":  # docs/safeguarded.md: probes on held-out data
        tr, va = validation_split(len(X), max(1, len(X) // 10), seed)
        X, y, held_out = X[tr], y[tr], {"X_val": X[va], "y_val": y[va]}
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        result = train(model, controller, X, y, epochs=epochs, batch_size=problem.batch_size,
                       seed=seed, X_test=data.X_test, y_test=data.y_test,
                       probe_on=method.probe_on, direction=make_direction(method.direction),
                       **held_out)
    wall = time.perf_counter() - t0
    h = result.history
    steps_per_epoch = n_batches
    passes = [0] + [controller.passes[min(e * steps_per_epoch, len(controller.passes)) - 1]
                    for e in range(1, len(h.epoch))]
    return h, passes, wall, repr(controller.inner)


def run_compare(problems=("mnist", "lenet", "boston"), out_root="results", *, quick=False,
                epochs=None, seed=0, methods=None, plots=True, log=None) -> dict:
    """Run the comparison and write ``out_root/compare/``: per run ``epochs_<p>_<m>_<eta>.csv``
    and ``history_<p>_<m>_<eta>.csv`` (iteration, epoch, lr, loss and the controller's
    internals), ``compare.json``, ``table.md`` and the figures."""
    out = Path(out_root) / "compare"
    out.mkdir(parents=True, exist_ok=True)
    chosen = [m for m in METHODS if methods is None or m.label in methods]
    if methods is not None and len(chosen) != len(set(methods)):
        known = ", ".join(m.label for m in METHODS)
        raise ValueError(f"unknown method in {sorted(methods)}; choose among {known}")
    unknown = [name for name in problems if name not in PROBLEMS]
    if unknown or not problems:
        raise ValueError(f"unknown problem(s) {unknown}; choose among {', '.join(PROBLEMS)}")
    report = {"quick": quick, "seed": seed, "problems": {}}
    for name in problems:
        p = PROBLEMS[name]
        n_epochs = epochs if epochs is not None else (p.quick_epochs if quick else p.epochs)
        data = load_data(p.dataset, MODEL_LAYOUT[p.model],
                         n_train=p.quick_train if quick else None,
                         n_test=p.quick_test if quick else None, allow_synthetic=quick)
        classification = data.n_classes is not None
        if log:
            log(f"{name}: {data.source}; {n_epochs} epochs, batch {p.batch_size}")
        rows, curves = {}, {}
        for m in chosen:
            runs = []
            etas = p.etas[1::2] if quick else p.etas  # --quick: two starts
            for eta in (etas if m.sweeps else etas[:1]):
                h, passes, wall, desc = run_one(p, m, eta, data, epochs=n_epochs, seed=seed)
                tag = f"{name}_{m.label}_{eta:g}"
                write_epochs_csv(out / f"epochs_{tag}.csv", h)
                write_iterations(out / f"history_{tag}.csv", h)
                metric = metric_of(h, classification)
                run = {"eta": eta, "controller": desc, "final": float(metric[-1]),
                       "diverged": h.diverged, "epochs_done": int(h.epoch[-1]),
                       "passes_per_step": (h.forward + h.backward) / max(len(h.lr), 1),
                       "train_seconds": h.time[-1], "wall_seconds": wall,
                       "settled_lr": float(np.median(h.lr[-max(1, len(h.lr) // n_epochs
                                                               if n_epochs else 1):]))
                       if h.lr else math.nan,
                       "metric": metric.tolist(), "test_loss": list(h.test_loss),
                       "passes": passes, "time": list(h.time),
                       "epoch": list(h.epoch)}
                runs.append(run)
                if log:
                    log(f"  {m.label:22s} eta0 {eta:<7g} final {run['final']:.4g} "
                        f"lr {run['settled_lr']:.3g} passes/step {run['passes_per_step']:.2f} "
                        f"{run['train_seconds']:.1f}s" + (" FAILED" if failed(run) else ""))
            rows[m.label] = summarize_method(runs, classification)
            curves[m.label] = runs
        report["problems"][name] = {"data": data.source, "epochs": n_epochs,
                                    "batch_size": p.batch_size, "etas": list(p.etas),
                                    "metric": ("test accuracy" if classification
                                               else "test MSE")
                                    + (", SYNTHETIC data" if data.synthetic else ""),
                                    "table": rows, "runs": curves}
        if plots:
            plot_problem(out, name, report["problems"][name], classification)
    write_json(out / "compare.json", report)
    (out / "table.md").write_text(format_table(report) + "\n")
    return report


def cmd_compare(args) -> int:
    """``adaptive-lr compare``: run the comparison, print the table (progress to stderr)."""
    import sys

    from ..commands import UsageError

    problems = tuple(p.strip() for p in args.problems.split(",") if p.strip())
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",")
                                                 if m.strip()]
    unknown = [name for name in problems if name not in PROBLEMS]
    if unknown or not problems:
        raise UsageError(f"--problems: unknown {unknown}; choose among {', '.join(PROBLEMS)}")
    labels = [m.label for m in METHODS]
    if methods is not None and (not methods or set(methods) - set(labels)):
        raise UsageError(f"--methods: unknown {sorted(set(methods) - set(labels))}; choose "
                         f"among {', '.join(labels)}")
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    report = run_compare(problems, args.out, quick=args.quick, epochs=args.epochs,
                         seed=args.seed, methods=methods, plots=not args.no_plots, log=log)
    print(format_table(report))
    print(f"files in {Path(args.out) / 'compare'}")
    return 0
