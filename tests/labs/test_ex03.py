"""Notebook 03's exercises, answered as learners would: the usual mistakes get their hint, right
answers written other ways pass, made-up answers, stack-peeking objects and the routes around a
forbidden reference fail, stubs are "not attempted yet"; and the three pieces (trials, form,
judge) work apart, as grading runs them."""

import math

import numpy as np
import pytest
import tensorflow as tf  # imported before any check, as a notebook's first cell does
from learners import (
    PeekingArray,
    PeekingInt,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    in_a_thread,
    not_attempted,
    passes,
    profiler_off,
    refused,
    stub,
)

from cnnlib import labs, ops
from cnnlib.labs import core, ex03


def test_every_exercise_of_notebook_03_is_migrated_with_kind_and_difficulty():
    ids = sorted(i for i in labs.REGISTRY if i.startswith("03."))
    assert ids == [
        "03.output_size",
        "03.photo_stride",
        "03.receptive_field",
        "03.shapes",
        "03.strided_conv",
    ]
    assert {labs.REGISTRY[i].kind for i in ids} == {"implement", "predict"}
    assert {labs.REGISTRY[i].difficulty for i in ids} == {"warm-up", "core", "stretch"}


def test_no_private_copies_of_toolbox_helpers_are_left():
    for name in ("watching", "refuse_references", "whole_number", "call", "rng"):
        assert not hasattr(ex03, name), name


# ------------------------------------------------------------------ 03.output_size
def output_size(n, f, padding, stride):
    return (n + 2 * padding - f) // stride + 1


