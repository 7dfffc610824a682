"""The lesson in front, the checks behind: what a learner reads in each notebook.

- At most 10 % of the lecture code a learner sees (code cells before "## Exercises" that are neither
  tagged `verify`/`solution` nor collapsed) is check, claim or record lines; the checks themselves
  live in cells tagged `verify`, collapsed, next to the lesson.
- A `verify` cell is collapsed (its source hidden), so JupyterLab shows it as one bar.
- The models a notebook teaches are written in it in plain Keras, not built by a package call.
"""

import ast
import json
import pathlib
import re

# The aside's one pattern, shared with the reading load and INSTRUCTORS.md's slide tables.
from cnnlib.runtime.course import ASIDE

ROOT = pathlib.Path(__file__).resolve().parents[2]
HIDDEN_TAGS = {"verify", "solution"}
CHECK_CALL = re.compile(r"(^|\.)(check\w*|claim\w*|record|verify\w*)$")
SHARE_LIMIT = 0.10

# Package builders of models a notebook teaches: a visible cell must write the model instead.
PACKAGE_BUILDERS = re.compile(
    r"\b(models\.(lenet5_classic|lenet_modern|mlp_baseline)"
    r"|architectures\.(alexnet|inception_module|naive_inception_module|residual_block|resnet18"
    r"|googlenet|dense_block|dense_stack|layer_gradient_norms)"
    r"|transfer_models\.(build_head|full_model|feature_extractor|pipeline|augmentation"
    r"|unfreeze_last_block))\s*\("
)


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def lecture_code_cells(path):
    """The code cells a learner reads before the exercises, as (source, visible?) pairs."""
    for cell in cells(path):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"^## Exercises", source, re.M):
            return
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {})
        hidden = bool(set(meta.get("tags", [])) & HIDDEN_TAGS) or meta.get("jupyter", {}).get(
            "source_hidden", False
        )
        yield source, not hidden


