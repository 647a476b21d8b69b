"""Mean softmax cross-entropy of integer labels, numerically stable (log-sum-exp).

``L = (1/N) sum_i [log sum_k exp(z_ik) - z_{i,y_i}]``, so
``dL/dz_ik = (softmax(z_i)_k - [k = y_i]) / N``.
Subtracting the row maximum before ``exp`` changes nothing mathematically and prevents overflow.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SoftmaxCache(NamedTuple):
    probs: np.ndarray  # (N, K) softmax probabilities
    y: np.ndarray  # (N,) integer labels


def cross_entropy_per_example(logits, y):
    """Per-example cross-entropy and the shifted logits.

    Parameters
    ----------
    logits : ndarray, shape (..., N, K)
    y : int ndarray, shape (N,), values in [0, K)

    Returns
    -------
    losses : ndarray, shape (..., N), dtype of ``logits``.
    shifted : ndarray, shape (..., N, K), ``logits - max_k logits``.
    exp_shifted : ndarray, shape (..., N, K), ``exp(shifted)``.
    sum_exp : ndarray, shape (..., N, 1)
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (..., N, K) - (..., N, 1)
    exp_shifted = np.exp(shifted)
    sum_exp = exp_shifted.sum(axis=-1, keepdims=True)  # (..., N, K) -> (..., N, 1)
    picked = shifted[..., np.arange(y.shape[0]), y]  # (..., N, K) -> (..., N)
    return np.log(sum_exp[..., 0]) - picked, shifted, exp_shifted, sum_exp


def softmax_cross_entropy_forward(logits, y):
    """Mean softmax cross-entropy.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    y : int ndarray, shape (N,)

    Returns
    -------
    loss : float
    cache : SoftmaxCache
    """
    losses, cache = softmax_cross_entropy_per_example_forward(logits, y)
    return float(losses.mean()), cache


def softmax_cross_entropy_per_example_forward(logits, y):
    """Per-example softmax cross-entropy and the cache of its backward pass.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
    y : int ndarray, shape (N,)

    Returns
    -------
    losses : ndarray, shape (N,), dtype of ``logits``; their mean is
        :func:`softmax_cross_entropy_forward`'s loss.
    cache : SoftmaxCache
    """
    losses, _, exp_shifted, sum_exp = cross_entropy_per_example(logits, y)
    return losses, SoftmaxCache(exp_shifted / sum_exp, y)  # (N, K) / (N, 1)


def softmax_cross_entropy_backward(dloss, cache: SoftmaxCache, n: int | None = None):
    """Gradient with respect to the logits.

    Parameters
    ----------
    dloss : float, upstream gradient of the scalar loss (1.0 for the loss itself).
    n : int or None
        The number of examples the loss averages over; ``None`` is the ``N`` of this cache. A
        larger ``n`` differentiates a mean over a batch of which these ``N`` rows are one chunk.

    Returns
    -------
    dlogits : ndarray, shape (N, K), ``dloss * (probs - onehot(y)) / n``.
    """
    probs, y = cache
    n = y.shape[0] if n is None else n
    dlogits = probs.copy()  # never modify the cache
    dlogits[np.arange(y.shape[0]), y] -= 1
    dlogits *= dloss / n  # Python float: no upcast
    return dlogits


def softmax_cross_entropy_naive(logits, y):
    """Loop reference: the loss, one example at a time, in the textbook (unshifted) form,
    computed in float64 (for moderate logits only)."""
    total = 0.0
    for i in range(logits.shape[0]):
        z = logits[i].astype(np.float64)
        total += np.log(np.sum(np.exp(z))) - z[y[i]]
    return total / logits.shape[0]
