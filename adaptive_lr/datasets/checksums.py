"""Hashing and verification of data files.

A gzip file can be checked two ways: on its own bytes, or on its *payload* (the decompressed
bytes). The payload check accepts every faithful copy whatever its compression level or header.
Plain (not gzipped) copies of a payload are accepted by the same rule.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from .cache import DataError

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """Return True if the file starts with the gzip magic bytes ``1f 8b``."""
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_payload(path: str | Path) -> bytes:
    """Read a file, gunzipping it if it is a gzip file (detected by its magic bytes).

    Raises
    ------
    DataError
        If the gzip stream is corrupt or truncated.
    """
    path = Path(path)
    if not is_gzip(path):
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from exc


def file_digest(path: str | Path, algorithm: str = "sha256", *, payload: bool = False) -> str:
    """Hex digest of a file, or of its decompressed payload.

    Parameters
    ----------
    path : str or Path
        The file.
    algorithm : str
        A :mod:`hashlib` name, e.g. ``"sha256"`` or ``"md5"``.
    payload : bool
        If True and the file is gzipped, hash the decompressed bytes (streamed).

    Returns
    -------
    str
        The lower-case hex digest.
    """
    h = hashlib.new(algorithm)
    path = Path(path)
    gz = payload and is_gzip(path)
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
    return h.hexdigest()


def bytes_digest(data: bytes, algorithm: str = "sha256") -> str:
    """Hex digest of bytes already in memory."""
    return hashlib.new(algorithm, data).hexdigest()


def check_digest(actual: str, expected: str, algorithm: str, what: str) -> None:
    """Raise a :class:`DataError` naming ``what`` if ``actual != expected``.

    Parameters
    ----------
    actual, expected : str
        Hex digests.
    algorithm : str
        Name of the hash, for the message.
    what : str
        What was hashed, e.g. ``"payload of /data/mnist/train-images-idx3-ubyte.gz"``.
    """
    if actual.lower() != expected.lower():
        raise DataError(
            f"checksum mismatch for {what}: expected {algorithm} {expected}, got {actual}. "
            "The file is corrupt, truncated or not the expected file; delete it and fetch it "
            "again."
        )


def verify_file(
    path: str | Path, algorithm: str, expected: str, *, payload: bool = False, name: str = ""
) -> None:
    """Check a file's digest (or its decompressed payload's) against ``expected``.

    Raises
    ------
    DataError
        On mismatch, naming the file and both digests; also if the gzip stream is corrupt.
    """
    label = name or str(path)
    what = f"the decompressed payload of {label}" if payload else str(label)
    check_digest(file_digest(path, algorithm, payload=payload), expected, algorithm, what)
