"""Receptive fields: which input pixels can reach one unit of a layer, worked out layer by layer.

A stack of convolution and pooling layers is described by each layer's kernel, stride, dilation and
padding. Walking through the stack from the input keeps three numbers per axis:

- ``size``: how many input pixels one unit of the layer sees (its receptive field),
- ``jump``: how many input pixels apart two neighbouring units of the layer are,
- ``first``: the input index where unit 0's receptive field starts (negative: it reaches into padding).

A layer with kernel k, stride s and dilation d spans ``k_eff = d·(k − 1) + 1`` of its inputs, so

    size_out = size_in + (k_eff − 1) · jump_in        jump_out = jump_in · s
    first_out = first_in − pad_before · jump_in

The calculator takes plain ``(kernel, stride[, dilation])`` tuples, `Layer` objects, or reads the
layers off a Keras model (`layers_from_keras`); `measure_receptive_field` checks the arithmetic
empirically, by sending impulses through a copy of a Keras model.
"""

import dataclasses

import numpy as np

from cnnlib import ops
from cnnlib.runtime.validation import int_pair

PADDINGS = ("valid", "same", "full")


def _padding(value):
    """'valid' | 'same' | 'full', or zero-padding widths as an int or (rows, cols) pair."""
    if isinstance(value, str):
        if value.lower() not in PADDINGS:
            raise ValueError(
                f"padding must be one of {', '.join(PADDINGS)}, an int or a pair, got {value!r}"
            )
        return value.lower()
    pair = value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    if (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    ):
        if min(pair) < 0:
            raise ValueError(f"padding widths must not be negative, got {value!r}")
        return (int(pair[0]), int(pair[1]))
    raise ValueError(
        f"padding must be one of {', '.join(PADDINGS)}, an int or a pair, got {value!r}"
    )


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution or pooling layer as the calculator sees it (ints or (rows, cols) pairs)."""

    kernel: object
    stride: object = 1
    dilation: object = 1
    padding: object = "valid"
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "kernel", int_pair(self.kernel, "kernel", minimum=1))
        object.__setattr__(self, "stride", int_pair(self.stride, "stride", minimum=1))
        object.__setattr__(self, "dilation", int_pair(self.dilation, "dilation", minimum=1))
        object.__setattr__(self, "padding", _padding(self.padding))

    @property
    def span(self):
        """How many input positions the (possibly dilated) kernel covers, per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


@dataclasses.dataclass(frozen=True)
class Field:
    """The receptive field of one unit of a layer, per axis as (rows, cols) pairs.

    `output` and `first` are None when the calculator was not told the input size.
    """

    name: str
    layer: Layer
    size: tuple
    jump: tuple
    output: tuple | None = None
    first: tuple | None = None

    def covers(self, row, col):
        """The input rows and columns (first, last), inclusive, seen by unit (row, col) of this layer.

        Needs the input size (`receptive_fields(..., input_size=...)`): without it there is no
        telling which units exist, so (row, col) could not be checked. Negative first rows are
        padding.
        """
        if self.output is None or self.first is None:
            raise ValueError(
                f"covers({row!r}, {col!r}) needs the input size, to know which units {self.name} "
                "has and where they start: pass input_size to receptive_fields, or use "
                "keras_receptive_fields on a model with an input shape"
            )
        for axis, (value, count) in enumerate(zip((row, col), self.output)):
            label = ("row", "col")[axis]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{label} must be an int, got {value!r}")
            if not 0 <= value < count:
                raise ValueError(
                    f"{label} = {value} is outside {self.name}'s output of {self.output[0]}×"
                    f"{self.output[1]} units: use 0 to {count - 1}"
                )
        return tuple(
            (f + i * j, f + i * j + s - 1)
            for f, i, j, s in zip(self.first, (row, col), self.jump, self.size)
        )


def _as_layer(item, index):
    if isinstance(item, Layer):
        return item
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return Layer(item, name=f"layer {index + 1}")
    if isinstance(item, (tuple, list)) and 1 <= len(item) <= 3:
        return Layer(*item, name=f"layer {index + 1}")
    raise ValueError(
        f"layer {index + 1} must be a Layer, a kernel size, or a (kernel, stride[, dilation]) tuple, got {item!r}"
    )


def _layer_list(layers):
    """`layers` as a list, or a TypeError saying what a stack of layers looks like."""
    expected = (
        "layers must be a list of layers (Layer objects, kernel sizes, or "
        "(kernel, stride[, dilation]) tuples)"
    )
    if isinstance(layers, (Layer, int, np.integer)) and not isinstance(layers, bool):
        one = f"Layer({layers.kernel[0]}, ...)" if isinstance(layers, Layer) else repr(int(layers))
        raise TypeError(f"{expected}, got the single layer {layers!r}: for one layer write [{one}]")
    if layers is None or isinstance(layers, (str, bytes, bool, float, dict, set, frozenset)):
        raise TypeError(f"{expected}, got {type(layers).__name__} {layers!r}")
    try:
        return list(layers)
    except TypeError:
        raise TypeError(f"{expected}, got {type(layers).__name__} {layers!r}") from None


