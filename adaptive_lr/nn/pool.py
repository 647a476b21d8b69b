"""2x2 max pooling with stride 2 (PyTorch's ``MaxPool2d(2)``; odd rows/columns are dropped).

``out[..., r, s] = max(x[..., 2r, 2s], x[..., 2r, 2s+1], x[..., 2r+1, 2s], x[..., 2r+1, 2s+1])``.
The gradient goes to the position of the maximum; on a tie, to the first one in row-major order
of the window (like ``np.argmax``), so the naive and vectorized versions agree everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Window offsets (i, j) in row-major order: the tie-break order.
_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


class PoolCache(NamedTuple):
    x: np.ndarray  # (..., H, W), the input
    out: np.ndarray  # (..., H//2, W//2), the output


def _check_pool_input(x) -> tuple[int, int]:
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
    oh, ow = _check_pool_input(x)
    # (..., H, W) -> four (..., OH, OW) strided views, one per window offset
    v = [x[..., i : 2 * oh : 2, j : 2 * ow : 2] for i, j in _OFFSETS]
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
    for i, j in _OFFSETS:
        hit = x[..., i : 2 * oh : 2, j : 2 * ow : 2] == out  # (..., OH, OW)
        hit &= ~taken
        taken |= hit
        dx[..., i : 2 * oh : 2, j : 2 * ow : 2] = dout * hit  # bool factor keeps dout's dtype
    return dx


class PoolReluCache(NamedTuple):
    x: np.ndarray  # (..., H, W, N), the input
    out: np.ndarray  # (..., H//2, W//2, N), the output (its sign is ReLU's cache)


def max_pool_relu_batch_last(x):
    """``relu(max_pool(x))`` of batch-last ``x`` (..., H, W, N): pooling before ReLU (they commute,
    both monotone), so ReLU runs on a 4x smaller array. The 2x2 windows' four views compare
    contiguous runs of ``N`` numbers.

    Returns
    -------
    out : ndarray, shape (..., H//2, W//2, N), C-contiguous.
    cache : PoolReluCache
    """
    oh, ow = _check_pool_input(x[..., 0])  # (..., H, W, N) -> (..., H, W)
    # (..., H, W, N) -> four (..., OH, OW, N) strided views, one per window offset
    v = [x[..., i : 2 * oh : 2, j : 2 * ow : 2, :] for i, j in _OFFSETS]
    out = np.empty(v[0].shape, dtype=x.dtype)  # (..., OH, OW, N), C order
    np.maximum(v[0], v[1], out=out)
    np.maximum(out, v[2], out=out)
    np.maximum(out, v[3], out=out)
    np.maximum(out, 0, out=out)  # the Python 0 is weak: a float32 x stays float32
    return out, PoolReluCache(x, out)


def max_pool_relu_batch_last_backward(dout, cache: PoolReluCache):
    """Backward pass of :func:`max_pool_relu_batch_last`: dout (..., H//2, W//2, N) -> dx
    (..., H, W, N), C-contiguous; ``dout`` is not modified.

    ReLU's gradient ``g = dout * (out > 0)`` goes to the first maximum of each window in the order
    of :data:`_OFFSETS`, like :func:`max_pool_backward`: the part ``rest`` of ``g`` that no earlier
    offset took goes to the offsets equal to ``out``, and is subtracted from ``rest`` there
    (``r - r`` is exactly 0; 3-4x faster than ``np.copyto(rest, 0, where=hit)``). Where the pooled
    maximum is not positive, ``out`` (0) may match no entry or a spurious one, but ``g`` is 0.
    """
    x, out = cache
    oh, ow = out.shape[-3:-1]
    even = x.shape[-3] == 2 * oh and x.shape[-2] == 2 * ow  # every entry of dx is written below
    dx = (np.empty if even else np.zeros)(x.shape, dtype=dout.dtype)
    rest = dout * (out > 0)  # (..., OH, OW, N), a new array; the bool factor keeps dout's dtype
    for k, (i, j) in enumerate(_OFFSETS):
        hit = x[..., i : 2 * oh : 2, j : 2 * ow : 2, :] == out  # (..., OH, OW, N)
        taken = dx[..., i : 2 * oh : 2, j : 2 * ow : 2, :]  # (..., OH, OW, N), a view
        np.multiply(rest, hit, out=taken)
        if k < len(_OFFSETS) - 1:
            rest -= taken
    return dx


def max_pool_forward_naive(x):
    """Loop reference of :func:`max_pool_forward` for x (N, C, H, W)."""
    n, c, h, w = x.shape
    oh, ow = _check_pool_input(x)
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
