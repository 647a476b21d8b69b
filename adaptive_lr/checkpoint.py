"""Checkpoints of a training run: one ``.npz`` of plain arrays, written atomically, no pickle.

A checkpoint holds everything :func:`adaptive_lr.train.train` needs to continue a run so that it
reproduces the uninterrupted run bit for bit (weights, controller and direction state, the
random generator's state, the position and the history so far). Keys are flat strings such as
``"w"``, ``"controller.lr"`` or ``"history.loss"``; the small metadata (the generator's state, a
dict of ints, the position and class names) is a JSON string stored as a 0-d unicode array.

Writing is atomic: the arrays go to a temporary file in the same folder, which is flushed,
``fsync``-ed and then renamed over the target with :func:`os.replace`. A write interrupted at
any point (an exception, a full disk, a killed process) leaves the previous checkpoint intact.
Reading uses ``np.load(..., allow_pickle=False)``; a truncated or corrupt file raises
:class:`CheckpointError` with a one-line message.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

#: Version of the layout below; bumped when it changes incompatibly.
FORMAT_VERSION = 1
META_KEY = "meta.json"


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_npz(handle, payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    arrays : dict of str -> ndarray
    meta : dict

    Raises
    ------
    CheckpointError
        If the file is absent, not a complete npz, lacks its metadata, or has another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"checkpoint {path} has no metadata; not written by adaptive-lr")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable metadata ({exc})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')!r}, "
                              f"this version reads format {FORMAT_VERSION}")
    return arrays, meta


def prefixed(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"prefix.key": array}`` for a state dict."""
    return {f"{prefix}.{key}": np.asarray(value) for key, value in state.items()}


def unprefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {key[len(start):]: value for key, value in arrays.items() if key.startswith(start)}
