"""The machinery behind `cnnlib.labs.check`: a registry of exercises and checks that teach.

A notebook's exercise module registers one checker per exercise with `@exercise(...)`. A checker
takes the learner's answer and either returns (a short confirmation, or None) or raises `Wrong`
with what is wrong, on which input, and a hint aimed at the usual cause. `check` turns that into
one ✓ line, an AssertionError with the explanation, or "not attempted yet" for the untouched stub.
"""

import dataclasses

import numpy as np

KINDS = ("predict", "implement", "design", "experiment")
DIFFICULTIES = ("warm-up", "core", "stretch")


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


@dataclasses.dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    kind: str
    difficulty: str
    checker: object

    @property
    def notebook(self):
        return self.id.split(".", 1)[0]


REGISTRY = {}


def exercise(exercise_id, title, kind, difficulty):
    """Decorator registering `checker(answer)` under `exercise_id` ("NN.name")."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    prefix = exercise_id.split(".", 1)[0]
    if not (len(prefix) == 2 and prefix.isdigit() and "." in exercise_id):
        raise ValueError(f"exercise ids look like '02.conv2d', got {exercise_id!r}")

    def register(checker):
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        REGISTRY[exercise_id] = Exercise(exercise_id, title, kind, difficulty, checker)
        return checker

    return register


def is_stub(answer):
    """The placeholders a notebook ships: None or Ellipsis (`...`)."""
    return answer is None or answer is Ellipsis


def _verdict(exercise_id, answer):
    """("right", confirmation) or ("not attempted", None); raises AssertionError when wrong."""
    if exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"no exercise called {exercise_id!r}; the exercises are: {known}")
    item = REGISTRY[exercise_id]
    if is_stub(answer):
        return "not attempted", None
    try:
        confirmation = item.checker(answer)
    except (NotAttempted, NotImplementedError):
        return "not attempted", None
    except Wrong as mistake:
        raise AssertionError(f"✗ {item.id} ({item.title}): {mistake.explain()}") from None
    return "right", confirmation


def check(exercise_id, answer):
    """Check the learner's `answer` to exercise `exercise_id`.

    Prints "✓ …" when right and "… not attempted yet" for the stub the notebook ships; raises an
    AssertionError that says what is wrong (with a hint) otherwise. Returns nothing, so a check at
    the end of a cell adds no Out[…] line.
    """
    outcome, confirmation = _verdict(exercise_id, answer)
    label = f"{exercise_id} ({REGISTRY[exercise_id].title})"
    if outcome == "not attempted":
        print(f"… {label}: not attempted yet")
    else:
        print(f"✓ {label}" + (f": {confirmation}" if confirmation else ""))


def passes(exercise_id, answer):
    """For tests and tools: True when right, False when not attempted, AssertionError when wrong."""
    return _verdict(exercise_id, answer)[0] == "right"


# ---------------------------------------------------------------------------------------------
# Small tools checkers share
# ---------------------------------------------------------------------------------------------


def call(function, *args, on=""):
    """Call the learner's function; its own crash becomes `Wrong` naming the input.

    NotImplementedError (the stub) passes through, so `check` reports "not attempted yet".
    """
    if not callable(function):
        raise Wrong(
            f"expected a function, got {type(function).__name__}",
            "pass the function itself (no parentheses after its name)",
        )
    try:
        return function(*args)
    except NotImplementedError:
        raise
    except Exception as error:  # the learner's bug: say where it happened, not a deep trace
        raise Wrong(f"your function raised {type(error).__name__}: {error} {on}".rstrip()) from None


def as_array(value, on=""):
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(
            f"expected an array of numbers {on}, got {type(value).__name__}".rstrip()
        ) from None


def same_array(got, expected, on, hints=(), shape_hints=(), rtol=1e-5, atol=1e-6):
    """Raise `Wrong` unless `got` matches `expected` in shape and values.

    `on` names the input ("on a random 7×5 image with a 3×3 kernel"). `hints` lists
    (known_wrong_answer, hint) pairs: when `got` equals a typical wrong answer (the flipped-kernel
    result, a stride applied on one axis only …), that answer's hint comes with the message.
    `shape_hints` lists (wrong_shape, hint) pairs for mistakes that show in the shape alone.
    """
    got = as_array(got, on)
    expected = np.asarray(expected, dtype=float)
    if got.shape == expected.shape and np.allclose(got, expected, rtol=rtol, atol=atol):
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


def same_number(got, expected, what, hints=(), rtol=1e-9):
    """Raise `Wrong` unless the number `got` equals `expected`; `hints` maps wrong values to hints."""
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise Wrong(f"{what}: expected a number, got {got!r}") from None
    if np.isclose(value, expected, rtol=rtol, atol=1e-12):
        return
    for candidate, hint in hints:
        if np.isclose(value, candidate, rtol=rtol, atol=1e-12):
            raise Wrong(f"{what}: you gave {got}, which is not right", hint)
    raise Wrong(f"{what}: you gave {got}, which is not right")


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
