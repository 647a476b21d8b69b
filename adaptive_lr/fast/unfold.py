"""Width unfolding of batch-last images, the input of a convolution by kernel rows
(:mod:`adaptive_lr.fast.conv_rows`), with its adjoint and their loop references."""

from __future__ import annotations

import numpy as np

from ..nn.im2col import conv_output_size


def unfold_width(x: np.ndarray, kw: int) -> np.ndarray:
    """Width-unfolded batch-last images, the input of a convolution by kernel rows.

    ``U[..., (c, j), (h, s, n)] = x[..., c, h, s + j, n]``: every image row, unfolded along its
    width only. Moving a kernel down one row moves its window by ``OW*N`` columns of ``U``, so the
    convolution is ``KH`` products with column slices of ``U``
    (:mod:`adaptive_lr.fast.conv_rows`), and ``U`` holds ``C*KW*H*OW*N`` numbers: ``KH*OH/H``
    times fewer than the im2col.

    Parameters
    ----------
    x : ndarray, shape (..., C, H, W, N)
    kw : kernel width.

    Returns
    -------
    u : ndarray, shape (..., C*KW, H*OW*N), C-contiguous, dtype of ``x``: rows in the order
        ``(c, j)``, columns in the order ``(h, s, n)``. ``KW`` copies of ``(C, H, OW*N)`` slabs
        whose runs of ``OW*N`` numbers are contiguous in both arrays.
    """
    *lead, c, h, w, n = x.shape
    ow = conv_output_size(w, kw)
    u = np.empty((*lead, c, kw, h, ow, n), dtype=x.dtype)  # (..., C, KW, H, OW, N)
    for j in range(kw):
        u[..., j, :, :, :] = x[..., j : j + ow, :]  # (..., C, H, OW, N)
    return u.reshape(*lead, c * kw, h * ow * n)  # (..., C, KW, H, OW, N) -> (..., C*KW, H*OW*N)


def fold_width(du: np.ndarray, x_shape: tuple, kw: int) -> np.ndarray:
    """Adjoint of :func:`unfold_width`: ``du`` (C*KW, H*OW*N) -> ``dx`` (C, H, W, N).

    One add per kernel column ``j`` of a ``(C, H, OW*N)`` slab whose runs of ``OW*N`` numbers are
    contiguous; a new array, ``du`` is not modified.
    """
    c, h, w, n = x_shape
    ow = conv_output_size(w, kw)
    d = du.reshape(c, kw, h, ow * n)  # (C*KW, H*OW*N) -> (C, KW, H, OW*N)
    dx = np.zeros((c, h, w * n), dtype=du.dtype)  # (C, H, W*N)
    for j in range(kw):
        dx[:, :, j * n : (j + ow) * n] += d[:, j]
    return dx.reshape(c, h, w, n)  # (C, H, W*N) -> (C, H, W, N)


def unfold_width_naive(x: np.ndarray, kw: int) -> np.ndarray:
    """Loop reference of :func:`unfold_width` for x (C, H, W, N) -> u (C*KW, H*OW*N)."""
    c, h, w, n = x.shape
    ow = conv_output_size(w, kw)
    u = np.empty((c * kw, h * ow * n), dtype=x.dtype)
    for ci in range(c):
        for j in range(kw):
            for r in range(h):
                for s in range(ow):
                    for b in range(n):
                        u[ci * kw + j, (r * ow + s) * n + b] = x[ci, r, s + j, b]
    return u


def fold_width_naive(du: np.ndarray, x_shape: tuple, kw: int) -> np.ndarray:
    """Loop reference of :func:`fold_width`: add every entry of ``du`` onto the pixel it was read
    from."""
    c, h, w, n = x_shape
    ow = conv_output_size(w, kw)
    dx = np.zeros(x_shape, dtype=du.dtype)
    for ci in range(c):
        for j in range(kw):
            for r in range(h):
                for s in range(ow):
                    for b in range(n):
                        dx[ci, r, s + j, b] += du[ci * kw + j, (r * ow + s) * n + b]
    return dx
