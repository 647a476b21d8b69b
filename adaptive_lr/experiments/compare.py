"""``adaptive-lr compare``: the paper's rules against the step-size methods people pick instead,
at equal compute, on the paper's three problems (``docs/compare.md``).

Every method runs in the same training loop (:func:`adaptive_lr.train.train`), so a
forward or backward pass costs the same for all of them and is counted by the same counter:
the probes of the line searches, of GeN and of the paper's rule are forward passes of the
probe (:mod:`adaptive_lr.probe`). For each problem, each method runs from every initial rate of
the problem's grid (a parameter-free method, which has none, runs once), with one seed, and the
comparison reports the final test metric, its spread across the initial rates, the passes per
step, and figures of the test metric against epochs, passes and seconds.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import validation_split
from ..registry import make_controller, make_direction
from ..train import train
from .build import MODEL_LAYOUT, make_model
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


def _metric(history, classification: bool) -> np.ndarray:
    return np.asarray(history.test_acc if classification else history.test_loss, float)


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


def failed(run: dict) -> bool:
    """A run failed if the training loop stopped it (a non-finite loss or weights) or if its
    final test loss is not finite or above its initial one (it made the model worse)."""
    loss0, loss = run["test_loss"][0], run["test_loss"][-1]
    return bool(run["diverged"]) or not math.isfinite(run["final"]) or not (
        math.isfinite(loss) and loss <= loss0)


def summarize_method(runs: list[dict], classification: bool) -> dict:
    """The table's row: final metric (median, best, worst over the starts that did not fail),
    its spread, failed starts (:func:`failed`), passes per step, median seconds per run,
    settled rate, and the median metric after the first epoch (over the same starts)."""
    runs = [_numbers(r) for r in runs]
    finals = np.array([r["final"] for r in runs], float)
    ok = ~np.array([failed(r) for r in runs], bool)
    vals = finals[ok]
    first = [_num(r["metric"][1]) for r, good in zip(runs, ok, strict=True)
             if good and len(r["metric"]) > 1]
    best = (np.max if classification else np.min)(vals) if vals.size else math.nan
    worst = (np.min if classification else np.max)(vals) if vals.size else math.nan
    return {"median": float(np.median(vals)) if vals.size else math.nan, "best": float(best),
            "worst": float(worst), "spread": float(abs(best - worst)) if vals.size else math.nan,
            "failed": int((~ok).sum()), "starts": len(runs),
            "passes_per_step": float(np.median([r["passes_per_step"] for r in runs])),
            "seconds": float(np.median([r["train_seconds"] for r in runs])),
            "lr": float(np.median([r["settled_lr"] for r in runs])),
            "epoch1": float(np.median(first)) if first else math.nan}


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
                metric = _metric(h, classification)
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


def write_iterations(path: Path, history) -> Path:
    """One row per iteration: iteration, epoch, lr, loss, then the controller's internals
    (the union of the keys of its ``last_info``; empty where a step did not set one)."""
    keys = sorted({k for info in history.internals for k in info})
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["iteration", "epoch", "lr", "loss", *keys])
        for i, (ep, lr, loss, info) in enumerate(zip(history.epoch_of_iter, history.lr,
                                                     history.loss, history.internals,
                                                     strict=True), start=1):
            out.writerow([i, ep, repr(float(lr)), repr(float(loss)),
                          *(_cell(info.get(k, "")) for k in keys)])
    return path


def _cell(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, float) and math.isnan(v):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def format_table(report: dict) -> str:
    """The Markdown table of all problems and methods."""
    lines = ["| problem | method | final metric: median (best, worst) over starts | spread | "
             "failed | after epoch 1 | passes/step | s/run | settled lr |", "|" + " --- |" * 9]
    for name, prob in report["problems"].items():
        for label, r in prob["table"].items():
            lines.append(f"| {name} ({prob['metric']}) | {label} | {r['median']:.4g} "
                         f"({r['best']:.4g}, {r['worst']:.4g}) | {r['spread']:.3g} | "
                         f"{r['failed']}/{r['starts']} | {r['epoch1']:.4g} | "
                         f"{r['passes_per_step']:.2f} | "
                         f"{r['seconds']:.1f} | {r['lr']:.3g} |")
    return "\n".join(lines)


def plot_problem(out: Path, name: str, prob: dict, classification: bool) -> list[Path]:
    """``compare_<name>.png``: the test metric against epochs, passes and seconds (each
    method's best start that did not fail, from epoch 1 on; dashed: the methods people pick
    instead), and the final metric against the initial rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    colors = plt.get_cmap("tab20").colors
    pick = max if classification else min
    for i, (label, runs) in enumerate(prob["runs"].items()):
        style = {"color": colors[i % len(colors)], "label": label,
                 "linestyle": "-" if label in PAPER_RULES else "--"}
        ok = [r for r in runs if not failed(_numbers(r))]
        if ok:
            best = _numbers(pick(ok, key=lambda r: _num(r["final"])))
            y = np.asarray(best["metric"], float)[1:]
            for ax, x in zip(axes[:3], (best["epoch"], best["passes"], best["time"]),
                             strict=True):
                ax.plot(np.asarray(x, float)[1:len(y) + 1], y, marker=".", **style)
        etas, finals = [r["eta"] for r in runs], [_num(r["final"]) for r in runs]
        axes[3].plot(etas, finals, marker="o", **style)
        bad = [i for i, r in enumerate(runs) if failed(_numbers(r))]
        if bad:
            axes[3].plot([etas[i] for i in bad], [finals[i] for i in bad], "x",
                         color=style["color"], markersize=9)
    for ax, xl in zip(axes, ("epoch", "forward + backward passes", "training seconds",
                             "initial rate (x: failed)"), strict=True):
        ax.set_xlabel(xl)
        ax.set_ylabel(prob["metric"])
    axes[3].set_xscale("log")
    if not classification:
        for ax in axes:
            ax.set_yscale("log")
        start = [_num(r["test_loss"][0]) for runs in prob["runs"].values() for r in runs]
        ok = [_num(r["final"]) for runs in prob["runs"].values() for r in runs
              if not failed(_numbers(r))]
        if ok:  # failed runs (x) beyond ten times the initial loss are off the chart
            axes[3].set_ylim(min(ok) / 2, 10 * np.nanmax(start))
    else:
        finals = [_num(r["final"]) for runs in prob["runs"].values() for r in runs]
        top, bottom = np.nanmax(finals), np.nanmin(finals)
        for ax in axes:
            ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.05 * (top - bottom))
    axes[0].set_title(f"{name}: best start of each method")
    axes[3].set_title("final metric vs initial rate")
    axes[3].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out / f"compare_{name}.png"
    fig.savefig(path, dpi=64)
    plt.close(fig)
    return [path]


#: The paper's rules and the package's safeguarded one (solid lines in the figures).
PAPER_RULES = ("sgd", "first-order", "second-order", "second-order-if-zero", "safeguarded",
               "safeguarded-recommended")


def _num(v) -> float:
    return math.nan if v is None else float(v)


def _numbers(run: dict) -> dict:
    """A run as written to ``compare.json`` (NaN as null) with its numbers back."""
    return {**run, "final": _num(run["final"]), "test_loss": [_num(v) for v in run["test_loss"]]}


def replot(folder) -> list[Path]:
    """Redraw the figures and rewrite ``table.md`` of a finished comparison from its
    ``compare.json``."""
    import json

    folder = Path(folder)
    report = json.loads((folder / "compare.json").read_text())
    for prob in report["problems"].values():
        prob["table"] = {label: summarize_method(runs, "accuracy" in prob["metric"])
                         for label, runs in prob["runs"].items()}
    (folder / "table.md").write_text(format_table(report) + "\n")
    return [p for name, prob in report["problems"].items()
            for p in plot_problem(folder, name, prob, "accuracy" in prob["metric"])]

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
