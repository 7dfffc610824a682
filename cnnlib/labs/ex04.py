"""Exercises of notebook 04 (pooling)."""

import numpy as np

from cnnlib import ops
from cnnlib.labs import core
from cnnlib.labs.core import (
    NotAttempted,
    Wrong,
    call,
    exercise,
    numerical_gradient,
    relative_error,
    rng,
    same_array,
    same_number,
)
from cnnlib.labs.ex03 import refuse_references, watching, whole_number
from cnnlib.lessons import keras_reference

# What "from scratch" forbids: the references the checks compare with.
_POOLING_REFERENCES = (
    ops.pool2d,
    ops.global_max_pool2d,
    ops.global_avg_pool2d,
    keras_reference.apply_layer,
)

_POOL_CASES = [
    ((6, 8, 3), 2, 2),
    ((4, 4, 1), 2, 2),
    ((7, 7, 2), 3, 2),
    ((9, 6, 4), 3, 3),
    ((5, 7, 2), 2, 1),
]


@exercise("04.max_pool", "max pooling from scratch, channel by channel", "implement", "core")
def check_max_pool(max_pool):
    """`max_pool(x, size, stride)`: x of shape (H, W, C), valid max pooling, each channel on its own."""
    random, called = rng(4), []
    for shape, size, stride in _POOL_CASES:
        x = random.normal(size=shape)
        on = f"on a random {'×'.join(map(str, shape))} input with size {size}, stride {stride}"
        with watching(*_POOLING_REFERENCES) as seen:
            got = call(max_pool, x.copy(), size, stride, on=on)
        called += [name for name in seen if name not in called]
        expected = ops.pool2d(x, size, stride, mode="max")
        h, w, c = expected.shape
        same_array(
            got,
            expected,
            on,
            hints=_max_pool_hints(x, size, stride),
            shape_hints=[
                ((h, w), "the channel axis is missing: pool each channel and return (H', W', C)"),
            ],
        )
    refuse_references(called, "loops over the windows, with a maximum per channel")
    return f"matches cnnlib.ops.pool2d on {len(_POOL_CASES)} random inputs, sizes and strides"


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
# Predict, then run: Keras's MaxPooling2D(2) on a 4 × 5 matrix
# ---------------------------------------------------------------------------------------------
PREDICT_MATRIX = np.array(
    [[1, 3, 2, 0, 5], [4, 2, 1, 6, 1], [0, 1, 3, 2, 4], [2, 5, 0, 1, 3]], dtype=float
)


