"""Verified downloads into the cache and safe extraction of tar archives.

Rules: a download goes to a temporary file in the destination folder, stops as soon as it passes
the file's known size, is verified, and only then moved into place with :func:`os.replace`; on
any failure the temporary file is deleted, so a corrupt or partial file never lands in the
cache. A tar archive is checked member by member (no absolute paths, no ``..``, no links at all,
only regular files and folders), then extracted into a temporary folder (with ``filter="data"``
where Python offers it, as a second guard) and moved into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from .cache import DataError, data_dir, missing_files_error
from .checksums import CHUNK, verify_file
from .sources import SOURCES, Remote

TIMEOUT = 60.0
_DRIVE = re.compile(r"^[A-Za-z]:")  # a Windows drive, e.g. "C:"


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def copy_at_most(source, out, max_size: int | None, url: str) -> int:
    """Copy ``source`` to ``out`` in chunks; a :class:`DataError` as soon as more than
    ``max_size`` bytes arrive (the file's known size: nothing larger is the expected file)."""
    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise DataError(f"{url}: the download passed the expected {max_size} bytes and was "
                            "stopped: it is not the expected file (a changed or wrong URL?)")
        out.write(chunk)
    return total


def fetch(remote: Remote, root: str | os.PathLike | None = None) -> Path:
    """Download one file of the source table into the data folder, verified.

    Parameters
    ----------
    remote : Remote
        An entry of :data:`adaptive_lr.datasets.sources.SOURCES` (or one built alike, e.g. with
        a ``file://`` URL).
    root : str or PathLike, optional
        The data folder; default :func:`data_dir`.

    Returns
    -------
    Path
        ``root / remote.name``, now present and verified. An existing file is verified, not
        downloaded again.

    Raises
    ------
    DataNotFoundError
        If the download fails (e.g. offline), naming the file, its URL and where to put it.
    DataError
        If the downloaded bytes pass the known size or fail the checksum (the partial file is
        deleted; the message names the URL).
    """
    dest = data_dir(root) / remote.name
    if dest.exists():
        verify_file(dest, remote.algorithm, remote.digest, payload=remote.payload,
                    max_size=remote.size if remote.payload else remote.download_size)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.*.part"):  # left by a killed download
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(remote.url, timeout=TIMEOUT) as response:
                    copy_at_most(response, out, remote.download_size, remote.url)
            except (urllib.error.URLError, OSError) as exc:
                raise missing_files_error(
                    dest.parent.name, [dest], [remote.url],
                    hint=f"Downloading failed: {exc}.",
                ) from exc
        verify_file(  # named by its URL: the temporary file is deleted on failure
            tmp, remote.algorithm, remote.digest, payload=remote.payload,
            name=f"{remote.name} downloaded from {remote.url}",
            max_size=remote.size if remote.payload else None,
        )
        os.replace(tmp, dest)
    finally:
        _unlink(tmp)
    return dest


def fetch_by_name(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download the entry ``name`` of the source table (see :func:`fetch`)."""
    return fetch(SOURCES[name], root)


def check_member(member: tarfile.TarInfo) -> None:
    """Reject a tar member that could write outside the target folder, or that is not a plain
    file or folder.

    Links are refused, every one of them: the CIFAR archives this module extracts hold none,
    and a link's target can only be judged against the links extracted before it (a chain
    ``a -> .``, ``a/b -> ..``, ``a/b/c -> ..`` makes ``a/b/c/evil`` land two folders above the
    target although each link looks harmless on its own), which Python's ``data`` filter does
    and Python 3.10.0-3.10.11 and 3.11.0-3.11.3 lack. Refusing them needs no such judgement.

    Raises
    ------
    DataError
        For an absolute path, a ``..`` component, a symbolic or hard link, or a member that is
        not a regular file or folder (devices, FIFOs).
    """
    name = member.name
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise DataError(f"unsafe tar member {name!r}: absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise DataError(f"unsafe tar member {name!r}: '..' component")
    if member.issym() or member.islnk():
        raise DataError(f"unsafe tar member {name!r}: a link (to {member.linkname!r}); the "
                        "archives read here hold none, and links are never extracted")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"unsafe tar member {name!r}: not a regular file or folder")


def safe_extract_tar(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Extract a tar archive into ``target`` safely.

    Every member is checked with :func:`check_member` before anything is written. The archive is
    extracted into a temporary folder next to ``target`` (with ``filter="data"`` when the
    running Python has it) and each top-level entry is then moved into ``target``, replacing an
    existing entry of the same name.

    Parameters
    ----------
    archive : str or PathLike
        A tar file, compressed or not.
    target : str or PathLike
        The folder to extract into (created if needed).

    Returns
    -------
    list of Path
        The top-level entries now in ``target``.

    Raises
    ------
    DataError
        If a member is unsafe or the archive is corrupt; ``target`` is then left untouched.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    check_member(member)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, members=members, filter="data")
                else:  # a Python without extraction filters: check_member is the guard
                    tar.extractall(tmp, members=members)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{archive}: corrupt or unsafe tar archive ({exc})") from exc
        moved = []
        for entry in sorted(tmp.iterdir()):
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(entry, dest)
            moved.append(dest)
        return moved
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
