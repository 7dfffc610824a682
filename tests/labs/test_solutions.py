"""Solutions outside the notebooks (issue 19, item 3): the file next to each notebook,
`run_solutions`, the answer key."""

import os
import pathlib
import re
import shutil

import nbformat
import pytest

from cnnlib import labs
from cnnlib.labs import solutions, student
from cnnlib.runtime.course import notebook_paths

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py


def shipped(path):
    """(the notebook as committed, the cells of its solutions file)."""
    text = (path.parent / solutions.FOLDER / f"{path.stem}.py").read_text(encoding="utf-8")
    return nbformat.read(path, as_version=4), solutions.parse(text)


# The exercises a notebook asks (a fixed id that only tools call, like 02.conv2d, has no solution)
ASKED = {i: item.title for i, item in labs.REGISTRY.items() if item.in_notebook}

# The sentence the older layout used, sending the learner to solutions at the notebook's end
OLD_POINTER = re.compile(r"Solutions\s+are\s+at\s+the\s+very\s+end")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_holds_no_solution(path):
    notebook, cells = shipped(path)
    lecture = "\n".join(c.source for c in notebook.cells if not solutions.is_solution_cell(c))
    # Every exercise of the notebook has exactly one solution, in the file.
    code = [cell for cell in cells if cell.kind == "code"]
    registered = sorted(i for i in ASKED if i.startswith(path.name[:2] + "."))
    assert sorted(cell.label for cell in code) == registered
    # No solution's own name (solution_…) is in the notebook.
    for cell in code:
        for name in re.findall(r"\bsolution_\w+", cell.source):
            assert name not in lecture, f"{path.name}: {name} of the solutions is in the notebook"
    # The tail: the pointer, then the one collapsed cell that runs them.
    tail = [c for c in notebook.cells if solutions.is_solution_cell(c)]
    assert [c.cell_type for c in tail] == ["markdown", "code"]
    assert notebook.cells[-2:] == tail
    assert (
        tail[0].source.startswith("## Solutions") and f"solutions/{path.stem}.py" in tail[0].source
    )
    assert tail[1].source.endswith(f'labs.run_solutions("{path.stem}")')
    assert tail[1].metadata["jupyter"]["source_hidden"] is True
    assert not tail[1].get("outputs")
    # No sentence still sends the learner to solutions at the end of the notebook.
    assert not OLD_POINTER.search(lecture)


def test_the_file_reads_back_as_written():
    cells = [
        solutions.Cell(
            "code", "05.softmax", "def f(z):\n    return z\n\n\nlabs.check('05.softmax', f)"
        ),
        solutions.Cell("markdown", "05.softmax", "**Why.** Because.\n\n- a list\n"),
    ]
    text = solutions.format_cells(cells, "05_lenet5_mnist")
    assert "# %% 05.softmax\n" in text and "# %% [markdown] 05.softmax\n" in text
    back = solutions.parse(text)
    assert [(c.kind, c.label) for c in back] == [(c.kind, c.label) for c in cells]
    assert back[0].source == cells[0].source
    assert back[1].source == cells[1].source.strip("\n")


# ---------------------------------------------------------------------------------------------
# run_solutions
# ---------------------------------------------------------------------------------------------

RIGHT = "def solution(n, f, p, s):\n    return (n + 2 * p - f) // s + 1\n\n\nlabs.check('03.output_size', solution)"


def _write(folder, *cells):
    path = folder / solutions.FOLDER / "03_test.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(solutions.format_cells(list(cells), "03_test"))
    return path


