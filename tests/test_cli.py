"""The ``adaptive-lr`` command: bad input gives one line and status 2; resume; train; lr-find."""

import subprocess
import sys

import pytest

from adaptive_lr.cli import main

# Boston's first-order run diverges by design of the paper's alpha (REPRODUCTION.md).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


def _error_line(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize("argv, expected", [
    (["reproduce", "resnet50"], "invalid choice: 'resnet50'"),
    (["reproduce", "boston", "--epochs", "-3"], "expected an integer >= 0, got -3"),
    (["reproduce", "boston", "--epochs", "ten"], "expected an integer >= 0"),
    (["reproduce", "boston", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["train", "--dataset", "boston", "--eta", "-1"], "expected a finite number > 0"),
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["lr-find", "--dataset", "boston", "--steps", "0"], "expected an integer >= 1"),
    ([], "required: COMMAND"),
])
def test_bad_arguments_one_line_status_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = _error_line(capsys)
    assert "error:" in err and expected in err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["reproduce", "boston", "--quick", "--quiet", "--out", str(blocker)]) == 2
    assert _error_line(capsys).startswith("adaptive-lr: error: ")


@pytest.mark.parametrize("argv, expected", [
    (["train", "--dataset", "boston", "--controller", "first-order"], "needs alpha"),
    (["train", "--dataset", "boston", "--model", "logistic"], "is a regression"),
    (["train", "--dataset", "boston", "--delta", "-1"], "delta must be >= 0"),
])
def test_bad_values_one_line_status_2(argv, expected, tmp_path, capsys):
    assert main([*argv, "--quiet", "--out", str(tmp_path)]) == 2
    assert expected in _error_line(capsys)


def test_help_has_examples(capsys):
    for argv in (["--help"], ["reproduce", "--help"], ["train", "--help"], ["lr-find", "--help"]):
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
    done = subprocess.run([sys.executable, "-m", "adaptive_lr", "list"], capture_output=True,
                          text=True, check=False)
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
    assert "adaptive" in capsys.readouterr().out


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
    assert "epoch 3/3  loss " in err and "eta " in err and "time " in err
    assert main(["reproduce", "boston", "--quick", "--epochs", "3", "--no-plots", "--quiet",
                 "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
