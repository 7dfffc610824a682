"""Writing files in places other people can reach, and showing names other people chose.

A course checkout may be shared by a group, a USB stick may hold an older archive, an archive
may come from anyone. So the tools

- write every file through a temporary name beside it, renamed over the target only once it is
  complete: an error leaves the old file as it was, and a link planted at the target's name is
  replaced, never followed (`replace_file`);
- refuse a folder that belongs to another user, and a target that is not a plain file
  (a folder, a device, a link), instead of writing into or over it (`check_own_folder`,
  `check_replaceable`);
- print a name taken from an archive or a folder with its control characters escaped, so a
  name cannot move the cursor, clear the screen or forge a line of output (`shown`).
"""

import contextlib
import os
import pathlib
import stat
import tempfile
import unicodedata


class UnsafePlace(Exception):
    """A folder or file the tool will not write to or over: one sentence saying why."""


def shown(name):
    """`name` with every control or invisible formatting character written as an escape (\\x1b,
    \\n, \\u202e …), so printing it shows what it is instead of doing what it says."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char == "\\"
        else char
        for char in str(name)
    )


def _owner(uid):
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"user {uid}"


def check_own_folder(folder, what):
    """Raise `UnsafePlace` unless `folder` is a real folder (no link) belonging to this user.

    Someone who owns a folder can swap any file in it at any moment, so the tools write nothing
    into another user's folder; `what` names the file, for the sentence.
    """
    folder = pathlib.Path(folder)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        raise UnsafePlace(
            f"Cannot write {what}: the folder {shown(folder)} does not exist."
        ) from None
    if stat.S_ISLNK(info.st_mode):
        info = os.stat(folder)  # a link the user typed is followed; its folder is what counts
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePlace(f"Cannot write {what}: {shown(folder)} is not a folder.")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UnsafePlace(
            f"Cannot write {what}: the folder {shown(folder)} belongs to {_owner(info.st_uid)}, "
            "who could replace the file at any moment; use a folder of your own."
        )


def check_replaceable(path, what):
    """Raise `UnsafePlace` when something other than a plain file is at `path` (a folder, a link,
    a device, a pipe): replacing it would destroy what the tool did not create."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode):
        return
    kind = (
        "a folder"
        if stat.S_ISDIR(info.st_mode)
        else "a link"
        if stat.S_ISLNK(info.st_mode)
        else "a device or special file"
    )
    raise UnsafePlace(
        f"Cannot write {what} to {shown(path)}: it is {kind}, not a file; name a file instead."
    )


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path, mode=None, binary=True):
    """Open a temporary file beside `path` for writing; when the block ends without an error it is
    renamed over `path` (a link there is replaced, not followed), else removed. Only the temporary
    file is ever deleted: whatever was at `path` before stays until the new file is complete.

    `mode`: the new file's permissions (default: as a new file, by the umask).
    """
    path = pathlib.Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(
            handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, (0o666 & ~_umask()) if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def replace_file(path, data, mode=None):
    """Write `data` (str or bytes) to `path` through a temporary file and a rename."""
    binary = isinstance(data, bytes)
    with replacing(path, mode=mode, binary=binary) as file:
        file.write(data)
