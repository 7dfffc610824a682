"""The kernel's side of grading: turn the answers a notebook recorded into plain values on disk.

The grader runs the student's notebook with CNNLIB_LABS_MODE=record, so every `labs.check(id,
answer)` only keeps the answer in memory (`core.RECORDED`). When the notebook has finished, the
grader writes the trials of the assignment (`trials.json` + `trials.npz`: `{exercise id: trials}`,
made with `core.new_trials(id, seed)` from seeds the kernel never saw) and runs one more cell in
the same kernel::

    from cnnlib.labs import submit; submit.produce_all(trials_dir, values_dir)

For every exercise in the trials it writes, into `values_dir`:

- `<id>.status.json`: {"exercise": id, "status": s, "message": …, "hint": …} with status
  "values" (the values follow), "not attempted" (no check ran, or the stub), "form error" (the
  answer could not be turned into values: wrong form, the learner's function raised, a forbidden
  reference used — the message says which) or "error" (the exercise cannot be produced outside
  the kernel yet, or something unexpected; the message says what);
- `<id>.json` + `<id>.npz`: the values (`core.to_wire`), only when the status is "values".

Nothing here decides a grade: the grader reads the values with `core.from_wire` and judges them
itself. A missing or unreadable file means not attempted or error, never correct.
"""

import json
import os
import pathlib
import traceback

from cnnlib.labs import core

TRIALS_NAME = "trials"
STATUS_SUFFIX = ".status"


def _write_status(values_dir, exercise_id, status, message="", hint=None):
    path = pathlib.Path(values_dir) / f"{exercise_id}{STATUS_SUFFIX}.json"
    line = {"exercise": exercise_id, "status": status, "message": message, "hint": hint}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(line, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def produce_one(exercise_id, trials, values_dir, recorded=None):
    """Produce and write one exercise's values (or its status); returns the status. Never raises
    for anything the learner's answer does."""
    recorded = core.RECORDED if recorded is None else recorded
    if exercise_id not in recorded:
        _write_status(values_dir, exercise_id, "not attempted", "no check of this exercise ran")
        return "not attempted"
    before = core._snapshot()
    try:
        values = core.produce(exercise_id, recorded[exercise_id], trials)
        core.to_wire(values, values_dir, exercise_id)
    except core.NotAttempted:
        _write_status(values_dir, exercise_id, "not attempted")
        return "not attempted"
    except core.Wrong as mistake:
        _write_status(values_dir, exercise_id, "form error", mistake.what, mistake.hint)
        return "form error"
    except Exception as error:  # a bug, or an answer that broke something: an error row, no grade
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        _write_status(values_dir, exercise_id, "error", f"producing the values failed: {detail}")
        return "error"
    finally:
        core._restore(before)  # what one answer's code left behind does not reach the next
    _write_status(values_dir, exercise_id, "values")
    return "values"


def produce_all(trials_dir, values_dir):
    """Write every recorded answer's values for the trials in `trials_dir` into `values_dir`.

    Returns {exercise id: status}. Never raises: unreadable trials give one "error" status file
    named `_trials.status.json`, and each exercise gets its own status file.
    """
    values_dir = pathlib.Path(values_dir)
    values_dir.mkdir(parents=True, exist_ok=True)
    try:
        everything = core.from_wire(trials_dir, TRIALS_NAME)
        if type(everything) is not dict or not all(type(k) is str for k in everything):
            raise ValueError("the trials are not a dict {exercise id: trials}")
    except Exception as error:
        _write_status(values_dir, "_trials", "error", f"the trials could not be read: {error}")
        return {}
    statuses = {}
    for exercise_id, trials in everything.items():
        try:
            statuses[exercise_id] = produce_one(exercise_id, trials, values_dir)
        except Exception as error:  # e.g. an id no module registers, or a full disk
            statuses[exercise_id] = "error"
            try:
                _write_status(values_dir, exercise_id, "error", f"{type(error).__name__}: {error}")
            except Exception:
                pass
    return statuses
