"""Exercises of notebook 03 (padding and stride): trials, forms and judges (see labs/core.py)."""

import itertools
import math

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
    same_array,
)
from cnnlib.runtime.validation import int_pair

# ------------------------------------------------------------------ 03.output_size (warm-up)
# Sizes, kernels, paddings and strides that separate the usual formula mistakes: every trial has
# all of them, and a few random ones on top, so a table of answers cannot be learnt by heart.
_SIZE_CASES = [
    (n, f, p, s)
    for n, f, p, s in itertools.product(
        (5, 6, 7, 28, 32, 224), (1, 2, 3, 5, 7), (0, 1, 2, 3), (1, 2, 3)
    )
    if f <= n + 2 * p
]

# (formula a learner might write, hint) — the first that explains every answer gives the hint.
_MISTAKES = [
    (
        lambda n, f, p, s: (n + 2 * p - f) // s,
        "off by one: the first position counts too, so add 1 after dividing",
    ),
    (lambda n, f, p, s: (n + p - f) // s + 1, "padding goes on both sides: add 2p, not p"),
    (
        lambda n, f, p, s: math.ceil((n + 2 * p - f) / s) + 1,
        "round down, not up: a window that would hang over the edge is not computed",
    ),
    (
        lambda n, f, p, s: (n + 2 * p - f) / s + 1,
        "the result must be a whole number: floor the division ((n + 2p − f) // s) before adding 1",
    ),
    (lambda n, f, p, s: (n + 2 * p - f) + 1, "the stride is missing: divide (n + 2p − f) by s"),
    (lambda n, f, p, s: (n + 2 * p - f + 1) // s, "add 1 after the division, not before it"),
    (lambda n, f, p, s: (n - 2 * p - f) // s + 1, "padding makes the input larger: + 2p, not − 2p"),
]


def size_trials(rng):
    """Every case of _SIZE_CASES and 24 random ones, as dicts of the function's arguments."""
    cases = list(_SIZE_CASES)
    while len(cases) < len(_SIZE_CASES) + 24:
        n, f = int(rng.integers(1, 400)), int(rng.integers(1, 12))
        p, s = int(rng.integers(0, 6)), int(rng.integers(1, 6))
        if f <= n + 2 * p:
            cases.append((n, f, p, s))
    return [{"n": n, "f": f, "padding": p, "stride": s} for n, f, p, s in cases]


@exercise(
    "03.output_size",
    "the output-size formula",
    "implement",
    "warm-up",
    form=Function(Number(), args=("n", "f", "padding", "stride")),
    trials=size_trials,
    forbid=("cnnlib.ops.output_size",),
)
def judge_output_size(values, trials):
    """`output_size(n, f, padding, stride)` returned `values[i]` on case `trials[i]`."""
    cases = [(c["n"], c["f"], c["padding"], c["stride"]) for c in trials]
    wrong = [(case, got) for case, got in zip(cases, values) if got != ops.output_size(*case)]
    if not wrong:
        return f"right on all {len(cases)} combinations of size, kernel, padding and stride"
    (n, f, p, s), got = wrong[0]
    what = (
        f"for n={n}, f={f}, padding={p}, stride={s} you return {got:g}; "
        f"the output has {ops.output_size(n, f, p, s)} positions"
    )
    for mistake, hint in _MISTAKES:  # the hint of the first typical mistake that explains all
        if all(got == mistake(*case) for case, got in zip(cases, values)):
            raise Wrong(what, hint)
    raise Wrong(what, "the formula is floor((n + 2p − f) / s) + 1")


# ------------------------------------------------------------------ 03.shapes (predict, core)
SHAPES_INPUT = (29, 29, 3)
# (Keras layer as the notebook writes it, kind, arguments): the stack whose shapes are predicted.
SHAPES_STACK = (
    ("Conv2D(8, 3)", "conv", dict(filters=8, kernel=3, strides=(1, 1), padding="valid")),
    (
        "Conv2D(16, 5, strides=2, padding='same')",
        "conv",
        dict(filters=16, kernel=5, strides=(2, 2), padding="same"),
    ),
    (
        "Conv2D(16, 3, strides=2)",
        "conv",
        dict(filters=16, kernel=3, strides=(2, 2), padding="valid"),
    ),
    ("ZeroPadding2D(2)", "pad", dict(padding=2)),
    (
        "Conv2D(32, 3, strides=(2, 1))",
        "conv",
        dict(filters=32, kernel=3, strides=(2, 1), padding="valid"),
    ),
    ("MaxPooling2D(2)", "pool", dict(size=2)),
)


def _layer_shape(kind, args, shape):
    """Output (H, W, C) of one layer of SHAPES_STACK for an input of `shape`."""
    h, w, c = shape
    if kind == "pad":
        return h + 2 * args["padding"], w + 2 * args["padding"], c
    if kind == "pool":
        return (
            ops.output_size(h, args["size"], 0, args["size"]),
            ops.output_size(w, args["size"], 0, args["size"]),
            c,
        )
    (sh, sw), f, padding = args["strides"], args["kernel"], args["padding"]
    return (ops.output_size(h, f, padding, sh), ops.output_size(w, f, padding, sw), args["filters"])


def expected_shapes():
    """The output shape (H, W, C) after each layer of SHAPES_STACK, from the formula."""
    shapes, shape = [], SHAPES_INPUT
    for _, kind, args in SHAPES_STACK:
        shape = _layer_shape(kind, args, shape)
        shapes.append(shape)
    return shapes


def build_shapes_model():
    """SHAPES_STACK as a Keras model: the stack exercise 3.2 writes out (its solution builds it)."""
    import keras

    layers = []
    for _, kind, args in SHAPES_STACK:
        if kind == "conv":
            layers.append(
                keras.layers.Conv2D(
                    args["filters"],
                    args["kernel"],
                    strides=args["strides"],
                    padding=args["padding"],
                )
            )
        elif kind == "pad":
            layers.append(keras.layers.ZeroPadding2D(args["padding"]))
        else:
            layers.append(keras.layers.MaxPooling2D(args["size"]))
    return keras.Sequential([keras.Input(SHAPES_INPUT), *layers])


def _shape_hints(kind, args, shape):
    """(wrong (H, W) for this layer given the right input `shape`, hint) pairs."""
    h, w, _ = shape
    if kind == "pad":
        p = args["padding"]
        return [
            (
                (h + p, w + p),
                f"ZeroPadding2D({p}) adds {p} rows at the top AND {p} at the "
                f"bottom (and columns on both sides): + {2 * p}",
            ),
            ((h, w), "ZeroPadding2D adds rows and columns of zeros: the map grows"),
        ]
    if kind == "pool":
        s = args["size"]
        return [
            ((h - s + 1, w - s + 1), f"MaxPooling2D({s})'s stride defaults to its size, {s}"),
            (
                (math.ceil(h / s), math.ceil(w / s)),
                "pooling here is 'valid': a window that would hang over the edge is dropped (round down)",
            ),
        ]
    (sh, sw), f, padding = args["strides"], args["kernel"], args["padding"]
    hints = []
    if padding == "same":
        hints += [
            (
                (h // sh, w // sw),
                "'same' rounds up: ceil(n / s), the last window may reach into the padding",
            ),
            (
                ((h - f) // sh + 1, (w - f) // sw + 1),
                "padding='same' pads the input, so the output is ceil(n / s) whatever the kernel",
            ),
        ]
    else:
        hints += [
            (
                ((h - f) // sh, (w - f) // sw),
                "off by one: (n − f) // s + 1 positions; the first position counts too",
            ),
            (
                (math.ceil((h - f) / sh) + 1, math.ceil((w - f) / sw) + 1),
                "round down: a window that would hang over the edge is not computed",
            ),
            (((h - f) // sh + 2, (w - f) // sw + 2), "off by one: (n − f) // s + 1, not + 2"),
            ((h, w), "'valid' (the default) adds no padding: the map shrinks"),
        ]
    if sh != sw:
        hints.append(
            (
                ((h - f) // sw + 1, (w - f) // sh + 1),
                f"strides=({sh}, {sw}) is (vertical, horizontal): rows move by {sh}, "
                f"columns by {sw}",
            )
        )
    hints.append(
        (
            (ops.output_size(h, f, padding, 1), ops.output_size(w, f, padding, 1)),
            "the stride is missing: a stride of s keeps about 1/s of the positions",
        )
    )
    return hints


@exercise(
    "03.shapes",
    "predict the output shapes of a small stack",
    "predict",
    "core",
    form=Sequence(Shape(ndim=3), length=len(SHAPES_STACK)),
    expects=f"a list of {len(SHAPES_STACK)} shapes (height, width, channels), one per layer",
)
def judge_shapes(prediction, trials):
    """`prediction`: one (height, width, channels) per layer of SHAPES_STACK."""
    shape = SHAPES_INPUT
    for index, ((name, kind, args), got) in enumerate(zip(SHAPES_STACK, prediction)):
        right = _layer_shape(kind, args, shape)
        if got != right:
            what = f"layer {index + 1} ({name}) on an input of {shape}: {got} is not right"
            if got[:2] == right[:2]:
                raise Wrong(
                    what,
                    "the height and width are right; a Conv2D outputs one channel per "
                    "filter (its first argument), padding and pooling keep the channels",
                )
            for wrong, hint in _shape_hints(kind, args, shape):
                if got[:2] == tuple(wrong):
                    raise Wrong(what, hint)
            raise Wrong(
                what, "output = floor((n + 2p − f) / s) + 1 per axis; 'same' gives ceil(n / s)"
            )
        shape = right
    return f"all {len(SHAPES_STACK)} shapes right, ending at {shape}"


# ------------------------------------------------------------------ 03.receptive_field (predict, core)
# (what the notebook calls the layer, kernel, stride)
RF_STACK = (
    ("conv 3×3", 3, 1),
    ("conv 3×3, stride 2", 3, 2),
    ("conv 3×3", 3, 1),
    ("max pool 2×2, stride 2", 2, 2),
    ("conv 3×3", 3, 1),
)


def rf_answer(stack=RF_STACK):
    """(receptive field, jump) of one unit of the last layer of `stack`."""
    size, jump = 1, 1
    for _, kernel, stride in stack:
        size += (kernel - 1) * jump
        jump *= stride
    return size, jump


def _rf_mistakes(stack=RF_STACK):
    """(size, hint) of the usual mistakes."""
    forgot_jump = 1 + sum(k - 1 for _, k, _ in stack)
    own_stride, j = 1, 1
    for _, k, s in stack:
        j *= s
        own_stride += (k - 1) * j
    added_jumps, j = 1, 1
    for _, k, s in stack:
        added_jumps += (k - 1) * j
        j += s - 1
    return [
        (
            forgot_jump,
            "a stride multiplies the jump of every LATER layer: after the stride-2 "
            "layer each step of a kernel moves 2 input pixels, after the pooling 4",
        ),
        (
            own_stride,
            "a layer's stride does not widen its own field: update the jump after "
            "adding (k − 1)·jump",
        ),
        (
            rf_answer([layer for layer in stack if not layer[0].startswith("max pool")])[0],
            "the pooling layer counts too: its 2×2 window adds (2 − 1)·jump and its stride "
            "multiplies the jump",
        ),
        (sum(k for _, k, _ in stack), "kernel sizes do not add up: each layer adds (k − 1)·jump"),
        (added_jumps, "jumps multiply, they do not add: jump × stride"),
    ]


def _one_axis(value, what):
    """A number, or a per-axis pair of equal numbers ((19, 19) as cnnlib.lessons.fields gives
    it), read as one number."""
    if value.ndim == 0 or (value.shape == (2,) and value[0] == value[1]):
        return float(value.ravel()[0])
    raise Wrong(
        f"the {what}: expected one number (or a pair of equal numbers, one per axis), "
        f"got an array of shape {value.shape}"
    )


@exercise(
    "03.receptive_field",
    "the receptive field of a stack with strides",
    "predict",
    "core",
    form=Sequence(Array(), length=2),
    expects="a pair (receptive field in pixels, jump in pixels)",
)
def judge_receptive_field(prediction, trials):
    """`prediction`: (receptive field side, jump) of one unit of the last layer of RF_STACK."""
    got_size, got_jump = (_one_axis(v, w) for v, w in zip(prediction, ("field", "jump")))
    size, jump = rf_answer()
    stack = " → ".join(name for name, _, _ in RF_STACK)
    if got_size != size:
        what = f"for {stack}: a receptive field of {got_size:g} pixels is not right"
        for wrong, hint in _rf_mistakes():
            if got_size == wrong and wrong != size:
                raise Wrong(what, hint)
        if not got_size.is_integer():  # a fraction, or inf/nan
            raise Wrong(what, "a receptive field is a whole number of pixels")
        raise Wrong(what, "walk through the layers: field += (k − 1)·jump, then jump ×= stride")
    if got_jump != jump:
        raise Wrong(
            f"the receptive field is right, a jump of {got_jump:g} is not",
            "the jump is the product of all strides so far (the pooling's too)",
        )
    return (
        f"a unit of the last layer sees {size} × {size} pixels; neighbours are {jump} pixels apart"
    )


# ------------------------------------------------------------------ 03.photo_stride (predict)
PHOTO_SIZE = 100
# setting name → (kernel, stride, padding), applied to a PHOTO_SIZE × PHOTO_SIZE photo.
PHOTO_SETTINGS = {
    "3x3, stride 2, valid": (3, 2, "valid"),
    "2x2, stride 4, valid": (2, 4, "valid"),
    "5x5, stride 4, valid": (5, 4, "valid"),
    "5x5, stride 4, same": (5, 4, "same"),
}


def unseen_rows(n, f, stride, padding):
    """How many of the n input rows no window ever covers."""
    (before, after), _ = ops.padding_amounts((n, 1), (f, 1), (stride, 1), padding)
    out = ops.output_size(n, f, padding, stride)
    seen = np.zeros(n + before + after, dtype=bool)
    for i in range(out):
        seen[i * stride : i * stride + f] = True
    return int((~seen[before : before + n]).sum())


def photo_answers(n=PHOTO_SIZE):
    """setting → (output height, input rows never under the kernel)."""
    return {
        name: (ops.output_size(n, f, p, s), unseen_rows(n, f, s, p))
        for name, (f, s, p) in PHOTO_SETTINGS.items()
    }


def _height_hints(n, f, s, size):
    return [
        ((n - f) // s, "off by one: the first window counts too (+ 1)"),
        (math.ceil((n - f) / s) + 1, "round down: a window hanging over the edge is not computed"),
        (math.floor(n / s), "'same' rounds up: ceil(n / s)"),
        ((n - f) // s + 1, "'same' pads the input: the output is ceil(n / s)"),
    ]


@exercise(
    "03.photo_stride",
    "stride and padding on a photo: size and what survives",
    "predict",
    "core",
    form=Mapping({name: Sequence(Size(minimum=0), length=2) for name in PHOTO_SETTINGS}),
    expects="a dict setting → (output height, input rows never under the kernel)",
)
def judge_photo_stride(prediction, trials):
    """`prediction`: setting → (output height, input rows never under the kernel)."""
    n = PHOTO_SIZE
    for name, (size, unseen) in photo_answers().items():
        f, s, padding = PHOTO_SETTINGS[name]
        got_size, got_unseen = prediction[name]
        on = f"{name} on a {n} × {n} photo"
        if got_size != size:
            what = f"{on}: an output height of {got_size} is not right"
            for wrong, hint in _height_hints(n, f, s, size):
                if got_size == wrong and wrong != size:
                    raise Wrong(what, hint)
            raise Wrong(what, "floor((n + 2p − f) / s) + 1; 'same' gives ceil(n / s)")
        if got_unseen != unseen:
            what = f"{on}: {got_unseen} rows never under the kernel is not right"
            if s > f:
                hint = (
                    f"the window is {f} rows tall but jumps {s}: the rows between two windows "
                    "are skipped, every time"
                )
            elif padding == "same":
                hint = "'same' adds the padding the last window needs, so it reaches the last row"
            elif (size - 1) * s + f < n:
                hint = (
                    "find where the last window ends: it starts at row (output height − 1) · "
                    "stride and is f rows tall; every row after it is never seen"
                )
            else:
                hint = "with a stride no larger than the kernel, windows touch or overlap"
            raise Wrong(what, hint)
    return "sizes and lost rows right for all four settings"


# ------------------------------------------------------------------ 03.strided_conv (stretch)
# (image shape, kernel shape, stride, padding): int and pair strides, square and not. The first
# separates every typical mistake; two more, of random shapes, come from each trial's seed.
_STRIDED_CASES = [
    ((8, 11), (3, 3), (2, 3), 2),
    ((7, 7), (3, 3), 2, 1),
    ((9, 6), (3, 2), (2, 1), 0),
    ((8, 11), (2, 3), (1, 3), 2),
    ((6, 6), (3, 3), 3, 1),
    ((10, 7), (4, 4), (3, 2), 1),
    ((5, 5), (5, 5), 1, 2),
    ((12, 9), (3, 3), (2, 3), 0),
]


def strided_trials(rng):
    cases = list(_STRIDED_CASES)
    for _ in range(2):
        kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
        h, w = int(rng.integers(kh, 14)), int(rng.integers(kw, 14))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        cases.append(((h, w), (kh, kw), stride, int(rng.integers(0, 3))))
    return [
        {
            "x": rng.normal(size=image_shape),
            "kernel": rng.normal(size=kernel_shape),
            "stride": stride,
            "padding": padding,
        }
        for image_shape, kernel_shape, stride, padding in cases
    ]


@exercise(
    "03.strided_conv",
    "strided, padded convolution from scratch",
    "implement",
    "stretch",
    form=Function(Array(), args=("x", "kernel", "stride", "padding")),
    trials=strided_trials,
    forbid=(
        "cnnlib.ops.conv2d",
        "cnnlib.lessons.keras_reference.keras_conv",
        "scipy.signal.correlate2d",
        "keras.layers.Conv2D",
    ),
)
def judge_strided_conv(outputs, trials):
    """`conv2d_strided(x, kernel, stride, padding)` returned `outputs[i]` on `trials[i]`."""
    for got, case in zip(outputs, trials):
        x, kernel, stride, padding = case["x"], case["kernel"], case["stride"], case["padding"]
        expected = ops.conv2d(x, kernel, stride=stride, padding=padding)
        h, w = expected.shape
        same_array(
            got,
            expected,
            f"on {describe_input(case)}",
            hints=_strided_hints(x, kernel, stride, padding),
            shape_hints=[
                ((h - 1, w - 1), "off by one: floor((n + 2p − f) / s) + 1 positions per axis"),
                ((h + 1, w + 1), "off by one: floor((n + 2p − f) / s) + 1 positions per axis"),
            ],
        )
    return f"matches cnnlib.ops.conv2d on {len(trials)} random inputs, strides and paddings"


def _strided_hints(x, kernel, stride, padding):
    """(typical wrong output, hint) pairs for one input of 03.strided_conv."""
    sv, sh = int_pair(stride, "stride")
    hints = []
    if sv != 1 or sh != 1:
        hints += [
            (
                ops.conv2d(x, kernel, stride=(sv, 1), padding=padding),
                "the stride is applied to the rows only: move by s_H along the columns too",
            ),
            (
                ops.conv2d(x, kernel, stride=(1, sh), padding=padding),
                "the stride is applied to the columns only: move by s_V down the rows too",
            ),
            (
                ops.conv2d(x, kernel, stride=1, padding=padding),
                "the stride is ignored: window (i, j) starts at row i·s_V, column j·s_H",
            ),
        ]
    if sv != sh:
        swapped = _safe(lambda: ops.conv2d(x, kernel, stride=(sh, sv), padding=padding))
        hints.append(
            (
                swapped,
                "stride (s_V, s_H): the first number moves down the rows, the "
                "second along the columns",
            )
        )
    if padding:
        hints += [
            (
                _safe(lambda: ops.conv2d(x, kernel, stride=stride)),
                "the padding is ignored: add `padding` rows/columns of zeros on every side",
            ),
            (
                _safe(
                    lambda: ops.conv2d(
                        ops.pad(x, ((padding, 0), (padding, 0))), kernel, stride=stride
                    )
                ),
                "your output is the right one without its last rows and columns: zeros added "
                "only at the top and left, or too few positions counted; pad every side and "
                "count floor((n + 2p − f) / s) + 1 positions per axis",
            ),
            (
                _safe(
                    lambda: ops.conv2d(
                        ops.pad(x, ((0, padding), (0, padding))), kernel, stride=stride
                    )
                ),
                "zeros added only at the bottom and right (your output lacks the first rows "
                "and columns): pad every side",
            ),
        ]
    hints.append(
        (
            ops.true_conv2d(x, kernel, stride=stride, padding=padding),
            "the kernel is flipped (true convolution); deep learning's convolution uses "
            "it as it is",
        )
    )
    return hints


def _safe(compute):
    """A typical wrong answer, or an empty array when it cannot be computed for this input."""
    try:
        return compute()
    except ValueError:
        return np.zeros(0)
