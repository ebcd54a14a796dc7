"""The tutorials in docs/tutorials/ run: each notebook executes top to bottom with LMLAB_QUICK=1 (a few
training steps per run) in a fresh working directory, and the saved copies keep their outputs.

Executing needs nbclient, nbformat and ipykernel (the dev extra); without them the slow test skips.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from .conftest import SHARED_DATA

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
EXPECTED = {"scan", "bpe", "arithmetic", "sampling", "bigram-to-transformer"}  # one per course assignment
CELL_TIMEOUT = 600  # seconds; a quick run of all five takes a few minutes on 2 CPU cores
KERNEL = "lmlab-tests"


def _missing_module() -> str | None:
    for name in ("nbclient", "nbformat", "ipykernel"):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def test_every_course_assignment_has_a_tutorial():
    assert EXPECTED <= {path.stem for path in NOTEBOOKS}, sorted(path.stem for path in NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_saved_tutorial_has_its_outputs(notebook):
    """The docs show the saved outputs (mkdocs-jupyter does not execute): every code cell was run, in
    order, none failed, and the plots are there as images."""
    cells = json.loads(notebook.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    counts = [cell["execution_count"] for cell in code]
    assert None not in counts, f"{notebook.name}: cells never executed; save it with outputs"
    assert counts == sorted(counts), f"{notebook.name}: cells executed out of order"
    outputs = [output for cell in code for output in cell["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{notebook.name} was saved with an error"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{notebook.name} has no inline plot"
    assert "LMLAB_QUICK" in "".join(code[0]["source"]), (
        f"{notebook.name}: the first code cell reads LMLAB_QUICK"
    )


@pytest.fixture(scope="session")
def kernel_path(tmp_path_factory):
    """A kernelspec that runs this interpreter, so the notebooks import the lmlab under test."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    return root


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_tutorial_runs_quick(notebook, tmp_path, monkeypatch, kernel_path):
    missing = _missing_module()
    if missing is not None:
        pytest.skip(f"{missing} is not installed; executing the tutorials needs pip install -e '.[dev]'")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("LMLAB_QUICK", "1")
    monkeypatch.setenv("LMLAB_DATA_DIR", str(SHARED_DATA))  # the kernel inherits the environment
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},  # runs/ is written here, not beside the notebook
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    outputs = [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no inline plot was shown"
