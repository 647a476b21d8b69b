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

Every failure, corruption or mismatch, is a :class:`CheckpointError` naming the file and, for a
mismatch, the setting with its saved and its new value.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write, remove_stale_temporaries  # noqa: F401  (importable from here)
from .history import SERIES, History
from .probe import PassCounter
from .run_state import STREAMS, RunState

#: Version of the layout below; bumped when it changes incompatibly (3: the run's settings).
FORMAT_VERSION = 3
META_KEY = "meta.json"

#: History series with one entry per iteration; the others have one per evaluation.
PER_ITERATION = ("lr", "loss", "epoch_of_iter")

#: Attributes that change how fast a model runs, not what it computes.
SPEED_ONLY = frozenset({"threads"})

_PLAIN = (bool, int, float, str, type(None))


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


# -- what a resume must match ----------------------------------------------------------------
def _plain(value):
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value):
        return list(value)
    return None


def hyperparameters(obj, exclude=()) -> dict:
    """The class name and the plain (number, string, flag) public attributes of ``obj``:
    what it was built with. State (``state``, ``state_dict()`` keys, ``last_*`` diagnostics)
    and the attributes in ``exclude`` are left out.

    >>> from adaptive_lr import SecondOrderLR
    >>> hyperparameters(SecondOrderLR(0.1, eps=1e-4))["eps"]
    0.0001
    """
    skip = set(exclude) | {"state"}
    if hasattr(obj, "state_dict"):
        skip |= set(obj.state_dict())
    out = {"class": type(obj).__name__}
    for key, value in sorted(vars(obj).items()):
        if key.startswith(("_", "last")) or key in skip:
            continue
        value = _plain(value)
        if value is not None or getattr(obj, key) is None:
            out[key] = value
    return out


def array_fingerprint(a) -> dict | None:
    """Shape, dtype and sha256 of an array's bytes (``None`` for ``None``)."""
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "sha256": hashlib.sha256(memoryview(a).cast("B")).hexdigest()}


def describe_run(model, controller, direction, data, *, dtype, batch_size, probe_on) -> dict:
    """The settings a checkpoint records and a resume must match.

    ``controller`` and ``direction`` must be fresh (before their first step): ``eta`` is the
    controller's initial rate. ``data`` is the run's :class:`~adaptive_lr.arguments.TrainData`;
    each of its arrays is recorded by :func:`array_fingerprint` (hashing reads each array once,
    about a second per GB). The number of epochs is not a setting: a resume continues a run to a
    later total.
    """
    ctrl = hyperparameters(controller)
    ctrl["eta"] = float(controller.lr)
    return {"model": hyperparameters(model, SPEED_ONLY), "controller": ctrl,
            "direction": hyperparameters(direction), "dtype": str(np.dtype(dtype)),
            "batch_size": batch_size, "probe_on": probe_on,
            "data": {name: array_fingerprint(getattr(data, name))
                     for name in ("X", "y", "X_test", "y_test", "X_val", "y_val")}}


def _flatten(d, prefix=""):
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not {"shape", "sha256"} <= value.keys():
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _show(key: str, value) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"shape {tuple(value['shape'])} {value['dtype']} sha256 {value['sha256'][:12]}..."
    return "absent" if value is None and key.startswith("data.") else repr(value)


def setting_differences(saved: dict, current: dict) -> list[str]:
    """``"name: saved X, this run Y"`` for each setting that differs (after a JSON round trip,
    so that a tuple equals its saved list)."""
    current = json.loads(json.dumps(current))
    old, new = dict(_flatten(saved)), dict(_flatten(current))
    missing = object()
    out = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            out.append(f"{key}: checkpoint {'(not set)' if a is missing else _show(key, a)}, "
                       f"this run {'(not set)' if b is missing else _show(key, b)}")
    return out


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


def _count(meta: dict, key: str, path) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(f"checkpoint {path}: {key} must be an integer >= 0, "
                              f"got {value!r}")
    return value


def _check_state_arrays(what: str, state: dict, num_params: int, path) -> None:
    """Generic checks of a controller's or direction's saved state: real numbers, all finite,
    rates > 0, counters >= 0, vectors of the model's size (or empty, for "not yet")."""
    for key, value in state.items():
        name = f"{what}.{key}"
        if value.dtype.kind not in "iuf":
            raise CheckpointError(f"checkpoint {path}: {name} has dtype {value.dtype}, "
                                  "expected numbers")
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"checkpoint {path}: {name} is not finite")
        if value.ndim == 0:
            if key in ("lr", "next_lr") and not float(value) > 0:
                raise CheckpointError(f"checkpoint {path}: {name} must be > 0, "
                                      f"got {float(value)!r}")
            if value.dtype.kind in "iu" and int(value) < 0:
                raise CheckpointError(f"checkpoint {path}: {name} must be >= 0, "
                                      f"got {int(value)}")
        elif value.size and value.shape != (num_params,):
            raise CheckpointError(f"checkpoint {path}: {name} has shape {value.shape}, "
                                  f"expected ({num_params},) or empty")


