"""Notebook 03's exercises: reference answers pass, typical mistakes get their hint, stubs are 'not attempted'."""

import math

import numpy as np
import pytest

from cnnlib import labs, ops
from cnnlib.labs import ex03


def _passes(exercise_id, answer, capsys):
    labs.check(exercise_id, answer)
    assert "✓" in capsys.readouterr().out


def _stub(exercise_id, answer, capsys):
    labs.check(exercise_id, answer)
    assert "not attempted yet" in capsys.readouterr().out


def _fails(exercise_id, answer, match):
    with pytest.raises(AssertionError, match=match):
        labs.check(exercise_id, answer)


def test_every_exercise_of_notebook_03_is_registered_with_kind_and_difficulty():
    ids = [i for i in labs.EXERCISES if i.startswith("03.")]
    assert sorted(ids) == [
        "03.output_size",
        "03.photo_stride",
        "03.receptive_field",
        "03.shapes",
        "03.strided_conv",
    ]
    kinds = {labs.REGISTRY[i].kind for i in ids}
    assert kinds == {"implement", "predict", "experiment"}
    assert {labs.REGISTRY[i].difficulty for i in ids} == {"warm-up", "core", "stretch"}


# ------------------------------------------------------------------ 03.output_size
def _stub_function(*args):
    raise NotImplementedError


def test_output_size_reference_passes_and_stub_is_not_attempted(capsys):
    _passes("03.output_size", lambda n, f, p, s: (n + 2 * p - f) // s + 1, capsys)
    _stub("03.output_size", _stub_function, capsys)
    _stub("03.output_size", None, capsys)


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda n, f, p, s: (n + 2 * p - f) // s, "off by one"),
        (lambda n, f, p, s: (n + p - f) // s + 1, "both sides"),
        (lambda n, f, p, s: math.ceil((n + 2 * p - f) / s) + 1, "round down"),
        (lambda n, f, p, s: (n + 2 * p - f) + 1, "stride is missing"),
        (lambda n, f, p, s: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_output_size_mistakes_get_their_hint(wrong, match):
    _fails("03.output_size", wrong, match)


# ------------------------------------------------------------------ 03.shapes
RIGHT_SHAPES = [(27, 27, 8), (14, 14, 16), (6, 6, 16), (10, 10, 16), (4, 8, 32), (2, 4, 32)]


def test_shapes_answer_agrees_with_keras():
    model = ex03.build_shapes_model()
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == ex03.expected_shapes()
    assert ex03.expected_shapes() == RIGHT_SHAPES


def test_shapes_reference_passes_and_stub_is_not_attempted(capsys):
    _passes("03.shapes", RIGHT_SHAPES, capsys)
    _passes("03.shapes", [list(s) for s in RIGHT_SHAPES], capsys)
    _stub("03.shapes", None, capsys)
    _stub("03.shapes", [None] * 6, capsys)


def _with(index, shape):
    answer = list(RIGHT_SHAPES)
    answer[index] = shape
    return answer


@pytest.mark.parametrize(
    "answer, match",
    [
        (_with(0, (26, 26, 8)), "(?s)layer 1 .*off by one"),
        (_with(0, (27, 27, 3)), "one channel per filter"),
        (_with(1, (13, 13, 16)), "'same' rounds up"),
        (_with(1, (12, 12, 16)), "whatever the kernel"),
        (_with(2, (7, 7, 16)), "round down"),
        (_with(3, (8, 8, 16)), "AND 2 at the bottom"),
        (_with(4, (8, 4, 32)), r"\(vertical, horizontal\)"),
        (_with(5, (3, 7, 32)), "stride defaults to its size"),
        (RIGHT_SHAPES[:5], "expected 6 shapes"),
        (_with(2, None), "(?s)layer 3 .*no prediction yet"),
    ],
)
def test_shapes_mistakes_get_their_hint(answer, match):
    _fails("03.shapes", answer, match)


# ------------------------------------------------------------------ 03.receptive_field
def test_receptive_field_answer_agrees_with_the_calculator_and_keras():
    from cnnlib.lessons.fields import receptive_fields

    fields = receptive_fields([(k, s) for _, k, s in ex03.RF_STACK])
    assert (fields[-1].size[0], fields[-1].jump[0]) == ex03.rf_answer() == (19, 4)


def test_receptive_field_reference_passes_and_stub_is_not_attempted(capsys):
    _passes("03.receptive_field", (19, 4), capsys)
    _stub("03.receptive_field", None, capsys)
    _stub("03.receptive_field", (None, None), capsys)


@pytest.mark.parametrize(
    "answer, match",
    [
        ((10, 4), "multiplies the jump of every LATER layer"),
        ((23, 4), "does not widen its own field"),
        ((13, 2), "pooling layer counts too"),
        ((14, 4), "do not add up"),
        ((19, 2), "product of all strides"),
        ((19,), "expected a pair"),
    ],
)
def test_receptive_field_mistakes_get_their_hint(answer, match):
    _fails("03.receptive_field", answer, match)


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


def test_photo_reference_passes_and_stub_is_not_attempted(capsys):
    _passes("03.photo_stride", RIGHT_PHOTO, capsys)
    _stub("03.photo_stride", dict.fromkeys(RIGHT_PHOTO), capsys)


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("3x3, stride 2, valid", (48, 1), "off by one"),
        ("5x5, stride 4, same", (24, 0), "'same' pads the input"),
        ("2x2, stride 4, valid", (25, 0), "rows between two windows are skipped"),
        ("5x5, stride 4, valid", (24, 0), "find where the last window ends"),
        ("5x5, stride 4, same", (25, 3), "reaches the last row"),
        ("5x5, stride 4, same", None, "no prediction yet for 5x5, stride 4, same"),
    ],
)
def test_photo_mistakes_get_their_hint(name, value, match):
    _fails("03.photo_stride", {**RIGHT_PHOTO, name: value}, match)


# ------------------------------------------------------------------ 03.strided_conv
def _pad_then(pad_widths):
    def conv(x, kernel, stride, padding):
        widths = pad_widths(padding)
        return ops.conv2d(ops.pad(x, widths), kernel, stride=stride)

    return conv


def _rows_only(x, kernel, stride, padding):
    sv = stride if isinstance(stride, int) else stride[0]
    return ops.conv2d(x, kernel, stride=(sv, 1), padding=padding)


def conv_from_scratch(x, kernel, stride, padding):
    s_v, s_h = (stride, stride) if np.ndim(stride) == 0 else stride
    x = np.pad(np.asarray(x, dtype=float), padding)
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - kh) // s_v + 1, (x.shape[1] - kw) // s_h + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i * s_v : i * s_v + kh, j * s_h : j * s_h + kw] * kernel)
    return out


