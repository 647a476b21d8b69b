"""Boston Housing (Harrison & Rubinfeld, 1978), bundled only to reproduce the paper's Sec. 4.2.1.

scikit-learn removed this data set in version 1.2: its column ``B = 1000 (Bk - 0.63)^2`` encodes a
racially motivated assumption (see ``adaptive_lr/data/README.md``). It is used here for nothing
but the paper's linear-regression experiment, with the paper's split of 400 training and 106 test
points.

The file is looked up, in order, at

1. ``adaptive_lr/data/boston_house_prices.csv.gz``, package data shipped inside the package (in a
   clone, an editable install and a wheel alike), found with :mod:`importlib.resources`;
2. ``<data folder>/boston/boston_house_prices.csv`` or ``.csv.gz`` (``$ADAPTIVE_LR_DATA`` or
   ``~/.cache/adaptive-lr``).

Whatever the file, its decompressed bytes must have the sha256 of the scikit-learn 1.1.3 copy.
"""

from __future__ import annotations

import io
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .cache import DataError, DataNotFoundError, path_of_env
from .cache import data_dir as resolve_data_dir
from .checksums import bytes_digest, check_digest, read_payload
from .sources import BOSTON_SHA256, BOSTON_SIZE

FEATURES = ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO",
            "B", "LSTAT")
TARGET = "MEDV"
N_ROWS, N_TRAIN = 506, 400  # the paper, Sec. 4.2.1: 400 train, the remaining 106 test
#: The bundled copy, package data of ``adaptive_lr`` (a :class:`pathlib.Path` for every
#: installation pip makes; any :class:`importlib.resources.abc.Traversable` is read alike).
BUNDLED = resources.files("adaptive_lr").joinpath("data", "boston_house_prices.csv.gz")


def boston_path(path: str | os.PathLike | None = None) -> Path:
    """Return the Boston Housing file that :func:`load_boston` reads.

    Parameters
    ----------
    path : str or PathLike, optional
        An explicit file; it wins.

    Returns
    -------
    Path
        The first existing file among the bundled copy and the data folder's copies.

    Raises
    ------
    DataNotFoundError
        If none exists, naming the places looked at.
    """
    if path is not None:
        return Path(path)
    folder = resolve_data_dir() / "boston"
    names = ("boston_house_prices.csv", "boston_house_prices.csv.gz")
    candidates = [BUNDLED, *(folder / name for name in names)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(
        "Boston Housing: boston_house_prices.csv not found; looked at "
        + ", ".join(str(c) for c in candidates)
        + ". It ships inside the package (adaptive_lr/data/): reinstall adaptive-lr; otherwise "
        "take sklearn/datasets/data/boston_house_prices.csv from the "
        f"scikit-learn==1.1.3 wheel on PyPI and put it at {candidates[1]} "
        f"(the data folder is {path_of_env()})."
    )


def read_boston(path: str | os.PathLike | None = None) -> np.ndarray:
    """Read and verify the whole Boston Housing table.

    Parameters
    ----------
    path : str or PathLike, optional
        The CSV, gzipped or not; default :func:`boston_path`.

    Returns
    -------
    ndarray, shape (506, 14), float64
        Columns :data:`FEATURES` then MEDV (median home value in $1000s), rows in file order.

    Raises
    ------
    DataError
        If the decompressed bytes are not the verified copy (size, sha256), or malformed.
    """
    path = boston_path(path)
    data = read_payload(path, max_size=BOSTON_SIZE)
    what = f"the decompressed payload of {path}"
    if len(data) != BOSTON_SIZE:
        raise DataError(f"{what}: expected {BOSTON_SIZE} bytes, got {len(data)}")
    check_digest(bytes_digest(data), BOSTON_SHA256, "sha256", what)
    lines = data.decode("ascii").splitlines()
    header = tuple(name.strip('"') for name in lines[1].split(","))
    if header != (*FEATURES, TARGET):
        raise DataError(f"{path}: unexpected header {header}")
    table = np.loadtxt(io.StringIO("\n".join(lines[2:])), delimiter=",", dtype=np.float64)
    if table.shape != (N_ROWS, len(FEATURES) + 1):
        raise DataError(f"{path}: expected {N_ROWS} x 14 values, got {table.shape}")
    return table


def load_boston(
    standardize: bool = False, shuffle_seed: int | None = None, *,
    path: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load Boston Housing with the paper's split: 400 training and 106 test points.

    Parameters
    ----------
    standardize : bool
        If True, subtract each feature's training mean and divide by its training standard
        deviation (``ddof=0``), fitted on the 400 training rows only and applied to both parts.
        The target is never scaled. Default False: the paper used the raw features.
    shuffle_seed : int, optional
        None (default): the first 400 rows train, the last 106 test, deterministic. An int: the
        rows are first permuted by ``np.random.default_rng(shuffle_seed).permutation(506)``.
    path : str or PathLike, optional
        Read this file instead of the one :func:`boston_path` finds.

    Returns
    -------
    X_train : ndarray, shape (400, 13), float64
    y_train : ndarray, shape (400,), float64
        MEDV, in $1000s.
    X_test : ndarray, shape (106, 13), float64
    y_test : ndarray, shape (106,), float64

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_boston()
    >>> X_train.shape, X_test.shape, float(y_train[0])
    ((400, 13), (106, 13), 24.0)
    """
    table = read_boston(path)
    if shuffle_seed is not None:
        table = table[np.random.default_rng(shuffle_seed).permutation(N_ROWS)]
    X, y = table[:, :-1], table[:, -1]  # (506, 14) -> (506, 13), (506,)
    X_train, X_test = X[:N_TRAIN].copy(), X[N_TRAIN:].copy()
    if standardize:
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a constant training column is left centred only
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    return X_train, y[:N_TRAIN].copy(), X_test, y[N_TRAIN:].copy()
