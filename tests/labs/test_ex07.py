"""Exercises of notebook 07, answered as learners would: the solutions and right answers written
other ways pass, the usual mistakes get their hint, made-up answers and an object that looks up the
call stack are refused, stubs wait, and every exercise crosses the boundary as plain values."""

import contextlib
import io
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from learners import (
    ArraySubclass,
    PeekingFloat,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    peek,
)

from cnnlib import labs
from cnnlib.labs import core, ex07
from cnnlib.lessons import transfer_models
from cnnlib.lessons.transfer_models import build_head, compile_binary, full_model

IDS = (
    "07.vgg_numbers",
    "07.unfreeze_block5",
    "07.extract_features",
    "07.features_vs_end_to_end",
    "07.top_k_error",
)


def outcome(exercise_id, answer):
    """What labs.check printed (it raises AssertionError for a wrong answer)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        labs.check(exercise_id, answer)
    return printed.getvalue()


def is_right(exercise_id, answer):
    return outcome(exercise_id, answer).startswith("✓")


def not_attempted(exercise_id, answer):
    return "not attempted yet" in outcome(exercise_id, answer)


def a_count():
    """What this file's peeking number looks for: any local number above 1 up the stack."""
    return peek(
        None, where=lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1
    )


def test_notebook_07_registers_its_five_exercises_with_trials_that_cross_the_wire():
    mine = sorted(
        i for i, item in core.REGISTRY.items() if i.startswith("07.") and item.in_notebook
    )
    assert mine == sorted(IDS)
    for exercise_id in IDS:
        core.new_trials(exercise_id, 1)


def test_no_module_level_registry_a_learner_can_append_to():
    """The experiment's evidence is made in the check's call, so nothing keeps measurements."""
    for module in (ex07, transfer_models):
        shared = [
            name
            for name, value in vars(module).items()
            if isinstance(value, (list, dict, set))
            and not name.isupper()
            and not name.startswith("__")
        ]
        assert not shared, f"{module.__name__} keeps mutable state: {shared}"


# ---------------------------------------------------------------------------------------------
# 07.vgg_numbers (VGG19)
# ---------------------------------------------------------------------------------------------

VGG19_BLOCKS = [38_720, 221_440, 2_065_408, 8_259_584, 9_439_232]


def vgg19(params=VGG19_BLOCKS, shape=(6, 4, 512)):
    return {"block_params": params, "block5_pool_shape": shape}


def test_vgg_numbers_formula_agrees_with_keras():
    base = keras.applications.VGG19(weights=None, include_top=False, input_shape=(200, 150, 3))
    per_block = [
        sum(l.count_params() for l in base.layers if l.name.startswith(f"block{b}_"))
        for b in range(1, 6)
    ]
    assert per_block == ex07.block_parameters() == VGG19_BLOCKS
    assert tuple(base.get_layer("block5_pool").output.shape[1:]) == ex07.pooled_shape(200, 150)


def test_vgg_numbers_right_answers_pass():
    printed = outcome("07.vgg_numbers", vgg19())
    assert printed.startswith("✓") and "20,024,384 in all" in printed
    for params, shape in [
        (np.array(VGG19_BLOCKS), tuple(np.int64(v) for v in (6, 4, 512))),
        ([float(p) for p in VGG19_BLOCKS], (None, 6, 4, 512)),
        (tuple(VGG19_BLOCKS), [6.0, 4.0, 512.0]),
        ([tf.constant(p) for p in VGG19_BLOCKS], tf.TensorShape([None, 6, 4, 512])),
    ]:
        assert is_right("07.vgg_numbers", vgg19(params, shape))


