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