def test_without_the_variable_it_only_says_where_the_solutions_are(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(solutions.RUN_VARIABLE, raising=False)
    _write(tmp_path, solutions.Cell("code", "03.output_size", "raise SystemExit('ran!')"))
    namespace = {"labs": labs}
    labs.run_solutions("03_test", namespace=namespace, folder=tmp_path)
    out = capsys.readouterr().out
    assert out == (
        "The solutions of notebook 03 are in solutions/03_test.py, next to this notebook: "
        "open that file when you are stuck.\n"
    )
    assert set(namespace) == {"labs"}


def test_opened_alone_the_pointer_gives_the_repository_address(tmp_path, monkeypatch, capsys):
    from cnnlib.runtime import hosted, locations

    monkeypatch.delenv(solutions.RUN_VARIABLE, raising=False)
    monkeypatch.setattr(locations, "course_root", lambda: None)
    labs.run_solutions("05_lenet5_mnist", namespace={}, folder=tmp_path)
    out = capsys.readouterr().out
    assert hosted.solutions_location("05_lenet5_mnist", tmp_path) in out
    assert "notebooks/solutions/05_lenet5_mnist.py" in out


def test_with_the_variable_every_solution_must_pass(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(solutions.RUN_VARIABLE, "1")
    _write(
        tmp_path,
        solutions.Cell("code", "03.output_size", RIGHT),
        solutions.Cell("markdown", "03.output_size", "Prose is not run."),
    )
    namespace = {"labs": labs}
    labs.run_solutions("03_test", namespace=namespace, folder=tmp_path)
    assert capsys.readouterr().out == "✓ all 1 solutions of notebook 03 pass their checks\n"
    assert "solution" in namespace  # it ran in the notebook's namespace


@pytest.mark.parametrize(
    "source, said",
    [
        (
            RIGHT.replace("// s + 1", "// s"),
            r"(?s)03.output_size.*does not pass its check: ✗ 03.output_size.*Hint: off by one",
        ),
        ("x = 1", "no check of this exercise ran"),
        ("labs.check('03.output_size', None)", "not attempted"),
        ("1 / 0", r"03.output_size.*raised ZeroDivisionError"),
    ],
)
def test_with_the_variable_a_failing_solution_is_named(tmp_path, monkeypatch, source, said):
    monkeypatch.setenv(solutions.RUN_VARIABLE, "1")
    _write(tmp_path, solutions.Cell("code", "03.output_size", source))
    with pytest.raises(solutions.SolutionFailed, match=said):
        labs.run_solutions("03_test", namespace={"labs": labs}, folder=tmp_path)


def test_the_test_run_sets_the_variable():
    assert os.environ.get(solutions.RUN_VARIABLE) == "1"  # conftest.py


@pytest.mark.slow
def test_a_notebook_runs_its_solutions_in_its_kernel(tmp_path):
    """Notebook 01, copied to a scratch folder, executed as nbval would: the last cell says ✓."""
    from cnnlib.tools import site

    source = ROOT / "notebooks" / "01_image_as_matrix.ipynb"
    shutil.copy(source, tmp_path)
    shutil.copytree(ROOT / "notebooks" / solutions.FOLDER, tmp_path / solutions.FOLDER)
    notebook = nbformat.read(tmp_path / source.name, as_version=4)
    site.execute(notebook, tmp_path, {solutions.RUN_VARIABLE: "1", "CNNLIB_OFFLINE": "1"}, 600)
    last = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert last == "✓ all 6 solutions of notebook 01 pass their checks\n"
    # The student version drops both solution cells, and keeps the checks' verify cells.
    copy = student.student_notebook(nbformat.read(tmp_path / source.name, as_version=4))
    assert not any(solutions.is_solution_cell(c) for c in copy.cells)
    assert "run_solutions" not in "".join(c.source for c in copy.cells)


def test_the_answer_key_has_every_exercise(tmp_path):
    from cnnlib.labs import key

    out = tmp_path / "key.html"
    assert key.write_key(ROOT / "notebooks", out) == len(ASKED)
    page = out.read_text()
    for exercise_id in ASKED:
        assert f"<h3>{exercise_id}</h3>" in page
    assert "def solution_cross_entropy" in page  # the code itself, from the solutions
