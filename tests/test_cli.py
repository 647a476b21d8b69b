"""The ``adaptive-lr`` command: one line and a status for every bad input, never a traceback;
options that do not apply are errors; resume; train; lr-find; download; progress."""

import contextlib
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive_lr import cli, evaluation
from adaptive_lr.cli import main
from adaptive_lr.commands import UsageError, check_reproduce
from adaptive_lr.datasets import SOURCES, Remote
from adaptive_lr.datasets import cifar as cifar_module
from adaptive_lr.datasets.idx import idx_bytes
from adaptive_lr.evaluation import format_step_progress, report_steps
from adaptive_lr.experiments.registry import Experiment, Run
from adaptive_lr.history import History

REAL_DATA = os.environ.get("ADAPTIVE_LR_DATA", "")


def _error_line(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


def _subprocess(*argv, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "adaptive_lr", *argv], env=env, text=True,
                          check=False, **kwargs)


# --------------------------------------------------------------------------- bad command lines


@pytest.mark.parametrize("argv, expected", [
    (["reproduce", "resnet50"], "invalid choice: 'resnet50'"),
    (["reproduce", "boston", "--epochs", "-3"], "expected an integer >= 0, got -3"),
    (["reproduce", "boston", "--epochs", "ten"], "expected an integer >= 0"),
    (["reproduce", "boston", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["train", "--dataset", "boston", "--eta", "-1"], "expected a finite number > 0"),
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["lr-find", "--dataset", "boston", "--steps", "0"], "expected an integer >= 1"),
    (["train", "--dataset", "boston", "--batch-size", "-3"],
     "argument --batch-size: expected an integer >= 1, got -3"),
    (["train", "--dataset", "boston", "--batch-size", "0"], "expected an integer >= 1, got 0"),
    (["train", "--dataset", "boston", "--batch-size", "True"], "integer >= 1, got 'True'"),
    (["train", "--dataset", "boston", "--batch-size", "2.5"], "integer >= 1, got '2.5'"),
    (["train", "--dataset", "boston", "--delta", "-1"],
     "argument --delta: expected a finite number >= 0, got -1"),
    (["train", "--dataset", "mnist", "--dropout", "7"],
     "argument --dropout: expected a number in [0, 1), got 7"),
    (["train", "--dataset", "mnist", "--val-fraction", "1"],
     "argument --val-fraction: expected a number in (0, 1), got 1"),
    (["train", "--dataset", "boston", "--eta", "inf"], "expected a finite number > 0, got inf"),
    (["lr-find", "--dataset", "boston", "--average", "0.9"], "unrecognized arguments: --average"),
    (["train", "--dataset", "boston", "--name", "/"], "argument --name: expected a folder name"),
    (["train", "--dataset", "boston", "--name", ".."], "argument --name: expected a folder name"),
    ([], "required: COMMAND"),
])
def test_bad_arguments_one_line_status_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = _error_line(capsys)
    assert "error:" in err and expected in err


#: Every numeric option, with the command line before it and the kind of value it takes.
NUMERIC = [
    (["train", "--dataset", "boston"], option, kind) for option, kind in (
        ("--eta", "positive"), ("--alpha", "positive"), ("--eps", "positive"),
        ("--delta", "nonneg"), ("--beta", "decay"), ("--average", "decay"),
        ("--epochs", "nonneg_int"), ("--batch-size", "positive_int"),
        ("--val-fraction", "fraction"), ("--dropout", "decay"), ("--n-train", "positive_int"),
        ("--n-test", "positive_int"), ("--seed", "nonneg_int"),
        ("--checkpoint-every", "positive_int"))
] + [
    (["reproduce", "boston"], option, kind) for option, kind in (
        ("--epochs", "nonneg_int"), ("--seed", "nonneg_int"),
        ("--checkpoint-every", "positive_int"))
] + [
    (["lr-find", "--dataset", "boston"], option, kind) for option, kind in (
        ("--eta", "positive"), ("--steps", "positive_int"), ("--batch-size", "positive_int"),
        ("--eps", "positive"), ("--delta", "nonneg"), ("--beta", "decay"),
        ("--dropout", "decay"), ("--seed", "nonneg_int"))
]
_words = st.text(alphabet="abcdeghjkmopqrstuvwxyzTEA_ #%", min_size=1)  # no "nan", "inf"
_not_finite = st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400"])
_non_integer = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: x != int(x)).map(repr)
BAD = {  # values outside each kind, by construction
    "positive": st.floats(max_value=0.0, allow_nan=False).map(repr) | _not_finite | _words,
    "nonneg": st.floats(max_value=-1e-300, allow_nan=False).map(repr) | _not_finite | _words,
    "decay": (st.floats(max_value=-1e-300, allow_nan=False) | st.floats(min_value=1.0))
    .map(repr) | _not_finite | _words,
    "fraction": (st.floats(max_value=0.0, allow_nan=False) | st.floats(min_value=1.0))
    .map(repr) | _not_finite | _words,
    "positive_int": st.integers(max_value=0).map(str) | _non_integer | _words
    | st.just("True"),
    "nonneg_int": st.integers(max_value=-1).map(str) | _non_integer | _words | st.just("False"),
}


