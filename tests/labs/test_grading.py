"""Grading a class (issue 19, item 6): `python -m cnnlib.labs grade SUBMISSION.ipynb … --out DIR`.

The class is built from the student export of a tiny two-exercise notebook (each kernel start
costs seconds, so most cases use it) and, end to end, from notebook 01.
"""

import csv
import pathlib
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from cnnlib.labs import grading, solutions, student

ROOT = pathlib.Path(__file__).resolve().parents[2]
v4 = nbformat.v4

SETUP = """\
from cnnlib import labs
from cnnlib.labs import core


@core.exercise("99.double", "double a number", "implement", "warm-up")
def _double(function):
    hints = [(9, "that squares x")]
    core.same_number(core.call(function, 3, on="for x=3"), 6, "f(3)", hints=hints)


@core.exercise("99.shape", "the shape after a 3×3 convolution", "predict", "warm-up")
def _shape(answer):
    hints = [((28, 28, 8), "a valid convolution loses a border")]
    core.same_shape(answer, (26, 26, 8), "the shape", hints=hints)
"""
DOUBLE_STUB = 'def double(x):\n    raise NotImplementedError  # your code here\n\n\nlabs.check("99.double", double)'
SHAPE_STUB = 'shape = None\nlabs.check("99.shape", shape)'


def tiny_course(folder):
    """A course notebook with two exercises, an answer cell and its solutions; returns its path."""
    notebook = v4.new_notebook(
        cells=[
            v4.new_code_cell(SETUP),
            v4.new_markdown_cell("### Exercise 9.1 · Double a number (warm-up, implement)"),
            v4.new_code_cell(DOUBLE_STUB),
            v4.new_markdown_cell("### Exercise 9.2 · Predict a shape (warm-up, predict)"),
            v4.new_code_cell(SHAPE_STUB),
            v4.new_markdown_cell("*Your answer:* ", metadata={"tags": ["answer"]}),
            v4.new_markdown_cell("## Solutions", metadata={"tags": ["solution"]}),
            v4.new_code_cell(
                "### BEGIN SOLUTION\ndef solution_double(x):\n    return 2 * x\n"
                '### END SOLUTION\nlabs.check("99.double", solution_double)',
                metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
            ),
        ]
    )
    path = folder / "99_tiny.ipynb"
    nbformat.write(notebook, path)
    solutions.convert_file(path)
    return path


def submission(exported, folder, name, edit):
    """A copy of the exported notebook with `edit(cells)` applied, saved as `name`.ipynb."""
    notebook = nbformat.read(exported, as_version=4)
    edit(notebook.cells)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def replace(old, new):
    def edit(cells):
        for cell in cells:
            if old in cell.source:
                cell.source = cell.source.replace(old, new)

    return edit


def answer(text):
    def edit(cells):
        for cell in cells:
            if "answer" in cell.metadata.get("tags", []):
                cell.source += text

    return edit


def both(*edits):
    def edit(cells):
        for one in edits:
            one(cells)

    return edit


