"""Checkpoints: atomic writes, clear errors on bad files, bit-for-bit resume, divergence."""

import numpy as np
import pytest

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
