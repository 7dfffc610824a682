"""Hosted runtimes (Colab, Kaggle), where a notebook arrives alone, without the course's checkout.

Every notebook starts with a short bootstrap cell (`bootstrap_source`): on a hosted runtime
without the course package it installs the package, pinned to the course's version, from the
course's repository; anywhere else it does nothing and prints nothing. The cell cannot read
pyproject.toml there, so the address and the version are written into it, and
`cnn-course bootstrap` rewrites the cells from pyproject.toml's `[project.urls] Repository` and
`version` (a test fails when they disagree). On the hosted runtime itself the installed package
knows both from its own metadata, which is how `file_url` links to a file of the course (the
solutions of a notebook) that the runtime does not have.

`CNNLIB_BOOTSTRAP_WHEEL` is a switch for the course's own tests only: it makes the cell install a
wheel built from the checkout instead (tests/e2e/test_hosted_runtime.py rehearses a hosted runtime
with it and with Kaggle's marker variable).
"""

import importlib.metadata
import os
import pathlib
import sys

PACKAGE = "cnnlib"
COLAB_MODULE = "google.colab"  # imported by every Colab kernel before the first cell runs
KAGGLE_VARIABLE = "KAGGLE_KERNEL_RUN_TYPE"  # set in every Kaggle kernel ("Interactive", "Batch")
WHEEL_VARIABLE = "CNNLIB_BOOTSTRAP_WHEEL"  # tests only: install this wheel instead
BOOTSTRAP_TAG = "bootstrap"  # the tag of the notebooks' first cell
BOOTSTRAP_ID = "cnnlib-bootstrap"  # its cell id, the same in every notebook
RUNS_FOLDER = "cnn-course-runs"  # next to the notebook on a hosted runtime: results, checkpoints
# The owner in pyproject.toml's address until the course is published: the website makes no
# launch button for it and `file_url` no link into it.
PLACEHOLDER_OWNER = "OWNER"


def runtime_name():
    """The hosted runtime this process runs on, "Colab" or "Kaggle", else None."""
    if COLAB_MODULE in sys.modules:
        return "Colab"
    if KAGGLE_VARIABLE in os.environ:
        return "Kaggle"
    return None


def is_placeholder(address):
    """True for the address pyproject.toml holds until the course's repository is published."""
    return f"/{PLACEHOLDER_OWNER}/" in (address or "")


def git_ref(version):
    """The tag of a released version: the bootstrap installs it, the links point into it."""
    return f"v{version}"


def install_requirement(address, version):
    """What the bootstrap cell hands to pip: the package at its version's tag in the repository."""
    return f"{PACKAGE} @ git+{address}@{git_ref(version)}"


def bootstrap_source(address, version):
    """The source of the notebooks' first cell, for the course at `address`, version `version`."""
    return f"""\
# On Colab or Kaggle this notebook arrives alone: this cell installs the course's package there.
# Anywhere else (a clone of the course, JupyterHub, Binder) it does nothing.
import importlib.util
import os
import subprocess
import sys

hosted = "{COLAB_MODULE}" in sys.modules or "{KAGGLE_VARIABLE}" in os.environ
if hosted and importlib.util.find_spec("{PACKAGE}") is None:
    package = "{install_requirement(address, version)}"
    package = os.environ.get("{WHEEL_VARIABLE}", package)  # the course's own tests only
    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", package]).returncode:
        raise SystemExit("Could not install the course's package: on Kaggle, turn Internet on.")"""


def installed_project():
    """(repository address, version) from the installed package's metadata; None for what it
    lacks. The metadata is made from pyproject.toml when the package is built or installed."""
    try:
        metadata = importlib.metadata.metadata(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None, None
    address = None
    for entry in metadata.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            address = url.strip().rstrip("/")
    return address, metadata["Version"]


def file_url(path, address=None, version=None):
    """The web address of `path` (relative to the repository's top) in this version of the course,
    or None while the repository's address is the placeholder or unknown."""
    if address is None or version is None:
        installed_address, installed_version = installed_project()
        address, version = address or installed_address, version or installed_version
    if not address or not version or is_placeholder(address):
        return None
    return f"{address.rstrip('/')}/blob/{git_ref(version)}/{pathlib.PurePosixPath(path)}"


def solutions_location(name, folder=None):
    """Where a learner finds the worked solutions of notebook `name` ("05_lenet5_mnist"), in words:
    the file next to the notebook when it is there (a clone), else its address in the repository.

    For `labs.run_solutions`'s pointer sentence: "The solutions of notebook 05 are in {this}".
    """
    relative = pathlib.PurePosixPath("solutions") / f"{name}.py"
    here = pathlib.Path(folder) if folder else pathlib.Path.cwd()
    if (here / relative).is_file():
        return f"{relative}, next to this notebook"
    from cnnlib.runtime.locations import course_root

    root = course_root()
    if root is not None and (root / "notebooks" / relative).is_file():
        return f"notebooks/{relative} in the course folder"
    url = file_url(f"notebooks/{relative}")
    if url:
        return url
    return f"notebooks/{relative} in the course's repository"


def runs_dir():
    """The visible folder next to the notebook where a run on a hosted runtime writes: the file
    pane of Colab and Kaggle shows it (downloading it keeps it past the runtime's end)."""
    return pathlib.Path.cwd().absolute() / RUNS_FOLDER


def env_hint(variable, value):
    """How to set an environment variable where the learner is: a magic in a notebook cell on a
    hosted runtime, shell syntax elsewhere."""
    if runtime_name():
        return f"%env {variable}={value} in a cell above, then run this cell again"
    return f"{variable}={value}"


def checkout_project(root):
    """(repository address, version) from pyproject.toml of the checkout at `root`.

    Raises ValueError naming what is missing (no file, no [project.urls] Repository).
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError(
                "reading pyproject.toml on Python 3.10 needs tomli: pip install tomli"
            ) from None
    path = pathlib.Path(root) / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError) as error:
        raise ValueError(f"{path} has no [project] table ({type(error).__name__})") from None
    address = project.get("urls", {}).get("Repository")
    if not address:
        raise ValueError(f"{path} has no Repository address under [project.urls]")
    return address.rstrip("/"), project["version"]