def read_grades(folder):
    with open(folder / "grades.csv", newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


# Each tiny submission runs in about 3 s here: 20 s bounds the hang with room for a busy machine.
HANG_TIMEOUT = 20


@pytest.mark.slow
def test_a_class_is_graded_row_by_row(tmp_path):
    course, class_dir = tmp_path / "course", tmp_path / "class"
    course.mkdir(), class_dir.mkdir()
    tiny_course(course)
    [exported] = student.write_student_versions(course, tmp_path / "export")
    assert "solution_double" not in exported.read_text()  # the class works from the export
    right = both(
        replace("raise NotImplementedError  # your code here", "return 2 * x"),
        replace("shape = None", "shape = (None, 26, 26, 8)"),
        answer("The 3×3 window fits 26 times along each side."),
    )
    wrong = both(
        replace("raise NotImplementedError  # your code here", "return x * x"),
        replace("shape = None", "shape = (28, 28, 8)"),
    )
    hangs = replace("raise NotImplementedError  # your code here", "while True:\n        pass")
    broken = replace("from cnnlib import labs", "from cnnlib import labs_that_do_not_exist")
    deletes = replace(
        "shape = None",
        "import os, shutil\nshutil.rmtree(os.getcwd())\nshape = (26, 26, 8)",
    )
    paths = [
        shutil.copy(exported, class_dir / "ann.ipynb"),  # untouched
        submission(exported, class_dir, "bob", right),
        submission(exported, class_dir, "cy", wrong),
        submission(exported, class_dir, "dee", hangs),
        submission(exported, class_dir, "eve", broken),
        submission(exported, class_dir, "fay", deletes),
    ]
    out = tmp_path / "grades"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlib.labs",
            "grade",
            *map(str, paths),
            "--out",
            str(out),
            "--timeout",
            str(HANG_TIMEOUT),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 6 * HANG_TIMEOUT, "the hang was not bounded by the timeout"
    [hang_seconds] = re.findall(r"^  dee: .*\((\d+) s\)$", result.stdout, re.M)
    assert HANG_TIMEOUT <= int(hang_seconds) <= HANG_TIMEOUT + 10, (
        f"the hanging notebook was not stopped at {HANG_TIMEOUT} s"
    )
    rows = read_grades(out)
    assert rows[0] == ["student", "exercise", "status", "message"]
    table = {(s, e): (status, message) for s, e, status, message in rows[1:]}
    assert [(s, e) for s, e, _, _ in rows[1:]] == [
        (s, e) for s in ("ann", "bob", "cy", "dee", "eve", "fay") for e in ("99.double", "99.shape")
    ]
    assert table["ann", "99.double"][0] == table["ann", "99.shape"][0] == "not attempted"
    assert table["bob", "99.double"] == ("correct", "")
    assert table["bob", "99.shape"] == ("correct", "")
    assert table["cy", "99.double"] == (
        "wrong",
        "f(3): you gave 9, which is not right Hint: that squares x",
    )
    assert table["cy", "99.shape"][0] == "wrong"
    assert table["cy", "99.shape"][1].endswith("Hint: a valid convolution loses a border")
    for exercise in ("99.double", "99.shape"):
        assert table["dee", exercise] == (
            "error",
            f"the notebook did not finish within {HANG_TIMEOUT} s (a loop that never ends?)",
        )
        status, message = table["eve", exercise]
        assert status == "error"
        assert "ModuleNotFoundError" in message or "ImportError" in message, message
    assert table["fay", "99.double"][0] == "not attempted"  # it ran before the deletion
    assert table["fay", "99.shape"][0] == "correct"  # deleting its own folder hurts no one else
    assert all(path.exists() for path in paths)

    summary = {row[0]: row for row in csv.reader(open(out / "summary.csv", encoding="utf-8"))}
    header = summary.pop("exercise")
    assert summary["99.double"][header.index("share_correct")] == str(round(1 / 6, 3))
    assert "that squares x (1)" in summary["99.double"][header.index("top_hints")]
    page = (out / "summary.html").read_text()
    assert "that squares x" in page and "bob" in page
    answers = (out / "answers.md").read_text()
    assert "## 99.shape" in answers
    assert "- **bob**: The 3×3 window fits 26 times along each side." in answers
    assert "- **ann**: *(left blank)*" in answers


@pytest.mark.slow
@pytest.mark.slow
def test_a_real_notebook_end_to_end(tmp_path):
    """Notebook 01's student export, with the solutions pasted at the end as a student might (the
    untouched export is the tiny course's case above: one run of notebook 01 is enough here)."""
    [exported] = [
        p
        for p in student.write_student_versions(ROOT / "notebooks", tmp_path / "export")
        if p.name.startswith("01_")
    ]
    cells = solutions.parse(
        (ROOT / "notebooks" / "solutions" / "01_image_as_matrix.py").read_text()
        if (ROOT / "notebooks" / "solutions" / "01_image_as_matrix.py").exists()
        else solutions.convert(
            nbformat.read(ROOT / "notebooks" / "01_image_as_matrix.ipynb", as_version=4),
            "01_image_as_matrix",
        )[1]
    )
    notebook = nbformat.read(exported, as_version=4)
    notebook.cells += [v4.new_code_cell(c.source) for c in cells if c.kind == "code"]
    path = tmp_path / "gus.ipynb"
    nbformat.write(notebook, path)
    rows = grading.grade([path], tmp_path / "out", timeout=600, progress=lambda _: None)
    gus = {row.exercise: row.status for row in rows if row.student == "gus"}
    assert len(gus) == 6 and set(gus.values()) == {"correct"}, gus


# ---------------------------------------------------------------------------------------------
# Without a kernel
# ---------------------------------------------------------------------------------------------


def test_an_unreadable_submission_is_an_error_row_and_nothing_runs(tmp_path):
    bad = tmp_path / "hal.ipynb"
    bad.write_text("{ not json")
    rows = grading.grade([bad], tmp_path / "out", timeout=5, progress=lambda _: None)
    assert [(r.student, r.exercise, r.status) for r in rows] == [("hal", "*", "error")]
    assert rows[0].message.startswith("not a readable notebook")
    assert read_grades(tmp_path / "out")[1][:3] == ["hal", "*", "error"]


def test_every_registered_exercise_of_the_notebook_gets_a_row():
    notebook = v4.new_notebook(cells=[v4.new_code_cell('labs.check("03.output_size", f)')])
    exercises = grading.expected_exercises(notebook)
    assert "03.shapes" in exercises and "03.output_size" in exercises
    assert all(e.startswith("03.") for e in exercises)


def test_answers_go_to_the_exercise_above_them():
    notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("### Exercise 9.1 · one"),
            v4.new_code_cell('labs.check("99.one", a)'),
            v4.new_markdown_cell("*Your answer:* because", metadata={"tags": ["answer"]}),
            v4.new_markdown_cell("### Exercise 9.2 · two"),
            v4.new_code_cell('labs.check("99.two", b)'),
            v4.new_markdown_cell("*Your answer:*", metadata={"tags": ["answer"]}),
            v4.new_markdown_cell("*Your answer:* not tagged"),
        ]
    )
    assert grading.collect_answers(notebook) == [("99.one", "because"), ("99.two", "")]


@pytest.mark.parametrize(
    "args, said",
    [
        (["missing.ipynb"], "no such submission"),
        (["--timeout", "0", "{nb}"], "timeout must be a positive number"),
        (["{nb}", "{nb}"], "same file name"),
    ],
)
def test_the_command_refuses_bad_input_with_a_sentence(tmp_path, args, said):
    nb = tmp_path / "x.ipynb"
    nbformat.write(v4.new_notebook(), nb)
    args = [a.format(nb=nb) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "cnnlib.labs", "grade", *args, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and said in result.stderr, result.stderr
