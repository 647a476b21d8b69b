"""Fused probes of LeNet (DESIGN.md, idea 4): ``L(w - c_k d)`` for ``P`` step sizes ``c_k``
without unfolding the input again and with every layer run once on all probes.

conv1 reuses the pre-activations ``Z1`` and the width-unfolded ``X`` that the gradient's forward
pass kept (:class:`~adaptive_lr.models.lenet.LeNetCache`): conv1 is linear in its weights, so its
pre-activations at the ``P`` probe points are ``Z1 - c_k Zd1``, with ``Zd1`` the convolution of
``X`` with the direction's conv1 weights, one product by kernel rows with 6 filters. Measured per
chunk of 64 images in float32: 1.6 ms, against 3.3 ms for one product of the ``(P*6, C*25)``
stacked probe weights with a kept im2col (which cost 60 MiB at batch 256) and 3.5-7 ms for the
stacked weights by kernel rows. The probes differ from ``conv(X, W1 - c_k D1)`` by rounding only.
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
from ..nn.conv_rows import conv_rows_batch_last, kernel_rows, rows_matmul
from ..nn.im2col import unfold_width
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


def probe_params(W, D, c, names) -> dict[str, np.ndarray]:
    """Parameters ``names`` at the probe points ``w - c[k] * d``: {name: (P, *shape)}, each
    C-contiguous (NumPy's stacked matmul calls BLAS only on contiguous stacks; a strided one is
    ~3x slower). ``W, D`` are the unflattened ``w, d``, ``c`` (P,) the step sizes.
    """
    return {
        name: W[name] - c.reshape(-1, *[1] * W[name].ndim) * D[name]  # (P, *shape)
        for name in names
    }


def _conv1_probes(model: LeNet, W, D, c, X, s, cache: LeNetCache | None) -> np.ndarray:
    """conv1, ReLU and pooling of the examples ``s`` at the ``P`` probe points ``w - c[k] d``,
    channel-major: (P, 6, OH1/2, OW1/2, n) batch-last.

    conv1 is linear in its weights, so they are ``Z1 - c[k] Zd1`` with ``Z1`` the pre-activations
    at ``w`` (kept by the gradient's pass) and ``Zd1 = conv(X, D1) + db1`` one product by kernel
    rows on the width-unfolded ``X[s]`` (also kept). ``W, D`` are the unflattened ``w, d``,
    ``c`` (P,) the probes' step sizes. One probe after the other, so that the pre-activations
    are a (6, OH1*OW1*n) temporary, not a P-fold one (float64, batch 256: ~10,000 fewer page
    faults per step).
    """
    n = s.stop - s.start
    oh, ow = model.conv1_size
    step, size = ow * n, oh * ow * n
    if cache is not None:
        u1 = cache.u1[s.start // CHUNK]  # (C*5, H*OW1*n)
        z1 = cache.z1[s.start // CHUNK].reshape(6, size)  # (6, OH1, OW1, n) -> (6, OH1*OW1*n)
        zd1 = rows_matmul(kernel_rows(D["conv1.weight"]), u1, step, size)  # (6, OH1*OW1*n)
    else:
        xt = np.ascontiguousarray(X[s].transpose(1, 2, 3, 0))  # (n,C,H,W) -> (C,H,W,n)
        u1 = unfold_width(xt, KERNEL)  # -> (C*5, H*OW1*n)
        # W1 and D1 stacked: (2*6, C, 5, 5) -> (5, 12, C*5), one product for both
        w_rows = kernel_rows(np.concatenate([W["conv1.weight"], D["conv1.weight"]]))
        both = rows_matmul(w_rows, u1, step, size)  # (12, OH1*OW1*n)
        z1, zd1 = both[:6], both[6:]  # (6, OH1*OW1*n) each
        z1 += W["conv1.bias"][:, None]  # (6,) -> (6, 1)
    zd1 += D["conv1.bias"][:, None]  # (6,) -> (6, 1)
    z1_k = np.empty_like(zd1)  # (6, OH1*OW1*n)
    h1 = np.empty((c.shape[0], 6, oh // 2, ow // 2, n), dtype=zd1.dtype)
    for k in range(c.shape[0]):
        np.multiply(zd1, -c[k], out=z1_k)
        z1_k += z1
        # (6, OH1*OW1*n) -> (6, OH1, OW1, n) -> pooled (6, OH1/2, OW1/2, n)
        h1[k] = max_pool_relu_batch_last(z1_k.reshape(6, oh, ow, n))[0]
    return h1


def _tail_losses(model: LeNet, h1, p, noise: LeNetNoise | None, y) -> np.ndarray:
    """Per-example losses (P, n) from conv1's pooled activations h1 (P, 6, OH1/2, OW1/2, n).

    The activations stay batch-last, ``(P, C, H, W, n)``, like those of the gradient's pass:
    conv2 runs by kernel rows on the width-unfolded input
    (:func:`~adaptive_lr.nn.conv_rows.conv_rows_batch_last`), pooling compares runs of ``n``, and
    the flattened features ``(P, 16*S*S, n)`` are a free reshape that the dense layers multiply from
    the left (``W @ h``).
    """
    n_probes, n = h1.shape[0], h1.shape[-1]
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
    W, D = model.unflatten(w), model.unflatten(d)
    # conv1 needs no probe weights (see _conv1_probes)
    p = probe_params(W, D, c, [name for name in W if not name.startswith("conv1.")])
    n = X.shape[0]

    def chunk(s):
        h1 = _conv1_probes(model, W, D, c, X, s, cache)
        return _tail_losses(model, h1, p, chunk_noise(noise, s), y[s]).sum(axis=1)  # (P,)

    total = np.zeros(c.shape[0], dtype=w.dtype)
    for part in map_chunks(chunk, model._chunks(n, CHUNK), model.threads):
        total += part  # in chunk order, whatever the number of threads
    return (total / n).astype(np.float64)  # mean in w's dtype, like loss()
