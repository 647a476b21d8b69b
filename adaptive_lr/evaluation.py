"""Evaluation at epoch boundaries, and the progress lines a run prints.

Evaluation is not part of the paper's step: it reads the weights, in evaluation mode (no
dropout, the model's running statistics), and costs nothing that the pass counters count.
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import check_instance, check_optional_count
from .history import History
from .run_state import RunState

#: At most about this many progress lines per run (every epoch when there are fewer epochs).
PROGRESS_LINES = 25


def evaluate(model, w, X, y, chunk: int | None = 2048, *, state=None) -> tuple[float, float]:
    """Mean loss and accuracy (``nan`` for a regression) of ``w`` on ``(X, y)``, in chunks of
    ``chunk`` rows (``None``: all at once) so that large sets fit in memory; no dropout
    (``noise=None``). The model checks ``w``, ``X`` and ``y``."""
    chunk = check_optional_count("chunk", chunk, 1)
    check_instance("model", model, ("loss", "predict"), "an adaptive_lr model")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or len(X) == 0:
        raise ValueError(f"X must hold at least one sample to evaluate on, got shape {X.shape}")
    if y.ndim == 0 or len(y) != len(X):
        raise ValueError(f"y must have one entry per sample of X ({len(X)}), got shape "
                         f"{y.shape}")
    n = len(X)
    step = n if chunk is None else chunk
    total, correct = 0.0, 0
    for a in range(0, n, step):
        Xc, yc = X[a : a + step], y[a : a + step]
        total += model.loss(w, Xc, yc, state=state) * len(Xc)
        if model.task == "classification":
            correct += int(np.sum(model.predict(w, Xc, state=state) == yc))
    acc = correct / n if model.task == "classification" else math.nan
    return total / n, acc


def record_evaluation(run: RunState, model, data, epoch: int, chunk: int | None) -> None:
    """Append the evaluation after ``epoch`` (0: before training) to ``run.history``."""
    hist = run.history
    train_loss, train_acc = evaluate(model, run.w, data.X, data.y, chunk, state=run.model_state)
    test_loss = test_acc = math.nan
    if data.X_test is not None:
        test_loss, test_acc = evaluate(model, run.w, data.X_test, data.y_test, chunk,
                                       state=run.model_state)
    hist.epoch.append(epoch)
    hist.train_loss.append(train_loss)
    hist.train_acc.append(train_acc)
    hist.test_loss.append(test_loss)
    hist.test_acc.append(test_acc)
    hist.lr_epoch.append(run.controller.lr)
    hist.time.append(run.train_time)


def format_progress(epoch: int, epochs: int, hist: History) -> str:
    """One line: the last evaluation's numbers, the rate and the training time."""
    parts = [f"epoch {epoch}/{epochs}", f"loss {hist.train_loss[-1]:.4g}"]
    if not math.isnan(hist.train_acc[-1]):
        parts.append(f"acc {hist.train_acc[-1]:.4f}")
    if not math.isnan(hist.test_loss[-1]):
        parts.append(f"test_loss {hist.test_loss[-1]:.4g}")
    if not math.isnan(hist.test_acc[-1]):
        parts.append(f"test_acc {hist.test_acc[-1]:.4f}")
    parts += [f"eta {hist.lr_epoch[-1]:.4g}", f"time {hist.time[-1]:.1f}s"]
    return "  ".join(parts)


def report_progress(stream, epoch: int, epochs: int, hist: History) -> None:
    """Print :func:`format_progress` to ``stream`` every few epochs (at most about
    :data:`PROGRESS_LINES` lines per run, always the first and the last)."""
    stride = max(1, math.ceil(epochs / PROGRESS_LINES))
    if stream is not None and (epoch % stride == 0 or epoch == epochs):
        print(format_progress(epoch, epochs, hist), file=stream, flush=True)
