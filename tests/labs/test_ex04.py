"""Notebook 04's exercises: each reference solution passes, typical mistakes get their hint,
the stubs the notebook ships report "not attempted yet"."""

import numpy as np
import pytest

from cnnlib import labs, ops
from cnnlib.labs import ex04


# ----------------------------------------------------------------- reference solutions
def solution_max_pool(x, size, stride):
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = np.zeros((h_out, w_out, x.shape[2]))
    for i in range(h_out):
        for j in range(w_out):
            window = x[i * stride : i * stride + size, j * stride : j * stride + size]
            out[i, j] = window.max(axis=(0, 1))
    return out


def solution_shift_change(image, mode):
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return np.linalg.norm(after - before) / np.linalg.norm(before)


def solution_max_pool_backward(x, upstream, size, stride):
    dx = np.zeros_like(x, dtype=float)
    h_out, w_out, channels = upstream.shape
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            for c in range(channels):
                window = x[top : top + size, left : left + size, c]
                r, q = np.unravel_index(np.argmax(window), window.shape)
                dx[top + r, left + q, c] += upstream[i, j, c]
    return dx


def stub(*args):
    raise NotImplementedError


# ----------------------------------------------------------------- 04.max_pool
def test_max_pool_solution_passes(capsys):
    labs.check("04.max_pool", solution_max_pool)
    assert capsys.readouterr().out.startswith("✓ 04.max_pool")


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda x, size, stride: ops.pool2d(x, size, stride, mode="avg"),
            "that is average pooling",
        ),
        (lambda x, size, stride: ops.pool2d(x, size, 1), "the stride is ignored"),
        (lambda x, size, stride: ops.pool2d(x, size, stride).max(axis=-1), "channels were mixed"),
        (lambda x, size, stride: ops.pool2d(x, size, stride, padding="same"), "'same' pooling"),
    ],
)
def test_max_pool_mistakes_get_their_hint(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("04.max_pool", wrong)


def test_max_pool_hard_coded_answer_fails():
    fixed = ops.pool2d(np.zeros((6, 8, 3)), 2, 2)
    with pytest.raises(AssertionError, match="✗ 04.max_pool"):
        labs.check("04.max_pool", lambda x, size, stride: fixed)


# ----------------------------------------------------------------- 04.predict_pooled
def test_predict_pooled_right_answer():
    assert labs.passes("04.predict_pooled", [[4, 6], [5, 3]]) is True


@pytest.mark.parametrize(
    "wrong, hint",
    [
        ([[2.5, 2.25], [2.0, 1.5]], "averages"),
        ([[4, 6, 5], [5, 3, 4]], "drops the (last|fifth) column"),
        (np.zeros((3, 4)), "stride defaults to the pool size"),
        ([[4, 6], [5, 4]], "the value at row 2, column 2 is not"),
    ],
)
def test_predict_pooled_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("04.predict_pooled", wrong)


# ----------------------------------------------------------------- 04.param_count
def test_param_count_matches_keras():
    import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    assert labs.passes("04.param_count", model.count_params()) is True


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (11608, "biases are missing"),
        (165242, "pooling layers were left out"),
        (42362, "only one pooling"),
        (11650, "pooling layers have no parameters"),
    ],
)
def test_param_count_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("04.param_count", wrong)


# ----------------------------------------------------------------- 04.shift_experiment
def test_shift_experiment_right_prediction_passes(capsys):
    labs.check("04.shift_experiment", ("avg", solution_shift_change))
    assert "measured on the camera photo" in capsys.readouterr().out


def test_shift_experiment_wrong_prediction_is_explained():
    with pytest.raises(AssertionError, match="your function is right, but the prediction"):
        labs.check("04.shift_experiment", ("max", solution_shift_change))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda image, mode: np.linalg.norm(
                ops.pool2d(image[:, 1:], 2, mode=mode) - ops.pool2d(image[:, :-1], 2, mode=mode)
            ),
            "relative change",
        ),
        (
            lambda image, mode: (
                np.linalg.norm(image[:, 1:] - image[:, :-1]) / np.linalg.norm(image[:, :-1])
            ),
            "pool both versions first",
        ),
        (lambda image, mode: solution_shift_change(image, "max"), "use the `mode` argument"),
    ],
)
def test_shift_experiment_measurement_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("04.shift_experiment", ("avg", wrong))


def test_shift_experiment_bad_prediction_value():
    with pytest.raises(AssertionError, match="'max' or 'avg'"):
        labs.check("04.shift_experiment", ("median", solution_shift_change))


# ----------------------------------------------------------------- 04.max_pool_backward
def test_backward_solution_passes(capsys):
    labs.check("04.max_pool_backward", solution_max_pool_backward)
    assert "relative error" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (ex04._avg_backward, "average pooling's backward pass"),
        (
            lambda x, up, size, stride: ex04._route(x, up, size, stride, accumulate=False),
            "add \\(\\+=\\) each window's gradient",
        ),
        (
            lambda x, up, size, stride: ex04._route(x, np.ones_like(up), size, stride),
            "multiply by the upstream gradient",
        ),
        (
            lambda x, up, size, stride: ex04._route(x, up, size, stride, first=True),
            "first pixel of each window",
        ),
        (lambda x, up, size, stride: up, "shape of the input x"),
    ],
)
def test_backward_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("04.max_pool_backward", wrong)


