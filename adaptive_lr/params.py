"""One flat parameter vector and its named views.

A model owns no weights: it describes the *layout* of one contiguous 1-D float array ``w``
(a tuple of ``(name, shape)`` pairs, in order), and :func:`unflatten` cuts ``w`` into named
views of those shapes. Because the views share memory with ``w``, writing into a view writes
into ``w``; reading them costs nothing.

With one flat vector the optimizer is a handful of NumPy expressions (``w - eta * g``,
``g @ g_prev``) that never need to know what a layer is (``docs/design.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

Layout = tuple[tuple[str, tuple[int, ...]], ...]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def make_layout(pairs: Sequence[tuple[str, Sequence[int]]]) -> Layout:
    """Normalise ``[(name, shape), ...]`` into a hashable layout; names must be unique."""
    layout = tuple((str(name), tuple(int(s) for s in shape)) for name, shape in pairs)
    names = [name for name, _ in layout]
    if len(set(names)) != len(names):
        raise ValueError(f"layout: parameter names must be unique, got {names}")
    for name, shape in layout:
        if any(s <= 0 for s in shape):
            raise ValueError(f"layout: shape of {name!r} must be positive, got {shape}")
    return layout


@lru_cache(maxsize=64)
def layout_size(layout: Layout) -> int:
    """Total number of scalars in a layout (cached: layouts are immutable tuples)."""
    return sum(int(np.prod(shape, dtype=np.int64)) for _, shape in layout)


def check_flat(w: np.ndarray, layout: Layout, name: str = "w") -> np.ndarray:
    """Check that ``w`` is a 1-D float32/float64 array of the layout's size; return it."""
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(w).__name__}")
    if w.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one flat parameter vector), got shape {w.shape}")
    if w.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {w.dtype}")
    n = layout_size(layout)
    if w.shape[0] != n:
        raise ValueError(f"{name} has {w.shape[0]} entries, the model has {n} parameters")
    return w


def unflatten(w: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Named views into ``w``: ``{name: w[a:b].reshape(shape)}``, sharing memory with ``w``.

    >>> layout = make_layout([("weight", (2, 3)), ("bias", (2,))])
    >>> views = unflatten(np.arange(8.0), layout)
    >>> views["weight"]
    array([[0., 1., 2.],
           [3., 4., 5.]])
    >>> views["bias"]
    array([6., 7.])
    """
    check_flat(w, layout)
    views: dict[str, np.ndarray] = {}
    start = 0
    for name, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        views[name] = w[start : start + size].reshape(shape)
        start += size
    return views


def flatten(arrays: Mapping[str, np.ndarray], layout: Layout, dtype=np.float64) -> np.ndarray:
    """Inverse of :func:`unflatten`: copy named arrays into one new flat vector."""
    missing = [name for name, _ in layout if name not in arrays]
    extra = sorted(set(arrays) - {name for name, _ in layout})
    if missing or extra:
        raise ValueError(f"flatten: missing parameters {missing}, unexpected {extra}")
    w = np.empty(layout_size(layout), dtype=dtype)
    views = unflatten(w, layout)
    for name, shape in layout:
        a = np.asarray(arrays[name])
        if a.shape != shape:
            raise ValueError(f"flatten: {name!r} has shape {a.shape}, expected {shape}")
        views[name][...] = a
    return w
