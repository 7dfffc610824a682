"""Seal one submission off from the machine: bubblewrap for what it sees, cgroups for what it uses.

Why these two: both come with Debian (`bubblewrap`; the kernel's cgroup v1 `memory` and `pids`
controllers), need no daemon and no image, and are what Flatpak builds on. bubblewrap gives the
submission its own mount, PID, network, IPC, UTS and user namespaces:

- it sees the Python installation, the virtual environment and the `cnnlib` package read-only,
  a private tmpfs (size-limited) holding its own copy of its notebook and its HOME, a fresh /dev
  and /proc, and nothing else: not the course's notebooks or solutions, not the other submissions,
  not the output folder, not the grader's HOME or command line;
- no network (an empty network namespace: only its own loopback, which the kernel's connection
  uses; the connection files live in the tmpfs);
- the notebook's processes live in their own PID namespace, so when the runner ends, or is
  killed, the kernel and every process it started (a double-forked daemon too) die with it;
  `--die-with-parent` ends it if the grader itself is killed.

The cgroups (children of the grader's own, so limits set on the grader still hold) cap memory
(swap included) and the number of processes and threads; at the end every process left in them is
killed before they are removed. Nothing the submission writes survives: the grader receives the
executed notebook and the produced values over a pipe (see `runner`), never through a shared
folder.
"""

import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
DEFAULT_MEMORY = 4 * 2**30
DEFAULT_PROCESSES = 1024  # processes and threads: TensorFlow alone starts dozens of threads
SCRATCH = "/tmp"  # inside the sandbox: a tmpfs
PACKAGE_MOUNT = "/opt/course"  # inside the sandbox: the cnnlib package, read-only
ETC = ("ld.so.cache", "localtime", "fonts", "alternatives", "ssl", "mime.types", "nsswitch.conf")
RUNNER = pathlib.Path(__file__).with_name("runner.py")
PACKAGE = pathlib.Path(__file__).resolve().parents[2]  # the cnnlib/ folder


@dataclasses.dataclass(frozen=True)
class Limits:
    memory: int = DEFAULT_MEMORY  # bytes, swap included
    processes: int = DEFAULT_PROCESSES
    scratch: int = 2 * 2**30  # bytes of its tmpfs (counted in its memory too)


# ---------------------------------------------------------------------------------------------
# What the machine offers
# ---------------------------------------------------------------------------------------------


def _own_cgroup(controller):
    """The folder of this process's cgroup for a cgroup v1 controller, or None."""
    try:
        lines = pathlib.Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


def _cgroups_missing():
    for controller, limit in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
        folder = _own_cgroup(controller)
        if folder is None:
            return f"the cgroup v1 {controller} controller (no {CGROUP_ROOT}/{controller})"
        probe = folder / f"cnnlib-probe-{os.getpid()}"
        try:
            probe.mkdir()
            usable = (probe / limit).exists()
        except OSError:
            return f"a writable cgroup v1 {controller} controller ({folder} is not writable)"
        finally:
            try:
                probe.rmdir()
            except OSError:
                pass
        if not usable:
            return f"the cgroup v1 {controller} controller's {limit} in {folder}"
    return None