def _check_history(arrays: dict, epoch: int, iteration: int, path) -> History:
    series = {}
    for key, dtype in SERIES.items():
        value = arrays.get(f"history.{key}")
        if value is None:
            raise CheckpointError(f"checkpoint {path}: history.{key} is missing")
        want = iteration if key in PER_ITERATION else epoch + 1
        if value.ndim != 1 or len(value) != want:
            raise CheckpointError(
                f"checkpoint {path}: history.{key} has shape {value.shape}, expected ({want},) "
                f"for {'iteration' if key in PER_ITERATION else 'epoch'} "
                f"{iteration if key in PER_ITERATION else epoch}")
        if value.dtype != np.dtype(dtype):
            raise CheckpointError(f"checkpoint {path}: history.{key} has dtype {value.dtype}, "
                                  f"expected {np.dtype(dtype)}")
        series[key] = value
    if not np.array_equal(series["epoch"], np.arange(epoch + 1)):
        raise CheckpointError(f"checkpoint {path}: history.epoch is not 0..{epoch}")
    if not np.all(np.isfinite(series["lr"])) or not np.all(series["lr"] > 0):
        raise CheckpointError(f"checkpoint {path}: history.lr holds a rate that is not "
                              "finite and > 0")
    return History(**{k: v.tolist() for k, v in series.items()})


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
    for what, obj in (("controller", run.controller), ("direction", run.direction)):
        if meta.get(what) != type(obj).__name__:
            raise CheckpointError(f"checkpoint {path} was written with {what} "
                                  f"{meta.get(what)}, this run uses {type(obj).__name__}")
    if settings is not None:
        saved = meta.get("settings")
        if not isinstance(saved, dict):
            raise CheckpointError(f"checkpoint {path} records no settings of its run")
        diff = setting_differences(saved, settings)
        if diff:
            raise CheckpointError(f"checkpoint {path} is of another run; resume with the "
                                  "settings it was written with, or start afresh. Differences: "
                                  + "; ".join(diff))
    epoch, iteration = _count(meta, "epoch", path), _count(meta, "iteration", path)
    if epochs is not None and epoch > epochs:
        raise CheckpointError(f"checkpoint {path} is at epoch {epoch}, beyond the {epochs} "
                              "epochs asked for")
    w = arrays.get("w")
    if w is None or w.shape != (num_params,) or w.dtype != run.w.dtype:
        got = None if w is None else (w.shape, str(w.dtype))
        raise CheckpointError(f"checkpoint {path}: weights {got} do not fit a model of "
                              f"{num_params} parameters in {run.w.dtype}")
    if not np.all(np.isfinite(w)):
        raise CheckpointError(f"checkpoint {path}: the weights contain NaN or inf")
    controller_state = unprefixed("controller", arrays)
    direction_state = unprefixed("direction", arrays)
    _check_state_arrays("controller", controller_state, num_params, path)
    _check_state_arrays("direction", direction_state, num_params, path)
    history = _check_history(arrays, epoch, iteration, path)
    model_state = _check_model_state(arrays, meta, run.model_state, path)
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
    forward, backward = _count(meta, "forward", path), _count(meta, "backward", path)
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


def _check_model_state(arrays: dict, meta: dict, template: dict | None, path):
    """The saved non-parameter state, with the keys, shapes and dtypes of ``template`` (the
    fresh run's ``model.init_state``), all finite; ``None`` for a model without one."""
    saved = unprefixed("model_state", arrays)
    if template is None:
        if meta.get("model_state") or saved:
            raise CheckpointError(f"checkpoint {path} holds a model state; this model has none")
        return None
    if meta.get("model_state") is not True or set(saved) != set(template):
        raise CheckpointError(f"checkpoint {path}: model state keys {sorted(saved)}, this model "
                              f"has {sorted(template)}")
    for key, value in saved.items():
        ref = np.asarray(template[key])
        if value.shape != ref.shape or value.dtype != ref.dtype:
            raise CheckpointError(f"checkpoint {path}: model_state.{key} is {value.shape} "
                                  f"{value.dtype}, this model's {ref.shape} {ref.dtype}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise CheckpointError(f"checkpoint {path}: model_state.{key} is not finite")
    return saved
