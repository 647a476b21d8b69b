"""What a checkpoint records of its run, and how a resume checks a checkpoint.

A checkpoint is validated, not trusted. :func:`adaptive_lr.checkpoint.restore_run` checks that

* the run is the same (:func:`check_same_run`): the settings :func:`describe_run` records
  (model, controller and direction with their hyperparameters, dtype, batch size, probe, and a
  sha256 fingerprint of every data array) are equal to the resuming run's
  (:func:`setting_differences` names each that is not);
* the state is valid: finite weights of the model's size and dtype (:func:`check_weights`), a
  controller and direction state of finite numbers (:func:`check_state_arrays`; then the
  objects' own ``load_state_dict`` checks), history series of the lengths the position implies
  (:func:`check_history`), a model state like the fresh model's (:func:`check_model_state`).

Every failure is a :class:`CheckpointError` naming the file and, for a mismatch, the setting
with its saved and its new value.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .history import SERIES, History


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or does not fit the run."""


#: History series with one entry per iteration; the others have one per evaluation.
PER_ITERATION = ("lr", "loss", "epoch_of_iter")

#: Attributes that change how fast a model runs, not what it computes.
SPEED_ONLY = frozenset({"threads"})

_PLAIN = (bool, int, float, str, type(None))


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


def check_same_run(meta: dict, run, settings: dict | None, path) -> None:
    """The checkpoint's controller and direction classes are the run's, and (when
    ``settings`` is given) so is every setting :func:`describe_run` recorded."""
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


# -- the saved state -------------------------------------------------------------------------
def check_weights(arrays: dict, dtype, num_params: int, path) -> np.ndarray:
    """The saved weights ``w``: ``num_params`` finite numbers of ``dtype``."""
    w = arrays.get("w")
    if w is None or w.shape != (num_params,) or w.dtype != dtype:
        got = None if w is None else (w.shape, str(w.dtype))
        raise CheckpointError(f"checkpoint {path}: weights {got} do not fit a model of "
                              f"{num_params} parameters in {dtype}")
    if not np.all(np.isfinite(w)):
        raise CheckpointError(f"checkpoint {path}: the weights contain NaN or inf")
    return w


def check_count(meta: dict, key: str, path) -> int:
    """The metadata's ``key``, an integer >= 0."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(f"checkpoint {path}: {key} must be an integer >= 0, "
                              f"got {value!r}")
    return value


def check_state_arrays(what: str, state: dict, num_params: int, path) -> None:
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


def check_history(arrays: dict, epoch: int, iteration: int, path) -> History:
    """The saved history series: each present, 1-d, of the length the position implies and of
    its dtype; the epochs 0..epoch; every rate finite and > 0."""
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


def check_model_state(saved: dict, meta: dict, template: dict | None, path):
    """The saved non-parameter state ``saved``, with the keys, shapes and dtypes of
    ``template`` (the fresh run's ``model.init_state``), all finite; ``None`` for a model
    without one."""
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
