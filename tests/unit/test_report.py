"""cnn-course report: the generated tables, the maintainer's refresh, and what it says on bad input."""

import json
import pathlib

import pytest

from cnnlib.runtime.course import NOTEBOOKS, notebook_paths
from cnnlib.runtime.locations import private_temp_dir
from cnnlib.tools import report

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_catalogue_is_the_notebooks_folder():
    on_disk = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert on_disk == list(NOTEBOOKS), "cnnlib/runtime/course.py NOTEBOOKS and notebooks/ differ"
    assert [p.stem for p in notebook_paths(ROOT / "notebooks")] == list(NOTEBOOKS)


def test_a_missing_notebook_is_named(tmp_path):
    with pytest.raises(ValueError, match="01_image_as_matrix.ipynb"):
        notebook_paths(tmp_path)


@pytest.mark.parametrize("document", list(report.DOCUMENTS))
def test_generated_tables_match_the_results_files(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    assert report.render(document, text, ROOT / "results") == text, (
        f"{document}'s tables are stale: run cnn-course report"
    )


def test_a_bar_in_a_figure_stays_inside_its_cell():
    row = report.results_table(
        {
            "ci": {
                "04_pooling": {
                    "device": "CPU",
                    "seconds": 1.0,
                    "data_source": "a | b",
                    "metrics": {"shift": "1 px | none"},
                }
            }
        }
    ).splitlines()[-1]
    # Seven unescaped bars make six cells; escaped ones are part of a cell's text.
    assert row.replace("\\|", "").count("|") == 7
    assert "a \\| b" in row and "1 px \\| none" in row


def write_results(folder, value):
    (folder / "ci").mkdir(parents=True)
    (folder / "ci" / "01_image_as_matrix.json").write_text(json.dumps({"value": value}))


def test_refresh_moves_the_new_results_in_only_when_every_run_passed(monkeypatch, tmp_path):
    results = tmp_path / "results"
    write_results(results, "old")
    runs = []

    def fake_pytest(argv, cwd, env, outcome):
        runs.append((argv, env["CNNLIB_PROFILE"]))
        scratch = pathlib.Path(env["CNNLIB_RESULTS_DIR"])
        assert scratch != results, "the runs must not write into results/ directly"
        # A refresh killed now must leave nothing in the checkout: the scratch folder is private.
        assert scratch.parent == private_temp_dir() and ROOT not in scratch.parents
        (scratch / "ci" / "01_image_as_matrix.json").write_text(json.dumps({"value": "new"}))
        return outcome.pop(0)

    outcomes = [0, 1]  # ci passes, lite fails
    monkeypatch.setattr(
        report.subprocess, "call", lambda argv, cwd, env: fake_pytest(argv, cwd, env, outcomes)
    )
    assert report.refresh(["ci", "lite"], ["01_image_as_matrix"], results) == 1
    assert json.loads((results / "ci" / "01_image_as_matrix.json").read_text()) == {"value": "old"}
    assert [profile for _, profile in runs] == ["ci", "lite"]
    argv = runs[0][0]
    assert argv[-1].endswith("notebooks/01_image_as_matrix.ipynb")
    assert argv[argv.index("-n") + 1] == "0", "one notebook at a time: recorded times are their own"

    outcomes[:] = [0]
    assert report.refresh(["ci"], [], results) == 0
    assert json.loads((results / "ci" / "01_image_as_matrix.json").read_text()) == {"value": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"], "scratch folder left behind"


@pytest.mark.parametrize(
    "content, words",
    [
        (None, "holds no results"),
        ("[1, 2]", "holds a JSON list, not a notebook's results"),
        ('{"metrics": {}}', "has no valid 'device'"),
    ],
)
def test_results_that_would_blank_or_break_the_tables_are_one_sentence(
    tmp_path, capsys, content, words
):
    if content is not None:
        (tmp_path / "ci").mkdir()
        (tmp_path / "ci" / "05_lenet5_mnist.json").write_text(content)
    before = {name: (ROOT / name).read_text() for name in report.DOCUMENTS}
    for argv in (["--check"], []):  # checking, and rewriting: neither touches the tables
        assert report.main([*argv, "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert before == {name: (ROOT / name).read_text() for name in report.DOCUMENTS}


def test_outside_a_course_checkout_report_says_so_in_one_sentence(monkeypatch):
    from cnnlib.runtime import locations

    monkeypatch.setattr(locations, "course_root", lambda: None)  # an installed wheel
    for argv in (["--check"], ["refresh"]):
        with pytest.raises(SystemExit, match="Cannot find the course folder .* cnn-course report"):
            report.main(argv)


def test_check_without_a_results_folder_says_so(tmp_path, capsys):
    assert report.main(["--check", "--results", str(tmp_path / "nowhere")]) == 2
    assert "there is no results folder at" in capsys.readouterr().err


def test_a_truncated_results_file_is_named(tmp_path, capsys):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "05_lenet5_mnist.json").write_text('{"metrics": {"acc')
    assert report.main(["--check", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "05_lenet5_mnist.json cannot be read as JSON" in err and "Traceback" not in err


def test_tables_are_written_whole(tmp_path):
    target = tmp_path / "README.md"
    target.write_text("old")
    report.write_atomically(target, "new text")
    assert target.read_text() == "new text"
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
