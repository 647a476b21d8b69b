"""Writing a file all at once: through a hidden temporary file renamed over the target.

Every file the package writes (CSV, JSON, figures, checkpoints) goes through
:func:`atomic_write`: a process killed mid-write, a full disk or an exception in the writer
leaves the previous file intact, never an empty or half-written one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the hidden ``.NAME.*.tmp`` files that killed writes of ``path`` left behind.

    Two processes must not write one file at once (one would overwrite the other's content
    anyway); under that rule every such file is garbage.
    """
    path = Path(path)
    removed = []
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed


def _sync_folder(folder: Path) -> None:
    """``fsync`` a folder, which makes a rename in it durable, where the platform allows it."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write(path: str | Path, write, *, binary: bool = False,
                 durable: bool = False) -> Path:
    """Create or replace ``path`` all at once: ``write(handle)`` fills a hidden temporary file
    in the same folder, which is flushed, ``fsync``-ed and renamed over ``path``
    (:func:`os.replace`, atomic on POSIX and Windows). If ``write`` raises, or the process is
    killed, ``path`` keeps its previous content; the temporary file is removed on an exception
    (a killed process leaves a ``.NAME.*.tmp`` file, which is never mistaken for a result).

    Parameters
    ----------
    path : str or Path
        The target; its folder must exist.
    write : callable
        ``write(handle)`` with ``handle`` a file open for writing, text (UTF-8, ``newline=""``)
        or ``binary``.
    binary : bool
        Open the temporary file in binary mode.
    durable : bool
        Also remove the temporaries earlier killed writes of ``path`` left
        (:func:`remove_stale_temporaries`) and ``fsync`` the folder after the rename, so that
        the rename itself survives a power cut (checkpoints).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write(target, lambda f: f.write("done"))
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    if durable:
        remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _sync_folder(path.parent)
    return path
