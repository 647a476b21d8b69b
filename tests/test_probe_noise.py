"""Rounding noise of the fused probes against plain evaluation (the five losses of Eq. 16).

The denominator of Eq. 16, ``f(eta + 2eps) + f(eta - 2eps) - 2 f(eta) ~ 4 eps^2 f''``, is about
1e-10 times the curvature for ``eps = 1e-5``, so in float32 it is dominated by the rounding noise
of the five losses. A model's fused ``line_losses`` must be no noisier there than the plain
reference, ``Model.line_losses`` (one ``loss(w - eta d)`` per eta, in the same dtype), and must
agree with it to rounding in float64 (the ``Model`` contract).

Every model is one entry of ``CASES``: a model, synthetic data (so that the tests need no data
files), and the float64 bound of its fused-vs-plain difference. Weights are taken after ``WARM``
float32 SGD steps at rate 0.1, ``d`` is the float32 batch gradient, and the noise (LeNet's dropout
masks) is drawn once per batch and shared by the gradient and all probes, as in training. The
figures on real data (MNIST, Boston) are in the docstrings of the models' ``line_losses``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

from adaptive_lr import LeNet, LinearRegression, LogisticRegression
from adaptive_lr.finite_diff import newton_denominator, probe_points
from adaptive_lr.models.base import Model

EPS = 1e-5  # the paper's eps (Sec. 4.1)
ETAS = (0.1, 0.4)
BATCH, WARM, K = 32, 200, 200  # K batches per model: each sees all of ETAS
Z_MAX = 2.0  # one-sided margin in standard errors, see test_fused_probe_is_no_noisier_in_float32
U64 = 2.0**-53  # unit roundoff of float64


def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: a sum of ``n`` rounded terms, added in any order
    (BLAS, pairwise, FMA), errs by at most ``gamma_n`` times the sum of their moduli."""
    return n * U64 / (1 - n * U64)


# -- float64 bounds on |fused - plain| (each computation is within a forward-error bound of the
# -- exact loss; the two differ by at most the sum of the two bounds) ----------------------------
def logistic_bound(model, w, d, etas, X, y, noise):
    """Logits: plain forms ``X (w - eta d)``, fused ``X w - eta X d``; each is within
    ``gamma_{D+3} A`` of the exact logit, ``A = |X| (|W| + |eta| |D|)^T + |b| + |eta| |db|``
    (a dot product of D terms, the bias, the rounding of ``w - eta d`` or of ``eta Q`` and the
    subtraction). The loss ``mean(lse(z) - z_y)`` is 2-Lipschitz in the sup norm of the logits:
    ``4 gamma_{D+3} max A`` for the two. Evaluating it adds, in each, at most ``(2C + 8) u``
    per log-sum-exp (C exponentials of relative error <= 2u, their sum, the log, the shift) and
    ``2 gamma_N`` for the means, on values below ``1 + 2 max A + log C``."""
    n, dim = X.shape
    c, e = model.n_classes, np.abs(etas).max()
    W, D = model.unflatten(np.abs(w)), model.unflatten(np.abs(d))
    A = np.abs(X) @ (W["weight"] + e * D["weight"]).T + W["bias"] + e * D["bias"]  # (N, C)
    z = A.max()  # also a bound on every |logit|
    return 4 * gamma(dim + 3) * z + 2 * (2 * c + 2 * n + 8) * U64 * (1 + 2 * z + np.log(c))


