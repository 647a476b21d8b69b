"""LeNet: PyTorch names and shapes, gradient against differences of its own loss, dropout as an
explicit input, fused probes against plain ones, dtypes, and clear errors on bad input."""

import numpy as np
import pytest

from adaptive_lr.models.base import Model
from adaptive_lr.models.lenet import LeNet, LeNetNoise

CIFAR = dict(in_channels=3, n_classes=10, image_size=32)
MNIST = dict(in_channels=1, n_classes=10, image_size=28)


def batch(model, n, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    h, w = model.image_size
    X = rng.standard_normal((n, model.in_channels, h, w)).astype(dtype)
    y = rng.integers(0, model.n_classes, n)
    return X, y


def test_unflatten_uses_pytorch_names_and_shapes():
    model = LeNet(**CIFAR)
    views = model.unflatten(model.init_params(np.random.default_rng(0)))
    assert {k: v.shape for k, v in views.items()} == {
        "conv1.weight": (6, 3, 5, 5), "conv1.bias": (6,),
        "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
        "fc1.weight": (120, 400), "fc1.bias": (120,),
        "fc2.weight": (84, 120), "fc2.bias": (84,),
        "fc3.weight": (10, 84), "fc3.bias": (10,),
    }  # fmt: skip
    assert model.num_params == 62006  # PyTorch's count for this LeNet
    mnist = LeNet(**MNIST)
    assert dict(mnist.layout)["fc1.weight"] == (120, 256)  # 16 * 4 * 4
    assert dict(mnist.layout)["conv1.weight"] == (6, 1, 5, 5)


def test_init_params_is_pytorch_like_and_dtype_independent():
    model = LeNet(**CIFAR)
    w64 = model.init_params(np.random.default_rng(1))
    w32 = model.init_params(np.random.default_rng(1), np.float32)
    assert w64.dtype == np.float64 and w32.dtype == np.float32 and w64.flags.c_contiguous
    np.testing.assert_array_equal(w32, w64.astype(np.float32))
    views = model.unflatten(w64)
    assert np.abs(views["fc1.weight"]).max() <= 1 / np.sqrt(400)
    assert np.abs(views["conv1.bias"]).max() <= 1 / np.sqrt(75)


@pytest.mark.parametrize("shape", [CIFAR, MNIST], ids=["cifar", "mnist"])
def test_gradient_matches_central_differences_of_the_loss(shape):
    """float64, dropout on. Central differences with h = 1e-5 err by h^2/6 |f'''| (~1e-10 * |f'''|)
    plus rounding eps_mach |f| / h ~ 2.2e-16 * 2.3 / 1e-5 ~ 5e-11 per coordinate. Over 40 random
    coordinates with ||g_S|| ~ 1e-2 that is a relative error ~ 1e-8: we require 1e-7."""
    model = LeNet(**shape, dropout=0.5)
    rng = np.random.default_rng(2)
    w = model.init_params(rng)
    X, y = batch(model, 3)
    noise = model.sample_noise(rng, 3)
    loss, grad, _ = model.forward_backward(w, X, y, noise=noise)
    assert grad.shape == w.shape and grad.dtype == w.dtype
    assert loss == model.loss(w, X, y, noise=noise)
    # coordinates from every parameter tensor, plus random ones
    starts = np.cumsum([0] + [int(np.prod(s)) for _, s in model.layout])
    idx = np.concatenate(
        [rng.integers(a, b, 3) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    )
    idx = np.concatenate([idx, rng.choice(w.size, 10, replace=False)])
    h = 1e-5
    num = np.empty(idx.size)
    for k, i in enumerate(idx):
        e = np.zeros_like(w)
        e[i] = h
        num[k] = (model.loss(w + e, X, y, noise=noise) - model.loss(w - e, X, y, noise=noise)) / (
            2 * h
        )
    assert np.linalg.norm(grad[idx] - num) <= 1e-7 * np.linalg.norm(num)


def test_float32_stays_float32():
    model = LeNet(**CIFAR)
    rng = np.random.default_rng(3)
    w = model.init_params(rng, np.float32)
    X, y = batch(model, 4, np.float32)
    noise = model.sample_noise(rng, 4)
    loss, grad, cache = model.forward_backward(w, X, y, noise=noise)
    assert grad.dtype == np.float32
    assert {u.dtype for u in cache.u1} == {np.dtype(np.float32)}
    # float32 and float64 agree to float32 precision, so the float32 path is not garbage
    loss64, grad64, _ = model.forward_backward(w.astype(np.float64), X, y, noise=noise)
    assert abs(loss - loss64) < 1e-5
    assert np.linalg.norm(grad - grad64) < 1e-4 * np.linalg.norm(grad64)
    out = model.line_losses(w, grad, [0.0, 0.1], X, y, noise=noise, cache=cache)
    assert out.dtype == np.float64 and out[0] == np.float32(loss)


def test_dropout_is_an_explicit_input_and_off_in_evaluation():
    model = LeNet(**CIFAR, dropout=0.5)
    rng = np.random.default_rng(4)
    w = model.init_params(rng)
    X, y = batch(model, 8)
    noise = model.sample_noise(rng, 8)
    assert isinstance(noise, LeNetNoise) and noise.keep1.shape == (8, 120)
    assert noise.keep2.shape == (8, 84) and noise.keep1.dtype == np.bool_
    # the same masks give the same function; other masks another one
    assert model.loss(w, X, y, noise=noise) == model.loss(w, X, y, noise=noise)
    assert model.loss(w, X, y, noise=noise) != model.loss(w, X, y, noise=model.sample_noise(rng, 8))
    # evaluation mode (noise=None) is the network without dropout
    assert model.loss(w, X, y) == LeNet(**CIFAR, dropout=0.0).loss(w, X, y)
    assert LeNet(**CIFAR, dropout=0.0).sample_noise(rng, 8) is None
    # all-kept masks with p = 0.5 double the units: not the same as evaluation
    ones = LeNetNoise(np.ones((8, 120), bool), np.ones((8, 84), bool))
    assert model.loss(w, X, y, noise=ones) != model.loss(w, X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_probes_at_the_same_eta_agree_exactly(dtype):
    model = LeNet(**CIFAR)
    rng = np.random.default_rng(5)
    w = model.init_params(rng, dtype)
    X, y = batch(model, 6, dtype)
    noise = model.sample_noise(rng, 6)
    _, grad, cache = model.forward_backward(w, X, y, noise=noise)
    out = model.line_losses(w, grad, [0.3, 0.3, 0.1, 0.3], X, y, noise=noise, cache=cache)
    assert out[0] == out[1] == out[3]  # exactly: one step sees one function (DESIGN.md, idea 3)
    again = model.line_losses(w, grad, [0.3], X, y, noise=noise, cache=cache)
    assert again[0] == out[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [CIFAR, MNIST], ids=["cifar", "mnist"])
def test_fused_probes_equal_plain_probes(dtype, shape):
    """The fused probe computes conv1 at w - c d as Z1 - c Zd1 instead of conv(x, W1 - c D1) and
    sums the batch mean per probe: the same real numbers, rounded differently. The rounding is a
    few ulps of the pre-activations (~ eps_mach * |Z1|) carried through a Lipschitz network to a
    loss ~ 2.3: we allow 1e-12 relative in float64 and 1e-5 in float32 (eps_mach 1.2e-7)."""
    model = LeNet(**shape)
    rng = np.random.default_rng(6)
    w = model.init_params(rng, dtype)
    X, y = batch(model, 5, dtype)
    noise = model.sample_noise(rng, 5)
    loss, grad, cache = model.forward_backward(w, X, y, noise=noise)
    eta, eps = 0.05, 1e-3
    etas = eta + eps * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    plain = Model.line_losses(model, w, grad, etas, X, y, noise=noise)  # one pass per eta
    fused_cached = model.line_losses(w, grad, etas, X, y, noise=noise, cache=cache)
    fused = model.line_losses(w, grad, etas, X, y, noise=noise)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(fused_cached, plain, rtol=rtol)
    np.testing.assert_allclose(fused, plain, rtol=rtol)
    np.testing.assert_allclose(model.line_losses(w, grad, [0.0], X, y, noise=noise), loss, rtol)
    # a step along -grad lowers the loss for a small eta
    assert model.line_losses(w, grad, [1e-3], X, y, noise=noise)[0] < loss


def test_cache_from_another_point_or_batch_is_refused():
    model = LeNet(**CIFAR)
    rng = np.random.default_rng(7)
    w = model.init_params(rng)
    X, y = batch(model, 4)
    noise = model.sample_noise(rng, 4)
    _, grad, cache = model.forward_backward(w, X, y, noise=noise)
    with pytest.raises(ValueError, match="another w"):
        model.line_losses(w + 1e-3, grad, [0.1], X, y, noise=noise, cache=cache)
    with pytest.raises(ValueError, match="another batch"):
        model.line_losses(w, grad, [0.1], X + 1.0, y, noise=noise, cache=cache)
    with pytest.raises(ValueError, match="LeNetCache"):
        model.line_losses(w, grad, [0.1], X, y, noise=noise, cache=object())
    # an equal copy of X is accepted
    out = model.line_losses(w, grad, [0.1], X.copy(), y, noise=noise, cache=cache)
    assert out == model.line_losses(w, grad, [0.1], X, y, noise=noise)


def test_predict_accuracy_and_chunked_evaluation():
    model = LeNet(**MNIST, eval_batch_size=3)
    whole = LeNet(**MNIST, eval_batch_size=1000)
    rng = np.random.default_rng(8)
    w = model.init_params(rng)
    X, y = batch(model, 7)
    labels = model.predict(w, X)
    assert labels.shape == (7,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, whole.predict(w, X))
    assert np.isclose(model.loss(w, X, y), whole.loss(w, X, y), rtol=1e-14)
    noise = model.sample_noise(rng, 7)
    assert np.isclose(model.loss(w, X, y, noise=noise), whole.loss(w, X, y, noise=noise), 1e-14)
    assert model.accuracy(w, X, y) == np.mean(labels == y)
    assert model.task == "classification" and not model.has_exact_line_derivatives
    with pytest.raises(NotImplementedError):
        model.line_derivatives(w, w, 0.1, X, y)
    # integer images (uint8 pixels) are accepted and cast to the dtype of w
    assert model.predict(w, np.zeros((2, 1, 28, 28), np.uint8)).shape == (2,)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda X, y: (X[0], y), "4-D"),
        (lambda X, y: (X[:, :2], y), "channels"),
        (lambda X, y: (X[:, :, :12, :12], y), "too small"),
        (lambda X, y: (X[:, :, :30, :30], y), "image_size"),
        (lambda X, y: (np.where(X > 1, np.nan, X), y), "NaN or inf"),
        (lambda X, y: (np.where(X > 1, -np.inf, X), y), "NaN or inf"),
        (lambda X, y: (X, y + 10), r"\[0, 10\)"),
        (lambda X, y: (X, y.astype(float)), "integer"),
        (lambda X, y: (X, y[:-1]), "labels but X has"),
        (lambda X, y: (X[:0], y[:0]), "empty"),
        (lambda X, y: (X.astype(complex), y), "numbers"),
    ],
)
def test_bad_input_raises_clear_value_errors(make, match):
    model = LeNet(**CIFAR)
    w = model.init_params(np.random.default_rng(9))
    X, y = batch(model, 4)
    Xb, yb = make(X, y)
    for call in (
        lambda: model.loss(w, Xb, yb),
        lambda: model.forward_backward(w, Xb, yb),
        lambda: model.line_losses(w, w, [0.1], Xb, yb),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_bad_noise_model_and_direction_raise():
    rng = np.random.default_rng(10)
    model = LeNet(**CIFAR)
    w = model.init_params(rng)
    X, y = batch(model, 4)
    with pytest.raises(ValueError, match="noise.keep1"):
        model.loss(w, X, y, noise=model.sample_noise(rng, 5))
    with pytest.raises(ValueError, match="dropout=0.0"):
        LeNet(**CIFAR, dropout=0.0).loss(w, X, y, noise=model.sample_noise(rng, 4))
    with pytest.raises(ValueError, match="dtype"):
        model.line_losses(w, w.astype(np.float32), [0.1], X, y)
    with pytest.raises(ValueError, match="too small"):
        LeNet(image_size=12)
    with pytest.raises(ValueError, match="dropout"):
        LeNet(dropout=1.0)
    with pytest.raises(ValueError, match="parameters"):
        model.loss(w[:-1], X, y)


def test_fused_probes_in_example_chunks_equal_plain_probes():
    """A batch larger than the probe chunk (64): chunked sums, same bound as above (float64)."""
    model = LeNet(in_channels=1, n_classes=3, image_size=16)
    rng = np.random.default_rng(11)
    w = model.init_params(rng)
    X, y = batch(model, 70)
    noise = model.sample_noise(rng, 70)
    _, grad, cache = model.forward_backward(w, X, y, noise=noise)
    etas = np.array([0.0, 0.1, 0.2])
    plain = Model.line_losses(model, w, grad, etas, X, y, noise=noise)
    fused = model.line_losses(w, grad, etas, X, y, noise=noise, cache=cache)
    np.testing.assert_allclose(fused, plain, rtol=1e-12)


def test_gradient_in_example_chunks_is_the_gradient_of_the_whole_batch():
    """forward_backward runs on chunks of 64 examples and adds their gradients; on 70 examples it
    must equal the example-weighted mean of the gradients of the first 64 and of the last 6 (each
    one chunk): the same sums grouped otherwise, so 1e-12 relative in norm (float64; single
    coordinates that cancel to near zero can differ more, relative to themselves)."""
    model = LeNet(in_channels=1, n_classes=3, image_size=16)
    rng = np.random.default_rng(12)
    w = model.init_params(rng)
    X, y = batch(model, 70)
    noise = model.sample_noise(rng, 70)
    loss, grad, _ = model.forward_backward(w, X, y, noise=noise)
    assert loss == model.loss(w, X, y, noise=noise)
    parts = [
        model.forward_backward(w, X[s], y[s], noise=LeNetNoise(noise.keep1[s], noise.keep2[s]))
        for s in (slice(0, 64), slice(64, 70))
    ]
    whole = (64 * parts[0][1] + 6 * parts[1][1]) / 70
    assert np.linalg.norm(grad - whole) <= 1e-12 * np.linalg.norm(whole)
    np.testing.assert_allclose(loss, (64 * parts[0][0] + 6 * parts[1][0]) / 70, rtol=1e-12)


def test_threads_change_nothing_but_the_speed():
    """Chunks run on worker threads, their gradients and probe sums added in chunk order: the
    results are bit for bit those of one thread."""
    one, two = (LeNet(in_channels=1, n_classes=3, image_size=16, threads=k) for k in (1, 2))
    rng = np.random.default_rng(13)
    w = one.init_params(rng)
    X, y = batch(one, 150)
    noise = one.sample_noise(rng, 150)
    loss, grad, cache = one.forward_backward(w, X, y, noise=noise)
    loss2, grad2, cache2 = two.forward_backward(w, X, y, noise=noise)
    assert loss == loss2 and np.array_equal(grad, grad2)
    etas = [0.0, 0.1]
    np.testing.assert_array_equal(
        one.line_losses(w, grad, etas, X, y, noise=noise, cache=cache),
        two.line_losses(w, grad, etas, X, y, noise=noise, cache=cache2),
    )
    with pytest.raises(ValueError, match="threads"):
        LeNet(threads=0)
