"""Where CNNs come from, in code: receptive fields, "simple" and "complex" cells, pixel correlation.

Toy models of what Hubel and Wiesel measured in the visual cortex, small enough to compute on a
photo: a simple cell is an oriented edge detector over a small window, a complex cell takes the
strongest simple-cell answer in a neighbourhood. Notebook 01 shows them; notebooks 02–04 build
the real layers (convolution, stride, pooling) they stand for.
"""

import numpy as np

from cnnlib import ops


def window_corners(image_size, field, stride):
    """Top-left corners (row, col) of square `field`-wide windows every `stride` pixels.

    Notebook 01 draws these windows as toy receptive fields on a photo. (Not to be confused with
    `cnnlib.lessons.fields.receptive_fields`, which computes how far a stack of layers sees.)

    The windows overlap when stride < field and tile the whole image when (image_size − field)
    is a multiple of stride: exactly the positions a valid convolution visits.
    """
    if not 1 <= field <= image_size:
        raise ValueError(f"field must be between 1 and image_size={image_size}, got {field}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    starts = range(0, image_size - field + 1, stride)
    return [(row, col) for row in starts for col in starts]


def coverage(image_size, field, stride):
    """How many of the `window_corners` windows contain each pixel: an (n, n) int array."""
    counts = np.zeros((image_size, image_size), dtype=int)
    for row, col in window_corners(image_size, field, stride):
        counts[row : row + field, col : col + field] += 1
    return counts


def oriented_edge_kernel(angle, size=5, sigma=1.0):
    """A derivative-of-Gaussian kernel that answers most to an edge at `angle` degrees.

    angle 0 finds vertical edges (brightness changing left to right), 90 horizontal ones. The
    weights sum to zero, so a flat patch gives no answer, like a simple cell without a stimulus.
    """
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(float)
    theta = np.deg2rad(angle)
    along = x * np.cos(theta) + y * np.sin(theta)  # distance across the edge
    kernel = along * np.exp(-(x**2 + y**2) / (2 * sigma**2))
    kernel -= kernel.mean()
    return kernel / np.abs(kernel).sum()


def simple_cell(image, angle, size=5):
    """Rectified response of an oriented edge detector at every pixel (same size as `image`)."""
    response = ops.conv2d(
        np.asarray(image, dtype=float), oriented_edge_kernel(angle, size), padding="same"
    )
    return np.maximum(response, 0.0)


def complex_cell(response, size=8):
    """Strongest simple-cell answer within a `size` × `size` neighbourhood of every pixel."""
    return ops.pool2d(response, size, stride=1, mode="max", padding="same")


def neighbour_correlation(image, distance, axis):
    """Pearson correlation between each pixel and the one `distance` pixels further along `axis`."""
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey image, got shape {image.shape}")
    n = image.shape[axis]
    if not 1 <= distance < n:
        raise ValueError(
            f"distance must be between 1 and {n - 1} along axis {axis}, got {distance}"
        )
    first = np.take(image, range(0, n - distance), axis=axis).ravel()
    second = np.take(image, range(distance, n), axis=axis).ravel()
    return float(np.corrcoef(first, second)[0, 1])
