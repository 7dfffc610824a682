"""The ideas that took CNNs from LeNet to ResNet, one small Keras builder each (notebook 06).

Each function builds one idea from its paper with the paper's sizes, so that a notebook can count
what the paper counted (parameters, output sizes, layers) from the model itself instead of
copying a number from a slide:

- `alexnet`: LeNet's recipe scaled up for ImageNet (Krizhevsky, Sutskever & Hinton, 2012);
- `conv_from_notation`: GoogLeNet's "3x3+1(S)" labels turned into layers (Szegedy et al., 2015);
- `inception_module`, `naive_inception_module`, `googlenet`: parallel branches, concatenated;
- `residual_block`: ResNet's skip connection (He, Zhang, Ren & Sun, 2016);
- `dense_block`: DenseNet's concatenation of every earlier map (Huang et al., 2017);
- `dense_stack`, `layer_gradient_norms`: the vanishing-gradient experiment.
"""

import re

import keras
import numpy as np
from keras import layers

# ---------------------------------------------------------------------------------------------
# AlexNet (2012)
# ---------------------------------------------------------------------------------------------


def alexnet(input_shape=(227, 227, 3), classes=1000, two_gpu=True):
    """AlexNet with the paper's layer sizes: 5 convolutions and 3 dense layers.

    Why `two_gpu`: the network was split over two GPUs of 3 GB each, and conv2, conv4 and conv5
    only see the maps on their own GPU. That halves their weights; Keras expresses the same
    wiring with `groups=2`. With `two_gpu=False` every layer sees every map of the layer below
    (the usual one-GPU re-implementation), which has more parameters.

    Why 227 × 227: the paper says 224, but an 11 × 11 window with stride 4 and no padding fits
    55 times (the size the paper gives for conv1) only into 227 pixels.

    Left out: local response normalisation (no parameters, not used any more) and the overlapping
    pooling's exact placement is kept (3 × 3 windows, stride 2, after conv1, conv2 and conv5).
    Grouped convolutions may not run on a CPU; the model is for counting, not for training here.
    """
    groups = 2 if two_gpu else 1
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
            layers.MaxPooling2D(3, strides=2, name="pool1"),
            layers.Conv2D(256, 5, padding="same", groups=groups, activation="relu", name="conv2"),
            layers.MaxPooling2D(3, strides=2, name="pool2"),
            layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),
            layers.Conv2D(384, 3, padding="same", groups=groups, activation="relu", name="conv4"),
            layers.Conv2D(256, 3, padding="same", groups=groups, activation="relu", name="conv5"),
            layers.MaxPooling2D(3, strides=2, name="pool5"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.5, name="dropout6"),
            layers.Dense(4096, activation="relu", name="fc6"),
            layers.Dropout(0.5, name="dropout7"),
            layers.Dense(4096, activation="relu", name="fc7"),
            layers.Dense(classes, activation="softmax", name="fc8"),
        ],
        name="alexnet_two_gpu" if two_gpu else "alexnet_one_gpu",
    )


# ---------------------------------------------------------------------------------------------
# GoogLeNet (2014): notation, Inception module, the whole network
# ---------------------------------------------------------------------------------------------

_NOTATION = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*\+\s*(\d+)\s*\(([SV])\)\s*$", re.I)


def parse_notation(label):
    """Read a GoogLeNet label such as "7x7+2(S)": kernel 7 × 7, stride 2, (S)ame or (V)alid padding.

    Why: the GoogLeNet paper's figure of the network labels every layer this way, and deck 001
    copies it ("3x3 + 1(S)"). Returns ((kh, kw), stride, "same" | "valid").
    """
    match = _NOTATION.match(str(label))
    if not match:
        raise ValueError(f"label must look like '3x3+1(S)' (kernel, stride, S or V), got {label!r}")
    kh, kw, stride, pad = match.groups()
    return (int(kh), int(kw)), int(stride), {"S": "same", "V": "valid"}[pad.upper()]


def conv_from_notation(label, filters, activation="relu", name=None):
    """The Conv2D layer that GoogLeNet's label (e.g. "3x3+1(S)") describes."""
    kernel, stride, padding = parse_notation(label)
    return layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, activation=activation, name=name
    )


