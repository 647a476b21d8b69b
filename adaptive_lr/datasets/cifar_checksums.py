"""The sha256 of the extracted CIFAR files, recorded from the md5-verified archive.

The CIFAR page publishes only the md5 of each archive, so the sha256 of every ``.bin`` file is
taken from the md5-verified archive itself, member by member (:func:`record_checksums`), and
written to ``SHA256SUMS`` beside the files: when the archive is downloaded and extracted, or,
for files extracted by hand, the first time they are loaded while the archive sits in the data
folder. ``load_cifar10`` and ``load_cifar100`` then verify every file they read against it: a
file of the right size with changed pixels is refused. Files with neither a ``SHA256SUMS`` nor
the archive beside them (such as the 4000/1000 subset, which no published checksum covers) are
checked for their size and labels only.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from pathlib import Path

from .cache import DataError
from .checksums import CHUNK, file_digest, verify_file
from .sources import SOURCES

CHECKSUMS = "SHA256SUMS"


def record_checksums(archive: Path, folder: Path) -> dict[str, str]:
    """Write ``folder/SHA256SUMS``: the sha256 of each regular file of ``archive`` under the
    folder's name (``cifar-10-batches-bin/``), hashed from the archive's own bytes (not from the
    extracted copies). ``archive`` must have been verified (:func:`~.download.fetch`). A folder
    that cannot be written (read-only data) gets no file; the digests are returned either way.
    """
    lines = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 2 and parts[0] == folder.name:
                    h = hashlib.sha256()
                    with tar.extractfile(member) as f:
                        while chunk := f.read(CHUNK):
                            h.update(chunk)
                    lines.append(f"{h.hexdigest()}  {parts[1]}\n")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: corrupt tar archive ({exc})") from exc
    lines.sort(key=lambda line: line.split()[1])
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{CHECKSUMS}.", suffix=".tmp")
    except OSError:  # read-only: verify now, record nothing
        return {line.split()[1]: line.split()[0] for line in lines}
    try:
        with os.fdopen(fd, "w") as out:
            out.writelines(lines)
        os.replace(tmp, folder / CHECKSUMS)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {line.split()[1]: line.split()[0] for line in lines}


def read_checksums(path: Path) -> dict[str, str]:
    """``{file name: sha256}`` from a ``SHA256SUMS`` file (``sha256sum`` format)."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}, line {number}: not a 'sha256  name' line: {line!r}")
        out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def checksums_for(folder: Path, variant: str, archive: str, root: Path) -> dict[str, str] | None:
    """The recorded sha256 of the files in ``folder`` (for the ``"full"`` variant, recorded now
    from the archive ``SOURCES[archive]`` if it is in the data folder ``root`` and passes its
    md5), or ``None`` where nothing records them."""
    sums = folder / CHECKSUMS
    if not sums.is_file() and variant == "full":
        remote = SOURCES[archive]
        path = root / remote.name
        if not path.is_file():
            return None
        verify_file(path, remote.algorithm, remote.digest, max_size=remote.download_size)
        return record_checksums(path, folder)
    return read_checksums(sums) if sums.is_file() else None


def verify_checksums(paths, sums: dict[str, str] | None) -> None:
    """Each of ``paths`` has the sha256 ``sums`` records for its name (nothing to check where
    ``sums`` is ``None``)."""
    if sums is None:
        return
    for path in paths:
        expected = sums.get(path.name)
        if expected is None:
            raise DataError(f"{path.parent / CHECKSUMS} has no checksum for {path.name}")
        actual = file_digest(path, "sha256")
        if actual != expected:
            raise DataError(
                f"checksum mismatch for {path}: expected sha256 {expected} (recorded from the "
                f"md5-verified archive in {path.parent / CHECKSUMS}), got {actual}. The file was "
                "changed or damaged after extraction; delete the folder and extract (or "
                "download) the archive again.")
