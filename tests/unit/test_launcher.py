"""The lab launcher as a service or a container runs it: its address line arrives at once through
a pipe, and a checkout it cannot write to or a busy last port is one sentence."""

import os
import pathlib
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from cnnlib.tools import lab

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The launcher with a stand-in for JupyterLab: a listening socket and a server that never ends.
LAUNCH = textwrap.dedent("""
    import pathlib, socket, subprocess, sys, time
    from cnnlib.tools import lab

    course = pathlib.Path(sys.argv[1])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    class Server:
        returncode = None
        def __init__(self, *args, **kwargs): pass
        def poll(self): return None
        def wait(self, timeout=None): time.sleep(600)

    subprocess.Popen = Server
    lab.free_port = lambda preferred: port
    lab.course_folder = lambda: course
    lab.gpu_likely = lambda: False
    sys.exit(lab.main(["--no-browser"]))
""")


def fake_course(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "cnnlib").mkdir()
    return root


@pytest.mark.slow  # starts a launcher (the SIGTERM case below is the fast loop's)
def test_the_address_line_arrives_at_once_through_a_pipe(tmp_path):
    course = fake_course(tmp_path / "course")
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("PYTHONUNBUFFERED", None)
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(course)], stdout=subprocess.PIPE, env=env
    )
    try:
        seen, deadline = b"", time.monotonic() + 60
        while b"Stop with Ctrl+C" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([launcher.stdout], [], [], 1)
            if ready:
                chunk = os.read(launcher.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    finally:
        launcher.kill()
        launcher.wait()
    assert b"The course is open at http://127.0.0.1:" in seen, seen
    assert b"Stop with Ctrl+C" in seen


def test_a_checkout_that_cannot_take_the_start_page_is_one_sentence(tmp_path, monkeypatch):
    course = fake_course(tmp_path / "course")
    (course / "notebooks" / lab.START_PAGE).mkdir()  # as unwritable as a read-only checkout
    monkeypatch.setattr(lab, "course_folder", lambda: course)
    monkeypatch.setattr(lab, "gpu_likely", lambda: False)
    with pytest.raises(SystemExit, match="Cannot write the start page into .* a course checkout"):
        lab.main(["--no-browser"])


def test_a_busy_last_port_is_one_sentence():
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 65535))
            busy.listen()
        except OSError:
            pass  # taken already: busy all the same
        with pytest.raises(SystemExit, match="No free port between 65535 and 65535"):
            lab.free_port(65535)


# The launcher as it really runs, with JupyterLab's command swapped for a stand-in server that
# listens on the port and writes its process id, so a test can see whether it is still running.
REAL_LAUNCH = textwrap.dedent("""
    import pathlib, sys
    from cnnlib.tools import lab

    course, pid_file = pathlib.Path(sys.argv[1]), sys.argv[2]
    server = (
        "import os, socket, sys, time\\n"
        f"open({pid_file!r}, 'w').write(str(os.getpid()))\\n"
        "listener = socket.socket(); listener.bind(('127.0.0.1', int(sys.argv[1]))); listener.listen()\\n"
        "time.sleep(600)\\n"
    )
    lab.lab_command = lambda folder, port, container, browser: [sys.executable, "-c", server, str(port)]
    lab.course_folder = lambda: course
    lab.gpu_likely = lambda: False
    sys.exit(lab.main(["--no-browser", "--port", sys.argv[3]]))
""")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running any more.
    status = pathlib.Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _start_launcher(tmp_path, shell=None):
    course = fake_course(tmp_path / "course")
    pid_file = tmp_path / "server.pid"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    command = [sys.executable, "-c", REAL_LAUNCH, str(course), str(pid_file), str(_free_port())]
    if shell:  # started with & from a script: the shell makes it ignore SIGINT
        script = shlex.join(command)
        command = ["bash", "-c", f"{script} > '{tmp_path / 'out'}' 2>&1 & echo $!; wait"]
        launcher = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
        pid = int(launcher.stdout.readline())
    else:
        launcher = subprocess.Popen(
            command, stdout=tmp_path.joinpath("out").open("w"), stderr=subprocess.STDOUT, env=env
        )
        pid = launcher.pid
    out = tmp_path / "out"
    # With a shell, its background child opens the file itself, maybe after `echo $!` reached us.
    started = _wait_for(lambda: out.exists() and b"Stop with Ctrl+C" in out.read_bytes())
    assert started, out.read_text() if out.exists() else "the launcher never wrote its output file"
    return launcher, pid, int(pid_file.read_text())


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize(
    "how",
    [
        "SIGTERM",  # the fast loop's smoke test; each other case starts a launcher too (~5 s)
        pytest.param("SIGHUP", marks=pytest.mark.slow),
        pytest.param("SIGINT", marks=pytest.mark.slow),
        pytest.param("SIGTERM in the background", marks=pytest.mark.slow),
    ],
)
def test_the_launcher_stops_jupyterlab_however_it_is_stopped(tmp_path, how):
    background = how.endswith("background")
    launcher, pid, server = _start_launcher(tmp_path, shell=background)
    try:
        if background:
            ignored = pathlib.Path(f"/proc/{pid}/status").read_text()
            assert "SigIgn:" in ignored  # the shell's doing: Ctrl+C does not reach a background job
        os.kill(pid, getattr(signal, how.split()[0]))
        assert _wait_for(lambda: not _alive(server)), f"JupyterLab still runs after {how}"
        assert launcher.wait(timeout=30) in (0, 128 + signal.SIGTERM, 128 + signal.SIGHUP)
        assert "JupyterLab stopped" in tmp_path.joinpath("out").read_text()
    finally:
        for process in (pid, server):
            if _alive(process):
                os.kill(process, signal.SIGKILL)
        launcher.wait(timeout=30)


