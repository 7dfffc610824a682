"""The student version of every notebook runs clean, with every exercise "not attempted yet";
the course website is built from those executed pages.

The student version is what an instructor hands out (`python -m cnnlib.labs student OUTDIR`), so
CI executes it as a learner would open it: no errors, no solution, and no check that claims a ✓
for work the learner has not done. The website (`python -m cnnlib.site`) is made of the same
executed notebooks, so it is built here from them instead of executing everything twice.
"""

import pathlib
import re

import nbformat
import pytest

from cnnlib import labs, site
from cnnlib.labs import student

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")


class StudentRuns:
    """Student notebooks, each executed at most once per test session."""

    def __init__(self, folder):
        self.folder = folder
        student.write_student_versions(ROOT / "notebooks", folder)
        self.done = {}

    def executed(self, name):
        if name not in self.done:
            notebook = nbformat.read(self.folder / name, as_version=4)
            site.execute(notebook, ROOT / "notebooks", timeout=900)
            nbformat.write(notebook, self.folder / name)
            self.done[name] = notebook
        return self.done[name]


@pytest.fixture(scope="session")
def student_runs(tmp_path_factory):
    return StudentRuns(tmp_path_factory.mktemp("student"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_notebook_runs_and_nothing_is_attempted(path, student_runs):
    notebook = student_runs.executed(path.name)
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    checked = {
        m
        for cell in notebook.cells
        if cell.cell_type == "code"
        for m in CHECK_CALL.findall(cell.source)
    }
    expected = {i for i in labs.EXERCISES if i.startswith(path.name[:2] + ".")}
    assert checked == expected, (
        f"{path.name}: checks called {sorted(checked)}, registered {sorted(expected)}"
    )
    for exercise_id in expected:
        assert re.search(rf"… {re.escape(exercise_id)} \(.*\): not attempted yet", outputs), (
            f"{path.name}: {exercise_id} did not report 'not attempted yet'"
        )
        assert f"✓ {exercise_id} (" not in outputs, (
            f"{path.name}: {exercise_id} passed without an answer"
        )


def test_the_website_has_every_page_with_its_figures(student_runs, tmp_path):
    for path in NOTEBOOKS:
        student_runs.executed(path.name)
    pages = site.build_site(student_runs.folder, tmp_path / "site")
    assert [p.name for p in pages] == ["index.html", *[f"{p.stem}.html" for p in NOTEBOOKS]]
    index = (tmp_path / "site" / "index.html").read_text()
    for path in NOTEBOOKS:
        assert f'href="{path.stem}.html"' in index
        page = (tmp_path / "site" / f"{path.stem}.html").read_text()
        figures = student_runs.done[path.name]
        expected = sum(
            "image/png" in o.get("data", {}) for c in figures.cells for o in c.get("outputs", [])
        )
        assert page.count("data:image/png;base64,") >= expected > 0, (
            f"{path.stem}: figures missing from the page"
        )
        assert 'href="index.html"' in page, f"{path.stem}: no link back to the index"
        assert student.BEGIN not in page, f"{path.stem}: a solution leaked into the website"
    stand_in = (tmp_path / "site" / "07_vgg16_transfer_learning.html").read_text()
    assert 'class="course-notice"' in stand_in, (
        "offline, notebook 07 runs on a stand-in: its page must say so at the top"
    )
    assert (
        'class="course-notice"' not in (tmp_path / "site" / "01_image_as_matrix.html").read_text()
    )
