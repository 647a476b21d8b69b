"""Checkpoints of a training run: one ``.npz`` of plain arrays, written atomically, no pickle.

A checkpoint holds the :class:`~adaptive_lr.run_state.RunState` of a run, everything
:func:`adaptive_lr.train.train` needs to continue it so that it reproduces the uninterrupted
run bit for bit: the weights, the model's non-parameter state, the controller's and the
direction's state, the random streams' states, the position and the history so far
(:func:`save_run`, :func:`restore_run`). Keys are flat strings such as ``"w"``,
``"controller.lr"`` or ``"history.loss"``; the small metadata (the generators' states, dicts of
ints, the position and the run's settings) is a JSON string stored as a 0-d unicode array.

Writing is atomic: the arrays go to a temporary file in the same folder, which is flushed,
``fsync``-ed and then renamed over the target with :func:`os.replace`. A write interrupted at
any point (an exception, a full disk, a killed process) leaves the previous checkpoint intact;
the hidden temporary file a killed write leaves behind is removed by the next write.

A checkpoint is validated, not trusted. Reading uses ``np.load(..., allow_pickle=False)`` after
every member's CRC-32 has been checked, and :func:`restore_run` then checks that

* the run is the same: the settings :func:`describe_run` records (model, controller and
  direction with their hyperparameters, dtype, batch size, probe, and a sha256 fingerprint of
  every data array) are equal to the resuming run's;
* the state is valid: finite weights of the model's size and dtype, a controller and direction
  state of finite numbers (then the objects' own ``load_state_dict`` checks), history series of
  the lengths the position implies, an epoch not beyond the one asked for.

What a checkpoint records of its run and those checks are in :mod:`adaptive_lr.checkpoint_check`
(its names are importable from here too); this module is the file format and the restore.

Every failure, corruption or mismatch, is a :class:`CheckpointError` naming the file and, for a
mismatch, the setting with its saved and its new value.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write, remove_stale_temporaries  # noqa: F401  (importable from here)
from .checkpoint_check import (  # noqa: F401  (importable from here, as before)
    PER_ITERATION,
    SPEED_ONLY,
    CheckpointError,
    array_fingerprint,
    check_count,
    check_history,
    check_model_state,
    check_same_run,
    check_state_arrays,
    check_weights,
    describe_run,
    hyperparameters,
    setting_differences,
)
from .history import SERIES
from .probe import PassCounter
from .run_state import STREAMS, RunState

#: Version of the layout below; bumped when it changes incompatibly (3: the run's settings).
FORMAT_VERSION = 3
META_KEY = "meta.json"


def _write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed npz into an open binary file."""
    np.savez(handle, **arrays)


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Atomically write ``arrays`` and the JSON-able ``meta`` to ``path`` (an ``.npz``).

    Parameters
    ----------
    path : str or PathLike
        Target file; its folder must exist. An existing file is replaced only once the new one
        is completely on disk.
    arrays : dict of str -> ndarray
        Numeric arrays (object arrays are refused: they would need pickle).
    meta : dict
        Small JSON-serialisable metadata (ints, floats, strings, lists, dicts).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if META_KEY in arrays:
        raise ValueError(f"{META_KEY!r} is reserved for the metadata")
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ValueError(f"checkpoint array {key!r} has dtype object (would need pickle)")
    payload = dict(arrays)
    payload[META_KEY] = np.array(json.dumps({"format": FORMAT_VERSION, **meta}))
    return atomic_write(path, lambda handle: _write_npz(handle, payload), binary=True,
                        durable=True)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every member of the npz at ``path``, its CRC-32s checked before any array is parsed."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(6) == b"\x93NUMPY":
                raise CheckpointError(f"checkpoint {path} is a single .npy array, not an .npz "
                                      "checkpoint")
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt (not a zip archive, "
                              "as an .npz is)")
    # Any exception while parsing a damaged archive (zipfile raises NotImplementedError for an
    # unknown compression method, RuntimeError for a flag saying "encrypted", and so on) means
    # one thing here: the file is not the checkpoint that was written.
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member, checking its CRC-32
            if bad is not None:
                raise CheckpointError(f"checkpoint {path} is corrupt (member {bad!r} fails its "
                                      "CRC-32 check)")
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise CheckpointError(f"checkpoint {path} is not an .npz checkpoint")
            return {key: data[key] for key in data.files}
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 -- see the comment above
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt "
                              f"({type(exc).__name__}: {exc})") from None


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    arrays : dict of str -> ndarray
    meta : dict

    Raises
    ------
    CheckpointError
        If the file is absent, not a complete npz (any member failing its CRC-32), lacks its
        metadata, or has another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    arrays = _read_arrays(path)
    if META_KEY not in arrays:
        raise CheckpointError(f"checkpoint {path} has no metadata; not written by adaptive-lr")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except (json.JSONDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: its metadata is not a JSON object")
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {meta.get('format')!r}, this version of adaptive-lr "
            f"reads format {FORMAT_VERSION} only: it was written by another version; start the "
            "run afresh (without resuming)")
    return arrays, meta


