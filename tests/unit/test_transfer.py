"""Notebook 07's downloads and loading (`cnnlib.data.transfer`: the weights, the photos, the offline
stand-in) and its two phases with the package's copy of its models (`cnnlib.lessons.transfer_models`).

Small on purpose: 32×32 images and a few batches, so these run in seconds on a CPU.
"""

import hashlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cnnlib.data import transfer  # noqa: E402
from cnnlib.lessons import transfer_models  # noqa: E402
from cnnlib.lessons.architectures import parameter_counts  # noqa: E402

SIZE = 32
HEAD_PARAMS = (512 * 8 + 8) + (8 + 1)  # Dense(8) on 512 pooled channels, then Dense(1)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty Keras cache of our own."""
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def _weights(layers):
    return {w.path: np.array(w.numpy()) for layer in layers for w in layer.weights}


def _changed(before, after):
    return {path for path in before if not np.array_equal(before[path], after[path])}


def _tiny_batches(count=16, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(count, SIZE, SIZE, 3)).astype("float32")
    labels = np.arange(count) % 2
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


def test_offline_returns_a_random_stand_in_with_the_flag(offline, capsys):
    base, source = transfer.load_vgg16(include_top=False, input_shape=(SIZE, SIZE, 3))
    assert source == transfer.UNAVAILABLE
    out = capsys.readouterr().out
    assert "UNAVAILABLE" in out and "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in out
    assert base.count_params() == 14_714_688  # VGG16's convolutional base, whatever its weights
    assert "STAND-IN" in out  # the one word the labels of cnnlib.runtime.rehearsal use


def test_offline_class_names_fall_back_to_class_numbers(offline):
    probabilities = np.zeros((1, 1000))
    probabilities[0, [281, 7, 999, 3, 500]] = [0.5, 0.2, 0.15, 0.1, 0.05]
    top5 = transfer.imagenet_top5(probabilities)
    assert top5[0][0] == ("ImageNet class #281", 0.5)
    assert [p for _, p in top5[0]] == [0.5, 0.2, 0.15, 0.1, 0.05]


