"""Put results back together: shards of one class (`grade merge`), manual scores (`merge-scores`).

A class too large for one machine is graded as N shards (`--shard K/N`, each into its own
folder, e.g. one Slurm array task or one Kubernetes Indexed Job pod each); `merge` checks that
they are the N shards of one assignment, with no student twice, and writes the same tables one
run would have written.
"""

import json
import pathlib

from cnnlib.labs.grading import folder, reports

# What every grading run writes into rows.json (classroom._grade_locked), and merge reads.
RESULT_KEYS = {
    "assignment": str,
    "exercises": list,
    "points": dict,
    "written_points": dict,
    "written_exercises": list,
    "students": list,
    "rows": list,
    "answers": list,
    "timeout": (int, float),
}


def _load(path):
    """The result of a grading run: `path`/rows.json (or `path` itself, a rows.json), or
    ValueError in one sentence when it is missing or not what a grading run writes."""
    path = pathlib.Path(path)
    file = path / "rows.json" if path.is_dir() else path
    try:
        result = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path} holds no rows.json: was its grading run finished?") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {file}: {error}") from None
    if not isinstance(result, dict) or any(
        not isinstance(result.get(key), kind) for key, kind in RESULT_KEYS.items()
    ):
        raise ValueError(f"{file} is not the rows.json of a grading run")
    return result


def merge_shards(shard_folders, out):
    """Merge the results of `shard_folders` into `out`; return the merged result."""
    parts = [_load(p) for p in shard_folders]
    if not parts:
        raise ValueError("no shard folders given")
    first = parts[0]
    for path, part in zip(shard_folders, parts):
        for key in ("assignment", "exercises", "points", "written_points", "written_exercises"):
            if part[key] != first[key]:
                raise ValueError(
                    f"{path} was graded with another {key.replace('_', ' ')} than {shard_folders[0]}"
                )
    shards = [p.get("shard") for p in parts]
    if all(shards):
        n = {int(s.split("/")[1]) for s in shards}
        k = sorted(int(s.split("/")[0]) for s in shards)
        if len(n) != 1 or k != list(range(1, n.pop() + 1)):
            raise ValueError(
                f"these are not all the shards of one class: {', '.join(sorted(shards))}"
            )
    students = [s for part in parts for s in part["students"]]
    twice = sorted({s for s in students if students.count(s) > 1})
    if twice:
        raise ValueError(f"students graded in two shards: {', '.join(twice)}")
    order = sorted(students)
    rank = {s: i for i, s in enumerate(order)}
    merged = dict(first)
    merged.update(
        students=order,
        rows=sorted(
            (r for p in parts for r in p["rows"]),
            key=lambda r: (rank[r["student"]], first["exercises"].index(r["exercise"])),
        ),
        answers=sorted((a for p in parts for a in p["answers"]), key=lambda a: rank[a["student"]]),
        seconds={k: v for p in parts for k, v in p.get("seconds", {}).items()},
        wall_seconds=max(p.get("wall_seconds", 0) for p in parts),
        timeout=max(p["timeout"] for p in parts),
        sealed=all(p.get("sealed") for p in parts),
        shard=None,
        manual={k: v for p in parts for k, v in p.get("manual", {}).items()},
    )
    out = folder.prepare(out)
    with folder.locked(out):
        reports.write_all(out, merged)
    return merged


def merge_scores(out, scores_csv):
    """Add the scores filled into `scores_csv` (a copy of manual.csv) to the results in `out` and
    rewrite every table; return the number of scores taken."""
    if not pathlib.Path(scores_csv).is_file():
        what = "a folder" if pathlib.Path(scores_csv).is_dir() else "not there"
        raise ValueError(f"{scores_csv} is {what}: --scores takes the filled-in manual.csv")
    _load(out)  # a folder without a grading run's results is left as it was
    out = folder.prepare(out)
    with folder.locked(out):
        result = _load(out)
        scores = reports.read_manual_scores(scores_csv, result)
        result.setdefault("manual", {}).update(scores)
        reports.write_all(out, result)
    return len(scores)
