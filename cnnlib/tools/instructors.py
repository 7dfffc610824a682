"""INSTRUCTORS.md's generated blocks, made from where their content lives.

The instructor's kit copies things that live elsewhere: each notebook's learning objectives (the
notebook's own "Learning objectives" cell), the exercise list (the registry in cnnlib.labs, time
estimates from cnnlib/labs/plan.py), the notebooks' section headings (the slide map and the section
tables cite them), the measured run times (results/), the reading load of each notebook
(`cnnlib.runtime.course.reading_load`) and what the notebooks' "On the slides" asides say about
each lecture deck (`notebook_asides`). `regenerate` rebuilds those blocks;
`cnn-course report` writes them, and tests/unit/test_instructors_kit.py checks that they are current.
"""

import dataclasses
import re

from cnnlib.runtime.course import ASIDE, RATE_SOURCE, notebook_paths, reading_load
from cnnlib.runtime.locations import require_course_root


class KitError(ValueError):
    """INSTRUCTORS.md lacks a block its sources call for: one sentence."""


BACK_MATTER = ("Summary", "What you should now be able to do", "Exercises", "Solutions")


def _root():
    return require_course_root("the instructor's kit")


def _notebooks():
    return notebook_paths(_root() / "notebooks")  # the catalogue, cnnlib/runtime/course.py


def _read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


# --------------------------------------------------------------------------- parsing the notebooks
def _normal(text):
    return " ".join(text.split())


def _bullets(lines):
    """Markdown bullets ("- …" plus indented continuation lines) until the list ends."""
    items, started = [], False
    for line in lines:
        if line.startswith("- "):
            items.append(line[2:].strip())
            started = True
        elif started and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        elif started:
            break
    return [_normal(item) for item in items]


def notebook_objectives(path):
    """The bullets of the notebook's **Learning objectives** paragraph, whitespace normalised."""
    for cell in _read(path).cells:
        if cell.cell_type == "markdown" and "Learning objectives" in cell.source:
            lines = cell.source.splitlines()
            start = next(i for i, line in enumerate(lines) if "Learning objectives" in line)
            return _bullets(lines[start + 1 :])
    return []


