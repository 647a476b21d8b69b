"""One contract over every forward/backward pair: the textbook layers of :mod:`adaptive_lr.nn` and
the fast kernels of :mod:`adaptive_lr.fast`. Adding a layer is adding one entry to ``LAYERS``.

For inputs and a random upstream gradient ``dout`` drawn by hypothesis (bounded finite floats, no
NaN, no subnormals; shapes drawn too), each pair must

1. give the gradient of ``s(inputs) = sum(dout * forward(inputs))`` (its backward) within the
   error bound of central differences, in float64 (:func:`central_difference_bound`);
2. leave its inputs and ``dout`` unmodified;
3. return outputs and gradients of the inputs' dtype, float32 and float64 (the mean loss of
   :func:`~adaptive_lr.nn.losses.softmax_cross_entropy_forward` is a Python float by design).

Kinks are avoided with ``assume()``: ReLU inputs at least ``MARGIN`` from 0 (drawn off zero entry
by entry, see :func:`values`), and in every pooling window a gap of at least ``MARGIN`` between
the largest and second-largest entries (and, where ReLU follows the pooling, the largest entry at
least ``MARGIN`` from 0). A coordinate moved by
``H < MARGIN`` then crosses no kink, and every layer here except the softmax cross-entropy is
affine in each single coordinate between kinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from adaptive_lr.fast import chwn
from adaptive_lr.fast.conv_rows import conv_rows_backward_batch_last, conv_rows_forward_batch_last
from adaptive_lr.fast.pool import max_pool_relu_batch_last, max_pool_relu_batch_last_backward
from adaptive_lr.fast.unfold import fold_width, unfold_width
from adaptive_lr.nn.activations import relu_backward, relu_forward
from adaptive_lr.nn.avg_pool import avg_pool_backward, avg_pool_forward
from adaptive_lr.nn.batchnorm import (
    EPS,
    batchnorm_backward,
    batchnorm_eval_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
)
from adaptive_lr.nn.conv import conv_backward, conv_forward
from adaptive_lr.nn.dense import dense_backward, dense_forward
from adaptive_lr.nn.dropout import dropout_backward, dropout_forward
from adaptive_lr.nn.dropout2d import dropout2d_backward, dropout2d_forward
from adaptive_lr.nn.im2col import col2im, im2col
from adaptive_lr.nn.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from adaptive_lr.nn.max_pool_window import max_pool_window_backward, max_pool_window_forward
from adaptive_lr.nn.pool import max_pool_backward, max_pool_forward
from adaptive_lr.nn.residual import residual_backward, residual_forward

U = np.finfo(np.float64).eps / 2  # unit roundoff of float64, 1.1e-16
BOUND = 4.0  # inputs in [-4, 4]
H = 1e-3  # central-difference step
MARGIN = 1e-2  # distance to the nearest kink, > H


class Case(NamedTuple):
    """One drawn instance of a layer.

    ``inputs`` are the differentiable float64 arrays, ``forward(**inputs) -> (out, cache)``,
    ``backward(dout, cache) -> {name: gradient}`` for the same names; ``fixed`` holds the other
    array arguments (masks, labels), checked for mutation too. ``magnitude(**inputs)`` bounds, for
    each output entry, the sum of the absolute values of the terms it is computed from (the
    forward pass on absolute values, for the layers that only add, multiply and compare), and
    ``third(inputs, dout)`` bounds ``|d^3 s / dx_i^3|`` for any single coordinate ``x_i``.
    """

    inputs: dict
    forward: Callable
    backward: Callable
    fixed: dict
    magnitude: Callable
    third: Callable = lambda inputs, dout: 0.0  # affine in each coordinate between kinks


def values(shape, unique: bool = False, off_zero: bool = False):
    """Arrays of bounded finite float64 values, each entry drawn on its own (no fill value);
    ``off_zero`` redraws entries within ``MARGIN`` of 0 one at a time (hypothesis favours 0 and
    tiny values, so a whole array would otherwise rarely pass ``assume(min |x| > MARGIN)``)."""
    elements = st.floats(-BOUND, BOUND, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)
    if off_zero:
        elements = elements.filter(lambda v: abs(v) > MARGIN)
    return arrays(np.float64, shape, elements=elements, fill=st.nothing(), unique=unique)


def on_absolute_values(forward):
    return lambda **inputs: forward(**{k: np.abs(v) for k, v in inputs.items()})[0]


def window_top2(x):
    """Largest and second-largest entry of each 2x2 window of x (..., H, W): two (..., H//2,
    W//2) arrays."""
    oh, ow = x.shape[-2] // 2, x.shape[-1] // 2
    # (..., 2*OH, 2*OW) -> (..., OH, 2, OW, 2) -> (..., OH, OW, 2, 2) -> (..., OH, OW, 4)
    win = x[..., : 2 * oh, : 2 * ow].reshape(*x.shape[:-2], oh, 2, ow, 2)
    win = np.moveaxis(win, -3, -2).reshape(*x.shape[:-2], oh, ow, 4)
    top2 = np.sort(win, axis=-1)[..., -2:]
    return top2[..., 1], top2[..., 0]


def assume_pooling_without_ties(x, relu_after: bool = False) -> None:
    top, second = window_top2(x)
    assume(np.min(top - second) > MARGIN)
    if relu_after:
        assume(np.min(np.abs(top)) > MARGIN)


def dims(lo, hi):
    return st.integers(lo, hi)


# -- the layers -------------------------------------------------------------------------------
@st.composite
def conv_case(draw):
    n, c, f = draw(dims(1, 2)), draw(dims(1, 2)), draw(dims(1, 2))
    kh, kw, stride, pad = draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 2)), draw(dims(0, 1))
    h, w = draw(dims(max(1, kh - 2 * pad), 5)), draw(dims(max(1, kw - 2 * pad), 5))
    inputs = dict(x=draw(values((n, c, h, w))), W=draw(values((f, c, kh, kw))), b=draw(values(f)))

    def forward(x, W, b):
        return conv_forward(x, W, b, stride, pad)

    def backward(dout, cache):
        return dict(zip("xWb", conv_backward(dout, cache), strict=True))

    return Case(inputs, forward, backward, {}, on_absolute_values(forward))


