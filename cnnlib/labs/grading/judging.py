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
import threading

VALUE_NAME = re.compile(r"^[\w.-]{1,120}$")
_JUDGING = threading.Lock()  # one judge at a time: a judge may rebuild a Keras model


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
    """{exercise id: (status, message)} for every exercise of `trials` the kernel said something
    about (`submit.produce_all` writes `<id>.status.json`, and `<id>.json` + `<id>.npz` when the
    status is "values"); an exercise without a status file is left out (the caller says why).
    """
    from cnnlib.labs import core

    values_dir = pathlib.Path(values_dir)
    found = {}
    for exercise_id, exercise_trials in trials.items():
        outcome = _status(values_dir, exercise_id)
        if outcome is None:
            continue
        kind, message, hint = outcome
        if kind == "not attempted":
            found[exercise_id] = ("not attempted", "")
        elif kind == "form error":  # the answer could not become values: a ✗ about its form
            found[exercise_id] = ("wrong", _message(message, hint))
        elif kind == "values":
            try:
                values = core.from_wire(values_dir, exercise_id)
            except Exception as error:  # whatever the kernel wrote, it is not this student's grade
                found[exercise_id] = (
                    "error",
                    f"the answer's values could not be read: {_short(error)}",
                )
                continue
            try:
                with _JUDGING:
                    verdict = core.judge(exercise_id, values, exercise_trials)
            except Exception as error:  # a bug of the check: this row, not the whole class
                found[exercise_id] = (
                    "error",
                    f"the check itself failed on these values ({_short(error)}); a bug in the "
                    "course's check, worth reporting: look at this answer yourself",
                )
                continue
            found[exercise_id] = (verdict.status, _message(verdict.message, verdict.hint))
        else:
            found[exercise_id] = (
                "error",
                _message(message or "the answer could not be produced", None),
            )
    return found


def _short(error):
    return f"{type(error).__name__}: {str(error)[:300]}"


def _message(message, hint):
    message = str(message or "")[:2000]
    hint = str(hint or "")[:1000]
    return f"{message} Hint: {hint}" if hint else message


STATUS_KINDS = ("values", "not attempted", "form error", "error")


def _status(values_dir, exercise_id):
    """(kind, message, hint) from the kernel's `<id>.status.json` (untrusted: only its known
    fields, as capped strings), or None when there is none or it is not one."""
    path = values_dir / f"{exercise_id}.status.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("status") not in STATUS_KINDS:
        return None
    if entry.get("exercise", exercise_id) != exercise_id:
        return None
    text = [entry.get(k) if isinstance(entry.get(k), str) else "" for k in ("message", "hint")]
    return entry["status"], text[0][:2000], text[1][:1000]
