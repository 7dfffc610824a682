"""Rerun the bad-argument and shared-machine cases of issue 27 against a cnnlib checkout and count
what goes wrong: unsafe (a file lost or written through a link), hang (no end within the limit),
silent (exit 0 or a wrong result where a sentence and a failure were due), deep (a traceback).

    python benchmarks/promise_probe.py [CHECKOUT]   # default: this checkout

Each case runs `python -m cnnlib …` in a scratch folder with CHECKOUT first on PYTHONPATH, offline.
The grading commands (student, grade, key) are probed too, though another part of the course
owns them. Prints one line per case and the counts; exits 0.
"""

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
    # The grading commands (cnnlib/labs/__main__.py, owned by the grading part of the course).
    yield "student <file>", lambda: (["student", str(a_file)], scratch, {}, deep)
    yield "student ''", lambda: (["student", ""], scratch, {}, failing)
    yield (
        "grade --out <file>",
        lambda: (["grade", str(a_file), "--out", str(a_file)], scratch, {}, deep),
    )
    yield "grade --out ''", lambda: (["grade", str(a_file), "--out", ""], scratch, {}, failing)
    yield "key --out <folder>", lambda: (["key", "--out", str(scratch)], scratch, {}, deep)
    yield "key --out ''", lambda: (["key", "--out", ""], scratch, {}, deep)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    checkout = pathlib.Path(argv[0] if argv else pathlib.Path(__file__).resolve().parents[1])
    counts = {"unsafe": 0, "hang": 0, "silent": 0, "deep": 0, "ok": 0}
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="promise-probe-"))
    try:
        for name, make in cases(scratch, checkout):
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