def inception_module(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj, name="inception"):
    """GoogLeNet's Inception module: four branches side by side, their maps concatenated.

    Why four branches: the network need not choose one kernel size; 1 × 1, 3 × 3 and 5 × 5
    convolutions and a 3 × 3 max-pooling all look at the same input, and the next layer picks
    from all their maps. Why the 1 × 1 convolutions in front of the 3 × 3 and 5 × 5 ones (and
    after the pooling): they mix channels at one pixel and cut, for example, 192 channels to 16
    before the expensive 5 × 5 filters, which divides those filters' cost by the same factor.
    All convolutions use ReLU and "same" padding, so the branches keep the input's height and
    width and can be stacked along the channel axis.
    """

    def conv(filters, size, tag):
        return layers.Conv2D(filters, size, padding="same", activation="relu", name=f"{name}_{tag}")

    branch1 = conv(f1, 1, "1x1")(x)
    branch3 = conv(f3, 3, "3x3")(conv(f3_reduce, 1, "3x3_reduce")(x))
    branch5 = conv(f5, 5, "5x5")(conv(f5_reduce, 1, "5x5_reduce")(x))
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pool_proj, 1, "pool_proj")(pooled)
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, branch_pool])


def naive_inception_module(x, f1, f3, f5, name="naive_inception"):
    """The Inception module without the 1 × 1 reductions (the paper's Figure 2a).

    Why it is here: to count what the 1 × 1 convolutions save. The pooling branch passes all
    input channels through, so the output grows by the input's depth at every module.
    """

    def conv(filters, size, tag):
        return layers.Conv2D(filters, size, padding="same", activation="relu", name=f"{name}_{tag}")

    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return layers.Concatenate(name=f"{name}_concat")(
        [conv(f1, 1, "1x1")(x), conv(f3, 3, "3x3")(x), conv(f5, 5, "5x5")(x), pooled]
    )


# Table 1 of Szegedy et al., "Going deeper with convolutions" (CVPR 2015): for each module
# #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet(input_shape=(224, 224, 3), classes=1000):
    """GoogLeNet as in Table 1 of its paper (without the two auxiliary training classifiers).

    Why build it: Keras does not ship it, and the deck's "22 layers, 6M parameters" can then be
    counted instead of believed. Local response normalisation is left out (no parameters).
    """
    inputs = keras.Input(shape=input_shape)
    x = conv_from_notation("7x7+2(S)", 64, name="conv1")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_from_notation("1x1+1(V)", 64, name="conv2_reduce")(x)
    x = conv_from_notation("3x3+1(S)", 192, name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for key, sizes in GOOGLENET_MODULES.items():
        if key in ("4a", "5a"):
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_before_{key}")(x)
        x = inception_module(x, *sizes, name=f"inception_{key}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="linear")(x)
    return keras.Model(inputs, outputs, name="googlenet")


# ---------------------------------------------------------------------------------------------
# ResNet (2015) and DenseNet (2017)
# ---------------------------------------------------------------------------------------------


def residual_block(x, filters, stride=1, name="residual"):
    """ResNet's basic block: output = ReLU(F(x) + shortcut(x)), F = two 3 × 3 convolutions.

    Why the addition: the block only has to learn the change F(x) to its input, and the gradient
    reaches the layers below through the shortcut unchanged (the derivative of x + F(x) with
    respect to x is 1 + F'(x)), however small F'(x) is. When the stride or the channel count
    changes, x and F(x) no longer have the same shape; then the shortcut is a 1 × 1 convolution
    with the same stride (the paper's "projection shortcut", option B).
    """
    residual = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1"
    )(x)
    residual = layers.BatchNormalization(name=f"{name}_bn1")(residual)
    residual = layers.ReLU(name=f"{name}_relu1")(residual)
    residual = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(
        residual
    )
    residual = layers.BatchNormalization(name=f"{name}_bn2")(residual)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, name=f"{name}_projection"
        )(x)
        shortcut = layers.BatchNormalization(name=f"{name}_projection_bn")(shortcut)
    added = layers.Add(name=f"{name}_add")([residual, shortcut])
    return layers.ReLU(name=f"{name}_out")(added)


def resnet18(input_shape=(224, 224, 3), classes=1000):
    """ResNet-18 (He et al., 2016, Table 1): a 7 × 7 stem, then 4 stages of 2 basic blocks.

    Why build it: Keras ships ResNet-50 and deeper, and a slide's "ResNet: 11M parameters"
    is this 18-layer network, not the 152-layer one it names. The stages have 64, 128, 256 and
    512 filters; each stage after the first starts with stride 2 and a projection shortcut.
    """
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for stage, filters in enumerate((64, 128, 256, 512), start=2):
        for block in (1, 2):
            stride = 2 if (stage > 2 and block == 1) else 1
            x = residual_block(x, filters, stride, name=f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name="resnet18")


