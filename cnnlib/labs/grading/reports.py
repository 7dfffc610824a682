"""What the instructor takes home, all made from one result (`rows.json`).

- `grades.csv`: student, exercise, status, points, max_points, message — one row per student and
  exercise of the assignment;
- `gradebook_canvas.csv` (Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID,
  Section, then one column per assignment) and `gradebook_moodle.csv` (Moodle's "Import grades
  from CSV": a username column to identify the user by, one grade column and its feedback);
- `feedback/<student>.html`: one page per student to hand back (rows, hints, written answers);
- `summary.csv`, `summary.html`: per exercise the share correct and the hints that fired most,
  the class grid and the written answers;
- `answers.md` and `manual.csv`: written answers (and rows marked review) for manual scoring;
  fill in `score` and run `cnn-course grade merge-scores` to add them to the totals.

Every text a student controls (names, messages quoting their values, written answers) is escaped
for HTML by Jinja2's autoescaping and kept from starting a spreadsheet formula in CSV.
"""

import collections
import csv
import io
import json
import math
import pathlib

from cnnlib.labs.grading import folder

STATUSES = ("correct", "wrong", "not attempted", "review", "error")
SYMBOL = {"correct": "✓", "wrong": "✗", "not attempted": "…", "review": "?", "error": "!"}
DEFAULT_POINTS = {"warm-up": 1, "core": 2, "stretch": 3}
WRITTEN_POINTS = 1
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """A CSV cell a spreadsheet shows as text: a leading = + - @ (a formula) gets a quote."""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Points
# ---------------------------------------------------------------------------------------------


def load_points(path, exercises):
    """({exercise: points}, {exercise: written points}) from the defaults (warm-up 1, core 2,
    stretch 3; 1 per written answer) and an optional TOML file::

        [points]
        "02.conv2d" = 4
        [written]
        "02.receptive_field" = 2
    """
    from cnnlib.labs import REGISTRY

    points = {i: DEFAULT_POINTS.get(REGISTRY[i].difficulty, 1) for i in exercises}
    written = {i: WRITTEN_POINTS for i in exercises}
    if path is None:
        return points, written
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read the points file {path}: {error}") from None
    for table, target in (("points", points), ("written", written)):
        entries = data.get(table, {})
        if not isinstance(entries, dict):
            raise ValueError(
                f"the points file's {table!r} must be a table of exercise = points, got {entries!r}"
            )
        for exercise_id, value in entries.items():
            if exercise_id not in target:
                raise ValueError(
                    f"the points file names {exercise_id!r}, which is not an exercise of this assignment"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"the points of {exercise_id} must be a number ≥ 0, got {value!r}")
            target[exercise_id] = value
    return points, written


def totals(result):
    """{student: (points, max points)}: the rows' points (a review row counts what the
    instructor gave it), plus the written answers' manual scores."""
    manual = result.get("manual", {})
    written_max = sum(result["written_points"][e] for e in result["written_exercises"])
    found = {}
    for student in result["students"]:
        got, most = 0.0, written_max
        for row in result["rows"]:
            if row["student"] != student:
                continue
            most += row["max_points"]
            key = f"review|{student}|{row['exercise']}"
            got += manual.get(key, row["points"]) if row["status"] == "review" else row["points"]
        got += sum(manual.get(f"written|{student}|{e}", 0) for e in result["written_exercises"])
        found[student] = (round(got, 3), round(most, 3))
    return found


