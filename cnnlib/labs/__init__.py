"""Exercises for every notebook, with checks that teach.

In a notebook::

    from cnnlib import labs
    labs.check("02.conv2d", my_conv2d)

prints one ✓ line when the answer is right, raises an AssertionError that says what is wrong
(and hints at the usual cause) when it is not, and prints "not attempted yet" for the stub the
notebook ships (None, `...`, or a function that raises NotImplementedError).

Each notebook's checks live in `cnnlib/labs/exNN.py`; `EXERCISES` maps every exercise id to its
title. `python -m cnnlib.labs student OUTDIR` writes the notebooks without their solutions.
"""

import importlib
import pkgutil

from cnnlib.labs.core import REGISTRY, CheckFailed, Wrong, check, exercise, passes

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ex")):
    importlib.import_module(f"{__name__}.{_module}")

EXERCISES = {exercise_id: item.title for exercise_id, item in sorted(REGISTRY.items())}

__all__ = ["EXERCISES", "REGISTRY", "CheckFailed", "Wrong", "check", "exercise", "passes"]
