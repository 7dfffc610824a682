"""Exercises of notebook 01 (an image is a matrix)."""

import inspect
import math
import sys

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number
from cnnlib.lessons import images
from cnnlib.lessons.images import photo, to_gray
from cnnlib.lessons.vision import neighbour_correlation


def public_functions(module):
    """{"module.name": function} for the public functions a module defines itself."""
    return {
        f"{module.__name__}.{name}": value
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and name[0] != "_"
    }


def call_watching(function, *args, on="", forbidden=None):
    """`call(function, *args)`, also listing which of the `forbidden` {name: function} it used.

    An exercise that says "NumPy only" compares the learner's function with a reference from
    the package; calling that reference gives the right numbers without doing the exercise. A
    profile hook sees every Python function entered during the call, however it was imported.
    Returns (result, [(name, frame locals) of each forbidden call]).
    """
    codes = {inspect.unwrap(f).__code__: name for name, f in (forbidden or {}).items()}
    seen = []

    def watch(frame, event, arg):
        # only the learner's own calls: a reference calling its helpers counts once
        caller = frame.f_back.f_code if frame.f_back is not None else None
        if event == "call" and frame.f_code in codes and caller not in codes:
            seen.append((codes[frame.f_code], dict(frame.f_locals)))

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = call(function, *args, on=on)
    finally:
        sys.setprofile(previous)
    return result, seen


def refuse_forbidden(seen, what_instead):
    """A right answer that called a forbidden reference is not done: say which one, and why."""
    names = sorted({name for name, _ in seen})
    if names:
        raise Wrong(
            f"your function gives the right numbers, but it calls {', '.join(names)}, which this "
            "exercise asks you not to use, so it does not count as done",
            what_instead,
        )


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
        sizes = tuple(shape)
    except TypeError:
        raise Wrong(f"the shape should be a tuple of ints, got {shape!r}") from None
    if sizes and sizes[0] is None:
        raise Wrong(
            f"the shape {sizes} leaves the batch size open",
            "Keras prints None for a batch of any size; this batch has a known number of photos",
        )
    if not all(whole_number(n) for n in sizes):
        raise Wrong(
            f"the shape should be a tuple of whole numbers, got {shape!r}",
            "every axis counts something (photos, rows, columns, channels)",
        )
    shape = tuple(int(n) for n in sizes)
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
    _finite(megabytes, "the float32 size in MB")
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
    batch = np.zeros(expected, dtype=np.float32)  # the batch itself, built to confirm
    return f"{batch.shape}, {batch.nbytes / 1e6:.1f} MB of float32 (np.zeros(...).nbytes agrees)"


def whole_number(n):
    """True for an int, a NumPy integer or a float with no fractional part (not bool, NaN, inf)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, float, np.integer, np.floating)):
        return False
    return bool(np.isfinite(n)) and float(n) == int(n)


def _finite(value, what):
    """Raise `Wrong` for a NaN or infinite number, with a sentence rather than a comparison."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return  # not a number at all: the comparison that follows says so
    if not math.isfinite(number):
        raise Wrong(
            f"{what}: you gave {value}, which is not a finite number",
            "a NaN or infinity usually comes from dividing by zero or from an overflow",
        )


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
    import keras  # the reveal the notebook used to print, shown only to a right answer

    layer = keras.layers.Dense(DENSE_UNITS)
    layer.build((None, inputs))
    return (
        f"{expected:,} = 32·32·3 × 128 weights + 128 biases; "
        f"Keras's Dense(128).count_params() says {layer.count_params():,}"
    )


@exercise("01.rgb_to_gray", "colour to grey from scratch", "implement", "core")
def check_rgb_to_gray(rgb_to_gray):
    """`rgb_to_gray(image)`: (H, W, 3) → (H, W), Y = 0.2125 R + 0.7154 G + 0.0721 B (skimage)."""
    random = rng(1)
    weights = np.array([0.2125, 0.7154, 0.0721])
    forbidden = {
        "cnnlib.lessons.images.to_gray": images.to_gray,
        "skimage.color.rgb2gray": _skimage_rgb2gray(),
    }
    seen, used_709 = [], True
    for shape in [(4, 5, 3), (7, 2, 3), (1, 1, 3), (16, 9, 3), (6, 6, 3)]:
        image = random.uniform(size=shape)
        on = f"on a random {shape[0]}×{shape[1]} colour image"
        got, calls = call_watching(rgb_to_gray, image.copy(), on=on, forbidden=forbidden)
        seen += calls
        expected = to_gray(image)
        bt709 = image @ BT709
        if np.shape(got) == bt709.shape and np.allclose(got, bt709, rtol=1e-5, atol=1e-6):
            continue  # the standard's own weights: as right as scikit-image's
        used_709 = False
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
    refuse_forbidden(seen, "write the weighted sum of the three channels yourself")
    if used_709:
        return (
            "matches ITU-R BT.709's weights on 5 random images of different shapes "
            "(scikit-image's differ from them by at most 0.0002)"
        )
    return "matches cnnlib.lessons.images.to_gray on 5 random images of different shapes"


BT709 = np.array([0.2126, 0.7152, 0.0722])  # the standard scikit-image rounds to 0.2125, …


def _skimage_rgb2gray():
    import skimage.color

    return skimage.color.rgb2gray


@exercise("01.block_average", "k × k block-average downsampling from scratch", "implement", "core")
def check_block_average(block_average):
    """`block_average(x, k)`: x (H, W, C), H and W multiples of k → (H/k, W/k, C) block means."""
    random = rng(11)
    seen = []
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
        got, calls = call_watching(
            block_average, x.copy(), k, on=on, forbidden=public_functions(ops)
        )
        seen += calls
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
    refuse_forbidden(seen, "reshape each axis into (blocks, k) and take the mean over the k's")
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
    colour = photo(CORRELATION_PHOTO)
    gray = to_gray(colour)
    expected = first_distance_below(gray, CORRELATION_LEVEL, axis=1)
    _finite(answer, "the distance")
    if not whole_number(answer):
        raise Wrong(f"the distance: you gave {answer}", "a distance in pixels is a whole number")
    # Other common grey conversions measure the photo just as honestly; each is a right answer.
    others = {
        "the plain mean of R, G and B": colour.mean(axis=-1),
        "ITU-R 601's weights": colour @ np.array([0.299, 0.587, 0.114]),
    }
    for name, other in others.items():
        if int(answer) == first_distance_below(other, CORRELATION_LEVEL, axis=1) != expected:
            return f"{int(answer)} pixels with {name} for grey (to_gray's weights give {expected})"
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
            (
                expected - 1,
                "at that distance the correlation is still at or above 0.5; the exercise asks for "
                "the first distance where it is below",
            ),
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
    _finite(answer, "the side")
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
                f"a {expected + 1} × {expected + 1} image already needs more than 16 GB",
            ),
        ],
    )
    n = 3 * expected**2
    return f"{expected} × {expected} pixels: {n:,} inputs, {(n * n + n) * 4 / 1e9:.2f} GB"
