"""Block diagrams drawn from a built Keras model: one box per layer, in the order data flows.

The diagram is read off the model itself (layer names, kinds, output shapes, parameter counts),
so it can never disagree with the code that trains. Colours say what a layer does: convolution,
pooling, dense, or anything else (input, padding, flatten, dropout, augmentation, …).
"""

import math

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from cnnlib.lessons.architectures import parameter_counts
from cnnlib.runtime.validation import int_pair

KIND_COLOURS = {
    "input": "#e8e8e8",
    "conv": "#9ecae1",
    "pool": "#fdae6b",
    "dense": "#a1d99b",
    "other": "#f2f2f2",
}
KIND_LABELS = {
    "input": "input",
    "conv": "convolution",
    "pool": "pooling",
    "dense": "dense",
    "other": "other (reshape, padding, dropout, …)",
}


def layer_kind(layer):
    """'input', 'conv', 'pool', 'dense' or 'other', from the layer's class name."""
    name = type(layer).__name__
    if name == "InputLayer":
        return "input"
    if "Pooling" in name:
        return "pool"
    if "Conv" in name:
        return "conv"
    if name == "Dense":
        return "dense"
    return "other"


def _times(values):
    return "×".join(str(v) for v in values)


def layer_description(layer):
    """A short text for the box: '5×5 conv, 6 maps', '2×2 max pool', 'dense 84', or the class."""
    name = type(layer).__name__
    config = layer.get_config()
    kind = layer_kind(layer)
    activation = config.get("activation")
    act = f", {activation}" if activation not in (None, "linear") else ""
    if kind == "conv":
        size = _times(int_pair(config["kernel_size"], "kernel_size"))
        strides = int_pair(config.get("strides", 1), "strides")
        stride = (
            f"/{_times(strides) if strides[0] != strides[1] else strides[0]}"
            if max(strides) > 1
            else ""
        )
        if "Depthwise" in name:
            return f"{size} depthwise{stride}{act}"
        return f"{size}{stride} conv, {config.get('filters')}{act}"
    if kind == "pool":
        if name.startswith("Global"):
            return "global " + ("max" if "Max" in name else "average") + " pool"
        pool = int_pair(config["pool_size"], "pool_size")
        size = _times(pool)
        strides = config.get("strides")
        same = strides is None or int_pair(strides, "strides") == pool
        stride = "" if same else f"/{int_pair(strides, 'strides')[0]}"
        return f"{size}{stride} " + ("max" if "Max" in name else "avg") + " pool"
    if kind == "dense":
        return f"dense {config.get('units')}{act}"
    if kind == "input":
        return "input"
    return name


def _output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return "?"
    if isinstance(output, (list, tuple)):
        output = output[0]
    shape = tuple(output.shape[1:])
    return _times("?" if s is None else s for s in shape)


def _inbound(layer):
    """Names of the layers feeding `layer` in a functional model (empty when unknown)."""
    names = []
    for node in getattr(layer, "_inbound_nodes", []):
        for parent in getattr(node, "parent_nodes", []):
            names.append(parent.operation.name)
    return names


def _format_count(n):
    return f"{n:,} params" if n else "no params"


BOX_W, BOX_H, GAP_X, GAP_Y = 1.7, 1.15, 0.45, 0.75
LINE = "#333333"
SKIP = dict(color="#c0392b", lw=1.4)


class _Grid:
    """Where box number i sits when `n_boxes` boxes wrap into rows of `per_row`."""

    def __init__(self, n_boxes, per_row=None):
        if per_row is None:  # at most 8 per row, rows as even as possible
            per_row = math.ceil(n_boxes / math.ceil(n_boxes / 8))
        self.per_row = per_row
        self.rows = math.ceil(n_boxes / per_row)
        self.width = per_row * BOX_W + (per_row - 1) * GAP_X
        self.height = self.rows * BOX_H + (self.rows - 1) * GAP_Y

    def corner(self, i):
        """Lower-left corner of box i."""
        row, col = divmod(i, self.per_row)
        return col * (BOX_W + GAP_X), self.height - BOX_H - row * (BOX_H + GAP_Y)


def _box(ax, corner, **style):
    ax.add_patch(
        FancyBboxPatch(corner, BOX_W, BOX_H, boxstyle="round,pad=0.02,rounding_size=0.08", **style)
    )


def _draw_layer_box(ax, corner, layer):
    """One layer's box: name, what it does, output shape, parameters, top to bottom."""
    kind = layer_kind(layer)
    _box(ax, corner, facecolor=KIND_COLOURS[kind], edgecolor="#444444", linewidth=1)
    x, y = corner
    box_lines = (
        (0.80, layer.name, {"fontsize": 8.5, "fontweight": "bold", "clip_on": True}),
        (0.57, layer_description(layer), {"fontsize": 7}),
        (0.35, _output_shape(layer), {"fontsize": 8, "family": "monospace"}),
        (0.13, _format_count(parameter_counts(layer)["total"]), {"fontsize": 6.5, "color": LINE}),
    )
    for level, label, style in box_lines:
        ax.text(x + BOX_W / 2, y + BOX_H * level, label, ha="center", va="center", **style)


def _draw_more_box(ax, corner, hidden):
    """A dashed box standing for the `hidden` layers left out."""
    _box(ax, corner, facecolor="white", edgecolor="#888888", linestyle="--")
    x, y = corner
    text = f"… {hidden} more\nlayers"
    ax.text(x + BOX_W / 2, y + BOX_H / 2, text, ha="center", va="center", fontsize=8)


