"""Grading a class, without kernels: what is checked before anything runs, the output folder,
names, resuming, the tables (issue 25, items 4–7).

The sandboxed run of one submission is replaced here by a stand-in that returns verdicts (the
real one is tested in test_grading_sandbox.py and, end to end, in test_grading.py), so each case
takes a fraction of a second and can count how often a submission was run.
"""

import csv
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from cnnlib.labs import REGISTRY, core
from cnnlib.labs.grading import assignment, classroom, folder, merge, reports, sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
v4 = nbformat.v4
EXERCISES = {"98.first": "warm-up", "98.second": "core", "98.third": "stretch"}


@pytest.fixture
def course(tmp_path):
    """A course folder with notebook 98_tiny, its three exercises registered for this test."""
    for exercise_id, level in EXERCISES.items():
        core.exercise(exercise_id, f"title of {exercise_id}", "predict", level, form=core.Number())(
            lambda values, trials: None
        )
    notebook = v4.new_notebook(
        cells=[
            v4.new_code_cell("from cnnlib import labs"),
            *[v4.new_code_cell(f'answer = None\nlabs.check("{e}", answer)') for e in EXERCISES],
            v4.new_markdown_cell("### Exercise 98.3 · explain"),
            v4.new_markdown_cell("*Your answer:* ", metadata={"tags": ["answer"]}),
        ]
    )
    folder_ = tmp_path / "course"
    folder_.mkdir()
    nbformat.write(notebook, folder_ / "98_tiny.ipynb")
    yield folder_
    for exercise_id in EXERCISES:
        REGISTRY.pop(exercise_id, None)


@pytest.fixture
def runs(monkeypatch):
    """The sandboxed run replaced by a stand-in: every gradable exercise correct; `runs.calls`
    lists the students run; `runs.on(name, action)` makes a student's run do something first."""

    class Runs:
        calls = []
        actions = {}

        def on(self, name, action):
            self.actions[name] = action

    state = Runs()

    def run_and_judge(name, raw, notebook, gradable, task, options, running, stop):
        state.calls.append(name)
        if name in state.actions:
            state.actions[name]()
        return {e: ("correct", "") for e in gradable}

    monkeypatch.setattr(classroom, "_run_and_judge", run_and_judge)
    monkeypatch.setattr(sandbox, "missing", lambda: None)
    return state


def export(course, folder_, name, edit=None, metadata=True):
    notebook = nbformat.read(course / "98_tiny.ipynb", as_version=4)
    if metadata:
        notebook.metadata["cnnlib"] = {"assignment": "98_tiny"}
    if edit:
        edit(notebook)
    folder_.mkdir(exist_ok=True)
    path = folder_ / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def grade(paths, out, course, **options):
    options.setdefault("timeout", 30)
    return classroom.grade(paths, out, course_notebooks=course, progress=lambda _: None, **options)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def test_a_long_file_name_is_a_student_like_any_other(tmp_path, course, runs):
    long = export(course, tmp_path / "class", "a" * 248)
    short = export(course, tmp_path / "class", "ben")
    result = grade([long, short], tmp_path / "out", course)
    assert result["students"] == ["a" * assignment.NAME_LIMIT, "ben"]
    assert (tmp_path / "out" / "feedback" / f"{'a' * 64}.html").exists()


def test_a_formula_named_file_cannot_put_a_formula_in_a_spreadsheet(tmp_path, course, runs):
    hostile = export(course, tmp_path / "class", '=HYPERLINK("http:__x";"y")')
    dash = export(course, tmp_path / "class", "-2+3")
    result = grade([hostile, dash], tmp_path / "out", course)
    for name in ("grades.csv", "gradebook_canvas.csv", "gradebook_moodle.csv", "manual.csv"):
        for row in read_csv(tmp_path / "out" / name)[1:]:
            for value in row:
                assert not value.startswith(("=", "+", "-", "@")), (name, row)
    assert all(s[0].isalnum() for s in result["students"])


