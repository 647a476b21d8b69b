"""Checkpoints: atomic writes, clear errors on bad files, bit-for-bit resume, divergence."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_lr import (
    FirstOrderLR,
    FixedLR,
    LeNet,
    LinearRegression,
    LogisticRegression,
    SecondOrderLR,
    train,
)
from adaptive_lr import checkpoint as ckpt
from adaptive_lr.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from adaptive_lr.directions import AdamDirection


def _blobs(n=120, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (k, d))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


def test_save_load_round_trip(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.arange(3.0), "n": np.array(4)}, {"epoch": 2, "big": 2**100})
    arrays, meta = load_checkpoint(path)
    assert np.array_equal(arrays["w"], np.arange(3.0)) and int(arrays["n"]) == 4
    assert meta["epoch"] == 2 and meta["big"] == 2**100  # a PCG64 state needs 128-bit ints


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError, match="pickle"):
        save_checkpoint(tmp_path / "c.npz", {"x": np.array([{}], dtype=object)}, {})


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(4)}, {"epoch": 1})
    before = path.read_bytes()

    def broken(handle, arrays):
        handle.write(b"PK\x03\x04 half a zip")  # a partial write, then a crash
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "_write_npz", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"w": np.ones(4)}, {"epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and not arrays["w"].any()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", None])
def test_corrupt_or_truncated_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "c.npz"
    if content is None:  # a real checkpoint cut in half
        save_checkpoint(path, {"w": np.zeros(1000)}, {"epoch": 1})
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def _history_without_time(h):
    d = h.to_dict()
    d.pop("time")
    return d


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, direction", [
    (lambda: SecondOrderLR(0.05), None),
    (lambda: FirstOrderLR(0.05, 1e-3), None),
    (lambda: SecondOrderLR(0.01, beta=0.9), AdamDirection),
    (lambda: FixedLR(0.01), AdamDirection),
])
def test_resume_equals_uninterrupted(tmp_path, dtype, make, direction):
    X, y = _blobs()
    model = LogisticRegression(5, 3)
    kw = dict(batch_size=16, seed=7, dtype=dtype, X_test=X[:30], y_test=y[:30])
    new_dir = (lambda: direction()) if direction else (lambda: None)
    full = train(model, make(), X, y, epochs=5, direction=new_dir(), **kw)
    path = tmp_path / "run.npz"
    train(model, make(), X, y, epochs=2, direction=new_dir(), checkpoint_path=path, **kw)
    resumed = train(model, make(), X, y, epochs=5, direction=new_dir(), resume_from=path, **kw)
    assert resumed.w.dtype == full.w.dtype
    assert np.array_equal(resumed.w, full.w)
    assert _history_without_time(resumed.history) == _history_without_time(full.history)


def test_resume_with_dropout_noise_and_validation_probe(tmp_path):
    """Every stream's state is restored: shuffles, the gradient's dropout masks, the
    validation batches and their masks continue exactly."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 1, 16, 16)), rng.integers(0, 3, 50)
    model = LeNet(in_channels=1, n_classes=3, image_size=16, dropout=0.5)
    X, y, Xv, yv = X[:40], y[:40], X[40:], y[40:]
    kw = dict(batch_size=10, seed=3, X_val=Xv, y_val=yv, probe_on="validation")
    full = train(model, SecondOrderLR(0.05), X, y, epochs=4, **kw)
    path = tmp_path / "run.npz"
    train(model, SecondOrderLR(0.05), X, y, epochs=4, checkpoint_path=path,
          checkpoint_every=3, **kw)  # checkpoints at epoch 3, then 4 (the last)
    train(model, SecondOrderLR(0.05), X, y, epochs=3, checkpoint_path=path, **kw)
    resumed = train(model, SecondOrderLR(0.05), X, y, epochs=4, resume_from=path, **kw)
    assert np.array_equal(resumed.w, full.w)
    assert resumed.history.lr == full.history.lr


