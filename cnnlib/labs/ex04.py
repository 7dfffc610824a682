"""Exercises of notebook 04 (pooling): trials, forms and judges (see labs/core.py)."""

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import (
    Array,
    Choice,
    Function,
    Number,
    Size,
    Wrong,
    describe_input,
    exercise,
    numerical_gradient,
    relative_error,
    same_array,
    same_number,
)

# ---------------------------------------------------------------------------------------------
# 4.1 · Predict, then run: Keras's MaxPooling2D(2) on a 4 × 5 matrix
# ---------------------------------------------------------------------------------------------
PREDICT_MATRIX = np.array(
    [[1, 3, 2, 0, 5], [4, 2, 1, 6, 1], [0, 1, 3, 2, 4], [2, 5, 0, 1, 3]], dtype=float
)


@exercise(
    "04.predict_pooled",
    "predict MaxPooling2D(2) on a 4 × 5 matrix",
    "predict",
    "warm-up",
    form=Array(),
    expects="a 2-D array of numbers, e.g. [[a, b], [c, d]]",
)
def judge_predict_pooled(prediction, trials):
    """`prediction`: the 2-D array keras.layers.MaxPooling2D(2) returns for PREDICT_MATRIX.

    A wrong prediction hears what kind of slip it is, never the values Keras returns nor which
    cell is wrong (that would give the answer away in a few tries).
    """
    got = prediction
    if got.ndim == 4 and got.shape[0] == 1 and got.shape[-1] == 1:
        got = got[0, :, :, 0]  # Keras's batch and channel axes
    elif got.ndim == 3 and got.shape[-1] == 1:
        got = got[:, :, 0]  # the channel axis
    on = "MaxPooling2D(2) on the 4 × 5 matrix"
    if not np.isfinite(got).all():
        raise Wrong(f"for {on}: your prediction holds NaN or inf", "a max pool returns numbers")
    expected = ops.pool2d(PREDICT_MATRIX, 2, 2, mode="max")
    if got.shape != expected.shape:
        shape_hints = {
            (3, 4): "Keras's pooling stride defaults to the pool size (2), not 1",
            (2, 3): "padding='valid' (the default) drops the last column: no whole 2 × 2 "
            "window fits there",
            (4, 5): "pooling shrinks the matrix: count how many 2 × 2 windows fit, moving by 2",
        }
        raise Wrong(
            f"for {on}: a prediction of shape {got.shape} is not the output's shape",
            shape_hints.get(got.shape, "count the whole 2 × 2 windows along each axis"),
        )
    if np.array_equal(got, expected):
        return (
            "MaxPooling2D(2) has stride 2 and 'valid' padding by default: the last column is "
            "dropped"
        )
    for other, hint in (
        ("avg", "those are the windows' averages: MaxPooling2D keeps each window's largest value"),
        ("min", "those are the windows' smallest values: max pooling keeps the largest"),
    ):
        windows = PREDICT_MATRIX[:4, :4].reshape(2, 2, 2, 2)
        summary = windows.mean(axis=(1, 3)) if other == "avg" else windows.min(axis=(1, 3))
        if np.allclose(got, summary):
            raise Wrong(f"for {on}: the shape is right, the values are not", hint)
    raise Wrong(
        f"for {on}: the shape is right, but not every value is",
        "each output is the largest value of one 2 × 2 block: rows 0–1 or 2–3, columns 0–1 or "
        "2–3 (column 4 is in no block)",
    )


# ---------------------------------------------------------------------------------------------
# 4.2 · Max pooling from scratch
# ---------------------------------------------------------------------------------------------
_POOL_CASES = [
    ((6, 8, 3), 2, 2),
    ((4, 4, 1), 2, 2),
    ((7, 7, 2), 3, 2),
    ((9, 6, 4), 3, 3),
    ((5, 7, 2), 2, 1),
]


def pool_trials(rng):
    """The cases above and one of random shape, each with random values."""
    cases = list(_POOL_CASES)
    size = int(rng.integers(2, 4))
    stride = int(rng.integers(1, size + 1))
    shape = (int(rng.integers(size, 10)), int(rng.integers(size, 10)), int(rng.integers(1, 4)))
    cases.append((shape, size, stride))
    return [
        {"x": rng.normal(size=shape), "size": size, "stride": stride}
        for shape, size, stride in cases
    ]


