"""Exercises of notebook 01 (an image is a matrix).

Six exercises: the shape and memory of a batch of photos; a dense layer's parameters; colour to
grey and block-average downsampling from scratch; how far apart pixels of another photo stop
agreeing; and the largest photo a dense layer fits in 16 GB.

Each is three pieces (see `cnnlib.labs.core`): `trials` draws the inputs from a seed, the form
turns the learner's answer into plain values on the learner's side, and the judge (the decorated
function) works out what is expected from the trials only then, and compares.
"""

import math

import numpy as np

from cnnlib.labs.core import (
    Array,
    Function,
    Mapping,
    Number,
    Shape,
    Size,
    describe_input,
    exercise,
    same_array,
    same_number,
    same_shape,
)
from cnnlib.lessons.images import photo, to_gray
from cnnlib.lessons.vision import neighbour_correlation

# ---------------------------------------------------------------------------------------------
# 01.batch_shape — a batch of 64 RGB photos of 224 × 224 pixels, in float32, as Keras wants it
# ---------------------------------------------------------------------------------------------
BATCH, SIDE, CHANNELS = 64, 224, 3


@exercise(
    "01.batch_shape",
    "shape and float32 memory of a batch of photos",
    "predict",
    "warm-up",
    form=Mapping({"shape": Shape(batch=True), "megabytes": Number()}),
    expects='a dict {"shape": a tuple of four ints, "megabytes": a number}',
)
def judge_batch_shape(answer, trials):
    """`answer`: {"shape": the batch's shape, "megabytes": its float32 size in MB (10⁶ bytes)}."""
    expected = (BATCH, SIDE, SIDE, CHANNELS)
    same_shape(
        answer["shape"],
        expected,
        "the batch's shape",
        hints=[
            ((BATCH, CHANNELS, SIDE, SIDE), "that is channels-first; Keras puts channels last"),
            ((BATCH, SIDE, SIDE), "the channel axis is missing: every colour image has one"),
            ((SIDE, SIDE, CHANNELS), "the batch axis is missing: a batch stacks images first"),
        ],
        batch=True,
    )
    numbers = BATCH * SIDE * SIDE * CHANNELS
    same_number(
        answer["megabytes"],
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
    batch = np.zeros(expected, dtype=np.float32)  # the batch itself, built to confirm
    return f"{batch.shape}, {batch.nbytes / 1e6:.1f} MB of float32 (np.zeros(...).nbytes agrees)"


# ---------------------------------------------------------------------------------------------
# 01.dense_params — Dense(128) on a flattened 32 × 32 RGB image
# ---------------------------------------------------------------------------------------------
DENSE_SIDE, DENSE_UNITS = 32, 128


@exercise(
    "01.dense_params",
    "parameters of a dense layer on a flattened colour image",
    "predict",
    "warm-up",
    form=Size(),
)
def judge_dense_params(count, trials):
    """`count`: the parameter count of Dense(128) on a flattened 32 × 32 RGB image."""
    inputs = DENSE_SIDE * DENSE_SIDE * 3
    expected = inputs * DENSE_UNITS + DENSE_UNITS
    grey = DENSE_SIDE * DENSE_SIDE
    same_number(
        count,
        expected,
        "the parameter count",
        hints=[
            (inputs * DENSE_UNITS, "the biases are missing: one per neuron, 128 more"),
            (
                grey * DENSE_UNITS + DENSE_UNITS,
                "the colour channels are missing: the flattened image has 32·32·3 numbers",
            ),
            (grey * DENSE_UNITS, "both the channels (×3 inputs) and the biases (+128) are missing"),
            (inputs * DENSE_UNITS + inputs, "one bias per neuron (128), not one per input"),
        ],
    )
    return (
        f"{expected:,} = 32·32·3 × 128 weights + 128 biases, what Keras's "
        "Dense(128).count_params() says on 3,072 inputs"
    )


# ---------------------------------------------------------------------------------------------
# 01.rgb_to_gray — Y = 0.2125 R + 0.7154 G + 0.0721 B, from scratch
# ---------------------------------------------------------------------------------------------
SKIMAGE_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])  # scikit-image's rgb2gray
BT709 = np.array([0.2126, 0.7152, 0.0722])  # the standard they round; right as well
_GRAY_SHAPES = [(4, 5, 3), (7, 2, 3), (1, 1, 3), (16, 9, 3), (6, 6, 3)]


