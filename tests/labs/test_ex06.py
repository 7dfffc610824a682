"""Notebook 06's exercises, answered as learners answer them.

For every exercise: the stub is "not attempted yet"; right answers written the ways learners write
them pass; the usual mistakes fail with the hint aimed at their cause; a made-up answer fails; and
an object that looks up the call stack for the expected value gets nothing (the answer becomes
plain values before anything expected exists).
"""

import inspect
import json
import math
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from learners import (
    PeekingArray,
    PeekingFloat,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    stub,
)

from cnnlib import labs, ops
from cnnlib.labs import core, ex06
from cnnlib.lessons import architectures

IDS = [
    "06.one_by_one",
    "06.conv1x1",
    "06.bottleneck_block",
    "06.depth_gradient",
    "06.densenet_channels",
]
NOTEBOOK = pathlib.Path(__file__).parents[2] / "notebooks" / "06_architectures_after_lenet.ipynb"


def passes(exercise_id, answer):
    return labs.passes(exercise_id, answer)


def rejected(exercise_id, answer, match=""):
    """The check says ✗ (a CheckFailed, never another exception) with `match` in its text."""
    with pytest.raises(core.CheckFailed) as caught:
        labs.check(exercise_id, answer)
    text = str(caught.value)
    assert match in text, text
    return text


@pytest.mark.parametrize("exercise_id", IDS)
def test_stubs_are_not_attempted(exercise_id, capsys):
    labs.check(exercise_id, None)
    shipped = {"parameters": None, "output shape": None} if exercise_id == "06.one_by_one" else stub
    labs.check(exercise_id, shipped)
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_every_exercise_is_in_the_three_piece_form():
    items = {i: labs.REGISTRY[i] for i in labs.REGISTRY if i.startswith("06.")}
    assert sorted(items) == sorted(IDS)
    assert {item.difficulty for item in items.values()} == {"warm-up", "core", "stretch"}
    assert {item.kind for item in items.values()} == {
        "predict",
        "implement",
        "design",
        "experiment",
    }
    for exercise_id in IDS:  # the trials cross the wire
        core.new_trials(exercise_id, 1)


def test_no_private_copies_of_toolbox_helpers():
    defined = {name for name, _ in inspect.getmembers(ex06, inspect.isfunction)}
    assert not defined & {
        "_number",
        "_sizes",
        "_watch",
        "_forbidden_convolutions",
        "_keras_conv1x1",
    }


# --- 06.one_by_one: module 4a's 5×5 reduce, Conv2D(16, 1) on 14 × 14 × 480 ----------------------
def test_one_by_one_answer_is_what_keras_builds():
    layer = keras.layers.Conv2D(16, 1)
    assert tuple(layer(keras.Input((14, 14, 480))).shape[1:]) == (14, 14, 16)
    assert layer.count_params() == 480 * 16 + 16 == 7696


@pytest.mark.parametrize(
    "parameters, shape",
    [
        (7696, (14, 14, 16)),
        (480 * 16 + 16, [14, 14, 16]),
        (np.int64(7696), (np.int32(14), np.int64(14), np.int16(16))),
        (7696.0, (None, 14, 14, 16)),  # Keras writes the batch axis as None
        (7696, np.array([14, 14, 16])),
    ],
)
def test_one_by_one_accepts_every_form_of_the_right_answer(parameters, shape):
    assert passes("06.one_by_one", {"parameters": parameters, "output shape": shape})


@pytest.mark.parametrize(
    "parameters, shape, hint",
    [
        (7680, (14, 14, 16), "biases are missing"),
        (32, (14, 14, 16), "one weight per input channel"),
        (14 * 14 * 480 * 16 + 16, (14, 14, 16), "weights are shared"),
        (480 * 16 + 480, (14, 14, 16), "one bias per filter"),
        (3088, (14, 14, 16), "module 3a's layer"),  # the layer the 1×1 section computes
        (7696, (14, 14, 480), "one channel per filter"),
        (7696, (13, 13, 16), "does not shrink"),
        (7696, (28, 28, 16), "already halved"),
        (7696, (16, 14, 14), "channels last"),
    ],
)
def test_one_by_one_mistakes(parameters, shape, hint):
    message = rejected("06.one_by_one", {"parameters": parameters, "output shape": shape}, hint)
    assert "7696" not in message and "7,696" not in message  # never the expected value


