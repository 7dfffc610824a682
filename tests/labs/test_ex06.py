"""Notebook 06's exercises: solutions pass, typical mistakes get their hint, stubs wait.

Every answer a learner trial got wrongly judged (a false accept, a false reject, a crash or a
leak) is kept here as a regression test, next to the mistakes each check names.
"""

import contextlib
import io
import math

import keras
import numpy as np
import pytest
from keras import layers

from cnnlib import labs, ops
from cnnlib.labs import ex06
from cnnlib.lessons import architectures


def _stub(*args):
    raise NotImplementedError


def _passes(exercise_id, answer):
    """True when labs.check prints its ✓ line for `answer` (raises AssertionError when wrong)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        labs.check(exercise_id, answer)
    return printed.getvalue().startswith(f"✓ {exercise_id} (")


def _rejected(exercise_id, answer, match):
    """The check says ✗ (an AssertionError, never another exception) with `match` in its text."""
    with pytest.raises(AssertionError, match=match) as caught:
        labs.check(exercise_id, answer)
    return str(caught.value)


EXERCISES = [
    "06.one_by_one",
    "06.conv1x1",
    "06.bottleneck_block",
    "06.depth_gradient",
    "06.densenet_channels",
]


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_stubs_are_not_attempted(exercise_id, capsys):
    labs.check(exercise_id, None)
    labs.check(exercise_id, _stub if exercise_id != "06.one_by_one" else (None, None))
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_kinds_and_difficulties():
    items = {i: labs.REGISTRY[i] for i in labs.EXERCISES if i.startswith("06.")}
    assert sorted(items) == sorted(EXERCISES)
    assert {item.difficulty for item in items.values()} == {"warm-up", "core", "stretch"}
    kinds = {item.kind for item in items.values()}
    assert kinds == {"predict", "implement", "design", "experiment"}


# --- 06.one_by_one ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, shape",
    [
        (3088, (28, 28, 16)),
        (np.int64(3088), (np.int32(28), np.int64(28), np.int16(16))),  # NumPy integer types
        (3088, (None, 28, 28, 16)),  # Keras writes the batch axis as None
        (3088.0, [28, 28, 16]),
        (3088, np.array([28, 28, 16])),
    ],
)
def test_one_by_one_accepts_every_form_of_the_right_answer(params, shape):
    layer = keras.layers.Conv2D(16, 1)
    assert tuple(layer(keras.Input((28, 28, 192))).shape[1:]) == (28, 28, 16)
    assert layer.count_params() == 3088
    assert _passes("06.one_by_one", (params, shape))


@pytest.mark.parametrize(
    "answer, hint",
    [
        ((3072, (28, 28, 16)), "biases are missing"),
        ((32, (28, 28, 16)), "one weight per input channel"),
        ((28 * 28 * 192 * 16 + 16, (28, 28, 16)), "weights are shared"),
        ((3088, (28, 28, 192)), "one channel per filter"),
        ((3088, (27, 27, 16)), "does not shrink"),
    ],
)
def test_one_by_one_mistakes(answer, hint):
    _rejected("06.one_by_one", answer, hint)


def test_one_by_one_hints_do_not_leak_the_answer():
    """The no-bias hint used to end "so add 16", which is the answer minus one step."""
    message = _rejected("06.one_by_one", (3072, (28, 28, 16)), "biases are missing")
    assert "add 16" not in message and "3088" not in message and "3,088" not in message


@pytest.mark.parametrize(
    "answer, match",
    [
        ((3088, (28.5, 28, 16)), "not a size"),  # used to be truncated to 28 and accepted
        ((3088, (28, 28, 16.9)), "not a size"),  # used to be truncated to 16 and accepted
        (("3088", (28, 28, 16)), "expected a number"),  # a string used to pass
        ((3088, (28, float("nan"), 16)), "not a finite number"),  # used to crash (ValueError)
        ((3088, "28x28x16"), "expected a tuple of sizes"),  # used to crash (ValueError)
        ((3088, 16), "expected a tuple of sizes"),  # used to crash (TypeError)
        ((3088, (28, None, 16)), "only the batch axis may be None"),
        ((3088, (28, -28, 16)), "not a size"),
        ((float("nan"), (28, 28, 16)), "not a finite number"),
        ((float("inf"), (28, 28, 16)), "not a finite number"),
        ((3088.5, (28, 28, 16)), "not a whole number"),
        ((True, (28, 28, 16)), "expected a number"),
        ("3088", "expected a pair"),
    ],
)
def test_one_by_one_rejects_malformed_answers_with_a_sentence(answer, match):
    _rejected("06.one_by_one", answer, match)


def test_one_by_one_confirmation_explains_the_count():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        labs.check("06.one_by_one", (3088, (28, 28, 16)))
    assert "3,072 weights (192 per filter) + 16 biases" in printed.getvalue()


# --- 06.conv1x1 ------------------------------------------------------------------------------
def _loops(x, w, b):
    out = np.zeros(x.shape[:2] + (w.shape[1],))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] @ w + b
    return out


@pytest.mark.parametrize(
    "answer",
    [
        lambda x, w, b: x @ w + b,
        lambda x, w, b: np.einsum("hwc,ck->hwk", x, w) + b,
        lambda x, w, b: np.tensordot(x, w, axes=1) + b,
        lambda x, w, b: (x @ w + b).astype(np.float32),
        _loops,
    ],
)
def test_conv1x1_accepts_right_answers(answer):
    assert _passes("06.conv1x1", answer)


def test_conv1x1_mistakes():
    _rejected("06.conv1x1", lambda x, w, b: x @ w, "bias is missing")
    _rejected("06.conv1x1", lambda x, w, b: np.maximum(x @ w + b, 0), "no activation")
    _rejected("06.conv1x1", lambda x, w, b: (x @ w + b).sum(axis=-1), "one channel per filter")


def test_conv1x1_transposed_weights():
    def transposed(x, w, b):
        return x @ w.T + b if w.shape[0] == w.shape[1] else x @ w + b

    _rejected("06.conv1x1", transposed, "transposed")


@pytest.mark.parametrize(
    "answer, name",
    [
        (lambda x, w, b: ops.conv2d(x, w[None, None]) + b, "cnnlib.ops.conv2d"),
        (
            lambda x, w, b: (
                keras.ops.convert_to_numpy(keras.ops.conv(x[None], w[None, None]))[0] + b
            ),
            "keras.ops.conv",
        ),
    ],
)
def test_conv1x1_calling_a_convolution_is_not_done(answer, name):
    """Both used to get a ✓: right numbers, but not the exercise. Now a ✗ that says why."""
    message = _rejected("06.conv1x1", answer, "right numbers, but your function calls")
    assert name in message
    assert ops.conv2d.__name__ == "conv2d"  # the spy is gone afterwards
    assert keras.ops.conv.__name__ == "conv"


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda x, w, b: (x @ w + b) * np.nan, "contains NaN"),
        (lambda x, w, b: (x @ w + b) + np.inf, "contains an infinity"),
        (lambda x, w, b: None, "expected an array of numbers"),
        (lambda x, w, b: "out", "expected an array of numbers"),
        (lambda x, w, b: [[1, 2], [3]], "expected an array of numbers"),
        (np.zeros(3), "expected a function"),
    ],
)
def test_conv1x1_rejects_malformed_answers_with_a_sentence(answer, match):
    _rejected("06.conv1x1", answer, match)


def test_conv1x1_reference_is_keras():
    rng = np.random.default_rng(0)
    for shape, k in [((4, 5, 3), 2), ((1, 1, 6), 6)]:
        x, w, b = rng.normal(size=shape), rng.normal(size=(shape[-1], k)), rng.normal(size=k)
        layer = keras.layers.Conv2D(k, 1)
        layer.build((None, *shape))
        layer.set_weights([w[None, None].astype("float32"), b.astype("float32")])
        expected = keras.ops.convert_to_numpy(layer(x[None].astype("float32")))[0]
        np.testing.assert_allclose(ex06._keras_conv1x1(x, w, b), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(x @ w + b, expected, rtol=1e-4, atol=1e-5)


# --- 06.bottleneck_block ---------------------------------------------------------------------
def _bottleneck(x, filters, stride, stride_on_3x3=False, bias=False):
    first, middle = (1, stride) if stride_on_3x3 else (stride, 1)
    y = layers.Conv2D(filters, 1, strides=first, use_bias=bias)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 3, strides=middle, padding="same", use_bias=bias)(y)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(4 * filters, 1, use_bias=bias)(y))
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, use_bias=bias)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def _torchvision(x, filters, stride):
    return _bottleneck(x, filters, stride, stride_on_3x3=True, bias=True)


def _nested_branch(x, filters, stride):
    branch = keras.Sequential(
        [
            layers.Conv2D(filters, 1, strides=stride, activation="relu"),
            layers.Conv2D(filters, 3, padding="same", activation="relu"),
            layers.Conv2D(4 * filters, 1),
        ]
    )
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride)(x)
    return layers.Activation("relu")(branch(x) + shortcut)


def _returns_model(x, filters, stride):
    return keras.Model(x, _bottleneck(x, filters, stride))


def _pool_shortcut(x, filters, stride):  # ResNet-D: average-pool, then a 1×1 projection
    y = layers.Conv2D(filters, 1, activation="relu")(x)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(y)
    y = layers.Conv2D(4 * filters, 1)(y)
    shortcut = layers.AveragePooling2D(stride, padding="same")(x) if stride > 1 else x
    if x.shape[-1] != 4 * filters:
        shortcut = layers.Conv2D(4 * filters, 1)(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


@pytest.mark.parametrize(
    "builder", [_bottleneck, _torchvision, _nested_branch, _returns_model, _pool_shortcut]
)
def test_bottleneck_accepts_right_answers(builder):
    """Nested models and a builder returning a Model used to be rejected by the old 6.3."""
    assert _passes("06.bottleneck_block", builder)


def _lone_1x1(x, filters, stride):
    return layers.Conv2D(4 * filters, 1, strides=stride)(x)


def _plain(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    return layers.Conv2D(4 * filters, 1)(y)


def _nested_plain(x, filters, stride):
    return keras.Sequential(
        [
            layers.Conv2D(filters, 1, strides=stride, activation="relu"),
            layers.Conv2D(filters, 3, padding="same", activation="relu"),
            layers.Conv2D(4 * filters, 1),
        ]
    )(x)


def _basic_block(x, filters, stride):
    y = layers.Conv2D(4 * filters, 3, strides=stride, padding="same", activation="relu")(x)
    y = layers.Conv2D(4 * filters, 3, padding="same")(y)
    return layers.ReLU()(layers.Add()([y, layers.Conv2D(4 * filters, 1, strides=stride)(x)]))


def _no_expansion(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    return layers.ReLU()(layers.Add()([y, layers.Conv2D(filters, 1, strides=stride)(x)]))


def _identity_only(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    return layers.ReLU()(layers.Add()([layers.Conv2D(4 * filters, 1)(y), x]))


def _concatenate(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    y = layers.Conv2D(4 * filters, 1)(y)
    return layers.Concatenate()([y, layers.Conv2D(4 * filters, 1, strides=stride)(x)])


def _unused_branch(x, filters, stride):
    layers.Conv2D(filters, 3, padding="same")(x)
    return layers.Conv2D(4 * filters, 1, strides=stride)(x)


def _stride_twice(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(y)
    y = layers.Conv2D(4 * filters, 1)(y)
    shortcut = layers.Conv2D(4 * filters, 1, strides=stride)(x)
    if stride > 1:
        shortcut = layers.MaxPooling2D(stride, padding="same")(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def _other_input(x, filters, stride):
    return layers.Conv2D(4 * filters, 1)(keras.Input(x.shape[1:]))


@pytest.mark.parametrize(
    "builder, hint",
    [
        (_lone_1x1, "no convolution larger than 1 × 1"),  # the old 6.3 accepted a lone 1×1
        (_plain, "there is no shortcut"),
        (_nested_plain, "there is no shortcut"),  # the old 6.3 missed convs in nested models
        (_basic_block, "works on the reduced maps"),
        (_no_expansion, "expands the maps to 4 · filters"),
        (_identity_only, "projection shortcut"),
        (_concatenate, "DenseNet's concatenation"),
        (_unused_branch, "no convolution larger than 1 × 1"),
        (_stride_twice, "only one convolution of the branch"),
        (lambda x, filters, stride: None, "not a Keras tensor"),
        (_other_input, "not computed from the input"),
    ],
)
def test_bottleneck_mistakes(builder, hint):
    _rejected("06.bottleneck_block", builder, hint)


def test_bottleneck_a_built_model_gets_the_same_checks_on_a_copy():
    """A built block and the builder give the same verdict; the learner's weights stay untouched."""
    inputs = keras.Input((8, 8, 32))
    built = keras.Model(inputs, _bottleneck(inputs, 16, 2))
    before = [w.copy() for w in built.get_weights()]
    assert _passes("06.bottleneck_block", built)
    assert all(np.array_equal(a, b) for a, b in zip(before, built.get_weights()))
    plain_in = keras.Input((8, 8, 64))
    _rejected("06.bottleneck_block", keras.Model(plain_in, _plain(plain_in, 16, 1)), "no shortcut")
    odd_in = keras.Input((8, 8, 64))
    odd = keras.Model(odd_in, layers.Conv2D(30, 3, padding="same")(odd_in))
    _rejected("06.bottleneck_block", odd, "4·filters")


