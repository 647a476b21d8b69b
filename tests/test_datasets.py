"""Parsers and loaders on small files in the official formats, written by the tests themselves."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adaptive_lr.datasets import (
    DataError,
    DataNotFoundError,
    data_dir,
    images_as_float,
    load_cifar10,
    load_cifar100,
    load_mnist,
    locate_cifar10,
    mnist_as_features,
    read_idx,
    write_idx,
)
from adaptive_lr.datasets.cifar import parse_cifar, read_cifar
from adaptive_lr.datasets.idx import IDX_DTYPES, idx_bytes, parse_idx

# --------------------------------------------------------------------------- data folder


def test_data_dir_env_overrides_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    assert data_dir(tmp_path / "x") == tmp_path / "x"  # an explicit folder wins


def test_data_dir_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "adaptive-lr"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_dir().parts[-2:] == (".cache", "adaptive-lr")


# --------------------------------------------------------------------------- IDX


def test_idx_hand_written_mnist_labels():
    # magic 2049 = 00 00 08 01: uint8, one dimension; then the count 3, then the bytes
    data = b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([7, 0, 9])
    labels = parse_idx(data)
    assert labels.dtype == np.uint8 and labels.tolist() == [7, 0, 9]


def test_idx_hand_written_big_endian_int32():
    data = b"\x00\x00\x0c\x02" + struct.pack(">II", 1, 2) + bytes([0, 0, 1, 2, 255, 255, 255, 255])
    a = parse_idx(data)
    assert a.dtype == np.dtype("int32") and a.dtype.isnative
    assert a.tolist() == [[258, -1]]


_idx_dtypes = st.sampled_from([dt.newbyteorder("=") for dt in IDX_DTYPES.values()])


@given(
    hnp.arrays(
        _idx_dtypes,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": False},
    )
)
def test_idx_round_trip(array):
    back = parse_idx(idx_bytes(array))
    assert back.shape == array.shape and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_gzip_or_not(tmp_path, compress):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = write_idx(tmp_path / "images", images, compress=compress)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if compress else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(path), images)


def test_idx_writer_refuses_unknown_dtype():
    with pytest.raises(DataError, match="no type for dtype int64"):
        idx_bytes(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "less than a magic number"),
        (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "wrong magic number 0x01020801"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown type 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
        (b"\x1f\x8b\x08\x00", "looks gzipped"),
    ],
)
def test_idx_bad_header(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data)


def test_idx_truncated_names_expected_and_actual_sizes():
    data = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"truncated.*3152 bytes expected, got 3151"):
        parse_idx(data[:-1], name="x")
    with pytest.raises(DataError, match="trailing bytes"):
        parse_idx(data + b"\x00")


def test_read_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "a.gz", np.arange(5000, dtype=np.int32), compress=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)


# --------------------------------------------------------------------------- MNIST


def write_mnist(folder, n_train=5, n_test=3, seed=0, compress=True):
    """Write a tiny MNIST in the official layout; return the arrays written."""
    rng = np.random.default_rng(seed)
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(folder / "mnist" / f"{part}-images-idx3-ubyte{suffix}", images, compress=compress)
        write_idx(folder / "mnist" / f"{part}-labels-idx1-ubyte{suffix}", labels, compress=compress)
        arrays[part] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_small_files(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path, verify=False)
    assert X_train.shape == (5, 28, 28) and X_train.dtype == np.uint8
    assert X_test.shape == (3, 28, 28)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(X_train, arrays["train"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])


def test_load_mnist_verifies_payloads_by_default(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(DataError, match=r"train-images.*expected 47040016 bytes, got 3936"):
        load_mnist(tmp_path)


def test_load_mnist_labels_file_as_images_is_wrong_magic(tmp_path):
    write_mnist(tmp_path)
    m = tmp_path / "mnist"
    (m / "train-images-idx3-ubyte.gz").write_bytes((m / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="wrong magic number 2049 .*expected 2051"):
        load_mnist(tmp_path, verify=False)


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        ("train-images-idx3-ubyte.gz", np.zeros((5, 28, 27), np.uint8), "N x 28 x 28"),
        ("train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), "5 images but 4 labels"),
        ("t10k-labels-idx1-ubyte.gz", np.full(3, 10, np.uint8), "expected 0..9, found 10"),
    ],
)
def test_load_mnist_wrong_sizes_and_labels(tmp_path, name, array, message):
    write_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / name, array, compress=True)
    with pytest.raises(DataError, match=message):
        load_mnist(tmp_path, verify=False)


def test_load_mnist_missing_files_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))
    write_mnist(tmp_path)
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert "2 file(s) not found" in message
    for stem in ("t10k-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{stem}.gz" in message
        assert str(tmp_path / "mnist" / f"{stem}.gz") in message
    assert "train-images" not in message and "ADAPTIVE_LR_DATA" in message


def test_mnist_as_features():
    X = np.zeros((2, 28, 28), dtype=np.uint8)
    X[1, 2, 3] = 255
    X[0, 0, 0] = 51
    F = mnist_as_features(X)
    assert F.shape == (2, 784) and F.dtype == np.float64
    assert F[1, 2 * 28 + 3] == 1.0 and F[0, 0] == pytest.approx(0.2)
    assert F.sum() == pytest.approx(1.2)
    assert mnist_as_features(X, np.float32).dtype == np.float32
    with pytest.raises(DataError, match=r"\(N, 28, 28\)"):
        mnist_as_features(np.zeros((2, 784), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        images_as_float(np.zeros((2, 3), np.float64))


# --------------------------------------------------------------------------- CIFAR


def cifar_bytes(images, labels):
    """Official binary records: label byte(s), then 1024 R, 1024 G, 1024 B (row-major)."""
    labels = np.asarray(labels, dtype=np.uint8).reshape(len(images), -1)
    rows = np.concatenate([labels, np.asarray(images, np.uint8).reshape(len(images), -1)], axis=1)
    return rows.tobytes()


def test_parse_cifar_record_layout():
    # one record written byte by byte: label 7, then pixel (c, r, k) = (c*1024 + r*32 + k) % 251
    record = bytes([7]) + bytes((i % 251) for i in range(3072))
    X, y = parse_cifar(record, label_bytes=1)
    assert X.shape == (1, 3, 32, 32) and X.dtype == np.uint8
    assert y.tolist() == [[7]] and y.dtype == np.int64
    for c, r, k in [(0, 0, 1), (1, 2, 3), (2, 31, 31)]:
        assert X[0, c, r, k] == (c * 1024 + r * 32 + k) % 251


@given(st.integers(1, 4), st.sampled_from([1, 2]), st.integers(0, 2**32 - 1))
def test_parse_cifar_round_trip(n, label_bytes, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 100, (n, label_bytes), dtype=np.uint8)
    X, y = parse_cifar(cifar_bytes(images, labels), label_bytes)
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize(
    ("size", "label_bytes"), [(0, 1), (3073 * 2 - 1, 1), (3074 * 3, 1), (3073 * 4, 2)]
)
def test_parse_cifar_truncated_or_wrong_record_size(size, label_bytes):
    message = f"not a positive multiple of the record size {3072 + label_bytes}"
    with pytest.raises(DataError, match=message):
        parse_cifar(bytes(size), label_bytes, name="f.bin")


def test_read_cifar_wrong_record_count(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(3073 * 3))
    with pytest.raises(DataError, match=r"expected 10000 records .* got 3"):
        read_cifar(path, 1, n_records=10000)


def write_cifar10(folder, variant, n_train=2, n_test=3, seed=0):
    rng = np.random.default_rng(seed)

    def write(path, n):
        path.parent.mkdir(parents=True, exist_ok=True)
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        path.write_bytes(cifar_bytes(images, labels))
        return images, labels

    base = folder / "cifar10"
    if variant == "full":
        train = [write(base / "cifar-10-batches-bin" / f"data_batch_{i}.bin", n_train)
                 for i in range(1, 6)]
        test = write(base / "cifar-10-batches-bin" / "test_batch.bin", n_test)
    else:
        train = [write(base / "cifar10_data_batch_1_first4000.bin", n_train)]
        test = write(base / "cifar10_test_batch_first1000.bin", n_test)
    return train, test


@pytest.mark.parametrize("variant", ["full", "subset"])
def test_load_cifar10_small_files(tmp_path, variant):
    train, test = write_cifar10(tmp_path, variant)
    X_train, y_train, X_test, y_test = load_cifar10(tmp_path, verify=False)
    assert locate_cifar10(tmp_path).variant == variant
    n = 2 * len(train)
    assert X_train.shape == (n, 3, 32, 32) and X_train.dtype == np.uint8
    assert y_train.shape == (n,) and y_train.dtype == np.int64
    assert X_test.shape == (3, 3, 32, 32) and y_test.dtype == np.int64
    np.testing.assert_array_equal(X_train, np.concatenate([X for X, _ in train]))  # batch order
    np.testing.assert_array_equal(y_train, np.concatenate([y for _, y in train]))
    np.testing.assert_array_equal(y_test, test[1])


def test_load_cifar10_verify_checks_record_counts(tmp_path):
    write_cifar10(tmp_path, "subset")
    with pytest.raises(DataError, match="expected 4000 records"):
        load_cifar10(tmp_path)


def test_cifar10_variants_are_explicit_and_never_mixed(tmp_path):
    write_cifar10(tmp_path, "subset")
    write_cifar10(tmp_path, "full")
    files = locate_cifar10(tmp_path)
    assert files.variant == "full" and len(files.train) == 5  # full wins when complete
    assert all("cifar-10-batches-bin" in str(p) for p in (*files.train, files.test))
    assert locate_cifar10(tmp_path, variant="subset").variant == "subset"
    (tmp_path / "cifar10" / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    assert locate_cifar10(tmp_path).variant == "subset"  # incomplete full: the whole subset
    with pytest.raises(DataNotFoundError, match="data_batch_3.bin"):
        locate_cifar10(tmp_path, variant="full")
    with pytest.raises(ValueError, match="variant"):
        locate_cifar10(tmp_path, variant="half")


def test_load_cifar10_missing_names_files_url_and_place(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(tmp_path)
    message = str(info.value)
    assert "data_batch_1.bin" in message and "test_batch.bin" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in message
    assert "md5 c32a1d4ab5d03f1284b67883e8d87530" in message
    assert str(tmp_path / "cifar10" / "cifar-10-binary.tar.gz") in message


def test_load_cifar10_label_out_of_range(tmp_path):
    write_cifar10(tmp_path, "subset")
    path = tmp_path / "cifar10" / "cifar10_test_batch_first1000.bin"
    data = bytearray(path.read_bytes())
    data[3073] = 10  # label byte of the second record
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="label 10 out of range 0..9"):
        load_cifar10(tmp_path, verify=False)


def write_cifar100(folder, n_train=4, n_test=2, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for name, n in (("train.bin", n_train), ("test.bin", n_test)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = np.stack([rng.integers(0, 20, n), rng.integers(0, 100, n)], axis=1)  # coarse, fine
        path = folder / "cifar100" / "cifar-100-binary" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cifar_bytes(images, labels))
        out.append((images, labels))
    return out


def test_load_cifar100_label_modes(tmp_path):
    (train_images, train_labels), (_, test_labels) = write_cifar100(tmp_path)
    X_train, fine, X_test, fine_test = load_cifar100(tmp_path, verify=False)
    assert X_train.shape == (4, 3, 32, 32) and X_test.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(X_train, train_images)
    np.testing.assert_array_equal(fine, train_labels[:, 1])
    np.testing.assert_array_equal(fine_test, test_labels[:, 1])
    _, coarse, _, _ = load_cifar100(tmp_path, label_mode="coarse", verify=False)
    np.testing.assert_array_equal(coarse, train_labels[:, 0])
    _, both, _, both_test = load_cifar100(tmp_path, label_mode="both", verify=False)
    assert both.shape == (4, 2) and both.dtype == np.int64 and both_test.shape == (2, 2)
    np.testing.assert_array_equal(both, train_labels)
    assert fine.dtype == coarse.dtype == np.int64
    with pytest.raises(ValueError, match="label_mode"):
        load_cifar100(tmp_path, label_mode="medium")
    with pytest.raises(DataError, match="expected 50000 records"):
        load_cifar100(tmp_path)


def test_cifar100_file_is_not_cifar10(tmp_path):
    write_cifar100(tmp_path, n_train=3)
    with pytest.raises(DataError, match="record size 3073"):
        read_cifar(tmp_path / "cifar100" / "cifar-100-binary" / "train.bin", 1)


def test_load_cifar100_coarse_label_out_of_range(tmp_path):
    write_cifar100(tmp_path)
    path = tmp_path / "cifar100" / "cifar-100-binary" / "test.bin"
    data = bytearray(path.read_bytes())
    data[0] = 20
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="coarse: label 20 out of range 0..19"):
        load_cifar100(tmp_path, verify=False)


def test_write_idx_gzip_is_reproducible(tmp_path):
    (tmp_path / "b").mkdir()
    a = write_idx(tmp_path / "x.gz", np.arange(10, dtype=np.uint8), compress=True).read_bytes()
    b = write_idx(tmp_path / "b" / "x.gz", np.arange(10, dtype=np.uint8), compress=True)
    assert a == b.read_bytes() and gzip.decompress(a)[:4] == b"\x00\x00\x08\x01"
