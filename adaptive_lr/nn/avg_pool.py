"""Average pooling over the whole feature map (``F.avg_pool2d(x, k)`` when the map is k x k,
as in the ResNet of Sec. 4.2.3, where it is 4x4): ``out[n, c] = mean(x[n, c])``."""

from __future__ import annotations

import numpy as np


def avg_pool_forward(x):
    """(N, C, H, W) -> (N, C): the mean of each feature map. The cache is the input shape."""
    if x.ndim != 4:
        raise ValueError(f"avg pool: x must be (N, C, H, W), got shape {x.shape}")
    return x.mean(axis=(2, 3)), x.shape


def avg_pool_backward(dout, shape):
    """Each of the ``H*W`` inputs of a map receives ``dout / (H*W)``: (N, C) -> (N, C, H, W)."""
    h, w = shape[2], shape[3]
    return np.broadcast_to((dout / (h * w))[:, :, None, None], shape).copy()


def avg_pool_forward_naive(x):
    """Loop reference of :func:`avg_pool_forward`."""
    n, c, h, w = x.shape
    out = np.empty((n, c), dtype=x.dtype)
    for a in range(n):
        for b in range(c):
            out[a, b] = sum(x[a, b, i, j] for i in range(h) for j in range(w)) / (h * w)
    return out
