"""The report of ``adaptive-lr compare`` (:mod:`adaptive_lr.experiments.compare`): what counts
as a failed start, each method's row of the table, the per-iteration CSV with the controllers'
internals, the Markdown table and the figures; :func:`replot` redraws them from a finished
run's ``compare.json``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

#: The paper's rules and the package's safeguarded one (solid lines in the figures).
PAPER_RULES = ("sgd", "first-order", "second-order", "second-order-if-zero", "safeguarded",
               "safeguarded-recommended")


def metric_of(history, classification: bool) -> np.ndarray:
    """The test metric at each evaluation: accuracy for a classification, else the loss."""
    return np.asarray(history.test_acc if classification else history.test_loss, float)


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
