"""The exercise machinery: check's three outcomes, the registry, and the student export."""

import pathlib
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from cnnlib import labs
from cnnlib.labs import core, student
from cnnlib.runtime.course import notebook_paths

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py
FIXED_IDS = ("02.conv2d", "03.output_size", "04.max_pool")  # other tooling feeds these functions


def test_fixed_ids_exist_and_every_id_has_a_title():
    for exercise_id in FIXED_IDS:
        assert exercise_id in labs.EXERCISES
    for exercise_id, title in labs.EXERCISES.items():
        assert title and isinstance(title, str)
        item = labs.REGISTRY[exercise_id]
        assert item.kind in core.KINDS and item.difficulty in core.DIFFICULTIES


def test_every_notebook_has_its_exercises_registered():
    for path in NOTEBOOKS:
        prefix = path.name[:2]
        assert any(i.startswith(prefix + ".") for i in labs.EXERCISES), (
            f"no exercises registered for {path.name}"
        )


def test_unknown_id_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"no exercise called '02.nope'; the exercises are: .*02.conv2d"
    ):
        labs.check("02.nope", None)


@pytest.mark.parametrize("stub", [None, Ellipsis])
def test_value_stubs_are_not_attempted(stub, capsys):
    assert labs.check("03.output_size", stub) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_function_stub_is_not_attempted(capsys):
    def output_size(n, f, padding, stride):
        raise NotImplementedError

    assert labs.check("03.output_size", output_size) is None
    assert "not attempted yet" in capsys.readouterr().out