def output_size_tensor(n, f, padding, stride):
    return tf.constant((n + 2 * padding - f) // stride + 1)


@pytest.mark.parametrize(
    "right",
    [
        output_size,
        lambda n, f, padding, stride: math.floor((n + 2 * padding - f) / stride) + 1,
        lambda n, f, padding, stride: len(range(0, n + 2 * padding - f + 1, stride)),
        lambda n, f, padding, stride: np.int64((n + 2 * padding - f) // stride + 1),
        lambda n, f, padding, stride: float((n + 2 * padding - f) // stride + 1),
        output_size_tensor,
    ],
    ids=["floor division", "math.floor", "count the starts", "NumPy int", "whole float", "tensor"],
)
def test_output_size_right_answers_written_other_ways_pass(right, capsys):
    passes("03.output_size", right, capsys)


def test_output_size_stubs_are_not_attempted(capsys):
    not_attempted("03.output_size", None, capsys)
    not_attempted("03.output_size", stub, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda n, f, p, s: (n + 2 * p - f) // s, "off by one"),
        (lambda n, f, p, s: (n + p - f) // s + 1, "both sides"),
        (lambda n, f, p, s: math.ceil((n + 2 * p - f) / s) + 1, "round down"),
        (lambda n, f, p, s: (n + 2 * p - f) / s + 1, "whole number"),
        (lambda n, f, p, s: (n + 2 * p - f) + 1, "stride is missing"),
        (lambda n, f, p, s: (n + 2 * p - f + 1) // s, "after the division"),
        (lambda n, f, p, s: (n - 2 * p - f) // s + 1, "+ 2p, not − 2p"),
        (lambda n, f, p, s: 4, "the formula is floor"),  # made up
        (lambda n, f, p, s: 1 / 0, "ZeroDivisionError"),
        (lambda n, f, p, s: "four", "expected a number"),
        (lambda n, f, p, s: np.ones(2), "expected one number"),
    ],
)
def test_output_size_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("03.output_size", wrong)


@pytest.mark.parametrize(
    "trick",
    [
        lambda n, f, p, s: ops.output_size(n, f, p, s),
        in_a_thread(lambda n, f, p, s: ops.output_size(n, f, p, s)),
        profiler_off(lambda n, f, p, s: ops.output_size(n, f, p, s)),
        lambda n, f, p, s: ops.padding_amounts((n, n), f, s, p)[0][0] * 0 + output_size(n, f, p, s),
        lambda n, f, p, s: PeekingInt(0),
    ],
    ids=["the reference", "in a thread", "profiler off", "a twin in cnnlib.ops", "peeking int"],
)
def test_output_size_tricks_are_refused(trick):
    refused("03.output_size", trick)


def test_output_size_reference_under_another_name_is_refused():
    from cnnlib.ops import output_size as size_of

    message = refused("03.output_size", lambda n, f, p, s: size_of(n, f, p, s))
    assert "you used cnnlib.ops.output_size" in message


def test_output_size_trials_are_fresh_and_cover_the_separating_cases():
    first, second = core.new_trials("03.output_size", 1), core.new_trials("03.output_size", 2)
    assert first != second
    cases = {(c["n"], c["f"], c["padding"], c["stride"]) for c in first}
    assert set(ex03._SIZE_CASES) <= cases


# ------------------------------------------------------------------ 03.shapes
RIGHT_SHAPES = [(27, 27, 8), (14, 14, 16), (6, 6, 16), (10, 10, 16), (4, 8, 32), (2, 4, 32)]


def with_layer(index, shape):
    answer = list(RIGHT_SHAPES)
    answer[index] = shape
    return answer


def test_shapes_answer_agrees_with_keras():
    model = ex03.build_shapes_model()
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == ex03.expected_shapes()
    assert ex03.expected_shapes() == RIGHT_SHAPES


@pytest.mark.parametrize(
    "right",
    [
        RIGHT_SHAPES,
        [list(s) for s in RIGHT_SHAPES],
        [(None, *s) for s in RIGHT_SHAPES],
        [tuple(np.int64(v) for v in s) for s in RIGHT_SHAPES],
        [np.array(s) for s in RIGHT_SHAPES],
        tuple(RIGHT_SHAPES),
        np.array(RIGHT_SHAPES),
    ],
    ids=["tuples", "lists", "Keras's None batch axis", "NumPy ints", "arrays", "a tuple", "2-D"],
)
def test_shapes_right_answers_written_other_ways_pass(right, capsys):
    passes("03.shapes", right, capsys)


def test_shapes_stubs_are_not_attempted(capsys):
    not_attempted("03.shapes", None, capsys)
    not_attempted("03.shapes", [None] * 6, capsys)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (with_layer(0, (26, 26, 8)), "off by one"),
        (with_layer(0, (27, 27, 3)), "one channel per filter"),
        (with_layer(1, (13, 13, 16)), "'same' rounds up"),
        (with_layer(1, (12, 12, 16)), "whatever the kernel"),
        (with_layer(2, (7, 7, 16)), "round down"),
        (with_layer(3, (8, 8, 16)), "AND 2 at the bottom"),
        (with_layer(4, (8, 4, 32)), "(vertical, horizontal)"),
        (with_layer(5, (3, 7, 32)), "stride defaults to its size"),
        (RIGHT_SHAPES[:5], "expected 6 items"),
        (with_layer(2, None), "still a placeholder"),
        (with_layer(2, (6.5, 6, 16)), "not a whole number"),
        ([(10, 10, 10)] * 6, "layer 1"),  # made up
    ],
)
def test_shapes_mistakes_get_their_hint(answer, hint):
    assert hint in refused("03.shapes", answer)


def test_shapes_wrong_predictions_never_state_the_right_shape():
    for index in range(6):
        message = refused("03.shapes", with_layer(index, (1, 1, 1)))
        assert str(RIGHT_SHAPES[index]) not in message
        core._WRONG_TRIES.pop("03.shapes", None)


def test_shapes_after_three_wrong_tries_say_neither_layer_nor_direction():
    for _ in range(3):
        assert "layer 3" in refused("03.shapes", with_layer(2, (7, 7, 16)))
    message = refused("03.shapes", with_layer(2, (7, 7, 16)))
    assert "layer" not in message and "round" not in message and "3 wrong tries" in message


@pytest.mark.parametrize("trick", [PeekingArray(), [PeekingArray()] * 6])
def test_shapes_stack_peeking_answers_are_refused(trick):
    refused("03.shapes", trick)


# ------------------------------------------------------------------ 03.receptive_field
def test_receptive_field_answer_agrees_with_the_calculator():
    from cnnlib.lessons.fields import receptive_fields

    fields = receptive_fields([(k, s) for _, k, s in ex03.RF_STACK])
    assert (fields[-1].size[0], fields[-1].jump[0]) == ex03.rf_answer() == (19, 4)


@pytest.mark.parametrize(
    "right", [(19, 4), [19, 4], np.array([19, 4]), ((19, 19), (4, 4)), (19.0, np.int64(4))]
)
def test_receptive_field_right_answers_written_other_ways_pass(right, capsys):
    passes("03.receptive_field", right, capsys)


def test_receptive_field_stubs_are_not_attempted(capsys):
    not_attempted("03.receptive_field", None, capsys)
    not_attempted("03.receptive_field", (None, None), capsys)


@pytest.mark.parametrize(
    "answer, hint",
    [
        ((10, 4), "multiplies the jump of every LATER layer"),
        ((23, 4), "does not widen its own field"),
        ((13, 2), "pooling layer counts too"),
        ((14, 4), "do not add up"),
        ((19, 2), "product of all strides"),
        ((19,), "expected 2 items"),
        ((19.5, 4), "whole number"),
        ((7, 1), "walk through the layers"),  # made up
        (((19, 18), 4), "pair of equal numbers"),
    ],
)
def test_receptive_field_mistakes_get_their_hint(answer, hint):
    assert hint in refused("03.receptive_field", answer)


def test_receptive_field_stack_peeking_answer_is_refused():
    refused("03.receptive_field", PeekingArray())
    refused("03.receptive_field", (PeekingInt(0), PeekingInt(0)))


# ------------------------------------------------------------------ 03.photo_stride
RIGHT_PHOTO = {
    "3x3, stride 2, valid": (49, 1),
    "2x2, stride 4, valid": (25, 50),
    "5x5, stride 4, valid": (24, 3),
    "5x5, stride 4, same": (25, 0),
}


def test_photo_answers_agree_with_a_direct_count_on_the_photo_grid():
    from cnnlib.lessons.windows import coverage

    assert ex03.photo_answers() == RIGHT_PHOTO
    for name, (f, s, padding) in ex03.PHOTO_SETTINGS.items():
        counts = coverage((100, 100), f, s, padding)
        out = ops.conv2d(np.zeros((100, 100)), np.ones((f, f)), stride=s, padding=padding)
        assert (out.shape[0], int((counts.max(axis=1) == 0).sum())) == RIGHT_PHOTO[name]


@pytest.mark.parametrize(
    "right",
    [
        RIGHT_PHOTO,
        {k: list(v) for k, v in RIGHT_PHOTO.items()},
        {k: np.array(v) for k, v in RIGHT_PHOTO.items()},
        {k: (float(a), np.int32(b)) for k, (a, b) in RIGHT_PHOTO.items()},
    ],
)
def test_photo_right_answers_written_other_ways_pass(right, capsys):
    passes("03.photo_stride", right, capsys)


def test_photo_stub_is_not_attempted(capsys):
    not_attempted("03.photo_stride", dict.fromkeys(RIGHT_PHOTO), capsys)


@pytest.mark.parametrize(
    "name, value, hint",
    [
        ("3x3, stride 2, valid", (48, 1), "off by one"),
        ("5x5, stride 4, same", (24, 0), "'same' pads the input"),
        ("2x2, stride 4, valid", (25, 0), "rows between two windows are skipped"),
        ("5x5, stride 4, valid", (24, 0), "find where the last window ends"),
        ("5x5, stride 4, same", (25, 3), "reaches the last row"),
        ("5x5, stride 4, same", None, "still a placeholder"),
        ("3x3, stride 2, valid", (49.5, 1), "not a whole number"),
    ],
)
def test_photo_mistakes_get_their_hint(name, value, hint):
    assert hint in refused("03.photo_stride", {**RIGHT_PHOTO, name: value})


def test_photo_made_up_and_peeking_answers_are_refused():
    refused("03.photo_stride", dict.fromkeys(RIGHT_PHOTO, (25, 0)))
    core._WRONG_TRIES.pop("03.photo_stride", None)
    refused("03.photo_stride", dict.fromkeys(RIGHT_PHOTO, PeekingArray()))
    refused("03.photo_stride", {**RIGHT_PHOTO, "extra setting": (1, 1)})


def test_photo_wrong_predictions_never_state_the_right_numbers():
    for name, (size, unseen) in RIGHT_PHOTO.items():
        message = refused("03.photo_stride", {**RIGHT_PHOTO, name: (size + 7, unseen)})
        assert f"({size}, {unseen})" not in message and f" {size} " not in message
        core._WRONG_TRIES.pop("03.photo_stride", None)


# ------------------------------------------------------------------ 03.strided_conv
def conv_from_scratch(x, kernel, stride, padding, pad_widths=None):
    s_v, s_h = (stride, stride) if np.ndim(stride) == 0 else stride
    x = np.pad(np.asarray(x, dtype=float), padding if pad_widths is None else pad_widths)
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - kh) // s_v + 1, (x.shape[1] - kw) // s_h + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i * s_v : i * s_v + kh, j * s_h : j * s_h + kw] * kernel)
    return out


def conv_with_windows(x, kernel, stride, padding):
    s_v, s_h = (stride, stride) if np.isscalar(stride) else stride
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, padding), kernel.shape)
    return np.einsum("ijkl,kl->ij", windows[::s_v, ::s_h], kernel).astype(np.float32)