@pytest.mark.parametrize(
    "answer, match",
    [
        ({"parameters": 7696, "output shape": None}, "fill in every part"),  # half-filled
        ({"parameters": None, "output shape": (14, 14, 16)}, "fill in every part"),
        ((7696, (14, 14, 16)), "expected a dict"),  # the old form: told what is expected
        ({"params": 7696, "shape": (14, 14, 16)}, "missing 'parameters', 'output shape'"),
        ({"parameters": 7696.5, "output shape": (14, 14, 16)}, "not a whole number"),
        ({"parameters": "7696", "output shape": (14, 14, 16)}, "parameters"),
        ({"parameters": 7696, "output shape": (14.5, 14, 16)}, "not a whole number"),
        ({"parameters": 7696, "output shape": "14x14x16"}, "expected a shape"),
        ({"parameters": float("nan"), "output shape": (14, 14, 16)}, "not a finite number"),
        ({"parameters": True, "output shape": (14, 14, 16)}, "parameters"),
    ],
)
def test_one_by_one_malformed_answers_get_a_sentence(answer, match):
    rejected("06.one_by_one", answer, match)


def test_one_by_one_made_up_and_peeking_answers():
    rejected("06.one_by_one", {"parameters": 1234, "output shape": (28, 28, 5)})
    rejected("06.one_by_one", {"parameters": PeekingFloat(1), "output shape": (14, 14, 16)})


def test_one_by_one_says_less_after_a_few_wrong_tries():
    for _ in range(core.DETAILED_TRIES):
        rejected("06.one_by_one", {"parameters": 7680, "output shape": (14, 14, 16)}, "biases")
    text = rejected("06.one_by_one", {"parameters": 7680, "output shape": (14, 14, 16)})
    assert "biases" not in text and "no longer says which part" in text


# --- 06.conv1x1 ----------------------------------------------------------------------------------
def loops(x, w, b):
    out = np.zeros(x.shape[:2] + (w.shape[1],))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] @ w + b
    return out


def via_dense(x, w, b):
    dense = keras.layers.Dense(w.shape[1])
    dense.build((None, w.shape[0]))
    dense.set_weights([w, b])
    return keras.ops.convert_to_numpy(dense(x))


@pytest.mark.parametrize(
    "answer",
    [
        lambda x, w, b: x @ w + b,
        lambda x, w, b: np.einsum("hwc,ck->hwk", x, w) + b,
        lambda x, w, b: np.tensordot(x, w, axes=1) + b,
        lambda x, w, b: (x.reshape(-1, x.shape[-1]) @ w + b).reshape(*x.shape[:2], -1),
        lambda x, w, b: (x @ w + b).astype(np.float32),
        loops,
        lambda x, w, b: tf.einsum("hwc,ck->hwk", x, w).numpy() + b,  # TensorFlow is no convolution
        lambda x, w, b: keras.ops.convert_to_numpy(keras.ops.matmul(x, w)) + b,
    ],
)
def test_conv1x1_accepts_right_answers(answer):
    assert passes("06.conv1x1", answer)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (lambda x, w, b: x @ w, "bias is missing"),
        (lambda x, w, b: np.maximum(x @ w + b, 0), "no activation"),
        (lambda x, w, b: (x @ w + b).sum(axis=-1), "keeps a channel axis"),
        (lambda x, w, b: x @ w.T + b if w.shape[0] == w.shape[1] else x @ w + b, "transposed"),
        (lambda x, w, b: x + b.mean(), "C_out channels"),
        (lambda x, w, b: np.ones(x.shape[:2] + b.shape), ""),  # made up
        (lambda x, w, b: PeekingArray(np.zeros(x.shape[:2] + b.shape)), ""),
    ],
)
def test_conv1x1_mistakes(answer, hint):
    rejected("06.conv1x1", answer, hint)


def aliased(x, w, b):
    from cnnlib.ops import conv2d as matrix_product  # noqa: PLC0415

    return matrix_product(x, w[None, None]) + b


