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

Each submission goes through all of grading: the sealed run, the values produced from the
grader's trials, the verdicts decided in the grader. Every exercise of the course is graded that
way (none is left in the older form judged inside the kernel); the run fails if the class does
not come out as made (every exercise `correct` for the solved half, `not attempted` for the
untouched half), so a timing is never taken of a grading that went wrong.

Measured: see docs/grading-at-scale.md, *How long a class takes*.
"""

import argparse
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
from cnnlib.labs.grading import classroom, sandbox  # noqa: E402


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="02_convolution")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    lacking = sandbox.missing()
    if lacking:
        raise SystemExit(f"cannot seal the submissions off here: {lacking}")
    before = load()
    with tempfile.TemporaryDirectory(prefix="grading-class-") as scratch:
        scratch = pathlib.Path(scratch)
        (scratch / "class").mkdir()
        paths = make_class(args.notebook, args.students, scratch / "class")
        started = time.monotonic()
        result = classroom.grade(
            paths,
            scratch / "out",
            notebook=args.notebook,
            course_notebooks=ROOT / "notebooks",
            jobs=args.jobs,
            progress=print,
        )
        wall = time.monotonic() - started
    seconds = result["seconds"]
    expected = {p.stem: "correct" if i % 2 else "not attempted" for i, p in enumerate(paths)}
    wrong = [r for r in result["rows"] if r["status"] != expected[r["student"]]]
    if wrong:
        raise SystemExit(f"the class did not come out as made, no timing: {wrong[:3]}")
    after = load()
    total = sum(seconds.values())
    figures = {
        "notebook": args.notebook,
        "students": args.students,
        "jobs": args.jobs,
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
