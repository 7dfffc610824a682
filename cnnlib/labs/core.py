"""The machinery behind `cnnlib.labs.check`: a registry of exercises and checks that teach.

A notebook's exercise module registers one checker per exercise with `@exercise(...)`. A checker
takes the learner's answer and either returns (a short confirmation, or None) or raises `Wrong`
with what is wrong, on which input, and a hint aimed at the usual cause. `check` turns that into
one ✓ line, a `CheckFailed` error (an AssertionError) that IPython shows as the message and hint
alone, or "not attempted yet" for the untouched stub.

The comparators below (`same_array`, `same_number`, `as_shape`, `as_size`, `call` …) are what
checkers build on: each rejects NaN and infinity with a sentence, accepts NumPy's scalar types,
and turns an answer of the wrong form into `Wrong`, never a TypeError. A checker that still trips
over an answer's form (a TypeError, ValueError, IndexError, KeyError or AttributeError of its
own) is reported as a ✗ saying the answer's form is wrong and what form was expected.

When the environment variable CNNLIB_CHECK_LOG names a file, every check appends one JSON line
to it ({"exercise", "status", "message", "hint"}): that is how grading sees the outcomes.
"""

import contextlib
import dataclasses
import json
import numbers
import os
import sys

import numpy as np

KINDS = ("predict", "implement", "design", "experiment")
DIFFICULTIES = ("warm-up", "core", "stretch")
CHECK_LOG_VARIABLE = "CNNLIB_CHECK_LOG"
# Outcomes of `_verdict`, and the status each one gets in grading.
STATUS = {
    "right": "correct",
    "wrong": "wrong",
    "not attempted": "not attempted",
    "forbidden": "not attempted",  # right, but done with the reference the exercise forbids
}
FORM_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError)


class Wrong(Exception):
    """Raised by a checker: `what` went wrong on which input; `hint` names the usual cause."""

    def __init__(self, what, hint=None):
        super().__init__(what)
        self.what = what
        self.hint = hint

    def explain(self):
        return self.what if not self.hint else f"{self.what}\n  Hint: {self.hint}"


class NotAttempted(Exception):
    """Raised by a checker (or by the learner's stub, as NotImplementedError) for an untouched answer."""


class CheckFailed(AssertionError):
    """A ✗ from `check`: the cell fails, and IPython shows the message and hint, not a traceback."""

    def __init__(self, exercise_id, title, what, hint=None):
        self.exercise_id, self.title, self.what, self.hint = exercise_id, title, what, hint
        super().__init__(f"✗ {exercise_id} ({title}): {Wrong(what, hint).explain()}")

    def _render_traceback_(self):
        # IPython prints these lines instead of the traceback (a 20-line trip through cnnlib that
        # tells a beginner nothing); the cell still counts as failed, so Run All stops here.
        return str(self).splitlines()


@dataclasses.dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    kind: str
    difficulty: str
    checker: object
    expects: str = ""  # the answer's form, said when the answer has another one
    forbid: tuple = ()  # references (functions or dotted names) the learner must not call

    @property
    def notebook(self):
        return self.id.split(".", 1)[0]


REGISTRY = {}
HISTORY = []  # (exercise id, outcome) of every check in this process, oldest first


