"""Binder's configuration (binder/): what a learner needs, no test tooling, the start page first.

repo2docker cannot run here (no container engine), so the slow test plays its part: a fresh venv
holding what postBuild runs on (linked from this venv, as the hosted-runtime rehearsal does), a
copy of the repository as Binder clones it (tracked files only), and binder/postBuild run in it.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import hosted_runtime  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.requirements import Requirement  # noqa: E402
from packaging.specifiers import SpecifierSet  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TEST_TOOLING = {"pytest", "nbval", "pytest-xdist", "playwright", "ruff", "sphinx", "myst-nb"}


def binder_requirements():
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def normalised(requirement):
    return (hosted_runtime.canonical(requirement.name), str(requirement.specifier))


def test_binder_installs_the_package_requirements_and_the_lab_and_nothing_else():
    wanted = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["lab"]
    assert sorted(map(normalised, binder_requirements())) == sorted(
        normalised(Requirement(text)) for text in wanted
    ), "binder/requirements.txt and pyproject.toml (dependencies + lab) disagree"
    names = {hosted_runtime.canonical(r.name) for r in binder_requirements()}
    assert not names & TEST_TOOLING, f"Binder would install test tooling: {names & TEST_TOOLING}"


def test_binders_python_is_one_the_course_supports():
    version = re.fullmatch(r"python-(3\.\d+)\s*", (BINDER / "runtime.txt").read_text()).group(1)
    assert version in SpecifierSet(PROJECT["requires-python"])


def test_post_build_is_executable_and_stops_at_the_first_failure():
    script = BINDER / "postBuild"
    assert os.access(script, os.X_OK), "binder/postBuild must be executable"
    assert "set -euo pipefail" in script.read_text()


@pytest.mark.slow
def test_post_build_installs_the_course_and_opens_the_start_page(tmp_path):
    # What postBuild itself runs on: pip, and the start page's imports (cnnlib needs NumPy to be
    # imported, nbformat writes the page). That requirements.txt holds the rest is checked above;
    # installing TensorFlow again would only make this test minutes longer.
    python = hosted_runtime.runtime_from_this_venv(tmp_path / "venv", ["numpy", "nbformat"])
    clone = tmp_path / "repo"  # the repository as Binder clones it: tracked files only
    clone.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True)
    for name in archive.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / name).read_bytes())
            target.chmod((ROOT / name).stat().st_mode)
    home = tmp_path / "home"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(
        HOME=str(home),
        # The package's build backend (setuptools) comes from the index, as on Binder.
        PATH=f"{python.parent}{os.pathsep}{environment['PATH']}",
    )
    built = subprocess.run(
        ["bash", str(clone / "binder" / "postBuild")],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (clone / "notebooks" / "START_HERE.ipynb").is_file()
    config = (home / ".jupyter" / "jupyter_server_config.py").read_text()
    assert "/lab/tree/notebooks/START_HERE.ipynb" in config
    installed = subprocess.run(
        [str(python), "-c", "import cnnlib, nbval"], capture_output=True, text=True, env=environment
    )
    assert "No module named 'nbval'" in installed.stderr, "cnnlib missing, or nbval present"