def linear_bound(model, w, d, etas, X, y, noise):
    """Residuals: plain ``X (w - eta d) + b - y``, fused ``(X w + b - y) - eta (X d + db)``; each
    within ``gamma_{D+3} A_i`` of the exact one, ``A_i = |x_i| (|w| + |eta| |d|) + |b| + |eta| |db|
    + |y_i|``, so they differ by ``delta_i = 2 gamma_{D+3} A_i``, and ``|r_i| <= A_i``. Then
    ``|sum r_f^2 - sum r_p^2| <= sum (2 A_i + delta_i) delta_i``, and each sum of squares and the
    factor ``c`` round by ``gamma_{N+2} sum (A_i + delta_i)^2``."""
    n, dim = X.shape
    e = np.abs(etas).max()
    aw, ad = np.abs(w), np.abs(d)
    A = np.abs(X) @ (aw[:dim] + e * ad[:dim]) + np.abs(y)  # (N,)
    if model.fit_intercept:
        A += aw[dim] + e * ad[dim]
    delta = 2 * gamma(dim + 3) * A
    c = 0.5 / n if model.reduction == "half_mse" else 1.0
    return c * (np.sum((2 * A + delta) * delta) + 2 * gamma(n + 2) * np.sum((A + delta) ** 2))


def _conv_abs(h, W, b):
    """Valid 2-D convolution of nonnegative arrays: (N, C, H, W) with (F, C, k, k) + (F,)."""
    win = np.lib.stride_tricks.sliding_window_view(h, W.shape[2:], axis=(2, 3))
    return np.einsum("nchwij,fcij->nfhw", win, W, optimize=True) + b[:, None, None]


def _pool_abs(h):
    """2x2 max pooling (floor), (N, C, H, W) -> (N, C, H/2, W/2)."""
    n, c, hh, ww = h.shape
    h = h[:, :, : hh // 2 * 2, : ww // 2 * 2]
    return h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))


def lenet_bound(model, w, d, etas, X, y, noise):
    """Run LeNet with the parameters ``|w| + |eta| |d|`` on ``|X|`` (same dropout masks): its
    activations ``M_l`` bound those of every probe (ReLU and max pooling are monotone and do not
    increase moduli). A layer of fan-in ``n`` rounds by ``gamma_{n+4} (|W_l| M_{l-1} + |b_l|)``
    (its sums, the rounding of ``w - eta d`` or of fused conv1's ``Z1 - eta Zd1``, dropout's
    scale), and passes the error ``E`` on as ``|W_l| E`` (ReLU and pooling are 1-Lipschitz),
    so ``E_l <= ((1 + gamma)^l - 1) M_l``: over 5 layers ``5.01 gamma M_logits``. The
    cross-entropy is 2-Lipschitz in the logits (``4 E`` for the two computations), and its
    evaluation and the mean add what they add in :func:`logistic_bound`."""
    P = model.unflatten(np.abs(w) + np.abs(etas).max() * np.abs(d))
    h, fan_in = np.abs(X), []
    for layer in ("conv1", "conv2"):
        fan_in.append(P[f"{layer}.weight"][0].size)
        h = _pool_abs(_conv_abs(h, P[f"{layer}.weight"], P[f"{layer}.bias"]))
    h = h.reshape(h.shape[0], -1)  # (N, 16*S*S)
    for i, layer in enumerate(("fc1", "fc2", "fc3")):
        fan_in.append(P[f"{layer}.weight"].shape[1])
        h = h @ P[f"{layer}.weight"].T + P[f"{layer}.bias"]
        if i < 2 and noise is not None:
            h = h * noise[i] / (1 - model.dropout)
    z, n, c = h.max(), X.shape[0], model.n_classes
    return 4 * 5.01 * gamma(max(fan_in) + 4) * z + 2 * (2 * c + 2 * n + 8) * U64 * (
        1 + 2 * z + np.log(c))


# -- synthetic data --------------------------------------------------------------------------
def classification_data(rng):
    """Pixels in [0, 1] as MNIST's, labels of a noisy linear teacher."""
    X = rng.uniform(0, 1, size=(4000, 64))
    return X, np.argmax(X @ rng.normal(size=(64, 10)) + rng.normal(size=(4000, 10)), axis=1)


def regression_data(rng):
    X = rng.normal(size=(4000, 20))
    return X, X @ rng.normal(size=20) + 3.0 + 0.5 * rng.normal(size=4000)


