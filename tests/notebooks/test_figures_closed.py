"""Notebook 05 draws 22 figures; with MPLBACKEND=Agg (common on servers) a kernel keeps every one
open unless the notebook selects the inline backend, and matplotlib warns past 20 (issue 21).

The test runs notebook 05's own backend line in a kernel started with MPLBACKEND=Agg, then opens
and shows 25 figures one cell at a time, as the notebook does, and asserts that nothing warned
and that no figure stayed open.
"""

import json
import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "05_lenet5_mnist.ipynb"


def backend_lines():
    """The `%matplotlib …` lines of the notebook's set-up cell, the first code cell after the
    bootstrap cell (empty when there is none)."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    first = next(
        cell
        for cell in cells
        if cell["cell_type"] == "code" and "bootstrap" not in cell["metadata"].get("tags", [])
    )
    return [line for line in "".join(first["source"]).split("\n") if line.startswith("%matplotlib")]


def test_notebook_05_closes_its_figures_under_an_agg_backend(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    figure = (
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1])\nplt.show()"
    )
    cells = [nbformat.v4.new_code_cell("\n".join(backend_lines()))]
    cells += [nbformat.v4.new_code_cell(figure) for _ in range(25)]
    cells.append(nbformat.v4.new_code_cell("print('open figures:', len(plt.get_fignums()))"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute(
        cwd=str(ROOT), env=dict(os.environ)
    )
    stderr = [
        output["text"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    ]
    assert not any("More than 20 figures" in text for text in stderr), stderr
    assert "open figures: 0" in notebook.cells[-1].outputs[0]["text"]