@pytest.mark.parametrize(
    "params, shape, hint",
    [
        (ex07.block_parameters(biases=False), (6, 4, 512), "biases are missing"),
        (ex07.block_parameters(first_in_equals_out=True), (6, 4, 512), "previous block's"),
        (ex07.block_parameters(kernel=1), (6, 4, 512), "3 × 3 is missing"),
        (ex07.block_parameters(ex07.VGG16_BLOCKS), (6, 4, 512), "VGG16's block"),
        (VGG19_BLOCKS, (7, 5, 512), "rounds down"),
        (VGG19_BLOCKS, (4, 6, 512), "height comes first"),
        (VGG19_BLOCKS, (6, 4, 1024), "last block's number of filters"),
    ],
)
def test_vgg_numbers_typical_mistakes(params, shape, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.vgg_numbers", vgg19(params, shape))


@pytest.mark.parametrize(
    "params, shape, message",
    [
        (None, (6.25, 4.69, 512), "whole number"),
        ([p + 0.5 for p in VGG19_BLOCKS], None, "whole number"),
        ([float("nan")] * 5, None, "finite"),
        ([str(p) for p in VGG19_BLOCKS], None, "expected a number"),
        (None, (True, True, 512), "True/False"),
        (5, None, "expected a list of 5"),
        (VGG19_BLOCKS[:4], None, "expected 5 items"),
        ([None] * 5, None, "placeholder"),  # half filled: wrong, not "not attempted"
    ],
)
def test_vgg_numbers_malformed_answers_get_a_sentence(params, shape, message):
    answer = vgg19(
        VGG19_BLOCKS if params is None else params, (6, 4, 512) if shape is None else shape
    )
    with pytest.raises(AssertionError, match=message):
        labs.check("07.vgg_numbers", answer)


def test_vgg_numbers_wrong_prediction_never_shows_the_answer_nor_its_direction():
    for params, shape in [
        ([38_720, 221_440, 1_000_000, 8_259_584, 9_439_232], (6, 4, 512)),
        (VGG19_BLOCKS, (5, 5, 512)),
    ]:
        with pytest.raises(AssertionError) as error:
            labs.check("07.vgg_numbers", vgg19(params, shape))
        message = str(error.value)
        assert "2,065,408" not in message and "(6, 4, 512)" not in message
        assert "too many" not in message and "too few" not in message


def test_vgg_numbers_bisection_learns_nothing_after_three_tries():
    """A loop that halves the interval on 'too many / too few' got all five counts before."""
    messages = []
    for guess in (1_000_000, 3_000_000, 2_000_000, 2_100_000, 2_050_000):
        params = [38_720, 221_440, guess, 8_259_584, 9_439_232]
        with pytest.raises(AssertionError) as error:
            labs.check("07.vgg_numbers", vgg19(params))
        messages.append(str(error.value))
    assert all("block 3" in m for m in messages[:3])
    assert all("block 3" not in m and "not right" in m for m in messages[3:])


def test_vgg_numbers_made_up_and_peeking_answers_fail():
    with pytest.raises(AssertionError):
        labs.check("07.vgg_numbers", vgg19([1, 2, 3, 4, 5]))
    with pytest.raises(AssertionError):
        labs.check("07.vgg_numbers", vgg19([PeekingFloat(0, find=a_count)] * 5))


def test_vgg_numbers_stub_is_not_attempted():
    assert not_attempted("07.vgg_numbers", vgg19(None, None))


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5
# ---------------------------------------------------------------------------------------------


def last_convolutions(base, convolutions):
    names = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    return set(names[len(names) - convolutions :])


def solution_prepare_fine_tuning(model, base, convolutions):
    unfrozen = last_convolutions(base, convolutions)
    for layer in base.layers:
        layer.trainable = layer.name in unfrozen
    compile_binary(model, learning_rate=1e-5)


def _by_flags(names_of, rate=1e-5, compile_model=True, whole_base_first=False):
    def attempt(model, base, convolutions):
        if whole_base_first:
            base.trainable = True
        chosen = names_of(base, convolutions)
        for layer in base.layers:
            layer.trainable = layer.name in chosen
        if compile_model:
            compile_binary(model, learning_rate=rate)

    return attempt


def _block(prefix):
    return lambda base, convolutions: {l.name for l in base.layers if l.name.startswith(prefix)}


def _nothing(model, base, convolutions):
    compile_binary(model, learning_rate=1e-5)


def _head_frozen(model, base, convolutions):
    solution_prepare_fine_tuning(model, base, convolutions)
    model.get_layer("head").trainable = False
    compile_binary(model, learning_rate=1e-5)


def _mse(model, base, convolutions):
    solution_prepare_fine_tuning(model, base, convolutions)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")


def _slice_with_pooling(model, base, convolutions):
    """Counts layers instead of convolutions: a pooling layer takes a place when crossing blocks."""
    for position, layer in enumerate(base.layers):
        layer.trainable = position >= len(base.layers) - convolutions - 1
    compile_binary(model, learning_rate=1e-5)


def test_unfreeze_solution_passes():
    assert is_right("07.unfreeze_block5", solution_prepare_fine_tuning)


@pytest.mark.slow  # each check builds VGG16 three times (the solution stays fast)
def test_unfreeze_other_right_forms_pass():
    """The base made trainable first, another optimizer, a loss object, a schedule: all right."""

    def with_keras_objects(model, base, convolutions):
        _by_flags(last_convolutions, compile_model=False, whole_base_first=True)(
            model, base, convolutions
        )
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-5, 100, 0.9)
        model.compile(
            optimizer=keras.optimizers.RMSprop(schedule), loss=keras.losses.BinaryCrossentropy()
        )

    def with_loss_function(model, base, convolutions):
        _by_flags(last_convolutions, compile_model=False)(model, base, convolutions)
        model.compile(optimizer=keras.optimizers.SGD(1e-4), loss=keras.losses.binary_crossentropy)

    assert is_right("07.unfreeze_block5", with_keras_objects)
    assert is_right("07.unfreeze_block5", with_loss_function)


