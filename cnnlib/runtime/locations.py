"""Where a run writes: never a tracked file unless a maintainer asks for it.

- Results of a hand run go to ``my_results/`` in the course folder (ignored by git). Without a
  course folder they go, on a hosted runtime (Colab, Kaggle), to ``cnn-course-runs/`` next to the
  notebook, where the runtime's file pane shows them, and elsewhere to the user's cache folder;
  a folder that cannot be written to gives way to the user's cache folder too.
  ``CNNLIB_RESULTS_DIR=results`` is the maintainer's switch that writes the committed ``results/``.
- Checkpoints go to ``checkpoints/`` in the course folder (ignored by git), with the same fallbacks
  (`checkpoint_base`).

Every fallback is announced in one sentence; none of them raises.
"""

import os
import pathlib
import stat
import tempfile

from cnnlib.runtime import hosted

RESULTS_VARIABLE = "CNNLIB_RESULTS_DIR"
LOCAL_RESULTS = "my_results"  # ignored by git (.gitignore)
CHECKPOINT_FOLDER = "checkpoints"  # ignored by git (.gitignore)


def _is_course_folder(folder):
    return (folder / "notebooks").is_dir() and (folder / "cnnlib").is_dir()


def course_root():
    """The course folder (holding notebooks/ and cnnlib/), or None: the one the working directory
    is in, else the checkout this package was imported from (an editable install)."""
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_course_folder(folder):
            return folder
    package_checkout = pathlib.Path(__file__).resolve().parents[2]
    return package_checkout if _is_course_folder(package_checkout) else None


def require_course_root(what="this command"):
    """`course_root()`, or SystemExit with one sentence when there is no course folder."""
    root = course_root()
    if root is None:
        raise SystemExit(
            f"Cannot find the course folder (holding notebooks/ and cnnlib/) for {what}: "
            "run it from inside the course checkout."
        )
    return root


_private_temp = None


def _own_private_folder(path):
    """True when `path` is a real folder (not a link) of this user that no one else can write to."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def private_temp_dir():
    """This user's own folder in the shared temp folder, made safely (mode 0700, no link followed).

    ``/tmp/cnnlib-<uid>`` when it is this user's and no one else can write to it; when someone
    else made that name first (a folder of theirs, or a link), one sentence says so and a fresh
    private folder made by `tempfile.mkdtemp` is used for this session instead.
    """
    global _private_temp
    if not hasattr(os, "getuid"):  # Windows: the temp folder is per user already
        return pathlib.Path(tempfile.gettempdir()) / "cnnlib"
    if _private_temp is not None and _own_private_folder(_private_temp):
        return _private_temp
    folder = pathlib.Path(tempfile.gettempdir()) / f"cnnlib-{os.getuid()}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        folder = None
    if folder is not None and _own_private_folder(folder):
        os.chmod(folder, 0o700)  # one made by an older cnnlib may be readable by others
    if folder is None or not _own_private_folder(folder):
        fresh = pathlib.Path(tempfile.mkdtemp(prefix=f"cnnlib-{os.getuid()}-"))
        if folder is not None:
            print(
                f"⚠ {folder} is not a private folder of this user (someone else made it, or it is "
                f"a link); not using it. This session keeps its files in {fresh} instead."
            )
        folder = fresh
    _private_temp = folder
    return folder


def user_cache_dir():
    """cnnlib's folder in the user's cache ($XDG_CACHE_HOME or ~/.cache), else a private temp folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = pathlib.Path(base) / "cnnlib"
    if writable(folder):
        return folder
    return private_temp_dir()


def writable(folder):
    """True when `folder` exists (or can be made) and a file can be created in it."""
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cnnlib-probe-"):
            pass
        return True
    except OSError:
        return False


def why_not_writable(folder):
    """A few words on why `folder` cannot take files (for the one-sentence messages)."""
    folder = pathlib.Path(folder)
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return f"{part} is a file, not a folder"
            if not os.access(part, os.W_OK):
                return f"{part} is read-only"
            break
    return "it cannot be written to"


def outside_course_dir():
    """Where a run writes when there is no course folder (cnnlib installed from a wheel): on a
    hosted runtime the visible cnn-course-runs/ next to the notebook, else the user's cache folder."""
    return hosted.runs_dir() if hosted.runtime_name() else user_cache_dir()


def requested_results_dir():
    """$CNNLIB_RESULTS_DIR (``~`` expanded; a relative one taken from the course folder), else
    my_results/.

    Without a course folder (cnnlib installed elsewhere) a relative $CNNLIB_RESULTS_DIR is taken
    from the working directory, and the default is `outside_course_dir()`/results. The answer is
    always an absolute path, so a later change of directory does not move it.
    """
    root = course_root()
    requested = os.environ.get(RESULTS_VARIABLE, "").strip()
    if requested:
        return ((root or pathlib.Path.cwd()) / pathlib.Path(requested).expanduser()).absolute()
    if root is None:
        return outside_course_dir() / "results"
    return root / LOCAL_RESULTS


def checkpoint_base():
    """The folder that holds every notebook's checkpoints: checkpoints/ in the course folder, else
    in `outside_course_dir()` (not yet checked for writing: see `usable_folder`)."""
    root = course_root()
    return (root or outside_course_dir()) / CHECKPOINT_FOLDER


def usable_folder(preferred, what, fallback_name):
    """`preferred` when it can be written to; otherwise, with one sentence, the user's cache folder."""
    preferred = pathlib.Path(preferred)
    if writable(preferred):
        return preferred
    fallback = user_cache_dir() / fallback_name
    print(
        f"⚠ Cannot write {what} to {preferred} ({why_not_writable(preferred)}); writing them to {fallback} instead."
    )
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def is_tracked_results(folder):
    """True when `folder` is the course's committed results/ folder."""
    root = course_root()
    return root is not None and pathlib.Path(folder).resolve() == (root / "results").resolve()
