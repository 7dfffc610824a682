"""The sandbox one submission runs in (issue 25, item 2), attacked from inside a notebook.

Each case runs a tiny notebook through the same `sandbox.Run` and runner the grader uses, with no
exercise involved: what is tested is what the notebook's code can see, keep alive and use up.
Every kernel start costs a few seconds, so each case is one short notebook.
"""

import os
import pathlib
import sys
import uuid

import nbformat
import pytest

from cnnlib.labs.grading import runner, sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    sandbox.missing() is not None, reason=f"no sandbox here: {sandbox.missing()}"
)


def run_cells(cells, limits=None, timeout=60):
    """Run `cells` sealed; (outputs of each cell as text, the Run, whether it ended on its own)."""
    import threading

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    name = f"cnnlib-grade-{os.getpid()}-test-{uuid.uuid4().hex[:8]}"
    run = sandbox.Run(nbformat.writes(notebook).encode(), limits or sandbox.Limits(), True, name)
    run.start()
    watchdog = threading.Timer(timeout, run.time_out)
    watchdog.start()
    executed, died = None, None
    try:
        while True:
            frame = runner.read_frame(run.receive, 2**26)
            if frame is None:
                break
            if frame[0] == "executed.ipynb":
                executed = nbformat.reads(frame[1].decode(), as_version=4)
            if frame[0] == "ran":
                died = frame[1]
                break
        verdict = run.verdict_of_limits()
        members_before_close = run.cgroup.members()
    finally:
        watchdog.cancel()
        run.stop()
        left = run.cgroup.members()
        run.close()
    outputs = []
    for cell in executed.cells if executed else []:
        text = ""
        for output in cell.get("outputs", []):
            text += output.get("text", "") + str(output.get("evalue", ""))
        outputs.append(text)
    return outputs, {"died": died, "limits": verdict, "left": left, "alive": members_before_close}


# The fast loop's smoke test of the sandbox (CI's Python 3.10 and 3.13 runs too); the other cases
# each start a sealed kernel as well, and run in the slow loop.
def test_it_sees_neither_the_course_nor_other_submissions_nor_the_output_folder(tmp_path):
    other = tmp_path / "class" / "ben.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    out = tmp_path / "grades"
    out.mkdir()
    # HOME may hold the Python installation (pyenv), which the sandbox mounts: probe the rest
    home = [p for p in pathlib.Path.home().iterdir() if not sys.base_prefix.startswith(str(p))]
    probes = [ROOT / "notebooks" / "solutions", ROOT / "notebooks", other, out, *home[:3]]
    outputs, _ = run_cells(
        [
            "import os, pathlib, socket\n"
            f"for path in {[str(p) for p in probes]!r}:\n"
            "    print(path, os.path.exists(path) and bool(os.listdir(path)) if os.path.isdir(path) else os.path.exists(path))",
            "print('cmdline', open('/proc/1/cmdline').read().count('ipynb'))",
            "try:\n    socket.create_connection(('pypi.org', 443), timeout=3)\n    print('network yes')\n"
            "except OSError as error:\n    print('network no')",
            f"try:\n    open({str(out / 'grades.csv')!r}, 'w').write('ann,99.x,correct')\n    print('wrote out')\n"
            "except OSError:\n    print('could not write out')",
            "import cnnlib, os\nprint('package', os.access(os.path.dirname(cnnlib.__file__), os.W_OK))",
            "argv = open('/proc/self/cmdline').read().split(chr(0))\n"
            "connection = argv[argv.index('-f') + 1]\nprint(connection, os.path.exists(connection))",
        ]
    )
    lines = outputs[0].split("\n")
    for path, line in zip(probes, lines):
        assert line.endswith("False"), f"the submission can see {path}: {line}"
    assert "network no" in outputs[2]
    assert "could not write out" in outputs[3]
    assert not (out / "grades.csv").exists()
    assert "package False" in outputs[4], "the cnnlib package is writable from the sandbox"
    connection, exists = outputs[5].split()
    assert exists == "True" and connection.startswith("/tmp/")  # the sandbox's own tmpfs
    assert not pathlib.Path(connection).exists(), "the kernel's connection file is on the host"


@pytest.mark.slow  # starts a sealed kernel
def test_a_daemon_that_outlives_its_kernel_dies_with_the_sandbox(tmp_path):
    marker = f"cnnlib-daemon-{uuid.uuid4().hex}"
    victim = tmp_path / "victim.csv"
    outputs, state = run_cells(
        [
            "import os, sys, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}])\n"
            "    os._exit(0)\n"
            "time.sleep(1)\nprint('started')",
            "print(open('/proc/self/status').read().count('Pid'))",
        ]
    )
    assert "started" in outputs[0]
    assert state["left"] == set(), "processes were left in the submission's cgroup"
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            assert marker.encode() not in cmdline, "the submission's daemon outlived the sandbox"
    assert not victim.exists()


@pytest.mark.slow  # starts a sealed kernel
def test_a_memory_bomb_is_stopped_by_the_memory_limit():
    limits = sandbox.Limits(memory=512 * 2**20)
    outputs, state = run_cells(
        [
            "import numpy as np\nblocks = []\nfor _ in range(40):\n    blocks.append(np.ones(2**27 // 8) * 1.0)\nprint('survived')"
        ],
        limits=limits,
    )
    assert not any("survived" in o for o in outputs)
    assert state["limits"] and "memory limit" in state["limits"], state


@pytest.mark.slow  # starts a sealed kernel
def test_a_fork_bomb_is_bounded_by_the_process_limit():
    limits = sandbox.Limits(processes=64)
    outputs, state = run_cells(
        [
            "import os, time\nstarted = 0\n"
            "for _ in range(500):\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(60)\n"
            "        os._exit(0)\n"
            "    started += 1\n"
            "print('survived', started)"
        ],
        limits=limits,
    )
    assert "survived" not in outputs[0]
    assert (
        "Resource temporarily unavailable" in outputs[0]
        or "BlockingIOError" in outputs[0]
        or outputs[0]
    )
    assert state["limits"] and "processes" in state["limits"], state
    assert state["left"] == set()
