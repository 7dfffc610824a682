"""The notebook's models: LeNet-5's layer-by-layer parameter counts, shapes and softmax outputs."""

import numpy as np
import pytest

from cnnlib.lessons import models


def conv_params(kernel, in_maps, out_maps):
    """Each output map has a kernel×kernel×in_maps filter plus one bias."""
    return (kernel * kernel * in_maps + 1) * out_maps


# LeNet-5 layer by layer: output shape and trainable parameters, computed from the architecture.
LENET5 = [
    ("pad_to_32", (32, 32, 1), 0),
    ("C1", (28, 28, 6), conv_params(5, 1, 6)),  # 156
    ("S2_average", (14, 14, 6), 0),
    ("S2", (14, 14, 6), 2 * 6),  # one coefficient and one bias per map
    ("C3", (10, 10, 16), conv_params(5, 6, 16)),  # 2,416 (the paper's sparse table: 1,516)
    ("S4_average", (5, 5, 16), 0),
    ("S4", (5, 5, 16), 2 * 16),
    ("C5", (1, 1, 120), conv_params(5, 16, 120)),  # 48,120
    ("flatten", (120,), 0),
    ("F6", (84,), 120 * 84 + 84),  # 10,164
    ("output", (10,), 84 * 10 + 10),  # 850
]


def test_lenet5_per_layer_parameters_and_shapes():
    model = models.lenet5_classic()
    assert models.parameter_table(model) == LENET5
    assert model.count_params() == sum(count for *_, count in LENET5) == 61_750


def test_mlp_has_the_papers_300_100_budget_larger_than_both_lenets():
    mlp = models.mlp_baseline()
    assert mlp.count_params() == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10 == 266_610
    assert (
        mlp.count_params()
        > models.lenet_modern().count_params()
        > models.lenet5_classic().count_params()
    )


@pytest.mark.parametrize("build", [models.lenet5_classic, models.lenet_modern, models.mlp_baseline])
def test_models_map_digits_to_probabilities(build):
    model = build()
    digits = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(digits))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_modern_lenet_uses_relu_and_max_pooling():
    model = models.lenet_modern()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("MaxPooling2D") == 2 and "AveragePooling2D" not in kinds
    assert model.get_layer("conv1").activation.__name__ == "relu"


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 3), (20, 20, 1)])
def test_lenets_refuse_other_input_shapes(shape):
    with pytest.raises(ValueError, match="input_shape"):
        models.lenet5_classic(shape)
    with pytest.raises(ValueError, match="input_shape"):
        models.lenet_modern(shape)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="dropout"):
        models.lenet_modern(dropout=1.0)
    with pytest.raises(ValueError, match="filters"):
        models.lenet_modern(filters=(32,))
    with pytest.raises(ValueError, match="hidden"):
        models.mlp_baseline(hidden=(300, 0))


def test_augmentation_adds_no_trainable_parameters_and_leaves_inference_alone():
    plain, augmented = models.lenet_modern(), models.lenet_modern(augment=True)
    trainable = lambda model: sum(count for *_, count in models.parameter_table(model))
    assert trainable(augmented) == trainable(plain) == 68_106
    for layer in plain.layers:
        augmented.get_layer(layer.name).set_weights(layer.get_weights())
    digits = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    # predict() and evaluate() run with training=False; a bare model(x) call would augment.
    np.testing.assert_allclose(
        augmented.predict(digits, verbose=0), plain.predict(digits, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_softmax_stays_float32_under_mixed_precision():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for build in (models.lenet5_classic, models.lenet_modern, models.mlp_baseline):
            model = build()
            assert model.get_layer("output").compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --- The notebook writes these models in plain Keras; the package keeps the same builders for the
# tools and tests that need them. The two must stay the same network, layer by layer.
NOTEBOOK_BUILDERS = {
    "build_lenet5": lambda: models.lenet5_classic(),
    "build_modern_lenet": lambda: models.lenet_modern(augment=True),
    "build_mlp": lambda: models.mlp_baseline(),
}


def notebook_builders():
    """The model-building functions notebook 05 defines in its visible cells, executed."""
    import ast
    import json
    import pathlib

    import keras
    from keras import layers

    path = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "05_lenet5_mnist.ipynb"
    namespace = {"keras": keras, "layers": layers}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code" or "verify" in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        if not any(f"def {name}(" in source for name in NOTEBOOK_BUILDERS):
            continue
        tree = ast.parse("\n".join(l for l in source.split("\n") if not l.startswith("%")))
        tree.body = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in NOTEBOOK_BUILDERS
        ]
        exec(compile(tree, str(path), "exec"), namespace)
    return {name: namespace[name] for name in NOTEBOOK_BUILDERS if name in namespace}


def layer_configs(model):
    """(class, config) per layer; the seeds of random layers are left out (None in both anyway)."""
    rows = []
    for layer in model.layers:
        config = dict(layer.get_config())
        config.pop("seed", None)
        rows.append((type(layer).__name__, config))
    return model.name, rows


def test_the_notebook_writes_each_model_it_teaches():
    assert sorted(notebook_builders()) == sorted(NOTEBOOK_BUILDERS)


@pytest.mark.parametrize("name", sorted(NOTEBOOK_BUILDERS))
def test_notebook_model_equals_the_package_model(name):
    notebook_model = notebook_builders()[name]()
    package_model = NOTEBOOK_BUILDERS[name]()
    assert layer_configs(notebook_model) == layer_configs(package_model)
    assert notebook_model.count_params() == package_model.count_params()


def test_the_comparison_sees_a_changed_layer():
    """Not blind: a LeNet-5 whose C1 uses ReLU instead of tanh differs from the package's."""
    import keras

    changed = models.lenet5_classic()
    config = changed.get_config()
    assert config["layers"][2]["config"]["name"] == "C1"
    config["layers"][2]["config"]["activation"] = "relu"
    assert layer_configs(keras.Sequential.from_config(config)) != layer_configs(
        models.lenet5_classic()
    )
