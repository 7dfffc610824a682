"""Open the course in JupyterLab: `cnn-course lab` (README command 1 ends with it).

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
user's own (mode 0700 in the user's cache), opened without following links. The start page
is written through a temporary file and a rename (a link planted in its place is replaced, not
followed), and only into a folder of the user's own; `--student` exports into a folder per user
(build/student-<user>, mode 0700) and serves no notebook someone else put there. Where the home
folder is read-only, Jupyter's own folders move to the user's cache folder like the rest of the
course's files.

The launcher stops JupyterLab whichever way it is stopped itself: Ctrl+C, SIGTERM (a service
manager, `docker stop`, `kill`), SIGHUP (a closed terminal); and JupyterLab stops when the
launcher dies without a chance to (SIGKILL), on Linux. Started in the background from a script
(where the shell makes it ignore Ctrl+C), it is stopped by SIGTERM or SIGHUP.

    cnn-course lab                 # on a laptop or workstation
    cnn-course lab --container     # inside Docker/Podman: listen on every interface
    cnn-course lab --port 9000     # another port
    cnn-course lab --student       # the student version (no solutions), in build/student-<user>
"""

import argparse
import getpass
import importlib.metadata
import os
import pathlib
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

from cnnlib.runtime import locations
from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.runtime.profiles import PROFILE_VARIABLE, choose_profile
from cnnlib.tools import files
from cnnlib.tools.files import shown

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
    """Write the start page into `notebooks_dir` (a folder of this user's) through a temporary
    file and a rename; return its path and the profile it describes."""
    import nbformat

    profile, reason = choose_profile(has_gpu=gpu_likely())
    path = pathlib.Path(notebooks_dir) / START_PAGE
    files.check_own_folder(notebooks_dir, "the start page")
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(21, "a folder has its name", str(path))
    files.replace_file(path, nbformat.writes(start_page(profile, reason)) + "\n")
    return path, profile


def student_folder(course, requested):
    """The folder `--student` exports to: DIR inside the course folder when given, else
    build/student-<user>. It must be (or become) a folder of this user's that no one else may
    write to, holding nothing of anyone else's; otherwise one sentence (SystemExit)."""
    if requested is None:
        folder = course / "build" / f"student-{_user_name()}"
    else:
        if not requested.strip():
            raise SystemExit("--student needs a folder name (or none, for the default).")
        folder = course / pathlib.Path(requested).expanduser()
    notebooks = (course / "notebooks").resolve()
    where = folder.resolve()
    if where == notebooks or notebooks in where.parents:
        raise SystemExit(
            f"--student {shown(requested)} is inside notebooks/: the student version goes to a "
            "folder of its own (the default is build/student-<your user name>)."
        )
    if folder.is_symlink():
        raise SystemExit(
            f"The student folder {shown(folder)} is a link: the lab exports only into a real "
            "folder of your own; remove the link or name another with --student DIR."
        )
    if os.path.lexists(folder) and not folder.is_dir():
        raise SystemExit(
            f"--student {shown(requested)}: {shown(folder)} is a file, not a folder; name a folder."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise SystemExit(
            f"Cannot make the student folder {shown(folder)} ({error.strerror}); name another "
            "with --student DIR."
        ) from None
    try:
        files.check_own_folder(folder, "the student version")
    except files.UnsafePlace as error:
        raise SystemExit(str(error)) from None
    info = folder.lstat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SystemExit(
            f"Others may write to the student folder {shown(folder)} and plant notebooks in it: "
            f"make it private (chmod 700 {shown(folder)}) or name another with --student DIR."
        )
    foreign = [
        entry.name
        for entry in folder.iterdir()
        if entry.is_symlink() or (hasattr(os, "getuid") and entry.lstat().st_uid != os.getuid())
    ]
    if foreign:
        raise SystemExit(
            f"The student folder {shown(folder)} holds {shown(foreign[0])}, a link or a file of "
            "another user: the lab serves only your own notebooks; remove it or name another "
            "folder with --student DIR."
        )
    return folder


def _user_name():
    """This account's name as the system knows it (not $USER, which anyone can set), made safe
    for a folder name."""
    try:
        import pwd

        name = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # Windows, or a container's user without a name
        name = str(os.getuid()) if hasattr(os, "getuid") else getpass.getuser()
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".") or "user"


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


def jupyter_folders(environ=None):
    """{variable: folder} for Jupyter's own folders (runtime files, settings, workspaces, the
    kernel's IPython and matplotlib folders) that cannot be written where they would go by default
    (a read-only home folder): each moves to the user's cache folder, like the course's files.
    A variable the user set is left alone."""
    from jupyter_core import paths

    environ = os.environ if environ is None else environ
    config = pathlib.Path(paths.jupyter_config_dir())
    home = pathlib.Path(os.path.expanduser("~"))
    defaults = {
        "JUPYTER_RUNTIME_DIR": pathlib.Path(paths.jupyter_runtime_dir()),
        "JUPYTER_DATA_DIR": pathlib.Path(paths.jupyter_data_dir()),
        "JUPYTERLAB_SETTINGS_DIR": config / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": config / "lab" / "workspaces",
        "IPYTHONDIR": home / ".ipython",
        "MPLCONFIGDIR": home / ".config" / "matplotlib",
    }
    moved = {}
    for variable, default in defaults.items():
        if environ.get(variable) or locations.writable(default):
            continue
        fallback = locations.user_cache_dir() / "jupyter" / variable.lower()
        fallback.mkdir(parents=True, exist_ok=True, mode=0o700)
        moved[variable] = str(fallback)
    return moved