@exercise(
    "04.max_pool",
    "max pooling from scratch, channel by channel",
    "implement",
    "core",
    form=Function(Array(), args=("x", "size", "stride")),
    trials=pool_trials,
    forbid=(
        "cnnlib.ops.pool2d",
        "cnnlib.lessons.keras_reference.apply_layer",
        "keras.layers.MaxPooling2D",
        "tensorflow.nn.max_pool2d",
        "skimage.measure.block_reduce",
    ),
)
def judge_max_pool(outputs, trials):
    """`max_pool(x, size, stride)` returned `outputs[i]` on `trials[i]`."""
    for got, case in zip(outputs, trials):
        x, size, stride = case["x"], case["size"], case["stride"]
        expected = ops.pool2d(x, size, stride, mode="max")
        h, w, _ = expected.shape
        same_array(
            got,
            expected,
            f"on {describe_input(case)}",
            hints=_max_pool_hints(x, size, stride),
            shape_hints=[
                ((h, w), "the channel axis is missing: pool each channel and return (H', W', C)"),
            ],
        )
    return f"matches cnnlib.ops.pool2d on {len(trials)} random inputs, sizes and strides"


def _max_pool_hints(x, size, stride):
    """(typical wrong output, hint) pairs for one input of 04.max_pool."""
    return [
        (
            ops.pool2d(x, size, stride, mode="avg"),
            "that is average pooling: take the largest value of each window",
        ),
        (
            ops.pool2d(x, size, stride, mode="max").max(axis=-1),
            "the channels were mixed: pool each channel on its own and keep the channel axis",
        ),
        (
            ops.pool2d(x, size, 1, mode="max"),
            "the stride is ignored: move the window by `stride`, not by one",
        ),
        (
            ops.pool2d(x, stride, size, mode="max") if stride <= min(x.shape[:2]) else np.zeros(0),
            "size and stride are swapped",
        ),
        (
            ops.pool2d(x, size, stride, mode="max", padding="same"),
            "that is 'same' pooling (windows hanging over the edge); valid pooling keeps only "
            "whole windows",
        ),
        (
            ops.pool2d(x, (size, 1), (stride, 1), mode="max"),
            "pooled along the rows only: the window is size × size and moves in both directions",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# 4.3 · From a parameter count back to the image size
# ---------------------------------------------------------------------------------------------
# The stack of the notebook, for square RGB images of side n:
# Conv2D(8, 3, same) → MaxPooling2D(2) → Conv2D(16, 3, same) → MaxPooling2D(2) → Flatten → Dense(10)
IMAGE_SIDE = 48  # the side whose count the notebook states (not in the notebook: it is the answer)


CONV_PARAMETERS = (3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 16 + 16)  # the same for every n


def stack_parameters(n):
    """Trainable parameters of the stack for n × n × 3 images (pooling rounds down, as Keras)."""
    side = n // 2 // 2
    return CONV_PARAMETERS + side * side * 16 * 10 + 10


STACK_PARAMETERS = stack_parameters(IMAGE_SIDE)  # 24,442, the number the notebook gives


@exercise(
    "04.param_count",
    "from a parameter count back to the image size",
    "predict",
    "core",
    form=Size(minimum=1),
    expects="the image side n, a whole number such as 64",
)
def judge_param_count(n, trials):
    """`n`: the side of the square RGB images for which the stack has STACK_PARAMETERS."""
    if n == IMAGE_SIDE:
        return (
            f"{n} × {n}: the convolutions hold {CONV_PARAMETERS:,} parameters whatever the size, "
            f"the dense layer sees (n/4)² · 16 = {(n // 4) ** 2 * 16:,} numbers"
        )
    what = f"n = {n} is not right"
    if n % 4 and stack_parameters(n) == STACK_PARAMETERS:
        raise Wrong(
            what,
            "Keras gives this count for that n too (each pooling rounds down), but the side asked "
            "for is a multiple of 4",
        )
    target_side = IMAGE_SIDE // 4
    for wrong, hint in (
        (
            target_side,
            "Flatten sees the map after both poolings: (n/4) · (n/4) · 16 numbers, not n · n · 16",
        ),
        (2 * target_side, "there are two poolings, each halving the side: n → n/2 → n/4"),
        (
            16 * target_side,
            "a 2 × 2 pooling halves the side (it quarters the number of positions, not the side)",
        ),
    ):
        if n == wrong:
            raise Wrong(what, hint)
    raise Wrong(
        f"{what}: with n = {n} the stack has {stack_parameters(n):,} parameters",
        "only the dense layer depends on n: subtract the convolutions' parameters and the dense "
        "layer's 10 biases, and what is left is (n/4)² · 16 · 10",
    )


# ---------------------------------------------------------------------------------------------
# 4.4 · Max or average: which survives a shift better? (a prediction, then the measurement)
# ---------------------------------------------------------------------------------------------
def reference_shift_change(image, mode):
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def experiment_photo():
    """The photo the experiment measures: the camera man, grey, 128 × 128."""
    from cnnlib.lessons.images import photo, resize

    return resize(photo("camera"), 128)


def _measured_on_photo():
    photo = experiment_photo()
    return {mode: reference_shift_change(photo, mode) for mode in ("max", "avg")}


# Spellings of the two predictions a learner may write, and what they mean.
_MODES = {"max": "max", "maximum": "max", "avg": "avg", "average": "avg", "mean": "avg"}


@exercise(
    "04.shift_prediction",
    "predict: max or average pooling, which changes less under a shift?",
    "predict",
    "warm-up",
    form=Choice(*_MODES),
    expects="'max' or 'avg'",
)
def judge_shift_prediction(prediction, trials):
    """`prediction`: "max" or "avg", the pooling whose output changes less when the photo moves."""
    changes = _measured_on_photo()
    if _MODES[prediction] == min(changes, key=changes.get):
        return "the measurement (exercise 4.4's second part) will show it"
    raise Wrong(
        "that is not what the measurement shows",
        "a one-pixel shift swaps one pixel column of every 2 × 2 window; think about how much "
        "the window's average and its maximum move when that happens, on a photo whose "
        "neighbouring pixels are similar",
    )


def shift_trials(rng):
    """Random images of three shapes, then the photo, each in both modes."""
    images = [rng.random(size=shape) for shape in [(8, 9), (12, 12), (7, 15)]]
    images.append(np.asarray(experiment_photo(), dtype=float))
    return [{"image": image, "mode": mode} for image in images for mode in ("max", "avg")]


@exercise(
    "04.shift_experiment",
    "max vs average pooling on a shifted photo",
    "experiment",
    "core",
    form=Function(Number(), args=("image", "mode")),
    trials=shift_trials,
)
def judge_shift_experiment(changes, trials):
    """`shift_change(image, mode)` returned `changes[i]` on `trials[i]`; the last two trials are
    the photo, so what the confirmation reports is the learner's function, run by the check."""
    for got, case in zip(changes, trials):
        image, mode = case["image"], case["mode"]
        on = f"shift_change on a {image.shape[0]}×{image.shape[1]} image, mode {mode!r}"
        same_number(
            got,
            reference_shift_change(image, mode),
            on,
            rtol=1e-6,
            hints=_shift_hints(image, mode),
        )
    measured = {case["mode"]: got for got, case in zip(changes[-2:], trials[-2:])}
    smaller = "average" if measured["avg"] < measured["max"] else "max"
    return (
        f"your function on the camera photo: max pooling {measured['max']:.1%}, average pooling "
        f"{measured['avg']:.1%}; {smaller} pooling changes less"
    )


def _shift_hints(image, mode):
    """(typical wrong measurement, hint) pairs for one image of 04.shift_experiment."""
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    hints = [
        (
            np.linalg.norm(after - before),
            "divide by the norm of the pooled map before the shift: a relative change",
        ),
        (
            np.linalg.norm(image[:, 1:] - image[:, :-1]) / np.linalg.norm(image[:, :-1]),
            "pool both versions first (2 × 2, mode `mode`), then compare",
        ),
        (
            reference_shift_change(image, "max" if mode == "avg" else "avg"),
            "use the `mode` argument: ops.pool2d(..., mode=mode)",
        ),
    ]
    if image.shape[1] % 2 == 0:
        rolled = ops.pool2d(np.roll(image, -1, axis=1), 2, mode=mode)
        unrolled = ops.pool2d(image, 2, mode=mode)
        hints.append(
            (
                np.linalg.norm(rolled - unrolled) / np.linalg.norm(unrolled),
                "np.roll wraps the first column round to the end; compare image[:, :-1] with "
                "image[:, 1:] instead",
            )
        )
    return hints


# ---------------------------------------------------------------------------------------------
# 4.5 · The backward pass of max pooling
# ---------------------------------------------------------------------------------------------
_BACKWARD_CASES = [
    ((4, 4, 1), 2, 2),
    ((6, 8, 3), 2, 2),
    ((5, 7, 2), 2, 2),
    ((7, 7, 2), 3, 2),
    ((5, 6, 2), 2, 1),
    ((6, 5, 1), 3, 1),
]


def _windows(h_out, w_out, size, stride):
    for i in range(h_out):
        for j in range(w_out):
            yield i, j, slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)


def _avg_backward(x, upstream, size, stride):
    dx = np.zeros_like(x, dtype=float)
    for i, j, rows, cols in _windows(*upstream.shape[:2], size, stride):
        dx[rows, cols] += upstream[i, j] / (size * size)
    return dx


def _route(x, upstream, size, stride, accumulate=True, first=False):
    dx = np.zeros_like(x, dtype=float)
    for i, j, rows, cols in _windows(*upstream.shape[:2], size, stride):
        window = x[rows, cols].reshape(size * size, -1)
        where = np.zeros_like(window, dtype=int) if first else window.argmax(axis=0)
        for c in range(x.shape[2]):
            r, q = divmod(where[c] if not first else 0, size)
            target = (rows.start + r, cols.start + q, c)
            dx[target] = dx[target] + upstream[i, j, c] if accumulate else upstream[i, j, c]
    return dx


def _backward_hints(x, upstream, size, stride):
    """(typical wrong gradient, hint) pairs for one input of 04.max_pool_backward."""
    hints = [
        (
            _avg_backward(x, upstream, size, stride),
            "the gradient was spread evenly over each window: that is average pooling's "
            "backward pass. Max pooling passes it to the argmax of each window only",
        ),
        (
            _route(x, np.ones_like(upstream), size, stride),
            "multiply by the upstream gradient: route upstream[i, j, c], not 1",
        ),
        (
            _route(x, upstream, size, stride, first=True),
            "the gradient went to the first pixel of each window; it belongs to the window's "
            "largest value (np.argmax of the window, per channel)",
        ),
    ]
    if stride < size:
        hints.append(
            (
                _route(x, upstream, size, stride, accumulate=False),
                "overlapping windows can share their maximum: add (+=) each window's "
                "gradient into dx instead of overwriting it",
            )
        )
    return hints


def tie_free_input(random, shape):
    """Distinct values 0.1 apart, shuffled: no window has a tie, so max is differentiable."""
    return (random.permutation(int(np.prod(shape))) * 0.1).reshape(shape) - 0.05 * np.prod(shape)


def backward_trials(rng):
    cases = []
    for shape, size, stride in _BACKWARD_CASES:
        x = tie_free_input(rng, shape)
        upstream = rng.normal(size=ops.pool2d(x, size, stride).shape)
        cases.append({"x": x, "upstream": upstream, "size": size, "stride": stride})
    return cases


@exercise(
    "04.max_pool_backward",
    "the backward pass of max pooling",
    "implement",
    "stretch",
    form=Function(Array(), args=("x", "upstream", "size", "stride")),
    trials=backward_trials,
    forbid=(
        "cnnlib.ops.pool2d",
        "tensorflow.GradientTape",
        "tensorflow.nn.max_pool2d",
        "keras.layers.MaxPooling2D",
    ),
)
def judge_max_pool_backward(gradients, trials):
    """`max_pool_backward(x, upstream, size, stride)` returned `gradients[i]` on `trials[i]`: the
    gradient of sum(pool(x) * upstream) with respect to x, for valid max pooling."""
    worst = 0.0
    for got, case in zip(gradients, trials):
        x, upstream, size, stride = case["x"], case["upstream"], case["size"], case["stride"]
        overlap = "overlapping" if stride < size else "non-overlapping"
        on = f"on {describe_input(case)} ({overlap} windows)"
        expected = numerical_gradient(
            lambda v, size=size, stride=stride: ops.pool2d(v, size, stride, mode="max"),
            x,
            upstream,
        )
        same_array(
            got,
            expected,
            on,
            hints=_backward_hints(x, upstream, size, stride),
            shape_hints=[
                (upstream.shape, "dx has the shape of the input x, not of the pooled output")
            ],
        )
        worst = max(worst, relative_error(got, expected))
    return (
        f"relative error {worst:.1e} against a numerical gradient on {len(trials)} "
        "inputs, non-overlapping and overlapping windows"
    )
