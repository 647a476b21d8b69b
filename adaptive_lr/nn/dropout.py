"""Inverted dropout with an explicit mask.

Training multiplies each unit by ``keep / (1 - p)`` where ``keep`` is a Bernoulli(1 - p) mask, so
the expected output equals the input and evaluation simply skips the layer. The mask is an
*input*, drawn once per step by :func:`dropout_mask`: the gradient and every probe of the step
then see the same function. Masks are ``bool``, so one mask serves float32 and float64 alike.
"""

from __future__ import annotations

import numpy as np


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
    return p


def dropout_mask(rng: np.random.Generator, shape: tuple, p: float) -> np.ndarray:
    """Keep-mask of one step: ``True`` with probability ``1 - p``; bool array of ``shape``."""
    p = _check_p(p)
    return rng.random(shape) >= p


def dropout_forward(x, keep, p: float):
    """Dropout forward pass: ``out = x * keep / (1 - p)``.

    Parameters
    ----------
    x : ndarray, shape (..., N, D)
    keep : bool ndarray, shape (N, D) (broadcast over leading axes of ``x``).
    p : float, the drop probability in [0, 1).

    Returns
    -------
    out : ndarray, shape (..., N, D), dtype of ``x``.
    cache : (keep, scale)
    """
    scale = 1.0 / (1.0 - _check_p(p))  # a Python float: no upcast of float32
    if keep.dtype != np.bool_ or keep.shape != x.shape[-keep.ndim :]:
        raise ValueError(
            f"dropout: keep must be bool of shape {x.shape[-2:]}, got {keep.dtype} {keep.shape}"
        )
    out = x * keep  # (..., N, D) * (N, D) -> (..., N, D), a new array
    out *= scale
    return out, (keep, scale)


def dropout_backward(dout, cache):
    """Dropout backward pass: ``dx = dout * keep / (1 - p)``; ``dout`` is not modified.

    Parameters
    ----------
    dout : ndarray, shape (N, D)

    Returns
    -------
    dx : ndarray, shape (N, D)
    """
    keep, scale = cache
    dx = dout * keep
    dx *= scale
    return dx


def dropout_forward_naive(x, keep, p: float):
    """Loop reference of :func:`dropout_forward` for x (N, D)."""
    out = np.empty_like(x)
    for idx, v in np.ndenumerate(x):
        out[idx] = v / (1.0 - p) if keep[idx] else 0
    return out, (keep, 1.0 / (1.0 - p))
