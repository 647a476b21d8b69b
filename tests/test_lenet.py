"""LeNet: PyTorch names and shapes, the gradient against a directional difference of its own loss,
dropout as an explicit input, fused probes against plain ones, dtypes, and clear errors on bad
input. Against a network built from the textbook layers: ``test_lenet_textbook.py``."""

import numpy as np
import pytest

from adaptive_lr.models.base import ExactLineDerivatives, Model
from adaptive_lr.models.lenet import LeNet, LeNetNoise
from adaptive_lr.models.lenet_layers import conv1_forward, tail_forward
from adaptive_lr.nn import dense_forward

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


def parameter_scales(model) -> np.ndarray:
    """Per coordinate of ``w``, its tensor's initialization bound ``1/sqrt(fan_in)``."""
    layout = dict(model.layout)
    fan_in = {name: np.prod(layout[name.replace(".bias", ".weight")][1:]) for name in layout}
    return np.concatenate([np.full(int(np.prod(shape)), 1 / np.sqrt(fan_in[name]))
                           for name, shape in model.layout])


def kink_quantities(model, w, X, noise) -> np.ndarray:
    """The numbers whose sign changes are the kinks of LeNet's loss, from its forward pass at ``w``:
    per 2x2 pooling window of conv1 and conv2, the largest pre-activation (ReLU follows the
    pooling) and its gap to the second largest (a tie); the pre-activations of fc1 and fc2."""
    p = model.unflatten(w)
    z1, _ = conv1_forward(p, X)
    _, caches = tail_forward(z1, p, noise, model.dropout)
    out = []
    for pool in ("pool1", "pool2"):
        z = caches[pool].x  # (F, H, W, N), the pooling's input
        f, h, w_, n = z.shape
        oh, ow = h // 2, w_ // 2
        # (F, 2*OH, 2*OW, N) -> (F, OH, 2, OW, 2, N) -> (F, OH, OW, N, 2, 2) -> (F, OH, OW, N, 4)
        win = z[:, : 2 * oh, : 2 * ow].reshape(f, oh, 2, ow, 2, n).transpose(0, 1, 3, 5, 2, 4)
        top2 = np.sort(win.reshape(f, oh, ow, n, 4), axis=-1)[..., -2:]  # (F, OH, OW, N, 2)
        out += [top2[..., 1].ravel(), (top2[..., 1] - top2[..., 0]).ravel()]
    for layer in ("fc1", "fc2"):
        z = dense_forward(caches[layer].x, p[f"{layer}.weight"], p[f"{layer}.bias"])[0]  # (N, D)
        out.append(z.ravel())
    return np.concatenate(out)


def kink_free_direction(model, w, X, noise, rng, h: float, tries: int = 5) -> np.ndarray:
    """A random direction ``v`` (each tensor at its initialization scale) such that no kink lies
    within ``w + t v``, ``|t| <= h``; fails loudly if ``tries`` random draws find none.

    Every kink quantity ``q(t)`` (:func:`kink_quantities`) is affine in ``t`` for conv1 and, between
    kinks, a polynomial of low degree in ``t`` further on, so over ``|t| <= h`` it moves by about
    ``|q(+-h) - q(0)|`` (up to terms ~h^2). A direction is kept only if every ``|q(0)|`` exceeds
    4 times that: then no ``q`` changes sign in the band. (A pooling window whose maximum changes
    hands within the band has a gap that moves by at least ``|gap(0)|`` at one end.)
    """
    q0 = kink_quantities(model, w, X, noise)
    for _ in range(tries):
        v = rng.standard_normal(w.size) * parameter_scales(model)
        moved = [np.abs(kink_quantities(model, w + t * v, X, noise) - q0) for t in (-h, h)]
        if np.all(np.abs(q0) > 4 * np.maximum(*moved)):
            return v
    pytest.fail(f"no direction out of {tries} keeps every kink of LeNet out of |t| <= {h}")


