"""LeNet's fast kernels against the textbook layers: the same network built from
:mod:`adaptive_lr.nn` only (convolution by im2col on (N, C, H, W), ReLU, max pooling, dense,
dropout with the same masks, softmax cross-entropy; the gradient from their backward functions)
gives LeNet's loss, gradient and probe losses to rounding, in float64.

Bound. Both compute the same real numbers with the sums in other orders (kernel rows against
im2col, batch-last against batch-first, chunks of examples, pooling before ReLU: max and ReLU
commute exactly). Each result is a chain of fewer than n = 3000 roundings (the longest sums: dW of
conv1, over N*OH1*OW1 = 4*28*28 positions, after the chain of the backward pass). Rounding errors
of independent signs keep each side within ``lambda sqrt(n) u S`` of the exact value, ``S`` the
size of the terms summed, except with probability ``2 exp(-lambda^2 / 2)`` (Higham and Mary,
SIAM J. Sci. Comput. 2019); with ``lambda = 3`` the two sides differ by at most
``2 * 3 * sqrt(3000) * u * S = 3.7e-14 S``. For the loss and the probe losses ``S ~ |L|`` (a mean
of positive per-example losses, each a well-conditioned log-sum-exp). For the gradient of one
tensor, ``S <= 100 ||grad_tensor||``: the last sums (``dW = D @ cols.T``, ``db = sum D``) cancel
by factors up to ~20 here (conv1). Ties between positive entries of a pooling window and ReLU
inputs exactly at 0 happen with probability 0 for Gaussian inputs; a window whose entries are all
negative ties at 0 after ReLU, but its gradient is 0 both ways. The differences seen are a few
ulps.
"""

import numpy as np
import pytest

from adaptive_lr.models.lenet import LeNet
from adaptive_lr.nn import (
    conv_backward,
    conv_forward,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    max_pool_backward,
    max_pool_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

LOSS_RTOL = 5e-14  # 3.7e-14 relative to |L| (module docstring)
GRAD_RTOL = 5e-12  # 3.7e-14 S with S <= 100 ||grad_tensor||, per tensor (module docstring)


def textbook_forward(model, p, X, noise):
    """LeNet's forward pass from the textbook layers on (N, C, H, W): logits (N, classes) and the
    caches of the layers."""
    c = {}
    h = X  # (N, C, H, W)
    for layer in ("conv1", "conv2"):
        z, c[layer] = conv_forward(h, p[f"{layer}.weight"], p[f"{layer}.bias"])  # (N, F, OH, OW)
        a, c[f"relu_{layer}"] = relu_forward(z)
        h, c[f"pool_{layer}"] = max_pool_forward(a)  # (N, F, OH//2, OW//2)
    c["pooled_shape"] = h.shape  # (N, 16, S, S)
    h = h.reshape(h.shape[0], -1)  # (N, 16, S, S) -> (N, 16*S*S), PyTorch's flatten(1)
    for i, layer in enumerate(("fc1", "fc2")):
        z, c[layer] = dense_forward(h, p[f"{layer}.weight"], p[f"{layer}.bias"])  # (N, D_out)
        h, c[f"relu_{layer}"] = relu_forward(z)
        if noise is not None:
            h, c[f"drop_{layer}"] = dropout_forward(h, noise[i], model.dropout)
    logits, c["fc3"] = dense_forward(h, p["fc3.weight"], p["fc3.bias"])  # (N, classes)
    return logits, c


def textbook_loss_and_grad(model, w, X, y, noise):
    """Mean cross-entropy and its gradient (flat, in the order of ``model.layout``) from the
    textbook layers' forward and backward functions."""
    logits, c = textbook_forward(model, model.unflatten(w), X, noise)
    loss, loss_cache = softmax_cross_entropy_forward(logits, y)
    g = {}
    d = softmax_cross_entropy_backward(1.0, loss_cache)  # (N, classes)
    d, g["fc3.weight"], g["fc3.bias"] = dense_backward(d, c["fc3"])
    for layer in ("fc2", "fc1"):
        if noise is not None:
            d = dropout_backward(d, c[f"drop_{layer}"])
        d = relu_backward(d, c[f"relu_{layer}"])
        d, g[f"{layer}.weight"], g[f"{layer}.bias"] = dense_backward(d, c[layer])
    d = d.reshape(c["pooled_shape"])  # (N, 16*S*S) -> (N, 16, S, S)
    for layer in ("conv2", "conv1"):
        d = max_pool_backward(d, c[f"pool_{layer}"])  # (N, F, OH, OW)
        d = relu_backward(d, c[f"relu_{layer}"])
        d, g[f"{layer}.weight"], g[f"{layer}.bias"] = conv_backward(
            d, c[layer], compute_dx=layer == "conv2"
        )
    return loss, np.concatenate([g[name].ravel() for name, _ in model.layout])


@pytest.mark.parametrize(
    "shape, dropout",
    [((3, 32), 0.5), ((1, 28), 0.5), ((3, 32), 0.0), ((2, 21), 0.3)],
    ids=["cifar", "mnist", "cifar-no-dropout", "odd-21"],
)
def test_lenet_equals_the_network_of_textbook_layers(shape, dropout):
    channels, size = shape
    model = LeNet(in_channels=channels, n_classes=10, image_size=size, dropout=dropout)
    rng = np.random.default_rng(20)
    w = model.init_params(rng)
    X = rng.standard_normal((4, channels, size, size))
    y = rng.integers(0, 10, 4)
    noise = model.sample_noise(rng, 4)  # the same masks for both networks
    out = model.forward_backward(w, X, y, noise=noise)
    loss, grad = textbook_loss_and_grad(model, w, X, y, noise)
    assert abs(out.loss - loss) <= LOSS_RTOL * abs(loss)
    fast, textbook = model.unflatten(out.grad), model.unflatten(grad)
    for name in textbook:  # every tensor on its own, so that none hides in the others' norm
        error = np.linalg.norm(fast[name] - textbook[name])
        assert error <= GRAD_RTOL * np.linalg.norm(textbook[name]), name
    # the fused probes: L(w - eta d) against the textbook loss at w - eta d
    d = rng.standard_normal(w.size) * 1e-2
    etas = np.array([0.0, 0.5, 1.0])
    probes = model.line_losses(w, d, etas, X, y, noise=noise, cache=out.cache)
    textbook = [textbook_loss_and_grad(model, w - eta * d, X, y, noise)[0] for eta in etas]
    np.testing.assert_allclose(probes, textbook, rtol=LOSS_RTOL, atol=0)

