"""Every experiment of ``adaptive-lr reproduce`` runs in --quick mode and writes its files."""

import csv
import json
import os

import numpy as np
import pytest

from adaptive_lr.cli import main
from adaptive_lr.experiments import EXPERIMENTS, load_data, run_experiment, settled_rate
from adaptive_lr.experiments.outputs import EPOCH_COLUMNS, ITERATION_COLUMNS
from adaptive_lr.train import History

# Boston's first-order run diverges by design of the paper's alpha (REPRODUCTION.md).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

REAL_DATA = os.environ.get("ADAPTIVE_LR_DATA", "")


@pytest.fixture
def no_real_data(tmp_path, monkeypatch):
    """An empty data folder: MNIST and CIFAR-10 fall back to the synthetic stand-in."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(empty))


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_runs_quick_and_writes_its_files(name, tmp_path, no_real_data, capsys):
    assert main(["reproduce", name, "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    out = tmp_path / name
    exp = EXPERIMENTS[name]
    report = json.loads((out / "history.json").read_text())
    assert report["experiment"] == name and report["quick"] is True
    assert report["synthetic"] == (exp.dataset != "boston")
    if report["synthetic"]:
        assert "SYNTHETIC" in report["data"]
    figures = ["loss.png", "lr.png", "loss_time.png"]
    if exp.dataset != "boston":
        figures.append("accuracy.png")
    for figure in figures:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for run in exp.runs:
        assert run.label.endswith(("basic", "adaptive"))
        iters = _rows(out / f"history_{run.label}.csv")
        epochs = _rows(out / f"epochs_{run.label}.csv")
        assert tuple(iters[0]) == ITERATION_COLUMNS and tuple(epochs[0]) == EPOCH_COLUMNS
        hist = report["histories"][run.label]
        assert len(iters) - 1 == len(hist["lr"]) and len(epochs) - 1 == len(hist["epoch"])
        assert [int(r[0]) for r in iters[1:]] == list(range(1, len(iters)))
        summary = next(r for r in report["runs"] if r["label"] == run.label)["summary"]
        assert summary["epochs"] == exp.quick["epochs"] or summary["diverged"]
    manifest = json.loads((out / "manifest.json").read_text())
    written = sorted(f["name"] for f in manifest["files"])
    assert manifest["status"] == "complete" and manifest["stale"] == []
    assert written == sorted(p.name for p in out.iterdir() if not p.name.startswith(
        ("checkpoint_", "manifest.json")))  # the folder holds this run's files, no others
    printed = capsys.readouterr().out
    assert f"wrote {len(report['runs']) * 2 + 1 + len(figures) + 1} files" in printed


def test_learn_lr_starts_from_the_settled_rate(tmp_path, no_real_data):
    result = run_experiment("lenet-learn-lr", tmp_path, quick=True, plots=False)
    report = json.loads((tmp_path / "lenet-learn-lr" / "history.json").read_text())
    search = History(**{k: v for k, v in report["histories"]["search_adaptive"].items()})
    runs = {r["label"]: r for r in result["runs"]}
    assert runs["learned_basic"]["hyper"]["eta"] == settled_rate(search)
    assert runs["learned_adaptive"]["hyper"]["eta"] == settled_rate(search)
    assert report["histories"]["learned_basic"]["lr"][0] == settled_rate(search)


def test_delta_rule_override_reaches_second_order_runs(tmp_path):
    result = run_experiment("boston", tmp_path, quick=True, epochs=3, delta_rule="if-zero",
                            plots=False)
    hyper = {r["label"]: r["hyper"] for r in result["runs"]}
    assert hyper["adaptive"]["delta_rule"] == "if-zero"
    assert "delta_rule" not in hyper["basic"]


def test_full_mode_needs_the_real_files(tmp_path, no_real_data, capsys):
    assert main(["reproduce", "mnist", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("adaptive-lr: error: MNIST: 4 file(s) not found")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_synthetic_stand_in_has_the_real_shapes(no_real_data):
    data = load_data("cifar10", "images", n_train=20, n_test=10, allow_synthetic=True)
    assert data.synthetic and data.X.shape == (20, 3, 32, 32) and data.y.dtype == np.int64
    data = load_data("mnist", "features", n_train=20, n_test=10, allow_synthetic=True)
    assert data.X.shape == (20, 784) and 0 <= data.X.min() and data.X.max() <= 1


@pytest.mark.skipif(not REAL_DATA, reason="ADAPTIVE_LR_DATA (the real MNIST files) is not set")
def test_quick_mnist_on_real_data(tmp_path):
    if not (os.path.isdir(os.path.join(REAL_DATA, "mnist"))):
        pytest.skip(f"no mnist/ folder in {REAL_DATA}")
    result = run_experiment("mnist", tmp_path, quick=True, plots=False)
    assert not result["synthetic"] and result["data"].startswith("MNIST")
    accs = {r["label"]: r["summary"]["final_test_acc"] for r in result["runs"]}
    assert min(accs.values()) > 0.5  # 2 epochs on 2000 real digits; chance is 0.1
    assert accs["adaptive"] > accs["basic"]  # the paper's claim: faster in the first epochs