def test_resume_refuses_another_controller(tmp_path):
    X, y = _blobs()
    model = LogisticRegression(5, 3)
    path = tmp_path / "run.npz"
    train(model, FixedLR(0.1), X, y, epochs=1, checkpoint_path=path)
    with pytest.raises(CheckpointError, match="controller"):
        train(model, SecondOrderLR(0.1), X, y, epochs=2, resume_from=path)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_diverging_run_stops_and_keeps_last_finite_state(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 30, (50, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    model = LinearRegression(3)
    path = tmp_path / "run.npz"
    result = train(model, FixedLR(5.0), X, y, epochs=400, checkpoint_path=path)
    h = result.history
    assert h.diverged is not None
    assert h.diverged.startswith(f"diverged at iteration {len(h.lr)} (epoch {len(h.lr)}): the ")
    assert "became non-finite with learning rate 5 (the step before used 5);" in h.diverged
    assert "kept the last finite weights" in h.diverged
    assert np.all(np.isfinite(result.w))
    arrays, meta = load_checkpoint(path)
    assert meta["epoch"] == len(h.lr) - 1 and meta["diverged"] is None  # the last finite epoch
    assert np.all(np.isfinite(arrays["w"]))
    assert np.array_equal(arrays["w"], result.w)


def test_progress_lines(tmp_path):
    import io

    X, y = _blobs()
    stream = io.StringIO()
    train(LogisticRegression(5, 3), SecondOrderLR(0.05), X, y, epochs=3, batch_size=40,
          X_test=X, y_test=y, progress=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch 0/3  loss ")  # 0: before training
    assert lines[-1].startswith("epoch 3/3  loss ")
    assert all(k in lines[-1] for k in ("acc ", "test_acc ", "eta ", "time "))


# -- a checkpoint is validated, not trusted -------------------------------------------------
def _small_run(tmp_path, make=lambda: SecondOrderLR(0.05), epochs=2, **kw):
    X, y = _blobs()
    kw = {"batch_size": 16, "seed": 1, **kw}
    path = tmp_path / "run.npz"
    train(LogisticRegression(5, 3), make(), X, y, epochs=epochs, checkpoint_path=path, **kw)
    return X, y, path, kw


def _tamper(path, change):
    """Rewrite the checkpoint at ``path`` with ``change(arrays, meta)`` applied (a valid npz,
    the current format: only the content is wrong)."""
    arrays, meta = load_checkpoint(path)
    change(arrays, meta)
    meta.pop("format", None)
    save_checkpoint(path, arrays, meta)


def _resume(X, y, path, kw, make=lambda: SecondOrderLR(0.05), epochs=4):
    return train(LogisticRegression(5, 3), make(), X, y, epochs=epochs, resume_from=path, **kw)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: a.__setitem__("w", np.full_like(a["w"], np.nan)), "NaN or inf"),
    (lambda a, m: a.__setitem__("controller.lr", np.array(-1.0)), r"controller\.lr must be > 0"),
    (lambda a, m: a.__setitem__("controller.velocity", np.array(np.inf)),
     r"controller\.velocity is not finite"),
    (lambda a, m: a.__setitem__("history.loss", a["history.loss"][:-1]), r"history\.loss has"),
    (lambda a, m: a.__setitem__("history.test_acc", a["history.test_acc"][:1]),
     r"history\.test_acc has"),
    (lambda a, m: m.pop("epoch"), "epoch must be an integer"),
    (lambda a, m: m.pop("streams"), "streams"),
    (lambda a, m: m.__setitem__("iteration", -3), "iteration must be an integer >= 0"),
    (lambda a, m: m.__setitem__("train_time", "soon"), "train_time"),
    (lambda a, m: a.pop("controller.next_lr"), "next_lr"),
    (lambda a, m: a.__setitem__("w", a["w"][:-1]), "do not fit a model"),
    (lambda a, m: a.__setitem__("controller.lr", np.array("x")), "dtype"),
])
def test_invalid_state_is_a_checkpoint_error(tmp_path, change, message):
    X, y, path, kw = _small_run(tmp_path, X_test=None)
    _tamper(path, change)
    with pytest.raises(CheckpointError, match=message) as info:
        _resume(X, y, path, kw)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("make, setting", [
    (lambda: SecondOrderLR(0.06), "controller.eta: checkpoint 0.05, this run 0.06"),
    (lambda: SecondOrderLR(0.05, eps=1e-4), "controller.eps: checkpoint 1e-05, this run 0.0001"),
    (lambda: SecondOrderLR(0.05, delta_rule="if-zero"),
     "controller.delta_rule: checkpoint 'always', this run 'if-zero'"),
    (lambda: SecondOrderLR(0.05, beta=0.5), "controller.beta: checkpoint 0.0, this run 0.5"),
])
def test_other_hyperparameters_are_named(tmp_path, make, setting):
    X, y, path, kw = _small_run(tmp_path)
    with pytest.raises(CheckpointError, match="is of another run") as info:
        _resume(X, y, path, kw, make=make)
    assert setting in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("change, setting", [
    (lambda X, y, kw: (2 * X, y, kw), "data.X: checkpoint shape (120, 5) float64 sha256 "),
    (lambda X, y, kw: (X, (y + 1) % 3, kw), "data.y: "),
    (lambda X, y, kw: (X, y, {**kw, "batch_size": 32}),
     "batch_size: checkpoint 16, this run 32"),
    (lambda X, y, kw: (X, y, {**kw, "batch_size": None}),
     "batch_size: checkpoint 16, this run None"),
    (lambda X, y, kw: (X, y, {**kw, "dtype": np.float32}),
     "dtype: checkpoint 'float64', this run 'float32'"),
    (lambda X, y, kw: (X, y, {**kw, "X_test": X[:10], "y_test": y[:10]}),
     "data.X_test: checkpoint absent, this run shape (10, 5)"),
    (lambda X, y, kw: (X, y, {**kw, "X_val": X[:10] + 100.0, "y_val": y[:10],  # held out
                              "probe_on": "validation"}),
     "probe_on: checkpoint 'train', this run 'validation'"),
])
def test_other_data_or_options_are_named(tmp_path, change, setting):
    X, y, path, kw = _small_run(tmp_path)
    X2, y2, kw2 = change(X, y, kw)
    with pytest.raises(CheckpointError) as info:
        _resume(X2, y2, path, kw2)
    assert setting in str(info.value)