@pytest.mark.slow  # each check builds VGG16 three times (one mistake's hint stays fast, below)
@pytest.mark.parametrize(
    "attempt, hint",
    [
        (_by_flags(last_convolutions, compile_model=False), "compile the model again"),
        (_nothing, "no layer of the base trains"),
        (_by_flags(lambda base, n: {l.name for l in base.layers}), "whole base trains"),
        (_by_flags(last_convolutions, rate=1e-3), "overwrite the pretrained weights"),
        (_by_flags(last_convolutions, rate=float("nan")), "learning rate is nan"),
        (_by_flags(last_convolutions, rate=1e-9), "hardly change"),
        (_by_flags(_block("block5_")), "layers that should stay frozen|should train but do not"),
        (_slice_with_pooling, "should train but do not|should stay frozen"),
        (_head_frozen, "head must keep training"),
        (_mse, "binary cross-entropy"),
    ],
)
def test_unfreeze_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.unfreeze_block5", attempt)


def test_unfreeze_hint_does_not_claim_the_base_flag_is_needed():
    """In Keras 3 each layer's own flag counts; the old hint said base.trainable = True came first."""
    with pytest.raises(AssertionError) as error:
        labs.check("07.unfreeze_block5", _nothing)
    assert "base.trainable = True" not in str(error.value)
    assert "own flag counts" in str(error.value)


def test_unfreeze_made_up_and_broken_answers_fail():
    with pytest.raises(AssertionError, match="raised"):
        labs.check("07.unfreeze_block5", lambda model, base, convolutions: 1 / 0)
    with pytest.raises(AssertionError, match="expected a function"):
        labs.check("07.unfreeze_block5", {"training": ["block5_conv3"]})


def test_unfreeze_stub_is_not_attempted():
    def prepare_fine_tuning(model, base, convolutions):
        raise NotImplementedError

    assert not_attempted("07.unfreeze_block5", prepare_fine_tuning)


# ---------------------------------------------------------------------------------------------
# 07.extract_features (any block)
# ---------------------------------------------------------------------------------------------


def solution_extract_features(base, images, layer):
    cut = keras.Model(base.input, base.get_layer(layer).output)
    x = keras.applications.vgg16.preprocess_input(np.array(images, dtype="float32"))
    return keras.ops.convert_to_numpy(cut(x)).mean(axis=(1, 2))