@pytest.mark.parametrize("in_channels, size", [(3, 16), (1, 21), (3, 32)])
def test_gradient_is_the_directional_derivative_along_a_random_direction(in_channels, size):
    """The whole gradient, all ~16,000-62,000 coordinates at once: in float64, with one set of
    dropout masks, ``(L(w + h v) - L(w - h v)) / (2h)`` equals ``grad . v`` within

    * truncation ``h^2/6 |f'''|`` of ``f(t) = L(w + t v)``, with ``f'''`` estimated by the third
      central difference at step 1e-3 (kinks crossed at that step make it larger, ~ jump in
      ``f'`` / 1e-6: it errs on the generous side; the term stays < 1e-9 all the same), plus
    * rounding ``c u max(|L|, 1) / h``: each loss passes through dot products of at most 75, 150,
      400, 120, 84 terms, the classes and the examples, fewer than n = 1000 roundings in a row,
      through layers that do not amplify errors at PyTorch's initialization. The worst case is
      ``|fl(L) - L| <= n u max(|L|, 1)``; rounding errors of independent signs grow like
      ``lambda sqrt(n) u`` instead, except with probability ``2 exp(-lambda^2 / 2)`` (Higham and
      Mary, SIAM J. Sci. Comput. 2019), and ``lambda = 3`` gives ``c = 100`` (the errors seen
      here are ~1). The difference of two losses over ``2h`` errs by ``c u max(|L|, 1) / h``.

    With ``h = 1e-6`` the bound is ~3e-8, far below ``sum_i |grad_i v_i|`` (~10): a 1% error in
    the largest gradient entry of any one tensor fails. 16x16 is the smallest image (one 1x1 map
    per channel after pool2), 21x21 drops a row and a column in both poolings and flattens 2x2
    maps, 32x32 is CIFAR's (5x5 maps). Kinks: :func:`kink_free_direction`.
    """
    model = LeNet(in_channels=in_channels, n_classes=10, image_size=size, dropout=0.5)
    rng = np.random.default_rng(2)
    w = model.init_params(rng)
    X, y = batch(model, 3)
    noise = model.sample_noise(rng, 3)  # the same masks in every evaluation below
    out = model.forward_backward(w, X, y, noise=noise)
    assert out.grad.shape == w.shape and out.grad.dtype == w.dtype and out.state is None
    assert out.loss == model.loss(w, X, y, noise=noise)
    h, big = 1e-6, 1e-3
    v = kink_free_direction(model, w, X, noise, rng, h)

    def f(t):
        return model.loss(w + t * v, X, y, noise=noise)

    slope = (f(h) - f(-h)) / (2 * h)
    third = abs(f(2 * big) - 2 * f(big) + 2 * f(-big) - f(-2 * big)) / (2 * big**3)
    u = np.finfo(np.float64).eps / 2
    bound = h**2 / 6 * third + 100 * u * max(abs(out.loss), 1.0) / h
    assert abs(slope - out.grad @ v) <= bound
    assert bound < 1e-8 * np.sum(np.abs(out.grad * v))  # the check is tight enough to fail


def test_float32_stays_float32():
    model = LeNet(**CIFAR)
    rng = np.random.default_rng(3)
    w = model.init_params(rng, np.float32)
    X, y = batch(model, 4, np.float32)
    noise = model.sample_noise(rng, 4)
    loss, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
    assert grad.dtype == np.float32
    assert {u.dtype for u in cache.u1} == {np.dtype(np.float32)}
    # float32 and float64 agree to float32 precision, so the float32 path is not garbage
    loss64, grad64, _, _ = model.forward_backward(w.astype(np.float64), X, y, noise=noise)
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
    _, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
    out = model.line_losses(w, grad, [0.3, 0.3, 0.1, 0.3], X, y, noise=noise, cache=cache)
    assert out[0] == out[1] == out[3]  # exactly: every probe of a step sees the same function
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
    loss, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
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
    _, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
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
    assert model.task == "classification" and not isinstance(model, ExactLineDerivatives)
    with pytest.raises(AttributeError):
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
    for call in (  # LeNet has no non-parameter state
        lambda: model.loss(w, X, y, state={}),
        lambda: model.forward_backward(w, X, y, state={}),
        lambda: model.line_losses(w, w, [0.1], X, y, state={}),
        lambda: model.predict(w, X, state={}),
    ):
        with pytest.raises(ValueError, match="no non-parameter state"):
            call()


def test_fused_probes_in_example_chunks_equal_plain_probes():
    """A batch larger than the probe chunk (64): chunked sums, same bound as above (float64)."""
    model = LeNet(in_channels=1, n_classes=3, image_size=16)
    rng = np.random.default_rng(11)
    w = model.init_params(rng)
    X, y = batch(model, 70)
    noise = model.sample_noise(rng, 70)
    _, grad, cache, _ = model.forward_backward(w, X, y, noise=noise)
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
    loss, grad, _, _ = model.forward_backward(w, X, y, noise=noise)
    assert loss == model.loss(w, X, y, noise=noise)
    parts = [
        model.forward_backward(w, X[s], y[s], noise=LeNetNoise(noise.keep1[s], noise.keep2[s]))
        for s in (slice(0, 64), slice(64, 70))
    ]
    whole = (64 * parts[0].grad + 6 * parts[1].grad) / 70
    assert np.linalg.norm(grad - whole) <= 1e-12 * np.linalg.norm(whole)
    np.testing.assert_allclose(loss, (64 * parts[0].loss + 6 * parts[1].loss) / 70, rtol=1e-12)


def test_threads_change_nothing_but_the_speed():
    """Chunks run on worker threads, their gradients and probe sums added in chunk order: the
    results are bit for bit those of one thread."""
    one, two = (LeNet(in_channels=1, n_classes=3, image_size=16, threads=k) for k in (1, 2))
    rng = np.random.default_rng(13)
    w = one.init_params(rng)
    X, y = batch(one, 150)
    noise = one.sample_noise(rng, 150)
    loss, grad, cache, _ = one.forward_backward(w, X, y, noise=noise)
    loss2, grad2, cache2, _ = two.forward_backward(w, X, y, noise=noise)
    assert loss == loss2 and np.array_equal(grad, grad2)
    etas = [0.0, 0.1]
    np.testing.assert_array_equal(
        one.line_losses(w, grad, etas, X, y, noise=noise, cache=cache),
        two.line_losses(w, grad, etas, X, y, noise=noise, cache=cache2),
    )
    with pytest.raises(ValueError, match="threads"):
        LeNet(threads=0)
