"""Exercises of notebook 02 (convolution).

Six exercises: predict one feature-map value, convolution from scratch (the fixed-id `02.conv2d`
that other tooling feeds implementations to), predict a Conv2D layer's output shape and parameter
count, a multi-channel convolution with a bias, design a diagonal-line detector, and (stretch) the
backward pass of a convolution checked by a numerical gradient.
"""

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import (
    NotAttempted,
    Wrong,
    as_array,
    call,
    exercise,
    numerical_gradient,
    relative_error,
    rng,
    same_array,
    same_number,
)
from cnnlib.labs.ex01 import call_watching, public_functions, refuse_forbidden, whole_number
from cnnlib.lessons.kernels import line_pictures

CONV_REFERENCES = {
    name: f for name, f in public_functions(ops).items() if "conv" in name.rsplit(".", 1)[1]
}

# ---------------------------------------------------------------------------------------------
# 02.predict_value — one value of deck 001's feature map, with the Sobel-left kernel
# ---------------------------------------------------------------------------------------------
DECK_001_IMAGE = np.array(
    [
        [2, 9, 11, 22, 42],
        [12, 43, 2, 0, 65],
        [9, 87, 65, 2, 90],
        [21, 21, 44, 7, 2],
        [45, 2, 21, 2, 0],
    ]
)
SOBEL_LEFT = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
PREDICT_POSITION = (1, 2)  # row 1, column 2 of the 3 × 3 feature map, counted from 0


@exercise("02.predict_value", "predict one value of a feature map", "predict", "warm-up")
def check_predict_value(value):
    """`value`: entry [1, 2] of conv2d(DECK_001_IMAGE, SOBEL_LEFT), computed by hand."""
    row, col = PREDICT_POSITION
    right = ops.conv2d(DECK_001_IMAGE, SOBEL_LEFT)
    flipped = ops.true_conv2d(DECK_001_IMAGE, SOBEL_LEFT)
    same_number(
        value,
        right[row, col],
        f"the feature map's value at row {row}, column {col}",
        hints=[
            (
                flipped[row, col],
                "you have the right size but the wrong sign: that is the flipped kernel "
                "(textbook convolution); deep learning multiplies the window by the kernel "
                "as it is, weight [0, 0] on the window's top-left pixel",
            ),
            (
                right[col, row],
                f"that is the value at row {col}, column {row}: the first index is the row",
            ),
            (
                right[row - 1, col - 1],
                "indices start at 0: row 1 is the second row of the feature map",
            ),
            (
                DECK_001_IMAGE[row : row + 3, col : col + 3].sum(),
                "that is the plain sum of the window: multiply each pixel by its weight first",
            ),
        ],
    )
    return (
        f"{right[row, col]:.0f}: the window's left column minus its right column, the middle "
        f"row twice; the whole feature map is {right.astype(int).tolist()}"
    )


# ---------------------------------------------------------------------------------------------
# 02.conv2d — the fixed-id exercise: f(image, kernel), 2-D, valid cross-correlation, stride 1
# ---------------------------------------------------------------------------------------------
# Shapes chosen so that square-only, stride-mixing and transposing mistakes all show.
_CONV_CASES = [
    ((5, 5), (3, 3)),
    ((7, 4), (2, 3)),
    ((6, 9), (4, 1)),
    ((3, 3), (3, 3)),
    ((8, 6), (1, 2)),
]


@exercise(
    "02.conv2d", "convolution from scratch: valid cross-correlation, stride 1", "implement", "core"
)
def check_conv2d(conv2d):
    """`conv2d(image, kernel)`: 2-D image, 2-D kernel, valid cross-correlation, stride 1."""
    random = rng(2)
    seen = []
    for image_shape, kernel_shape in _CONV_CASES:
        image = random.normal(size=image_shape)
        kernel = random.normal(size=kernel_shape)
        on = (
            f"on a random {image_shape[0]}×{image_shape[1]} image with a "
            f"{kernel_shape[0]}×{kernel_shape[1]} kernel"
        )
        got, calls = call_watching(
            conv2d, image.copy(), kernel.copy(), on=on, forbidden=CONV_REFERENCES
        )
        seen += calls
        expected = ops.conv2d(image, kernel)
        hints, shape_hints = _conv2d_mistakes(image, kernel, expected)
        same_array(got, expected, on, hints=hints, shape_hints=shape_hints)
    refuse_forbidden(seen, "slide the window with two loops (or one loop and slicing)")
    return (
        f"matches cnnlib.ops.conv2d on {len(_CONV_CASES)} random images and kernels "
        "of different shapes"
    )


