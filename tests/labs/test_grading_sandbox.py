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


# ---------------------------------------------------------------------------------------------
# cgroup v2 on this kernel
# ---------------------------------------------------------------------------------------------

V2_CHILD = """
import os, pathlib, subprocess, sys, time
from cnnlib.labs.grading import sandbox

parent = pathlib.Path(sys.argv[1])
(parent / "cgroup.procs").write_text(str(os.getpid()))
try:
    v2 = sandbox.V2(parent, controllers=("hugetlb",)).prepare()
except sandbox.Unavailable as why:
    print("unavailable", why)
    print("back", open("/proc/self/cgroup").read().strip().endswith(parent.name))
    print("leftover", any(parent.glob("cnnlib-grader-*")))
    sys.exit(0)
print("leaf", open("/proc/self/cgroup").read().strip().endswith(f"cnnlib-grader-{os.getpid()}"))
print("subtree", (parent / "cgroup.subtree_control").read_text().split())
group = sandbox.Cgroup(f"cnnlib-grade-{os.getpid()}-0", sandbox.Limits(), using=v2)
daemon = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(120)\\n"
subprocess.run([sys.executable, "-c", daemon, sys.argv[2]], preexec_fn=group.enter)
time.sleep(0.5)
print("members", len(group.members()), "cgroup.kill", (group.folders[0] / "cgroup.kill").exists())
print("killed", group.kill(within=5), len(group.members()))
group.remove()
print("removed", not group.folders[0].exists())
"""


def _unified():
    """This process's cgroup v2 folder on the real kernel, if it offers hugetlb and is writable."""
    for point, kind, _, root in sandbox._mounts():
        membership = sandbox._membership()
        if kind == "cgroup2" and "" in membership:
            own = sandbox._folder(point, root, membership[""])
            if own and "hugetlb" in sandbox._read(own / "cgroup.controllers").split():
                if os.access(own, os.W_OK):
                    return own
    return None


@pytest.mark.skipif(_unified() is None, reason="no writable cgroup v2 group offering hugetlb here")
@pytest.mark.parametrize("crowded", [False, True], ids=["own group", "shared group"])
def test_cgroup_v2_protocol_on_this_kernel(crowded):
    """The cgroup v2 protocol against the real kernel: the grader leaves its group for a leaf,
    hands a controller to its children through cgroup.subtree_control, puts a submission's
    processes in a group of their own through cgroup.procs and ends them all (a setsid daemon
    too) with cgroup.kill; in a group shared with another process it refuses in one sentence and
    goes back where it was.

    The controller is hugetlb, the only one this machine's (hybrid) v2 hierarchy offers (the test
    enables it in the top group's cgroup.subtree_control and takes it back): cgroup
    v1 holds memory and pids here (mount -t cgroup2 shows the same hierarchy, and +memory in its
    subtree_control fails with ENOENT), so memory.max, memory.swap.max, pids.max and their
    events were NOT exercised on a real kernel here; test_grading_class.py checks what the grader
    writes and reads in those files against a fake hierarchy."""
    import subprocess

    top = _unified()
    enabled = "hugetlb" in sandbox._read(top / "cgroup.subtree_control").split()
    if not enabled:  # hand hugetlb down for this test (accounting only), taken back at the end
        (top / "cgroup.subtree_control").write_text("+hugetlb")
    parent = top / f"cnnlib-test-{uuid.uuid4().hex[:8]}"
    parent.mkdir()
    marker = f"cnnlib-v2-daemon-{uuid.uuid4().hex}"
    sleeper = None
    try:
        if crowded:  # another process in the same group: it cannot hand controllers down
            sleeper = subprocess.Popen(["sleep", "60"])
            (parent / "cgroup.procs").write_text(str(sleeper.pid))
        child = subprocess.run(
            [sys.executable, "-c", V2_CHILD, str(parent), marker],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        lines = dict(line.split(" ", 1) for line in child.stdout.splitlines())
        assert child.returncode == 0, child.stderr
        if crowded:
            assert "holds other processes" in lines["unavailable"]
            assert "systemd-run --scope -p Delegate=yes" in lines["unavailable"]
            assert lines["back"] == "True" and lines["leftover"] == "False"
        else:
            assert lines["leaf"] == "True", "the grader did not move into its leaf"
            assert "hugetlb" in lines["subtree"]
            assert lines["members"] == "1 cgroup.kill True", "the daemon is not in the group"
            assert lines["killed"] == "True 0" and lines["removed"] == "True"
        for entry in pathlib.Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    assert marker.encode() not in (entry / "cmdline").read_bytes()
                except OSError:
                    continue
    finally:
        if sleeper:
            sleeper.kill()
            sleeper.wait()
        for leaf in parent.glob("cnnlib-grader-*"):
            sandbox._rmdir(leaf)
        sandbox._rmdir(parent)
        if not enabled:
            try:
                (top / "cgroup.subtree_control").write_text("-hugetlb")
            except OSError:  # another test's group still uses it
                pass


# ---------------------------------------------------------------------------------------------
# A grader whose Python lives under /tmp
# ---------------------------------------------------------------------------------------------

TMP_CHILD = """
import sys, nbformat
from cnnlib.labs.grading import runner, sandbox

print("missing", sandbox.missing())
cell = "import sys, numpy, nbclient\\nprint(sys.prefix, numpy.ones(3).sum())"
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
run = sandbox.Run(nbformat.writes(notebook).encode(), sandbox.Limits(), True, sys.argv[1]).start()
try:
    while (frame := runner.read_frame(run.receive, 2**26)) is not None:
        if frame[0] == "executed.ipynb":
            [cell] = nbformat.reads(frame[1].decode(), as_version=4).cells
            print("printed", "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs))
        if frame[0] == "ran":
            break
finally:
    run.close()
"""


@pytest.mark.slow  # a venv and a sealed kernel (~7 s); the fast loop's sandbox smoke is the 'sees neither' case
def test_a_grader_whose_python_lives_under_tmp():
    """`python -m venv /tmp/…`: the sandbox's own tmpfs on /tmp would hide that interpreter
    (bwrap could not even start it); its folders are bound read-only over the tmpfs. The venv
    finds its packages (nbclient, numpy, …) through a .pth file naming this interpreter's
    site-packages, as a package installed in development mode does, so that folder is bound
    too; the course package comes from PYTHONPATH, as in a checkout."""
    import site
    import subprocess
    import tempfile

    venv = pathlib.Path(tempfile.mkdtemp(prefix="cnnlib-venv-", dir="/tmp"))
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
        )
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        packages = venv / "lib" / version / "site-packages"
        (packages / "grader.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        name = f"cnnlib-grade-{os.getpid()}-venv-{uuid.uuid4().hex[:8]}"
        child = subprocess.run(
            [str(venv / "bin" / "python"), "-c", TMP_CHILD, name],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.returncode == 0, child.stderr
        assert "missing None" in child.stdout
        assert f"printed {venv} 3.0" in child.stdout, child.stdout + child.stderr[-2000:]
    finally:
        import shutil

        shutil.rmtree(venv, ignore_errors=True)
