"""`python -m cnnlib.tools.lab --student` opens the student version (issue 19, item 7)."""

import pathlib

import nbformat

from cnnlib.labs import solutions
from cnnlib.tools import lab

ROOT = pathlib.Path(__file__).resolve().parents[2]


class FakeServer:
    """Stands for JupyterLab: records its command and exits at once, so nothing is served."""

    commands = []

    def __init__(self, command, **_):
        self.commands.append(command)
        self.returncode = 3

    def poll(self):
        return self.returncode


def test_student_option_exports_and_opens_the_student_notebooks(tmp_path, monkeypatch):
    monkeypatch.setattr(lab.subprocess, "Popen", FakeServer)
    folder = tmp_path / "student"
    folder.mkdir()
    mine = folder / "01_image_as_matrix.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), mine)

    assert lab.main(["--student", str(folder), "--no-browser", "--port", "8950"]) == 3

    [command] = FakeServer.commands[-1:]
    assert f"--ServerApp.root_dir={folder}" in command
    opened = sorted(p.name for p in folder.glob("[0-9][0-9]_*.ipynb"))
    assert opened == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert nbformat.read(mine, as_version=4).cells[0].source == "x = 1"  # the learner's work kept
    for path in folder.glob("0[2-7]_*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        assert not any(solutions.is_solution_cell(cell) for cell in cells), path.name
    assert (folder / lab.START_PAGE).exists()


def test_without_the_option_the_course_notebooks_open(monkeypatch):
    monkeypatch.setattr(lab.subprocess, "Popen", FakeServer)
    monkeypatch.setattr(lab, "write_start_page", lambda folder: (folder / lab.START_PAGE, "ci"))
    lab.main(["--no-browser", "--port", "8951"])
    assert f"--ServerApp.root_dir={ROOT / 'notebooks'}" in FakeServer.commands[-1]
