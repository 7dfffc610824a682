"""Exercises of notebook 06 (the architectures after LeNet).

Five exercises: predict a 1 × 1 convolution of GoogLeNet's module 4a; a 1 × 1 convolution from
scratch as a matrix product over channels; ResNet-50's bottleneck block as a Keras model; the
first layer's gradient against depth, with and without skips; and (stretch) the channel count
through a DenseNet.

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
    Model,
    Number,
    Shape,
    Size,
    Wrong,
    describe_input,
    exercise,
    rebuild_model,
    same_array,
    same_number,
    same_shape,
)

# Library convolutions 06.conv1x1 asks the learner to do without (with them, their public twins).
CONVOLUTIONS = (
    "cnnlib.ops.conv2d",
    "scipy.signal.convolve",
    "scipy.signal.correlate",
    "scipy.ndimage.convolve",
    "scipy.ndimage.correlate",
    "keras.layers.Conv2D",
    "keras.layers.Dense",  # the lecture's Conv2D = Dense demonstration: shown, not the exercise
    "keras.ops.conv",
    # tf.nn.conv2d's generated op: tf.nn.conv2d itself shares its dispatch wrapper's code with
    # every TensorFlow op (tf.einsum, tf.matmul …), which would refuse those right answers.
    "tensorflow.python.ops.gen_nn_ops.conv2d",
)


# ---------------------------------------------------------------------------------------------
# 06.one_by_one — predict module 4a's "5×5 reduce": Conv2D(16, 1) on 14 × 14 × 480 maps
# ---------------------------------------------------------------------------------------------
ONE_BY_ONE_INPUT = (14, 14, 480)  # module 4a's input: 3b's 28 × 28 × 480, max-pooled by 2
ONE_BY_ONE_FILTERS = 16  # 4a's "#5×5 reduce" (Szegedy et al. 2015, Table 1)


@exercise(
    "06.one_by_one",
    "predict a 1×1 convolution's parameters and output shape",
    "predict",
    "warm-up",
    form=Mapping({"parameters": Size(), "output shape": Shape()}),
    expects='a dict {"parameters": an int, "output shape": (height, width, channels)}',
)
def judge_one_by_one(prediction, trials):
    """`prediction`: {"parameters", "output shape"} of Conv2D(16, 1) on 14 × 14 × 480 maps."""
    h, w, c = ONE_BY_ONE_INPUT
    k = ONE_BY_ONE_FILTERS
    same_number(
        prediction["parameters"],
        c * k + k,
        f"the parameters of Conv2D({k}, kernel_size=1) on {h}×{w}×{c} maps",
        hints=[
            (c * k, "the biases are missing: every filter also has a bias"),
            (k + k, "a 1×1 filter still has one weight per input channel"),
            (k, "a 1×1 filter still has one weight per input channel, plus a bias"),
            (h * w * c * k + k, "the weights are shared: they do not depend on the positions"),
            (c * k + c, "there is one bias per filter, not per input channel"),
            (192 * k + k, "that is module 3a's layer, on 192 channels; module 4a's input has 480"),
        ],
    )
    same_shape(
        prediction["output shape"],
        (h, w, k),
        "the output shape",
        hints=[
            ((h, w, c), "the output has one channel per filter, not one per input channel"),
            ((h - 1, w - 1, k), "a 1×1 kernel fits at every position: the size does not shrink"),
            ((28, 28, k), "the max-pooling before 4a has already halved 28 × 28"),
            ((k, h, w), "Keras puts the channels last: (height, width, channels)"),
        ],
    )
    return (
        f"{c * k:,} weights ({c} per filter) + {k} biases; the {h} × {w} grid is unchanged, "
        f"the channels go from {c} to {k}"
    )


# ---------------------------------------------------------------------------------------------
# 06.conv1x1 — a 1×1 convolution from scratch, as a matrix product over channels
# ---------------------------------------------------------------------------------------------
_CONV1X1_SHAPES = [((5, 7, 3), 4), ((1, 1, 8), 2), ((6, 6, 5), 5), ((4, 9, 1), 6), ((3, 2, 7), 7)]


def conv1x1_trials(rng):
    """Random maps, weights and biases: square and not, one pixel, one channel, C_in = C_out."""
    return [
        {
            "x": rng.normal(size=shape),
            "weights": rng.normal(size=(shape[-1], c_out)),
            "bias": rng.normal(size=c_out),
        }
        for shape, c_out in _CONV1X1_SHAPES
    ]


@exercise(
    "06.conv1x1",
    "a 1×1 convolution as a matrix product over channels",
    "implement",
    "core",
    form=Function(Array(), args=("x", "weights", "bias")),
    trials=conv1x1_trials,
    forbid=CONVOLUTIONS,
    expects="a function conv1x1(x, weights, bias) returning an (H, W, C_out) array",
)
def judge_conv1x1(outputs, trials):
    """`conv1x1(x, weights, bias)`: x (H, W, C_in), weights (C_in, C_out), bias (C_out,)."""
    for got, case in zip(outputs, trials, strict=True):
        x, weights, bias = case["x"], case["weights"], case["bias"]
        expected = np.einsum("hwc,ck->hwk", x, weights) + bias
        (h, w, c_in), c_out = x.shape, weights.shape[1]
        hints = [
            (expected - bias, "the bias is missing: add bias[k] to every pixel of channel k"),
            (np.maximum(expected, 0), "no activation: the exercise asks for the convolution alone"),
        ]
        if c_in == c_out:
            hints.append(
                (
                    np.einsum("hwc,kc->hwk", x, weights) + bias,
                    "the weight matrix is transposed: weights[c, k] links input channel c to "
                    "output channel k",
                )
            )
        same_array(
            got,
            expected,
            f"on {describe_input(case)}",
            hints=hints,
            shape_hints=[
                ((h, w), "the output keeps a channel axis, with one channel per filter"),
                ((h, w, c_in), "the output has C_out channels, one per filter, not C_in"),
            ],
        )
    return (
        f"right on {len(trials)} random inputs: a 1×1 convolution is one dense layer applied at "
        "every pixel"
    )


# ---------------------------------------------------------------------------------------------
# 06.bottleneck_block — ResNet-50's bottleneck block, with a projection when the shapes change
# ---------------------------------------------------------------------------------------------
_BOTTLENECK_CASES = [
    ((8, 8, 64), 16, 1),  # 4·16 = 64 channels in and out: the identity shortcut fits
    ((8, 8, 32), 16, 2),  # channels and size change: projection
    ((6, 6, 16), 8, 1),  # channels change: projection
    ((9, 9, 64), 16, 2),  # same channels, odd size halved: projection
]


def bottleneck_trials(rng):
    """The four cases above: identity and projection shortcuts, stride 1 and 2, an odd size."""
    return [
        {"input_shape": list(shape), "filters": filters, "stride": stride}
        for shape, filters, stride in _BOTTLENECK_CASES
    ]


def _layers_of(model):
    """Every layer of `model`, the layers of nested models included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_layers_of(layer))
    return found


