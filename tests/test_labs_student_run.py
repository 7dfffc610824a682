"""The student version of every notebook runs clean, with every exercise "not attempted yet".

This is what an instructor hands out (`python -m cnnlib.labs student OUTDIR`), so CI executes it
as a learner would open it: no errors, no solution, and no check that claims a ✓ for work the
learner has not done.
"""
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

from cnnlib import labs
from cnnlib.labs import student

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    student.write_student_versions(ROOT / "notebooks", folder)
    return folder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_notebook_runs_and_nothing_is_attempted(path, student_dir):
    notebook = nbformat.read(student_dir / path.name, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "stream"
    )
    checked = {m for cell in notebook.cells if cell.cell_type == "code" for m in CHECK_CALL.findall(cell.source)}
    prefix = path.name[:2]
    expected = {i for i in labs.EXERCISES if i.startswith(prefix + ".")}
    assert checked == expected, f"{path.name}: checks called {sorted(checked)}, registered {sorted(expected)}"
    for exercise_id in expected:
        assert f"… {exercise_id} (" in outputs and "not attempted yet" in outputs, (
            f"{path.name}: {exercise_id} did not report 'not attempted yet'"
        )
        assert f"✓ {exercise_id} (" not in outputs, f"{path.name}: {exercise_id} passed without an answer"