@st.composite
def im2col_case(draw):
    n, c = draw(dims(1, 2)), draw(dims(1, 2))
    kh, kw, stride, pad = draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 2)), draw(dims(0, 1))
    shape = (n, c, draw(dims(max(1, kh - 2 * pad), 5)), draw(dims(max(1, kw - 2 * pad), 5)))

    def forward(x):
        return im2col(x, kh, kw, stride, pad), None

    def backward(dcols, _):
        return {"x": col2im(dcols, shape, kh, kw, stride, pad)}

    return Case({"x": draw(values(shape))}, forward, backward, {}, on_absolute_values(forward))


@st.composite
def max_pool_case(draw):
    x = draw(values((draw(dims(1, 2)), draw(dims(1, 2)), draw(dims(2, 5)), draw(dims(2, 5))),
                    unique=True))  # (N, C, H, W)
    assume_pooling_without_ties(x)
    return Case({"x": x}, max_pool_forward, lambda d, c: {"x": max_pool_backward(d, c)}, {},
                on_absolute_values(max_pool_forward))


@st.composite
def relu_case(draw):
    x = draw(values((draw(dims(1, 3)), draw(dims(1, 6))), off_zero=True))
    assume(np.min(np.abs(x)) > MARGIN)
    return Case({"x": x}, relu_forward, lambda d, c: {"x": relu_backward(d, c)}, {},
                on_absolute_values(relu_forward))


