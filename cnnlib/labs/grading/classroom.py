"""Grade a class: check everything first, then run the submissions side by side, each sealed.

`grade` validates its inputs before anything runs (the submissions readable, their names usable
and distinct, the assignment known, `--timeout` finite and positive, `--out` private and
writable, the sandbox available), takes the output folder's lock, and grades the submissions
`jobs` at a time. Each one is saved as soon as it is graded, so SIGTERM or Ctrl+C (which end
every sandbox at once) or a killed grader lose nothing that was done: run the same command again
and it goes on where it stopped.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import signal
import tempfile
import threading
import time

from cnnlib.labs.grading import assignment as assignments
from cnnlib.labs.grading import folder, judging, reports, runner, sandbox

EXECUTED_LIMIT = 64 * 2**20
VALUES_LIMIT = 64 * 2**20
VALUES_FILES = 500
DEFAULT_TIMEOUT = 600.0
TIMEOUT_FACTOR = 5  # the default timeout: this many times the notebook's measured ci time
TIMEOUT_FLOOR = 120.0


class Refused(ValueError):
    """Grading cannot start; the message is one sentence for the instructor."""


class Interrupted(Exception):
    """SIGTERM or Ctrl+C: every sandbox is ended; the message says what was kept."""


@dataclasses.dataclass
class Options:
    timeout: float
    jobs: int
    limits: sandbox.Limits
    sealed: bool
    seed: object = None


def default_timeout(notebook_name, course_root=None):
    """A few times the notebook's measured ci time (results/benchmark/course_times.json), at least
    TIMEOUT_FLOOR seconds; DEFAULT_TIMEOUT when it was never measured."""
    from cnnlib.runtime.locations import course_root as find_root

    root = course_root or find_root()
    if root is None:  # outside a checkout: no measured times to scale
        return DEFAULT_TIMEOUT
    path = pathlib.Path(root) / "results" / "benchmark" / "course_times.json"
    try:
        seconds = json.loads(path.read_text())["profiles"]["ci"]["notebooks"][notebook_name]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_TIMEOUT
    return max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * float(seconds))


def check_timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise Refused(f"--timeout must be a number of seconds, got {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0 or timeout > 86400:
        raise Refused(
            f"--timeout must be a finite number of seconds between 0 and 86400, got {timeout:g}"
        )
    return float(timeout)


def parse_shard(text):
    """(k, n) from "K/N" (1 ≤ K ≤ N), or Refused."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise Refused(f"--shard takes K/N, e.g. 2/8, got {text!r}") from None
    if not 1 <= k <= n:
        raise Refused(f"--shard K/N needs 1 ≤ K ≤ N, got {text!r}")
    return k, n


# ---------------------------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------------------------


def _rows(name, exercises, points, status, message):
    return [_row(name, e, points, status, message) for e in exercises]


def _row(name, exercise_id, points, status, message):
    return {
        "student": name,
        "exercise": exercise_id,
        "status": status,
        "message": message,
        "points": points[exercise_id] if status == "correct" else 0,
        "max_points": points[exercise_id],
    }


def _check_cells(notebook):
    """{exercise id: [code cell index, …]} of the cells that call its check."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            for exercise_id in assignments.CHECK_CALL.findall(cell.source):
                found.setdefault(exercise_id, []).append(index)
    return found


def _first_error(cells):
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, f"{str(output.get('ename'))[:200]}: {str(output.get('evalue'))[:500]}"
    return None


def _check_cell_error(exercise_id, notebook, executed):
    """ "the exercise's cell raised …" when a cell calling the exercise's check failed, else None."""
    cells = _check_cells(notebook).get(exercise_id) or []
    if len(executed.cells) < len(notebook.cells):
        return None
    error = _first_error([executed.cells[i] for i in cells])
    return f"the exercise's cell raised {error[1]}" if error else None


