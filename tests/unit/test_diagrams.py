"""cnnlib.lessons.diagrams.draw_model: one box per layer, read from the model itself."""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cnnlib.lessons import diagrams, models  # noqa: E402


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_lenet5_diagram_has_one_box_per_layer_with_shapes_and_counts():
    model = models.lenet5_classic()
    fig = diagrams.draw_model(model, title="LeNet-5")
    texts = _texts(fig)
    for layer in model.layers:
        assert layer.name in texts
    assert "28×28×6" in texts and "5×5×16" in texts and "1×1×120" in texts
    assert "156 params" in texts and "48,120 params" in texts
    assert "5×5 conv, 6, tanh" in texts and "2×2 avg pool" in texts and "dense 84, tanh" in texts
    assert "61,750 parameters" in fig.axes[0].get_title()
    plt.close(fig)


def test_kinds():
    model = models.lenet_modern(augment=True)
    kinds = {layer.name: diagrams.layer_kind(layer) for layer in model.layers}
    assert kinds["conv1"] == "conv" and kinds["pool1"] == "pool" and kinds["output"] == "dense"
    assert kinds["random_shift"] == "other" and kinds["flatten"] == "other"


def test_max_layers_adds_one_box_for_the_rest_and_wraps_rows():
    model = models.lenet5_classic()
    fig = diagrams.draw_model(model, max_layers=4)
    texts = _texts(fig)
    assert any("8 more" in t for t in texts)
    assert "C3" not in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="max_layers"):
        diagrams.draw_model(model, max_layers=0)


def test_functional_model_with_a_skip_connection_draws_onto_given_axes():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="b")(x)
    outputs = keras.layers.Add(name="add")([x, inputs])
    model = keras.Model(inputs, outputs)
    fig, ax = plt.subplots()
    assert diagrams.draw_model(model, ax=ax) is fig
    assert diagrams._inbound(model.get_layer("add")) == ["b", model.layers[0].name]
    assert len(ax.lines) >= 1  # the shortcut, drawn above the row
    plt.close(fig)
