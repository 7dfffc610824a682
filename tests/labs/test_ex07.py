"""Exercises of notebook 07: the reference solutions pass, typical mistakes get their hint, stubs wait."""

import contextlib
import io

import keras
import numpy as np
import pytest

from cnnlib import labs
from cnnlib.data import features, transfer
from cnnlib.labs import ex07


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


def solution_prepare_fine_tuning(model, base):
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith("block5_")
    transfer.compile_binary(model, learning_rate=1e-5)


def solution_extract_features(base, images):
    x = keras.applications.vgg16.preprocess_input(np.array(images, dtype="float32"))
    return np.asarray(base(x)).mean(axis=(1, 2))


def solution_top_k_error(probabilities, labels, k):
    true = probabilities[np.arange(len(labels)), labels]
    return float(np.mean((probabilities > true[:, None]).sum(axis=1) >= k))


def fake_measurement(features_seconds=0.02, end_to_end_seconds=2.0):
    return {
        "features_epoch_seconds": features_seconds,
        "end_to_end_epoch_seconds": end_to_end_seconds,
        "speedup": end_to_end_seconds / features_seconds,
        "extraction_seconds": 2.0,
    }


def solution_experiment():
    return {"predicted_speedup": 20, "measured": fake_measurement(), "why": "b", "gives_up": "b"}


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
    assert printed.startswith("✓") and "14,714,688 parameters" in printed


@pytest.mark.parametrize(
    "params, shape, hint",
    [
        (ex07.block_parameters(biases=False), (6, 4, 512), "biases are missing"),
        (ex07.block_parameters(first_in_equals_out=True), (6, 4, 512), "previous block's channels"),
        (ex07.block_parameters(kernel=1), (6, 4, 512), "3 × 3 is missing"),
        (ex07.block_parameters(), (7, 5, 512), "rounds down"),
        (ex07.block_parameters(), (4, 6, 512), "height comes first"),
        (ex07.block_parameters(), (6, 4, 1024), "512 filters"),
        (ex07.block_parameters(), (200 // 32 + 1, 150 // 32 + 1, 512), "rounds down"),
    ],
)
def test_vgg_numbers_typical_mistakes(params, shape, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.vgg_numbers", {"block_params": params, "block5_pool_shape": shape})


def test_vgg_numbers_stub_is_not_attempted():
    assert not_attempted("07.vgg_numbers", {"block_params": None, "block5_pool_shape": None})


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5
# ---------------------------------------------------------------------------------------------


def test_unfreeze_solution_passes():
    printed = outcome("07.unfreeze_block5", solution_prepare_fine_tuning)
    assert printed.startswith("✓") and "7,211,009 parameters train" in printed


def test_unfreeze_transfer_helpers_pass():
    def with_course_helpers(model, base):
        transfer.unfreeze_last_block(base)
        transfer.compile_binary(model, learning_rate=1e-5)

    assert is_right("07.unfreeze_block5", with_course_helpers)


def _not_compiled(model, base):
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith("block5_")


def _nothing(model, base):
    transfer.compile_binary(model, learning_rate=1e-5)


def _everything(model, base):
    base.trainable = True
    transfer.compile_binary(model, learning_rate=1e-5)


def _large_rate(model, base):
    solution_prepare_fine_tuning(model, base)
    transfer.compile_binary(model, learning_rate=1e-3)


def _last_conv_only(model, base):
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name == "block5_conv3"
    transfer.compile_binary(model, learning_rate=1e-5)


def _blocks_4_and_5(model, base):
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith(("block4_", "block5_"))
    transfer.compile_binary(model, learning_rate=1e-5)


def _head_frozen(model, base):
    solution_prepare_fine_tuning(model, base)
    model.get_layer("head").trainable = False
    transfer.compile_binary(model, learning_rate=1e-5)


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (_not_compiled, "compile the model again"),
        (_nothing, "unfreeze the layers whose names start with 'block5_'"),
        (_everything, "whole base trains"),
        (_large_rate, "overwrite the pretrained weights"),
        (_last_conv_only, "three convolutions"),
        (_blocks_4_and_5, "only the last"),
        (_head_frozen, "head must keep training"),
    ],
)
def test_unfreeze_typical_mistakes(attempt, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("07.unfreeze_block5", attempt)


def test_unfreeze_stub_is_not_attempted():
    def prepare_fine_tuning(model, base):
        raise NotImplementedError

    assert not_attempted("07.unfreeze_block5", prepare_fine_tuning)


# ---------------------------------------------------------------------------------------------
# 07.extract_features
# ---------------------------------------------------------------------------------------------


def test_extract_features_solution_and_course_helper_pass():
    assert is_right("07.extract_features", solution_extract_features)
    assert is_right("07.extract_features", lambda base, x: features.feature_extractor(base)(x))


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
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    images = ex07.rng(1).uniform(0, 255, size=(32, 32, 32, 3))
    labels = np.arange(32) % 2
    measured = features.compare_phase1(base, images, labels, epochs=2, batch_size=8)
    answer = {"predicted_speedup": 10, "measured": measured, "why": "b", "gives_up": "b"}
    printed = outcome("07.features_vs_end_to_end", answer)
    assert printed.startswith("✓") and "you measured" in printed


@pytest.mark.parametrize(
    "change, hint",
    [
        ({"why": "a"}, "very same head"),
        ({"why": "c"}, "same optimizer"),
        ({"gives_up": "a"}, "exact only while"),
        ({"gives_up": "c"}, "differ only by noise"),
        ({"why": "z"}, "must be one of"),
        ({"predicted_speedup": None}, "positive number"),
        ({"measured": None}, "compare_phase1"),
        ({"measured": fake_measurement(2.0, 0.02)}, "slower than end to end"),
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


def _argsort_top_k(probabilities, labels, k):
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(1 - np.mean((ranked == labels[:, None]).any(axis=1)))


@pytest.mark.parametrize(
    "attempt, hint",
    [
        (lambda p, y, k: 1 - solution_top_k_error(p, y, k), "top-k accuracy"),
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
