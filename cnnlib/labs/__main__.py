"""python -m cnnlib.labs student OUTDIR   — the notebooks without solutions, for a class
python -m cnnlib.labs list               — every exercise: id, difficulty, kind, title"""

import argparse
import pathlib
import sys

from cnnlib.runtime.session import course_root


def main(argv=None):
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
    args = parser.parse_args(argv)

    if args.command == "list":
        from cnnlib.labs import REGISTRY

        for item in REGISTRY.values():
            print(f"{item.id:<24} {item.difficulty:<8} {item.kind:<11} {item.title}")
        return 0

    from cnnlib.labs.student import write_student_versions

    source = (
        args.notebooks
        or (course_root() or pathlib.Path(__file__).resolve().parents[2]) / "notebooks"
    )
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