def dense_block(x, num_layers, growth_rate, name="dense"):
    """DenseNet's dense block: every layer gets the concatenated maps of all layers before it.

    Why concatenation: where ResNet adds a layer's output to its input, DenseNet keeps both, so
    later layers can reuse every earlier feature directly and each layer adds only
    `growth_rate` (k) new maps: after L layers the block holds c0 + L·k channels. Each layer is
    DenseNet-BC's bottleneck: BN-ReLU-1×1 convolution to 4k maps, then BN-ReLU-3×3 to k maps.
    """
    for i in range(1, num_layers + 1):
        tag = f"{name}_layer{i}"
        y = layers.BatchNormalization(name=f"{tag}_bn1")(x)
        y = layers.ReLU(name=f"{tag}_relu1")(y)
        y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{tag}_conv1x1")(y)
        y = layers.BatchNormalization(name=f"{tag}_bn2")(y)
        y = layers.ReLU(name=f"{tag}_relu2")(y)
        y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{tag}_conv3x3")(y)
        x = layers.Concatenate(name=f"{tag}_concat")([x, y])
    return x


# ---------------------------------------------------------------------------------------------
# Counting and the vanishing-gradient experiment
# ---------------------------------------------------------------------------------------------


def weight_layers(model):
    """The convolutional and dense layers of `model`: the layers papers count as its depth."""
    return [layer for layer in model.layers if isinstance(layer, (layers.Conv2D, layers.Dense))]


def trainable_count(model):
    """Parameters that training changes (Keras also counts BatchNorm's running statistics)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _parents(layer):
    """The layers whose outputs feed `layer` in a functional model."""
    return [parent.operation for node in layer._inbound_nodes for parent in node.parent_nodes]


def weight_depth(model):
    """The most convolutional and dense layers any input-to-output path passes through.

    Why: that is how papers count depth ("VGG16", "ResNet-50", "22 layers" for GoogLeNet).
    Branches side by side (Inception) and shortcuts (ResNet) do not add to it; counting every
    layer with weights would call ResNet-50 "54" and GoogLeNet "58".
    """
    depth = {}
    for layer in model.layers:  # Keras lists a functional model's layers parents first
        before = max((depth[p.name] for p in _parents(layer) if p.name in depth), default=0)
        depth[layer.name] = before + isinstance(layer, (layers.Conv2D, layers.Dense))
    return max(depth.values())


def multiply_adds(model):
    """Multiplications (each with its addition) one image costs in the conv and dense layers.

    Why: parameters say how much a model stores; multiply-adds say how much work it does. A
    convolution repeats each weight at every output position: H'·W'·kh·kw·(C_in/groups)·C_out.
    """
    total = 0
    for layer in weight_layers(model):
        if isinstance(layer, layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kh, kw = layer.kernel_size
            channels_in = layer.input.shape[-1] // layer.groups
            total += height * width * kh * kw * channels_in * channels_out
        else:
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def dense_stack(depth, width=32, activation="sigmoid", skip=False, seed=0):
    """`depth` dense layers of `width` units; with `skip=True` each one adds its input back.

    Why: the smallest model in which to watch gradients vanish. Plain: h ← g(W h + b).
    With skips: h ← h + g(W h + b), ResNet's idea without the convolutions. Same weights for
    the same seed, so the two differ only in the skip connections. Glorot-uniform weights,
    Keras's default.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    inputs = keras.Input(shape=(width,))
    h = inputs
    for i in range(depth):
        dense = layers.Dense(
            width,
            activation=activation,
            name=f"dense_{i}",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
        )
        h = layers.Add(name=f"skip_{i}")([h, dense(h)]) if skip else dense(h)
    return keras.Model(inputs, h, name=f"{'residual' if skip else 'plain'}_{activation}_{depth}")


def layer_gradient_norms(model, x, y):
    """‖∂loss/∂W‖ for the kernel W of every dense or conv layer, in order, at the current weights.

    Why: a layer learns in proportion to the gradient of the loss with respect to its weights;
    a gradient a million times smaller than the last layer's means that layer barely moves.
    The loss is the mean squared error between `model(x)` and `y`.
    """
    import tensorflow as tf

    kernels = [layer.kernel for layer in weight_layers(model)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, kernels)
    return np.array([float(tf.norm(g)) for g in grads])


# ---------------------------------------------------------------------------------------------
# Figures of the two blocks (drawn by hand: their branches do not fit a left-to-right chain)
# ---------------------------------------------------------------------------------------------


def _box(ax, x, y, text, colour, width=2.3, height=0.62):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.1",
            facecolor=colour,
            edgecolor="#444444",
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(ax, start, end, colour="#333333", rad=0.0):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops=dict(
            arrowstyle="-|>",
            color=colour,
            lw=1.3,
            shrinkA=0,
            shrinkB=0,
            connectionstyle=f"arc3,rad={rad}",
        ),
    )


CONV, POOL, MERGE, DATA = "#9ecae1", "#fdae6b", "#fcbba1", "#e8e8e8"


