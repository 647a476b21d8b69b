"""CIFAR-10 and CIFAR-100 from their official *binary* layouts (Krizhevsky, 2009).

A CIFAR-10 record is 1 label byte, then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each
a 32 x 32 image in row-major order. A CIFAR-100 record has 2 label bytes (coarse, then fine)
before the same 3072 pixel bytes. The pickled Python versions are never read.

Layouts in the data folder::

    cifar10/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin, test_batch.bin,
                                 batches.meta.txt                      ("full": 50000 / 10000)
    cifar10/cifar10_data_batch_1_first4000.bin, cifar10_test_batch_first1000.bin,
            batches.meta.txt                     ("subset": the first 4000 / 1000 records)
    cifar100/cifar-100-binary/train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt

Checksums of the extracted files: every file read is verified against the sha256 recorded from
the md5-verified archive, where one is (:mod:`adaptive_lr.datasets.cifar_checksums`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .cache import DataError, DataNotFoundError, path_of_env
from .cache import data_dir as resolve_data_dir
from .cifar_checksums import (  # noqa: F401  (importable from here, as before)
    CHECKSUMS,
    checksums_for,
    read_checksums,
    record_checksums,
    verify_checksums,
)
from .download import fetch, safe_extract_tar
from .sources import SOURCES

PIXELS = 3 * 32 * 32
CIFAR10_DIR = "cifar-10-batches-bin"
CIFAR100_DIR = "cifar-100-binary"
# variant -> (train files, test file, records per train file, records in test file)
CIFAR10_LAYOUTS = {
    "full": (tuple(f"{CIFAR10_DIR}/data_batch_{i}.bin" for i in range(1, 6)),
             f"{CIFAR10_DIR}/test_batch.bin", 10000, 10000),
    "subset": (("cifar10_data_batch_1_first4000.bin",), "cifar10_test_batch_first1000.bin",
               4000, 1000),
}
CIFAR100_LAYOUT = ((f"{CIFAR100_DIR}/train.bin",), f"{CIFAR100_DIR}/test.bin", 50000, 10000)


class CifarFiles(NamedTuple):
    """The files a CIFAR loader reads (see :func:`locate_cifar10`).

    Attributes
    ----------
    variant : str
        ``"full"`` (the official files) or ``"subset"`` (CIFAR-10 only: 4000 train / 1000 test).
    train : tuple of Path
        Training files, read in this order.
    test : Path
        The test file.
    records : tuple of int
        Expected records per training file and in the test file.
    """

    variant: str
    train: tuple[Path, ...]
    test: Path
    records: tuple[int, int]


def parse_cifar(
    data: bytes, label_bytes: int = 1, name: str = "<bytes>"
) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR binary records.

    Parameters
    ----------
    data : bytes
        Whole records, back to back.
    label_bytes : int
        1 for CIFAR-10, 2 for CIFAR-100 (coarse, fine).
    name : str
        Name of the file, for error messages.

    Returns
    -------
    images : ndarray, shape (N, 3, 32, 32), uint8
        Channels red, green, blue; rows, columns.
    labels : ndarray, shape (N, label_bytes), int64
        The label bytes of each record, in file order.

    Raises
    ------
    DataError
        If the size is not a positive multiple of the record size (truncated or wrong file).
    """
    record = label_bytes + PIXELS
    if len(data) == 0 or len(data) % record:
        raise DataError(
            f"{name}: {len(data)} bytes is not a positive multiple of the record size {record} "
            f"({label_bytes} label byte(s) + {PIXELS} pixels): truncated or not a "
            f"CIFAR-{10 if label_bytes == 1 else 100} binary file"
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)  # (N, record)
    labels = rows[:, :label_bytes].astype(np.int64)  # (N, label_bytes)
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).copy()  # (N, 3072) -> (N, 3, 32, 32)
    return images, labels


