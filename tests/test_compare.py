"""``adaptive-lr compare`` (adaptive_lr/experiments/compare.py) on Boston, which ships with the
package: the files, the pass counts the table reports, and the command line."""

import csv
import json

import pytest

from adaptive_lr.cli import main
from adaptive_lr.experiments.compare import PROBLEMS, failed, run_compare


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    rep = run_compare(("boston",), out, quick=True, epochs=5, plots=False,
                      methods=["sgd", "second-order", "armijo", "dog"])
    return out / "compare", rep


def test_each_method_runs_from_each_start_and_the_parameter_free_ones_once(report):
    _, rep = report
    table = rep["problems"]["boston"]["table"]
    assert set(table) == {"sgd", "second-order", "armijo", "dog"}
    quick_etas = PROBLEMS["boston"].etas[1::2]
    assert table["sgd"]["starts"] == len(quick_etas) and table["dog"]["starts"] == 1


def test_passes_per_step_are_the_loops_counts(report):
    _, rep = report
    table = rep["problems"]["boston"]["table"]
    assert table["sgd"]["passes_per_step"] == 2.0  # the gradient: 1 forward + 1 backward
    assert table["second-order"]["passes_per_step"] == 7.0  # + the five probes of Eq. 16
    assert table["dog"]["passes_per_step"] == 2.0  # no probe
    assert table["armijo"]["passes_per_step"] >= 4.0  # + f(0) + at least one trial
    for runs in rep["problems"]["boston"]["runs"].values():
        for run in runs:
            # the passes at the last epoch's end are all the run's passes
            assert run["passes"][-1] == run["passes_per_step"] * (len(run["epoch"]) - 1)


def test_the_files_hold_the_runs_and_the_internals(report):
    folder, rep = report
    saved = json.loads((folder / "compare.json").read_text())
    assert saved["problems"]["boston"]["table"].keys() == rep["problems"]["boston"][
        "table"].keys()
    assert "| boston (test MSE) | second-order |" in (folder / "table.md").read_text()
    eta = PROBLEMS["boston"].etas[1]
    with open(folder / f"history_boston_second-order_{eta:g}.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and {"numerator", "denominator", "delta_dominates"} <= rows[0].keys()
    with open(folder / f"history_boston_armijo_{eta:g}.csv") as handle:
        assert all(int(r["trials"]) >= 1 for r in csv.DictReader(handle))


def test_a_run_that_makes_the_model_worse_has_failed():
    ok = {"diverged": None, "final": 0.9, "test_loss": [2.0, 0.5]}
    assert not failed(ok)
    assert failed({**ok, "test_loss": [2.0, 3.0]})
    assert failed({**ok, "diverged": "diverged at iteration 3"})
    assert failed({**ok, "final": float("nan")})


def test_the_command_line(tmp_path, capsys):
    assert main(["compare", "--quick", "--problems", "boston", "--methods", "sgd,gen",
                 "--epochs", "3", "--no-plots", "--quiet", "--out", str(tmp_path)]) == 0
    assert "| boston (test MSE) | gen |" in capsys.readouterr().out
    assert main(["compare", "--problems", "mnist,nope", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["compare", "--methods", "sgd,adamw", "--problems", "boston",
                 "--out", str(tmp_path)]) == 2


def test_the_figures_are_drawn_and_redrawn_from_the_json(report):
    from adaptive_lr.experiments.compare import replot

    folder, _ = report
    (path,) = replot(folder)
    assert path.name == "compare_boston.png" and path.stat().st_size > 1000
