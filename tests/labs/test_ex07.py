"""Exercises of notebook 07: the reference solutions pass, typical mistakes get their hint, stubs wait."""

import contextlib
import io

import keras
import numpy as np
import pytest

from cnnlib import labs
from cnnlib.labs import ex07
from cnnlib.lessons import transfer_models as features
from cnnlib.lessons import transfer_models as transfer


def outcome(exercise_id, answer):
    """What labs.check printed: its first line (it raises AssertionError for a wrong answer)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        labs.check(exercise_id, answer)
    return printed.getvalue()


def is_right(exercise_id, answer):
    return outcome(exercise_id, answer).startswith("✓")


def not_attempted(exercise_id, answer):
    return "not attempted yet" in outcome(exercise_id, answer)


def solution_vgg_numbers():
    return {
        "block_params": [38_720, 221_440, 1_475_328, 5_899_776, 7_079_424],
        "block5_pool_shape": (6, 4, 512),
    }


def last_convolutions(base, convolutions):
    names = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    return set(names[len(names) - convolutions :])


def solution_prepare_fine_tuning(model, base, convolutions):
    base.trainable = True
    unfrozen = last_convolutions(base, convolutions)
    for layer in base.layers:
        layer.trainable = layer.name in unfrozen
    transfer.compile_binary(model, learning_rate=1e-5)


def solution_extract_features(base, images):
    x = keras.applications.vgg16.preprocess_input(np.array(images, dtype="float32"))
    return np.asarray(base(x)).mean(axis=(1, 2))


def solution_top_k_error(probabilities, labels, k):
    true = probabilities[np.arange(len(labels)), labels]
    return float(np.mean((probabilities > true[:, None]).sum(axis=1) >= k))


def fake_measurement(features_seconds=0.02, end_to_end_seconds=2.0):
    """Made-up timings in the format compare_phase1 returns: the check must refuse them."""
    return {
        "features_epoch_seconds": features_seconds,
        "end_to_end_epoch_seconds": end_to_end_seconds,
        "speedup": end_to_end_seconds / features_seconds,
        "extraction_seconds": 2.0,
    }


_MEASURED = {}


def real_measurement():
    """One real compare_phase1 run per test session (a few seconds on a 32 × 32 base)."""
    if "result" not in _MEASURED:
        base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
        images = ex07.rng(1).uniform(0, 255, size=(32, 32, 32, 3))
        _MEASURED["result"] = features.compare_phase1(
            base, images, np.arange(32) % 2, epochs=2, batch_size=8
        )
    return _MEASURED["result"]


def solution_experiment():
    return {"predicted_speedup": 20, "measured": real_measurement(), "why": "b", "gives_up": "b"}


# ---------------------------------------------------------------------------------------------
# 07.vgg_numbers
# ---------------------------------------------------------------------------------------------


def test_vgg_numbers_formula_agrees_with_keras():
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(200, 150, 3))
    per_block = [
        sum(l.count_params() for l in base.layers if l.name.startswith(f"block{b}_"))
        for b in range(1, 6)
    ]
    assert per_block == ex07.block_parameters() == solution_vgg_numbers()["block_params"]
    assert (
        tuple(base.get_layer("block5_pool").output.shape[1:])
        == ex07.pooled_shape(200, 150)
        == (6, 4, 512)
    )


def test_vgg_numbers_solution_passes():
    printed = outcome("07.vgg_numbers", solution_vgg_numbers())
    assert printed.startswith("✓") and "14,714,688 in all" in printed


@pytest.mark.parametrize(
    "params, shape, hint",
    [
        (ex07.block_parameters(biases=False), (6, 4, 512), "biases are missing"),
        (ex07.block_parameters(first_in_equals_out=True), (6, 4, 512), "previous block's channels"),
        (ex07.block_parameters(kernel=1), (6, 4, 512), "3 × 3 is missing"),
        (ex07.block_parameters(), (7, 5, 512), "rounds down"),
        (ex07.block_parameters(), (4, 6, 512), "height comes first"),
        (ex07.block_parameters(), (6, 4, 1024), "block 5's number of filters"),
        (ex07.block_parameters(), (200 // 32 + 1, 150 // 32 + 1, 512), "rounds down"),
    ],
)
def test_vgg_numbers_typical_mistakes(params, shape, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.vgg_numbers", {"block_params": params, "block5_pool_shape": shape})


def test_vgg_numbers_other_right_forms_pass():
    """NumPy integers, whole floats and Keras's (None, h, w, c) shapes are right answers too."""
    right = solution_vgg_numbers()
    for params, shape in [
        (np.array(right["block_params"]), tuple(np.int64(v) for v in (6, 4, 512))),
        ([float(p) for p in right["block_params"]], (None, 6, 4, 512)),
        (tuple(right["block_params"]), [6.0, 4.0, 512.0]),
    ]:
        assert is_right("07.vgg_numbers", {"block_params": params, "block5_pool_shape": shape})