def test_a_message_starting_like_a_formula_is_quoted():
    assert reports.cell("=1+1") == "'=1+1"
    assert reports.cell("-3 is not right") == "'-3 is not right"
    assert reports.cell("fine") == "fine"


def test_terminal_escape_codes_in_a_file_name_never_reach_the_terminal(tmp_path, course, runs):
    path = export(course, tmp_path / "class", "eve\x1b]0;owned\x07\x1b[2J")
    lines = []
    classroom.grade(
        [path], tmp_path / "out", course_notebooks=course, timeout=30, progress=lines.append
    )
    assert lines and not any("\x1b" in line or "\x07" in line for line in lines)
    assert assignment.terminal("a\x1b[31mb") == "a?[31mb"


@pytest.mark.parametrize(
    "names, said",
    [
        (["ann", "ann"], "same student name"),
        (["Ann", "ann"], "same student name"),
        (["ann!", "ann?"], "same student name"),
        (["...", "ben"], "no usable student name"),
    ],
)
def test_duplicate_or_unusable_names_are_refused_before_anything_runs(
    tmp_path, course, runs, names, said
):
    paths = [export(course, tmp_path / f"class{i}", name) for i, name in enumerate(names)]
    with pytest.raises(classroom.Refused, match=said):
        grade(paths, tmp_path / "out", course)
    assert runs.calls == [] and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# The assignment
# ---------------------------------------------------------------------------------------------


def test_every_exercise_gets_a_row_and_a_file_of_another_notebook_is_flagged(
    tmp_path, course, runs
):
    mine = export(course, tmp_path / "class", "ann")

    def other_notebook(notebook):
        notebook.metadata["cnnlib"] = {"assignment": "05_lenet5_mnist"}

    stray = export(course, tmp_path / "class", "ben", other_notebook)
    result = grade([mine, stray], tmp_path / "out", course, notebook="98_tiny")
    rows = {(r["student"], r["exercise"]): r for r in result["rows"]}
    assert len(rows) == 6
    assert {rows["ann", e]["status"] for e in EXERCISES} == {"correct"}
    for e in EXERCISES:
        assert rows["ben", e]["status"] == "error"
        assert "notebook 05_lenet5_mnist, not 98_tiny" in rows["ben", e]["message"]
    assert runs.calls == ["ann"]


def test_without_metadata_or_notebook_mixed_classes_are_refused(tmp_path, course, runs):
    a = export(course, tmp_path / "class", "ann")

    def other(notebook):
        notebook.metadata["cnnlib"] = {"assignment": "05_lenet5_mnist"}

    b = export(course, tmp_path / "class", "ben", other)
    with pytest.raises(classroom.Refused, match="different notebooks"):
        grade([a, b], tmp_path / "out", course)


def test_an_unreadable_submission_is_its_own_error_rows(tmp_path, course, runs):
    bad = tmp_path / "class" / "hal.ipynb"
    bad.parent.mkdir()
    bad.write_text("{ not json")
    result = grade([bad], tmp_path / "out", course, notebook="98_tiny")
    assert [r["status"] for r in result["rows"]] == ["error"] * 3
    assert result["rows"][0]["message"].startswith("not a readable notebook")


# ---------------------------------------------------------------------------------------------
# Inputs and the output folder
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["nan", "inf", "1e308", "0", "-5"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(tmp_path, timeout):
    nb = tmp_path / "x.ipynb"
    nbformat.write(v4.new_notebook(), nb)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlib.labs",
            "grade",
            str(nb),
            "--out",
            str(tmp_path / "o"),
            "--timeout",
            timeout,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (
        result.returncode == 2 and "seconds" in result.stderr and "Traceback" not in result.stderr
    )
    assert not (tmp_path / "o").exists()


def test_the_output_folder_is_private_and_refused_when_unsafe(tmp_path, course, runs):
    paths = [export(course, tmp_path / "class", "ann")]
    out = tmp_path / "out"
    grade(paths, out, course)
    assert out.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in out.rglob("*") if p.is_file())

    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "grades.csv").symlink_to(tmp_path / "victim.csv")
    with pytest.raises(classroom.Refused, match="symbolic link"):
        grade(paths, planted, course)
    assert not (tmp_path / "victim.csv").exists()

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "grades.csv").write_text("forged")
    os.chown(theirs / "grades.csv", 65534, 65534)
    with pytest.raises(classroom.Refused, match="another user"):
        grade(paths, theirs, course)

    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(classroom.Refused, match="symbolic link"):
        grade(paths, link, course)


