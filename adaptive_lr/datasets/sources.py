"""The one table of downloadable files: canonical location and checksum of each.

Hash types differ per entry and the table says which: the MNIST entries carry the sha256 of the
*decompressed* IDX payload (``payload=True``), so that any faithful copy is accepted whatever its
gzip compression; the CIFAR archives carry the md5 published on the CIFAR page (the only checksum
published there), checked on the ``.tar.gz`` file itself.
"""

from __future__ import annotations

from typing import NamedTuple

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"


class Remote(NamedTuple):
    """One downloadable file.

    Attributes
    ----------
    name : str
        Path inside the data folder, e.g. ``"mnist/train-images-idx3-ubyte.gz"``.
    url : str
        Canonical public location.
    algorithm : str
        ``"sha256"`` or ``"md5"``.
    digest : str
        Expected hex digest.
    payload : bool
        True if ``digest`` is of the gunzipped bytes, False if of the file as downloaded.
    size : int or None
        Expected size in bytes of what ``digest`` covers, when known.
    note : str
        Extra information, e.g. the md5 of the canonical ``.gz`` (for reference only).
    download_size : int or None
        Size in bytes of the file as served at ``url``: a download stops, with an error, as soon
        as it passes this size (no tolerance: the canonical files do not change).
    """

    name: str
    url: str
    algorithm: str
    digest: str
    payload: bool
    size: int | None = None
    note: str = ""
    download_size: int | None = None


# name                               | hash of          | algorithm | digest
# mnist/train-images-idx3-ubyte.gz   | gunzipped payload | sha256   | ba891046...
# mnist/train-labels-idx1-ubyte.gz   | gunzipped payload | sha256   | 65a50cbb...
# mnist/t10k-images-idx3-ubyte.gz    | gunzipped payload | sha256   | 0fa7898d...
# mnist/t10k-labels-idx1-ubyte.gz    | gunzipped payload | sha256   | ff7bcfd4...
# cifar10/cifar-10-binary.tar.gz     | archive file      | md5      | c32a1d4a...
# cifar100/cifar-100-binary.tar.gz   | archive file      | md5      | 03b5dce0...
#
# download_size is the size of the file as served (the canonical .gz of MNIST: 9912422, 28881,
# 1648877 and 4542 bytes; the CIFAR archives: 170052171 and 168513733 bytes).
SOURCES: dict[str, Remote] = {
    r.name: r
    for r in (
        Remote(
            "mnist/train-images-idx3-ubyte.gz", MNIST_URL + "train-images-idx3-ubyte.gz",
            "sha256", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            payload=True, size=47040016,
            note="md5 of the canonical .gz: f68b3c2dcbeaaa9fbdd348bbdeb94873",
            download_size=9912422,
        ),
        Remote(
            "mnist/train-labels-idx1-ubyte.gz", MNIST_URL + "train-labels-idx1-ubyte.gz",
            "sha256", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            payload=True, size=60008,
            note="md5 of the canonical .gz: d53e105ee54ea40749a09fcbcd1e9432",
            download_size=28881,
        ),
        Remote(
            "mnist/t10k-images-idx3-ubyte.gz", MNIST_URL + "t10k-images-idx3-ubyte.gz",
            "sha256", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            payload=True, size=7840016,
            note="md5 of the canonical .gz: 9fb629c4189551a2d022fa330f9573f3",
            download_size=1648877,
        ),
        Remote(
            "mnist/t10k-labels-idx1-ubyte.gz", MNIST_URL + "t10k-labels-idx1-ubyte.gz",
            "sha256", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            payload=True, size=10008,
            note="md5 of the canonical .gz: ec29112dd5afa0611ce80d1b7f02629c",
            download_size=4542,
        ),
        Remote(
            "cifar10/cifar-10-binary.tar.gz", CIFAR_URL + "cifar-10-binary.tar.gz",
            "md5", "c32a1d4ab5d03f1284b67883e8d87530", payload=False,
            note="md5 as published on the CIFAR page; no sha256 is published",
            download_size=170052171,
        ),
        Remote(
            "cifar100/cifar-100-binary.tar.gz", CIFAR_URL + "cifar-100-binary.tar.gz",
            "md5", "03b5dce01913d631647c71ecec9e9cb8", payload=False,
            note="md5 as published on the CIFAR page; no sha256 is published",
            download_size=168513733,
        ),
    )
}

# The bundled Boston Housing CSV (adaptive_lr/data/boston_house_prices.csv.gz): sha256 of the
# decompressed payload, which is byte for byte sklearn/datasets/data/boston_house_prices.csv of the
# scikit-learn 1.1.3 wheel.
BOSTON_SHA256 = "d98212636026544fc9b9c0f372e5f819872e6fa6fa757ab025efdda22180f2d6"
BOSTON_SIZE = 34742