def gray_trials(rng):
    """Random colour images of several shapes, one a single pixel."""
    return [{"image": rng.uniform(size=shape)} for shape in _GRAY_SHAPES]


@exercise(
    "01.rgb_to_gray",
    "colour to grey from scratch",
    "implement",
    "core",
    form=Function(Array(), args=("image",)),
    trials=gray_trials,
    forbid=("cnnlib.lessons.images.to_gray", "skimage.color.rgb2gray"),
    expects="a function rgb_to_gray(image) returning an (H, W) array",
)
def judge_rgb_to_gray(outputs, trials):
    """`rgb_to_gray(image)`: (H, W, 3) → (H, W), Y = 0.2125 R + 0.7154 G + 0.0721 B."""
    images = [case["image"] for case in trials]
    standard = all(
        got.shape == image.shape[:2] and np.allclose(got, image @ BT709, rtol=1e-5, atol=1e-6)
        for got, image in zip(outputs, images, strict=True)
    )
    if standard:
        return (
            f"matches ITU-R BT.709's weights on {len(trials)} random images of different shapes "
            "(scikit-image's differ from them by at most 0.0002)"
        )
    for got, case in zip(outputs, trials, strict=True):
        image = case["image"]
        on = f"on {describe_input(case)}"
        same_array(
            got,
            image @ SKIMAGE_WEIGHTS,
            on,
            hints=[
                (
                    image.mean(axis=-1),
                    "that is the plain average of R, G and B; the eye is most sensitive to "
                    "green, so use the weights 0.2125, 0.7154, 0.0721",
                ),
                (
                    image @ np.array([0.299, 0.587, 0.114]),
                    "those are the older ITU-R 601 weights; use 0.2125, 0.7154, 0.0721",
                ),
                (
                    image @ SKIMAGE_WEIGHTS[::-1],
                    "the weights are in reverse order: channel 0 is red",
                ),
                (image.sum(axis=-1), "the channels were added without weights"),
            ],
            shape_hints=[
                (image.shape[:2] + (1,), "keep no channel axis: return shape (H, W)"),
                (image.shape[1:], "the weighted sum ran over the rows; the channels are last"),
            ],
        )
    return f"matches scikit-image's rgb2gray on {len(trials)} random images of different shapes"


# ---------------------------------------------------------------------------------------------
# 01.block_average — k × k block averages, NumPy only
# ---------------------------------------------------------------------------------------------
_BLOCK_CASES = [
    ((4, 6, 3), 2),
    ((6, 6, 1), 3),
    ((8, 4, 2), 2),
    ((9, 6, 3), 3),
    ((5, 5, 2), 5),
    ((2, 8, 1), 1),
]


def block_trials(rng):
    """Random (H, W, C) inputs with block sizes 1 to 5, H and W multiples of k."""
    return [{"x": rng.normal(size=shape), "k": k} for shape, k in _BLOCK_CASES]


