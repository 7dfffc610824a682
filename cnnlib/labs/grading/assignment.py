"""What the grader knows before anything runs: the assignment, the students, what they wrote.

The assignment is a course notebook (`02_convolution`), named by ``--notebook`` or read from the
metadata `cnn-course student` writes into every exported notebook. Its exercises are the ones
registered for that notebook, in the order the shipped notebook checks them; every student gets a
row for each. The shipped student notebook is also what a submission is compared with: a code
cell whose text is not one of the shipped cells is a cell the student wrote, and only those are
scanned for forbidden references and dynamic code.
"""

import ast
import collections
import dataclasses
import pathlib
import re
import unicodedata

METADATA_KEY = "cnnlib"  # notebook.metadata["cnnlib"] = {"assignment": "02_convolution", ...}
CHECK_CALL = re.compile(r"""labs\.check\(\s*["'](\d\d\.[\w.]+)["']""")
ANSWER_TAG = "answer"
ANSWER_PROMPT = re.compile(r"^\s*\*Your answer:\*\s*", re.I)
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)", re.M)
NAME_LIMIT = 64
# Names in the student's own cells that run code the scan cannot read.
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
DYNAMIC_MODULES = {"importlib", "subprocess", "ctypes", "runpy", "pty", "multiprocessing"}
DYNAMIC_ATTRIBUTES = {
    ("sys", "modules"),
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "execve"),
    ("os", "execl"),
    ("os", "spawnl"),
    ("os", "posix_spawn"),
    ("os", "fork"),
}
# IPython's own ways to run other code: shell escapes, %run, cell magics that run a program.
DYNAMIC_MAGICS = {"system", "getoutput", "run_cell", "run_line_magic", "run_cell_magic"}
HARMLESS_MAGICS = {"matplotlib", "time", "timeit", "load_ext", "autoreload", "config"}


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def safe_name(stem):
    """The student's name for files, CSV, HTML and the terminal: letters, digits, `.`, `-` and
    `_` only (other characters, control codes included, become `_`), never starting with a
    character a spreadsheet reads as a formula, at most 64 characters. None when nothing usable
    is left."""
    text = unicodedata.normalize("NFKC", stem)
    text = "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "_" for c in text)
    text = re.sub(r"_+", "_", text).strip("._-")[:NAME_LIMIT].strip("._-")
    return text or None


def terminal(text):
    """`text` without control characters (escape codes) for the grader's terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def student_names(paths):
    """{path: name} for the submissions, or ValueError with one sentence naming the files whose
    names are unusable or that would give two students the same name."""
    names, unusable = {}, []
    for path in paths:
        name = safe_name(pathlib.Path(path).stem)
        if name is None:
            unusable.append(terminal(pathlib.Path(path).name))
        names[path] = name
    if unusable:
        raise ValueError(
            "these submissions have no usable student name in their file name (name each file "
            f"after the student, e.g. ada.ipynb): {', '.join(unusable)}"
        )
    seen = collections.defaultdict(list)
    for path, name in names.items():
        seen[name.lower()].append(terminal(pathlib.Path(path).name))
    twice = [" and ".join(files) for files in seen.values() if len(files) > 1]
    if twice:
        raise ValueError(
            "two submissions would get the same student name (file names are the student "
            f"column, compared ignoring case and punctuation): {'; '.join(twice)}"
        )
    return names


# ---------------------------------------------------------------------------------------------
# The assignment
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Assignment:
    name: str  # "02_convolution"
    exercises: list  # exercise ids, in the notebook's order
    shipped: object  # the student version as shipped (an nbformat node)

    @property
    def prefix(self):
        return self.name[:2]

    def shipped_code(self):
        return {_normal(c.source) for c in self.shipped.cells if c.cell_type == "code"}


def _normal(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def exercises_of(notebook, prefix):
    """The exercise ids of notebook `prefix` ("02"): in the order `notebook` checks them, then
    any other registered for it (a check the notebook lacks still gets its row)."""
    from cnnlib.labs import REGISTRY

    called = [
        exercise_id
        for cell in notebook.cells
        if cell.cell_type == "code"
        for exercise_id in CHECK_CALL.findall(cell.source)
        if exercise_id.startswith(f"{prefix}.") and exercise_id in REGISTRY
    ]
    called = list(dict.fromkeys(called))
    others = sorted(
        i
        for i, item in REGISTRY.items()
        if item.notebook == prefix and item.in_notebook and i not in called
    )
    return called + others


def load(name, course_notebooks):
    """The assignment `name` ("02_convolution") from the course's notebooks folder: its shipped
    student version and its exercises; ValueError with a sentence when there is no such notebook
    or it has no exercises."""
    import nbformat

    from cnnlib.labs.student import student_notebook

    if not re.fullmatch(r"\d\d_\w+", name or ""):
        raise ValueError(
            f"--notebook takes a course notebook's name such as 02_convolution, got {name!r}"
        )
    path = pathlib.Path(course_notebooks) / f"{name}.ipynb"
    if not path.is_file():
        known = sorted(p.stem for p in pathlib.Path(course_notebooks).glob("[0-9][0-9]_*.ipynb"))
        raise ValueError(
            f"no course notebook {name}.ipynb in {course_notebooks} (there are: {', '.join(known)})"
        )
    shipped = student_notebook(nbformat.read(path, as_version=4))
    exercises = exercises_of(shipped, name[:2])
    if not exercises:
        raise ValueError(f"{name} has no registered exercises to grade")
    return Assignment(name, exercises, shipped)


def declared_notebook(notebook):
    """The course notebook a submission says it is: the export's metadata, else the notebook
    most of its checks belong to ("02" then, a prefix only), else None."""
    meta = notebook.get("metadata", {}).get(METADATA_KEY, {})
    name = meta.get("assignment") if isinstance(meta, dict) else None
    if isinstance(name, str) and re.fullmatch(r"\d\d_\w+", name):
        return name
    prefixes = collections.Counter(
        exercise_id[:2]
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") == "code"
        for exercise_id in CHECK_CALL.findall(_text(cell.get("source", "")))
    )
    return prefixes.most_common(1)[0][0] if prefixes else None


def _text(source):
    return "".join(source) if isinstance(source, list) else str(source)


def same_notebook(declared, assignment):
    """True when `declared` (a name or a prefix) is the assignment's notebook."""
    return declared == assignment.name or declared == assignment.prefix