def first(stride):
    return stride if np.ndim(stride) == 0 else stride[0]


def second(stride):
    return stride if np.ndim(stride) == 0 else stride[1]


@pytest.mark.parametrize("right", [conv_from_scratch, conv_with_windows])
def test_strided_conv_right_answers_pass(right, capsys):
    passes("03.strided_conv", right, capsys)


def test_strided_conv_stubs_are_not_attempted(capsys):
    not_attempted("03.strided_conv", None, capsys)
    not_attempted("03.strided_conv", stub, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, k, s, p: conv_from_scratch(x, k, (first(s), 1), p), "rows only"),
        (lambda x, k, s, p: conv_from_scratch(x, k, (1, second(s)), p), "columns only"),
        (lambda x, k, s, p: conv_from_scratch(x, k, 1, p), "stride is ignored"),
        (lambda x, k, s, p: conv_from_scratch(x, k, s, 0), "padding is ignored"),
        (
            lambda x, k, s, p: conv_from_scratch(x, k, s, p, ((p, 0), (p, 0))),
            "only at the top and left",
        ),
        (lambda x, k, s, p: conv_from_scratch(x, k[::-1, ::-1], s, p), "kernel is flipped"),
        (lambda x, k, s, p: np.zeros((3, 3)), "shape"),  # made up
        (lambda x, k, s, p: conv_from_scratch(x, k, s, p)[:-1, :-1], "too few positions"),
    ],
)
def test_strided_conv_mistakes_get_their_hint(wrong, hint):
    assert hint in refused("03.strided_conv", wrong)


