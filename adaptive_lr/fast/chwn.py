"""ResNet's kernels on batch-last activations ``(C, H, W, N)``.

With the batch last, every copy and strided add of im2col and col2im moves contiguous runs of
``OW*N`` numbers (stride 1) or ``N`` numbers (stride 2), not runs of ``OW`` pixels, and a
convolution is one matrix product whose ``(F, OH*OW*N)`` result already is the next layer's
``(F, OH, OW, N)`` input. BatchNorm's statistics are means over the rows ``(C, H*W*N)``. Each
kernel reproduces a textbook layer of :mod:`adaptive_lr.nn` on (N, C, H, W) to rounding
(``tests/nn/test_resnet_layers.py``; the layer contract covers them too):

* :func:`conv_forward` / :func:`conv_backward`: :func:`adaptive_lr.nn.conv.conv_forward` without
  bias (ResNet's convolutions have none): 3x3 with stride 1 or 2 and padding 1, and the 1x1
  strided shortcut;
* :func:`batchnorm_forward` / :func:`batchnorm_backward`: :mod:`adaptive_lr.nn.batchnorm` in
  training mode, optionally fused with the ReLU that follows, with ``groups``: the batch axis cut
  into ``groups`` equal parts, each normalised with its own statistics, as ``groups`` separate
  calls would (what stacking probes along the batch axis needs);
* :func:`batchnorm_eval_forward` / :func:`batchnorm_eval_backward`: evaluation mode, one affine
  map per channel;
* :func:`max_pool_forward` / :func:`max_pool_backward`:
  :mod:`adaptive_lr.nn.max_pool_window` (3x3, stride 2, padding 1 in the stem) on axes 1 and 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.im2col import conv_output_size

EPS = 1e-5
# Below this many input channels (the 3-channel stem) the K products of ``row_cols`` have too
# short an inner dimension (3 C) and one im2col product is faster (2.5x at C = 3, 1 thread).
ROW_COLS_MIN_CHANNELS = 8


def to_batch_last(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, H, W, N), contiguous."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def to_batch_first(x: np.ndarray) -> np.ndarray:
    """(C, H, W, N) -> (N, C, H, W), contiguous."""
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2))


class ConvCache(NamedTuple):
    cols: np.ndarray  # (C*K*K, OH*OW*N) from im2col, or (C, K, H + 2 pad, OW, N) from row_cols
    x_shape: tuple  # (C, H, W, N)
    W: np.ndarray  # (F, C, K, K)
    stride: int
    pad: int


def _pad(x: np.ndarray, pad: int, value=0.0) -> np.ndarray:
    """Pad axes 1 and 2 of (C, H, W, N) (one allocation and one copy; ``np.pad`` is slower)."""
    if pad == 0:
        return x
    c, h, w, n = x.shape
    xp = np.full((c, h + 2 * pad, w + 2 * pad, n), value, dtype=x.dtype)
    xp[:, pad : pad + h, pad : pad + w] = x
    return xp


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """``x`` (C, H, W, N) -> columns (C*K*K, OH*OW*N), rows in the order (c, i, j) of
    ``W.reshape(F, -1)``, columns (oh, ow, n): ``K*K`` slab copies of the padded input."""
    c, h, w, n = x.shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    if k == 1 and pad == 0:
        return np.ascontiguousarray(x[:, ::stride, ::stride]).reshape(c, oh * ow * n)
    xp = _pad(x, pad)
    cols = np.empty((c, k, k, oh, ow, n), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = xp[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return cols.reshape(c * k * k, oh * ow * n)


def col2im(dcols: np.ndarray, x_shape: tuple, k: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: (C*K*K, OH*OW*N) -> (C, H, W, N), ``K*K`` strided adds."""
    c, h, w, n = x_shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    d6 = dcols.reshape(c, k, k, oh, ow, n)
    if k == 1 and pad == 0:
        dx = np.zeros(x_shape, dtype=dcols.dtype)
        dx[:, ::stride, ::stride] = d6[:, 0, 0]
        return dx
    dxp = np.zeros((c, h + 2 * pad, w + 2 * pad, n), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, i : i + stride * oh : stride, j : j + stride * ow : stride] += d6[:, i, j]
    return np.ascontiguousarray(dxp[:, pad : pad + h, pad : pad + w])


