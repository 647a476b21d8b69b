"""Checkpoints of a training run: one ``.npz`` of plain arrays, written atomically, no pickle.

A checkpoint holds the :class:`~adaptive_lr.run_state.RunState` of a run, everything
:func:`adaptive_lr.train.train` needs to continue it so that it reproduces the uninterrupted
run bit for bit: the weights, the model's non-parameter state, the controller's and the
direction's state, the random streams' states, the position and the history so far
(:func:`save_run`, :func:`restore_run`). Keys are flat strings such as ``"w"``,
``"controller.lr"`` or ``"history.loss"``; the small metadata (the generators' states, dicts of
ints, the position and class names) is a JSON string stored as a 0-d unicode array.

Writing is atomic: the arrays go to a temporary file in the same folder, which is flushed,
``fsync``-ed and then renamed over the target with :func:`os.replace`. A write interrupted at
any point (an exception, a full disk, a killed process) leaves the previous checkpoint intact.
Reading uses ``np.load(..., allow_pickle=False)``; a truncated or corrupt file raises
:class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .history import SERIES, History
from .probe import PassCounter
from .run_state import RunState

#: Version of the layout below; bumped when it changes incompatibly.
FORMAT_VERSION = 2
META_KEY = "meta.json"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or does not fit the run."""


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_npz(handle, payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    arrays : dict of str -> ndarray
    meta : dict

    Raises
    ------
    CheckpointError
        If the file is absent, not a complete npz, lacks its metadata, or has another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"checkpoint {path} has no metadata; not written by adaptive-lr")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable metadata ({exc})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')!r}, "
                              f"this version reads format {FORMAT_VERSION}")
    return arrays, meta


def prefixed(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"prefix.key": array}`` for a state dict."""
    return {f"{prefix}.{key}": np.asarray(value) for key, value in state.items()}


def unprefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {key[len(start):]: value for key, value in arrays.items() if key.startswith(start)}


def save_run(path: str | os.PathLike, run: RunState) -> Path:
    """Atomically write ``run`` to ``path`` (see the module docstring)."""
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
            "direction": type(run.direction).__name__}
    return save_checkpoint(path, arrays, meta)


def restore_run(path: str | os.PathLike, run: RunState, num_params: int) -> RunState:
    """Load ``path`` into ``run``, a fresh state of the same run (its controller, direction and
    streams are overwritten); ``num_params`` and ``run.w``'s dtype must match the weights."""
    arrays, meta = load_checkpoint(path)
    for what, obj in (("controller", run.controller), ("direction", run.direction)):
        if meta.get(what) != type(obj).__name__:
            raise CheckpointError(f"checkpoint {path} was written with {what} "
                                  f"{meta.get(what)}, this run uses {type(obj).__name__}")
    w = arrays.get("w")
    if w is None or w.shape != (num_params,) or w.dtype != run.w.dtype:
        got = None if w is None else (w.shape, str(w.dtype))
        raise CheckpointError(f"checkpoint {path}: weights {got} do not fit a model of "
                              f"{num_params} parameters in {run.w.dtype}")
    try:
        run.controller.load_state_dict(unprefixed("controller", arrays))
        run.direction.load_state_dict(unprefixed("direction", arrays))
        run.streams.set_state(meta["streams"])
        run.history = History(**{k: arrays[f"history.{k}"].tolist() for k in SERIES})
        run.counter = PassCounter(int(meta["forward"]), int(meta["backward"]))
        run.epoch, run.iteration = int(meta["epoch"]), int(meta["iteration"])
        run.train_time = float(meta["train_time"])
        has_state = bool(meta["model_state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is incomplete ({exc})") from None
    run.history.diverged = meta.get("diverged")
    run.w = w.copy()
    run.model_state = unprefixed("model_state", arrays) if has_state else None
    return run
