"""INSTRUCTORS.md's generated blocks, made from where their content lives.

The instructor's kit copies things that live elsewhere: each notebook's learning objectives (the
notebook's own "Learning objectives" cell), the exercise list (the registry in cnnlib.labs, time
estimates from cnnlib/labs/plan.py), the notebooks' section headings (the slide map and the section
tables cite them) and the measured run times (results/). `regenerate` rebuilds those blocks;
`cnn-course report` writes them, and tests/unit/test_instructors_kit.py checks that they are current.
"""

import re

from cnnlib.runtime.course import notebook_paths
from cnnlib.runtime.locations import require_course_root

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


# --------------------------------------------------------------------------- parsing the kit
def kit_text():
    return (_root() / "INSTRUCTORS.md").read_text(encoding="utf-8")


def _block(text, kind, stem):
    opening = f"<!-- {kind}:{stem} -->" if stem else f"<!-- {kind} -->"
    match = re.search(rf"{re.escape(opening)}\n(.*?)<!-- /{kind} -->", text, re.S)
    return match.group(1) if match else None


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


def _hand_written_glance_columns(text):
    """{notebook: (topic, present, lab)}: the glance table's columns that are estimates, kept."""
    block = _block(text, "glance", "") or ""
    kept = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].endswith(".ipynb"):
            kept[cells[0]] = (cells[1], cells[-2], cells[-1])
    return kept


def _seconds(value):
    if value is None:
        return "not measured"
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def glance_table(text):
    """The glance table: exercise counts and minutes from cnnlib.labs, run times from results/."""
    import json

    from cnnlib.labs.plan import minutes
    from cnnlib.tools.report import course_times

    times = course_times(_root() / "results")
    kept = _hand_written_glance_columns(text)
    lines = [
        "| notebook | topic | exercises | exercise time (est.) | run, ci | run, lite "
        "| present (est.) | lab |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in _notebooks():
        exercises = [e for _, e in notebook_exercises(path)]
        topic, present, lab = kept.get(path.name, ("", "—", "—"))
        runs = [
            _seconds(times.get(profile, {}).get("notebooks", {}).get(path.stem))
            for profile in ("ci", "lite")
        ]
        lines.append(
            f"| {path.name} | {topic} | {len(exercises)} | "
            f"{sum(minutes(e) for e in exercises)} min | {runs[0]} | {runs[1]} | {present} | {lab} |"
        )
    notes = [
        f"`{profile}`: {entry['machine']}, {entry['network']}, {entry['recorded'][:16]} "
        f"(load average {entry['load_average_1_5_15_min']})"
        for profile, entry in times.items()
    ]
    lines += [
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


def section_table(text, path):
    """The section table of `path` for the notebook's current lecture sections, keeping the
    estimates of sections that exist (or were renamed) and marking new ones with "—"."""
    block = _block(text, "sections", path.stem) or ""
    old = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3:
            old[cells[0]] = cells
    lines = block.splitlines()[:2] or ["| section | present (est.) | how |", "| --- | --- | --- |"]
    sections = lecture_sections(path)
    head = [k for k in old if k == "(set-up cell)"]
    tail = [k for k in old if k in BACK_MATTER or k.startswith("Exercises")]
    for name in head + sections + tail:
        source = name if name in old else _renamed(name, [k for k in old if k not in sections])
        cells = [name, *old[source][1:]] if source else [name, "—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
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
    marker = "<!-- glance -->\n"
    body = glance_table(text)
    text = re.sub(
        rf"{re.escape(marker)}.*?<!-- /glance -->",
        lambda _: f"{marker}{body}<!-- /glance -->",
        text,
        flags=re.S,
    )
    text = fix_citations(text)
    for path in _notebooks():
        stem = path.stem
        blocks = (
            ("objectives", objectives_list(path)),
            ("exercises", exercise_table(path)),
            ("sections", section_table(text, path)),
        )
        for kind, body in blocks:
            marker = f"<!-- {kind}:{stem} -->\n"
            pattern = re.compile(rf"{re.escape(marker)}.*?<!-- /{kind} -->", re.S)
            text = pattern.sub(lambda _: f"{marker}{body}<!-- /{kind} -->", text)
    return text