class _Stopped(Exception):
    """The launcher was asked to stop (Ctrl+C, SIGTERM, SIGHUP)."""


def _stop(signum, frame):
    raise _Stopped(signal.Signals(signum).name)


def stop_on_signals():
    """Make SIGTERM and SIGHUP stop the launcher as Ctrl+C does. Ctrl+C stays ignored where the
    shell made a background job ignore it (`cnn-course lab &` in a script)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None or (name == "SIGINT" and signal.getsignal(number) == signal.SIG_IGN):
            continue
        signal.signal(number, _stop)


def _die_with_parent():
    """In the server's process, before it starts (Linux): SIGTERM when the launcher dies, even by
    SIGKILL, so no JupyterLab is left running with its token."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_server(command, env, log):
    """Start JupyterLab in a session of its own (a terminal's Ctrl+C reaches the launcher, which
    stops it), reading nothing from the launcher's input."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def stop_server(server):
    """Stop JupyterLab: SIGTERM (it shuts its kernels down), SIGKILL after 10 s."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _last_line(path):
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    last = next((line for line in reversed(lines) if line), "")
    return shown(last if len(last) <= 300 else last[:300] + "…")


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
        const=None,
        default=False,
        metavar="DIR",
        help="open the student version (no solutions), exported to DIR in the course folder "
        "(default build/student-<your user name>, untracked, private); notebooks already there, "
        "a learner's work, are kept",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")

    tolerate_any_output_encoding()
    stop_on_signals()
    try:
        return _run(args)
    except _Stopped as stop:
        print(f"Stopped by {stop} before JupyterLab started.", file=sys.stderr, flush=True)
        return 128 + getattr(signal, str(stop)).value


def _run(args):
    course = course_folder()
    notebooks_dir = course / "notebooks"
    if args.student is not False:
        from cnnlib.labs.student import write_student_versions

        source, notebooks_dir = notebooks_dir, student_folder(course, args.student)
        try:
            write_student_versions(source, notebooks_dir, keep_existing=True)
        except (OSError, ValueError) as error:
            raise SystemExit(
                f"Cannot export the student version to {shown(notebooks_dir)}: "
                f"{shown(getattr(error, 'strerror', None) or error)}."
            ) from None
    try:
        page, profile = write_start_page(notebooks_dir)
    except ValueError as error:  # a CNNLIB_PROFILE that names no profile
        raise SystemExit(str(error)) from None
    except files.UnsafePlace as error:
        raise SystemExit(str(error)) from None
    except OSError as error:
        raise SystemExit(
            f"Cannot write the start page into {shown(notebooks_dir)} ({error.strerror}): the lab "
            "needs a course checkout it may write to; copy the course to a folder of your own."
        ) from None
    port = free_port(args.port)
    token = secrets.token_hex(16)
    command = lab_command(notebooks_dir, port, args.container, not args.no_browser)
    moved = jupyter_folders()
    log_path, log = open_log(port)
    with log:
        server = start_server(command, {**server_environment(token), **moved}, log)
        try:
            return _serve(server, args, port, token, page, profile, log_path, moved)
        except _Stopped as stop:
            stop_server(server)
            print(f"JupyterLab stopped ({stop}).", flush=True)
            return 0 if str(stop) == "SIGINT" else 128 + getattr(signal, str(stop)).value
        finally:
            stop_server(server)


def _serve(server, args, port, token, page, profile, log_path, moved):
    url = f"http://127.0.0.1:{port}/lab/tree/{START_PAGE}?token={token}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    if server.poll() is not None:
        print(
            f"JupyterLab did not start (exit status {server.returncode}); the last line of its "
            f"log is: {_last_line(log_path) or '(empty)'} — the whole log is in {log_path}.",
            file=sys.stderr,
            flush=True,
        )
        return server.returncode or 1
    where = (
        " (from outside the container, use this machine's address instead of 127.0.0.1)"
        if args.container
        else ""
    )
    if moved:
        print(
            f"Your home folder cannot be written to: Jupyter keeps its files in "
            f"{pathlib.Path(next(iter(moved.values()))).parent} instead.",
            flush=True,
        )
    # Flushed at once: the launcher then waits on the server, and a container's log or a
    # pipe (| tee) would otherwise not show the address until the lab stops.
    print(f"The course is open at {url}{where}", flush=True)
    print(
        f"Profile: {profile}. Start page: {page.name}. JupyterLab's log: {log_path}. "
        "Stop with Ctrl+C (or SIGTERM).",
        flush=True,
    )
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