def test_strided_conv_reference_passes_and_stub_is_not_attempted(capsys):
    _passes("03.strided_conv", conv_from_scratch, capsys)
    _stub("03.strided_conv", _stub_function, capsys)


@pytest.mark.parametrize(
    "wrong, match",
    [
        (_rows_only, "applied to the rows only"),
        (lambda x, k, s, p: ops.conv2d(x, k, stride=1, padding=p), "stride is ignored"),
        (_pad_then(lambda p: ((p, 0), (p, 0))), "only at the top and left"),
        (_pad_then(lambda p: ((0, p), (0, p))), "only at the bottom and right"),
        (lambda x, k, s, p: ops.conv2d(x, k, stride=s), "padding is ignored"),
        (lambda x, k, s, p: ops.true_conv2d(x, k, stride=s, padding=p), "flipped"),
    ],
)
def test_strided_conv_mistakes_get_their_hint(wrong, match):
    _fails("03.strided_conv", wrong, match)


def test_strided_conv_swapped_pair_stride_gets_its_hint():
    def swapped(x, kernel, stride, padding):
        s = (stride, stride) if isinstance(stride, int) else stride[::-1]
        return ops.conv2d(x, kernel, stride=s, padding=padding)

    # Caught on the first case with unequal strides, either as the swap or as one axis only.
    _fails("03.strided_conv", swapped, "first number moves down the rows|only")


# ------------------------------------------------------------------ a learner's trial (issue 19)
# Each trigger below was a false accept, a false reject, a crash or a leak before; kept as a test.
def _message(exercise_id, answer):
    with pytest.raises(AssertionError) as error:
        labs.check(exercise_id, answer)
    return str(error.value)


@pytest.mark.parametrize(
    "exercise_id, answer, reference",
    [
        ("03.output_size", lambda n, f, p, s: ops.output_size(n, f, p, s), "ops.output_size"),
        (
            "03.strided_conv",
            lambda x, k, s, p: ops.conv2d(x, k, stride=s, padding=p),
            "ops.conv2d",
        ),
    ],
)
def test_calling_the_reference_the_exercise_asks_for_is_not_done(exercise_id, answer, reference):
    message = _message(exercise_id, answer)
    assert "the answers are right, but your function calls" in message
    assert reference in message and "counts as not done" in message


