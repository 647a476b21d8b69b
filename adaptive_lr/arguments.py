"""Checks of the public API's arguments: small shared helpers, and the checks of
:func:`adaptive_lr.train.train`'s arguments, kept out of the training loop.

Every check raises a ``TypeError`` (wrong kind of value) or a ``ValueError`` (right kind, bad
value) whose message names the argument and says what was expected. Bools are not numbers
here: ``batch_size=True`` or ``LinearRegression(True)`` is a ``TypeError``, not 1.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .datasets.splits import check_disjoint

PROBE_ON = ("train", "validation")

#: Array dtypes that hold real numbers (bool, complex, object and strings do not).
REAL_KINDS = "iuf"


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a float or bool where an integer or a bool is expected):
    a ``TypeError``, and also a ``ValueError``, which these checks raised before they told the
    two apart, so that callers catching ``ValueError`` keep working."""


def describe(value) -> str:
    """``value`` for an error message: its type and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def is_integer(value) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, least: int | None = None) -> int:
    """``value`` as an ``int``: an :class:`ArgumentTypeError` naming ``name`` unless it is an
    integer (not a bool, not a float such as 2.0 or 2.5, not an array), a ``ValueError`` if it
    is ``< least``.

    >>> check_int("epochs", 3, 0)
    3
    """
    expected = "an integer" if least is None else f"an integer >= {least}"
    if not is_integer(value):
        raise ArgumentTypeError(f"{name} must be {expected}, got {describe(value)}")
    if least is not None and value < least:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_count(name: str, value, least: int) -> int:
    """An integer ``>= least`` (:func:`check_int`)."""
    return check_int(name, value, least)


def check_optional_count(name: str, value, least: int) -> int | None:
    """``None``, or an integer ``>= least``."""
    return None if value is None else check_int(name, value, least)


def check_real(name: str, value) -> float:
    """``value`` as a finite float: a ``TypeError`` naming ``name`` unless it is a real number
    (Python or NumPy int or float, not a bool, a string or an array), a ``ValueError`` if it
    is NaN or infinite."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        v = math.inf
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {describe(value)}")
    return v


def check_positive(name: str, value) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless finite and > 0
    (a ``TypeError`` unless a real number: :func:`check_real`)."""
    v = check_real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless finite and >= 0."""
    v = check_real(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def check_beta(value, name: str = "beta") -> float:
    """A momentum coefficient in ``[0, 1)``."""
    v = check_real(name, value)
    if not 0 <= v < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return v


def check_image_shape(name: str, value) -> tuple[int, int]:
    """``(height, width)`` from an integer or a pair of integers, or an error naming ``name``."""
    if is_integer(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_integer, value)):
        return int(value[0]), int(value[1])
    raise ArgumentTypeError(f"{name} must be an integer or a pair of integers (height, width), "
                            f"got {describe(value)}")


def check_int_tuple(name: str, value, length: int, least: int = 1) -> tuple[int, ...]:
    """``length`` integers ``>= least`` (a tuple or list), or an error naming ``name``."""
    if not isinstance(value, (tuple, list)) or not all(map(is_integer, value)):
        raise ArgumentTypeError(f"{name} must be a tuple of integers, got {describe(value)}")
    if len(value) != length or (value and min(value) < least):
        raise ValueError(f"{name} must be {length} integers >= {least}, got {tuple(value)}")
    return tuple(int(v) for v in value)


def check_flag(name: str, value) -> bool:
    """A switch must be a bool (not a truthy number or string such as ``"no"``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {describe(value)}")
    return value


def check_real_array(name: str, value) -> np.ndarray:
    """``value`` as an array of real numbers (integer or float dtype, any precision), or a
    ``ValueError`` naming ``name``: bool, complex, object and string arrays are refused (a
    complex array cast to float would silently lose its imaginary part)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be an array of real numbers ({exc})") from None
    if a.dtype.kind not in REAL_KINDS:
        raise ValueError(f"{name} must hold real numbers (integers or floats), got dtype "
                         f"{a.dtype}")
    return a


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """float32 or float64, the two precisions the package computes in (float16 data may be
    given as ``X``: it is cast exactly; float16 arithmetic is not supported)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {describe(dtype)}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def check_instance(name: str, value, methods: tuple[str, ...], expected: str):
    """An object with the callable ``methods`` (an instance, not its class), or a
    ``TypeError`` naming ``name`` and ``expected``."""
    if isinstance(value, type):
        raise TypeError(f"{name} must be an instance ({value.__name__}(...)), not the class "
                        f"{value.__name__}")
    if not all(callable(getattr(value, m, None)) for m in methods):
        raise TypeError(f"{name} must be {expected}, got {describe(value)}")
    return value


def check_path(name: str, value):
    """``None`` or a str / ``os.PathLike``."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {describe(value)}")
    return value


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