def test_strided_conv_swapped_pair_stride_gets_its_hint():
    def swapped(x, kernel, stride, padding):
        return conv_from_scratch(x, kernel, (second(stride), first(stride)), padding)

    assert "the first number moves down the rows" in refused("03.strided_conv", swapped)


def scipy_correlate(x, kernel, stride, padding):
    import scipy.signal

    s_v, s_h = (stride, stride) if np.ndim(stride) == 0 else stride
    return scipy.signal.correlate2d(np.pad(x, padding), kernel, mode="valid")[::s_v, ::s_h]


def keras_conv(x, kernel, stride, padding):
    import keras

    layer = keras.layers.Conv2D(1, kernel.shape, strides=stride, use_bias=False)
    layer.build((1, x.shape[0] + 2 * padding, x.shape[1] + 2 * padding, 1))
    layer.set_weights([kernel[:, :, None, None]])
    padded = np.pad(x, padding)[None, :, :, None].astype("float32")
    return keras.ops.convert_to_numpy(layer(padded))[0, :, :, 0]


@pytest.mark.parametrize(
    "trick, named",
    [
        (lambda x, k, s, p: ops.conv2d(x, k, stride=s, padding=p), "cnnlib.ops.conv2d"),
        (in_a_thread(lambda x, k, s, p: ops.conv2d(x, k, stride=s, padding=p)), "ops.conv2d"),
        (profiler_off(lambda x, k, s, p: ops.conv2d(x, k, stride=s, padding=p)), "profiler"),
        (lambda x, k, s, p: ops.true_conv2d(x, k[::-1, ::-1], stride=s, padding=p), "true_conv"),
        (scipy_correlate, "correlate2d"),
        (keras_conv, "Conv2D"),
        (lambda x, k, s, p: PeekingArray(), "only looks like an array"),
    ],
    ids=["reference", "thread", "profiler off", "twin", "SciPy", "Keras", "peeking array"],
)
def test_strided_conv_tricks_are_refused(trick, named):
    assert named in refused("03.strided_conv", trick)


def test_strided_conv_three_pieces_work_apart_as_in_grading():
    trials = core.new_trials("03.strided_conv", 7)
    values = core.produce("03.strided_conv", conv_from_scratch, trials)
    assert all(type(v) is np.ndarray and v.dtype == np.float64 for v in values)
    assert core.judge("03.strided_conv", values, core.new_trials("03.strided_conv", 7)).status == (
        "correct"
    )
    other = core.new_trials("03.strided_conv", 8)
    assert core.judge("03.strided_conv", values, other).status == "wrong"
