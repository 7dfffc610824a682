"""Exercises of notebook 06 (the architectures after LeNet)."""

import math

import numpy as np

from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number

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
            f"expected a pair (parameters, output_shape), got {prediction!r}",
            "write e.g. prediction = (1234, (28, 28, 5))",
        ) from None
    if params is None or shape is None:
        raise NotAttempted
    h, w, c = ONE_BY_ONE_INPUT
    k = ONE_BY_ONE_FILTERS
    same_number(
        params,
        c * k + k,
        "parameters of Conv2D(16, kernel_size=1) on 28×28×192",
        hints=[
            (c * k, "the biases are missing: every filter has one bias, so add 16"),
            (k + k, "a 1×1 filter still has one weight per input channel: 192 weights per filter"),
            (2 * k, "a 1×1 filter still has one weight per input channel: 192 weights per filter"),
            (k, "a 1×1 filter still has one weight per input channel, plus a bias"),
            (
                h * w * c * k + k,
                "the weights are shared: they do not depend on the 28 × 28 positions",
            ),
            (c * k + c, "there is one bias per filter (16), not per input channel"),
        ],
    )
    shape = tuple(int(s) for s in shape if s is not None)
    if shape != (h, w, k):
        hint = {
            (h, w, c): "the output has one channel per filter (16), not the input's 192",
            (h, w): "keep the channel axis: (height, width, channels)",
            (h - 1, w - 1, k): "a 1×1 kernel fits at every position: the size does not shrink",
        }.get(shape)
        raise Wrong(f"the output shape {shape} is not right", hint)
    return "3,072 weights + 16 biases; the 28 × 28 grid is unchanged, the channels drop to 16"


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
    """`conv1x1(x, weights, bias)`: x (H, W, C_in), weights (C_in, C_out), bias (C_out,)."""
    random = rng(6)
    for shape, c_out in _CONV1X1_CASES:
        x = random.normal(size=shape)
        weights = random.normal(size=(shape[-1], c_out))
        bias = random.normal(size=c_out)
        on = f"on a random {'×'.join(map(str, shape))} input with {c_out} filters"
        got = call(conv1x1, x.copy(), weights.copy(), bias.copy(), on=on)
        expected = _keras_conv1x1(x, weights, bias)
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
    return (
        f"matches a Keras 1×1 convolution on {len(_CONV1X1_CASES)} random inputs: "
        "a 1×1 convolution is the same dense layer applied at every pixel"
    )


# ---------------------------------------------------------------------------------------------
# 06.residual_block: a residual block whose shapes work when the channels or the stride change
# ---------------------------------------------------------------------------------------------

_RESIDUAL_CASES = [((8, 8, 16), 16, 1), ((8, 8, 16), 32, 2), ((6, 6, 8), 24, 1), ((9, 9, 4), 4, 2)]


def _input_gradient(model, x):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(model(x, training=False))
    return float(tf.norm(tape.gradient(total, x)))


