"""Evaluation at epoch boundaries, and the progress lines a run prints.

Evaluation is not part of the paper's step: it reads the weights, in evaluation mode (no
dropout, the model's running statistics), and costs nothing that the pass counters count.
"""

from __future__ import annotations

import math
import time

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


def format_progress(epoch: int, epochs: int, hist: History,
                    eval_time: float | None = None) -> str:
    """One line: the last evaluation's numbers, the rate, the training time and, when given,
    the seconds the evaluation took."""
    parts = [f"epoch {epoch}/{epochs}", f"loss {hist.train_loss[-1]:.4g}"]
    if not math.isnan(hist.train_acc[-1]):
        parts.append(f"acc {hist.train_acc[-1]:.4f}")
    if not math.isnan(hist.test_loss[-1]):
        parts.append(f"test_loss {hist.test_loss[-1]:.4g}")
    if not math.isnan(hist.test_acc[-1]):
        parts.append(f"test_acc {hist.test_acc[-1]:.4f}")
    parts += [f"eta {hist.lr_epoch[-1]:.4g}", f"time {hist.time[-1]:.1f}s"]
    if eval_time is not None:
        parts.append(f"eval {eval_time:.1f}s")
    return "  ".join(parts)


def report_progress(stream, epoch: int, epochs: int, hist: History,
                    eval_time: float | None = None) -> None:
    """Print :func:`format_progress` to ``stream`` every few epochs (at most about
    :data:`PROGRESS_LINES` lines per run, always the first and the last)."""
    stride = max(1, math.ceil(epochs / PROGRESS_LINES))
    if stream is not None and (epoch % stride == 0 or epoch == epochs):
        print(format_progress(epoch, epochs, hist, eval_time), file=stream, flush=True)


#: Seconds between the lines within an epoch (:func:`report_steps`) on a stream that is not a
#: terminal, and between the updates of the overwriting line on a terminal.
STEP_LINE_INTERVAL = 10.0
TTY_INTERVAL = 0.5


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def format_step_progress(epoch: int, epochs: int, step: int, steps: int, mean_loss: float,
                         lr: float, elapsed: float) -> str:
    """One short line within an epoch: the step, the mean batch loss of the epoch so far, the
    last rate, the seconds since the epoch began and an estimate of those left."""
    left = elapsed * (steps - step) / step
    return (f"epoch {epoch}/{epochs}  step {step}/{steps}  batch loss {mean_loss:.4g}  "
            f"eta {lr:.4g}  {elapsed:.0f}s, ~{left:.0f}s left")


def report_steps(stream, run: RunState, epochs: int, steps: int, batches, *,
                 clock=time.perf_counter):
    """Yield ``batches`` (one epoch's) unchanged and, between them, report the epoch's progress.

    Nothing is printed for an epoch shorter than the interval: on a terminal, a line that
    overwrites itself (``\\r``) every :data:`TTY_INTERVAL` seconds and is erased when the
    epoch ends; on any other stream (a log file, a pipe) a plain line every
    :data:`STEP_LINE_INTERVAL` seconds. ``steps`` is the number of batches of the epoch.
    """
    if stream is None:
        yield from batches
        return
    tty = _isatty(stream)
    interval = TTY_INTERVAL if tty else STEP_LINE_INTERVAL
    losses = run.history.loss
    first = len(losses)  # the epoch's first step
    start = clock()
    due = start + interval
    shown = 0  # width of the overwriting line on the terminal
    try:
        for done, batch in enumerate(batches, start=1):
            yield batch  # the caller takes the step
            now = clock()
            if now < due or done >= steps or len(losses) <= first:
                continue
            line = format_step_progress(run.epoch + 1, epochs, done, steps,
                                        math.fsum(losses[first:]) / (len(losses) - first),
                                        run.history.lr[-1], now - start)
            if tty:
                stream.write("\r" + line.ljust(shown))
                stream.flush()
                shown = len(line)
            else:
                print(line, file=stream, flush=True)
            due = now + interval
    finally:
        if shown:
            stream.write("\r" + " " * shown + "\r")
            stream.flush()
