"""The data of an experiment, ready for a model: real files, subsets, or a labelled stand-in.

``load_data(name, layout, ...)`` returns a :class:`Data` whose ``source`` says exactly what was
used (which files, which subset, or "synthetic"). When the real MNIST or CIFAR-10 files are
absent, ``allow_synthetic=True`` (the ``--quick`` mode) substitutes a small *synthetic* stand-in
of the same shape and dtype, so that the commands and the tests run on a fresh machine; its
numbers say nothing about the paper and every output names it as synthetic. Without
``allow_synthetic`` a missing file raises the loaders'
:class:`~adaptive_lr.datasets.DataNotFoundError`.

Preprocessing (our choices; the paper does not state its own):

* Boston: the raw features (the paper's rates only make sense for them, see
  :mod:`adaptive_lr.models.linear`);
* MNIST: pixels scaled to ``[0, 1]``;
* CIFAR-10: pixels scaled to ``[-1, 1]`` (``(x / 255 - 0.5) / 0.5``, the normalisation of the
  PyTorch CIFAR-10 tutorial, whose LeNet the paper's matches);
* CIFAR-100 (Sec. 4.2.3, Fig. 10): the same scaling, the 100 fine labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets import (
    DataNotFoundError,
    images_as_float,
    load_boston,
    load_cifar10,
    load_cifar100,
    load_mnist,
    locate_cifar10,
)

DATASETS = ("boston", "mnist", "cifar10", "cifar100")
N_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}
LAYOUTS = ("features", "images")


@dataclass
class Data:
    """Training and test arrays plus a description of where they come from.

    ``X`` is (N, D) for ``layout="features"`` and (N, C, H, W) for ``"images"``.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str
    synthetic: bool
    n_classes: int | None

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])


def synthetic_images(n: int, shape: tuple[int, ...], n_classes: int = 10,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable stand-in: one random uint8 prototype per class plus Gaussian noise.

    Returns ``X`` of shape ``(n, *shape)``, uint8, and labels ``(n,)`` int64 in
    ``[0, n_classes)``. Deterministic in ``seed``.
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(n_classes, *shape))
    y = rng.integers(0, n_classes, size=n).astype(np.int64)
    X = prototypes[y] + rng.normal(0, 80, size=(n, *shape))
    return np.clip(X, 0, 255).astype(np.uint8), y


def _subset(X, y, n):
    return (X, y) if n is None or n >= len(X) else (X[:n], y[:n])


def _load_images(name, n_train, n_test, allow_synthetic):
    """uint8 images (N, C, H, W), labels, and a description."""
    try:
        if name == "mnist":
            X, y, Xt, yt = load_mnist()
            X, Xt = X[:, None], Xt[:, None]  # (N, 28, 28) -> (N, 1, 28, 28)
            source = "MNIST (60000/10000)"
        elif name == "cifar100":
            X, y, Xt, yt = load_cifar100()  # the fine labels
            source = "CIFAR-100 (50000/10000), fine labels"
        else:
            variant = locate_cifar10().variant
            X, y, Xt, yt = load_cifar10()
            source = ("CIFAR-10 subset: the first 4000 training and 1000 test images"
                      if variant == "subset" else "CIFAR-10 (50000/10000)")
        synthetic = False
    except DataNotFoundError:
        if not allow_synthetic:
            raise
        shape = (1, 28, 28) if name == "mnist" else (3, 32, 32)
        n_tr, n_te = n_train or 2000, n_test or 500
        X, y = synthetic_images(n_tr + n_te, shape, N_CLASSES[name], seed=1)
        X, y, Xt, yt = X[:n_tr], y[:n_tr], X[n_tr:], y[n_tr:]
        source = (f"SYNTHETIC stand-in for {name.upper()} (random class prototypes plus noise, "
                  f"shape {shape}); the real files were not found")
        synthetic = True
    X, y = _subset(X, y, n_train)
    Xt, yt = _subset(Xt, yt, n_test)
    if not synthetic and (n_train is not None or n_test is not None):
        source += f", of which the first {len(X)} training and {len(Xt)} test images"
    return X, y, Xt, yt, source, synthetic


def load_data(name: str, layout: str = "features", *, n_train: int | None = None,
              n_test: int | None = None, allow_synthetic: bool = False,
              dtype=np.float64) -> Data:
    """Load a data set by name for a model that takes ``layout`` inputs.

    Parameters
    ----------
    name : {"boston", "mnist", "cifar10", "cifar100"}
    layout : {"features", "images"}
        Rows of features (linear and logistic models) or (N, C, H, W) images (LeNet).
    n_train, n_test : int, optional
        Keep only the first examples of each part (the ``--quick`` subsets).
    allow_synthetic : bool
        Substitute a synthetic stand-in when the real files are absent.
    dtype : float32 or float64

    Returns
    -------
    Data
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    for what, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and n < 1:
            raise ValueError(f"{what} must be >= 1, got {n}")
    if name == "boston":
        if layout != "features":
            raise ValueError("Boston Housing has no images; use a linear model")
        X, y, Xt, yt = load_boston()
        X, y = _subset(X, y, n_train)
        Xt, yt = _subset(Xt, yt, n_test)
        return Data(name, X.astype(dtype), y.astype(dtype), Xt.astype(dtype), yt.astype(dtype),
                    f"Boston Housing (bundled), {len(X)} training / {len(Xt)} test rows, raw "
                    "features", False, None)
    X, y, Xt, yt, source, synthetic = _load_images(name, n_train, n_test, allow_synthetic)
    if name == "mnist":
        X, Xt = images_as_float(X, dtype), images_as_float(Xt, dtype)  # [0, 1]
    else:
        X, Xt = (images_as_float(X, dtype) - 0.5) / 0.5, (images_as_float(Xt, dtype) - 0.5) / 0.5
    if layout == "features":
        X, Xt = X.reshape(len(X), -1), Xt.reshape(len(Xt), -1)  # (N, C, H, W) -> (N, C*H*W)
    return Data(name, np.ascontiguousarray(X, dtype), y, np.ascontiguousarray(Xt, dtype), yt,
                source, synthetic, N_CLASSES[name])