def _draw_flow(ax, grid, n_boxes):
    """Arrows from each box to the next: straight along a row, down and back between rows."""
    arrow = dict(arrowstyle="-|>", color=LINE, lw=1.1, shrinkA=0, shrinkB=0)
    for i in range(1, n_boxes):
        (x0, y0), (x1, y1) = grid.corner(i - 1), grid.corner(i)
        if y0 == y1:
            start, end = (x0 + BOX_W, y0 + BOX_H / 2), (x1, y1 + BOX_H / 2)
            ax.annotate("", xy=end, xytext=start, arrowprops=arrow)
            continue
        mid = y0 - GAP_Y / 2
        ax.plot(
            [x0 + BOX_W / 2, x0 + BOX_W / 2, x1 + BOX_W / 2], [y0, mid, mid], color=LINE, lw=1.1
        )
        ax.annotate(
            "", xy=(x1 + BOX_W / 2, y1 + BOX_H), xytext=(x1 + BOX_W / 2, mid), arrowprops=arrow
        )


def _draw_skips(ax, grid, layers_):
    """Red arcs for skip connections: inbound layers other than the box drawn just before."""
    positions = {layer.name: i for i, layer in enumerate(layers_)}
    head = dict(arrowstyle="-|>", shrinkA=0, shrinkB=0, **SKIP)
    for i, layer in enumerate(layers_):
        for source in _inbound(layer):
            j = positions.get(source)
            if j is None or j == i - 1:
                continue
            (x0, y0), (x1, y1) = grid.corner(j), grid.corner(i)
            if y0 == y1:  # same row: up, across above the boxes, down into the target
                top = y0 + BOX_H + 0.28
                xs, xt = x0 + BOX_W * 0.5, x1 + BOX_W * 0.5
                ax.plot([xs, xs, xt], [y0 + BOX_H, top, top], **SKIP)
                ax.annotate("", xy=(xt, y1 + BOX_H), xytext=(xt, top), arrowprops=head)
            else:
                ax.annotate(
                    "",
                    xy=(x1 + BOX_W * 0.3, y1 + BOX_H),
                    xytext=(x0 + BOX_W * 0.7, y0),
                    arrowprops=dict(connectionstyle="arc3,rad=0.2", **head),
                )


def _draw_legend(ax, kinds_used):
    legend = [
        plt.Rectangle(
            (0, 0), 1, 1, facecolor=KIND_COLOURS[k], edgecolor="#444444", label=KIND_LABELS[k]
        )
        for k in KIND_COLOURS
        if k in kinds_used
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(legend),
        fontsize=7.5,
        frameon=False,
    )


def layers_with_weights(model):
    """How many layers of `model` hold weights, looking inside nested models.

    This is how papers count depth ("LeNet-5 comprises 7 layers", "VGG16"): padding, pooling without
    parameters, flatten, dropout and the input are layers to Keras but not to the paper.
    """
    count = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):
            count += layers_with_weights(layer)
        elif layer.weights:
            count += 1
    return count


def draw_model(model, ax=None, title=None, max_layers=None, per_row=None):
    """Draw `model` (a built Keras model) as a block diagram and return the matplotlib figure.

    One box per layer, showing its name, what it does, its output shape (height×width×channels
    for images) and its parameter count; colour by kind (conv, pool, dense, other). Long models
    wrap into rows of `per_row` boxes (chosen automatically, at most 8 per row). `max_layers`
    keeps the first layers and ends with one box counting the layers left out. Skip connections of
    functional models (a layer fed by a layer other than the one drawn before it) are drawn as
    arcs, so a residual block shows its shortcut.
    """
    layers_ = list(model.layers)
    if not layers_:
        raise ValueError("model has no layers to draw")
    if max_layers is not None and max_layers < 1:
        raise ValueError(f"max_layers must be a positive number of boxes, got {max_layers}")
    hidden = 0
    if max_layers is not None and len(layers_) > max_layers:
        hidden = len(layers_) - (max_layers - 1)
        layers_ = layers_[: max_layers - 1]
    n_boxes = len(layers_) + (1 if hidden else 0)
    grid = _Grid(n_boxes, per_row)
    if ax is None:
        size = (max(6.0, 0.82 * grid.width + 0.6), 0.95 * grid.height + 1.4)
        fig, ax = plt.subplots(figsize=size)
    else:
        fig = ax.figure

    for i, layer in enumerate(layers_):
        _draw_layer_box(ax, grid.corner(i), layer)
    if hidden:
        _draw_more_box(ax, grid.corner(len(layers_)), hidden)
    _draw_flow(ax, grid, n_boxes)
    _draw_skips(ax, grid, layers_)
    _draw_legend(ax, {layer_kind(layer) for layer in layers_})

    ax.set_xlim(-0.1, grid.width + 0.1)
    ax.set_ylim(-0.1, grid.height + 0.45)
    ax.set_aspect("equal")
    ax.axis("off")
    total_all = sum(parameter_counts(layer)["total"] for layer in model.layers)
    heading = title if title is not None else model.name
    ax.set_title(
        f"{heading} — {layers_with_weights(model)} layers with weights "
        f"({len(model.layers)} Keras layers), {total_all:,} parameters",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def show_feature_maps(maps, title=None, ncols=8, vmin=-1.0, vmax=1.0, cmap="RdBu_r", size=1.1):
    """Every map of one stage, (H, W, K), on ONE shared colour scale with a colour bar.

    A separate scale per map stretches a map of near-constant values into full contrast and makes
    maps impossible to compare; one scale (by default ±1, the range of tanh) shows which maps are
    active and which are not. Returns the figure.
    """
    import numpy as np

    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (height, width, maps), got {maps.shape}")
    count = maps.shape[-1]
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols + 0.9, size * nrows + 0.5), squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            image = ax.imshow(maps[:, :, k], cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(str(k), fontsize=7, pad=2)
    fig.colorbar(image, ax=axes, fraction=0.03, pad=0.02, shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
