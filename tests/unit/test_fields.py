"""cnnlib.lessons.fields: hand-derivable cases, Keras output shapes, and impulse measurements."""

import numpy as np
import pytest

from cnnlib.lessons.fields import (
    Layer,
    format_fields,
    keras_receptive_fields,
    layers_from_keras,
    measure_receptive_field,
    receptive_field,
    receptive_fields,
)

# ----------------------------------------------------------------- by hand


@pytest.mark.parametrize("depth, expected", [(1, 3), (2, 5), (3, 7), (4, 9)])
def test_stacked_3x3_convolutions_grow_by_two_per_layer(depth, expected):
    # Each stride-1 3×3 layer adds one pixel on every side: 1 + 2·depth.
    assert receptive_field([3] * depth) == (expected, expected)


def test_one_7x7_sees_what_three_3x3_see():
    assert receptive_field([7]) == receptive_field([3, 3, 3]) == (7, 7)


def test_pooling_multiplies_the_jump():
    fields = receptive_fields([(3, 1), (2, 2), (3, 1), (2, 2)])
    assert [f.size for f in fields] == [(3, 3), (4, 4), (8, 8), (10, 10)]
    assert [f.jump for f in fields] == [(1, 1), (2, 2), (2, 2), (4, 4)]


def test_dilation_spreads_the_kernel():
    # A 3×3 kernel with dilation 2 covers 5×5; stacking dilations 1, 2, 4 gives 3, 7, 15.
    assert Layer(3, dilation=2).span == (5, 5)
    assert [f.size for f in receptive_fields([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] == [
        (3, 3),
        (7, 7),
        (15, 15),
    ]


def test_unequal_kernels_and_strides_per_axis():
    fields = receptive_fields([Layer((3, 5), stride=(2, 1)), Layer(3)], input_size=(11, 11))
    assert fields[0].output == (5, 7)
    assert fields[1].size == (3 + 2 * 2, 5 + 2 * 1)
    assert fields[1].jump == (2, 1)
    assert fields[1].output == (3, 5)


def test_output_sizes_follow_the_formula():
    # floor((n + 2p − f) / s) + 1
    for n, f, p, s in [
        (5, 3, 0, 1),
        (5, 3, 1, 1),
        (5, 3, 1, 2),
        (6, 3, 2, 1),
        (7, 3, 0, 2),
        (28, 5, 2, 1),
    ]:
        (field,) = receptive_fields([Layer(f, stride=s, padding=p)], input_size=n)
        assert field.output == ((n + 2 * p - f) // s + 1,) * 2


def test_same_and_full_padding_output_sizes():
    assert receptive_fields([Layer(3, padding="same")], input_size=5)[0].output == (5, 5)
    assert receptive_fields([Layer(3, stride=2, padding="same")], input_size=5)[0].output == (3, 3)
    assert receptive_fields([Layer(3, stride=2, padding="same")], input_size=6)[0].output == (3, 3)
    assert receptive_fields([Layer(3, padding="full")], input_size=6)[0].output == (8, 8)


def test_covers_reports_the_input_window_of_a_unit():
    fields = receptive_fields([3, 3, 3], input_size=9)
    assert fields[-1].covers(0, 0) == ((0, 6), (0, 6))
    assert fields[-1].covers(2, 1) == ((2, 8), (1, 7))
    # Zero padding moves the first window into the padding.
    padded = receptive_fields([Layer(3, padding=1), Layer(3, padding=1)], input_size=5)
    assert padded[-1].covers(0, 0) == ((-2, 2), (-2, 2))


@pytest.mark.parametrize("layers", [[3, 3, 3], [Layer(3, padding="same")], [Layer(3, padding=1)]])
def test_covers_without_an_input_size_raises_instead_of_answering(layers):
    # It used to answer ((0, 6), (0, 6)) for unpadded layers, for any unit, existing or not.
    with pytest.raises(ValueError, match="needs the input size.*input_size"):
        receptive_fields(layers)[-1].covers(0, 0)


@pytest.mark.parametrize(
    "row, col, message",
    [
        (3, 0, "row = 3 is outside layer 3's output of 3×3 units: use 0 to 2"),
        (0, -1, "col = -1 is outside"),
        (0.5, 0, "row must be an int"),
        (True, 0, "row must be an int"),
    ],
)
def test_covers_refuses_units_that_do_not_exist(row, col, message):
    field = receptive_fields([3, 3, 3], input_size=9)[-1]
    with pytest.raises(ValueError, match=message):
        field.covers(row, col)


def test_format_fields_has_a_row_per_layer():
    text = format_fields(receptive_fields([3, 3, 3], input_size=9))
    assert text.count("\n") == 4 and "7×7" in text


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], "layers is empty"),
        (["3"], "layer 1"),
        ([(3, 0)], "stride must be at least 1"),
        ([(0, 1)], "kernel must be at least 1"),
        ([(3, 1, 0)], "dilation must be at least 1"),
    ],
)
def test_bad_layers_raise_value_error(layers, message):
    with pytest.raises(ValueError, match=message):
        receptive_fields(layers)


@pytest.mark.parametrize("layers", [None, 5, 3.0, "333", True, {3: 1}, {3}, Layer(3), object()])
def test_layers_that_are_not_a_list_raise_type_error_naming_the_argument(layers):
    with pytest.raises(TypeError, match=r"layers must be a list of layers .*got"):
        receptive_fields(layers)
    with pytest.raises(TypeError, match=r"layers must be a list of layers"):
        receptive_field(layers)