def exercise(exercise_id, title, kind, difficulty, expects="", forbid=()):
    """Decorator registering `checker(answer)` under `exercise_id` ("NN.name").

    `expects` describes the answer's form ("a tuple (height, width, channels)"); it is what a ✗
    says when the answer has another form. `forbid` lists references the exercise asks the learner
    not to use (functions, or dotted names such as "cnnlib.ops.pool2d"): a right answer whose
    function called one of them (through `call`) prints "✓, but you called …" and counts as not
    done in grading.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    prefix = exercise_id.split(".", 1)[0]
    if not (len(prefix) == 2 and prefix.isdigit() and "." in exercise_id):
        raise ValueError(f"exercise ids look like '02.conv2d', got {exercise_id!r}")
    if isinstance(forbid, str) or callable(forbid):
        forbid = (forbid,)

    def register(checker):
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        REGISTRY[exercise_id] = Exercise(
            exercise_id, title, kind, difficulty, checker, expects, tuple(forbid)
        )
        return checker

    return register


def is_stub(answer):
    """The placeholders a notebook ships: None or Ellipsis (`...`)."""
    return answer is None or answer is Ellipsis


# ---------------------------------------------------------------------------------------------
# Calls to a forbidden reference
# ---------------------------------------------------------------------------------------------

_WATCHED = {}  # code object -> dotted name, while a checker with `forbid` runs
_CALLED = set()  # dotted names of watched references the learner's function called


def reference_name(reference):
    """The dotted name of a function ("cnnlib.ops.pool2d"), or the name itself when given one."""
    if isinstance(reference, str):
        return reference
    return f"{reference.__module__}.{reference.__qualname__}"


def _resolve(reference):
    if not isinstance(reference, str):
        return reference
    import importlib

    module, _, name = reference.rpartition(".")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def watching(*references):
    """Within the block, note the references among `references` that `call` sees called.

    Yields the set of dotted names called. Works whatever name the learner imported the function
    under (`from cnnlib.ops import pool2d as p`), since it watches the function's code, not a name.
    """
    saved = dict(_WATCHED), set(_CALLED)
    _CALLED.clear()
    for reference in references:
        function = _resolve(reference)
        code = getattr(getattr(function, "__wrapped__", function), "__code__", None)
        if code is None:
            raise ValueError(f"cannot watch {reference!r}: it is not a Python function")
        _WATCHED[code] = reference_name(reference)
    called = set()
    try:
        yield called
    finally:
        called.update(_CALLED)
        _WATCHED.clear()
        _WATCHED.update(saved[0])
        _CALLED.clear()
        _CALLED.update(saved[1])


def _profile(previous):
    def note(frame, event, arg):
        if event == "call" and frame.f_code in _WATCHED:
            _CALLED.add(_WATCHED[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    return note


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------


def _form_error(item, error):
    expected = item.expects or (item.checker.__doc__ or "").strip().splitlines()[0:1]
    expected = expected if isinstance(expected, str) else "".join(expected)
    return Wrong(
        f"your answer is not in the form this exercise expects "
        f"(checking it raised {type(error).__name__}: {error})",
        f"expected {expected}"
        if expected
        else "compare your answer's form with the exercise's stub",
    )


def _judge(exercise_id, answer):
    """(outcome, text, hint): outcome is "right", "forbidden", "not attempted" or "wrong"."""
    if exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"no exercise called {exercise_id!r}; the exercises are: {known}")
    item = REGISTRY[exercise_id]
    if is_stub(answer):
        return "not attempted", None, None
    called = set()
    try:
        with watching(*item.forbid) as called:
            confirmation = item.checker(answer)
    except (NotAttempted, NotImplementedError):
        return "not attempted", None, None
    except Wrong as mistake:
        return "wrong", mistake.what, mistake.hint
    except FORM_ERRORS as error:
        mistake = _form_error(item, error)
        return "wrong", mistake.what, mistake.hint
    if called:
        names = ", ".join(sorted(called))
        return (
            "forbidden",
            f"you called {names}, which this exercise asks you to do without",
            "it counts as not done until your function works without it",
        )
    return "right", confirmation, None


def _record(exercise_id, outcome, text, hint):
    HISTORY.append((exercise_id, outcome))
    log = os.environ.get(CHECK_LOG_VARIABLE)
    if log:
        line = {
            "exercise": exercise_id,
            "status": STATUS[outcome],
            "message": text or "",
            "hint": hint or "",
        }
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps(line, ensure_ascii=False) + "\n")


def _verdict(exercise_id, answer):
    """("right" or "forbidden" or "not attempted", text); raises CheckFailed when wrong."""
    outcome, text, hint = _judge(exercise_id, answer)
    _record(exercise_id, outcome, text, hint)
    if outcome == "wrong":
        raise CheckFailed(exercise_id, REGISTRY[exercise_id].title, text, hint) from None
    return outcome, text


def check(exercise_id, answer):
    """Check the learner's `answer` to exercise `exercise_id`.

    Prints "✓ …" when right and "… not attempted yet" for the stub the notebook ships; raises a
    `CheckFailed` (an AssertionError) that says what is wrong (with a hint) otherwise. Returns
    nothing, so a check at the end of a cell adds no Out[…] line.
    """
    outcome, text = _verdict(exercise_id, answer)
    label = f"{exercise_id} ({REGISTRY[exercise_id].title})"
    if outcome == "not attempted":
        print(f"… {label}: not attempted yet")
    elif outcome == "forbidden":
        print(f"✓, but {label}: {text}. It counts as {STATUS['forbidden']} in grading.")
    else:
        print(f"✓ {label}" + (f": {text}" if text else ""))


def passes(exercise_id, answer):
    """For tests and tools: True when right, False when not attempted (or done with a forbidden
    reference), CheckFailed (an AssertionError) when wrong."""
    return _verdict(exercise_id, answer)[0] == "right"


# ---------------------------------------------------------------------------------------------
# Small tools checkers share
# ---------------------------------------------------------------------------------------------


def call(function, *args, on=""):
    """Call the learner's function; its own crash becomes `Wrong` naming the input.

    NotImplementedError (the stub) passes through, so `check` reports "not attempted yet". While
    a checker with `forbid` runs, calls to the forbidden references are noted here.
    """
    if not callable(function):
        raise Wrong(
            f"expected a function, got {type(function).__name__}",
            "pass the function itself (no parentheses after its name)",
        )
    previous = sys.getprofile() if _WATCHED else None
    if _WATCHED:
        sys.setprofile(_profile(previous))
    try:
        return function(*args)
    except NotImplementedError:
        raise
    except Exception as error:  # the learner's bug: say where it happened, not a deep trace
        raise Wrong(f"your function raised {type(error).__name__}: {error} {on}".rstrip()) from None
    finally:
        if _WATCHED:
            sys.setprofile(previous)


def _non_finite(values, on):
    """Raise `Wrong` naming the first NaN or infinity in `values` (an array of floats)."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    value = values[where] if values.ndim else values
    kind = "NaN (not a number)" if np.isnan(value) else "an infinity"
    place = f" at index {where}" if values.ndim else ""
    raise Wrong(
        f"{on}: your answer contains {kind}{place}".lstrip(": "),
        "NaN and infinity usually come from dividing by zero (0/0, or by a sum that is 0) or "
        "from exp of a large number",
    )


