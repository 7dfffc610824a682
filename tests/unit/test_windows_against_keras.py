"""Notebook 03's exhaustive checks, moved out of the lecture: output sizes, 'same' padding, strides.

The notebook shows one comparison with Keras per idea; these tests run the full sweeps.
"""

import numpy as np
import pytest

from cnnlib import ops
from cnnlib.lessons.fields import Layer, receptive_fields
from cnnlib.lessons.windows import coverage, dilate

keras = pytest.importorskip("keras")
from cnnlib.lessons.keras_reference import keras_conv  # noqa: E402  (needs Keras)


def _keras_layers(f, s, padding):
    if padding == "full":
        return [keras.layers.ZeroPadding2D(f - 1), keras.layers.Conv2D(1, f, strides=s)]
    return [keras.layers.Conv2D(1, f, strides=s, padding=padding)]


def _keras_length(layers, n):
    x = np.zeros((1, n, n, 1), dtype="float32")
    for layer in layers:
        x = layer(x)
    return x.shape[1]


def _formula(n, f, s, padding):
    if padding == "same":
        return -(-n // s)  # ceil(n / s)
    p = {"valid": 0, "full": f - 1}[padding]
    return (n + 2 * p - f) // s + 1


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("f", [1, 3, 5])
def test_output_size_formula_matches_keras_for_every_input_size(padding, s, f):
    # 3 paddings × 3 strides × 3 kernels × 8 sizes = the notebook's former 216-case sweep.
    layers = _keras_layers(f, s, padding)
    for n in range(5, 13):
        expected = _keras_length(layers, n)
        assert _formula(n, f, s, padding) == expected
        assert ops.output_size(n, f, padding=padding, stride=s) == expected
        (field,) = receptive_fields([Layer(f, stride=s, padding=padding)], input_size=n)
        assert field.output == (expected, expected)


@pytest.mark.parametrize("n, f, s", [(6, 3, 2), (5, 2, 1), (7, 4, 1), (8, 3, 3), (10, 5, 4)])
def test_same_padding_puts_the_odd_pixel_after_the_image_as_keras_does(n, f, s):
    (top, bottom), (left, right) = ops.padding_amounts((n, n), f, stride=s, padding="same")
    assert bottom - top in (0, 1) and right - left in (0, 1)
    # An impulse in the top-left corner meets the kernel weight numbered (top, left) + 1.
    corner = np.zeros((n, n))
    corner[0, 0] = 1.0
    numbered = np.arange(1, f * f + 1, dtype=float).reshape(f, f)
    result = keras_conv(corner, numbered, strides=s, padding="same")
    assert result[0, 0] == numbered[top, left]
    np.testing.assert_allclose(ops.conv2d(corner, numbered, stride=s, padding="same"), result)


def test_the_notebooks_six_by_six_example():
    assert ops.padding_amounts((6, 6), 3, stride=2, padding="same") == ((0, 1), (0, 1))


@pytest.mark.parametrize("stride", [(1, 1), (2, 2), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_strided_convolution_matches_keras_and_subsamples_stride_one(stride, padding):
    random = np.random.default_rng(0)
    image, kernel = random.normal(size=(9, 7)), random.normal(size=(3, 3))
    ours = ops.conv2d(image, kernel, stride=stride, padding=padding)
    np.testing.assert_allclose(
        ours, keras_conv(image, kernel, strides=stride, padding=padding), atol=1e-5
    )
    if padding == "valid":
        np.testing.assert_allclose(ours, ops.conv2d(image, kernel)[:: stride[0], :: stride[1]])


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_dilation_is_a_zero_spread_kernel(rate):
    random = np.random.default_rng(rate)
    image, kernel = random.random((14, 13)), random.normal(size=(3, 2))
    np.testing.assert_allclose(
        ops.conv2d(image, dilate(kernel, rate)),
        keras_conv(image, kernel, dilation_rate=rate),
        atol=1e-5,
    )


def test_coverage_counts_windows_and_finds_skipped_pixels():
    assert coverage((7, 7), 3)[0, 0] == 1 and coverage((7, 7), 3)[3, 3] == 9
    assert (coverage((7, 7), 3, padding="full") == 9).all()
    skipped = coverage((6, 6), 3, stride=2)
    assert (skipped[5] == 0).all() and (skipped[:, 5] == 0).all() and skipped[:5, :5].min() >= 1
    assert coverage((6, 6), 3, stride=2, padding="same").min() >= 1
    # A stride larger than the kernel skips pixels between every two windows.
    assert (coverage((8, 8), 2, stride=4)[:, 2:4] == 0).all()


def test_window_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="rate"):
        dilate(np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        dilate(np.ones(3), 2)
    with pytest.raises(ValueError, match="does not fit"):
        coverage((3, 3), 5)
    with pytest.raises(ValueError, match="has 2 slices but the image"):
        keras_conv(np.ones((4, 4, 1)), np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, C\)"):
        keras_conv(np.ones(4), np.ones((3, 3)))
