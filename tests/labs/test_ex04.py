"""Notebook 04's exercises, answered as learners would: the usual mistakes get their hint, right
answers written other ways pass, made-up answers, stack-peeking objects and the routes around a
forbidden reference fail, stubs are "not attempted yet"; a wrong prediction never names the
expected values or, after three tries, anything but "not right"."""

import numpy as np
import pytest
import tensorflow as tf  # imported before any check, as the notebook's first cell does
from learners import (
    PeekingArray,
    PeekingFloat,
    PeekingStr,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    in_a_thread,
    not_attempted,
    passes,
    profiler_off,
    refused,
    stub,
)

from cnnlib import labs, ops
from cnnlib.labs import core, ex04


def test_every_exercise_of_notebook_04_is_migrated_with_kind_and_difficulty():
    ids = sorted(i for i in labs.REGISTRY if i.startswith("04."))
    assert ids == [
        "04.max_pool",
        "04.max_pool_backward",
        "04.param_count",
        "04.predict_pooled",
        "04.shift_experiment",
        "04.shift_prediction",
    ]
    assert {labs.REGISTRY[i].kind for i in ids} == {"implement", "predict", "experiment"}
    assert {labs.REGISTRY[i].difficulty for i in ids} == {"warm-up", "core", "stretch"}


def test_no_private_copies_of_toolbox_helpers_are_left():
    source = open(ex04.__file__, encoding="utf-8").read()
    assert "ex03" not in source and "sys.setprofile" not in source


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("04.predict_pooled", None),
        ("04.max_pool", None),
        ("04.max_pool", stub),
        ("04.param_count", None),
        ("04.shift_prediction", None),
        ("04.shift_experiment", stub),
        ("04.max_pool_backward", stub),
    ],
)
def test_stubs_are_not_attempted(exercise_id, answer, capsys):
    not_attempted(exercise_id, answer, capsys)


# ----------------------------------------------------------------- 04.predict_pooled
RIGHT_POOLED = [[4, 6], [5, 3]]


def test_predict_pooled_answer_is_what_keras_returns():
    import keras

    from cnnlib.lessons.keras_reference import apply_layer

    keras_out = apply_layer(keras.layers.MaxPooling2D(2), ex04.PREDICT_MATRIX)
    assert np.array_equal(keras_out, RIGHT_POOLED)


@pytest.mark.parametrize(
    "right",
    [
        RIGHT_POOLED,
        np.array(RIGHT_POOLED).reshape(1, 2, 2, 1),
        np.array(RIGHT_POOLED).reshape(2, 2, 1),
        np.array(RIGHT_POOLED, dtype=np.int32),
        tf.constant(RIGHT_POOLED, dtype=tf.float32),
        ((4.0, 6.0), (5.0, 3.0)),
    ],
)
def test_predict_pooled_right_answers_written_other_ways_pass(right, capsys):
    passes("04.predict_pooled", right, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        ([[2.5, 2.25], [2.0, 1.5]], "averages"),
        ([[1, 0], [0, 0]], "smallest values"),
        ([[4, 6, 5], [5, 3, 4]], "drops the last column"),
        (np.zeros((3, 4)), "stride defaults to the pool size"),
        ([[4, 6], [5, 4]], "largest value of one 2 × 2 block"),
        ([[1, 1], [1, 1]], "largest value of one 2 × 2 block"),  # made up
        ([[4, 6], [5, float("nan")]], "NaN or inf"),
        ([[4, 6], [5]], "ragged"),
        ("4 6 5 3", "expected an array of numbers, got str"),
    ],
)
def test_predict_pooled_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("04.predict_pooled", wrong)


@pytest.mark.parametrize(
    "wrong", [[[4, 6], [5, 4]], [[1, 6], [5, 3]], [[6, 6], [6, 6]], [[4, 6], [3, 5]]]
)
def test_predict_pooled_never_names_a_cell_nor_the_values(wrong):
    message = refused("04.predict_pooled", wrong)
    assert "index" not in message and "row 1" not in message and "[[4" not in message
    assert "4, 6" not in message and "of the 4" not in message


