"""Exercises of notebook 01 (an image is a matrix)."""

import math

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number
from cnnlib.lessons.images import photo, to_gray
from cnnlib.lessons.vision import neighbour_correlation

# 01.batch_shape: a batch of 64 RGB photos of 224 × 224 pixels, in float32, as Keras wants it.
BATCH, SIDE, CHANNELS = 64, 224, 3


@exercise("01.batch_shape", "shape and float32 memory of a batch of photos", "predict", "warm-up")
def check_batch_shape(answer):
    """`answer` = (shape, megabytes): the batch's shape and its float32 size in MB (10⁶ bytes)."""
    try:
        shape, megabytes = answer
    except (TypeError, ValueError):
        raise Wrong("expected a pair (shape, megabytes), e.g. ((2, 3, 4, 5), 0.48)") from None
    if shape is None and megabytes is None:
        raise NotAttempted
    expected = (BATCH, SIDE, SIDE, CHANNELS)
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise Wrong(f"the shape should be a tuple of ints, got {shape!r}") from None
    if shape != expected:
        hints = {
            (BATCH, CHANNELS, SIDE, SIDE): "that is channels-first; Keras puts channels last: "
            "(N, H, W, C)",
            (BATCH, SIDE, SIDE): "the channel axis is missing: every colour image has one",
            (SIDE, SIDE, CHANNELS): "the batch axis is missing: a batch stacks images along a "
            "new first axis",
        }
        raise Wrong(f"the shape {shape} is not right", hints.get(shape))
    numbers = BATCH * SIDE * SIDE * CHANNELS
    same_number(
        megabytes,
        numbers * 4 / 1e6,
        "the float32 size in MB",
        rtol=0.01,
        hints=[
            (numbers / 1e6, "that is the size in uint8 (one byte a number); float32 takes 4 bytes"),
            (numbers * 4 / 2**20, "that is MiB (2²⁰ bytes); the exercise asks for MB = 10⁶ bytes"),
            (BATCH * SIDE * SIDE * 4 / 1e6, "the three colour channels were forgotten"),
            (numbers * 8 / 1e6, "that is float64 (8 bytes); float32 takes 4 bytes a number"),
        ],
    )
    return f"{expected}, {numbers * 4 / 1e6:.1f} MB of float32"


# 01.dense_params: Dense(128) on a flattened 32 × 32 RGB image.
DENSE_SIDE, DENSE_UNITS = 32, 128


@exercise(
    "01.dense_params",
    "parameters of a dense layer on a flattened colour image",
    "predict",
    "warm-up",
)
def check_dense_params(answer):
    """`answer`: the parameter count of Dense(128) on a flattened 32 × 32 RGB image."""
    inputs = DENSE_SIDE * DENSE_SIDE * 3
    expected = inputs * DENSE_UNITS + DENSE_UNITS
    grey = DENSE_SIDE * DENSE_SIDE
    same_number(
        answer,
        expected,
        "the parameter count",
        hints=[
            (inputs * DENSE_UNITS, "the biases are missing: one per neuron, 128 more"),
            (
                grey * DENSE_UNITS + DENSE_UNITS,
                "the colour channels are missing: the flattened "
                "image has 32·32·3 numbers, not 32·32",
            ),
            (grey * DENSE_UNITS, "both the channels (×3 inputs) and the biases (+128) are missing"),
            (inputs * DENSE_UNITS + inputs, "one bias per neuron (128), not one per input"),
        ],
    )
    return f"{expected:,} = 32·32·3 × 128 weights + 128 biases"


@exercise("01.rgb_to_gray", "colour to grey from scratch", "implement", "core")
def check_rgb_to_gray(rgb_to_gray):
    """`rgb_to_gray(image)`: (H, W, 3) → (H, W), Y = 0.2125 R + 0.7154 G + 0.0721 B (skimage)."""
    random = rng(1)
    weights = np.array([0.2125, 0.7154, 0.0721])
    for shape in [(4, 5, 3), (7, 2, 3), (1, 1, 3), (16, 9, 3), (6, 6, 3)]:
        image = random.uniform(size=shape)
        on = f"on a random {shape[0]}×{shape[1]} colour image"
        got = call(rgb_to_gray, image.copy(), on=on)
        expected = to_gray(image)
        same_array(
            got,
            expected,
            on,
            hints=[
                (
                    image.mean(axis=-1),
                    "that is the plain average of R, G and B; the eye is most "
                    "sensitive to green, so use the weights 0.2125, 0.7154, 0.0721",
                ),
                (
                    image @ np.array([0.299, 0.587, 0.114]),
                    "those are the older ITU-R 601 weights; use 0.2125, 0.7154, 0.0721",
                ),
                (
                    image @ weights[::-1],
                    "the weights are in reverse order (B, G, R): channel 0 is red",
                ),
                (image.sum(axis=-1), "the channels were added without weights"),
            ],
            shape_hints=[
                (shape[:2] + (1,), "keep no channel axis: return shape (H, W)"),
                (
                    shape[1:],
                    "the weighted sum ran over the rows axis; the channels are the last axis",
                ),
            ],
        )
    return "matches cnnlib.lessons.images.to_gray on 5 random images of different shapes"