def check_data(X, y, name: str, dtype, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a C-contiguous array of ``dtype`` with a sample axis, ``y`` 1-D of real numbers
    and of the same length. ``suffix`` names the arguments (``"_test"``: ``X_test``, ``y_test``)."""
    xs, ys = f"X{suffix}", f"y{suffix}"
    if X is None or y is None:
        raise TypeError(f"{name}: {xs} and {ys} must both be given")
    X = check_real_array(f"{name}: {xs}", X)
    y = check_real_array(f"{name}: {ys}", y)
    if X.ndim < 2:
        raise ValueError(f"{name}: {xs} must have a sample axis and feature axes, got shape "
                         f"{X.shape}")
    if y.ndim != 1:
        raise ValueError(f"{name}: {ys} must be 1-D (one target per sample), got shape {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"{name}: {xs} has {len(X)} rows but {ys} has {len(y)} entries")
    if len(X) == 0:
        raise ValueError(f"{name}: no samples ({xs} is empty)")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}: {xs} contains NaN or inf"
                         + (" (after the cast to float32)" if dtype == np.float32 else ""))
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: {ys} contains NaN or inf")
    return X, y


def check_labels_fit(model, y, name: str) -> None:
    """A classifier's labels: integers in ``[0, model.n_classes)``, checked up front so that the
    message names the data set."""
    if getattr(model, "task", None) != "classification":
        return
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    n_classes = getattr(model, "n_classes", None)
    if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name}: labels must lie in [0, {n_classes}), got values in "
                         f"[{y.min()}, {y.max()}]")


def row_hashes(X: np.ndarray) -> np.ndarray:
    """A hash of each sample's bits, for exact-row lookups (equal rows, equal hashes)."""
    rows = np.ascontiguousarray(X.reshape(len(X), -1))
    word = np.uint64 if (rows.shape[1] * rows.dtype.itemsize) % 8 == 0 else np.uint32
    bits = rows.view(word)
    mult = np.random.default_rng(0).integers(1, 2**31, size=bits.shape[1], dtype=word)
    return bits @ (mult | word(1))  # wraps around, as a hash may


def check_held_out(X: np.ndarray, X_val: np.ndarray) -> None:
    """Raise ``ValueError`` naming ``X_val`` if one of its rows is also a row of ``X``.

    Sec. 5.3 probes on *held-out* data (Eq. 22-23): a validation example that is also trained on
    measures training loss again. Rows are compared exactly (their bits, in the run's dtype):
    each validation row equal to a training row is mapped to that row's index, and
    :func:`~adaptive_lr.datasets.splits.check_disjoint` checks the two index sets.
    """
    if X.shape[1:] != X_val.shape[1:]:
        raise ValueError(f"validation data: X_val has samples of shape {X_val.shape[1:]}, "
                         f"X of shape {X.shape[1:]}")
    h_train, h_val = row_hashes(X), row_hashes(X_val)
    by_hash = {}
    for i in np.flatnonzero(np.isin(h_train, h_val)):
        by_hash.setdefault(h_train[i], []).append(i)
    shared = [next((i for i in by_hash.get(h, []) if np.array_equal(X[i], X_val[j])), None)
              for j, h in enumerate(h_val) if h in by_hash]
    try:
        check_disjoint(np.arange(len(X)), np.array([i for i in shared if i is not None], int))
    except ValueError as exc:
        raise ValueError(f"X_val: {exc} (training rows given by their index in X)") from None


def check_train_arguments(X, y, *, epochs, batch_size, probe_on, checkpoint_every, dtype,
                          X_test, y_test, X_val, y_val, model=None
                          ) -> tuple[TrainData, int | None]:
    """The checked data and the batch size (``None``: full batch) of a run."""
    check_count("epochs", epochs, 0)
    batch_size = check_optional_count("batch_size", batch_size, 1)
    check_choice("probe_on", probe_on, PROBE_ON)
    check_count("checkpoint_every", checkpoint_every, 1)
    data = TrainData(*check_data(X, y, "training data", dtype))
    check_labels_fit(model, data.y, "training data: y")
    if X_test is not None or y_test is not None:
        data.X_test, data.y_test = check_data(X_test, y_test, "test data", dtype, "_test")
        if data.X_test.shape[1:] != data.X.shape[1:]:
            raise ValueError(f"test data: X_test has samples of shape {data.X_test.shape[1:]}, "
                             f"X of shape {data.X.shape[1:]}")
        check_labels_fit(model, data.y_test, "test data: y_test")
    if probe_on == "validation":
        if X_val is None:
            raise ValueError("probe_on='validation' needs X_val and y_val")
        data.X_val, data.y_val = check_data(X_val, y_val, "validation data", dtype, "_val")
        check_labels_fit(model, data.y_val, "validation data: y_val")
        check_held_out(data.X, data.X_val)
    if batch_size is not None and batch_size >= len(data.X):
        batch_size = None  # a batch of the whole set is full-batch gradient descent
    return data, batch_size