def _prediction_array(prediction):
    """The prediction as a 2-D float array; Keras's (1, H, W, 1) or (H, W, 1) are read as (H, W)."""
    try:
        got = np.asarray(prediction, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(
            f"expected a 2-D array of numbers (rows of equal length), got {prediction!r}",
            "write it as a list of rows, e.g. [[a, b], [c, d]]",
        ) from None
    if got.ndim == 4 and got.shape[0] == 1 and got.shape[-1] == 1:
        got = got[0, :, :, 0]  # Keras's batch and channel axes
    elif got.ndim == 3 and got.shape[-1] == 1:
        got = got[:, :, 0]  # the channel axis
    if not np.isfinite(got).all():
        raise Wrong("your prediction holds NaN or inf; a max pool returns numbers of the input")
    return got


@exercise("04.predict_pooled", "predict MaxPooling2D(2) on a 4 × 5 matrix", "predict", "warm-up")
def check_predict_pooled(prediction):
    """`prediction`: the 2-D array keras.layers.MaxPooling2D(2) returns for PREDICT_MATRIX.

    A wrong prediction is told what kind of slip it is and where, never the values Keras returns.
    """
    x = PREDICT_MATRIX
    got, expected = _prediction_array(prediction), ops.pool2d(x, 2, 2, mode="max")
    on = "MaxPooling2D(2) on the 4 × 5 matrix"
    if got.shape != expected.shape:
        shape_hints = {
            (3, 4): "Keras's pooling stride defaults to the pool size (2), not 1",
            (2, 3): "padding='valid' (the default) drops the fifth column: no whole 2 × 2 "
            "window fits there",
            (4, 5): "pooling shrinks the matrix: count how many 2 × 2 windows fit, moving by 2",
        }
        raise Wrong(
            f"for {on}: your prediction has shape {got.shape}, which is not the output's shape",
            shape_hints.get(got.shape, "count the whole 2 × 2 windows along each axis"),
        )
    if np.allclose(got, expected):
        return (
            "MaxPooling2D(2) has stride 2 and 'valid' padding by default: the fifth column is "
            "dropped"
        )
    if np.allclose(got, ops.pool2d(x, 2, 2, mode="avg")):
        raise Wrong(
            f"for {on}: those are the windows' averages",
            "MaxPooling2D keeps each window's largest value",
        )
    rows, cols = np.nonzero(~np.isclose(got, expected))
    where = ", ".join(f"row {r + 1}, column {c + 1}" for r, c in zip(rows, cols))
    raise Wrong(
        f"for {on}: the shape is right, the value at {where} is not",
        "each output is the largest of one 2 × 2 block: rows 1–2 or 3–4, columns 1–2 or 3–4",
    )


# ---------------------------------------------------------------------------------------------
# Predict: the parameter count of a small conv-pool stack
# ---------------------------------------------------------------------------------------------
def _conv(k, c_in, c_out, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


_STACK_PARAMS = _conv(3, 3, 8) + _conv(3, 8, 16) + (8 * 8 * 16 * 10 + 10)


@exercise("04.param_count", "parameters of a conv–pool stack", "predict", "core")
def check_param_count(count):
    """`count`: trainable parameters of the stack in the notebook (32 × 32 × 3 input)."""
    hints = [
        (
            _conv(3, 3, 8, False) + _conv(3, 8, 16, False) + 8 * 8 * 16 * 10,
            "the biases are missing: every filter and every dense unit has one",
        ),
        (
            _conv(3, 3, 8) + _conv(3, 8, 16) + (32 * 32 * 16 * 10 + 10),
            "the pooling layers were left out of the shapes: each halves height and width before "
            "Flatten, so Dense sees 8 · 8 · 16 numbers",
        ),
        (
            _conv(3, 3, 8) + _conv(3, 8, 16) + (16 * 16 * 16 * 10 + 10),
            "only one pooling was counted: after two 2 × 2 poolings 32 × 32 becomes 8 × 8",
        ),
        (
            _conv(3, 1, 8) + _conv(3, 1, 16) + (8 * 8 * 16 * 10 + 10),
            "each filter spans all input channels: a 3 × 3 filter on 8 channels has 3 · 3 · 8 "
            "weights (+ 1 bias)",
        ),
        (
            _STACK_PARAMS + 2 * 4,
            "pooling layers have no parameters: a 2 × 2 max has nothing to learn",
        ),
    ]
    if whole_number(count) is None:
        raise Wrong(
            f"the parameter count: expected one whole number, got {count!r}",
            "count weights and biases: an int such as 1234",
        )
    same_number(count, _STACK_PARAMS, "the parameter count", hints=hints)
    return (
        f"{_STACK_PARAMS:,}; the dense layer holds most of them, and each pooling cut its "
        "share by four"
    )


# ---------------------------------------------------------------------------------------------
# Experiment: max vs average pooling on a shifted photo
# ---------------------------------------------------------------------------------------------
def _reference_shift_change(image, mode):
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def experiment_photo():
    """The photo the experiment measures: the camera man, grey, 128 × 128."""
    from cnnlib.lessons.images import photo, resize

    return resize(photo("camera"), 128)


def _shift_hints(image, mode):
    """(typical wrong measurement, hint) pairs for one image of 04.shift_experiment."""
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return [
        (
            np.linalg.norm(after - before),
            "divide by the norm of the pooled map before the shift: a relative change",
        ),
        (
            np.linalg.norm(image[:, 1:] - image[:, :-1]) / np.linalg.norm(image[:, :-1]),
            "pool both versions first (2 × 2, mode `mode`), then compare",
        ),
        (
            _reference_shift_change(image, "max" if mode == "avg" else "avg"),
            "use the `mode` argument: ops.pool2d(..., mode=mode)",
        ),
        (
            np.linalg.norm(
                ops.pool2d(np.roll(image, -1, axis=1), 2, mode=mode)
                - ops.pool2d(image, 2, mode=mode)
            )
            / np.linalg.norm(ops.pool2d(image, 2, mode=mode))
            if image.shape[1] % 2 == 0
            else -1.0,
            "np.roll wraps the first column round to the end; compare image[:, :-1] with "
            "image[:, 1:] instead",
        ),
    ]


# Spellings of the two predictions a learner may write.
_MODES = {"max": "max", "maximum": "max", "avg": "avg", "average": "avg", "mean": "avg"}


@exercise("04.shift_experiment", "max vs average pooling on a shifted photo", "experiment", "core")
def check_shift_experiment(answer):
    """`answer = (prediction, shift_change)`: prediction "max" or "avg" (which pooled photo
    changes less under a one-pixel shift), and `shift_change(image, mode)` that measures it."""
    try:
        prediction, shift_change = answer
    except (TypeError, ValueError):
        raise Wrong("answer with a pair (prediction, shift_change)") from None
    if prediction is None:
        raise NotAttempted
    spelled = prediction.strip().lower() if isinstance(prediction, str) else prediction
    prediction = _MODES.get(spelled) if isinstance(spelled, str) else None
    if prediction is None:
        raise Wrong(f"the prediction must be 'max' or 'avg', got {spelled!r}")
    random = rng(44)
    for shape in [(8, 9), (12, 12), (7, 15)]:
        image = random.random(size=shape)
        for mode in ("max", "avg"):
            on = f"shift_change on a random {shape[0]}×{shape[1]} image, mode {mode!r}"
            got = call(shift_change, image.copy(), mode, on=on)
            same_number(
                got,
                _reference_shift_change(image, mode),
                on,
                rtol=1e-6,
                hints=_shift_hints(image, mode),
            )
    photo = experiment_photo()
    changes = {mode: _reference_shift_change(photo, mode) for mode in ("max", "avg")}
    measured = f"max pooling {changes['max']:.1%}, average pooling {changes['avg']:.1%}"
    smaller = min(changes, key=changes.get)
    if prediction != smaller:
        raise Wrong(
            "your function is right, but the prediction is not: run it on the photo "
            "(ex04.experiment_photo()) in both modes and compare",
            "a one-pixel shift swaps one pixel column of a 2 × 2 window: the average moves a "
            "little, but the maximum jumps whenever the brightest pixel leaves. Max pooling's "
            "robustness shows on sparse feature maps (a few strong responses), not on raw pixels",
        )
    return f"measured on the camera photo: {measured}"


# ---------------------------------------------------------------------------------------------
# Stretch: the backward pass of max pooling
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


@exercise("04.max_pool_backward", "the backward pass of max pooling", "implement", "stretch")
def check_max_pool_backward(max_pool_backward):
    """`max_pool_backward(x, upstream, size, stride)` → dx of x's shape (H, W, C): the gradient
    of sum(pool(x) * upstream) with respect to x, for valid max pooling."""
    random, called = rng(404), []
    worst = 0.0
    for shape, size, stride in _BACKWARD_CASES:
        x = tie_free_input(random, shape)
        pooled = ops.pool2d(x, size, stride, mode="max")
        upstream = random.normal(size=pooled.shape)
        overlap = "overlapping" if stride < size else "non-overlapping"
        on = (
            f"on a random {'×'.join(map(str, shape))} input, size {size}, stride {stride} "
            f"({overlap} windows)"
        )
        with watching(core.numerical_gradient) as seen:
            got = call(max_pool_backward, x.copy(), upstream.copy(), size, stride, on=on)
        called += [name for name in seen if name not in called]
        expected = numerical_gradient(
            lambda v: ops.pool2d(v, size, stride, mode="max"), x, upstream
        )
        hints = _backward_hints(x, upstream, size, stride)
        same_array(
            got,
            expected,
            on,
            hints=hints,
            shape_hints=[
                (pooled.shape, "dx has the shape of the input x, not of the pooled output")
            ],
        )
        worst = max(worst, relative_error(got, expected))
    refuse_references(called, "routing of each window's gradient to its maximum")
    return (
        f"relative error {worst:.1e} against a numerical gradient on {len(_BACKWARD_CASES)} "
        "inputs, non-overlapping and overlapping windows"
    )
