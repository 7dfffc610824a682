"""Open the course in JupyterLab: `python -m cnnlib.tools.lab` (README command 1 ends with it).

Plain `jupyter lab` trips over three things in a lab room: it refuses to start as root (many
containers), it listens on 127.0.0.1 only (unreachable from outside a container), and it buries
the address to open, token included, in a page of log lines. This launcher

- writes the course's start page (notebooks/START_HERE.ipynb, not tracked by git) with the
  notebook list, the profile this machine will use and how long each notebook takes in it;
- starts JupyterLab on that page, adding --allow-root when run as root and, with --container,
  --ip=0.0.0.0 and --no-browser;
- prints one line with the URL to open, and keeps JupyterLab's own log in a file.

On a shared machine (a lab room's server) nothing of it is visible to the other users: the
server's access token is handed over in its environment (JUPYTER_TOKEN), which only its owner
can read, never on its command line, which `ps` shows everyone; the log goes to a folder of the
user's own (mode 0700 in the user's cache), opened without following links.

    python -m cnnlib.tools.lab                 # on a laptop or workstation
    python -m cnnlib.tools.lab --container     # inside Docker/Podman: listen on every interface
    python -m cnnlib.tools.lab --port 9000     # another port
    python -m cnnlib.tools.lab --student       # the student version (no solutions), in build/student
"""

import argparse
import importlib.metadata
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time

from cnnlib.runtime import locations
from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.runtime.profiles import PROFILE_VARIABLE, choose_profile

START_PAGE = "START_HERE.ipynb"
TOKEN_VARIABLE = "JUPYTER_TOKEN"  # read by jupyter_server's IdentityProvider


def course_folder():
    """The course checkout (see `cnnlib.runtime.locations.course_root`), or one sentence."""
    return locations.require_course_root("the lab")


def gpu_likely():
    """A quick guess, without importing TensorFlow (10 s): an NVIDIA GPU and TensorFlow's CUDA wheels."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    if listed.returncode != 0 or "GPU" not in listed.stdout:
        return False
    names = {
        dist.metadata["Name"].lower()
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return any(name.startswith("nvidia-cudnn") for name in names)


def measured_times(profile):
    """The course-time benchmark's entry for `profile` (results/benchmark/course_times.json), or {}."""
    from cnnlib.tools.report import course_times

    return course_times(course_folder() / "results").get(profile, {})


def start_page(profile, reason):
    """The start page as a notebook of Markdown cells: what to run, in which order, how long."""
    import nbformat

    from cnnlib.runtime.course import NOTEBOOKS

    times = measured_times(profile)
    rows = ["| # | notebook | what you learn | time here |", "| --- | --- | --- | --- |"]
    for stem, lesson in NOTEBOOKS.items():
        seconds = times.get("notebooks", {}).get(stem)
        when = (
            f"about {seconds / 60:.0f} min"
            if seconds and seconds >= 90
            else (f"about {seconds:.0f} s" if seconds else "not measured")
        )
        rows.append(f"| {stem[:2]} | [{stem}]({stem}.ipynb) | {lesson} | {when} |")
    measured = (
        f"Times: measured for the `{profile}` profile on {times['machine']} "
        f"({times['recorded'][:10]}), whole notebook including start-up."
        if times
        else f"No times have been measured for the `{profile}` profile yet."
    )
    cells = [
        "# Convolutional neural networks, hands on — start here\n\n"
        "Work through the notebooks **in order**: each one builds on the one before. Open one, then "
        "run its cells from the top (Shift+Enter runs one cell; *Run ▸ Run All Cells* runs them all).",
        f"## This machine\n\nThe notebooks will run in the **`{profile}` profile** ({reason}). "
        "`ci` is a quick smoke run, `lite` a meaningful run on a laptop CPU, `full` the real course on "
        f"a GPU. To choose another, start the lab with `{PROFILE_VARIABLE}=lite` (or `ci`, `full`) in "
        "front of the command. Every notebook's first cell prints the profile and the device it uses.",
        "## The notebooks\n\n" + "\n".join(rows) + f"\n\n{measured}",
        "## Exercises\n\n"
        "Every notebook ends with exercises marked *warm-up*, *core* or *stretch*. Write your answer "
        "in the cell with the stub, run it, and the check below it answers: ✓ when it is right; an "
        "explanation and a hint when it is not; *not attempted yet* while the stub is untouched. "
        "Before a *predict* exercise, run the lecture part (Run > Run All Above Selected Cell), not "
        "Run All. Worked solutions are in `solutions/NN_name.py` next to the notebooks: open one "
        "once you have tried.",
        "## Where your work goes\n\n"
        "Running a notebook changes no file of the course. Results are written to an untracked "
        "folder that the first cell prints; checkpoints of long trainings go to `checkpoints/`, "
        "so a restarted kernel resumes where it stopped. Downloads (MNIST, VGG16's weights, the "
        "photos) are cached by Keras in `~/.keras` (or `$KERAS_HOME`); without a network each "
        "notebook says so in one sentence and uses the documented offline fallback.",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(text) for text in cells]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def write_start_page(notebooks_dir):
    import nbformat

    profile, reason = choose_profile(has_gpu=gpu_likely())
    path = pathlib.Path(notebooks_dir) / START_PAGE
    nbformat.write(start_page(profile, reason), path)
    return path, profile