def _why_missing(exercise_id, notebook, executed):
    """Why an exercise produced no value: its cell raised, it was never checked, …"""
    cells = _check_cells(notebook).get(exercise_id)
    if not cells:
        return "the notebook does not call this exercise's check"
    if executed is None or len(executed.cells) < len(notebook.cells):
        return "the notebook's run ended before this exercise's check"
    error = _first_error([executed.cells[i] for i in cells])
    if error is None:
        return "the check of this exercise did not record an answer (was labs.check replaced?)"
    code = [c for c in executed.cells if c.cell_type == "code"]
    first = _first_error(code)
    message = f"the exercise's cell raised {error[1]}"
    if first and code[first[0]] is not executed.cells[cells[0]]:
        message += f" (the first error was in code cell {first[0] + 1}: {first[1]})"
    return message


class Session:
    """Talks to one sandboxed runner: executed notebook first, then trials, then values."""

    def __init__(self, run, work):
        self.run, self.work = run, work
        self.executed = None
        self.died = None
        self.skipped = []  # [{"cell": index, "status": exit status}] of the cells run again without
        self.produced_error = None
        self.crash = None
        self.ended = False

    def _frames(self, until):
        while True:
            try:
                frame = runner.read_frame(self.run.receive, max(EXECUTED_LIMIT, VALUES_LIMIT))
            except (ValueError, OSError) as error:
                self.crash = f"the sandbox sent something that is not the runner's: {error}"
                return False
            if frame is None:
                return False
            name, data = frame
            if name == "crash":
                self.crash = data.decode("utf-8", "replace")[:500]
                return False
            if self._take(name, data) == until:
                return True

    def _take(self, name, data):
        import nbformat

        if name == "executed.ipynb":
            try:
                self.executed = nbformat.reads(data.decode("utf-8", "replace"), as_version=4)
            except Exception:  # the executed copy only explains errors; without it we say less
                self.executed = None
        elif name == "ran":
            ran = _json(data)
            self.died = ran.get("died") if isinstance(ran.get("died"), dict) else None
            skipped = ran.get("skipped") if isinstance(ran.get("skipped"), list) else []
            self.skipped = [e for e in skipped[:10] if isinstance(e, dict)]
        elif name == "produced":
            self.produced_error = _json(data).get("error")
        elif name.startswith("values/"):
            file = name[len("values/") :]
            values = self.work / "values"
            values.mkdir(exist_ok=True)
            if judging.VALUE_NAME.match(file) and len(os.listdir(values)) < VALUES_FILES:
                (values / file).write_bytes(data[:VALUES_LIMIT])
        elif name == "end":
            self.ended = True
        return name

    def converse(self, trials_dir):
        if not self._frames(until="ran"):
            return
        if self.died:
            return
        try:
            for path in sorted(pathlib.Path(trials_dir).iterdir()):
                runner.write_frame(self.run.send, f"trials/{path.name}", path.read_bytes())
            runner.write_frame(self.run.send, "go", b"")
            self.run.send.close()
        except (BrokenPipeError, OSError):
            return
        self._frames(until="end")


def _json(data):
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def grade_one(task, assignment, options, points, running, stop):
    """The record of one submission: its rows, answers and timing."""
    import nbformat

    name, raw = task["name"], task["bytes"]
    if stop.is_set():
        return None
    started = time.monotonic()
    record = {
        "student": name,
        "sha256": task["sha256"],
        "assignment": assignment.name,
        "answers": [],
    }
    exercises = assignment.exercises

    def finish(rows):
        record["rows"] = rows
        record["seconds"] = round(time.monotonic() - started, 1)
        return record

    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # not JSON, not a notebook, not UTF-8: this student's rows only
        return finish(
            _rows(name, exercises, points, "error", f"not a readable notebook: {str(error)[:300]}")
        )
    declared = assignments.declared_notebook(notebook)
    if declared is not None and not assignments.same_notebook(declared, assignment):
        return finish(
            _rows(
                name,
                exercises,
                points,
                "error",
                f"this file is notebook {declared}, not {assignment.name} (the assignment): nothing was run",
            )
        )
    record["answers"] = [
        {"student": name, "exercise": e, "text": text[:20000]}
        for e, text in assignments.collect_answers(notebook)
    ]
    found = {}
    if exercises and not stop.is_set():
        found = _run_and_judge(name, raw, notebook, exercises, task, options, running, stop)
    reasons = assignments.review_reasons(notebook, assignment)
    rows = []
    for exercise_id in exercises:
        status, message = found.get(exercise_id, ("error", "grading was interrupted"))
        if status == "correct" and exercise_id in reasons:
            status, message = "review", f"{reasons[exercise_id]} (the answer itself was right)"
        rows.append(_row(name, exercise_id, points, status, message))
    return finish(rows)


