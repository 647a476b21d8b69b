"""2-D convolution (cross-correlation, as in PyTorch) with stride and zero padding.

``out[n, f, r, s] = b[f] + sum_{c,i,j} W[f, c, i, j] * xp[n, c, r*stride + i, s*stride + j]``
where ``xp`` is ``x`` padded with ``pad`` zeros on each side. The vectorized layer is one matrix
product with the im2col matrix (:mod:`adaptive_lr.nn.im2col`); the naive loops below are its
definition. LeNet runs the same convolution by kernel rows on batch-last images
(:mod:`adaptive_lr.fast.conv_rows`), tested against these loops.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .im2col import col2im, conv_output_size, im2col


class ConvCache(NamedTuple):
    """What :func:`conv_backward` needs from :func:`conv_forward`."""

    cols: np.ndarray  # (C*KH*KW, N*OH*OW), the im2col of x
    x_shape: tuple  # (N, C, H, W)
    W: np.ndarray  # (F, C, KH, KW)
    stride: int
    pad: int


def check_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """All arrays share one float dtype (float32 or float64); no silent upcasts."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) != 1:
        raise ValueError(f"dtypes must match (no silent upcast), got {dtypes}")
    dtype = next(iter(dtypes.values()))
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"expected float32 or float64 arrays, got {dtype}")
    return dtype


def check_conv_shapes(x, W, b) -> None:
    """Clear errors for mismatched convolution operands: ``x`` (..., N, C, H, W), ``W``
    (..., F, C, KH, KW), ``b`` (..., F) of one float dtype. Leading axes, if any, stack independent
    convolutions (the fused probes' :func:`~adaptive_lr.fast.conv_rows.conv_rows_batch_last`)."""
    if x.ndim < 4 or W.ndim != x.ndim or b.ndim != x.ndim - 3:
        raise ValueError(
            f"conv: need x (..., N, C, H, W), W (..., F, C, KH, KW), b (..., F); got x {x.shape},"
            f" W {W.shape}, b {b.shape}"
        )
    if x.shape[-3] != W.shape[-3]:
        raise ValueError(f"conv: x has {x.shape[-3]} channels, W expects {W.shape[-3]}")
    if b.shape[-1] != W.shape[-4]:
        raise ValueError(f"conv: b has {b.shape[-1]} entries, W has {W.shape[-4]} filters")
    check_same_dtype(x=x, W=W, b=b)


def _check_single_conv(x, W, b) -> None:
    if x.ndim != 4:
        raise ValueError(f"conv: x must be (N, C, H, W), got shape {x.shape}")
    check_conv_shapes(x, W, b)


def conv_forward(x, W, b, stride: int = 1, pad: int = 0):
    """Vectorized convolution forward pass: ``W.reshape(F, C*KH*KW) @ im2col(x) + b``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    W : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW) with ``OH = (H + 2*pad - KH) // stride + 1``; a view of a
        C-contiguous (F, N, OH, OW) array.
    cache : ConvCache
    """
    _check_single_conv(x, W, b)
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)  # (N, C, H, W) -> (C*KH*KW, N*OH*OW)
    out = W.reshape(f, -1) @ cols  # (F, C*KH*KW) @ (C*KH*KW, N*OH*OW) -> (F, N*OH*OW)
    out += b[:, None]  # (F,) -> (F, 1)
    out = out.reshape(f, n, oh, ow)  # (F, N*OH*OW) -> (F, N, OH, OW)
    return out.transpose(1, 0, 2, 3), ConvCache(cols, x.shape, W, stride, pad)  # -> (N,F,OH,OW)


def conv_backward(dout, cache: ConvCache, compute_dx: bool = True):
    """Vectorized convolution backward pass.

    With ``D = dout`` as an (F, N*OH*OW) matrix: ``dW = D @ cols.T``, ``db = D.sum(axis=1)`` and
    ``dx = col2im(W_mat.T @ D)``.

    Parameters
    ----------
    dout : ndarray, shape (N, F, OH, OW), upstream gradient (not modified).
    cache : ConvCache from :func:`conv_forward`.
    compute_dx : bool
        False skips ``dx`` (the first layer of a network needs no gradient for its input).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None when ``compute_dx`` is False.
    dW : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    cols, x_shape, W, stride, pad = cache
    f, _, kh, kw = W.shape
    d_mat = dout.transpose(1, 0, 2, 3).reshape(f, -1)  # (N,F,OH,OW) -> (F, N*OH*OW)
    dW = (d_mat @ cols.T).reshape(W.shape)  # (F, N*OH*OW) @ (N*OH*OW, K) -> (F, C, KH, KW)
    db = d_mat.sum(axis=1)  # (F, N*OH*OW) -> (F,)
    dx = None
    if compute_dx:
        dcols = W.reshape(f, -1).T @ d_mat  # (K, F) @ (F, N*OH*OW) -> (K, N*OH*OW)
        dx = col2im(dcols, x_shape, kh, kw, stride, pad)
    return dx, dW, db


def conv_forward_naive(x, W, b, stride: int = 1, pad: int = 0):
    """Loop reference of :func:`conv_forward` for one batch: x (N,C,H,W) -> out (N,F,OH,OW)."""
    _check_single_conv(x, W, b)
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((n, f, oh, ow), dtype=x.dtype)
    for i in range(n):
        for k in range(f):
            for r in range(oh):
                for s in range(ow):
                    patch = xp[i, :, r * stride : r * stride + kh, s * stride : s * stride + kw]
                    out[i, k, r, s] = np.sum(patch * W[k]) + b[k]
    return out, (x, W, b, stride, pad)


def conv_backward_naive(dout, cache):
    """Loop reference of :func:`conv_backward`: returns ``(dx, dW, db)``."""
    x, W, b, stride, pad = cache
    n, _, h, w = x.shape
    f, _, kh, kw = W.shape
    _, _, oh, ow = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    for i in range(n):
        for k in range(f):
            db[k] += dout[i, k].sum()
            for r in range(oh):
                for s in range(ow):
                    rs, cs = r * stride, s * stride
                    dW[k] += dout[i, k, r, s] * xp[i, :, rs : rs + kh, cs : cs + kw]
                    dxp[i, :, rs : rs + kh, cs : cs + kw] += dout[i, k, r, s] * W[k]
    return dxp[:, :, pad : pad + h, pad : pad + w], dW, db
