"""Exercises for every notebook, with checks that teach.

In a notebook::

    from cnnlib import labs
    labs.check("02.conv2d", my_conv2d)

prints one ✓ line when the answer is right, raises an AssertionError that says what is wrong
(and hints at the usual cause) when it is not, and prints "not attempted yet" for the stub the
notebook ships (None, `...`, or a function that raises NotImplementedError).

Each notebook's exercises live in `cnnlib/labs/exNN.py`, built from the one toolbox in
`cnnlib/labs/core.py` (trials, a form that turns the answer into plain values, a judge that sees
only those); `EXERCISES` maps every exercise id to its title. With CNNLIB_LABS_MODE=record (the
grading kernel) `check` only records the answer; `cnnlib.labs.submit` turns the recorded answers
into values for a grader that judges them in another process. The worked solutions are in `notebooks/solutions/NN_name.py`; each notebook's last cell,
`labs.run_solutions(...)`, runs them when CNNLIB_RUN_SOLUTIONS=1 (the test run), and otherwise
only says where they are. `python -m cnnlib.labs student OUTDIR` writes the notebooks for a class
and `python -m cnnlib.labs grade ...` grades what comes back.
"""

import importlib
import pkgutil

from cnnlib.labs.core import REGISTRY, CheckFailed, NotAttempted, Wrong, check, exercise, passes
from cnnlib.labs.solutions import run_solutions

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ex")):
    importlib.import_module(f"{__name__}.{_module}")

EXERCISES = {exercise_id: item.title for exercise_id, item in sorted(REGISTRY.items())}

__all__ = [
    "EXERCISES",
    "NotAttempted",
    "REGISTRY",
    "CheckFailed",
    "Wrong",
    "check",
    "exercise",
    "passes",
    "run_solutions",
]