# ---------------------------------------------------------------------------------------------
# What the student wrote
# ---------------------------------------------------------------------------------------------


def student_cells(notebook, assignment):
    """The code cells of `notebook` that are not cells of the shipped notebook."""
    shipped = assignment.shipped_code()
    return [c for c in notebook.cells if c.cell_type == "code" and _normal(c.source) not in shipped]


def _python(source):
    """The cell as Python (IPython's magics and shell escapes as the calls they become), parsed;
    None when it does not parse (such a cell raised SyntaxError when it ran)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or a transform that fails: read it as plain Python
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def dynamic_code(source):
    """The dynamic constructs in `source` (sorted phrases): code the scan cannot read."""
    tree = _python(source)
    if tree is None:
        return []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in DYNAMIC_CALLS:
                found.add(f"{name}()")
            if name in ("getattr", "setattr", "delattr") and len(node.args) > 1:
                if not isinstance(node.args[1], ast.Constant):
                    found.add(f"{name} with a computed name")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in DYNAMIC_MODULES:
                    found.add(f"import {module.split('.')[0]}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in DYNAMIC_ATTRIBUTES:
                found.add(f"{node.value.id}.{node.attr}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython"
            and node.func.attr in DYNAMIC_MAGICS
        ):
            magic = (
                node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
            )
            if node.func.attr in ("run_line_magic", "run_cell_magic") and magic in HARMLESS_MAGICS:
                continue
            what = {"system": "a shell command (!)", "getoutput": "a shell command (!!)"}
            found.add(what.get(node.func.attr, f"the IPython magic %{magic or node.func.attr}"))
    return sorted(found)


def toolbox_reasons(exercise_id, source):
    """What the toolbox's scan (`core.forbidden_in_source`) finds in `source` for this exercise:
    its forbidden references (and their twins) and dynamic code; [] where the toolbox has no
    such scan. A cell that does not parse is left out (it raised SyntaxError when it ran)."""
    from cnnlib.labs import REGISTRY, core

    scan = getattr(core, "forbidden_in_source", None)
    if scan is None:
        return []
    try:
        reasons = scan(source, REGISTRY[exercise_id].forbid) or []
    except SyntaxError:
        return []
    return [str(r) for r in reasons if "could not be read as Python" not in str(r)]


def _covered(phrase, reasons):
    """True when the toolbox's `reasons` already name what the dynamic-code `phrase` is about
    ("eval()" and "line 2: calls eval() (dynamic code)")."""
    if phrase.startswith(("a shell command", "the IPython magic")):
        return False  # the toolbox's scan does not look at IPython's own syntax
    name = phrase.removeprefix("import ").split(" ")[0].removesuffix("()")
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", " ".join(reasons)) is not None


def review_reasons(notebook, assignment):
    """{exercise id: reason} for the rows an instructor should look at: a cell the student wrote
    names a reference the exercise forbids, or runs code the grader cannot read (which could hide
    one)."""
    own = {id(c) for c in student_cells(notebook, assignment)}
    numbered = [
        (number, c.source)
        for number, c in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1)
        if id(c) in own
    ]
    reasons = {}
    for exercise_id in assignment.exercises:
        found = []
        for number, source in numbered:
            theirs = toolbox_reasons(exercise_id, source)
            found += [f"code cell {number}, {reason}" for reason in theirs]
            # what the toolbox's scan does not cover (shell commands, subprocess, %run …)
            found += [
                f"code cell {number}: {phrase} (dynamic code)"
                for phrase in dynamic_code(source)
                if not _covered(phrase, theirs)
            ]
        found = list(dict.fromkeys(found))
        if found:
            reasons[exercise_id] = "for the instructor to look at: " + "; ".join(found[:6])
    return reasons


def collect_answers(notebook, assignment_exercises=None):
    """[(exercise id, text)] of the markdown cells tagged `answer`, each given to the exercise
    whose heading comes before it (or, without headings, the last check before it)."""
    from cnnlib.labs.solutions import _exercise_ids_by_number

    numbers = _exercise_ids_by_number(notebook.cells)
    answers, current, last_check = [], None, None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            last_check = (CHECK_CALL.findall(cell.source) or [last_check])[-1]
            continue
        headings = [n for n in EXERCISE_HEADING.findall(cell.source) if n in numbers]
        current = numbers[headings[-1]] if headings else current
        if ANSWER_TAG in cell.metadata.get("tags", []):
            text = ANSWER_PROMPT.sub("", cell.source).strip()
            answers.append((current or last_check or "?", text))
    return answers