@given(data=st.data())
def test_every_bad_number_is_one_line_naming_the_option(data):
    prefix, option, kind = data.draw(st.sampled_from(NUMERIC))
    value = data.draw(BAD[kind])
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        with pytest.raises(SystemExit) as exc:
            main([*prefix, f"{option}={value}"])
    assert exc.value.code == 2
    text = err.getvalue()
    assert "Traceback" not in text and text.count("\n") == 1, text
    assert f"argument {option}: expected " in text, text


@pytest.mark.parametrize("argv, option", [
    (["train", "--dataset", "boston", "--alpha", "1e-3"], "--alpha"),
    (["train", "--dataset", "boston", "--controller", "exact-newton", "--eps", "1e-3"], "--eps"),
    (["train", "--dataset", "boston", "--controller", "fixed", "--beta", "0.5"], "--beta"),
    (["train", "--dataset", "boston", "--controller", "fixed", "--eps", "1e-3"], "--eps"),
    (["train", "--dataset", "boston", "--controller", "fixed", "--delta-rule", "if-zero"],
     "--delta-rule"),
    (["train", "--dataset", "boston", "--controller", "safeguarded", "--delta-rule", "always"],
     "--delta-rule"),
    (["train", "--dataset", "boston", "--controller", "first-order", "--alpha", "1e-9",
      "--average", "0.9"], "--average"),
    (["train", "--dataset", "boston", "--derivative", "probe"], "--derivative"),
    (["train", "--dataset", "mnist", "--val-fraction", "0.2"], "--val-fraction"),
    (["train", "--dataset", "boston", "--dropout", "0.3"], "--dropout"),
    (["train", "--dataset", "mnist", "--model", "logistic", "--dropout", "0"], "--dropout"),
    (["train", "--dataset", "boston", "--controller", "fixed", "--probe-on", "validation"],
     "--probe-on"),
    (["train", "--dataset", "boston", "--controller", "first-order", "--alpha", "1e-9",
      "--probe-on", "validation"], "--derivative probe"),
    (["train", "--dataset", "boston", "--controller", "first-order"], "needs alpha"),
    (["train", "--dataset", "boston", "--model", "logistic"], "is a regression"),
    (["train", "--dataset", "mnist", "--model", "linear"], "--model linear"),
    (["train", "--dataset", "cifar10", "--controller", "exact-newton"], "exact line derivatives"),
    (["lr-find", "--dataset", "boston", "--dropout", "0.1"], "--dropout"),
    (["lr-find", "--dataset", "boston", "--model", "lenet"], "--model lenet"),
    (["download", "mnist", "--full"], "--full"),
])
def test_options_that_do_not_apply_are_errors(argv, option, tmp_path, monkeypatch, capsys):
    # an empty data folder and no --quick: a check made after loading would fail on the data
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "empty"))
    out = [] if argv[0] == "download" else ["--quiet", "--out", str(tmp_path)]
    assert main([*argv, *out]) == 2
    err = _error_line(capsys)
    assert err.startswith("adaptive-lr: error: ") and option in err
    assert "not found" not in err  # refused before any data was looked for
    assert not (tmp_path / "train").exists()


