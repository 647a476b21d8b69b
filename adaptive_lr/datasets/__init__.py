"""Data sets: Boston Housing (bundled), MNIST, CIFAR-10 and CIFAR-100 (downloaded, verified).

Every loader returns NumPy arrays ``(X_train, y_train, X_test, y_test)``:

=====================  ========================  =================  ==============
loader                 X                         y                  sizes
=====================  ========================  =================  ==============
:func:`load_boston`    (n, 13) float64           (n,) float64       400 / 106
:func:`load_mnist`     (n, 28, 28) uint8         (n,) int64, 0..9   60000 / 10000
:func:`load_cifar10`   (n, 3, 32, 32) uint8      (n,) int64, 0..9   50000 / 10000
:func:`load_cifar100`  (n, 3, 32, 32) uint8      (n,) or (n, 2)     50000 / 10000
=====================  ========================  =================  ==============

Files live in :func:`data_dir` (``$ADAPTIVE_LR_DATA``, else ``~/.cache/adaptive-lr``), in the
subfolders ``mnist/``, ``cifar10/``, ``cifar100/`` and ``boston/``. With ``download=True`` the
loaders fetch missing files from the locations in :data:`SOURCES`, verify them and only then move
them into place. Errors are :class:`DataError` (a ``ValueError``) and, for absent files,
:class:`DataNotFoundError` (also a ``FileNotFoundError``).
"""

from .boston import load_boston, read_boston
from .cache import DataError, DataNotFoundError, data_dir
from .cifar import CifarFiles, load_cifar10, load_cifar100, locate_cifar10, read_label_names
from .download import fetch, safe_extract_tar
from .idx import read_idx, write_idx
from .mnist import images_as_float, load_mnist, mnist_as_features
from .sources import SOURCES, Remote
from .splits import check_disjoint, validation_split

__all__ = [
    "SOURCES",
    "CifarFiles",
    "DataError",
    "DataNotFoundError",
    "Remote",
    "check_disjoint",
    "data_dir",
    "fetch",
    "images_as_float",
    "load_boston",
    "load_cifar10",
    "load_cifar100",
    "load_mnist",
    "locate_cifar10",
    "mnist_as_features",
    "read_boston",
    "read_idx",
    "read_label_names",
    "safe_extract_tar",
    "validation_split",
    "write_idx",
]