@exercise(
    "01.block_average",
    "k × k block-average downsampling from scratch",
    "implement",
    "core",
    form=Function(Array(), args=("x", "k")),
    trials=block_trials,
    forbid=(
        "cnnlib.ops.pool2d",
        "skimage.measure.block_reduce",
        "skimage.transform.downscale_local_mean",
        "keras.layers.AveragePooling2D",
    ),
    expects="a function block_average(x, k) returning an (H // k, W // k, C) array",
)
def judge_block_average(outputs, trials):
    """`block_average(x, k)`: x (H, W, C), H and W multiples of k → (H/k, W/k, C) block means."""
    for got, case in zip(outputs, trials, strict=True):
        x, k = case["x"], case["k"]
        on = f"on {describe_input(case)}"
        h, w, c = x.shape[0] // k, x.shape[1] // k, x.shape[2]
        blocks = x.reshape(h, k, w, k, c)
        expected = blocks.mean(axis=(1, 3))
        same_array(
            got,
            expected,
            on,
            hints=[
                (blocks.max(axis=(1, 3)), "that is the block maximum (max pooling); use the mean"),
                (x[::k, ::k], "that keeps one pixel of every block (subsampling); average all k·k"),
                (expected * k * k, "that is the block sum; divide by the k·k pixels of a block"),
            ],
            shape_hints=[
                ((h, w), "the channel axis is missing: average each channel on its own"),
                ((h, x.shape[1], c), "averaged along the rows only: a block is k × k"),
            ],
        )
    return f"matches k × k average pooling on {len(trials)} random inputs"


# ---------------------------------------------------------------------------------------------
# 01.correlation_distance — how far apart the coffee photo's pixels stop agreeing
# ---------------------------------------------------------------------------------------------
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
    form=Size(),
    expects="a whole number of pixels",
)
def judge_correlation_distance(distance, trials):
    """`distance`: smallest horizontal d with correlation < 0.5 on the grey 'coffee' photo."""
    colour = photo(CORRELATION_PHOTO)
    gray = to_gray(colour)
    expected = first_distance_below(gray, CORRELATION_LEVEL, axis=1)
    # Other common grey conversions measure the photo just as honestly; each is a right answer.
    others = {
        "the plain mean of R, G and B": colour.mean(axis=-1),
        "ITU-R 601's weights": colour @ np.array([0.299, 0.587, 0.114]),
    }
    for name, other in others.items():
        theirs = first_distance_below(other, CORRELATION_LEVEL, axis=1)
        if theirs != expected and math.isclose(distance, theirs):
            return f"{theirs} pixels with {name} for grey (to_gray's weights give {expected})"
    same_number(
        distance,
        expected,
        "the distance",
        hints=[
            (
                first_distance_below(gray, CORRELATION_LEVEL, axis=0),
                "that is the vertical distance (axis 0); 'horizontal' pairs pixels along a row",
            ),
            (
                first_distance_below(to_gray(photo("astronaut")), CORRELATION_LEVEL, axis=1),
                "that is the astronaut's distance; load photo('coffee') and convert it to grey",
            ),
            (
                expected - 1,
                "at that distance the correlation is still at or above 0.5; the exercise asks for "
                "the first distance where it is below",
            ),
        ],
    )
    return f"{expected} pixels (the astronaut's correlation falls below 0.5 sooner)"


# ---------------------------------------------------------------------------------------------
# 01.dense_memory — the largest square RGB image whose as-wide dense layer fits 16 GB of float32
# ---------------------------------------------------------------------------------------------
BUDGET_BYTES = 16e9


def largest_side(budget, bytes_per_number=4, channels=3):
    """Largest square side s whose dense layer (n = channels·s² inputs → n neurons) fits."""
    side = 1
    while True:
        n = channels * (side + 1) ** 2
        if (n * n + n) * bytes_per_number > budget:
            return side
        side += 1


@exercise(
    "01.dense_memory",
    "the largest photo a dense layer fits in 16 GB",
    "design",
    "stretch",
    form=Size(),
    expects="a whole number of pixels",
)
def judge_dense_memory(side, trials):
    """`side`: the largest side s of a square RGB image whose as-wide dense layer fits 16 GB."""
    expected = largest_side(BUDGET_BYTES)
    same_number(
        side,
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
        ],
    )
    n = 3 * expected**2
    return f"{expected} × {expected} pixels: {n:,} inputs, {(n * n + n) * 4 / 1e9:.2f} GB"
