"""Seal one submission off from the machine: bubblewrap for what it sees, cgroups for what it uses.

Why these two: both come with Debian (`bubblewrap`; the kernel's cgroups), need no daemon and no
image, and are what Flatpak builds on. bubblewrap gives the submission its own mount, PID,
network, IPC, UTS and user namespaces:

- it sees the Python installation, the virtual environment and the `cnnlib` package read-only,
  a private tmpfs (size-limited) holding its own copy of its notebook and its HOME, a fresh /dev
  and /proc, and nothing else: not the course's notebooks or solutions, not the other submissions,
  not the output folder, not the grader's HOME or command line (a Python installed under /tmp is
  bound over the tmpfs, read-only, at its own path);
- no network (an empty network namespace: only its own loopback, which the kernel's connection
  uses; the connection files live in the tmpfs);
- the notebook's processes live in their own PID namespace, so when the runner ends, or is
  killed, the kernel and every process it started (a double-forked daemon too) die with it;
  `--die-with-parent` ends it if the grader itself is killed.

The cgroups (below the grader's own, so limits set on the grader still hold) cap memory (swap
included) and the number of processes and threads; at the end every process left in them is
killed before they are removed. Both kinds are supported, detected from what is mounted
(/proc/self/mountinfo): cgroup v2, the unified hierarchy of systemd machines (one group per
submission with memory.max, memory.swap.max 0 and pids.max; the grader first moves itself into a
leaf group, since a group that hands controllers to its children may hold no process), and
cgroup v1 (a memory and a pids group per submission), for older and hybrid systems, where v1
holds those controllers. Nothing the submission writes survives: the grader receives the
executed notebook and the produced values over a pipe (see `runner`), never through a shared
folder.
"""

import dataclasses
import errno
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

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
# What the machine offers: cgroup v2 (the unified hierarchy) or cgroup v1, read from what is mounted
# ---------------------------------------------------------------------------------------------

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"
CONTROLLERS = ("memory", "pids")
GROUP_PREFIX = "cnnlib-grade-"  # one group per submission: cnnlib-grade-<grader pid>-<index>
LEAF_PREFIX = "cnnlib-grader-"  # cgroup v2: the leaf the grader moves itself into


class Unavailable(Exception):
    """No cgroup can limit the submissions here; the message names why."""


def _unescape(text):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _mounts():
    """[(mount point, file system type, super options, root of the mount)] of the cgroup mounts."""
    try:
        lines = pathlib.Path(MOUNTINFO).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((_unescape(fields[4]), tail[0], tail[2].split(","), _unescape(fields[3])))
    return found


def _membership():
    """{controller: path} of this process's cgroups; "" is the cgroup v2 (unified) one."""
    try:
        lines = pathlib.Path(PROC_CGROUP).read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            found[""] = parts[2]
        for controller in filter(None, parts[1].split(",")):
            found[controller] = parts[2]
    return found


def _folder(point, root, path):
    """The folder of cgroup `path` under a mount of the hierarchy's `root`, or None if the mount
    does not show it (a container that sees only part of the tree)."""
    if root != "/":
        if path != root and not path.startswith(root.rstrip("/") + "/"):
            return None
        path = path[len(root.rstrip("/")) :]
    folder = pathlib.Path(point) / path.lstrip("/")
    return folder if folder.is_dir() else None


def _write(path, text):
    pathlib.Path(path).write_text(text)


def _read(path):
    try:
        return pathlib.Path(path).read_text()
    except OSError:
        return ""


def _counter(path, key):
    """The number after `key` in a flat-keyed cgroup file (memory.events, pids.events), or 0."""
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


