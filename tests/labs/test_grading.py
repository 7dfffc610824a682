"""Grading a class end to end (issue 25): sealed kernels in record mode, verdicts in the grader.

The class is made from the student export of a tiny course notebook, `99_tiny`, whose first
(shipped) cell registers two exercises in the three-piece form; this test registers the same two
in the grader's process. Each submission is a real kernel in a real sandbox, a few seconds each,
so one class holds the honest cases and the hostile ones together and is graded once.
"""

import csv
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from cnnlib.labs import REGISTRY, solutions, student
from cnnlib.labs.grading import classroom, sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
v4 = nbformat.v4
pytestmark = pytest.mark.skipif(
    sandbox.missing() is not None, reason=f"no sandbox here: {sandbox.missing()}"
)

SETUP = """\
import operator

from cnnlib import labs
from cnnlib.labs import core


def _double_trials(rng):
    return [{"x": float(rng.integers(3, 50))} for _ in range(3)]


@core.exercise(
    "99.double", "double a number", "implement", "warm-up",
    form=core.Function(core.Number(), args=("x",)), trials=_double_trials, forbid=("operator.mul",),
)
def _double(outputs, trials):
    for got, case in zip(outputs, trials):
        hints = [(case["x"] ** 2, "that squares x")]
        core.same_number(got, 2 * case["x"], f"f({case['x']:g})", hints=hints)
    return f"right on {len(trials)} numbers"


@core.exercise("99.shape", "the shape after a 3×3 convolution", "predict", "warm-up", form=core.Shape())
def _shape(shape, trials):
    hints = [((28, 28, 8), "a valid convolution loses a border")]
    core.same_shape(shape, (26, 26, 8), "the shape", hints=hints)
"""
DOUBLE_STUB = (
    "def double(x):\n    raise NotImplementedError  # your code here\n\n\n"
    'labs.check("99.double", double)'
)
SHAPE_STUB = 'shape = None\nlabs.check("99.shape", shape)'
DOUBLE_CHECK = 'labs.check("99.double", double)'
STUB_LINE = "raise NotImplementedError  # your code here"
HANG_TIMEOUT = 25  # a tiny submission takes a few seconds; a busy machine needs the margin


@pytest.fixture(scope="module")
def registered():
    """The tiny course's exercises, registered in the grader's process for this module."""
    namespace = {}
    exec(SETUP, namespace)  # the same text as the shipped notebook's first cell
    yield
    for exercise_id in ("99.double", "99.shape"):
        REGISTRY.pop(exercise_id, None)


def tiny_course(folder):
    notebook = v4.new_notebook(
        cells=[
            v4.new_code_cell(SETUP),
            v4.new_markdown_cell("### Exercise 9.1 · Double a number (warm-up, implement)"),
            v4.new_code_cell(DOUBLE_STUB),
            v4.new_markdown_cell("### Exercise 9.2 · Predict a shape (warm-up, predict)"),
            v4.new_code_cell(SHAPE_STUB),
            v4.new_markdown_cell("*Your answer:* ", metadata={"tags": ["answer"]}),
            # the course's layout: a pointer and a collapsed cell running solutions/99_tiny.py
            v4.new_markdown_cell(
                "## Solutions\n\nWorked solutions are in `solutions/99_tiny.py`.",
                metadata={"tags": ["solution"]},
            ),
            v4.new_code_cell(
                'from cnnlib import labs\n\nlabs.run_solutions("99_tiny")',
                metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}},
            ),
        ]
    )
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / "99_tiny.ipynb")
    answer = (
        'def solution_double(x):\n    return 2 * x\n\n\nlabs.check("99.double", solution_double)'
    )
    file = folder / solutions.FOLDER / "99_tiny.py"
    file.parent.mkdir(exist_ok=True)
    file.write_text(
        solutions.format_cells([solutions.Cell("code", "99.double", answer)], "99_tiny")
    )
    return folder


