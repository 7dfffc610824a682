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
def test_learning_rate():
    measured = {0.005: 0.90, 0.05: 0.93, 0.5: 0.11}
    assert labs.passes("05.learning_rate", {"prediction": 0.05, "measured": measured})
    assert labs.passes("05.learning_rate", {"prediction": 0.5, "measured": measured})  # explained
    with pytest.raises(AssertionError, match="10× smaller and 10× larger"):
        labs.check(
            "05.learning_rate", {"prediction": 0.05, "measured": {0.01: 0.9, 0.05: 0.93, 0.1: 0.8}}
        )
    with pytest.raises(AssertionError, match="percentages"):
        labs.check(
            "05.learning_rate", {"prediction": 0.05, "measured": {0.005: 90, 0.05: 93, 0.5: 11}}
        )
    with pytest.raises(AssertionError, match="fresh model"):
        labs.check(
            "05.learning_rate", {"prediction": 0.05, "measured": {0.005: 0.9, 0.05: 0.9, 0.5: 0.9}}
        )


def test_learning_rate_stub(capsys):
    labs.check("05.learning_rate", {"prediction": None, "measured": {}})
    assert labs.passes("05.learning_rate", {"prediction": None, "measured": {}}) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.receptive_field ----------------------------------------------------------------------
def test_receptive_field():
    right = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    assert ex05.lenet5_receptive_fields() == right
    assert labs.passes("05.receptive_field", dict(right))
    with pytest.raises(AssertionError, match="doubles the step"):
        labs.check("05.receptive_field", {**right, "C3": 10})
    with pytest.raises(AssertionError, match="32×32 input"):
        labs.check("05.receptive_field", {**right, "C5": 28})
    with pytest.raises(AssertionError, match="do not multiply"):
        labs.check("05.receptive_field", {**right, "C5": 500})


def test_receptive_field_stub(capsys):
    labs.check("05.receptive_field", dict.fromkeys(["C1", "S2", "C3", "S4", "C5"]))
    assert labs.passes("05.receptive_field", dict.fromkeys(["C1", "S2", "C3", "S4", "C5"])) is False
    assert "not attempted yet" in capsys.readouterr().out