class V2:
    """cgroup v2: one group per submission holding both limits, beside a leaf the grader moves
    itself into (a group that hands controllers to its children may hold no process, except the
    root), under the grader's own group, so limits set on the grader (a systemd scope's
    MemoryMax) still hold."""

    version = 2

    def __init__(self, own, controllers=CONTROLLERS):
        self.controllers = tuple(controllers)
        if own.name.startswith(LEAF_PREFIX):  # already in a leaf (this grader, or its parent's)
            self.parent, self.leaf = own.parent, own
        else:
            self.parent, self.leaf = own, None
        # only the real root has no cgroup.type (the root of a container's cgroup namespace,
        # shown as "/", has one, and the no-process rule holds there)
        self.at_root = self.leaf is None and not (own / "cgroup.type").exists()

    def prepare(self):
        """Make `parent` hand the controllers to its children; Unavailable if it cannot."""
        available = _read(self.parent / "cgroup.controllers").split()
        lacking = [c for c in self.controllers if c not in available]
        if lacking:
            raise Unavailable(
                f"cgroup v2 does not offer {' and '.join(lacking)} in "
                f"{self.parent} (held by cgroup v1, or not delegated to this group)"
            )
        enabled = _read(self.parent / "cgroup.subtree_control").split()
        if all(c in enabled for c in self.controllers):
            return self
        moved = False
        if not self.at_root and self.leaf is None:
            leaf = self.parent / f"{LEAF_PREFIX}{os.getpid()}"
            try:
                leaf.mkdir(exist_ok=True)
                _write(leaf / "cgroup.procs", str(os.getpid()))
            except OSError as error:
                _rmdir(leaf)
                raise Unavailable(
                    f"the cgroup v2 group {self.parent} is not writable ({error.strerror}): run "
                    "the grader as root or in a delegated group (systemd-run --user --scope -p "
                    "Delegate=yes …)"
                ) from None
            self.leaf, moved = leaf, True
        try:
            _write(
                self.parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in self.controllers)
            )
        except OSError as error:
            if moved:  # back where it was, as if nothing had been tried
                _write(self.parent / "cgroup.procs", str(os.getpid()))
                _rmdir(self.leaf)
                self.leaf = None
            why = (
                "it holds other processes besides the grader, your shell perhaps"
                if error.errno == errno.EBUSY
                else error.strerror
            )
            raise Unavailable(
                f"the cgroup v2 group {self.parent} cannot hand the "
                f"{' and '.join(self.controllers)} controllers to the submissions ({why}): start "
                "the grader in a group of its own, e.g. `systemd-run --scope -p Delegate=yes "
                "--quiet .venv/bin/cnn-course grade …` (with --user when not root)"
            ) from None
        return self

    def parents(self):
        return [self.parent]

    def create(self, name, limits):
        folder = self.parent / name
        folder.mkdir()
        if "memory" in self.controllers:
            _write(folder / "memory.max", str(limits.memory))
            if (folder / "memory.swap.max").exists():  # no swap: the limit is all it gets
                _write(folder / "memory.swap.max", "0")
        if "pids" in self.controllers:
            _write(folder / "pids.max", str(limits.processes))
        return [folder]

    @staticmethod
    def kill_all(folders):
        """cgroup.kill (Linux 5.14+) kills the whole group at once; False if there is none."""
        done = False
        for folder in folders:
            if (folder / "cgroup.kill").exists():
                _write(folder / "cgroup.kill", "1")
                done = True
        return done

    @staticmethod
    def out_of_memory(folders):
        events = folders[0] / "memory.events"
        return _counter(events, "oom_kill") > 0 or _counter(events, "oom") > 0

    @staticmethod
    def hit_process_limit(folders):
        return _counter(folders[0] / "pids.events", "max") > 0


