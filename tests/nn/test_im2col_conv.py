"""im2col/col2im and the convolution: vectorized vs naive loops, backward vs central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.nn.conv import (
    conv_backward,
    conv_backward_naive,
    conv_forward,
    conv_forward_naive,
)
from adaptive_lr.nn.im2col import (
    col2im,
    col2im_naive,
    conv_output_size,
    im2col,
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