def missing():
    """None when submissions can be sealed here, else one phrase naming what is missing."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (the `bwrap` command; Debian package `bubblewrap`)"
    return _cgroups_missing()


# ---------------------------------------------------------------------------------------------
# Limits: one memory and one pids cgroup per submission
# ---------------------------------------------------------------------------------------------


class Cgroup:
    """A memory and a pids cgroup of their own for one submission, below the grader's."""

    def __init__(self, name, limits):
        self.folders = []
        for controller in ("memory", "pids"):
            parent = _own_cgroup(controller)
            folder = parent / name
            folder.mkdir()
            self.folders.append(folder)
        memory, pids = self.folders
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
        try:  # with swap accounting, the limit covers swap too
            (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory))
        except OSError:
            pass
        (pids / "pids.max").write_text(str(limits.processes))
        self._procs = [os.fsencode(folder / "cgroup.procs") for folder in self.folders]

    def enter(self):
        """Move the calling process in (run in the child between fork and exec: no allocation
        beyond a few bytes, no locks)."""
        pid = str(os.getpid()).encode()
        for path in self._procs:
            descriptor = os.open(path, os.O_WRONLY)
            try:
                os.write(descriptor, pid)
            finally:
                os.close(descriptor)

    def members(self):
        found = set()
        for folder in self.folders:
            try:
                text = (folder / "cgroup.procs").read_text()
            except OSError:
                continue
            found.update(int(pid) for pid in text.split())
        return found

    def kill(self, within=10.0):
        """SIGKILL every process in the cgroups until none is left (a fork bomb is bounded by
        pids.max, so this converges)."""
        ends = time.monotonic() + within
        while time.monotonic() < ends:
            members = self.members()
            if not members:
                return True
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        return not self.members()

    def _read(self, folder, name):
        try:
            return (folder / name).read_text()
        except OSError:
            return ""

    def out_of_memory(self):
        text = self._read(self.folders[0], "memory.oom_control")
        for line in text.splitlines():
            if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                return True
        return self._read(self.folders[0], "memory.failcnt").strip() not in ("", "0")

    def hit_process_limit(self):
        text = self._read(self.folders[1], "pids.events")
        return any(line.split()[-1] != "0" for line in text.splitlines() if line.startswith("max"))

    def remove(self):
        self.kill()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def remove_stale_cgroups(prefix="cnnlib-grade-"):
    """Remove the empty cgroups a killed grader left behind (their processes are gone)."""
    for controller in ("memory", "pids"):
        parent = _own_cgroup(controller)
        if parent is None:
            continue
        for folder in parent.glob(f"{prefix}*"):
            pids = {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            owner = folder.name[len(prefix) :].split("-")[0]
            if owner.isdigit() and pathlib.Path(f"/proc/{owner}").exists():
                continue  # a grader still running
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                folder.rmdir()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# One sealed run
# ---------------------------------------------------------------------------------------------


def _environment(home, package_root, python_bin):
    return {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "PYTHONPATH": package_root,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime",  # the kernel's connection file
        "MPLBACKEND": "agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CNNLIB_LABS_MODE": "record",
        "CNNLIB_PROFILE": "ci",
        "CNNLIB_OFFLINE": "1",
        "CNNLIB_RUN_SOLUTIONS": "0",
        "CNNLIB_RESULTS_DIR": f"{home}/results",
    }


def _system_binds():
    """Read-only binds of the system (/usr and its merged-/usr links) and a few files of /etc."""
    arguments = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        path = pathlib.Path("/") / name
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    for name in ETC:
        arguments += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return arguments


def _python_binds():
    """The Python installation and the virtual environment, read-only, at their own paths."""
    arguments, seen = [], set()
    for prefix in (sys.base_prefix, sys.prefix):
        real = os.path.realpath(prefix)
        for path in {prefix, real}:
            if path in seen or path.startswith("/usr/") or path == "/usr":
                continue
            seen.add(path)
            arguments += ["--ro-bind", real, path]
    return arguments


class Run:
    """One submission running: `start`, then talk to the runner through `send`/`receive`; `stop`
    ends everything it started. `sealed=False` is the unsealed mode (`--unsealed`): a process
    group in a private folder, with rlimits instead of cgroups."""

    def __init__(self, notebook_bytes, limits, sealed, name):
        self.limits, self.sealed, self.name = limits, sealed, name
        self.cgroup = None
        self.process = None
        self.timed_out = False
        self._scratch = None
        self._notebook = notebook_bytes
        self._lock = threading.Lock()

    def start(self):
        python_bin = os.path.dirname(sys.executable)
        if self.sealed:
            self.cgroup = Cgroup(self.name, self.limits)
            read_end, write_end = os.pipe()
            command = [
                "bwrap",
                "--unshare-all",
                "--die-with-parent",
                "--new-session",
                *_system_binds(),
                *_python_binds(),
                "--ro-bind",
                str(PACKAGE),
                f"{PACKAGE_MOUNT}/cnnlib",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--size",
                str(self.limits.scratch),
                "--tmpfs",
                SCRATCH,
                "--dir",
                f"{SCRATCH}/work",
                "--dir",
                f"{SCRATCH}/home",
                "--file",
                str(read_end),
                f"{SCRATCH}/work/submission.ipynb",
                "--chdir",
                f"{SCRATCH}/work",
                sys.executable,
                f"{PACKAGE_MOUNT}/cnnlib/labs/grading/runner.py",
                f"{SCRATCH}/work",
            ]
            env = _environment(f"{SCRATCH}/home", PACKAGE_MOUNT, python_bin)
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                pass_fds=(read_end,),
                preexec_fn=self.cgroup.enter,
            )
            os.close(read_end)
            # bwrap copies the notebook from the pipe into the tmpfs before it starts the runner
            with os.fdopen(write_end, "wb") as pipe:
                try:
                    pipe.write(self._notebook)
                except BrokenPipeError:
                    pass
        else:
            import tempfile

            self._scratch = pathlib.Path(tempfile.mkdtemp(prefix="cnnlib-unsealed-"))
            (self._scratch / "work").mkdir()
            (self._scratch / "home").mkdir()
            (self._scratch / "work" / "submission.ipynb").write_bytes(self._notebook)
            env = _environment(str(self._scratch / "home"), str(PACKAGE.parent), python_bin)
            limits = self.limits

            def limit():
                import resource

                resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))

            self.process = subprocess.Popen(
                [sys.executable, str(RUNNER), str(self._scratch / "work")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=self._scratch / "work",
                start_new_session=True,
                preexec_fn=limit,
            )
        return self

    @property
    def receive(self):
        return self.process.stdout

    @property
    def send(self):
        return self.process.stdin

    def time_out(self):
        self.timed_out = True
        self.stop()

    def stop(self):
        """End the runner, its kernel and everything they started; safe to call twice."""
        with self._lock:
            if self.process is None:
                return
            if self.sealed:
                self.process.kill()  # bwrap's PID namespace takes every process with it
                self.process.wait()
                self.cgroup.kill()
            else:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait()

    def close(self):
        self.stop()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, BrokenPipeError):
                pass
        if self.cgroup is not None:
            self.cgroup.remove()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def verdict_of_limits(self):
        """A sentence when the run hit its memory or process limit, else None."""
        if self.cgroup is None:
            return None
        if self.cgroup.out_of_memory():
            return f"the notebook went over its memory limit ({self.limits.memory / 2**30:g} GiB)"
        if self.cgroup.hit_process_limit():
            return (
                f"the notebook went over its limit of {self.limits.processes} processes and threads"
            )
        return None