def image_data(rng):
    return rng.normal(size=(1000, 1, 20, 20)), rng.integers(0, 10, 1000)


@dataclass(frozen=True)
class Case:
    model: Callable[[], Model]
    data: Callable[[np.random.Generator], tuple]
    f64_bound: Callable


CASES = {
    "logistic": Case(lambda: LogisticRegression(64, 10), classification_data, logistic_bound),
    "linear": Case(lambda: LinearRegression(20), regression_data, linear_bound),
    "lenet-dropout": Case(lambda: LeNet(1, 10, 20, dropout=0.5), image_data, lenet_bound),
}


@cache
def batches(name: str):
    """``K`` float32 steps ``(model, w, d, X, y, noise, cache)`` after ``WARM`` SGD steps."""
    case = CASES[name]
    rng = np.random.default_rng(0)
    model = case.model()
    X_all, y_all = case.data(rng)
    w = model.init_params(rng, np.float32)
    out = []
    for step in range(WARM + K):
        idx = rng.choice(len(y_all), BATCH, replace=False)
        X, y = X_all[idx].astype(np.float32), y_all[idx]
        noise = model.sample_noise(rng, BATCH)
        gp = model.forward_backward(w, X, y, noise=noise)
        if step >= WARM:
            out.append((model, w, gp.grad, X, y, noise, gp.cache))
        w = w - np.float32(0.1) * gp.grad
    return out


def second_difference(f):
    return newton_denominator(f[0], f[2], f[4])  # f(eta+2eps) + f(eta-2eps) - 2 f(eta)


@pytest.mark.parametrize("name", list(CASES))
def test_fused_probe_is_no_noisier_in_float32(name):
    """Errors ``e`` of the float32 second difference, fused and plain, against float64 on the
    same float32 ``w, d, X`` cast up, at the float32-rounded stencil (where both evaluate).

    Margin: if the fused probe were exactly as noisy as the plain one, the paired statistic
    ``z = mean(e_fused^2 - e_plain^2) / SE`` over K = 200 batches would be about standard normal
    (central limit theorem; ``SE`` is the sample standard error of the mean, estimated from the
    same batches, which assumes nothing about the errors' distribution: they are not Gaussian,
    their scale varies from batch to batch). ``z <= Z_MAX = 2`` fails such a probe with
    probability 2.3% and fails one whose mean square error exceeds plain's by more than about
    two standard errors. A margin of one Gaussian standard error of one RMS, ``1/sqrt(2K)`` =
    5%, would be too tight for a ratio of two nearly independent RMS estimates, whose spread is
    ``~1/sqrt(K)``: it would fail an equally noisy probe about one time in four. LeNet's fused
    probe is such a case: its RMS ratio to plain is 1.02 and 0.98 (eta = 0.1, 0.4) over 2000
    CIFAR-10 batches, and reads 1.10 (z = 1.8) and 0.94 over the 200 synthetic batches here.
    The fused probes of the linear and logistic models are several times quieter than plain
    (z < -8 here); with their label term, shifts and residuals rounded in float32, the logistic
    one was 2.9x noisier than plain on this data (z = +9.7) and failed.
    """
    errors = {eta: ([], []) for eta in ETAS}
    for model, w, d, X, y, noise, cache_ in batches(name):
        for eta in ETAS:
            etas = probe_points(eta, EPS)
            at = etas.astype(np.float32).astype(np.float64)  # what both float32 probes evaluate
            ref = Model.line_losses(model, w.astype(np.float64), d.astype(np.float64), at,
                                    X.astype(np.float64), y, noise=noise)
            fused = model.line_losses(w, d, etas, X, y, noise=noise, cache=cache_)
            plain = Model.line_losses(model, w, d, etas, X, y, noise=noise)
            errors[eta][0].append(second_difference(fused) - second_difference(ref))
            errors[eta][1].append(second_difference(plain) - second_difference(ref))
    for eta, (e_fused, e_plain) in errors.items():
        e_fused, e_plain = np.asarray(e_fused), np.asarray(e_plain)
        paired = e_fused**2 - e_plain**2
        se = paired.std(ddof=1) / np.sqrt(len(paired))
        rms_f, rms_p = np.sqrt(np.mean(e_fused**2)), np.sqrt(np.mean(e_plain**2))
        assert paired.mean() <= Z_MAX * se, (
            f"{name}, eta={eta}: fused D2 error RMS {rms_f:.3g} vs plain {rms_p:.3g} "
            f"(z = {paired.mean() / se:.2f} > {Z_MAX})")


