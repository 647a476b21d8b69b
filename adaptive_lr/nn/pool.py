"""2x2 max pooling with stride 2 (PyTorch's ``MaxPool2d(2)``; odd rows/columns are dropped).

``out[..., r, s] = max(x[..., 2r, 2s], x[..., 2r, 2s+1], x[..., 2r+1, 2s], x[..., 2r+1, 2s+1])``.
The gradient goes to the position of the maximum; on a tie, to the first one in row-major order
of the window (like ``np.argmax``), so the naive and vectorized versions agree everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Window offsets (i, j) in row-major order: the tie-break order.
WINDOW_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


class PoolCache(NamedTuple):
    """What :func:`max_pool_backward` needs from :func:`max_pool_forward`."""

    x: np.ndarray  # (..., H, W), the input
    out: np.ndarray  # (..., H//2, W//2), the output


def pooled_size(x) -> tuple[int, int]:
    """``(H//2, W//2)`` for ``x`` (..., H, W), with a clear error for inputs smaller than 2x2."""
    if x.ndim < 2:
        raise ValueError(f"max pool: x must have at least 2 axes (..., H, W), got {x.shape}")
    oh, ow = x.shape[-2] // 2, x.shape[-1] // 2
    if oh == 0 or ow == 0:
        raise ValueError(f"max pool: input {x.shape[-2]}x{x.shape[-1]} is smaller than 2x2")
    return oh, ow


def max_pool_forward(x):
    """Vectorized 2x2/2 max pooling: the maximum of four strided views.

    Parameters
    ----------
    x : ndarray, shape (..., H, W), e.g. (N, C, H, W)

    Returns
    -------
    out : ndarray, shape (..., H//2, W//2)
    cache : PoolCache
    """
    oh, ow = pooled_size(x)
    # (..., H, W) -> four (..., OH, OW) strided views, one per window offset
    v = [x[..., i : 2 * oh : 2, j : 2 * ow : 2] for i, j in WINDOW_OFFSETS]
    out = np.maximum(np.maximum(v[0], v[1]), np.maximum(v[2], v[3]))
    return out, PoolCache(x, out)


def max_pool_backward(dout, cache: PoolCache):
    """Vectorized backward pass of :func:`max_pool_forward`.

    Parameters
    ----------
    dout : ndarray, shape (..., H//2, W//2), upstream gradient (not modified).

    Returns
    -------
    dx : ndarray, shape (..., H, W); zero except at the (first) maximum of each window.
    """
    x, out = cache
    oh, ow = out.shape[-2:]
    dx = np.zeros_like(x, dtype=dout.dtype)  # same memory layout as x (order="K")
    taken = np.zeros(out.shape, dtype=bool)  # a window's maximum already received its gradient
    for i, j in WINDOW_OFFSETS:
        hit = x[..., i : 2 * oh : 2, j : 2 * ow : 2] == out  # (..., OH, OW)
        hit &= ~taken
        taken |= hit
        dx[..., i : 2 * oh : 2, j : 2 * ow : 2] = dout * hit  # bool factor keeps dout's dtype
    return dx


def max_pool_forward_naive(x):
    """Loop reference of :func:`max_pool_forward` for x (N, C, H, W)."""
    n, c, h, w = x.shape
    oh, ow = pooled_size(x)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for a in range(n):
        for b in range(c):
            for r in range(oh):
                for s in range(ow):
                    out[a, b, r, s] = x[a, b, 2 * r : 2 * r + 2, 2 * s : 2 * s + 2].max()
    return out, x


def max_pool_backward_naive(dout, x):
    """Loop reference of :func:`max_pool_backward`: the gradient goes to ``np.argmax``."""
    n, c, oh, ow = dout.shape
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for a in range(n):
        for b in range(c):
            for r in range(oh):
                for s in range(ow):
                    window = x[a, b, 2 * r : 2 * r + 2, 2 * s : 2 * s + 2]
                    i, j = divmod(int(np.argmax(window)), 2)  # (2, 2) -> flat index -> (i, j)
                    dx[a, b, 2 * r + i, 2 * s + j] = dout[a, b, r, s]
    return dx
