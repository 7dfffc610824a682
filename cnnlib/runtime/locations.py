"""Where a run writes: never a tracked file unless a maintainer asks for it.

- Results of a hand run go to ``my_results/`` in the course folder (ignored by git), or to the
  user's cache folder when there is no course folder or it cannot be written to.
  ``CNNLIB_RESULTS_DIR=results`` is the maintainer's switch that writes the committed ``results/``.
- Checkpoints go to ``checkpoints/`` in the course folder (ignored by git), with the same fallback.

Every fallback is announced in one sentence; none of them raises.
"""

import os
import pathlib
import tempfile

RESULTS_VARIABLE = "CNNLIB_RESULTS_DIR"
LOCAL_RESULTS = "my_results"  # ignored by git (.gitignore)
CHECKPOINT_FOLDER = "checkpoints"  # ignored by git (.gitignore)


def course_root():
    """The course folder (holding notebooks/ and cnnlib/) above the working directory, or None."""
    here = pathlib.Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "cnnlib").is_dir():
            return folder
    return None


def user_cache_dir():
    """cnnlib's folder in the user's cache ($XDG_CACHE_HOME or ~/.cache), else in the temp folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = pathlib.Path(base) / "cnnlib"
    if writable(folder):
        return folder
    return (
        pathlib.Path(tempfile.gettempdir())
        / f"cnnlib-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    )


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


def requested_results_dir():
    """$CNNLIB_RESULTS_DIR (a relative one taken from the course folder), else my_results/.

    Without a course folder (cnnlib installed elsewhere) the default is the user's cache folder.
    """
    root = course_root()
    requested = os.environ.get(RESULTS_VARIABLE, "").strip()
    if requested:
        return (root or pathlib.Path.cwd()) / requested
    if root is None:
        return user_cache_dir() / "results"
    return root / LOCAL_RESULTS


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