@pytest.mark.parametrize(
    "answer, name",
    [
        (lambda x, w, b: ops.conv2d(x, w[None, None]) + b, "cnnlib.ops.conv2d"),
        (aliased, "conv2d"),  # the alias route used to pass
        (
            lambda x, w, b: (
                keras.ops.convert_to_numpy(keras.ops.conv(x[None], w[None, None]))[0] + b
            ),
            "keras.ops.conv",
        ),
        (
            lambda x, w, b: tf.nn.conv2d(x[None], w[None, None], 1, "VALID").numpy()[0] + b,
            "conv2d",
        ),
        (
            lambda x, w, b: keras.layers.Conv2D(w.shape[1], 1)(x[None])[0].numpy() * 0 + x @ w + b,
            "Conv2D",
        ),
        (via_dense, "keras.layers.Dense"),  # the lecture's Conv2D = Dense demonstration
    ],
)
def test_conv1x1_a_library_convolution_is_not_the_exercise(answer, name):
    text = rejected("06.conv1x1", answer, "which this exercise asks you to do without")
    assert name in text


def test_conv1x1_judge_agrees_with_keras():
    rng = np.random.default_rng(0)
    for case in ex06.conv1x1_trials(rng):
        x, w, b = case["x"], case["weights"], case["bias"]
        layer = keras.layers.Conv2D(w.shape[1], 1)
        layer.build((None, *x.shape))
        layer.set_weights([w[None, None], b])
        keras_out = keras.ops.convert_to_numpy(layer(x[None]))[0]
        assert core.judge("06.conv1x1", (keras_out,) + (None,) * 4, [case] * 5).status == "wrong"
        assert core.judge("06.conv1x1", (keras_out,) * 5, [case] * 5).status == "correct"


# --- 06.bottleneck_block -------------------------------------------------------------------------
def bottleneck(x, filters, stride, stride_on_3x3=False, bias=False):
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


def as_builder(block):
    """The exercise's form: build_bottleneck_block(input_shape, filters, stride) -> keras.Model."""

    def build(input_shape, filters, stride):
        x = keras.Input(shape=input_shape)
        return keras.Model(x, block(x, filters, stride))

    return build


def torchvision(x, filters, stride):
    return bottleneck(x, filters, stride, stride_on_3x3=True, bias=True)


def zero_init_residual(x, filters, stride):  # the last BN's γ starts at 0 (Goyal et al. 2017)
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    y = layers.BatchNormalization(gamma_initializer="zeros")(layers.Conv2D(4 * filters, 1)(y))
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride)(x)
    return layers.Activation("relu")(layers.add([y, shortcut]))


def nested_branch(x, filters, stride):
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
    return layers.ReLU()(layers.Add()([branch(x), shortcut]))


def pool_shortcut(x, filters, stride):  # ResNet-D: average-pool, then a 1×1 projection
    y = layers.Conv2D(filters, 1, activation="relu")(x)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(y)
    y = layers.Conv2D(4 * filters, 1)(y)
    shortcut = layers.AveragePooling2D(stride, padding="same")(x) if stride > 1 else x
    if x.shape[-1] != 4 * filters:
        shortcut = layers.Conv2D(4 * filters, 1)(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def sequential_helper(input_shape, filters, stride):  # a learner's own layout of the builder
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, bottleneck(inputs, filters, stride), name="my_block")


@pytest.mark.parametrize(
    "builder",
    [
        as_builder(bottleneck),  # the fast loop's: each check builds and runs the block
        pytest.param(as_builder(torchvision), marks=pytest.mark.slow),
        pytest.param(as_builder(zero_init_residual), marks=pytest.mark.slow),
        pytest.param(as_builder(nested_branch), marks=pytest.mark.slow),
        pytest.param(as_builder(pool_shortcut), marks=pytest.mark.slow),
        pytest.param(sequential_helper, marks=pytest.mark.slow),
    ],
)
def test_bottleneck_accepts_right_answers(builder):
    assert passes("06.bottleneck_block", builder)


def lone_1x1(x, filters, stride):
    return layers.Conv2D(4 * filters, 1, strides=stride)(x)


