"""The exercises' commands (`cnn-course student`, `key`, `grade`, `grade merge`, `grade
merge-scores`) given the arguments a hurried instructor types: each is one sentence and a non-zero
exit, and nothing is written where it was not asked for (the working folder above all).

benchmarks/promise_probe.py runs the same cases as separate processes, with the counts.
"""

import json
import os
import pathlib

import nbformat
import pytest

from cnnlib import __main__ as course

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cnn_course(*argv):
    """`cnn-course ARGV` in this process: its exit status (argparse's SystemExit included)."""
    try:
        return course.main(list(argv))
    except SystemExit as stop:
        return stop.code


def refused(capsys, status):
    """The status is a failure and standard error ends in one sentence saying why."""
    err = capsys.readouterr().err
    assert status not in (0, None), f"exit {status}: {err}"
    last = err.strip().splitlines()[-1]
    assert "error" in last and "Traceback" not in err, err
    return last


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty working folder: none of the refused commands may leave anything in it."""
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    yield folder
    assert sorted(os.listdir(folder)) == [], "something was written into the working folder"


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("mine")
    return path


@pytest.fixture
def never_grades(monkeypatch):
    """Grading must not start: the arguments are refused first."""
    import cnnlib.labs.grading

    def grade(*args, **kwargs):
        raise AssertionError("it started grading")

    monkeypatch.setattr(cnnlib.labs.grading, "grade", grade)


def test_student_with_an_empty_name_writes_nothing_in_the_working_folder(here, capsys):
    assert "empty" in refused(capsys, cnn_course("student", ""))
    assert "empty" in refused(capsys, cnn_course("student", "out", "--notebooks", ""))


def test_student_into_a_file_or_under_one_is_one_sentence(here, a_file, capsys):
    assert "is a file, not a folder" in refused(capsys, cnn_course("student", str(a_file)))
    assert str(a_file) in refused(capsys, cnn_course("student", str(a_file / "sub")))
    assert a_file.read_text() == "mine"


def test_student_from_a_file_says_it_is_not_a_folder(here, a_file, tmp_path, capsys):
    out = tmp_path / "out"
    said = refused(capsys, cnn_course("student", str(out), "--notebooks", str(a_file)))
    assert "is a file, not a folder" in said
    assert not out.exists()


def test_key_out_empty_a_folder_or_under_a_file_is_one_sentence(here, a_file, tmp_path, capsys):
    notebooks = str(ROOT / "notebooks")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert "empty" in refused(capsys, cnn_course("key", "--out", "", "--notebooks", notebooks))
    said = refused(capsys, cnn_course("key", "--out", str(folder), "--notebooks", notebooks))
    assert "is a folder" in said
    assert list(folder.iterdir()) == []
    under = str(a_file / "key.html")
    assert "not a folder" in refused(
        capsys, cnn_course("key", "--out", under, "--notebooks", notebooks)
    )
    assert "empty" in refused(capsys, cnn_course("key", "--notebooks", ""))


def test_key_from_a_student_export_says_it_has_no_solutions(here, tmp_path, capsys):
    from cnnlib.labs.student import write_student_versions

    export = tmp_path / "export"
    write_student_versions(ROOT / "notebooks", export)
    out = tmp_path / "key.html"
    said = refused(capsys, cnn_course("key", "--notebooks", str(export), "--out", str(out)))
    assert "student export" in said
    assert not out.exists()


def test_key_from_a_file_says_it_is_not_a_folder(here, a_file, capsys):
    said = refused(capsys, cnn_course("key", "--notebooks", str(a_file)))
    assert "is a file, not a folder" in said


def _submission(folder):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    notebook.metadata["cnnlib"] = {"assignment": "02_convolution"}
    path = folder / "ada.ipynb"
    nbformat.write(notebook, path)
    return str(path)


@pytest.mark.parametrize(
    "option, value",
    [
        ("--out", ""),
        ("--notebook", ""),
        ("--points", ""),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--timeout", "0"),
        ("--timeout", "-1"),
        ("--timeout", "1e308"),
        ("--jobs", "0"),
        ("--jobs", "-1"),
        ("--jobs", "abc"),
        ("--seed", ""),  # an empty secret: trials anyone could draw again
    ],
)
def test_grade_refuses_a_bad_option_before_grading(
    here, tmp_path, never_grades, capsys, option, value
):
    argv = ["grade", _submission(tmp_path), "--notebook", "02_convolution"]
    argv += ["--out", str(tmp_path / "grades")] if option != "--out" else []
    refused(capsys, cnn_course(*argv, option, value))


@pytest.mark.parametrize("shard", ["3/2", "0/2", "x", ""])
def test_grade_refuses_a_shard_that_is_not_k_of_n(here, tmp_path, never_grades, capsys, shard):
    argv = ["grade", _submission(tmp_path), "--out", str(tmp_path / "grades")]
    assert "--shard" in refused(capsys, cnn_course(*argv, "--shard", shard))


def _results(folder, data):
    folder.mkdir(mode=0o700)
    (folder / "rows.json").write_text(json.dumps(data))
    return str(folder)


def test_merge_into_an_empty_name_writes_nothing_in_the_working_folder(here, tmp_path, capsys):
    shard = _results(tmp_path / "shard", {"students": []})
    assert "empty" in refused(capsys, cnn_course("grade", "merge", shard, "--out", ""))
    assert "empty" in refused(capsys, cnn_course("grade", "merge", "", "--out", shard))


def test_merge_of_results_that_are_not_a_runs_is_one_sentence(here, tmp_path, capsys):
    a_list = _results(tmp_path / "a_list", [1, 2])
    out = tmp_path / "merged"
    said = refused(capsys, cnn_course("grade", "merge", a_list, "--out", str(out)))
    assert "is not the rows.json of a grading run" in said
    listing = tmp_path / "list.json"
    listing.write_text("[]")
    said = refused(capsys, cnn_course("grade", "merge", str(listing), "--out", str(out)))
    assert "is not the rows.json of a grading run" in said
    assert not out.exists()


def test_merge_scores_into_a_folder_without_results_leaves_it_as_it_was(here, a_file, capsys):
    mode = here.stat().st_mode
    said = refused(capsys, cnn_course("grade", "merge-scores", str(here), "--scores", str(a_file)))
    assert "holds no rows.json" in said
    assert here.stat().st_mode == mode  # not made private, no lock or .work/ left in it
    assert "empty" in refused(
        capsys, cnn_course("grade", "merge-scores", "", "--scores", str(a_file))
    )


def test_merge_scores_given_a_folder_or_nothing_for_the_csv_is_one_sentence(here, tmp_path, capsys):
    said = refused(capsys, cnn_course("grade", "merge-scores", "out", "--scores", str(tmp_path)))
    assert said.endswith("is a folder: --scores takes the filled-in manual.csv"), said
    gone = tmp_path / "manual.csv"
    said = refused(capsys, cnn_course("grade", "merge-scores", "out", "--scores", str(gone)))
    assert said.endswith("is not there: --scores takes the filled-in manual.csv"), said


def test_merge_scores_of_results_that_are_not_a_runs_is_one_sentence(
    here, tmp_path, a_file, capsys
):
    a_list = _results(tmp_path / "a_list", [1, 2])
    said = refused(capsys, cnn_course("grade", "merge-scores", a_list, "--scores", str(a_file)))
    assert "is not the rows.json of a grading run" in said


@pytest.mark.parametrize("command", [["student", "out"], ["key", "--out", "key.html"]])
def test_a_missing_library_is_one_sentence_saying_what_to_install(
    here, monkeypatch, capsys, command
):
    import sys

    missing = "nbconvert" if command[0] == "student" else "jinja2"
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    said = refused(capsys, cnn_course(*command))
    assert f"needs {missing}" in said and "pip install" in said


def test_the_key_replaces_a_planted_link_and_is_private(tmp_path):
    from cnnlib.labs.key import write_key

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    out = tmp_path / "answer_key.html"
    out.symlink_to(victim)
    assert write_key(ROOT / "notebooks", out) > 0
    assert victim.read_text() == "mine" and not out.is_symlink()
    assert "Answer key" in out.read_text() and out.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer_key.html", "victim.txt"]