@st.composite
def dense_case(draw):
    n, d_in, d_out = draw(dims(1, 4)), draw(dims(1, 5)), draw(dims(1, 5))
    inputs = dict(x=draw(values((n, d_in))), W=draw(values((d_out, d_in))), b=draw(values(d_out)))

    def backward(dout, cache):
        return dict(zip("xWb", dense_backward(dout, cache), strict=True))

    return Case(inputs, dense_forward, backward, {}, on_absolute_values(dense_forward))


@st.composite
def dropout_case(draw):
    shape = (draw(dims(1, 4)), draw(dims(1, 6)))
    keep = draw(arrays(np.bool_, shape))
    p = draw(st.sampled_from([0.0, 0.3, 0.5, 0.9]))

    def forward(x):
        return dropout_forward(x, keep, p)

    return Case({"x": draw(values(shape))}, forward,
                lambda d, c: {"x": dropout_backward(d, c)}, {"keep": keep},
                on_absolute_values(forward))


@st.composite
def softmax_cross_entropy_case(draw):
    n, k = draw(dims(1, 4)), draw(dims(2, 6))
    y = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))

    def forward(logits):
        return softmax_cross_entropy_forward(logits, y)

    def magnitude(logits):
        # per example: log(sum exp(z - max z)) - (z_y - max z) is computed from numbers of size
        # at most 2 max|z| (the shifted logits) and log K (the log of a sum of K terms <= 1)
        return np.mean(2 * np.abs(logits).max(axis=1) + np.log(k) + 1)

    def third(inputs, dout):
        # d^3/dz^3 of log-sum-exp along one coordinate is p(1-p)(1-2p), |.| <= 1/(6 sqrt 3) < 0.1;
        # the mean divides by N
        return 0.1 * float(np.abs(dout)) / n

    return Case({"logits": draw(values((n, k)))}, forward,
                lambda d, c: {"logits": softmax_cross_entropy_backward(float(d), c)}, {"y": y},
                magnitude, third)


@st.composite
def conv_rows_case(draw):
    c, f, n = draw(dims(1, 2)), draw(dims(1, 2)), draw(dims(1, 3))
    kh, kw = draw(dims(1, 3)), draw(dims(1, 3))
    shape = (c, draw(dims(kh, kh + 3)), draw(dims(kw, kw + 3)), n)  # (C, H, W, N)
    inputs = dict(x=draw(values(shape)), W=draw(values((f, c, kh, kw))), b=draw(values(f)))

    def backward(dout, cache):
        return dict(zip("xWb", conv_rows_backward_batch_last(dout, cache), strict=True))

    return Case(inputs, conv_rows_forward_batch_last, backward, {},
                on_absolute_values(conv_rows_forward_batch_last))


@st.composite
def unfold_width_case(draw):
    kw = draw(dims(1, 3))
    shape = (draw(dims(1, 2)), draw(dims(1, 3)), draw(dims(kw, kw + 3)), draw(dims(1, 3)))

    def forward(x):
        return unfold_width(x, kw), None

    return Case({"x": draw(values(shape))}, forward,
                lambda du, _: {"x": fold_width(du, shape, kw)}, {}, on_absolute_values(forward))


@st.composite
def max_pool_relu_batch_last_case(draw):
    x = draw(values((draw(dims(1, 2)), draw(dims(2, 5)), draw(dims(2, 5)), draw(dims(1, 3))),
                    unique=True, off_zero=True))  # (C, H, W, N)
    assume_pooling_without_ties(np.moveaxis(x, -1, 0), relu_after=True)  # -> (N, C, H, W)
    return Case({"x": x}, max_pool_relu_batch_last,
                lambda d, c: {"x": max_pool_relu_batch_last_backward(d, c)}, {},
                on_absolute_values(max_pool_relu_batch_last))


