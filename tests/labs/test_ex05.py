"""Notebook 05's exercises: reference solutions pass, typical mistakes get their hint, stubs wait."""

import keras
import numpy as np
import pytest
from keras import layers

from cnnlib import labs
from cnnlib.labs import ex05


def _stub(*args):
    raise NotImplementedError


# --- 05.lenet_parameters ---------------------------------------------------------------------
def test_lenet_parameters():
    right = ex05.lenet5_parameter_counts()
    assert right == {"C1": 156, "C3": 2_416, "C5": 48_120, "F6": 10_164, "output": 850}
    from cnnlib.lessons import models

    keras_counts = {
        name: count for name, _, count in models.parameter_table(models.lenet5_classic())
    }
    assert all(keras_counts[name] == right[name] for name in right)
    assert labs.passes("05.lenet_parameters", dict(right))
    with pytest.raises(AssertionError, match="biases are missing"):
        labs.check("05.lenet_parameters", {**right, "C3": 25 * 6 * 16})
    with pytest.raises(AssertionError, match="one 5×5 slice per input map"):
        labs.check("05.lenet_parameters", {**right, "C5": 26 * 120})
    with pytest.raises(AssertionError, match="counts connections"):
        labs.check("05.lenet_parameters", {**right, "C1": 122_304})
    with pytest.raises(AssertionError, match="one bias per unit"):
        labs.check("05.lenet_parameters", {**right, "F6": 120 * 84})


def test_lenet_parameters_stub(capsys):
    labs.check("05.lenet_parameters", {k: None for k in ex05.LENET5_LAYERS})
    assert labs.passes("05.lenet_parameters", {k: None for k in ex05.LENET5_LAYERS}) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.softmax ------------------------------------------------------------------------------
def solution_softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_reference_agrees_with_keras():
    z = np.random.default_rng(0).normal(size=(5, 10)) * 4
    expected = keras.ops.convert_to_numpy(keras.activations.softmax(keras.ops.convert_to_tensor(z)))
    np.testing.assert_allclose(ex05.reference_softmax(z), expected, rtol=1e-5)


def test_softmax():
    assert labs.passes("05.softmax", solution_softmax)

    def naive(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    with pytest.raises(AssertionError, match="subtract each row's maximum"):
        with np.errstate(over="ignore", invalid="ignore"):
            labs.check("05.softmax", naive)
    with pytest.raises(AssertionError, match="wrong axis"):
        labs.check("05.softmax", lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(axis=0))
    with pytest.raises(AssertionError, match="exponentiate first"):
        labs.check("05.softmax", lambda z: z / z.sum(axis=-1, keepdims=True))
    with pytest.raises(AssertionError, match="sigmoid"):
        labs.check("05.softmax", lambda z: 1 / (1 + np.exp(-z)))


def test_softmax_that_calls_a_library_softmax_is_not_done():
    """The values are right, but the exercise is to write it: each library softmax counts as ✗."""
    from scipy.special import softmax as scipy_softmax

    def with_keras(z):
        return keras.ops.convert_to_numpy(keras.activations.softmax(keras.ops.convert_to_tensor(z)))

    for answer, name in [
        (lambda z: scipy_softmax(z, axis=-1), "scipy.special.softmax"),
        (ex05.reference_softmax, "cnnlib.labs.ex05.reference_softmax"),
        (with_keras, "keras.activations.softmax"),
    ]:
        with pytest.raises(AssertionError, match=f"right values, but it calls {name}"):
            labs.check("05.softmax", answer)


def test_softmax_that_wraps_the_lectures_formula_is_its_own():
    def lecture_softmax(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    assert labs.passes("05.softmax", lambda z: lecture_softmax(z - z.max(axis=-1, keepdims=True)))


def test_softmax_other_right_forms_pass():
    assert labs.passes("05.softmax", lambda z: solution_softmax(z).astype("float32"))
    assert labs.passes("05.softmax", lambda z: solution_softmax(z).tolist())


def test_softmax_answers_that_are_not_arrays_get_a_sentence():
    with pytest.raises(AssertionError, match="expected an array of numbers"):
        labs.check("05.softmax", lambda z: "softmax")
    with pytest.raises(AssertionError, match="shape"):
        labs.check("05.softmax", lambda z: solution_softmax(z).T)


def test_softmax_stub(capsys):
    labs.check("05.softmax", _stub)
    assert labs.passes("05.softmax", _stub) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.small_cnn ----------------------------------------------------------------------------
def solution_small_cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def test_small_cnn_solution_beats_the_mlp():
    assert solution_small_cnn().count_params() <= ex05.PARAMETER_BUDGET
    assert labs.passes("05.small_cnn", solution_small_cnn)


def test_small_cnn_typical_mistakes():
    from cnnlib.lessons import models

    with pytest.raises(AssertionError, match="(?s)over the budget.*Flatten usually dominates"):
        labs.check("05.small_cnn", lambda: models.lenet_modern())
    with pytest.raises(AssertionError, match="no convolution layer"):
        labs.check(
            "05.small_cnn",
            lambda: keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Flatten(),
                    layers.Dense(16, activation="relu"),
                    layers.Dense(10, activation="softmax"),
                ]
            ),
        )
    with pytest.raises(AssertionError, match="softmax"):
        labs.check(
            "05.small_cnn",
            lambda: keras.Sequential(
                [keras.Input((28, 28, 1)), layers.Conv2D(4, 5), layers.Flatten(), layers.Dense(10)]
            ),
        )