def test_two_runs_into_one_folder_the_second_is_refused(tmp_path, course, runs):
    paths = [export(course, tmp_path / "class", "ann")]
    out = folder.prepare(tmp_path / "out")
    with folder.locked(out):
        with pytest.raises(classroom.Refused, match="another grading run"):
            grade(paths, out, course)
    assert runs.calls == []


def test_the_sandbox_missing_is_one_sentence_unless_unsealed(tmp_path, course, runs, monkeypatch):
    monkeypatch.setattr(sandbox, "missing", lambda: "bubblewrap is not installed (`bwrap`)")
    paths = [export(course, tmp_path / "class", "ann")]
    with pytest.raises(classroom.Refused, match="bubblewrap is not installed .*; .* --unsealed"):
        grade(paths, tmp_path / "out", course)
    result = grade(paths, tmp_path / "out", course, sealed=False)
    assert result["sealed"] is False
    assert "UNSEALED" in (tmp_path / "out" / "summary.html").read_text()


# ---------------------------------------------------------------------------------------------
# Interrupted and resumed
# ---------------------------------------------------------------------------------------------


def test_an_interrupted_run_keeps_what_was_graded_and_resumes(tmp_path, course, runs):
    paths = [export(course, tmp_path / "class", n) for n in ("ann", "ben", "cy")]
    out = tmp_path / "out"

    def terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler runs in the main thread

    runs.on("ben", terminate)
    with pytest.raises(classroom.Interrupted, match="1 of 3 graded submissions are kept"):
        grade(paths, out, course, jobs=1)
    assert (out / folder.INCOMPLETE).exists() and not (out / "grades.csv").exists()
    assert runs.calls == ["ann", "ben"]

    runs.actions.clear()
    nbformat.write(nbformat.read(paths[0], as_version=4), paths[0])  # same bytes: not run again
    grade(paths, out, course, jobs=1)
    assert runs.calls == ["ann", "ben", "ben", "cy"]
    assert not (out / folder.INCOMPLETE).exists()
    assert [r[0] for r in read_csv(out / "grades.csv")[1:]] == ["ann"] * 3 + ["ben"] * 3 + [
        "cy"
    ] * 3

    def changed(notebook):
        notebook.cells[1].source = 'answer = 3\nlabs.check("98.first", answer)'

    export(course, tmp_path / "class", "ann", changed)  # new bytes: graded again
    grade(paths, out, course, jobs=1)
    assert runs.calls[-1:] == ["ann"]


# ---------------------------------------------------------------------------------------------
# Points, gradebooks, pages, manual scores, shards
# ---------------------------------------------------------------------------------------------


