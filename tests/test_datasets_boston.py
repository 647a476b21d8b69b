"""Boston Housing (bundled) and the held-out validation split."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr.datasets import (
    DataError,
    DataNotFoundError,
    check_disjoint,
    load_boston,
    read_boston,
    validation_split,
)
from adaptive_lr.datasets import boston as boston_module
from adaptive_lr.datasets.sources import BOSTON_SHA256

DATA = Path(__file__).resolve().parents[1] / "adaptive_lr" / "data"
FIRST_ROW = [0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98, 24.0]


def test_bundled_file_matches_manifest_and_payload_checksum():
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest
    payload = gzip.decompress((DATA / "boston_house_prices.csv.gz").read_bytes())
    assert hashlib.sha256(payload).hexdigest() == BOSTON_SHA256
    assert boston_module.BUNDLED == DATA / "boston_house_prices.csv.gz"


def test_boston_table_facts():
    table = read_boston()
    assert table.shape == (506, 14) and table.dtype == np.float64
    np.testing.assert_array_equal(table[0], FIRST_ROW)
    assert table[:, -1].mean() == pytest.approx(22.5328, abs=5e-5)


def test_load_boston_paper_split():
    X_train, y_train, X_test, y_test = load_boston()
    assert X_train.shape == (400, 13) and X_test.shape == (106, 13)
    assert y_train.shape == (400,) and y_test.shape == (106,)
    assert {a.dtype for a in (X_train, y_train, X_test, y_test)} == {np.dtype(np.float64)}
    table = read_boston()  # first 400 rows train, last 106 test, in file order
    np.testing.assert_array_equal(np.vstack([X_train, X_test]), table[:, :13])
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), table[:, 13])


def test_load_boston_shuffle_seed():
    a = load_boston(shuffle_seed=3)
    b = load_boston(shuffle_seed=3)
    c = load_boston(shuffle_seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    rows = np.sort(np.vstack([np.column_stack([a[0], a[1]]), np.column_stack([a[2], a[3]])]), 0)
    np.testing.assert_array_equal(rows, np.sort(read_boston(), 0))  # a permutation of the rows


def test_load_boston_standardize_fits_on_train_only():
    X_train, y_train, X_test, y_test = load_boston(standardize=True)
    raw_train, raw_y, raw_test, _ = load_boston()
    np.testing.assert_allclose(X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(0), 1, rtol=1e-12)
    mean, std = raw_train.mean(0), raw_train.std(0)
    np.testing.assert_allclose(X_test, (raw_test - mean) / std, rtol=1e-12)
    assert abs(X_test.mean(0)).max() > 0.05  # test statistics were not used
    np.testing.assert_array_equal(y_train, raw_y)  # the target is never scaled


def test_boston_tampered_or_truncated_copy_is_refused(tmp_path):
    text = gzip.decompress((DATA / "boston_house_prices.csv.gz").read_bytes())
    tampered = tmp_path / "tampered.csv"
    tampered.write_bytes(text.replace(b"0.00632,18", b"0.00633,18"))
    with pytest.raises(DataError, match=f"checksum mismatch .*expected sha256 {BOSTON_SHA256}"):
        load_boston(path=tampered)
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes((DATA / "boston_house_prices.csv.gz").read_bytes()[:5000])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        load_boston(path=truncated)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text)  # an uncompressed faithful copy is accepted
    np.testing.assert_array_equal(read_boston(plain), read_boston())


def test_boston_found_in_data_folder_when_not_bundled(tmp_path, monkeypatch):
    monkeypatch.setattr(boston_module, "BUNDLED", tmp_path / "absent.csv.gz")
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="scikit-learn==1.1.3"):
        load_boston()
    (tmp_path / "boston").mkdir()
    (tmp_path / "boston" / "boston_house_prices.csv").write_bytes(
        gzip.decompress((DATA / "boston_house_prices.csv.gz").read_bytes())
    )
    assert load_boston()[0].shape == (400, 13)


# --------------------------------------------------------------------------- validation split


@given(st.integers(0, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
       st.integers(0, 2**32 - 1))
def test_validation_split_disjoint_and_complete(n_and_val, seed):
    n, n_val = n_and_val
    train_idx, val_idx = validation_split(n, n_val, np.random.default_rng(seed))
    assert train_idx.dtype == val_idx.dtype == np.int64
    assert len(val_idx) == n_val and len(train_idx) == n - n_val
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)
    check_disjoint(train_idx, val_idx)


def test_validation_split_seeded_and_checked():
    a = validation_split(50, 10, 7)
    b = validation_split(50, 10, 7)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="n_val"):
        validation_split(5, 6)
    with pytest.raises(ValueError, match="never be trained on"):
        check_disjoint(np.arange(10), np.array([3, 20]))