def check_lines(source):
    """Numbers of the lines of `source` that check, claim or record (a `with …claims…` block whole)."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.With) and any(
            re.search(r"claims|checks", ast.unparse(item.context_expr)) for item in node.items
        ):
            lines.update(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            name = ast.unparse(node.value.func)
            if CHECK_CALL.search(name) and "labs.check" not in name:
                lines.update(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, ast.Assert):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def code_lines(source):
    return {
        number
        for number, line in enumerate(source.split("\n"), start=1)
        if line.strip() and not line.strip().startswith("#")
    }


def check_share(path):
    total = checking = 0
    for source, visible in lecture_code_cells(path):
        if not visible:
            continue
        try:
            found = check_lines(source)
        except SyntaxError:  # IPython magics: nothing to measure
            continue
        code = code_lines(source)
        total += len(code)
        checking += len(code & found)
    return checking / max(total, 1)


def test_checks_stay_out_of_the_lecture_code(notebook_path):
    share = check_share(notebook_path)
    assert share <= SHARE_LIMIT, (
        f"{notebook_path.name}: {share:.0%} of the visible lecture code checks, claims or records "
        f"(at most {SHARE_LIMIT:.0%}): move those lines into a cell tagged `verify` and collapse it"
    )


def test_verify_cells_are_collapsed(notebook_path):
    open_cells = [
        index
        for index, cell in enumerate(cells(notebook_path))
        if "verify" in cell.get("metadata", {}).get("tags", [])
        and not cell["metadata"].get("jupyter", {}).get("source_hidden")
    ]
    assert not open_cells, (
        f"{notebook_path.name}: verify cells {open_cells} are not collapsed (source_hidden)"
    )


def test_taught_models_are_written_in_the_notebook(notebook_path):
    calls = [
        match.group(0)
        for source, visible in lecture_code_cells(notebook_path)
        if visible
        for match in PACKAGE_BUILDERS.finditer(source)
    ]
    assert not calls, (
        f"{notebook_path.name} builds a model it teaches with a package call a learner does not read: "
        f"{calls}; write the model in plain Keras in the notebook"
    )


def test_the_share_counts_check_lines():
    """The measure is not blind: a cell of one claim and one lesson line is 50 % checks."""
    source = "y = x + 1\ncnnlib.check(y == 2, 'one and one make two')\n"
    assert len(code_lines(source) & check_lines(source)) / len(code_lines(source)) == 0.5


# ---------------------------------------------------------------------------------------------
# The slides in asides: the lesson teaches on its own terms; what a lecture deck says, and where
# it is wrong, sits in one aside format that JupyterLab shows as a quoted block and the website
# as a box.
# ---------------------------------------------------------------------------------------------
ANY_ADMONITION = re.compile(r"^```\{admonition\}(.*)$", re.M)
DECK_WORD = re.compile(r"\bdecks?\b", re.I)
# "deck" outside the asides, in the whole course's lecture text (the introduction may say what
# the course is built from); the goal of issue 28 is a handful.
COURSE_DECK_LIMIT = 6


def lecture_markdown(path):
    """The markdown cells a learner reads before the exercises."""
    for cell in cells(path):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"^## Exercises", source, re.M):
            return
        if cell["cell_type"] == "markdown":
            yield source


def deck_mentions_outside_asides(path):
    return sum(len(DECK_WORD.findall(ASIDE.sub("", source))) for source in lecture_markdown(path))


def test_slide_remarks_sit_in_asides():
    from cnnlib.runtime.course import notebook_paths

    counts = {
        path.name: deck_mentions_outside_asides(path) for path in notebook_paths(ROOT / "notebooks")
    }
    total = sum(counts.values())
    assert total <= COURSE_DECK_LIMIT, (
        f"'deck' appears {total} times outside the 'On the slides' asides (at most "
        f"{COURSE_DECK_LIMIT} in the course): {counts}. Teach the idea directly and put what a "
        "slide says in a ```{admonition} On the slides``` block"
    )


def test_every_aside_has_the_one_format(notebook_path):
    for source in (
        "".join(cell["source"]) for cell in cells(notebook_path) if cell["cell_type"] == "markdown"
    ):
        for match in ANY_ADMONITION.finditer(source):
            title = match.group(1).strip()
            assert title == "On the slides", (
                f"{notebook_path.name}: an admonition titled {title!r}; the course has one aside "
                "format, titled 'On the slides'"
            )
        opened = len(ANY_ADMONITION.findall(source))
        closed = len(ASIDE.findall(source))
        assert opened == closed, (
            f"{notebook_path.name}: an 'On the slides' aside is not closed by a ``` line:\n"
            f"{source[:300]}"
        )


def test_the_deck_count_sees_decks_outside_asides_only():
    """The measure is not blind: one mention inside an aside, two outside."""
    text = (
        "The deck says so.\n\n```{admonition} On the slides\n:class: note\nDeck 002 "
        "writes 100.\n```\nAnother deck.\n"
    )
    assert len(DECK_WORD.findall(ASIDE.sub("", text))) == 2


# ---------------------------------------------------------------------------------------------
# Links between notebooks work in a clone and on the website (Sphinx turns them into links between
# pages), not on Colab or Kaggle, where a notebook arrives alone: there the text must say where the
# linked notebook is.
# ---------------------------------------------------------------------------------------------
NOTEBOOK_LINK = re.compile(r"\]\((\d\d_\w+\.ipynb)\)")


def test_links_to_other_notebooks_say_where_they_are_on_colab(notebook_path):
    markdown = [
        "".join(cell["source"]) for cell in cells(notebook_path) if cell["cell_type"] == "markdown"
    ]
    linked = sorted({target for source in markdown for target in NOTEBOOK_LINK.findall(source)})
    if not linked:
        return
    said = next((source for source in markdown if "Colab" in source and "notebooks/" in source), "")
    unnamed = [target for target in linked if f"`{target}`" not in said]
    assert said and not unnamed, (
        f"{notebook_path.name} links to {linked}, which a notebook opened alone on Colab cannot "
        f"follow: say in one cell, mentioning Colab and the repository's notebooks/ folder, where "
        f"{unnamed or linked} are"
    )
    for target in linked:
        assert (notebook_path.parent / target).is_file(), f"{notebook_path.name} links to {target}"