def test_cached_weights_load_without_the_network(offline, monkeypatch):
    """A weights file in the Keras cache is used offline: the pre-seeded firewalled-lab path."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(SIZE, SIZE, 3)
    )
    fname, origin, _ = transfer.VGG16_WEIGHTS[False]
    cached = offline / "models" / fname
    cached.parent.mkdir(parents=True)
    with h5py.File(cached, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, reference)
    md5 = hashlib.md5(cached.read_bytes()).hexdigest()
    monkeypatch.setitem(transfer.VGG16_WEIGHTS, False, (fname, origin, md5))

    loaded, source = transfer.load_vgg16(include_top=False, input_shape=(SIZE, SIZE, 3))
    assert source == transfer.IMAGENET
    for mine, theirs in zip(loaded.weights, reference.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_stand_in_dataset_is_labelled_as_such(offline):
    data = transfer.stand_in_files(images_per_class=8)
    assert data.is_stand_in and "STAND-IN" in data.source
    assert (data.train_count, data.validation_count) == (16, 8)
    train = transfer_models.pipeline(*data.train, SIZE, 8, training=True)
    images, labels = next(iter(train))
    assert images.shape == (8, SIZE, SIZE, 3) and images.dtype == "float32"
    assert 0 <= float(np.min(images)) and float(np.max(images)) <= 255.0 + 1e-3
    assert set(np.unique(labels)) <= {0, 1}


@pytest.fixture
def model_and_base(offline):
    keras.utils.set_random_seed(0)
    base, _ = transfer.load_vgg16(include_top=False, input_shape=(SIZE, SIZE, 3))
    head = transfer_models.build_head(hidden_units=8)
    return transfer_models.full_model(base, head), base


@pytest.mark.slow  # trains the head on a VGG16 base
def test_phase_1_trains_the_head_and_leaves_the_base_unchanged(model_and_base):
    model, base = model_and_base
    base.trainable = False  # as notebook 07 freezes it
    transfer_models.compile_binary(model, learning_rate=1e-2)
    counts = parameter_counts(model)
    assert counts["trainable"] == HEAD_PARAMS
    assert counts["non_trainable"] == base.count_params()

    head = model.get_layer("head").layers
    base_before, head_before = _weights(base.layers), _weights(head)
    assert len(head_before) == 4, "two Dense layers: a kernel and a bias each"
    model.fit(_tiny_batches(), epochs=1, verbose=0, shuffle=False)
    assert not _changed(base_before, _weights(base.layers))
    assert _changed(head_before, _weights(head)) == set(head_before)


@pytest.mark.slow  # trains block 5 and the head
def test_phase_2_changes_only_the_last_block_and_the_head(model_and_base):
    model, base = model_and_base
    transfer_models.unfreeze_last_block(base)
    transfer_models.compile_binary(model, learning_rate=1e-3)
    block5 = [layer for layer in base.layers if layer.name.startswith("block5_")]
    assert (
        parameter_counts(model)["trainable"]
        == sum(layer.count_params() for layer in block5) + HEAD_PARAMS
    )

    before = _weights(model.layers[1:] + base.layers)
    model.fit(_tiny_batches(), epochs=1, verbose=0, shuffle=False)
    changed = _changed(before, _weights(model.layers[1:] + base.layers))
    assert changed, "phase 2 changed no weight at all"
    assert all(path.split("/")[-2].startswith(("block5_", "head_")) for path in changed), sorted(
        changed
    )
    assert any("block5_conv3" in path for path in changed)
    assert any("head_output" in path for path in changed)


def test_unfreeze_names_a_missing_block():
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="block5"):
        transfer_models.unfreeze_last_block(base)


def test_global_batch_scales_with_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    assert transfer_models.global_batch_size(32, TwoReplicas()) == 64
    with pytest.raises(ValueError, match="per_replica"):
        transfer_models.global_batch_size(0, TwoReplicas())


@pytest.mark.parametrize("count, error", [(0, ValueError), (401, ValueError), (2.5, TypeError)])
def test_the_stand_in_names_a_count_it_cannot_give(count, error):
    with pytest.raises(error, match="images_per_class"):
        transfer.stand_in_files(count)


def test_bad_input_shapes_are_named():
    with pytest.raises(ValueError, match="224"):
        transfer.load_vgg16(include_top=True, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="32"):
        transfer.load_vgg16(include_top=False, input_shape=(16, 16, 3))


FAKE_COUNTS = {"train": {"cats": 4, "dogs": 4}, "validation": {"cats": 4, "dogs": 4}}


def _fake_cats_vs_dogs_zip(path, per_class=4):
    """A tiny archive with the real one's layout: cats_and_dogs_filtered/{train,validation}/{cats,dogs}/*.jpg."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(1)
    with zipfile.ZipFile(path, "w") as archive:
        for split, count in (("train", per_class), ("validation", per_class)):
            for name in ("cats", "dogs"):
                for index in range(count):
                    buffer = io.BytesIO()
                    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
                        buffer, "JPEG"
                    )
                    archive.writestr(
                        f"cats_and_dogs_filtered/{split}/{name}/{name}.{index}.jpg",
                        buffer.getvalue(),
                    )


def _three_per_class():
    import dataclasses

    from cnnlib.runtime.profiles import PROFILES

    return dataclasses.replace(PROFILES["lite"], transfer_images_per_class=3)


