"""2-D convolution (cross-correlation, as in PyTorch) with stride and zero padding.

``out[n, f, r, s] = b[f] + sum_{c,i,j} W[f, c, i, j] * xp[n, c, r*stride + i, s*stride + j]``
where ``xp`` is ``x`` padded with ``pad`` zeros on each side. The vectorized kernel is one GEMM on
the im2col matrix (:mod:`adaptive_lr.nn.im2col`); the naive loops below are its definition.
For batch-last images (stride 1, no padding), :mod:`adaptive_lr.nn.conv_rows` computes it by kernel
rows on the width-unfolded input instead, ``KH`` times smaller than the im2col (LeNet's layers).
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


#: Columns per block in the long, skinny products of conv1 (K = C*KH*KW and F are small, N*OH*OW
#: is large). OpenBLAS runs one such product at a fraction of its speed; in blocks that stay in
#: cache it is 2-4x faster on this project's machines. Same sums, other rounding.
COL_BLOCK = 2048


def wide_matmul(a, b):
    """``a @ b`` for a (M, K) and b (K, L) with large L, computed in column blocks of ``b``."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for s in range(0, b.shape[1], COL_BLOCK):
        np.matmul(a, b[:, s : s + COL_BLOCK], out=out[:, s : s + COL_BLOCK])
    return out


def _long_matmul_t(a, b):
    """``a @ b.T`` for a (M, L) and b (K, L) with large L, summed over blocks of ``L``."""
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.result_type(a, b))
    for s in range(0, a.shape[1], COL_BLOCK):
        out += a[:, s : s + COL_BLOCK] @ b[:, s : s + COL_BLOCK].T  # (M, l) @ (l, K) -> (M, K)
    return out


def _weight_grads(d_mat, cols, w_shape):
    """``dW`` and ``db`` of a convolution from its upstream gradient as a matrix ``d_mat``
    (F, L) and its im2col ``cols`` (K, L), whatever order the L output positions are in."""
    dW = _long_matmul_t(d_mat, cols).reshape(w_shape)  # (F, L) @ (L, K) -> (F, C, KH, KW)
    return dW, d_mat.sum(axis=1)  # (F, L) -> (F,)


def check_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """All arrays share one float dtype (float32 or float64); no silent upcasts."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) != 1:
        raise ValueError(f"dtypes must match (no silent upcast), got {dtypes}")
    dtype = next(iter(dtypes.values()))
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"expected float32 or float64 arrays, got {dtype}")
    return dtype


def _check_conv_shapes(x, W, b) -> None:
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


def conv_from_cols(cols, W, b, n: int, oh: int, ow: int) -> np.ndarray:
    """The convolution from an im2col matrix: ``W_mat @ cols + b``, as an (N, F, OH, OW) view.

    Parameters
    ----------
    cols : ndarray, shape (..., C*KH*KW, N*OH*OW)
    W : ndarray, shape (..., F, C, KH, KW)
    b : ndarray, shape (..., F)

    Returns
    -------
    out : ndarray, shape (..., N, F, OH, OW); in memory it is (..., F, N, OH, OW), C-contiguous.
    """
    f = W.shape[-4]
    w_mat = W.reshape(*W.shape[:-3], -1)  # (..., F, C, KH, KW) -> (..., F, C*KH*KW)
    if w_mat.ndim == 2 and cols.ndim == 2:
        out = wide_matmul(w_mat, cols)  # (F, K) @ (K, N*OH*OW) -> (F, N*OH*OW)
    else:
        out = w_mat @ cols  # (..., F, K) @ (..., K, N*OH*OW) -> (..., F, N*OH*OW)
    out += b[..., None]  # (..., F) -> (..., F, 1)
    out = out.reshape(*out.shape[:-2], f, n, oh, ow)  # (..., F, N*OH*OW) -> (..., F, N, OH, OW)
    return out.swapaxes(-4, -3)  # (..., F, N, OH, OW) -> (..., N, F, OH, OW), a view


def conv_forward(x, W, b, stride: int = 1, pad: int = 0):
    """Vectorized convolution forward pass.

    Parameters
    ----------
    x : ndarray, shape (..., N, C, H, W)
        Leading axes (if any) stack independent convolutions, one per set of weights: the fused
        probes run ``P`` parameter points at once this way.
    W : ndarray, shape (..., F, C, KH, KW)
    b : ndarray, shape (..., F)
    stride, pad : int

    Returns
    -------
    out : ndarray, shape (..., N, F, OH, OW) with ``OH = (H + 2*pad - KH) // stride + 1``.
    cache : ConvCache
    """
    _check_conv_shapes(x, W, b)
    n, _, h, w = x.shape[-4:]
    kh, kw = W.shape[-2:]
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    cols = im2col(x, kh, kw, stride, pad)  # (..., N, C, H, W) -> (..., C*KH*KW, N*OH*OW)
    out = conv_from_cols(cols, W, b, n, oh, ow)
    return out, ConvCache(cols, x.shape, W, stride, pad)


def conv_backward(dout, cache: ConvCache, compute_dx: bool = True):
    """Vectorized convolution backward pass (single batch, no leading axes).

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
    dW, db = _weight_grads(d_mat, cols, W.shape)
    dx = None
    if compute_dx:
        w_mat = W.reshape(f, -1)  # (F, C, KH, KW) -> (F, K)
        dcols = w_mat.T @ d_mat  # (K, F) @ (F, N*OH*OW) -> (K, N*OH*OW)
        dx = col2im(dcols, x_shape, kh, kw, stride, pad)
    return dx, dW, db


def conv_forward_naive(x, W, b, stride: int = 1, pad: int = 0):
    """Loop reference of :func:`conv_forward` for one batch: x (N,C,H,W) -> out (N,F,OH,OW)."""
    _check_conv_shapes(x, W, b)
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