def test_points_gradebooks_and_feedback_pages(tmp_path, course, runs):
    def script_answer(notebook):
        notebook.cells[-1].source = "*Your answer:* <script>alert('x')</script> because"

    paths = [
        export(course, tmp_path / "class", "ann", script_answer),
        export(course, tmp_path / "class", "ben"),
    ]
    points = tmp_path / "points.toml"
    points.write_text('[points]\n"98.third" = 5\n[written]\n"98.third" = 2\n')
    out = tmp_path / "out"
    result = grade(paths, out, course, points_file=points)
    assert result["points"] == {"98.first": 1, "98.second": 2, "98.third": 5}
    canvas = read_csv(out / "gradebook_canvas.csv")
    # Canvas's gradebook import: these five columns first, then one column per assignment
    assert canvas[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "98_tiny (cnn-course)",
    ]
    assert canvas[1][0] == canvas[1][3] == "ann" and float(canvas[1][5]) == 8
    moodle = read_csv(out / "gradebook_moodle.csv")
    assert moodle[0][:2] == ["username", "98_tiny (cnn-course)"] and float(moodle[2][1]) == 8
    page = (out / "feedback" / "ann.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "8 of 10" in page  # 1 + 2 + 5 of 8, plus 2 written points not yet scored
    assert "<script>" not in (out / "summary.html").read_text()
    assert "<script>" not in (out / "answers.md").read_text()

    manual = read_csv(out / "manual.csv")
    assert manual[0] == reports.MANUAL_HEADER
    filled = tmp_path / "scores.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(manual[0])
    for row in manual[1:]:
        writer.writerow([*row[:4], "1.5" if row[1] == "ann" else "", row[5]])
    filled.write_text(buffer.getvalue())
    assert merge.merge_scores(out, filled) == 1
    assert float(read_csv(out / "gradebook_canvas.csv")[1][5]) == 9.5
    too_many = tmp_path / "bad.csv"
    too_many.write_text(buffer.getvalue().replace("1.5", "7"))
    with pytest.raises(ValueError, match="not between 0 and 2"):
        merge.merge_scores(out, too_many)


def test_two_shards_merged_equal_one_run(tmp_path, course, runs):
    paths = [export(course, tmp_path / "class", n) for n in ("ann", "ben", "cy", "dee", "eve")]
    grade(paths, tmp_path / "whole", course, seed="s")
    grade(paths, tmp_path / "part1", course, shard="1/2", seed="s")
    grade(paths, tmp_path / "part2", course, shard="2/2", seed="s")
    with pytest.raises(ValueError, match="not all the shards"):
        merge.merge_shards([tmp_path / "part1"], tmp_path / "merged")
    merge.merge_shards([tmp_path / "part2", tmp_path / "part1"], tmp_path / "merged")
    for name in (
        "grades.csv",
        "gradebook_canvas.csv",
        "gradebook_moodle.csv",
        "summary.csv",
        "manual.csv",
    ):
        assert (tmp_path / "merged" / name).read_text() == (
            tmp_path / "whole" / name
        ).read_text(), name
    whole = json.loads((tmp_path / "whole" / "rows.json").read_text())
    merged = json.loads((tmp_path / "merged" / "rows.json").read_text())
    assert merged["rows"] == whole["rows"] and merged["students"] == whole["students"]


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1-2", "a/b"])
def test_a_bad_shard_is_refused(tmp_path, course, runs, shard):
    with pytest.raises(classroom.Refused, match="--shard"):
        grade([export(course, tmp_path / "class", "ann")], tmp_path / "out", course, shard=shard)


def test_the_default_timeout_comes_from_the_measured_time():
    measured = json.loads((ROOT / "results" / "benchmark" / "course_times.json").read_text())
    seconds = measured["profiles"]["ci"]["notebooks"]["02_convolution"]
    assert classroom.default_timeout("02_convolution", ROOT) == max(
        classroom.TIMEOUT_FLOOR, classroom.TIMEOUT_FACTOR * seconds
    )
    assert classroom.default_timeout("99_unmeasured", ROOT) == classroom.DEFAULT_TIMEOUT


# ---------------------------------------------------------------------------------------------
# What the student wrote
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, found",
    [
        ("exec(open('x').read())", "exec()"),
        ("f = eval('lambda x: 2 * x')", "eval()"),
        ("import importlib\nm = importlib.import_module('cnnlib.ops')", "import importlib"),
        ("from importlib import import_module", "import importlib"),
        ("name = 'conv' + '2d'\nf = getattr(ops, name)", "getattr with a computed name"),
        ("f = sys.modules['cnnlib.ops'].conv2d", "sys.modules"),
        ("g = globals()['conv2d']", "globals()"),
        ("m = __import__('cnnlib.ops')", "__import__()"),
        ("!python -c 'print(1)'", "a shell command (!)"),
        ("%run other.py", "the IPython magic %run"),
        ("import subprocess", "import subprocess"),
    ],
)
def test_dynamic_code_is_found(source, found):
    assert found in assignment.dynamic_code(source)


