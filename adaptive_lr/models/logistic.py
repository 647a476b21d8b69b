"""Multiclass logistic regression: softmax cross-entropy with bias (the paper's Sec. 4.2.2).

``L(w) = mean_i [logsumexp(z_i) - z_i[y_i]]`` with logits ``z = X @ weight.T + bias``.
"""

from __future__ import annotations

import numpy as np

from ..params import make_layout
from .base import (
    Model,
    as_float_matrix,
    check_dtype,
    check_labels,
    raise_if_inputs_not_finite,
)

#: Largest |exponent| a shared log-sum-exp shift may leave (exp(40) ~ 2e17: far from overflow,
#: and a column maximum of exp(-40) ~ 4e-18 is far from underflow).
SHIFT_SPAN = 40.0

#: Logit arrays up to this size take the direct path of :func:`_line_logsumexp`.
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
    has_exact_line_derivatives = True
    supports_forward_reuse = True

    def __init__(self, n_features: int, n_classes: int):
        for name, v, least in (("n_features", n_features, 1), ("n_classes", n_classes, 2)):
            if int(v) != v or v < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {v!r}")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.layout = make_layout([("weight", (self.n_classes, self.n_features)),
                                   ("bias", (self.n_classes,))])
        self._nw = self.n_classes * self.n_features

    def __repr__(self) -> str:
        return f"LogisticRegression({self.n_features}, {self.n_classes})"

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        """Uniform in ``[-1/sqrt(D), 1/sqrt(D)]``, as ``torch.nn.Linear`` does."""
        bound = 1.0 / np.sqrt(self.n_features)
        return rng.uniform(-bound, bound, self.num_params).astype(check_dtype(dtype))

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

    def _inputs(self, w, X, y=None):
        w = self._check_w(w)
        X = as_float_matrix(X, w.dtype, self.n_features)
        if y is not None:
            y = check_labels(y, X.shape[0], self.n_classes)
        return w, X, y

    def _finish(self, value, w, X) -> float:
        value = float(value)
        if not np.isfinite(value):
            raise_if_inputs_not_finite(w, X)
        return value

    def predict(self, w, X) -> np.ndarray:
        """Most likely class of each row, (N,) int64."""
        w, X, _ = self._inputs(w, X)
        return self._logits(w, X).argmax(axis=0)

    def predict_proba(self, w, X) -> np.ndarray:
        """Class probabilities, (N, C)."""
        w, X, _ = self._inputs(w, X)
        return softmax(self._logits(w, X).T)

    def loss(self, w, X, y, *, noise=None) -> float:
        w, X, y = self._inputs(w, X, y)
        ZT = self._logits(w, X)  # (C, N)
        rows = np.arange(X.shape[0])
        return self._finish(np.mean(logsumexp_columns(ZT) - ZT[y, rows]), w, X)

    def forward_backward(self, w, X, y, *, noise=None, forward=None):
        """Loss, gradient and the transposed logits ``Z^T`` (C, N) at ``w`` as cache;
        ``forward``: those logits, when already known (:meth:`advance_forward`)."""
        w, X, y = self._inputs(w, X, y)
        n = X.shape[0]
        rows = np.arange(n)
        ZT = self._logits(w, X) if forward is None else forward  # (C, N)
        m = ZT.max(axis=0)  # (N,)
        G = np.exp(ZT - m)  # unnormalised softmax, (C, N)
        s = G.sum(axis=0)  # (N,)
        loss = self._finish(np.mean(m + np.log(s) - ZT[y, rows]), w, X)
        G /= s * n  # P / n
        G[y, rows] -= 1.0 / n  # (P - Y) / n
        grad = np.empty_like(w)
        np.matmul(G, X, out=grad[: self._nw].reshape(self.n_classes, self.n_features))
        G.sum(axis=1, out=grad[self._nw :])  # (C, N) -> (C,)
        return loss, grad, ZT

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None,
                    direction_cache=None) -> np.ndarray:
        """Fused ``f(eta) = L(w - eta d)`` for all ``etas``: logits ``Z - eta Q`` from two
        products ``Z = X w`` and ``Q = X d``.

        ``cache`` (the ``Z^T`` that :meth:`forward_backward` returned for this ``w`` and this
        batch) saves the first product; ``X`` and ``y`` were checked by that call.
        ``direction_cache`` (``Q^T`` from :meth:`direction_forward`) saves the second.
        """
        if cache is None:
            w, X, y = self._inputs(w, X, y)
            ZT = self._logits(w, X)  # (C, N)
        else:
            ZT = cache
        d = self._check_direction(w, d)
        n = ZT.shape[1]
        QT = self._logits(d, X) if direction_cache is None else direction_cache  # (C, N)
        etas = np.asarray(etas, dtype=w.dtype)
        at_label = y * n + np.arange(n)  # flat index of (y_i, i) in a (C, N) array
        # mean_i of the label logit is linear in eta: mean(Z_y) - eta mean(Q_y)
        picked = ZT.ravel()[at_label].mean() - etas * QT.ravel()[at_label].mean()  # (K,)
        lse = _line_logsumexp(ZT, QT, etas)  # (K, N)
        return lse.mean(axis=1, dtype=np.float64) - picked  # (K,)

    def direction_forward(self, d, X) -> np.ndarray:
        """``Q^T = d_weight @ X.T + d_bias`` (C, N): the logits move by ``-eta Q`` along ``d``."""
        return self._logits(d, as_float_matrix(X, d.dtype, self.n_features))

    def line_derivatives(self, w, d, eta, X, y) -> tuple[float, float]:
        """Exact ``f'(eta)`` and ``f''(eta)`` (Hessian-vector product; see the class Notes)."""
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
    """``logsumexp(Z - eta_k Q)`` over the classes for every ``eta_k``; (C, N) -> (K, N).

    The probes of one step lie within ``4 eps`` of each other, which allows two savings that
    change nothing beyond rounding:

    * one shift ``m`` (the column maxima at the middle eta) for all of them, safe while
      ``spread * max|Q| <= SHIFT_SPAN`` (no overflow, and no column underflows entirely);
    * on an equally spaced stencil ``eta_mid + j h`` (Eq. 12-16), ``exp(Z - eta_j Q - m)`` is
      ``E0 * u^j`` with ``E0 = exp(Z - eta_mid Q - m)`` and ``u = exp(-h Q)``: two
      exponentials of a (C, N) array instead of K. Each product adds half an ulp, as an
      exponential does; the stencil is recognised only when its points sit within a few ulps
      of ``eta_mid + j h``, so the rates evaluated are the ones asked for, to rounding.
    """
    k, mid_i = len(etas), len(etas) // 2
    offsets = etas - etas[mid_i]  # (K,)
    if QT.size <= SMALL or float(np.abs(offsets).max()) * float(np.abs(QT).max()) > SHIFT_SPAN:
        # few logits (a mini-batch): fewer NumPy calls beat fewer exponentials
        return logsumexp_columns(ZT - etas[:, None, None] * QT)  # (K, C, N) -> (K, N)
    Zm = ZT - etas[mid_i] * QT  # (C, N)
    m = Zm.max(axis=0)  # (N,)
    Zm -= m
    h = offsets[mid_i + 1] if k > 1 else 0.0
    ulps = 8 * np.spacing(np.abs(etas).max())
    steps = np.arange(k) - mid_i
    if k < 3 or h == 0 or np.abs(offsets - steps * h).max() > ulps:
        Zk = Zm - offsets[:, None, None] * QT  # (K, C, N)
        np.exp(Zk, out=Zk)
        sums = Zk.sum(axis=1)  # (K, N)
    else:  # in place: every (C, N) temporary is written once, read a few times
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
    lse = np.log(sums)
    lse += m
    return lse