def notebook_headings(path):
    """(level, text) of every ## and ### heading outside the solution cells."""
    headings = []
    for cell in _read(path).cells:
        if cell.cell_type != "markdown" or "solution" in cell.metadata.get("tags", []):
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^(##|###) (.+?)\s*$", line)
            if match:
                headings.append((len(match.group(1)), match.group(2)))
    return headings


def lecture_sections(path):
    """The ## headings of the lecture part (everything before the Summary)."""
    sections = []
    for level, text in notebook_headings(path):
        if level == 2 and text in BACK_MATTER:
            break
        if level == 2:
            sections.append(text)
    return sections


# --------------------------------------------------------------------------- the asides
# The regular form the slide tables rely on: an aside ("```{admonition} On the slides") cites each
# lecture deck it speaks of as "deck NNN" or "decks NNN, NNN and NNN" (any case, bold or not). A
# sentence that starts with such a citation is about the decks it names; a sentence that does not
# (a correction, a source) continues the sentence before it and adds any deck it names.
DECK_CITATION = re.compile(r"\bdecks?\s+(\d{3}(?:(?:\s*,\s*|\s+and\s+)\d{3})*)(?!\d)", re.I)
_STARTS_WITH_DECK = re.compile(r"^[\W_]*decks?\s+\d{3}", re.I)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[*_\"“(\[]*[A-Z])")
_OPTION_LINE = re.compile(r"^:\w+:[^\n]*\n?", re.M)


def decks_cited(text):
    """The deck numbers ("000"…"004") cited in regular form in `text`, in order, without repeats."""
    found = []
    for group in DECK_CITATION.findall(text):
        found += [n for n in re.findall(r"\d{3}", group) if n not in found]
    return found


def _aside_units(body):
    """The aside's bullets and paragraphs, each one line, split into sentences."""
    units, current = [], []
    for line in _OPTION_LINE.sub("", body).splitlines():
        if not line.strip() or line.startswith("- "):
            if current:
                units.append(" ".join(current))
            current = [line[2:]] if line.startswith("- ") else []
        else:
            current.append(line.strip())
    if current:
        units.append(" ".join(current))
    return [sentence for unit in units for sentence in _SENTENCE_BREAK.split(_normal(unit))]


def aside_by_deck(body):
    """{deck: what the aside says about it}: its sentences, attributed as the regular form says
    (see DECK_CITATION); sentences before the first citation (an introduction) belong to none.
    Sentences that are not contiguous are joined by " … "."""
    said, last, current = {}, {}, []
    for index, sentence in enumerate(_aside_units(body)):
        cited = decks_cited(sentence)
        if cited and _STARTS_WITH_DECK.match(sentence):
            current = cited
        else:
            current = current + [deck for deck in cited if deck not in current]
        for deck in current:
            joint = " " if last.get(deck) == index - 1 else " … "
            said[deck] = said[deck] + joint + sentence if deck in said else sentence
            last[deck] = index
    return said


@dataclasses.dataclass(frozen=True)
class Aside:
    notebook: str  # "02"
    section: str | None  # the ## or ### heading it sits under (None: the introduction)
    body: str  # the aside's markdown, between the opening and the closing fence

    @property
    def where(self):
        return (
            f"{self.notebook} § *{self.section}*"
            if self.section
            else f"{self.notebook}, introduction"
        )


def notebook_asides(path):
    """The "On the slides" asides of notebook `path`, in order, each with the heading above it."""
    asides, section = [], None
    for cell in _read(path).cells:
        if cell.cell_type != "markdown" or "solution" in cell.metadata.get("tags", []):
            continue
        events = [
            (m.start(), "heading", m.group(2))
            for m in re.finditer(r"^(##|###) (.+?)\s*$", cell.source, re.M)
        ]
        events += [(m.start(), "aside", m.group(1)) for m in ASIDE.finditer(cell.source)]
        for _, kind, value in sorted(events):
            if kind == "heading":
                section = value
            else:
                asides.append(Aside(path.stem[:2], section, value))
    return asides


def _table_cell(markdown):
    """Aside text made fit for a table cell of INSTRUCTORS.md (at the course's root)."""
    text = re.sub(r"\]\((0\d_[^)\s]+\.ipynb)\)", r"](notebooks/\1)", _normal(markdown))
    return text.replace("|", "\\|")


def notebook_decks(path):
    """Every deck the asides of notebook `path` cite."""
    return {deck for aside in notebook_asides(path) for deck in aside_by_deck(aside.body)}


def slide_table(deck):
    """What the notebooks' asides say about deck `deck`, in course order."""
    lines = ["| where | what the notebook says about the deck |", "| --- | --- |"]
    for path in _notebooks():
        for aside in notebook_asides(path):
            said = aside_by_deck(aside.body).get(deck)
            if said:
                lines.append(f"| {aside.where} | {_table_cell(said)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- parsing the kit
def kit_text():
    return (_root() / "INSTRUCTORS.md").read_text(encoding="utf-8")


def _block_pattern(kind, stem):
    opening = f"<!-- {kind}:{stem} -->" if stem else f"<!-- {kind} -->"
    return re.compile(rf"({re.escape(opening)}\n)(.*?)(<!-- /{kind} -->)", re.S)


def _block(text, kind, stem):
    match = _block_pattern(kind, stem).search(text)
    return match.group(2) if match else None


def _fill(text, kind, stem, body):
    """`text` with `body` in its block `kind` (of notebook `stem`, or None); unchanged without one."""
    return _block_pattern(kind, stem).sub(lambda m: m.group(1) + body + m.group(3), text)


def kit_objectives(text, stem):
    block = _block(text, "objectives", stem)
    return None if block is None else _bullets(block.splitlines())


def kit_exercise_rows(text, stem):
    block = _block(text, "exercises", stem)
    if block is None:
        return None
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith("`"):
            rows.append((cells[0], cells[1].strip("`"), cells[2], cells[3], cells[4], cells[5]))
    return rows


def kit_section_rows(text, stem):
    """First column of the notebook's section table (between <!-- sections:stem --> markers)."""
    block = _block(text, "sections", stem)
    if block is None:
        return None
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[0] and not set(cells[0]) <= set("- ") and cells[0] != "section":
            rows.append(cells[0])
    return rows


SECTION_REFERENCE = re.compile(r"\b(0[1-7]) § \*(.+?)\*(?=[\s;,.|)]|$)")


def kit_section_references(text):
    """Every "NN § *heading*" the kit cites (slide map, lab plans): (notebook prefix, heading)."""
    found = SECTION_REFERENCE.findall(_normal(text))
    return [(number, _normal(heading)) for number, heading in found]


# --------------------------------------------------------------------------- generated blocks
def notebook_exercises(path):
    """(number, exercise) in the order the notebook checks them: 1.1, 1.2, …"""
    from cnnlib.labs import REGISTRY

    prefix, order = path.stem[:2], []
    for cell in _read(path).cells:
        if cell.cell_type == "code" and "solution" not in cell.metadata.get("tags", []):
            for exercise_id in re.findall(r"labs\.check\(\s*[\"'](\d\d\.\w+)[\"']", cell.source):
                if exercise_id.startswith(prefix) and exercise_id not in order:
                    order.append(exercise_id)
    unchecked = sorted(
        i for i, e in REGISTRY.items() if e.notebook == prefix and e.in_notebook and i not in order
    )
    return [
        (f"{int(prefix)}.{k}" if i in order else "—", REGISTRY[i])
        for k, i in enumerate(order + unchecked, start=1)
        if i in REGISTRY
    ]


def exercise_rows(path):
    from cnnlib.labs.plan import minutes

    return [
        (number, e.id, e.kind, e.difficulty, str(minutes(e)), e.title)
        for number, e in notebook_exercises(path)
    ]


def exercise_table(path):
    lines = [
        "| no. | exercise | kind | difficulty | minutes (est.) | title |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for number, exercise_id, kind, difficulty, minutes, title in exercise_rows(path):
        lines.append(
            f"| {number} | `{exercise_id}` | {kind} | {difficulty} | {minutes} | {title} |"
        )
    return "\n".join(lines) + "\n"


GLANCE_KEPT = ("topic", "present (est.)")  # the glance table's hand-written columns


def _hand_written_glance_columns(text):
    """{notebook: {column: value}}: the glance table's columns that are estimates, kept."""
    block = _block(text, "glance", "") or ""
    kept, header = {}, None
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "notebook":
            header = cells
        elif header and cells and cells[0].endswith(".ipynb"):
            kept[cells[0]] = {k: v for k, v in zip(header, cells) if k in GLANCE_KEPT}
    return kept


def _seconds(value):
    if value is None:
        return "not measured"
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def _duration(minutes):
    if minutes < 0.5:
        return "< 1 min"
    minutes = round(minutes)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def lab_plan_slots(text, stem):
    """The (start, end) minutes of notebook `stem`'s lab plan (the table after "**90-minute
    lab.**" in its section of the kit), in order; [] when the kit has no plan for it."""
    section = re.search(rf"^### {re.escape(stem)}\.ipynb.*?(?=^##|\Z)", text, re.S | re.M)
    plan = section and re.search(r"\*\*90-minute lab\.\*\*\n\n((?:\|.*\n)+)", section.group(0))
    if not plan:
        return []
    return [(int(a), int(b)) for a, b in re.findall(r"^\| (\d+)–(\d+) \|", plan.group(1), re.M)]


def learner_time(path, text):
    """{reading, run, exercises, total, lab, outside}: the minutes notebook `path` asks of a
    learner (reading its lecture, running it in `lite`, its exercises' estimates), the length of
    its lab plan and what the plan leaves for before or after the lab."""
    from cnnlib.labs.plan import minutes
    from cnnlib.tools.report import course_times

    times = course_times(_root() / "results")
    run = times.get("lite", {}).get("notebooks", {}).get(path.stem)
    exercises = sum(minutes(e) for _, e in notebook_exercises(path))
    reading = reading_load(path).minutes
    total = reading + (run or 0) / 60 + exercises
    slots = lab_plan_slots(text, path.stem)
    lab = slots[-1][1] if slots else 0
    return {
        "reading": reading,
        "run": run,
        "exercises": exercises,
        "total": total,
        "lab": lab,
        "outside": max(0, round(total) - lab),
    }


def glance_table(text):
    """The glance table: reading loads from the notebooks, exercise counts and minutes from
    cnnlib.labs, run times from results/, the lab's length from its plan."""
    import json

    from cnnlib.tools.report import course_times

    times = course_times(_root() / "results")
    kept = _hand_written_glance_columns(text)
    lines = [
        "| notebook | topic | reading | run, ci | run, lite | exercises | exercise time (est.) "
        "| present (est.) | learner's time | lab |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in _notebooks():
        exercises = [e for _, e in notebook_exercises(path)]
        hand = kept.get(path.name, {})
        need = learner_time(path, text)
        runs = [
            _seconds(times.get(profile, {}).get("notebooks", {}).get(path.stem))
            for profile in ("ci", "lite")
        ]
        lab = f"{need['lab']} min + {need['outside']} min outside" if need["lab"] else "no plan"
        lines.append(
            f"| {path.name} | {hand.get('topic', '')} | {_duration(need['reading'])} | {runs[0]} "
            f"| {runs[1]} | {len(exercises)} | {need['exercises']} min "
            f"| {hand.get('present (est.)', '—')} | {_duration(need['total'])} | {lab} |"
        )
    notes = [
        f"`{profile}`: {entry['machine']}, {entry['network']}, {entry['recorded'][:16]} "
        f"(load average {entry['load_average_1_5_15_min']})"
        for profile, entry in times.items()
    ]
    lines += [
        "",
        "*Reading*: the lecture part of the notebook (every cell before *Exercises*; the "
        "exercises' own text is in their estimates), its prose words (the asides on the slides "
        "included) and visible code lines counted from the notebook file by "
        f"`cnnlib.runtime.course.reading_load`, read at {RATE_SOURCE}.",
        "",
        "*Run* is the wall-clock time of one `jupyter nbconvert --execute` per notebook, kernel "
        "start and TensorFlow import included, from `results/benchmark/course_times.json` "
        f"(`benchmarks/course_times.py`): {'; '.join(notes) or 'not measured yet'}.",
    ]
    for profile in ("ci", "lite"):
        lenet = _root() / "results" / profile / "05_lenet5_mnist.json"
        if lenet.exists():
            record = json.loads(lenet.read_text())
            epochs = sorted(set(record.get("epochs", {}).values()))
            lines += [
                "",
                f"In `{profile}`, 05 trained for {'/'.join(map(str, epochs))} epochs on "
                f"{record['data_source']} (`results/{profile}/05_lenet5_mnist.json`, "
                f"{record['recorded'][:10]}).",
            ]
    vgg = _root() / "results" / "lite" / "07_vgg16_transfer_learning.json"
    if vgg.exists() and json.loads(vgg.read_text()).get("dataset_is_stand_in"):
        lines += [
            "",
            "07 was measured on its stand-in (no ImageNet weights or photos offline), which does "
            "the same small job in every profile; with the real weights and photos it runs far "
            "longer, and nothing here measures that: run 07 once on a lab machine before the lab.",
        ]
    return "\n".join(lines) + "\n"


def load_paragraph(text, path):
    """The time notebook `path` asks of a learner, and what its lab plan leaves outside the lab."""
    load, need = reading_load(path), learner_time(path, text)
    run = _seconds(need["run"]) if need["run"] is not None else "not measured"
    said = (
        f"**Time a learner needs** (computed): reading the lecture about "
        f"{_duration(need['reading'])} ({load.words:,} words, {load.aside_words:,} of them in the "
        f"asides on the slides, and {load.code_lines} lines of visible code), running it {run} "
        f"(`lite`), its exercises {need['exercises']} min (est.): {_duration(need['total'])} in all."
    )
    if need["lab"]:
        said += (
            f" The {need['lab']}-minute plan below leaves {need['outside']} min of that for before "
            "or after the lab: the sections it does not present, to read, and the exercises it "
            "leaves as homework."
        )
    return said + "\n"


def workshop_days(text):
    """{day heading: [notebook prefixes]} from the workshop table ("lab 01" in a day's column)."""
    block = text.split("## Two-day workshop", 1)[-1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in block.splitlines()
        if line.startswith("|")
    ]
    if not rows:
        return {}
    days = {heading: [] for heading in rows[0][1:]}
    for row in rows[2:]:
        for heading, cell in zip(rows[0][1:], row[1:]):
            days[heading] += [
                n for n in re.findall(r"\blab (0\d)\b", cell) if n not in days[heading]
            ]
    return days


def workshop_paragraph(text):
    """What the workshop's labs leave of each learner's time, day by day."""
    outside = {path.stem[:2]: learner_time(path, text)["outside"] for path in _notebooks()}
    parts = [
        f"{day.split(':')[0]} ({', '.join(numbers)}) {_duration(sum(outside[n] for n in numbers))}"
        for day, numbers in workshop_days(text).items()
        if numbers
    ]
    return (
        "**Outside the labs** (computed from the glance table's *lab* column): the notebooks ask "
        f"each learner for more than their labs hold: {'; '.join(parts)}. Assign the sections a "
        "lab does not present as reading before its day, and its stretch exercises as homework.\n"
    )


def objectives_list(path):
    return "".join(f"- {item}\n" for item in notebook_objectives(path))


def _renamed(heading, candidates):
    """The heading of `candidates` that `heading` most likely became: the same leading number
    ("5 · …"), else the closest text; None when nothing is close."""
    import difflib

    number = re.match(r"^(\d+) · ", heading)
    if number:
        same = [c for c in candidates if c.startswith(number.group(0))]
        if len(same) == 1:
            return same[0]
    close = difflib.get_close_matches(heading, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


SECTION_HEADER = ["| section | reading | present (est.) | how |", "| --- | --- | --- | --- |"]


def section_table(text, path):
    """The section table of `path` for the notebook's current lecture sections: each section's
    reading time (computed; the "(set-up cell)" row holds the introduction before the first
    section), the estimates of sections that exist (or were renamed) kept, new ones marked "—"."""
    from cnnlib.runtime.course import section_loads

    block = _block(text, "sections", path.stem) or ""
    old = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3:
            old[cells[0]] = cells[-2:]  # present (est.), how
    loads = section_loads(path)
    sections = lecture_sections(path)
    head = [k for k in old if k == "(set-up cell)"]
    back = [k for k in loads if k in BACK_MATTER]  # the summary a learner reads too
    tail = back + [
        k for k in old if (k in BACK_MATTER or k.startswith("Exercises")) and k not in back
    ]
    lines = list(SECTION_HEADER)
    for name in head + sections + tail:
        source = name if name in old else _renamed(name, [k for k in old if k not in sections])
        load = loads.get(None if name == "(set-up cell)" else name)
        reading = _duration(load.minutes) if load else "—"
        lines.append(
            "| " + " | ".join([name, reading, *(old[source] if source else ["—", "—"])]) + " |"
        )
    return "\n".join(lines) + "\n"


def fix_citations(text):
    """Citations `NN § *heading*` of a heading the notebook renamed, pointed at its new name."""
    headings = {
        path.stem[:2]: {_normal(h) for _, h in notebook_headings(path)} for path in _notebooks()
    }

    def replace(match):
        number, heading = match.group(1), _normal(match.group(2))
        if heading in headings.get(number, set()):
            return match.group(0)
        new = _renamed(heading, headings.get(number, set()))
        return f"{number} § *{new}*" if new else match.group(0)

    return re.sub(r"\b(0[1-7]) § \*(.+?)\*(?=[\s;,.|)]|$)", replace, text, flags=re.M)


def regenerate(text):
    """The kit with its generated blocks made afresh from their sources: the glance table (times
    from results/, exercises from cnnlib.labs), objective lists, exercise tables, the section
    tables' rows (estimates kept, renamed sections followed) and citations of renamed sections."""
    text = _fill(text, "glance", None, glance_table(text))
    text = fix_citations(text)
    text = _fill(text, "workshop", None, workshop_paragraph(text))
    for deck in sorted({deck for path in _notebooks() for deck in notebook_decks(path)}):
        if _block(text, "slides", deck) is None:
            raise KitError(
                f"INSTRUCTORS.md has no <!-- slides:{deck} --> block, yet an aside cites deck {deck}"
            )
        text = _fill(text, "slides", deck, slide_table(deck))
    for path in _notebooks():
        stem = path.stem
        blocks = (
            ("objectives", objectives_list(path)),
            ("load", load_paragraph(text, path)),
            ("exercises", exercise_table(path)),
            ("sections", section_table(text, path)),
        )
        for kind, body in blocks:
            text = _fill(text, kind, stem, body)
    return text