def test_a_reference_imported_under_another_name_is_caught_too():
    from cnnlib.ops import output_size as size_of

    assert "calls cnnlib.ops.output_size" in _message(
        "03.output_size", lambda n, f, p, s: size_of(n, f, p, s)
    )


def test_a_reference_calling_a_helper_of_its_own_module_is_not_blamed_on_the_learner(capsys):
    # ops.conv2d uses ops.output_size inside; a from-scratch output_size that happens to run
    # ops.conv2d is not "calling ops.output_size".
    def via_a_convolution(n, f, p, s):
        return ops.conv2d(np.zeros((n, 1)), np.ones((f, 1)), stride=(s, 1), padding=(p, 0)).shape[0]

    _passes("03.output_size", via_a_convolution, capsys)


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda n, f, p, s: np.array([(n + 2 * p - f) // s + 1] * 2), "return one number"),
        (lambda n, f, p, s: float("nan"), "you return nan"),
        (lambda n, f, p, s: float("inf"), "you return inf"),
        (lambda n, f, p, s: (n + 2 * p - f) / s + 1, "whole number"),
    ],
)
def test_output_size_odd_return_values_are_a_sentence_not_a_crash(answer, match):
    _fails("03.output_size", answer, match)


def test_output_size_accepts_numpy_and_whole_float_results(capsys):
    _passes("03.output_size", lambda n, f, p, s: np.int64((n + 2 * p - f) // s + 1), capsys)
    _passes("03.output_size", lambda n, f, p, s: float((n + 2 * p - f) // s + 1), capsys)


def test_shapes_accept_keras_style_numpy_and_numpy_integers(capsys):
    _passes("03.shapes", [(None, *shape) for shape in RIGHT_SHAPES], capsys)
    _passes("03.shapes", np.array(RIGHT_SHAPES), capsys)
    _passes("03.shapes", [tuple(np.int64(v) for v in shape) for shape in RIGHT_SHAPES], capsys)


@pytest.mark.parametrize(
    "answer",
    [
        _with(0, (27.5, 27, 8)),
        _with(0, (float("inf"), 27, 8)),
        _with(0, (float("nan"), 27, 8)),
        [27, 14, 6, 10, 4, 2],
        _with(0, "27, 27, 8"),
    ],
)
def test_shapes_refuse_fractional_non_finite_and_wrong_shaped_answers(answer):
    _fails("03.shapes", answer, "three whole numbers")


def test_receptive_field_accepts_arrays_and_per_axis_pairs(capsys):
    _passes("03.receptive_field", np.array([19, 4]), capsys)
    _passes("03.receptive_field", ((19, 19), (4, 4)), capsys)
    _passes("03.receptive_field", (np.int64(19), 4.0), capsys)


@pytest.mark.parametrize(
    "answer, match",
    [
        ((19.5, 4), "whole number of pixels"),
        ((float("nan"), 4), "whole number of pixels"),
        (((19, 17), (4, 4)), "receptive field of \\(19, 17\\)"),
        ("19, 4", "expected a pair"),
        ((19, 4.5), "the jump 4.5 is not"),
    ],
)
def test_receptive_field_refuses_fractional_and_odd_answers(answer, match):
    _fails("03.receptive_field", answer, match)


@pytest.mark.parametrize(
    "name, value",
    [
        ("3x3, stride 2, valid", (48, 1)),
        ("3x3, stride 2, valid", (50, 1)),
        ("5x5, stride 4, valid", (24, 0)),
        ("5x5, stride 4, valid", (24, 7)),
        ("2x2, stride 4, valid", (25, 10)),
        ("5x5, stride 4, same", (24, 0)),
    ],
)
def test_photo_wrong_predictions_never_state_the_right_numbers(name, value):
    message = _message("03.photo_stride", {**RIGHT_PHOTO, name: value})
    size, unseen = RIGHT_PHOTO[name]
    said = message.split("photo:", 1)[1]
    assert str(size) not in said.replace(str(value[0]), "")
    if value[0] == size:
        assert str(unseen) not in said.replace(str(value[1]), "")


def test_photo_refuses_fractional_heights_and_accepts_numpy_pairs(capsys):
    _fails("03.photo_stride", {**RIGHT_PHOTO, "3x3, stride 2, valid": (49.5, 1)}, "whole number")
    _passes("03.photo_stride", {name: np.array(v) for name, v in RIGHT_PHOTO.items()}, capsys)