def test_predict_pooled_after_three_wrong_tries_says_only_not_right():
    for _ in range(3):
        assert "averages" in refused("04.predict_pooled", [[2.5, 2.25], [2.0, 1.5]])
    message = refused("04.predict_pooled", [[2.5, 2.25], [2.0, 1.5]])
    assert "averages" not in message and "3 wrong tries" in message


def test_predict_pooled_stack_peeking_answers_are_refused():
    refused("04.predict_pooled", PeekingArray())
    refused("04.predict_pooled", [[PeekingFloat(0), 6], [5, 3]])


# ----------------------------------------------------------------- 04.max_pool
def max_pool_loops(x, size, stride):
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = np.zeros((h_out, w_out, x.shape[2]))
    for i in range(h_out):
        for j in range(w_out):
            window = x[i * stride : i * stride + size, j * stride : j * stride + size]
            out[i, j] = window.max(axis=(0, 1))
    return out


def max_pool_windows(x, size, stride):
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(0, 1))
    return windows[::stride, ::stride].max(axis=(-2, -1)).tolist()


def max_pool_tf_tensor(x, size, stride):
    return tf.constant(max_pool_loops(x, size, stride), dtype=tf.float32)


@pytest.mark.parametrize("right", [max_pool_loops, max_pool_windows, max_pool_tf_tensor])
def test_max_pool_right_answers_pass(right, capsys):
    passes("04.max_pool", right, capsys)


def average_pool_loops(x, size, stride):
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = np.zeros((h_out, w_out, x.shape[2]))
    for i in range(h_out):
        for j in range(w_out):
            out[i, j] = x[i * stride : i * stride + size, j * stride : j * stride + size].mean(
                axis=(0, 1)
            )
    return out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (average_pool_loops, "that is average pooling"),
        (lambda x, size, stride: max_pool_loops(x, size, 1), "the stride is ignored"),
        (lambda x, size, stride: max_pool_loops(x, size, stride).max(axis=-1), "channels"),
        (lambda x, size, stride: np.zeros((3, 4, 3)), "differs at index"),  # made up
        (lambda x, size, stride: max_pool_loops(x, size, stride) + 1e-3, "differs at index"),
    ],
)
def test_max_pool_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("04.max_pool", wrong)


def keras_pool(x, size, stride):
    import keras

    layer = keras.layers.MaxPooling2D(size, strides=stride)
    return keras.ops.convert_to_numpy(layer(x[None].astype("float32")))[0]


def skimage_pool(x, size, stride):
    import skimage.measure

    return skimage.measure.block_reduce(x, (size, size, 1), np.max)


@pytest.mark.parametrize(
    "trick, named",
    [
        (lambda x, size, stride: ops.pool2d(x, size, stride), "cnnlib.ops.pool2d"),
        (in_a_thread(lambda x, size, stride: ops.pool2d(x, size, stride)), "ops.pool2d"),
        (profiler_off(lambda x, size, stride: ops.pool2d(x, size, stride)), "profiler"),
        (keras_pool, "MaxPooling2D"),
        (lambda x, s, t: tf.nn.max_pool2d(x[None], s, t, "VALID")[0], "max_pool"),
        (skimage_pool, "block_reduce"),
        (lambda x, size, stride: PeekingArray(), "only looks like an array"),
    ],
    ids=["reference", "thread", "profiler off", "Keras", "tf.nn", "scikit-image", "peeking"],
)
def test_max_pool_tricks_are_refused(trick, named):
    assert named in refused("04.max_pool", trick)


def test_max_pool_reference_under_another_name_is_refused():
    from cnnlib.ops import pool2d as pool

    assert "cnnlib.ops.pool2d" in refused("04.max_pool", lambda x, size, stride: pool(x, size))


