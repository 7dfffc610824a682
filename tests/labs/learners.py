"""The tricks a curious or hostile learner plays on `labs.check`, shared by the exercise tests.

Each trick is an answer (or wraps a right one) as such a learner would write it; the tests pass it
to a check and expect a ✗. The checks hold because the answer becomes plain values before
anything expected exists (core.py's forms) and because the learner's code runs under one watch
for forbidden references; these tricks are how the older checks were fooled (issue 24).

Import what a test file uses: `from learners import PeekingFloat, in_a_thread, ...`. The fixture
`fresh_tries` applies to every test of a file that imports it.
"""

import _thread
import gc
import re
import sys
import threading
import time

import numpy as np
import pytest

from cnnlib import labs
from cnnlib.labs import core

# ---------------------------------------------------------------------------------------------
# Asking the check, as a test does
# ---------------------------------------------------------------------------------------------

FORBIDDEN = "you used .*which this exercise asks you to do without"  # the forbidden-reference ✗


@pytest.fixture(autouse=True)
def fresh_tries():
    """No wrong tries counted before or after a test: a prediction's hints stop after a few."""
    core._WRONG_TRIES.clear()
    yield
    core._WRONG_TRIES.clear()


def stub(*args):
    """The stub a notebook ships for a function: "not attempted yet", never ✗."""
    raise NotImplementedError


def verdict_of(exercise_id, answer):
    """ "correct", "not attempted", or ("wrong", the ✗ line with its hint)."""
    try:
        return "correct" if labs.passes(exercise_id, answer) else "not attempted"
    except labs.CheckFailed as failure:
        return "wrong", str(failure)


def assert_wrong(exercise_id, answer, match=None):
    """Fail unless the check says ✗, with the regular expression `match` in what it says."""
    result = verdict_of(exercise_id, answer)
    assert result[0] == "wrong", f"{exercise_id}: {result} for a wrong answer"
    if match is not None:
        assert re.search(match, result[1]), result[1]


def refused(exercise_id, answer):
    """The ✗'s message and hint (fails the test if the answer is not refused)."""
    with pytest.raises(core.CheckFailed) as caught:
        labs.check(exercise_id, answer)
    return f"{caught.value.what}\n{caught.value.hint or ''}"


def passes(exercise_id, answer, capsys):
    """What `check` printed for a right answer (fails the test unless it is one ✓ line)."""
    labs.check(exercise_id, answer)
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {exercise_id}"), out
    return out


def not_attempted(exercise_id, answer, capsys):
    """Fail unless `check` says "not attempted yet"."""
    labs.check(exercise_id, answer)
    assert "not attempted yet" in capsys.readouterr().out


def cases(table):
    """{exercise id: [(label, answer, …)]} -> [(exercise id, label, answer, …)] for parametrize."""
    return [(i, *entry) for i, entries in table.items() for entry in entries]


# ---------------------------------------------------------------------------------------------
# Looking up the call stack for the expected value
# ---------------------------------------------------------------------------------------------

# What a judge's local variable holding the expected value tends to be called.
EXPECTED_NAMES = (
    "expected",
    "answer_expected",
    "right",
    "reference",
    "want",
    "target",
    "truth",
    "numeric",
    "norms",
    "size",
)


def peek(names=EXPECTED_NAMES, where=None):
    """The trick's core: the first local of a calling frame, up the stack, named one of `names`
    (any name if None) that is not None and for which `where(value)` holds; None if none is."""
    frame = sys._getframe(1)
    while frame is not None:
        local = frame.f_locals
        for name in names if names is not None else list(local):
            value = local.get(name)
            if value is not None and (where is None or where(value)):
                return value
        frame = frame.f_back
    return None


def _first_number(found, fallback):
    """A number from what a peek found (a number, or the first of an array), else `fallback`."""
    try:
        values = np.ravel(np.asarray(found, dtype=float))
    except (TypeError, ValueError):
        return fallback
    return float(values[0]) if found is not None and values.size else fallback


class _PeekingScalar:
    """Read as a number (float, int, index), become what `find()` finds; equal anything."""

    def _found(self):
        return _first_number(self._find(), float(self._fallback))

    def __float__(self):
        return self._found()

    def __int__(self):
        return int(self._found())

    __index__ = __int__

    def __eq__(self, other):
        return True


class PeekingFloat(_PeekingScalar, float):
    """A float subclass that becomes the expected number it finds up the stack (`find`, by
    default `peek`), and equals anything."""

    def __new__(cls, value=0.0, find=peek):
        number = float.__new__(cls, value)
        number._find, number._fallback = find, value
        return number

    __hash__ = float.__hash__


class PeekingInt(_PeekingScalar, int):
    """An int subclass playing the same trick (a size or a count)."""

    def __new__(cls, value=0, find=peek):
        number = int.__new__(cls, value)
        number._find, number._fallback = find, value
        return number

    __hash__ = int.__hash__


