"""The IDX file format of MNIST: parse and write.

An IDX file is a 4-byte magic number ``00 00 T D``, then ``D`` big-endian uint32 dimensions, then
the data in C order, big-endian, of the type with code ``T``:

====  ==========  ==============
code  type        NumPy dtype
====  ==========  ==============
0x08  uint8       ``>u1``
0x09  int8        ``>i1``
0x0B  int16       ``>i2``
0x0C  int32       ``>i4``
0x0D  float32     ``>f4``
0x0E  float64     ``>f8``
====  ==========  ==============

So MNIST images have magic 2051 (``00 00 08 03``: uint8, 3 dims) and labels 2049
(``00 00 08 01``: uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .cache import DataError
from .checksums import read_payload

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_DTYPES.items()}


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        Name of the file, for error messages.

    Returns
    -------
    ndarray
        Shape as in the header, dtype the header's type in native byte order (e.g. ``uint8``).
        A read-only view of ``data`` for single-byte types, a copy otherwise.

    Raises
    ------
    DataError
        For a wrong magic number, an unknown type code, or a size that does not match the
        header (truncated or trailing bytes), with the expected and actual sizes.
    """
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file: {len(data)} bytes, less than a magic number")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataError(
            f"{name}: wrong magic number 0x{data[:4].hex()}: an IDX file starts with 00 00"
            + (" (this looks gzipped: decompress it first)" if data[:2] == b"\x1f\x8b" else "")
        )
    if code not in IDX_DTYPES:
        raise DataError(f"{name}: wrong magic number 0x{data[:4].hex()}: unknown type 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: wrong magic number 0x{data[:4].hex()}: 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{name}: truncated IDX header: expected at least {header} bytes, got {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "trailing bytes after the data"
        raise DataError(
            f"{name}: {kind}: header says shape {shape} of {dtype.newbyteorder('=')}, "
            f"so {expected} bytes expected, got {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    native = dtype.newbyteorder("=")
    return array.view(native) if dtype.itemsize == 1 else array.astype(native)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzipped or not (detected by its magic bytes, not by its name).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    ndarray
        See :func:`parse_idx`.

    Raises
    ------
    DataError
        See :func:`parse_idx`; also for a corrupt or truncated gzip stream.
    """
    return parse_idx(read_payload(path), name=str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as the bytes of an IDX file.

    Parameters
    ----------
    array : ndarray
        At least 1-D, each dimension below 2**32, of dtype uint8, int8, int16, int32, float32
        or float64.

    Returns
    -------
    bytes
        Magic number, big-endian dimensions, big-endian data.
    """
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in _CODES:
        raise DataError(f"IDX has no type for dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    code = _CODES[key]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write an array as an IDX file, optionally gzipped (with ``mtime=0``, reproducible).

    Parameters
    ----------
    path : str or Path
        Destination.
    array : ndarray
        See :func:`idx_bytes`.
    compress : bool
        If True, write a gzip stream.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress:
        name = path.name.removesuffix(".gz")  # the name stored in the header, as gzip does
        with open(path, "wb") as f, gzip.GzipFile(name, "wb", fileobj=f, mtime=0) as g:
            g.write(data)
    else:
        path.write_bytes(data)
    return path