def plain(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    return layers.Conv2D(4 * filters, 1)(y)


def basic_block(x, filters, stride):
    y = layers.Conv2D(4 * filters, 3, strides=stride, padding="same", activation="relu")(x)
    y = layers.Conv2D(4 * filters, 3, padding="same")(y)
    return layers.ReLU()(layers.Add()([y, layers.Conv2D(4 * filters, 1, strides=stride)(x)]))


def no_expansion(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    return layers.ReLU()(layers.Add()([y, layers.Conv2D(filters, 1, strides=stride)(x)]))


def concatenate(x, filters, stride):
    y = plain(x, filters, stride)
    return layers.Concatenate()([y, layers.Conv2D(4 * filters, 1, strides=stride)(x)])


def concatenate_halves(x, filters, stride):
    """Branch and shortcut 2·filters each, concatenated: the right shape, but no addition."""
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    y = layers.Conv2D(2 * filters, 1)(y)
    shortcut = layers.Conv2D(2 * filters, 1, strides=stride)(x)
    return layers.ReLU()(layers.Concatenate()([y, shortcut]))


def stride_twice(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, activation="relu")(x)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(y)
    y = layers.Conv2D(4 * filters, 1)(y)
    return layers.ReLU()(layers.Add()([y, layers.Conv2D(4 * filters, 1, strides=stride)(x)]))


def identity_only(x, filters, stride):
    y = plain(x, filters, stride)
    return layers.ReLU()(layers.Add()([y, x]))


@pytest.mark.parametrize(
    "block, hint",
    [
        (lone_1x1, "no convolution larger than 1 × 1"),
        (plain, "there is no shortcut"),
        (basic_block, "works on the reduced maps"),
        (no_expansion, "expands the maps to 4 · filters"),
        (concatenate, "DenseNet's concatenation"),
        (concatenate_halves, "concatenating"),  # used to pass: right shape, no addition
        (stride_twice, "incompatible shapes"),  # Add refuses: Keras names both shapes
        (identity_only, "raised"),  # Add of mismatched shapes: the learner's function fails
    ],
)
def test_bottleneck_mistakes(block, hint):
    rejected("06.bottleneck_block", as_builder(block), hint)


def test_bottleneck_wrong_forms_and_tricks():
    rejected("06.bottleneck_block", bottleneck, "raised")  # the tensor-taking block itself
    rejected("06.bottleneck_block", lambda shape, f, s: None, "returned None")
    rejected("06.bottleneck_block", lambda shape, f, s: layers.Conv2D(4 * f, 1), "raised")
    fixed = keras.Input((8, 8, 64))
    one_model = keras.Model(fixed, bottleneck(fixed, 16, 1))
    rejected("06.bottleneck_block", lambda shape, f, s: one_model, "")  # one shape for all cases
    rejected("06.bottleneck_block", layers.Conv2D(64, 1), "")


def test_bottleneck_refuses_code_layers():
    def with_lambda(input_shape, filters, stride):
        x = keras.Input(input_shape)
        y = bottleneck(x, filters, stride)
        return keras.Model(x, layers.Lambda(lambda t: t * 1.0)(y))

    rejected("06.bottleneck_block", with_lambda, "only Keras's built-in layers")


# --- 06.depth_gradient ---------------------------------------------------------------------------
def measure(index=0, use_skip=True, own_data=False, cast=float):
    own = np.random.default_rng(5)
    own_x, own_y = own.normal(size=(64, 32)), own.normal(size=(64, 32))

    def first_layer_gradient(depth, skip, x, y):
        if own_data:
            x, y = own_x, own_y
        stack = architectures.dense_stack(depth, 32, "sigmoid", skip and use_skip)
        return cast(architectures.layer_gradient_norms(stack, x, y)[index])

    return first_layer_gradient


@pytest.mark.parametrize(
    "cast",
    [
        float,  # the fast loop's: each check measures gradients through deep stacks
        pytest.param(np.float32, marks=pytest.mark.slow),
        pytest.param(np.asarray, marks=pytest.mark.slow),
        pytest.param(lambda v: keras.ops.array(v), marks=pytest.mark.slow),
    ],
)
def test_depth_gradient_accepts_the_measurement(cast):
    assert passes("06.depth_gradient", measure(cast=cast))


@pytest.mark.parametrize(
    "answer, hint",
    [
        # Each check measures gradients through deep stacks: these two run in the slow loop.
        pytest.param(measure(-1), "LAST layer's gradient", marks=pytest.mark.slow),
        pytest.param(measure(1), "another layer's gradient", marks=pytest.mark.slow),
        (measure(use_skip=False), "pass `skip` on"),
        (measure(own_data=True), "measured on the x and y your function got"),
        (lambda depth, skip, x, y: 1.0 if skip else 0.25**depth, ""),  # a made-up story
        (lambda depth, skip, x, y: PeekingFloat(1.0), ""),
    ],
)
def test_depth_gradient_mistakes(answer, hint):
    rejected("06.depth_gradient", answer, hint)


@pytest.mark.parametrize(
    "value, match",
    [(float("nan"), "NaN"), ([1.0, 2.0], "number"), ("small", "number")],
)
def test_depth_gradient_malformed_answers_get_a_sentence(value, match):
    rejected("06.depth_gradient", lambda depth, skip, x, y: value, match)


def _notebook_cell(marker):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    found = [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and marker in "".join(c["source"])
    ]
    assert len(found) == 1, f"expected one code cell with {marker!r}, found {len(found)}"
    return found[0]


def test_the_notebooks_gradient_measurement_agrees_with_the_judges():
    """The notebook writes the 20-layer stack and the GradientTape loop out; the judge of
    06.depth_gradient uses cnnlib.lessons.architectures: the two must give the same numbers."""
    import tensorflow as tf

    space = {"keras": keras, "layers": layers, "np": np, "tf": tf}
    exec(_notebook_cell("def dense_stack("), space)  # noqa: S102 - the course's own notebook
    exec(_notebook_cell("def layer_gradient_norms("), space)  # noqa: S102
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 32)).astype("float32")
    y = rng.normal(size=(64, 32)).astype("float32")
    for depth, skip in [(3, False), (6, True)]:
        mine = space["layer_gradient_norms"](space["dense_stack"](depth, 32, "sigmoid", skip), x, y)
        theirs = architectures.layer_gradient_norms(
            architectures.dense_stack(depth, 32, "sigmoid", skip), x, y
        )
        np.testing.assert_allclose(mine, theirs, rtol=1e-5)


