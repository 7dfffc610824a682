"""Solutions outside the notebooks (issue 19, item 3): the converter, the file, `run_solutions`.

The committed notebooks may still hold their solutions in tagged cells (the older layout) or
already end with the `run_solutions` cell; every test here converts a copy first (a no-op on a
converted notebook), so it holds for both.
"""

import os
import pathlib
import shutil

import nbformat
import pytest

from cnnlib import labs
from cnnlib.labs import solutions, student
from cnnlib.runtime.course import notebook_paths

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py


def converted(path):
    """(the notebook as shipped after conversion, the cells of its solutions file)."""
    notebook = nbformat.read(path, as_version=4)
    result, text = solutions.convert(notebook, path.stem)
    if text is None:  # already converted: the file is committed next to it
        text = (path.parent / solutions.FOLDER / f"{path.stem}.py").read_text()
    return result, solutions.parse(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_converted_notebook_holds_no_solution(path):
    notebook, cells = converted(path)
    lecture = "\n".join(c.source for c in notebook.cells)
    # Every exercise of the notebook has exactly one solution, in the file.
    code = [cell for cell in cells if cell.kind == "code"]
    registered = sorted(i for i in labs.EXERCISES if i.startswith(path.name[:2] + "."))
    assert sorted(cell.label for cell in code) == registered
    # No line of a solution is in the notebook, unless the lecture itself has it.
    original = nbformat.read(path, as_version=4)
    taught = "\n".join(c.source for c in original.cells if not solutions.is_solution_cell(c))
    for cell in cells:
        for line in cell.source.splitlines():
            line = line.strip()
            if len(line) > 15 and not line.startswith(("#", "labs.check")) and line not in taught:
                assert line not in lecture, f"{path.name}: solution line left in: {line}"
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
    assert not solutions.OLD_POINTER.search(lecture)
    # Converting again changes nothing.
    again, text = solutions.convert(notebook, path.stem)
    assert text is None and again.cells == notebook.cells


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


def test_prose_goes_with_the_exercise_it_names():
    path = ROOT / "notebooks" / "03_padding_and_stride.ipynb"
    notebook = nbformat.read(path, as_version=4)
    if not any(solutions.BEGIN in c.source for c in notebook.cells):
        pytest.skip("notebook 03 is already converted")
    _, text = solutions.convert(notebook, path.stem)
    prose = [c for c in solutions.parse(text) if c.kind == "markdown"]
    assert [c.label for c in prose] == ["03.photo_stride"]  # "Solution to 3.4", not 3.3's


def test_the_converter_refuses_a_solution_it_cannot_place():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "### BEGIN SOLUTION\nx = 1\n### END SOLUTION", metadata={"tags": ["solution"]}
            )
        ]
    )
    with pytest.raises(ValueError, match="must check exactly one exercise"):
        solutions.convert(notebook, "99_test")


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
        "The solutions of notebook 03 are in solutions/03_test.py next to this notebook: "
        "open that file when you are stuck.\n"
    )
    assert set(namespace) == {"labs"}


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
def test_a_converted_notebook_runs_its_solutions_in_its_kernel(tmp_path):
    """Notebook 01, converted in a scratch folder, executed as nbval would: the last cell says ✓."""
    from cnnlib.tools import site

    source = ROOT / "notebooks" / "01_image_as_matrix.ipynb"
    shutil.copy(source, tmp_path)
    if solutions.convert_file(tmp_path / source.name) is None:
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
    assert key.write_key(ROOT / "notebooks", out) == len(labs.EXERCISES)
    page = out.read_text()
    for exercise_id, title in labs.EXERCISES.items():
        assert f"<h3>{exercise_id}</h3>" in page
    assert "def solution_softmax" in page  # the code itself, from the solutions
