"""The output folder: private, locked, written atomically, resumable.

`--out` is created 0700, or used when it is a real folder of this user that nobody else can
write to and that holds nothing of another owner's and no links (a link planted by another
account would redirect what the grader writes). A lock file keeps a second run out. Each graded
submission is saved under `.work/done/` as soon as it is graded, keyed by the sha256 of its bytes,
so a run that is killed or interrupted resumes without grading it again; `INCOMPLETE.txt` says
the folder is partial until the final tables are written.
"""

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import stat
import tempfile

LOCK = ".grading.lock"
WORK = ".work"
INCOMPLETE = "INCOMPLETE.txt"


class FolderError(ValueError):
    """The output folder cannot be used; the message is one sentence for the instructor."""


def prepare(out):
    """Create `out` private (0700) or check that an existing one is safe to write into."""
    if not str(out):  # pathlib.Path("") is the working folder
        raise FolderError("--out is an empty name: give a folder for the results")
    out = pathlib.Path(out)
    if out.is_symlink():
        raise FolderError(f"--out {out} is a symbolic link: give the real folder")
    if not out.exists():
        try:
            out.mkdir(mode=0o700, parents=True)
        except OSError as error:
            raise FolderError(f"cannot create --out {out}: {error.strerror}") from None
    info = os.lstat(out)
    if not stat.S_ISDIR(info.st_mode):
        raise FolderError(f"--out {out} exists and is not a folder")
    if info.st_uid != os.getuid():
        raise FolderError(f"--out {out} belongs to another user: use a folder of your own")
    if info.st_mode & 0o077:
        os.chmod(out, 0o700)  # ours: made private before anything is written into it
    for path in _walk(out):
        entry = os.lstat(path)
        if stat.S_ISLNK(entry.st_mode):
            raise FolderError(
                f"--out {out} holds a symbolic link ({path}): empty it or use another"
            )
        if entry.st_uid != os.getuid():
            raise FolderError(
                f"--out {out} holds a file of another user ({path}): use another folder"
            )
    probe = out / f".probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise FolderError(f"cannot write into --out {out}: {error.strerror}") from None
    for private in (out / WORK, out / WORK / "done"):
        private.mkdir(exist_ok=True, mode=0o700)
    return out


def _walk(folder):
    for root, directories, files in os.walk(folder, followlinks=False):
        for name in directories + files:
            yield pathlib.Path(root) / name


@contextlib.contextmanager
def locked(out):
    """Hold the folder's lock; FolderError when another run holds it."""
    path = pathlib.Path(out) / LOCK
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise FolderError(
                    f"another grading run is writing into {out} (it holds {LOCK}); wait for it "
                    "or use another --out"
                ) from None
            raise
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        yield
    finally:
        os.close(descriptor)


def write_atomically(path, data):
    """Write `data` (str or bytes) to a private temporary file beside `path`, then rename it."""
    path = pathlib.Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".part"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def done_path(out, name):
    return pathlib.Path(out) / WORK / "done" / f"{name}.json"


def load_done(out, name, digest, assignment):
    """The saved result of student `name` when it was made from the same bytes for the same
    assignment, else None."""
    path = done_path(out, name)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("sha256") == digest and saved.get("assignment") == assignment:
        return saved
    return None


def save_done(out, name, record):
    write_atomically(done_path(out, name), json.dumps(record, ensure_ascii=False, indent=1))


def mark_incomplete(out, text):
    write_atomically(pathlib.Path(out) / INCOMPLETE, text)


def clear_incomplete(out):
    (pathlib.Path(out) / INCOMPLETE).unlink(missing_ok=True)
