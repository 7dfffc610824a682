"""Rehearsal: the course's real-data paths, executed on files that only mimic the real ones.

CI cannot download MNIST, the ImageNet weights or the photos, so the test harness
(tests/e2e/test_rehearsal.py) builds look-alike files and sets CNNLIB_REHEARSAL=1 in the kernels it
starts. A notebook then runs exactly as it would for a learner with a network, except for two
things, both done here:

- what it shows is labelled REHEARSAL: a banner from `setup`, a watermark on every figure, the
  data descriptions and the weight banners;
- the claims only real data can earn (an accuracy, a cat among the top five) are skipped with a
  visible line (`cnnlib.check_real`, `claim.real`), and `Run.record` records nothing.

Nothing here makes any loader accept a file it would otherwise refuse: that is the harness's job,
from a start-up file inside the test kernel, and it is never a switch a user could set.
"""

import os

VARIABLE = "CNNLIB_REHEARSAL"
LABEL = "REHEARSAL"
BANNER = (
    "⚠⚠⚠ REHEARSAL: this run uses files made to look like the real downloads (same names, shapes "
    "and layout, made-up content); every number and figure below only shows that the code runs, "
    "none is a result. ⚠⚠⚠"
)
_watermarked = False


def active():
    """True inside a rehearsal (CNNLIB_REHEARSAL set by the test harness)."""
    return os.environ.get(VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def label(text):
    """`text`, marked REHEARSAL in a rehearsal."""
    return f"{LABEL}: {text}" if active() else text


def watermark_figures():
    """From now on every Matplotlib figure carries a REHEARSAL watermark when it is drawn."""
    global _watermarked
    if _watermarked:
        return
    from matplotlib.figure import Figure

    draw = Figure.draw

    def draw_with_watermark(figure, renderer):
        if not getattr(figure, "_rehearsal_mark", False):
            figure._rehearsal_mark = True
            figure.text(
                0.5,
                0.5,
                f"{LABEL}: not real data",
                ha="center",
                va="center",
                rotation=25,
                fontsize=28,
                color="red",
                alpha=0.3,
                zorder=1000,
            )
        return draw(figure, renderer)

    Figure.draw = draw_with_watermark
    _watermarked = True
