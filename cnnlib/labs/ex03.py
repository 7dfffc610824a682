"""Exercises of notebook 03 (padding and stride)."""

import contextlib
import itertools
import math
import sys

import numpy as np

from cnnlib import ops
from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array
from cnnlib.lessons import keras_reference
from cnnlib.runtime.validation import int_pair


# ------------------------------------------------------------------ private helpers
# (Generic; kept here until cnnlib/labs/core.py offers them. ex04 imports them from here.)
@contextlib.contextmanager
def watching(*functions):
    """Collect the names of those `functions` that code run inside the block calls.

    Calls that one of their own module's functions makes (ops.conv2d calling ops.output_size) do
    not count: only what the learner's code calls directly or through another module.
    """
    codes = {f.__code__: f"{f.__module__}.{f.__qualname__}" for f in functions}
    called = []
    previous = sys.getprofile()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            caller = frame.f_back
            if caller is None or caller.f_globals.get("__name__") != frame.f_globals["__name__"]:
                if codes[frame.f_code] not in called:
                    called.append(codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def refuse_references(called, what):
    """`Wrong` for a right answer that came from the reference the exercise asks to write."""
    if called:
        raise Wrong(
            f"the answers are right, but your function calls {', '.join(called)}: that is the "
            f"reference this exercise asks you to write yourself, so it counts as not done yet",
            f"replace the call by your own {what}",
        )


def whole_number(value):
    """`value` as an int when it is one finite whole number (int, NumPy int, 3.0), else None."""
    if isinstance(value, (bool, np.bool_)) or np.ndim(value) != 0:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number != int(number):
        return None
    return int(number)


# ------------------------------------------------------------------ 03.output_size (warm-up)
# Sizes, kernels, paddings and strides that separate the usual formula mistakes.
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


@exercise("03.output_size", "the output-size formula", "implement", "warm-up")
def check_output_size(output_size):
    """`output_size(n, f, padding, stride)`: output length for an int padding (section 1 of notebook 03)."""
    answers = {}
    with watching(ops.output_size, ops.padding_amounts) as called:
        for n, f, p, s in _SIZE_CASES:
            got = call(output_size, n, f, p, s, on=f"for n={n}, f={f}, padding={p}, stride={s}")
            answers[(n, f, p, s)] = got
    wrong = [
        (case, got) for case, got in answers.items() if whole_number(got) != ops.output_size(*case)
    ]
    if not wrong:
        refuse_references(called, "formula: floor((n + 2p − f) / s) + 1")
        return f"right on all {len(_SIZE_CASES)} combinations of size, kernel, padding and stride"
    (n, f, p, s), got = wrong[0]
    what = (
        f"for n={n}, f={f}, padding={p}, stride={s} you return {got!r}; "
        f"the output has {ops.output_size(n, f, p, s)} positions"
    )
    if np.ndim(got) != 0:
        raise Wrong(what, "return one number, the output length along one axis, not an array")
    # The hint of the first typical mistake that explains every answer given.
    for mistake, hint in _MISTAKES:
        if all(_same_value(answer, mistake(*case)) for case, answer in answers.items()):
            raise Wrong(what, hint)
    raise Wrong(what, "the formula is floor((n + 2p − f) / s) + 1")


def _same_value(answer, value):
    """True when `answer` is one number equal to `value` (no error for arrays or strings)."""
    try:
        return np.ndim(answer) == 0 and float(answer) == float(value)
    except (TypeError, ValueError):
        return False


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
                f"'same' rounds up: ceil({h}/{sh}), the last window may reach into the padding",
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


def _as_shape(value, index):
    """(H, W, C) from a prediction; Keras's (None, H, W, C) with the batch axis is accepted too."""
    try:
        items = list(value)
    except TypeError:
        items = None
    if items and len(items) == 4 and items[0] is None:
        items = items[1:]  # Keras writes the batch axis as None
    shape = None if items is None else tuple(whole_number(v) for v in items)
    if shape and len(shape) == 3 and None not in shape:
        return shape
    raise Wrong(
        f"layer {index + 1}: expected a shape (height, width, channels) of three whole numbers, "
        f"got {value!r}"
    )


@exercise("03.shapes", "predict the output shapes of a small stack", "predict", "core")
def check_shapes(prediction):
    """`prediction`: a list of (height, width, channels), one per layer of SHAPES_STACK."""
    if isinstance(prediction, np.ndarray):
        prediction = list(prediction)
    if not isinstance(prediction, (list, tuple)):
        raise Wrong(
            f"expected a list of {len(SHAPES_STACK)} shapes, got {type(prediction).__name__}"
        )
    if all(p is None for p in prediction):
        raise NotAttempted
    if len(prediction) != len(SHAPES_STACK):
        raise Wrong(f"expected {len(SHAPES_STACK)} shapes (one per layer), got {len(prediction)}")
    shape = SHAPES_INPUT
    for index, ((name, kind, args), value) in enumerate(zip(SHAPES_STACK, prediction)):
        if value is None:
            raise Wrong(f"layer {index + 1} ({name}): no prediction yet")
        got, right = _as_shape(value, index), _layer_shape(kind, args, shape)
        if got != right:
            what = f"layer {index + 1} ({name}) on an input of {shape}: you predict {got}"
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
    """(size, jump) a learner gets from the usual mistakes, with their hints."""
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


@exercise("03.receptive_field", "the receptive field of a stack with strides", "predict", "core")
def check_receptive_field(prediction):
    """`prediction`: (receptive field side, jump) of one unit of the last layer of RF_STACK."""
    if isinstance(prediction, tuple) and all(p is None for p in prediction):
        raise NotAttempted
    if isinstance(prediction, np.ndarray):
        prediction = prediction.tolist()
    if not (isinstance(prediction, (tuple, list)) and len(prediction) == 2):
        raise Wrong(f"expected a pair (receptive field, jump), got {prediction!r}")
    size, jump = rf_answer()
    got_size, got_jump = (_one_axis(value) for value in prediction)
    stack = " → ".join(name for name, _, _ in RF_STACK)
    if whole_number(got_size) != size:
        what = f"for {stack} you predict a receptive field of {got_size!r}"
        for wrong, hint in _rf_mistakes():
            if _same_value(got_size, wrong) and wrong != size:
                raise Wrong(what, hint)
        if whole_number(got_size) is None:
            raise Wrong(what, "a receptive field is a whole number of pixels")
        raise Wrong(what, "walk through the layers: field += (k − 1)·jump, then jump ×= stride")
    if whole_number(got_jump) != jump:
        raise Wrong(
            f"the receptive field is right, the jump {got_jump} is not",
            "the jump is the product of all strides so far (the pooling's too)",
        )
    return (
        f"a unit of the last layer sees {size} × {size} pixels; neighbours are {jump} pixels apart"
    )


def _one_axis(value):
    """A per-axis pair with equal entries, (19, 19) as cnnlib.lessons.fields gives it, read as 19."""
    if isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2:
        first, second = value
        if _same_value(first, second):
            return first
    return value


# ------------------------------------------------------------------ 03.photo_stride (experiment)
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


@exercise(
    "03.photo_stride", "stride and padding on a photo: size and what survives", "experiment", "core"
)
def check_photo_stride(prediction):
    """`prediction`: setting → (output height, input rows never under the kernel)."""
    if not isinstance(prediction, dict):
        raise Wrong(
            f"expected a dict setting → (output height, unseen rows), got "
            f"{type(prediction).__name__}"
        )
    if all(value is None for value in prediction.values()):
        raise NotAttempted
    answers, n = photo_answers(), PHOTO_SIZE
    missing = [name for name in answers if prediction.get(name) is None]
    if missing:
        raise Wrong(f"no prediction yet for {', '.join(missing)}")
    for name, (size, unseen) in answers.items():
        f, s, padding = PHOTO_SETTINGS[name]
        try:
            got_size, got_unseen = prediction[name]
        except (TypeError, ValueError):  # not a pair
            raise Wrong(
                f"{name}: expected a pair (output height, unseen rows), got {prediction[name]!r}"
            ) from None
        on = f"{name} on a {n} × {n} photo"
        if whole_number(got_size) != size:
            what = f"{on}: an output height of {got_size!r} is not right"
            hints = [
                ((n - f) // s, "off by one: the first window counts too (+ 1)"),
                (
                    math.ceil((n - f) / s) + 1,
                    "round down: a window hanging over the edge is not computed",
                ),
                (math.floor(n / s), "'same' rounds up: ceil(n / s)"),
                ((n - f) // s + 1, "'same' pads the input: the output is ceil(n / s)"),
            ]
            for wrong, hint in hints:
                if _same_value(got_size, wrong) and wrong != size:
                    raise Wrong(what, hint)
            if whole_number(got_size) is None:
                raise Wrong(what, "a height counts rows: a whole number")
            raise Wrong(what, "floor((n + 2p − f) / s) + 1; 'same' gives ceil(n / s)")
        if whole_number(got_unseen) != unseen:
            what = f"{on}: {got_unseen!r} rows never under the kernel is not right"
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
# (image shape, kernel shape, stride, padding): int and pair strides, square and not.
_STRIDED_CASES = [
    ((8, 11), (3, 3), (2, 3), 2),  # first: every typical mistake gives a different answer here
    ((7, 7), (3, 3), 2, 1),
    ((9, 6), (3, 2), (2, 1), 0),
    ((8, 11), (2, 3), (1, 3), 2),
    ((6, 6), (3, 3), 3, 1),
    ((10, 7), (4, 4), (3, 2), 1),
    ((5, 5), (5, 5), 1, 2),
    ((12, 9), (3, 3), (2, 3), 0),
]


@exercise("03.strided_conv", "strided, padded convolution from scratch", "implement", "stretch")
def check_strided_conv(conv2d_strided):
    """`conv2d_strided(x, kernel, stride, padding)`: 2-D x and kernel, int or pair stride, int padding."""
    random, called = rng(3), []
    for image_shape, kernel_shape, stride, padding in _STRIDED_CASES:
        x = random.normal(size=image_shape)
        kernel = random.normal(size=kernel_shape)
        on = (
            f"on a random {image_shape[0]}×{image_shape[1]} image, {kernel_shape[0]}×"
            f"{kernel_shape[1]} kernel, stride {stride}, padding {padding}"
        )
        with watching(ops.conv2d, ops.true_conv2d, keras_reference.keras_conv) as seen:
            got = call(conv2d_strided, x.copy(), kernel.copy(), stride, padding, on=on)
        called += [name for name in seen if name not in called]
        expected = ops.conv2d(x, kernel, stride=stride, padding=padding)
        h, w = expected.shape
        hints = _strided_hints(x, kernel, stride, padding)
        same_array(
            got,
            expected,
            on,
            hints=hints,
            shape_hints=[
                ((h - 1, w - 1), "off by one: floor((n + 2p − f) / s) + 1 positions per axis"),
                ((h + 1, w + 1), "off by one: floor((n + 2p − f) / s) + 1 positions per axis"),
            ],
        )
    refuse_references(called, "loops (or slicing) over the padded image")
    return f"matches cnnlib.ops.conv2d on {len(_STRIDED_CASES)} random inputs, strides and paddings"


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
                "zeros added only at the top and left: pad every side",
            ),
            (
                _safe(
                    lambda: ops.conv2d(
                        ops.pad(x, ((0, padding), (0, padding))), kernel, stride=stride
                    )
                ),
                "zeros added only at the bottom and right: pad every side",
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
