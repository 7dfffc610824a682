"""The student version of every notebook runs clean, with every exercise "not attempted yet".

The student version is what an instructor hands out (`python -m cnnlib.labs student OUTDIR`): no
errors, no solution, and no check that claims a ✓ for work the learner has not done.

A notebook ends with its two `solution` cells, the "## Solutions" pointer and the collapsed cell
running `notebooks/solutions/NN_name.py` against the checks (CNNLIB_RUN_SOLUTIONS=1 in the test
run); the student version drops both (in the older layout: every solution cell, all at the end).
So the student version's code cells are the first code cells of the notebook, unchanged, and a
kernel running the notebook is in the same state after them as one running the student version. When nbval has just run a notebook in this
worker (the whole test command), its outputs for those cells are therefore the student version's
outputs, and they are read from there (conftest.py's `notebook_runs`) instead of executing the
notebook a second time. Otherwise (this file alone, a notebook that failed, or a student version
that is not such a prefix) the student version is executed here. The website is built from
the same outputs and checked in test_website.py.
"""

import pathlib
import re

import nbformat
import pytest

from cnnlib import labs
from cnnlib.labs import solutions, student
from cnnlib.runtime.course import notebook_paths
from cnnlib.tools import site

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")


class StudentRuns:
    """Student notebooks, each executed (or read from nbval's run) at most once per session."""

    def __init__(self, folder, notebook_runs):
        self.folder = folder
        self.notebook_runs = notebook_runs
        student.write_student_versions(ROOT / "notebooks", folder)
        self.done = {}
        self.executed_here = set()  # the names that nbval's outputs could not stand for

    def executed(self, name):
        if name not in self.done:
            notebook = nbformat.read(self.folder / name, as_version=4)
            if not self._outputs_from_nbval(name, notebook):
                site.execute(notebook, ROOT / "notebooks", timeout=900)
                self.executed_here.add(name)
            nbformat.write(notebook, self.folder / name)
            self.done[name] = notebook
        return self.done[name]

    def _outputs_from_nbval(self, name, notebook):
        """Fill `notebook` with nbval's outputs if it is a prefix of what nbval ran; say if it did."""
        ran = self.notebook_runs.get(name, {})
        original = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        original_sources = [c.source for c in original.cells if c.cell_type == "code"]
        code = [c for c in notebook.cells if c.cell_type == "code"]
        if [c.source for c in code] != original_sources[: len(code)]:
            return False
        if len(ran) != len(original_sources):  # nbval did not run the whole notebook here
            return False
        for number, cell in enumerate(code):
            cell.outputs = [nbformat.from_dict(output) for output in ran[number]]
            cell.execution_count = number + 1
        return True


@pytest.fixture(scope="session")
def student_runs(tmp_path_factory, notebook_runs):
    return StudentRuns(tmp_path_factory.mktemp("student"), notebook_runs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_notebook_runs_and_nothing_is_attempted(path, student_runs):
    notebook = student_runs.executed(path.name)
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    checked = {
        m
        for cell in notebook.cells
        if cell.cell_type == "code"
        for m in CHECK_CALL.findall(cell.source)
    }
    expected = {
        i
        for i, item in labs.REGISTRY.items()
        if i.startswith(path.name[:2] + ".") and item.in_notebook
    }
    assert checked == expected, (
        f"{path.name}: checks called {sorted(checked)}, registered {sorted(expected)}"
    )
    for exercise_id in expected:
        assert re.search(rf"… {re.escape(exercise_id)} \(.*\): not attempted yet", outputs), (
            f"{path.name}: {exercise_id} did not report 'not attempted yet'"
        )
        assert f"✓ {exercise_id} (" not in outputs, (
            f"{path.name}: {exercise_id} passed without an answer"
        )
    sources = "".join(cell.source for cell in notebook.cells)
    assert "run_solutions" not in sources and "## Solutions" not in sources
    assert not any(solutions.is_solution_cell(cell) for cell in notebook.cells)
    names = _solution_names(path)
    leaked = sorted(name for name in names if name in sources or name in outputs)
    assert not leaked, f"{path.name}: the student version names solution code: {leaked}"


def _solution_names(path):
    """The `solution_…` names the notebook's solutions define (in notebooks/solutions/): none of
    them may reach a student or the website."""
    text = (path.parent / solutions.FOLDER / f"{path.stem}.py").read_text(encoding="utf-8")
    return set(re.findall(r"\bsolution_\w+", text))


def test_nbval_outputs_stand_for_a_real_student_run(student_runs, tmp_path):
    """The shortcut above is sound: the cheapest notebook's student version, really executed,
    shows the same kinds of output in every cell and the same exercise messages."""
    name = NOTEBOOKS[0].name
    derived = student_runs.executed(name)
    if name in student_runs.executed_here:
        pytest.skip("nbval did not run this notebook in this worker: nothing to compare")
    student.write_student_versions(ROOT / "notebooks", tmp_path)
    real = site.execute(nbformat.read(tmp_path / name, as_version=4), ROOT / "notebooks")

    def code_cells(notebook):
        return [c for c in notebook.cells if c.cell_type == "code"]

    def kinds(cell):
        # A cell's printing reaches the notebook in as many stream messages as the kernel
        # happened to flush, so consecutive ones to the same stream count as one output.
        found = []
        for output in cell.outputs:
            kind = (output.output_type, output.get("name"))
            if not (kind[0] == "stream" and found and found[-1] == kind):
                found.append(kind)
        return found

    for number, (one, other) in enumerate(zip(code_cells(derived), code_cells(real))):
        kinds_of = kinds(one), kinds(other)
        texts = [[o.get("text", "")[:200] for o in cell.outputs] for cell in (one, other)]
        assert kinds_of[0] == kinds_of[1], (
            f"code cell {number} of {name}: outputs {kinds_of[0]} from nbval, "
            f"{kinds_of[1]} when run alone\n{one.source[:200]}\n{texts[0]}\n{texts[1]}"
        )

    def messages(notebook):
        text = "".join(o.get("text", "") for c in code_cells(notebook) for o in c.outputs)
        return re.findall(r"^[…✓✗] .*$", text, re.M)

    assert messages(derived) == messages(real)