def test_bottleneck_rejects_a_layer_with_a_sentence():
    _rejected("06.bottleneck_block", layers.Conv2D(64, 1), "you passed a Keras Conv2D layer")


# --- 06.depth_gradient -----------------------------------------------------------------------
def _gradient(index=0, use_skip=True, own_data=False, cast=float):
    own = np.random.default_rng(5)
    own_x = own.normal(size=(64, 32)).astype("float32")
    own_y = own.normal(size=(64, 32)).astype("float32")

    def measure(depth, skip, x, y):
        if own_data:
            x, y = own_x, own_y
        stack = architectures.dense_stack(depth, 32, "sigmoid", skip and use_skip)
        return cast(architectures.layer_gradient_norms(stack, x, y)[index])

    return measure


@pytest.mark.parametrize("cast", [float, np.float32, np.asarray])
def test_depth_gradient_accepts_the_measurement(cast):
    assert _passes("06.depth_gradient", _gradient(cast=cast))


@pytest.mark.parametrize(
    "answer, hint",
    [
        (_gradient(-1), "LAST layer's gradient"),
        (_gradient(1), "another layer's gradient"),
        (_gradient(use_skip=False), "pass `skip` on"),
        (_gradient(own_data=True), "on the x and y the function receives"),
    ],
)
def test_depth_gradient_mistakes(answer, hint):
    _rejected("06.depth_gradient", answer, hint)