def _randomise(model, rng):
    """New random weights everywhere (batch norm's scales and variances positive), so that no
    initialiser (a zero γ, say) hides a path the block has or fakes one it lacks."""
    for layer in _layers_of(model):
        for variable in layer.weights:
            name, shape = variable.path.rsplit("/", 1)[-1], tuple(variable.shape)
            if name in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, size=shape)
            elif name in ("beta", "moving_mean", "bias"):
                value = rng.normal(scale=0.1, size=shape)
            else:
                value = rng.normal(scale=1 / math.sqrt(max(1, np.prod(shape[:-1]))), size=shape)
            variable.assign(value.astype(variable.dtype))


def _channels_that_change(before, after):
    """The output channels in which `after` differs from `before` anywhere."""
    scale = max(1e-6, float(np.abs(before).max()))
    return np.abs(after - before).reshape(-1, before.shape[-1]).max(axis=0) > 1e-4 * scale


@exercise(
    "06.bottleneck_block",
    "ResNet-50's bottleneck block with a projection shortcut",
    "design",
    "core",
    form=Function(Model(), args=("input_shape", "filters", "stride")),
    trials=bottleneck_trials,
    expects="a function build_bottleneck_block(input_shape, filters, stride) returning a "
    "keras.Model",
)
def judge_bottleneck_block(models, trials):
    """`build_bottleneck_block(input_shape, filters, stride)` → the block as a keras.Model.

    Judged on the rebuilt models, with new random weights: the output shape; a k > 1 convolution
    from `filters` to `filters` maps (the 3×3 on the reduced maps); every output channel changes
    with the branch (added, not concatenated); and, with every k > 1 convolution silenced (zero
    weights), every output channel still changes with the input (the shortcut, added).
    """
    import keras

    rng = np.random.default_rng(606)
    for values, case in zip(models, trials, strict=True):
        shape, filters, stride = tuple(case["input_shape"]), case["filters"], case["stride"]
        on = f"for an input of shape {shape}, filters={filters}, stride={stride}"
        model = rebuild_model(values)
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise Wrong(
                f"{on}: your model has {len(model.inputs)} inputs and {len(model.outputs)} outputs",
                "one input x, one output",
            )
        got_in, got_out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
        if got_in != shape:
            raise Wrong(
                f"{on}: your model's input has shape {got_in}",
                "start from keras.Input(shape=input_shape)",
            )
        expected = (math.ceil(shape[0] / stride), math.ceil(shape[1] / stride), 4 * filters)
        if got_out != expected:
            hint = None
            if got_out[-1] == filters:
                hint = "the last 1×1 convolution expands the maps to 4 · filters"
            elif got_out[-1] in (4 * filters + shape[-1], 8 * filters):
                hint = (
                    "that is DenseNet's concatenation; a residual block adds the shortcut to "
                    "the branch (layers.Add), which keeps the channel count"
                )
            elif got_out[:2] != expected[:2]:
                hint = (
                    "only one convolution of the branch (and the shortcut) uses the stride; the "
                    "others keep the size (stride 1, and 'same' padding for the 3×3)"
                )
            raise Wrong(
                f"{on}: the output shape is {got_out}, expected ⌈H/stride⌉ × ⌈W/stride⌉ × 4·filters",
                hint,
            )
        convs = [layer for layer in _layers_of(model) if isinstance(layer, keras.layers.Conv2D)]
        wide = [layer for layer in convs if max(layer.kernel_size) > 1]
        if not wide:
            raise Wrong(
                f"{on}: the block has no convolution larger than 1 × 1",
                "the branch is 1×1 (reduce to `filters`), 3×3 (`filters`), 1×1 (expand to "
                "4 · filters); the shortcut alone is not a block",
            )
        if not any(
            layer.filters == filters and layer.kernel.shape[-2] * layer.groups == filters
            for layer in wide
        ):
            raise Wrong(
                f"{on}: no 3×3 convolution works on the reduced maps ({filters} in, {filters} out)",
                "that is the bottleneck: a 1×1 convolution first cuts the channels to "
                "`filters`, so the expensive 3×3 convolution sees few maps",
            )
        _randomise(model, rng)
        x = rng.normal(size=(2, *shape)).astype("float32")
        other = rng.normal(size=(2, *shape)).astype("float32")

        def run(inputs):
            return np.asarray(keras.ops.convert_to_numpy(model(inputs, training=False)))

        full = run(x)
        for layer in wide:
            layer.kernel.assign(np.zeros(layer.kernel.shape, dtype=layer.kernel.dtype))
        silenced = run(x)
        branch = _channels_that_change(full, silenced)
        if not branch.any():
            raise Wrong(
                f"{on}: the output does not change with the 3×3 convolution's weights",
                "the branch's result must reach the output: add it to the shortcut",
            )
        if not branch.all():
            raise Wrong(
                f"{on}: {int((~branch).sum())} of the {branch.size} output channels do not "
                "change with the 3×3 convolution's weights: the branch does not reach them",
                "a residual block adds F(x) to the shortcut (layers.Add), channel by channel; "
                "concatenating the two puts them in separate channels",
            )
        shortcut = _channels_that_change(silenced, run(other))
        if not shortcut.any():
            raise Wrong(
                f"{on}: with the 3 × 3 convolutions silenced (weights set to zero) the output no "
                "longer depends on the input: there is no shortcut",
                "add the block's input (or its 1×1 projection) to the branch's output, so the "
                "gradient has a path that skips the convolutions",
            )
        if not shortcut.all():
            raise Wrong(
                f"{on}: with the 3 × 3 convolutions silenced, {int((~shortcut).sum())} of the "
                f"{shortcut.size} output channels no longer depend on the input: the shortcut "
                "does not reach them",
                "the shortcut is added to every channel of F(x) (layers.Add); concatenating "
                "puts it in separate channels",
            )
    return (
        f"right shapes in {len(trials)} cases (same and changed channels, stride 1 and 2), the "
        "3×3 convolution works on the reduced maps, and branch and shortcut are added in every "
        "channel"
    )