# ----------------------------------------------------------------- 04.param_count
def test_param_count_answer_is_keras_count():
    import keras

    def stack(n):
        return keras.Sequential(
            [
                keras.Input((n, n, 3)),
                keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    assert stack(ex04.IMAGE_SIDE).count_params() == ex04.STACK_PARAMETERS == 24_442
    for n in (32, 50, 64):
        assert stack(n).count_params() == ex04.stack_parameters(n)
    sides = [n for n in range(4, 400, 4) if ex04.stack_parameters(n) == 24_442]
    assert sides == [48], "the notebook's count must name one multiple of 4"


@pytest.mark.parametrize("right", [48, np.int64(48), 48.0, np.float32(48)])
def test_param_count_right_answers_pass(right, capsys):
    passes("04.param_count", right, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (12, "after both poolings"),
        (24, "two poolings"),
        (192, "halves the side"),
        (49, "multiple of 4"),
        (32, "the stack has 11,642 parameters"),  # the old exercise's image size
        (100, "only the dense layer depends on n"),  # made up
        (48.5, "not a whole number"),
        ("48", "expected a number"),
        (0, "less than 1"),
    ],
)
def test_param_count_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("04.param_count", wrong)


def test_param_count_never_states_the_side_and_stops_directing_after_three_tries():
    for wrong in (12, 24, 100):
        assert "48" not in refused("04.param_count", wrong)
    message = refused("04.param_count", 52)
    assert "parameters" not in message and "3 wrong tries" in message


def test_param_count_stack_peeking_number_is_refused():
    assert "number type the check does not take" in refused("04.param_count", PeekingFloat(0))


# ----------------------------------------------------------------- 04.shift_prediction
@pytest.mark.parametrize("right", ["avg", " Average ", "mean", np.str_("AVG")])
def test_shift_prediction_right_spellings_pass(right, capsys):
    passes("04.shift_prediction", right, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        ("max", "not what the measurement shows"),
        ("Maximum", "not what the measurement shows"),
        ("median", "is not one of"),
        (["avg"], "is not one of"),
        (0.5, "is not one of"),
        (PeekingStr("x"), "is not one of"),
    ],
)
def test_shift_prediction_mistakes_and_tricks(wrong, hint):
    assert hint in refused("04.shift_prediction", wrong)


# ----------------------------------------------------------------- 04.shift_experiment
def shift_change(image, mode):
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return np.linalg.norm(after - before) / np.linalg.norm(before)


def shift_change_own_pooling(image, mode):
    def pool(a):
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        blocks = a[:h, :w].reshape(h // 2, 2, w // 2, 2)
        return blocks.max(axis=(1, 3)) if mode == "max" else blocks.mean(axis=(1, 3))

    before, after = pool(image[:, :-1]), pool(image[:, 1:])
    return float(np.sqrt(((after - before) ** 2).sum() / (before**2).sum()))


def shift_change_tensor(image, mode):
    return tf.constant(shift_change(image, mode))  # a 0-d TensorFlow tensor


@pytest.mark.parametrize("right", [shift_change, shift_change_own_pooling, shift_change_tensor])
def test_shift_experiment_right_answers_pass_and_report_the_photo(right, capsys):
    out = passes("04.shift_experiment", right, capsys)
    assert "your function on the camera photo" in out and "average pooling changes less" in out


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
        (lambda image, mode: shift_change(image, "max"), "use the `mode` argument"),
        (lambda image, mode: 0.05, "which is not right"),  # made up
        (lambda image, mode: "small", "expected a number"),
    ],
)
def test_shift_experiment_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("04.shift_experiment", wrong)


def test_shift_experiment_refuses_answers_by_call_order_and_peeking_numbers():
    measured = [
        shift_change(case["image"], case["mode"])
        for case in ex04.shift_trials(np.random.default_rng(0))
    ]
    calls = iter(measured)
    refused("04.shift_experiment", lambda image, mode: next(calls))  # another seed's trials
    refused("04.shift_experiment", lambda image, mode: PeekingFloat(0.0))


def test_shift_experiment_reference_of_the_judge_is_refused():
    assert "reference_shift_change" in refused("04.shift_experiment", ex04.reference_shift_change)


