"""cnnlib.lessons.vision: the toy receptive fields and cells of notebook 01."""

import numpy as np
import pytest

from cnnlib import ops
from cnnlib.lessons import vision


@pytest.mark.parametrize("n, field, stride", [(64, 16, 8), (30, 5, 5), (10, 3, 1), (11, 9, 2)])
def test_fields_are_the_positions_of_a_valid_convolution(n, field, stride):
    corners = vision.window_corners(n, field, stride)
    positions = ops.output_size(n, field, 0, stride)
    assert len(corners) == positions**2
    counts = vision.coverage(n, field, stride)
    assert counts.sum() == len(corners) * field * field
    if (n - field) % stride == 0:
        assert counts.min() >= 1  # they tile the whole image
    assert (counts.max() > 1) == (stride < field)  # and overlap when stride < field


def test_fields_refuse_bad_sizes():
    with pytest.raises(ValueError, match="field"):
        vision.window_corners(8, 9, 1)
    with pytest.raises(ValueError, match="stride"):
        vision.window_corners(8, 3, 0)


@pytest.mark.parametrize("angle", [0, 45, 90, 135])
def test_oriented_kernel_sums_to_zero_and_prefers_its_angle(angle):
    kernel = vision.oriented_edge_kernel(angle)
    assert abs(kernel.sum()) < 1e-12
    y, x = np.mgrid[-16:16, -16:16]
    theta = np.deg2rad(angle)
    edge = (x * np.cos(theta) + y * np.sin(theta) > 0).astype(float)  # dark → bright along angle
    centre = (slice(10, 22), slice(10, 22))
    best = vision.simple_cell(edge, angle)[centre].max()
    for other in (angle + 90, angle + 180):
        assert vision.simple_cell(edge, other)[centre].max() < best / 2


def test_complex_cell_is_stride_one_same_max_pooling():
    response = np.random.default_rng(0).uniform(size=(12, 9))
    assert np.array_equal(
        vision.complex_cell(response, 4), ops.pool2d(response, 4, 1, mode="max", padding="same")
    )


def test_neighbour_correlation():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 200))
    assert abs(vision.neighbour_correlation(noise, 1, axis=1)) < 0.05
    ramp = np.tile(np.arange(50.0), (20, 1))
    assert vision.neighbour_correlation(ramp, 3, axis=1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="distance"):
        vision.neighbour_correlation(ramp, 50, axis=1)
    with pytest.raises(ValueError, match="2-D"):
        vision.neighbour_correlation(np.zeros((4, 4, 3)), 1, axis=1)
