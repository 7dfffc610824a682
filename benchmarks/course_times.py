"""How long does the course take? Execute every notebook in one profile, each as a whole process.

Run from the repository root:

    python benchmarks/course_times.py --profile lite            # all notebooks
    python benchmarks/course_times.py --profile ci 01 02        # only some of them

Each notebook runs in a fresh `jupyter nbconvert --execute` process (kernel start, TensorFlow
import and all), which is what a learner waits for. Beside the time, the kernel's peak memory
(the largest resident set of any process the run started, which is the kernel: COURSE.md keeps
it under 2 GB in the ci and lite profiles, what a Binder session gets). Results go to a scratch folder, so the run
changes no tracked file except results/benchmark/course_times.json, whose entry for the profile
records the seconds per notebook, the total, the machine, the date and the load average; `python -m
cnnlib.tools.report` takes the README's notebook times from it. Timings on a busy machine are longer:
the load average says how busy it was.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from cnnlib.runtime.course import notebook_paths
from cnnlib.tools import report

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROFILES = ("ci", "lite", "full")


# Runs a command and prints, last, the peak resident set (kB on Linux) of the largest process in
# its tree: getrusage(RUSAGE_CHILDREN) of a process that ran only that command, so notebooks
# timed one after another in this process do not share a maximum.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def time_notebook(path, profile, offline, scratch):
    """(seconds, peak MB of the kernel, ran without error?) of executing `path` in a fresh process."""
    env = {**os.environ, "CNNLIB_PROFILE": profile, "CNNLIB_RESULTS_DIR": str(scratch / "results")}
    if offline:
        env["CNNLIB_OFFLINE"] = "1"
    command = [
        sys.executable,
        "-c",
        PEAK_RSS,
        sys.executable,
        "-m",
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=7200",
        "--output-dir",
        str(scratch),
        str(path),
    ]
    start = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, cwd=path.parent)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        print(finished.stderr[-2000:], file=sys.stderr)
    last = (finished.stdout.strip().splitlines() or ["0"])[-1]
    peak_mb = int(last) / 1024 if last.isdigit() else float("nan")
    return seconds, peak_mb, finished.returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="lite")
    parser.add_argument(
        "--online",
        action="store_true",
        help="allow downloads (default: CNNLIB_OFFLINE=1, the offline path)",
    )
    parser.add_argument("notebooks", nargs="*", help="notebook numbers or stems (default: all)")
    args = parser.parse_args(argv)

    paths = notebook_paths(ROOT / "notebooks")
    if args.notebooks:
        paths = [p for p in paths if any(p.stem.startswith(n) for n in args.notebooks)]
        if not paths:
            parser.error(f"no notebook matches {args.notebooks}")
    machine = report.machine()
    print(
        f"Timing {len(paths)} notebooks in the {args.profile} profile on {machine} "
        f"({'online' if args.online else 'offline'})"
    )
    times, memory, failed = {}, {}, []
    with tempfile.TemporaryDirectory(prefix="course-times-") as scratch:
        for path in paths:
            seconds, peak_mb, ok = time_notebook(
                path, args.profile, not args.online, pathlib.Path(scratch)
            )
            times[path.stem] = round(seconds, 1)
            memory[path.stem] = round(peak_mb)
            failed += [] if ok else [path.stem]
            print(
                f"  {path.stem:<32} {seconds:7.1f} s  {peak_mb:6.0f} MB"
                + ("" if ok else "   FAILED")
            )
    total = round(sum(times.values()), 1)
    print(f"  {'total':<32} {total:7.1f} s")
    if failed:
        print(f"Not recorded: {', '.join(failed)} failed.", file=sys.stderr)
        return 1
    out = ROOT / "results" / "benchmark" / "course_times.json"
    recorded = json.loads(out.read_text()) if out.exists() else {"profiles": {}}
    previous = recorded["profiles"].get(args.profile, {})
    if args.notebooks:  # a partial run updates only the notebooks it timed
        times = {**previous.get("notebooks", {}), **times}
        memory = {**previous.get("kernel_peak_mb", {}), **memory}
        total = round(sum(times.values()), 1)
    recorded["what"] = (
        "wall-clock seconds of `jupyter nbconvert --execute`, one process per notebook, and the "
        "kernel's peak resident memory in MB (the largest process of that run)"
    )
    recorded["profiles"][args.profile] = {
        "network": "online" if args.online else "offline (CNNLIB_OFFLINE=1)",
        "machine": machine,
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average_1_5_15_min": ", ".join(f"{v:.1f}" for v in os.getloadavg()),
        "notebooks": times,
        "kernel_peak_mb": memory,
        "total_seconds": total,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")
    print(f"Written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
