"""The STAND-IN and REHEARSAL labels come from one place, cnnlib.runtime.rehearsal."""

import json
import pathlib
import re

import pytest

from cnnlib.runtime import rehearsal

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def no_rehearsal(monkeypatch):
    monkeypatch.delenv(rehearsal.VARIABLE, raising=False)


def test_a_result_carries_no_label(no_rehearsal):
    assert rehearsal.status(True) == "" and rehearsal.caveat(True) == ""
    assert rehearsal.stamp("top-5 classes", True) == "top-5 classes"
    assert rehearsal.colour(True) == "black"


def test_a_stand_in_number_says_it_is_not_a_result(no_rehearsal):
    assert rehearsal.caveat(False).strip().startswith("⚠ STAND-IN")
    assert "not a result" in rehearsal.caveat(False)
    assert rehearsal.stamp("loss", False).splitlines() == ["loss", f"[{rehearsal.status(False)}]"]
    assert rehearsal.colour(False) == "red"


def test_a_rehearsal_number_says_it_is_not_a_result(monkeypatch):
    monkeypatch.setenv(rehearsal.VARIABLE, "1")
    assert "REHEARSAL" in rehearsal.caveat(True) and "not a result" in rehearsal.caveat(True)
    assert "STAND-IN" in rehearsal.caveat(False)  # a stand-in stays a stand-in in a rehearsal
    assert rehearsal.colour(True) == "red"


def test_announce_is_one_box_and_one_line(no_rehearsal, capsys):
    rehearsal.announce("the ImageNet weights", "VGG16 runs with random weights.")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == (
        "⚠ STAND-IN RUN: the ImageNet weights UNAVAILABLE. VGG16 runs with random weights."
    )


def test_notebook_07_words_no_stand_in_label_of_its_own():
    """Its labels come from rehearsal.announce/caveat/stamp, not from strings in its cells."""
    path = ROOT / "notebooks" / "07_vgg16_transfer_learning.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    labelled = [c.splitlines()[0] for c in code if re.search(r"STAND-IN|REHEARSAL", c)]
    assert len(code) > 40 and not labelled, f"cells that word a label themselves: {labelled}"


def _run(tmp_path):
    from cnnlib.runtime.session import Run

    run = Run("05_lenet5_mnist", "ci", "a test", "CPU", False, 0)
    run.results_dir = tmp_path / "results"
    # The results file's content needs TensorFlow's version (10 s to import); any text will do.
    run._result = lambda metrics, data_source, extra: (1.0, json.dumps(metrics) + "\n")
    return run


def test_a_rehearsal_records_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(rehearsal.VARIABLE, "1")
    run = _run(tmp_path)
    run.record(metrics={"test accuracy": 0.99}, data_source="look-alike files")
    assert run.results_path is None and not (tmp_path / "results").exists()
    assert "REHEARSAL: nothing recorded" in capsys.readouterr().out


def test_outside_a_rehearsal_the_same_record_writes_its_file(tmp_path, no_rehearsal):
    """The test above looks in the folder a record really writes to."""
    run = _run(tmp_path)
    run.record(metrics={"test accuracy": 0.99}, data_source="MNIST")
    assert run.results_path == tmp_path / "results" / "05_lenet5_mnist.json"
    assert json.loads(run.results_path.read_text()) == {"test accuracy": 0.99}


@pytest.fixture
def figure_drawing_restored():
    from matplotlib.figure import Figure

    draw = Figure.draw
    yield
    Figure.draw = draw
    rehearsal._watermarked = False


def _red_pixels(figure):
    import numpy as np

    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    return int(np.sum((pixels[..., 0] > 200) & (pixels[..., 1] < 190) & (pixels[..., 2] < 190)))


def test_every_figure_of_a_rehearsal_carries_the_watermark(figure_drawing_restored):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def plain_figure():
        figure = Figure(figsize=(4, 3))
        FigureCanvasAgg(figure)
        figure.add_subplot().plot([0, 1], [0, 1], color="black")
        return figure

    assert _red_pixels(plain_figure()) == 0
    rehearsal.watermark_figures()
    marked = plain_figure()
    assert _red_pixels(marked) > 1000, "no red watermark drawn"
    assert [t.get_text() for t in marked.texts] == ["REHEARSAL: not real data"]
    marked.canvas.draw()  # drawn again (a notebook redraws): still one watermark
    assert len(marked.texts) == 1