def row_cols(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """``x`` (C, H, W, N) -> (C, K, H + 2 pad, OW, N) with ``[c, j, h, ow] = xp[c, h, ow + j]``,
    ``xp`` the zero-padded input: the ``K`` column shifts of a stride-1 convolution, written
    straight from ``x`` (no padded copy). Row shift ``i`` is then the slab ``[:, :, i : i + OH]``,
    a (C*K, OH*OW*N) matrix with a row stride BLAS takes as it is: 3 copies instead of 9."""
    c, h, w, n = x.shape
    ow = w + 2 * pad - k + 1
    cols = np.empty((c, k, h + 2 * pad, ow, n), dtype=x.dtype)
    cols[:, :, :pad] = 0
    cols[:, :, pad + h :] = 0
    for j in range(k):
        lo, hi = max(0, pad - j), min(ow, w + pad - j)  # output columns that read inside x
        cols[:, j, pad : pad + h, :lo] = 0
        cols[:, j, pad : pad + h, hi:] = 0
        cols[:, j, pad : pad + h, lo:hi] = x[:, :, lo + j - pad : hi + j - pad]
    return cols


def conv_forward(x, W, stride: int = 1, pad: int = 0, keep_cols: bool = True):
    """Convolution without bias: ``W.reshape(F, -1) @ im2col(x)``; for stride 1 (K > 1, at
    least ``ROW_COLS_MIN_CHANNELS`` input channels) as
    ``sum_i W[:, :, i] @ row_cols(x)[:, :, i : i + OH]``, ``K`` products over the ``K`` row
    shifts of one array of ``K`` column shifts (the same sums, a third of im2col's copies).

    Parameters
    ----------
    x : ndarray, shape (C, H, W, N)
    W : ndarray, shape (F, C, K, K)
    keep_cols : bool
        False returns no cache (a forward-only pass keeps nothing).

    Returns
    -------
    out : ndarray, shape (F, OH, OW, N), C-contiguous.
    cache : ConvCache or None
    """
    c, h, w, n = x.shape
    f, _, k, _ = W.shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    if stride == 1 and k > 1 and c >= ROW_COLS_MIN_CHANNELS:
        cols = row_cols(x, k, pad)
        out = np.empty((f, oh * ow * n), dtype=np.result_type(x, W))
        tmp = np.empty_like(out)
        for i in range(k):
            a = W[:, :, i, :].reshape(f, c * k)
            b = cols[:, :, i : i + oh].reshape(c * k, oh * ow * n)  # a view, row stride kept
            if i == 0:
                np.matmul(a, b, out=out)
            else:
                np.matmul(a, b, out=tmp)
                out += tmp
        out = out.reshape(f, oh, ow, n)
    else:
        cols = im2col(x, k, stride, pad)
        out = (W.reshape(f, -1) @ cols).reshape(f, oh, ow, n)
    return out, (ConvCache(cols, x.shape, W, stride, pad) if keep_cols else None)


def conv_backward(dout, cache: ConvCache, compute_dx: bool = True):
    """``dW = D @ cols.T`` with ``D = dout`` as (F, OH*OW*N) (per row shift ``i`` when the
    cache holds :func:`row_cols`), and ``dx``: by ``col2im(W.T @ D)`` for a strided
    convolution; for stride 1 and ``pad = K // 2`` as the convolution of ``dout`` with the
    flipped, transposed kernels (the same sums, without ``K*K`` strided adds). Returns
    ``(dx or None, dW)``."""
    cols, x_shape, W, stride, pad = cache
    f, c, k, _ = W.shape
    d = dout.reshape(f, -1)
    if cols.ndim == 5:  # row_cols: dW[:, :, i] = D @ cols_i.T
        oh = dout.shape[1]
        dW = np.empty_like(W)
        for i in range(k):
            b = cols[:, :, i : i + oh].reshape(c * k, -1)
            dW[:, :, i, :] = (b @ d.T).T.reshape(f, c, k)
    else:
        dW = (cols @ d.T).T.reshape(W.shape)  # (K, M) @ (M, F): faster in OpenBLAS than D @ cols.T
    if not compute_dx:
        return None, dW
    if stride == 1 and 2 * pad == k - 1:
        # dx[c, i, j, n] = sum_{f,a,b} W[f, c, a, b] dout[f, i + pad - a, j + pad - b, n]
        flipped = np.ascontiguousarray(W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        return conv_forward(dout, flipped, 1, pad, keep_cols=False)[0], dW
    return col2im(W.reshape(f, -1).T @ d, x_shape, k, stride, pad), dW


class BatchNormCache(NamedTuple):
    xhat: np.ndarray  # (C, HW, G, n), the normalised input, per group of n examples
    inv_std: np.ndarray  # (C, G)
    gamma: np.ndarray  # (C,)
    out: np.ndarray | None  # the output after the fused ReLU, or None (no ReLU)
    shape: tuple  # (C, H, W, N)


def batchnorm_forward(x, gamma, beta, *, groups: int = 1, relu: bool = False, eps=EPS,
                      keep_cache: bool = True):
    """Training-mode BatchNorm on (C, H, W, N), each of ``groups`` equal parts of the batch
    (examples ``g*n .. (g+1)*n - 1``) with its own biased batch statistics; ``relu=True``
    applies ReLU after it.

    ``keep_cache=False`` (a forward-only pass) keeps no ``xhat`` and applies
    ``(x - mean) * (gamma inv_std) + beta`` in place on one temporary (the same map, rounded
    once less per value); the cache is then None.

    Returns
    -------
    out : ndarray, shape (C, H, W, N)
    cache : BatchNormCache or None
    stats : (mean (C, G), biased var (C, G), M values per channel and group)
    """
    c, h, w, n = x.shape
    if n % groups:
        raise ValueError(f"batchnorm: {n} examples do not split into {groups} equal groups")
    x4 = x.reshape(c, h * w, groups, n // groups)  # (C, H, W, N) -> (C, HW, G, n)
    m = h * w * (n // groups)
    if m < 2:
        raise ValueError(f"batchnorm: training mode needs more than 1 value per channel, got "
                         f"input of shape {x.shape}")
    mean = x4.mean(axis=(1, 3))  # (C, G)
    xhat = x4 - mean[:, None, :, None]
    var = np.einsum("cpgn,cpgn->cg", xhat, xhat) / m  # biased
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    if not keep_cache:
        out = xhat  # x - mean, not kept
        out *= (gamma[:, None] * inv_std)[:, None, :, None]
        out += beta[:, None, None, None]
        if relu:
            np.maximum(out, 0, out=out)
        return out.reshape(x.shape), None, (mean, var, m)
    xhat *= inv_std[:, None, :, None]
    out = xhat * gamma[:, None, None, None]
    out += beta[:, None, None, None]
    if relu:
        np.maximum(out, 0, out=out)
    out = out.reshape(x.shape)
    cache = BatchNormCache(xhat, inv_std, gamma, out if relu else None, x.shape)
    return out, cache, (mean, var, m)


def batchnorm_backward(dout, cache: BatchNormCache):
    """Backward pass of :func:`batchnorm_forward` (through the ReLU when fused and through each
    group's statistics). Returns ``(dx (C, H, W, N), dgamma (C,), dbeta (C,))``."""
    xhat, inv_std, gamma, out, shape = cache
    dy = dout * (out > 0) if out is not None else dout
    c, p, g, n = xhat.shape
    m = p * n
    dy = dy.reshape(c, p, g, n)
    dbeta_g = dy.sum(axis=(1, 3))  # (C, G)
    dgamma_g = np.einsum("cpgn,cpgn->cg", dy, xhat)
    dx = xhat * (dgamma_g / m)[:, None, :, None]
    np.subtract(dy, dx, out=dx)
    dx -= (dbeta_g / m)[:, None, :, None]
    dx *= (gamma[:, None] * inv_std)[:, None, :, None]
    return dx.reshape(shape), dgamma_g.sum(axis=1), dbeta_g.sum(axis=1)


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, *, relu: bool = False,
                           eps=EPS):
    """Evaluation-mode BatchNorm on (C, H, W, N): ``scale x + shift`` per channel with the
    running statistics, ``scale = gamma / sqrt(running_var + eps)`` (then ReLU if ``relu``).
    Returns ``out`` and a cache."""
    running_mean, running_var = (np.asarray(a, dtype=x.dtype) for a in (running_mean, running_var))
    inv_std = 1.0 / np.sqrt(running_var + x.dtype.type(eps))
    scale = gamma * inv_std
    shift = beta - running_mean * scale
    out = x * scale[:, None, None, None]
    out += shift[:, None, None, None]
    if relu:
        np.maximum(out, 0, out=out)
    return out, (x, inv_std, scale, running_mean, out if relu else None)


def batchnorm_eval_backward(dout, cache):
    """Backward pass of :func:`batchnorm_eval_forward`, the statistics constant:
    ``dx = scale dy``, ``dgamma = sum(dy (x - running_mean)) inv_std``, ``dbeta = sum(dy)``."""
    x, inv_std, scale, running_mean, out = cache
    dy = dout * (out > 0) if out is not None else dout
    c = x.shape[0]
    dbeta = dy.sum(axis=(1, 2, 3))
    dgamma = (np.einsum("cm,cm->c", dy.reshape(c, -1), x.reshape(c, -1))
              - running_mean * dbeta) * inv_std
    return dy * scale[:, None, None, None], dgamma, dbeta


class PoolCache(NamedTuple):
    xp: np.ndarray  # (C, H + 2 pad, W + 2 pad, N), padded with -inf
    out: np.ndarray  # (C, OH, OW, N)
    k: int
    stride: int
    pad: int
    shape: tuple  # (C, H, W, N)


def max_pool_forward(x, k: int = 3, stride: int = 2, pad: int = 1):
    """Max pooling of axes 1 and 2 of (C, H, W, N): the maximum of ``k*k`` strided views of
    the input padded with ``-inf`` (:mod:`adaptive_lr.nn.max_pool_window`)."""
    oh = conv_output_size(x.shape[1], k, stride, pad)
    ow = conv_output_size(x.shape[2], k, stride, pad)
    xp = _pad(x, pad, -np.inf)
    out = None
    for i in range(k):
        for j in range(k):
            v = xp[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
            out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out, PoolCache(xp, out, k, stride, pad, x.shape)


def max_pool_backward(dout, cache: PoolCache):
    """Each window's gradient to its first maximum in row-major order, as
    :func:`adaptive_lr.nn.max_pool_window.max_pool_window_backward`."""
    xp, out, k, stride, pad, shape = cache
    oh, ow = out.shape[1:3]
    dxp = np.zeros(xp.shape, dtype=dout.dtype)
    taken = np.zeros(out.shape, dtype=bool)
    for i in range(k):
        for j in range(k):
            idx = (slice(None), slice(i, i + stride * oh, stride), slice(j, j + stride * ow,
                                                                         stride))
            hit = xp[idx] == out
            hit &= ~taken
            taken |= hit
            dxp[idx] += dout * hit
    return np.ascontiguousarray(dxp[:, pad : pad + shape[1], pad : pad + shape[2]])
