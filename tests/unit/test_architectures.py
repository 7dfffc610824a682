"""Notebook 06's networks and cnnlib.lessons.architectures: the counts the notebook states, in full.

The networks are written in the notebook (AlexNet, the Inception modules, GoogLeNet, the residual
block, ResNet-18, the dense block), not in the package: `lesson` reads their definitions from the
notebook's visible lecture cells (imports, functions, UPPER_CASE tables) and runs only those, so
these tests check the very code a learner reads.
"""

import ast
import json
import pathlib
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlib import ops
from cnnlib.lessons import architectures

NOTEBOOK = (
    pathlib.Path(__file__).resolve().parents[2] / "notebooks/06_architectures_after_lenet.ipynb"
)
TAUGHT = (
    "build_alexnet",
    "inception_module",
    "naive_inception_module",
    "build_googlenet",
    "residual_block",
    "build_resnet18",
    "dense_block",
)


def lecture_definitions(path=NOTEBOOK):
    """The imports, functions and UPPER_CASE tables of the lecture cells, as one module's source."""
    kept = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and source.startswith("## Exercises"):
            break
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or "verify" in tags:
            continue
        for node in ast.parse(source).body:
            table = isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id.isupper() and len(t.id) > 1 for t in node.targets
            )
            if table or isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef)):
                kept.append(ast.get_source_segment(source, node))
    return "\n\n".join(kept)


@pytest.fixture(scope="module")
def lesson():
    module = types.ModuleType("notebook06")
    exec(compile(lecture_definitions(), str(NOTEBOOK), "exec"), module.__dict__)
    return module


def test_the_notebook_writes_every_taught_model(lesson):
    missing = [name for name in TAUGHT if not callable(getattr(lesson, name, None))]
    assert not missing, f"{NOTEBOOK.name} no longer defines {missing} in a lecture cell"
    for name in ("alexnet", "inception_module", "residual_block", "resnet18", "dense_block"):
        assert not hasattr(architectures, name), f"architectures.{name} is back in the package"


def test_alexnet_dropout_acts_on_the_outputs_of_fc6_and_fc7(lesson):
    """Krizhevsky et al. 2012, §4.2: dropout in the first two fully connected layers."""
    names = [layer.name for layer in lesson.build_alexnet().layers]
    assert names[-5:] == ["fc6", "dropout6", "fc7", "dropout7", "fc8"]
    assert names.index("flatten") == names.index("fc6") - 1


def test_alexnet_counts_and_shapes(lesson):
    two, one = lesson.build_alexnet(two_gpu=True), lesson.build_alexnet(two_gpu=False)
    assert two.count_params() == 60_965_224
    assert one.count_params() == 62_378_344
    expected = {
        "conv1": (55, 96),
        "pool1": (27, 96),
        "conv2": (27, 256),
        "pool2": (13, 256),
        "conv3": (13, 384),
        "conv4": (13, 384),
        "conv5": (13, 256),
        "pool5": (6, 256),
    }
    for name, (size, channels) in expected.items():
        assert two.get_layer(name).output.shape[1:] == (size, size, channels)
    assert architectures.weight_depth(two) == 8
    assert architectures.multiply_adds(two) == 724_406_816


@pytest.mark.parametrize(
    "label, expected",
    [
        ("7x7+2(S)", ((7, 7), 2, "same")),
        ("3x3+1(S)", ((3, 3), 1, "same")),
        ("1x1+1(V)", ((1, 1), 1, "valid")),
        ("5×5 + 3 (v)", ((5, 5), 3, "valid")),
    ],
)
def test_parse_notation(label, expected):
    assert architectures.parse_notation(label) == expected


@pytest.mark.parametrize("label", ["3x3", "3x3+1", "3x3+1(X)", "conv 3x3+1(S)", ""])
def test_parse_notation_rejects_other_text(label):
    with pytest.raises(ValueError, match="must look like '3x3\\+1\\(S\\)'"):
        architectures.parse_notation(label)


