"""Fused probes of LeNet (DESIGN.md, idea 4): ``L(w - c_k d)`` for ``P`` step sizes ``c_k``
without a second im2col of the input and with every layer run once on all probes.

conv1 reuses the im2col of ``X`` that the gradient's forward pass kept
(:class:`~adaptive_lr.models.lenet.LeNetCache`): its pre-activations at the ``P`` probe points are
one product ``[W1 - c_k D1]_k @ cols1`` of the ``(P*6, C*25)`` stacked weights (measured: 2-3x
faster than ``Z1 - c_k Zd1``, which needs a second product and a pass over a ``P``-fold array).
The rest of the network runs on the ``P`` probes stacked along a leading axis, each with its own
parameters, as batched matrix products, on chunks of examples so that the ``P``-fold stacked
arrays stay small. Activations stay channel-major, ``(P, C, n, H, W)``, as the products leave
them, so pooling reads contiguous rows.
"""

from __future__ import annotations

import numpy as np

from ..nn import (
    cross_entropy_per_example,
    dropout_forward,
    relu_forward,
)
from ..nn.chunks import map_chunks
from ..nn.conv import conv_rows_batch_last, wide_matmul
from ..nn.im2col import im2col_batch_last
from ..nn.pool import max_pool_relu_batch_last
from .lenet import CHUNK, KERNEL, LeNet, LeNetCache, LeNetNoise, chunk_noise


def check_cache(cache, w, X_arg, X) -> None:
    """Raise ``ValueError`` unless ``cache`` comes from ``forward_backward(w, X_arg, ...)``."""
    if not isinstance(cache, LeNetCache):
        raise ValueError(f"cache must be a LeNetCache from forward_backward, got {type(cache)}")
    if cache.w.dtype != w.dtype or cache.n != X.shape[0]:
        raise ValueError("cache was computed for another dtype or batch size")
    same_x = cache.X is X_arg or np.array_equal(np.asarray(cache.X), X_arg)
    if not (same_x and np.array_equal(cache.w, w)):
        raise ValueError("cache was computed at another w or on another batch X")


def probe_params(model: LeNet, w, d, c) -> dict[str, np.ndarray]:
    """Parameters at the probe points ``w - c[k] * d``: {name: (P, *shape)}, each C-contiguous
    (NumPy's stacked matmul calls BLAS only on contiguous stacks; a strided one is ~3x slower).
    """
    W, D = model.unflatten(w), model.unflatten(d)
    return {
        name: W[name] - c.reshape(-1, *[1] * W[name].ndim) * D[name]  # (P, *shape)
        for name in W
    }


def _conv1_probes(model: LeNet, p, X, s, cache: LeNetCache | None) -> np.ndarray:
    """conv1 pre-activations of the examples ``s`` at the ``P`` probe points, channel-major:
    (P, 6, OH1, OW1, n) batch-last, one product of the stacked probe weights with the im2col of
    ``X[s]``."""
    n = s.stop - s.start
    oh, ow = model.conv1_size
    if cache is not None:
        cols1 = cache.cols1[s.start // CHUNK]  # (C*25, OH1*OW1*n)
    else:
        xt = np.ascontiguousarray(X[s].transpose(1, 2, 3, 0))  # (n,C,H,W) -> (C,H,W,n)
        cols1 = im2col_batch_last(xt, KERNEL, KERNEL)  # -> (C*25, OH1*OW1*n)
    w1 = p["conv1.weight"]  # (P, 6, C, 5, 5)
    w_mat = w1.reshape(-1, cols1.shape[0])  # (P, 6, C, 5, 5) -> (P*6, C*25)
    z1 = wide_matmul(w_mat, cols1)  # (P*6, C*25) @ (C*25, OH1*OW1*n) -> (P*6, OH1*OW1*n)
    z1 = z1.reshape(w1.shape[0], 6, oh * ow * n)  # (P*6, OH1*OW1*n) -> (P, 6, OH1*OW1*n)
    z1 += p["conv1.bias"][..., None]  # (P, 6) -> (P, 6, 1)
    return z1.reshape(-1, 6, oh, ow, n)  # (P, 6, OH1*OW1*n) -> (P, 6, OH1, OW1, n)


def _tail_losses(model: LeNet, z1, p, noise: LeNetNoise | None, y) -> np.ndarray:
    """Per-example losses (P, n) from conv1's pre-activations z1 (P, 6, OH1, OW1, n).

    The activations stay batch-last, ``(P, C, H, W, n)``, like those of the gradient's pass:
    conv2 runs by kernel rows on the width-unfolded input
    (:func:`~adaptive_lr.nn.conv.conv_rows_batch_last`), pooling compares runs of ``n``, and the
    flattened features ``(P, 16*S*S, n)`` are a free reshape that the dense layers multiply from
    the left (``W @ h``).
    """
    n_probes, n = z1.shape[0], z1.shape[-1]
    h1 = max_pool_relu_batch_last(z1)[0]  # (P, 6, OH1/2, OW1/2, n)
    z2 = conv_rows_batch_last(h1, p["conv2.weight"], p["conv2.bias"])  # (P, 16, OH2, OW2, n)
    h2 = max_pool_relu_batch_last(z2)[0]  # (P, 16, S, S, n)
    h = h2.reshape(n_probes, -1, n)  # (P, 16, S, S, n) -> (P, 16*S*S, n)
    for i, layer in enumerate(("fc1", "fc2")):
        z = p[f"{layer}.weight"] @ h  # (P, D_out, D_in) @ (P, D_in, n) -> (P, D_out, n)
        z += p[f"{layer}.bias"][..., None]  # (P, D_out) -> (P, D_out, 1)
        h = relu_forward(z)[0]
        if noise is not None:
            h = dropout_forward(h, noise[i].T, model.dropout)[0]  # keep (n, D) -> (D, n)
    logits = p["fc3.weight"] @ h  # (P, K, 84) @ (P, 84, n) -> (P, K, n)
    logits += p["fc3.bias"][..., None]  # (P, K) -> (P, K, 1)
    return cross_entropy_per_example(logits.swapaxes(1, 2), y)[0]  # (P, n, K) -> (P, n)


def fused_line_losses(
    model: LeNet, w, d, etas, X, y, noise: LeNetNoise | None, cache: LeNetCache | None, X_arg
) -> np.ndarray:
    """``[L(w - eta*d) for eta in etas]``; see :meth:`LeNet.line_losses`.

    ``w, d, X, y, noise`` are checked and converted; ``X_arg`` is the ``X`` the caller passed
    (the cache remembers it). Returns a float64 array (P,), computed in the dtype of ``w``.
    """
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or not np.all(np.isfinite(etas)):
        raise ValueError(f"etas must be a 1-D array of finite numbers, got {etas!r}")
    if etas.shape[0] == 0:
        return np.empty(0)
    if cache is not None:
        check_cache(cache, w, X_arg, X)
    c = etas.astype(w.dtype)  # (P,), as the plain probe's w.dtype.type(eta)
    p = probe_params(model, w, d, c)
    n = X.shape[0]

    def chunk(s):
        z1 = _conv1_probes(model, p, X, s, cache)
        return _tail_losses(model, z1, p, chunk_noise(noise, s), y[s]).sum(axis=1)  # (P,)

    total = np.zeros(c.shape[0], dtype=w.dtype)
    for part in map_chunks(chunk, model._chunks(n, CHUNK), model.threads):
        total += part  # in chunk order, whatever the number of threads
    return (total / n).astype(np.float64)  # mean in w's dtype, like loss()