# -- ResNet's layers ----------------------------------------------------------------------------
def batchnorm_bounds(x3, gamma, beta):
    """``magnitude`` and ``third`` of training-mode BatchNorm on ``x3`` (C, G, M): each of the
    ``G`` groups of ``M`` values of a channel normalised with its own statistics.

    Along one coordinate ``x_i`` (moved by ``t``) of a group, ``s = gamma (A + B t) q(t)^(-1/2)
    + const`` with ``A = sum dout_j (x_j - mu)``, ``B = sum dout_j (delta_ij - 1/M)`` and
    ``q(t) = var(t) + eps = V + 2 b t + a t^2``, ``b = (x_i - mu)/M``, ``a = (1 - 1/M)/M``:
    ``q = a ((t + b/a)^2 + r^2)`` with ``r^2 = V/a - b^2/a^2 > 0``. ``f(u) = (u^2 + r^2)^(-1/2)``
    is analytic with ``|f| <= 2/r`` on discs of radius ``r/2`` about real points, so (Cauchy)
    ``|f^(k)| <= k! 2^(k+1) / r^(k+1)``, and the third derivative of ``s`` is at most
    ``|gamma| a^(-1/2) ((|A| + |B| H) 96/r^4 + 3 |B| 16/r^3)``. The smallest ``sigma`` at any
    perturbed point is ``sqrt(a) r``; every output is computed from numbers of size at most
    ``|gamma| ((|x_j| + max|x| + 2H) / sigma_min + sqrt(M)) + |beta|`` (``|xhat| <= sqrt(M)``),
    the magnitude.
    """
    c, g, m = x3.shape
    mu = x3.mean(axis=2, keepdims=True)
    xc = x3 - mu
    v = np.mean(xc**2, axis=2, keepdims=True) + EPS
    a = (1 - 1 / m) / m
    r = np.sqrt(v / a - (xc / m) ** 2 / a**2)  # (C, G, M): per coordinate
    sigma_min = np.sqrt(a) * r.min(axis=2, keepdims=True)  # (C, G, 1)
    gam = np.abs(gamma)[:, None, None]

    def magnitude():
        big = np.abs(x3).max(axis=2, keepdims=True)
        return (gam * ((np.abs(x3) + big + 2 * H) / sigma_min + np.sqrt(m))
                + np.abs(beta)[:, None, None])

    def third(dout3):
        A = np.sum(dout3 * xc, axis=2, keepdims=True)
        B = dout3 - dout3.mean(axis=2, keepdims=True)  # B_i = dout_i - mean(dout)
        bound = gam / np.sqrt(a) * ((np.abs(A) + np.abs(B) * H) * 96 / r**4
                                    + 3 * np.abs(B) * 16 / r**3)
        return float(bound.max())

    return magnitude, third


def nchw_groups(x):
    """(N, C, H, W) -> (C, 1, N*H*W)."""
    return x.transpose(1, 0, 2, 3).reshape(x.shape[1], 1, -1)


def assume_spread(x3):
    """Each group's variance at least 0.05, so that the bounds above stay meaningful."""
    assume(np.min(np.var(x3, axis=2)) > 0.05)


@st.composite
def batchnorm_case(draw):
    n, c, h, w = draw(dims(1, 3)), draw(dims(1, 2)), draw(dims(1, 3)), draw(dims(1, 3))
    assume(n * h * w >= 2)
    x = draw(values((n, c, h, w), unique=True))
    gamma, beta = draw(values(c)), draw(values(c))
    assume_spread(nchw_groups(x))
    mag, third = batchnorm_bounds(nchw_groups(x), gamma, beta)

    def forward(x, gamma, beta):
        out, cache, _ = batchnorm_forward(x, gamma, beta)
        return out, cache

    def backward(dout, cache):
        return dict(zip(("x", "gamma", "beta"), batchnorm_backward(dout, cache), strict=True))

    def magnitude(**_):
        return mag().reshape(c, n, h, w).transpose(1, 0, 2, 3)

    return Case(dict(x=x, gamma=gamma, beta=beta), forward, backward, {}, magnitude,
                lambda inputs, dout: third(nchw_groups(dout)))


