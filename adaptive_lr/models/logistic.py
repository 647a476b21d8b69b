"""Multiclass logistic regression: softmax cross-entropy with bias (the paper's Sec. 4.2.2).

``L(w) = mean_i [logsumexp(z_i) - z_i[y_i]]`` with logits ``z = X @ weight.T + bias``.
"""

from __future__ import annotations

import numpy as np

from ..arguments import check_int
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
    check_labels,
    check_rng,
    raise_if_inputs_not_finite,
)

#: Largest ``|exponent|`` a shared log-sum-exp shift may leave (exp(40) ~ 2e17: far from overflow,
#: and a column maximum of exp(-40) ~ 4e-18 is far from underflow).
SHIFT_SPAN = 40.0

#: Float64 logit arrays up to this size take the direct path of :func:`_line_logsumexp`.
SMALL = 2**14


def logsumexp_columns(ZT: np.ndarray) -> np.ndarray:
    """``log(sum(exp(ZT), axis=-2))`` over the class axis of (..., C, N), shifted by the column
    maxima first so that nothing overflows."""
    m = ZT.max(axis=-2)  # (..., N)
    E = np.exp(ZT - m[..., None, :])
    return m + np.log(E.sum(axis=-2))


def softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum (exact in exact arithmetic)."""
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    E /= E.sum(axis=-1, keepdims=True)
    return E


class LogisticRegression(Model):
    """Softmax regression on ``C`` classes as a pure function of a flat vector ``w``.

    Parameters
    ----------
    n_features : int
        Number of input columns ``D``.
    n_classes : int
        Number of classes ``C`` (labels are integers in ``[0, C)``).

    Notes
    -----
    Layout of ``w``: ``weight`` (C, D) then ``bias`` (C,), as ``torch.nn.Linear`` names them.
    With ``P = softmax(Z)`` and one-hot ``Y``, the gradient is ``(P - Y)^T X / N`` and
    ``sum_i (P - Y)_i / N``. Along a direction ``d`` with logit change ``Q = X d_W^T + d_b``:
    ``f'(eta) = -mean_i (P - Y)_i . Q_i`` (Eq. 7) and
    ``f''(eta) = mean_i [sum_c P_ic Q_ic^2 - (sum_c P_ic Q_ic)^2]`` (Eq. 11, the softmax
    Hessian ``diag(p) - p p^T`` applied to ``Q_i``), with ``P`` taken at ``w - eta d``.

    Examples
    --------
    >>> model = LogisticRegression(n_features=2, n_classes=3)
    >>> w = np.zeros(model.num_params)             # all classes equally likely
    >>> X = np.array([[1.0, 2.0]]); y = np.array([2])
    >>> round(model.loss(w, X, y), 12) == round(float(np.log(3)), 12)
    True
    """

    task = "classification"

    def __init__(self, n_features: int, n_classes: int):
        self.n_features = check_int("n_features", n_features, 1)
        self.n_classes = check_int("n_classes", n_classes, 2)
        self.layout = make_layout([("weight", (self.n_classes, self.n_features)),
                                   ("bias", (self.n_classes,))])
        self._nw = self.n_classes * self.n_features

    def __repr__(self) -> str:
        return f"LogisticRegression({self.n_features}, {self.n_classes})"

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        """Uniform in ``[-1/sqrt(D), 1/sqrt(D)]``, as ``torch.nn.Linear`` does."""
        bound = 1.0 / np.sqrt(self.n_features)
        dtype = check_dtype(dtype)
        return check_rng(rng).uniform(-bound, bound, self.num_params).astype(dtype)

    def _logits(self, v: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Transposed logits ``v_weight @ X.T + v_bias`` for a flat vector laid out like ``w``.

        Shape (C, N): classes along the rows, so that the reductions over classes in the
        log-sum-exp run over ``C`` long contiguous rows instead of ``N`` short ones (about
        10x faster for ``C = 10``), and the gradient ``(P - Y)^T X`` is a plain product.
        """
        W = v[: self._nw].reshape(self.n_classes, self.n_features)  # (C*D,) -> (C, D)
        ZT = W @ X.T  # (C, D) @ (D, N) -> (C, N)
        ZT += v[self._nw :, None]
        return ZT

    def _inputs(self, w, X, y=NO_TARGETS, noise=None):
        w = self._check_w(w)
        X = as_float_matrix(X, w.dtype, self.n_features)
        self._check_no_noise(noise)
        if y is not NO_TARGETS:
            y = check_labels(y, X.shape[0], self.n_classes)
        return w, X, y

    def _finish(self, value, w, X) -> float:
        value = float(value)
        if not np.isfinite(value):
            raise_if_inputs_not_finite(w, X)
        return value

    def predict(self, w, X, *, state=None) -> np.ndarray:
        """Most likely class of each row, (N,) int64."""
        self._check_state(state)
        w, X, _ = self._inputs(self._check_finite_w(w), X)
        return self._logits(w, X).argmax(axis=0)

    def predict_proba(self, w, X) -> np.ndarray:
        """Class probabilities, (N, C)."""
        w, X, _ = self._inputs(self._check_finite_w(w), X)
        return softmax(self._logits(w, X).T)

    def loss(self, w, X, y, *, noise=None, state=None) -> float:
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        ZT = self._logits(w, X)  # (C, N)
        rows = np.arange(X.shape[0])
        return self._finish(np.mean(logsumexp_columns(ZT) - ZT[y, rows]), w, X)

    def forward_backward(self, w, X, y, *, noise=None, state=None) -> GradientPass:
        """Loss, gradient and the transposed logits ``Z^T`` (C, N) at ``w`` as cache."""
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        n = X.shape[0]
        rows = np.arange(n)
        ZT = self._logits(w, X)  # (C, N)
        m = ZT.max(axis=0)  # (N,)
        G = np.exp(ZT - m)  # unnormalised softmax, (C, N)
        s = G.sum(axis=0)  # (N,)
        loss = self._finish(np.mean(m + np.log(s) - ZT[y, rows]), w, X)
        G /= s * n  # P / n
        G[y, rows] -= 1.0 / n  # (P - Y) / n
        grad = np.empty_like(w)
        np.matmul(G, X, out=grad[: self._nw].reshape(self.n_classes, self.n_features))
        G.sum(axis=1, out=grad[self._nw :])  # (C, N) -> (C,)
        return GradientPass(loss, grad, ZT)

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None,
                    state=None) -> np.ndarray:
        """Fused ``f(eta) = L(w - eta d)`` for all ``etas``: logits ``Z - eta Q`` from two
        products ``Z = X w`` and ``Q = X d``.

        ``cache`` (the ``Z^T`` that :meth:`forward_backward` returned for this ``w`` and this
        batch) saves the first product.

        The products and the arithmetic on (C, N) and (K, C, N) arrays run in the dtype of
        ``w``; in float64 are the label term ``mean(Z_y) - eta mean(Q_y)`` (summed from the
        float32 ``Z_y``, ``Q_y``), the shifts added back to the log-sum-exps (see
        :func:`_line_logsumexp`, also for how float32 shifts) and the mean over examples. In
        float32 these would round by ``u |Z|``, the scale of the logits rather than of the
        loss, on each eta independently, which the probe's second difference
        ``f(eta+2eps) + f(eta-2eps) - 2 f(eta) ~ 4 eps^2 f''`` would see. Float64 results are
        unaffected (the conversions are no-ops there).

        Float32 rounding noise of that second difference against float64 on the same float32
        ``w, d, X`` (MNIST, after 300 SGD steps at rate 0.1, ``d`` the batch gradient,
        ``eta = 0.1``, ``eps = 1e-5``, RMS over 200 batches; ``python
        benchmarks/probe_noise.py --only logistic``): 2.6e-8 at batch 32 and 3.7e-9 at batch
        1024, against 8.2e-8 and 4.0e-8 for five separate float32 ``loss`` calls
        (``Model.line_losses``). ``pytest tests/test_probe_noise.py`` measures it on synthetic
        data and checks that the fused probe is no noisier than the plain one.
        """
        self._check_state(state)
        w, X, y = self._inputs(w, X, y, noise)
        etas = check_etas(etas).astype(w.dtype)  # the rates evaluated, as w.dtype.type(eta)
        ZT = (self._logits(w, X) if cache is None
              else check_cache_array(cache, (self.n_classes, len(X)), w))  # (C, N)
        d = self._check_direction(w, d)
        n = ZT.shape[1]
        QT = self._logits(d, X)  # (C, N)
        at_label = y * n + np.arange(n)  # flat index of (y_i, i) in a (C, N) array
        # mean_i of the label logit is linear in eta: mean(Z_y) - eta mean(Q_y), in float64
        # (add.reduce / n is what mean computes, without its Python overhead)
        z_y = np.add.reduce(np.take(ZT, at_label), dtype=np.float64) / n
        q_y = np.add.reduce(np.take(QT, at_label), dtype=np.float64) / n
        picked = z_y - etas.astype(np.float64) * q_y  # (K,)
        lse = _line_logsumexp(ZT, QT, etas)  # (K, N), float64
        return np.add.reduce(lse, axis=1) / n - picked  # (K,)

    def line_derivatives(self, w, d, eta, X, y) -> tuple[float, float]:
        """Exact ``f'(eta)`` and ``f''(eta)`` (Hessian-vector product; see the class Notes)."""
        eta = check_eta(eta)
        w, X, y = self._inputs(w, X, y)
        d = self._check_direction(w, d)
        n = X.shape[0]
        Q = self._logits(d, X).T  # (N, C)
        P = softmax(self._logits(w, X).T - eta * Q)
        PQ = np.einsum("nc,nc->n", P, Q)  # sum_c P_nc Q_nc, (N,)
        f1 = -(PQ.sum() - Q[np.arange(n), y].sum()) / n
        f2 = (np.einsum("nc,nc->", P, Q * Q) - PQ @ PQ) / n
        return float(f1), float(f2)


