"""Notebook 07's feature extraction and input pipeline: what the notebook writes, against the package.

The notebook writes its head, its end-to-end model and its `tf.data` pipeline in plain Keras and
TensorFlow; `cnnlib.lessons.transfer_models` keeps one copy of the models, the pipeline and the
augmentation for tooling (tools/distributed.py), the exercises and the tests. These tests run the
notebook's own cells against those copies, so the two cannot drift apart, and check that feature
extraction is exact for a frozen base.
"""

import json
import pathlib

import keras
import numpy as np
import pytest

from cnnlib.data import transfer
from cnnlib.lessons import transfer_models

NOTEBOOK = (
    pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "07_vgg16_transfer_learning.ipynb"
)


def notebook_cell(marker):
    """The source of the first code cell of notebook 07 that contains `marker`."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return next(
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and marker in "".join(c["source"])
    )


def notebook_builders():
    """`build_head`, `full_model` and `compile_binary` exactly as notebook 07's cell defines them."""
    source = notebook_cell("def build_head")
    namespace = {"keras": keras}
    exec(source[: source.index("\n\n\nwith strategy.scope():")], namespace)
    return namespace


def notebook_pipeline(image_size):
    """The notebook's `load` and `decoded`, with `image_size` set as the notebook sets it."""
    import tensorflow as tf

    source = notebook_cell("def load(image)")
    namespace = {"tf": tf, "image_size": image_size}
    exec(source[: source.index("\n\n\ntrain_images =")], namespace)
    return namespace


@pytest.fixture(scope="module")
def base():
    keras.utils.set_random_seed(3)
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    model.trainable = False
    return model


def _layer_configs(model):
    configs = []
    for layer in model.layers:
        config = layer.get_config()
        if isinstance(layer, keras.Model):  # a nested model: compared layer by layer itself
            config = {"name": layer.name, "layers": _layer_configs(layer)}
        configs.append((type(layer).__name__, config))
    return configs


# ---------------------------------------------------------------------------------------------
# Feature extraction is exact
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(32, 32), (48, 64), (80, 40)])
def test_head_on_features_equals_the_full_model(base, size):
    images = np.random.default_rng(sum(size)).uniform(0, 255, size=(3, *size, 3)).astype("float32")
    head = transfer_models.build_head()
    model = transfer_models.full_model(base, head)
    extracted = np.asarray(transfer_models.feature_extractor(base)(images))
    maps = np.asarray(base(keras.applications.vgg16.preprocess_input(images.copy())))
    np.testing.assert_allclose(extracted, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(head(extracted)), np.asarray(model(images)), rtol=1e-5, atol=1e-6
    )


def test_full_model_names_a_base_that_takes_no_images():
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="base must take images"):
        transfer_models.full_model(flat, transfer_models.build_head(2))


# ---------------------------------------------------------------------------------------------
# The notebook's code is the package's
# ---------------------------------------------------------------------------------------------


def test_the_notebooks_head_is_the_package_head():
    notebook = notebook_builders()
    ours, theirs = notebook["build_head"](), transfer_models.build_head()
    assert _layer_configs(ours) == _layer_configs(theirs)
    assert ours.count_params() == theirs.count_params() == 512 * 256 + 256 + 256 + 1


def test_the_notebooks_full_model_is_the_package_full_model(base):
    notebook = notebook_builders()
    ours = notebook["full_model"](base, notebook["build_head"]())
    theirs = transfer_models.full_model(base, transfer_models.build_head())
    assert _layer_configs(ours) == _layer_configs(theirs)
    assert ours.get_layer("head") is not None and theirs.get_layer("head") is not None


def test_the_comparison_fails_when_the_head_differs():
    """The layer-by-layer comparison is not blind: another dropout rate is a difference."""
    assert _layer_configs(transfer_models.build_head(dropout=0.3)) != _layer_configs(
        transfer_models.build_head()
    )


def test_the_notebooks_compile_is_the_package_compile():
    notebook = notebook_builders()
    ours, theirs = transfer_models.build_head(), transfer_models.build_head()
    notebook["compile_binary"](ours, learning_rate=3e-4)
    transfer_models.compile_binary(theirs, learning_rate=3e-4)
    ours_config, theirs_config = ours.optimizer.get_config(), theirs.optimizer.get_config()
    ours_config.pop("name"), theirs_config.pop("name")  # Keras numbers optimizers: adam, adam_1
    assert ours_config == theirs_config
    assert ours.loss == theirs.loss


def _jpeg_folder(tmp_path, per_class=3):
    from PIL import Image

    folder = tmp_path / "train"
    for label, name in enumerate(("cats", "dogs")):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((20, 30, 3), 40 * i + 100 * label, dtype=np.uint8)).save(
                folder / name / f"{name[:-1]}.{i}.png"
            )
    return transfer._image_files(folder, None)


