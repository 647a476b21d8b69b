"""Which real data a course notebook needs, and whether the data folder holds it.

A notebook that needs real data says so in its metadata, ``"adaptive_lr": {"needs_data":
["mnist", ...]}``. The tests (``tests/test_tutorials.py``) skip such a notebook, and the docs
build (``docs/conf.py``) shows its committed outputs instead of executing it, when
``ADAPTIVE_LR_DATA`` does not hold that data.
"""

from __future__ import annotations


def needs_data(notebook: dict) -> list[str]:
    """The data sets a notebook (its JSON, as a dict) says it needs."""
    return notebook.get("metadata", {}).get("adaptive_lr", {}).get("needs_data", [])


def missing_data(names) -> str | None:
    """Why the data sets ``names`` cannot be used (the first one missing), or ``None``."""
    from adaptive_lr.datasets import DataNotFoundError, load_mnist, locate_cifar10

    for name in names:
        try:
            load_mnist() if name == "mnist" else locate_cifar10()
        except DataNotFoundError:
            return f"{name} not found (set ADAPTIVE_LR_DATA)"
    return None
