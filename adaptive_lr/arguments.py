"""The checks of :func:`adaptive_lr.train.train`'s arguments, kept out of the training loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE_ON = ("train", "validation")


@dataclass
class TrainData:
    """The arrays of a run, checked and in the run's dtype (``None`` where not given)."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The held-out set of Eq. 22-23, or ``None`` when probes use the training batch."""
        return None if self.X_val is None else (self.X_val, self.y_val)


def check_data(X, y, name: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a C-contiguous array of ``dtype`` with a sample axis, ``y`` of the same length."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2:
        raise ValueError(f"{name}: X must have a sample axis and feature axes, got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name}: X has {len(X)} rows but y has {len(y)} entries")
    if len(X) == 0:
        raise ValueError(f"{name}: no samples")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: X contains NaN or inf")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: y contains NaN or inf")
    return X, y


def check_count(name: str, value, least: int) -> int:
    """An integer ``>= least`` (not a bool), or a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_train_arguments(X, y, *, epochs, batch_size, probe_on, checkpoint_every, dtype,
                          X_test, y_test, X_val, y_val) -> tuple[TrainData, int | None]:
    """The checked data and the batch size (``None``: full batch) of a run."""
    check_count("epochs", epochs, 0)
    if batch_size is not None:
        batch_size = check_count("batch_size", batch_size, 1)
    if probe_on not in PROBE_ON:
        raise ValueError(f"probe_on must be 'train' or 'validation', got {probe_on!r}")
    check_count("checkpoint_every", checkpoint_every, 1)
    data = TrainData(*check_data(X, y, "training data", dtype))
    if X_test is not None:
        data.X_test, data.y_test = check_data(X_test, y_test, "test data", dtype)
    if probe_on == "validation":
        if X_val is None:
            raise ValueError("probe_on='validation' needs X_val and y_val")
        data.X_val, data.y_val = check_data(X_val, y_val, "validation data", dtype)
    if batch_size is not None and batch_size >= len(data.X):
        batch_size = None  # a batch of the whole set is full-batch gradient descent
    return data, batch_size
