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
  history and a summary. NaN is written as ``null``;
* ``manifest.json``, written last: which run made the folder (:func:`write_manifest`).

Every file is written through a temporary file in the same folder, then renamed over the
target (:func:`~adaptive_lr.atomic.atomic_write`, importable from here too): a process killed
mid-write leaves the previous file intact, never an empty or half-written one.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import math
import uuid
from pathlib import Path

from ..atomic import atomic_write

ITERATION_COLUMNS = ("iteration", "epoch", "lr", "loss")
EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "time")


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_iterations_csv(path: str | Path, history) -> Path:
    """One row per iteration: :data:`ITERATION_COLUMNS`."""

    def write(handle):
        out = csv.writer(handle)
        out.writerow(ITERATION_COLUMNS)
        for i, (epoch, lr, loss) in enumerate(
                zip(history.epoch_of_iter, history.lr, history.loss, strict=True), start=1):
            out.writerow([i, epoch, _cell(float(lr)), _cell(float(loss))])

    return atomic_write(path, write)


def write_epochs_csv(path: str | Path, history) -> Path:
    """One row per evaluation: :data:`EPOCH_COLUMNS`."""
    rows = zip(history.epoch, history.train_loss, history.train_acc, history.test_loss,
               history.test_acc, history.lr_epoch, history.time, strict=True)

    def write(handle):
        out = csv.writer(handle)
        out.writerow(EPOCH_COLUMNS)
        for row in rows:
            out.writerow([row[0], *(_cell(float(v)) for v in row[1:])])

    return atomic_write(path, write)


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
    """Write ``payload`` as strict JSON (no NaN), indented (atomically)."""
    text = json.dumps(json_ready(payload), indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text))


# -- which run made a results folder -----------------------------------------------------------
MANIFEST = "manifest.json"

#: Names a results folder holds (besides checkpoints, which --resume manages).
RESULT_PATTERNS = ("history.json", "history_*.csv", "epochs_*.csv", "*.png", MANIFEST)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or ``None`` without one; a ``ValueError`` if it is unreadable."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); delete it and the results beside it, "
                         "or choose another output folder") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ValueError(f"{path} is not a manifest of adaptive-lr; choose another output folder")
    return manifest


def _listed(manifest: dict) -> set[str]:
    names = [f.get("name") if isinstance(f, dict) else None for f in manifest["files"]]
    names += list(manifest.get("stale") or [])
    # only plain names of result files: a damaged manifest cannot make us delete anything else
    return {n for n in names if isinstance(n, str) and "/" not in n and "\\" not in n
            and any(fnmatch.fnmatchcase(n, pattern) for pattern in RESULT_PATTERNS)}


def begin_results(folder: Path, settings: dict) -> dict:
    """Claim ``folder`` for a new run, before any result is written.

    The previous run's manifest (if any) says which files it wrote; they are remembered as
    *stale* in a manifest with ``"status": "running"``, which replaces it at once, so a run
    interrupted from here on leaves a folder that says so, and the next run still knows which
    files to remove (a run interrupted before its end left files its manifest does not list:
    every result file of such a folder is stale). A folder that holds result files but no
    manifest (written by hand, or by
    an older version) is refused: nothing there is overwritten or deleted on a guess. Hidden
    temporary files that killed writes of result files left are removed.

    Returns
    -------
    dict
        The running manifest, to pass to :func:`finish_results`.
    """
    for leftover in folder.glob(".*.tmp"):  # what writes killed mid-way left (atomic_write)
        if any(fnmatch.fnmatchcase(leftover.name, f".{pattern}.*.tmp")
               for pattern in RESULT_PATTERNS):
            leftover.unlink(missing_ok=True)
    previous = read_manifest(folder)
    if previous is None:
        found = sorted({p.name for pattern in RESULT_PATTERNS for p in folder.glob(pattern)})
        if found:
            raise ValueError(
                f"{folder} already holds results that no manifest.json accounts for "
                f"({', '.join(found[:5])}{', ...' if len(found) > 5 else ''}); move or delete "
                "them, or choose another output folder (--out) or name (--name)")
        stale = []
    else:
        stale = _listed(previous)
        if previous.get("status") != "complete":  # an interrupted run: its files are unlisted
            stale |= {p.name for pattern in RESULT_PATTERNS for p in folder.glob(pattern)}
        stale = sorted(stale - {MANIFEST})
    manifest = {"run_id": uuid.uuid4().hex, "status": "running", "settings": settings,
                "files": [], "stale": stale}
    write_json(folder / MANIFEST, manifest)
    return manifest


def finish_results(folder: Path, manifest: dict, files: list[Path]) -> Path:
    """Remove the previous run's files that this run did not write, then write the manifest,
    last: the run id, ``"status": "complete"``, the settings and every file with its size and
    sha256."""
    names = {Path(f).name for f in files}
    for name in manifest["stale"]:
        if name not in names:
            try:
                (folder / name).unlink()
            except FileNotFoundError:
                pass
    entries = [{"name": Path(f).name, "bytes": Path(f).stat().st_size,
                "sha256": file_sha256(f)} for f in files]
    return write_json(folder / MANIFEST, {**manifest, "status": "complete", "files": entries,
                                          "stale": []})
