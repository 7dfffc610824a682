"""Notebook 04's exhaustive check, moved out of the lecture: cnnlib.ops pooling equals Keras's
MaxPooling2D, AveragePooling2D and global pooling on random multi-channel inputs (odd and even
sizes, windows 2 and 3, strides 1 to 3 and unequal, 'valid' and 'same')."""

import itertools

import keras
import numpy as np
import pytest

import cnnlib  # noqa: F401  (sets the Keras backend before keras is imported)
from cnnlib import ops
from cnnlib.lessons.keras_reference import apply_layer
from cnnlib.lessons.pooling import relative_change, upsample

SHAPES = [(7, 7, 3), (8, 6, 4), (9, 10, 1), (12, 12, 5)]
LAYERS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}
CASES = list(
    itertools.product(SHAPES, ("max", "avg"), (2, 3), (1, 2, 3, (2, 1)), ("valid", "same"))
)


@pytest.mark.parametrize("shape, mode, size, stride, padding", CASES)
def test_pool2d_equals_keras(shape, mode, size, stride, padding):
    x = np.random.default_rng(hash((shape, size)) % 2**32).normal(size=shape).astype("float32")
    ours = ops.pool2d(x, size=size, stride=stride, mode=mode, padding=padding)
    theirs = apply_layer(LAYERS[mode](size, strides=stride, padding=padding), x)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_global_pooling_equals_keras(shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    for ours, layer in [
        (ops.global_avg_pool2d(x), keras.layers.GlobalAveragePooling2D()),
        (ops.global_max_pool2d(x), keras.layers.GlobalMaxPooling2D()),
    ]:
        theirs = keras.ops.convert_to_numpy(layer(x[None]))[0]
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_the_sweep_has_the_size_the_notebook_used_to_run():
    assert len(CASES) + 2 * len(SHAPES) == 136


def test_same_average_pooling_does_not_count_the_padding():
    out = apply_layer(keras.layers.AveragePooling2D(2, padding="same"), np.ones((5, 5, 1)))
    assert out.shape == (3, 3, 1) and np.allclose(out, 1.0)
    assert np.allclose(ops.pool2d(np.ones((5, 5, 1)), 2, mode="avg", padding="same"), 1.0)


def test_apply_layer_keeps_a_2d_image_2d():
    out = apply_layer(keras.layers.MaxPooling2D(2), np.arange(16.0).reshape(4, 4))
    assert out.shape == (2, 2) and out[1, 1] == 15
    with pytest.raises(ValueError, match="image must be"):
        apply_layer(keras.layers.MaxPooling2D(2), np.zeros(4))


def test_relative_change_and_upsample():
    assert relative_change([3.0, 4.0], [3.0, 4.0]) == 0
    assert relative_change([3.0, 4.0], [0.0, 0.0]) == 1
    with pytest.raises(ValueError, match="differ in size"):
        relative_change([1.0], [1.0, 2.0])
    assert upsample(np.array([[1, 2]]), 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]
