"""Notebook 06's exercises: solutions pass, typical mistakes get their hint, stubs wait."""

import contextlib
import io

import keras
import numpy as np
import pytest
from keras import layers

from cnnlib import labs
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


@pytest.mark.parametrize(
    "exercise_id",
    [
        "06.one_by_one",
        "06.conv1x1",
        "06.residual_block",
        "06.depth_gradient",
        "06.densenet_channels",
    ],
)
def test_stubs_are_not_attempted(exercise_id, capsys):
    labs.check(exercise_id, None)
    labs.check(exercise_id, _stub if exercise_id != "06.one_by_one" else (None, None))
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_kinds_and_difficulties():
    items = {i: labs.REGISTRY[i] for i in labs.EXERCISES if i.startswith("06.")}
    assert len(items) == 5
    assert {item.difficulty for item in items.values()} == {"warm-up", "core", "stretch"}
    kinds = {item.kind for item in items.values()}
    assert kinds == {"predict", "implement", "design", "experiment"}


# --- 06.one_by_one ---------------------------------------------------------------------------
def test_one_by_one_matches_keras():
    layer = keras.layers.Conv2D(16, 1)
    shape = tuple(layer(keras.Input((28, 28, 192))).shape[1:])
    assert _passes("06.one_by_one", (layer.count_params(), shape))
    assert _passes("06.one_by_one", (layer.count_params(), (None, *shape)))


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
    with pytest.raises(AssertionError, match=hint):
        labs.check("06.one_by_one", answer)


# --- 06.conv1x1 ------------------------------------------------------------------------------
def test_conv1x1():
    assert _passes("06.conv1x1", lambda x, w, b: x @ w + b)
    with pytest.raises(AssertionError, match="bias is missing"):
        labs.check("06.conv1x1", lambda x, w, b: x @ w)
    with pytest.raises(AssertionError, match="no activation"):
        labs.check("06.conv1x1", lambda x, w, b: np.maximum(x @ w + b, 0))
    with pytest.raises(AssertionError, match="one channel per filter"):
        labs.check("06.conv1x1", lambda x, w, b: (x @ w + b).sum(axis=-1))


def test_conv1x1_transposed_weights():
    def transposed(x, w, b):
        return x @ w.T + b if w.shape[0] == w.shape[1] else x @ w + b

    with pytest.raises(AssertionError, match="transposed"):
        labs.check("06.conv1x1", transposed)


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


# --- 06.residual_block -----------------------------------------------------------------------
def test_residual_block_reference_passes():
    def build(x, filters, stride):
        return architectures.residual_block(x, filters, stride, name=f"r{np.random.randint(1e9)}")

    assert _passes("06.residual_block", build)


def _plain(x, filters, stride):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu")(y)


def _identity_only(x, filters, stride):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    return layers.ReLU()(layers.Add()([y, x]))


def _concatenate(x, filters, stride):
    y = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.Concatenate()([y, x])


def _stride_twice(x, filters, stride):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same")(y)
    s = layers.Conv2D(filters, 1, strides=stride)(x)
    if stride > 1:
        s = layers.MaxPooling2D(stride)(s)
    return layers.ReLU()(layers.Add()([y, s]))


@pytest.mark.parametrize(
    "builder, hint",
    [
        (_plain, "there is no shortcut"),
        (_identity_only, "projection shortcut"),
        (_concatenate, "DenseNet's concatenation"),
        (_stride_twice, "only the first convolution"),
    ],
)
def test_residual_block_mistakes(builder, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("06.residual_block", builder)


# --- 06.depth_gradient -----------------------------------------------------------------------
_DATA = np.random.default_rng(5)
_X = _DATA.normal(size=(64, 32)).astype("float32")
_Y = _DATA.normal(size=(64, 32)).astype("float32")


def _gradient(index, use_skip=True):
    def measure(depth, skip):
        stack = architectures.dense_stack(depth, 32, "sigmoid", skip and use_skip)
        return float(architectures.layer_gradient_norms(stack, _X, _Y)[index])

    return measure


def test_depth_gradient():
    assert _passes("06.depth_gradient", _gradient(0))
    with pytest.raises(AssertionError, match="measure the FIRST layer"):
        labs.check("06.depth_gradient", _gradient(-1))
    with pytest.raises(AssertionError, match="pass `skip` on"):
        labs.check("06.depth_gradient", _gradient(0, use_skip=False))
    with pytest.raises(AssertionError, match="expected one number"):
        labs.check("06.depth_gradient", lambda depth, skip: [1.0, 2.0])


# --- 06.densenet_channels --------------------------------------------------------------------
def test_densenet_reference_matches_keras():
    model = keras.applications.DenseNet121(weights=None)
    ends = [
        model.get_layer(f"conv{b}_block{n}_concat").output.shape[-1]
        for b, n in zip((2, 3, 4, 5), (6, 12, 24, 16))
    ]
    assert ex06.densenet_channels_reference(64, (6, 12, 24, 16), 32, 0.5) == ends


def test_densenet_channels():
    assert _passes("06.densenet_channels", ex06.densenet_channels_reference)

    def no_compression(c0, sizes, k, theta):
        return ex06.densenet_channels_reference(c0, sizes, k, 1.0)

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
    ]:
        with pytest.raises(AssertionError, match=hint):
            labs.check("06.densenet_channels", wrong)