@pytest.mark.parametrize(
    "answer",
    [
        lambda depth, skip, x, y: 1.0 if skip else 0.25**depth,
        lambda depth, skip, x, y: 1.0 + 0.01 * depth if skip else 4.0**-depth,
    ],
)
def test_depth_gradient_rejects_made_up_measurements(answer):
    """Both had the right shape of story and used to pass: the check now re-measures."""
    _rejected("06.depth_gradient", answer, "not the first-layer gradient norm the check measures")


@pytest.mark.parametrize(
    "value, match",
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        ([1.0, 2.0], "expected one number"),
        ("small", "expected a number"),
    ],
)
def test_depth_gradient_rejects_malformed_answers_with_a_sentence(value, match):
    _rejected("06.depth_gradient", lambda depth, skip, x, y: value, match)


# --- 06.densenet_channels --------------------------------------------------------------------
def test_densenet_reference_matches_keras():
    model = keras.applications.DenseNet121(weights=None)
    ends = [
        model.get_layer(f"conv{b}_block{n}_concat").output.shape[-1]
        for b, n in zip((2, 3, 4, 5), (6, 12, 24, 16))
    ]
    assert ex06.densenet_channels_reference(64, (6, 12, 24, 16), 32, 0.5) == ends


def _floor_version(c0, sizes, k, theta):
    channels, out = c0, []
    for i, size in enumerate(sizes):
        channels += size * k
        out.append(channels)
        if i < len(sizes) - 1:
            channels = math.floor(channels * theta)
    return out