def _axis(padding, axis):
    """One axis of a padding: the string itself, or that axis's zero-padding width."""
    return padding if isinstance(padding, str) else padding[axis]


def _fixed_padding(padding, span):
    """Zero pixels added before the input for paddings that do not depend on the input size."""
    return (
        {"valid": 0, "full": span - 1}.get(padding, padding)
        if isinstance(padding, str)
        else padding
    )


def _padding_before(padding, n, span, stride):
    """(zero pixels added before the input, output length) along one axis of length n."""
    (before, after), _ = ops.padding_amounts(n, span, stride, padding)
    padded = n + before + after
    if span > padded:
        return before, 0
    return before, (padded - span) // stride + 1


def receptive_fields(layers, input_size=None):
    """Receptive field size, jump (and, given `input_size`, output size and start) after each layer.

    `layers` is a list of `Layer` objects, kernel sizes, or ``(kernel, stride[, dilation])`` tuples
    (each entry an int or a (rows, cols) pair). `input_size` is an int or (height, width); "same"
    padding needs it to know where the padding goes. Returns one `Field` per layer.
    """
    layers = [_as_layer(item, index) for index, item in enumerate(_layer_list(layers))]
    if not layers:
        raise ValueError("layers is empty: give at least one (kernel, stride) layer")
    sizes = None if input_size is None else int_pair(input_size, "input_size", minimum=1)
    size, jump, first = (1, 1), (1, 1), (0, 0)
    fields = []
    for index, layer in enumerate(layers):
        name = layer.name or f"layer {index + 1}"
        size = tuple(r + (span - 1) * j for r, span, j in zip(size, layer.span, jump))
        if sizes is not None:
            results = [
                _padding_before(
                    _axis(layer.padding, axis), sizes[axis], layer.span[axis], layer.stride[axis]
                )
                for axis in range(2)
            ]
            output = tuple(out for _, out in results)
            if min(output) < 1:
                raise ValueError(
                    f"{name}: a kernel spanning {layer.span} does not fit an input of {sizes} "
                    f"with padding {layer.padding!r}"
                )
            before = tuple(b for b, _ in results)
            sizes = output
        else:
            output = None
            # Without the input size only "same" leaves the padding (and so the start) unknown.
            before = (
                None
                if layer.padding == "same"
                else tuple(
                    _fixed_padding(_axis(layer.padding, axis), layer.span[axis])
                    for axis in range(2)
                )
            )
        first = (
            None
            if first is None or before is None
            else tuple(f - b * j for f, b, j in zip(first, before, jump))
        )
        jump = tuple(j * s for j, s in zip(jump, layer.stride))
        fields.append(Field(name, layer, size, jump, output, first))
    return fields


def receptive_field(layers):
    """The (rows, cols) receptive field of one unit of the last layer in `layers`."""
    return receptive_fields(layers)[-1].size


def format_fields(fields):
    """A small text table of `receptive_fields` results, one row per layer."""

    def show(pair):
        return "—" if pair is None else f"{pair[0]}×{pair[1]}"

    header = f"{'layer':<24}{'kernel':>8}{'stride':>8}{'dilation':>10}{'output':>10}{'jump':>7}{'receptive field':>17}"
    rows = [header, "-" * len(header)]
    for field in fields:
        layer = field.layer
        rows.append(
            f"{field.name:<24}{show(layer.kernel):>8}{show(layer.stride):>8}{show(layer.dilation):>10}"
            f"{show(field.output):>10}{show(field.jump):>7}{show(field.size):>17}"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------- Keras models

_PASS_THROUGH = (
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "Rescaling",
    "Normalization",
    "InputLayer",
)
_FLAT = ("Flatten", "Dense", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Reshape")


def layers_from_keras(model):
    """The spatial layers of a Keras model as calculator `Layer`s, up to the first flattening layer.

    Reads Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling2D and AveragePooling2D; skips
    element-wise layers (activations, normalisation, dropout); stops at Flatten, Dense or a global
    pooling layer, where the spatial grid ends. Any other layer raises ValueError.
    """
    layers = []
    for layer in getattr(model, "layers", None) or []:
        kind = type(layer).__name__
        if kind in _FLAT:
            break
        if kind in _PASS_THROUGH:
            continue
        if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
            layers.append(
                Layer(
                    tuple(layer.kernel_size),
                    tuple(layer.strides),
                    tuple(layer.dilation_rate),
                    layer.padding,
                    layer.name,
                )
            )
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            layers.append(
                Layer(tuple(layer.pool_size), tuple(layer.strides), 1, layer.padding, layer.name)
            )
        else:
            raise ValueError(
                f"layers_from_keras does not know how layer {layer.name!r} ({kind}) changes the receptive field"
            )
    if not layers:
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} has no Conv2D or pooling layers to read"
        )
    return layers