@pytest.mark.parametrize(
    "params, shape, message",
    [
        (None, (6.25, 4.69, 512), "whole number"),  # a fraction truncated into shape: refused
        ([p + 0.5 for p in ex07.block_parameters()], None, "whole number"),
        ([float("nan")] * 5, None, "finite"),
        ([float("inf")] * 5, None, "finite"),  # crashed with OverflowError before
        (None, (float("inf"), 4, 512), "finite"),  # crashed with OverflowError before
        ([str(p) for p in ex07.block_parameters()], None, "must be a number"),  # was accepted
        (None, (True, True, 512), "must be a number"),
        (5, None, "list of five"),
        (None, (6, 4), "three entries"),  # crashed with IndexError before
    ],
)
def test_vgg_numbers_malformed_answers_get_a_sentence(params, shape, message):
    answer = solution_vgg_numbers()
    if params is not None:
        answer["block_params"] = params
    if shape is not None:
        answer["block5_pool_shape"] = shape
    with pytest.raises(AssertionError, match=message):
        labs.check("07.vgg_numbers", answer)


@pytest.mark.parametrize(
    "params, shape",
    [
        ([38_720, 221_440, 1_000_000, 5_899_776, 7_079_424], (6, 4, 512)),
        (ex07.block_parameters(), (5, 5, 512)),
        (ex07.block_parameters(), (6, 4, 1024)),
        (ex07.block_parameters(), (7, 5, 512)),
    ],
)
def test_vgg_numbers_wrong_prediction_never_shows_the_answer(params, shape):
    with pytest.raises(AssertionError) as error:
        labs.check("07.vgg_numbers", {"block_params": params, "block5_pool_shape": shape})
    message = str(error.value)
    assert "1,475,328" not in message and "1475328" not in message
    assert "(6, 4, 512)" not in message and "6×4" not in message


def test_vgg_numbers_stub_is_not_attempted():
    assert not_attempted("07.vgg_numbers", {"block_params": None, "block5_pool_shape": None})


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5
# ---------------------------------------------------------------------------------------------


def test_unfreeze_solution_passes():
    printed = outcome("07.unfreeze_block5", solution_prepare_fine_tuning)
    assert printed.startswith("✓") and "last 1, 3 and 5 convolutions" in printed


def _by_flags(names_of, rate=1e-5, compile_model=True):
    """An attempt that unfreezes `names_of(base, convolutions)` and compiles at `rate`."""

    def attempt(model, base, convolutions):
        base.trainable = True
        chosen = names_of(base, convolutions)
        for layer in base.layers:
            layer.trainable = layer.name in chosen
        if compile_model:
            transfer.compile_binary(model, learning_rate=rate)

    return attempt


def _every_layer(base, convolutions):
    return {layer.name for layer in base.layers}


def _block(prefix):
    return lambda base, convolutions: {l.name for l in base.layers if l.name.startswith(prefix)}


def _shifted(base, convolutions):
    names = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    return set(names[-convolutions - 1 : -1])


def _nothing(model, base, convolutions):
    transfer.compile_binary(model, learning_rate=1e-5)


def _head_frozen(model, base, convolutions):
    solution_prepare_fine_tuning(model, base, convolutions)
    model.get_layer("head").trainable = False
    transfer.compile_binary(model, learning_rate=1e-5)


def _mse(model, base, convolutions):
    solution_prepare_fine_tuning(model, base, convolutions)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")


def _slice_with_pooling(model, base, convolutions):
    """Counts layers instead of convolutions: block4_pool takes a place when crossing blocks."""
    base.trainable = True
    for position, layer in enumerate(base.layers):
        layer.trainable = position >= len(base.layers) - convolutions - 1
    transfer.compile_binary(model, learning_rate=1e-5)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (_by_flags(last_convolutions, compile_model=False), "compile the model again"),
        (_nothing, "no layer of the base trains"),
        (_by_flags(_every_layer), "whole base trains"),
        (_by_flags(last_convolutions, rate=1e-3), "overwrite the pretrained weights"),
        (_by_flags(last_convolutions, rate=float("nan")), "learning rate is nan"),  # was accepted
        (_by_flags(last_convolutions, rate=1e-9), "hardly change"),
        # the lecture's block-5 code, copied: right for 3, wrong for 1 and 5
        (_by_flags(_block("block5_")), "convolutions=1: layers that should stay frozen"),
        # unfreezing block 4 instead of block 5 passed before, with the message "block 5 + head"
        (_by_flags(_block("block4_")), "block4_conv1.*should train but do not: block5_conv1"),
        (_by_flags(_shifted), "should stay frozen train: block4_conv3"),
        (_slice_with_pooling, "convolutions=5: these convolutions should train but do not"),
        (_head_frozen, "head must keep training"),
        (_mse, "binary cross-entropy"),
    ],
)
def test_unfreeze_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.unfreeze_block5", attempt)