# ---------------------------------------------------------------------------------------------
# 06.depth_gradient — depth against the first layer's gradient, with and without skips
# ---------------------------------------------------------------------------------------------
DEPTHS = (4, 8, 16)
WIDTH, BATCH = 32, 64


def depth_gradient_trials(rng):
    """Random x and y (64 × 32), the same for every depth; depths 4, 8, 16, plain and skipped."""
    x, y = rng.normal(size=(BATCH, WIDTH)), rng.normal(size=(BATCH, WIDTH))
    return [
        {"depth": depth, "skip": skip, "x": x, "y": y} for skip in (False, True) for depth in DEPTHS
    ]


def _gradient_norms(depth, skip, x, y):
    """The judge's own measurement: every layer's ‖∂loss/∂W‖ on dense_stack's default weights."""
    from cnnlib.lessons import architectures

    stack = architectures.dense_stack(depth, WIDTH, "sigmoid", skip)
    return architectures.layer_gradient_norms(stack, x.astype("float32"), y.astype("float32"))


@exercise(
    "06.depth_gradient",
    "depth against the first layer's gradient, with and without skips",
    "experiment",
    "core",
    form=Function(Number(), args=("depth", "skip", "x", "y")),
    trials=depth_gradient_trials,
    expects="a function first_layer_gradient(depth, skip, x, y) returning one number",
)
def judge_depth_gradient(values, trials):
    """`first_layer_gradient(depth, skip, x, y)` → ‖∂loss/∂W₁‖ of a sigmoid dense stack at init.

    The judge measures the same stacks (dense_stack's default seed) on the same data itself, so
    a made-up or hard-coded number cannot pass.
    """
    first = {}
    for value, case in zip(values, trials, strict=True):
        depth, skip = case["depth"], case["skip"]
        norms = _gradient_norms(depth, skip, case["x"], case["y"])
        other = _gradient_norms(depth, not skip, case["x"], case["y"])
        on = f"for depth={depth}, skip={skip}"
        hints = [
            (
                norms[-1],
                "that is the LAST layer's gradient; measure the first layer (index 0, next to "
                "the input), whose gradient passes through every sigmoid",
            ),
            (other[0], "pass `skip` on to dense_stack: each layer must add its input back"),
        ]
        hints += [(n, "that is another layer's gradient; return the first layer's") for n in norms]
        same_number(
            value,
            norms[0],
            f"{on}, the first layer's gradient norm (measured on the x and y your function got)",
            hints=hints,
            rtol=1e-3,
        )
        first[depth, skip] = value
    plain = first[DEPTHS[-1], False] / first[DEPTHS[0], False]
    residual = first[DEPTHS[-1], True] / first[DEPTHS[0], True]
    return (
        f"plain: ×{plain:.1e} from depth {DEPTHS[0]} to {DEPTHS[-1]}; with skips: "
        f"×{residual:.2g} (now explain the difference in a sentence)"
    )


