"""Every notebook in tutorials/ runs top to bottom in a real Jupyter kernel, and is a lesson.

Each notebook is executed by nbclient in a fresh ``python3`` kernel (``ipykernel``) with a
per-cell timeout; any error, including a failed ``assert`` of a claim or of an exercise's check
cell, fails the test. The notebooks are committed *with* their outputs, so that a reader sees
numbers and figures; the structure tests check that those outputs are there, that every cell has
an id (nbformat 4.5) and that each notebook has its learning goals and at least two exercises
whose solutions sit between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` markers.

A notebook that needs real data says so in its metadata (``"adaptive_lr": {"needs_data": [...]}``)
and is skipped, with the reason, when ``ADAPTIVE_LR_DATA`` does not hold it.
"""

import json
import os
from pathlib import Path

import pytest

from tutorials.notebook_data import missing_data, needs_data

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds; each notebook takes well under 60 s on 2 cores
MAX_BYTES = 1_500_000


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_tutorials():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)], numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_lesson(path):
    nb = _load(path)
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    ids = [c.get("id") for c in nb["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: cell ids missing or repeated"
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith(f"# {int(path.name[:2])}. ") and "Learning goals" in first
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    exercises = [c for c in code if "# BEGIN SOLUTION" in "".join(c["source"])]
    assert len(exercises) >= 2, f"{path.name} has {len(exercises)} exercises"
    for c in exercises:
        assert "# END SOLUTION" in "".join(c["source"])
    # committed executed: every code cell ran, in order, and none left an error behind
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not executed top to bottom"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_a_kernel(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    reason = missing_data(needs_data(_load(path)))
    if reason:
        pytest.skip(reason)
    # the kernel inherits the environment: one BLAS thread, the safer setting on a shared 2-core
    # machine (README, Benchmarks), unless the caller chose otherwise
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