@st.composite
def batchnorm_eval_case(draw):
    n, c, h, w = draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 3))
    mean = draw(values(c))
    var = draw(arrays(np.float64, c, elements=st.floats(0.1, 4.0)))

    def forward(x, gamma, beta):
        return batchnorm_eval_forward(x, gamma, beta, mean, var)

    def backward(dout, cache):
        return dict(zip(("x", "gamma", "beta"), batchnorm_eval_backward(dout, cache),
                        strict=True))

    def magnitude(x, gamma, beta):  # |gamma| (|x| + |mean|) / sqrt(var + eps) + |beta|
        scale = (np.abs(gamma) / np.sqrt(var + EPS))[:, None, None]
        return (np.abs(x) + np.abs(mean)[:, None, None]) * scale + np.abs(beta)[:, None, None]

    inputs = dict(x=draw(values((n, c, h, w))), gamma=draw(values(c)), beta=draw(values(c)))
    return Case(inputs, forward, backward, {"mean": mean, "var": var}, magnitude)


@st.composite
def dropout2d_case(draw):
    n, c = draw(dims(1, 3)), draw(dims(1, 3))
    keep = draw(arrays(np.bool_, (n, c)))
    p = draw(st.sampled_from([0.0, 0.5, 0.9]))

    def forward(x):
        return dropout2d_forward(x, keep, p)

    return Case({"x": draw(values((n, c, draw(dims(1, 3)), draw(dims(1, 3)))))}, forward,
                lambda d, cache: {"x": dropout2d_backward(d, cache)}, {"keep": keep},
                on_absolute_values(forward))


@st.composite
def avg_pool_case(draw):
    shape = (draw(dims(1, 2)), draw(dims(1, 3)), draw(dims(1, 4)), draw(dims(1, 4)))
    return Case({"x": draw(values(shape))}, avg_pool_forward,
                lambda d, cache: {"x": avg_pool_backward(d, cache)}, {},
                on_absolute_values(avg_pool_forward))


