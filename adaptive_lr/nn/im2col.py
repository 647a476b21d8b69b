"""im2col / col2im: a convolution as one matrix product.

A 2-D convolution of ``x`` (N, C, H, W) with ``F`` filters (F, C, KH, KW) is the matrix product
``W.reshape(F, C*KH*KW) @ cols`` where column ``(n, oh, ow)`` of ``cols`` holds the
``C*KH*KW`` input values under the kernel placed at output pixel ``(oh, ow)`` of image ``n``.

Layout. ``cols`` has shape ``(C*KH*KW, N*OH*OW)``: rows in the order ``(c, kh, kw)`` of
``W.reshape(F, -1)``, columns in the order ``(n, oh, ow)``. With this layout the copy that builds
``cols`` moves contiguous runs of ``OW`` pixels (not runs of ``KW``), the forward product is one
GEMM with a ``(F, N*OH*OW)`` result, and the weight gradient ``dout_mat @ cols.T`` is one GEMM too.

The naive loop versions below are the definition; tests check that the vectorized ones agree.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution along one axis: ``(size + 2*pad - kernel) // stride + 1``.

    Floors like PyTorch when the kernel does not tile the padded input exactly (integer division,
    never float). Raises ``ValueError`` when the padded input is smaller than the kernel.
    """
    if stride < 1 or pad < 0 or kernel < 1:
        raise ValueError(f"need kernel >= 1, stride >= 1, pad >= 0; got {kernel}, {stride}, {pad}")
    if size + 2 * pad < kernel:
        raise ValueError(
            f"input of size {size} (padded by {pad}) is smaller than the kernel size {kernel}"
        )
    return (size + 2 * pad - kernel) // stride + 1


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N,C,H,W) -> (N,C,H+2p,W+2p)


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold the kernel windows of ``x`` into columns (vectorized, stride tricks).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kh, kw : kernel height and width.
    stride, pad : convolution stride and zero padding (same along both axes).

    Returns
    -------
    cols : ndarray, shape (C*KH*KW, N*OH*OW), C-contiguous, dtype of ``x``.
    """
    n, c, h, w = x.shape
    oh = conv_output_size(h, kh, stride, pad)
    ow = conv_output_size(w, kw, stride, pad)
    win = sliding_window_view(_pad(x, pad), (kh, kw), axis=(2, 3))  # (N, C, H', W', KH, KW)
    win = win[:, :, : stride * oh : stride, : stride * ow : stride]  # (N, C, OH, OW, KH, KW)
    # (N, C, OH, OW, KH, KW) -> (C, KH, KW, N, OH, OW) -> (C*KH*KW, N*OH*OW), one copy
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)


def col2im(
    dcols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column back onto the pixels it was read from.

    Parameters
    ----------
    dcols : ndarray, shape (C*KH*KW, N*OH*OW)
    x_shape : (N, C, H, W), the shape of the input of :func:`im2col`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), dtype of ``dcols``. One strided add per kernel offset
    (KH*KW adds over whole slabs), not a loop over pixels.
    """
    n, c, h, w = x_shape
    oh = conv_output_size(h, kh, stride, pad)
    ow = conv_output_size(w, kw, stride, pad)
    d6 = dcols.reshape(c, kh, kw, n, oh, ow)  # (C*KH*KW, N*OH*OW) -> (C,KH,KW,N,OH,OW)
    dxp = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)  # (C, N, H', W')
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += d6[:, i, j]
    dxp = dxp[:, :, pad : pad + h, pad : pad + w]  # (C, N, H', W') -> (C, N, H, W)
    return dxp.transpose(1, 0, 2, 3)  # (C, N, H, W) -> (N, C, H, W), a view


def im2col_naive(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Loop reference of :func:`im2col` for a single batch ``x`` (N, C, H, W)."""
    n, c, h, w = x.shape
    oh = conv_output_size(h, kh, stride, pad)
    ow = conv_output_size(w, kw, stride, pad)
    xp = _pad(x, pad)
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    for b in range(n):
        for r in range(oh):
            for s in range(ow):
                patch = xp[b, :, r * stride : r * stride + kh, s * stride : s * stride + kw]
                cols[:, (b * oh + r) * ow + s] = patch.ravel()  # (C,KH,KW) -> (C*KH*KW,)
    return cols


def col2im_naive(
    dcols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """Loop reference of :func:`col2im`."""
    n, c, h, w = x_shape
    oh = conv_output_size(h, kh, stride, pad)
    ow = conv_output_size(w, kw, stride, pad)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for b in range(n):
        for r in range(oh):
            for s in range(ow):
                col = dcols[:, (b * oh + r) * ow + s].reshape(c, kh, kw)  # (C*KH*KW,) -> (C,KH,KW)
                dxp[b, :, r * stride : r * stride + kh, s * stride : s * stride + kw] += col
    return dxp[:, :, pad : pad + h, pad : pad + w]
