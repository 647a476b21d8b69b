"""The loaders on the real files of the folder named by ADAPTIVE_LR_DATA (skipped without it).

The expected values are the published facts of the data sets: MNIST's label counts and
CIFAR-10's first labels.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from adaptive_lr.datasets import load_cifar10, load_mnist, locate_cifar10, read_label_names
from adaptive_lr.datasets.mnist import FILES


def real_folder(*needed):
    env = os.environ.get("ADAPTIVE_LR_DATA", "")
    if not env:
        pytest.skip("real data not found: set ADAPTIVE_LR_DATA to a folder with mnist/, cifar10/")
    root = Path(env)
    for name in needed:
        if not any((root / candidate).is_file() for candidate in (name, f"{name}.gz")):
            pytest.skip(f"real data not found: {root / name}(.gz) is absent (ADAPTIVE_LR_DATA)")
    return root


@pytest.fixture(scope="module")
def mnist():
    root = real_folder(*(f"mnist/{stem}" for stem in FILES))
    return load_mnist(root)  # verify=True: the decompressed payloads' sha256


def test_real_mnist(mnist):
    X_train, y_train, X_test, y_test = mnist
    assert X_train.shape == (60000, 28, 28) and X_train.dtype == np.uint8
    assert X_test.shape == (10000, 28, 28) and X_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                             5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert X_train.max() == 255 and X_train.min() == 0


def test_real_cifar10_subset():
    root = real_folder("cifar10/cifar10_data_batch_1_first4000.bin",
                       "cifar10/cifar10_test_batch_first1000.bin")
    files = locate_cifar10(root)
    if files.variant == "full":
        pytest.skip("the folder holds the full CIFAR-10; this test is for the 4000/1000 subset")
    X_train, y_train, X_test, y_test = load_cifar10(root)
    assert files.records == (4000, 1000)
    assert X_train.shape == (4000, 3, 32, 32) and X_train.dtype == np.uint8
    assert X_test.shape == (1000, 3, 32, 32) and X_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert set(np.unique(y_train).tolist()) == set(range(10))


def test_real_cifar10_class_names():
    root = real_folder("cifar10/batches.meta.txt")
    names = read_label_names(root / "cifar10" / "batches.meta.txt")
    assert names[:3] == ["airplane", "automobile", "bird"] and len(names) == 10
