"""Results files: written atomically, a folder says which run made it, names stay inside --out."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import adaptive_lr
from adaptive_lr.experiments import run_experiment
from adaptive_lr.experiments.outputs import atomic_write, begin_results, file_sha256
from adaptive_lr.experiments.registry import Experiment, Run
from adaptive_lr.experiments.runner import results_folder

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
PACKAGE_ROOT = str(Path(adaptive_lr.__file__).resolve().parents[1])  # the copy under test

# A child that starts rewriting ``target`` with 64 MiB, says so, and is then killed mid-write.
WRITER = textwrap.dedent("""
    import sys, time
    from adaptive_lr.experiments.outputs import atomic_write
    target, mode = sys.argv[1], sys.argv[2]
    def write(handle):
        handle.write(b"N" * (1 << 20))
        handle.flush()
        print("started", flush=True)
        for _ in range(63):
            time.sleep(0.05)
            handle.write(b"N" * (1 << 20))
    if mode == "atomic":
        atomic_write(target, write, binary=True)
    else:  # what the files were written with before: open(..., "w") truncates at once
        with open(target, "wb") as handle:
            write(handle)
""")


@pytest.mark.parametrize("mode", ["atomic", "in-place"])
def test_a_write_killed_midway_leaves_the_old_file(tmp_path, mode):
    target = tmp_path / "history.json"
    target.write_bytes(b"old content")
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode],
                             stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert child.stdout.readline().strip() == b"started"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL
    if mode == "atomic":
        assert target.read_bytes() == b"old content"
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "history.json"]
        assert all(name.startswith(".history.json.") for name in leftovers)  # hidden, not a result
    else:  # the check above can fail: this is what it catches
        assert target.read_bytes() != b"old content"


def test_atomic_write_that_raises_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("old")

    def broken(handle):
        handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def _one_run(label, eta=1e-6):
    return Experiment(name="mine", title="t", paper="-", dataset="boston", model="linear",
                      epochs=2, batch_size=None, runs=(Run(label, "fixed", {"eta": eta}),),
                      sources={})


def test_manifest_lists_every_file_with_its_checksum(tmp_path):
    result = run_experiment("boston", tmp_path, quick=True, plots=False)
    out = tmp_path / "boston"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == result["run_id"] and manifest["status"] == "complete"
    assert manifest["settings"]["experiment"] == "boston" and manifest["settings"]["quick"]
    for entry in manifest["files"]:
        path = out / entry["name"]
        assert entry["sha256"] == file_sha256(path) and entry["bytes"] == path.stat().st_size
    assert result["files"][-1].endswith("manifest.json")  # written last


def test_a_new_run_removes_the_previous_runs_files(tmp_path):
    run_experiment(_one_run("first_basic"), tmp_path, plots=False)
    out = tmp_path / "mine"
    assert (out / "history_first_basic.csv").is_file()
    (out / "notes.txt").write_text("mine")  # not a result file: never touched
    run_experiment(_one_run("second_basic"), tmp_path, plots=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["epochs_second_basic.csv", "history.json", "history_second_basic.csv",
                     "manifest.json", "notes.txt"]


def test_an_interrupted_rerun_is_cleaned_by_the_next(tmp_path, monkeypatch):
    from adaptive_lr.experiments import runner

    run_experiment(_one_run("first_basic"), tmp_path, plots=False)
    out = tmp_path / "mine"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "write_json", killed)  # stops after the CSVs, before the JSON
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_one_run("second_basic"), tmp_path, plots=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running"  # the folder says it is incomplete
    assert "history_first_basic.csv" in manifest["stale"]
    monkeypatch.undo()
    run_experiment(_one_run("third_basic"), tmp_path, plots=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "epochs_third_basic.csv", "history.json", "history_third_basic.csv", "manifest.json"]


def test_temporary_files_of_killed_writes_are_removed(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / ".history.json.k1ll3d.tmp").write_text("half")
    (out / ".epochs_a.csv.k1ll3d.tmp").write_text("half")
    (out / ".mine.tmp").write_text("not ours")
    begin_results(out, {})
    assert sorted(p.name for p in out.iterdir()) == [".mine.tmp", "manifest.json"]


def test_a_folder_of_unaccounted_results_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "history.json").write_text("{}")
    with pytest.raises(ValueError, match="no manifest.json accounts for"):
        begin_results(out, {})
    assert (out / "history.json").read_text() == "{}"


def test_a_damaged_manifest_deletes_nothing_else(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    (out / "manifest.json").write_text(json.dumps(
        {"files": [{"name": "keep.txt"}, {"name": "../outside.csv"}], "stale": ["/etc/passwd"]}))
    manifest = begin_results(out, {})
    assert manifest["stale"] == []
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is unreadable"):
        begin_results(out, {})


@pytest.mark.parametrize("name", ["../x", "..", ".", "", "a/b", "/tmp/x", "a\\b"])
def test_name_cannot_leave_out(tmp_path, name):
    with pytest.raises(ValueError, match=r"\(--name\) must be a plain folder name"):
        results_folder(tmp_path, name)
    exp = Experiment(**{**_one_run("a_basic").__dict__, "name": name})
    with pytest.raises(ValueError, match="--name"):
        run_experiment(exp, tmp_path / "out", plots=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()
