"""Grade a class: each submission runs sealed, the verdicts are decided outside it.

    cnn-course grade submissions/*.ipynb --notebook 02_convolution --out grades/

The pieces, in the order a submission meets them:

- `assignment`: what is known before anything runs — the assignment's exercises and its shipped
  student notebook, the students' names (refused when unusable or twice), the cells each student
  wrote (scanned for forbidden references and dynamic code: such a right answer is "review");
- `sandbox`: bubblewrap and cgroups around one submission (see its docstring for what it
  guarantees), and `runner`, the script inside that runs the notebook in record mode
  (``CNNLIB_LABS_MODE=record``: `labs.check` only stores the answer) and then produces the
  answers' values on the grader's trials;
- `judging`: the grader's side — secret trials, values read strictly, the toolbox's `judge`;
- `classroom`: the whole class, side by side (`--jobs`), resumable, interruptible;
- `folder`: the private, locked output folder; `reports`: the tables, gradebooks and pages;
  `merge`: shards and manual scores put back together.

Statuses: correct, wrong, not attempted, review, error.
"""

from cnnlib.labs.grading.classroom import Interrupted, Refused, default_timeout, grade
from cnnlib.labs.grading.merge import merge_scores, merge_shards
from cnnlib.labs.grading.reports import STATUSES

__all__ = [
    "STATUSES",
    "Interrupted",
    "Refused",
    "default_timeout",
    "grade",
    "merge_scores",
    "merge_shards",
]
