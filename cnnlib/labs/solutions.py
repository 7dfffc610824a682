"""Solutions live outside the notebooks, one file per notebook, so no renderer can show them.

GitHub, VS Code and Colab ignore a collapsed cell, and after Run All a solution's output is on
screen under it. So the worked solutions of `notebooks/NN_name.ipynb` are in
`notebooks/solutions/NN_name.py`, in the percent format Jupytext, VS Code and Spyder read as cells:

    # %% 05.softmax                 <- the code of the solution to exercise 05.softmax
    # %% [markdown] 05.learning_rate <- prose about it (the "why"), as comment lines

The notebook ends with one "## Solutions" cell saying where the file is, and one collapsed code cell
(tagged `solution`, like the heading) calling `labs.run_solutions("05_lenet5_mnist")`. That call
only prints where the solutions are, unless CNNLIB_RUN_SOLUTIONS=1 (the test run sets it): then
it executes every solution in the notebook's namespace and requires each one's check to say ✓.
"""

import contextlib
import dataclasses
import io
import os
import pathlib
import re

RUN_VARIABLE = "CNNLIB_RUN_SOLUTIONS"
SOLUTION_TAG = "solution"
FOLDER = "solutions"  # next to the notebooks
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.M)
CELL_LINE = re.compile(r"^# %%(?:\s+\[(\w+)\])?(?:\s+(\S.*?))?\s*$")
HEADER = """\
# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)
"""


@dataclasses.dataclass
class Cell:
    kind: str  # "code" or "markdown"
    label: str  # the exercise id ("05.softmax"), or "" for the file's introduction
    source: str


# ---------------------------------------------------------------------------------------------
# The file: write and read
# ---------------------------------------------------------------------------------------------


def format_cells(cells, name):
    """The text of `notebooks/solutions/<name>.py` for `cells` (a list of `Cell`)."""
    parts = [
        HEADER,
        "# %% [markdown]\n"
        f"# Worked solutions to the exercises of notebook {name}.ipynb, one cell per exercise.\n"
        "# Each ends with the exercise's check; the notebook's last cell runs them all in the\n"
        "# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.\n",
    ]
    for cell in cells:
        if cell.kind == "markdown":
            lines = [f"# {line}".rstrip() for line in cell.source.strip("\n").splitlines()]
            parts.append(f"# %% [markdown] {cell.label}\n" + "\n".join(lines) + "\n")
        else:
            parts.append(f"# %% {cell.label}\n" + cell.source.strip("\n") + "\n")
    return "\n\n".join(parts)


def parse(text):
    """The cells of a solutions file, in order (the unlabelled introduction left out)."""
    cells, current = [], None
    for line in text.splitlines():
        match = CELL_LINE.match(line)
        if match:
            current = Cell(match.group(1) or "code", match.group(2) or "", "")
            if current.kind not in ("code", "markdown"):
                raise ValueError(f"unknown cell type [{current.kind}] in: {line}")
            cells.append(current)
        elif current is not None:
            if current.kind == "markdown":
                line = line[2:] if line.startswith("# ") else line.lstrip("#")
            current.source += line + "\n"
    for cell in cells:
        cell.source = cell.source.strip("\n")
    return [cell for cell in cells if cell.label]


def solutions_path(name, folder=None):
    """Where the solutions of notebook `name` ("05_lenet5_mnist") are.

    Looked for in `folder`, else next to the working directory (a kernel runs in its notebook's
    folder), else in the course's notebooks/ folder.
    """
    from cnnlib.runtime.locations import course_root

    relative = pathlib.Path(FOLDER) / f"{name}.py"
    candidates = [pathlib.Path(folder) / relative] if folder else []
    candidates.append(pathlib.Path.cwd() / relative)
    if course_root():  # course_root also finds the checkout cnnlib was imported from
        candidates.append(course_root() / "notebooks" / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[-1 if not folder else 0]


# ---------------------------------------------------------------------------------------------
# Running them
# ---------------------------------------------------------------------------------------------


class SolutionFailed(AssertionError):
    """A solution raised, or its check did not say ✓."""


def _namespace():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    shell = get_ipython()
    return shell.user_ns if shell is not None else None


def run_solutions(name, namespace=None, folder=None):
    """The notebook's last cell: say where the solutions are, or (CNNLIB_RUN_SOLUTIONS=1) run them.

    Running executes every solution cell of `notebooks/solutions/<name>.py` in `namespace` (by
    default the notebook's own, so solutions use its data and imports) and requires each one's
    `labs.check` to say ✓; prints one line when all do, raises `SolutionFailed` naming the first
    exercise that does not.
    """
    from cnnlib.labs import core
    from cnnlib.runtime.hosted import solutions_location

    path = solutions_path(name, folder)
    number = name[:2]
    if os.environ.get(RUN_VARIABLE) != "1":
        # A notebook opened alone (Colab, a download) has no solutions/ beside it: the pointer
        # then gives the file's address in the course's repository.
        print(
            f"The solutions of notebook {number} are in {solutions_location(name, folder)}: "
            "open that file when you are stuck."
        )
        return
    if not path.is_file():
        raise SolutionFailed(
            f"no solutions file for notebook {name} at {path}; they are in "
            f"{solutions_location(name, folder)}"
        )
    cells = [cell for cell in parse(path.read_text(encoding="utf-8")) if cell.kind == "code"]
    if not cells:
        raise SolutionFailed(f"{path} holds no solution cell")
    if namespace is None:
        namespace = _namespace()
    if namespace is None:
        raise SolutionFailed("run_solutions runs in a notebook (IPython) or with a namespace")
    for cell in cells:
        start = len(core.HISTORY)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(cell.source, f"{path.name}:{cell.label}", "exec"), namespace)
        except core.CheckFailed as error:
            raise SolutionFailed(
                f"the solution of {cell.label} ({path.name}) does not pass its check: {error}"
            ) from None
        except Exception as error:
            raise SolutionFailed(
                f"the solution of {cell.label} ({path.name}) raised "
                f"{type(error).__name__}: {error}\n{printed.getvalue()[-2000:]}"
            ) from error
        outcomes = [outcome for exercise, outcome in core.HISTORY[start:] if exercise == cell.label]
        if not outcomes or any(outcome != "right" for outcome in outcomes):
            said = ", ".join(outcomes) or "no check of this exercise ran"
            raise SolutionFailed(
                f"the solution of {cell.label} ({path.name}) does not pass its check: {said}\n"
                f"{printed.getvalue()[-2000:]}"
            )
    print(f"✓ all {len(cells)} solutions of notebook {number} pass their checks")


# ---------------------------------------------------------------------------------------------
# Reading a notebook
# ---------------------------------------------------------------------------------------------


def is_solution_cell(cell):
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _exercise_ids_by_number(cells):
    """{"3.4": "03.photo_stride"}: each exercise heading's number, to the first check after it."""
    found, number = {}, None
    for cell in cells:
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            number = headings[-1] if headings else number
        elif number and number not in found:
            ids = CHECK_CALL.findall(cell.source)
            if ids:
                found[number] = ids[0]
    return found