@exercise("01.block_average", "k × k block-average downsampling from scratch", "implement", "core")
def check_block_average(block_average):
    """`block_average(x, k)`: x (H, W, C), H and W multiples of k → (H/k, W/k, C) block means."""
    random = rng(11)
    for shape, k in [
        ((4, 6, 3), 2),
        ((6, 6, 1), 3),
        ((8, 4, 2), 2),
        ((9, 6, 3), 3),
        ((5, 5, 2), 5),
        ((2, 8, 1), 1),
    ]:
        x = random.normal(size=shape)
        on = f"on a random {'×'.join(map(str, shape))} input with k = {k}"
        got = call(block_average, x.copy(), k, on=on)
        expected = ops.pool2d(x, k, mode="avg")
        h, w, c = expected.shape
        same_array(
            got,
            expected,
            on,
            hints=[
                (
                    ops.pool2d(x, k, mode="max"),
                    "that is the block maximum (max pooling); use the mean",
                ),
                (x[::k, ::k], "that keeps one pixel of every block (subsampling); average all k·k"),
                (expected * k * k, "that is the block sum; divide by the k·k pixels of a block"),
                (
                    ops.pool2d(x, (k, 1), (k, 1), mode="avg") if k > 1 else np.zeros(0),
                    "averaged along the rows only: a block is k × k",
                ),
            ],
            shape_hints=[
                (
                    (h, w),
                    "the channel axis is missing: average each channel on its own, keep (…, C)",
                ),
                ((h, x.shape[1], c), "averaged along the rows only: a block is k × k"),
            ],
        )
    return "matches average pooling (cnnlib.ops.pool2d, mode='avg') on 6 random inputs"


CORRELATION_PHOTO, CORRELATION_LEVEL = "coffee", 0.5


def first_distance_below(image, level, axis):
    """Smallest distance d ≥ 1 at which neighbour_correlation(image, d, axis) < level."""
    for distance in range(1, image.shape[axis]):
        if neighbour_correlation(image, distance, axis) < level:
            return distance
    return None


@exercise(
    "01.correlation_distance",
    "how far apart pixels stop agreeing, on another photo",
    "experiment",
    "core",
)
def check_correlation_distance(answer):
    """`answer`: smallest horizontal distance with correlation < 0.5 on the grey 'coffee' photo."""
    gray = to_gray(photo(CORRELATION_PHOTO))
    expected = first_distance_below(gray, CORRELATION_LEVEL, axis=1)
    astronaut = to_gray(photo("astronaut"))
    same_number(
        answer,
        expected,
        "the distance",
        hints=[
            (
                first_distance_below(gray, CORRELATION_LEVEL, axis=0),
                "that is the vertical distance (axis 0); 'horizontal' pairs pixels along a row, axis=1",
            ),
            (
                first_distance_below(astronaut, CORRELATION_LEVEL, axis=1),
                "that is the astronaut's distance; load photo('coffee') and convert it to grey",
            ),
            (expected - 1, "off by one: that is the last distance still at or above 0.5"),
        ],
    )
    return f"{expected} pixels (the astronaut's correlation falls below 0.5 sooner)"


BUDGET_BYTES = 16e9


def largest_side(budget, bytes_per_number=4, channels=3):
    """Largest square side s whose dense layer (n = channels·s² inputs → n neurons) fits."""
    side = 1
    while True:
        n = channels * (side + 1) ** 2
        if (n * n + n) * bytes_per_number > budget:
            return side
        side += 1


@exercise("01.dense_memory", "the largest photo a dense layer fits in 16 GB", "design", "stretch")
def check_dense_memory(answer):
    """`answer`: the largest side s of a square RGB image whose as-wide dense layer fits 16 GB."""
    expected = largest_side(BUDGET_BYTES)
    same_number(
        answer,
        expected,
        "the side",
        hints=[
            (
                largest_side(BUDGET_BYTES, channels=1),
                "the three colour channels were forgotten: the layer has 3·s² inputs",
            ),
            (largest_side(16 * 2**30), "that uses GiB (2³⁰ bytes); the budget is 16·10⁹ bytes"),
            (largest_side(BUDGET_BYTES, bytes_per_number=1), "each float32 number takes 4 bytes"),
            (
                math.isqrt(int(BUDGET_BYTES / 4) // 3),
                "the weights grow with n², not n: an n-wide layer on n inputs has n·n weights",
            ),
            (
                expected + 1,
                f"a {expected + 1} × {expected + 1} image already needs more than 16 GB; "
                f"round down",
            ),
        ],
    )
    n = 3 * expected**2
    return f"{expected} × {expected} pixels: {n:,} inputs, {(n * n + n) * 4 / 1e9:.2f} GB"
