"""Exercises of notebook 06 (the architectures after LeNet).

Private helpers here (not in core.py): `_sizes` reads a predicted shape strictly (whole numbers,
a Keras-style leading None allowed), `_watch` notices a call to a convolution the exercise forbids,
`_number` reads one finite number, `_sublayers` walks nested Keras models.
"""

import contextlib
import math
import sys

import numpy as np

from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number

# ---------------------------------------------------------------------------------------------
# Helpers private to these checks
# ---------------------------------------------------------------------------------------------


def _number(value, what):
    """`value` as a finite float (NumPy scalars, 0-d arrays and tensors too), or `Wrong`."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise Wrong(f"{what}: expected a number, got {value!r}", "write the number itself")
    try:
        number = float(np.asarray(value, dtype=float).item())
    except (TypeError, ValueError):
        raise Wrong(
            f"{what}: expected one number, got {type(value).__name__} {value!r:.60}"
        ) from None
    if not math.isfinite(number):
        raise Wrong(f"{what}: {number} is not a finite number")
    return number


def _sizes(shape, what):
    """A predicted shape as a tuple of ints; a leading None (Keras's batch axis) is dropped.

    Fractional, negative, NaN or non-numeric sizes are a `Wrong` with a sentence, never truncated
    into shape and never a TypeError.
    """
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise Wrong(
            f"{what}: expected a tuple of sizes such as (28, 28, 5), got {shape!r:.60}",
            "write the shape as (height, width, channels)",
        )
    sizes = list(shape)
    if sizes and sizes[0] is None:
        sizes = sizes[1:]  # Keras writes the batch axis as None
    result = []
    for size in sizes:
        if size is None:
            raise Wrong(
                f"{what}: {tuple(shape)} has None inside; only the batch axis may be None",
                "every size of this output is known: write it as a number",
            )
        value = _number(size, what)
        if not value.is_integer() or value < 0:
            raise Wrong(
                f"{what}: {size!r} is not a size; sizes are whole numbers of pixels or channels"
            )
        result.append(int(value))
    return tuple(result)


@contextlib.contextmanager
def _watch(targets):
    """Note which of `targets` ((owner, attribute, label) triples) get called inside the block."""
    called, saved = [], []
    for owner, attribute, label in targets:
        original = getattr(owner, attribute)
        own = attribute in vars(owner)

        def spy(*args, _original=original, _label=label, **kwargs):
            called.append(_label)
            return _original(*args, **kwargs)

        setattr(owner, attribute, spy)
        saved.append((owner, attribute, original, own))
    try:
        yield called
    finally:
        for owner, attribute, original, own in reversed(saved):
            if own:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)


def _forbidden_convolutions():
    """The convolutions 06.conv1x1 must not call: cnnlib's reference, Keras's, TensorFlow's."""
    import keras
    import tensorflow as tf

    from cnnlib import ops

    return [
        (ops, "conv2d", "cnnlib.ops.conv2d"),
        (keras.ops, "conv", "keras.ops.conv"),
        (keras.layers.Conv2D, "call", "keras.layers.Conv2D"),
        (tf.nn, "conv2d", "tf.nn.conv2d"),
    ]


def _sublayers(model):
    """Every layer of `model`, nested models and layers inside custom layers included."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_sublayers(layer))
    return found


# ---------------------------------------------------------------------------------------------
# 06.one_by_one: predict a 1×1 convolution's parameters and output shape
# ---------------------------------------------------------------------------------------------

ONE_BY_ONE_INPUT = (28, 28, 192)  # Inception 3a's input in GoogLeNet
ONE_BY_ONE_FILTERS = 16  # its "5×5 reduce" layer


@exercise(
    "06.one_by_one", "predict a 1×1 convolution's parameters and output shape", "predict", "warm-up"
)
def check_one_by_one(prediction):
    """`prediction = (parameters, output_shape)` for Conv2D(16, 1) on a 28×28×192 input."""
    try:
        params, shape = prediction
    except (TypeError, ValueError):
        raise Wrong(
            f"expected a pair (parameters, output_shape), got {prediction!r:.80}",
            "write e.g. prediction = (1234, (28, 28, 5))",
        ) from None
    if params is None or shape is None:
        raise NotAttempted
    h, w, c = ONE_BY_ONE_INPUT
    k = ONE_BY_ONE_FILTERS
    what = "parameters of Conv2D(16, kernel_size=1) on 28×28×192"
    count = _number(params, what)
    if not count.is_integer():
        raise Wrong(f"{what}: {params!r} is not a whole number of parameters")
    same_number(
        count,
        c * k + k,
        what,
        hints=[
            (c * k, "the biases are missing: every filter also has a bias"),
            (k + k, "a 1×1 filter still has one weight per input channel"),
            (k, "a 1×1 filter still has one weight per input channel, plus a bias"),
            (
                h * w * c * k + k,
                "the weights are shared: they do not depend on the 28 × 28 positions",
            ),
            (c * k + c, "there is one bias per filter, not per input channel"),
        ],
    )
    shape = _sizes(shape, "the output shape")
    if shape != (h, w, k):
        hint = {
            (h, w, c): "the output has one channel per filter, not one per input channel",
            (h, w): "keep the channel axis: (height, width, channels)",
            (h - 1, w - 1, k): "a 1×1 kernel fits at every position: the size does not shrink",
        }.get(shape)
        if hint is None and len(shape) != 3:
            hint = "write the shape as (height, width, channels), optionally with a leading None"
        raise Wrong(f"the output shape {shape} is not right", hint)
    return (
        f"{c * k:,} weights ({c} per filter) + {k} biases; the {h} × {w} grid is unchanged, "
        f"the channels go from {c} to {k}"
    )


# ---------------------------------------------------------------------------------------------
# 06.conv1x1: a 1×1 convolution from scratch, as a matrix product over channels
# ---------------------------------------------------------------------------------------------

_CONV1X1_CASES = [((5, 7, 3), 4), ((1, 1, 8), 2), ((6, 6, 5), 5), ((4, 9, 1), 6), ((3, 2, 7), 7)]


def _keras_conv1x1(x, weights, bias):
    import keras

    out = keras.ops.conv(x[None].astype("float32"), weights[None, None].astype("float32"))
    return np.asarray(keras.ops.convert_to_numpy(out))[0] + bias


@exercise("06.conv1x1", "a 1×1 convolution as a matrix product over channels", "implement", "core")
def check_conv1x1(conv1x1):
    """`conv1x1(x, weights, bias)`: x (H, W, C_in), weights (C_in, C_out), bias (C_out,).

    Calling a convolution function (cnnlib.ops.conv2d, Keras, tf.nn) gives the right numbers but
    is not the exercise: it is a ✗ that says so, and counts as not done.
    """
    random = rng(6)
    for shape, c_out in _CONV1X1_CASES:
        x = random.normal(size=shape)
        weights = random.normal(size=(shape[-1], c_out))
        bias = random.normal(size=c_out)
        on = f"on a random {'×'.join(map(str, shape))} input with {c_out} filters"
        expected = _keras_conv1x1(x, weights, bias)
        with _watch(_forbidden_convolutions()) as called:
            got = call(conv1x1, x.copy(), weights.copy(), bias.copy(), on=on)
        same_array(
            got,
            expected,
            on,
            rtol=1e-4,
            atol=1e-4,
            hints=[
                (expected - bias, "the bias is missing: add bias[k] to every pixel of channel k"),
                (
                    np.maximum(expected, 0),
                    "no activation: the exercise asks for the convolution alone",
                ),
                (
                    x @ weights.T + bias if shape[-1] == c_out else np.zeros(0),
                    "the weight matrix is transposed: weights[c, k] links input channel c to output k",
                ),
            ],
            shape_hints=[
                (shape[:2], "the output keeps a channel axis with one channel per filter"),
                ((shape[0], shape[1], shape[-1]), "the output has C_out channels, not C_in"),
            ],
        )
        if called:
            raise Wrong(
                f"right numbers, but your function calls {called[0]}: the exercise is to write "
                "the convolution yourself, so this does not count as done",
                "a 1×1 convolution is one matrix product over the channel axis: x @ weights …",
            )
    return (
        f"matches a Keras 1×1 convolution on {len(_CONV1X1_CASES)} random inputs: "
        "a 1×1 convolution is the same dense layer applied at every pixel"
    )


# ---------------------------------------------------------------------------------------------
# 06.bottleneck_block: ResNet-50's bottleneck block, with a projection when the shapes change
# ---------------------------------------------------------------------------------------------

_BOTTLENECK_CASES = [
    ((8, 8, 64), 16, 1),  # 4·16 = 64 channels in and out: the identity shortcut fits
    ((8, 8, 32), 16, 2),  # channels and size change: projection
    ((6, 6, 16), 8, 1),  # channels change: projection
    ((9, 9, 64), 16, 2),  # same channels, odd size halved: projection
]


def _build_block(build, shape, filters, stride, on):
    """The learner's block as a Keras model on an input of `shape`, or `Wrong` saying why not."""
    import keras

    inputs = keras.Input(shape=shape)
    try:
        outputs = build(inputs, filters, stride)
    except NotImplementedError:
        raise
    except Exception as error:
        message = str(error)
        hint = None
        if "shape" in message.lower() or "incompatible" in message.lower():
            hint = (
                "x and F(x) must have the same shape to be added: when 4 · filters differs from "
                "the input's channels or the stride is 2, pass x through a 1×1 convolution with "
                "4 · filters filters and the block's stride (the projection shortcut)"
            )
        raise Wrong(
            f"building the block failed {on}: {type(error).__name__}: {message[:200]}", hint
        ) from None
    if isinstance(outputs, keras.Model):  # a builder that returns a model of the block: fine
        return outputs
    if not hasattr(outputs, "shape"):
        raise Wrong(
            f"{on} your function returned {type(outputs).__name__}, not a Keras tensor",
            "return the block's output tensor (the result of the last layer)",
        )
    try:
        return keras.Model(inputs, outputs)
    except Exception as error:
        raise Wrong(
            f"{on} the tensor you returned is not computed from the input x "
            f"({type(error).__name__}: {str(error)[:120]})",
            "start every path of the block from the tensor x the function receives",
        ) from None


def _output_shape_hint(got, expected, shape, filters):
    if got[-1] == filters and expected[-1] != filters:
        return "the last 1×1 convolution expands the maps to 4 · filters"
    if got[-1] in (expected[-1] + shape[-1], 2 * expected[-1]):
        return (
            "that is DenseNet's concatenation; a residual block adds the shortcut to the "
            "branch (layers.Add), which keeps the channel count"
        )
    if got[:-1] != expected[:-1]:
        return (
            "only one convolution of the branch (and the shortcut) use the stride; the others "
            "keep the size (stride 1, and 'same' padding for the 3×3)"
        )
    return None


def _gradient_norms(model, x, variables):
    """‖∂(Σ r·model(x))/∂v‖ for the input x (first) and each variable, r a fixed random array."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x, training=False)
        weights = tf.constant(rng(7).normal(size=out.shape), dtype=out.dtype)
        total = tf.reduce_sum(out * weights)
    grads = tape.gradient(total, [x, *variables])
    return [0.0 if g is None else float(tf.norm(tf.convert_to_tensor(g))) for g in grads]


def _verify_block(model, shape, filters, stride, on, random):
    """Raise `Wrong` unless `model` is a bottleneck block for this case (it silences its branch)."""
    import keras

    expected = (math.ceil(shape[0] / stride), math.ceil(shape[1] / stride), 4 * filters)
    got = tuple(model.output.shape[1:])
    if tuple(model.input.shape[1:]) != shape or got != expected:
        raise Wrong(
            f"{on} the output shape is {got}, expected ⌈H/stride⌉ × ⌈W/stride⌉ × 4·filters",
            _output_shape_hint(got, expected, shape, filters),
        )
    convs = [layer for layer in _sublayers(model) if isinstance(layer, keras.layers.Conv2D)]
    wide = [layer for layer in convs if max(layer.kernel_size) > 1]
    if not wide:
        raise Wrong(
            f"{on} the block has no convolution larger than 1 × 1",
            "the branch is 1×1 (reduce to `filters`), 3×3 (`filters`), 1×1 (expand to "
            "4 · filters); the shortcut alone is not a block",
        )
    if not any(c.filters == filters and c.kernel.shape[-2] * c.groups == filters for c in wide):
        raise Wrong(
            f"{on} no 3×3 convolution works on the reduced maps ({filters} in, {filters} out)",
            "that is the bottleneck: a 1×1 convolution first cuts the channels to `filters`, "
            "so the expensive 3×3 convolution sees few maps",
        )
    x = random.normal(size=(2, *shape)).astype("float32")
    try:
        _, *branch = _gradient_norms(model, x, [layer.kernel for layer in wide])
        if max(branch) < 1e-9:
            raise Wrong(
                f"{on} the output does not change with the 3×3 convolution's weights",
                "the branch's result must reach the output: add it to the shortcut",
            )
        for layer in wide:
            layer.kernel.assign(np.zeros(layer.kernel.shape, dtype="float32"))
            if layer.use_bias:
                layer.bias.assign(np.zeros(layer.bias.shape, dtype="float32"))
        through_shortcut = _gradient_norms(model, x, [])[0]
    except Wrong:
        raise
    except Exception as error:
        raise Wrong(
            f"running the block failed {on}: {type(error).__name__}: {str(error)[:200]}"
        ) from None
    if through_shortcut < 1e-6:
        raise Wrong(
            f"{on}, with the 3 × 3 convolutions silenced (weights set to zero) the "
            "output no longer depends on the input: there is no shortcut",
            "add the block's input (or its 1×1 projection) to the branch's output, "
            "so the gradient has a path that skips the convolutions",
        )


def _case_of_built_model(model):
    """(shape, filters, stride) that a built block model stands for, read off its shapes."""
    try:
        shape = tuple(int(s) for s in model.input.shape[1:])
        out = tuple(int(s) for s in model.output.shape[1:])
    except (AttributeError, TypeError, ValueError):
        raise Wrong(
            "your model does not have one input and one output of known (H, W, C) shapes",
            "pass the function build_bottleneck_block itself",
        ) from None
    strides = [s for s in (1, 2) if out[:2] == (math.ceil(shape[0] / s), math.ceil(shape[1] / s))]
    if len(shape) != 3 or len(out) != 3 or out[-1] % 4 or not strides:
        raise Wrong(
            f"your model maps {shape} to {out}: a bottleneck block gives "
            "⌈H/stride⌉ × ⌈W/stride⌉ × 4·filters with a stride of 1 or 2",
            "the last 1×1 convolution expands the maps to 4 · filters",
        )
    return shape, out[-1] // 4, strides[0]


@exercise(
    "06.bottleneck_block",
    "ResNet-50's bottleneck block with a projection shortcut",
    "design",
    "core",
)
def check_bottleneck_block(build):
    """`build(x, filters, stride)` takes a Keras tensor and returns the block's output tensor.

    Verified: the output shape; a k > 1 convolution with `filters` maps in and out (the 3×3 on the
    reduced maps) whose weights change the output; and, with every k > 1 convolution silenced,
    an output that still depends on the input (the shortcut). Nested models are walked into. A
    built block (a keras.Model) gets the same checks on a copy, for the one shape it was built for.
    """
    import keras

    random = rng(66)
    if isinstance(build, keras.Model):
        shape, filters, stride = _case_of_built_model(build)
        try:
            copy = keras.models.clone_model(build)
        except Exception as error:
            raise Wrong(
                f"the check could not copy your model ({type(error).__name__})",
                "pass the function build_bottleneck_block itself",
            ) from None
        on = f"for your model's input {shape}, filters={filters}, stride={stride}"
        _verify_block(copy, shape, filters, stride, on, random)
        return (
            f"your model is a right bottleneck block for its one shape ({shape}, filters={filters}, "
            f"stride={stride}); pass the function to have it checked when the shapes change too"
        )
    if isinstance(build, keras.layers.Layer):
        raise Wrong(
            f"you passed a Keras {type(build).__name__} layer; the check needs the function "
            "build_bottleneck_block, to build the block for four input shapes",
            "pass the function's name without calling it",
        )
    if not callable(build):
        raise Wrong(
            f"expected a function build(x, filters, stride), got {type(build).__name__}",
            "pass the function itself (no parentheses after its name)",
        )
    for shape, filters, stride in _BOTTLENECK_CASES:
        on = f"for an input of shape {shape}, filters={filters}, stride={stride}"
        model = _build_block(build, shape, filters, stride, on)
        _verify_block(model, shape, filters, stride, on, random)
    return (
        f"right shapes in {len(_BOTTLENECK_CASES)} cases (same and changed channels, stride 1 "
        "and 2), the 3×3 convolution works on the reduced maps, and the gradient reaches the "
        "input through the shortcut"
    )


# ---------------------------------------------------------------------------------------------
# 06.depth_gradient: depth against the first layer's gradient, with and without skips
# ---------------------------------------------------------------------------------------------

DEPTHS = (4, 8, 16)


def _reference_norms(depth, skip, x, y):
    from cnnlib.lessons import architectures

    stack = architectures.dense_stack(depth, 32, "sigmoid", skip)
    return architectures.layer_gradient_norms(stack, x, y)


@exercise(
    "06.depth_gradient",
    "depth against the first layer's gradient, with and without skips",
    "experiment",
    "core",
)
def check_depth_gradient(first_layer_gradient):
    """`first_layer_gradient(depth, skip, x, y)` → ‖∂loss/∂W₁‖ of a sigmoid dense stack at init.

    The check re-measures: it passes its own data and compares the learner's number with the
    first-layer gradient of the same stack (dense_stack's default seed) on the same data, so a
    made-up or hard-coded number cannot pass.
    """
    data = rng(64)
    x = data.normal(size=(64, 32)).astype("float32")
    y = data.normal(size=(64, 32)).astype("float32")
    measured, reference = {}, {}
    for skip in (False, True):
        for depth in DEPTHS:
            reference[depth, skip] = _reference_norms(depth, skip, x, y)
    for skip in (False, True):
        for depth in DEPTHS:
            on = f"for depth={depth}, skip={skip}"
            value = call(first_layer_gradient, depth, skip, x.copy(), y.copy(), on=on)
            value = _number(value, f"{on} your function's result")
            norms = reference[depth, skip]
            if np.isclose(value, norms[0], rtol=1e-3, atol=0):
                measured[depth, skip] = value
                continue
            hint = (
                "build the stack with architectures.dense_stack(depth, 32, 'sigmoid', skip) "
                "(its default seed) and measure it on the x and y the function receives"
            )
            if np.isclose(value, norms[-1], rtol=1e-3, atol=0):
                hint = (
                    "that is the LAST layer's gradient; measure the first layer (index 0, next "
                    "to the input), whose gradient passes through every sigmoid"
                )
            elif np.isclose(value, reference[depth, not skip][0], rtol=1e-3, atol=0):
                hint = "pass `skip` on to the model builder: each layer must add its input back"
            elif np.any(np.isclose(value, norms, rtol=1e-3, atol=0)):
                hint = "that is another layer's gradient; return the first layer's, norms[0]"
            raise Wrong(
                f"{on} you returned {value:.4g}, which is not the first-layer gradient norm "
                "the check measures on the same stack and the same data",
                hint,
            )
    plain = measured[DEPTHS[-1], False] / measured[DEPTHS[0], False]
    residual = measured[DEPTHS[-1], True] / measured[DEPTHS[0], True]
    return (
        f"plain: ×{plain:.1e} from depth {DEPTHS[0]} to {DEPTHS[-1]}; with skips: "
        f"×{residual:.2g} (now explain the difference in a sentence)"
    )


# ---------------------------------------------------------------------------------------------
# 06.densenet_channels: the channel count through a DenseNet (stretch)
# ---------------------------------------------------------------------------------------------


def densenet_channels_reference(c0, block_sizes, growth_rate, compression=0.5):
    """Channels at the end of each dense block; transitions keep floor(c · compression)."""
    channels, result = c0, []
    for i, size in enumerate(block_sizes):
        channels += size * growth_rate
        result.append(channels)
        if i < len(block_sizes) - 1:
            channels = int(channels * compression)
    return result


_DENSE_CASES = [
    (64, (6, 12, 24, 16), 32, 0.5),
    (64, (6, 12, 32, 32), 32, 0.5),
    (16, (3, 5), 12, 0.5),
    (24, (4, 4, 4), 12, 1.0),
    (30, (5, 7, 2), 10, 0.3),
]


@exercise("06.densenet_channels", "channel growth through a DenseNet", "implement", "stretch")
def check_densenet_channels(densenet_channels):
    """`densenet_channels(c0, block_sizes, growth_rate, compression)` → channels per block end.

    Calling this module's own reference gives the right numbers but is not the exercise: a ✗.
    """
    reference = [(sys.modules[__name__], "densenet_channels_reference", "the check's reference")]
    used_reference = densenet_channels is densenet_channels_reference
    for c0, sizes, k, theta in _DENSE_CASES:
        on = f"for c0={c0}, block_sizes={sizes}, growth_rate={k}, compression={theta}"
        with _watch(reference) as called:
            got = call(densenet_channels, c0, sizes, k, theta, on=on)
        used_reference = used_reference or bool(called)
        expected = densenet_channels_reference(c0, sizes, k, theta)
        no_compression = densenet_channels_reference(c0, sizes, k, 1.0)
        off_by_one, channels = [], c0
        for i, size in enumerate(sizes):
            channels += (size - 1) * k
            off_by_one.append(channels)
            channels = int(channels * theta) if i < len(sizes) - 1 else channels
        hints = [
            (off_by_one, "off by one: each of the L layers adds k maps, so a block adds L·k"),
            (
                [c0 + s * k for s in sizes],
                "the next block starts from the previous block's output "
                "(after its transition), not from c0",
            ),
        ]
        if theta != 1.0:
            hints.append(
                (
                    no_compression,
                    "the transition between blocks keeps only "
                    "floor(c · compression) channels (a 1×1 convolution)",
                )
            )
        same_array(
            got,
            expected,
            on,
            hints=hints,
            shape_hints=[
                ((1,), "one number per dense block"),
                ((sum(sizes),), "one number per dense block, not one per layer"),
            ],
        )
    if used_reference:
        raise Wrong(
            "right numbers, but your function calls cnnlib.labs.ex06.densenet_channels_reference, "
            "the check's own answer: this does not count as done",
            "follow the channels block by block: + L·k in a block, × compression between blocks",
        )
    return "right for DenseNet-121 and four other configurations"