def test_full_batch_checkpoint_resumed_with_mini_batches(tmp_path):
    X, y, path, kw = _small_run(tmp_path, make=lambda: FirstOrderLR(0.05, 1e-3),
                                batch_size=None)
    with pytest.raises(CheckpointError, match="batch_size: checkpoint None, this run 32"):
        _resume(X, y, path, {**kw, "batch_size": 32}, make=lambda: FirstOrderLR(0.05, 1e-3))


def test_other_model_or_direction_settings(tmp_path):
    X, y, path, kw = _small_run(tmp_path, make=lambda: FixedLR(0.1), direction=AdamDirection())
    with pytest.raises(CheckpointError, match=r"direction\.beta1: checkpoint 0\.9, this run 0\.5"):
        _resume(X, y, path, {**kw, "direction": AdamDirection(beta1=0.5)},
                make=lambda: FixedLR(0.1))
    rng = np.random.default_rng(0)
    Xi, yi = rng.normal(size=(20, 1, 16, 16)), rng.integers(0, 3, 20)
    path = tmp_path / "lenet.npz"
    net = dict(in_channels=1, n_classes=3, image_size=16)
    train(LeNet(**net), FixedLR(0.1), Xi, yi, epochs=1, checkpoint_path=path, batch_size=10)
    with pytest.raises(CheckpointError, match=r"model\.dropout: checkpoint 0\.5, this run 0\.0"):
        train(LeNet(**net, dropout=0.0), FixedLR(0.1), Xi, yi, epochs=2, resume_from=path,
              batch_size=10)
    resumed = train(LeNet(**net, threads=2), FixedLR(0.1), Xi, yi, epochs=1, resume_from=path,
                    batch_size=10)  # threads change the speed, not the numbers
    assert resumed.history.epoch == [0, 1]