def _run_and_judge(name, raw, notebook, gradable, task, options, running, stop):
    with tempfile.TemporaryDirectory(prefix="cnnlib-grade-") as scratch:
        work = pathlib.Path(scratch)
        run = sandbox.Run(
            raw, options.limits, options.sealed, f"cnnlib-grade-{os.getpid()}-{task['index']}"
        )
        watchdog = threading.Timer(options.timeout, run.time_out)
        session = Session(run, work)
        try:
            run.start()
        except OSError as error:
            return {e: ("error", f"the sandbox could not start: {error}") for e in gradable}
        running.add(run)
        try:
            watchdog.start()
            if stop.is_set():
                run.stop()
            master = judging.master_seed(options.seed, task["sha256"])
            trials = judging.write_trials(gradable, master, work / "trials")
            session.converse(work / "trials")
        finally:
            watchdog.cancel()
            run.stop()
            over_limit = run.verdict_of_limits()  # read before the cgroups are removed
            run.close()
            running.discard(run)
        if stop.is_set():
            return {e: ("error", "grading was interrupted") for e in gradable}
        general = None
        if run.timed_out:
            general = f"the notebook did not finish within {options.timeout:g} s (a loop that never ends?)"
        elif over_limit:
            general = over_limit
        elif session.died:
            cells = [*session.skipped, session.died]
            general = (
                f"the kernel ended in {_ended_cells(notebook, cells)}, so nothing it recorded "
                "could be graded"
            )
            if session.skipped:
                general += " (the notebook was run again without each cell that ended it, in vain)"
        elif session.crash:
            general = f"the notebook could not be run ({session.crash})"
        elif not session.ended and session.executed is None:
            general = "the notebook could not be run (the sandbox ended without a word)"
        if general:
            return {e: ("error", general) for e in gradable}
        found = judging.verdicts(work / "values", trials)
        note = None
        if session.skipped:
            note = (
                f"The kernel ended in {_ended_cells(notebook, session.skipped)}: these rows come "
                f"from a run of the notebook without {'it' if len(session.skipped) == 1 else 'them'}."
            )
        for exercise_id in gradable:
            if found.get(exercise_id, ("",))[0] == "not attempted" and session.executed is not None:
                raised = _check_cell_error(exercise_id, notebook, session.executed)
                if raised:  # the check never ran because its cell failed first
                    found[exercise_id] = ("error", raised)
            if exercise_id not in found:
                why = _why_missing(exercise_id, notebook, session.executed)
                if session.produced_error:
                    why += f"; producing the answers raised {session.produced_error[:300]}"
                found[exercise_id] = ("error", why)
        if note:
            found = {
                e: (status, f"{m.rstrip('. ')}. {note}" if m else note)
                for e, (status, m) in found.items()
            }
        return found


