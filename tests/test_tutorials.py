"""Every notebook in tutorials/ runs top to bottom against the installed package.

The notebooks are plain nbformat-4 JSON; their code cells run here in order in one namespace,
so a change of the library that breaks a tutorial fails the suite (no Jupyter needed).
"""

import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert NOTEBOOKS, "tutorials/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    for cell in code:  # shipped without outputs: they are made by running, never stored
        assert not cell.get("outputs"), f"{path.name}: a code cell has stored outputs"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    try:
        for i, cell in enumerate(code):
            source = "".join(cell["source"])
            exec(compile(source, f"{path.name}[code cell {i}]", "exec"), namespace)
    finally:
        plt.close("all")
