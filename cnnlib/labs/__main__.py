"""cnn-course student OUTDIR                  — the notebooks without solutions, for a class
cnn-course grade NB.ipynb … --out DIR         — grade submissions, each sealed off (runs their code)
cnn-course grade merge DIR … --out DIR        — merge the shards of a class graded with --shard
cnn-course grade merge-scores DIR --scores F  — add hand-given scores (a filled manual.csv)
cnn-course key [--out FILE]                   — the answer key, from notebooks/solutions/
cnn-course exercises                          — every exercise: id, difficulty, kind, title

(`python -m cnnlib.labs COMMAND` is the same, with `list` for `exercises`.)"""

import argparse
import math
import pathlib
import sys

from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.runtime.locations import require_course_root


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds between 0 and 86400, got {text}"
        )
    return value


def _size(text):
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        number = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size such as 4G or 512M: {text!r}") from None
    if not math.isfinite(number) or number < 256 * 2**20:
        raise argparse.ArgumentTypeError("the memory limit must be at least 256M")
    return int(number)


def _path(text):
    """A file or folder name; an empty one is refused (it would mean the working folder)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name: give a file or folder")
    return pathlib.Path(text)


def _notebook_name(text):
    if not text:
        raise argparse.ArgumentTypeError("an empty name: give one such as 02_convolution")
    return text


def _secret(text):
    if not text:
        raise argparse.ArgumentTypeError(
            "an empty secret: anyone could draw the same trials; give a word only you know"
        )
    return text


def _shard(text):
    """K/N as given, once checked (1 ≤ K ≤ N)."""
    from cnnlib.labs.grading.classroom import Refused, parse_shard

    try:
        parse_shard(text)
    except Refused as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--shard ")) from None
    return text


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _installed(command, modules):
    """True when `modules` can be imported; else one sentence on standard error says what to install."""
    import importlib.util

    lacking = [module for module in modules if importlib.util.find_spec(module) is None]
    if lacking:
        print(
            f"error: cnn-course {command} needs {', '.join(lacking)}, which the course's lab extra "
            "installs (pip install 'cnnlib[lab]')",
            file=sys.stderr,
        )
    return not lacking


def grade_parser():
    from cnnlib.labs.grading import sandbox

    parser = argparse.ArgumentParser(
        prog="cnn-course grade",
        description="Grade students' notebooks: each runs sealed off (no network, its own files "
        "only, limited memory and processes) and the grader, not the notebook, decides each "
        "verdict. Also: `cnn-course grade merge` and `cnn-course grade merge-scores`.",
    )
    parser.add_argument(
        "submissions",
        nargs="+",
        type=_path,
        help="one .ipynb per student, named after the student",
    )
    parser.add_argument(
        "--out", type=_path, required=True, help="folder for the results (created private)"
    )
    parser.add_argument(
        "--notebook",
        type=_notebook_name,
        help="the assignment, e.g. 02_convolution (default: from the submissions' metadata)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        help="seconds per submission (default: a few times the notebook's measured time)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=None,
        help="submissions graded at once (default: the number of cores)",
    )
    parser.add_argument(
        "--memory",
        type=_size,
        default=sandbox.DEFAULT_MEMORY,
        help="memory per submission, e.g. 4G (default 4G)",
    )
    parser.add_argument(
        "--processes",
        type=_positive,
        default=sandbox.DEFAULT_PROCESSES,
        help=f"processes and threads per submission (default {sandbox.DEFAULT_PROCESSES})",
    )
    parser.add_argument(
        "--points",
        type=_path,
        default=None,
        help="a TOML file of points per exercise (default: warm-up 1, core 2, stretch 3)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        default=None,
        help="K/N: grade only the K-th of N parts of the class (merge them with `grade merge`)",
    )
    parser.add_argument(
        "--seed",
        type=_secret,
        default=None,
        help="make the trials reproducible from this secret (default: fresh random trials)",
    )
    parser.add_argument("--course-notebooks", type=_path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--unsealed",
        action="store_true",
        help="run the submissions WITHOUT the sandbox (where bubblewrap or cgroups are missing)",
    )
    return parser


def grade_command(argv):
    if argv[:1] == ["merge"]:
        parser = argparse.ArgumentParser(
            prog="cnn-course grade merge",
            description="Merge the shards of a class (folders graded with --shard K/N) into one set of results.",
        )
        parser.add_argument("shards", nargs="+", type=_path)
        parser.add_argument("--out", type=_path, required=True)
        args = parser.parse_args(argv[1:])
        from cnnlib.labs.grading import merge_shards

        try:
            merged = merge_shards(args.shards, args.out)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(
            f"Merged {len(args.shards)} shards ({len(merged['students'])} students) into {args.out}"
        )
        return 0
    if argv[:1] == ["merge-scores"]:
        parser = argparse.ArgumentParser(
            prog="cnn-course grade merge-scores",
            description="Add the scores written into a copy of manual.csv (written answers, rows under review) to the totals, gradebooks and feedback pages.",
        )
        parser.add_argument("out", type=_path, help="the results folder of a grading run")
        parser.add_argument(
            "--scores",
            type=_path,
            required=True,
            help="manual.csv with its score column filled in",
        )
        args = parser.parse_args(argv[1:])
        from cnnlib.labs.grading import merge_scores

        try:
            count = merge_scores(args.out, args.scores)
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(
            f"Added {count} scores; rewrote the gradebooks, grades.csv and the feedback pages in {args.out}"
        )
        return 0

    args = grade_parser().parse_args(argv)
    if not _installed("grade", ("nbclient", "nbformat", "nbconvert", "ipykernel", "jinja2")):
        return 2
    from cnnlib.labs.grading import Interrupted, Refused, grade
    from cnnlib.labs.grading.assignment import terminal
    from cnnlib.labs.grading.sandbox import Limits

    def progress(line):
        print(terminal(line), flush=True)

    print(
        f"Grading {len(args.submissions)} submissions: each notebook's code runs now, "
        + ("WITHOUT a sandbox (--unsealed)." if args.unsealed else "sealed off, offline."),
        flush=True,
    )
    try:
        result = grade(
            args.submissions,
            args.out,
            notebook=args.notebook,
            course_notebooks=args.course_notebooks,  # None: grade() finds the checkout's
            timeout=args.timeout,
            jobs=args.jobs,
            limits=Limits(memory=args.memory, processes=args.processes),
            sealed=not args.unsealed,
            shard=args.shard,
            seed=args.seed,
            points_file=args.points,
            progress=progress,
        )
    except Refused as error:
        print(f"error: {terminal(error)}", file=sys.stderr)
        return 2
    except Interrupted as error:
        print(terminal(error), file=sys.stderr)
        return 130
    print(
        f"Wrote {args.out}: grades.csv, gradebook_canvas.csv, gradebook_moodle.csv, summary.html, "
        f"feedback/ ({len(result['students'])} pages), answers.md and manual.csv "
        f"({result['wall_seconds']:.0f} s)"
    )
    return 0


def main(argv=None):
    tolerate_any_output_encoding()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["grade"]:
        return grade_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="cnn-course",
        description="Exercises of the CNN course.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write the notebooks without solutions to OUTDIR")
    student.add_argument("outdir", type=_path)
    student.add_argument(
        "--notebooks",
        type=_path,
        default=None,
        help="folder of the course notebooks (default: notebooks/ of this course)",
    )
    commands.add_parser("exercises", aliases=["list"], help="list every exercise")
    commands.add_parser("grade", help="grade submitted notebooks (see `cnn-course grade --help`)")
    key = commands.add_parser("key", help="write the printable answer key (HTML)")
    key.add_argument(
        "--out",
        type=_path,
        default=pathlib.Path("answer_key.html"),
        help="the HTML file to write (default: answer_key.html)",
    )
    key.add_argument(
        "--notebooks",
        type=_path,
        default=None,
        help="folder of the course notebooks, beside their solutions/ (default: notebooks/ of this course)",
    )
    args = parser.parse_args(argv)

    if args.command in ("exercises", "list"):
        from cnnlib.labs import REGISTRY

        for item in REGISTRY.values():
            note = "" if item.in_notebook else " (no notebook asks it: a fixed id for tools)"
            print(f"{item.id:<24} {item.difficulty:<8} {item.kind:<11} {item.title}{note}")
        return 0

    needs = ("jinja2",) if args.command == "key" else ("nbformat", "nbconvert")
    if not _installed(args.command, needs):
        return 2
    source = args.notebooks or require_course_root(f"cnn-course {args.command}") / "notebooks"
    if args.command == "key":
        from cnnlib.labs.key import write_key

        try:
            count = write_key(
                source, args.out, warn=lambda line: print(f"warning: {line}", file=sys.stderr)
            )
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