@pytest.mark.slow
def test_jupyterlab_stops_when_the_launcher_is_killed(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    launcher, pid, server = _start_launcher(tmp_path)
    os.kill(pid, signal.SIGKILL)
    launcher.wait(timeout=30)
    try:
        assert _wait_for(lambda: not _alive(server)), "JupyterLab outlived a killed launcher"
    finally:
        if _alive(server):
            os.kill(server, signal.SIGKILL)


def test_the_real_command_carries_the_token_in_its_environment_only(tmp_path, monkeypatch, capsys):
    """What `main` starts, not a helper: the token of the printed address reaches the server in
    its environment, and appears nowhere on its command line (which `ps` shows everyone)."""
    course = fake_course(tmp_path / "course")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    started = []

    class Recorder:  # a server that is up at once and ends when waited for
        returncode = None

        def __init__(self, command, **kwargs):
            started.append((command, kwargs))

        def poll(self):
            return self.returncode

        def wait(self, timeout=None):
            self.returncode = 0
            return 0

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(subprocess, "Popen", Recorder)
    monkeypatch.setattr(lab, "free_port", lambda preferred: listener.getsockname()[1])
    monkeypatch.setattr(lab, "course_folder", lambda: course)
    monkeypatch.setattr(lab, "gpu_likely", lambda: False)
    try:
        assert lab.main(["--no-browser"]) == 0
    finally:
        listener.close()
    out = capsys.readouterr().out
    token = re.search(r"\?token=([0-9a-f]+)", out).group(1)
    (command, kwargs), *others = [entry for entry in started if "lab" in entry[0]]
    assert not others and command[1:4] == ["-m", "jupyter", "lab"]
    assert kwargs["env"][lab.TOKEN_VARIABLE] == token
    assert not any(token in part for part in command), command


def test_a_planted_start_page_link_is_replaced_not_followed(tmp_path, monkeypatch):
    course = fake_course(tmp_path / "course")
    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file\n")
    (course / "notebooks" / lab.START_PAGE).symlink_to(victim)
    monkeypatch.setattr(lab, "gpu_likely", lambda: False)
    page, _ = lab.write_start_page(course / "notebooks")
    assert victim.read_text() == "someone's file\n"
    assert not page.is_symlink() and "start here" in page.read_text()


def test_a_start_page_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    course = fake_course(tmp_path / "course")
    real_lstat = os.lstat
    notebooks = course / "notebooks"

    def lstat(path, *args, **kwargs):  # as if another account owned notebooks/
        info = real_lstat(path, *args, **kwargs)
        if pathlib.Path(path) == notebooks:
            values = list(info)
            values[4] = os.getuid() + 1
            return os.stat_result(values)
        return info

    monkeypatch.setattr(os, "lstat", lstat)
    monkeypatch.setattr(lab, "course_folder", lambda: course)
    monkeypatch.setattr(lab, "gpu_likely", lambda: False)
    with pytest.raises(SystemExit, match="belongs to .* use a folder of your own"):
        lab.main(["--no-browser"])
    assert not (notebooks / lab.START_PAGE).exists()


@pytest.mark.parametrize(
    "argument, words",
    [
        ("FILE", "is a file, not a folder"),
        ("notebooks", "inside notebooks/"),
        ("", "needs a folder name"),
        ("LINK", "is a link"),
    ],
)
def test_a_wrong_student_folder_is_one_sentence(tmp_path, monkeypatch, argument, words):
    course = fake_course(tmp_path / "course")
    (course / "FILE").write_text("x")
    (course / "LINK").symlink_to(tmp_path)
    monkeypatch.setattr(lab, "course_folder", lambda: course)
    with pytest.raises(SystemExit, match=words):
        lab.main(["--no-browser", "--student", argument])


def test_the_student_folder_is_per_user_and_serves_nobody_elses_notebook(tmp_path):
    course = fake_course(tmp_path / "course")
    folder = lab.student_folder(course, None)
    assert folder.parent == course / "build" and folder.name.startswith("student-")
    assert folder.stat().st_mode & 0o777 == 0o700
    (folder / "01_planted.ipynb").symlink_to(tmp_path)
    with pytest.raises(SystemExit, match="01_planted.ipynb, a link or a file of another user"):
        lab.student_folder(course, None)


def test_a_bad_profile_word_is_one_sentence(tmp_path, monkeypatch):
    course = fake_course(tmp_path / "course")
    monkeypatch.setenv("CNNLIB_PROFILE", "bogus")
    monkeypatch.setattr(lab, "course_folder", lambda: course)
    monkeypatch.setattr(lab, "gpu_likely", lambda: False)
    with pytest.raises(SystemExit, match="CNNLIB_PROFILE='bogus' is not a run profile"):
        lab.main(["--no-browser"])


def test_a_read_only_home_moves_jupyters_folders_to_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", "/dev/null/home")  # cannot be written, even by root
    for variable in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    moved = lab.jupyter_folders()
    assert {"JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"} <= set(moved)
    for folder in moved.values():
        assert pathlib.Path(folder).is_dir() and str(tmp_path / "cache") in folder