class V1:
    """cgroup v1: a memory and a pids group per submission, below the grader's own."""

    version = 1

    def __init__(self, folders):
        self.folders = folders  # {"memory": folder, "pids": folder}

    def prepare(self):
        for controller, limit in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
            folder = self.folders[controller]
            probe = folder / f"cnnlib-probe-{os.getpid()}"
            try:
                probe.mkdir()
                usable = (probe / limit).exists()
            except OSError as error:
                raise Unavailable(
                    f"the cgroup v1 {controller} group {folder} is not writable ({error.strerror})"
                ) from None
            finally:
                _rmdir(probe, tries=1)
            if not usable:
                raise Unavailable(f"the cgroup v1 {controller} group {folder} has no {limit}")
        return self

    def parents(self):
        return [self.folders["memory"], self.folders["pids"]]

    def create(self, name, limits):
        memory, pids = (self.folders[c] / name for c in ("memory", "pids"))
        memory.mkdir()
        pids.mkdir()
        _write(memory / "memory.limit_in_bytes", str(limits.memory))
        try:  # with swap accounting, the limit covers swap too
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory))
        except OSError:
            pass
        _write(pids / "pids.max", str(limits.processes))
        return [memory, pids]

    @staticmethod
    def kill_all(folders):
        return False

    @staticmethod
    def out_of_memory(folders):
        if _counter(folders[0] / "memory.oom_control", "oom_kill") > 0:
            return True
        return _read(folders[0] / "memory.failcnt").strip() not in ("", "0")

    @staticmethod
    def hit_process_limit(folders):
        return _counter(folders[1] / "pids.events", "max") > 0


def _rmdir(folder, tries=50):
    for _ in range(tries):
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


def detect():
    """The cgroup backend to use here, prepared (V2 or V1); Unavailable says why there is none.

    cgroup v2 first (systemd's unified hierarchy, most machines today), then v1 (older systems,
    and hybrid ones where v1 holds the memory and pids controllers, as on this course's CI)."""
    mounts, membership = _mounts(), _membership()
    reasons = []
    unified = [m for m in mounts if m[1] == "cgroup2"]
    if unified and "" in membership:
        point, _, _, root = unified[0]
        own = _folder(point, root, membership[""])
        if own is None:
            reasons.append(
                f"cgroup v2 is mounted at {point} but does not show this process's group"
            )
        else:
            try:
                return V2(own).prepare()
            except Unavailable as why:
                reasons.append(str(why))
    else:
        reasons.append("no cgroup v2 hierarchy is mounted")
    folders = {}
    for controller in CONTROLLERS:
        for point, kind, options, root in mounts:
            if kind == "cgroup" and controller in options and controller in membership:
                folders[controller] = _folder(point, root, membership[controller])
                break
    lacking = [c for c in CONTROLLERS if not folders.get(c)]
    if lacking:
        reasons.append(f"no cgroup v1 {' and '.join(lacking)} controller is mounted")
    else:
        try:
            return V1(folders).prepare()
        except Unavailable as why:
            reasons.append(str(why))
    raise Unavailable("; ".join(reasons))


_BACKEND = None
_BACKEND_LOCK = threading.Lock()


def backend():
    """The prepared backend, detected once per process (cgroup v2 moves the grader into its leaf
    the first time)."""
    global _BACKEND
    with _BACKEND_LOCK:
        if _BACKEND is None:
            _BACKEND = detect()
        return _BACKEND


