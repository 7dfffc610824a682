"""Grade a class: run each submitted notebook, record every check, write one table.

    python -m cnnlib.labs grade submissions/*.ipynb --out grades/ [--timeout 600]

Grading EXECUTES THE STUDENTS' CODE, with the rights of whoever runs the command. Each submission
runs in its own kernel (a fresh process) in the `ci` profile, offline, in a fresh temporary folder
that is also its HOME, stopped after `--timeout` seconds; a submission that crashes, hangs or
deletes files in its folder gets `error` in its own rows and leaves the others alone. That is no
protection against code written to do harm elsewhere: run the grader as an unprivileged user or
in a container (INSTRUCTORS.md shows both).

The kernel's `labs.check` calls append their outcomes to a file named by CNNLIB_CHECK_LOG (see
`cnnlib.labs.core`); every cell runs even after one fails, so a wrong exercise does not hide the
next one. Written to the output folder:

- grades.csv: student,exercise,status,message (status: correct, wrong, not attempted, error);
- summary.csv and summary.html: per exercise, the share correct and the hints that fired most,
  the whole class at a glance, and the written answers;
- answers.md: the `answer` cells, per exercise and student.
"""

import collections
import csv
import dataclasses
import html
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

STATUSES = ("correct", "wrong", "not attempted", "error")
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")
ANSWER_TAG = "answer"
ANSWER_PROMPT = re.compile(r"^\s*\*Your answer:\*\s*", re.I)
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.M)


@dataclasses.dataclass
class Row:
    student: str
    exercise: str
    status: str
    message: str


# ---------------------------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------------------------


def expected_exercises(notebook):
    """The exercises a submission is graded on: those whose checks it calls, in the notebook's
    order, then any other registered for the same notebook (so a deleted check still gets its
    row)."""
    from cnnlib.labs import REGISTRY

    called = [
        exercise_id
        for cell in notebook.cells
        if cell.cell_type == "code"
        for exercise_id in CHECK_CALL.findall(cell.source)
    ]
    called = list(dict.fromkeys(called))
    prefixes = {exercise_id[:2] for exercise_id in called}
    others = sorted(i for i in REGISTRY if i[:2] in prefixes and i not in called)
    return called + others


def collect_answers(notebook):
    """[(exercise id, text)] of the markdown cells tagged `answer`, each given to the exercise
    whose heading comes before it (or, without headings, the last check before it)."""
    from cnnlib.labs.solutions import _exercise_ids_by_number

    numbers = _exercise_ids_by_number(notebook.cells)
    answers, current, last_check = [], None, None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            last_check = (CHECK_CALL.findall(cell.source) or [last_check])[-1]
            continue
        headings = [n for n in EXERCISE_HEADING.findall(cell.source) if n in numbers]
        current = numbers[headings[-1]] if headings else current
        if ANSWER_TAG in cell.metadata.get("tags", []):
            text = ANSWER_PROMPT.sub("", cell.source).strip()
            answers.append((current or last_check or "?", text))
    return answers


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _environment(run, records):
    """The kernel's environment: little of the grader's own, the course's settings for grading."""
    root = pathlib.Path(__file__).resolve().parents[2]  # the folder holding cnnlib/
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(run / "home"),
        XDG_CACHE_HOME=str(run / "home" / ".cache"),
        PYTHONPATH=str(root),
        CNNLIB_PROFILE="ci",
        CNNLIB_OFFLINE="1",
        CNNLIB_RESULTS_DIR=str(run / "results"),
        CNNLIB_RUN_SOLUTIONS="0",
        CNNLIB_CHECK_LOG=str(records / "checks.jsonl"),
        MPLBACKEND="agg",
        PYTHONUNBUFFERED="1",
    )
    return env


