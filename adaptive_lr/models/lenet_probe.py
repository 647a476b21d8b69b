"""Fused probes of LeNet: the losses ``L(w - c_k d)`` at ``P`` step sizes ``c_k`` (Eq. 3-4) with
every layer run once on all probes and, given the gradient's cache, conv1's input not unfolded
again.

conv1 is linear in its weights, so its pre-activations at the probe points are ``Z1 - c_k Zd1``,
with ``Z1`` the pre-activations at ``w`` that the gradient's pass kept
(:class:`~adaptive_lr.models.lenet_layers.LeNetCache`) and ``Zd1 = conv(X, D1) + db1`` one product
by kernel rows with 6 filters on the width-unfolded ``X``, also kept. The probes differ from
``conv(X, W1 - c_k D1)`` by rounding only. The rest of the network runs on the ``P`` probes stacked
along a leading axis, each with its own parameters, as batched matrix products, on chunks of
``CHUNK`` examples so that the ``P``-fold stacked arrays stay small. Activations stay batch-last,
``(P, C, H, W, n)``, like those of the gradient's pass
(:mod:`~adaptive_lr.models.lenet_layers`).
"""

from __future__ import annotations

import numpy as np

from ..fast.chunks import example_chunks, map_chunks
from ..fast.conv_rows import conv_rows_batch_last, kernel_rows, rows_matmul
from ..fast.pool import max_pool_relu_batch_last
from ..fast.unfold import unfold_width
from ..nn import cross_entropy_per_example, dropout_forward, relu_forward
from ..params import Layout, unflatten
from .lenet_layers import CHUNK, KERNEL, LeNetCache, LeNetNoise, chunk_noise


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
    """Parameters ``names`` at the probe points ``w - c[k] * d``: ``{name: (P, *shape)}``, each a
    new C-contiguous array (NumPy's stacked matmul hands BLAS only stacks of suitably strided
    matrices). ``W, D`` are the unflattened ``w, d``, ``c`` (P,) the step sizes.
    """
    return {
        name: W[name] - c.reshape(-1, *[1] * W[name].ndim) * D[name]  # (P, *shape)
        for name in names
    }


def _conv1_probes(W, D, c, X, s, cache: LeNetCache | None) -> np.ndarray:
    """conv1, ReLU and pooling of the examples ``s`` at the ``P`` probe points ``w - c[k] d``:
    (P, 6, OH1/2, OW1/2, n), batch-last.

    conv1 is linear in its weights, so its pre-activations there are ``Z1 - c[k] Zd1`` with ``Z1``
    the pre-activations at ``w`` (kept by the gradient's pass) and ``Zd1 = conv(X, D1) + db1`` one
    product by kernel rows on the width-unfolded ``X[s]`` (also kept); without a cache, one
    product by kernel rows computes both. ``W, D`` are the unflattened ``w, d``, ``c`` (P,) the
    probes' step sizes, ``X`` (N, C, H, W). One probe after the other, so that the probe's
    pre-activations are one (6, OH1*OW1*n) temporary, reused, not a P-fold one.
    """
    n = s.stop - s.start
    oh, ow = X.shape[2] - KERNEL + 1, X.shape[3] - KERNEL + 1  # conv1's output size
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


def _tail_losses(h1, p, noise: LeNetNoise | None, dropout: float, y) -> np.ndarray:
    """Per-example losses (P, n) from conv1's pooled activations h1 (P, 6, OH1/2, OW1/2, n).

    The layers of :func:`~adaptive_lr.models.lenet_layers.tail_forward`, each probe with its own
    parameters ``p`` {name: (P, *shape)}: conv2 by kernel rows on the width-unfolded input
    (:func:`~adaptive_lr.fast.conv_rows.conv_rows_batch_last`), pooling on runs of ``n``, and the
    flattened features ``(P, 16*S*S, n)``, a free reshape, multiplied from the left (``W @ h``).
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
            h = dropout_forward(h, noise[i].T, dropout)[0]  # keep (n, D) -> (D, n)
    logits = p["fc3.weight"] @ h  # (P, K, 84) @ (P, 84, n) -> (P, K, n)
    logits += p["fc3.bias"][..., None]  # (P, K) -> (P, K, 1)
    return cross_entropy_per_example(logits.swapaxes(1, 2), y)[0]  # (P, n, K) -> (P, n)


def fused_line_losses(
    w, d, etas, X, y, noise: LeNetNoise | None, cache: LeNetCache | None, *,
    X_arg, layout: Layout, dropout: float, threads: int = 1,
) -> np.ndarray:
    """``[L(w - eta*d) for eta in etas]``; see :meth:`~adaptive_lr.models.lenet.LeNet.line_losses`.

    Parameters
    ----------
    w, d : ndarray, shape (n_params,), checked, one dtype (the compute dtype).
    etas : array_like, shape (P,), finite.
    X : ndarray, shape (N, C, H, W), checked and cast to the dtype of ``w``; ``y`` (N,) labels.
    noise : LeNetNoise or None; cache : LeNetCache from the gradient's pass on this batch, or None.
    X_arg : the ``X`` the caller passed (the cache remembers it).
    layout : the model's parameter layout; dropout : its drop probability; threads : workers.

    Returns
    -------
    losses : ndarray, shape (P,), float64: every layer in the dtype of ``w``, the mean over the
        batch summed in float64 (no noisier than separate evaluations:
        ``tests/test_probe_noise.py``).
    """
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or not np.all(np.isfinite(etas)):
        raise ValueError(f"etas must be a 1-D array of finite numbers, got {etas!r}")
    if etas.shape[0] == 0:
        return np.empty(0)
    if cache is not None:
        check_cache(cache, w, X_arg, X)
    c = etas.astype(w.dtype)  # (P,), as the plain probe's w.dtype.type(eta)
    W, D = unflatten(w, layout), unflatten(d, layout)
    # conv1 needs no probe weights (see _conv1_probes)
    p = probe_params(W, D, c, [name for name in W if not name.startswith("conv1.")])
    n = X.shape[0]

    def chunk(s):
        h1 = _conv1_probes(W, D, c, X, s, cache)
        losses = _tail_losses(h1, p, chunk_noise(noise, s), dropout, y[s])  # (P, n_s)
        return losses.sum(axis=1, dtype=np.float64)  # (P,)

    # The mean over the batch is summed in float64: in float32 its rounding (~u |L|) would be
    # as large as the second difference the probes must resolve, and independent per probe
    # (float32 noise of that second difference, CIFAR-10, batch 32, eta = 0.1: 6.2e-8 against
    # 1.7e-7 for five separate loss evaluations; python benchmarks/probe_noise.py --only
    # lenet). In float64 summing in float64 changes nothing, bit for bit.
    total = np.zeros(c.shape[0], dtype=np.float64)
    for part in map_chunks(chunk, example_chunks(n, CHUNK), threads):
        total += part  # in chunk order, whatever the number of threads
    return total / n