@pytest.mark.slow  # three checks on VGG16 (the solution crosses the wire fast, at the end)
def test_extract_features_solution_and_other_right_forms_pass():
    assert is_right("07.extract_features", solution_extract_features)

    def with_keras_layers(base, images, layer):  # returns a tensor, not a NumPy array
        cut = keras.Model(base.input, base.get_layer(layer).output)
        maps = cut(keras.applications.vgg16.preprocess_input(np.array(images)))
        return keras.layers.GlobalAveragePooling2D()(maps)

    def by_hand_layer_by_layer(base, images, layer):
        x = keras.applications.vgg16.preprocess_input(np.array(images, dtype="float32"))
        for each in base.layers[1:]:
            x = each(x)
            if each.name == layer:
                return np.asarray(x).mean(axis=(1, 2))

    assert is_right("07.extract_features", with_keras_layers)
    assert is_right("07.extract_features", by_hand_layer_by_layer)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        # Each check builds VGG16: two mistakes stay in the fast loop, three run in the slow one.
        (
            lambda base, x, layer: keras.ops.convert_to_numpy(
                keras.Model(base.input, base.get_layer(layer).output)(x)
            ).mean(axis=(1, 2)),
            "preprocess_input is missing",
        ),
        pytest.param(
            lambda base, x, layer: keras.ops.convert_to_numpy(
                base(keras.applications.vgg16.preprocess_input(np.array(x)))
            ).mean(axis=(1, 2)),
            "last block's features",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            lambda base, x, layer: keras.ops.convert_to_numpy(
                keras.Model(base.input, base.get_layer(layer).output)(
                    keras.applications.vgg16.preprocess_input(np.array(x))
                )
            ).max(axis=(1, 2)),
            "global max pooling",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            lambda base, x, layer: keras.ops.convert_to_numpy(
                keras.Model(base.input, base.get_layer(layer).output)(
                    keras.applications.vgg16.preprocess_input(np.array(x))
                )
            ),
            "feature maps",
            marks=pytest.mark.slow,
        ),
        (
            lambda base, x, layer: np.full(
                (len(x), base.get_layer(layer).output.shape[-1]), np.nan
            ),
            "NaN",
        ),
    ],
)
def test_extract_features_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.extract_features", attempt)


def test_extract_features_calling_the_course_extractor_is_wrong():
    def with_the_course_extractor(base, images, layer):
        return transfer_models.feature_extractor(base)(images)

    with pytest.raises(AssertionError, match="you used"):
        labs.check("07.extract_features", with_the_course_extractor)


def test_extract_features_peeking_array_is_refused():
    def peeking(base, images, layer):
        return np.zeros((len(images), 256)).view(ArraySubclass)

    with pytest.raises(AssertionError, match="subclass|not right|differs|shape"):
        labs.check("07.extract_features", peeking)


def test_extract_features_stub_is_not_attempted():
    def extract_features(base, images, layer):
        raise NotImplementedError

    assert not_attempted("07.extract_features", extract_features)


# ---------------------------------------------------------------------------------------------
# 07.features_vs_end_to_end
# ---------------------------------------------------------------------------------------------


