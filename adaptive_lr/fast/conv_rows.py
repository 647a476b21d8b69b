"""2-D convolution of batch-last images by kernel rows (stride 1, no padding): LeNet's
convolutions, the fast version of :func:`adaptive_lr.nn.conv.conv_forward`.

In the batch-last layout ``x (C, H, W, N)``, moving the kernel down one image row moves its window
by ``OW*N`` columns of the width-unfolded input ``U[(c, j), (h, s, n)] = x[c, h, s + j, n]``
(:func:`~adaptive_lr.fast.unfold.unfold_width`), so the convolution of :mod:`adaptive_lr.nn.conv`
is ``out[:, (r, s, n)] = b + sum_i W[:, :, i, :] @ U[:, i*OW*N : (i + OH)*OW*N]``: ``KH`` products
on column slices of ``U``, which holds ``KH*OH/H`` times fewer numbers than the im2col matrix. The
tests check every kernel here against :func:`~adaptive_lr.nn.conv.conv_forward_naive` and its
backward.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.conv import check_conv_shapes
from ..nn.im2col import conv_output_size
from .unfold import fold_width, unfold_width


class ConvRowsCache(NamedTuple):
    """What :func:`conv_rows_backward_batch_last` needs from the forward pass."""

    u: np.ndarray  # (C*KW, H*OW*N), the width-unfolded input (unfold_width of x)
    x_shape: tuple  # (C, H, W, N)
    W: np.ndarray  # (F, C, KH, KW)


#: Columns per block of the products by kernel rows on one (2-D) unfolded input: the ``KH`` slices
#: of ``U`` that one block of the output reads overlap, so a block's share of ``U`` is read from
#: cache ``KH`` times instead of from memory. The block size changes only the rounding;
#: ``python benchmarks/bench_lenet.py`` times LeNet's steps for another value.
ROW_BLOCK = 8192


def kernel_rows(W) -> np.ndarray:
    """Weights by kernel row: (..., F, C, KH, KW) -> (..., KH, F, C*KW), C-contiguous (a copy)."""
    *lead, f, c, kh, kw = W.shape
    # (..., F, C, KH, KW) -> (..., KH, F, C, KW) -> (..., KH, F, C*KW)
    return np.ascontiguousarray(np.moveaxis(W, -2, -4)).reshape(*lead, kh, f, c * kw)


def rows_matmul(w_rows, u, step: int, size: int) -> np.ndarray:
    """``sum_i w_rows[..., i, :, :] @ u[..., :, i*step : i*step + size]``, the convolution by
    kernel rows before its bias.

    Parameters
    ----------
    w_rows : ndarray, shape (..., KH, F, K) from :func:`kernel_rows` (``K = C*KW``).
    u : ndarray, shape (..., K, L) from :func:`~adaptive_lr.fast.unfold.unfold_width`, with
        ``L >= (KH - 1)*step + size``.

    Returns
    -------
    out : ndarray, shape (..., F, size), C-contiguous. 2-D operands are multiplied in blocks of
    :data:`ROW_BLOCK` output columns (same sums, other rounding), stacked ones as stacked
    products.
    """
    kh = w_rows.shape[-3]
    if w_rows.ndim > 3 or u.ndim > 2:
        out = w_rows[..., 0, :, :] @ u[..., :size]  # (..., F, K) @ (..., K, size)
        for i in range(1, kh):
            out += w_rows[..., i, :, :] @ u[..., i * step : i * step + size]
        return out
    out = np.empty((w_rows.shape[1], size), dtype=np.result_type(w_rows, u))  # (F, size)
    for a in range(0, size, ROW_BLOCK):
        e = min(a + ROW_BLOCK, size)
        block = out[:, a:e]  # (F, B), a view
        np.matmul(w_rows[0], u[:, a:e], out=block)  # (F, K) @ (K, B) -> (F, B)
        for i in range(1, kh):
            block += w_rows[i] @ u[:, i * step + a : i * step + e]
    return out


def rows_weight_grad(d_mat, u, kh: int, step: int) -> np.ndarray:
    """``dW`` by kernel rows: ``[d_mat @ u[:, i*step : i*step + L].T for i < KH]``.

    Parameters
    ----------
    d_mat : ndarray, shape (F, L), the upstream gradient as a matrix (``L = OH*OW*N``).
    u : ndarray, shape (K, L'), the unfolded input, ``L' >= (KH - 1)*step + L``.

    Returns
    -------
    dw_rows : ndarray, shape (KH, F, K), summed over blocks of :data:`ROW_BLOCK` columns.
    """
    size = d_mat.shape[1]
    out = np.zeros((kh, d_mat.shape[0], u.shape[0]), dtype=np.result_type(d_mat, u))
    for a in range(0, size, ROW_BLOCK):
        e = min(a + ROW_BLOCK, size)
        d_block = d_mat[:, a:e]  # (F, B)
        for i in range(kh):
            out[i] += d_block @ u[:, i * step + a : i * step + e].T  # (F, B) @ (B, K) -> (F, K)
    return out


def conv_rows_forward_batch_last(x, W, b):
    """Convolution of batch-last images by kernel rows (stride 1, no padding), for training.

    The convolution of :func:`~adaptive_lr.nn.conv.conv_forward`, as ``KH`` products on the
    width-unfolded input ``U`` (:func:`~adaptive_lr.fast.unfold.unfold_width`, module
    docstring); ``U`` is the cache.

    Parameters
    ----------
    x : ndarray, shape (C, H, W, N)
    W : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)

    Returns
    -------
    out : ndarray, shape (F, OH, OW, N), C-contiguous.
    cache : ConvRowsCache
    """
    check_conv_shapes(x.transpose(3, 0, 1, 2), W, b)  # (C, H, W, N) -> (N, C, H, W), a view
    _, h, w, n = x.shape
    f, _, kh, kw = W.shape
    oh, ow = conv_output_size(h, kh), conv_output_size(w, kw)
    u = unfold_width(x, kw)  # (C, H, W, N) -> (C*KW, H*OW*N)
    out = rows_matmul(kernel_rows(W), u, ow * n, oh * ow * n)  # (F, OH*OW*N)
    out += b[:, None]  # (F,) -> (F, 1)
    return out.reshape(f, oh, ow, n), ConvRowsCache(u, x.shape, W)  # -> (F, OH, OW, N)


def conv_rows_backward_batch_last(dout, cache: ConvRowsCache, compute_dx: bool = True):
    """Backward pass of :func:`conv_rows_forward_batch_last`, by kernel rows.

    ``dW[:, :, i, :] = dout_mat @ U[:, i*OW*N : (i + OH)*OW*N].T``; for ``dx``, the gradient of
    ``U`` gets ``W[:, :, i, :].T @ dout_mat`` added onto the same column slices and is folded
    back onto the pixels (:func:`~adaptive_lr.fast.unfold.fold_width`).

    Parameters
    ----------
    dout : ndarray, shape (F, OH, OW, N), upstream gradient (not modified).
    cache : ConvRowsCache
    compute_dx : bool
        False skips ``dx`` (the first layer of a network needs no gradient for its input).

    Returns
    -------
    dx : ndarray, shape (C, H, W, N), or None when ``compute_dx`` is False.
    dW : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    u, x_shape, W = cache
    f, c, kh, kw = W.shape
    _, oh, ow, n = dout.shape
    step, size = ow * n, oh * ow * n
    d_mat = dout.reshape(f, size)  # (F, OH, OW, N) -> (F, OH*OW*N)
    dw_rows = rows_weight_grad(d_mat, u, kh, step)  # (KH, F, C*KW)
    # (KH, F, C*KW) -> (KH, F, C, KW) -> (F, C, KH, KW)
    dW = np.ascontiguousarray(dw_rows.reshape(kh, f, c, kw).transpose(1, 2, 0, 3))
    db = d_mat.sum(axis=1)  # (F, OH*OW*N) -> (F,)
    dx = None
    if compute_dx:
        w_rows_t = kernel_rows(W).transpose(0, 2, 1)  # (KH, F, C*KW) -> (KH, C*KW, F)
        du = np.zeros_like(u)  # (C*KW, H*OW*N)
        for i in range(kh):
            du[:, i * step : i * step + size] += w_rows_t[i] @ d_mat  # (C*KW, F) @ (F, L)
        dx = fold_width(du, x_shape, kw)
    return dx, dW, db