def _small_cnn_softmax_layer():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
            layers.Softmax(),
        ]
    )


def _small_cnn_nested():
    features = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 5, activation="relu"),
            layers.MaxPooling2D(2),
        ],
        name="features",
    )
    head = keras.Sequential(
        [keras.Input((4, 4, 32)), layers.Flatten(), layers.Dense(10, activation="softmax")],
        name="head",
    )
    return keras.Sequential([keras.Input((28, 28, 1)), features, head])


@pytest.mark.parametrize("build", [_small_cnn_softmax_layer, _small_cnn_nested])
def test_small_cnn_softmax_layer_and_nested_models_pass(build):
    assert labs.passes("05.small_cnn", build)


def test_small_cnn_built_model_and_builder_get_the_same_verdict(capsys):
    labs.check("05.small_cnn", solution_small_cnn)
    labs.check("05.small_cnn", solution_small_cnn())
    builder_line, model_line = capsys.readouterr().out.strip().split("\n")[-2:]
    assert builder_line == model_line


def test_small_cnn_without_input_or_probabilities_gets_a_sentence():
    def no_input():
        return keras.Sequential(
            [layers.Conv2D(4, 5), layers.Flatten(), layers.Dense(10, activation="softmax")]
        )

    with pytest.raises(AssertionError, match="no input shape yet"):
        labs.check("05.small_cnn", no_input)
    with pytest.raises(AssertionError, match="not probabilities"):
        labs.check(
            "05.small_cnn",
            lambda: keras.Sequential(
                [
                    keras.Input((28, 28, 1)),
                    layers.Conv2D(4, 5),
                    layers.Flatten(),
                    layers.Dense(10, activation="sigmoid"),
                ]
            ),
        )


def _weak_cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(1, 3, strides=4),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def test_small_cnn_that_loses_fails_but_a_rehearsal_only_reports_it(monkeypatch, capsys):
    with pytest.raises(AssertionError, match="spend parameters on convolutions"):
        labs.check("05.small_cnn", _weak_cnn)
    monkeypatch.setenv("CNNLIB_REHEARSAL", "1")  # capped, look-alike training earns no comparison
    labs.check("05.small_cnn", _weak_cnn)
    assert "REHEARSAL: which is better is not checked" in capsys.readouterr().out


def test_small_cnn_stub(capsys):
    labs.check("05.small_cnn", _stub)
    assert labs.passes("05.small_cnn", _stub) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.learning_rate ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def few_digits():
    x, y, x_val, y_val = ex05.design_data()
    return x[:256], y[:256], x_val[:128], y_val[:128]