def test_checkpoint_beyond_the_epochs_asked(tmp_path):
    X, y, path, kw = _small_run(tmp_path, epochs=3)
    with pytest.raises(CheckpointError, match="at epoch 3, beyond the 2 epochs asked for"):
        _resume(X, y, path, kw, epochs=2)
    assert _resume(X, y, path, kw, epochs=3).history.epoch == [0, 1, 2, 3]  # nothing to run


def test_older_format_is_named(tmp_path):
    X, y, path, kw = _small_run(tmp_path)
    arrays, meta = load_checkpoint(path)
    arrays["meta.json"] = np.array(json.dumps({**meta, "format": 2}))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="has format 2, this version of adaptive-lr reads "
                                              f"format {ckpt.FORMAT_VERSION} only"):
        _resume(X, y, path, kw)


def test_npy_file_at_the_path(tmp_path):
    path = tmp_path / "run.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(CheckpointError, match="single .npy array, not an .npz"):
        load_checkpoint(path)


def test_unknown_compression_method_is_a_checkpoint_error(tmp_path):
    """zipfile raises NotImplementedError for a compression method it does not know."""
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(4)}, {"epoch": 1})
    data = bytearray(path.read_bytes())
    for start in range(len(data) - 4):  # every header's method field (local and central)
        if data[start:start + 4] in (b"PK\x03\x04", b"PK\x01\x02"):
            at = start + (8 if data[start + 2] == 3 else 10)
            data[at:at + 2] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_stale_temporary_files_are_removed(tmp_path):
    path = tmp_path / "c.npz"
    stale = tmp_path / ".c.npz.abc123.tmp"  # what a killed write leaves
    stale.write_bytes(b"PK\x03\x04 half")
    other = tmp_path / ".d.npz.abc123.tmp"  # another file's temporary: not ours
    other.write_bytes(b"x")
    save_checkpoint(path, {"w": np.zeros(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".d.npz.abc123.tmp", "c.npz"]


@pytest.fixture(scope="module")
def flip_target(tmp_path_factory):
    """A small real checkpoint and what resuming from it gives."""
    folder = tmp_path_factory.mktemp("flip")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 2))
    y = X @ np.array([1.0, -1.0])
    path = folder / "run.npz"
    kw = dict(epochs=1, batch_size=4)
    train(LinearRegression(2), FixedLR(0.1), X, y, checkpoint_path=path, **kw)
    resumed = train(LinearRegression(2), FixedLR(0.1), X, y, resume_from=path, **kw)
    return path.read_bytes(), (X, y, kw), resumed


@settings(max_examples=300)
@given(data=st.data())
def test_every_single_byte_flip_loads_identically_or_is_a_checkpoint_error(flip_target, data):
    """A flip in a byte nothing reads (a zip header's time stamp, a local header field the
    central directory overrides) loads identically; any other is a CheckpointError, because
    every member's CRC-32 is checked before it is parsed and the content is validated after."""
    content, (X, y, kw), reference = flip_target
    at = data.draw(st.integers(0, len(content) - 1), label="byte")
    xor = data.draw(st.integers(1, 255), label="xor")
    flipped = bytearray(content)
    flipped[at] ^= xor
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.npz"
        path.write_bytes(bytes(flipped))
        try:
            resumed = train(LinearRegression(2), FixedLR(0.1), X, y, resume_from=path, **kw)
        except CheckpointError:
            return
    assert np.array_equal(resumed.w, reference.w)
    assert json.dumps(resumed.history.to_dict()) == json.dumps(reference.history.to_dict())
