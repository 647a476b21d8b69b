"""Figures in the paper's style: one line per run and metric, legends ``<metric>_<run>``.

Run labels end in ``basic`` or ``adaptive``, so the legends read ``train_loss_basic``,
``test_acc_adaptive`` and so on, as in the paper's figures (Sec. 4.2). Matplotlib runs with the
non-interactive Agg backend: the figures are files, never windows.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def _log_if_wide(ax, series) -> None:
    """Log scale when positive values span more than two decades (Boston's spikes), then
    :func:`_clip_runaway`."""
    values = _positive(series)
    if values.size and values.max() / values.min() > 100:
        ax.set_yscale("log")
        _clip_runaway(ax, values)


def _positive(series) -> np.ndarray:
    values = np.concatenate([_finite(s) for s in series]) if series else np.array([])
    return values[values > 0]


#: Highest top of a log axis: beyond ~1e250 matplotlib's tick locator steps past the float64
#: maximum (its decades are spaced to fit ~9 ticks) and fails.
LOG_AXIS_MAX = 1e200


def _clip_runaway(ax, values) -> None:
    """When a diverging run would flatten every other curve of a log axis, stop the axis at
    100 times the 99th percentile of the values (at most :data:`LOG_AXIS_MAX`) and say so on
    the chart (the paper omitted such a spike from its Fig. 1)."""
    top = min(100 * float(np.quantile(values, 0.99)), LOG_AXIS_MAX) if values.size else np.inf
    if values.size and values.max() > top:
        ax.set_ylim(values.min() / 2, top)
        ax.text(0.01, 0.99, "y axis clipped: larger values off the chart",
                transform=ax.transAxes, va="top", fontsize=7, color="0.4")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    from .experiments.outputs import atomic_write  # no half-written figure on a kill

    try:
        atomic_write(path, lambda handle: fig.savefig(handle, dpi=DPI, format="png"),
                     binary=True)
    finally:
        plt.close(fig)
    return path


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_metric(histories: dict, metric: str, path: str | Path, title: str,
                ylabel: str, x: str = "epoch") -> Path:
    """``train_<metric>_<run>`` (solid) and ``test_<metric>_<run>`` (dashed) per evaluation,
    against ``x``: ``"epoch"`` or ``"time"`` (seconds of training).

    ``histories`` maps a run label to a :class:`~adaptive_lr.train.History` (or its dict).
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = []
    for i, (label, h) in enumerate(histories.items()):
        h = h if isinstance(h, dict) else h.to_dict()
        for part, style in (("train", "-"), ("test", "--")):
            values = np.asarray(h[f"{part}_{metric}"], dtype=np.float64)
            if np.all(np.isnan(values)):
                continue
            ax.plot(h[x], values, style, color=f"C{i}", label=f"{part}_{metric}_{label}")
            series.append(values)
    if metric == "loss":
        _log_if_wide(ax, series)
    xlabel = "epoch" if x == "epoch" else "training time (s, evaluations excluded)"
    return _finish(fig, ax, xlabel, ylabel, title, path)


def plot_lr(histories: dict, path: str | Path, title: str) -> Path:
    """The learning rate of every step, ``lr_<run>``, on a log scale (Fig. 2, 4, 7)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = []
    for i, (label, h) in enumerate(histories.items()):
        h = h if isinstance(h, dict) else h.to_dict()
        lr = np.asarray(h["lr"], dtype=np.float64)
        ax.plot(np.arange(1, lr.size + 1), lr, color=f"C{i}", lw=0.8, label=f"lr_{label}")
        series.append(lr)
    ax.set_yscale("log")
    _clip_runaway(ax, _positive(series))
    return _finish(fig, ax, "iteration", "learning rate", title, path)


def plot_loss_vs_time(histories: dict, path: str | Path, title: str) -> Path:
    """``train_loss_<run>`` and ``test_loss_<run>`` against seconds of training."""
    return plot_metric(histories, "loss", path, title, "loss", x="time")


def plot_experiment(histories: dict, out_dir: str | Path, title: str,
                    classification: bool) -> list[Path]:
    """All figures of an experiment into ``out_dir``: ``loss.png``, ``accuracy.png`` (for a
    classifier), ``lr.png`` and ``loss_time.png``. Returns the paths written."""
    out = Path(out_dir)
    paths = [plot_metric(histories, "loss", out / "loss.png", title, "loss")]
    if classification:
        paths.append(plot_metric(histories, "acc", out / "accuracy.png", title, "accuracy"))
    paths.append(plot_lr(histories, out / "lr.png", title))
    paths.append(plot_loss_vs_time(histories, out / "loss_time.png", title))
    return paths


def plot_lr_find(lr, settled: float, window: int, path: str | Path, title: str) -> Path:
    """The rate of every step of an ``lr-find`` run, with the settled value it reports (the
    median of the last ``window`` steps) as a horizontal line."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lr = np.asarray(lr, dtype=np.float64)
    steps = np.arange(1, lr.size + 1)
    ax.plot(steps, lr, lw=0.8, label="lr_adaptive")
    ax.axhline(settled, color="C3", ls="--", label=f"settled: {settled:.4g}")
    ax.axvspan(max(lr.size - window, 0) + 1, lr.size, color="C3", alpha=0.08,
               label=f"last {window} steps")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))