def read_cifar(
    path: str | Path, label_bytes: int = 1, n_records: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR binary file; see :func:`parse_cifar`.

    Parameters
    ----------
    path : str or Path
    label_bytes : int
        1 for CIFAR-10, 2 for CIFAR-100.
    n_records : int, optional
        If given, the file must hold exactly this many records.
    """
    path = Path(path)
    record = label_bytes + PIXELS
    if n_records is not None and path.stat().st_size != n_records * record:
        raise DataError(  # checked before reading: a huge wrong file is never loaded
            f"{path}: expected {n_records} records ({n_records * record} bytes), "
            f"got {path.stat().st_size / record:.6g} ({path.stat().st_size} bytes): truncated "
            "or wrong file")
    images, labels = parse_cifar(path.read_bytes(), label_bytes, str(path))
    if n_records is not None and len(images) != n_records:
        raise DataError(
            f"{path}: expected {n_records} records ({n_records * (label_bytes + PIXELS)} bytes), "
            f"got {len(images)} ({path.stat().st_size} bytes): truncated or wrong file"
        )
    return images, labels


def read_label_names(path: str | Path) -> list[str]:
    """Read a ``*.txt`` label-name file (one name a line; blank lines dropped)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def _check_range(labels: np.ndarray, n_classes: int, what: str) -> None:
    if labels.size and (labels.max() >= n_classes):
        raise DataError(f"{what}: label {labels.max()} out of range 0..{n_classes - 1}")


def _locate(
    folder: Path, layout: tuple, variant: str, archive: str, download: bool, root: Path
) -> CifarFiles:
    train_names, test_name, n_train, n_test = layout
    files = CifarFiles(variant, tuple(folder / n for n in train_names), folder / test_name,
                       (n_train, n_test))
    missing = [p for p in (*files.train, files.test) if not p.is_file()]
    if missing and download and variant == "full":
        path = fetch(SOURCES[archive], root)  # md5-verified
        safe_extract_tar(path, folder)
        record_checksums(path, files.test.parent)
        missing = [p for p in (*files.train, files.test) if not p.is_file()]
    if missing:
        remote = SOURCES[archive]
        raise DataNotFoundError(
            f"{folder.name} ({variant}): {len(missing)} file(s) not found: "
            + ", ".join(str(p) for p in missing)
            + f". They come from {remote.url} ({remote.algorithm} {remote.digest}): put it at "
            f"{root / remote.name} and extract it in {folder} (or pass download=True). "
            f"The data folder is {path_of_env()}; set ADAPTIVE_LR_DATA to use another folder."
        )
    return files


def locate_cifar10(
    data_dir: str | os.PathLike | None = None, download: bool = False, variant: str = "auto"
) -> CifarFiles:
    """Find (and with ``download=True`` fetch) the CIFAR-10 files :func:`load_cifar10` reads.

    Parameters
    ----------
    data_dir : str or PathLike, optional
        The data folder (files in its ``cifar10/`` subfolder); default ``data_dir()``.
    download : bool
        Fetch and extract the official archive if the full files are absent (only when the
        choice falls on ``"full"``).
    variant : {"auto", "full", "subset"}
        ``"full"``: the official files; ``"subset"``: the files of the first 4000 training and
        1000 test records; ``"auto"``: full if all official files are present, else the subset if
        all its files are present, else full (downloaded if asked). Files of two variants are
        never mixed.

    Returns
    -------
    CifarFiles
        The variant chosen and its files.
    """
    root = resolve_data_dir(data_dir)
    folder = root / "cifar10"
    if variant not in ("auto", "full", "subset"):
        raise ValueError(f"variant must be 'auto', 'full' or 'subset', got {variant!r}")
    if variant == "auto":
        complete = {
            v: all((folder / n).is_file() for n in (*lay[0], lay[1]))
            for v, lay in CIFAR10_LAYOUTS.items()
        }
        variant = "subset" if complete["subset"] and not complete["full"] else "full"
    return _locate(folder, CIFAR10_LAYOUTS[variant], variant, "cifar10/cifar-10-binary.tar.gz",
                   download, root)


def _load(files: CifarFiles, label_bytes: int, verify: bool, sums=None):
    if verify:
        verify_checksums((*files.train, files.test), sums)
    n_train, n_test = files.records if verify else (None, None)
    parts = [read_cifar(p, label_bytes, n_train) for p in files.train]
    X_test, y_test = read_cifar(files.test, label_bytes, n_test)
    X_train = np.concatenate([X for X, _ in parts])  # (N, 3, 32, 32)
    y_train = np.concatenate([y for _, y in parts])  # (N, label_bytes)
    return X_train, y_train, X_test, y_test


def load_cifar10(
    data_dir: str | os.PathLike | None = None, download: bool = False, *,
    variant: str = "auto", verify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load CIFAR-10 from its binary layout.

    Parameters
    ----------
    data_dir, download, variant
        See :func:`locate_cifar10`, which makes the same choice of files: call it to see which
        files are read (``variant="auto"`` may pick the 4000/1000 subset).
    verify : bool
        If True (default), each file must hold the number of records of its variant and match
        the sha256 recorded from the md5-verified archive (module docstring), where one is.
        The archive's md5 is checked when it is downloaded.

    Returns
    -------
    X_train : ndarray, shape (N_train, 3, 32, 32), uint8
        ``N_train`` = 50000 (full) or 4000 (subset).
    y_train : ndarray, shape (N_train,), int64
        Labels 0..9 (names in ``batches.meta.txt``, see :func:`read_label_names`).
    X_test : ndarray, shape (N_test, 3, 32, 32), uint8
        ``N_test`` = 10000 (full) or 1000 (subset).
    y_test : ndarray, shape (N_test,), int64

    Raises
    ------
    DataNotFoundError
        If files are missing, naming them, the archive URL and where to put it.
    DataError
        For a truncated or wrong file, or a label outside 0..9.
    """
    files = locate_cifar10(data_dir, download, variant)
    archive = "cifar10/cifar-10-binary.tar.gz"
    sums = (checksums_for(files.test.parent, files.variant, archive, resolve_data_dir(data_dir))
            if verify else None)
    X_train, y_train, X_test, y_test = _load(files, 1, verify, sums)
    _check_range(y_train, 10, "CIFAR-10 train")
    _check_range(y_test, 10, "CIFAR-10 test")
    return X_train, y_train[:, 0], X_test, y_test[:, 0]


def load_cifar100(
    data_dir: str | os.PathLike | None = None, download: bool = False, *,
    label_mode: str = "fine", verify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load CIFAR-100 from its binary layout (``cifar100/cifar-100-binary/``).

    Parameters
    ----------
    data_dir : str or PathLike, optional
        The data folder; default ``data_dir()``.
    download : bool
        Fetch (md5-verified) and extract the official archive if files are absent.
    label_mode : {"fine", "coarse", "both"}
        Which labels to return.
    verify : bool
        If True (default), the files must hold 50000 and 10000 records and match the sha256
        recorded from the md5-verified archive (module docstring), where one is.

    Returns
    -------
    X_train : ndarray, shape (50000, 3, 32, 32), uint8
    y_train : ndarray, int64
        ``"fine"``: shape (50000,), 0..99; ``"coarse"``: shape (50000,), 0..19;
        ``"both"``: shape (50000, 2), column 0 coarse, column 1 fine (the order in the file).
    X_test : ndarray, shape (10000, 3, 32, 32), uint8
    y_test : ndarray, int64, shaped like ``y_train`` with 10000 rows.
    """
    columns = {"coarse": 0, "fine": 1, "both": slice(None)}
    if label_mode not in columns:
        raise ValueError(f"label_mode must be 'fine', 'coarse' or 'both', got {label_mode!r}")
    root = resolve_data_dir(data_dir)
    archive = "cifar100/cifar-100-binary.tar.gz"
    files = _locate(root / "cifar100", CIFAR100_LAYOUT, "full", archive, download, root)
    sums = checksums_for(files.test.parent, files.variant, archive, root) if verify else None
    X_train, y_train, X_test, y_test = _load(files, 2, verify, sums)
    for y, part in ((y_train, "train"), (y_test, "test")):
        _check_range(y[:, 0], 20, f"CIFAR-100 {part} coarse")
        _check_range(y[:, 1], 100, f"CIFAR-100 {part} fine")
    col = columns[label_mode]
    y_train, y_test = np.ascontiguousarray(y_train[:, col]), np.ascontiguousarray(y_test[:, col])
    return X_train, y_train, X_test, y_test