class PeekingScalar(_PeekingScalar):
    """Not a number type at all: an object with __float__, __int__ and __index__ that peek."""

    def __init__(self, value=0.0, find=peek):
        self._find, self._fallback = find, value

    __hash__ = object.__hash__


class PeekingStr(str):
    """A string whose strip() and lower() say "avg" and that equals anything."""

    def strip(self, *args):
        return "avg"

    def lower(self):
        return "avg"

    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class PeekingArray:
    """An array-like (__array__, len, iteration, shape) whose values are the expected array it
    finds up the stack (`find`, by default `peek`), else `fallback`; equal anything."""

    def __init__(self, fallback=0.0, find=peek):
        self.fallback = np.asarray(fallback, dtype=float)
        self._find = find

    def __array__(self, dtype=None, copy=None):
        found = self._find()
        try:
            array = self.fallback if found is None else np.asarray(found, dtype=float)
        except (TypeError, ValueError):
            array = self.fallback
        return array if dtype is None else array.astype(dtype)

    def __len__(self):
        return len(np.atleast_1d(self.__array__()))

    def __iter__(self):
        return iter(np.atleast_1d(self.__array__()))

    @property
    def shape(self):
        return self.__array__().shape

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class DisguisedPeekingArray(PeekingArray):
    """A PeekingArray claiming to be a TensorFlow tensor, so that the check reads it."""

    __module__ = "tensorflow.python.framework.ops"


class HeapArray:
    """Claims to be a JAX array; its __array__ searches what the garbage collector tracks (and
    the dicts, lists, tuples and frames among it) for an array of numbers of `shape`, not one of
    `skip`: what gc.get_objects / gc.get_referrers attacks do."""

    __module__ = "jax.numpy"

    def __init__(self, shape, skip=()):
        self.wanted, self.skip = tuple(shape), skip

    def _candidates(self):
        for obj in gc.get_objects():
            if isinstance(obj, dict):
                yield from list(obj.values())
            elif isinstance(obj, (list, tuple)):
                yield from obj
            elif type(obj).__name__ == "frame":
                yield from list(obj.f_locals.values())

    def __array__(self, dtype=None, copy=None):
        for obj in self._candidates():
            if type(obj) is np.ndarray and obj.shape == self.wanted and obj.dtype.kind in "biuf":
                if not any(obj is s for s in self.skip):
                    return obj.astype(float)
        return np.zeros(self.wanted)


class ArraySubclass(np.ndarray):
    """An ndarray subclass: its methods could compare themselves to anything."""


def peeking(shape_of):
    """A learner's function returning a PeekingArray of a plausible shape, `shape_of(*args)`."""
    return lambda *args: PeekingArray(np.zeros(shape_of(*args)))


# ---------------------------------------------------------------------------------------------
# Routes around "do it without X": the forbidden reference where a watch might not look
# ---------------------------------------------------------------------------------------------


def in_a_thread(function):
    """Call `function` in a thread (threading.Thread), where this thread's profiler does not
    look unless the watch follows threads."""

    def answer(*args):
        box = []
        worker = threading.Thread(target=lambda: box.append(function(*args)))
        worker.start()
        worker.join()
        return box[0]

    return answer


def in_a_raw_thread(function):
    """Call `function` in a thread started below `threading` (_thread.start_new_thread), which
    threading.setprofile never reaches."""

    def answer(*args):
        box = []

        def run():
            try:
                box.append((True, function(*args)))
            except BaseException as error:  # raised again below: never a wait without end
                box.append((False, error))

        _thread.start_new_thread(run, ())
        while not box:
            time.sleep(0.001)
        finished, result = box[0]
        if not finished:
            raise result
        return result

    return answer


def profiler_off(function, sys_profile=True, thread_profile=True):
    """Switch the profiler off (sys.setprofile(None), threading.setprofile(None) for the threads
    started afterwards, or both), then call `function`."""

    def answer(*args):
        if sys_profile:
            sys.setprofile(None)
        if thread_profile:
            threading.setprofile(None)
        return function(*args)

    return answer


def lazily(function, disguised=False):
    """Return an object that calls `function` only when something converts it to an array
    (after the watch, hopes the learner); `disguised`: it claims to be a JAX array."""

    class Lazy:
        def __init__(self, args):
            self.args = args

        def __array__(self, dtype=None, copy=None):
            return np.asarray(function(*self.args), dtype=dtype)

    if disguised:
        Lazy.__module__ = "jax.numpy"
    return lambda *args: Lazy(args)


def left_running(function, seconds=30):
    """Start a thread still running when the answer returns (for up to `seconds`; `answer.stop`
    ends it), then call `function`."""
    stop = threading.Event()

    def answer(*args):
        threading.Thread(target=lambda: stop.wait(seconds), daemon=True).start()
        return function(*args)

    answer.stop = stop
    return answer