def free_port(preferred):
    for port in range(preferred, min(preferred + 50, 65536)):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    last = min(preferred + 49, 65535)
    raise SystemExit(f"No free port between {preferred} and {last}; pass another --port.")


def server_environment(token):
    """The server's environment: this one plus the token, which only the server's owner can read."""
    return {**os.environ, TOKEN_VARIABLE: token}


def open_log(port):
    """JupyterLab's log, in a folder only this user can enter; a link in its place is refused."""
    folder = locations.user_cache_dir() / "lab"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / f"jupyterlab-{port}.log"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        raise SystemExit(
            f"Cannot write JupyterLab's log to {path} ({error.strerror}); remove it and start again."
        ) from None
    return path, os.fdopen(descriptor, "w")


def lab_command(notebooks_dir, port, container, open_browser):
    """The JupyterLab command line: no secret on it (the token goes in `server_environment`)."""
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={notebooks_dir}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--LabApp.default_url=/lab/tree/{START_PAGE}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append(
            "--allow-root"
        )  # JupyterLab refuses root otherwise; containers often run as root
    if container:
        command += ["--ServerApp.ip=0.0.0.0", "--no-browser"]
    elif not open_browser:
        command.append("--no-browser")
    return command


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnn-course lab", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--container",
        action="store_true",
        help="listen on every interface and open no browser (inside Docker/Podman)",
    )
    parser.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--student",
        nargs="?",
        const="build/student",
        metavar="DIR",
        help="open the student version (no solutions), exported to DIR (default build/student, "
        "untracked); notebooks already there, a learner's work, are kept",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")

    tolerate_any_output_encoding()
    notebooks_dir = course_folder() / "notebooks"
    if args.student:
        from cnnlib.labs.student import write_student_versions

        source, notebooks_dir = notebooks_dir, course_folder() / args.student
        write_student_versions(source, notebooks_dir, keep_existing=True)
    try:
        page, profile = write_start_page(notebooks_dir)
    except OSError as error:
        raise SystemExit(
            f"Cannot write the start page into {notebooks_dir} ({error.strerror}): the lab needs "
            "a course checkout it may write to; copy the course to a folder of your own."
        ) from None
    port = free_port(args.port)
    token = secrets.token_hex(16)
    command = lab_command(notebooks_dir, port, args.container, not args.no_browser)
    log_path, log = open_log(port)
    with log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=server_environment(token)
        )
        url = f"http://127.0.0.1:{port}/lab/tree/{START_PAGE}?token={token}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        if server.poll() is not None:
            print(
                f"JupyterLab did not start; its log says:\n{log_path.read_text()[-3000:]}",
                file=sys.stderr,
                flush=True,
            )
            return server.returncode or 1
        where = (
            " (from outside the container, use this machine's address instead of 127.0.0.1)"
            if args.container
            else ""
        )
        # Flushed at once: the launcher then waits on the server, and a container's log or a
        # pipe (| tee) would otherwise not show the address until the lab stops.
        print(f"The course is open at {url}{where}", flush=True)
        print(
            f"Profile: {profile}. Start page: {page.name}. JupyterLab's log: {log_path}. Stop with Ctrl+C.",
            flush=True,
        )
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            print("JupyterLab stopped.", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