def as_array(value, on=""):
    """`value` as an array of floats, or `Wrong` saying it is not one (ragged lists, text …)."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise Wrong(f"expected an array of numbers {on}, got {type(value).__name__}".rstrip())
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(
            f"expected an array of numbers {on}, got {type(value).__name__}".rstrip()
        ) from None
    return array


def same_array(got, expected, on, hints=(), shape_hints=(), rtol=1e-5, atol=1e-6):
    """Raise `Wrong` unless `got` matches `expected` in shape and values.

    `on` names the input ("on a random 7×5 image with a 3×3 kernel"). `hints` lists
    (known_wrong_answer, hint) pairs: when `got` equals a typical wrong answer (the flipped-kernel
    result, a stride applied on one axis only …), that answer's hint comes with the message.
    `shape_hints` lists (wrong_shape, hint) pairs for mistakes that show in the shape alone.
    NaN or infinity in `got` is always wrong, with a sentence saying where.
    """
    got = as_array(got, on)
    expected = np.asarray(expected, dtype=float)
    if got.shape == expected.shape:
        _non_finite(got, on)
        if np.allclose(got, expected, rtol=rtol, atol=atol):
            return
    for candidate, hint in hints:
        candidate = np.asarray(candidate, dtype=float)
        if candidate.shape == got.shape and np.allclose(got, candidate, rtol=rtol, atol=atol):
            raise Wrong(_difference(got, expected, on), hint)
    for shape, hint in shape_hints:
        if got.shape == tuple(shape) and got.shape != expected.shape:
            raise Wrong(_difference(got, expected, on), hint)
    raise Wrong(_difference(got, expected, on))


def _difference(got, expected, on):
    if got.shape != expected.shape:
        return f"{on}: your output has shape {got.shape}, expected {expected.shape}"
    where = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
    return (
        f"{on}: your output differs at index {tuple(int(i) for i in where)}: "
        f"{got[where]:.6g} where {expected[where]:.6g} was expected"
    )


def as_number(value, what):
    """`value` as a finite float: Python and NumPy numbers (and 0-d arrays) pass; text, True/False,
    NaN and infinity are `Wrong` with a sentence."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise Wrong(f"{what}: expected a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    _non_finite(np.asarray(number), what)
    return number