@pytest.mark.parametrize(
    "label, n",
    [("7x7+2(S)", 224), ("3x3+1(S)", 57), ("5x5+3(V)", 14), ("1x1+1(V)", 28), ("3x3+2(V)", 31)],
)
def test_notation_output_size(label, n):
    (k, _), stride, padding = architectures.parse_notation(label)
    layer = architectures.conv_from_notation(label, 4)
    out = layer(keras.Input((n, n, 3))).shape[1]
    expected = -(-n // stride) if padding == "same" else ops.output_size(n, k, 0, stride)
    assert out == expected


def test_googlenet_matches_table_1(lesson):
    model = lesson.build_googlenet()
    table = {
        "3a": (28, 256),
        "3b": (28, 480),
        "4a": (14, 512),
        "4b": (14, 512),
        "4c": (14, 512),
        "4d": (14, 528),
        "4e": (14, 832),
        "5a": (7, 832),
        "5b": (7, 1024),
    }
    for key, (size, channels) in table.items():
        assert model.get_layer(f"inception_{key}_concat").output.shape[1:] == (size, size, channels)
        f1, _, f3, _, f5, proj = lesson.GOOGLENET_MODULES[key]
        assert f1 + f3 + f5 + proj == channels
    assert architectures.weight_depth(model) == 22
    assert model.count_params() == 6_998_552
    assert len(architectures.weight_layers(model)) == 58


def test_inception_module_counts_by_formula(lesson):
    c, (f1, r3, f3, r5, f5, pp) = 192, lesson.GOOGLENET_MODULES["3a"]
    inputs = keras.Input((28, 28, c))
    model = keras.Model(inputs, lesson.inception_module(inputs, f1, r3, f3, r5, f5, pp))
    weights = c * f1 + c * r3 + 9 * r3 * f3 + c * r5 + 25 * r5 * f5 + c * pp
    assert model.count_params() == weights + (f1 + r3 + f3 + r5 + f5 + pp)
    assert architectures.multiply_adds(model) == 28 * 28 * weights


@pytest.mark.slow  # seconds-long Keras builds; the course's own models check weight_depth fast
@pytest.mark.parametrize(
    "name, depth, params",
    [
        ("VGG16", 16, 138_357_544),
        ("ResNet50", 50, 25_636_712),
        ("DenseNet121", 121, 8_062_504),
    ],
)
def test_weight_depth_of_keras_applications(name, depth, params):
    model = getattr(keras.applications, name)(weights=None)
    assert architectures.weight_depth(model) == depth
    assert model.count_params() == params


def test_multiply_adds_of_a_plain_conv_and_dense():
    inputs = keras.Input((10, 12, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same")(inputs)
    outputs = keras.layers.Dense(7)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    assert architectures.multiply_adds(model) == 5 * 6 * 9 * 3 * 5 + (5 * 6 * 5) * 7


@pytest.mark.parametrize(
    "shape, filters, stride",
    [((8, 8, 16), 16, 1), ((8, 8, 16), 32, 2), ((7, 7, 3), 3, 2), ((6, 6, 4), 12, 1)],
)
def test_residual_block_shapes_and_shortcut(lesson, shape, filters, stride):
    inputs = keras.Input(shape)
    model = keras.Model(inputs, lesson.residual_block(inputs, filters, stride))
    assert model.output_shape[1:] == (-(-shape[0] // stride), -(-shape[1] // stride), filters)
    has_projection = any("projection" in layer.name for layer in model.layers)
    assert has_projection == (stride != 1 or shape[-1] != filters)
    for layer in model.layers:  # silence the residual branch: only the shortcut is left
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3):
            layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    x = tf.constant(np.random.default_rng(0).normal(size=(2, *shape)), tf.float32)
    out = model(x, training=False)
    if not has_projection:
        np.testing.assert_allclose(out.numpy(), np.maximum(x.numpy(), 0), atol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False))
    assert float(tf.norm(tape.gradient(total, x))) > 0.1


def test_resnet18_trainable_count_is_the_published_one(lesson):
    model = lesson.build_resnet18()
    assert (
        architectures.parameter_counts(model)["trainable"] == 11_689_512
    )  # torchvision's resnet18, too
    assert architectures.weight_depth(model) == 18


@pytest.mark.parametrize("c0, num_layers, k", [(64, 6, 32), (16, 3, 12), (5, 1, 7)])
def test_dense_block_growth(lesson, c0, num_layers, k):
    inputs = keras.Input((8, 8, c0))
    model = keras.Model(inputs, lesson.dense_block(inputs, num_layers, k))
    assert model.output_shape[-1] == c0 + num_layers * k
    per_layer = 2 * c0 + 4 * c0 * k  # BN γ β (trainable) of the input, then the 1×1 conv
    first = architectures.parameter_counts(model)["trainable"] if num_layers == 1 else None
    if first is not None:
        assert first == per_layer + 2 * 4 * k + 9 * 4 * k * k


def test_dense_stack_gradients_vanish_without_skips():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 8)).astype("float32")
    plain = architectures.layer_gradient_norms(architectures.dense_stack(12, 8), x, y)
    skipped = architectures.layer_gradient_norms(architectures.dense_stack(12, 8, skip=True), x, y)
    assert plain.shape == skipped.shape == (12,)
    assert plain[0] / plain[-1] < 1e-4
    assert skipped[0] > 1e3 * plain[0]


def test_dense_stack_rejects_zero_depth():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        architectures.dense_stack(0)


def test_naive_inception_module_passes_the_input_channels_on(lesson):
    inputs = keras.Input((28, 28, 192))
    model = keras.Model(inputs, lesson.naive_inception_module(inputs, 64, 128, 32))
    assert model.output_shape[-1] == 64 + 128 + 32 + 192
    assert model.count_params() == 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 + 64 + 128 + 32
