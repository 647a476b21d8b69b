"""Verified downloads (through file:// URLs), the cache, and safe tar extraction."""

import gzip
import hashlib
import io
import tarfile
import urllib.error

import numpy as np
import pytest

from adaptive_lr.datasets import (
    SOURCES,
    DataError,
    DataNotFoundError,
    Remote,
    fetch,
    load_cifar10,
    load_mnist,
    safe_extract_tar,
    write_idx,
)
from adaptive_lr.datasets import download as download_module
from adaptive_lr.datasets.checksums import verify_file
from adaptive_lr.datasets.idx import idx_bytes


def served(tmp_path, name, data):
    """Put ``data`` where a file:// URL can serve it; return the URL."""
    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return (folder / name).as_uri()


def leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".part") or ".extract-" in p.name]


def test_fetch_verifies_and_moves_into_place(tmp_path):
    data = b"some bytes"
    remote = Remote("set/file.bin", served(tmp_path, "file.bin", data), "sha256",
                    hashlib.sha256(data).hexdigest(), payload=False)
    path = fetch(remote, tmp_path / "cache")
    assert path == tmp_path / "cache" / "set" / "file.bin" and path.read_bytes() == data
    assert leftovers(tmp_path / "cache") == []
    # present and valid: verified, not downloaded again (the URL is not used)
    assert fetch(remote._replace(url="file:///nonexistent/x"), tmp_path / "cache") == path


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_fetch_checksum_mismatch_never_poisons_the_cache(tmp_path, algorithm):
    expected = hashlib.new(algorithm, b"the right bytes").hexdigest()
    actual = hashlib.new(algorithm, b"the wrong bytes").hexdigest()
    remote = Remote("set/file.bin", served(tmp_path, "f", b"the wrong bytes"), algorithm,
                    expected, payload=False)
    with pytest.raises(DataError) as info:
        fetch(remote, tmp_path / "cache")
    message = str(info.value)
    assert "checksum mismatch" in message and "set/file.bin" in message and remote.url in message
    assert f"expected {algorithm} {expected}, got {actual}" in message
    assert not (tmp_path / "cache" / "set" / "file.bin").exists()
    assert leftovers(tmp_path / "cache") == []


def test_fetch_existing_corrupt_file_is_reported(tmp_path):
    remote = Remote("f.bin", "file:///nonexistent/f.bin", "sha256", "0" * 64, payload=False)
    (tmp_path / "f.bin").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"checksum mismatch for .*f\.bin"):
        fetch(remote, tmp_path)


def test_fetch_gzip_checks_payload_so_recompressed_copies_pass(tmp_path):
    payload = idx_bytes(np.arange(1000, dtype=np.int32))
    fast, best = gzip.compress(payload, 1, mtime=0), gzip.compress(payload, 9, mtime=123)
    assert fast != best
    remote = Remote("m/a.gz", served(tmp_path, "a.gz", fast), "sha256",
                    hashlib.sha256(payload).hexdigest(), payload=True)
    path = fetch(remote, tmp_path / "cache")
    path.write_bytes(best)  # a faithful recompressed copy
    verify_file(path, "sha256", remote.digest, payload=True)
    path.write_bytes(payload)  # and a plain one
    verify_file(path, "sha256", remote.digest, payload=True)


def test_fetch_truncated_gzip_is_rejected(tmp_path):
    payload = idx_bytes(np.arange(5000, dtype=np.int32))
    truncated = gzip.compress(payload, mtime=0)[:-100]
    remote = Remote("m/a.gz", served(tmp_path, "a.gz", truncated), "sha256",
                    hashlib.sha256(payload).hexdigest(), payload=True)
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        fetch(remote, tmp_path / "cache")
    assert not (tmp_path / "cache" / "m" / "a.gz").exists() and leftovers(tmp_path) == []
    assert remote.url in str(info.value) and ".part" not in str(info.value)  # not the temp file


def test_fetch_offline_names_file_url_and_place(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download_module.urllib.request, "urlopen", offline)
    remote = SOURCES["mnist/train-labels-idx1-ubyte.gz"]
    with pytest.raises(DataNotFoundError) as info:
        fetch(remote, tmp_path)
    message = str(info.value)
    assert remote.url in message and str(tmp_path / remote.name) in message
    assert "no network" in message
    assert leftovers(tmp_path) == [] and not (tmp_path / remote.name).exists()


