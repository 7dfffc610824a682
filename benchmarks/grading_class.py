"""How long does grading a class take? A class of one notebook, graded side by side, sealed.

Run from the repository root (as root, or with cgroups delegated; see INSTRUCTORS.md):

    python benchmarks/grading_class.py                       # 40 submissions of notebook 02
    python benchmarks/grading_class.py --students 8 --jobs 1

The class is made from the notebook's student export: every other submission untouched, the
others with the worked solutions (notebooks/solutions/) pasted at the end, as a student might.
It is graded with `cnn-course grade`'s own machinery into a scratch folder, and the run prints the
wall-clock time against the sum of the per-submission times (their ratio is what `--jobs` buys;
grading one at a time makes it 1.0), with the machine's cores and load average before and after,
since these machines are shared. With `--json FILE` the figures are also written there.

While a notebook's exercises are still in the older one-step form, nothing of them can be graded
outside the kernel; the benchmark then times the sealed runs alone (the same sandbox, runner and
kernel, with no trials to produce) and says so.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnlib.labs import solutions, student  # noqa: E402
from cnnlib.labs.grading import assignment as assignments  # noqa: E402
from cnnlib.labs.grading import classroom, judging, sandbox  # noqa: E402


def make_class(name, count, folder):
    """`count` submissions of notebook `name` in `folder`: untouched and all-solutions, alternating."""
    source = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    exported = student.student_notebook(source, assignment=name)
    solution_file = ROOT / "notebooks" / solutions.FOLDER / f"{name}.py"
    cells = solutions.parse(solution_file.read_text()) if solution_file.exists() else []
    solved = nbformat.from_dict(exported)
    solved.cells = list(solved.cells) + [
        nbformat.v4.new_code_cell(c.source) for c in cells if c.kind == "code"
    ]
    paths = []
    for index in range(count):
        path = folder / f"student{index + 1:02d}.ipynb"
        nbformat.write(solved if index % 2 else exported, path)
        paths.append(path)
    return paths


def load():
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


def time_runs_only(paths, jobs, timeout):
    """{student: seconds} of the sealed runs alone, `jobs` at a time."""

    def one(index, path):
        started = time.monotonic()
        run = sandbox.Run(
            path.read_bytes(), sandbox.Limits(), True, f"cnnlib-grade-{os.getpid()}-b{index}"
        )
        with tempfile.TemporaryDirectory() as scratch:
            (pathlib.Path(scratch) / "trials").mkdir()
            session = classroom.Session(run, pathlib.Path(scratch))
            run.start()
            import threading

            watchdog = threading.Timer(timeout, run.time_out)
            watchdog.start()
            try:
                session.converse(pathlib.Path(scratch) / "trials")
            finally:
                watchdog.cancel()
                run.close()
        if session.executed is None or run.timed_out:
            print(
                f"  {path.stem}: did not run through ({session.crash or 'timeout'})",
                file=sys.stderr,
            )
        return path.stem, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(lambda item: one(*item), enumerate(paths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="02_convolution")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    lacking = sandbox.missing()
    if lacking:
        raise SystemExit(f"cannot seal the submissions off here: {lacking} is missing")
    shipped = assignments.load(args.notebook, ROOT / "notebooks")
    gradable = [e for e in shipped.exercises if judging.gradable(e)]
    timeout = classroom.default_timeout(args.notebook, ROOT)
    before = load()
    with tempfile.TemporaryDirectory(prefix="grading-class-") as scratch:
        scratch = pathlib.Path(scratch)
        (scratch / "class").mkdir()
        paths = make_class(args.notebook, args.students, scratch / "class")
        started = time.monotonic()
        if gradable:
            mode = "graded (run sealed, values produced, judged by the grader)"
            result = classroom.grade(
                paths,
                scratch / "out",
                notebook=args.notebook,
                course_notebooks=ROOT / "notebooks",
                jobs=args.jobs,
                progress=print,
            )
            seconds = result["seconds"]
        else:
            mode = "sealed runs only (the notebook's exercises are not yet in the three-piece form)"
            seconds = time_runs_only(paths, args.jobs, timeout)
        wall = time.monotonic() - started
    after = load()
    total = sum(seconds.values())
    figures = {
        "notebook": args.notebook,
        "students": args.students,
        "jobs": args.jobs,
        "mode": mode,
        "wall_seconds": round(wall, 1),
        "sum_of_submission_seconds": round(total, 1),
        "ratio_sum_to_wall": round(total / wall, 2),
        "slowest_submission_seconds": round(max(seconds.values()), 1),
        "fastest_submission_seconds": round(min(seconds.values()), 1),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average_before": [round(x, 2) for x in before],
        "load_average_after": [round(x, 2) for x in after],
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
