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

from cnnlib.labs.plan import minutes
from cnnlib.runtime.course import (
    SECONDS_PER_CODE_LINE,
    WORDS_PER_MINUTE,
    notebook_paths,
    reading_load,
    section_loads,
)
from cnnlib.tools.instructors import (
    BACK_MATTER,
    _block,
    _normal,
    aside_by_deck,
    decks_cited,
    exercise_rows,
    kit_exercise_rows,
    kit_objectives,
    kit_section_references,
    kit_section_rows,
    kit_text,
    lab_plan_slots,
    lecture_sections,
    notebook_asides,
    notebook_exercises,
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
        assert block.startswith("| section | reading | present (est.) | how |"), path.stem


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


# --------------------------------------------------------------------------- the slide tables
def test_every_aside_speaks_of_a_deck_and_sits_in_its_table():
    """Each "On the slides" aside cites its deck(s) in the regular form, and the kit's table of
    each such deck has the aside's row (`cnn-course report` writes it from the aside)."""
    text = kit_text()
    for path in NOTEBOOKS:
        for aside in notebook_asides(path):
            said = aside_by_deck(aside.body)
            assert said, (
                f"an aside of {path.name} under {aside.where} cites no deck as 'deck NNN': "
                f"{_normal(aside.body)[:200]}"
            )
            for deck in said:
                block = _block(text, "slides", deck)
                assert block is not None, f"INSTRUCTORS.md has no <!-- slides:{deck} --> block"
                assert f"| {aside.where} | " in block, (
                    f"deck {deck}'s table lacks the aside of {aside.where}; run `cnn-course report`"
                )


def test_asides_are_attributed_sentence_by_sentence():
    body = (
        ":class: note\nThree slips:\n\n- **Deck 001** says 10. It is 12.\n- Deck 003's 5 is right."
        "\n\nDecks 000 and 004 draw it. The drawing is fine (deck 002 has none). So it stands.\n"
    )
    said = aside_by_deck(body)
    assert said == {
        "001": "**Deck 001** says 10. It is 12.",
        "003": "Deck 003's 5 is right.",
        "000": "Decks 000 and 004 draw it. The drawing is fine (deck 002 has none). So it stands.",
        "004": "Decks 000 and 004 draw it. The drawing is fine (deck 002 has none). So it stands.",
        "002": "The drawing is fine (deck 002 has none). So it stands.",
    }
    assert decks_cited("decks 001, 003 and 004; deck 1; deck 0042") == ["001", "003", "004"]
    # A deck spoken of again after another one: the two passages, joined by an ellipsis.
    assert (
        aside_by_deck("Deck 001 a. Deck 002 b. Deck 001 c.")["001"] == "Deck 001 a. … Deck 001 c."
    )


def test_the_slide_map_points_inside_the_repository():
    text = kit_text()
    assert "/work/" not in text and "seeds" not in text, (
        "the decks' folder is not in the repository"
    )


# --------------------------------------------------------------------------- reading and lab time
def test_reading_load_counts_what_a_learner_reads(tmp_path):
    import json

    def cell(kind, source, **metadata):
        made = {"cell_type": kind, "source": source, "metadata": metadata}
        return made | ({"outputs": [], "execution_count": None} if kind == "code" else {})

    aside = "```{admonition} On the slides\n:class: note\nDeck 001 says [ten](x.ipynb).\n```"
    cells = [
        cell("code", "import os\n", tags=["bootstrap"], jupyter={"source_hidden": True}),
        cell("markdown", "# Title\n\nOne two, three-four [link text](https://a.b/c d).\n"),
        cell("markdown", aside),
        cell("code", "x = 1\n\n# why\ny = 2\n"),
        cell("code", "check(x)\n", tags=["verify"], jupyter={"source_hidden": True}),
        cell("markdown", "## Exercises\n\nmany more words here\n"),
        cell("code", "z = 3\n"),
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(notebook))
    load = reading_load(path)
    # Title, One, two, three-four, link, text + Deck, 001, says, ten
    assert (load.words, load.aside_words, load.code_lines) == (10, 4, 3)
    assert load.minutes == pytest.approx(10 / WORDS_PER_MINUTE + 3 * SECONDS_PER_CODE_LINE / 60)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_lecture_section_has_its_reading_time(path):
    """The reading load's sections are the sections the kit lists, and add up to the whole."""
    loads = section_loads(path)
    sections = [name for name in list(loads)[1:] if name not in BACK_MATTER]
    assert sections == lecture_sections(path), path.name
    rows = kit_section_rows(kit_text(), path.stem)
    assert [name for name in loads if name in BACK_MATTER] == [r for r in rows if r in loads][
        len(sections) :
    ], f"{path.name}: the section table lacks the summary sections a learner reads"
    total = reading_load(path)
    assert sum(load.words for load in loads.values()) == total.words
    assert sum(load.code_lines for load in loads.values()) == total.code_lines
    assert all(load.words for load in loads.values()), f"{path.name}: a section without prose"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lab_plans_leave_room_for_reading_and_running(path):
    """A notebook's lab plan is a run of slots from minute 0; with the time the kit tells the
    instructor to leave outside the lab, it is not shorter than reading + running + exercises."""
    from cnnlib.tools.report import course_times

    text = kit_text()
    slots = lab_plan_slots(text, path.stem)
    assert slots and slots[0][0] == 0, f"{path.name}: the lab plan does not start at minute 0"
    gaps = [(a, b) for (_, a), (b, _) in zip(slots, slots[1:]) if a != b]
    assert not gaps, f"{path.name}: the lab plan's slots do not follow on: {gaps}"
    row = next(line for line in text.splitlines() if line.startswith(f"| {path.name} |"))
    lab, outside = map(int, re.search(r"\| (\d+) min \+ (\d+) min outside \|", row).groups())
    assert lab == slots[-1][1]
    run = course_times(ROOT / "results").get("lite", {}).get("notebooks", {}).get(path.stem, 0)
    need = (
        reading_load(path).minutes + run / 60 + sum(minutes(e) for _, e in notebook_exercises(path))
    )
    assert lab + outside >= round(need), (
        f"{path.name}: the plan gives {lab} + {outside} min, a learner needs {need:.0f}"
    )


def test_the_readme_states_the_reading_times_of_the_notebooks():
    from cnnlib.tools import docs

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs._reading(text, ROOT) == text, (
        "README.md's reading table is stale: cnn-course report"
    )
    block = text.split("<!-- reading:start -->", 1)[1]
    for path in NOTEBOOKS:
        load = reading_load(path)
        assert f"| {path.stem} | " in block and f"| {load.code_lines:,} |" in block, path.stem
