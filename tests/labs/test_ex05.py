"""Notebook 05's exercises: reference solutions pass, typical mistakes get their hint, stubs wait."""

import keras
import numpy as np
import pytest
from keras import layers

from cnnlib import labs
from cnnlib.labs import ex05


def _stub(*args):
    raise NotImplementedError


# --- 05.lenet_parameters: LeNet-5's layers on 64×64 colour images -----------------------------
VARIANT = {"C1": 456, "C3": 2_416, "C5": 48_120, "F6": 816_564, "output": 850}


def test_lenet_parameters_counts_agree_with_keras():
    """The check's counts are Keras's, for the digits' network and for the exercise's variant."""
    from cnnlib.lessons import models

    digits = {name: count for name, _, count in models.parameter_table(models.lenet5_classic())}
    assert ex05.lenet5_parameter_counts() == {name: digits[name] for name in VARIANT}
    fresh = [
        type(layer).from_config(layer.get_config()) for layer in models.lenet5_classic().layers
    ]
    variant = keras.Sequential([keras.Input((64, 64, 3))] + fresh[1:])  # without the padding
    keras_counts = {layer.name: layer.count_params() for layer in variant.layers}
    assert ex05.lenet5_parameter_counts(64, 3) == {name: keras_counts[name] for name in VARIANT}
    assert VARIANT == ex05.lenet5_parameter_counts(64, 3)


def test_lenet_parameters_right_answers_written_other_ways_pass():
    assert labs.passes("05.lenet_parameters", dict(VARIANT))
    assert labs.passes("05.lenet_parameters", {k: float(v) for k, v in VARIANT.items()})
    assert labs.passes("05.lenet_parameters", {k: np.int64(v) for k, v in VARIANT.items()})


@pytest.mark.parametrize(
    "slip, hint",
    [
        ({"C1": 156}, "3 channels"),  # the digits' C1
        ({"C1": 450}, "biases are missing"),
        ({"C3": 1_516}, "sparse connection table"),
        ({"C3": 416}, "one 5×5 slice per input map"),
        ({"C5": 81 * 48_120}, "counts connections"),
        ({"F6": 10_164}, "C5's maps are 1×1"),  # the digits' F6: the map size not followed
        ({"F6": 1_008_084}, "no padding layer"),
        ({"F6": 816_480}, "one bias per unit"),
        ({"output": 840}, "one bias per unit"),
    ],
)
def test_lenet_parameters_usual_slips_get_their_hint(slip, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("05.lenet_parameters", {**VARIANT, **slip})


def test_lenet_parameters_made_up_and_malformed_answers_are_refused():
    with pytest.raises(AssertionError, match="not right") as wrong:
        labs.check("05.lenet_parameters", {**VARIANT, "F6": 123_456})
    assert "816" not in str(wrong.value)  # a wrong prediction never shows the expected value
    with pytest.raises(AssertionError, match="expected a number"):
        labs.check("05.lenet_parameters", {**VARIANT, "C1": "456"})
    with pytest.raises(AssertionError, match="keys"):
        labs.check("05.lenet_parameters", [456, 2_416, 48_120, 816_564, 850])


def test_lenet_parameters_stub(capsys):
    labs.check("05.lenet_parameters", {k: None for k in ex05.LENET5_LAYERS})
    assert labs.passes("05.lenet_parameters", {k: None for k in ex05.LENET5_LAYERS}) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.cross_entropy ------------------------------------------------------------------------
def solution_cross_entropy(z, labels):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[np.arange(len(z)), labels]


def test_cross_entropy_reference_agrees_with_keras():
    random = np.random.default_rng(0)
    z, labels = random.normal(size=(5, 10)) * 4, random.integers(0, 10, size=5)
    expected = keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(labels, z, from_logits=True)
    )
    np.testing.assert_allclose(ex05.reference_cross_entropy(z, labels), expected, rtol=1e-5)


def _log_softmax_then_pick(z, labels):
    shifted = z - z.max(-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]


@pytest.mark.parametrize(
    "answer",
    [
        solution_cross_entropy,
        _log_softmax_then_pick,
        lambda z, labels: solution_cross_entropy(z, labels).tolist(),
        lambda z, labels: solution_cross_entropy(z, labels).astype("float32"),
        lambda z, labels: np.array(
            [solution_cross_entropy(row[None], [y])[0] for row, y in zip(z, labels)]
        ),
    ],
)
def test_cross_entropy_right_answers_written_other_ways_pass(answer):
    assert labs.passes("05.cross_entropy", answer)


def _through_probabilities(z, labels):
    shifted = z - z.max(-1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return -np.log(p[np.arange(len(z)), labels])


def _unshifted_log_sum(z, labels):
    with np.errstate(over="ignore"):
        return np.log(np.exp(z).sum(-1)) - z[np.arange(len(z)), labels]


def _shift_not_added_back(z, labels):
    m = z.max(-1, keepdims=True)
    return np.log(np.exp(z - m).sum(-1)) - z[np.arange(len(z)), labels]


@pytest.mark.parametrize(
    "answer, hint",
    [
        (_through_probabilities, "rounded to 0 before the log"),
        (_unshifted_log_sum, "overflows"),
        (_shift_not_added_back, "add the maximum back"),
        (lambda z, labels: -solution_cross_entropy(z, labels), "minus the log"),
        (lambda z, labels: solution_cross_entropy(z, labels) / np.log(10), "natural logarithm"),
        (lambda z, labels: solution_cross_entropy(z, labels).mean(), "not their mean"),
        (lambda z, labels: solution_cross_entropy(z, z.argmax(-1)), "most likely class"),
        (lambda z, labels: np.log(np.exp(z).sum(-1))[:, None] - z[:, labels], "np.arange"),
        (lambda z, labels: np.exp(z - z.max(-1, keepdims=True)), "one number per example"),
    ],
)
def test_cross_entropy_usual_mistakes_get_their_hint(answer, hint):
    with np.errstate(all="ignore"), pytest.raises(AssertionError, match=hint):
        labs.check("05.cross_entropy", answer)


def test_cross_entropy_that_calls_a_library_is_not_done():
    from scipy.special import log_softmax, logsumexp

    def with_keras(z, labels):
        return keras.ops.convert_to_numpy(
            keras.losses.sparse_categorical_crossentropy(labels, z, from_logits=True)
        )

    for answer, name in [
        (lambda z, y: logsumexp(z, axis=-1) - z[np.arange(len(z)), y], "scipy.special.logsumexp"),
        (lambda z, y: -log_softmax(z, axis=-1)[np.arange(len(z)), y], "scipy.special.log_softmax"),
        (ex05.reference_cross_entropy, "cnnlib.labs.ex05.reference_cross_entropy"),
        (with_keras, "keras.losses.sparse_categorical_crossentropy"),
    ]:
        with pytest.raises(AssertionError, match=f"right values, but it calls .*{name}"):
            labs.check("05.cross_entropy", answer)


def test_cross_entropy_made_up_and_malformed_answers_are_refused():
    with pytest.raises(AssertionError, match="differs"):
        labs.check("05.cross_entropy", lambda z, labels: np.full(len(z), 2.3))
    with pytest.raises(AssertionError, match="expected an array of numbers"):
        labs.check("05.cross_entropy", lambda z, labels: "cross-entropy")


def test_cross_entropy_stub(capsys):
    labs.check("05.cross_entropy", _stub)
    assert labs.passes("05.cross_entropy", _stub) is False
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