def execute(path, work, timeout):
    """Run the notebook at `path` in a kernel; (executed notebook or None, why not).

    The kernel runs in `work`/run, which is also its HOME; the grader's records (the checks' log,
    the executed notebook) go to `work`/records, out of the way of a submission that deletes its
    own folder. The kernel and the process driving it are each a process group of their own,
    killed whole when `timeout` seconds have passed.
    """
    import nbformat

    run, records = work / "run", work / "records"
    (run / "home").mkdir(parents=True)
    records.mkdir()
    target = run / "submission.ipynb"
    shutil.copyfile(path, target)
    pid_file = records / "kernel.pid"
    executed = records / "executed.ipynb"
    command = [sys.executable, "-m", "cnnlib.labs.grading", str(target), str(executed)]
    with open(records / "runner.log", "w") as log:
        runner = subprocess.Popen(
            [*command, str(pid_file), str(timeout)],
            cwd=run,
            env=_environment(run, records),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            runner.wait(timeout=timeout)
            why = None
        except subprocess.TimeoutExpired:
            why = f"the notebook did not finish within {timeout:g} s (a loop that never ends?)"
        finally:
            _kill_group(runner.pid)
            if pid_file.exists():
                try:
                    _kill_group(int(pid_file.read_text()))
                except ValueError:
                    pass
            runner.wait()
    if why is None and runner.returncode != 0:
        tail = (records / "runner.log").read_text(errors="replace").strip().splitlines()[-1:]
        why = f"the notebook could not be run ({' '.join(tail) or f'exit {runner.returncode}'})"
    if why is None and not executed.exists():
        why = "the notebook could not be run"
    notebook = nbformat.read(executed, as_version=4) if why is None else None
    return notebook, why


def _logged(work):
    """{exercise: (status, message)}: the last outcome of each exercise's check in the kernel."""
    outcomes = {}
    log = work / "records" / "checks.jsonl"
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                status, message = entry["status"], entry.get("message", "")
            except (ValueError, KeyError, TypeError):
                continue
            if status in STATUSES:
                hint = entry.get("hint") or ""
                outcomes[entry["exercise"]] = (
                    status,
                    f"{message} Hint: {hint}" if hint else message,
                )
    return outcomes


def _first_error(cells):
    for number, cell in enumerate(cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return number, f"{output.get('ename')}: {output.get('evalue')}"
    return None


def _unlogged(exercise_id, executed, why):
    """Why an exercise's check left no outcome."""
    if executed is None:
        return why
    code = [c for c in executed.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, start=1):
        if exercise_id in CHECK_CALL.findall(cell.source):
            error = _first_error([cell])
            first = _first_error(code[: number - 1])
            if error is None:
                return "the check of this exercise did not run"
            message = f"the exercise's cell raised {error[1]}"
            if first:
                message += f" (the first error was in code cell {first[0]}: {first[1]})"
            return message
    return "the notebook does not call this exercise's check"


def grade_one(path, timeout, keep=None):
    """The rows of one submission, and its answers: (rows, [(exercise, text)])."""
    import nbformat

    path = pathlib.Path(path)
    student = path.stem
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # not JSON, not a notebook, unreadable: this student's row only
        return [Row(student, "*", "error", f"not a readable notebook: {error}")], []
    exercises = expected_exercises(notebook)
    answers = collect_answers(notebook)
    if not exercises:
        return [Row(student, "*", "error", "the notebook calls no labs.check")], answers
    with tempfile.TemporaryDirectory(prefix=f"grade-{student}-") as folder:
        work = pathlib.Path(folder)
        try:
            executed, why = execute(path, work, timeout)
        except OSError as error:
            executed, why = None, f"the notebook could not be run: {error}"
        logged = _logged(work)
        if keep is not None and executed is not None:
            nbformat.write(executed, pathlib.Path(keep) / f"{student}.ipynb")
    rows = []
    for exercise_id in exercises:
        if exercise_id in logged:
            rows.append(Row(student, exercise_id, *logged[exercise_id]))
        else:
            rows.append(Row(student, exercise_id, "error", _unlogged(exercise_id, executed, why)))
    return rows, answers


# ---------------------------------------------------------------------------------------------
# The class
# ---------------------------------------------------------------------------------------------


def _hint(message):
    return message.split(" Hint: ", 1)[1] if " Hint: " in message else None


def summarise(rows):
    """Per exercise: counts per status, share correct, and the hints that fired most."""
    from cnnlib.labs import EXERCISES

    by_exercise = collections.defaultdict(list)
    for row in rows:
        if row.exercise != "*":
            by_exercise[row.exercise].append(row)
    summary = []
    for exercise_id in by_exercise:  # in the order of the first submission's notebook
        group = by_exercise[exercise_id]
        counts = collections.Counter(row.status for row in group)
        hints = collections.Counter(
            _hint(row.message) for row in group if row.status == "wrong" and _hint(row.message)
        )
        summary.append(
            {
                "exercise": exercise_id,
                "title": EXERCISES.get(exercise_id, ""),
                "students": len(group),
                **{status: counts[status] for status in STATUSES},
                "share_correct": round(counts["correct"] / len(group), 3),
                "top_hints": " | ".join(f"{hint} ({n})" for hint, n in hints.most_common(3)),
            }
        )
    return summary


def write_csv(path, fieldnames, records):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(records)


def write_answers(path, answers):
    lines = ["# Written answers, per exercise", ""]
    by_exercise = collections.defaultdict(list)
    for student, exercise_id, text in answers:
        by_exercise[exercise_id].append((student, text))
    for exercise_id in sorted(by_exercise):
        lines += [f"## {exercise_id}", ""]
        for student, text in by_exercise[exercise_id]:
            lines += [f"- **{student}**: " + (text.replace("\n", " ") or "*(left blank)*")]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


SYMBOL = {"correct": "✓", "wrong": "✗", "not attempted": "…", "error": "!"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 75em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.correct { background: #d9f2d9; } td.wrong { background: #f9d6d5; }
td.not-attempted { background: #eee; color: #777; } td.error { background: #ffe3a3; }
td.mark { text-align: center; font-size: 1.1em; }
td.share { white-space: nowrap; }
.bar { display: inline-block; height: 0.8em; background: #4a9a4a; vertical-align: middle; }
.note { color: #555; font-size: 0.9em; }
"""


def write_html(path, rows, summary, answers, timeout):
    e = html.escape
    students = list(dict.fromkeys(row.student for row in rows))
    exercises = [item["exercise"] for item in summary]
    cell = {(row.student, row.exercise): row for row in rows}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class summary</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Class summary</h1>",
        f"<p class='note'>{len(students)} submissions, each run in the ci profile, offline, "
        f"stopped after {timeout:g} s. ✓ correct · ✗ wrong · … not attempted · ! error "
        "(the notebook or the exercise's cell failed; hover for the message).</p>",
        "<h2>Per exercise</h2><table><tr><th>exercise</th><th>correct</th><th>✗</th>"
        "<th>…</th><th>!</th><th>hints that fired most</th></tr>",
    ]
    for item in summary:
        width = int(item["share_correct"] * 60)
        hints = "<br>".join(e(h) for h in item["top_hints"].split(" | ") if h)
        parts.append(
            f"<tr><td><b>{e(item['exercise'])}</b><br><span class='note'>{e(item['title'])}"
            f"</span></td><td class='share'><span class='bar' style='width:{width}px'></span> "
            f"{item['correct']}/{item['students']}</td><td>{item['wrong']}</td>"
            f"<td>{item['not attempted']}</td><td>{item['error']}</td><td>{hints}</td></tr>"
        )
    parts.append("</table><h2>Per student</h2><table><tr><th>student</th>")
    parts += [f"<th>{e(x)}</th>" for x in exercises] + ["</tr>"]
    for student in students:
        parts.append(f"<tr><th>{e(student)}</th>")
        whole = cell.get((student, "*"))
        if whole:
            parts.append(
                f"<td class='error' colspan='{max(1, len(exercises))}'>{e(whole.message)}</td>"
            )
        for exercise_id in exercises if not whole else ():
            row = cell.get((student, exercise_id))
            if row is None:
                parts.append("<td></td>")
                continue
            css = row.status.replace(" ", "-")
            parts.append(
                f"<td class='mark {css}' title='{e(row.message, quote=True)}'>"
                f"{SYMBOL[row.status]}</td>"
            )
        parts.append("</tr>")
    parts.append("</table><h2>Written answers</h2>")
    by_exercise = collections.defaultdict(list)
    for student, exercise_id, text in answers:
        by_exercise[exercise_id].append((student, text))
    if not by_exercise:
        parts.append("<p class='note'>No cell tagged <code>answer</code> in the submissions.</p>")
    for exercise_id in sorted(by_exercise):
        parts.append(f"<h3>{e(exercise_id)}</h3><ul>")
        for student, text in by_exercise[exercise_id]:
            parts.append(f"<li><b>{e(student)}</b>: {e(text) or '<i>(left blank)</i>'}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def grade(submissions, out_dir, timeout=600, progress=print):
    """Grade every notebook of `submissions` into `out_dir`; return the rows of grades.csv."""
    paths = [pathlib.Path(p) for p in submissions]
    if not paths:
        raise ValueError("no submissions given: pass the students' .ipynb files")
    stems = collections.Counter(p.stem for p in paths)
    twice = sorted(s for s, n in stems.items() if n > 1)
    if twice:
        raise ValueError(f"two submissions have the same file name (the student's name): {twice}")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such submission: {', '.join(missing)}")
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, answers = [], []
    for path in paths:
        started = time.monotonic()
        student_rows, student_answers = grade_one(path, timeout)
        rows += student_rows
        answers += [(path.stem, exercise_id, text) for exercise_id, text in student_answers]
        counts = collections.Counter(row.status for row in student_rows)
        said = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        progress(f"  {path.stem}: {said} ({time.monotonic() - started:.0f} s)")
    write_csv(
        out_dir / "grades.csv",
        ["student", "exercise", "status", "message"],
        [dataclasses.asdict(row) for row in rows],
    )
    summary = summarise(rows)
    write_csv(out_dir / "summary.csv", list(summary[0]) if summary else ["exercise"], summary)
    write_html(out_dir / "summary.html", rows, summary, answers, timeout)
    write_answers(out_dir / "answers.md", answers)
    return rows


# ---------------------------------------------------------------------------------------------
# Inside the grading process: drive the kernel (python -m cnnlib.labs.grading NB PIDFILE TIMEOUT)
# ---------------------------------------------------------------------------------------------


def _run_in_kernel(notebook_path, executed_path, pid_file, timeout):
    import nbformat
    from nbclient import NotebookClient

    notebook_path = pathlib.Path(notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)

    def note_kernel(**_):
        pid = getattr(client.km.provisioner, "pid", None)
        if pid:
            pathlib.Path(pid_file).write_text(str(pid))

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,  # every exercise gets its chance, as when a learner runs cell by cell
        resources={"metadata": {"path": str(notebook_path.parent)}},
        on_notebook_start=note_kernel,
    )
    client.execute(env=dict(os.environ))
    nbformat.write(notebook, executed_path)


if __name__ == "__main__":
    _run_in_kernel(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
