"""A held-out validation split for the paper's Sec. 5.3 (Eq. 22-23).

In Sec. 5.3 the learning rate is tuned on the loss of a *validation* batch,
``eta -> L_validation_batch(w - eta * grad L_training_batch)``. The validation examples must be
held out: a model must never be trained on a validation batch. The authors' code drew its
"validation" batches from the data it also trained on, which measures training loss again; here the
split is made once, up front, into disjoint index sets, and :func:`check_disjoint` lets a training
loop assert it.
"""

from __future__ import annotations

import numpy as np


def validation_split(
    n: int, n_val: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into disjoint training and validation indices.

    Parameters
    ----------
    n : int
        Number of examples in the original training set.
    n_val : int
        Number held out for validation, ``0 <= n_val <= n``.
    rng : numpy.random.Generator or int or None
        Source of randomness (an int is a seed for ``np.random.default_rng``).

    Returns
    -------
    train_idx : ndarray, shape (n - n_val,), int64
        Sorted indices to train on.
    val_idx : ndarray, shape (n_val,), int64
        Sorted indices for validation batches only: never train on them.

    Examples
    --------
    >>> train_idx, val_idx = validation_split(10, 3, rng=0)
    >>> len(train_idx), len(val_idx), len(np.intersect1d(train_idx, val_idx))
    (7, 3, 0)
    """
    if not 0 <= n_val <= n:
        raise ValueError(f"need 0 <= n_val <= n, got n_val={n_val}, n={n}")
    perm = np.random.default_rng(rng).permutation(n).astype(np.int64)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def check_disjoint(train_idx: np.ndarray, val_idx: np.ndarray) -> None:
    """Raise ``ValueError`` if a validation index is also a training index.

    Parameters
    ----------
    train_idx, val_idx : ndarray, 1-D, int
        Index sets, e.g. from :func:`validation_split`.
    """
    shared = np.intersect1d(train_idx, val_idx)
    if shared.size:
        raise ValueError(
            f"{shared.size} validation example(s) are also in the training set "
            f"(first: {shared[:5].tolist()}); validation batches must never be trained on"
        )