def _conv2d_mistakes(image, kernel, expected):
    """(hints, shape_hints) for `same_array`: the outputs of the usual slips, with their causes."""
    h, w = expected.shape
    hints = [
        (
            ops.true_conv2d(image, kernel),
            "that is the textbook convolution, which flips the kernel; deep learning's convolution "
            "(cross-correlation) multiplies the window by the kernel as it is",
        ),
        (
            ops.conv2d(image, kernel[::-1, :]),
            "the kernel is flipped upside down: weight [i, j] multiplies the window's pixel [i, j]",
        ),
        (
            ops.conv2d(image, kernel[:, ::-1]),
            "the kernel is flipped left to right: weight [i, j] multiplies the window's pixel [i, j]",
        ),
        (
            ops.conv2d(image, kernel, padding="same"),
            "the exercise asks for 'valid' convolution: no padding, the kernel stays inside the image",
        ),
        (expected.T, "rows and columns are swapped: index the output as [row, column]"),
    ]
    shape_hints = [
        (
            (h - 1, w - 1),
            "off by one: a k-wide kernel fits in n − k + 1 positions, not n − k",
        ),
        (
            (h + 1, w + 1),
            "off by one: a k-wide kernel fits in n − k + 1 positions, not n − k + 2",
        ),
        (
            image.shape,
            "the output has the input's size, as with padding; 'valid' adds no padding",
        ),
        ((w, h), "rows and columns are swapped: the output is (H − kh + 1, W − kw + 1)"),
    ]
    return hints, shape_hints


# ---------------------------------------------------------------------------------------------
# 02.conv_layer_shape — output shape and parameter count of Conv2D(8, 5) on a 32 × 32 RGB image
# ---------------------------------------------------------------------------------------------
LAYER_INPUT = (32, 32, 3)
LAYER_FILTERS, LAYER_KERNEL = 8, 5


@exercise(
    "02.conv_layer_shape",
    "predict a Conv2D layer's output shape and parameter count",
    "predict",
    "warm-up",
)
def check_conv_layer_shape(prediction):
    """`prediction`: {"output shape": (H', W', K), "parameters": int} for Conv2D(8, 5) on (32, 32, 3)."""
    if not isinstance(prediction, dict) or set(prediction) != {"output shape", "parameters"}:
        raise Wrong(
            f"expected a dict with the two keys 'output shape' and 'parameters', got {prediction!r}"
        )
    if prediction["output shape"] is None or prediction["parameters"] is None:
        raise NotAttempted
    n, _, c_in = LAYER_INPUT
    f, k = LAYER_KERNEL, LAYER_FILTERS
    side = ops.output_size(n, f)
    shape = read_shape(prediction["output shape"])
    right_shape = (side, side, k)
    if shape != right_shape:
        what = f"Conv2D({k}, {f}) on a {n}×{n}×{c_in} image: you predict {shape}, not right"
        hints = {
            (n, n, k): "'valid' (Keras's default) adds no padding: the image shrinks by f − 1",
            (side, side, c_in): "the output has one channel per filter, not per input channel",
            (k, side, side): "Keras puts the channels last: (height, width, channels)",
            (side - 1, side - 1, k): "off by one: a 5-wide kernel fits in 32 − 5 + 1 positions",
            (side + 1, side + 1, k): "off by one: a 5-wide kernel fits in 32 − 5 + 1 positions",
        }
        raise Wrong(what, hints.get(shape))
    right = f * f * c_in * k + k
    same_number(
        prediction["parameters"],
        right,
        f"the parameter count of Conv2D({k}, {f}) on {c_in} channels",
        hints=[
            (f * f * c_in * k, "the biases are missing: every filter has one bias"),
            (f * f * k + k, "each filter has one 5×5 slice per input channel: × 3"),
            (f * f * k, "each filter has a 5×5 slice per input channel (× 3) and a bias"),
            (f * f * c_in + 1, "that is one filter; the layer has 8"),
            (
                side * side * k,
                "that is the number of outputs; weights are shared across "
                "positions, so the image size does not count",
            ),
        ],
    )
    import keras  # the reveal the notebook used to print, shown only to a right answer

    layer = keras.layers.Conv2D(k, f)
    keras_shape = layer.compute_output_shape((None, n, n, c_in))
    layer.build((None, n, n, c_in))
    return (
        f"{right_shape} and {right} parameters (5·5·3·8 weights + 8 biases); Keras says "
        f"{tuple(keras_shape)} and {layer.count_params()}"
    )