def draw_inception_module(ax, input_shape, sizes, output_channels, title=None):
    """Draw an Inception module: the four branches and the concatenation, with their sizes.

    `input_shape` is (H, W, C); `sizes` the six numbers of `inception_module`; the output channel
    count is passed in (read it from the Keras model) so the figure shows what Keras built.
    """
    f1, f3r, f3, f5r, f5, pool_proj = sizes
    h, w, c = input_shape
    columns = [-3.9, -1.3, 1.3, 3.9]
    _box(ax, 0, 4.0, f"input {h}×{w}×{c}", DATA, width=3.0)
    _box(ax, columns[1], 2.6, f"1×1 conv, {f3r}\n(reduce)", CONV)
    _box(ax, columns[2], 2.6, f"1×1 conv, {f5r}\n(reduce)", CONV)
    _box(ax, columns[3], 2.6, "3×3 max pool\nstride 1", POOL)
    _box(ax, columns[0], 1.3, f"1×1 conv, {f1}", CONV)
    _box(ax, columns[1], 1.3, f"3×3 conv, {f3}", CONV)
    _box(ax, columns[2], 1.3, f"5×5 conv, {f5}", CONV)
    _box(ax, columns[3], 1.3, f"1×1 conv, {pool_proj}\n(pool proj)", CONV)
    _box(
        ax,
        0,
        -0.1,
        f"concatenate: {f1} + {f3} + {f5} + {pool_proj} = {output_channels}",
        MERGE,
        width=5.2,
    )
    _box(ax, 0, -1.3, f"output {h}×{w}×{output_channels}", DATA, width=3.0)
    for x in columns:
        top = 2.6 + 0.31 if x != columns[0] else 1.3 + 0.31
        _arrow(ax, (0, 4.0 - 0.31), (x, top))
        if x != columns[0]:
            _arrow(ax, (x, 2.6 - 0.31), (x, 1.3 + 0.31))
        _arrow(ax, (x, 1.3 - 0.31), (x * 0.45, -0.1 + 0.31))
    _arrow(ax, (0, -0.1 - 0.31), (0, -1.3 + 0.31))
    ax.set_xlim(-5.4, 5.4)
    ax.set_ylim(-1.8, 4.5)
    ax.axis("off")
    ax.set_title(title or "Inception module (all convolutions: ReLU, 'same' padding)")
    return ax


def draw_residual_block(ax, input_shape, filters, stride=1, title=None):
    """Draw ResNet's basic block: the two-convolution branch and the shortcut around it."""
    h, w, c = input_shape
    projection = stride != 1 or c != filters
    out_h, out_w = -(-h // stride), -(-w // stride)
    _box(ax, 0, 5.0, f"x: {h}×{w}×{c}", DATA, width=2.6)
    _box(
        ax,
        0,
        3.9,
        f"3×3 conv, {filters}"
        + (f", stride {stride}" if stride > 1 else "")
        + "\nbatch norm, ReLU",
        CONV,
        width=2.6,
        height=0.75,
    )
    _box(ax, 0, 2.6, f"3×3 conv, {filters}\nbatch norm", CONV, width=2.6, height=0.75)
    _box(ax, 0, 1.3, "add  F(x) + shortcut", MERGE, width=2.6)
    _box(ax, 0, 0.2, f"ReLU → {out_h}×{out_w}×{filters}", DATA, width=2.6)
    _arrow(ax, (0, 5.0 - 0.31), (0, 3.9 + 0.375))
    _arrow(ax, (0, 3.9 - 0.375), (0, 2.6 + 0.375))
    _arrow(ax, (0, 2.6 - 0.375), (0, 1.3 + 0.31))
    _arrow(ax, (0, 1.3 - 0.31), (0, 0.2 + 0.31))
    ax.text(-1.5, 3.25, "F(x)", ha="right", va="center", fontsize=11, style="italic")
    colour = "#c0392b"
    ax.plot([1.3, 2.6, 2.6], [5.0, 5.0, 3.6], color=colour, lw=1.6)
    if projection:
        _box(
            ax, 2.6, 3.25, f"1×1 conv, {filters}\nstride {stride}, BN", CONV, width=1.9, height=0.7
        )
        ax.plot([2.6, 2.6], [2.9, 1.3], color=colour, lw=1.6)
        label = "projection shortcut"
    else:
        ax.plot([2.6, 2.6], [3.6, 1.3], color=colour, lw=1.6)
        label = "identity shortcut"
    _arrow(ax, (2.6, 1.3), (1.3, 1.3), colour=colour)
    ax.text(2.75, 4.5, label, color=colour, fontsize=9, ha="left")
    ax.set_xlim(-2.8, 4.6)
    ax.set_ylim(-0.3, 5.5)
    ax.axis("off")
    ax.set_title(title or ("residual block" + (" (shapes change)" if projection else "")))
    return ax
