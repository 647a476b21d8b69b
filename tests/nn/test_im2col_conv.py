"""im2col/col2im and the convolution: vectorized vs naive loops, backward vs central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.nn.conv import (
    conv_backward,
    conv_backward_batch_last,
    conv_backward_naive,
    conv_forward,
    conv_forward_batch_last,
    conv_forward_naive,
    conv_rows_batch_last,
)
from adaptive_lr.nn.im2col import (
    col2im,
    col2im_batch_last,
    col2im_naive,
    conv_output_size,
    im2col,
    im2col_batch_last,
    im2col_naive,
)

from .gradcheck import assert_close, numerical_grad


@st.composite
def conv_case(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h = draw(st.integers(max(1, kh - 2 * pad), 6))
    w = draw(st.integers(max(1, kw - 2 * pad), 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    W = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f)
    return x, W, b, stride, pad, rng


def test_output_size_floors_and_rejects_small_inputs():
    assert conv_output_size(32, 5) == 28
    assert conv_output_size(6, 3, stride=2) == 2  # (6 - 3) // 2 + 1, floored like PyTorch
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv_output_size(3, 5)


@given(conv_case())
def test_im2col_col2im_match_naive_loops(case):
    x, W, _, stride, pad, rng = case
    kh, kw = W.shape[2:]
    cols = im2col(x, kh, kw, stride, pad)
    np.testing.assert_array_equal(cols, im2col_naive(x, kh, kw, stride, pad))
    dcols = rng.standard_normal(cols.shape)
    assert_close(
        col2im(dcols, x.shape, kh, kw, stride, pad),
        col2im_naive(dcols, x.shape, kh, kw, stride, pad),
        1e-12,
    )
    # col2im is the adjoint of im2col: <im2col(x), D> = <x, col2im(D)>
    assert np.isclose(np.sum(cols * dcols), np.sum(x * col2im(dcols, x.shape, kh, kw, stride, pad)))


@given(conv_case())
def test_conv_matches_naive_and_central_differences(case):
    x, W, b, stride, pad, rng = case
    out, cache = conv_forward(x, W, b, stride, pad)
    out_naive, cache_naive = conv_forward_naive(x, W, b, stride, pad)
    assert_close(out, out_naive, 1e-12)
    dout = rng.standard_normal(out.shape)  # random upstream gradient, not all ones
    dout_before = dout.copy()
    dx, dW, db = conv_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_before)  # backward never mutates its inputs
    for mine, naive in zip((dx, dW, db), conv_backward_naive(dout, cache_naive), strict=True):
        assert_close(mine, naive, 1e-12)
    # the convolution is linear in each argument: central differences are exact up to rounding
    assert_close(dx, numerical_grad(lambda v: conv_forward(v, W, b, stride, pad)[0], x, dout))
    assert_close(dW, numerical_grad(lambda v: conv_forward(x, v, b, stride, pad)[0], W, dout))
    assert_close(db, numerical_grad(lambda v: conv_forward(x, W, v, stride, pad)[0], b, dout))
    assert conv_backward(dout, cache, compute_dx=False)[0] is None


def test_stacked_conv_equals_one_conv_per_weight_set():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 7, 7))  # (P, N, C, H, W)
    W = rng.standard_normal((3, 5, 4, 3, 3))  # (P, F, C, KH, KW)
    b = rng.standard_normal((3, 5))
    out, _ = conv_forward(x, W, b)
    for p in range(3):
        assert_close(out[p], conv_forward(x[p], W[p], b[p])[0], 1e-12)


def test_long_products_are_blocked_consistently():
    """A batch wider than the GEMM column block gives the naive result."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 1, 24, 24))  # N*OH*OW = 5 * 400 = 2000... and 5*22*22 below
    W = rng.standard_normal((2, 1, 3, 3))
    b = rng.standard_normal(2)
    x = np.concatenate([x] * 2)  # 10 * 22 * 22 = 4840 columns > COL_BLOCK
    out, cache = conv_forward(x, W, b)
    assert_close(out, conv_forward_naive(x, W, b)[0], 1e-12)
    dout = rng.standard_normal(out.shape)
    _, dW, db = conv_backward(dout, cache)
    _, dW_naive, db_naive = conv_backward_naive(dout, conv_forward_naive(x, W, b)[1])
    assert_close(dW, dW_naive, 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_keeps_dtype(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv_forward(x, W, b, stride=2, pad=1)
    grads = conv_backward(rng.standard_normal(out.shape).astype(dtype), cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_conv_rejects_bad_shapes_and_mixed_dtypes():
    x, W, b = np.zeros((1, 3, 8, 8)), np.zeros((4, 2, 3, 3)), np.zeros(4)
    with pytest.raises(ValueError, match="channels"):
        conv_forward(x, W, b)
    with pytest.raises(ValueError, match="dtypes must match"):
        conv_forward(x.astype(np.float32), np.zeros((4, 3, 3, 3)), b)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv_forward(np.zeros((1, 3, 2, 2)), np.zeros((4, 3, 3, 3)), b)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_im2col_batch_last_is_im2col_with_the_batch_axis_last(n, kh, kw, seed):
    """Exact: the same numbers, columns reordered from (n, oh, ow) to (oh, ow, n); with a leading
    stack axis as in the fused probes."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n, 3, kh + 2, kw + 3))  # (P, N, C, H, W)
    oh, ow = 3, 4
    cols = im2col_batch_last(np.moveaxis(x, 1, -1), kh, kw)  # (P, C, H, W, N) -> (P, K, OH*OW*N)
    ref = im2col(x, kh, kw).reshape(2, -1, n, oh, ow)  # (P, K, N*OH*OW) -> (P, K, N, OH, OW)
    ref = np.moveaxis(ref, 2, -1).reshape(2, -1, oh * ow * n)  # -> (P, K, OH*OW*N)
    assert cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, ref)
    assert np.array_equal(im2col_naive(x[0], kh, kw), im2col(x[0], kh, kw))


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_col2im_batch_last_is_col2im_with_the_batch_axis_last(n, kh, kw, seed):
    """The adjoint of im2col_batch_last: col2im of the same columns, reordered (1e-15)."""
    rng = np.random.default_rng(seed)
    h, w = kh + 2, kw + 3
    dcols = rng.standard_normal((3 * kh * kw, 3 * 4 * n))  # (K, OH*OW*N)
    dx = col2im_batch_last(dcols, (3, h, w, n), kh, kw)  # (C, H, W, N)
    batch_first = np.moveaxis(dcols.reshape(-1, 3, 4, n), -1, 1).reshape(dcols.shape[0], -1)
    ref = col2im(batch_first, (n, 3, h, w), kh, kw)  # (N, C, H, W)
    np.testing.assert_allclose(dx, np.moveaxis(ref, 0, -1), rtol=1e-15, atol=1e-15)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_conv_batch_last_is_conv_with_the_batch_axis_last(n, k, seed):
    """Forward and backward against the naive loops, in the other layout: the same sums in
    another order (1e-13 relative); the random dout is not modified."""
    rng = np.random.default_rng(seed)
    x, W, b = (
        rng.standard_normal((n, 2, k + 3, k + 2)),
        rng.standard_normal((3, 2, k, k)),
        rng.standard_normal(3),
    )
    out, cache = conv_forward_batch_last(np.ascontiguousarray(np.moveaxis(x, 0, -1)), W, b)
    ref, ref_cache = conv_forward_naive(x, W, b)
    np.testing.assert_allclose(out, np.moveaxis(ref, 0, -1), rtol=1e-13, atol=1e-13)
    dout = rng.standard_normal(ref.shape)  # (N, F, OH, OW)
    dout_bl = np.ascontiguousarray(np.moveaxis(dout, 0, -1))  # -> (F, OH, OW, N)
    before = dout_bl.copy()
    dx, dW, db = conv_backward_batch_last(dout_bl, cache)
    rdx, rdW, rdb = conv_backward_naive(dout, ref_cache)
    np.testing.assert_array_equal(dout_bl, before)
    np.testing.assert_allclose(dx, np.moveaxis(rdx, 0, -1), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dW, rdW, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(db, rdb, rtol=1e-13, atol=1e-13)
    assert conv_backward_batch_last(dout_bl, cache, compute_dx=False)[0] is None


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_conv_by_kernel_rows_is_the_convolution(n, kh, kw, seed):
    """Stacked (P = 2 weight sets, as in the fused probes), batch-last, against the naive loops
    of each stack entry: the same sums in another order (1e-13 relative)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n, 3, kh + 3, kw + 2))  # (P, N, C, H, W)
    W, b = rng.standard_normal((2, 4, 3, kh, kw)), rng.standard_normal((2, 4))
    out = conv_rows_batch_last(np.ascontiguousarray(np.moveaxis(x, 1, -1)), W, b)
    for k in range(2):
        ref = conv_forward_naive(x[k], W[k], b[k])[0]  # (N, F, OH, OW)
        np.testing.assert_allclose(out[k], np.moveaxis(ref, 0, -1), rtol=1e-13, atol=1e-13)