def _stacked(dataset):
    batches = list(dataset)
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_the_notebooks_pipeline_reads_files_as_the_package_does(tmp_path):
    paths, labels, _ = _jpeg_folder(tmp_path)
    notebook = notebook_pipeline(16)
    ours = _stacked(notebook["decoded"](list(paths), labels).batch(4))
    theirs = _stacked(transfer_models.pipeline(paths, labels, 16, 4, training=False))
    np.testing.assert_allclose(ours[0], theirs[0], atol=1e-4)
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[0].shape == (6, 16, 16, 3)
    np.testing.assert_allclose(ours[0][:, 0, 0, 0], [0, 40, 80, 100, 140, 180])


def test_the_notebooks_pipeline_reads_the_stand_in_pixels(monkeypatch):
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    from cnnlib.runtime.profiles import PROFILES

    files, sizes = transfer.transfer_files(PROFILES["lite"], weights_are_real=False)
    notebook = notebook_pipeline(32)
    images, labels = _stacked(notebook["decoded"](*files.train).batch(8))
    assert images.shape == (files.train_count, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, files.train[1])
    grey = np.asarray(keras.ops.image.resize(files.train[0][:1].astype("float32"), (32, 32)))
    np.testing.assert_allclose(images[:1], grey, atol=1e-3)
    theirs = _stacked(transfer_models.pipeline(*files.train, 32, 8, training=False))
    np.testing.assert_allclose(images, theirs[0], atol=1e-4)
    np.testing.assert_array_equal(labels, theirs[1])


def _augmentation_configs(model):
    """Each layer's type and settings, without its name and seed (the package's copy is seeded)."""
    return [
        (
            type(layer).__name__,
            {k: v for k, v in layer.get_config().items() if k not in ("name", "seed")},
        )
        for layer in model.layers
    ]


def test_the_notebooks_augmentation_is_the_package_augmentation():
    namespace = {"keras": keras}
    exec(notebook_cell("augment = keras.Sequential"), namespace)
    ours = _augmentation_configs(namespace["augment"])
    theirs = _augmentation_configs(transfer_models.augmentation(seed=7))
    assert [kind for kind, _ in ours] == ["RandomFlip", "RandomRotation", "RandomZoom"]
    assert ours == theirs


# ---------------------------------------------------------------------------------------------
# The plumbing: validation on features, epoch times, the phase-1 comparison
# ---------------------------------------------------------------------------------------------


def test_validation_on_features_gives_what_evaluate_gives(base):
    """The callback's val_loss/val_accuracy are Keras's own evaluation of the full model."""
    rng = np.random.default_rng(5)
    images = rng.uniform(0, 255, size=(10, 32, 32, 3)).astype("float32")
    labels = np.arange(10) % 2
    head = transfer_models.build_head()
    model = transfer_models.full_model(base, head)
    transfer_models.compile_binary(model, learning_rate=1e-3)
    loss, accuracy = model.evaluate(images, labels, batch_size=4, verbose=0)
    extracted = np.asarray(transfer_models.feature_extractor(base)(images))
    callback = transfer_models.validation_on_features(head, extracted, labels, batch_size=3)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert logs["val_accuracy"] == pytest.approx(accuracy)
    with pytest.raises(ValueError, match="3 feature vectors for 2 labels"):
        transfer_models.validation_on_features(head, np.zeros((3, 512)), np.zeros(2))


@pytest.mark.slow  # two epochs through VGG16 (the callback's numbers are checked fast above)
def test_validation_on_features_feeds_history(base):
    rng = np.random.default_rng(6)
    images = rng.uniform(0, 255, size=(8, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 2
    head = transfer_models.build_head()
    model = transfer_models.full_model(base, head)
    transfer_models.compile_binary(model, learning_rate=1e-3)
    val = (rng.normal(size=(6, 512)).astype("float32"), np.arange(6) % 2)
    history = model.fit(
        images,
        labels,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[transfer_models.validation_on_features(head, *val)],
    )
    assert len(history.history["val_accuracy"]) == 2 and len(history.history["val_loss"]) == 2


def test_epoch_timer_notes_each_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = transfer_models.epoch_timer()
    model.fit(np.zeros((4, 2)), np.zeros(4), epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


def test_steady_epoch_seconds_leaves_out_the_first():
    assert transfer_models.steady_epoch_seconds([5.0, 1.0, 3.0]) == 2.0
    assert transfer_models.steady_epoch_seconds([4.0]) == 4.0
    assert np.isnan(transfer_models.steady_epoch_seconds([]))
