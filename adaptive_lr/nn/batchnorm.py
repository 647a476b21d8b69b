"""2-D batch normalisation (PyTorch's ``BatchNorm2d``) on (N, C, H, W), per channel ``c``.

Training mode normalises with the batch's own statistics over the ``M = N*H*W`` values of each
channel: ``mu_c = mean(x[:, c])``, ``var_c = mean((x[:, c] - mu_c)^2)`` (biased, the ``1/M``
variance) and ``out = gamma_c * (x - mu_c) / sqrt(var_c + eps) + beta_c``. The running statistics
are then moved with PyTorch's momentum and the *unbiased* variance (:func:`running_update`):
``running_mean <- (1 - m) running_mean + m mu``, ``running_var <- (1 - m) running_var + m var
M / (M - 1)``. Evaluation mode normalises with the running statistics instead
(:func:`batchnorm_eval_forward`), an affine map of ``x``.

The training-mode backward pass goes through the batch statistics (``x`` enters ``mu`` and
``var``): with ``xhat = (x - mu) / sigma`` and ``g = dout * gamma``,
``dx = (g - mean(g) - xhat * mean(g * xhat)) / sigma``, means over the channel's ``M`` values.
The naive loops below are the definitions; ``tests/nn/test_resnet_layers.py`` checks the backward
pass against the full Jacobian.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EPS = 1e-5  # PyTorch's default
MOMENTUM = 0.1  # PyTorch's default


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs from :func:`batchnorm_forward`."""

    xhat: np.ndarray  # (N, C, H, W), the normalised input
    inv_std: np.ndarray  # (C,), 1 / sqrt(var + eps)
    gamma: np.ndarray  # (C,)


class BatchStats(NamedTuple):
    """The batch statistics of one training-mode pass, per channel."""

    mean: np.ndarray  # (C,)
    var: np.ndarray  # (C,), biased (the 1/M variance)
    count: int  # M = N*H*W values per channel


def _check(x, gamma, beta) -> None:
    if x.ndim != 4:
        raise ValueError(f"batchnorm: x must be (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"batchnorm: gamma and beta must have shape ({c},), got "
                         f"{gamma.shape}, {beta.shape}")
    if not (x.dtype == gamma.dtype == beta.dtype):
        raise ValueError(f"batchnorm: dtypes must match, got {x.dtype}, {gamma.dtype}, "
                         f"{beta.dtype}")


def _per_channel(v):
    return v[None, :, None, None]  # (C,) -> (1, C, 1, 1)


def batchnorm_forward(x, gamma, beta, eps: float = EPS):
    """Training-mode forward pass with the batch's statistics.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), with ``N*H*W >= 2``.
    gamma, beta : ndarray, shape (C,), the weight and bias.
    eps : float

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : BatchNormCache
    stats : BatchStats, for :func:`running_update`.
    """
    _check(x, gamma, beta)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    if m < 2:
        raise ValueError(f"batchnorm: training mode needs more than 1 value per channel, "
                         f"got input of shape {x.shape}")
    mean = x.mean(axis=(0, 2, 3))  # (N, C, H, W) -> (C,)
    xc = x - _per_channel(mean)
    var = np.mean(xc * xc, axis=(0, 2, 3))  # biased
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    xhat = xc * _per_channel(inv_std)
    out = xhat * _per_channel(gamma) + _per_channel(beta)
    return out, BatchNormCache(xhat, inv_std, gamma), BatchStats(mean, var, m)


def batchnorm_backward(dout, cache: BatchNormCache):
    """Training-mode backward pass, through the batch statistics (module docstring).

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (C,)
    """
    xhat, inv_std, gamma = cache
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3))
    m = xhat.shape[0] * xhat.shape[2] * xhat.shape[3]
    # g = dout * gamma; mean(g) = gamma dbeta / M; mean(g xhat) = gamma dgamma / M
    dx = dout - _per_channel(dbeta / m) - xhat * _per_channel(dgamma / m)
    dx *= _per_channel(gamma * inv_std)
    return dx, dgamma, dbeta


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps: float = EPS):
    """Evaluation-mode forward pass: ``gamma (x - running_mean) / sqrt(running_var + eps) +
    beta``, affine in ``x``. Returns ``out`` (N, C, H, W) and a cache for
    :func:`batchnorm_eval_backward`."""
    _check(x, gamma, beta)
    running_mean, running_var = (np.asarray(a, dtype=x.dtype) for a in (running_mean, running_var))
    inv_std = 1.0 / np.sqrt(running_var + x.dtype.type(eps))
    xhat = (x - _per_channel(running_mean)) * _per_channel(inv_std)
    return xhat * _per_channel(gamma) + _per_channel(beta), BatchNormCache(xhat, inv_std, gamma)


def batchnorm_eval_backward(dout, cache: BatchNormCache):
    """Evaluation-mode backward pass: the statistics are constants. Returns ``dx``, ``dgamma``,
    ``dbeta``."""
    xhat, inv_std, gamma = cache
    return (dout * _per_channel(gamma * inv_std), np.sum(dout * xhat, axis=(0, 2, 3)),
            dout.sum(axis=(0, 2, 3)))


def running_update(running_mean, running_var, stats: BatchStats, momentum: float = MOMENTUM):
    """PyTorch's update of the running statistics (new arrays; the old ones are not modified):
    ``(1 - m) running + m batch``, with the unbiased variance ``var M / (M - 1)``."""
    m = stats.count
    unbiased = stats.var * (m / (m - 1))
    keep = 1.0 - momentum
    return keep * running_mean + momentum * stats.mean, keep * running_var + momentum * unbiased


def batchnorm_forward_naive(x, gamma, beta, eps: float = EPS):
    """Loop reference of :func:`batchnorm_forward`: returns ``out`` and ``(mean, var)``."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    mean, var = np.empty(c, dtype=x.dtype), np.empty(c, dtype=x.dtype)
    for k in range(c):
        values = [x[a, k, i, j] for a in range(n) for i in range(h) for j in range(w)]
        mu = sum(values) / len(values)
        v = sum((t - mu) ** 2 for t in values) / len(values)
        mean[k], var[k] = mu, v
        for a in range(n):
            for i in range(h):
                for j in range(w):
                    out[a, k, i, j] = gamma[k] * (x[a, k, i, j] - mu) / np.sqrt(v + eps) + beta[k]
    return out, (mean, var)