def read_shape(answer):
    """A predicted (height, width, channels) as ints; a batch axis of None or 1 in front is fine.

    Raises `Wrong` with a sentence for anything that is not a sequence of whole numbers.
    """
    try:
        shape = tuple(answer)
    except TypeError:
        raise Wrong(
            f"the output shape should be a tuple (height, width, channels), got {answer!r}"
        ) from None
    if len(shape) == 4 and (shape[0] is None or (whole_number(shape[0]) and shape[0] == 1)):
        shape = shape[1:]  # a batch axis in front, as Keras prints it, is fine
    if not all(whole_number(n) for n in shape):
        raise Wrong(
            f"the output shape should hold whole numbers, got {answer!r}",
            "every axis counts positions or feature maps",
        )
    return tuple(int(n) for n in shape)


# ---------------------------------------------------------------------------------------------
# 02.multichannel — one filter on a C-channel image: slices summed, one bias added
# ---------------------------------------------------------------------------------------------
_MULTI_CASES = [
    ((6, 6, 3), (3, 3)),
    ((5, 7, 2), (2, 3)),
    ((8, 5, 4), (3, 1)),
    ((4, 4, 1), (2, 2)),
    ((7, 6, 5), (4, 2)),
]


@exercise(
    "02.multichannel", "a convolution over several channels, with a bias", "implement", "core"
)
def check_multichannel(conv2d_channels):
    """`conv2d_channels(image, kernel, bias)`: (H, W, C), (kh, kw, C), float → (H', W')."""
    random = rng(5)
    seen = []
    for image_shape, size in _MULTI_CASES:
        channels = image_shape[-1]
        image = random.normal(size=image_shape)
        kernel = random.normal(size=size + (channels,))
        bias = float(random.normal() + 2.0)
        on = (
            f"on a random {'×'.join(map(str, image_shape))} image with a "
            f"{'×'.join(map(str, kernel.shape))} kernel and bias {bias:.3f}"
        )
        got, calls = call_watching(
            conv2d_channels, image.copy(), kernel.copy(), bias, on=on, forbidden=CONV_REFERENCES
        )
        seen += [(name, args) for name, args in calls if np.ndim(args.get("x")) == 3]
        per_channel = np.stack(
            [ops.conv2d(image[..., c], kernel[..., c]) for c in range(channels)], axis=-1
        )
        expected = per_channel.sum(axis=-1) + bias
        hints, shape_hints = _multichannel_mistakes(image, kernel, bias, per_channel)
        same_array(got, expected, on, hints=hints, shape_hints=shape_hints)
    refuse_forbidden(
        [(f"{name} on the whole (H, W, C) volume", args) for name, args in seen],
        "convolve one channel at a time with its kernel slice, then add the maps and the bias",
    )
    return f"matches ops.conv2d + bias on {len(_MULTI_CASES)} random images with 1 to 5 channels"


def _multichannel_mistakes(image, kernel, bias, per_channel):
    """(hints, shape_hints) for one filter over C channels: the usual slips and their causes."""
    channels = image.shape[-1]
    h, w = per_channel.shape[:2]
    hints = [
        (per_channel.sum(axis=-1), "the bias is missing: add it once to the summed map"),
        (
            per_channel.sum(axis=-1) + channels * bias,
            "the bias was added once per channel: add it once, after summing the channels",
        ),
        (
            per_channel.mean(axis=-1) + bias,
            "the channels were averaged: the slices' maps are added up, not averaged",
        ),
        (
            sum(ops.conv2d(image[..., c], kernel[..., channels - 1 - c]) for c in range(channels))
            + bias,
            "kernel slice c must go with image channel c",
        ),
        (
            ops.conv2d(image, kernel[::-1, ::-1, :]) + bias,
            "the kernel is flipped: multiply the window by the kernel as it is",
        ),
    ]
    if channels > 1:
        hints.append(
            (
                per_channel[..., 0] + bias,
                "only the first channel was used: sum the maps of all channels",
            )
        )
    shape_hints = [
        (
            (h, w, channels),
            "the channels were not summed: one filter gives ONE map, the sum of its slices' maps "
            "(plus the bias)",
        ),
        ((h - 1, w - 1), "off by one: a k-wide kernel fits in n − k + 1 positions"),
    ]
    return hints, shape_hints