def test_source_table_hash_types():
    for name, remote in SOURCES.items():
        assert remote.name == name and remote.url.startswith("https://")
        assert len(remote.digest) == {"sha256": 64, "md5": 32}[remote.algorithm]
        assert remote.payload == name.startswith("mnist/")  # MNIST: sha256 of the payload
    assert SOURCES["cifar10/cifar-10-binary.tar.gz"].digest == "c32a1d4ab5d03f1284b67883e8d87530"


def test_load_mnist_download_end_to_end(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    for part, n in (("train", 4), ("t10k", 2)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, n, dtype=np.uint8))):
            name = f"mnist/{part}-{kind}-ubyte.gz"
            payload = idx_bytes(array)
            url = served(tmp_path, name[6:], gzip.compress(payload, mtime=0))
            remote = Remote(name, url, "sha256", hashlib.sha256(payload).hexdigest(),
                            payload=True, size=len(payload))
            monkeypatch.setitem(SOURCES, name, remote)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path / "cache", download=True)
    assert X_train.shape == (4, 28, 28) and y_test.shape == (2,) and y_test.dtype == np.int64
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    ]
    # verified on load too: a tampered cached file is refused
    write_idx(tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz",
              np.array([1, 2], np.uint8), compress=True)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_mnist(tmp_path / "cache")


# --------------------------------------------------------------------------- tar


def make_tar(path, members):
    """Write a tar.gz; ``members`` is a list of (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"x"):
    return tarfile.TarInfo(name), data


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_load_cifar10_download_and_extract(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    members = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        data = np.concatenate([rng.integers(0, 10, (2, 1), dtype=np.uint8),
                               rng.integers(0, 256, (2, 3072), dtype=np.uint8)], axis=1)
        members.append(file_member(f"cifar-10-batches-bin/{name}", data.tobytes()))
    members.append(file_member("cifar-10-batches-bin/batches.meta.txt", b"airplane\n"))
    archive = make_tar(tmp_path / "cifar-10-binary.tar.gz", members)
    name = "cifar10/cifar-10-binary.tar.gz"
    monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(
        url=archive.as_uri(), digest=hashlib.md5(archive.read_bytes()).hexdigest()))
    with pytest.raises(DataNotFoundError):
        load_cifar10(tmp_path / "cache", variant="full")
    X_train, y_train, X_test, y_test = load_cifar10(tmp_path / "cache", download=True,
                                                    variant="full", verify=False)
    assert X_train.shape == (10, 3, 32, 32) and y_test.shape == (2,)
    assert (tmp_path / "cache" / name).is_file()  # the verified archive stays in the cache
    assert leftovers(tmp_path / "cache") == []


def test_load_cifar10_download_wrong_archive(tmp_path, monkeypatch):
    archive = make_tar(tmp_path / "a.tar.gz", [file_member("cifar-10-batches-bin/x.bin")])
    name = "cifar10/cifar-10-binary.tar.gz"
    monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(url=archive.as_uri()))
    with pytest.raises(DataError, match="expected md5 c32a1d4ab5d03f1284b67883e8d87530"):
        load_cifar10(tmp_path / "cache", download=True)
    assert list((tmp_path / "cache" / "cifar10").iterdir()) == []


def test_safe_extract_tar_ok(tmp_path):
    archive = make_tar(tmp_path / "ok.tar.gz", [
        file_member("top/a.bin", b"abc"),
        file_member("top/sub/b.bin", b"de"),
    ])
    (tmp_path / "out" / "top").mkdir(parents=True)
    (tmp_path / "out" / "top" / "old.bin").write_bytes(b"stale")  # replaced as a whole
    moved = safe_extract_tar(archive, tmp_path / "out")
    assert moved == [tmp_path / "out" / "top"]
    assert (tmp_path / "out" / "top" / "a.bin").read_bytes() == b"abc"
    assert (tmp_path / "out" / "top" / "sub" / "b.bin").read_bytes() == b"de"
    assert not (tmp_path / "out" / "top" / "old.bin").exists()
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (file_member("../escape.txt"), "'..' component"),
        (file_member("top/../../escape.txt"), "'..' component"),
        (file_member("/tmp/escape.txt"), "absolute path"),
        (link_member("top/link", "/etc/passwd"), "a link"),
        (link_member("top/link", "../../etc/passwd"), "a link"),
        (link_member("top/hard", "../outside", tarfile.LNKTYPE), "a link"),
        (link_member("top/sub/link", "../fine.bin"), "a link"),  # inside, and still refused
        (link_member("top/fifo", "", tarfile.FIFOTYPE), "not a regular file or folder"),
    ],
)
@pytest.mark.parametrize("python_filter", [True, False], ids=["with-data-filter", "own-check-only"])
def test_safe_extract_tar_rejects_escaping_members(tmp_path, monkeypatch, member, reason,
                                                    python_filter):
    if not python_filter:  # as on a Python without tarfile extraction filters
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = make_tar(tmp_path / "evil.tar.gz", [file_member("top/fine.bin"), member])
    out = tmp_path / "deep" / "out"
    with pytest.raises(DataError, match=reason):
        safe_extract_tar(archive, out)
    assert list(out.iterdir()) == []  # nothing extracted at all, not even the safe member
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_tar_corrupt_archive(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 100000, dtype=np.uint8).tobytes()
    archive = make_tar(tmp_path / "a.tar.gz", [file_member("top/a.bin", data)])
    archive.write_bytes(archive.read_bytes()[:50000])
    with pytest.raises(DataError, match="corrupt or unsafe tar archive"):
        safe_extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("python_filter", [True, False], ids=["with-data-filter", "own-check-only"])
def test_symlink_chain_cannot_escape(tmp_path, monkeypatch, python_filter):
    """``a -> .``, ``a/b -> ..``, ``a/b/c -> ..``: each link looks harmless, together
    ``a/b/c/evil`` is two folders above the target. Refused without Python's ``data`` filter."""
    if not python_filter:  # Python 3.10.0-3.10.11, 3.11.0-3.11.3
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = make_tar(tmp_path / "chain.tar.gz", [
        link_member("a", "."), link_member("a/b", ".."), link_member("a/b/c", ".."),
        file_member("a/b/c/evil", b"pwned"),
    ])
    out = tmp_path / "x" / "y" / "out"
    with pytest.raises(DataError, match="'a': a link"):
        safe_extract_tar(archive, out)
    assert list(out.iterdir()) == []
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))


