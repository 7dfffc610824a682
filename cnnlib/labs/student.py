"""Write the student version of the notebooks: every solution removed, stubs and checks kept.

A course notebook ends with two cells tagged ``solution``: the "## Solutions" pointer and the
collapsed cell that runs `notebooks/solutions/NN_name.py` in the test run (see
`cnnlib.labs.solutions`). The student version drops every cell tagged ``solution`` (in a notebook
of the older layout that is every worked solution), keeps everything else, ``verify`` cells
included, and clears the outputs, so it starts as clean as the committed notebook. The solution
files are not copied. In any other code cell, the lines from ``### BEGIN SOLUTION`` to
``### END SOLUTION`` (a solution written inside the exercise's own cell) become
``raise NotImplementedError  # your code here``.

The cells tagged ``solution`` are removed by nbconvert's TagRemovePreprocessor and the outputs
cleared by its ClearOutputPreprocessor. Each exported notebook records which course notebook it
is in ``metadata["cnnlib"]["assignment"]`` (``"02_convolution"``): the grader reads it to know the
assignment and to flag a file of another notebook.
"""

import pathlib
import re

SOLUTION_TAG = "solution"
ASSIGNMENT_KEY = "cnnlib"  # notebook.metadata["cnnlib"]["assignment"]: read by the grader
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_MARKED = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.M | re.S)


def is_solution_cell(cell):
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def strip_marked(source):
    """Replace each marked solution region with a NotImplementedError stub at the same indent."""
    return _MARKED.sub(
        lambda m: f"{m.group(1)}raise NotImplementedError  # your code here\n", source
    )


def student_notebook(notebook, assignment=None):
    """A copy of `notebook` (an nbformat node) without solutions and without outputs; with
    `assignment` ("02_convolution"), the metadata the grader reads says which notebook it is."""
    import copy as copying

    from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

    copy = copying.deepcopy(notebook)
    remove = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    copy, _ = remove.preprocess(copy, {})
    copy, _ = ClearOutputPreprocessor(enabled=True).preprocess(copy, {})
    cells = copy.cells
    for cell in cells:
        if cell.cell_type == "code":
            cell.source = strip_marked(cell.source)
    if assignment is not None:
        copy.metadata[ASSIGNMENT_KEY] = {
            "assignment": assignment,
            "exported_by": "cnn-course student",
        }
    leftover = [c.source for c in cells if BEGIN in c.source or END in c.source]
    if leftover:
        raise ValueError(f"unbalanced solution markers left in a cell:\n{leftover[0][:300]}")
    return copy


def notebook_files(folder):
    """The course notebooks (NN_name.ipynb) in `folder`, or FileNotFoundError in one sentence."""
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileNotFoundError(f"{folder} is a file, not a folder of course notebooks")
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {folder}")
    return found


def write_student_versions(source_dir, out_dir, keep_existing=False):
    """Write every notebook of `source_dir` to `out_dir` without solutions; return the paths written.

    With `keep_existing`, a notebook already in `out_dir` (a learner's work) is left as it is.
    """
    import nbformat

    source_dir, out_dir = pathlib.Path(source_dir), pathlib.Path(out_dir)
    notebooks = notebook_files(source_dir)
    if out_dir.resolve() == source_dir.resolve():
        raise ValueError("the student versions must go to another folder, not over the originals")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"{out_dir} is a file, not a folder: name a folder for the student notebooks"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the folder {out_dir}: {error.strerror}") from None
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        if keep_existing and target.exists():
            continue
        nbformat.write(student_notebook(notebook, assignment=path.stem), target)
        written.append(target)
    return written