# ---------------------------------------------------------------------------------------------
# 02.diagonal_kernel — design a kernel that answers diagonal lines, not horizontal/vertical ones
# ---------------------------------------------------------------------------------------------
DIAGONAL_SIZE = 21
DIAGONAL_RATIO = 2.0  # the best diagonal must get at least twice the best other answer
FLAT_SHARE = 0.25  # and a plain bright image at most a quarter of it


def line_answers(kernel, size=DIAGONAL_SIZE):
    """The strongest (largest) response of `kernel` to each line picture and to a flat image."""
    kernel = np.asarray(kernel, dtype=float)
    answers = {
        angle: float(ops.conv2d(p, kernel).max()) for angle, p in line_pictures(size).items()
    }
    answers["flat"] = float(np.abs(ops.conv2d(np.ones((size, size)), kernel)).max())
    return answers


@exercise("02.diagonal_kernel", "design a kernel that finds diagonal lines", "design", "core")
def check_diagonal_kernel(kernel):
    """`kernel`: a 2-D array (at most 7 × 7) whose strongest answer goes to one diagonal line."""
    try:
        kernel = np.asarray(kernel, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f"expected a 2-D array of numbers, got {type(kernel).__name__}") from None
    if kernel.ndim != 2 or not (1 <= kernel.shape[0] <= 7 and 1 <= kernel.shape[1] <= 7):
        raise Wrong(f"expected a 2-D kernel of at most 7 × 7, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise Wrong(
            f"{int(np.sum(~np.isfinite(kernel)))} of your kernel's {kernel.size} weights are "
            "NaN or infinite, so it cannot answer anything",
            "dividing by the sum of weights that add up to 0 gives NaN and infinity: "
            "leave the weights as they are, or divide by something that is not 0",
        )
    answers = line_answers(kernel)
    diagonal = max(answers[45], answers[135])
    straight = max(answers[0], answers[90], 0.0)
    told = ", ".join(f"{name}°: {answers[name]:.2f}" for name in (0, 45, 90, 135))
    told += f"; flat bright image: {answers['flat']:.2f}"
    if diagonal <= 0:
        raise Wrong(
            f"your kernel's strongest answers to the four lines are {told}",
            "a detector says 'found' with a large POSITIVE value (ReLU keeps only those): "
            "put positive weights along a diagonal",
        )
    if diagonal < DIAGONAL_RATIO * straight:
        raise Wrong(
            f"the best diagonal gets {diagonal:.2f}, not {DIAGONAL_RATIO:g}× the best "
            f"horizontal/vertical answer {straight:.2f} ({told})",
            "weights along the diagonal should be positive and those beside it negative, "
            "so that a horizontal or vertical line crossing the window collects "
            "as much negative as positive weight",
        )
    if answers["flat"] > FLAT_SHARE * diagonal:
        raise Wrong(
            f"a plain bright image gets {answers['flat']:.2f}, more than a quarter of "
            f"the diagonal's {diagonal:.2f} ({told})",
            "your kernel also answers plain brightness: make its weights sum to 0, as "
            "deck 004's line detectors do",
        )
    which = 45 if answers[45] >= answers[135] else 135
    return (
        f"the {which}° line gets {diagonal:.2f}, the best horizontal/vertical line "
        f"{straight:.2f}, a flat image {answers['flat']:.2f}"
    )


# ---------------------------------------------------------------------------------------------
# 02.conv_backward — the backward pass of a convolution layer, checked numerically
# ---------------------------------------------------------------------------------------------
_BACKWARD_CASES = [
    ((5, 5, 1), (3, 3, 1, 1)),
    ((6, 4, 2), (2, 3, 2, 3)),
    ((7, 6, 3), (3, 3, 3, 2)),
    ((4, 6, 1), (1, 2, 1, 2)),
]


def conv_forward(x, w, b):
    """The layer whose gradients the exercise asks for: valid cross-correlation, stride 1, + b."""
    return ops.conv2d(x, w) + b


