"""The model interface: pure functions of one flat parameter vector (DESIGN.md, idea 1).

A model owns no weights. It describes the layout of ``w`` and offers

* ``init_params(rng, dtype)``: a fresh flat vector;
* ``loss(w, X, y, noise=None)`` and ``loss_and_grad(w, X, y, noise=None)``;
* ``forward_backward(w, X, y, noise=None) -> (loss, grad, cache)``: the same, plus an opaque
  *forward cache* at ``w`` that a probe on the same batch may reuse (:mod:`adaptive_lr.probe`).
  Models whose forward is linear in ``w`` (``supports_forward_reuse``: the linear models) also
  accept that cache back as ``forward=``, and :meth:`Model.advance_forward` derives the cache
  at ``w - eta d`` from it and ``X d``, so a full-batch loop reads ``X`` once less per step;
* ``line_losses(w, d, etas, X, y, noise=None, cache=None)``: ``L(w - eta * d)`` for each ``eta``
  (Eq. 3-4). The default evaluates the loss once per ``eta``; models override it with a fused
  evaluation (DESIGN.md, idea 4);
* ``line_derivatives(w, d, eta, X, y)``: the exact ``f'(eta)`` (Eq. 7) and ``f''(eta)`` (Eq. 11)
  where the model can compute them analytically;
* ``predict(w, X)``, ``unflatten(w)``, and ``sample_noise(rng, n)``, which draws the random state of
  one step (dropout masks) so that the gradient and every probe of that step see one function
  (DESIGN.md, idea 3). Deterministic models return ``None``.

Input checks are cheap by design. Shapes, dtypes and labels are checked on every call (O(N)).
For the linear models, finiteness of ``X`` is checked only when the loss comes out non-finite: a
NaN or inf in ``X`` always makes their loss non-finite (every input reaches the output through a
product with a weight), so a clean batch pays nothing for the check. A ReLU network can map an
inf pixel to 0, so :class:`~adaptive_lr.models.lenet.LeNet` checks ``X`` on every call.
"""

from __future__ import annotations

import numpy as np

from ..params import FLOAT_DTYPES, Layout, check_flat, layout_size, unflatten


class Model:
    """Base class of the models. Subclasses set ``layout`` and ``task`` and implement
    :meth:`init_params`, :meth:`forward_backward`, :meth:`loss` and :meth:`predict`."""

    #: ``"classification"`` (integer labels, accuracy applies) or ``"regression"``.
    task: str = "regression"
    #: Names and shapes of the parameters, in the order they sit in ``w``.
    layout: Layout = ()
    #: True when :meth:`line_derivatives` is implemented exactly.
    has_exact_line_derivatives: bool = False
    #: True for models whose forward cache is linear in ``w`` (``X w``): they offer
    #: ``direction_forward(d, X)``, accept ``forward=`` in :meth:`forward_backward` and
    #: ``direction_cache=`` in :meth:`line_losses`, and :meth:`advance_forward` applies.
    supports_forward_reuse: bool = False

    # -- parameters ------------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return layout_size(self.layout)

    def unflatten(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Named views into ``w`` (they share its memory)."""
        return unflatten(w, self.layout)

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        raise NotImplementedError

    # -- randomness ------------------------------------------------------------------------
    def sample_noise(self, rng: np.random.Generator, n: int):
        """The random state of one step on ``n`` examples; ``None`` for a deterministic model."""
        return None

    # -- losses ----------------------------------------------------------------------------
    def loss(self, w, X, y, *, noise=None) -> float:
        raise NotImplementedError

    def forward_backward(self, w, X, y, *, noise=None):
        """Return ``(loss, grad, cache)``; ``cache`` is opaque, for :meth:`line_losses`."""
        raise NotImplementedError

    def loss_and_grad(self, w, X, y, *, noise=None) -> tuple[float, np.ndarray]:
        """Mean loss on the batch and its gradient, a flat vector like ``w``."""
        loss, grad, _ = self.forward_backward(w, X, y, noise=noise)
        return loss, grad

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None) -> np.ndarray:
        """``[L(w - eta * d) for eta in etas]`` (Eq. 3-4), without modifying ``w``.

        This generic version runs one forward pass per ``eta``; ``cache`` is ignored.
        """
        etas = np.asarray(etas, dtype=np.float64)
        out = np.empty(etas.shape[0], dtype=np.float64)
        for i, eta in enumerate(etas):
            out[i] = self.loss(w - w.dtype.type(eta) * d, X, y, noise=noise)
        return out

    @staticmethod
    def advance_forward(forward: np.ndarray, direction_forward: np.ndarray,
                        eta: float) -> np.ndarray:
        """The forward cache at ``w - eta d`` of a model whose forward is linear in ``w``:
        ``X (w - eta d) = X w - eta X d`` (DESIGN.md, idea 4), without a product with ``X``."""
        return forward - forward.dtype.type(eta) * direction_forward

    def line_derivatives(self, w, d, eta, X, y) -> tuple[float, float]:
        """Exact ``(f'(eta), f''(eta))`` of ``f(eta) = L(w - eta * d)`` (Eq. 7 and 11)."""
        raise NotImplementedError(f"{type(self).__name__} has no exact line derivatives")

    # -- evaluation ------------------------------------------------------------------------
    def predict(self, w, X) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, w, X, y) -> float | None:
        """Fraction of correct predictions for a classifier, ``None`` for a regression."""
        if self.task != "classification":
            return None
        return float(np.mean(self.predict(w, X) == y))

    # -- checks shared by the models -------------------------------------------------------
    def _check_w(self, w, name: str = "w") -> np.ndarray:
        return check_flat(w, self.layout, name)

    def _check_direction(self, w, d) -> np.ndarray:
        d = check_flat(d, self.layout, "d")
        if d.dtype != w.dtype:
            raise ValueError(f"d has dtype {d.dtype}, w has {w.dtype}; they must match")
        return d


def as_float_matrix(X, dtype, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous 2-D array of ``dtype`` (no copy when it already is one)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, the model expects {n_features}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}")
    return np.ascontiguousarray(X, dtype=dtype)


def check_targets(y, n: int) -> np.ndarray:
    """Regression targets: a 1-D float array of length ``n``, finite."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n} rows")
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"y must hold numbers, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf")
    return y


def check_labels(y, n: int, n_classes: int) -> np.ndarray:
    """Class labels: a 1-D integer array of length ``n`` with values in ``[0, n_classes)``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,) class labels, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n} rows")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"y: labels must lie in [0, {n_classes}), got values in [{y.min()}, {y.max()}]"
        )
    return y


def raise_if_inputs_not_finite(w, X, y=None) -> None:
    """Name the input that made a loss non-finite; return quietly when all are finite
    (then the loss overflowed on finite inputs: a divergence, not bad input)."""
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    if y is not None and np.issubdtype(np.asarray(y).dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or inf")


def check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype
