"""MNIST from its IDX files (LeCun, Cortes and Burges).

Files, in ``<data folder>/mnist/``, gzipped or not (``name`` or ``name.gz``)::

    train-images-idx3-ubyte   60000 x 28 x 28 uint8, magic 2051
    train-labels-idx1-ubyte   60000 uint8 in 0..9, magic 2049
    t10k-images-idx3-ubyte    10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte    10000 uint8 in 0..9
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .cache import DataError, missing_files_error
from .cache import data_dir as resolve_data_dir
from .checksums import bytes_digest, check_digest, read_payload
from .download import fetch
from .idx import parse_idx
from .sources import SOURCES

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read(path: Path, stem: str, magic: int, verify: bool) -> np.ndarray:
    remote = SOURCES[f"mnist/{stem}.gz"]
    data = read_payload(path, max_size=remote.size)  # a gzip bomb stops at the known size
    if verify:
        what = f"the decompressed payload of {path}"
        if len(data) != remote.size:
            raise DataError(
                f"{what}: expected {remote.size} bytes, got {len(data)} (truncated or wrong file)"
            )
        check_digest(bytes_digest(data, remote.algorithm), remote.digest, remote.algorithm, what)
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found != magic:
        raise DataError(
            f"{path}: wrong magic number {found} for {stem}: expected {magic} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'}, uint8)"
        )
    return parse_idx(data, name=str(path))


def load_mnist(
    data_dir: str | os.PathLike | None = None, download: bool = False, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as NumPy arrays.

    Parameters
    ----------
    data_dir : str or PathLike, optional
        The data folder (files in its ``mnist/`` subfolder). Default:
        :func:`adaptive_lr.datasets.data_dir` (``$ADAPTIVE_LR_DATA`` or ``~/.cache/adaptive-lr``).
    download : bool
        If True, fetch missing files from the mirror listed in
        :data:`adaptive_lr.datasets.sources.SOURCES`, verified, into the data folder.
    verify : bool
        If True (default), check each decompressed payload's size and sha256 against the source
        table, so that every faithful copy is accepted, gzipped or not, and nothing else.
        Pass False only for files that are not the official ones (e.g. small test files).

    Returns
    -------
    X_train : ndarray, shape (60000, 28, 28), uint8
        Pixel intensities 0..255, row-major, white digit on black (0).
    y_train : ndarray, shape (60000,), int64
        Labels 0..9.
    X_test : ndarray, shape (10000, 28, 28), uint8
    y_test : ndarray, shape (10000,), int64

    Raises
    ------
    DataNotFoundError
        If files are absent (and ``download`` is False, or fails): one error naming every missing
        file, its URL and where to put it.
    DataError
        For a corrupt, truncated or wrong file (checksum, magic number, sizes, labels).
    """
    folder = resolve_data_dir(data_dir) / "mnist"
    paths = {stem: _find(folder, stem) for stem in FILES}
    missing = [stem for stem, path in paths.items() if path is None]
    if missing and download:
        for stem in missing:
            paths[stem] = fetch(SOURCES[f"mnist/{stem}.gz"], resolve_data_dir(data_dir))
        missing = []
    if missing:
        raise missing_files_error(
            "MNIST",
            [folder / f"{stem}.gz" for stem in missing],
            [SOURCES[f"mnist/{stem}.gz"].url for stem in missing],
            hint="Gzipped or not; or call load_mnist(download=True).",
        )
    out = []
    for part in ("train", "t10k"):
        images = _read(paths[f"{part}-images-idx3-ubyte"], f"{part}-images-idx3-ubyte",
                       IMAGES_MAGIC, verify)
        labels = _read(paths[f"{part}-labels-idx1-ubyte"], f"{part}-labels-idx1-ubyte",
                       LABELS_MAGIC, verify)
        if images.shape[1:] != (28, 28):
            raise DataError(f"MNIST {part} images: expected N x 28 x 28, got {images.shape}")
        if labels.shape != images.shape[:1]:
            raise DataError(
                f"MNIST {part}: {images.shape[0]} images but {labels.shape[0]} labels"
            )
        if labels.size and labels.max() > 9:
            raise DataError(f"MNIST {part} labels: expected 0..9, found {labels.max()}")
        out += [images, labels.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


def images_as_float(X: np.ndarray, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Scale uint8 images to ``[0, 1]``, keeping their shape.

    Parameters
    ----------
    X : ndarray, any shape, uint8
        Pixel values 0..255 (MNIST (N, 28, 28) or CIFAR (N, 3, 32, 32)).
    dtype : dtype
        Output dtype, float64 by default (the project's default, see ``docs/design.md``).

    Returns
    -------
    ndarray, same shape as X, ``dtype``
        ``X / 255``.
    """
    X = np.asarray(X)
    if X.dtype != np.uint8:
        raise DataError(f"expected uint8 images, got {X.dtype}")
    return X.astype(dtype) / 255


def mnist_as_features(X: np.ndarray, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Flatten MNIST images into feature rows in ``[0, 1]`` (for linear and logistic models).

    Parameters
    ----------
    X : ndarray, shape (N, 28, 28), uint8
    dtype : dtype
        Output dtype, float64 by default.

    Returns
    -------
    ndarray, shape (N, 784), ``dtype``
        Row ``i`` is image ``i`` in row-major order, divided by 255.

    Examples
    --------
    >>> X = np.zeros((2, 28, 28), dtype=np.uint8); X[1, 0, 1] = 255
    >>> F = mnist_as_features(X)
    >>> F.shape, F.dtype, F[1, 1]
    ((2, 784), dtype('float64'), np.float64(1.0))
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (28, 28):
        raise DataError(f"expected MNIST images of shape (N, 28, 28), got {X.shape}")
    return images_as_float(X, dtype).reshape(X.shape[0], -1)  # (N,28,28) -> (N,784)
