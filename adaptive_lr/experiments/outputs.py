"""The files an experiment writes: per-iteration and per-epoch CSV, one JSON of all runs.

Columns (also listed in ``adaptive-lr reproduce --help``):

* ``history_<run>.csv``, one row per iteration: ``iteration`` (from 1), ``epoch`` (from 1),
  ``lr`` (the rate used by that step), ``loss`` (the batch loss before the step);
* ``epochs_<run>.csv``, one row per evaluation (epoch 0 is before training): ``epoch``,
  ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (empty where it does not apply,
  e.g. accuracy of a regression), ``lr`` (``controller.lr``: the rate of the epoch's last
  update; epoch 0: the initial rate), ``time`` (seconds of training so far, evaluations
  excluded);
* ``history.json``: the experiment, the data's source, every run's hyperparameters, its full
  history and a summary. NaN is written as ``null``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

ITERATION_COLUMNS = ("iteration", "epoch", "lr", "loss")
EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time")


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_iterations_csv(path: str | Path, history) -> Path:
    """One row per iteration: :data:`ITERATION_COLUMNS`."""
    path = Path(path)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(ITERATION_COLUMNS)
        for i, (epoch, lr, loss) in enumerate(
                zip(history.epoch_of_iter, history.lr, history.loss, strict=True), start=1):
            out.writerow([i, epoch, _cell(float(lr)), _cell(float(loss))])
    return path


def write_epochs_csv(path: str | Path, history) -> Path:
    """One row per evaluation: :data:`EPOCH_COLUMNS`."""
    path = Path(path)
    rows = zip(history.epoch, history.train_loss, history.train_acc, history.test_loss,
               history.test_acc, history.lr_epoch, history.time, strict=True)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(EPOCH_COLUMNS)
        for row in rows:
            out.writerow([row[0], *(_cell(float(v)) for v in row[1:])])
    return path


def json_ready(value):
    """``value`` with NaN and infinities replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return json_ready(value.item())
    return value


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as strict JSON (no NaN), indented."""
    path = Path(path)
    path.write_text(json.dumps(json_ready(payload), indent=1, allow_nan=False) + "\n")
    return path
