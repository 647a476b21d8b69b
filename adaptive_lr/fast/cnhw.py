"""ResNet's kernels on channel-major activations ``(C, N, H, W)``.

With channels first, a convolution by im2col is one matrix product whose ``(F, N*OH*OW)`` result
already is the next layer's ``(F, N, OH, OW)`` input (no transpose), and BatchNorm's statistics
are means over contiguous rows ``(C, N*H*W)``. Each kernel reproduces a textbook layer of
:mod:`adaptive_lr.nn` on (N, C, H, W) to rounding (``tests/fast/test_cnhw.py``):

* :func:`conv_forward` / :func:`conv_backward`: :func:`adaptive_lr.nn.conv.conv_forward` without
  bias (ResNet's convolutions have none), 3x3 with stride 1 or 2 and padding 1, and the 1x1
  strided shortcut;
* :func:`batchnorm_forward` / :func:`batchnorm_backward`: :mod:`adaptive_lr.nn.batchnorm` in
  training mode, optionally fused with the ReLU that follows, with ``groups``: the batch axis cut
  into ``groups`` equal parts, each normalised with its own statistics, as ``groups`` separate
  calls would (what stacking probes along the batch axis needs);
* :func:`batchnorm_eval_forward` / :func:`batchnorm_eval_backward`: evaluation mode, one affine
  map per channel.

The stem's 3x3/2 max pooling runs :func:`adaptive_lr.nn.max_pool_window.max_pool_window_forward`
itself, which pools the last two axes of any layout.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.im2col import conv_output_size

EPS = 1e-5


class ConvCache(NamedTuple):
    cols: np.ndarray  # (C*K*K, N*OH*OW)
    x_shape: tuple  # (C, N, H, W)
    W: np.ndarray  # (F, C, K, K)
    stride: int
    pad: int


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """``x`` (C, N, H, W) -> columns (C*K*K, N*OH*OW), rows in the order (c, i, j) of
    ``W.reshape(F, -1)``, columns (n, oh, ow): ``K*K`` slab copies of the padded input."""
    c, n, h, w = x.shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    if k == 1 and pad == 0:
        return np.ascontiguousarray(x[:, :, ::stride, ::stride]).reshape(c, n * oh * ow)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    cols = np.empty((c, k, k, n, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return cols.reshape(c * k * k, n * oh * ow)


def col2im(dcols: np.ndarray, x_shape: tuple, k: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: (C*K*K, N*OH*OW) -> (C, N, H, W), ``K*K`` strided adds."""
    c, n, h, w = x_shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    d6 = dcols.reshape(c, k, k, n, oh, ow)
    if k == 1 and pad == 0:
        dx = np.zeros(x_shape, dtype=dcols.dtype)
        dx[:, :, ::stride, ::stride] = d6[:, 0, 0]
        return dx
    dxp = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += d6[:, i, j]
    return np.ascontiguousarray(dxp[:, :, pad : pad + h, pad : pad + w])


def conv_forward(x, W, stride: int = 1, pad: int = 0, keep_cols: bool = True):
    """Convolution without bias: ``W.reshape(F, -1) @ im2col(x)``.

    Parameters
    ----------
    x : ndarray, shape (C, N, H, W)
    W : ndarray, shape (F, C, K, K)
    keep_cols : bool
        False returns no cache (a forward-only pass keeps nothing).

    Returns
    -------
    out : ndarray, shape (F, N, OH, OW), C-contiguous.
    cache : ConvCache or None
    """
    c, n, h, w = x.shape
    f, _, k, _ = W.shape
    oh, ow = conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)
    cols = im2col(x, k, stride, pad)
    out = (W.reshape(f, -1) @ cols).reshape(f, n, oh, ow)
    return out, (ConvCache(cols, x.shape, W, stride, pad) if keep_cols else None)


def conv_backward(dout, cache: ConvCache, compute_dx: bool = True):
    """``dW = D @ cols.T`` and ``dx = col2im(W.T @ D)`` with ``D = dout`` as (F, N*OH*OW).
    Returns ``(dx or None, dW)``."""
    cols, x_shape, W, stride, pad = cache
    f, _, k, _ = W.shape
    d = dout.reshape(f, -1)
    dW = (d @ cols.T).reshape(W.shape)
    dx = col2im(W.reshape(f, -1).T @ d, x_shape, k, stride, pad) if compute_dx else None
    return dx, dW


class BatchNormCache(NamedTuple):
    xhat: np.ndarray  # (C, G, M), the normalised input per group of M values
    inv_std: np.ndarray  # (C, G)
    gamma: np.ndarray  # (C,)
    out: np.ndarray | None  # the output after the fused ReLU, or None (no ReLU)
    shape: tuple  # (C, N, H, W)


def batchnorm_forward(x, gamma, beta, *, groups: int = 1, relu: bool = False, eps=EPS):
    """Training-mode BatchNorm on (C, N, H, W), each of ``groups`` equal parts of the batch
    with its own biased batch statistics; ``relu=True`` applies ReLU after it.

    Returns
    -------
    out : ndarray, shape (C, N, H, W)
    cache : BatchNormCache
    stats : (mean (C, G), biased var (C, G), M values per channel and group)
    """
    c, n = x.shape[:2]
    if n % groups:
        raise ValueError(f"batchnorm: {n} examples do not split into {groups} equal groups")
    x3 = x.reshape(c, groups, -1)  # (C, N, H, W) -> (C, G, M)
    m = x3.shape[2]
    if m < 2:
        raise ValueError(f"batchnorm: training mode needs more than 1 value per channel, got "
                         f"input of shape {x.shape}")
    mean = x3.mean(axis=2)  # (C, G)
    xhat = x3 - mean[:, :, None]
    var = np.einsum("cgm,cgm->cg", xhat, xhat) / m  # biased
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    xhat *= inv_std[:, :, None]
    out = xhat * gamma[:, None, None]
    out += beta[:, None, None]
    if relu:
        np.maximum(out, 0, out=out)
    out = out.reshape(x.shape)
    return out, BatchNormCache(xhat, inv_std, gamma, out if relu else None, x.shape), (mean,
                                                                                       var, m)


def batchnorm_backward(dout, cache: BatchNormCache):
    """Backward pass of :func:`batchnorm_forward` (through the ReLU when fused and through each
    group's statistics). Returns ``(dx (C, N, H, W), dgamma (C,), dbeta (C,))``."""
    xhat, inv_std, gamma, out, shape = cache
    dy = dout * (out > 0) if out is not None else dout
    c, g, m = xhat.shape
    dy = dy.reshape(c, g, m)
    dbeta_g = dy.sum(axis=2)  # (C, G)
    dgamma_g = np.einsum("cgm,cgm->cg", dy, xhat)
    dx = xhat * (dgamma_g / m)[:, :, None]
    np.subtract(dy, dx, out=dx)
    dx -= (dbeta_g / m)[:, :, None]
    dx *= (gamma[:, None] * inv_std)[:, :, None]
    return dx.reshape(shape), dgamma_g.sum(axis=1), dbeta_g.sum(axis=1)


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, *, relu: bool = False,
                           eps=EPS):
    """Evaluation-mode BatchNorm on (C, N, H, W): ``scale x + shift`` per channel with the
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