def conv_rows_batch_last(x, W, b):
    """Forward-only convolution of batch-last images by kernel rows (stride 1, no padding), with
    leading axes that stack independent convolutions, one per weight set (the fused probes).

    The products of the module docstring, as stacked products; no cache is kept.

    Parameters
    ----------
    x : ndarray, shape (..., C, H, W, N)
    W : ndarray, shape (..., F, C, KH, KW)
    b : ndarray, shape (..., F)

    Returns
    -------
    out : ndarray, shape (..., F, OH, OW, N), C-contiguous.
    """
    check_conv_shapes(np.moveaxis(x, -1, -4), W, b)  # (..., C, H, W, N) -> (..., N, C, H, W)
    *lead, _, h, w, n = x.shape
    f, _, kh, kw = W.shape[-4:]
    oh, ow = conv_output_size(h, kh), conv_output_size(w, kw)
    u = unfold_width(x, kw)  # (..., C, H, W, N) -> (..., C*KW, H*OW*N)
    out = rows_matmul(kernel_rows(W), u, ow * n, oh * ow * n)  # (..., F, OH*OW*N)
    out += b[..., None]  # (..., F) -> (..., F, 1)
    return out.reshape(*lead, f, oh, ow, n)  # (..., F, OH*OW*N) -> (..., F, OH, OW, N)