def solution_time_phase1(base, images, labels, epochs, batch_size):
    base.trainable = False
    fast, slow = build_head(name="fast"), build_head(name="slow")
    slow.set_weights(fast.get_weights())
    features = keras.ops.convert_to_numpy(transfer_models.feature_extractor(base)(images))
    seconds = {}
    for name, model, x in (
        ("features", fast, features),
        ("end_to_end", full_model(base, slow), images),
    ):
        compile_binary(model, learning_rate=3e-4)
        timer = transfer_models.epoch_timer()
        model.fit(x, labels, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
        seconds[name] = transfer_models.steady_epoch_seconds(timer.seconds)
    return seconds


def experiment(function=solution_time_phase1, bigger="a", phase2="a", predicted=10):
    return {
        "predicted_speedup": predicted,
        "time_phase1": function,
        "bigger_images": bigger,
        "phase2_features": phase2,
    }


@pytest.mark.slow  # trains two models three epochs each
def test_experiment_solution_passes():
    printed = outcome("07.features_vs_end_to_end", experiment())
    assert printed.startswith("✓") and "you predicted 10×" in printed


def test_experiment_made_up_timings_are_refused():
    """A function that types numbers in instead of measuring (the old `dict(measured)` trick's
    successor) fails the consistency checks; so does one that sleeps but claims too little."""

    def typed_in(base, images, labels, epochs, batch_size):
        return {"features": 0.01, "end_to_end": 2.0}

    def sleeps(base, images, labels, epochs, batch_size):
        time.sleep(0.2)
        return {"features": 1e-6, "end_to_end": 1e-5}

    with pytest.raises(AssertionError, match="more than the"):
        labs.check("07.features_vs_end_to_end", experiment(typed_in))
    with pytest.raises(AssertionError, match="shorter than one pass"):
        labs.check("07.features_vs_end_to_end", experiment(sleeps))


@pytest.mark.slow  # each check times VGG16 (made-up timings, above, stay fast)
@pytest.mark.parametrize(
    "bigger, phase2, hint",
    [("b", "a", "costs the same whatever"), ("a", "c", "block 5 trains"), ("a", "b", "frozen")],
)
def test_experiment_wrong_letters_get_their_hint(bigger, phase2, hint):
    def quick(base, images, labels, epochs, batch_size):  # a real, if short, measurement
        start = time.perf_counter()
        for _ in range(epochs):
            base(images)
        end_to_end = (time.perf_counter() - start) / epochs
        return {"features": end_to_end / 100, "end_to_end": end_to_end}

    with pytest.raises(AssertionError, match=hint):
        labs.check("07.features_vs_end_to_end", experiment(quick, bigger, phase2))


@pytest.mark.parametrize(
    "answer, message",
    [
        # The experiment runs before the prediction is judged: the solution trains (slow).
        pytest.param(experiment(predicted=-2), "positive number", marks=pytest.mark.slow),
        (experiment(predicted="ten"), "expected a number"),
        (experiment(bigger="e"), "is not one of"),
        (experiment(function=None), "placeholder"),
        ({"measured": {}}, "expected a dict"),
    ],
)
def test_experiment_malformed_answers_get_a_sentence(answer, message):
    with pytest.raises(AssertionError, match=message):
        labs.check("07.features_vs_end_to_end", answer)


def test_experiment_stub_is_not_attempted():
    assert not_attempted(
        "07.features_vs_end_to_end",
        {
            "predicted_speedup": None,
            "time_phase1": None,
            "bigger_images": None,
            "phase2_features": None,
        },
    )


# ---------------------------------------------------------------------------------------------
# 07.top_k_error
# ---------------------------------------------------------------------------------------------


def solution_top_k_error(probabilities, labels, k):
    true = probabilities[np.arange(len(labels)), labels]
    return float(np.mean((probabilities > true[:, None]).sum(axis=1) >= k))


def test_top_k_error_solution_and_other_right_forms_pass():
    assert is_right("07.top_k_error", solution_top_k_error)

    def as_0d_tensor(probabilities, labels, k):  # rejected before: a 0-d TensorFlow tensor
        hits = tf.math.in_top_k(tf.constant(labels), tf.constant(probabilities, tf.float32), k)
        return 1.0 - tf.reduce_mean(tf.cast(hits, tf.float64))

    def as_numpy_scalar(probabilities, labels, k):
        return np.float32(solution_top_k_error(probabilities, labels, k))

    assert is_right("07.top_k_error", as_0d_tensor)
    assert is_right("07.top_k_error", as_numpy_scalar)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (lambda p, y, k: 1 - solution_top_k_error(p, y, k), "top-k accuracy"),
        (lambda p, y, k: 100 * solution_top_k_error(p, y, k), "percentage"),
        (
            lambda p, y, k: float(
                1 - np.mean((np.argsort(-p, axis=1, kind="stable")[:, :k] == y[:, None]).any(1))
            ),
            "ties straddling",
        ),
    ],
)
def test_top_k_error_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.top_k_error", attempt)


def test_top_k_error_made_up_and_peeking_answers_fail():
    with pytest.raises(AssertionError):
        labs.check("07.top_k_error", lambda p, y, k: 0.5)
    with pytest.raises(AssertionError, match="number type|not right"):
        labs.check("07.top_k_error", lambda p, y, k: PeekingFloat(0.0, find=a_count))


def test_top_k_error_calling_the_judges_reference_is_wrong():
    with pytest.raises(AssertionError, match="you used"):
        labs.check("07.top_k_error", ex07.top_k_error_reference)


def test_top_k_error_stub_is_not_attempted():
    def top_k_error(probabilities, labels, k):
        raise NotImplementedError

    assert not_attempted("07.top_k_error", top_k_error)


# ---------------------------------------------------------------------------------------------
# Grading: trials, values and verdicts cross the wire
# ---------------------------------------------------------------------------------------------


def test_values_cross_the_wire_and_are_judged_outside(tmp_path):
    for exercise_id, answer in [
        ("07.vgg_numbers", vgg19()),
        ("07.top_k_error", solution_top_k_error),
        ("07.extract_features", solution_extract_features),
        ("07.unfreeze_block5", solution_prepare_fine_tuning),
    ]:
        trials = core.new_trials(exercise_id, seed=11)
        values = core.produce(exercise_id, answer, trials)
        core.to_wire(values, tmp_path, exercise_id)
        verdict = core.judge(exercise_id, core.from_wire(tmp_path, exercise_id), trials)
        assert verdict.status == "correct", verdict