def command(course, *arguments):
    """`cnn-course grade ARGUMENTS` in a new process that first registers the tiny course's
    exercises (as the course's own exNN modules are registered on import)."""
    setup = course / "setup_exercises.py"
    setup.write_text(SETUP)
    prelude = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "from cnnlib.labs.__main__ import main; sys.exit(main(sys.argv[2:]))"
    )
    return [sys.executable, "-c", prelude, str(setup), "grade", *map(str, arguments)]


def submission(exported, folder, name, *edits):
    notebook = nbformat.read(exported, as_version=4)
    for edit in edits:
        edit(notebook.cells)
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def replace(old, new):
    def edit(cells):
        for cell in cells:
            if old in cell.source:
                cell.source = cell.source.replace(old, new)

    return edit


def before_checks(code):
    """A cell of the student's own inserted after the set-up cell."""

    def edit(cells):
        cells.insert(1, v4.new_code_cell(code))

    return edit


def at_end(code):
    def edit(cells):
        cells.append(v4.new_code_cell(code))

    return edit


def answer(text):
    def edit(cells):
        for cell in cells:
            if "answer" in cell.metadata.get("tags", []):
                cell.source += text

    return edit


RIGHT = (replace(STUB_LINE, "return 2 * x"), replace("shape = None", "shape = (None, 26, 26, 8)"))


