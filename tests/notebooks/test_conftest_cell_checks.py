"""conftest.py's checks on the notebooks catch what they promise (each run on a two-cell notebook).

nbval alone passes a cell that writes to standard error; a learner would see a pink block in
JupyterLab. With the course's conftest.py, such a cell fails, whether the text comes from Python
or from C/C++ code writing to file descriptor 2 (as TensorFlow's start-up logs do).
"""

import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_notebook_under_pytest(folder, *sources):
    """nbval on a notebook of the given code cells, with the course's conftest.py; (code, output)."""
    shutil.copy(ROOT / "conftest.py", folder / "conftest.py")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(notebook, folder / "check.ipynb")
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "--nbval-lax"]
        + ["--nbval-current-env", "check.ipynb"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return finished.returncode, finished.stdout + finished.stderr


@pytest.mark.parametrize(
    "writer",
    [
        "import os\nos.write(2, b'E0000 a C++ log line\\n')",
        "import sys\nprint('E0000 a C++ log line', file=sys.stderr)",
    ],
    ids=["file descriptor 2", "sys.stderr"],
)
def test_a_cell_writing_to_standard_error_fails(tmp_path, writer):
    code, output = run_notebook_under_pytest(tmp_path, "print('fine')", writer)
    assert code == 1, output
    assert "1 failed, 1 passed" in output, output
    assert "Cell wrote to standard error" in output and "E0000 a C++ log line" in output, output


def test_a_quiet_notebook_passes(tmp_path):
    code, output = run_notebook_under_pytest(tmp_path, "print('fine')", "x = 1")
    assert code == 0, output
