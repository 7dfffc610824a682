"""What notebook 06 counts and draws; the networks themselves are written in the notebook.

Notebook 06 writes AlexNet, the Inception module, GoogLeNet, the residual block, ResNet-18 and the
dense block in plain Keras where a learner reads them. This module keeps what only reads, counts
or draws a model, so that the notebook can count what the papers counted from the model itself
instead of copying a number from a slide:

- `parse_notation`, `conv_from_notation`: GoogLeNet's "3x3+1(S)" labels (Szegedy et al., 2015);
- `weight_layers`, `weight_depth`, `parameter_counts`, `multiply_adds`: what papers count;
- `dense_stack`, `layer_gradient_norms`: the vanishing-gradient experiment, which the notebook
  writes out in full for the learner; this copy is what the judge of exercise 06.depth_gradient
  measures with (it cannot run notebook code), and tests/labs/test_ex06.py keeps the two in step;
- `draw_inception_module`, `draw_residual_block`: figures of the two blocks.
"""

import re

import keras
import numpy as np
from keras import layers

# ---------------------------------------------------------------------------------------------
# GoogLeNet's notation
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


# ---------------------------------------------------------------------------------------------
# Counting and the vanishing-gradient experiment
# ---------------------------------------------------------------------------------------------


def weight_layers(model):
    """The convolutional and dense layers of `model`: the layers papers count as its depth."""
    return [layer for layer in model.layers if isinstance(layer, (layers.Conv2D, layers.Dense))]


def parameter_counts(model):
    """{"total", "trainable", "non_trainable"} parameter counts of a built model or layer.

    Trainable ones are what training changes; Keras's total also counts BatchNorm's running
    statistics and frozen layers."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


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

    `input_shape` is (H, W, C); `sizes` the module's six numbers as in Table 1 of the GoogLeNet
    paper (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj). The output channel count is
    passed in (read it from the Keras model) so the figure shows what Keras built.
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