def window_gap(x, k, stride, pad):
    """The smallest gap between the largest and second-largest entry over the windows of a
    k x k / stride / pad max pooling (padding is -inf and never competes)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    oh = (x.shape[2] + 2 * pad - k) // stride + 1
    ow = (x.shape[3] + 2 * pad - k) // stride + 1
    gap = np.inf
    for r in range(oh):
        for s in range(ow):
            win = xp[:, :, r * stride : r * stride + k, s * stride : s * stride + k]
            win = np.sort(win.reshape(*x.shape[:2], -1), axis=-1)
            if win.shape[-1] > 1:
                gap = min(gap, float(np.min(win[..., -1] - win[..., -2])))
    return gap


@st.composite
def max_pool_window_case(draw):
    k = draw(dims(1, 3))
    stride, pad = draw(dims(1, 2)), draw(dims(0, k // 2))
    shape = (draw(dims(1, 2)), draw(dims(1, 2)), draw(dims(max(1, k - 2 * pad), 5)),
             draw(dims(max(1, k - 2 * pad), 5)))
    x = draw(values(shape, unique=True))
    assume(window_gap(x, k, stride, pad) > MARGIN)

    def forward(x):
        return max_pool_window_forward(x, k, stride, pad)

    return Case({"x": x}, forward, lambda d, c: {"x": max_pool_window_backward(d, c)}, {},
                on_absolute_values(forward))


@st.composite
def residual_case(draw):
    shape = (draw(dims(1, 3)), draw(dims(1, 4)))
    return Case(dict(a=draw(values(shape)), b=draw(values(shape))), residual_forward,
                lambda d, c: dict(zip("ab", residual_backward(d, c), strict=True)), {},
                on_absolute_values(residual_forward))


@st.composite
def conv_batch_last_case(draw):
    c, f, n = draw(dims(1, 2)), draw(dims(1, 2)), draw(dims(1, 2))
    k, stride = draw(st.sampled_from([1, 3])), draw(dims(1, 2))
    pad = k // 2
    shape = (c, draw(dims(1, 5)), draw(dims(1, 5)), n)  # (C, H, W, N)
    inputs = dict(x=draw(values(shape)), W=draw(values((f, c, k, k))))

    def forward(x, W):
        return chwn.conv_forward(x, W, stride, pad)

    def backward(dout, cache):
        return dict(zip("xW", chwn.conv_backward(dout, cache), strict=True))

    return Case(inputs, forward, backward, {}, on_absolute_values(forward))


@st.composite
def batchnorm_batch_last_case(draw):
    c, groups, per = draw(dims(1, 2)), draw(dims(1, 3)), draw(dims(1, 2))
    h, w = draw(dims(1, 3)), draw(dims(1, 3))
    assume(per * h * w >= 2)
    x = draw(values((c, h, w, groups * per), unique=True))  # (C, H, W, N)
    gamma, beta = draw(values(c)), draw(values(c))

    def grouped(a):  # (C, H, W, G*per) -> (C, G, H*W*per): group g = examples g*per ...
        return a.reshape(c, h * w, groups, per).transpose(0, 2, 1, 3).reshape(c, groups, -1)

    x3 = grouped(x)
    assume_spread(x3)
    mag, third = batchnorm_bounds(x3, gamma, beta)

    def forward(x, gamma, beta):
        out, cache, _ = chwn.batchnorm_forward(x, gamma, beta, groups=groups)
        return out, cache

    def backward(dout, cache):
        return dict(zip(("x", "gamma", "beta"), chwn.batchnorm_backward(dout, cache),
                        strict=True))

    def magnitude(**_):
        return mag().reshape(c, groups, h * w, per).transpose(0, 2, 1, 3).reshape(x.shape)

    return Case(dict(x=x, gamma=gamma, beta=beta), forward, backward, {}, magnitude,
                lambda inputs, dout: third(grouped(dout)))


@st.composite
def max_pool_batch_last_case(draw):
    shape = (draw(dims(1, 2)), draw(dims(1, 5)), draw(dims(1, 5)), draw(dims(1, 2)))
    x = draw(values(shape, unique=True))  # (C, H, W, N)
    assume(window_gap(np.moveaxis(x, -1, 0), 3, 2, 1) > MARGIN)
    return Case({"x": x}, chwn.max_pool_forward,
                lambda d, c: {"x": chwn.max_pool_backward(d, c)}, {},
                on_absolute_values(chwn.max_pool_forward))


LAYERS = {
    # textbook layers (adaptive_lr.nn)
    "conv (im2col)": conv_case(),
    "im2col / col2im": im2col_case(),
    "max pool": max_pool_case(),
    "relu": relu_case(),
    "dense": dense_case(),
    "dropout": dropout_case(),
    "softmax cross-entropy": softmax_cross_entropy_case(),
    "batchnorm, training mode": batchnorm_case(),
    "batchnorm, evaluation mode": batchnorm_eval_case(),
    "dropout2d": dropout2d_case(),
    "average pool": avg_pool_case(),
    "max pool, any window": max_pool_window_case(),
    "residual sum": residual_case(),
    # fast kernels (adaptive_lr.fast)
    "conv by kernel rows, batch-last": conv_rows_case(),
    "unfold / fold width": unfold_width_case(),
    "max pool + relu, batch-last": max_pool_relu_batch_last_case(),
    "conv, batch-last": conv_batch_last_case(),
    "batchnorm, batch-last, groups": batchnorm_batch_last_case(),
    "max pool 3x3/2, batch-last": max_pool_batch_last_case(),
}


# -- the contract -----------------------------------------------------------------------------
def central_differences(case: Case, dout, name: str) -> np.ndarray:
    """``(s(x + H e_i) - s(x - H e_i)) / (2H)`` for every coordinate ``i`` of input ``name``."""
    inputs = {k: v.copy() for k, v in case.inputs.items()}
    x = inputs[name].reshape(-1)  # a view into inputs[name]
    out = np.empty(x.size)

    def s():
        return np.sum(dout * case.forward(**inputs)[0])

    for i in range(x.size):
        old = x[i]
        x[i] = old + H
        plus = s()
        x[i] = old - H
        minus = s()
        x[i] = old
        out[i] = (plus - minus) / (2 * H)
    return out.reshape(inputs[name].shape)


def central_difference_bound(case: Case, dout, grad) -> np.ndarray:
    """Bound on ``|central difference - gradient|`` per coordinate, in float64.

    * Truncation: ``H^2/6 * |s'''|`` (0 for the layers affine in each coordinate between kinks).
    * Rounding of ``s``: ``s`` is a sum of products computed with at most ``m`` roundings in a row
      (``m`` = number of inputs and outputs, plus a few), so ``|fl(s) - s| <= m u A`` with ``A =
      sum_k |dout_k| * magnitude_k`` at the perturbed inputs (Higham, *Accuracy and Stability of
      Numerical Algorithms*, Sec. 3.1); the difference of two such values over ``2H`` errs by at
      most ``m u A / H``, the ``u |f| / H`` of the theory.
    * Rounding of the step: ``fl(x_i + H) - x_i`` differs from ``H`` by up to ``u (|x_i| + H)``,
      a relative error ``u (|x_i| + H) / H`` of the quotient, that is of ``|grad_i|``.

    With inputs in [-4, 4], ``m`` ~ 300 and ``A`` up to ~1e5 the rounding term is ~1e-6, while a
    wrong gradient is off by O(1): the check is tight and cannot pass by accident.
    """
    m = sum(v.size for v in case.inputs.values()) + np.size(case.forward(**case.inputs)[0]) + 4
    # the magnitudes grow with |inputs|: |inputs| + H bounds them at every perturbed point
    a = float(np.sum(np.abs(dout) * case.magnitude(**{k: np.abs(v) + H
                                                      for k, v in case.inputs.items()})))
    truncation = H**2 / 6 * case.third(case.inputs, dout)
    return truncation + m * U * a / H + U * (BOUND + H) / H * np.abs(grad)


def upstream(shape):
    """A random upstream gradient: bounded, distinct entries, not all ones, not all small."""
    return values(shape, unique=True).filter(
        lambda d: np.max(np.abs(d), initial=0.0) > 0.5 and not np.all(d == 1.0)
    )


@pytest.mark.parametrize("layer", list(LAYERS), ids=list(LAYERS))
@given(data=st.data())
def test_layer_contract(layer, data):
    case = data.draw(LAYERS[layer])
    before = {k: v.copy() for k, v in {**case.inputs, **case.fixed}.items()}
    out, cache = case.forward(**case.inputs)
    dout = data.draw(upstream(np.shape(out)))
    dout_before = dout.copy()
    grads = case.backward(dout, cache)
    # 2. nothing modified
    np.testing.assert_array_equal(dout, dout_before)
    for k, v in {**case.inputs, **case.fixed}.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{layer} modified {k}")
    # 1. the gradient, against central differences (float64)
    assert set(grads) == set(case.inputs)
    for name, grad in grads.items():
        assert grad.shape == case.inputs[name].shape
        error = np.abs(grad - central_differences(case, dout, name))
        bound = central_difference_bound(case, dout, grad)
        assert np.all(error <= bound), f"{layer}, d/d{name}: error {error.max()} > {bound.max()}"
    # 3. dtypes
    for dtype in (np.float32, np.float64):
        inputs = {k: v.astype(dtype) for k, v in case.inputs.items()}
        out, cache = case.forward(**inputs)
        assert isinstance(out, float) or out.dtype == dtype
        grads = case.backward(dout.astype(dtype), cache)
        assert all(g.dtype == dtype for g in grads.values()), layer
