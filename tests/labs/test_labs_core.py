"""The exercise machinery: check's three outcomes, the registry, and the student export."""

import json
import pathlib
import subprocess
import sys

import nbformat
import pytest

from cnnlib import labs
from cnnlib.labs import core, student

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIXED_IDS = ("02.conv2d", "03.output_size", "04.max_pool")  # other tooling feeds these functions


def test_fixed_ids_exist_and_every_id_has_a_title():
    for exercise_id in FIXED_IDS:
        assert exercise_id in labs.EXERCISES
    for exercise_id, title in labs.EXERCISES.items():
        assert title and isinstance(title, str)
        item = labs.REGISTRY[exercise_id]
        assert item.kind in core.KINDS and item.difficulty in core.DIFFICULTIES


def test_every_notebook_has_its_exercises_registered():
    for path in NOTEBOOKS:
        prefix = path.name[:2]
        assert any(i.startswith(prefix + ".") for i in labs.EXERCISES), (
            f"no exercises registered for {path.name}"
        )


def test_unknown_id_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"no exercise called '02.nope'; the exercises are: .*02.conv2d"
    ):
        labs.check("02.nope", None)


@pytest.mark.parametrize("stub", [None, Ellipsis])
def test_value_stubs_are_not_attempted(stub, capsys):
    assert labs.check("03.output_size", stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_function_stub_is_not_attempted(capsys):
    def output_size(n, f, padding, stride):
        raise NotImplementedError

    assert labs.check("03.output_size", output_size) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_right_answer_prints_one_tick(capsys):
    labs.check("03.output_size", lambda n, f, p, s: (n + 2 * p - f) // s + 1)
    out = capsys.readouterr().out
    assert out.startswith("✓ 03.output_size") and out.count("\n") == 1


def test_a_crash_in_the_learners_code_names_the_input():
    with pytest.raises(AssertionError, match=r"your function raised ZeroDivisionError.*for n=\d+"):
        labs.check("03.output_size", lambda n, f, p, s: 1 // 0)


def test_a_hard_coded_answer_cannot_pass():
    with pytest.raises(AssertionError, match="✗ 03.output_size"):
        labs.check("03.output_size", lambda n, f, p, s: 3)


def test_passing_a_call_instead_of_a_function_is_explained():
    with pytest.raises(AssertionError, match="pass the function itself"):
        labs.check("02.conv2d", 42)


def test_numerical_gradient_agrees_with_an_analytic_one():
    rng = core.rng(0)
    x = rng.normal(size=(3, 4))
    upstream = rng.normal(size=(3, 4))
    numeric = core.numerical_gradient(lambda v: v**2, x, upstream)
    assert core.relative_error(numeric, 2 * x * upstream) < 1e-7


# ---------------------------------------------------------------------------------------------
# The student version
# ---------------------------------------------------------------------------------------------


def _solution_lines(notebook):
    """Non-trivial lines between the solution markers that no lecture cell also contains."""
    from cnnlib.labs.student import BEGIN, END

    lecture = "\n".join(c.source for c in notebook.cells if not student.is_solution_cell(c))
    lines = set()
    for cell in notebook.cells:
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN) or stripped.startswith(END):
                inside = stripped.startswith(BEGIN)
                continue
            if (
                inside
                and len(stripped) > 12
                and not stripped.startswith("#")
                and stripped not in lecture
            ):
                lines.add(stripped)
    return lines


def test_strip_marked_replaces_regions_with_a_stub():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nlabs.check('a', f)\n"
    assert student.strip_marked(source) == (
        "def f(x):\n    raise NotImplementedError  # your code here\n\nlabs.check('a', f)\n"
    )


def test_student_export_has_no_solution_code(tmp_path):
    written = student.write_student_versions(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for original_path, copy_path in zip(NOTEBOOKS, written):
        original = nbformat.read(original_path, as_version=4)
        copy = nbformat.read(copy_path, as_version=4)
        secret = _solution_lines(original)
        for cell in copy.cells:
            assert not student.is_solution_cell(cell)
            assert student.BEGIN not in cell.source and student.END not in cell.source
            leaked = [line for line in secret if line in cell.source]
            assert not leaked, f"{copy_path.name} still holds solution code: {leaked[:3]}"
        # Everything else is kept: the lecture and the exercise stubs with their checks.
        kept = [c for c in original.cells if not student.is_solution_cell(c)]
        assert len(copy.cells) == len(kept)


def test_student_command_refuses_to_overwrite_the_originals():
    result = subprocess.run(
        [sys.executable, "-m", "cnnlib.labs", "student", str(ROOT / "notebooks")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "another folder" in result.stderr


def test_solution_cells_are_collapsed_and_marked():
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code" and "solution" in cell["metadata"].get("tags", []):
                source = "".join(cell["source"])
                assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, path.name
                assert student.BEGIN in source and student.END in source, (
                    f"{path.name}: {source[:80]}"
                )
                assert "labs.check(" in source, f"{path.name}: a solution cell must prove itself"