def _silence_branch(model):
    """Zero every convolution kernel larger than 1×1: what is left is the shortcut."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and max(layer.kernel_size) > 1:
            layer.kernel.assign(np.zeros(layer.kernel.shape, dtype="float32"))
            if layer.use_bias:
                layer.bias.assign(np.zeros(layer.bias.shape, dtype="float32"))


@exercise("06.residual_block", "a residual block with a projection shortcut", "design", "core")
def check_residual_block(build):
    """`build(x, filters, stride)` takes a Keras tensor and returns the block's output tensor."""
    import keras

    random = rng(66)
    for shape, filters, stride in _RESIDUAL_CASES:
        on = f"for an input of shape {shape}, filters={filters}, stride={stride}"
        inputs = keras.Input(shape=shape)
        try:
            outputs = build(inputs, filters, stride)
        except NotImplementedError:
            raise
        except Exception as error:
            message = str(error)
            hint = None
            if "shape" in message.lower():
                hint = (
                    "x and F(x) must have the same shape to be added: when the channels or the "
                    "stride change, pass x through a 1×1 convolution with `filters` filters "
                    "and the block's stride (the projection shortcut)"
                )
            raise Wrong(
                f"building the block failed {on}: {type(error).__name__}: {message[:200]}", hint
            ) from None
        if not hasattr(outputs, "shape"):
            raise Wrong(
                f"{on} your function returned {type(outputs).__name__}, not a Keras tensor",
                "return the block's output tensor (the result of the last layer)",
            )
        expected = (math.ceil(shape[0] / stride), math.ceil(shape[1] / stride), filters)
        got = tuple(outputs.shape[1:])
        if got != expected:
            hint = None
            if got[-1] == filters + shape[-1] or got[-1] == 2 * filters:
                hint = (
                    "that is DenseNet's concatenation; a residual block adds the shortcut to "
                    "the branch (layers.Add), which keeps the channel count"
                )
            elif got[:2] != expected[:2]:
                hint = (
                    "only the first convolution of the branch (and the shortcut) use the "
                    "stride; the second keeps the size ('same' padding, stride 1)"
                )
            raise Wrong(f"{on} the output shape is {got}, expected {expected}", hint)
        model = keras.Model(inputs, outputs)
        x = random.normal(size=(2, *shape)).astype("float32")
        _silence_branch(model)
        if _input_gradient(model, x) < 1e-6:
            raise Wrong(
                f"{on}, with the 3 × 3 convolutions silenced (weights set to zero) the "
                "output no longer depends on the input: there is no shortcut",
                "add the block's input (or its 1×1 projection) to the branch's output, "
                "so the gradient has a path that skips the convolutions",
            )
    return (
        f"right shapes in {len(_RESIDUAL_CASES)} cases (same and changed channels, stride 1 "
        "and 2), and the gradient reaches the input through the shortcut"
    )


# ---------------------------------------------------------------------------------------------
# 06.depth_gradient: depth against the first layer's gradient, with and without skips
# ---------------------------------------------------------------------------------------------

DEPTHS = (4, 8, 16)


@exercise(
    "06.depth_gradient",
    "depth against the first layer's gradient, with and without skips",
    "experiment",
    "core",
)
def check_depth_gradient(first_layer_gradient):
    """`first_layer_gradient(depth, skip)` → ‖∂loss/∂W₁‖ of a sigmoid dense stack at init."""
    measured = {}
    for skip in (False, True):
        for depth in DEPTHS:
            on = f"for depth={depth}, skip={skip}"
            value = call(first_layer_gradient, depth, skip, on=on)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise Wrong(
                    f"{on} you returned {type(value).__name__}; expected one number",
                    "return the norm of the first layer's gradient, e.g. float(norms[0])",
                ) from None
            if not value > 0 or not np.isfinite(value):
                raise Wrong(
                    f"{on} you returned {value}; a gradient norm is a positive number",
                    "in float32 a very deep plain stack can underflow to 0: the depths "
                    "checked here are 4, 8 and 16",
                )
            measured[depth, skip] = value
    plain = measured[DEPTHS[-1], False] / measured[DEPTHS[0], False]
    residual = measured[DEPTHS[-1], True] / measured[DEPTHS[0], True]
    if plain > 1e-3:
        raise Wrong(
            f"without skips, going from depth {DEPTHS[0]} to {DEPTHS[-1]} changes your "
            f"first-layer gradient only by a factor {plain:.2g}",
            "measure the FIRST layer (index 0, next to the input): it is the one whose "
            "gradient passes through every sigmoid; and keep the activation 'sigmoid'",
        )
    if residual < 1e-2:
        raise Wrong(
            f"with skips, your first-layer gradient still shrinks by a factor "
            f"{residual:.2g} from depth {DEPTHS[0]} to {DEPTHS[-1]}, like the plain "
            f"stack's ({plain:.2g})",
            "pass `skip` on to the model builder: each layer must add its input back",
        )
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
    """`densenet_channels(c0, block_sizes, growth_rate, compression)` → channels per block end."""
    for c0, sizes, k, theta in _DENSE_CASES:
        on = f"for c0={c0}, block_sizes={sizes}, growth_rate={k}, compression={theta}"
        got = call(densenet_channels, c0, sizes, k, theta, on=on)
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
            got, expected, on, hints=hints, shape_hints=[((1,), "one number per dense block")]
        )
    return "right for DenseNet-121 and four other configurations"
