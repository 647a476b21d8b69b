"""Where data files live, and the errors the loaders raise.

The data folder is ``$ADAPTIVE_LR_DATA`` when that variable is set and not empty, otherwise
``$XDG_CACHE_HOME/adaptive-lr`` (default ``~/.cache/adaptive-lr``). Inside it, each data set has
its own subfolder: ``mnist/``, ``cifar10/``, ``cifar100/``, ``boston/``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ADAPTIVE_LR_DATA"


class DataError(ValueError):
    """A data file is corrupt, truncated, of the wrong kind or fails its checksum."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file is absent and could not (or was not asked to) be downloaded."""


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Resolve the data folder.

    Parameters
    ----------
    path : str or PathLike, optional
        An explicit folder; it wins over everything else.

    Returns
    -------
    Path
        ``path`` if given, else ``$ADAPTIVE_LR_DATA`` if set and not empty, else
        ``$XDG_CACHE_HOME/adaptive-lr`` or ``~/.cache/adaptive-lr``. The folder is not created
        here; downloads create it.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home).expanduser() if cache_home else Path.home() / ".cache"
    return base / "adaptive-lr"


def missing_files_error(
    dataset: str, missing: list[Path], urls: list[str], hint: str = ""
) -> DataNotFoundError:
    """Build the one error raised when files are absent.

    Parameters
    ----------
    dataset : str
        Name of the data set, e.g. ``"MNIST"``.
    missing : list of Path
        Where each absent file was expected.
    urls : list of str
        Where to get each file (same order as ``missing``), or ``""`` if it cannot be downloaded.
    hint : str, optional
        An extra sentence, e.g. how to download.

    Returns
    -------
    DataNotFoundError
        With a message naming every missing file, where to get it and where to put it.
    """
    lines = [f"{dataset}: {len(missing)} file(s) not found:"]
    for path, url in zip(missing, urls, strict=True):
        source = f" from {url}" if url else ""
        lines.append(f"  - {path.name}: get it{source} and put it at {path}")
    lines.append(
        f"The data folder is {path_of_env()}; set {ENV_VAR} to use another folder."
        + (f" {hint}" if hint else "")
    )
    return DataNotFoundError("\n".join(lines))


def path_of_env() -> str:
    """Describe the data folder currently in effect (for error messages)."""
    env = os.environ.get(ENV_VAR, "")
    if env:
        return f"{Path(env).expanduser()} (from {ENV_VAR})"
    return f"{data_dir()} (the default)"