def keras_receptive_fields(model):
    """`receptive_fields` for a built Keras model, with the input size taken from the model."""
    shape = getattr(model, "input_shape", None)
    input_size = None
    if shape is not None and len(shape) == 4 and None not in shape[1:3]:
        input_size = tuple(shape[1:3])
    return receptive_fields(layers_from_keras(model), input_size)


def measure_receptive_field(model, input_size, layer=None, unit=None):
    """Measure, by impulses, which input pixels reach one unit of `layer` in a Keras model.

    Works on a copy of the model whose convolution kernels are all ones and biases zero, so that an
    impulse of +1 anywhere in a unit's receptive field gives that unit a positive value (max and
    average pooling and ReLU keep it positive). One image per input pixel, each with a single
    impulse, goes through the copy; the unit's receptive field is the bounding box of the pixels
    whose impulse reached it. `layer` is a layer name or index (default: the last spatial layer),
    `unit` the (row, col) of the unit (default: the centre of that layer's output).

    Returns ((rows, cols) size, ((first_row, last_row), (first_col, last_col))).
    """
    height, width = int_pair(input_size, "input_size", minimum=1)
    shape = (height, width, model.input_shape[-1])
    probe = _probe(_all_ones_copy(model, shape), model.name, layer, shape)
    out_h, out_w = probe.output_shape[1:3]
    row, col = unit if unit is not None else (out_h // 2, out_w // 2)
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"unit {unit} is outside the layer's output of {out_h}×{out_w}")
    hit_rows, hit_cols = _pixels_reaching(probe, (row, col), shape)
    box = ((int(hit_rows.min()), int(hit_rows.max())), (int(hit_cols.min()), int(hit_cols.max())))
    size = (box[0][1] - box[0][0] + 1, box[1][1] - box[1][0] + 1)
    return size, box


def _all_ones_copy(model, shape):
    """A copy of `model` for input `shape` whose kernels are all ones and biases zero."""
    import keras

    copy = keras.models.clone_model(model)
    copy.build((None, *shape))
    for each in copy.layers:
        if hasattr(each, "kernel") and hasattr(each, "bias"):
            # Ones everywhere: every path from an input pixel to a unit carries a positive weight.
            each.kernel.assign(np.ones(each.kernel.shape, dtype="float32"))
            if each.bias is not None:
                each.bias.assign(np.zeros(each.bias.shape, dtype="float32"))
        for name in ("depthwise_kernel", "pointwise_kernel"):
            if hasattr(each, name):
                getattr(each, name).assign(np.ones(getattr(each, name).shape, dtype="float32"))
    return copy


def _probe(copy, model_name, layer, shape):
    """A model from the input to `layer` (name, index, or None: the last spatial layer) of `copy`.

    The spatial part of a model is everything before its first flattening layer.
    """
    import keras

    cut = next(
        (i for i, l in enumerate(copy.layers) if type(l).__name__ in _FLAT), len(copy.layers)
    )
    spatial = [l for l in copy.layers[:cut] if type(l).__name__ != "InputLayer"]
    if not spatial:
        raise ValueError(
            f"model {model_name!r} has no spatial layers before its first flattening layer"
        )
    if layer is None:
        target = spatial[-1]
    elif isinstance(layer, str):
        target = copy.get_layer(layer)
    else:
        target = spatial[layer]
    inputs = keras.Input(shape)
    x = inputs
    for each in spatial:
        x = each(x)
        if each is target:
            break
    return keras.Model(inputs, x)


def _pixels_reaching(probe, unit, shape):
    """(rows, cols) of the input pixels whose single impulse gives `unit` a positive value."""
    import keras

    height, width, channels = shape
    row, col = unit
    # One image per input pixel, each with a single impulse, in chunks to keep memory small.
    rows, cols = np.divmod(np.arange(height * width), width)
    reached = np.zeros(height * width, dtype=bool)
    for start in range(0, height * width, 256):
        chunk = np.arange(start, min(start + 256, height * width))
        impulses = np.zeros((chunk.size, height, width, channels), dtype="float32")
        impulses[np.arange(chunk.size), rows[chunk], cols[chunk], :] = 1.0
        response = keras.ops.convert_to_numpy(probe(impulses))[:, row, col, :]
        reached[chunk] = response.max(axis=-1) > 0
    where = np.flatnonzero(reached)
    if where.size == 0:
        raise ValueError(
            "no input pixel reached the unit: does the layer end in a non-positive activation?"
        )
    return rows[where], cols[where]
