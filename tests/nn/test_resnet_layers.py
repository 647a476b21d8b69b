"""ResNet's layers: the vectorized textbook layers against their naive loops, BatchNorm's
training-mode backward pass against its full Jacobian through the batch statistics, PyTorch's
running-statistics rule, and the batch-last kernels (:mod:`adaptive_lr.fast.chwn`) against the
textbook layers. Backward passes against central differences: the layer contract
(``test_layer_contract.py``).

Tolerances: the two sides of each comparison compute the same sums in another order, so they
agree to ``k u`` relative to the magnitudes involved, with ``k`` the number of terms (at most a
few hundred here): ``1e-12`` in float64 is above that and far below any real error.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.fast import chwn
from adaptive_lr.nn.avg_pool import avg_pool_backward, avg_pool_forward, avg_pool_forward_naive
from adaptive_lr.nn.batchnorm import (
    EPS,
    batchnorm_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
    batchnorm_forward_naive,
    running_update,
)
from adaptive_lr.nn.conv import conv_backward, conv_forward
from adaptive_lr.nn.dropout2d import dropout2d_forward, dropout2d_forward_naive, dropout2d_mask
from adaptive_lr.nn.max_pool_window import (
    max_pool_window_backward,
    max_pool_window_backward_naive,
    max_pool_window_forward,
    max_pool_window_forward_naive,
)
from adaptive_lr.nn.pool import max_pool_backward, max_pool_forward

TOL = 1e-12


to_cnhw = chwn.to_batch_last  # (N, C, H, W) -> (C, H, W, N)


seeds = st.integers(0, 2**31 - 1)


@given(seed=seeds)
def test_batchnorm_forward_matches_the_loops_and_normalises(seed):
    rng = np.random.default_rng(seed)
    n, c, h, w = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 4), rng.integers(2, 4)
    x = rng.normal(2.0, 3.0, size=(n, c, h, w))
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    out, _, stats = batchnorm_forward(x, gamma, beta)
    ref, (mean, var) = batchnorm_forward_naive(x, gamma, beta)
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL * 10)
    np.testing.assert_allclose(stats.mean, mean, rtol=TOL, atol=TOL * 10)
    np.testing.assert_allclose(stats.var, np.var(x, axis=(0, 2, 3)), rtol=1e-10)  # biased
    # with gamma = 1, beta = 0 every channel has mean 0 and variance var / (var + eps)
    unit, _, _ = batchnorm_forward(x, np.ones(c), np.zeros(c))
    np.testing.assert_allclose(unit.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(unit.var(axis=(0, 2, 3)), var / (var + EPS), rtol=1e-10)


@given(seed=seeds)
def test_batchnorm_backward_is_the_transposed_jacobian_through_the_batch_statistics(seed):
    """``d out_j / d x_i = gamma / sigma (delta_ij - 1/M - xhat_i xhat_j / M)`` within a channel
    and 0 across channels: the full Jacobian, built entry by entry, applied to ``dout``."""
    rng = np.random.default_rng(seed)
    n, c, h, w = rng.integers(1, 3), rng.integers(1, 3), rng.integers(1, 3), rng.integers(2, 3)
    x = rng.normal(size=(n, c, h, w))
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    dout = rng.normal(size=x.shape)
    out, cache, stats = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    m = n * h * w
    sigma = np.sqrt(stats.var + EPS)
    xhat = (x - stats.mean[None, :, None, None]) / sigma[None, :, None, None]
    idx = list(np.ndindex(x.shape))
    J = np.zeros((x.size, x.size))  # J[j, i] = d out_j / d x_i
    for a, (nj, cj, hj, wj) in enumerate(idx):
        for b, (ni, ci, hi, wi) in enumerate(idx):
            if ci == cj:
                J[a, b] = gamma[cj] / sigma[cj] * (
                    (a == b) - 1 / m - xhat[ni, ci, hi, wi] * xhat[nj, cj, hj, wj] / m)
    np.testing.assert_allclose(dx.reshape(-1), J.T @ dout.reshape(-1), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dgamma, np.sum(dout * xhat, axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(dbeta, dout.sum(axis=(0, 2, 3)), atol=1e-12)
    # the gradient of any loss is orthogonal to shifting a channel (BatchNorm removes its mean)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-10)


def test_running_update_is_pytorchs_rule_with_the_unbiased_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(4, 3, 2, 5))
    _, _, stats = batchnorm_forward(x, np.ones(3), np.zeros(3))
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    rm0, rv0 = rm.copy(), rv.copy()
    new_m, new_v = running_update(rm, rv, stats)
    np.testing.assert_allclose(new_m, 0.9 * rm0 + 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-14)
    unbiased = x.transpose(1, 0, 2, 3).reshape(3, -1).var(axis=1, ddof=1)
    np.testing.assert_allclose(new_v, 0.9 * rv0 + 0.1 * unbiased, rtol=1e-14)
    assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)  # new arrays


def test_batchnorm_refuses_a_single_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batchnorm_forward(np.ones((1, 2, 1, 1)), np.ones(2), np.zeros(2))


@given(seed=seeds, p=st.sampled_from([0.0, 0.5, 0.9]))
def test_dropout2d_drops_whole_channels_like_the_loops(seed, p):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4, 2, 3))
    keep = dropout2d_mask(rng, 3, 4, p)
    out, _ = dropout2d_forward(x, keep, p)
    np.testing.assert_allclose(out, dropout2d_forward_naive(x, keep, p), rtol=1e-15)
    assert np.all((out == 0).all(axis=(2, 3)) | keep)  # a channel is dropped whole or kept


@given(seed=seeds)
def test_average_pool_matches_the_loops(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, rng.integers(1, 5), rng.integers(1, 5)))
    out, shape = avg_pool_forward(x)
    np.testing.assert_allclose(out, avg_pool_forward_naive(x), atol=TOL)
    d = rng.normal(size=out.shape)
    # adjoint: <d, pool(x)> = <unpool(d), x>
    assert np.sum(d * out) == pytest.approx(np.sum(avg_pool_backward(d, shape) * x), rel=1e-12)


@given(seed=seeds, k=st.integers(1, 3), stride=st.integers(1, 2))
def test_window_max_pool_matches_the_loops(seed, k, stride):
    rng = np.random.default_rng(seed)
    pad = int(rng.integers(0, k // 2 + 1))
    x = rng.normal(size=(2, 2, rng.integers(k, 7), rng.integers(k, 7)))
    x[0, 0, 0, :2] = 1.5  # a tie: both versions send the gradient to the first maximum
    out, cache = max_pool_window_forward(x, k, stride, pad)
    assert np.array_equal(out, max_pool_window_forward_naive(x, k, stride, pad))
    d = rng.normal(size=out.shape)
    np.testing.assert_allclose(max_pool_window_backward(d, cache),
                               max_pool_window_backward_naive(d, x, k, stride, pad), atol=TOL)


def test_window_max_pool_2x2_is_the_2x2_pool():
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 7))
    out, cache = max_pool_window_forward(x, 2, 2, 0)
    ref, ref_cache = max_pool_forward(x)
    assert np.array_equal(out, ref)
    d = np.random.default_rng(2).normal(size=out.shape)
    assert np.array_equal(max_pool_window_backward(d, cache), max_pool_backward(d, ref_cache))


@pytest.mark.parametrize("k, stride", [(3, 1), (3, 2), (1, 2), (1, 1)])
def test_batch_last_conv_is_the_im2col_conv(k, stride):
    rng = np.random.default_rng(k + stride)
    pad = k // 2
    x, W = rng.normal(size=(3, 2, 7, 6)), rng.normal(size=(4, 2, k, k))
    out, cache = chwn.conv_forward(to_cnhw(x), W, stride, pad)
    ref, ref_cache = conv_forward(x, W, np.zeros(4), stride, pad)
    np.testing.assert_allclose(out, to_cnhw(ref), atol=TOL)
    d = rng.normal(size=ref.shape)
    dx, dW = chwn.conv_backward(to_cnhw(d), cache)
    rdx, rdW, _ = conv_backward(d, ref_cache)
    np.testing.assert_allclose(dx, to_cnhw(rdx), atol=TOL)
    np.testing.assert_allclose(dW, rdW, atol=TOL)


@pytest.mark.parametrize("relu", [False, True])
def test_batch_last_batchnorm_is_the_textbook_one(relu):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3, 2, 5))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    out, cache, (mean, var, m) = chwn.batchnorm_forward(to_cnhw(x), gamma, beta, relu=relu)
    ref, ref_cache, stats = batchnorm_forward(x, gamma, beta)
    d = rng.normal(size=x.shape)
    d_ref = d * (ref > 0) if relu else d  # relu after batchnorm
    ref = np.maximum(ref, 0) if relu else ref
    np.testing.assert_allclose(out, to_cnhw(ref), atol=TOL)
    np.testing.assert_allclose(mean[:, 0], stats.mean, atol=TOL)
    np.testing.assert_allclose(var[:, 0], stats.var, atol=TOL)
    assert m == stats.count
    dx, dgamma, dbeta = chwn.batchnorm_backward(to_cnhw(d), cache)
    rdx, rdgamma, rdbeta = batchnorm_backward(d_ref, ref_cache)
    np.testing.assert_allclose(dx, to_cnhw(rdx), atol=TOL)
    np.testing.assert_allclose(dgamma, rdgamma, atol=TOL)
    np.testing.assert_allclose(dbeta, rdbeta, atol=TOL)
    # evaluation mode
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    out, _ = chwn.batchnorm_eval_forward(to_cnhw(x), gamma, beta, rm, rv, relu=relu)
    ref, _ = batchnorm_eval_forward(x, gamma, beta, rm, rv)
    np.testing.assert_allclose(out, to_cnhw(np.maximum(ref, 0) if relu else ref), atol=TOL)


def test_grouped_batchnorm_is_separate_batchnorms_on_each_group():
    """Stacking G batches along the batch axis: each group normalised with its own statistics,
    exactly as G separate calls (the condition for exact fused probes)."""
    rng = np.random.default_rng(4)
    parts = [rng.normal(loc=i, size=(3, 4, 4, 2)) for i in range(5)]  # (C, H, W, n) each
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    out, _, (mean, var, _) = chwn.batchnorm_forward(np.concatenate(parts, axis=3), gamma, beta,
                                                    groups=5, relu=True)
    for i, part in enumerate(parts):
        ref, _, (rm, rv, _) = chwn.batchnorm_forward(part, gamma, beta, relu=True)
        np.testing.assert_allclose(out[..., 2 * i : 2 * i + 2], ref, rtol=0, atol=TOL)
        np.testing.assert_allclose(mean[:, i], rm[:, 0], rtol=0, atol=TOL)
        np.testing.assert_allclose(var[:, i], rv[:, 0], rtol=0, atol=TOL)


def test_batch_last_max_pool_is_the_textbook_one():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 9, 8))
    out, cache = chwn.max_pool_forward(to_cnhw(x), 3, 2, 1)
    ref, ref_cache = max_pool_window_forward(x, 3, 2, 1)
    assert np.array_equal(out, to_cnhw(ref))
    d = rng.normal(size=ref.shape)
    assert np.array_equal(chwn.max_pool_backward(to_cnhw(d), cache),
                          to_cnhw(max_pool_window_backward(d, ref_cache)))
