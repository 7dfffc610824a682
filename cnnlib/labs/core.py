"""The one toolbox behind `labs.check`: exercises whose answers cross a boundary as plain values.

Every exercise is three pieces, registered together in its `cnnlib/labs/exNN.py`:

1. `trials(rng)`: the inputs the learner's code runs on (plain data: numbers, strings, lists,
   tuples, dicts, float64/int64/bool arrays), made from a fresh seed each time; none for a
   prediction.
2. a form (`Number`, `Size`, `Shape`, `Array`, `Choice`, `Text`, `Mapping`, `Sequence`,
   `Function`, `Model`): how the answer becomes plain values. All learner code runs here, in
   `produce`, under the forbidden-reference watch; what comes out is new objects of exact plain
   types, and an answer that cannot be converted is a ✗ about its form, never a traceback.
3. the judge, the decorated function: `judge(values, trials)` returns a short confirmation or
   raises `Wrong(what, hint)`. It sees only plain values and the trials, and computes what is
   expected only now, after the learner's code has finished.

`check(id, answer)` runs them in one process for the learner's own feedback; grading runs
`produce` in the student's kernel (`cnnlib.labs.submit`) and `judge` in a process that never runs
student code, with the values crossing as JSON + .npz (`to_wire`, `from_wire`).

A worked example of each kind (the ids are made up; tests/labs/test_boundary.py runs this very
text, and registers the same exercises as "99.*" to attack them)::

    import numpy as np
    from cnnlib import ops
    from cnnlib.labs.core import (Array, Function, Mapping, Model, Number, Shape, Wrong,
                                  describe_input, exercise, rebuild_model, same_array,
                                  same_number, same_shape)

    # predict: no trials; the answer is a value, judged without ever stating the expected one.
    @exercise("90.output_shape", "output shape of a 3×3 convolution", "predict", "warm-up",
              form=Shape())
    def judge_output_shape(shape, trials):
        same_shape(shape, (26, 26, 8), "the output shape",
                   hints=[((28, 28, 8), "a 'valid' convolution loses f − 1 pixels a side")])
        return "26 = 28 − 3 + 1 on each side, one channel per filter"

    # implement: the learner's function is called on a copy of each trial's inputs.
    def conv_trials(rng):
        return [{"x": rng.normal(size=(h, w)), "kernel": rng.normal(size=(3, 3))}
                for h, w in [(5, 5), (7, 4), (6, 9)]]

    @exercise("90.conv2d", "convolution from scratch", "implement", "core",
              form=Function(Array(), args=("x", "kernel")), trials=conv_trials,
              forbid=("cnnlib.ops.conv2d",))   # and, with it, every public twin in cnnlib.ops
    def judge_conv2d(outputs, trials):
        for got, case in zip(outputs, trials):
            same_array(got, ops.conv2d(case["x"], case["kernel"]), f"on {describe_input(case)}")
        return f"right on {len(trials)} random images"

    # design: a Keras model (or a function building one), rebuilt here from its configuration.
    @exercise("90.small_cnn", "a CNN under 10,000 parameters", "design", "core", form=Model())
    def judge_small_cnn(model, trials):
        network = rebuild_model(model)
        count = network.count_params()
        if count >= 10_000:
            raise Wrong(f"your model has {count:,} parameters", "pool before flattening")
        return f"{count:,} parameters"

    # experiment: the learner's code runs under the judge's seeds; the judge redoes what it can.
    def descent_trials(rng):
        return [{"seed": int(rng.integers(2**31)), "rate": rate} for rate in (0.1, 0.01)]

    def _descend(seed, rate):  # the judge's own run: 20 steps on (w − 3)² from the seed's start
        w = np.random.default_rng(seed).normal() * 5
        first = (w - 3) ** 2
        for _ in range(20):
            w -= rate * 2 * (w - 3)
        return first, (w - 3) ** 2

    @exercise("90.descent", "gradient descent, first and last loss", "experiment", "core",
              form=Function(Mapping({"first": Number(), "last": Number()}), args=("seed", "rate")),
              trials=descent_trials)
    def judge_descent(results, trials):
        for result, case in zip(results, trials):
            first, last = _descend(case["seed"], case["rate"])
            same_number(result["first"], first, f"the first loss, {describe_input(case)}")
            same_number(result["last"], last, f"the last loss, {describe_input(case)}", rtol=1e-6)
        return "your losses agree with the judge's own descent"

A prediction's message never states the expected value; after `DETAILED_TRIES` wrong tries of a
prediction, `check` says only "not right" (no direction, no position) and says why.
"""

import ast
import builtins
import contextlib
import dataclasses
import decimal
import fractions
import functools
import gc
import importlib
import inspect
import io
import json
import math
import numbers
import os
import pathlib
import re
import secrets
import signal
import sys
import sysconfig
import textwrap
import threading
import zipfile

import numpy as np

KINDS = ("predict", "implement", "design", "experiment")
DIFFICULTIES = ("warm-up", "core", "stretch")
STATUSES = ("correct", "wrong", "not attempted")  # a Verdict's status
RECORD_MODE_VARIABLE = "CNNLIB_LABS_MODE"  # "record": check stores the answer for grading
DETAILED_TRIES = 3  # wrong tries of a prediction that get a message with direction and position
# What a judge raises on values of another form, or of a size its arithmetic cannot take (inf).
FORM_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError, ArithmeticError)
FORBIDDEN_TEXT = "you used {}, which this exercise asks you to do without"
FORBIDDEN_HINT = "the exercise is to do that part yourself; it counts as wrong until you do"

# Sizes the boundary refuses beyond (a learner's answer, or a file on the wire).
MAX_ELEMENTS = 20_000_000  # of one array
MAX_ITEMS = 1_000_000  # numbers and containers in one value
MAX_DEPTH = 32
MAX_TEXT = 100_000  # characters of one string
MAX_JSON_BYTES = 64 * 2**20
MAX_NPZ_BYTES = 1024 * 2**20
MAX_LAYERS = 100  # of a Model value: the course's have < 30; Keras takes ~7 s to rebuild 200
MAX_ACTIVATION = 2**24  # numbers one layer of a Model value outputs per example (64 MB)
WIRE_FORMAT = "cnnlib-values/1"
PLAIN_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------


class Wrong(Exception):
    """Raised by a judge: `what` went wrong on which input; `hint` names the usual cause."""

    def __init__(self, what, hint=None):
        super().__init__(what)
        self.what = what
        self.hint = hint

    def explain(self):
        return self.what if not self.hint else f"{self.what}\n  Hint: {self.hint}"


class FormError(Wrong):
    """The answer cannot be turned into the plain values the exercise asks for."""


class NotAttempted(Exception):
    """The untouched stub (None, `...`, or a function that raises NotImplementedError)."""


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
class Verdict:
    """What `judge` decides: status "correct", "wrong" or "not attempted", a message, a hint."""

    status: str
    message: str = ""
    hint: str = None


@dataclasses.dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    kind: str
    difficulty: str
    judge: object  # judge(values, trials) -> a confirmation, or raises Wrong
    form: object  # how the answer becomes plain values (a Form)
    trials: object = None  # trials(rng) -> plain data; None for a prediction
    forbid: tuple = ()  # references the learner must not use
    expects: str = ""  # the answer's form in words, said when the answer has another one
    # False for a check that tooling calls by its fixed id but no notebook asks as an exercise:
    # grading, the student export and the instructor's kit leave it out.
    in_notebook: bool = True

    @property
    def notebook(self):
        return self.id.split(".", 1)[0]


REGISTRY = {}
HISTORY = []  # (exercise id, outcome) of every check in this process, oldest first
RECORDED = {}  # record mode: exercise id -> the answer object, for `submit.produce_all`
_WRONG_TRIES = {}  # exercise id -> wrong tries in this process


