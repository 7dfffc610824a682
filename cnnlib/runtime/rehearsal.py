"""Where a run's numbers came from: the one place for the STAND-IN and REHEARSAL labels.

Two kinds of run present numbers that are not results, and every notebook words them from here:

- a **stand-in** run: the real data or pretrained weights could not be had (offline, a firewall),
  so the notebook ran on something else (random VGG16 weights, MNIST digits for the photos). It
  says so once, loudly (`announce`), and after every number and in every figure title
  (`caveat`, `stamp`);
- a **rehearsal** run, below.

Rehearsal: the course's real-data paths, executed on files that only mimic the real ones.

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

from cnnlib.runtime.env import flag

VARIABLE = "CNNLIB_REHEARSAL"
LABEL = "REHEARSAL"
BANNER = (
    "⚠⚠⚠ REHEARSAL: this run uses files made to look like the real downloads (same names, shapes "
    "and layout, made-up content); every number and figure below only shows that the code runs, "
    "none is a result. ⚠⚠⚠"
)
STAND_IN = "STAND-IN"
NOT_A_RESULT = "not a result"
_watermarked = False


def active():
    """True inside a rehearsal (CNNLIB_REHEARSAL set by the test harness)."""
    return flag(VARIABLE)


def label(text):
    """`text`, marked REHEARSAL in a rehearsal."""
    return f"{LABEL}: {text}" if active() else text


def status(real):
    """Why a number is not a result ("" when it is one): `real` says the real data and weights ran."""
    if not real:
        return f"{STAND_IN}: random weights or stand-in data, {NOT_A_RESULT}"
    if active():
        return f"{LABEL}: look-alike files, {NOT_A_RESULT}"
    return ""


def caveat(real):
    """What follows a printed number: nothing for a result, else why it is not one."""
    return f"   ⚠ {status(real)}" if status(real) else ""


def stamp(title, real):
    """A figure title, with the reason it shows no result on a second line when there is one."""
    return f"{title}\n[{status(real)}]" if status(real) else title


def colour(real):
    """The colour of a figure title: red when what it shows is not a result."""
    return "black" if not status(real) else "red"


def announce(missing, consequence):
    """Say once, loudly, that `missing` (e.g. "the ImageNet weights") could not be had.

    `consequence` says what the run does instead and what that means for its numbers. Shown as a
    red box in a notebook and as one plain line (for text outputs and logs).
    """
    from IPython.display import Markdown, display

    headline = f"⚠ {STAND_IN} RUN: {missing} UNAVAILABLE"
    display(
        Markdown(
            "<div style='border:4px solid #c00;padding:10px;background:#fee'>"
            f"<h3 style='color:#c00;margin-top:0'>{headline}</h3>{consequence}</div>"
        )
    )
    print(f"{headline}. {consequence}")


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
