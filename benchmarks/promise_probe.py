"""Rerun the bad-argument and shared-machine cases of issue 27 against a cnnlib checkout and count
what goes wrong: unsafe (a file lost or written through a link), hang (no end within the limit),
silent (exit 0 or a wrong result where a sentence and a failure were due, or files left in the
working folder), deep (a traceback).

    python benchmarks/promise_probe.py [CHECKOUT] [WORD]   # default: this checkout, every case

Each case runs `python -m cnnlib …` in a scratch folder with CHECKOUT first on PYTHONPATH, offline;
with WORD, only the cases whose name holds it ("grade", "key", "cache"). The exercises' commands
(student, key, grade, exercises) are probed with every argument the issue lists. Prints one line
per case and the counts; exits 0."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

LIMIT = 60  # seconds a case may take before it counts as a hang


def run(checkout, args, cwd, env=None, limit=LIMIT):
    """(exit status, or None when it was still running at the limit; output; seconds). A lab is
    stopped as soon as it says where it is open."""
    environ = dict(os.environ, PYTHONPATH=str(checkout), CNNLIB_OFFLINE="1", **(env or {}))
    start = time.monotonic()
    with tempfile.TemporaryFile("w+", errors="replace") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cnnlib", *args],
            cwd=cwd,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + limit
            while process.poll() is None and time.monotonic() < deadline:
                out.seek(0)
                if "The course is open" in out.read():
                    break
                time.sleep(0.3)
            status = process.poll()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 15)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait()
        try:  # whatever it left running (a worker orphaned by a crashed supervisor) goes too
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        out.seek(0)
        return status, out.read(), time.monotonic() - start


def fake_course(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "cnnlib").mkdir()
    return root


def cases(scratch, checkout):
    """(name, kind it was reported as, set-up → (args, cwd, env, judge))."""
    home = scratch / "keras"
    (home / "models").mkdir(parents=True)
    (home / "models" / "imagenet_class_index.json").write_text("{}")
    keras = {"KERAS_HOME": str(home)}
    listing = scratch / "list.json"
    empty = scratch / "empty_results"
    empty.mkdir()
    (scratch / "list_results" / "ci").mkdir(parents=True)
    (scratch / "list_results" / "ci" / "05_lenet5_mnist.json").write_text("[1, 2]")
    listing.write_text("[]")
    a_file = scratch / "a_file"
    a_file.write_text("x")

    def failing(status, output, _):
        """A wrong argument: one sentence and a non-zero exit is right."""
        if "Traceback" in output:
            return "deep"
        return "silent" if status == 0 else "ok"

    deep = failing

    yield "cache pack <folder>", lambda: (["cache", "pack", str(scratch)], scratch, keras, deep)
    yield "cache pack ''", lambda: (["cache", "pack", ""], scratch, keras, deep)

    def verify_folder():
        bad = scratch / "keras_bad"
        (bad / "datasets" / "mnist.npz").mkdir(parents=True)
        return ["cache", "verify"], scratch, {"KERAS_HOME": str(bad)}, deep

    yield "cache verify, a folder for a file", verify_folder
    yield (
        "cache status, KERAS_HOME a file",
        lambda: (["cache", "status"], scratch, {"KERAS_HOME": str(a_file)}, failing),
    )

    def pack_full_disk():
        stick = scratch / "stick"
        stick.mkdir()
        older = stick / "course.tar"
        older.write_bytes(b"older archive")
        os.chmod(stick, 0o555)  # as full as a stick can be: nothing new fits
        if os.geteuid() == 0:  # root writes anyway: a real small file system instead
            os.chmod(stick, 0o755)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(stick)])
            older.write_bytes(b"older archive")
        big = scratch / "keras_big"
        (big / "models").mkdir(parents=True)
        (big / "models" / "imagenet_class_index.json").write_bytes(os.urandom(30_000))

        def judge(status, output, _):
            kept = older.exists() and older.read_bytes() == b"older archive"
            subprocess.run(["umount", str(stick)], capture_output=True)
            return "ok" if kept and status else "unsafe"

        return ["cache", "pack", str(older)], scratch, {"KERAS_HOME": str(big)}, judge

    yield "cache pack onto a full stick keeps the older archive", pack_full_disk

    def pack_device():
        node = scratch / "fifo"
        os.mkfifo(node)

        def judge(status, output, _):
            return "ok" if node.is_fifo() and status else "unsafe"

        return ["cache", "pack", str(node)], scratch, keras, judge

    yield "cache pack onto a special file", pack_device

    def unpack_escape():
        path = scratch / "forged.tar"
        with tarfile.open(path, "w") as archive:
            info = tarfile.TarInfo("x\x1b[2K\rUnpacked 5 files; everything verified\n")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)

        def judge(status, output, _):
            return "unsafe" if "\x1b" in output or "\r" in output else "ok"

        return ["cache", "unpack", str(path)], scratch, keras, judge

    yield "cache unpack prints a name raw", unpack_escape

    def million_entries():
        path = scratch / "many.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for number in range(300_000):
                archive.addfile(tarfile.TarInfo(f"e{number}"))

        def judge(status, output, seconds):
            return "hang" if seconds > 10 else ("ok" if status else "silent")

        return ["cache", "unpack", str(path)], scratch, keras, judge

    yield "cache unpack, 300,000 empty entries (refused within 10 s)", million_entries

    course = fake_course(scratch / "course")

    def lab_args(*extra):
        return ["lab", "--no-browser", "--port", "18931", *extra]

    yield (
        "lab --student <file>",
        lambda: (lab_args("--student", str(a_file)), course, {}, deep),
    )
    yield "lab --student notebooks", lambda: (lab_args("--student", "notebooks"), course, {}, deep)
    yield (
        "CNNLIB_PROFILE=bogus lab",
        lambda: (lab_args(), course, {"CNNLIB_PROFILE": "bogus"}, deep),
    )

    def planted_start_page():
        victim = scratch / "victim.txt"
        victim.write_text("mine")
        page = course / "notebooks" / "START_HERE.ipynb"
        page.unlink(missing_ok=True)
        page.symlink_to(victim)

        def judge(status, output, _):
            return "ok" if victim.read_text() == "mine" else "unsafe"

        return lab_args(), course, {}, judge

    yield "lab writes its start page through a planted link", planted_start_page

    def read_only_home():
        def judge(status, output, _):
            if "The course is open" in output:
                return "ok"
            lines = [line for line in output.splitlines() if line.strip()]
            return "ok" if status and len(lines) <= 2 and "Traceback" not in output else "deep"

        return lab_args(), course, {"HOME": "/dev/null/home", "XDG_CACHE_HOME": ""}, judge

    yield "lab with a read-only HOME", read_only_home

    ports = iter(range(23456, 23556, 2))

    def distributed(*options):
        port = next(ports)
        config = json.dumps(
            {
                "cluster": {"worker": [f"localhost:{port}", f"localhost:{port + 1}"]},
                "task": {"type": "worker", "index": 0},
            }
        )
        return ["distributed", str(scratch / "out"), *options], scratch, {"TF_CONFIG": config}

    yield (
        "distributed --timeout inf",
        lambda: (*distributed("--timeout", "inf"), failing),
    )
    yield "distributed --steps 10**20", lambda: (*distributed("--steps", str(10**20)), failing)
    yield (
        "distributed --image-size 100000",
        lambda: (*distributed("--image-size", "100000", "--timeout", "5"), failing),
    )
    yield (
        "report --check, a results file that is a list",
        lambda: (
            ["report", "--check", "--results", str(scratch / "list_results")],
            checkout,
            {},
            deep,
        ),
    )

    def advises_blanking(status, output, seconds):
        """Telling the maintainer to run `report` on an empty folder would blank the tables."""
        verdict = failing(status, output, seconds)
        return "silent" if verdict == "ok" and "run cnn-course report" in output else verdict

    yield (
        "report --check --results <empty>",
        lambda: (["report", "--check", "--results", str(empty)], checkout, {}, advises_blanking),
    )
    yield from grading_cases(scratch, checkout, a_file, listing, failing)


def submission(path, assignment="02_convolution"):
    """A student's notebook as the export makes it (its assignment in the metadata), one cell."""
    cell = {"cell_type": "code", "metadata": {}, "source": "1 + 1", "outputs": []}
    cell["execution_count"] = None
    notebook = {"cells": [cell], "metadata": {"cnnlib": {"assignment": assignment}}}
    path.write_text(json.dumps({**notebook, "nbformat": 4, "nbformat_minor": 5}))
    return path


