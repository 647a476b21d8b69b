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


def _as_path(path):
    """A :class:`Path` for a string; a Path or an ``importlib.resources`` Traversable as is."""
    return Path(path) if isinstance(path, str) else path


def is_gzip(path) -> bool:
    """Return True if the file starts with the gzip magic bytes ``1f 8b``."""
    with _as_path(path).open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def _read_at_most(f, max_size: int | None, what: str) -> bytes:
    """All of ``f``, read in chunks, or a :class:`DataError` as soon as it passes ``max_size``
    bytes: a small gzip bomb (1 MB that inflates to 1 GiB) costs no more than ``max_size``."""
    if max_size is None:
        return f.read()
    chunks, total = [], 0
    while chunk := f.read(min(CHUNK, max_size + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_size:
            raise DataError(f"{what} holds more than the expected {max_size} bytes (reading "
                            "stopped there): not the expected file")
    return b"".join(chunks)


def read_payload(path, *, max_size: int | None = None) -> bytes:
    """Read a file, gunzipping it if it is a gzip file (detected by its magic bytes).

    Parameters
    ----------
    path : str, Path or Traversable
    max_size : int, optional
        The expected size of the (decompressed) bytes: reading stops, with a
        :class:`DataError`, as soon as there are more.

    Raises
    ------
    DataError
        If the gzip stream is corrupt or truncated, or the payload passes ``max_size``.
    """
    path = _as_path(path)
    gz = is_gzip(path)
    what = f"the decompressed payload of {path}" if gz else str(path)
    try:
        with path.open("rb") as raw, (gzip.GzipFile(fileobj=raw) if gz else raw) as f:
            return _read_at_most(f, max_size, what)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from exc


def file_digest(path: str | Path, algorithm: str = "sha256", *, payload: bool = False,
                max_size: int | None = None, name: str = "") -> str:
    """Hex digest of a file, or of its decompressed payload.

    Parameters
    ----------
    path : str or Path
        The file.
    algorithm : str
        A :mod:`hashlib` name, e.g. ``"sha256"`` or ``"md5"``.
    payload : bool
        If True and the file is gzipped, hash the decompressed bytes (streamed).
    max_size : int, optional
        Stop with a :class:`DataError` as soon as more bytes than this are read.
    name : str, optional
        What to call the file in messages (default: its path).

    Returns
    -------
    str
        The lower-case hex digest.
    """
    h = hashlib.new(algorithm)
    path = Path(path)
    label = name or str(path)
    gz = payload and is_gzip(path)
    total = 0
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                total += len(chunk)
                if max_size is not None and total > max_size:
                    raise DataError(
                        f"{'the decompressed payload of ' if gz else ''}{label} holds more than "
                        f"the expected {max_size} bytes (reading stopped there): not the "
                        "expected file")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{label}: corrupt or truncated gzip file ({exc})") from exc
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
    path: str | Path, algorithm: str, expected: str, *, payload: bool = False, name: str = "",
    max_size: int | None = None,
) -> None:
    """Check a file's digest (or its decompressed payload's) against ``expected``.

    Raises
    ------
    DataError
        On mismatch, naming the file (``name``, default its path) and both digests; also if the
        gzip stream is corrupt or the bytes pass ``max_size``.
    """
    label = name or str(path)
    what = f"the decompressed payload of {label}" if payload else str(label)
    digest = file_digest(path, algorithm, payload=payload, max_size=max_size, name=label)
    check_digest(digest, expected, algorithm, what)