def _as_array(*args):
    return np.array(_floor_version(*args))


def _as_numpy_ints(*args):
    return [np.int64(v) for v in _floor_version(*args)]


@pytest.mark.parametrize("answer", [_floor_version, _as_array, _as_numpy_ints])
def test_densenet_channels_accepts_right_answers(answer):
    assert _passes("06.densenet_channels", answer)


def test_densenet_channels_mistakes():
    def no_compression(c0, sizes, k, theta):
        return _floor_version(c0, sizes, k, 1.0)

    def from_c0(c0, sizes, k, theta):
        return [c0 + s * k for s in sizes]

    def off_by_one(c0, sizes, k, theta):
        channels, out = c0, []
        for i, s in enumerate(sizes):
            channels += (s - 1) * k
            out.append(channels)
            channels = int(channels * theta) if i < len(sizes) - 1 else channels
        return out

    for wrong, hint in [
        (no_compression, "floor\\(c · compression\\)"),
        (from_c0, "not from c0"),
        (off_by_one, "off by one"),
        (lambda c0, s, k, th: list(range(sum(s))), "not one per layer"),
    ]:
        _rejected("06.densenet_channels", wrong, hint)


@pytest.mark.parametrize(
    "answer",
    [
        lambda *a: [256, 512, 1024, 1024],  # DenseNet-121's answer, hard-coded
        lambda c0, s, k, th: [np.nan] * len(s),
        lambda *a: None,
        lambda *a: (v for v in _floor_version(*a)),
    ],
)
def test_densenet_channels_rejects_made_up_and_malformed_answers(answer):
    _rejected("06.densenet_channels", answer, "for c0=")


def test_densenet_channels_calling_the_checks_reference_is_not_done():
    """It used to get a ✓: the check's own reference gives the right numbers, but is no answer."""
    _rejected("06.densenet_channels", ex06.densenet_channels_reference, "does not count as done")
    assert ex06.densenet_channels_reference.__name__ == "densenet_channels_reference"
    _rejected(
        "06.densenet_channels",
        lambda *args: ex06.densenet_channels_reference(*args),
        "does not count as done",
    )
