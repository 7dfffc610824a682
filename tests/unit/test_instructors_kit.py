"""INSTRUCTORS.md stays true to the notebooks and to cnnlib.labs.

The instructor's kit copies things that live elsewhere: each notebook's learning objectives (the
notebook's own "Learning objectives" cell is the source of truth), the exercise list (the
registry in cnnlib.labs) and the notebooks' section headings (the slide map and the section
tables cite them). These tests parse both sides and compare, so the kit fails CI when it drifts.

After changing objectives, exercises, their time estimates (cnnlib/labs/plan.py) or the measured
times (results/), regenerate the copied blocks instead of editing them: `cnn-course report`
(the generator is cnnlib/tools/instructors.py; this file only checks).
"""

import pathlib
import re

import pytest

from cnnlib.runtime.course import notebook_paths
from cnnlib.tools.instructors import (
    BACK_MATTER,
    _block,
    _normal,
    exercise_rows,
    kit_exercise_rows,
    kit_objectives,
    kit_section_references,
    kit_section_rows,
    kit_text,
    lecture_sections,
    notebook_headings,
    notebook_objectives,
    regenerate,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
KIT = ROOT / "INSTRUCTORS.md"
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py


# --------------------------------------------------------------------------- the tests
def test_the_kit_exists_and_names_every_notebook():
    text = kit_text()
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        assert path.name in text, f"INSTRUCTORS.md never mentions {path.name}"


def test_every_exercise_id_appears():
    from cnnlib.labs import EXERCISES

    text = kit_text()
    missing = [exercise_id for exercise_id in EXERCISES if f"`{exercise_id}`" not in text]
    assert not missing, f"exercises missing from INSTRUCTORS.md: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_objectives_match_the_notebook(path):
    ours = kit_objectives(kit_text(), path.stem)
    assert ours is not None, f"INSTRUCTORS.md has no <!-- objectives:{path.stem} --> block"
    theirs = notebook_objectives(path)
    assert theirs, f"{path.name} has no Learning objectives bullets"
    assert ours == theirs, (
        f"the objectives of {path.name} in INSTRUCTORS.md differ from the notebook's; run "
        "`cnn-course report`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_tables_match_the_registry(path):
    from cnnlib.labs import REGISTRY

    rows = kit_exercise_rows(kit_text(), path.stem)
    assert rows is not None, f"INSTRUCTORS.md has no <!-- exercises:{path.stem} --> block"
    expected = exercise_rows(path)
    registered = {i for i, e in REGISTRY.items() if e.notebook == path.stem[:2] and e.in_notebook}
    assert {row[1] for row in expected} == registered
    assert "—" not in [row[0] for row in expected], f"{path.name} never checks an exercise"
    assert rows == expected, (
        f"the exercise table of {path.name} differs from cnnlib.labs; run `cnn-course report`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_section_tables_list_exactly_the_lecture_sections(path):
    rows = kit_section_rows(kit_text(), path.stem)
    assert rows is not None, f"INSTRUCTORS.md has no <!-- sections:{path.stem} --> table"
    sections = lecture_sections(path)
    listed = [
        row
        for row in rows
        if row != "(set-up cell)" and row not in BACK_MATTER and not row.startswith("Exercises")
    ]
    assert listed == sections, (
        f"the section table of {path.name} in INSTRUCTORS.md lists {listed}, the notebook has "
        f"{sections}"
    )


def test_every_cited_section_exists():
    headings = {
        path.stem[:2]: {_normal(text) for _, text in notebook_headings(path)} for path in NOTEBOOKS
    }
    references = kit_section_references(kit_text())
    assert len(references) > 100, "the slide map should cite the notebooks' sections"
    unknown = sorted({f"{n} § {h}" for n, h in references if h not in headings.get(n, set())})
    assert not unknown, f"INSTRUCTORS.md cites sections the notebooks do not have: {unknown}"


def test_generated_blocks_are_up_to_date():
    text = kit_text()
    assert regenerate(text) == text, "run `cnn-course report`"


def test_notebook_objectives_parse_as_three_to_six_bullets():
    for path in NOTEBOOKS:
        count = len(notebook_objectives(path))
        assert 3 <= count <= 6, f"{path.name}: {count} learning objectives (3–6 expected)"


def test_section_tables_state_no_run_times():
    """Measured times live in one place (the generated glance table, from results/)."""
    text = kit_text()
    for path in NOTEBOOKS:
        block = _block(text, "sections", path.stem) or ""
        assert block.startswith("| section | present (est.) | how |"), path.stem


def test_glance_times_come_from_results():
    from cnnlib.tools.report import course_times

    block = _block(kit_text(), "glance", "")
    times = course_times(ROOT / "results")
    for profile, entry in times.items():
        assert entry["recorded"][:16] in block, f"the {profile} times are not those of results/"
    assert "2–4" not in kit_text() and "faster" not in block


def test_no_plan_starts_run_all_before_the_exercises():
    for line in kit_text().splitlines():
        if line.startswith("|"):
            assert not re.search(r"Run All(?! Above Selected Cell)", line), line


def test_no_nbgrader_claim():
    assert "nbgrader" not in kit_text().lower()
    for path in (ROOT / "cnnlib" / "labs").glob("*.py"):
        assert "nbgrader" not in path.read_text().lower(), path.name


def test_the_kit_gives_the_instructor_commands():
    """The kit tells how to export, grade, print the key and open the student version; that each
    command parses is checked for every document in tests/unit/test_docs_commands.py."""
    text = kit_text()
    commands = set(re.findall(r"cnn-course (\w+)", text))
    assert {"student", "grade", "key", "exercises", "lab", "cache"} <= commands
    assert "cnn-course lab --student" in text