# ---------------------------------------------------------------------------------------------
# 06.densenet_channels — the channel count through a DenseNet (stretch)
# ---------------------------------------------------------------------------------------------
_DENSE_CASES = [
    (64, [6, 12, 24, 16], 32, 0.5),  # DenseNet-121
    (64, [6, 12, 32, 32], 32, 0.5),  # DenseNet-169
    (16, [3, 5], 12, 0.5),
    (24, [4, 4, 4], 12, 1.0),
    (30, [5, 7, 2], 10, 0.3),
]


def densenet_trials(rng):
    """DenseNet-121 and -169, three small configurations, and one drawn at random."""
    blocks = [int(n) for n in rng.integers(1, 9, size=int(rng.integers(2, 5)))]
    drawn = (int(rng.integers(8, 65)), blocks, int(rng.integers(4, 33)), 0.5)
    return [
        {"c0": c0, "block_sizes": sizes, "growth_rate": k, "compression": theta}
        for c0, sizes, k, theta in [*_DENSE_CASES, drawn]
    ]


def _channels(c0, block_sizes, growth_rate, compression, per_block=None):
    """Channels at the end of each block; `per_block(size)` layers' worth of growth a block adds."""
    per_block = per_block or (lambda size: size)
    channels, ends = c0, []
    for i, size in enumerate(block_sizes):
        channels += per_block(size) * growth_rate
        ends.append(channels)
        if i < len(block_sizes) - 1:
            channels = int(channels * compression)
    return ends


@exercise(
    "06.densenet_channels",
    "channel growth through a DenseNet",
    "implement",
    "stretch",
    form=Function(
        Array(dtype=int, ndim=1), args=("c0", "block_sizes", "growth_rate", "compression")
    ),
    trials=densenet_trials,
    expects="a function densenet_channels(c0, block_sizes, growth_rate, compression) returning "
    "a list of ints, one per dense block",
)
def judge_densenet_channels(outputs, trials):
    """`densenet_channels(c0, block_sizes, growth_rate, compression)` → channels per block end."""
    for got, case in zip(outputs, trials, strict=True):
        c0, sizes, k, theta = (
            case[key] for key in ("c0", "block_sizes", "growth_rate", "compression")
        )
        hints = [
            (
                _channels(c0, sizes, k, theta, per_block=lambda size: size - 1),
                "off by one: each of the L layers adds k maps, so a block adds L·k",
            ),
            (
                [c0 + size * k for size in sizes],
                "the next block starts from the previous block's output (after its "
                "transition), not from c0",
            ),
        ]
        if theta != 1.0:
            hints.append(
                (
                    _channels(c0, sizes, k, 1.0),
                    "the transition between blocks keeps only floor(c · compression) channels "
                    "(a 1×1 convolution)",
                )
            )
        same_array(
            got,
            _channels(c0, sizes, k, theta),
            f"on {describe_input(case)}",
            hints=hints,
            shape_hints=[((sum(sizes),), "one number per dense block, not one per layer")],
        )
    return f"right for DenseNet-121, DenseNet-169 and {len(trials) - 2} other configurations"