# ---------------------------------------------------------------------------------------------
# Pages (Jinja2, autoescaped)
# ---------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 75em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.correct { background: #d9f2d9; } td.wrong { background: #f9d6d5; }
td.not-attempted { background: #eee; color: #777; } td.error { background: #ffe3a3; }
td.review { background: #dde6ff; }
td.mark { text-align: center; font-size: 1.1em; }
.bar { display: inline-block; height: 0.8em; background: #4a9a4a; vertical-align: middle; }
.note { color: #555; font-size: 0.9em; }
blockquote { border-left: 3px solid #ccc; margin: 0.5em 0; padding-left: 1em; white-space: pre-wrap; }
"""

SUMMARY = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ assignment }}: class summary</title>
<style>{{ style }}</style></head><body>
<h1>{{ assignment }}: class summary</h1>
<p class="note">{{ students|length }} submissions{% if partial %} (this shard: {{ partial }}){% endif %},
each run {{ how }}, stopped after {{ timeout }} s. ✓ correct · ✗ wrong · … not attempted ·
? review (right, but the code names a forbidden reference or runs code the grader cannot read) ·
! error (the notebook or the exercise's cell failed). Hover a cell for its message.</p>
<h2>Per exercise</h2>
<table><tr><th>exercise</th><th>correct</th><th>✗</th><th>…</th><th>?</th><th>!</th>
<th>hints that fired most</th></tr>
{% for item in summary %}<tr><td><b>{{ item.exercise }}</b><br><span class="note">{{ item.title }}</span></td>
<td><span class="bar" style="width:{{ (item.share_correct * 60)|int }}px"></span> {{ item.correct }}/{{ item.students }}</td>
<td>{{ item.wrong }}</td><td>{{ item["not attempted"] }}</td><td>{{ item.review }}</td><td>{{ item.error }}</td>
<td>{% for hint, n in item.hints %}{{ hint }} ({{ n }})<br>{% endfor %}</td></tr>
{% endfor %}</table>
<h2>Per student</h2>
<table><tr><th>student</th>{% for e in exercises %}<th>{{ e }}</th>{% endfor %}<th>points</th></tr>
{% for student in students %}<tr><th><a href="feedback/{{ student }}.html">{{ student }}</a></th>
{% for e in exercises %}{% set row = grid[(student, e)] %}<td class="mark {{ row.status|replace(' ', '-') }}" title="{{ row.message }}">{{ symbol[row.status] }}</td>{% endfor %}
<td>{{ totals[student][0]|num }} / {{ totals[student][1]|num }}</td></tr>
{% endfor %}</table>
<h2>Written answers</h2>
{% for e, items in answers %}<h3>{{ e }}</h3><ul>
{% for student, text in items %}<li><b>{{ student }}</b>: {% if text %}{{ text }}{% else %}<i>(left blank)</i>{% endif %}</li>{% endfor %}
</ul>{% else %}<p class="note">No cell tagged <code>answer</code> in the submissions.</p>{% endfor %}
</body></html>
"""

FEEDBACK = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ assignment }}: {{ student }}</title>
<style>{{ style }}</style></head><body>
<h1>{{ assignment }}: feedback for {{ student }}</h1>
<p>Points: <b>{{ total[0]|num }} of {{ total[1]|num }}</b>{% if pending %} (written answers or rows
under review not scored yet){% endif %}.</p>
<table><tr><th>exercise</th><th></th><th>points</th><th>what the grader found</th></tr>
{% for row in rows %}<tr><td><b>{{ row.exercise }}</b><br><span class="note">{{ titles.get(row.exercise, "") }}</span></td>
<td class="mark {{ row.status|replace(' ', '-') }}">{{ symbol[row.status] }} {{ row.status }}</td>
<td>{{ row.shown_points|num }} / {{ row.max_points|num }}</td>
<td>{{ row.what }}{% if row.hint %}<br><i>Hint: {{ row.hint }}</i>{% endif %}</td></tr>
{% endfor %}</table>
{% if answers %}<h2>Your written answers</h2>
{% for e, text in answers %}<h3>{{ e }}</h3><blockquote>{% if text %}{{ text }}{% else %}(left blank){% endif %}</blockquote>{% endfor %}{% endif %}
</body></html>
"""


def _environment():
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda value: f"{value:g}" if isinstance(value, (int, float)) else value
    return env


def summarise(result):
    """Per exercise: counts per status, share correct, and the hints that fired most."""
    titles = result["titles"]
    summary = []
    for exercise_id in result["exercises"]:
        group = [r for r in result["rows"] if r["exercise"] == exercise_id]
        if not group:
            continue
        counts = collections.Counter(r["status"] for r in group)
        hints = collections.Counter(
            _split(r["message"])[1]
            for r in group
            if r["status"] == "wrong" and _split(r["message"])[1]
        )
        summary.append(
            {
                "exercise": exercise_id,
                "title": titles.get(exercise_id, ""),
                "students": len(group),
                **{status: counts[status] for status in STATUSES},
                "share_correct": round(counts["correct"] / len(group), 3),
                "hints": hints.most_common(3),
            }
        )
    return summary


def _split(message):
    what, _, hint = message.partition(" Hint: ")
    return what, hint


def write_all(out, result):
    """Write every output of `result` into `out` (each atomically)."""
    out = pathlib.Path(out)
    write = folder.write_atomically
    write(out / "rows.json", json.dumps(result, ensure_ascii=False, indent=1))
    all_totals = totals(result)
    write(
        out / "grades.csv",
        csv_text(
            ["student", "exercise", "status", "points", "max_points", "message"],
            [
                [
                    r["student"],
                    r["exercise"],
                    r["status"],
                    r["points"],
                    r["max_points"],
                    r["message"],
                ]
                for r in result["rows"]
            ],
        ),
    )
    column = f"{result['assignment']} (cnn-course)"
    write(
        out / "gradebook_canvas.csv",
        csv_text(
            ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column],
            [[s, "", "", s, "", all_totals[s][0]] for s in result["students"]],
        ),
    )
    write(
        out / "gradebook_moodle.csv",
        csv_text(
            ["username", column, "feedback"],
            [
                [
                    s,
                    all_totals[s][0],
                    f"{all_totals[s][0]:g} of {all_totals[s][1]:g} points; see your feedback page",
                ]
                for s in result["students"]
            ],
        ),
    )
    summary = summarise(result)
    write(
        out / "summary.csv",
        csv_text(
            ["exercise", "title", "students", *STATUSES, "share_correct", "top_hints"],
            [
                [
                    item["exercise"],
                    item["title"],
                    item["students"],
                    *[item[s] for s in STATUSES],
                    item["share_correct"],
                    " | ".join(f"{h} ({n})" for h, n in item["hints"]),
                ]
                for item in summary
            ],
        ),
    )
    by_exercise = collections.defaultdict(list)
    for a in result["answers"]:
        by_exercise[a["exercise"]].append((a["student"], a["text"]))
    grid = {(r["student"], r["exercise"]): r for r in result["rows"]}
    env = _environment()
    how = "sealed (bubblewrap, cgroups)" if result.get("sealed") else "UNSEALED (--unsealed)"
    write(
        out / "summary.html",
        env.from_string(SUMMARY).render(
            assignment=result["assignment"],
            style=STYLE,
            students=result["students"],
            partial=result.get("shard"),
            how=how,
            timeout=f"{result['timeout']:g}",
            summary=summary,
            exercises=result["exercises"],
            grid=grid,
            symbol=SYMBOL,
            totals=all_totals,
            answers=sorted(by_exercise.items()),
        ),
    )
    (out / "feedback").mkdir(mode=0o700, exist_ok=True)
    template = env.from_string(FEEDBACK)
    manual = result.get("manual", {})
    for student in result["students"]:
        rows = []
        for r in result["rows"]:
            if r["student"] != student:
                continue
            what, hint = _split(r["message"])
            shown = r["points"]
            if r["status"] == "review":
                shown = manual.get(f"review|{student}|{r['exercise']}", "to be scored")
            rows.append({**r, "what": what, "hint": hint, "shown_points": shown})
        answers = [(a["exercise"], a["text"]) for a in result["answers"] if a["student"] == student]
        pending = any(
            r["status"] == "review" and r["shown_points"] == "to be scored" for r in rows
        ) or any(f"written|{student}|{e}" not in manual for e in result["written_exercises"])
        write(
            out / "feedback" / f"{student}.html",
            template.render(
                assignment=result["assignment"],
                student=student,
                style=STYLE,
                rows=rows,
                titles=result["titles"],
                symbol=SYMBOL,
                total=all_totals[student],
                answers=answers,
                pending=pending,
            ),
        )
    write(out / "answers.md", _answers_markdown(by_exercise))
    write(out / "manual.csv", _manual_csv(result))


def _answers_markdown(by_exercise):
    lines = ["# Written answers, per exercise", ""]
    for exercise_id in sorted(by_exercise):
        lines += [f"## {exercise_id}", ""]
        for student, text in by_exercise[exercise_id]:
            shown = " ".join(text.split()).replace("<", "&lt;").replace(">", "&gt;")
            lines.append(f"- **{student}**: " + (shown or "*(left blank)*"))
        lines.append("")
    return "\n".join(lines)


MANUAL_HEADER = ["kind", "student", "exercise", "max_points", "score", "text"]


def _manual_csv(result):
    """The items an instructor scores by hand: written answers and rows under review (with the
    score already given, if any)."""
    manual = result.get("manual", {})
    rows = []
    answers = {(a["student"], a["exercise"]): a["text"] for a in result["answers"]}
    for student in result["students"]:
        for exercise_id in result["written_exercises"]:
            key = f"written|{student}|{exercise_id}"
            rows.append(
                [
                    "written",
                    student,
                    exercise_id,
                    result["written_points"][exercise_id],
                    manual.get(key, ""),
                    answers.get((student, exercise_id), ""),
                ]
            )
        for r in result["rows"]:
            if r["student"] == student and r["status"] == "review":
                key = f"review|{student}|{r['exercise']}"
                rows.append(
                    [
                        "review",
                        student,
                        r["exercise"],
                        r["max_points"],
                        manual.get(key, ""),
                        r["message"],
                    ]
                )
    return csv_text(MANUAL_HEADER, rows)


def read_manual_scores(path, result):
    """{key: score} from a filled-in manual.csv; ValueError naming the first bad line."""
    maxima = {}
    for student in result["students"]:
        for e in result["written_exercises"]:
            maxima[f"written|{student}|{e}"] = result["written_points"][e]
    for r in result["rows"]:
        if r["status"] == "review":
            maxima[f"review|{r['student']}|{r['exercise']}"] = r["max_points"]
    scores = {}
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or not {"kind", "student", "exercise", "score"} <= set(
            reader.fieldnames
        ):
            raise ValueError(
                f"{path} is not a manual.csv (it needs the columns kind, student, exercise, score)"
            )
        for number, line in enumerate(reader, start=2):
            text = (line.get("score") or "").strip()
            if not text:
                continue
            key = f"{line['kind']}|{line['student'].lstrip(chr(39))}|{line['exercise']}"
            if key not in maxima:
                raise ValueError(
                    f"{path}, line {number}: no such item to score ({line['kind']} {line['student']} {line['exercise']})"
                )
            try:
                score = float(text)
            except ValueError:
                raise ValueError(
                    f"{path}, line {number}: the score {text!r} is not a number"
                ) from None
            if not (math.isfinite(score) and 0 <= score <= maxima[key]):
                raise ValueError(
                    f"{path}, line {number}: the score {text} is not between 0 and {maxima[key]:g}"
                )
            scores[key] = score
    return scores
