"""ResNet-18 (``adaptive_lr/models/resnet.py``): the authors' network, PyTorch's names, the two
modes of BatchNorm, the running statistics, input checks. The shared model contract is in
``test_model_contract.py``; the training loop's rules for state in ``test_model_state.py``."""

import numpy as np
import pytest

from adaptive_lr import ResNet18
from adaptive_lr.fast import chwn
from adaptive_lr.models.resnet import ResNetNoise
from adaptive_lr.models.resnet_layers import forward
from adaptive_lr.nn.batchnorm import batchnorm_forward, running_update
from adaptive_lr.nn.conv import conv_forward


def tiny(**kw):
    return ResNet18(3, 4, 8, **{"widths": (2, 3, 4, 5), **kw})


def batch(model, n, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    w = model.init_params(rng, dtype)
    X = rng.normal(size=(n, model.in_channels, *model.image_size)).astype(dtype)
    y = rng.integers(0, model.n_classes, n)
    return w, X, y, model.sample_noise(rng, n)


def test_the_authors_network_and_he_et_al_s():
    m = ResNet18()
    assert m.num_params == 701_466 and m.multiply_adds == 21_677_312  # stated in the docstring
    assert m.final_map == (4, 4)
    he = ResNet18.he_cifar()
    assert he.num_params == 11_173_962 and he.multiply_adds == 555_422_720
    assert he.final_map == (4, 4) and he.dropout == 0.0 and not he.stem_pool
    assert ResNet18(n_classes=100).num_params == 701_466 + 90 * 129


def test_parameter_and_buffer_names_are_pytorchs_state_dict():
    m = ResNet18()
    names = [n for n, _ in m.layout]
    assert names[:7] == ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight",
                         "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.conv2.weight"]
    shapes = dict(m.layout)
    assert shapes["conv1.weight"] == (16, 3, 3, 3)
    assert shapes["layer2.0.conv1.weight"] == (32, 16, 3, 3)
    assert shapes["layer2.0.downsample.0.weight"] == (32, 16, 1, 1)
    assert shapes["layer2.0.downsample.1.weight"] == (32,)
    assert shapes["layer3.0.downsample.0.weight"] == (64, 32, 1, 1)  # the width changes
    assert "layer1.0.downsample.0.weight" not in shapes  # identity shortcut
    assert "layer2.1.downsample.0.weight" not in shapes
    assert names[-2:] == ["fc.weight", "fc.bias"] and shapes["fc.weight"] == (10, 128)
    ds = names.index("layer2.0.downsample.0.weight")
    assert names[ds - 3 : ds + 3] == [
        "layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        "layer2.0.downsample.1.bias"]
    state = m.init_state()
    bns = [n[: -len(".weight")] for n, s in m.layout if len(s) == 1 and n.endswith(".weight")
           and not n.startswith("fc")]
    assert set(state) == {f"{b}.{k}" for b in bns
                          for k in ("running_mean", "running_var", "num_batches_tracked")}
    assert np.all(state["layer4.1.bn2.running_var"] == 1) and state["bn1.running_mean"].shape == (
        16,)


def test_initialisation_is_the_authors():
    m = ResNet18()
    p = m.unflatten(m.init_params(np.random.default_rng(0)))
    w = p["layer3.1.conv2.weight"]  # N(0, 2 / (9 * 64)), 36864 draws
    assert w.std() == pytest.approx(np.sqrt(2 / (9 * 64)), rel=0.02)  # 5 sigma: 5/sqrt(2*36864)
    assert p["layer2.0.downsample.0.weight"].std() == pytest.approx(np.sqrt(2 / 32), rel=0.2)
    assert np.all(p["bn1.weight"] == 1) and np.all(p["layer4.0.downsample.1.bias"] == 0)
    assert np.abs(p["fc.weight"]).max() <= 1 / np.sqrt(128)
    assert np.abs(p["fc.bias"]).max() <= 1 / np.sqrt(128)


@pytest.mark.parametrize("train", [True, False])
def test_whole_network_gradient_is_a_directional_derivative(train):
    """The full-size authors' network in float64, on 3 images. Central difference along a unit
    direction with h = 1e-6: truncation h^2 |f'''| / 6 and rounding u |L| / h are both below
    1e-9 for losses and derivatives of order 1, so they agree to 1e-7 (1 + |g . v|). A ReLU kink
    or pooling tie crossed within +-h would break it; with ~1e5 activations moved by ~1e-7 each
    that happens with probability ~1e-2 for a given seed (fixed here)."""
    m = ResNet18()
    w, X, y, noise = batch(m, 3, seed=1)
    state = m.forward_backward(w, X, y, noise=noise).state if not train else None
    noise = noise if train else None
    out = m.forward_backward(w, X, y, noise=noise, state=state)
    v = np.random.default_rng(2).normal(size=w.shape)
    v /= np.linalg.norm(v)
    h = 1e-6
    num = (m.loss(w + h * v, X, y, noise=noise, state=state)
           - m.loss(w - h * v, X, y, noise=noise, state=state)) / (2 * h)
    exact = float(out.grad @ v)
    assert abs(num - exact) <= 1e-7 * (1 + abs(exact)), (num, exact)


def test_training_mode_couples_a_batch_and_evaluation_mode_does_not():
    m = tiny(dropout=0.0)
    w, X, y, noise = batch(m, 6)
    state = m.forward_backward(w, X, y, noise=noise).state
    # evaluation: per example, so the mean over 6 is the mean of the two halves
    halves = [m.loss(w, X[s], y[s], state=state) for s in (slice(0, 3), slice(3, 6))]
    assert m.loss(w, X, y, state=state) == pytest.approx(np.mean(halves), rel=1e-14)
    # training: batch statistics, so the halves alone are other functions
    sub = [m.loss(w, X[s], y[s], noise=ResNetNoise()) for s in (slice(0, 3), slice(3, 6))]
    assert abs(m.loss(w, X, y, noise=noise) - np.mean(sub)) > 1e-6
    # the running statistics change predictions in evaluation mode, never in training mode
    fresh = m.init_state()
    assert m.loss(w, X, y, state=fresh) != m.loss(w, X, y, state=state)
    assert m.loss(w, X, y, noise=noise, state=fresh) == m.loss(w, X, y, noise=noise,
                                                               state=state)
    assert m.loss(w, X, y) == m.loss(w, X, y, state=fresh)  # state=None is init_state()


def test_the_gradient_pass_moves_the_running_statistics_by_pytorchs_rule():
    m = tiny()
    w, X, y, noise = batch(m, 5)
    state = m.init_state()
    state["bn1.running_mean"] = np.full(2, 0.5)
    before = {k: v.copy() for k, v in state.items()}
    new = m.forward_backward(w, X, y, noise=noise, state=state).state
    for k, v in state.items():  # the given state is not modified
        assert np.array_equal(v, before[k])
    # bn1 by hand from the textbook layers: conv1, then BatchNorm's batch statistics
    p = m.unflatten(w)
    z, _ = conv_forward(X, p["conv1.weight"], np.zeros(2), 1, 1)
    _, _, stats = batchnorm_forward(z, p["bn1.weight"], p["bn1.bias"])
    mean, var = running_update(state["bn1.running_mean"], state["bn1.running_var"], stats)
    np.testing.assert_allclose(new["bn1.running_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(new["bn1.running_var"], var, rtol=1e-13)
    assert all(int(new[k]) == 1 for k in new if k.endswith("num_batches_tracked"))
    # evaluation mode: no update
    assert m.forward_backward(w, X, y, state=new).state is not None
    for k, v in m.forward_backward(w, X, y, state=new).state.items():
        assert np.array_equal(v, new[k])


def test_dropout2d_masks_are_the_step_s_function():
    m = tiny()
    w, X, y, noise = batch(m, 4)
    assert len(noise) == 2 and noise[0].shape == (4, 3) and noise[1].shape == (4, 5)
    assert m.loss(w, X, y, noise=noise) == m.loss(w, X, y, noise=noise)
    other = m.sample_noise(np.random.default_rng(99), 4)
    assert m.loss(w, X, y, noise=other) != m.loss(w, X, y, noise=noise)
    assert tiny(dropout=0.0).sample_noise(np.random.default_rng(0), 4) == ResNetNoise()


def test_stacked_probes_with_grouped_batchnorm_equal_separate_passes():
    """Five batches stacked along the batch axis, each BatchNorm normalising each group with its
    own statistics, give the five separate training-mode passes (same weights and masks)."""
    m = tiny()
    w, X, y, noise = batch(m, 4)
    p = m.unflatten(w)
    parts = [X + 0.1 * i for i in range(5)]
    x = np.concatenate([chwn.to_batch_last(a) for a in parts], axis=3)
    kw = dict(train=True, noise=noise, dropout=m.dropout, keep_cache=False)
    stacked = forward(p, x, m.arch, groups=5, **kw)[0]
    for i, a in enumerate(parts):
        alone = forward(p, chwn.to_batch_last(a), m.arch, **kw)[0]
        np.testing.assert_allclose(stacked[4 * i : 4 * i + 4], alone, rtol=0, atol=1e-13)


def test_evaluation_runs_in_chunks_without_changing_the_result():
    m = tiny()
    w, X, y, noise = batch(m, 7)
    state = m.forward_backward(w, X, y, noise=noise).state
    chunked = ResNet18(3, 4, 8, widths=(2, 3, 4, 5), eval_batch_size=3)
    assert chunked.loss(w, X, y, state=state) == pytest.approx(m.loss(w, X, y, state=state),
                                                               rel=1e-14)
    assert np.array_equal(chunked.predict(w, X, state=state), m.predict(w, X, state=state))


def test_float32_runs_in_float32():
    m = tiny()
    w, X, y, noise = batch(m, 4, dtype=np.float32)
    out = m.forward_backward(w, X, y, noise=noise, state=m.init_state(np.float32))
    assert out.grad.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in out.state.items() if "running" in k)
    w64 = w.astype(np.float64)
    ref = m.forward_backward(w64, X.astype(np.float64), y, noise=noise)
    assert out.loss == pytest.approx(ref.loss, rel=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(widths=(1, 2, 3)), "widths"), (dict(strides=(1, 0, 1, 1)), "strides"),
    (dict(dropout=1.0), "dropout"), (dict(dropout_after=(5,)), "dropout_after"),
    (dict(eval_batch_size=0), "eval_batch_size"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kw)


def test_bad_input():
    m = tiny()
    w, X, y, noise = batch(m, 4)
    with pytest.raises(ValueError, match="4-D"):
        m.loss(w, X[0], y)
    with pytest.raises(ValueError, match="channels"):
        m.loss(w, X[:, :2], y)
    with pytest.raises(ValueError, match="image_size"):
        m.loss(w, X[:, :, :7], y)
    bad = X.copy()
    bad[1, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        m.forward_backward(w, bad, y, noise=noise)
    with pytest.raises(ValueError, match="labels"):
        m.loss(w, X, y + 4)
    with pytest.raises(ValueError, match="noise"):
        m.loss(w, X, y, noise=noise[:1])
    with pytest.raises(ValueError, match="noise"):
        m.loss(w, X, y, noise=ResNetNoise((noise[0][:2], noise[1])))
    with pytest.raises(ValueError, match="noise"):
        m.loss(w, X, y, noise=(np.ones((4, 3), bool),))
    state = m.init_state()
    with pytest.raises(ValueError, match="missing"):
        m.loss(w, X, y, state={k: v for k, v in state.items() if k != "bn1.running_var"})
    with pytest.raises(ValueError, match="shape"):
        m.loss(w, X, y, state={**state, "bn1.running_mean": np.zeros(3)})
    with pytest.raises(ValueError, match="NaN"):
        m.predict(w, X, state={**state, "bn1.running_var": np.full(2, np.nan)})
    small = ResNet18(3, 4, 4, widths=(2, 2, 2, 2), strides=(2, 2, 2, 2))  # 1x1 final map
    w_small, X_small, y_small, noise_small = batch(small, 1)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        small.loss(w_small, X_small, y_small, noise=noise_small)
    assert np.isfinite(small.loss(w_small, X_small, y_small))  # evaluation mode is fine
    with pytest.raises(ValueError, match="w"):
        m.loss(w[:-1], X, y)


def test_channel_major_helpers_are_used_by_the_network():
    # the kernels the network runs on are the ones the layer tests check
    from adaptive_lr.models import resnet_layers

    assert resnet_layers.conv_forward is chwn.conv_forward
    assert resnet_layers.batchnorm_forward is chwn.batchnorm_forward


@pytest.mark.parametrize("kwargs, name", [
    ({"in_channels": 2.7}, "in_channels"), ({"n_classes": 10.5}, "n_classes"),
    ({"dropout": "0.5"}, "dropout"), ({"image_size": (32,)}, "image_size"),
    ({"widths": (16, 32.0, 64, 128)}, "widths"), ({"strides": [1, 2]}, "strides"),
    ({"stem_pool": "no"}, "stem_pool"), ({"dropout_after": (2, 5)}, "dropout_after"),
    ({"eval_batch_size": 0}, "eval_batch_size"), ({"in_channels": True}, "in_channels"),
])
def test_constructor_arguments_are_named(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        ResNet18(**kwargs)


def test_predict_refuses_non_finite_weights():
    model = ResNet18(widths=(4, 4, 4, 4), dropout=0.0)
    w = np.full(model.num_params, np.nan)
    with pytest.raises(ValueError, match="w contains NaN"):
        model.predict(w, np.zeros((1, 3, 32, 32)))
