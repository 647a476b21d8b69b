"""Dense (fully connected) layer, PyTorch's ``nn.Linear``: ``out = x @ W.T + b``.

``W`` has shape (D_out, D_in) as in PyTorch, so ``fc1.weight`` of LeNet is (120, 400).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .conv import check_same_dtype


class DenseCache(NamedTuple):
    x: np.ndarray  # (N, D_in)
    W: np.ndarray  # (D_out, D_in)


def dense_forward(x, W, b):
    """Dense forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, D_in)
    W : ndarray, shape (D_out, D_in)
    b : ndarray, shape (D_out,)

    Returns
    -------
    out : ndarray, shape (N, D_out)
    cache : DenseCache
    """
    if not (x.ndim == W.ndim == 2 and b.shape == W.shape[:1] and x.shape[1] == W.shape[1]):
        raise ValueError(f"dense: need x (N, D_in), W (D_out, D_in), b (D_out,); got x {x.shape},"
                         f" W {W.shape}, b {b.shape}")
    check_same_dtype(x=x, W=W, b=b)
    out = x @ W.T  # (N, D_in) @ (D_in, D_out) -> (N, D_out)
    out += b  # (D_out,) broadcast over the N rows
    return out, DenseCache(x, W)


def dense_backward(dout, cache: DenseCache):
    """Dense backward pass: ``dx = dout @ W``, ``dW = dout.T @ x``, ``db = sum_n dout[n]``.

    Parameters
    ----------
    dout : ndarray, shape (N, D_out), not modified.

    Returns
    -------
    dx : ndarray, shape (N, D_in)
    dW : ndarray, shape (D_out, D_in)
    db : ndarray, shape (D_out,)
    """
    x, W = cache
    dx = dout @ W  # (N, D_out) @ (D_out, D_in) -> (N, D_in)
    dW = dout.T @ x  # (D_out, N) @ (N, D_in) -> (D_out, D_in)
    db = dout.sum(axis=0)  # (N, D_out) -> (D_out,)
    return dx, dW, db


def dense_forward_naive(x, W, b):
    """Loop reference of :func:`dense_forward` for x (N, D_in)."""
    n, d_out = x.shape[0], W.shape[0]
    out = np.empty((n, d_out), dtype=x.dtype)
    for i in range(n):
        for k in range(d_out):
            out[i, k] = np.sum(x[i] * W[k]) + b[k]
    return out, DenseCache(x, W)


def dense_backward_naive(dout, cache: DenseCache):
    """Loop reference of :func:`dense_backward`."""
    x, W = cache
    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros(W.shape[0], dtype=dout.dtype)
    for i in range(x.shape[0]):
        for k in range(W.shape[0]):
            dx[i] += dout[i, k] * W[k]
            dW[k] += dout[i, k] * x[i]
            db[k] += dout[i, k]
    return dx, dW, db