def _full_correlate(dout, w, flip):
    """Σ_k of dout[..., k] slid (full padding) over kernel slice w[..., c, k], for every c."""
    conv = ops.true_conv2d if flip else ops.conv2d
    channels, filters = w.shape[2], w.shape[3]
    return np.stack(
        [
            sum(conv(dout[..., k], w[:, :, c, k], padding="full") for k in range(filters))
            for c in range(channels)
        ],
        axis=-1,
    )


def _weight_gradient(x, dout, flip):
    conv = ops.true_conv2d if flip else ops.conv2d
    return np.stack(
        [
            np.stack([conv(x[..., c], dout[..., k]) for k in range(dout.shape[-1])], axis=-1)
            for c in range(x.shape[-1])
        ],
        axis=-2,
    )


@exercise(
    "02.conv_backward",
    "the backward pass of a convolution (numerical gradient check)",
    "implement",
    "stretch",
)
def check_conv_backward(conv_backward):
    """`conv_backward(dout, x, w, b)` → (dx, dw, db) of y = conv2d(x, w) + b (valid, stride 1)."""
    random = rng(7)
    worst = {"dx": 0.0, "dw": 0.0, "db": 0.0}
    for x_shape, w_shape in _BACKWARD_CASES:
        x, w = random.normal(size=x_shape), random.normal(size=w_shape)
        b = random.normal(size=w_shape[-1])
        dout = random.normal(size=conv_forward(x, w, b).shape)
        on = f"for x of shape {x_shape}, w of shape {w_shape}, dout of shape {dout.shape}"
        answer = call(conv_backward, dout.copy(), x.copy(), w.copy(), b.copy(), on=on)
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            raise Wrong(
                f"{on}: expected the three gradients (dx, dw, db), got {type(answer).__name__}"
            )
        dx, dw, db = answer
        numeric = {
            "dx": numerical_gradient(lambda v: conv_forward(v, w, b), x, dout),
            "dw": numerical_gradient(lambda v: conv_forward(x, v, b), w, dout),
            "db": numerical_gradient(lambda v: conv_forward(x, w, v), b, dout),
        }
        db = _compare_gradients((dx, dw, db), numeric, x, w, dout, on)
        for name, analytic in (("dx", dx), ("dw", dw), ("db", db)):
            worst[name] = max(worst[name], relative_error(analytic, numeric[name]))
    errors = ", ".join(f"{name} {error:.1e}" for name, error in worst.items())
    return (
        f"agrees with the numerical gradient on {len(_BACKWARD_CASES)} random layers; "
        f"largest relative errors {errors} (around 1e-8 or less means right)"
    )


def _compare_gradients(gradients, numeric, x, w, dout, on):
    """Raise `Wrong` at the first of dx, dw, db that differs from its numerical gradient.

    Returns db as an array (a learner may return it as a list).
    """
    dx, dw, db = gradients
    same_array(
        dx,
        numeric["dx"],
        f"dx {on}",
        hints=[
            (
                _full_correlate(dout, w, flip=False),
                "dx slides dout over the kernel FLIPPED (a true convolution with full padding): "
                "the output at (r, c) used x[r + i, c + j] · w[i, j], so it sends dout[r, c] · w[i, j] "
                "back to x[r + i, c + j]",
            ),
        ],
        shape_hints=[(dout.shape, "dx has the shape of x, not of dout")],
        rtol=1e-5,
        atol=1e-6,
    )
    same_array(
        dw,
        numeric["dw"],
        f"dw {on}",
        hints=[
            (
                _weight_gradient(x, dout, flip=True),
                "dw[i, j] collects x[r + i, c + j] · dout[r, c]: slide dout over x without flipping",
            ),
        ],
        shape_hints=[(w.shape[:2], "dw has the shape of w, (kh, kw, C, K)")],
        rtol=1e-5,
        atol=1e-6,
    )
    db = as_array(db, f"db {on}")
    if db.shape == ():
        raise Wrong(
            f"db {on}: you return one number; there is one bias per filter, so db has "
            f"shape ({w.shape[-1]},)",
            "sum dout over the positions, separately for each filter: dout.sum(axis=(0, 1))",
        )
    same_array(
        db,
        numeric["db"],
        f"db {on}",
        hints=[
            (
                dout.mean(axis=(0, 1)),
                "the bias is added at every position: sum dout, not average",
            ),
        ],
        rtol=1e-5,
        atol=1e-6,
    )
    return db