def empty_result():
    """rows.json of a grading run of notebook 02 with no students (every key `merge` reads)."""
    exercise = "02.convolve2d"
    return {
        "assignment": "02_convolution",
        "exercises": [exercise],
        "titles": {exercise: "convolution"},
        "points": {exercise: 2},
        "written_points": {exercise: 1},
        "written_exercises": [],
        "students": [],
        "rows": [],
        "answers": [],
        "seconds": {},
        "wall_seconds": 0,
        "timeout": 100.0,
        "sealed": True,
        "shard": None,
        "manual": {},
    }


def grading_cases(scratch, checkout, a_file, listing, failing):
    """The exercises' commands (cnnlib/labs/__main__.py): student, key, grade, exercises, each
    with the arguments a hurried instructor types. Each runs in a fresh empty working folder, and
    anything it leaves there (an export or results written into `.`) counts as silent."""
    numbers = iter(range(1000))

    def fresh():
        folder = scratch / f"cwd-{next(numbers)}"
        folder.mkdir()
        return folder

    def case(args, judge=failing):
        cwd = fresh()

        def judged(status, output, seconds):
            verdict = judge(status, output, seconds)
            return "silent" if verdict == "ok" and any(cwd.iterdir()) else verdict

        return args, cwd, {}, judged

    export = scratch / "export"  # a student export, as `cnn-course student` writes it
    ada = submission(scratch / "ada.ipynb")
    folder = scratch / "a_folder"
    folder.mkdir()
    shard = scratch / "shard_list"  # a results folder whose rows.json is not a run's
    shard.mkdir()
    (shard / "rows.json").write_text("[1, 2]")
    graded = scratch / "graded"  # the results of a class of nobody (what merge reads)
    graded.mkdir(mode=0o700)
    (graded / "rows.json").write_text(json.dumps(empty_result()))
    toml = scratch / "points.toml"
    toml.write_text("points = 3\n")

    def with_export(args):
        def make():
            status, output, _ = run(checkout, ["student", str(export)], scratch)
            if status != 0:
                raise RuntimeError(f"could not write the student export: {output[-300:]}")
            return case(args)

        return make

    yield "student ''", lambda: case(["student", ""])
    yield "student <file>", lambda: case(["student", str(a_file)])
    yield "student <file>/sub", lambda: case(["student", str(a_file / "sub")])
    yield "student --notebooks ''", lambda: case(["student", "out", "--notebooks", ""])
    yield "student --notebooks <file>", lambda: case(["student", "out", "--notebooks", str(a_file)])
    yield (
        "student --notebooks <empty folder>",
        lambda: case(["student", "out", "--notebooks", str(folder)]),
    )
    yield "key --out ''", lambda: case(["key", "--out", ""])
    yield "key --out <folder>", lambda: case(["key", "--out", str(folder)])
    yield "key --out <file>/key.html", lambda: case(["key", "--out", str(a_file / "key.html")])
    yield "key --notebooks ''", lambda: case(["key", "--notebooks", ""])
    yield "key --notebooks <file>", lambda: case(["key", "--notebooks", str(a_file)])
    yield "key --notebooks <student export>", with_export(["key", "--notebooks", str(export)])

    def grade(*extra):
        return ["grade", str(ada), "--notebook", "02_convolution", *extra]

    out = str(scratch / "grades")
    yield "grade --out ''", lambda: case(grade("--out", ""))
    yield "grade --out <file>", lambda: case(grade("--out", str(a_file)))
    yield "grade '' (a submission)", lambda: case(["grade", "", "--out", out])
    yield "grade <folder> (a submission)", lambda: case(["grade", str(folder), "--out", out])
    yield "grade <file> (not a notebook)", lambda: case(["grade", str(a_file), "--out", out])
    yield "grade --notebook ''", lambda: case(["grade", str(ada), "--notebook", "", "--out", out])
    yield "grade --points ''", lambda: case(grade("--out", out, "--points", ""))
    yield "grade --points <folder>", lambda: case(grade("--out", out, "--points", str(folder)))
    yield (
        "grade --points, a table that is a number",
        lambda: case(grade("--out", out, "--points", str(toml))),
    )
    for value in ("nan", "inf", "0", "-1", "1e308"):
        yield f"grade --timeout {value}", lambda v=value: case(grade("--out", out, "--timeout", v))
    for value in ("0", "-1", "abc"):
        yield f"grade --jobs {value}", lambda v=value: case(grade("--out", out, "--jobs", v))
    for value in ("3/2", "0/2", "x"):
        yield f"grade --shard {value}", lambda v=value: case(grade("--out", out, "--shard", v))
    yield "grade --seed ''", lambda: case(grade("--out", out, "--seed", ""))
    for value in ("nan", "0", ""):
        yield f"grade --memory {value!r}", lambda v=value: case(grade("--out", out, "--memory", v))
    yield "grade merge ''", lambda: case(["grade", "merge", "", "--out", out])
    yield "grade merge --out ''", lambda: case(["grade", "merge", str(graded), "--out", ""])
    yield (
        "grade merge, rows.json a list",
        lambda: case(["grade", "merge", str(shard), "--out", out]),
    )
    yield "grade merge <file>", lambda: case(["grade", "merge", str(listing), "--out", out])
    yield (
        "grade merge-scores ''",
        lambda: case(["grade", "merge-scores", "", "--scores", str(a_file)]),
    )
    yield (
        "grade merge-scores, rows.json a list",
        lambda: case(["grade", "merge-scores", str(shard), "--scores", str(a_file)]),
    )
    yield (
        "grade merge-scores --scores <folder>",
        lambda: case(["grade", "merge-scores", str(graded), "--scores", str(folder)]),
    )
    yield "exercises ''", lambda: case(["exercises", ""])
    yield "exercises <file>", lambda: case(["exercises", str(a_file)])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    checkout = pathlib.Path(argv[0] if argv else pathlib.Path(__file__).resolve().parents[1])
    word = argv[1] if len(argv) > 1 else ""
    counts = {"unsafe": 0, "hang": 0, "silent": 0, "deep": 0, "ok": 0}
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="promise-probe-"))
    try:
        for name, make in cases(scratch, checkout):
            if word not in name:
                continue
            args, cwd, env, judge = make()
            status, output, seconds = run(checkout, args, cwd, env)
            started = "The course is open" in output
            verdict = "hang" if status is None and not started else judge(status, output, seconds)
            counts[verdict] += 1
            last = (output.strip().splitlines() or [""])[-1][:110]
            print(f"{verdict:>6}  {name:<58} exit {status}  {seconds:5.1f} s  {last!r}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(", ".join(f"{kind} {number}" for kind, number in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
