"""Max pooling with any window, stride and padding (PyTorch's ``MaxPool2d(k, stride, padding)``;
the ResNet stem uses 3x3, stride 2, padding 1: 32 -> 16).

``out[..., r, s] = max_{i,j < k} xp[..., r*stride + i, s*stride + j]`` where ``xp`` is ``x``
padded with ``-inf`` (padding never wins). Windows overlap when ``stride < k``: an input then
receives the gradient of every window whose maximum it is. On a tie inside a window the gradient
goes to the first maximum in row-major order (``np.argmax``), in both versions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .im2col import conv_output_size


class WindowPoolCache(NamedTuple):
    x_shape: tuple  # (..., H, W)
    xp: np.ndarray  # (..., H + 2 pad, W + 2 pad), x padded with -inf
    out: np.ndarray  # (..., OH, OW)
    k: int
    stride: int
    pad: int


def _padded(x, pad):
    if pad == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
    return np.pad(x, width, constant_values=-np.inf)


def max_pool_window_forward(x, k: int = 3, stride: int = 2, pad: int = 1):
    """Vectorized: the maximum of ``k*k`` strided views of the padded input.

    Parameters
    ----------
    x : ndarray, shape (..., H, W)
    k, stride, pad : int, with ``pad <= k // 2`` (PyTorch's rule).

    Returns
    -------
    out : ndarray, shape (..., OH, OW), ``OH = (H + 2 pad - k) // stride + 1``.
    cache : WindowPoolCache
    """
    if x.ndim < 2:
        raise ValueError(f"max pool: x must be (..., H, W), got shape {x.shape}")
    if pad > k // 2:
        raise ValueError(f"max pool: pad must be at most k // 2, got pad {pad} for k {k}")
    oh = conv_output_size(x.shape[-2], k, stride, pad)
    ow = conv_output_size(x.shape[-1], k, stride, pad)
    xp = _padded(x, pad)
    out = None
    for i in range(k):
        for j in range(k):
            v = xp[..., i : i + stride * oh : stride, j : j + stride * ow : stride]
            out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out, WindowPoolCache(x.shape, xp, out, k, stride, pad)


def max_pool_window_backward(dout, cache: WindowPoolCache):
    """Vectorized backward pass: per window offset, in row-major order, the entries equal to the
    window's maximum that no earlier offset has claimed receive ``dout``. Returns ``dx`` (..., H,
    W)."""
    x_shape, xp, out, k, stride, pad = cache
    oh, ow = out.shape[-2:]
    dxp = np.zeros(xp.shape, dtype=dout.dtype)
    taken = np.zeros(out.shape, dtype=bool)
    for i in range(k):
        for j in range(k):
            idx = (..., slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride))
            hit = xp[idx] == out
            hit &= ~taken
            taken |= hit
            dxp[idx] += dout * hit
    h, w = x_shape[-2:]
    return dxp[..., pad : pad + h, pad : pad + w].copy()


def max_pool_window_forward_naive(x, k: int = 3, stride: int = 2, pad: int = 1):
    """Loop reference for x (N, C, H, W)."""
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    xp = _padded(x, pad)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for a in range(n):
        for b in range(c):
            for r in range(oh):
                for s in range(ow):
                    out[a, b, r, s] = xp[a, b, r * stride : r * stride + k,
                                         s * stride : s * stride + k].max()
    return out


def max_pool_window_backward_naive(dout, x, k: int = 3, stride: int = 2, pad: int = 1):
    """Loop reference of the backward pass: each window's gradient goes to its ``np.argmax``."""
    n, c, oh, ow = dout.shape
    xp = _padded(x, pad)
    dxp = np.zeros(xp.shape, dtype=dout.dtype)
    for a in range(n):
        for b in range(c):
            for r in range(oh):
                for s in range(ow):
                    window = xp[a, b, r * stride : r * stride + k, s * stride : s * stride + k]
                    i, j = divmod(int(np.argmax(window)), k)
                    dxp[a, b, r * stride + i, s * stride + j] += dout[a, b, r, s]
    h, w = x.shape[-2:]
    return dxp[..., pad : pad + h, pad : pad + w]
