"""Notebook 02's exhaustive checks: cnnlib.lessons.kernels, and NumPy convolution against Keras Conv2D.

The notebook shows one comparison per idea; here every gallery kernel, several strides, filter
counts and channel counts are compared, and the one-neuron formula is checked at every position.
"""

import numpy as np
import pytest

from cnnlib import ops
from cnnlib.lessons import kernels
from cnnlib.lessons.keras_reference import keras_conv

RANDOM = np.random.default_rng(20)


def neuron_formula(x, w, b, stride):
    """z[r, c, m] = b_m + Σ_i Σ_j Σ_k x[r·s + i, c·s + j, k] · w[i, j, k, m], written out."""
    (kh, kw, channels, filters), (sh, sw) = w.shape, stride
    rows = (x.shape[0] - kh) // sh + 1
    cols = (x.shape[1] - kw) // sw + 1
    z = np.zeros((rows, cols, filters))
    for r in range(rows):
        for c in range(cols):
            for m in range(filters):
                z[r, c, m] = b[m] + sum(
                    x[r * sh + i, c * sw + j, k] * w[i, j, k, m]
                    for i in range(kh)
                    for j in range(kw)
                    for k in range(channels)
                )
    return z


@pytest.mark.parametrize("name", list(kernels.gallery()))
def test_every_gallery_kernel_agrees_with_keras(name):
    kernel = kernels.gallery()[name]
    image = RANDOM.random((17, 13)).astype(np.float32)
    assert kernels.largest_difference(ops.conv2d(image, kernel), keras_conv(image, kernel)) < 1e-5


@pytest.mark.parametrize(
    "shape, kernel_shape, stride",
    [
        ((9, 11, 3), (3, 3, 3, 4), (1, 1)),
        ((9, 11, 3), (3, 3, 3, 4), (2, 2)),
        ((10, 7, 2), (2, 3, 2, 5), (2, 1)),
        ((8, 8, 5), (1, 1, 5, 2), (3, 3)),
        ((7, 9, 1), (4, 2, 1, 1), (1, 2)),
    ],
)
def test_the_neuron_formula_gives_every_keras_output(shape, kernel_shape, stride):
    x = RANDOM.random(shape).astype(np.float32)
    w = RANDOM.normal(size=kernel_shape).astype(np.float32)
    b = RANDOM.normal(size=kernel_shape[-1]).astype(np.float32)
    expected = keras_conv(x, w, bias=b, strides=stride)
    assert np.allclose(neuron_formula(x, w, b, stride), expected, atol=1e-4)
    assert np.allclose(ops.conv2d(x, w, stride=stride) + b, expected, atol=1e-4)


def test_keras_conv_with_relu_and_a_single_slice_kernel():
    image = RANDOM.normal(size=(12, 12, 3)).astype(np.float32)
    kernel = RANDOM.normal(size=(3, 3, 3)).astype(np.float32)
    expected = np.maximum(ops.conv2d(image, kernel) - 0.2, 0)
    got = keras_conv(image, kernel, bias=-0.2, activation="relu")[..., 0]
    assert np.allclose(got, expected, atol=1e-5)


def test_keras_conv_names_a_channel_mismatch():
    with pytest.raises(ValueError, match="3 slices.*2 channels"):
        keras_conv(np.zeros((5, 5, 2)), np.zeros((3, 3, 3)))


def test_largest_difference_refuses_different_shapes():
    with pytest.raises(ValueError, match="cannot compare"):
        kernels.largest_difference(np.zeros((3, 3)), np.zeros((4, 4)))


def test_line_detectors_answer_their_own_line_most():
    pictures = kernels.line_pictures(15)
    for angle in kernels.LINE_ANGLES:
        answers = {
            a: ops.conv2d(p, kernels.line_detector(angle)).max() for a, p in pictures.items()
        }
        assert answers[angle] == 6 and all(v <= 3 for a, v in answers.items() if a != angle)
    with pytest.raises(ValueError, match="angle must be one of"):
        kernels.line_detector(30)


@pytest.mark.parametrize("angle", kernels.LINE_ANGLES)
def test_line_orientation_finds_the_angle_of_a_drawn_line(angle):
    picture = kernels.line_pictures(31)[angle]
    found = kernels.line_orientation(picture)[picture > 0][5:-5]  # away from the ends
    assert np.all(kernels.angle_gap(found, angle) < 5)


def test_angle_gap_treats_lines_as_undirected():
    assert kernels.angle_gap(170, 10) == 20 and kernels.angle_gap(0, 90) == 90


def test_for_display_scales():
    result = np.array([[-2.0, 0.0], [1.0, 3.0]])
    assert np.allclose(kernels.for_display(result, np.array([1.0, -1.0])).max(), 1)  # |·|
    assert np.array_equal(kernels.for_display(result, np.array([1.0])), np.clip(result, 0, 1))
    stretched = kernels.for_display(result, np.array([-1.0, -1.0]))
    assert stretched.min() == 0 and stretched.max() == 1


def test_gallery_sums():
    gallery = kernels.gallery()
    sums = {name: float(k.sum()) for name, k in gallery.items()}
    assert sum(np.isclose(s, 0) for s in sums.values()) == 10
    assert np.isclose(sums["negative corners"], -4)
    assert np.isclose(sums["edge enhance (Pillow's)"], 1)


def test_pillows_edge_enhance_is_the_gallery_kernel():
    from PIL import ImageFilter

    size, scale, offset, weights = ImageFilter.EDGE_ENHANCE.filterargs
    pillow = np.array(weights, dtype=float).reshape(size) / scale
    assert offset == 0 and np.allclose(pillow, kernels.gallery()["edge enhance (Pillow's)"])


def test_figures_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = RANDOM.random((20, 20, 3))
    figure = kernels.show_filter_volume(image, RANDOM.normal(size=(3, 3, 3)), 0.1, position=(2, 2))
    figure.savefig(tmp_path / "volume.png")
    gallery = {n: k for n, k in list(kernels.gallery().items())[:4]}
    gray = image[..., 0]
    figure = kernels.show_gallery(
        gray, gallery, {n: ops.conv2d(gray, k) for n, k in gallery.items()}
    )
    figure.savefig(tmp_path / "gallery.png")
    plt.close("all")


def test_filter_volume_refuses_a_kernel_that_does_not_fit_the_image():
    """A (3, 3, 4) kernel on an RGB image used to fail deep inside a drawing loop."""
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises(
        ValueError, match=r"\(kh, kw, C\) kernel, got \(20, 20, 3\) and \(3, 3, 4\)"
    ):
        kernels.show_filter_volume(RANDOM.random((20, 20, 3)), RANDOM.normal(size=(3, 3, 4)), 0.1)
