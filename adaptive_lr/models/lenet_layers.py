"""LeNet's layers on batch-last activations, shared by the gradient's pass
(:mod:`adaptive_lr.models.lenet`) and the fused probes (:mod:`adaptive_lr.models.lenet_probe`).

Activations after conv1 are batch-last, ``(C, H, W, N)``: the convolutions' unfold and fold then
move runs of ``OW*N`` numbers and pooling compares runs of ``N``. The flattened features
``(16*S*S, N)`` are transposed (a view) into the ``(N, 16*S*S)`` rows of the dense layers, in the
order ``(c, h, w)`` of PyTorch's ``flatten(1)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..fast.conv_rows import (
    ConvRowsCache,
    conv_rows_backward_batch_last,
    conv_rows_forward_batch_last,
)
from ..fast.pool import max_pool_relu_batch_last, max_pool_relu_batch_last_backward
from ..nn import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    relu_backward,
    relu_forward,
)

KERNEL = 5  # both convolutions are 5x5, stride 1, no padding
MIN_IMAGE = 16  # smallest side that survives conv 5 -> pool 2 -> conv 5 -> pool 2
CHUNK = 64  # examples per chunk of forward_backward and of the fused probes


class LeNetNoise(NamedTuple):
    """Dropout keep-masks of one step (True = kept); bool, so valid for float32 and float64."""

    keep1: np.ndarray  # (N, 120), after fc1
    keep2: np.ndarray  # (N, 84), after fc2


class LeNetCache(NamedTuple):
    """Forward cache of :meth:`~adaptive_lr.models.lenet.LeNet.forward_backward` that a probe on
    the same batch reuses, one entry per chunk of ``CHUNK`` examples."""

    X: object  # the X argument, as passed (identity check)
    w: np.ndarray  # copy of w
    n: int  # number of examples
    u1: tuple  # per chunk of n_s examples: (C*5, H*OW1*n_s), the width-unfolded X[s], batch-last
    z1: tuple  # per chunk of n_s examples: (6, OH1, OW1, n_s), conv1's pre-activations at w


def check_image_size(h: int, w: int, what: str) -> None:
    """A clear error for images too small for the two 5x5 convolutions and 2x2 poolings."""
    if min(h, w) < MIN_IMAGE:
        raise ValueError(f"{what}: images of {h}x{w} are too small for LeNet's two 5x5 "
                         f"convolutions and 2x2 poolings (at least {MIN_IMAGE}x{MIN_IMAGE})")


def chunk_noise(noise: LeNetNoise | None, s: slice) -> LeNetNoise | None:
    """The masks of the examples ``s`` of a batch (views)."""
    return None if noise is None else LeNetNoise(noise.keep1[s], noise.keep2[s])


def conv1_forward(p: dict, X: np.ndarray):
    """conv1 by kernel rows: ``Z1 = conv(X, W1) + b1``.

    Parameters
    ----------
    p : dict of the parameters (``conv1.weight`` (6, C, 5, 5), ``conv1.bias`` (6,), ...).
    X : ndarray, shape (N, C, H, W)

    Returns
    -------
    z1 : ndarray, shape (6, OH1, OW1, N), batch-last, ``OH1 = H - 4``.
    cache : ConvRowsCache, whose ``u`` (C*5, H*OW1*N) is the width-unfolded ``X``.
    """
    xt = np.ascontiguousarray(X.transpose(1, 2, 3, 0))  # (N,C,H,W) -> (C,H,W,N)
    return conv_rows_forward_batch_last(xt, p["conv1.weight"], p["conv1.bias"])


def tail_forward(z1: np.ndarray, p: dict, noise: LeNetNoise | None, dropout: float):
    """Everything after conv1's pre-activations: ``relu(pool(z1)) -> conv2 -> relu(pool) ->
    flatten -> fc1 -> relu -> dropout -> fc2 -> relu -> dropout -> fc3``.

    Parameters
    ----------
    z1 : ndarray, shape (6, OH1, OW1, N), batch-last.
    p : dict of the parameters.
    noise : LeNetNoise or None (no dropout).
    dropout : float, the drop probability of both dropout layers.

    Returns
    -------
    logits : ndarray, shape (N, n_classes)
    caches : dict of the layers' caches, for :func:`backward`.
    """
    c = {}
    h1, c["pool1"] = max_pool_relu_batch_last(z1)  # (6, OH1/2, OW1/2, N)
    z2, c["conv2"] = conv_rows_forward_batch_last(h1, p["conv2.weight"], p["conv2.bias"])
    h2, c["pool2"] = max_pool_relu_batch_last(z2)  # (16, S, S, N)
    h = h2.reshape(-1, h2.shape[-1]).T  # (16, S, S, N) -> (16*S*S, N) -> (N, 16*S*S), a view
    for i, layer in enumerate(("fc1", "fc2")):
        z, c[layer] = dense_forward(h, p[f"{layer}.weight"], p[f"{layer}.bias"])  # (N, D_out)
        h, c[f"relu_{layer}"] = relu_forward(z)
        if noise is not None:
            h, c[f"drop_{layer}"] = dropout_forward(h, noise[i], dropout)
    logits, c["fc3"] = dense_forward(h, p["fc3.weight"], p["fc3.bias"])  # (N, n_classes)
    return logits, c


def backward(dlogits: np.ndarray, c: dict, conv1_cache: ConvRowsCache, g: dict) -> None:
    """Backward pass of :func:`tail_forward` and :func:`conv1_forward`, from the gradient of the
    loss with respect to the logits, ``dlogits`` (N, n_classes).

    Adds each parameter's gradient onto the views ``g`` (one per parameter, like ``p``); conv1
    computes no input gradient.
    """

    def add(name, dW, db):
        g[f"{name}.weight"] += dW
        g[f"{name}.bias"] += db

    dh, *d = dense_backward(dlogits, c["fc3"])  # (N, 84)
    add("fc3", *d)
    for layer in ("fc2", "fc1"):
        if f"drop_{layer}" in c:
            dh = dropout_backward(dh, c[f"drop_{layer}"])
        dh = relu_backward(dh, c[f"relu_{layer}"])
        dh, *d = dense_backward(dh, c[layer])  # (N, D_in)
        add(layer, *d)
    dh2 = dh.T.reshape(c["pool2"].out.shape)  # (N, 16*S*S) -> (16*S*S, N) -> (16, S, S, N)
    dz2 = max_pool_relu_batch_last_backward(dh2, c["pool2"])  # (16, OH2, OW2, N)
    dh1, *d = conv_rows_backward_batch_last(dz2, c["conv2"])  # (6, OH1/2, OW1/2, N)
    add("conv2", *d)
    dz1 = max_pool_relu_batch_last_backward(dh1, c["pool1"])  # (6, OH1, OW1, N)
    add("conv1", *conv_rows_backward_batch_last(dz1, conv1_cache, compute_dx=False)[1:])