def test_unfreeze_other_right_forms_pass():
    """Another optimizer, a loss object or function, a learning-rate schedule: all right."""

    def with_keras_objects(model, base, convolutions):
        _by_flags(last_convolutions, compile_model=False)(model, base, convolutions)
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-5, 100, 0.9)
        model.compile(
            optimizer=keras.optimizers.RMSprop(schedule),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=["accuracy"],
        )

    def with_loss_function(model, base, convolutions):
        _by_flags(last_convolutions, compile_model=False)(model, base, convolutions)
        model.compile(optimizer=keras.optimizers.SGD(1e-4), loss=keras.losses.binary_crossentropy)

    assert is_right("07.unfreeze_block5", with_keras_objects)
    assert is_right("07.unfreeze_block5", with_loss_function)


def test_unfreeze_stub_is_not_attempted():
    def prepare_fine_tuning(model, base, convolutions):
        raise NotImplementedError

    assert not_attempted("07.unfreeze_block5", prepare_fine_tuning)


# ---------------------------------------------------------------------------------------------
# 07.extract_features
# ---------------------------------------------------------------------------------------------


def test_extract_features_solution_and_other_right_forms_pass():
    assert is_right("07.extract_features", solution_extract_features)

    def with_a_keras_layer(base, images):  # returns a tensor, not a NumPy array
        maps = base(keras.applications.vgg16.preprocess_input(np.array(images)))
        return keras.layers.GlobalAveragePooling2D()(maps)

    assert is_right("07.extract_features", with_a_keras_layer)


def test_extract_features_calling_the_course_extractor_is_not_done():
    """It was accepted before; now the numbers are confirmed but the exercise is refused."""
    with pytest.raises(AssertionError, match="but you called cnnlib.data.features"):
        labs.check("07.extract_features", lambda base, x: features.feature_extractor(base)(x))

    extractor = features.feature_extractor  # held under another name: found all the same

    def by_name(base, images):
        return extractor(base)(images)

    with pytest.raises(AssertionError, match="but you called"):
        labs.check("07.extract_features", by_name)


@pytest.mark.parametrize(
    "attempt, message",
    [
        (lambda base, x: np.full((len(x), 512), np.nan), "NaN or infinite"),
        (lambda base, x: None, "returned None"),
        (lambda base, x: [[1.0, 2.0], [3.0]], "not an array of numbers"),  # crashed before
        (lambda base, x: "features", "not an array of numbers"),
    ],
)
def test_extract_features_malformed_answers_get_a_sentence(attempt, message):
    with pytest.raises(AssertionError, match=message):
        labs.check("07.extract_features", attempt)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (lambda base, x: np.asarray(base(x)).mean(axis=(1, 2)), "preprocess_input is missing"),
        (
            lambda base, x: np.asarray(base(keras.applications.vgg16.preprocess_input(x))).max(
                axis=(1, 2)
            ),
            "global max pooling",
        ),
        (
            lambda base, x: np.asarray(base(keras.applications.vgg16.preprocess_input(x))),
            "those are the feature maps",
        ),
        (
            lambda base, x: np.asarray(base(keras.applications.vgg16.preprocess_input(x))).reshape(
                len(x), -1
            ),
            "flattened",
        ),
        (
            lambda base, x: np.asarray(base(keras.applications.vgg16.preprocess_input(x))).mean(
                axis=-1
            ),
            "averaged over the channels",
        ),
        (lambda base, x: solution_extract_features(base, x / 255.0), "scaled to"),
    ],
)
def test_extract_features_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.extract_features", attempt)


def test_extract_features_hard_coded_shape_cannot_pass():
    with pytest.raises(AssertionError, match="✗ 07.extract_features"):
        labs.check("07.extract_features", lambda base, x: np.zeros((2, 512)))


def test_extract_features_stub_is_not_attempted():
    def extract_features(base, images):
        raise NotImplementedError

    assert not_attempted("07.extract_features", extract_features)


# ---------------------------------------------------------------------------------------------
# 07.features_vs_end_to_end
# ---------------------------------------------------------------------------------------------


