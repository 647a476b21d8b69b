"""im2col/col2im and the convolution: vectorized against the naive loops, and clear errors.
Backward against central differences, no mutation and dtypes: ``test_layer_contract.py``."""

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
    # each pixel adds at most KH*KW = 9 numbers, in another order: 1e-12 is ~1e4 ulps
    np.testing.assert_allclose(
        col2im(dcols, x.shape, kh, kw, stride, pad),
        col2im_naive(dcols, x.shape, kh, kw, stride, pad),
        rtol=1e-12, atol=1e-12,
    )
    # col2im is the adjoint of im2col: <im2col(x), D> = <x, col2im(D)>
    assert np.isclose(np.sum(cols * dcols), np.sum(x * col2im(dcols, x.shape, kh, kw, stride, pad)))


@given(conv_case())
def test_conv_matches_naive_loops(case):
    x, W, b, stride, pad, rng = case
    # the same sums of at most 3*3*3 products of N(0, 1) numbers (and of at most 2*6*6 for dW)
    # in another order: 1e-12 is ~1e4 ulps
    out, cache = conv_forward(x, W, b, stride, pad)
    out_naive, cache_naive = conv_forward_naive(x, W, b, stride, pad)
    np.testing.assert_allclose(out, out_naive, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)  # random upstream gradient, not all ones
    grads = conv_backward(dout, cache)
    for mine, naive in zip(grads, conv_backward_naive(dout, cache_naive), strict=True):
        np.testing.assert_allclose(mine, naive, rtol=1e-12, atol=1e-12)
    skipped = conv_backward(dout, cache, compute_dx=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(skipped[1], grads[1])


def test_conv_rejects_bad_shapes_and_mixed_dtypes():
    x, W, b = np.zeros((1, 3, 8, 8)), np.zeros((4, 2, 3, 3)), np.zeros(4)
    with pytest.raises(ValueError, match="channels"):
        conv_forward(x, W, b)
    with pytest.raises(ValueError, match="dtypes must match"):
        conv_forward(x.astype(np.float32), np.zeros((4, 3, 3, 3)), b)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv_forward(np.zeros((1, 3, 2, 2)), np.zeros((4, 3, 3, 3)), b)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv_forward(np.zeros((2, 1, 3, 8, 8)), np.zeros((2, 4, 3, 3, 3)), np.zeros((2, 4)))