def exercise(
    exercise_id,
    title,
    kind,
    difficulty,
    *,
    form=None,
    trials=None,
    forbid=(),
    expects="",
    in_notebook=True,
):
    """Decorator registering the judge `judge(values, trials)` of exercise `exercise_id`.

    `form` turns the learner's answer into plain values; `trials(rng)` makes the inputs (for a
    `Function` form: a list of cases, each a dict of arguments or a tuple); `forbid` lists what
    the learner must do without (functions, classes, modules, or dotted names such as
    "cnnlib.ops.conv2d"); `expects` describes the answer's form in words when the form's own
    description is not enough; `in_notebook=False` marks a check that tooling calls by its fixed id
    but no notebook asks. Every exercise has a form: without one (or with a judge that does not
    take `(values, trials)`) the module that registers it fails to import, saying so.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    prefix = exercise_id.split(".", 1)[0]
    if not (len(prefix) == 2 and prefix.isdigit() and "." in exercise_id):
        raise ValueError(f"exercise ids look like '02.conv2d', got {exercise_id!r}")
    if form is None:
        raise TypeError(
            f"exercise {exercise_id!r} has no form=: every exercise says how the learner's answer "
            "becomes plain values (form=Number(), Shape(), Array(), Function(...), Model() …), "
            "and its judge(values, trials) sees only those (CONTRIBUTING.md, 'Add an exercise')"
        )
    if not isinstance(form, Form):
        raise TypeError(
            f"exercise {exercise_id!r}: form= must be one of the forms of cnnlib.labs.core "
            f"(Number(), Function(...) …), got {_text(form, 80)}"
        )
    if not form.plain and type(form).conform is Form.conform:
        raise TypeError(
            f"exercise {exercise_id!r}: the form {type(form).__name__} does not say what its "
            "values look like: give it `plain` (the types convert returns) or a conform method"
        )
    if trials is not None and not callable(trials):
        raise TypeError("trials must be a function trials(rng) -> plain data")
    if isinstance(forbid, str) or not isinstance(forbid, (tuple, list)):
        forbid = (forbid,)

    def register(judge):
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        try:
            inspect.signature(judge).bind(None, None)
        except (TypeError, ValueError):
            raise TypeError(
                f"the judge of {exercise_id!r} must take (values, trials): the values the form "
                "made of the answer, and the exercise's trials"
            ) from None
        REGISTRY[exercise_id] = Exercise(
            id=exercise_id,
            title=title,
            kind=kind,
            difficulty=difficulty,
            judge=judge,
            form=form,
            trials=trials,
            forbid=tuple(forbid),
            expects=expects,
            in_notebook=in_notebook,
        )
        return judge

    return register


def _item(exercise_id):
    if exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"no exercise called {exercise_id!r}; the exercises are: {known}")
    return REGISTRY[exercise_id]


def is_stub(answer):
    """The placeholders a notebook ships: None or Ellipsis (`...`)."""
    return answer is None or answer is Ellipsis


def _text(value, limit=300):
    """str(value) for a message, never raising (a learner's __str__ may)."""
    try:
        text = value if type(value) is str else repr(value)
    except Exception:
        text = f"<a {type(value).__name__}>"
    text = str.__str__(text) if isinstance(text, str) else "<unprintable>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(value, limit=80):
    """A learner's value as a message shows it: text in quotes, anything else as its repr."""
    return _text(repr(str.__str__(value)) if isinstance(value, str) else value, limit)


def _error_text(error):
    try:
        detail = str(error)
    except Exception:
        detail = ""
    name = type(error).__name__
    return f"{name}: {_text(detail, 200)}" if detail else name


# ---------------------------------------------------------------------------------------------
# Forms: the answer turned into new plain values
# ---------------------------------------------------------------------------------------------


class _Stub(Exception):
    """A placeholder found where an answer belongs."""


_ARRAY_LIBRARIES = ("tensorflow", "keras", "jax", "jaxlib", "torch")
_NUMPY_NUMBERS = {
    np.dtype(t).type
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
} | {np.dtype(t).type for t in ("float16", "float32", "float64", "longdouble")}


def _from_array_library(value, where=""):
    """A tensor of TensorFlow, Keras, JAX or PyTorch, copied into an exact ndarray."""
    root = type(value).__module__.split(".", 1)[0]
    if root not in _ARRAY_LIBRARIES:
        return None
    try:
        if hasattr(value, "numpy") and root in ("tensorflow", "torch"):
            array = value.numpy()
        else:
            array = np.asarray(value)
    except Exception as error:
        raise FormError(
            f"{where}your {type(value).__name__} could not be read ({_error_text(error)})"
        ) from None
    if type(array) is not np.ndarray and type(array) not in _NUMPY_NUMBERS:
        raise FormError(f"{where}your {type(value).__name__} did not give a NumPy array")
    return np.array(array, copy=True)


def _scalar(value, where):
    """A number as an exact int or float (bool refused), from the types numbers come in."""
    kind = type(value)
    if kind is bool or kind is np.bool_:
        raise FormError(f"{where}{value!r} is True/False, not a number")
    try:
        if kind is int or kind is float:
            return kind(value)
        if kind in _NUMPY_NUMBERS:
            return int(value) if isinstance(value, np.integer) else float(value)
        if kind is decimal.Decimal or kind is fractions.Fraction:
            return float(value)
    except (ArithmeticError, ValueError) as error:
        raise FormError(
            f"{where}{_text(value, 60)} cannot be read as a number ({_error_text(error)})"
        )
    if kind is np.ndarray or _is_array_library(value):
        array = value if kind is np.ndarray else _from_array_library(value, where)
        if type(array) is np.ndarray and array.ndim == 0 and array.dtype.kind in "iuf":
            return _scalar(array[()], where)
        shape = getattr(array, "shape", None)
        raise FormError(f"{where}expected one number, got an array of shape {_text(shape)}")
    if isinstance(value, numbers.Number) or isinstance(value, (int, float)):
        raise FormError(
            f"{where}your answer is a {kind.__name__}, a number type the check does not take",
            "give a plain number: float(...) or int(...) of it",
        )
    raise FormError(f"{where}expected a number, got {_shown(value)} ({kind.__name__})")


def _is_array_library(value):
    return type(value).__module__.split(".", 1)[0] in _ARRAY_LIBRARIES


class Form:
    """How an answer becomes plain values; `convert` raises FormError or _Stub.

    `conform` is the other direction's guard: values read back from the wire (in grading, written
    by a kernel that may be hostile) are judged only if they are exactly what `convert` (or
    `produce`) makes — the same types, one output per trial, no placeholders. A form states the
    Python types its values have in `plain`; a form whose values are not one of those overrides
    `conform`.
    """

    description = "an answer"
    plain = ()  # the types `convert` returns; `conform` re-reads values of these with `convert`

    def describe(self):
        return self.description

    def convert(self, answer, where=""):  # pragma: no cover - every form overrides it
        raise NotImplementedError

    def conform(self, values, trials=None, where=""):
        """`values` if they are what this form makes, else FormError naming what is off."""
        if not self.plain:
            raise TypeError(f"{type(self).__name__} does not say what its values look like")
        if type(values) not in self.plain:
            raise FormError(f"{where}expected {self.describe()}, {_sent(values)}")
        try:
            return self.convert(values, where)
        except _Stub:
            raise FormError(f"{where}the values hold a placeholder where an answer belongs")

    def __repr__(self):
        return f"{type(self).__name__}()"


class Number(Form):
    """A number: int, float, NumPy scalars, Decimal, Fraction, 0-d arrays and tensors -> float."""

    description = "a number"
    plain = (float,)

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        return float(_scalar(answer, where))


class Size(Form):
    """A whole number of at least `minimum` (16, np.int64(16), 16.0) -> int."""

    plain = (int,)

    def __init__(self, minimum=1):
        self.minimum = minimum
        self.description = "a whole number" + (f" of at least {minimum}" if minimum else "")

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        number = _scalar(answer, where)
        if type(number) is float:
            if not math.isfinite(number):
                raise FormError(f"{where}{answer!r} is not a finite number")
            if number != int(number):
                raise FormError(
                    f"{where}{_text(answer)} is not a whole number, and sizes and counts are",
                    "a division that does not come out even: the formulas round down (floor, "
                    "`//`), or the layer's settings are not what you think",
                )
            number = int(number)
        if abs(number) >= 2**62:
            raise FormError(f"{where}{_text(answer, 40)} is far too large for a size")
        if number < self.minimum:
            raise FormError(f"{where}{number} is less than {self.minimum}")
        return number


class Shape(Form):
    """A shape -> tuple of ints. Tuples, lists, 1-D arrays and TensorShapes pass; a leading None
    (Keras's batch axis) is dropped unless `batch` (the question asks for the batch size too)."""

    plain = (tuple,)

    def __init__(self, batch=False, ndim=None):
        self.batch, self.ndim = batch, ndim
        self.description = "a shape such as (28, 28, 16)"

    def conform(self, values, trials=None, where=""):
        if type(values) is tuple and not all(type(size) is int for size in values):
            raise FormError(f"{where}expected {self.describe()}, a size is not an int")
        return super().conform(values, trials, where)

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if type(answer).__name__ == "TensorShape" and _is_array_library(answer):
            try:
                answer = list(answer.as_list())
            except Exception as error:
                raise FormError(f"{where}your TensorShape could not be read ({_error_text(error)})")
        if type(answer) is np.ndarray and answer.ndim == 1:
            answer = list(answer)
        if not isinstance(answer, (tuple, list)):
            raise FormError(
                f"{where}expected a shape such as (28, 28, 16), got {_shown(answer)} "
                f"({type(answer).__name__})"
            )
        sizes = list(tuple.__iter__(answer) if isinstance(answer, tuple) else list.__iter__(answer))
        if len(sizes) > 64:
            raise FormError(f"{where}a shape of {len(sizes)} axes is not a shape")
        if sizes and sizes[0] is None and not self.batch:
            sizes = sizes[1:]
        if all(is_stub(size) for size in sizes) and sizes:
            raise _Stub
        if any(size is None for size in sizes):
            raise FormError(
                f"{where}{_text(tuple(sizes))} has None where a size belongs",
                "Keras writes None only for the batch axis, first; every other size is a number"
                + ("; here the batch size is part of the question" if self.batch else ""),
            )
        shape = tuple(Size().convert(size, f"{where}axis {i}: ") for i, size in enumerate(sizes))
        if self.ndim is not None and len(shape) != self.ndim:
            raise FormError(f"{where}expected a shape of {self.ndim} axes, got {len(shape)}")
        return shape


class Array(Form):
    """An array of numbers -> a new C-contiguous ndarray of float64 (or int64, bool).

    NumPy arrays, nested lists and tuples of numbers, and tensors of TensorFlow, Keras, JAX or
    PyTorch pass; subclasses of ndarray, other objects with __array__, ragged lists, text and
    complex numbers are refused with a sentence.
    """

    plain = (np.ndarray,)

    def __init__(self, dtype=float, ndim=None):
        self.dtype = np.dtype(dtype)
        if self.dtype not in PLAIN_DTYPES:
            raise ValueError(f"Array's dtype is float, int or bool, got {dtype!r}")
        self.ndim = ndim
        kind = {"f": "numbers", "i": "whole numbers", "b": "True/False values"}[self.dtype.kind]
        self.description = f"an array of {kind}" + (f" with {ndim} axes" if ndim else "")

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if type(answer) is np.ndarray:
            array = answer
        elif _is_array_library(answer):
            array = _from_array_library(answer, where)
        elif isinstance(answer, (list, tuple)):
            array = _nested_array(answer, where)
        elif type(answer) in _NUMPY_NUMBERS or type(answer) in (int, float):
            array = np.array(_scalar(answer, where))
        else:
            extra = (
                "; a subclass of ndarray or an object that only looks like an array is not "
                "taken: np.asarray(...) it yourself"
                if isinstance(answer, np.ndarray) or hasattr(type(answer), "__array__")
                else ""
            )
            raise FormError(
                f"{where}expected {self.describe()}, got {type(answer).__name__}{extra}"
            )
        if type(array) is not np.ndarray:  # pragma: no cover - the branches above make one
            raise FormError(f"{where}expected {self.describe()}")
        if array.size > MAX_ELEMENTS:
            raise FormError(f"{where}your array has {array.size:,} numbers, far too many")
        if array.dtype.kind not in "biuf":
            raise FormError(
                f"{where}expected {self.describe()}, got an array of {array.dtype} values",
                "complex numbers, text and Python objects are not numbers the check compares",
            )
        if self.dtype.kind == "i" and array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise FormError(f"{where}expected whole numbers, got fractions")
        if self.dtype.kind == "b" and array.dtype.kind != "b":
            raise FormError(f"{where}expected True/False values, got {array.dtype} numbers")
        if self.ndim is not None and array.ndim != self.ndim:
            raise FormError(
                f"{where}expected an array with {self.ndim} axes, got shape {array.shape}"
            )
        return np.array(array, dtype=self.dtype, order="C", copy=True)


def _nested_array(answer, where):
    """Nested lists/tuples of numbers (or of arrays) -> an ndarray, touching only plain data."""
    count = [0]

    def plain(value, depth):
        count[0] += 1
        if count[0] > MAX_ELEMENTS or depth > MAX_DEPTH:
            raise FormError(f"{where}your answer is far too large or too deeply nested")
        if isinstance(value, (list, tuple)):
            items = tuple.__iter__(value) if isinstance(value, tuple) else list.__iter__(value)
            return [plain(item, depth + 1) for item in items]
        if is_stub(value):
            raise FormError(f"{where}part of your array is still None")
        if _is_array_library(value):
            value = _from_array_library(value, where)
        if type(value) is np.ndarray:
            if value.dtype.kind not in "biuf":
                raise FormError(f"{where}part of your array holds {value.dtype} values")
            count[0] += value.size
            return value.copy()
        return _scalar(value, where)

    converted = plain(answer, 0)
    try:
        return np.array(converted)
    except ValueError:
        raise FormError(
            f"{where}your lists are ragged: rows of different lengths do not make an array"
        ) from None


class Choice(Form):
    """One of `options` (text compared without case or surrounding spaces) -> the option."""

    def __init__(self, *options):
        if not options:
            raise ValueError("Choice needs at least one option")
        self.options = options
        self.plain = tuple({type(option) for option in options})
        self.description = "one of " + ", ".join(repr(option) for option in options)

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if type(answer) in (str, np.str_):
            given = str.__str__(answer).strip().lower()
            for option in self.options:
                if isinstance(option, str) and option.lower() == given:
                    return option
        elif type(answer) in (int, bool) or type(answer) in _NUMPY_NUMBERS:
            for option in self.options:
                if type(option) is type(answer) and option == answer:
                    return option
        shown = repr(str.__str__(answer)) if isinstance(answer, str) else _text(answer)
        raise FormError(f"{where}{shown} is not {self.describe()}")


class Text(Form):
    """A string (a sentence, a name) -> str."""

    plain = (str,)

    def __init__(self, max_length=5000):
        self.max_length = max_length
        self.description = "a string"

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if type(answer) not in (str, np.str_):
            raise FormError(f"{where}expected a string, got {type(answer).__name__}")
        text = str.__str__(answer)
        if len(text) > min(self.max_length, MAX_TEXT):
            raise FormError(f"{where}your text is longer than {self.max_length} characters")
        if not text.strip():
            raise _Stub
        return text


class Mapping(Form):
    """A dict -> a new dict. `Mapping({"C1": Size(), …})` names every key and its form;
    `Mapping(values=Number())` takes any string keys."""

    def __init__(self, fields=None, values=None):
        if (fields is None) == (values is None):
            raise ValueError("Mapping takes either fields={key: form} or values=form")
        self.fields, self.values = fields, values
        keys = ", ".join(repr(key) for key in fields) if fields else "names"
        self.description = f"a dict {{{keys}}}" if fields else "a dict {name: value}"

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if not isinstance(answer, dict):
            raise FormError(f"{where}expected {self.describe()}, got {type(answer).__name__}")
        items = list(dict.items(answer))  # the dict's own storage, not an overridden items()
        if len(items) > MAX_ITEMS:
            raise FormError(f"{where}your dict is far too large")
        for key, _ in items:
            if type(key) not in (str, int):
                raise FormError(f"{where}the key {_text(key)} is not a string")
        if self.fields is not None:
            given = {key for key, _ in items}
            missing = [key for key in self.fields if key not in given]
            extra = [key for key in given if key not in self.fields]
            if missing or extra:
                said = []
                if missing:
                    said.append("missing " + ", ".join(repr(key) for key in missing))
                if extra:
                    said.append(
                        "unexpected " + ", ".join(repr(key) for key in sorted(extra, key=str))
                    )
                raise FormError(f"{where}{'; '.join(said)}", f"expected {self.describe()}")
            forms = self.fields
        else:
            forms = {key: self.values for key, _ in items}
        values = dict(items)
        return _all_or_none(
            [(key, forms[key], values[key]) for key in (self.fields or [k for k, _ in items])],
            where,
            dict,
        )

    def conform(self, values, trials=None, where=""):
        if type(values) is not dict:
            raise FormError(f"{where}expected {self.describe()}, {_sent(values)}")
        if self.fields is not None and set(values) != set(self.fields):
            raise FormError(f"{where}expected {self.describe()}, the keys are {list(values)!r}")
        if any(type(key) not in (str, int) for key in values):
            raise FormError(f"{where}expected {self.describe()}, a key is not a string")
        forms = self.fields or dict.fromkeys(values, self.values)
        return {
            key: form.conform(values[key], None, f"{where}{key!r}: ") for key, form in forms.items()
        }


class Sequence(Form):
    """A list or tuple (or an array or tensor, along its first axis) -> tuple. `Sequence(Number())` takes any number of answers
    of one form (`length=` fixes it); `Sequence((Shape(), Number()))` one answer per position,
    of its own form, such as a pair (shape, megabytes)."""

    def __init__(self, form, length=None):
        if isinstance(form, (tuple, list)):
            self.forms, self.form, self.length = tuple(form), None, len(form)
            parts = ", ".join(f.describe() for f in form)
            self.description = f"a tuple ({parts})"
        else:
            self.forms, self.form, self.length = None, form, length
            count = f"{length} " if length else ""
            self.description = f"a list of {count}({form.describe()})"

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        if _is_array_library(answer):
            answer = _from_array_library(answer, where)
        if type(answer) is np.ndarray and answer.ndim >= 1:  # the first axis is the sequence
            items = list(answer.copy())
        elif isinstance(answer, tuple):
            items = list(tuple.__iter__(answer))
        elif isinstance(answer, list):
            items = list(list.__iter__(answer))
        else:
            raise FormError(f"{where}expected {self.describe()}, got {type(answer).__name__}")
        if len(items) > MAX_ITEMS:
            raise FormError(f"{where}your list is far too long")
        if self.length is not None and len(items) != self.length:
            raise FormError(
                f"{where}expected {self.length} items, got {len(items)}",
                f"expected {self.describe()}",
            )
        forms = self.forms or [self.form] * len(items)
        return _all_or_none(list(zip(range(len(items)), forms, items)), where, tuple)

    def conform(self, values, trials=None, where=""):
        return _conform_tuple(values, self.forms, self.form, self.length, where)


def _conform_tuple(values, forms, form, length, where):
    """A tuple of exactly `length` values (any length when None), each as its form makes it."""
    if type(values) is not tuple:
        raise FormError(f"{where}expected a tuple, {_sent(values)}")
    if length is not None and len(values) != length:
        raise FormError(f"{where}expected {length} values, the values hold {len(values)}")
    forms = forms or [form] * len(values)
    return tuple(
        f.conform(v, None, f"{where}item {i}: ") for i, (f, v) in enumerate(zip(forms, values))
    )


def _sent(values):
    return f"the values hold a {type(values).__name__}"


def _all_or_none(parts, where, kind):
    """Convert each (label, form, answer); all placeholders -> _Stub, some -> FormError."""
    converted, stubs = [], []
    for label, form, answer in parts:
        name = f"{label!r}" if kind is dict else f"item {label}"
        try:
            converted.append((label, form.convert(answer, f"{where}{name}: ")))
        except _Stub:
            stubs.append(name)
    if stubs and not converted:
        raise _Stub
    if stubs:
        raise FormError(
            f"{where}part of your answer is still a placeholder (None or ...): " + ", ".join(stubs),
            "fill in every part before checking",
        )
    if kind is dict:
        return {label: value for label, value in converted}
    return tuple(value for _, value in converted)


def describe_input(case):
    """A short description of one trial's inputs, for messages: "x: 5×5 array, stride=2"."""
    if isinstance(case, dict):
        return ", ".join(f"{key}{_describe_value(value)}" for key, value in case.items())
    if isinstance(case, (list, tuple)):
        return ", ".join(_describe_value(value).lstrip("=: ") for value in case)
    return _describe_value(case).lstrip("=: ")


def _describe_value(value):
    if type(value) is np.ndarray:
        return ": " + ("×".join(str(n) for n in value.shape) or "0-d") + " array"
    return "=" + _text(value, 60)


def _copy_plain(value):
    """A deep copy of plain data (the trials), so the learner's code cannot change the judge's."""
    if type(value) is np.ndarray:
        return value.copy()
    if isinstance(value, list):
        return [_copy_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy_plain(v) for k, v in value.items()}
    return value


class Function(Form):
    """The learner's function, called on every trial's inputs (copies), each output converted by
    `output`. The trials are a list of cases: a tuple of arguments, or a dict whose values (those
    named by `args`, in that order, or all of them) are the arguments. -> tuple of outputs."""

    def __init__(self, output, args=None):
        self.output = output
        self.args = tuple(args) if args is not None else None
        self.description = "a function (pass the function itself, no parentheses)"

    def arguments(self, case):
        if isinstance(case, dict):
            return [case[key] for key in (self.args or case)]
        if isinstance(case, (list, tuple)):
            return list(case)
        return [case]

    def convert(self, answer, where=""):
        raise TypeError("a Function form is produced with trials: use core.produce")

    def conform(self, values, trials=None, where=""):
        """One output per trial, each as `output` makes it (fewer would leave trials unjudged)."""
        if not isinstance(trials, (list, tuple)):
            raise TypeError("a Function form's values are conformed with its trials")
        return _conform_tuple(values, None, self.output, len(trials), where)

    def produce(self, answer, trials):
        if is_stub(answer):
            raise _Stub
        if not callable(answer):
            raise FormError(
                f"expected a function, got {type(answer).__name__}",
                "pass the function itself (no parentheses after its name)",
            )
        outputs = []
        for case in trials:
            on = f"on {describe_input(case)}"
            try:
                result = answer(*_copy_plain(self.arguments(case)))
            except NotImplementedError:
                raise _Stub from None
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # the learner's bug: say on which input
                raise Wrong(f"your function raised {_error_text(error)} {on}") from None
            if is_stub(result):
                raise FormError(
                    f"your function returned {result!r} {on}",
                    "a function that computes something ends with `return` and the result",
                )
            try:
                outputs.append(self.output.convert(result, f"{on}: "))
            except FormError as error:
                hint = error.hint or f"your function should return {self.output.describe()}"
                raise FormError(error.what, hint) from None
        return tuple(outputs)


class Model(Form):
    """A Keras model, or a function that builds one -> {"config": JSON text, "weights": arrays}.

    Built-in Keras layers only (no Lambda, no custom classes): the judging side rebuilds it with
    `rebuild_model`. Importing Keras happens only here.
    """

    description = (
        "a Keras model (keras.Sequential or the functional API), or a function building one"
    )

    def convert(self, answer, where=""):
        if is_stub(answer):
            raise _Stub
        import keras

        model = answer
        if not isinstance(model, keras.Model):
            if not callable(model):
                raise FormError(f"expected {self.describe()}, got {type(answer).__name__}")
            try:
                model = answer()
            except NotImplementedError:
                raise _Stub from None
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                raise Wrong(f"your function raised {_error_text(error)}") from None
            if not isinstance(model, keras.Model):
                raise FormError(f"your function returned a {type(model).__name__}, not a model")
        try:
            config = model.to_json()
            weights = model.get_weights()
        except Exception as error:
            raise FormError(
                f"your model could not be written down as a configuration ({_error_text(error)})",
                "build it with keras.Sequential([...]) or the functional API and built-in "
                "layers; a subclassed keras.Model cannot be sent to the check",
            ) from None
        if type(config) is not str:
            raise FormError("your model's to_json() did not give text")
        _builtin_layers_only(json.loads(config))
        arrays = tuple(Array().convert(w, "a weight array: ") for w in weights)
        _within_bounds(config, arrays, where)
        return {"config": str.__str__(config), "weights": arrays}

    def conform(self, values, trials=None, where=""):
        if type(values) is not dict or set(values) != {"config", "weights"}:
            raise FormError(f"{where}expected a model's configuration and weights")
        if type(values["config"]) is not str:
            raise FormError(f"{where}a model's configuration is text, {_sent(values['config'])}")
        try:
            config = json.loads(values["config"])
        except (ValueError, RecursionError):
            raise FormError(f"{where}the model's configuration is not JSON") from None
        _builtin_layers_only(config)
        weights = _conform_tuple(values["weights"], None, Array(), None, f"{where}weights: ")
        _within_bounds(values["config"], weights, where)
        return {"config": values["config"], "weights": weights}


_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def _within_bounds(config, weights, where):
    """FormError unless the model `config` describes fits what a judge can rebuild and run.

    Built as is, a configuration of a few numbers can ask for billions of weights (Dense with
    units=10**9) and take the judging process's memory. A Model value carries every weight of
    its model (convert sends get_weights()), so the configuration's parameters are counted
    without allocating them and must be exactly the weights sent. Layers without weights can
    still ask for memory on every call (UpSampling2D with size=1000 makes a 28 × 28 image
    28,000 × 28,000), so every layer's output is bounded too.
    """
    sent = sum(w.size for w in weights)
    try:
        counted, largest = _model_size(config)
    except FormError as error:
        raise FormError(f"{where}{error.what}", error.hint) from None
    except Exception as error:  # noqa: BLE001 - Keras's many errors for a bad configuration
        raise FormError(f"{where}the model could not be built ({_error_text(error)})") from None
    if counted != sent:
        raise FormError(
            f"{where}the model's configuration has {counted:,} parameters and {sent:,} "
            "weights came with it"
        )
    if largest == math.inf:
        raise FormError(
            f"{where}a layer of the model has an output of no fixed size (None beyond the "
            "batch axis)",
            "give keras.Input the full shape of one example",
        )
    if largest > MAX_ACTIVATION:
        raise FormError(
            f"{where}a layer of the model outputs {largest:,} numbers per example, more than "
            f"the {MAX_ACTIVATION:,} the check runs"
        )


def _builtin_layers_only(config):
    """FormError unless every object the config names is a built-in Keras class, and it names
    at most MAX_LAYERS layers (Keras's time to build a model grows faster than its layers)."""
    stack, layers = [config], 0
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            module, name = node.get("module"), node.get("class_name")
            if isinstance(name, str) and isinstance(module, str):
                if name in _CODE_LAYERS or not (module == "keras" or module.startswith("keras.")):
                    raise FormError(
                        f"your model uses {name} from {module}; only Keras's built-in layers "
                        "can be checked",
                        "replace a Lambda or a custom layer with built-in layers",
                    )
                layers += module.startswith("keras.layers") and name != "InputLayer"
    if layers > MAX_LAYERS:
        raise FormError(
            f"your model has {layers} layers, more than the {MAX_LAYERS} the check rebuilds",
            "the exercise needs far fewer layers",
        )


def rebuild_model(values):
    """The judging side: a Keras model from a Model form's values (config + weights)."""
    import keras

    _builtin_layers_only(json.loads(values["config"]))  # the values may come from a hostile kernel
    model = keras.models.model_from_json(values["config"])
    if values["weights"]:
        targets = model.get_weights()
        if len(targets) != len(values["weights"]):
            raise Wrong("the model's weights do not match its layers")
        model.set_weights(
            [np.asarray(w, dtype=t.dtype) for w, t in zip(values["weights"], targets)]
        )
    return model


def _model_size(config):
    """(parameters, the most numbers one layer outputs per example) of the model `config` (JSON
    text) describes, without allocating either: built in a StatelessScope that leaves its
    variables uninitialised (then dropped), the outputs read from Keras's symbolic shapes. An
    output size Keras does not know (None beyond the batch axis) counts as unbounded."""
    import keras
    from keras.src.backend.common import global_state  # where Keras keeps deferred variables

    pending = "uninitialized_variables"
    before = list(global_state.get_global_attribute(pending, []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras.models.model_from_json(config)
            if not model.built:
                raise FormError(
                    "the model has no input shape yet, so its layers have no size",
                    "start it with keras.Input(shape) (the shape of one example)",
                )
            parameters = sum(math.prod(variable.shape) for variable in model.weights)
            return parameters, _largest_output(keras, model)
    finally:
        global_state.set_global_attribute(pending, before)


def _largest_output(keras, model):
    largest = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            largest = max(largest, _largest_output(keras, layer))
        for tensor in keras.tree.flatten(layer.output):
            sizes = tuple(tensor.shape)[1:]
            largest = max(largest, math.inf if None in sizes else math.prod(sizes))
    return largest


# ---------------------------------------------------------------------------------------------
# Forbidden references: one watch, one verdict
# ---------------------------------------------------------------------------------------------

_NO_TWINS = ("numpy", "builtins", "math", "operator", "functools", "itertools")


def _resolve(reference):
    """A dotted name ("cnnlib.ops.conv2d") -> the object; objects pass through."""
    if not isinstance(reference, str):
        return reference
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            target = getattr(target, part)
        return target
    raise ValueError(f"cannot find {reference!r} to forbid it")


def _name_of(target):
    if inspect.ismodule(target):
        return target.__name__
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    return f"{module}.{name}".lstrip(".")


def _public_of_module(module):
    """The public functions and classes a module defines itself."""
    found = {}
    for name, value in list(vars(module).items()):
        if name.startswith("_"):
            continue
        if (inspect.isfunction(value) or inspect.isclass(value)) and getattr(
            value, "__module__", None
        ) == module.__name__:
            found[f"{module.__name__}.{name}"] = value
    return found


def _codes(target):
    """The code objects a call of `target` runs first (a function, a class's methods)."""
    codes = []
    if inspect.isclass(target):
        for value in vars(target).values():
            value = getattr(value, "__func__", value)
            if inspect.isfunction(value):
                codes.extend(_codes(value))
        return codes
    seen = 0
    while target is not None and seen < 10:
        code = getattr(target, "__code__", None)
        if isinstance(code, type(_codes.__code__)):
            codes.append(code)
        target, seen = getattr(target, "__wrapped__", None), seen + 1
    return codes


@dataclasses.dataclass
class Watched:
    """What a watch looks for: code objects and C callables by identity, with their names."""

    codes: dict = dataclasses.field(default_factory=dict)  # code -> name
    builtins: dict = dataclasses.field(default_factory=dict)  # id -> (object, name)
    objects: dict = dataclasses.field(default_factory=dict)  # id -> (object, name)

    def add(self, target, name):
        self.objects[id(target)] = (target, name)
        if inspect.isbuiltin(target):
            self.builtins[id(target)] = (target, name)
        for code in _codes(target):
            self.codes.setdefault(code, name)

    def name_for(self, target):
        found = self.objects.get(id(target))
        if found is not None and found[0] is target:
            return found[1]
        for code in _codes(target) if inspect.isfunction(target) else ():
            if code in self.codes:
                return self.codes[code]
        return None


def watched_for(item):
    """Everything the learner's code must not run for this exercise: the forbidden references,
    their public twins in the same module (for modules outside NumPy and the standard library),
    and the exercise's own judge and trials with the functions of their module they call."""
    watched = Watched()
    for reference in item.forbid:
        try:
            target = _resolve(reference)
        except (ValueError, AttributeError):
            continue  # a library that is not installed here cannot be called either
        name = reference if isinstance(reference, str) else _name_of(target)
        if inspect.ismodule(target):
            for twin_name, twin in _public_of_module(target).items():
                watched.add(twin, twin_name)
            continue
        watched.add(target, name)
        module = sys.modules.get(getattr(target, "__module__", None) or "")
        if module is not None and module.__name__.split(".")[0] not in _NO_TWINS:
            for twin_name, twin in _public_of_module(module).items():
                if twin is not target:
                    watched.add(twin, twin_name)
    for name in ("judge", "_decide", "passes", "check", "new_trials", "produce"):
        watched.add(globals()[name], f"{__name__}.{name}")  # the check itself, as an oracle
    for function in (item.judge, item.trials):
        for helper in _helpers(function):
            watched.add(helper, _name_of(helper))
    return watched


def _helpers(function, limit=200):
    """`function` and the functions of its own module that it calls, transitively."""
    if not inspect.isfunction(function):
        return []
    module = function.__module__
    found, todo = [], [function]
    while todo and len(found) < limit:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        codes = [current.__code__]
        while codes:
            code = codes.pop()
            codes.extend(c for c in code.co_consts if isinstance(c, type(code)))
            for name in code.co_names:
                value = current.__globals__.get(name)
                if inspect.isfunction(value) and value.__module__ == module and value not in found:
                    todo.append(value)
    return found


# Calls that end or escape the watch: profile hooks, threads it cannot see, other processes.
def _escapes():
    import _thread
    import posix

    escapes = {}
    for owner, names, why in (
        (sys, ("setprofile",), "switched the profiler off"),
        (threading, ("setprofile", "setprofile_all_threads"), "switched the profiler off"),
        (_thread, ("start_new_thread", "start_joinable_thread"), "started a thread"),
        (
            posix,
            ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"),
            "started another process",
        ),
    ):
        for name in names:
            target = getattr(owner, name, None)
            if target is not None:
                escapes[id(target)] = (target, why)
    try:
        import _posixsubprocess

        escapes[id(_posixsubprocess.fork_exec)] = (
            _posixsubprocess.fork_exec,
            "started another process",
        )
    except ImportError:  # pragma: no cover - not on Linux
        pass
    return escapes


_ESCAPES = _escapes()
# threading's own setprofile is Python code: seen as a "call", not a "c_call"
_ESCAPE_CODES = {
    f.__code__
    for f in (getattr(threading, n, None) for n in ("setprofile", "setprofile_all_threads"))
    if f is not None and hasattr(f, "__code__")
}


class Watch:
    """Within the block, note every call of a watched callable, in any thread it starts, and any
    attempt to get around the watch. `used` lists the names; `escaped` the ways around it."""

    def __init__(self, watched):
        self.watched = watched
        self.used = []
        self.escaped = []
        self._own = {Watch.__exit__.__code__, Watch.__enter__.__code__}
        self._top = None
        self._hook = self._make_hook()  # one object, so that `is` can tell it is still installed

    def _make_hook(self):
        # The hook runs on every call of the learner's code: the common path is one comparison
        # and one dict lookup; the rare hits are sorted out in `_code_hit` and `_c_hit`.
        codes = {code: ("escape", None) for code in _ESCAPE_CODES}
        codes.update({code: ("used", name) for code, name in self.watched.codes.items()})
        c_calls = {key: (target, "escape", why) for key, (target, why) in _ESCAPES.items()}
        c_calls.update(
            {key: (target, "used", name) for key, (target, name) in self.watched.builtins.items()}
        )
        code_hit, c_hit = self._code_hit, self._c_hit

        def hook(frame, event, arg):
            if event == "call":
                hit = codes.get(frame.f_code)
                if hit is not None:
                    code_hit(frame, hit)
            elif event == "c_call":
                hit = c_calls.get(id(arg))
                if hit is not None and hit[0] is arg:
                    c_hit(frame, hit)

        return hook

    def _code_hit(self, frame, hit):
        kind, name = hit
        caller = frame.f_back
        if kind == "escape":
            if caller is None or caller.f_code not in self._own:
                self._escape("switched the profiler off")
            return
        if name in self.used:
            return
        while caller is not None and caller is not self._top:  # a watched reference calling
            if caller.f_code in self.watched.codes:  # its own helpers is named once
                return
            caller = caller.f_back
        self.used.append(name)

    def _c_hit(self, frame, hit):
        _, kind, name = hit
        if kind == "used":
            if name not in self.used:
                self.used.append(name)
        elif frame.f_code not in self._own:
            if name == "started a thread" and frame.f_code is _THREAD_START:
                return  # threading's own start: the thread inherits the watch
            if name != "switched the profiler off" and _library_start_up(frame):
                return
            self._escape(name)

    def _escape(self, why):
        if why not in self.escaped:
            self.escaped.append(why)

    def __enter__(self):
        _warm_up()
        self._top = sys._getframe(1)  # the frame the watch runs in: what is above is not watched
        self._previous = sys.getprofile(), threading.getprofile()
        self._threads = set(threading.enumerate())
        threading.setprofile(self._hook)
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        intact = sys.getprofile() is self._hook
        sys.setprofile(self._previous[0])
        threading.setprofile(self._previous[1])
        if not intact and "switched the profiler off" not in self.escaped:
            self.escaped.append("switched the profiler off")
        learners = {ident for ident, _ in _learner_threads()}
        self.started = [
            t for t in threading.enumerate() if t not in self._threads and t.ident in learners
        ]
        return False


_THREAD_START = threading.Thread.start.__code__
# importlib's bootstrap (as the interpreter runs it) executes a module's body through this
_MODULE_BODY_CALLER = (
    sys.modules.get("_frozen_importlib") or importlib._bootstrap
)._call_with_frames_removed.__code__


def _library_start_up(frame):
    """True when a thread or process is started by the body of a library's module being
    imported, with no code of the learner's in between: a library's one-time start-up
    (TensorFlow's import runs `uname -p`; others start a daemon pool), not something the
    learner's code asked for. A module the learner wrote, or a hook of theirs in the import,
    is the learner's code and still counts."""
    while frame is not None:
        if not _trusted_file(frame.f_code.co_filename):
            return False
        caller = frame.f_back
        if frame.f_code.co_name == "<module>" and caller is not None:
            if caller.f_code is _MODULE_BODY_CALLER:
                return True
        frame = caller
    return False


@functools.cache
def _warm_up():
    """Start, before any watch, what libraries start once on first use outside an import:
    platform.processor() runs `uname -p` in a subprocess the first time (Keras asks for it in
    `fit` on macOS), which inside a watch would read as the learner's code starting another
    process. (A start-up during a library's import is told apart by `_library_start_up`.)"""
    import platform

    platform.processor()


def refuse_used(watch):
    """The one verdict for a forbidden reference, or for a watch that was got around."""
    if watch.used:
        raise Wrong(FORBIDDEN_TEXT.format(", ".join(watch.used)), FORBIDDEN_HINT)
    if watch.escaped:
        raise Wrong(
            f"your code {' and '.join(watch.escaped)}, so the check could not watch what it called",
            "answer in plain code in this process: no profiler tricks, threads left running or "
            "other processes",
        )
    if getattr(watch, "started", None):
        names = ", ".join(sorted(t.name for t in watch.started))
        raise Wrong(
            f"your code left a thread running ({names}); the check judges only finished work",
            "join every thread you start before your function returns",
        )


# ---------------------------------------------------------------------------------------------
# The source of the answer, read with ast
# ---------------------------------------------------------------------------------------------


def _function_of(answer):
    """The Python function behind a callable answer (a def, lambda, method, partial, __call__)."""
    for _ in range(5):
        if inspect.isfunction(answer):
            return answer
        if inspect.ismethod(answer):
            answer = answer.__func__
        elif type(answer).__name__ == "partial" and hasattr(answer, "func"):
            answer = answer.func
        elif callable(answer) and not inspect.isclass(answer) and not inspect.isbuiltin(answer):
            answer = inspect.getattr_static(type(answer), "__call__", None)
        else:
            return None
    return None


def _static_lookup(owner, attribute):
    """owner.attribute without running any code (modules and classes only)."""
    if inspect.ismodule(owner):
        return vars(owner).get(attribute)
    if inspect.isclass(owner):
        try:
            return inspect.getattr_static(owner, attribute)
        except AttributeError:
            return None
    return None


def _source_tree(function):
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        # a lambda's source is the whole line it sits on; try the line as an expression part
        match = re.search(r"lambda\b.*", source, re.S)
        if match:
            for end in range(len(match.group(0)), 0, -1):
                try:
                    return ast.parse(match.group(0)[:end].rstrip(" ,)\n"))
                except SyntaxError:
                    continue
        return None


def scan_answer(answer, watched, limit=30):
    """[(name, where)] of watched references the answer's source names (and the source of the
    notebook's own functions it calls), each resolved by identity, whatever name it goes by."""
    function = _function_of(answer)
    if function is not None and _trusted_file(function.__code__.co_filename):
        function = None  # a library's function, not the learner's code
    found, todo, seen = [], [function] if function else [], set()
    while todo and len(seen) < limit:
        function = todo.pop()
        if function.__code__ in seen:
            continue
        seen.add(function.__code__)
        tree = _source_tree(function)
        if tree is None:
            continue
        if function.__name__ == "<lambda>":  # its source is the whole line: keep the lambda
            arguments = function.__code__.co_varnames[: function.__code__.co_argcount]
            lambdas = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Lambda)
                and tuple(a.arg for a in node.args.args) == tuple(arguments)
            ]
            tree = ast.Module(body=[ast.Expr(node) for node in lambdas], type_ignores=[])
        names = dict(function.__globals__)
        for local in _local_names(function.__code__):
            names[local] = None  # a local variable shadows the global of the same name
        if function.__closure__:
            for var, cell in zip(function.__code__.co_freevars, function.__closure__):
                with contextlib.suppress(ValueError):
                    names[var] = cell.cell_contents
        for node in ast.walk(tree):  # imports inside the function
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module = sys.modules.get(alias.name)
                    if alias.asname:
                        names[alias.asname] = module
                    else:
                        names[alias.name.split(".")[0]] = sys.modules.get(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                module = sys.modules.get(node.module)
                for alias in node.names:
                    value = _static_lookup(module, alias.name) if module else None
                    if value is None:
                        value = sys.modules.get(f"{node.module}.{alias.name}")
                    names[alias.asname or alias.name] = value
                    name = watched.name_for(value) if value is not None else None
                    if name:
                        found.append((name, f"line {node.lineno}"))
        for node in ast.walk(tree):
            target = _resolve_node(node, names)
            if target is None:
                continue
            name = watched.name_for(target)
            if name:
                found.append((name, f"line {node.lineno}"))
            elif (
                inspect.isfunction(target)
                and target.__module__ == function.__module__
                and not _trusted_file(target.__code__.co_filename)
            ):
                todo.append(target)
    unique = []
    for name, where in found:
        if name not in [n for n, _ in unique]:
            unique.append((name, where))
    return unique


def _local_names(code):
    """The names a function (and the functions, lambdas, comprehensions inside it) binds."""
    found, todo = set(), [code]
    while todo:
        current = todo.pop()
        found.update(current.co_varnames, current.co_cellvars)
        todo.extend(c for c in current.co_consts if isinstance(c, type(code)))
    return found


def _resolve_node(node, names):
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        return vars(builtins).get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve_node(node.value, names)
        return _static_lookup(owner, node.attr) if owner is not None else None
    return None


_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals"}
_DYNAMIC_MODULES = {"importlib", "ctypes", "builtins", "gc", "inspect", "marshal", "pickle"}
# What a notebook's own code uses of cnnlib.labs; anything else there is the check's machinery.
_LEARNER_API = {"cnnlib.labs.check", "cnnlib.labs.EXERCISES", "cnnlib.labs.run_solutions"}
_DYNAMIC_ATTRIBUTES = {
    "__dict__",
    "__globals__",
    "__builtins__",
    "__code__",
    "__closure__",
    "f_locals",
    "f_globals",
    "f_back",
    "gi_frame",
}


def forbidden_in_source(source_text, forbid):
    """Reasons a cell's code needs review: it names a forbidden reference (or a twin), or it runs
    code the scan cannot read (exec, eval, compile, __import__, importlib, getattr with a computed
    name, sys.modules, globals() …). For the grader, which never runs the code."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source_text = TransformerManager().transform_cell(source_text)
    except Exception:  # no IPython, or a cell it cannot read: strip magics by hand
        source_text = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in source_text.splitlines()
        )
    try:
        tree = ast.parse(source_text)
    except SyntaxError as error:
        return [f"the code could not be read as Python (line {error.lineno})"]
    targets = {}  # id -> dotted name, of every forbidden object and twin
    dotted_names = set()
    for reference in forbid:
        try:
            target = _resolve(reference)
        except Exception:
            target = None
        if isinstance(reference, str):
            dotted_names.add(reference)
        names = {}
        if inspect.ismodule(target):
            names.update(_public_of_module(target))
        elif target is not None:
            names[reference if isinstance(reference, str) else _name_of(target)] = target
            module = sys.modules.get(getattr(target, "__module__", None) or "")
            if module is not None and module.__name__.split(".")[0] not in _NO_TWINS:
                names.update(_public_of_module(module))
        for dotted, value in names.items():
            dotted_names.add(dotted)
            targets[id(value)] = dotted
    suffixes = {".".join(d.split(".")[-2:]): d for d in dotted_names}  # "ops.conv2d"
    modules = {d.rsplit(".", 1)[0] for d in dotted_names}
    aliases = {"labs": "cnnlib.labs", "core": "cnnlib.labs.core"}  # the notebooks' own names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def forbidden_name(path):
        """The forbidden dotted name `path` ("cnnlib.ops.conv2d") stands for, or None."""
        if path in dotted_names:
            return path
        module_name, _, attribute = path.rpartition(".")
        value = _static_lookup(sys.modules.get(module_name), attribute) if module_name else None
        if value is not None and id(value) in targets:
            return targets[id(value)]
        return None

    reasons = []

    def note(reason):
        if reason not in reasons:
            reasons.append(reason)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name == "*" and node.module in modules:
                    note(f"line {node.lineno}: imports everything from {node.module}")
                found = forbidden_name(f"{node.module}.{alias.name}")
                if found:
                    note(f"line {node.lineno}: names {found}")
            if node.module.split(".")[0] in _DYNAMIC_MODULES:
                note(f"line {node.lineno}: imports from {node.module} (dynamic code)")
            for alias in node.names:
                path = f"{node.module}.{alias.name}"
                if path.startswith("cnnlib.labs.") and path not in _LEARNER_API:
                    note(f"line {node.lineno}: uses the check's own machinery ({path})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _DYNAMIC_MODULES:
                    note(f"line {node.lineno}: imports {alias.name} (dynamic code)")
        elif isinstance(node, ast.Attribute):
            chain, root = [node.attr], node.value
            while isinstance(root, ast.Attribute):
                chain.insert(0, root.attr)
                root = root.value
            if isinstance(root, ast.Name):
                known = aliases.get(root.id)
                path = ".".join([known or root.id] + chain)
                found = forbidden_name(path) or (
                    None if known else suffixes.get(".".join([root.id] + chain)[-200:])
                )
                if found:
                    note(f"line {node.lineno}: names {found}")
                if path.startswith("cnnlib.labs.") and path not in _LEARNER_API:
                    note(f"line {node.lineno}: uses the check's own machinery ({path})")
                if root.id == "sys" and chain[0] in ("modules", "_getframe", "setprofile"):
                    note(f"line {node.lineno}: uses sys.{chain[0]} (dynamic code)")
            if node.attr in _DYNAMIC_ATTRIBUTES:
                note(f"line {node.lineno}: reads {node.attr} (dynamic code)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in _DYNAMIC_CALLS:
                note(f"line {node.lineno}: calls {name}() (dynamic code)")
            elif name in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
                literal = node.args[1]
                if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
                    note(f"line {node.lineno}: {name}() with a computed name (dynamic code)")
                elif any(d.endswith("." + literal.value) for d in dotted_names):
                    note(f"line {node.lineno}: {name}() of {literal.value!r}, a forbidden name")
    return reasons


# ---------------------------------------------------------------------------------------------
# Producing values (the learner's side), judging them (the judge's side)
# ---------------------------------------------------------------------------------------------


def new_trials(exercise_id, seed):
    """The trials of one exercise for `seed` (plain data, checked to cross the wire)."""
    item = _item(exercise_id)
    if item.trials is None:
        return {}
    trials = item.trials(np.random.default_rng(seed))
    try:
        return _through_wire(trials)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{exercise_id}: its trials are not plain data: {error}") from None


def produce(exercise_id, answer, trials):
    """The learner's answer as plain values: the form runs the learner's code on the trials under
    the forbidden-reference watch, and the answer's source is read for forbidden names.

    Raises NotAttempted for the stub, Wrong for an answer of the wrong form, a function that
    raises, or a forbidden reference used.
    """
    item = _item(exercise_id)
    if is_stub(answer):
        raise NotAttempted
    watched = watched_for(item)
    if isinstance(item.form, Function) and (not isinstance(trials, (list, tuple)) or not trials):
        raise ValueError(f"{exercise_id}: a Function exercise's trials are a list of cases")
    if _uses_model(item.form):
        import keras  # noqa: F401 - imported before the watch: its import is not the learner's
    try:
        with Watch(watched) as watch:
            if isinstance(item.form, Function):
                values = item.form.produce(answer, trials)
            else:
                values = item.form.convert(answer)
    except _Stub:
        raise NotAttempted from None
    except FormError as error:
        refuse_used(watch)
        hint = error.hint or (None if "expected" in error.what else _expected_hint(item))
        raise FormError(error.what, hint) from None
    except Wrong:
        refuse_used(watch)
        raise
    except RecursionError:
        raise FormError("your answer is nested too deeply to read", _expected_hint(item)) from None
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # reading the answer ran its code, and that code raised
        refuse_used(watch)
        raise FormError(
            f"reading your answer raised {_error_text(error)}", _expected_hint(item)
        ) from None
    refuse_used(watch)
    if callable(answer):
        named = scan_answer(answer, watched)
        if named:
            raise Wrong(
                FORBIDDEN_TEXT.format(", ".join(name for name, _ in named))
                + f" (your code names it, {named[0][1]})",
                FORBIDDEN_HINT,
            )
    try:
        return _through_wire(values)
    except (TypeError, ValueError) as error:  # pragma: no cover - the forms make plain values
        raise FormError(f"your answer could not be sent to the check ({error})") from None


def _uses_model(form):
    if isinstance(form, Model):
        return True
    inner = [getattr(form, name, None) for name in ("output", "form", "values")]
    inner += list(getattr(form, "forms", None) or ()) + list(
        (getattr(form, "fields", None) or {}).values()
    )
    return any(isinstance(f, Form) and _uses_model(f) for f in inner)


def _expected_hint(item):
    return f"expected {item.expects or item.form.describe()}"


def judge(exercise_id, values, trials):
    """The verdict on plain `values` (from `produce` or `from_wire`) for these `trials`.

    Never sees the answer object; status "correct" or "wrong". A judge tripping on values of
    another form (a key the form does not fix) is "wrong" about the form; any other error in
    the judge propagates.
    """
    return _decide(_item(exercise_id), values, trials)


def _decide(item, values, trials):
    # Only values exactly as the form makes them reach the judge: in grading they were written
    # by the student's kernel, which may have made them up (an empty tuple of outputs would
    # leave every trial unjudged).
    try:
        values = item.form.conform(values, trials)
    except FormError as error:
        return Verdict(
            "wrong",
            f"these values are not what the check makes of an answer ({error.what})",
            "the check's own code in the kernel was changed or replaced; run the notebook "
            "as shipped",
        )
    try:
        confirmation = item.judge(values, trials)
    except Wrong as mistake:
        return Verdict("wrong", mistake.what, mistake.hint)
    except FORM_ERRORS as error:
        return Verdict(
            "wrong",
            f"your answer is not in the form this exercise expects (checking it raised "
            f"{_error_text(error)})",
            _expected_hint(item),
        )
    return Verdict("correct", confirmation or "", None)


# ---------------------------------------------------------------------------------------------
# The interactive check
# ---------------------------------------------------------------------------------------------


def _trusted_file(filename):
    """Code of Python, the installed packages or cnnlib (not the learner's)."""
    if filename.startswith("<frozen"):
        return True
    path = os.path.realpath(filename)
    return any(path.startswith(root + os.sep) for root in _TRUSTED_ROOTS)


_TRUSTED_ROOTS = tuple(
    {
        os.path.realpath(p)
        for p in [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")]
        + [str(pathlib.Path(__file__).resolve().parents[1])]
        if p
    }
)


def _learner_threads():
    """Threads other than this one running code that is not Python's, a package's or cnnlib's."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    found = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        while frame is not None:
            if not _trusted_file(frame.f_code.co_filename):
                found.append((ident, names.get(ident, f"thread {ident}")))
                break
            frame = frame.f_back
    return found


@contextlib.contextmanager
def _hooks_cleared():
    """Trace and profile hooks, gc callbacks and collection, interval timers and their signal
    handlers off while the judge runs; restored afterwards as they were before the check."""
    saved = {
        "trace": (sys.gettrace(), threading.gettrace()),
        "profile": (sys.getprofile(), threading.getprofile()),
        "gc": (list(gc.callbacks), gc.isenabled()),
    }
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    gc.callbacks.clear()
    gc.disable()
    timers = []
    if threading.current_thread() is threading.main_thread():
        for which, number in _TIMERS:
            timers.append((which, number, signal.setitimer(which, 0), signal.getsignal(number)))
            signal.signal(number, signal.SIG_IGN)
    monitoring = getattr(sys, "monitoring", None)
    tools = []
    if monitoring is not None:  # Python 3.12+
        for tool in range(6):
            if monitoring.get_tool(tool) is not None:
                tools.append((tool, monitoring.get_events(tool)))
                monitoring.set_events(tool, 0)
    try:
        yield
    finally:
        for tool, events in tools:
            monitoring.set_events(tool, events)
        for which, number, remaining, handler in timers:
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
            if remaining[0] or remaining[1]:
                signal.setitimer(which, max(remaining[0], 1e-6), remaining[1])
        gc.callbacks[:] = saved["gc"][0]
        if saved["gc"][1]:
            gc.enable()
        threading.settrace(saved["trace"][1])
        threading.setprofile(saved["profile"][1])
        sys.settrace(saved["trace"][0])
        sys.setprofile(saved["profile"][0])


_TIMERS = (
    (signal.ITIMER_REAL, signal.SIGALRM),
    (signal.ITIMER_VIRTUAL, signal.SIGVTALRM),
    (signal.ITIMER_PROF, signal.SIGPROF),
)


def _snapshot():
    """The hooks as they are before the learner's code runs (a debugger's, coverage's …)."""
    main = threading.current_thread() is threading.main_thread()
    return (
        sys.gettrace(),
        threading.gettrace(),
        sys.getprofile(),
        threading.getprofile(),
        list(gc.callbacks),
        gc.isenabled(),
        [(w, n, signal.getitimer(w), signal.getsignal(n)) for w, n in _TIMERS] if main else [],
    )


def _restore(snapshot):
    """Drop what the learner's code left behind: hooks, gc callbacks, signal handlers and timers
    it installed (those there before the check stay)."""
    sys.settrace(snapshot[0])
    threading.settrace(snapshot[1])
    sys.setprofile(snapshot[2])
    threading.setprofile(snapshot[3])
    gc.callbacks[:] = snapshot[4]
    if snapshot[5]:
        gc.enable()
    for which, number, timer, handler in snapshot[6]:
        if signal.getsignal(number) is not handler:
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if timer == (0.0, 0.0) and signal.getitimer(which) != (0.0, 0.0):
            signal.setitimer(which, 0)


def _run(exercise_id, answer):
    """(outcome, message, hint) of a migrated exercise; outcome "right", "wrong", "not attempted"."""
    item = _item(exercise_id)
    if is_stub(answer):
        return "not attempted", None, None
    seed = secrets.randbits(63)
    before = _snapshot()
    try:
        values = produce(exercise_id, answer, new_trials(exercise_id, seed))
    except NotAttempted:
        return "not attempted", None, None
    except Wrong as mistake:
        return "wrong", mistake.what, mistake.hint
    finally:
        _restore(before)
    leftover = _learner_threads()
    if leftover:
        return (
            "wrong",
            f"code of yours is still running in another thread "
            f"({', '.join(name for _, name in leftover)}); the "
            "check does not judge while it runs",
            "stop and join your threads (or restart the kernel) and check again",
        )
    trials = new_trials(exercise_id, seed)  # made afresh: nothing the learner held
    with _hooks_cleared():
        verdict = _decide(item, values, trials)  # the judge as registered before the answer ran
    del values, trials
    if verdict.status == "correct":
        return "right", verdict.message, None
    if item.kind == "predict":
        tries = _WRONG_TRIES[exercise_id] = _WRONG_TRIES.get(exercise_id, 0) + 1
        if tries > DETAILED_TRIES:
            return (
                "wrong",
                "your answer is not right",
                f"after {DETAILED_TRIES} wrong tries the check no longer says which part is "
                "wrong or in which direction, so that guessing does not pay; work it out again "
                "from the lecture",
            )
    return "wrong", verdict.message, verdict.hint


def _verdict(exercise_id, answer):
    """("right" or "not attempted", text); raises CheckFailed when wrong."""
    item = _item(exercise_id)
    outcome, text, hint = _run(exercise_id, answer)
    HISTORY.append((exercise_id, outcome))
    if outcome == "wrong":
        raise CheckFailed(exercise_id, item.title, text, hint) from None
    return outcome, text


def recording():
    """True when `check` records answers for grading instead of judging them."""
    return os.environ.get(RECORD_MODE_VARIABLE, "").strip().lower() == "record"


def check(exercise_id, answer):
    """Check the learner's `answer` to exercise `exercise_id`.

    Prints "✓ …" when right and "… not attempted yet" for the stub the notebook ships; raises a
    `CheckFailed` (an AssertionError) that says what is wrong (with a hint) otherwise. In record
    mode (CNNLIB_LABS_MODE=record, the grading kernel) it only stores the answer and says so.
    Returns nothing, so a check at the end of a cell adds no Out[…] line.
    """
    item = _item(exercise_id)
    label = f"{exercise_id} ({item.title})"
    if recording():
        RECORDED[exercise_id] = answer
        HISTORY.append((exercise_id, "recorded"))
        print(f"… {label}: recorded for grading")
        return
    outcome, text = _verdict(exercise_id, answer)
    if outcome == "not attempted":
        print(f"… {label}: not attempted yet")
    else:
        print(f"✓ {label}" + (f": {text}" if text else ""))


def passes(exercise_id, answer):
    """For tests and tools: True when right, False when not attempted, CheckFailed (an
    AssertionError) when wrong."""
    return _verdict(exercise_id, answer)[0] == "right"


# ---------------------------------------------------------------------------------------------
# The wire: plain values as JSON + .npz, no pickle
# ---------------------------------------------------------------------------------------------

_WIRE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def _encode(value, arrays, depth=0, count=None):
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
        raise ValueError("the value is too large or too deeply nested to send")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        if kind is str and len(value) > MAX_TEXT:
            raise ValueError("a string is too long to send")
        return value
    if kind is int:
        if abs(value) >= 2**63:
            raise ValueError("an integer is too large to send")
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind is list:
        return [_encode(v, arrays, depth + 1, count) for v in value]
    if kind is tuple:
        return {"$tuple": [_encode(v, arrays, depth + 1, count) for v in value]}
    if kind is dict:
        pairs = []
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(f"a dict key of type {type(key).__name__} cannot be sent")
            pairs.append([key, _encode(item, arrays, depth + 1, count)])
        return {"$dict": pairs}
    if kind is np.ndarray:
        if value.dtype not in PLAIN_DTYPES:
            raise TypeError(f"an array of {value.dtype} cannot be sent (float64, int64, bool)")
        if value.size > MAX_ELEMENTS:
            raise ValueError("an array is too large to send")
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, order="C", copy=True)  # ascontiguousarray makes 0-d 1-d
        return {"$array": key}
    raise TypeError(f"a {kind.__name__} cannot be sent; plain values only")


def _decode(node, arrays, used, depth=0, count=None):
    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
        raise ValueError("the value is too large or too deeply nested")
    kind = type(node)
    if node is None or kind in (bool, str, float):
        return node
    if kind is int:
        if abs(node) >= 2**63:
            raise ValueError("an integer out of range")
        return node
    if kind is list:
        return [_decode(v, arrays, used, depth + 1, count) for v in node]
    if kind is not dict or len(node) != 1:
        raise ValueError(f"unexpected {kind.__name__} in the values")
    [(tag, content)] = node.items()
    if tag == "$tuple" and type(content) is list:
        return tuple(_decode(v, arrays, used, depth + 1, count) for v in content)
    if tag == "$dict" and type(content) is list:
        result = {}
        for pair in content:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise ValueError("a malformed dict in the values")
            if pair[0] in result:
                raise ValueError("a key twice in one dict")
            result[pair[0]] = _decode(pair[1], arrays, used, depth + 1, count)
        return result
    if tag == "$float" and content in ("nan", "inf", "-inf"):
        return float(content)
    if tag == "$array" and type(content) is str and content in arrays:
        if content in used:
            raise ValueError("an array referred to twice")
        used.add(content)
        return arrays[content]
    raise ValueError(f"unexpected {tag!r} in the values")


def _checked_array(array):
    if type(array) is not np.ndarray or array.dtype not in PLAIN_DTYPES:
        raise ValueError(
            f"an array of {getattr(array, 'dtype', type(array).__name__)} (plain only)"
        )
    if array.size > MAX_ELEMENTS or array.ndim > MAX_DEPTH:
        raise ValueError("an array too large")
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)


def _through_wire(values):
    """Encode and decode in memory: new objects, and proof they would cross the wire."""
    arrays = {}
    doc = json.loads(json.dumps(_encode(values, arrays)))
    copies = {key: _checked_array(array) for key, array in arrays.items()}
    return _decode(doc, copies, set())


def _wire_paths(folder, name):
    if not isinstance(name, str) or not _WIRE_NAME.match(name):
        raise ValueError(f"a wire name is letters, digits, '.', '_' and '-', got {name!r}")
    folder = pathlib.Path(folder)
    return folder / f"{name}.json", folder / f"{name}.npz"


def to_wire(values, folder, name):
    """Write plain `values` as `folder/name.json` (+ `folder/name.npz` for the arrays)."""
    text_path, arrays_path = _wire_paths(folder, name)
    arrays = {}
    doc = {"format": WIRE_FORMAT, "value": _encode(values, arrays)}
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    for path, data in ((arrays_path, buffer.getvalue()), (text_path, text.encode("utf-8"))):
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    return text_path


def _refuse_constant(name):
    raise ValueError(f"{name} is not a plain JSON value")


def from_wire(folder, name):
    """Read what `to_wire` wrote, strictly: plain JSON types, float64/int64/bool arrays loaded
    without pickle, sizes capped. Raises ValueError naming the problem for anything else."""
    text_path, arrays_path = _wire_paths(folder, name)
    if not text_path.is_file() or text_path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{text_path.name}: missing or larger than {MAX_JSON_BYTES} bytes")
    try:
        doc = json.loads(
            text_path.read_text(encoding="utf-8"),
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_pairs,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{text_path.name} is not JSON: {error}") from None
    if type(doc) is not dict or doc.get("format") != WIRE_FORMAT or set(doc) != {"format", "value"}:
        raise ValueError(f"{text_path.name} is not a {WIRE_FORMAT} file")
    arrays = _read_arrays(arrays_path)
    used = set()
    value = _decode(doc["value"], arrays, used)
    if used != set(arrays):
        raise ValueError(f"{arrays_path.name} holds arrays the values do not use")
    return value


def _unique_pairs(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} twice in one JSON object")
        result[key] = value
    return result


def _check_npy_header(stream, name):
    from numpy.lib import format as npy

    version = npy.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = npy.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{name}: an .npy version {version} the wire does not use")
    if dtype not in PLAIN_DTYPES or len(shape) > MAX_DEPTH or math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"{name}: an array of {dtype}, shape {shape} (plain and capped only)")


def _read_arrays(path):
    if not path.is_file():
        raise ValueError(f"{path.name} is missing")
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_NPZ_BYTES} bytes")
    with open(path, "rb") as file:
        if file.read(4) != b"PK\x03\x04" and path.stat().st_size > 22:
            raise ValueError(f"{path.name} is not an .npz archive")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > MAX_NPZ_BYTES or len(members) > MAX_ITEMS:
                raise ValueError(f"{path.name} unpacks to more than {MAX_NPZ_BYTES} bytes")
            for member in members:
                if not re.fullmatch(r"a\d{1,7}\.npy", member.filename):
                    raise ValueError(f"{path.name} holds an unexpected member {member.filename!r}")
                with archive.open(member) as stream:  # the header, before NumPy allocates
                    _check_npy_header(stream, member.filename)
        arrays = {}
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                arrays[key] = _checked_array(archive[key])
        return arrays
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path.name} is not a readable .npz archive: {error}") from None


# ---------------------------------------------------------------------------------------------
# Judge-side comparators (plain values in; messages never state a prediction's expected value)
# ---------------------------------------------------------------------------------------------


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


def same_prediction(got, expected, what, hints=()):
    """Raise `Wrong` unless the predicted array `got` equals `expected`; unlike `same_array` the
    message names the first wrong position but never the value expected there."""
    got = as_array(got, what)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        raise Wrong(f"{what}: your answer has shape {got.shape}, which is not right")
    _non_finite(got, what)
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return
    for candidate, hint in hints:
        if np.allclose(got, np.asarray(candidate, dtype=float), rtol=1e-9, atol=1e-12):
            raise Wrong(f"{what}: your answer is not right", hint)
    where = np.argwhere(~np.isclose(got, expected, rtol=1e-9, atol=1e-12))[0]
    raise Wrong(f"{what}: the value at index {tuple(int(i) for i in where)} is not right")


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
            raise Wrong(f"{what}: you gave {_text(got, 40)}, which is not right", hint)
    raise Wrong(f"{what}: you gave {_text(got, 40)}, which is not right")


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
    if type(value).__name__ == "TensorShape":
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