def test_right_answer_prints_one_tick(capsys):
    labs.check("03.output_size", lambda n, f, p, s: (n + 2 * p - f) // s + 1)
    out = capsys.readouterr().out
    assert out.startswith("✓ 03.output_size") and out.count("\n") == 1


def test_a_crash_in_the_learners_code_names_the_input():
    with pytest.raises(
        AssertionError, match=r"your function raised ZeroDivisionError.* on n=\d+, f=\d+, padding="
    ):
        labs.check("03.output_size", lambda n, f, p, s: 1 // 0)


def test_a_hard_coded_answer_cannot_pass():
    with pytest.raises(AssertionError, match="✗ 03.output_size"):
        labs.check("03.output_size", lambda n, f, p, s: 3)


def test_passing_a_call_instead_of_a_function_is_explained():
    with pytest.raises(AssertionError, match="pass the function itself"):
        labs.check("02.conv2d", 42)


def test_numerical_gradient_agrees_with_an_analytic_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    upstream = rng.normal(size=(3, 4))
    numeric = core.numerical_gradient(lambda v: v**2, x, upstream)
    assert core.relative_error(numeric, 2 * x * upstream) < 1e-7


# ---------------------------------------------------------------------------------------------
# The student version
# ---------------------------------------------------------------------------------------------


def _solution_lines(path):
    """Non-trivial lines of the notebook's solutions that no lecture cell also contains: those in
    cells tagged `solution` and those of notebooks/solutions/NN_name.py."""
    from cnnlib.labs import solutions

    notebook = nbformat.read(path, as_version=4)
    lecture = "\n".join(c.source for c in notebook.cells if not student.is_solution_cell(c))
    sources = [c.source for c in notebook.cells if student.is_solution_cell(c)]
    text = solutions.solutions_path(path.stem, path.parent).read_text(encoding="utf-8")
    sources += [cell.source for cell in solutions.parse(text) if cell.kind == "code"]
    lines = set()
    for source in sources:
        for line in source.splitlines():
            stripped = line.strip()
            if (
                len(stripped) > 12
                and not stripped.startswith(("#", "labs.check"))
                and stripped not in lecture
            ):
                lines.add(stripped)
    return lines


def test_strip_marked_replaces_regions_with_a_stub():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nlabs.check('a', f)\n"
    assert student.strip_marked(source) == (
        "def f(x):\n    raise NotImplementedError  # your code here\n\nlabs.check('a', f)\n"
    )


def test_student_export_has_no_solution_code(tmp_path):
    written = student.write_student_versions(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    assert not (tmp_path / "solutions").exists()
    for original_path, copy_path in zip(NOTEBOOKS, written):
        original = nbformat.read(original_path, as_version=4)
        copy = nbformat.read(copy_path, as_version=4)
        secret = _solution_lines(original_path)
        assert secret, f"{original_path.name}: no solution found to look for"
        for cell in copy.cells:
            assert not student.is_solution_cell(cell)
            assert student.BEGIN not in cell.source and student.END not in cell.source
            assert "run_solutions" not in cell.source
            leaked = [line for line in secret if line in cell.source]
            assert not leaked, f"{copy_path.name} still holds solution code: {leaked[:3]}"
        # Everything else is kept: the lecture, verify cells, the exercise stubs with their checks.
        kept = [c for c in original.cells if not student.is_solution_cell(c)]
        assert [c.source for c in copy.cells] == [c.source for c in kept]


def test_student_command_refuses_to_overwrite_the_originals():
    result = subprocess.run(
        [sys.executable, "-m", "cnnlib.labs", "student", str(ROOT / "notebooks")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "another folder" in result.stderr


# ---------------------------------------------------------------------------------------------
# The comparators checkers share (issue 19, items 1, 2 and 4)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_same_array_rejects_non_finite_values_with_a_sentence(bad):
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2] = bad
    with pytest.raises(core.Wrong, match=r"on a test: your answer contains .* at index \(1, 2\)"):
        core.same_array(got, expected, "on a test")
    all_bad = np.full((2, 3), bad)  # a kernel divided by its zero sum
    with pytest.raises(core.Wrong) as caught:
        core.same_array(all_bad, all_bad, "on a test")
    assert "dividing by zero" in caught.value.hint


@pytest.mark.parametrize("bad", [np.nan, np.inf, np.float32("nan")])
def test_same_number_rejects_non_finite_values(bad):
    with pytest.raises(core.Wrong, match="contains (NaN|an infinity)"):
        core.same_number(bad, bad, "the count")


@pytest.mark.parametrize(
    "good", [12, 12.0, np.int64(12), np.int32(12), np.float32(12), np.array(12)]
)
def test_same_number_accepts_numpy_scalars(good):
    core.same_number(good, 12, "the count")


@pytest.mark.parametrize("bad", ["12", True, [12], None, {"a": 12}])
def test_same_number_says_what_a_non_number_is(bad):
    with pytest.raises(core.Wrong, match="the count: expected a number"):
        core.same_number(bad, 12, "the count")


@pytest.mark.parametrize(
    "answer",
    [
        (28, 28, 16),
        [28, 28, 16],
        (None, 28, 28, 16),
        [None, 28, 28, 16],
        np.array([28, 28, 16]),
        (np.int64(28), np.int32(28), 16),
        (28.0, 28, 16.0),
    ],
)
def test_as_shape_accepts_every_usual_spelling(answer):
    assert core.as_shape(answer, "the shape") == (28, 28, 16)
    core.same_shape(answer, (28, 28, 16), "the shape")


def test_as_shape_accepts_a_tensorflow_shape():
    import tensorflow as tf

    assert core.as_shape(tf.TensorShape([None, 7, 7, 3]), "the shape") == (7, 7, 3)


@pytest.mark.parametrize(
    "answer, message",
    [
        ((13.5, 13.5, 8), r"13\.5 is not a whole number"),  # never truncated into (13, 13, 8)
        ((0, 4, 8), "less than 1"),
        ((-2, 4, 8), "less than 1"),
        ((28, None, 16), "None where a size belongs"),
        (28, "expected a shape such as"),
        ("28x28x16", "expected a shape such as"),
        ((28, "28", 16), "expected a number"),
        ((28, np.nan, 16), "NaN"),
    ],
)
def test_as_shape_rejects_wrong_forms_with_a_sentence(answer, message):
    with pytest.raises(core.Wrong, match=message):
        core.as_shape(answer, "the shape")


def test_as_shape_keeps_none_when_the_batch_size_is_asked():
    assert core.as_shape((64, 7, 7, 3), "the shape", batch=True) == (64, 7, 7, 3)
    with pytest.raises(core.Wrong, match="None where a size belongs") as caught:
        core.as_shape((None, 7, 7, 3), "the shape", batch=True)
    assert "the batch size is part of the question" in caught.value.hint


def test_same_shape_never_states_the_expected_shape():
    with pytest.raises(core.Wrong) as caught:
        core.same_shape((27, 27, 8), (28, 28, 16), "the shape")
    assert "28" not in str(caught.value)


@pytest.fixture
def scratch_exercise():
    """Register throw-away exercises under notebook 99; remove them afterwards."""
    added = []

    def register(name, judge, **options):
        exercise_id = f"99.{name}"
        core.exercise(exercise_id, f"a test exercise {name}", "predict", "core", **options)(judge)
        added.append(exercise_id)
        return exercise_id

    yield register
    for exercise_id in added:
        del core.REGISTRY[exercise_id]


def test_an_exercise_without_a_form_is_refused_when_its_module_is_imported(tmp_path, monkeypatch):
    """The older one-step checkers (the answer object judged in the learner's process) are gone:
    a maintainer who writes one, or forgets form=, hears so at import, not from a learner."""
    (tmp_path / "ex99_scratch.py").write_text(
        "from cnnlib.labs.core import exercise\n\n\n"
        '@exercise("99.no_form", "a check without a form", "predict", "core")\n'
        "def check_it(answer):\n"
        "    assert answer == 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError) as caught:
        __import__("ex99_scratch")
    message = str(caught.value)
    assert "'99.no_form' has no form=" in message and "Add an exercise" in message
    assert "99.no_form" not in core.REGISTRY
    with pytest.raises(TypeError, match="form= must be one of the forms"):
        core.exercise("99.bad_form", "a form that is not one", "predict", "core", form=int)


def test_a_judge_of_the_older_one_argument_kind_is_refused_at_registration():
    with pytest.raises(TypeError, match=r"the judge of '99.one_step' must take \(values, trials\)"):
        core.exercise("99.one_step", "a one-step checker", "predict", "core", form=core.Number())(
            lambda answer: None
        )
    assert "99.one_step" not in core.REGISTRY


def test_a_judge_tripping_on_the_values_form_is_a_cross_not_a_key_error(scratch_exercise):
    def judge(counts, trials):  # any names go through the form: a missing one trips the judge
        return f"C1 has {counts['C1']:.0f}"

    exercise_id = scratch_exercise(
        "form",
        judge,
        form=core.Mapping(values=core.Number()),
        expects="a dict {layer name: parameters}",
    )
    assert labs.passes(exercise_id, {"C1": 156})
    with pytest.raises(AssertionError, match="not in the form.*KeyError") as caught:
        labs.check(exercise_id, {"C2": 156})
    assert "expected a dict {layer name: parameters}" in str(caught.value)
    verdict = core.judge(exercise_id, {"C2": 156.0}, {})
    assert verdict.status == "wrong" and "KeyError" in verdict.message


def test_a_cross_renders_as_its_message_alone_in_ipython():
    with pytest.raises(core.CheckFailed) as caught:
        labs.check("03.output_size", lambda n, f, p, s: 3)
    lines = caught.value._render_traceback_()
    assert lines[0].startswith("✗ 03.output_size")
    assert not any("Traceback" in line or "core.py" in line for line in lines)
    assert isinstance(caught.value, AssertionError)  # the cell still fails


@pytest.mark.slow  # starts a kernel
def test_a_cross_in_a_real_kernel_shows_no_traceback(tmp_path):
    cell = "from cnnlib import labs\nlabs.check('03.output_size', lambda n, f, p, s: 3)\n"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(cell), nbformat.v4.new_code_cell("print('after')")]
    )
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(notebook, timeout=120, kernel_name="python3")
    with pytest.raises(CellExecutionError):  # Run All stops at the ✗
        client.execute(cwd=str(ROOT))
    error = notebook.cells[0].outputs[-1]
    assert error.output_type == "error"
    shown = "\n".join(error.traceback)
    assert shown.startswith("✗ 03.output_size")
    assert "core.py" not in shown and "Traceback" not in shown
    assert not notebook.cells[1].outputs