@pytest.mark.slow  # builds DenseNet121 (the judge's own answers are checked fast below)
# --- 06.densenet_channels ------------------------------------------------------------------------
def test_densenet_judge_matches_keras():
    model = keras.applications.DenseNet121(weights=None)
    ends = [
        model.get_layer(f"conv{b}_block{n}_concat").output.shape[-1]
        for b, n in zip((2, 3, 4, 5), (6, 12, 24, 16))
    ]
    del model
    keras.backend.clear_session()
    assert ex06._channels(64, (6, 12, 24, 16), 32, 0.5) == ends


def floor_version(c0, sizes, k, theta):
    channels, out = c0, []
    for i, size in enumerate(sizes):
        channels += size * k
        out.append(channels)
        if i < len(sizes) - 1:
            channels = math.floor(channels * theta)
    return out


def cumulative(c0, sizes, k, theta):
    ends, start = [], c0
    for size in sizes:
        ends.append(start + size * k)
        start = int(ends[-1] * theta)
    return np.array(ends)


@pytest.mark.parametrize(
    "answer",
    [
        floor_version,
        cumulative,
        lambda *a: tuple(np.int64(v) for v in floor_version(*a)),
        lambda *a: [float(v) for v in floor_version(*a)],
    ],
)
def test_densenet_channels_accepts_right_answers(answer):
    assert passes("06.densenet_channels", answer)


def no_compression(c0, sizes, k, theta):
    return floor_version(c0, sizes, k, 1.0)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (no_compression, "floor(c · compression)"),
        (lambda c0, sizes, k, theta: [c0 + s * k for s in sizes], "not from c0"),
        (lambda c0, sizes, k, theta: list(range(sum(sizes))), "not one per layer"),
        (lambda *a: [256, 512, 1024, 1024], ""),  # DenseNet-121's answer, hard-coded
        (lambda c0, s, k, th: [np.nan] * len(s), "whole numbers"),
        (lambda *a: (v for v in floor_version(*a)), "expected an array"),
        (lambda *a: PeekingArray(floor_version(*a)[:1] * len(a[1])), ""),
        (lambda *a: [v + 0.5 for v in floor_version(*a)], "whole numbers"),
    ],
)
def test_densenet_channels_mistakes(answer, hint):
    rejected("06.densenet_channels", answer, hint)


def test_densenet_off_by_one_hint():
    def off(c0, sizes, k, theta):
        channels, out = c0, []
        for i, s in enumerate(sizes):
            channels += (s - 1) * k
            out.append(channels)
            if i < len(sizes) - 1:
                channels = int(channels * theta)
        return out

    rejected("06.densenet_channels", off, "off by one")


def test_densenet_the_judges_own_helper_is_not_an_answer():
    rejected("06.densenet_channels", ex06._channels, "which this exercise asks you to do without")
    rejected(
        "06.densenet_channels",
        lambda *args: ex06._channels(*args),
        "which this exercise asks you to do without",
    )
