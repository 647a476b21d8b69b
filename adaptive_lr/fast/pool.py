"""2x2 max pooling fused with ReLU on batch-last activations (..., H, W, N): LeNet's pooling.

The textbook version is :func:`adaptive_lr.nn.pool.max_pool_forward` on (N, C, H, W); this one
computes ``relu(max_pool(x))`` with the same tie-break (the first maximum in row-major order of
the window) and is tested against it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.pool import WINDOW_OFFSETS, pooled_size


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
    oh, ow = pooled_size(x[..., 0])  # (..., H, W, N) -> (..., H, W)
    # (..., H, W, N) -> four (..., OH, OW, N) strided views, one per window offset
    v = [x[..., i : 2 * oh : 2, j : 2 * ow : 2, :] for i, j in WINDOW_OFFSETS]
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
    of :data:`~adaptive_lr.nn.pool.WINDOW_OFFSETS`, like
    :func:`~adaptive_lr.nn.pool.max_pool_backward`: the part ``rest`` of ``g`` that no earlier
    offset took goes to the offsets equal to ``out``, and is subtracted from ``rest`` there
    (``r - r`` is exactly 0, so later offsets of the window receive nothing). Where the pooled
    maximum is not positive, ``out`` (0) may match no entry or a spurious one, but ``g`` is 0.
    """
    x, out = cache
    oh, ow = out.shape[-3:-1]
    even = x.shape[-3] == 2 * oh and x.shape[-2] == 2 * ow  # every entry of dx is written below
    dx = (np.empty if even else np.zeros)(x.shape, dtype=dout.dtype)
    rest = dout * (out > 0)  # (..., OH, OW, N), a new array; the bool factor keeps dout's dtype
    for k, (i, j) in enumerate(WINDOW_OFFSETS):
        hit = x[..., i : 2 * oh : 2, j : 2 * ow : 2, :] == out  # (..., OH, OW, N)
        taken = dx[..., i : 2 * oh : 2, j : 2 * ow : 2, :]  # (..., OH, OW, N), a view
        np.multiply(rest, hit, out=taken)
        if k < len(WINDOW_OFFSETS) - 1:
            rest -= taken
    return dx
