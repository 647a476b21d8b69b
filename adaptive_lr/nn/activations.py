"""ReLU: ``out = max(x, 0)``, derivative 1 where ``x > 0`` and 0 elsewhere (0 at the kink)."""

from __future__ import annotations

import numpy as np


def relu_forward(x):
    """ReLU forward pass.

    Parameters
    ----------
    x : ndarray, any shape (...)

    Returns
    -------
    out : ndarray, shape (...), dtype of ``x`` (NaN propagates).
    cache : ndarray, shape (...), the output (its sign is all the backward pass needs).
    """
    out = np.maximum(x, 0)  # the Python 0 is weak: a float32 x stays float32
    return out, out


def relu_backward(dout, cache):
    """ReLU backward pass: ``dx = dout * (out > 0)``; ``dout`` is not modified.

    Parameters
    ----------
    dout : ndarray, shape (...)
    cache : ndarray, shape (...), the forward output.

    Returns
    -------
    dx : ndarray, shape (...), dtype of ``dout``.
    """
    return dout * (cache > 0)  # bool factor: no upcast, a new array


def relu_forward_naive(x):
    """Loop reference of :func:`relu_forward`."""
    out = np.empty_like(x)
    for idx, v in np.ndenumerate(x):
        out[idx] = v if v > 0 else 0
    return out, out


def relu_backward_naive(dout, cache):
    """Loop reference of :func:`relu_backward`."""
    dx = np.empty_like(dout)
    for idx, g in np.ndenumerate(dout):
        dx[idx] = g if cache[idx] > 0 else 0
    return dx
