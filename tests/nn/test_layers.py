"""Pooling, ReLU, dense, dropout and softmax cross-entropy: vectorized against the naive loops,
tie-breaking, and the batch-last pooling against the textbook one. Backward against central
differences, no mutation and dtypes: the layer contract (``test_layer_contract.py``)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.fast.pool import max_pool_relu_batch_last, max_pool_relu_batch_last_backward
from adaptive_lr.nn.activations import (
    relu_backward,
    relu_backward_naive,
    relu_forward,
    relu_forward_naive,
)
from adaptive_lr.nn.dense import (
    dense_backward,
    dense_backward_naive,
    dense_forward,
    dense_forward_naive,
)
from adaptive_lr.nn.dropout import (
    dropout_backward,
    dropout_forward,
    dropout_forward_naive,
    dropout_mask,
)
from adaptive_lr.nn.losses import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_naive,
    softmax_cross_entropy_per_example_forward,
)
from adaptive_lr.nn.pool import (
    max_pool_backward,
    max_pool_backward_naive,
    max_pool_forward,
    max_pool_forward_naive,
)

seeds = st.integers(0, 2**32 - 1)


def without_ties(rng, shape):
    """Distinct values at least 1e-2 apart (a shuffled grid): no pooling tie."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 1e-2


@given(st.integers(1, 2), st.integers(1, 3), st.integers(2, 7), st.integers(2, 7), seeds)
def test_max_pool(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    x = without_ties(rng, (n, c, h, w))
    out, cache = max_pool_forward(x)
    out_naive, x_naive = max_pool_forward_naive(x)
    np.testing.assert_array_equal(out, out_naive)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward(dout, cache)
    np.testing.assert_array_equal(dx, max_pool_backward_naive(dout, x_naive))


def test_max_pool_ties_go_to_the_first_maximum_like_the_naive_loop():
    x = np.zeros((1, 1, 2, 2))  # a 4-way tie
    dx = max_pool_backward(np.ones((1, 1, 1, 1)), max_pool_forward(x)[1])
    np.testing.assert_array_equal(dx, [[[[1.0, 0.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(dx, max_pool_backward_naive(np.ones((1, 1, 1, 1)), x))


@given(st.integers(1, 3), st.integers(1, 5), seeds)
def test_relu(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[0, 0] = 0.0  # the kink: derivative 0 in both
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, relu_forward_naive(x)[0])
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(relu_backward(dout, cache), relu_backward_naive(dout, cache))


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), seeds)
def test_dense(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_out, d_in))
    b = rng.standard_normal(d_out)
    out, cache = dense_forward(x, W, b)
    # the same sums of at most 5 products of N(0, 1) numbers in another order: 1e-12 is ~1e4 ulps
    np.testing.assert_allclose(out, dense_forward_naive(x, W, b)[0], rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for mine, naive in zip(dense_backward(dout, cache), dense_backward_naive(dout, cache),
                           strict=True):
        np.testing.assert_allclose(mine, naive, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 6), st.sampled_from([0.0, 0.3, 0.5, 0.9]), seeds)
def test_dropout(n, d, p, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    keep = dropout_mask(rng, (n, d), p)
    assert keep.dtype == np.bool_
    out, cache = dropout_forward(x, keep, p)
    # x * keep * scale against x / (1 - p): one rounding each, apart by at most 2 ulps
    np.testing.assert_allclose(out, dropout_forward_naive(x, keep, p)[0], rtol=1e-15, atol=0)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(dropout_backward(dout, cache), dropout_forward(dout, keep, p)[0])


def test_dropout_is_unbiased_and_rejects_bad_p():
    rng = np.random.default_rng(0)
    keep = dropout_mask(rng, (200_000,), 0.5)
    # mean of 2*Bernoulli(1/2): standard error 1/sqrt(2e5) ~ 2.2e-3; 5 sigma
    assert abs(np.mean(keep * 2.0) - 1.0) < 1.2e-2
    with pytest.raises(ValueError, match="dropout probability"):
        dropout_mask(rng, (2,), 1.0)
    with pytest.raises(ValueError, match="keep must be bool"):
        dropout_forward(np.zeros((2, 3)), np.ones((2, 3)), 0.5)


@given(st.integers(1, 4), st.integers(2, 6), seeds)
def test_softmax_cross_entropy(n, k, seed):
    rng = np.random.default_rng(seed)
    logits, y = rng.standard_normal((n, k)) * 3, rng.integers(0, k, n)
    loss, _ = softmax_cross_entropy_forward(logits, y)
    # shifted against unshifted log-sum-exp of logits below ~10: a few ulps of a loss below ~20
    assert np.isclose(loss, softmax_cross_entropy_naive(logits, y), rtol=1e-13)


def test_softmax_cross_entropy_in_chunks_is_the_mean_over_the_whole_batch():
    """Per-example losses of two chunks, and their gradients of the mean over all rows (n=7),
    are those of the whole batch: the same sums in another grouping, so 1e-15 relative."""
    rng = np.random.default_rng(5)
    logits, y = rng.standard_normal((7, 4)) * 3, rng.integers(0, 4, 7)
    loss, cache = softmax_cross_entropy_forward(logits, y)
    parts = [softmax_cross_entropy_per_example_forward(logits[s], y[s]) for s in (slice(0, 3),
             slice(3, 7))]  # fmt: skip
    losses = np.concatenate([part[0] for part in parts])  # 2 x (n_s,) -> (7,)
    assert np.isclose(losses.mean(), loss, rtol=1e-15, atol=0)
    dlogits = np.concatenate([softmax_cross_entropy_backward(0.5, part[1], 7) for part in parts])
    np.testing.assert_allclose(dlogits, softmax_cross_entropy_backward(0.5, cache), rtol=1e-15)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    loss, cache = softmax_cross_entropy_forward(logits, np.array([1, 1]))
    assert np.isclose(loss, (1000.0 + 1000.0) / 2)
    assert np.all(np.isfinite(softmax_cross_entropy_backward(1.0, cache)))


def test_pool_relu_batch_last_is_relu_of_the_pooling_with_the_batch_axis_last():
    """Exact (the same comparisons): forward against the naive loops, backward against the
    naive pooling backward of ReLU's gradient, with ties (repeated values) and a random dout."""
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 4, (3, 2, 4, 6)).astype(np.float64)  # (N, C, H, W), many ties
    x_bl = np.ascontiguousarray(x.transpose(1, 2, 3, 0))  # -> (C, H, W, N)
    out, cache = max_pool_relu_batch_last(x_bl)
    ref, ref_cache = max_pool_forward_naive(x)
    np.testing.assert_array_equal(out, np.maximum(ref, 0).transpose(1, 2, 3, 0))
    dout = rng.standard_normal(out.shape)  # (C, H/2, W/2, N)
    before = dout.copy()
    dx = max_pool_relu_batch_last_backward(dout, cache)
    d_ref = dout.transpose(3, 0, 1, 2) * (ref > 0)  # (N, C, H/2, W/2)
    np.testing.assert_array_equal(
        dx, max_pool_backward_naive(d_ref, ref_cache).transpose(1, 2, 3, 0)
    )
    np.testing.assert_array_equal(dout, before)


@given(
    st.integers(1, 3), st.integers(1, 2), st.integers(2, 7), st.integers(2, 7), seeds,
    st.sampled_from([np.float32, np.float64]),
)  # fmt: skip
def test_pool_relu_batch_last_matches_naive_loops_with_ties_and_odd_sizes(n, c, h, w, seed, dtype):
    """Exact, like the test above, for drawn shapes (odd sizes drop a row or column, whose
    gradient is 0), both dtypes (no upcast), and small integers (many ties and zeros)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, c, h, w)).astype(dtype)  # (N, C, H, W)
    out, cache = max_pool_relu_batch_last(np.ascontiguousarray(x.transpose(1, 2, 3, 0)))
    ref, ref_cache = max_pool_forward_naive(x)
    np.testing.assert_array_equal(out, np.maximum(ref, 0).transpose(1, 2, 3, 0))
    dout = rng.standard_normal(out.shape).astype(dtype)  # (C, H/2, W/2, N)
    dx = max_pool_relu_batch_last_backward(dout, cache)
    d_ref = dout.transpose(3, 0, 1, 2) * (ref > 0)  # (N, C, H/2, W/2)
    expected = max_pool_backward_naive(d_ref, ref_cache).transpose(1, 2, 3, 0)
    assert out.dtype == dtype and dx.dtype == dtype and dx.flags.c_contiguous
    np.testing.assert_array_equal(dx, expected)