def test_exact_newton_on_lenet_is_refused_before_the_data_is_loaded(tmp_path, monkeypatch,
                                                                     capsys):
    import adaptive_lr.experiments.runner as runner

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the options were checked")

    monkeypatch.setattr(runner, "load_data", no_loading)
    argv = ["train", "--dataset", "cifar10", "--controller", "exact-newton", "--quick",
            "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--controller exact-newton needs a model with exact line derivatives" in \
        _error_line(capsys)


def test_delta_rule_needs_a_second_order_run():
    exp = Experiment(name="plain", title="-", paper="-", model="linear", dataset="boston",
                     batch_size=None, epochs=1, runs=(Run("basic", "fixed", {"eta": 1e-6}),),
                     sources={})
    with pytest.raises(UsageError, match="--delta-rule does not apply to plain"):
        check_reproduce(SimpleNamespace(delta_rule="if-zero"), exp)
    check_reproduce(SimpleNamespace(delta_rule=None), exp)


# --------------------------------------------------------------------------- errors at run time


def test_unwritable_output_folder_is_status_1(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["reproduce", "boston", "--quick", "--quiet", "--out", str(blocker)]) == 1
    assert _error_line(capsys).startswith("adaptive-lr: error: ")


def _checkpointed(tmp_path):
    """A boston train run checkpointed after 3 epochs; returns its argv and checkpoint."""
    argv = ["train", "--dataset", "boston", "--quiet", "--out", str(tmp_path), "--epochs"]
    assert main([*argv, "3", "--checkpoint-every", "1"]) == 0
    return argv, tmp_path / "train" / "checkpoint_adaptive.npz"


def _rewrite(path, **changes):
    arrays = dict(np.load(path, allow_pickle=False))
    meta = json.loads(str(arrays["meta.json"]))
    for key, value in changes.items():
        if key.startswith("meta:"):
            meta[key[5:]] = value
        else:
            arrays[key] = value
    arrays["meta.json"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("corrupt", [
    lambda p: p.write_bytes(p.read_bytes()[:100]),  # truncated
    lambda p: p.write_bytes(b"not a zip file at all"),
    lambda p: np.savez(p, **{"meta.json": np.array(json.dumps([1, 2]))}),  # meta not a dict
    lambda p: _rewrite(p, **{"history.lr": np.array([1.0])}),  # series of unequal lengths
    lambda p: _rewrite(p, **{"history.lr": np.array(["a"])}),  # strings for numbers
    lambda p: _rewrite(p, **{"meta:streams": "x"}),
    lambda p: _rewrite(p, **{"controller.lr": np.array([1.0, 2.0])}),
], ids=["truncated", "not-npz", "meta-list", "short-series", "strings", "streams", "shape"])
def test_corrupt_checkpoint_is_one_line_status_1(corrupt, tmp_path, capsys):
    argv, ckpt = _checkpointed(tmp_path)
    corrupt(ckpt)
    capsys.readouterr()
    assert main([*argv, "5", "--resume"]) == 1
    err = _error_line(capsys)
    assert err.startswith("adaptive-lr: error: ") or err.startswith("adaptive-lr: internal")


def test_resume_with_another_eta_is_refused_naming_it(tmp_path, capsys):
    argv, _ = _checkpointed(tmp_path)
    capsys.readouterr()
    status = main([*argv, "5", "--resume", "--eta", "0.02"])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err
    assert "eta" in err.splitlines()[-1]


# matplotlib's log scale overflows on the diverged run's huge losses while plotting them
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
def test_diverged_train_is_status_1_and_writes_its_files(tmp_path, capsys):
    argv = ["train", "--dataset", "boston", "--controller", "fixed", "--eta", "1",
            "--epochs", "40", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1
    assert captured.err.startswith("adaptive-lr: error: run basic diverged at iteration ")
    assert "try a smaller --eta" in captured.err
    for name in ("history_basic.csv", "epochs_basic.csv", "history.json", "loss.png"):
        assert (tmp_path / "train" / name).is_file()
    assert "diverged at iteration" in captured.out  # the summary says it too


def test_lr_find_runs_without_floating_point_warnings(tmp_path, capsys):
    argv = ["lr-find", "--dataset", "boston", "--eta", "1e200", "--steps", "50", "--quiet",
            "--out", str(tmp_path)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a warning would be an exception
        assert main(argv) == 1
    err = _error_line(capsys)
    assert "lr-find: diverged at iteration" in err and "try a smaller --eta" in err
    assert (tmp_path / "lr-find" / "lr_find.csv").is_file()


def _raising(exc):
    def command(args):
        raise exc
    return command


@pytest.mark.parametrize("exc, status, expected", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (ValueError("bad value\n  - on two lines"), 1, "adaptive-lr: error: bad value on two lines"),
    (TypeError("wrong type"), 1, "adaptive-lr: error: wrong type"),
    (OSError(28, "No space left on device"), 1, "No space left on device"),
    (AttributeError("no such thing"), 1,
     "error: internal error, a bug: AttributeError: no such thing (run with ADAPTIVE_LR_DEBUG=1"),
    (MemoryError(), 1, "out of memory"),
])
def test_errors_from_a_command_are_one_line(exc, status, expected, monkeypatch, capsys):
    monkeypatch.delenv(cli.DEBUG_VAR, raising=False)
    monkeypatch.setattr(cli, "cmd_list", _raising(exc))
    assert main(["list"]) == status
    err = _error_line(capsys)
    assert err.startswith("adaptive-lr: ") and expected in err


def test_debug_variable_shows_the_traceback(monkeypatch):
    monkeypatch.setenv(cli.DEBUG_VAR, "1")
    monkeypatch.setattr(cli, "cmd_list", _raising(AttributeError("a bug")))
    with pytest.raises(AttributeError, match="a bug"):
        main(["list"])


@pytest.mark.parametrize("argv, status", [(["list"], 141), (["--help"], 0),
                                          (["reproduce", "--help"], 0)])
def test_closed_pipe_is_quiet(argv, status):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = _subprocess(*argv, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    # argparse itself ignores a failed write of the help: status 0; ours is 128 + SIGPIPE
    assert done.returncode == status, done.stderr
    assert done.stderr == ""


def test_list_into_head_is_no_error():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(f"'{sys.executable}' -m adaptive_lr list | head -1", shell=True,
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("boston ") and done.stderr == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"adaptive-lr {cli.package_version()}\n"


def test_version_falls_back_to_the_package(monkeypatch):
    import importlib.metadata

    import adaptive_lr

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.package_version() == adaptive_lr.__version__


# --------------------------------------------------------------------------- help and runs


def test_help_has_examples(capsys):
    for argv in (["--help"], ["reproduce", "--help"], ["train", "--help"], ["lr-find", "--help"],
                 ["download", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "examples:" in capsys.readouterr().out


def test_reproduce_help_documents_the_columns(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert "iteration, epoch, lr, loss" in out
    assert "epoch, train_loss, train_acc, test_loss, test_acc, lr, time" in out


def test_python_dash_m(tmp_path):
    done = _subprocess("list", capture_output=True)
    assert done.returncode == 0 and "boston" in done.stdout and "learn-lr" in done.stdout


def _without_time(path):
    lines = path.read_text().splitlines()
    if lines[0].endswith(",time"):
        return [line.rsplit(",", 1)[0] for line in lines]
    return lines


def test_resume_via_cli_equals_uninterrupted(tmp_path):
    common = ["reproduce", "boston", "--quick", "--quiet", "--no-plots"]
    assert main([*common, "--epochs", "12", "--out", str(tmp_path / "full")]) == 0
    part = str(tmp_path / "part")
    assert main([*common, "--epochs", "5", "--checkpoint-every", "2", "--out", part]) == 0
    assert main([*common, "--epochs", "12", "--resume", "--out", part]) == 0
    for name in ("history_adaptive.csv", "epochs_adaptive.csv", "history_basic.csv",
                 "epochs_first_order_adaptive.csv"):
        assert _without_time(tmp_path / "part" / "boston" / name) == \
            _without_time(tmp_path / "full" / "boston" / name)


def test_train_writes_files(tmp_path, capsys):
    argv = ["train", "--dataset", "boston", "--controller", "exact-newton", "--eta", "1e-2",
            "--epochs", "20", "--out", str(tmp_path), "--name", "newton", "--quiet"]
    assert main(argv) == 0
    folder = tmp_path / "newton"
    assert (folder / "history_adaptive.csv").is_file() and (folder / "loss.png").is_file()
    out = capsys.readouterr().out
    assert "adaptive" in out
    assert "time: " in out and "training " in out and "evaluation and checkpoints " in out


def test_train_adam_validation_quick(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path))  # empty: synthetic stand-in
    argv = ["train", "--dataset", "mnist", "--quick", "--direction", "adam", "--eta", "1e-3",
            "--batch-size", "50", "--probe-on", "validation", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    assert (tmp_path / "train" / "history_adam_adaptive.csv").is_file()


def test_lr_find_prints_the_settled_rate(tmp_path, capsys):
    argv = ["lr-find", "--dataset", "boston", "--eta", "1e-2", "--steps", "60", "--quiet",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("settled learning rate: ")
    rate = float(out.split()[3])
    assert 1e-7 < rate < 1e-2
    assert (tmp_path / "lr-find" / "lr_find.png").is_file()


def test_progress_goes_to_stderr_and_quiet_silences_it(tmp_path, capsys):
    assert main(["reproduce", "boston", "--quick", "--epochs", "3", "--no-plots",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "epoch 3/3  loss " in err and "eta " in err and "time " in err and "eval " in err
    assert main(["reproduce", "boston", "--quick", "--epochs", "3", "--no-plots", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- progress


class FakeClock:
    """A clock that advances ``dt`` seconds at each reading."""

    def __init__(self, dt):
        self.t, self.dt = 0.0, dt

    def __call__(self):
        self.t += self.dt
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _epoch(stream, steps, dt, losses=None):
    """Run report_steps over ``steps`` fake batches, a step taking ``dt`` seconds."""
    run = SimpleNamespace(history=History(), epoch=0)
    for i, _ in enumerate(report_steps(stream, run, 3, steps, iter(range(steps)),
                                       clock=FakeClock(dt))):
        run.history.record_step(0.5, 2.0 if losses is None else losses[i], 1)
    return stream.getvalue()


def test_step_progress_plain_lines_at_most_every_interval():
    text = _epoch(io.StringIO(), steps=100, dt=1.0)  # a 100 s epoch
    lines = text.splitlines()
    # a line every STEP_LINE_INTERVAL = 10 s, none after the last step: 9 of them
    assert len(lines) == 100 // int(evaluation.STEP_LINE_INTERVAL) - 1
    assert lines[0] == "epoch 1/3  step 10/100  batch loss 2  eta 0.5  10s, ~90s left"
    assert "\r" not in text


def test_step_progress_silent_for_a_short_epoch():
    assert _epoch(io.StringIO(), steps=50, dt=0.1) == ""  # 5 s, below the interval
    assert _epoch(Terminal(), steps=4, dt=0.1) == ""


def test_step_progress_overwrites_one_line_on_a_terminal_and_erases_it():
    text = _epoch(Terminal(), steps=20, dt=0.25, losses=np.arange(20.0))
    assert "\n" not in text and text.startswith("\r")
    updates = text.split("\r")[1:-2]
    assert len(updates) == 9  # every TTY_INTERVAL = 0.5 s, i.e. every 2nd of 20 steps
    assert updates[0].rstrip() == format_step_progress(1, 3, 2, 20, 0.5, 0.5, 0.5)
    assert text.endswith("\r" + " " * len(updates[-1]) + "\r")  # erased at the end


def test_step_progress_reaches_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "empty"))  # synthetic stand-in
    monkeypatch.setattr(evaluation, "STEP_LINE_INTERVAL", 0.0)  # a line after every step
    argv = ["train", "--dataset", "mnist", "--quick", "--n-train", "200", "--batch-size", "50",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert [line.split("  batch")[0] for line in err.splitlines() if "step " in line] == \
        ["epoch 1/1  step 1/4", "epoch 1/1  step 2/4", "epoch 1/1  step 3/4"]


# --------------------------------------------------------------------------- download


def _serve_mnist(tmp_path, monkeypatch):
    """Small MNIST files behind file:// URLs, with the source table pointing at them."""
    rng = np.random.default_rng(0)
    (tmp_path / "server").mkdir()
    for part, n in (("train", 6), ("t10k", 3)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, n, dtype=np.uint8))):
            name = f"mnist/{part}-{kind}-ubyte.gz"
            payload = idx_bytes(array)
            served = tmp_path / "server" / name[6:]
            served.write_bytes(gzip.compress(payload, mtime=0))
            monkeypatch.setitem(SOURCES, name, Remote(
                name, served.as_uri(), "sha256", hashlib.sha256(payload).hexdigest(),
                payload=True, size=len(payload)))


def test_download_mnist_then_verify_only(tmp_path, monkeypatch, capsys):
    _serve_mnist(tmp_path, monkeypatch)
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "data"))
    assert main(["download", "mnist", "--quiet"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "data" / "mnist"
    assert f"data folder: {tmp_path / 'data'} (from ADAPTIVE_LR_DATA)" in out
    assert f"MNIST: downloaded and verified (sha256 of every payload): 6 training and 3 test " \
           f"images, in {folder}:" in out
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in out
    for name in list(SOURCES):  # present files are verified, never fetched again
        if name.startswith("mnist/"):
            monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(url="file:///absent"))
    assert main(["download", "mnist"]) == 0
    assert "MNIST: verified (sha256" in capsys.readouterr().out
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(
        np.array([1, 2, 3], np.uint8)), mtime=0))  # tampered
    assert main(["download", "mnist"]) == 1
    assert "checksum mismatch" in _error_line(capsys)


def test_download_offline_is_one_line_status_1(tmp_path, monkeypatch, capsys):
    for name in list(SOURCES):
        monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(
            url=(tmp_path / "nowhere" / name).as_uri()))
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "data"))
    assert main(["download", "all", "--quiet"]) == 1
    err = _error_line(capsys)
    assert "file(s) not found" in err and "Downloading failed" in err
    assert str(tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz") in err


def test_download_cifar10_extracts_and_verifies(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(1)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            data = np.concatenate([rng.integers(0, 10, (2, 1), dtype=np.uint8),
                                   rng.integers(0, 256, (2, 3072), dtype=np.uint8)], 1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    name = "cifar10/cifar-10-binary.tar.gz"
    monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(
        url=archive.as_uri(), digest=hashlib.md5(archive.read_bytes()).hexdigest()))
    train_files, test_file, _, _ = cifar_module.CIFAR10_LAYOUTS["full"]
    monkeypatch.setitem(cifar_module.CIFAR10_LAYOUTS, "full", (train_files, test_file, 2, 2))
    monkeypatch.setenv("ADAPTIVE_LR_DATA", str(tmp_path / "data"))
    assert main(["download", "cifar10", "--quiet"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "data" / "cifar10"
    assert "CIFAR-10: downloaded and verified (the official files; size of every file): 10 " \
           "training and 2 test images" in out
    assert str(folder / "cifar-10-batches-bin" / "test_batch.bin") in out
    assert main(["download", "cifar10", "--full"]) == 0
    assert "CIFAR-10: verified (the official files" in capsys.readouterr().out


@pytest.mark.skipif(not REAL_DATA, reason="ADAPTIVE_LR_DATA (the real data files) is not set")
def test_download_with_the_real_files_present_only_verifies(monkeypatch, capsys):
    for name in list(SOURCES):  # offline: a download attempt would fail
        monkeypatch.setitem(SOURCES, name, SOURCES[name]._replace(url="file:///absent"))
    if not os.path.isdir(os.path.join(REAL_DATA, "mnist")):
        pytest.skip(f"no mnist/ folder in {REAL_DATA}")
    assert main(["download", "mnist"]) == 0
    assert "MNIST: verified (sha256 of every payload): 60000 training and 10000 test" in \
        capsys.readouterr().out