@pytest.mark.parametrize(
    "source",
    [
        "def double(x):\n    return 2 * x",
        "f = getattr(ops, 'conv2d')",
        "%matplotlib inline\nimport numpy as np",
        "%timeit sum(range(10))",
        "def broken(:\n",
    ],
)
def test_ordinary_code_is_not_dynamic(source):
    assert assignment.dynamic_code(source) == []


def test_only_the_cells_the_student_wrote_are_reviewed(course):
    shipped = assignment.load("98_tiny", course)
    notebook = nbformat.read(course / "98_tiny.ipynb", as_version=4)
    notebook.cells[0].source = "from cnnlib import labs\n"  # shipped, whitespace aside
    assert assignment.review_reasons(notebook, shipped) == {}
    notebook.cells.append(v4.new_code_cell("answer = eval('26')"))
    reasons = assignment.review_reasons(notebook, shipped)
    assert set(reasons) == set(EXERCISES) and "eval()" in reasons["98.first"]
    assert "code cell 5" in reasons["98.first"]


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
    assert assignment.collect_answers(notebook) == [("99.one", "because"), ("99.two", "")]


def test_the_export_says_which_notebook_it_is(tmp_path):
    from cnnlib.labs import student

    [path] = [
        p
        for p in student.write_student_versions(ROOT / "notebooks", tmp_path)
        if p.name.startswith("02_")
    ]
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["cnnlib"]["assignment"] == "02_convolution"
    assert assignment.declared_notebook(notebook) == "02_convolution"
    assert not any("solution" in c.metadata.get("tags", []) for c in notebook.cells)
    assert all(c.get("outputs", []) == [] for c in notebook.cells if c.cell_type == "code")


def test_the_key_warns_about_a_notebook_without_solutions_and_refuses_an_empty_key(tmp_path):
    from cnnlib.labs import key

    course = tmp_path / "notebooks"
    course.mkdir()
    nbformat.write(
        v4.new_notebook(cells=[v4.new_markdown_cell("# none")]), course / "97_empty.ipynb"
    )
    with pytest.raises(ValueError, match="found no solutions"):
        key.write_key(course, tmp_path / "key.html")
    assert not (tmp_path / "key.html").exists()
    (course / "solutions").mkdir()
    (course / "solutions" / "96_some.py").write_text('# %% 96.one\nlabs.check("96.one", 1)\n')
    nbformat.write(
        v4.new_notebook(cells=[v4.new_markdown_cell("# some")]), course / "96_some.ipynb"
    )
    warnings = []
    assert key.write_key(course, tmp_path / "key.html", warn=warnings.append) == 1
    assert warnings == ["no solutions found for 97_empty: the key has none for it"]


# ---------------------------------------------------------------------------------------------
# The sandbox's cgroups on a cgroup v2 machine (a fake hierarchy)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def unified(tmp_path, monkeypatch):
    """A fake systemd machine with the unified hierarchy only: this process in a scope of its
    own offering `cpu io memory pids`; `unified.membership(path)` changes where it sits."""
    root = tmp_path / "cgroup"
    scope = root / "system.slice" / "grade.scope"
    scope.mkdir(parents=True)
    (scope / "cgroup.controllers").write_text("cpu io memory pids\n")
    (scope / "cgroup.subtree_control").write_text("\n")
    (scope / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (scope / "cgroup.type").write_text("domain\n")  # every group but the root has one
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        f"30 23 0:26 / {root} rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n"
    )

    class Machine:
        def membership(self, path):
            (tmp_path / "self-cgroup").write_text(f"0::{path}\n")
            monkeypatch.setattr(sandbox, "_BACKEND", None)

    monkeypatch.setattr(sandbox, "MOUNTINFO", str(mountinfo))
    monkeypatch.setattr(sandbox, "PROC_CGROUP", str(tmp_path / "self-cgroup"))
    machine = Machine()
    machine.scope = scope
    machine.membership("/system.slice/grade.scope")
    return machine