def test_a_single_layer_error_shows_how_to_write_a_list():
    with pytest.raises(TypeError, match=r"for one layer write \[5\]"):
        receptive_field(5)
    with pytest.raises(TypeError, match=r"for one layer write \[Layer\(3"):
        receptive_field(Layer(3))


def test_any_sequence_or_iterable_of_layers_is_accepted():
    assert (
        receptive_field((3, 3))
        == receptive_field([3, 3])
        == receptive_field(iter([3, 3]))
        == (5, 5)
    )
    assert receptive_field(np.array([3, 3, 3])) == (7, 7)


def test_bad_input_size_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="input_size"):
        receptive_fields([3], input_size="big")
    with pytest.raises(ValueError, match="input_size must be at least 1"):
        receptive_fields([3], input_size=0)


def test_bad_padding_and_too_small_input_raise_value_error():
    with pytest.raises(ValueError, match="padding"):
        Layer(3, padding="wide")
    with pytest.raises(ValueError, match="padding widths must not be negative"):
        Layer(3, padding=(1, -1))
    with pytest.raises(ValueError, match="got -1"):
        Layer(3, padding=-1)
    with pytest.raises(ValueError, match="does not fit an input"):
        receptive_fields([7], input_size=5)


# ----------------------------------------------------------------- against Keras

keras = pytest.importorskip("keras")


def _model(*layers, size=32, channels=1):
    model = keras.Sequential([keras.Input((size, size, channels)), *layers])
    return model


MODELS = {
    "three 3x3": lambda: _model(*(keras.layers.Conv2D(2, 3) for _ in range(3))),
    "one 7x7": lambda: _model(keras.layers.Conv2D(2, 7)),
    "conv-pool-conv-pool": lambda: _model(
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
    ),
    "strided and dilated": lambda: _model(
        keras.layers.Conv2D(3, 3, strides=2, padding="same"),
        keras.layers.Conv2D(3, 3, dilation_rate=2),
        keras.layers.AveragePooling2D(3, strides=2),
        size=31,
        channels=3,
    ),
    "unequal": lambda: _model(
        keras.layers.Conv2D(2, (3, 5), strides=(2, 1)),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D((2, 3), strides=(2, 2), padding="same"),
        keras.layers.Conv2D(2, (1, 3)),
        size=30,
    ),
}


@pytest.mark.parametrize("name", MODELS)
def test_output_sizes_match_keras(name):
    model = MODELS[name]()
    fields = keras_receptive_fields(model)
    spatial = [layer for layer in model.layers if type(layer).__name__ != "BatchNormalization"]
    assert [f.output for f in fields] == [tuple(layer.output.shape[1:3]) for layer in spatial]


@pytest.mark.parametrize("name", MODELS)
def test_impulse_measurement_matches_the_calculator(name):
    model = MODELS[name]()
    fields = keras_receptive_fields(model)
    last = fields[-1]
    unit = tuple(o // 2 for o in last.output)
    size, box = measure_receptive_field(model, model.input_shape[1:3], unit=unit)
    # The calculator's window, clipped to the image (pixels in the padding cannot be measured).
    (r0, r1), (c0, c1) = last.covers(*unit)
    height, width = model.input_shape[1:3]
    expected = ((max(r0, 0), min(r1, height - 1)), (max(c0, 0), min(c1, width - 1)))
    assert box == expected
    if r0 >= 0 and c0 >= 0 and r1 < height and c1 < width:
        assert size == last.size


def test_measurement_of_an_intermediate_layer():
    model = MODELS["conv-pool-conv-pool"]()
    size, _ = measure_receptive_field(model, 32, layer=1, unit=(8, 8))
    assert size == receptive_fields(layers_from_keras(model)[:2])[-1].size == (4, 4)


def test_functional_models_and_large_inputs():
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.Conv2D(4, 5, strides=2, padding="same")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(3, strides=2)(x)
    outputs = keras.layers.Conv2D(4, 3, dilation_rate=2)(x)
    model = keras.Model(inputs, outputs)
    fields = keras_receptive_fields(model)
    assert [f.output for f in fields] == [(24, 24), (11, 11), (7, 7)]
    assert fields[-1].size == (5 + 2 * 2 + 4 * 4, 25)
    size, box = measure_receptive_field(model, 48, unit=(3, 3))
    (r0, r1), (c0, c1) = fields[-1].covers(3, 3)
    assert box == ((max(r0, 0), min(r1, 47)), (max(c0, 0), min(c1, 47)))
    assert size == fields[-1].size


def test_gradient_of_one_unit_agrees_with_the_calculator():
    # A second, independent measurement: which input pixels have a non-zero gradient.
    import tensorflow as tf

    model = MODELS["three 3x3"]()
    image = tf.constant(np.random.default_rng(0).random((1, 32, 32, 1)), dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(image)
        unit = model(image)[0, 10, 10, 0]
    gradient = tape.gradient(unit, image).numpy()[0, ..., 0]
    rows, cols = np.nonzero(gradient)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 16, 10, 16)


def test_layers_from_keras_stops_at_flatten_and_rejects_unknown_layers():
    model = _model(keras.layers.Conv2D(2, 5), keras.layers.Flatten(), keras.layers.Dense(3))
    assert [layer.kernel for layer in layers_from_keras(model)] == [(5, 5)]
    with pytest.raises(ValueError, match="UpSampling2D"):
        layers_from_keras(_model(keras.layers.UpSampling2D(2)))
    with pytest.raises(ValueError, match="no Conv2D or pooling"):
        layers_from_keras(_model(keras.layers.Flatten()))