def _line_logsumexp(ZT: np.ndarray, QT: np.ndarray, etas: np.ndarray) -> np.ndarray:
    """``logsumexp(Z - eta_k Q)`` over the classes for every ``eta_k``; (C, N) -> (K, N), float64.

    The probes of one step lie within ``4 eps`` of each other, which allows savings that
    change nothing beyond rounding:

    * one shift ``m`` (the column maxima at the middle eta) for all of them, safe while
      ``spread * max|Q| <= SHIFT_SPAN`` (no overflow, and no column underflows entirely);
    * on an equally spaced stencil ``eta_mid + j h`` (Eq. 12-16), ``exp(Z - eta_j Q - m)`` is
      ``E0 * u^j`` with ``E0 = exp(Z - eta_mid Q - m)`` and ``u = exp(-h Q)``: two
      exponentials of a (C, N) array instead of K. Each product adds half an ulp, as an
      exponential does; the stencil is recognised only when its points sit within a few ulps
      of ``eta_mid + j h``, so the rates evaluated are the ones asked for, to rounding.

    Float64 uses them above ``SMALL`` logits and one shift per eta below (fewer NumPy calls).

    Float32, where the probes' second difference (~1e-10 f'') is at the scale of the
    rounding of the losses, always takes a path that keeps the noise of each probe at the
    scale of the loss, not of the logits:

    * the shared shift ``m``: the rounding of ``Z - eta_mid Q - m`` (by ``u |Z|``) is the same
      for all probes, and each probe then rounds only numbers of the size of
      ``Z - eta_mid Q - m`` (near 0 for the classes that carry the loss) and ``eps |Q|``. One
      shift per eta instead rounds ``Z - eta_k Q`` by ``u |Z|`` on each probe independently;
    * then a shift of every probe by its own column maxima, so that each probe's largest
      exponential is exactly 1, as in a plain evaluation. NumPy's float32 ``exp`` is biased
      near 0 (+1.4e-8 on average for ``|x| < 2e-5``, 0.12 ulp): with ``exp(0) = 1`` exact at
      the middle probe only, the bias would enter the second difference (+2.4e-8 on every
      MNIST step), and the stencil's ``E0 u^j`` would carry it into both differences (MNIST,
      batch 4096: +1.6e-8 in the second, +3.1e-8 in the first);
    * both shifts are added back in float64 (exactly). No stencil: the K exponentials cost
      a few percent of the products ``X w``, ``X d``, and the rates evaluated are exactly the
      float32 ``etas``.
    """
    k, mid_i = len(etas), len(etas) // 2
    offsets = etas - etas[mid_i]  # (K,)
    low = ZT.dtype != np.float64  # float32
    if not low and (QT.size <= SMALL or _too_wide(offsets, QT)):
        # float64, few logits or far apart: one shift per eta
        return logsumexp_columns(ZT - etas[:, None, None] * QT)  # (K, C, N) -> (K, N)
    Zm = ZT - etas[mid_i] * QT  # (C, N)
    m = Zm.max(axis=0)  # (N,)
    Zm -= m
    if low or not _is_stencil(etas, offsets):
        Zk = np.multiply(offsets[:, None, None], QT)  # (K, C, N), one large temporary:
        np.subtract(Zm, Zk, out=Zk)  # Zm - offsets Q, in place
        if low:  # every probe's largest logit exactly 0, its exponential exactly 1
            mk = Zk.max(axis=1)  # (K, N)
            Zk -= mk[:, None, :]
            m = np.add(mk, m, dtype=np.float64)  # (K, N): both shifts, in float64
        np.exp(Zk, out=Zk)
        sums = Zk.sum(axis=1)  # (K, N)
    else:  # in place: every (C, N) temporary is written once, read a few times
        h = offsets[mid_i + 1]
        sums = np.empty((k, Zm.shape[1]), dtype=Zm.dtype)
        E0 = np.exp(Zm, out=Zm)  # (C, N)
        u = np.exp(np.multiply(QT, -h))  # (C, N)
        np.add.reduce(E0, axis=0, out=sums[mid_i])
        E = np.empty_like(E0)
        for js in (range(mid_i + 1, k), range(mid_i - 1, -1, -1)):
            np.copyto(E, E0)
            for j in js:
                E *= u
                np.add.reduce(E, axis=0, out=sums[j])
            np.divide(1.0, u, out=u)  # u -> 1 / u for the points below eta_mid
    return np.add(np.log(sums), m, dtype=np.float64)  # (K, N)


def _too_wide(offsets: np.ndarray, QT: np.ndarray) -> bool:
    """Whether one shift for all probes could overflow or underflow (see SHIFT_SPAN)."""
    return float(np.abs(offsets).max()) * float(np.abs(QT).max()) > SHIFT_SPAN


def _is_stencil(etas: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether ``etas`` sit within a few ulps of ``eta_mid + j h``, ``j = -K//2 ...``."""
    k, mid_i = len(etas), len(etas) // 2
    if k < 3:
        return False
    h = offsets[mid_i + 1]
    steps = np.arange(k) - mid_i
    return bool(h != 0 and np.abs(offsets - steps * h).max() <= 8 * np.spacing(np.abs(etas).max()))