def test_download_stops_at_the_known_size(tmp_path):
    data = b"x" * 5000
    remote = Remote("m/a.bin", served(tmp_path, "a.bin", data), "sha256",
                    hashlib.sha256(data).hexdigest(), payload=False, download_size=4999)
    with pytest.raises(DataError, match="passed the expected 4999 bytes and was stopped") as info:
        fetch(remote, tmp_path / "cache")
    assert remote.url in str(info.value)
    assert not (tmp_path / "cache" / "m" / "a.bin").exists() and leftovers(tmp_path) == []
    exact = remote._replace(download_size=5000)  # tolerance 0: the exact size passes
    assert fetch(exact, tmp_path / "cache").read_bytes() == data


def test_a_killed_downloads_part_file_is_removed(tmp_path):
    data = b"payload"
    remote = Remote("m/a.bin", served(tmp_path, "a.bin", data), "sha256",
                    hashlib.sha256(data).hexdigest(), payload=False)
    (tmp_path / "cache" / "m").mkdir(parents=True)
    (tmp_path / "cache" / "m" / ".a.bin.x1y2.part").write_bytes(b"half")
    fetch(remote, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache" / "m").iterdir()) == ["a.bin"]


def test_source_table_has_download_sizes():
    for remote in SOURCES.values():
        assert remote.download_size and remote.download_size > 0
    assert SOURCES["cifar10/cifar-10-binary.tar.gz"].download_size == 170052171


def _bomb(path, inflated=64 << 20):
    """A gzip of ``inflated`` zero bytes (64 MiB -> about 64 KB)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as g:
        block = bytes(1 << 20)
        for _ in range(inflated >> 20):
            g.write(block)
    return path


def test_gzip_bomb_stops_at_the_expected_size(tmp_path, monkeypatch):
    from adaptive_lr.datasets import checksums

    bomb = _bomb(tmp_path / "bomb.gz")
    assert bomb.stat().st_size < 100_000
    reads = []
    real = checksums._read_at_most

    def counting(f, max_size, what):
        class Counted:
            def read(self, n=-1):
                chunk = f.read(n)
                reads.append(len(chunk))
                return chunk
        return real(Counted(), max_size, what)

    monkeypatch.setattr(checksums, "_read_at_most", counting)
    with pytest.raises(DataError, match="more than the expected 10008 bytes"):
        checksums.read_payload(bomb, max_size=10008)
    assert sum(reads) == 10009  # one byte past the size, not 64 MiB
    with pytest.raises(DataError, match="more than the expected 10008 bytes"):
        checksums.file_digest(bomb, payload=True, max_size=10008)


def test_mnist_gzip_bomb_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / f"{stem}.gz").write_bytes(b"")  # present; the bomb below is read first
    _bomb(folder / "train-images-idx3-ubyte.gz")  # 64 MiB of zeros, past the 47040016 bytes
    with pytest.raises(DataError, match="more than the expected 47040016 bytes"):
        load_mnist(tmp_path)


def _cifar10_archive(tmp_path, rng, records=2):
    members = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        data = np.concatenate([rng.integers(0, 10, (records, 1), dtype=np.uint8),
                               rng.integers(0, 256, (records, 3072), dtype=np.uint8)], axis=1)
        members.append(file_member(f"cifar-10-batches-bin/{name}", data.tobytes()))
    members.append(file_member("cifar-10-batches-bin/batches.meta.txt", b"airplane\n"))
    return make_tar(tmp_path / "cifar-10-binary.tar.gz", members)


def _flip_a_pixel(path):
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # same size, one pixel changed
    path.write_bytes(bytes(data))


def test_cifar10_extracted_files_are_verified_on_load(tmp_path, monkeypatch):
    from adaptive_lr.datasets import cifar

    monkeypatch.setitem(cifar.CIFAR10_LAYOUTS, "full", cifar.CIFAR10_LAYOUTS["full"][:2] + (2, 2))
    archive = _cifar10_archive(tmp_path, np.random.default_rng(3))
    name = "cifar10/cifar-10-binary.tar.gz"
    monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(
        url=archive.as_uri(), digest=hashlib.md5(archive.read_bytes()).hexdigest()))
    cache = tmp_path / "cache"
    X_train, *_ = load_cifar10(cache, download=True, variant="full")
    folder = cache / "cifar10" / "cifar-10-batches-bin"
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 7 and sums[0].endswith("  batches.meta.txt")
    assert load_cifar10(cache, variant="full")[0].tobytes() == X_train.tobytes()
    _flip_a_pixel(folder / "data_batch_3.bin")
    with pytest.raises(DataError, match="checksum mismatch for .*data_batch_3.bin"):
        load_cifar10(cache, variant="full")
    load_cifar10(cache, variant="full", verify=False)  # the explicit opt-out


def test_cifar10_extracted_by_hand_is_verified_against_the_archive(tmp_path, monkeypatch):
    from adaptive_lr.datasets import cifar

    monkeypatch.setitem(cifar.CIFAR10_LAYOUTS, "full", cifar.CIFAR10_LAYOUTS["full"][:2] + (2, 2))
    archive = _cifar10_archive(tmp_path, np.random.default_rng(4))
    name = "cifar10/cifar-10-binary.tar.gz"
    monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(
        digest=hashlib.md5(archive.read_bytes()).hexdigest()))
    cache = tmp_path / "cache"
    (cache / "cifar10").mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(cache / "cifar10")  # by hand, no SHA256SUMS
    folder = cache / "cifar10" / "cifar-10-batches-bin"
    _flip_a_pixel(folder / "test_batch.bin")
    load_cifar10(cache, variant="full")  # no archive beside it: size and labels only
    (cache / name).write_bytes(archive.read_bytes())  # the archive in the data folder
    with pytest.raises(DataError, match="checksum mismatch for .*test_batch.bin"):
        load_cifar10(cache, variant="full")
    assert (folder / "SHA256SUMS").is_file()