def missing():
    """None when submissions can be sealed here, else a clause naming what is missing."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (the `bwrap` command; Debian package `bubblewrap`)"
    try:
        backend()
    except Unavailable as why:
        return f"no cgroup can limit memory and processes here ({why})"
    return python_clash()


# ---------------------------------------------------------------------------------------------
# Limits: the cgroups of one submission
# ---------------------------------------------------------------------------------------------


class Cgroup:
    """The cgroup(s) of one submission, below the grader's: memory and process limits, and a
    list of every process in it, so all of them can be killed at the end."""

    def __init__(self, name, limits, using=None):
        self.backend = using or backend()
        self.folders = self.backend.create(name, limits)
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
        return _members(self.folders)

    def kill(self, within=10.0):
        return _kill(self.backend, self.folders, within)

    def out_of_memory(self):
        return self.backend.out_of_memory(self.folders)

    def hit_process_limit(self):
        return self.backend.hit_process_limit(self.folders)

    def remove(self):
        self.kill()
        for folder in self.folders:
            _rmdir(folder)


def _members(folders):
    return {int(pid) for folder in folders for pid in _read(folder / "cgroup.procs").split()}


def _kill(using, folders, within):
    """Kill every process in `folders` until none is left (cgroup.kill where there is one, else
    SIGKILL to each member; a fork bomb is bounded by pids.max, so this converges)."""
    ends = time.monotonic() + within
    while time.monotonic() < ends:
        members = _members(folders)
        if not members:
            return True
        if not using.kill_all(folders):
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    return not _members(folders)


def grading_groups(prefix=GROUP_PREFIX):
    """The folders of the cgroups whose names start with `prefix`, in every hierarchy used."""
    try:
        parents = backend().parents()
    except Unavailable:
        return []
    return [folder for parent in parents for folder in sorted(parent.glob(f"{prefix}*"))]


def remove_stale_cgroups():
    """Remove the groups a killed grader left behind (their processes are killed first)."""
    for folder in grading_groups(GROUP_PREFIX) + grading_groups(LEAF_PREFIX):
        prefix = GROUP_PREFIX if folder.name.startswith(GROUP_PREFIX) else LEAF_PREFIX
        owner = folder.name[len(prefix) :].split("-")[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        if pathlib.Path(f"/proc/{owner}").exists():
            continue  # a grader still running
        _kill(backend(), [folder], within=2.0)
        _rmdir(folder, tries=1)


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


def _python_folders():
    """The folders outside /usr the kernel's Python needs, each once: the installation
    (sys.base_prefix), the virtual environment (sys.prefix) and the folders that the .pth files
    in their site-packages add (a package installed in development mode), except a folder that
    would show the course checkout (it holds the solutions) or the grader's HOME."""
    import site

    prefixes = [sys.base_prefix, sys.prefix]
    folders = [os.path.realpath(p) for p in prefixes] + prefixes
    for directory in site.getsitepackages(prefixes):
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            try:
                lines = pathlib.Path(directory, name).read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:  # as site.addpackage reads them
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    folders.append(os.path.realpath(os.path.join(directory, line)))
    hidden = [os.path.realpath(p) for p in (PACKAGE.parent, pathlib.Path.home())]
    kept = []
    installation = set(folders[:4])
    for folder in dict.fromkeys(folders):
        if not os.path.isdir(folder) or _inside(folder, "/usr"):
            continue
        if folder not in installation and any(_inside(h, folder) for h in hidden):
            continue  # a .pth naming the checkout or HOME itself (an editable install): not shown
        kept.append(folder)
    return kept


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def python_clash():
    """A sentence when a Python folder lies where the sandbox puts its own (its /tmp/work, its
    HOME, the course package, /proc, /dev; or /tmp itself), else None."""
    own = (f"{SCRATCH}/work", f"{SCRATCH}/home", PACKAGE_MOUNT, "/proc", "/dev")
    checkout = os.path.realpath(PACKAGE.parent)
    for folder in _python_folders():
        if _inside(checkout, folder):
            return (
                f"the Python installation's folder {folder} holds the course checkout (and its "
                "solutions), which the sandbox would show: install Python or the virtual "
                "environment elsewhere"
            )
        clash = [p for p in own if _inside(folder, p) or _inside(p, folder)]
        clash += [SCRATCH] if _inside(SCRATCH, folder) else []
        if clash:
            return (
                f"the Python installation's folder {folder} overlaps the sandbox's own "
                f"{clash[0]}: install Python or the virtual environment elsewhere"
            )
    return None


def _python_binds():
    """The Python folders, read-only, at their own paths; given after the tmpfs on /tmp, so a
    virtual environment made in /tmp (python -m venv /tmp/v) is bound over it."""
    arguments = []
    for folder in _python_folders():
        arguments += ["--ro-bind", os.path.realpath(folder), folder]
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
                *_python_binds(),
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
