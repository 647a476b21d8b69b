"""The convolution by kernel rows (batch-last, LeNet's layers): against the naive loops of
:mod:`adaptive_lr.nn.conv`. Backward against central differences, no mutation and dtypes: the
layer contract (``tests/nn/test_layer_contract.py``)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.fast import conv_rows as conv_module
from adaptive_lr.fast.conv_rows import (
    conv_rows_backward_batch_last,
    conv_rows_batch_last,
    conv_rows_forward_batch_last,
)
from adaptive_lr.fast.unfold import fold_width, fold_width_naive, unfold_width, unfold_width_naive
from adaptive_lr.nn.conv import conv_backward_naive, conv_forward_naive


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


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_unfold_fold_width_match_naive_loops(n, kw, c, seed):
    """Exact copies; the fold adds at most KW numbers per pixel (1e-15), and is the adjoint of
    the unfold: <unfold(x), D> = <x, fold(D)> up to rounding of the two sums."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, 4, kw + 2, n))  # (C, H, W, N)
    u = unfold_width(x, kw)  # (C*KW, H*OW*N)
    assert u.flags.c_contiguous and u.shape == (c * kw, 4 * 3 * n)
    np.testing.assert_array_equal(u, unfold_width_naive(x, kw))
    stacked = unfold_width(np.stack([x, 2 * x]), kw)  # (2, C, H, W, N) -> (2, C*KW, H*OW*N)
    np.testing.assert_array_equal(stacked, np.stack([u, 2 * u]))
    du = rng.standard_normal(u.shape)
    before = du.copy()
    dx = fold_width(du, x.shape, kw)
    np.testing.assert_array_equal(du, before)
    np.testing.assert_allclose(dx, fold_width_naive(du, x.shape, kw), rtol=1e-15, atol=1e-15)
    assert np.isclose(np.sum(u * du), np.sum(x * dx), rtol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_conv_by_kernel_rows_with_backward_is_the_convolution(n, kh, kw, seed):
    """conv_rows_forward/backward_batch_last against the naive loops, in the batch-last layout:
    the same sums in another order (1e-13 relative); the random dout is not modified."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, kh + 3, kw + 2))  # (N, C, H, W)
    W, b = rng.standard_normal((3, 2, kh, kw)), rng.standard_normal(3)
    out, cache = conv_rows_forward_batch_last(np.ascontiguousarray(np.moveaxis(x, 0, -1)), W, b)
    ref, ref_cache = conv_forward_naive(x, W, b)
    np.testing.assert_allclose(out, np.moveaxis(ref, 0, -1), rtol=1e-13, atol=1e-13)
    dout = rng.standard_normal(ref.shape)  # (N, F, OH, OW)
    dout_bl = np.ascontiguousarray(np.moveaxis(dout, 0, -1))  # -> (F, OH, OW, N)
    before = dout_bl.copy()
    dx, dW, db = conv_rows_backward_batch_last(dout_bl, cache)
    rdx, rdW, rdb = conv_backward_naive(dout, ref_cache)
    np.testing.assert_array_equal(dout_bl, before)
    np.testing.assert_allclose(dx, np.moveaxis(rdx, 0, -1), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dW, rdW, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(db, rdb, rtol=1e-13, atol=1e-13)
    assert conv_rows_backward_batch_last(dout_bl, cache, compute_dx=False)[0] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_by_kernel_rows_in_blocks_keeps_dtype_and_matches_naive(dtype, monkeypatch):
    """Wider than ROW_BLOCK (several column blocks, a partial last one), in both dtypes: against
    float64 naive loops, 1e-12 in float64; in float32 each output and gradient entry is a sum of
    up to K*L products of O(1) numbers, so ~eps32 * sqrt(terms) * |terms|: 1e-4 relative to the
    largest entry leaves a wide margin."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 12, 12, 80))  # (C, H, W, N): OH*OW*N = 8000, L = 9600 columns
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    monkeypatch.setattr(conv_module, "ROW_BLOCK", 3000)  # 3 blocks of output columns, 1 partial
    out, cache = conv_rows_forward_batch_last(*(a.astype(dtype) for a in (x, W, b)))
    dout = rng.standard_normal(out.shape)
    grads = conv_rows_backward_batch_last(dout.astype(dtype), cache)
    x_nf = np.moveaxis(x, -1, 0)  # (C, H, W, N) -> (N, C, H, W)
    ref, ref_cache = conv_forward_naive(x_nf, W, b)
    refs = conv_backward_naive(np.moveaxis(dout, -1, 0), ref_cache)
    refs = (np.moveaxis(refs[0], 0, -1), *refs[1:])  # dx (N, C, H, W) -> (C, H, W, N)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    for mine, naive in zip((out, *grads), (np.moveaxis(ref, 0, -1), *refs), strict=True):
        np.testing.assert_allclose(mine, naive, rtol=tol, atol=tol * np.abs(naive).max())
