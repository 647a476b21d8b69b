"""Linear regression with the square loss (the paper's Sec. 4.2.1).

``L(w) = c * ||X @ weight + bias - y||^2`` with ``c = 1 / (2 N)`` (``reduction="half_mse"``,
the default) or ``c = 1`` (``reduction="sum"``, the formula printed in the paper).

Why two reductions: the paper writes ``||XW - Y||^2`` but its learning rates only make sense for
half the mean squared error. On Boston's raw features the largest eigenvalue of ``X^T X / N`` is
about 3e5, so gradient descent on the half-MSE is stable for ``eta < 2 / 3e5 ~ 7e-6``: the paper's
basic rate 1e-6 is just inside, and the adaptive start 1e-2 is quickly pulled down. With the sum
over 400 rows the same rates diverge at once. The default reproduces the paper's numbers.
"""

from __future__ import annotations

import numpy as np

from ..arguments import check_choice, check_flag, check_int
from ..params import make_layout
from .base import (
    NO_TARGETS,
    GradientPass,
    Model,
    as_float_matrix,
    check_cache_array,
    check_dtype,
    check_eta,
    check_etas,
    check_rng,
    check_targets,
    raise_if_inputs_not_finite,
)

REDUCTIONS = ("half_mse", "sum")


class LinearRegression(Model):
    """Least squares ``y ~ X @ weight + bias`` as a pure function of a flat vector ``w``.

    Parameters
    ----------
    n_features : int
        Number of input columns ``D``.
    fit_intercept : bool, default True
        Add a scalar ``bias`` after ``weight``.
    reduction : {"half_mse", "sum"}, default "half_mse"
        ``"half_mse"``: ``||r||^2 / (2N)``; ``"sum"``: ``||r||^2`` (see the module docstring).

    Notes
    -----
    Layout of ``w``: ``weight`` (D,), then ``bias`` (1,). Along a direction ``d`` the line loss
    ``f(eta) = L(w - eta d)`` is exactly quadratic: with ``r = X w - y`` and ``q = X d``,
    ``f'(eta) = -2c q.(r - eta q)`` (Eq. 7) and ``f''(eta) = 2c q.q`` (Eq. 11).

    Examples
    --------
    >>> model = LinearRegression(2)
    >>> w = np.array([1.0, -1.0, 0.5])            # weight (2,), bias (1,)
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]]); y = np.array([0.0, 1.0])
    >>> model.predict(w, X)                        # [1 - 2 + 0.5, 3 - 4 + 0.5]
    array([-0.5, -0.5])
    >>> model.loss(w, X, y)                        # (0.25 + 2.25) / (2 * 2)
    0.625
    """

    task = "regression"

    def __init__(self, n_features: int, *, fit_intercept: bool = True,
                 reduction: str = "half_mse"):
        self.n_features = check_int("n_features", n_features, 1)
        self.fit_intercept = check_flag("fit_intercept", fit_intercept)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        pairs = [("weight", (self.n_features,))]
        if self.fit_intercept:
            pairs.append(("bias", (1,)))
        self.layout = make_layout(pairs)

    def __repr__(self) -> str:
        return (f"LinearRegression({self.n_features}, fit_intercept={self.fit_intercept}, "
                f"reduction={self.reduction!r})")

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        """Uniform in ``[-1/sqrt(D), 1/sqrt(D)]``, as ``torch.nn.Linear`` does."""
        bound = 1.0 / np.sqrt(self.n_features)
        dtype = check_dtype(dtype)
        return check_rng(rng).uniform(-bound, bound, self.num_params).astype(dtype)

    # c in L = c * ||r||^2
    def _scale(self, n: int) -> float:
        return 0.5 / n if self.reduction == "half_mse" else 1.0

    def _affine(self, v: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``X @ v_weight + v_bias`` for a flat vector ``v`` laid out like ``w``; (N,)."""
        out = X @ v[: self.n_features]  # (N, D) @ (D,) -> (N,)
        if self.fit_intercept:
            out += v[self.n_features]
        return out

    def _inputs(self, w, X, y=NO_TARGETS, noise=None):
        w = self._check_w(w)
        X = as_float_matrix(X, w.dtype, self.n_features)
        self._check_no_noise(noise)
        if y is not NO_TARGETS:
            y = check_targets(y, X.shape[0])
        return w, X, y

    def _finish(self, value, w, X, y) -> float:
        value = float(value)
        if not np.isfinite(value):
            raise_if_inputs_not_finite(w, X, y)
        return value

    def predict(self, w, X, *, state=None) -> np.ndarray:
        self._check_state(state)
        w, X, _ = self._inputs(self._check_finite_w(w), X)
        return self._affine(w, X)

    def loss(self, w, X, y, *, noise=None, state=None) -> float:
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        r = self._affine(w, X) - y  # residuals (N,)
        return self._finish(self._scale(X.shape[0]) * (r @ r), w, X, y)

    def forward_backward(self, w, X, y, *, noise=None, state=None) -> GradientPass:
        """Loss, gradient ``2c [X^T r; sum(r)]`` and the predictions ``X w`` as cache."""
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        pred = self._affine(w, X)  # (N,)
        r = pred - y
        c = self._scale(X.shape[0])
        loss = self._finish(c * (r @ r), w, X, y)
        grad = np.empty_like(w)
        np.matmul(r, X, out=grad[: self.n_features])  # (N,) @ (N, D) -> (D,)
        if self.fit_intercept:
            grad[self.n_features] = r.sum()
        grad *= 2 * c
        return GradientPass(loss, grad, pred)

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None,
                    state=None) -> np.ndarray:
        """Fused ``f(eta) = c ||r - eta q||^2`` for all ``etas`` from ``X w`` (or ``cache``,
        the predictions that :meth:`forward_backward` returned for this ``w`` and batch) and
        ``q = X d``.

        The products ``X w`` and ``X d`` run in the dtype of ``w``; the residuals
        ``r - eta q`` (K, N) and their sums of squares in float64, from ``X w`` and ``q`` cast
        up. In float32 a residual would round by ``u |r|`` and a sum of squares by ``u f`` on
        each eta independently, noise that the probe's second difference
        ``f(eta+2eps) + f(eta-2eps) - 2 f(eta)`` would see; in float64 only the rounding of
        the products is left, and it is the same for every eta. Float64 results are
        unaffected (the conversions are no-ops there).

        Float32 rounding noise of that second difference against float64 on the same float32
        ``w, d, X`` (Boston, raw features, full batch of 400, after 300 gradient steps at rate
        1e-6, ``d`` the gradient, ``eta = 0.01``, ``eps = 1e-5``, RMS over 200 steps; ``python
        benchmarks/probe_noise.py --only linear``): 6e-10, against 2.3e-4 for five separate
        float32 ``loss`` calls (``Model.line_losses``). ``pytest tests/test_probe_noise.py``
        measures it on synthetic data and checks that the fused probe is no noisier than the
        plain one.
        """
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        d = self._check_direction(w, d)
        etas = check_etas(etas).astype(w.dtype).astype(np.float64)  # as w.dtype.type(eta)
        pred = self._affine(w, X) if cache is None else check_cache_array(cache, (len(X),), w)
        r = pred.astype(np.float64, copy=False) - y  # (N,)
        q = self._affine(d, X).astype(np.float64, copy=False)  # (N,)
        res = r[None, :] - etas[:, None] * q[None, :]  # (K, N)
        return self._scale(X.shape[0]) * np.einsum("kn,kn->k", res, res)

    def line_derivatives(self, w, d, eta, X, y) -> tuple[float, float]:
        """Exact ``f'(eta) = -2c q.(r - eta q)`` and ``f''(eta) = 2c q.q``."""
        eta = check_eta(eta)
        w, X, y = self._inputs(w, X, y)
        d = self._check_direction(w, d)
        r = self._affine(w, X) - y
        q = self._affine(d, X)
        c2 = 2 * self._scale(X.shape[0])
        return float(-c2 * (q @ (r - eta * q))), float(c2 * (q @ q))
