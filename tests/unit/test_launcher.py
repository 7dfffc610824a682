"""The lab launcher as a service or a container runs it: its address line arrives at once through
a pipe, and a checkout it cannot write to or a busy last port is one sentence."""

import os
import pathlib
import select
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
