"""The model interface: pure functions of one flat parameter vector.

A model owns no weights. It describes the layout of ``w`` and offers (the :class:`Model`
contract; ``tests/test_model_contract.py`` checks it over every model)

* ``init_params(rng, dtype)``: a fresh flat vector;
* ``loss(w, X, y, *, noise=None, state=None)``: the mean loss on a batch;
* ``forward_backward(w, X, y, *, noise=None, state=None) -> GradientPass``: the loss, its
  gradient (a flat vector like ``w``), an opaque *forward cache* at ``w`` that a probe on the
  same batch may reuse (:mod:`adaptive_lr.probe`), and the model's new non-parameter state;
* ``line_losses(w, d, etas, X, y, *, noise=None, cache=None, state=None)``: ``L(w - eta * d)``
  for each ``eta`` (Eq. 3-4). The default evaluates the loss once per ``eta``; models override
  it with a fused evaluation that must agree with it to rounding and be no noisier;
* ``predict(w, X, *, state=None)``, ``unflatten(w)``, and ``sample_noise(rng, n)``, which draws
  the random state of one step (dropout masks) so that the gradient and every probe of that step
  see one function. Deterministic models return ``None``.

Optional, detected by its presence (the :class:`ExactLineDerivatives` protocol), not by a flag:
``line_derivatives(w, d, eta, X, y) -> (f'(eta), f''(eta))``, exact (Eq. 7 and 11), offered by
the linear and logistic models.

**Non-parameter state** (BatchNorm's running statistics, for example) is not part of ``w``:
gradient descent does not move it and no probe may. ``init_state(dtype)`` returns the initial
state, a dict of arrays, or ``None`` for a model without any (every model here so far). Only
``forward_backward`` returns an updated state, which the training loop stores once per step;
``line_losses`` reads the step's state and returns none; ``loss`` and ``predict`` use it for
evaluation. This is the role of flax's ``batch_stats`` collection.

Input checks are cheap by design. Shapes, dtypes and labels are checked on every call (O(N)).
For the linear models, finiteness of ``X`` is checked only when the loss comes out non-finite: a
NaN or inf in ``X`` always makes their loss non-finite (every input reaches the output through a
product with a weight), so a clean batch pays nothing for the check. A ReLU network can map an
inf pixel to 0, so :class:`~adaptive_lr.models.lenet.LeNet` checks ``X`` on every call.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..arguments import check_float_dtype, check_real, check_real_array, describe
from ..params import Layout, check_flat, layout_size, unflatten

#: The ``y`` of a call that takes none (``predict``); ``y=None`` elsewhere is an error.
NO_TARGETS = object()


class GradientPass(NamedTuple):
    """What :meth:`Model.forward_backward` returns."""

    loss: float  #: mean loss on the batch at ``w``
    grad: np.ndarray  #: its gradient, flat, dtype of ``w``
    cache: object = None  #: forward cache at ``w`` for a probe on the same batch (opaque)
    state: dict | None = None  #: the model's new non-parameter state (None: it has none)


@runtime_checkable
class ExactLineDerivatives(Protocol):
    """A model that computes the line loss's derivatives exactly (Eq. 7 and 11)."""

    def line_derivatives(self, w, d, eta, X, y) -> tuple[float, float]:
        """Exact ``(f'(eta), f''(eta))`` of ``f(eta) = L(w - eta * d)``."""