def test_cached_cats_vs_dogs_archive_is_extracted_and_piped(offline, monkeypatch, capsys):
    archive = offline / "datasets" / transfer.CATS_VS_DOGS["fname"]
    archive.parent.mkdir(parents=True)
    _fake_cats_vs_dogs_zip(archive)
    monkeypatch.setitem(transfer.CATS_VS_DOGS, "size", archive.stat().st_size)
    monkeypatch.setitem(transfer.CATS_VS_DOGS, "counts", FAKE_COUNTS)

    data, _ = transfer.transfer_files(_three_per_class())
    assert not data.is_stand_in and data.class_names == ("cats", "dogs")
    assert (data.train_count, data.validation_count) == (6, 2)
    assert "SHA-256" in capsys.readouterr().out
    assert data.sha256 == transfer.sha256_of(archive) and data.sha256[:16] in data.source
    assert "unverified" in data.source and "storage.googleapis.com" not in data.source
    validation = transfer_models.pipeline(*data.validation, SIZE, 4, training=False)
    images, labels = next(iter(validation))
    assert images.shape == (2, SIZE, SIZE, 3) and sorted(labels.numpy().tolist()) == [0, 1]


def test_an_archive_of_the_wrong_size_is_refused(offline, capsys):
    archive = offline / "datasets" / transfer.CATS_VS_DOGS["fname"]
    archive.parent.mkdir(parents=True)
    _fake_cats_vs_dogs_zip(archive, per_class=1)
    data, _ = transfer.transfer_files(_three_per_class())
    assert data.is_stand_in
    assert "not the published" in capsys.readouterr().out


def test_a_hand_copied_class_file_is_read_directly(offline, monkeypatch):
    import json

    fname, origin, _ = transfer.CLASS_INDEX
    (offline / "models").mkdir()
    (offline / "models" / fname).write_text(
        json.dumps({str(i): [f"n{i}", f"name_{i}"] for i in range(1000)})
    )
    monkeypatch.setattr(transfer, "CLASS_INDEX", (fname, origin, None))
    probabilities = np.full((1, 1000), 0.0005)
    probabilities[0, 42] = 0.5
    assert transfer.imagenet_top5(probabilities)[0][0] == ("name_42", 0.5)
    assert (offline / "models" / fname).exists(), "the hand-copied file must survive"


# ---------------------------------------------------------------------------------------------
# transfer_files: what notebook 07's own pipeline reads, and the sizes to train at
# ---------------------------------------------------------------------------------------------


def test_transfer_files_offline_gives_the_stand_in_pixels_and_sizes(offline, capsys):
    from cnnlib.runtime.profiles import PROFILES

    files, sizes = transfer.transfer_files(PROFILES["lite"], weights_are_real=True)
    assert (
        files.is_stand_in
        and "STAND-IN" in files.source
        and "UNAVAILABLE" in capsys.readouterr().out
    )
    assert sizes == transfer.stand_in_sizes()
    images, labels = files.train
    assert images.shape == (64, 28, 28, 3) and images.dtype == np.uint8
    assert np.array_equal(images[..., 0], images[..., 2])  # grey made RGB
    assert labels.tolist() == [0] * 32 + [1] * 32
    assert (files.train_count, files.validation_count) == (64, 32)


def test_transfer_files_reads_the_cached_archive_as_paths(offline, monkeypatch):
    import dataclasses

    from cnnlib.runtime.profiles import PROFILES

    archive = offline / "datasets" / transfer.CATS_VS_DOGS["fname"]
    archive.parent.mkdir(parents=True)
    _fake_cats_vs_dogs_zip(archive)
    monkeypatch.setitem(transfer.CATS_VS_DOGS, "size", archive.stat().st_size)
    monkeypatch.setitem(transfer.CATS_VS_DOGS, "counts", FAKE_COUNTS)
    profile = dataclasses.replace(PROFILES["lite"], transfer_images_per_class=3)

    files, sizes = transfer.transfer_files(profile, weights_are_real=True)
    assert not files.is_stand_in and sizes is profile
    paths, labels = files.train
    assert len(paths) == 6 and all(p.endswith(".jpg") for p in paths)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and files.class_names == ("cats", "dogs")
    assert files.validation_count == 2 and files.sha256 == transfer.sha256_of(archive)

    _, stand_in = transfer.transfer_files(profile, weights_are_real=False)
    assert stand_in == transfer.stand_in_sizes(), "random weights train at the stand-in's sizes"
