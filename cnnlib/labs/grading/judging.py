"""The verdicts, decided in the grader's process: it runs no student code.

The grader draws each exercise's trials from a secret seed (`core.new_trials`) after the
notebook has run, sends them into the sandbox, and gets back the values the kernel's
`submit.produce_all` wrote with `core.to_wire`. They are read here with `core.from_wire` (plain
JSON types and numeric arrays only, no pickle, sizes capped) and judged with `core.judge`
against the grader's own copy of the trials. Nothing the kernel prints, logs or writes can make a
row correct: a value that is missing is "not attempted" or "error", never "correct".
"""

import hashlib
import json
import pathlib
import re
import secrets

LEGACY = (
    "this exercise cannot be graded outside the kernel yet (its check still judges in the kernel)"
)
VALUE_NAME = re.compile(r"^[\w.-]{1,120}$")


def gradable(exercise_id):
    """True for an exercise in the three-piece form (trials, form, judge); False for a legacy
    one-step checker, which can judge only inside the kernel."""
    from cnnlib.labs import REGISTRY

    return getattr(REGISTRY[exercise_id], "form", None) is not None


def master_seed(seed, key):
    """The seed of one submission's trials: secret and fresh (`seed` None), or derived from the
    instructor's `--seed` and the submission's bytes (`key`), so shards agree."""
    if seed is None:
        return secrets.randbits(63)
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") >> 1


def exercise_seed(master, exercise_id):
    return (
        int.from_bytes(hashlib.sha256(f"{master}:{exercise_id}".encode()).digest()[:8], "big") >> 1
    )


def write_trials(exercise_ids, master, folder):
    """{exercise id: trials} for the gradable exercises, also written to `folder` (trials.json,
    trials.npz) as the kernel will read them."""
    from cnnlib.labs import core

    trials = {i: core.new_trials(i, exercise_seed(master, i)) for i in exercise_ids}
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    core.to_wire(trials, folder, "trials")
    return trials


def verdicts(values_dir, trials):
    """{exercise id: (status, message)} for every exercise whose value (or form error, or "not
    attempted") the kernel produced; an exercise without any is left out (the caller says why).
    """
    from cnnlib.labs import core

    values_dir = pathlib.Path(values_dir)
    outcomes = _outcomes(values_dir)
    found = {}
    for exercise_id, exercise_trials in trials.items():
        outcome = outcomes.get(exercise_id)
        if outcome is None:
            continue
        kind = outcome.get("status")
        if kind == "not attempted":
            found[exercise_id] = ("not attempted", "")
            continue
        if kind == "wrong":  # the answer could not be turned into values: a ✗ about its form
            found[exercise_id] = ("wrong", _message(outcome.get("message"), outcome.get("hint")))
            continue
        if kind != "produced":
            continue
        try:
            values = core.from_wire(values_dir, _wire_name(exercise_id))
        except (OSError, ValueError, TypeError, KeyError) as error:
            found[exercise_id] = ("error", f"the answer's values could not be read: {error}")
            continue
        verdict = core.judge(exercise_id, values, exercise_trials)
        found[exercise_id] = (verdict.status, _message(verdict.message, verdict.hint))
    return found


def _message(message, hint):
    message = str(message or "")[:2000]
    hint = str(hint or "")[:1000]
    return f"{message} Hint: {hint}" if hint else message


def _wire_name(exercise_id):
    return exercise_id


def _outcomes(values_dir):
    """{exercise id: {"status": …}} from the kernel's index of what it produced (untrusted: only
    known keys and plain strings are kept)."""
    path = values_dir / "outcomes.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    kept = {}
    for exercise_id, entry in raw.items():
        if isinstance(exercise_id, str) and isinstance(entry, dict):
            kept[exercise_id] = {
                key: str(entry[key])[:2000]
                for key in ("status", "message", "hint")
                if isinstance(entry.get(key), str)
            }
    return kept