def _ended_cells(notebook, ended):
    """ "code cell 7 (`os._exit(0)`, exit status 0)", for the cells that ended the kernel."""
    said = []
    for entry in ended:
        index, status = entry.get("cell"), entry.get("status")
        if type(index) is not int or not 0 <= index < len(notebook.cells):
            continue
        number = sum(c.cell_type == "code" for c in notebook.cells[: index + 1])
        first = (notebook.cells[index].source.strip().splitlines() or [""])[0][:60]
        how = "no exit status"
        if type(status) is int and status >= 0:
            how = f"exit status {status}"
        elif type(status) is int:
            try:
                how = signal.Signals(-status).name
            except ValueError:
                how = f"signal {-status}"
            how += ", the memory limit or killed from outside" if status == -9 else ""
        said.append(f"code cell {number} (`{first}`, {how})")
    if not said:
        return "a cell"
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


# ---------------------------------------------------------------------------------------------
# The class
# ---------------------------------------------------------------------------------------------


def _read_submissions(paths):
    tasks, unreadable = [], []
    for path in paths:
        path = pathlib.Path(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            unreadable.append(f"{assignments.terminal(path)} ({error.strerror})")
            continue
        tasks.append({"path": path, "bytes": data, "sha256": hashlib.sha256(data).hexdigest()})
    if unreadable:
        raise Refused(f"cannot read these submissions: {', '.join(unreadable)}")
    return tasks


def _assignment_name(tasks, notebook, course_notebooks):
    if notebook:
        return notebook
    import nbformat

    declared = {}
    for task in tasks:
        try:
            nb = nbformat.reads(task["bytes"].decode("utf-8"), as_version=4)
        except Exception:
            continue
        name = assignments.declared_notebook(nb)
        if name:
            declared.setdefault(name, []).append(task["name"])
    full = {n for n in declared if len(n) > 2}
    if len(full) == 1 and all(n in full or any(f.startswith(n) for f in full) for n in declared):
        return full.pop()
    if not declared:
        raise Refused(
            "cannot tell which notebook the submissions are: pass --notebook NN_name (e.g. --notebook 02_convolution)"
        )
    counts = ", ".join(f"{n}: {len(s)}" for n, s in sorted(declared.items()))
    if len(declared) == 1:  # only a prefix ("02"): the course notebook with that number
        prefix = next(iter(declared))
        matches = sorted(p.stem for p in pathlib.Path(course_notebooks).glob(f"{prefix}_*.ipynb"))
        if len(matches) == 1:
            return matches[0]
    raise Refused(f"the submissions are of different notebooks ({counts}): pass --notebook NN_name")


def grade(
    submissions,
    out,
    notebook=None,
    course_notebooks=None,
    timeout=None,
    jobs=None,
    limits=None,
    sealed=True,
    shard=None,
    seed=None,
    points_file=None,
    progress=print,
):
    """Grade `submissions` into the folder `out`; return the result (also in out/rows.json).

    Raises Refused before anything runs when the inputs or the machine do not allow grading,
    Interrupted after SIGTERM or Ctrl+C (what was graded is kept for the next run).
    """
    from cnnlib.runtime.locations import course_root

    paths = [pathlib.Path(p) for p in submissions]
    if not paths:
        raise Refused("no submissions given: pass the students' .ipynb files")
    if course_notebooks is None:
        root = course_root()
        if root is None:
            raise Refused(
                "cannot find the course's notebooks: run cnn-course grade inside the course "
                "checkout"
            )
        course_notebooks = root / "notebooks"
    course_notebooks = pathlib.Path(course_notebooks)
    try:
        names = assignments.student_names(paths)
    except ValueError as error:
        raise Refused(str(error)) from None
    tasks = _read_submissions(paths)
    for task in tasks:
        task["name"] = names[task["path"]]
    try:
        assignment = assignments.load(
            _assignment_name(tasks, notebook, course_notebooks), course_notebooks
        )
        points, written = reports.load_points(points_file, assignment.exercises)
    except ValueError as error:
        raise Refused(str(error)) from None
    timeout = check_timeout(default_timeout(assignment.name) if timeout is None else timeout)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise Refused(f"--jobs must be a whole number ≥ 1, got {jobs!r}")
    if sealed:
        lacking = sandbox.missing()
        if lacking:
            raise Refused(
                f"cannot seal the submissions off: {lacking}; see INSTRUCTORS.md, Grading a "
                "class, or pass --unsealed to run them without a sandbox"
            )
    k_n = parse_shard(shard) if shard else None
    tasks.sort(key=lambda t: t["name"])
    for index, task in enumerate(tasks):
        task["index"] = index
    if k_n:
        tasks = [t for t in tasks if t["index"] % k_n[1] == k_n[0] - 1]
    try:
        out = folder.prepare(out)
    except folder.FolderError as error:
        raise Refused(str(error)) from None
    options = Options(timeout, jobs, limits or sandbox.Limits(), sealed, seed)
    if sealed:
        sandbox.remove_stale_cgroups()
    try:
        with folder.locked(out):
            return _grade_locked(
                tasks, assignment, options, points, written, out, k_n, shard, progress
            )
    except folder.FolderError as error:
        raise Refused(str(error)) from None


def _grade_locked(tasks, assignment, options, points, written, out, k_n, shard, progress):
    from cnnlib.labs import REGISTRY

    for stale in (
        "grades.csv",
        "gradebook_canvas.csv",
        "gradebook_moodle.csv",
        "summary.csv",
        "summary.html",
        "rows.json",
    ):
        (out / stale).unlink(missing_ok=True)
    records, todo = {}, []
    for task in tasks:
        saved = folder.load_done(out, task["name"], task["sha256"], assignment.name)
        if saved is not None:
            records[task["name"]] = saved
        else:
            todo.append(task)
    folder.mark_incomplete(
        out,
        f"Grading of {assignment.name} in progress or interrupted: {len(records)} of {len(tasks)} "
        "submissions graded. Run the same command again to finish; the tables are written at the end.\n",
    )
    if records:
        progress(f"  {len(records)} submissions already graded (unchanged since): kept")
    stop, running = threading.Event(), set()

    def interrupt(signum, _frame):
        stop.set()
        for run in list(running):
            run.stop()

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            handlers[signum] = signal.signal(signum, interrupt)
    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
            futures = {
                pool.submit(grade_one, task, assignment, options, points, running, stop): task
                for task in todo
            }
            for future in concurrent.futures.as_completed(futures):
                record = future.result()
                if stop.is_set() or record is None:
                    continue
                folder.save_done(out, record["student"], record)
                records[record["student"]] = record
                counts = {
                    s: sum(r["status"] == s for r in record["rows"]) for s in reports.STATUSES
                }
                said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                progress(f"  {record['student']}: {said} ({record['seconds']:.0f} s)")
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if stop.is_set():
        kept = len(records)
        folder.mark_incomplete(
            out,
            f"Grading of {assignment.name} was interrupted: {kept} of {len(tasks)} submissions graded "
            "and kept in .work/done/. Run the same command again to grade the rest.\n",
        )
        raise Interrupted(
            f"interrupted: every sandbox was ended; {kept} of {len(tasks)} graded submissions are kept "
            f"in {out} and the same command grades the other {len(tasks) - kept}"
        )
    ordered = [records[t["name"]] for t in tasks]
    result = {
        "assignment": assignment.name,
        "exercises": assignment.exercises,
        "titles": {e: REGISTRY[e].title for e in assignment.exercises},
        "points": points,
        "written_points": written,
        "written_exercises": sorted(
            {e for e, _ in assignments.collect_answers(assignment.shipped)}
            & set(assignment.exercises)
        ),
        "students": [r["student"] for r in ordered],
        "rows": [row for r in ordered for row in r["rows"]],
        "answers": [a for r in ordered for a in r["answers"]],
        "seconds": {r["student"]: r["seconds"] for r in ordered},
        "wall_seconds": round(time.monotonic() - started, 1),
        "timeout": options.timeout,
        "sealed": options.sealed,
        "shard": shard,
        "manual": {},
    }
    reports.write_all(out, result)
    folder.clear_incomplete(out)
    return result
