"""Rehearsal of a hosted runtime (Colab, Kaggle): a notebook opened alone runs as shipped.

For each notebook chosen below: the notebook is copied alone into an empty folder and executed, in
the ci profile, in a kernel of a fresh venv that holds only what a hosted runtime preinstalls —
the packages of tests/fixtures/colab-packages.txt that this test run's venv has, at this venv's
versions, with what they require, hard-linked from it, and no cnnlib — plus the course's wheel
built from this checkout. The kernel gets Kaggle's marker variable (KAGGLE_KERNEL_RUN_TYPE), so
the notebook's first cell believes it runs on a hosted runtime, and the test-only switch
CNNLIB_BOOTSTRAP_WHEEL, so that cell installs the local wheel instead of the repository's tag.
pip sees no package index (PIP_NO_INDEX): a dependency bound that the runtime's packages do not
meet fails the install instead of downloading. The run must show no error and nothing on
standard error, and the results must land in cnn-course-runs/ next to the notebook.

Which notebooks (CI time): 01, the fastest, every run, and one of 02–07 in turn, by the day
(all seven within six days). CNNLIB_HOSTED_NOTEBOOKS=all (or "03,05") runs others.
CNNLIB_HOSTED_PYTHON=/path/to/python rehearses on an existing environment instead of the
linked venv, e.g. one holding an older image's packages (docs/gpus-and-cloud.md).
"""

import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import hosted_runtime  # noqa: E402

from cnnlib.runtime import hosted  # noqa: E402
from cnnlib.runtime.course import notebook_paths  # noqa: E402

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")


def rotation(today):
    """01 every run, and one of the others in turn, by the day."""
    others = NOTEBOOKS[1:]
    return [NOTEBOOKS[0], others[today.toordinal() % len(others)]]


def chosen_notebooks():
    """The rotation of today, or the notebooks CNNLIB_HOSTED_NOTEBOOKS names ("all", "03,05")."""
    wanted = os.environ.get("CNNLIB_HOSTED_NOTEBOOKS", "").strip()
    if wanted == "all":
        return NOTEBOOKS
    if wanted:
        numbers = {number.strip().zfill(2) for number in wanted.split(",")}
        return [path for path in NOTEBOOKS if path.name[:2] in numbers]
    return rotation(datetime.date.today())


def test_the_rotation_reaches_every_notebook_within_six_days():
    start = datetime.date(2026, 1, 1)
    days = [start + datetime.timedelta(days=offset) for offset in range(len(NOTEBOOKS) - 1)]
    seen = {path.name for day in days for path in rotation(day)}
    assert seen == {path.name for path in NOTEBOOKS}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """(python of the imitated hosted runtime, the course's wheel)."""
    work = tmp_path_factory.mktemp("hosted")
    wheel = hosted_runtime.build_wheel(work / "dist")
    python = os.environ.get("CNNLIB_HOSTED_PYTHON")
    if not python:
        unmet = hosted_runtime.unmet_requirements()
        assert not unmet, (
            f"this venv does not meet pyproject.toml's bounds ({', '.join(unmet)}), so a runtime "
            "copied from it could not install the course offline: pip install -e '.[test]'"
        )
        _, packages = hosted_runtime.read_fixture(hosted_runtime.FIXTURES / "colab-packages.txt")
        python = hosted_runtime.runtime_from_this_venv(
            work / "venv", [*packages, *hosted_runtime.KERNEL]
        )
    kernels = work / "kernels" / "hosted"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "hosted runtime (rehearsal)",
                "language": "python",
            }
        )
    )
    return pathlib.Path(python), wheel, kernels.parent


def kernel_environment(wheel):
    """The test run's environment, without what makes cnnlib importable or the checkout's test
    settings, with the hosted runtime's marker and the switch to the local wheel."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "CNNLIB_RESULTS_DIR", "CNNLIB_RUN_SOLUTIONS")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.pop("PYTEST_CURRENT_TEST", None)
    environment.update(
        {
            hosted.KAGGLE_VARIABLE: "Interactive",
            hosted.WHEEL_VARIABLE: str(wheel),
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "CNNLIB_PROFILE": "ci",
        }
    )
    return environment


def problems(notebook):
    """Every error and every standard-error output of an executed notebook, with its cell."""
    found = []
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {number}: {output['ename']}: {output['evalue']}")
            elif output.get("name") == "stderr":
                found.append(f"cell {number} wrote to standard error: {output['text'][:500]}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", chosen_notebooks(), ids=lambda path: path.stem)
def test_notebook_runs_alone_on_a_hosted_runtime(path, runtime, tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    python, wheel, kernel_dirs = runtime
    uninstall = [str(python), "-m", "pip", "uninstall", "-y", "-q", hosted.PACKAGE]
    environment = kernel_environment(wheel)
    # Each notebook bootstraps from nothing.
    subprocess.run(uninstall, capture_output=True, env=environment)
    folder = tmp_path / "content"  # Colab's working folder has that name
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    notebook = nbformat.read(folder / path.name, as_version=4)
    assert notebook.cells[0].get("id") == hosted.BOOTSTRAP_ID, "the bootstrap cell is not first"
    manager = KernelManager(
        kernel_name="hosted",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dirs)]),
    )
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=900,
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=environment)
    nbformat.write(notebook, tmp_path / f"executed-{path.name}")

    found = problems(notebook)
    assert not found, f"{path.name} on a hosted runtime:\n" + "\n".join(found)
    installed = subprocess.run(
        [str(python), "-c", "import cnnlib, sys; print(cnnlib.__file__)"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    assert str(python.parent.parent) in installed.stdout, (
        f"the bootstrap cell did not install the wheel into the runtime: {installed}"
    )
    if "run.record(" in path.read_text():
        results = folder / hosted.RUNS_FOLDER / "results" / f"{path.stem}.json"
        assert results.is_file(), f"no results in {results.parent} (the hosted runtime's folder)"
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert f"{folder / hosted.RUNS_FOLDER}" in printed, "set-up did not say where results go"