def _trainer(data, optimizer=None, model=None, validate=True):
    x, y, x_val, y_val = data

    def train_at(rate):
        from cnnlib.lessons import models

        keras.utils.set_random_seed(0)
        trained = model or models.lenet5_classic()
        trained.compile(
            optimizer=optimizer(rate) if optimizer else keras.optimizers.SGD(rate, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return trained.fit(
            x,
            y,
            validation_data=(x_val, y_val) if validate else None,
            epochs=1,
            batch_size=64,
            verbose=0,
        )

    return train_at


def test_learning_rate_reads_the_measurement_from_real_trainings(few_digits, capsys):
    train_at = _trainer(few_digits)
    labs.check("05.learning_rate", {"prediction": 0.05, "train": train_at})
    assert "The 0.5 run's loss per epoch" in capsys.readouterr().out
    assert labs.passes("05.learning_rate", {"prediction": np.float32(0.5), "train": train_at})


def test_learning_rate_refuses_made_up_measurements():
    made_up = {0.005: 0.90, 0.05: 0.93, 0.5: 0.11}
    with pytest.raises(AssertionError, match="not numbers"):
        labs.check("05.learning_rate", {"prediction": 0.05, "measured": made_up})
    with pytest.raises(AssertionError, match="not the History"):
        labs.check("05.learning_rate", {"prediction": 0.05, "train": made_up.get})


def test_learning_rate_trainings_that_are_not_the_experiment(few_digits):
    from cnnlib.lessons import models

    shared = models.lenet5_classic()
    wrong = [
        (_trainer(few_digits, model=shared), "same model as an earlier rate"),
        (_trainer(few_digits, optimizer=keras.optimizers.Adam), "not SGD"),
        (lambda rate: _trainer(few_digits)(0.05), "not SGD at 0.005"),
        (_trainer(few_digits, validate=False), "no validation accuracy"),
        (lambda rate: _trainer(few_digits)(rate).history, "not the History"),
        (_trainer(few_digits, model=models.mlp_baseline()), "not LeNet-5"),
        (
            _trainer(few_digits, optimizer=lambda rate: keras.optimizers.SGD(rate)),
            "momentum 0",
        ),
    ]
    for train_at, message in wrong:
        with pytest.raises(AssertionError, match=message):
            labs.check("05.learning_rate", {"prediction": 0.05, "train": train_at})
    with pytest.raises(AssertionError, match="one of the rates"):
        labs.check("05.learning_rate", {"prediction": float("nan"), "train": _trainer(few_digits)})


def test_learning_rate_stub(capsys):
    labs.check("05.learning_rate", {"prediction": None, "train": _stub})
    assert labs.passes("05.learning_rate", {"prediction": 0.05, "train": _stub}) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.receptive_field ----------------------------------------------------------------------
def test_receptive_field():
    right = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    assert ex05.lenet5_receptive_fields() == right
    assert labs.passes("05.receptive_field", dict(right))
    with pytest.raises(AssertionError, match="doubles the step"):
        labs.check("05.receptive_field", {**right, "C3": 10})
    with pytest.raises(AssertionError, match="the digit's side") as wrong:
        labs.check("05.receptive_field", {**right, "C5": 28})
    assert "32" not in str(wrong.value) and "whole input" not in str(wrong.value)  # no leak
    with pytest.raises(AssertionError, match="do not multiply"):
        labs.check("05.receptive_field", {**right, "C5": 500})


def test_receptive_field_reveals_the_walk_only_when_right(capsys):
    labs.check("05.receptive_field", {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32})
    assert "C1 5, S2 6, C3 14, S4 16, C5 32" in capsys.readouterr().out
    right = {"C1": np.int64(5), "S2": np.int32(6), "C3": 14, "S4": 16, "C5": 32}
    assert labs.passes("05.receptive_field", right)
    with pytest.raises(AssertionError, match="not right"):
        labs.check("05.receptive_field", {**right, "C3": 14.5})


def test_receptive_field_stub(capsys):
    labs.check("05.receptive_field", dict.fromkeys(["C1", "S2", "C3", "S4", "C5"]))
    assert labs.passes("05.receptive_field", dict.fromkeys(["C1", "S2", "C3", "S4", "C5"])) is False
    assert "not attempted yet" in capsys.readouterr().out