# ----------------------------------------------------------------- 04.max_pool_backward
def backward_loops(x, upstream, size, stride):
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


def backward_mask(x, upstream, size, stride):
    dx = np.zeros(x.shape, dtype=np.float32)
    for i in range(upstream.shape[0]):
        for j in range(upstream.shape[1]):
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            window = x[rows, cols]
            dx[rows, cols] += (window == window.max(axis=(0, 1))) * upstream[i, j]
    return dx


@pytest.mark.parametrize("right", [backward_loops, backward_mask])
def test_backward_right_answers_pass(right, capsys):
    assert "relative error" in passes("04.max_pool_backward", right, capsys)


def backward_variant(x, upstream, size, stride, accumulate=True, first=False, spread=False):
    dx = np.zeros_like(x, dtype=float)
    for i in range(upstream.shape[0]):
        for j in range(upstream.shape[1]):
            top, left = i * stride, j * stride
            for c in range(x.shape[2]):
                if spread:
                    dx[top : top + size, left : left + size, c] += upstream[i, j, c] / size**2
                    continue
                window = x[top : top + size, left : left + size, c]
                r, q = (0, 0) if first else np.unravel_index(np.argmax(window), window.shape)
                if accumulate:
                    dx[top + r, left + q, c] += upstream[i, j, c]
                else:
                    dx[top + r, left + q, c] = upstream[i, j, c]
    return dx


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, up, s, t: backward_variant(x, up, s, t, spread=True), "average pooling's"),
        (lambda x, up, s, t: backward_variant(x, up, s, t, accumulate=False), "add (+=)"),
        (lambda x, up, s, t: backward_loops(x, np.ones_like(up), s, t), "upstream gradient"),
        (lambda x, up, s, t: backward_variant(x, up, s, t, first=True), "first pixel"),
        (lambda x, up, s, t: up, "shape of the input x"),
        (lambda x, up, s, t: np.zeros_like(x), "differs at index"),  # made up
    ],
)
def test_backward_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("04.max_pool_backward", wrong)


def tape_backward(x, upstream, size, stride):
    variable = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        pooled = tf.nn.max_pool2d(variable[None], size, stride, "VALID")[0]
        loss = tf.reduce_sum(pooled * upstream)
    return tape.gradient(loss, variable)


@pytest.mark.parametrize(
    "trick, named",
    [
        (
            lambda x, up, s, t: core.numerical_gradient(lambda v: ops.pool2d(v, s, t), x, up),
            "cnnlib.ops.pool2d",
        ),
        (tape_backward, "GradientTape"),
        (lambda x, up, s, t: ex04._route(x, up, s, t), "_route"),
        (lambda x, up, s, t: PeekingArray(), "only looks like an array"),
    ],
    ids=["numerical gradient", "GradientTape", "the judge's helper", "peeking"],
)
def test_backward_tricks_are_refused(trick, named):
    assert named in refused("04.max_pool_backward", trick)


def test_backward_inputs_have_no_ties():
    for case in core.new_trials("04.max_pool_backward", 3):
        x = case["x"]
        assert len(np.unique(x)) == x.size and np.diff(np.sort(x.ravel())).min() > 0.05


def test_backward_three_pieces_work_apart_as_in_grading():
    trials = core.new_trials("04.max_pool_backward", 11)
    values = core.produce("04.max_pool_backward", backward_loops, trials)
    verdict = core.judge(
        "04.max_pool_backward", values, core.new_trials("04.max_pool_backward", 11)
    )
    assert verdict.status == "correct"
    assert (
        core.judge(
            "04.max_pool_backward", values, core.new_trials("04.max_pool_backward", 12)
        ).status
        == "wrong"
    )


def test_the_notebook_states_the_count_the_judge_uses():
    import json
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "04_pooling.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    [task] = ["".join(c["source"]) for c in cells if "### Exercise 4.3" in "".join(c["source"])]
    assert f"**{ex04.STACK_PARAMETERS:,}**" in task and str(ex04.IMAGE_SIDE) not in task