def prefixed(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"prefix.key": array}`` for a state dict."""
    return {f"{prefix}.{key}": np.asarray(value) for key, value in state.items()}


def unprefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {key[len(start):]: value for key, value in arrays.items() if key.startswith(start)}


# -- writing and restoring a run --------------------------------------------------------------
def save_run(path: str | os.PathLike, run: RunState, settings: dict | None = None) -> Path:
    """Atomically write ``run`` and the run's ``settings`` (:func:`describe_run`) to ``path``."""
    arrays = {"w": run.w}
    arrays.update(prefixed("model_state", run.model_state or {}))
    arrays.update(prefixed("controller", run.controller.state_dict()))
    arrays.update(prefixed("direction", run.direction.state_dict()))
    arrays.update({f"history.{k}": np.asarray(getattr(run.history, k), dtype=t)
                   for k, t in SERIES.items()})
    meta = {"streams": run.streams.get_state(), "epoch": run.epoch, "iteration": run.iteration,
            "train_time": run.train_time, "forward": run.counter.forward,
            "backward": run.counter.backward, "diverged": run.history.diverged,
            "model_state": run.model_state is not None,
            "controller": type(run.controller).__name__,
            "direction": type(run.direction).__name__, "settings": settings}
    return save_checkpoint(path, arrays, meta)


def restore_run(path: str | os.PathLike, run: RunState, num_params: int,
                settings: dict | None = None, epochs: int | None = None) -> RunState:
    """Load ``path`` into ``run``, a fresh state of the same run (its controller, direction and
    streams are overwritten), after checking it (module docstring).

    Parameters
    ----------
    path : str or PathLike
    run : RunState
        The fresh run: its weights give the dtype, its model state the expected keys, shapes
        and dtypes, its controller and direction the classes.
    num_params : int
        The model's number of parameters.
    settings : dict, optional
        This run's :func:`describe_run`; each entry must equal the checkpoint's.
    epochs : int, optional
        The epochs asked for; the checkpoint must not be beyond them.

    Raises
    ------
    CheckpointError
        For a corrupt or invalid file, or one of another run (naming the setting).
    """
    arrays, meta = load_checkpoint(path)
    check_same_run(meta, run, settings, path)
    epoch, iteration = check_count(meta, "epoch", path), check_count(meta, "iteration", path)
    if epochs is not None and epoch > epochs:
        raise CheckpointError(f"checkpoint {path} is at epoch {epoch}, beyond the {epochs} "
                              "epochs asked for")
    w = check_weights(arrays, run.w.dtype, num_params, path)
    controller_state = unprefixed("controller", arrays)
    direction_state = unprefixed("direction", arrays)
    check_state_arrays("controller", controller_state, num_params, path)
    check_state_arrays("direction", direction_state, num_params, path)
    history = check_history(arrays, epoch, iteration, path)
    model_state = check_model_state(unprefixed("model_state", arrays), meta, run.model_state,
                                    path)
    streams = meta.get("streams")
    if not isinstance(streams, dict) or set(streams) != set(STREAMS):
        raise CheckpointError(f"checkpoint {path}: the random streams' states are missing")
    train_time = meta.get("train_time")
    if (isinstance(train_time, bool) or not isinstance(train_time, (int, float))
            or not math.isfinite(train_time) or train_time < 0):
        raise CheckpointError(f"checkpoint {path}: train_time must be a finite number >= 0, "
                              f"got {train_time!r}")
    diverged = meta.get("diverged")
    if diverged is not None and not isinstance(diverged, str):
        raise CheckpointError(f"checkpoint {path}: diverged must be a string or null")
    forward, backward = check_count(meta, "forward", path), check_count(meta, "backward", path)
    try:
        run.controller.load_state_dict(controller_state)
        run.direction.load_state_dict(direction_state)
        run.streams.set_state(streams)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is incomplete or invalid ({exc})") from None
    run.history = history
    run.history.diverged = diverged
    run.counter = PassCounter(forward, backward)
    run.epoch, run.iteration = epoch, iteration
    run.train_time = float(train_time)
    run.w = w.copy()
    run.model_state = model_state
    return run


