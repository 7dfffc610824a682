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

`convert` moves the solutions of a notebook in the older layout (cells tagged `solution` with
`### BEGIN SOLUTION` / `### END SOLUTION` markers, prose cells tagged `solution`) into that file.
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
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.M)
SOLUTION_TO = re.compile(r"Solution to (\d+\.\d+)")
# The exercises' introductions said where the solutions were: that sentence is updated too.
OLD_POINTER = re.compile(
    r"Solutions\s+are\s+at\s+the\s+very\s+end(?:\s+of\s+the\s+notebook)?(?:,\s+collapsed)?"
    r"[:;]\s+try\s+first\."
)
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

    path = solutions_path(name, folder)
    number = name[:2]
    if os.environ.get(RUN_VARIABLE) != "1":
        print(
            f"The solutions of notebook {number} are in {FOLDER}/{path.name} next to this "
            "notebook: open that file when you are stuck."
        )
        return
    if not path.is_file():
        raise SolutionFailed(f"no solutions file for notebook {name}: looked for {path}")
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
# Converting a notebook of the older layout
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


def _without_markers(source):
    kept = [line for line in source.splitlines() if line.strip() not in (BEGIN, END)]
    kept = [line for line in kept if not re.fullmatch(r"#\s*Solution \d+\.\d+\s*", line.strip())]
    return re.sub(r"\n{3,}", "\n\n\n", "\n".join(kept)).strip("\n")


def tail_cells(name):
    """The two cells a converted notebook ends with: the pointer and the collapsed runner."""
    import nbformat

    heading = nbformat.v4.new_markdown_cell(
        "## Solutions\n\n"
        f"Worked solutions to these exercises are in [`{FOLDER}/{name}.py`]({FOLDER}/{name}.py), "
        "next to this notebook, one cell per exercise. Try each exercise first: a check that says "
        "*what* is wrong teaches more than a solution read too early.",
        metadata={"tags": [SOLUTION_TAG]},
    )
    runner = nbformat.v4.new_code_cell(
        f'from cnnlib import labs\n\nlabs.run_solutions("{name}")',
        metadata={"tags": [SOLUTION_TAG], "jupyter": {"source_hidden": True}},
    )
    return [heading, runner]


def convert(notebook, name):
    """(notebook without solutions but the two tail cells, the solutions file's text).

    `notebook` is an nbformat node (left unchanged); `name` is the notebook's stem. A notebook
    already converted comes back unchanged, with text None.
    """
    import nbformat

    solution_cells = [cell for cell in notebook.cells if is_solution_cell(cell)]
    if not any(BEGIN in cell.source for cell in solution_cells):
        return nbformat.from_dict(notebook), None
    numbers = _exercise_ids_by_number([c for c in notebook.cells if not is_solution_cell(c)])
    moved, last_label = [], None
    for cell in solution_cells:
        if cell.cell_type == "code":
            ids = CHECK_CALL.findall(cell.source)
            if len(set(ids)) != 1:
                raise ValueError(
                    f"{name}: a solution cell must check exactly one exercise, this one checks "
                    f"{sorted(set(ids)) or 'none'}:\n{cell.source[:300]}"
                )
            last_label = ids[0]
            moved.append(Cell("code", last_label, _without_markers(cell.source)))
        elif cell.source.lstrip().startswith("## Solutions"):
            continue  # the old heading: replaced by the pointer
        else:
            named = SOLUTION_TO.search(cell.source)
            label = numbers.get(named.group(1)) if named else last_label
            if label is None:
                raise ValueError(
                    f"{name}: cannot tell which exercise this prose answers:\n{cell.source[:300]}"
                )
            moved.append(Cell("markdown", label, cell.source))
    converted = nbformat.from_dict(notebook)
    first = next(i for i, cell in enumerate(notebook.cells) if is_solution_cell(cell))
    kept = [cell for cell in converted.cells if not is_solution_cell(cell)]
    for cell in kept:
        if cell.cell_type == "markdown":
            cell.source = OLD_POINTER.sub(
                f"Worked solutions are in `{FOLDER}/{name}.py`, next to this notebook: try first.",
                cell.source,
            )
    converted.cells = kept[:first] + tail_cells(name) + kept[first:]
    # A prose answer follows its code in the file, whatever the order of the cells was.
    order = {cell.label: i for i, cell in reversed(list(enumerate(moved))) if cell.kind == "code"}
    moved.sort(key=lambda cell: (order.get(cell.label, len(moved)), cell.kind == "markdown"))
    return converted, format_cells(moved, name)


def convert_file(path):
    """Convert `notebooks/NN_name.ipynb` in place, writing `notebooks/solutions/NN_name.py`.

    Returns the solutions file written, or None when the notebook was already converted.
    """
    import nbformat

    path = pathlib.Path(path)
    notebook = nbformat.read(path, as_version=4)
    converted, text = convert(notebook, path.stem)
    if text is None:
        return None
    target = path.parent / FOLDER / f"{path.stem}.py"
    target.parent.mkdir(exist_ok=True)
    target.write_text(text, encoding="utf-8")
    nbformat.write(converted, path)
    return target