def test_experiment_solution_passes_with_a_real_measurement():
    printed = outcome("07.features_vs_end_to_end", solution_experiment())
    assert printed.startswith("✓") and "you measured" in printed


def test_experiment_other_right_forms_pass():
    for change in ({"predicted_speedup": np.int64(10)}, {"why": "B", "gives_up": " b "}):
        assert is_right("07.features_vs_end_to_end", {**solution_experiment(), **change})


@pytest.mark.parametrize(
    "measured",
    [
        fake_measurement(),  # made-up timings in the right format: accepted before
        {**fake_measurement(), "features_epoch_seconds": 0},  # ZeroDivisionError before
        {**fake_measurement(), "features_epoch_seconds": "fast"},  # TypeError before
        {**fake_measurement(), "features_epoch_seconds": float("nan")},
    ],
)
def test_experiment_refuses_measurements_it_did_not_see_made(measured):
    with pytest.raises(AssertionError, match="not a result that features.compare_phase1"):
        labs.check("07.features_vs_end_to_end", {**solution_experiment(), "measured": measured})


def test_experiment_refuses_an_edited_measurement():
    edited = dict(real_measurement())
    edited["speedup"] = 100.0
    with pytest.raises(AssertionError, match="not a result"):
        labs.check("07.features_vs_end_to_end", {**solution_experiment(), "measured": edited})


@pytest.mark.parametrize(
    "change, hint",
    [
        ({"why": "a"}, "very same head"),
        ({"why": "c"}, "same optimizer"),
        ({"gives_up": "a"}, "exact only while"),
        ({"gives_up": "c"}, "differ only by noise"),
        ({"why": "z"}, "must be one of"),
        ({"why": ["b"]}, "must be one of"),  # TypeError (unhashable) before
        ({"predicted_speedup": None}, "must be a number"),
        ({"predicted_speedup": float("inf")}, "finite"),  # accepted before
        ({"predicted_speedup": True}, "must be a number"),  # accepted before, as 1×
        ({"predicted_speedup": -2}, "positive"),
        ({"measured": None}, "compare_phase1"),
    ],
)
def test_experiment_typical_mistakes(change, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.features_vs_end_to_end", {**solution_experiment(), **change})


def test_experiment_stub_is_not_attempted():
    stub = {"predicted_speedup": None, "measured": None, "why": None, "gives_up": None}
    assert not_attempted("07.features_vs_end_to_end", stub)


# ---------------------------------------------------------------------------------------------
# 07.top_k_error
# ---------------------------------------------------------------------------------------------


def test_top_k_reference_is_tensorflows_rule():
    import tensorflow as tf

    random = np.random.default_rng(3)
    for n, c, k in [(20, 10, 1), (30, 8, 3), (40, 20, 5)]:
        probabilities = np.round(random.dirichlet(np.full(c, 0.5), size=n) * 4) / 4
        labels = random.integers(0, c, size=n)
        hits = tf.math.in_top_k(labels, probabilities.astype("float32"), k=k).numpy()
        assert ex07.top_k_error_reference(probabilities, labels, k) == pytest.approx(
            1 - hits.mean()
        )


def test_top_k_solution_passes():
    assert is_right("07.top_k_error", solution_top_k_error)


def test_top_k_float32_and_numpy_scalars_pass():
    """A float32 answer differs from the float64 reference in the 8th digit: rejected before."""
    assert is_right("07.top_k_error", lambda p, y, k: np.float32(solution_top_k_error(p, y, k)))
    assert is_right(
        "07.top_k_error", lambda p, y, k: np.array(solution_top_k_error(p, y, k), dtype="float32")
    )


def _argsort_top_k(probabilities, labels, k):
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(1 - np.mean((ranked == labels[:, None]).any(axis=1)))


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (lambda p, y, k: 1 - solution_top_k_error(p, y, k), "top-k accuracy"),
        (lambda p, y, k: 100 * solution_top_k_error(p, y, k), "percentage"),
        (lambda p, y, k: float("nan"), "finite"),
        (lambda p, y, k: "0.5", "must be a number"),
        (lambda p, y, k: np.array([0.5, 0.5]), "must be a number"),
        (lambda p, y, k: _argsort_top_k(-p, y, k), "LEAST probable"),
        (lambda p, y, k: solution_top_k_error(p, y, k + 1), "off by one"),
        (_argsort_top_k, "ties straddling"),
    ],
)
def test_top_k_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.top_k_error", attempt)


def test_top_k_stub_is_not_attempted():
    def top_k_error(probabilities, labels, k):
        raise NotImplementedError

    assert not_attempted("07.top_k_error", top_k_error)