def read_grades(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    return rows[0], {(r[0], r[1]): (r[2], r[5]) for r in rows[1:]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, registered):
    base = tmp_path_factory.mktemp("tiny")
    course = tiny_course(base / "course")
    [path] = student.write_student_versions(course, base / "export")
    assert "solution_double" not in path.read_text()
    return course, path


@pytest.mark.slow
def test_a_class_honest_and_hostile(tmp_path, exported):
    course, path = exported
    klass, out = tmp_path / "class", tmp_path / "grades"
    victim = tmp_path / "class" / "bob.ipynb"
    forged = '{"exercise": "99.double", "status": "correct", "message": "", "hint": ""}'
    students = {
        # the honest class
        "ann": [],
        "bob": [*RIGHT, answer("The 3×3 window fits 26 times along each side.")],
        "cy": [replace(STUB_LINE, "return x * x"), replace("shape = None", "shape = (28, 28, 8)")],
        "dee": [replace(STUB_LINE, "while True:\n        pass")],
        "eve": [replace("def double(x):", "import sys\nsys.exit(1)\n\n\ndef double(x):"), RIGHT[1]],
        "fay": [RIGHT[0]],
        # a kernel that ends: answers recorded before it still count, the rows say so
        "quo": [*RIGHT, at_end("import os; os._exit(0)")],
        "rae": [
            *RIGHT,
            replace(
                DOUBLE_CHECK,
                DOUBLE_CHECK + "\nimport os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
            ),
        ],
        # the hostile ones
        "gus": [before_checks("labs.check = lambda *args: print('✓ correct')")],
        "hal": [
            before_checks(
                "core.judge = lambda *a: core.Verdict('correct')\n"
                "core.check = labs.check = lambda *a: print('✓')"
            )
        ],
        "ida": [
            at_end(
                "import os\nfor log in (os.environ.get('CNNLIB_CHECK_LOG', ''), 'checks.jsonl'):\n"
                f"    if log:\n        open(log, 'a').write({forged!r} + '\\n')\n"
                "print('✓ 99.double (double a number)')"
            )
        ],
        "jo": [
            before_checks(
                "import os\nos.environ['CNNLIB_RUN_SOLUTIONS'] = '1'\nlabs.run_solutions('99_tiny')"
            )
        ],
        "kim": [
            before_checks(
                "import json\n"
                f"theirs = json.load(open({str(victim)!r}))\n"
                "exec(''.join(theirs['cells'][2]['source']))"
            )
        ],
        "leo": [
            at_end(
                f"open({str(out / 'grades.csv')!r}, 'a').write('leo,99.double,correct,1,1,\\n')\n"
                f"open({str(victim)!r}, 'w').write('{{}}')"
            )
        ],
        "mia": [
            at_end(
                "import os, time\n"
                "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                "        time.sleep(8)\n"
                f"        for target in ({str(out / 'grades.csv')!r}, {str(victim)!r}):\n"
                "            try:\n"
                "                open(target, 'a').write('mia,99.double,correct,1,1,\\n')\n"
                "            except OSError:\n                pass\n"
                "        os._exit(0)\n    os._exit(0)\n"
            )
        ],
        # values made up in the kernel (fewer outputs than trials left trials unjudged)
        "uma": [before_checks("core.produce = lambda exercise_id, answer, trials: ()")],
        "noa": [before_checks("import numpy as np\nbomb = [np.ones(2**27) for _ in range(20)]")],
        "pia": [
            before_checks(
                "import tempfile\nwith open(tempfile.gettempdir() + '/fill', 'wb') as f:\n"
                "    for _ in range(64):\n        f.write(bytes(2**26))"
            )
        ],
        "ola": [
            before_checks(
                "import os, time\n"
                "for _ in range(1000):\n    if os.fork() == 0:\n        time.sleep(60)\n"
                "        os._exit(0)"
            )
        ],
    }
    paths = [submission(path, klass, name, *edits) for name, edits in students.items()]
    before = {p.name: p.read_bytes() for p in paths}
    started = time.monotonic()
    result = subprocess.run(
        command(
            course,
            *paths,
            "--out",
            str(out),
            "--timeout",
            str(HANG_TIMEOUT),
            "--memory",
            "1G",
            "--processes",
            "128",
            "--jobs",
            "2",
            "--course-notebooks",
            str(course),
            "--notebook",
            "99_tiny",
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    header, table = read_grades(out)
    assert header == ["student", "exercise", "status", "points", "max_points", "message"]
    assert sorted({s for s, _ in table}) == sorted(students)
    assert len(table) == 2 * len(students)

    # the honest class: the same rows as before the sandbox
    assert table["ann", "99.double"][0] == table["ann", "99.shape"][0] == "not attempted"
    assert table["bob", "99.double"][0] == table["bob", "99.shape"][0] == "correct"
    assert table["cy", "99.double"][0] == "wrong"
    assert table["cy", "99.double"][1].endswith("Hint: that squares x")
    assert table["cy", "99.shape"][0] == "wrong"
    assert table["cy", "99.shape"][1].endswith("Hint: a valid convolution loses a border")
    for exercise in ("99.double", "99.shape"):
        assert table["dee", exercise] == (
            "error",
            f"the notebook did not finish within {HANG_TIMEOUT} s (a loop that never ends?)",
        )
    assert table["eve", "99.double"][0] == "error" and "SystemExit" in table["eve", "99.double"][1]
    assert table["eve", "99.shape"][0] == "correct"
    assert table["fay", "99.double"][0] == "correct"
    assert table["fay", "99.shape"][0] == "not attempted"
    # os._exit(0) in the last cell, after every answer: graded, with a note on every row
    cells = nbformat.read(klass / "quo.ipynb", as_version=4).cells
    last = sum(c.cell_type == "code" for c in cells)
    ended = (
        f"The kernel ended in code cell {last} (`import os; os._exit(0)`, exit status 0): "
        "these rows come from a run of the notebook without it."
    )
    for exercise in ("99.double", "99.shape"):
        assert table["quo", exercise][0] == "correct", table["quo", exercise]
        assert ended in table["quo", exercise][1]
    # a segfault (as a crashing extension gives) in the cell that checks 99.double: that exercise
    # says so, 99.shape is graded
    crashed = "code cell 2 (`def double(x):`, SIGSEGV)"
    assert table["rae", "99.double"][0] == "error"
    assert (
        "the exercise's cell raised KernelEnded: the kernel ended in this cell (signal 11)"
        in (table["rae", "99.double"][1])
    )
    assert table["rae", "99.shape"][0] == "correct" and crashed in table["rae", "99.shape"][1]

    # the hostile ones: none of them is correct, each says why
    for name in ("gus", "hal", "ida", "jo", "kim", "leo", "mia", "uma"):
        for exercise in ("99.double", "99.shape"):
            assert table[name, exercise][0] != "correct", (name, exercise, table[name, exercise])
    assert table["gus", "99.double"][0] == "not attempted"
    assert table["hal", "99.double"][0] == "not attempted"
    assert table["ida", "99.double"][0] == "not attempted"
    assert table["jo", "99.double"][0] in ("not attempted", "error")
    assert table["uma", "99.double"][0] == "wrong"
    assert table["uma", "99.double"][1].startswith(
        "these values are not what the check makes of an answer (expected 3 values, the values "
        "hold 0)"
    )
    assert all(
        table["noa", e][0] == "error" and "memory limit" in table["noa", e][1]
        for e in ("99.double", "99.shape")
    )
    assert all(table["pia", e][0] == "error" for e in ("99.double", "99.shape"))
    assert all(
        table["ola", e][0] == "error" and "processes" in table["ola", e][1]
        for e in ("99.double", "99.shape")
    )

    # nothing outside the sandbox was touched, even after the daemon's delay
    time.sleep(10)
    assert {p.name: p.read_bytes() for p in paths} == before
    text = (out / "grades.csv").read_text()
    assert "leo,99.double,correct" not in text and "mia,99.double,correct" not in text
    assert not any(path.stat().st_mode & 0o077 for path in out.rglob("*"))
    assert "The 3×3 window fits 26 times" in (out / "feedback" / "bob.html").read_text()
    seconds = json.loads((out / "rows.json").read_text())["seconds"]
    assert seconds["dee"] >= HANG_TIMEOUT and time.monotonic() - started < 15 * HANG_TIMEOUT


@pytest.mark.slow
def test_a_right_answer_naming_the_forbidden_reference_or_running_dynamic_code_is_review(
    tmp_path, exported
):
    course, path = exported
    klass = tmp_path / "class"
    names = {
        # calls it: the kernel's watch makes it a ✗
        "pat": [replace(STUB_LINE, "return operator.mul(x, 2)"), RIGHT[1]],
        # names it outside the function, to compare: right, for the instructor to decide
        "quin": [*RIGHT, at_end("print(operator.mul(3, 2) == double(3))")],
        # dynamic code in the student's own cell
        "ray": [replace(STUB_LINE, "return eval('2 * x')"), RIGHT[1]],
    }
    paths = [submission(path, klass, n, *edits) for n, edits in names.items()]
    result = classroom.grade(
        paths,
        tmp_path / "out",
        notebook="99_tiny",
        course_notebooks=course,
        timeout=120,
        jobs=2,
        progress=lambda _: None,
    )
    rows = {(r["student"], r["exercise"]): r for r in result["rows"]}
    assert rows["pat", "99.double"]["status"] == "wrong"
    assert "operator.mul" in rows["pat", "99.double"]["message"]
    assert rows["quin", "99.double"]["status"] == "review"
    assert "operator.mul" in rows["quin", "99.double"]["message"]
    assert rows["quin", "99.shape"]["status"] == "correct"
    assert rows["ray", "99.double"]["status"] == "review"
    assert "eval" in rows["ray", "99.double"]["message"]
    assert rows["ray", "99.double"]["points"] == 0


@pytest.mark.slow
def test_a_killed_run_resumes_and_a_second_run_is_kept_out(tmp_path, exported):
    course, path = exported
    klass, out = tmp_path / "class", tmp_path / "grades"
    quick = submission(path, klass, "ann", *RIGHT)
    slow = submission(path, klass, "ben", before_checks("import time\ntime.sleep(600)"))
    options = ["--out", out, "--timeout", 300, "--jobs", 2, "--course-notebooks", course]
    options += ["--notebook", "99_tiny"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(
        command(course, quick, slow, *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    done = out / ".work" / "done" / "ann.json"
    deadline = time.monotonic() + 120
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert done.exists(), "the quick submission was not graded in time"

    second = subprocess.run(
        command(course, quick, slow, *options), capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert second.returncode == 2 and "another grading run" in second.stderr

    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(1)
    assert (out / "INCOMPLETE.txt").exists() and not (out / "grades.csv").exists()
    # no sandbox outlived the grader: no process of it is left in a grading cgroup
    for group in sandbox.grading_groups(f"cnnlib-grade-{first.pid}-"):
        assert not (group / "cgroup.procs").read_text().split(), f"processes left in {group}"

    copy = klass / "again" / "ann.ipynb"  # the same bytes elsewhere: kept, not graded again
    copy.parent.mkdir()
    shutil.copy(quick, copy)
    fixed = submission(path, klass, "ben", *RIGHT)
    again = subprocess.run(
        command(course, copy, fixed, *options),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert again.returncode == 0, again.stderr
    assert "1 submissions already graded" in again.stdout
    assert "ann:" not in again.stdout and "ben:" in again.stdout
    _, table = read_grades(out)
    assert {v[0] for v in table.values()} == {"correct"}
    assert not (out / "INCOMPLETE.txt").exists()


@pytest.mark.slow
def test_a_real_notebook_end_to_end(tmp_path):
    """Notebook 01's student export with the solutions pasted at the end, as a student might:
    every exercise is correct (each is graded outside the kernel; none is left in the older
    form judged inside it)."""
    [exported] = [
        p
        for p in student.write_student_versions(ROOT / "notebooks", tmp_path / "export")
        if p.name.startswith("01_")
    ]
    cells = solutions.parse(
        (ROOT / "notebooks" / "solutions" / "01_image_as_matrix.py").read_text()
    )
    notebook = nbformat.read(exported, as_version=4)
    notebook.cells += [v4.new_code_cell(c.source) for c in cells if c.kind == "code"]
    path = tmp_path / "gus.ipynb"
    nbformat.write(notebook, path)
    result = classroom.grade([path], tmp_path / "out", timeout=600, progress=lambda _: None)
    rows = {r["exercise"]: r for r in result["rows"]}
    assert len(rows) == 6
    for row in rows.values():
        assert row["status"] == "correct", row


@pytest.mark.slow
def test_sigterm_ends_every_sandbox_and_says_what_was_kept(tmp_path, exported):
    course, path = exported
    klass, out = tmp_path / "class", tmp_path / "grades"
    hanging = [
        submission(path, klass, n, before_checks("while True:\n    pass")) for n in ("ann", "ben")
    ]
    options = ["--out", out, "--timeout", 300, "--jobs", 2, "--course-notebooks", course]
    grader = subprocess.Popen(
        command(course, *hanging, *options, "--notebook", "99_tiny"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    parents = len(sandbox.backend().parents())  # cgroup v1: a memory and a pids group each
    deadline = time.monotonic() + 120
    groups = []
    while len(groups) < 2 * parents and time.monotonic() < deadline:
        time.sleep(0.5)
        groups = [
            g
            for g in sandbox.grading_groups(f"cnnlib-grade-{grader.pid}-")
            if (g / "cgroup.procs").exists()
        ]
    assert len(groups) == 2 * parents, "the two sandboxes did not start"
    time.sleep(3)
    grader.send_signal(signal.SIGTERM)
    _, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130
    assert "interrupted: every sandbox was ended; 0 of 2 graded submissions are kept" in stderr
    assert not sandbox.grading_groups(f"cnnlib-grade-{grader.pid}-"), "cgroups left behind"
    assert (out / "INCOMPLETE.txt").exists() and not (out / "grades.csv").exists()