def test_backward_inputs_have_no_ties():
    x = ex04.tie_free_input(np.random.default_rng(0), (5, 6, 2))
    assert len(np.unique(x)) == x.size and np.diff(np.sort(x.ravel())).min() > 0.05


# ----------------------------------------------------------------- stubs
@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("04.max_pool", stub),
        ("04.predict_pooled", None),
        ("04.param_count", None),
        ("04.shift_experiment", (None, stub)),
        ("04.shift_experiment", ("avg", stub)),
        ("04.max_pool_backward", stub),
    ],
)
def test_stubs_are_not_attempted(exercise_id, answer, capsys):
    labs.check(exercise_id, answer)
    assert "not attempted yet" in capsys.readouterr().out


def test_notebook_04_has_five_exercises_of_mixed_kinds():
    ours = [item for key, item in labs.REGISTRY.items() if key.startswith("04.")]
    assert len(ours) == 5
    assert {item.kind for item in ours} >= {"implement", "predict", "experiment"}
    assert {item.difficulty for item in ours} == {"warm-up", "core", "stretch"}


# ----------------------------------------------------------------- a learner's trial (issue 19)
# Each trigger below was a false accept, a false reject or a leak before; kept as a test.
def _message(exercise_id, answer):
    with pytest.raises(AssertionError) as error:
        labs.check(exercise_id, answer)
    return str(error.value)


@pytest.mark.parametrize(
    "exercise_id, answer, reference",
    [
        ("04.max_pool", lambda x, size, stride: ops.pool2d(x, size, stride), "ops.pool2d"),
        (
            "04.max_pool_backward",
            lambda x, up, size, stride: labs.core.numerical_gradient(
                lambda v: ops.pool2d(v, size, stride), x, up
            ),
            "numerical_gradient",
        ),
    ],
)
def test_calling_the_reference_the_exercise_asks_for_is_not_done(exercise_id, answer, reference):
    message = _message(exercise_id, answer)
    assert "the answers are right, but your function calls" in message and reference in message


def test_predict_pooled_accepts_keras_axes():
    right = np.array([[4, 6], [5, 3]])
    assert labs.passes("04.predict_pooled", right.reshape(1, 2, 2, 1)) is True
    assert labs.passes("04.predict_pooled", right.reshape(2, 2, 1)) is True
    assert labs.passes("04.predict_pooled", right.astype(np.int32)) is True


@pytest.mark.parametrize(
    "wrong",
    [
        [[4, 6], [5, 4]],
        [[1, 6], [5, 3]],
        [[4, 6, 5], [5, 3, 4]],
        np.zeros((3, 4)),
        [[6, 6], [6, 6]],
    ],
)
def test_predict_pooled_never_states_the_values_keras_returns(wrong):
    message = _message("04.predict_pooled", wrong)
    assert "where" not in message and "expected (2, 2)" not in message
    assert "[[4" not in message and "4, 6" not in message


@pytest.mark.parametrize(
    "wrong, match",
    [
        ([[4, 6], [5, float("nan")]], "NaN or inf"),
        ([[4, 6], [5]], "rows of equal length"),
        ("4 6 5 3", "2-D array of numbers|shape"),
    ],
)
def test_predict_pooled_odd_answers_are_a_sentence(wrong, match):
    with pytest.raises(AssertionError, match=match):
        labs.check("04.predict_pooled", wrong)


@pytest.mark.parametrize("wrong", [11642.000001, 11642.5, float("inf"), float("nan"), "many"])
def test_param_count_must_be_one_whole_number(wrong):
    with pytest.raises(AssertionError, match="one whole number"):
        labs.check("04.param_count", wrong)


def test_param_count_accepts_numpy_integers_and_whole_floats():
    assert labs.passes("04.param_count", np.int64(11642)) is True
    assert labs.passes("04.param_count", 11642.0) is True


@pytest.mark.parametrize("spelling", ["average", "Avg", " mean ", "AVG"])
def test_shift_experiment_accepts_other_spellings(spelling):
    assert labs.passes("04.shift_experiment", (spelling, solution_shift_change)) is True


def test_shift_experiment_wrong_prediction_does_not_print_the_measurements():
    message = _message("04.shift_experiment", ("max", solution_shift_change))
    assert "%" not in message and "run it on the photo" in message


def test_shift_experiment_re_measures_instead_of_trusting_a_made_up_number():
    with pytest.raises(AssertionError, match="you gave 0.05"):
        labs.check("04.shift_experiment", ("avg", lambda image, mode: 0.05))


@pytest.mark.parametrize("prediction", [["avg"], {"avg": 1}, 0.5])
def test_shift_experiment_odd_predictions_are_a_sentence_not_a_type_error(prediction):
    with pytest.raises(AssertionError, match="'max' or 'avg'"):
        labs.check("04.shift_experiment", (prediction, solution_shift_change))
