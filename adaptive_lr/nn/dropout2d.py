"""Channel dropout (PyTorch's ``Dropout2d``): each example drops whole channels.

``out[n, c] = x[n, c] * keep[n, c] / (1 - p)`` with a Bernoulli(1 - p) mask ``keep`` of shape
(N, C), drawn once per step (:func:`dropout2d_mask`) and passed in, so that the gradient and every
probe of the step see the same function. Evaluation skips the layer.
"""

from __future__ import annotations

import numpy as np

from .dropout import _check_p


def dropout2d_mask(rng: np.random.Generator, n: int, c: int, p: float) -> np.ndarray:
    """Keep-mask of one step: bool (N, C), ``True`` with probability ``1 - p``."""
    return rng.random((n, c)) >= _check_p(p)


def dropout2d_forward(x, keep, p: float):
    """Channel dropout forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    keep : bool ndarray, shape (N, C)
    p : float in [0, 1)

    Returns
    -------
    out : ndarray, shape (N, C, H, W), dtype of ``x``.
    cache : (keep, scale)
    """
    scale = 1.0 / (1.0 - _check_p(p))
    if x.ndim != 4 or keep.dtype != np.bool_ or keep.shape != x.shape[:2]:
        raise ValueError(f"dropout2d: need x (N, C, H, W) and bool keep (N, C), got x "
                         f"{x.shape}, keep {keep.dtype} {keep.shape}")
    out = x * keep[:, :, None, None]
    out *= scale
    return out, (keep, scale)


def dropout2d_backward(dout, cache):
    """``dx = dout * keep / (1 - p)``, per channel; ``dout`` (N, C, H, W) is not modified."""
    keep, scale = cache
    dx = dout * keep[:, :, None, None]
    dx *= scale
    return dx


def dropout2d_forward_naive(x, keep, p: float):
    """Loop reference of :func:`dropout2d_forward`."""
    out = np.zeros_like(x)
    for a in range(x.shape[0]):
        for c in range(x.shape[1]):
            if keep[a, c]:
                out[a, c] = x[a, c] / (1.0 - p)
    return out