class Model:
    """Base class of the models. Subclasses set ``layout`` and ``task`` and implement
    :meth:`init_params`, :meth:`forward_backward`, :meth:`loss` and :meth:`predict`."""

    #: ``"classification"`` (integer labels, accuracy applies) or ``"regression"``.
    task: str = "regression"
    #: Names and shapes of the parameters, in the order they sit in ``w``.
    layout: Layout = ()

    # -- parameters and state --------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return layout_size(self.layout)

    def unflatten(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Named views into ``w`` (they share its memory)."""
        return unflatten(w, self.layout)

    def init_params(self, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        raise NotImplementedError

    def init_state(self, dtype=np.float64) -> dict[str, np.ndarray] | None:
        """The initial non-parameter state (see the module docstring); ``None`` here."""
        return None

    # -- randomness ------------------------------------------------------------------------
    def sample_noise(self, rng: np.random.Generator, n: int):
        """The random state of one step on ``n`` examples; ``None`` for a deterministic model."""
        return None

    # -- losses ----------------------------------------------------------------------------
    def loss(self, w, X, y, *, noise=None, state=None) -> float:
        raise NotImplementedError

    def forward_backward(self, w, X, y, *, noise=None, state=None) -> GradientPass:
        """The loss, its gradient, a forward cache for :meth:`line_losses`, the new state."""
        raise NotImplementedError

    def loss_and_grad(self, w, X, y, *, noise=None, state=None) -> tuple[float, np.ndarray]:
        """Mean loss on the batch and its gradient, a flat vector like ``w``."""
        out = self.forward_backward(w, X, y, noise=noise, state=state)
        return out.loss, out.grad

    def line_losses(self, w, d, etas, X, y, *, noise=None, cache=None, state=None) -> np.ndarray:
        """``[L(w - eta * d) for eta in etas]`` (Eq. 3-4), without modifying ``w``.

        This generic version, the reference for the fused ones, runs one forward pass per
        ``eta``; ``cache`` is ignored.
        """
        etas = check_etas(etas)
        out = np.empty(etas.shape[0], dtype=np.float64)
        for i, eta in enumerate(etas):
            out[i] = self.loss(w - w.dtype.type(eta) * d, X, y, noise=noise, state=state)
        return out

    # -- evaluation ------------------------------------------------------------------------
    def predict(self, w, X, *, state=None) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, w, X, y) -> float | None:
        """Fraction of correct predictions for a classifier, ``None`` for a regression."""
        if self.task != "classification":
            return None
        return float(np.mean(self.predict(w, X) == y))

    # -- checks shared by the models -------------------------------------------------------
    def _check_w(self, w, name: str = "w") -> np.ndarray:
        return check_flat(w, self.layout, name)

    def _check_finite_w(self, w) -> np.ndarray:
        """``w`` checked, and finite: for :meth:`predict`, whose answer (a NaN, or class 0 for
        an argmax over NaN) would not show that the weights are broken."""
        w = self._check_w(w)
        if not np.all(np.isfinite(w)):
            raise ValueError("w contains NaN or inf")
        return w

    def _check_direction(self, w, d) -> np.ndarray:
        d = check_flat(d, self.layout, "d")
        if d.dtype != w.dtype:
            raise ValueError(f"d has dtype {d.dtype}, w has {w.dtype}; they must match")
        return d

    def _check_no_noise(self, noise) -> None:
        """Deterministic models accept only ``noise=None`` (what their ``sample_noise`` gives)."""
        if noise is not None:
            raise ValueError(f"{type(self).__name__} is deterministic; noise must be None, got "
                             f"{describe(noise)}")

    def _check_state(self, state) -> None:
        """Models without non-parameter state accept only ``state=None``."""
        if state is not None:
            raise ValueError(f"{type(self).__name__} has no non-parameter state; "
                             f"state must be None, got {type(state).__name__}")


def check_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` (``np.random.default_rng(seed)`` makes one)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {describe(rng)}")
    return rng


def check_cache_array(cache, shape: tuple, w) -> np.ndarray:
    """A linear model's forward cache: an array of ``shape`` in the dtype of ``w``."""
    if not isinstance(cache, np.ndarray) or cache.shape != shape or cache.dtype != w.dtype:
        got = (f"{cache.dtype} of shape {cache.shape}" if isinstance(cache, np.ndarray)
               else describe(cache))
        raise ValueError(f"cache must be the forward cache of forward_backward(w, X, y) on this "
                         f"batch ({w.dtype} of shape {shape}), got {got}")
    return cache


def check_etas(etas) -> np.ndarray:
    """Step sizes of a probe (Eq. 3-4): a non-empty 1-D array of finite real numbers, float64."""
    etas = check_real_array("etas", etas).astype(np.float64)
    if etas.ndim != 1 or etas.shape[0] == 0:
        raise ValueError(f"etas must be a non-empty 1-D array, got shape {etas.shape}")
    if not np.all(np.isfinite(etas)):
        raise ValueError("etas contains NaN or inf")
    return etas


def check_eta(eta) -> float:
    """One step size, finite (``line_derivatives``)."""
    return check_real("eta", eta)


def as_float_matrix(X, dtype, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """``X`` as a C-contiguous 2-D array of ``dtype`` (no copy when it already is one)."""
    X = check_real_array(name, X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, the model expects {n_features}")
    return np.ascontiguousarray(X, dtype=dtype)


def check_targets(y, n: int, name: str = "y") -> np.ndarray:
    """Regression targets: a 1-D float array of length ``n``, finite."""
    y = check_real_array(name, y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but X has {n} rows")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or inf")
    return y


def check_labels(y, n: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Class labels: a 1-D integer array of length ``n`` with values in ``[0, n_classes)``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,) class labels, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {n} rows")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name}: labels must lie in [0, {n_classes}), got values in [{y.min()}, {y.max()}]"
        )
    return y


def check_images(X, dtype, in_channels: int, image_size: tuple[int, int], net: str) -> np.ndarray:
    """``X`` as a C-contiguous ``(N, C, H, W)`` batch of ``dtype`` for the network ``net``
    (its name in the messages), with ``N >= 1``, its channels and its image size; real and
    finite. Checked eagerly because a ReLU network can map an inf pixel to a finite loss
    (negative pre-activation -> 0)."""
    X = check_real_array("X", X)
    if X.ndim != 4:
        raise ValueError(f"X must be 4-D (N, C, H, W) images, got shape {X.shape}")
    n, c, h, w = X.shape
    if n == 0:
        raise ValueError("X is empty")
    if c != in_channels:
        raise ValueError(f"X has {c} channels, this {net} expects {in_channels}")
    if (h, w) != tuple(image_size):
        raise ValueError(f"X has {h}x{w} images, this {net} was built for image_size="
                         f"{image_size[0]}x{image_size[1]}")
    X = np.ascontiguousarray(X, dtype=dtype)  # no copy when it already is
    # One sum (one pass, no temporary, unlike isfinite(X).all()) is non-finite whenever X is;
    # a finite X whose sum overflows falls through to the exact check.
    if not np.isfinite(np.sum(X)):
        raise_if_inputs_not_finite(np.zeros(1), X)
    return X


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
    """float32 or float64 (:func:`~adaptive_lr.arguments.check_float_dtype`)."""
    return check_float_dtype(dtype)
