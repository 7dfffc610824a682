"""Exercises of notebook 02 (convolution).

Six exercises: predict one feature-map value; the textbook convolution in full size, from scratch
(`02.convolve2d`); predict a Conv2D layer's output
shape and parameter count; a whole convolutional layer in NumPy (K filters over C channels, Keras's
kernel layout); design a kernel for both diagonals; and (stretch) the backward pass of a
convolution, judged against numerical gradients.

Also here, outside the notebook: `02.conv2d`, the fixed id other tooling feeds 2-D convolutions to
(`f(image, kernel)`, valid cross-correlation, stride 1). The lecture derives exactly that function
(`corr2d`), so it is no exercise of the notebook (`in_notebook=False`): grading, the student export
and the instructor's kit leave it out.

Each is three pieces (see `cnnlib.labs.core`): `trials` draws the inputs from a seed, the form
turns the learner's answer into plain values on the learner's side, and the judge (the decorated
function) works out what is expected from the trials only then, and compares.
"""

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import (
    Array,
    Function,
    Mapping,
    Number,
    Sequence,
    Shape,
    Size,
    Wrong,
    describe_input,
    exercise,
    numerical_gradient,
    relative_error,
    same_array,
    same_number,
    same_shape,
)
from cnnlib.lessons.kernels import line_pictures

# Library convolutions an implement exercise asks the learner to do without.
CONVOLUTIONS = (
    "cnnlib.ops.conv2d",
    "cnnlib.ops.conv2d_loop",
    "cnnlib.ops.true_conv2d",
    "scipy.signal.convolve2d",
    "scipy.signal.correlate2d",
    "scipy.signal.convolve",
    "scipy.signal.correlate",
    "scipy.signal.fftconvolve",
    "scipy.ndimage.convolve",
    "scipy.ndimage.correlate",
    "numpy.convolve",
    "numpy.correlate",
    "keras.layers.Conv2D",
    "keras.ops.conv",
    "tensorflow.nn.conv2d",
)


