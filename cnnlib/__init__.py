"""cnnlib: the small helper package behind the CNN course notebooks.

A notebook starts with::

    import cnnlib
    run = cnnlib.setup("05_lenet5_mnist")

which seeds everything, picks the run profile (ci / lite / full), reports the device and
returns a `Run` whose `settings` say how much work the notebook does.
"""

import os

# Keras 3 can run on several backends; this course is written for TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ log lines hide the output learners should read. Level 3 also hides its "E"
# lines: with deterministic ops, TF 2.21 prints a harmless "NodeDef mentions attribute
# use_unbounded_threadpool" error line in every fit/predict. Real failures still raise Python
# exceptions; CNNLIB_VERBOSE=1 (or TF_CPP_MIN_LOG_LEVEL set by hand) shows everything again.
from cnnlib.runtime.env import flag  # noqa: E402

if not flag("CNNLIB_VERBOSE"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from cnnlib.runtime.checks import check, check_close, check_real, claims  # noqa: E402
from cnnlib.runtime.profiles import PROFILES, Settings, choose_profile  # noqa: E402
from cnnlib.runtime.session import Run, setup  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Run",
    "Settings",
    "check",
    "check_close",
    "check_real",
    "claims",
    "choose_profile",
    "setup",
]
