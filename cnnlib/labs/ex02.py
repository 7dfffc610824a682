"""Exercises of notebook 02 (convolution)."""
import numpy as np

from cnnlib import ops
from cnnlib.labs.core import Wrong, call, exercise, rng, same_array

# Shapes chosen so that square-only, stride-mixing and transposing mistakes all show.
_CONV_CASES = [((5, 5), (3, 3)), ((7, 4), (2, 3)), ((6, 9), (4, 1)), ((3, 3), (3, 3)), ((8, 6), (1, 2))]


@exercise("02.conv2d", "convolution from scratch: valid cross-correlation, stride 1", "implement", "core")
def check_conv2d(conv2d):
    """`conv2d(image, kernel)`: 2-D image, 2-D kernel, valid cross-correlation, stride 1."""
    random = rng(2)
    for image_shape, kernel_shape in _CONV_CASES:
        image = random.normal(size=image_shape)
        kernel = random.normal(size=kernel_shape)
        on = f"on a random {image_shape[0]}×{image_shape[1]} image with a {kernel_shape[0]}×{kernel_shape[1]} kernel"
        got = call(conv2d, image.copy(), kernel.copy(), on=on)
        expected = ops.conv2d(image, kernel)
        h, w = expected.shape
        same_array(got, expected, on, hints=[
            (ops.true_conv2d(image, kernel),
             "that is the textbook convolution, which flips the kernel; deep learning's convolution "
             "(cross-correlation) multiplies the window by the kernel as it is"),
            (ops.conv2d(image, kernel, padding="same"),
             "the exercise asks for 'valid' convolution: no padding, the kernel stays inside the image"),
            (expected.T, "rows and columns are swapped: index the output as [row, column]"),
        ], shape_hints=[
            ((h - 1, w - 1), "off by one: a k-wide kernel fits in n − k + 1 positions, not n − k"),
            ((h + 1, w + 1), "off by one: a k-wide kernel fits in n − k + 1 positions, not n − k + 2"),
            (image_shape, "the output has the input's size, as with padding; 'valid' adds no padding"),
        ])
    return f"matches cnnlib.ops.conv2d on {len(_CONV_CASES)} random images and kernels of different shapes"