def same_number(got, expected, what, hints=(), rtol=1e-9):
    """Raise `Wrong` unless the number `got` equals `expected`; `hints` maps wrong values to hints."""
    value = as_number(got, what)
    if np.isclose(value, expected, rtol=rtol, atol=1e-12):
        return
    for candidate, hint in hints:
        if np.isclose(value, candidate, rtol=rtol, atol=1e-12):
            raise Wrong(f"{what}: you gave {got}, which is not right", hint)
    raise Wrong(f"{what}: you gave {got}, which is not right")


def as_size(value, what, minimum=1):
    """`value` as an int of at least `minimum`: 16, np.int64(16) and 16.0 pass; 16.5 is `Wrong`
    (a size is never rounded into shape here), as are text, True/False and NaN."""
    number = as_number(value, what)
    if number != int(number):
        raise Wrong(
            f"{what}: {value!r} is not a whole number, and sizes and counts are",
            "a division that does not come out even: the formulas round down (floor, `//`), "
            "or the layer's settings are not what you think",
        )
    if number < minimum:
        raise Wrong(f"{what}: {value!r} is less than {minimum}")
    return int(number)


def as_shape(value, what, batch=False):
    """A shape answer as a tuple of ints, parsed the same way in every exercise.

    Tuples, lists, 1-D arrays and TensorShapes pass, with NumPy integers or whole floats as sizes.
    Keras prints shapes with the batch axis as None, `(None, 28, 28, 16)`: unless `batch` (the
    exercise asks for the batch size too), a leading None is dropped, so it and `(28, 28, 16)`
    are the same answer. Fractional, zero or negative sizes and other forms are `Wrong`.
    """
    if hasattr(value, "as_list"):  # tf.TensorShape
        value = value.as_list()
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)):
        raise Wrong(
            f"{what}: expected a shape such as (28, 28, 16), got {value!r} ({type(value).__name__})"
        )
    sizes = list(value)
    if sizes and sizes[0] is None and not batch:
        sizes = sizes[1:]
    if any(size is None for size in sizes):
        raise Wrong(
            f"{what}: {tuple(value)} has None where a size belongs",
            "Keras writes None only for the batch axis, first; every other size is a number"
            + ("; here the batch size is part of the question" if batch else ""),
        )
    return tuple(as_size(size, f"{what}, axis {i}") for i, size in enumerate(sizes))


def same_shape(got, expected, what, hints=(), batch=False):
    """Raise `Wrong` unless the shape answer `got` (parsed by `as_shape`) equals `expected`."""
    shape = as_shape(got, what, batch=batch)
    expected = tuple(expected)
    if shape == expected:
        return
    for candidate, hint in hints:
        if shape == tuple(candidate):
            raise Wrong(f"{what}: {shape} is not right", hint)
    if len(shape) != len(expected):
        raise Wrong(f"{what}: {shape} has {len(shape)} axes; this shape has {len(expected)}")
    raise Wrong(f"{what}: {shape} is not right")


def relative_error(a, b):
    """CS231n's relative error max|a − b| / max(|a| + |b|): about 1e-7 or less means they agree."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, upstream, h=1e-5):
    """d(sum(f(x) * upstream))/dx by central differences: the reference for backward passes."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        plus = np.sum(f(x) * upstream)
        x[index] = saved - h
        minus = np.sum(f(x) * upstream)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def rng(seed=0):
    return np.random.default_rng(seed)