@pytest.mark.parametrize("name", list(CASES))
def test_fused_probe_equals_plain_in_float64(name):
    """Fused == plain to rounding in float64, within the forward-error bound of the case
    (see the bound functions above; ~1e-13 to 1e-11 here, the second differences ~1e-9)."""
    for model, w, d, X, y, noise, _ in batches(name)[:5]:
        w, d, X = w.astype(np.float64), d.astype(np.float64), X.astype(np.float64)
        cache_ = model.forward_backward(w, X, y, noise=noise).cache
        for eta in ETAS:
            etas = probe_points(eta, EPS)
            plain = Model.line_losses(model, w, d, etas, X, y, noise=noise)
            bound = CASES[name].f64_bound(model, w, d, etas, X, y, noise)
            for c in (None, cache_):
                fused = model.line_losses(w, d, etas, X, y, noise=noise, cache=c)
                assert fused.dtype == np.float64
                assert np.all(np.abs(fused - plain) <= bound), (name, eta, fused - plain, bound)


@pytest.mark.parametrize("n", [32, 2000], ids=["small", "above-SMALL"])
@pytest.mark.parametrize("etas", [probe_points(0.1, EPS), probe_points(0.4, 1e-2),
                                  np.array([0.1, 0.2, 0.4, 0.8, 1.6]),
                                  100 * np.array([-0.3, 0.0, 0.01, 0.2, 1.5])],
                         ids=["stencil", "wide-stencil", "irregular", "far-apart"])
def test_float32_line_logsumexp_matches_float64(n, etas):
    """The float32 path of the fused logistic log-sum-exp (shared shift, then one per probe)
    against the float64 one on the same float32 ``Z, Q`` cast up. With ``S = max|Z| +
    max|eta| max|Q|`` and ``u = 2^-24``, the exponents round at ``eta_mid Q`` (by u S),
    ``Z - eta_mid Q`` (u S), ``- m`` (2u S), ``offset Q`` (2u S), its subtraction (4u S) and
    ``- m_k`` (6u S): 16u S in all, which moves the log-sum-exp by as much (its weights sum to
    1). The exponentials err by at most 1 ulp (2u relative), their sum of C terms by
    ``(C - 1) u``, the log of a sum in [1, C] by ``u log C``; the shifts are added in float64.
    Far-apart etas exercise the per-probe shift, which keeps every exponent <= 0 whatever the
    spread (no overflow)."""
    from adaptive_lr.models.logistic import _line_logsumexp

    rng = np.random.default_rng(1)
    c = 10
    ZT = (3 * rng.normal(size=(c, n))).astype(np.float32)
    QT = rng.normal(size=(c, n)).astype(np.float32)
    e32 = etas.astype(np.float32)
    low = _line_logsumexp(ZT, QT, e32)
    high = _line_logsumexp(ZT.astype(np.float64), QT.astype(np.float64), e32.astype(np.float64))
    assert low.dtype == np.float64 and np.all(np.isfinite(low))
    u = 2.0**-24
    S = np.abs(ZT).max() + np.abs(e32).max() * np.abs(QT).max()
    bound = 16 * u * S + (c + 1 + np.log(c)) * u + 64 * U64 * S  # last: the float64 side
    np.testing.assert_allclose(low, high, rtol=0, atol=bound)
