"""python -m cnnlib.labs student OUTDIR              — the notebooks without solutions, for a class
python -m cnnlib.labs grade NB.ipynb ... --out DIR  — run and grade submissions (runs their code!)
python -m cnnlib.labs key [--out FILE]              — the answer key, from notebooks/solutions/
python -m cnnlib.labs list                          — every exercise: id, difficulty, kind, title"""

import argparse
import pathlib
import sys

from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.runtime.locations import require_course_root


def main(argv=None):
    tolerate_any_output_encoding()
    parser = argparse.ArgumentParser(
        prog="python -m cnnlib.labs", description="Exercises of the CNN course."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write the notebooks without solutions to OUTDIR")
    student.add_argument("outdir", type=pathlib.Path)
    student.add_argument(
        "--notebooks",
        type=pathlib.Path,
        default=None,
        help="folder of the course notebooks (default: notebooks/ of this course)",
    )
    commands.add_parser("list", help="list every exercise")
    grade = commands.add_parser(
        "grade",
        help="execute students' notebooks (their code runs with your rights!) and grade them",
    )
    grade.add_argument("submissions", nargs="+", type=pathlib.Path, help="one .ipynb per student")
    grade.add_argument("--out", type=pathlib.Path, required=True, help="folder for the results")
    grade.add_argument(
        "--timeout", type=float, default=600, help="seconds per notebook (default 600)"
    )
    key = commands.add_parser("key", help="write the printable answer key (HTML)")
    key.add_argument("--out", type=pathlib.Path, default=pathlib.Path("answer_key.html"))
    key.add_argument("--notebooks", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)

    if args.command == "grade":
        from cnnlib.labs.grading import grade as grade_class

        print(
            f"Grading {len(args.submissions)} submissions: each notebook's code runs now, "
            f"offline, in its own folder, for at most {args.timeout:g} s."
        )
        try:
            grade_class(args.submissions, args.out, timeout=args.timeout)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Wrote {args.out / 'grades.csv'}, summary.csv, summary.html and answers.md")
        return 0

    if args.command == "list":
        from cnnlib.labs import REGISTRY

        for item in REGISTRY.values():
            print(f"{item.id:<24} {item.difficulty:<8} {item.kind:<11} {item.title}")
        return 0

    source = args.notebooks or require_course_root("cnn-course student") / "notebooks"
    if args.command == "key":
        from cnnlib.labs.key import write_key

        try:
            count = write_key(source, args.out)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Wrote the answer key ({count} exercises) to {args.out}: print it from a browser")
        return 0

    from cnnlib.labs.student import write_student_versions

    try:
        written = write_student_versions(source, args.outdir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {len(written)} student notebooks (solutions removed) to {args.outdir}:")
    for path in written:
        print(f"  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