# ---------------------------------------------------------------------------------------------
# 02.predict_value — one value of the sliding-window example's feature map, Sobel-left kernel
# ---------------------------------------------------------------------------------------------
IMAGE_5X5 = np.array(
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


@exercise(
    "02.predict_value",
    "predict one value of a feature map",
    "predict",
    "warm-up",
    form=Number(),
    expects="a number",
)
def judge_predict_value(value, trials):
    """`value`: entry [1, 2] of conv2d(IMAGE_5X5, SOBEL_LEFT), computed by hand."""
    row, col = PREDICT_POSITION
    right = ops.conv2d(IMAGE_5X5, SOBEL_LEFT)
    flipped = ops.true_conv2d(IMAGE_5X5, SOBEL_LEFT)
    same_number(
        value,
        right[row, col],
        f"the feature map's value at row {row}, column {col}",
        hints=[
            (
                flipped[row, col],
                "that is the flipped kernel (textbook convolution); deep learning multiplies the "
                "window by the kernel as it is, weight [0, 0] on the window's top-left pixel",
            ),
            (right[col, row], f"that is row {col}, column {row}: the first index is the row"),
            (right[row - 1, col - 1], "indices start at 0: row 1 is the feature map's second row"),
            (
                IMAGE_5X5[row : row + 3, col : col + 3].sum(),
                "that is the plain sum of the window: multiply each pixel by its weight first",
            ),
        ],
    )
    return (
        f"{right[row, col]:.0f}: the window's left column minus its right column, the middle "
        f"row twice; the whole feature map is {right.astype(int).tolist()}"
    )


# ---------------------------------------------------------------------------------------------
# 02.convolve2d — the textbook convolution, full size: kernel flipped, zeros outside the image
# ---------------------------------------------------------------------------------------------
_CONV_SHAPES = [
    ((5, 5), (3, 3)),
    ((7, 4), (2, 3)),
    ((6, 9), (4, 1)),
    ((3, 3), (3, 3)),
    ((8, 6), (1, 2)),
]


def conv2d_trials(rng):
    """Random images and kernels: square and not, kernels as large as the image and 1-wide."""
    return [
        {"image": rng.normal(size=image), "kernel": rng.normal(size=kernel)}
        for image, kernel in _CONV_SHAPES
    ]


def full_convolution(image, kernel):
    """What 02.convolve2d asks for: scipy.signal.convolve2d(image, kernel) (mode 'full')."""
    return ops.true_conv2d(image, kernel, padding="full")


@exercise(
    "02.convolve2d",
    "the textbook convolution, full size, from scratch",
    "implement",
    "core",
    form=Function(Array(), args=("image", "kernel")),
    trials=conv2d_trials,
    forbid=CONVOLUTIONS,
    expects="a function my_convolve2d(image, kernel) returning an (H + kh − 1, W + kw − 1) array",
)
def judge_convolve2d(outputs, trials):
    """`my_convolve2d(image, kernel)`: full 2-D convolution, kernel flipped, zeros outside."""
    for got, case in zip(outputs, trials, strict=True):
        image, kernel = case["image"], case["kernel"]
        on = f"on {describe_input(case)}"
        hints, shape_hints = _conv2d_mistakes(image, kernel)
        same_array(got, full_convolution(image, kernel), on, hints=hints, shape_hints=shape_hints)
    return f"matches scipy.signal.convolve2d on {len(trials)} random images and kernels"


@exercise(
    "02.conv2d",
    "convolution from scratch: valid cross-correlation, stride 1",
    "implement",
    "core",
    form=Function(Array(), args=("image", "kernel")),
    trials=conv2d_trials,
    forbid=CONVOLUTIONS,
    expects="a function conv2d(image, kernel) returning an (H − kh + 1, W − kw + 1) array",
    in_notebook=False,
)
def judge_conv2d(outputs, trials):
    """`conv2d(image, kernel)`: 2-D image, 2-D kernel, valid cross-correlation, stride 1."""
    for got, case in zip(outputs, trials, strict=True):
        image, kernel = case["image"], case["kernel"]
        expected = ops.conv2d(image, kernel)
        h, w = expected.shape
        same_array(
            got,
            expected,
            f"on {describe_input(case)}",
            hints=[
                (
                    ops.true_conv2d(image, kernel),
                    "that is the textbook convolution, which flips the kernel; deep learning's "
                    "convolution multiplies the window by the kernel as it is",
                ),
                (expected.T, "rows and columns are swapped: index the output as [row, column]"),
            ],
            shape_hints=[
                ((h - 1, w - 1), "off by one: a k-wide kernel fits in n − k + 1 positions"),
                ((h + 1, w + 1), "off by one: a k-wide kernel fits in n − k + 1 positions"),
                (image.shape, "'valid' adds no padding: the output shrinks by k − 1"),
            ],
        )
    return f"matches cnnlib.ops.conv2d on {len(trials)} random images and kernels"


def _conv2d_mistakes(image, kernel):
    """(hints, shape_hints): the outputs and shapes of the usual slips, with their causes."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    hints = [
        (
            ops.conv2d(image, kernel, padding="full"),
            "that is the full cross-correlation: the textbook convolution flips the kernel, "
            "out[i, j] adds kernel[a, b] · image[i − a, j − b]",
        ),
        (
            ops.conv2d(image, kernel[::-1, :], padding="full"),
            "the kernel is flipped left to right only: the convolution flips both ways",
        ),
        (
            ops.conv2d(image, kernel[:, ::-1], padding="full"),
            "the kernel is flipped upside down only: the convolution flips both ways",
        ),
        (
            full_convolution(image, kernel).T,
            "rows and columns are swapped: index the output as [row, column]",
        ),
    ]
    shape_hints = [
        (
            (h - kh + 1, w - kw + 1),
            "that is the 'valid' size, the kernel inside the image; the full convolution keeps "
            "every position where kernel and image overlap by at least one pixel",
        ),
        ((h, w), "that is the image's own size ('same'); full is (H + kh − 1, W + kw − 1)"),
        ((h + kh - 2, w + kw - 2), "off by one: the full output is (H + kh − 1, W + kw − 1)"),
        ((h + kh, w + kw), "off by one: the full output is (H + kh − 1, W + kw − 1)"),
        ((w + kw - 1, h + kh - 1), "rows and columns are swapped: (H + kh − 1, W + kw − 1)"),
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
    form=Mapping({"output shape": Shape(), "parameters": Size()}),
    expects='a dict {"output shape": (height, width, channels), "parameters": an int}',
)
def judge_conv_layer_shape(prediction, trials):
    """`prediction`: {"output shape": (H', W', K), "parameters": int} for Conv2D(8, 5) on (32, 32, 3)."""
    n, _, c_in = LAYER_INPUT
    f, k = LAYER_KERNEL, LAYER_FILTERS
    side = ops.output_size(n, f)
    shape = prediction["output shape"]
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]  # a batch of one in front, as a Keras output prints, is the same answer
    same_shape(
        shape,
        (side, side, k),
        f"the output shape of Conv2D({k}, {f}) on a {n}×{n}×{c_in} image",
        hints=[
            ((n, n, k), "'valid' (Keras's default) adds no padding: the image shrinks by f − 1"),
            ((side, side, c_in), "the output has one channel per filter, not per input channel"),
            ((k, side, side), "Keras puts the channels last: (height, width, channels)"),
            ((side - 1, side - 1, k), "off by one: a 5-wide kernel fits in 32 − 5 + 1 positions"),
            ((side + 1, side + 1, k), "off by one: a 5-wide kernel fits in 32 − 5 + 1 positions"),
        ],
    )
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
                "that is the number of outputs; weights are shared across positions, so the "
                "image size does not count",
            ),
        ],
    )
    return (
        f"{(side, side, k)} and {right} parameters (5·5·3·8 weights + 8 biases), as "
        f"Keras's Conv2D({k}, {f}).compute_output_shape and count_params() say"
    )


# ---------------------------------------------------------------------------------------------
# 02.multichannel — a whole layer: K filters over C channels, kernels (kh, kw, C, K), K biases
# ---------------------------------------------------------------------------------------------
_LAYER_SHAPES = [  # image (H, W, C), kernel size, filters K (one case with C == K, one with C = 1)
    ((6, 6, 3), (3, 3), 2),
    ((5, 7, 2), (2, 3), 4),
    ((8, 5, 3), (3, 1), 3),
    ((4, 4, 1), (2, 2), 2),
    ((7, 6, 5), (4, 2), 1),
]


def layer_trials(rng):
    """Random images, kernels in Keras's layout (kh, kw, C, K) and biases away from 0."""
    return [
        {
            "image": rng.normal(size=image),
            "kernels": rng.normal(size=size + (image[-1], filters)),
            "biases": rng.normal(size=filters) + 2.0,
        }
        for image, size, filters in _LAYER_SHAPES
    ]


@exercise(
    "02.multichannel",
    "a whole convolutional layer: several channels, several filters, their biases",
    "implement",
    "core",
    form=Function(Array(), args=("image", "kernels", "biases")),
    trials=layer_trials,
    forbid=CONVOLUTIONS,
    expects="a function my_conv_layer(image, kernels, biases) returning an (H', W', K) array",
)
def judge_multichannel(outputs, trials):
    """`my_conv_layer(image, kernels, biases)`: (H, W, C), (kh, kw, C, K), (K,) → (H', W', K)."""
    for got, case in zip(outputs, trials, strict=True):
        image, kernels, biases = case["image"], case["kernels"], case["biases"]
        on = f"on {describe_input(case)}"
        maps = _per_channel_maps(image, kernels)  # (H', W', C, K)
        hints, shape_hints = _layer_mistakes(image, kernels, biases, maps)
        same_array(got, maps.sum(axis=2) + biases, on, hints=hints, shape_hints=shape_hints)
    return f"matches a Keras-style Conv2D on {len(trials)} random images and layers"


def _per_channel_maps(image, kernels):
    """maps[..., c, k]: channel c slid under filter k's slice c (valid cross-correlation)."""
    channels, filters = kernels.shape[2:]
    return np.stack(
        [
            np.stack([ops.conv2d(image[..., c], kernels[:, :, c, k]) for k in range(filters)], -1)
            for c in range(channels)
        ],
        axis=2,
    )


def _layer_mistakes(image, kernels, biases, maps):
    """(hints, shape_hints) for a layer: the usual slips and their causes."""
    h, w, channels, filters = maps.shape
    hints = [
        (maps.sum(axis=2), "the biases are missing: add biases[k] to feature map k"),
        (
            maps.sum(axis=2) + channels * biases,
            "the bias was added once per channel: add it once, after summing the channels",
        ),
        (maps.sum(axis=2) + biases[0], "every map got biases[0]: feature map k gets biases[k]"),
        (maps.mean(axis=2) + biases, "the channels were averaged: their maps are added up"),
        (maps[:, :, 0, :] + biases, "only channel 0 was used: sum the maps of all channels"),
        (
            _per_channel_maps(image, kernels[::-1, ::-1]).sum(axis=2) + biases,
            "the kernel is flipped: multiply the window by the kernel as it is",
        ),
    ]
    if channels == filters:
        swapped = np.swapaxes(kernels, 2, 3)
        hints.append(
            (
                _per_channel_maps(image, swapped).sum(axis=2) + biases,
                "the kernel's last two axes are swapped: Keras's layout is (kh, kw, C, K), so "
                "kernels[:, :, c, k] is filter k's slice for channel c",
            )
        )
    shape_hints = [
        ((filters, h, w), "Keras puts the feature maps last: (H', W', K)"),
        ((h, w, channels, filters), "the channels were not summed: each filter gives ONE map"),
        ((h, w, channels), "one map per channel: each filter sums its channels into one map"),
        ((h, w), "only one feature map: the layer gives one per filter, (H', W', K)"),
        ((h - 1, w - 1, filters), "off by one: a k-wide kernel fits in n − k + 1 positions"),
    ]
    return hints, shape_hints


# ---------------------------------------------------------------------------------------------
# 02.diagonal_kernel — design a kernel that answers both diagonals, not straight lines
# ---------------------------------------------------------------------------------------------
DIAGONAL_SIZE = 21
NOTHING = 1e-9  # an answer this small is no answer (weights like 2/3 − 1/3 − 1/3 leave 1e-16)
DIAGONAL_RATIO = 3.0  # each diagonal at least three times the best straight-line answer
FLAT_SHARE = 0.25  # and a plain bright image at most a quarter of the weaker diagonal
MAX_SIDE = 7


def line_answers(kernel, size=DIAGONAL_SIZE):
    """How `kernel` answers the line pictures of `kernels.line_pictures(size)` and a flat image.

    Per angle: {"on": the strongest answer with the window centred on the line (either middle
    cell of an even side), "off": the strongest answer anywhere else}; "flat": |answer| to an
    image of ones.
    """
    kernel = np.asarray(kernel, dtype=float)
    kh, kw = kernel.shape
    middle_rows, middle_cols = {(kh - 1) // 2, kh // 2}, {(kw - 1) // 2, kw // 2}
    answers = {}
    for angle, picture in line_pictures(size).items():
        response = ops.conv2d(picture, kernel)
        h, w = response.shape
        centred = np.zeros((h, w), dtype=bool)
        for r in middle_rows:
            for c in middle_cols:
                centred |= picture[r : r + h, c : c + w] > 0
        off = response[~centred]
        answers[angle] = {
            "on": float(response[centred].max()),
            "off": float(off.max()) if off.size else float("-inf"),
        }
    answers["flat"] = float(np.abs(ops.conv2d(np.ones((size, size)), kernel)).max())
    return answers


@exercise(
    "02.diagonal_kernel",
    "design a kernel for diagonal lines of both directions",
    "design",
    "core",
    form=Array(),
    expects=f"a 2-D array of numbers, at most {MAX_SIDE} × {MAX_SIDE}",
)
def judge_diagonal_kernel(kernel, trials):
    """`kernel`: answers 45° and 135° lines (centred, positive), not 0°/90° lines or brightness."""
    if kernel.ndim != 2 or not (1 <= min(kernel.shape) and max(kernel.shape) <= MAX_SIDE):
        raise Wrong(
            f"expected a 2-D kernel of at most {MAX_SIDE} × {MAX_SIDE}, got shape {kernel.shape}"
        )
    if not np.all(np.isfinite(kernel)):
        raise Wrong(
            f"{int(np.sum(~np.isfinite(kernel)))} of your kernel's {kernel.size} weights are "
            "NaN or infinite, so it cannot answer anything",
            "dividing by a sum of weights that is 0 gives NaN and infinity",
        )
    answers = line_answers(kernel)
    straight = max(answers[0]["on"], answers[0]["off"], answers[90]["on"], answers[90]["off"], 0.0)
    told = "; ".join(
        f"{a}° line: {answers[a]['on']:.2f} centred, {answers[a]['off']:.2f} elsewhere"
        for a in (45, 135)
    )
    told += f"; 0°/90° lines: {straight:.2f}; flat image: {answers['flat']:.2f}"
    for angle in (45, 135):
        other = 180 - angle
        on, off = answers[angle]["on"], answers[angle]["off"]
        if on <= NOTHING and answers[other]["on"] > NOTHING:
            raise Wrong(
                f"your kernel answers the {other}° diagonal but not the {angle}° one ({told})",
                "the exercise asks for both directions: put positive weight along both "
                "diagonals (the gallery's detectors each find one)",
            )
        if on <= NOTHING or on < off - NOTHING:
            raise Wrong(
                f"the strongest answer to the {angle}° line is not where the line is ({told})",
                "a detector says 'found' with a large POSITIVE value when its window is centred "
                "on its pattern: positive weights on the diagonals, negative ones around them "
                "(negative weights on the line make it answer beside the line)",
            )
    diagonal = min(answers[45]["on"], answers[135]["on"])
    if diagonal < DIAGONAL_RATIO * straight:
        raise Wrong(
            f"the weaker diagonal gets {diagonal:.2f}, less than {DIAGONAL_RATIO:g}× the best "
            f"horizontal or vertical answer {straight:.2f} ({told})",
            "a kernel symmetric under 90° turns (the Laplacian, the outline kernel) answers lines "
            "of every direction; weights beside the diagonals should be negative enough that a "
            "straight line crossing the window collects as much negative as positive weight",
        )
    if answers["flat"] > FLAT_SHARE * diagonal:
        raise Wrong(
            f"a plain bright image gets {answers['flat']:.2f}, more than a quarter of the weaker "
            f"diagonal's {diagonal:.2f} ({told})",
            "your kernel also answers plain brightness: make its weights sum to 0",
        )
    return (
        f"the 45° and 135° lines get {answers[45]['on']:.2f} and {answers[135]['on']:.2f}, "
        f"horizontal and vertical lines at most {straight:.2f}, a flat image {answers['flat']:.2f}"
    )


# ---------------------------------------------------------------------------------------------
# 02.conv_backward — the backward pass of a convolution layer, checked numerically
# ---------------------------------------------------------------------------------------------
_BACKWARD_SHAPES = [
    ((5, 5, 1), (3, 3, 1, 1)),
    ((6, 4, 2), (2, 3, 2, 3)),
    ((7, 6, 3), (3, 3, 3, 2)),
    ((4, 6, 1), (1, 2, 1, 2)),
]


def conv_forward(x, w, b):
    """The layer whose gradients the exercise asks for: valid cross-correlation, stride 1, + b."""
    return ops.conv2d(x, w) + b


def backward_trials(rng):
    """(dout, x, w, b) of random layers: one to four filters, one to three channels."""
    trials = []
    for x_shape, w_shape in _BACKWARD_SHAPES:
        x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
        b = rng.normal(size=w_shape[-1])
        dout = rng.normal(size=conv_forward(x, w, b).shape)
        trials.append({"dout": dout, "x": x, "w": w, "b": b})
    return trials


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
    form=Function(Sequence(Array(), length=3), args=("dout", "x", "w", "b")),
    trials=backward_trials,
    forbid=("tensorflow.GradientTape",),
    expects="a function my_conv_backward(dout, x, w, b) returning the tuple (dx, dw, db)",
)
def judge_conv_backward(outputs, trials):
    """`conv_backward(dout, x, w, b)` → (dx, dw, db) of y = conv2d(x, w) + b (valid, stride 1)."""
    worst = {"dx": 0.0, "dw": 0.0, "db": 0.0}
    for answer, case in zip(outputs, trials, strict=True):
        dout, x, w, b = case["dout"], case["x"], case["w"], case["b"]
        on = f"for x of shape {x.shape}, w of shape {w.shape}, dout of shape {dout.shape}"
        numeric = {
            "dx": numerical_gradient(lambda v: conv_forward(v, w, b), x, dout),
            "dw": numerical_gradient(lambda v: conv_forward(x, v, b), w, dout),
            "db": numerical_gradient(lambda v: conv_forward(x, w, v), b, dout),
        }
        _compare_gradients(answer, numeric, x, w, dout, on)
        for name, analytic in zip(("dx", "dw", "db"), answer):
            worst[name] = max(worst[name], relative_error(analytic, numeric[name]))
    errors = ", ".join(f"{name} {error:.1e}" for name, error in worst.items())
    return (
        f"agrees with the numerical gradient on {len(trials)} random layers; "
        f"largest relative errors {errors} (around 1e-8 or less means right)"
    )


def _compare_gradients(gradients, numeric, x, w, dout, on):
    """Raise `Wrong` at the first of dx, dw, db that differs from its numerical gradient."""
    dx, dw, db = gradients
    same_array(
        dx,
        numeric["dx"],
        f"dx {on}",
        hints=[
            (
                _full_correlate(dout, w, flip=False),
                "dx slides dout over the kernel FLIPPED (a true convolution with full padding): "
                "the output at (r, c) used x[r + i, c + j] · w[i, j], so it sends dout[r, c] · "
                "w[i, j] back to x[r + i, c + j]",
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
    if np.ndim(db) == 0:  # one number
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
            (dout.mean(axis=(0, 1)), "the bias is added at every position: sum dout, not average")
        ],
        rtol=1e-5,
        atol=1e-6,
    )
