"""A notebook run as a learner runs it (issue 10 item 2, issue 13 item 1).

Notebook 01 (the cheapest) is executed in a throw-away git checkout holding the committed notebook,
cnnlib and results/, with CNNLIB_RESULTS_DIR unset as in JupyterLab. Afterwards:
- `git status --porcelain` is empty: the run changed no tracked file (its results went to the
  git-ignored my_results/ and setup said so);
- no cell wrote anything to standard error (TensorFlow's C++ start-up lines, CUDA probe errors);
- the last cell does not echo a PosixPath.
"""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/01_image_as_matrix.ipynb"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def git(folder, *args):
    return subprocess.run(
        ["git", *args], cwd=folder, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Notebook 01 run by hand in a fresh checkout: (checkout, executed notebook, what setup printed)."""
    checkout = tmp_path_factory.mktemp("checkout")
    # The committed notebook (another engineer's uncommitted edits do not matter here) and this cnnlib.
    (checkout / "notebooks").mkdir()
    (checkout / NOTEBOOK).write_text(git(ROOT, "show", f"HEAD:{NOTEBOOK}"))
    shutil.copytree(
        ROOT / "cnnlib", checkout / "cnnlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "results", checkout / "results")
    shutil.copy(ROOT / ".gitignore", checkout / ".gitignore")
    git(checkout, "init", "-q")
    git(checkout, "add", ".")
    git(
        checkout,
        "-c",
        "user.name=test",
        "-c",
        "user.email=test@example.invalid",
        "commit",
        "-q",
        "-m",
        "course",
    )

    notebook = nbformat.read(checkout / NOTEBOOK, as_version=4)
    saved = {
        name: os.environ.get(name)
        for name in ("CNNLIB_RESULTS_DIR", "PYTHONPATH", "XDG_CACHE_HOME", "PYTEST_CURRENT_TEST")
    }
    os.environ.pop("CNNLIB_RESULTS_DIR", None)  # as in JupyterLab: no variable set
    # ipykernel forwards C-level standard error (file descriptor 2) to the notebook, as JupyterLab
    # shows it, except when it sees this variable; without it the kernel behaves as in JupyterLab.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    os.environ["PYTHONPATH"] = str(checkout)  # the kernel imports the checkout's cnnlib
    os.environ["XDG_CACHE_HOME"] = str(checkout.parent / "user_cache")
    try:
        client = nbclient.NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(checkout / "notebooks")}},
        )
        client.execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return checkout, notebook


def test_a_hand_run_changes_no_tracked_file(executed):
    checkout, notebook = executed
    assert git(checkout, "status", "--porcelain") == "", "the run changed tracked files"
    assert (checkout / "my_results" / "01_image_as_matrix.json").exists()
    first_output = "".join(
        o.get("text", "")
        for o in notebook.cells[
            next(
                i
                for i, c in enumerate(notebook.cells)
                if c.cell_type == "code" and "cnnlib.setup(" in c.source
            )
        ].outputs
    )
    assert "my_results (not tracked by git)" in first_output


def test_no_cell_writes_to_standard_error(executed):
    _, notebook = executed
    stderr = [
        (index, output.get("text", "")[:300])
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stderr" or output.output_type == "error"
    ]
    assert not stderr, f"cells wrote to standard error: {stderr}"


def test_the_last_cell_echoes_no_path(executed):
    _, notebook = executed
    shown = json.dumps([cell.outputs for cell in notebook.cells if cell.cell_type == "code"])
    assert "PosixPath" not in shown