def test_cgroup_v2_files_the_grader_writes_and_reads(unified):
    """What the grader writes into and reads from a cgroup v2 hierarchy, against a fake one in a
    temporary folder. The kernel's side of memory.max, memory.swap.max, pids.max and their events
    was NOT exercised on a real kernel here: this machine's (and CI's) cgroup v2 hierarchy has no
    memory or pids controller, cgroup v1 holds them. The leaf, cgroup.subtree_control,
    cgroup.procs and cgroup.kill are exercised on the real kernel in test_grading_sandbox.py."""
    scope = unified.scope
    v2 = sandbox.backend()
    assert v2.version == 2 and v2.parents() == [scope]
    leaf = scope / f"cnnlib-grader-{os.getpid()}"
    assert (leaf / "cgroup.procs").read_text() == str(os.getpid()), "the grader is not in a leaf"
    assert (scope / "cgroup.subtree_control").read_text() == "+memory +pids"

    group = sandbox.Cgroup("cnnlib-grade-1-0", sandbox.Limits(memory=3 * 2**30, processes=99))
    folder = scope / "cnnlib-grade-1-0"
    assert group.folders == [folder]
    assert (folder / "memory.max").read_text() == str(3 * 2**30)
    assert (folder / "pids.max").read_text() == "99"
    (folder / "cgroup.procs").write_text("")
    group.enter()
    assert group.members() == {os.getpid()}
    (folder / "cgroup.procs").write_text("")

    run = sandbox.Run(b"", sandbox.Limits(memory=3 * 2**30, processes=99), True, "unused")
    run.cgroup = group
    assert run.verdict_of_limits() is None
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 40\noom 0\noom_kill 0\n")
    assert run.verdict_of_limits() is None, "reaching memory.max is not an out-of-memory kill"
    (folder / "pids.events").write_text("max 4\n")
    assert "limit of 99 processes" in run.verdict_of_limits()
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 41\noom 1\noom_kill 1\n")
    assert "memory limit (3 GiB)" in run.verdict_of_limits()
    assert sandbox.grading_groups("cnnlib-grade-1-") == [folder]

    # a child of the grader starts in the grader's leaf: it stays there, the scope is the parent
    unified.membership(f"/system.slice/grade.scope/cnnlib-grader-{os.getpid()}")
    again = sandbox.backend()
    assert again is not v2 and again.parents() == [scope] and again.leaf == leaf
    assert sorted(p.name for p in scope.iterdir() if p.is_dir()) == [folder.name, leaf.name]


def test_no_usable_cgroup_is_one_sentence_naming_both_hierarchies(unified, tmp_path, course):
    (unified.scope / "cgroup.controllers").write_text("cpu io\n")  # memory, pids not delegated
    lacking = sandbox.missing()
    assert lacking.startswith("no cgroup can limit memory and processes here (cgroup v2 ")
    assert "does not offer memory and pids in" in lacking
    assert "no cgroup v1 memory and pids controller is mounted" in lacking
    assert ". " not in lacking and "\n" not in lacking
    assert not list(unified.scope.glob("cnnlib-grader-*")), "it moved before it knew"
    paths = [export(course, tmp_path / "class", "ann")]
    with pytest.raises(classroom.Refused, match=r"^cannot seal .* --unsealed to run them"):
        grade(paths, tmp_path / "out", course)


def test_grading_outside_a_checkout_refuses_before_reading_anything(tmp_path, monkeypatch):
    """Without the course's notebooks there is no assignment to compare with: one sentence, not a
    search of the working folder (it used to read ./notebooks)."""
    import cnnlib.runtime.locations

    monkeypatch.setattr(cnnlib.runtime.locations, "course_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(classroom.Refused, match="cannot find the course's notebooks"):
        classroom.grade([tmp_path / "a.ipynb"], tmp_path / "out", progress=lambda _: None)
    assert not (tmp_path / "out").exists()
