"""Phase 1 of transfer learning the fast way: extract the frozen base's features once.

*Deep Learning with Python* (Chollet) trains a new head on a frozen convolutional base in two ways:

- **end to end**: every epoch pushes every image through the whole base and the head. Needed when
  the images are augmented (each epoch sees different pixels) or when the base trains;
- **feature extraction**: the base is frozen and the images do not change, so its output for an
  image is the same in every epoch. Compute it once, keep the (N, 512) features, and train the
  head on them: an epoch then costs a few small matrix products instead of a VGG16 forward pass.

With the same head weights and the same un-augmented images both give the same outputs (the
notebook checks it); feature extraction gives up augmentation. `full_model(base, head)` is
the end-to-end model built from the very same head, so weights trained one way serve the other.
"""

import hashlib
import json
import time

import numpy as np

from cnnlib.data import transfer

FEATURE_CACHE = "cnnlib_features"  # under Keras's cache folder
_MEASURED = []  # (result, copy) for every compare_phase1 of this session: see `measured_here`


def feature_extractor(base, name="feature_extractor"):
    """pixels 0–255 RGB → `preprocess_input` → `base` → global average pooling: (batch, channels)."""
    import keras

    inputs = keras.Input(base.inputs[0].shape[1:], name="pixels_0_255")
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x, training=False)
    outputs = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    return keras.Model(inputs, outputs, name=name)


def build_head(channels=512, hidden_units=256, dropout=0.5, name="head"):
    """The new classifier of `transfer.transfer_model`, as a model of its own: features → P(class 1)."""
    import keras

    inputs = keras.Input((channels,), name="features")
    x = keras.layers.Dense(hidden_units, activation="relu", name="head_dense")(inputs)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 output keeps the sigmoid and the loss stable under mixed precision.
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="head_output")(x)
    return keras.Model(inputs, outputs, name=name)


def full_model(base, head, name="vgg16_transfer"):
    """The end-to-end model: pixels → preprocess → `base` → global average pool → `head`.

    It holds `base` and `head` themselves (not copies): training it trains them, and a head
    trained on extracted features is already in place here.
    """
    import keras

    inputs = keras.Input(base.inputs[0].shape[1:], name="pixels_0_255")
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    return keras.Model(inputs, head(x), name=name)


def extract(extractor, dataset):
    """Run `extractor` once over a batched (images, labels) dataset; return (features, labels).

    The dataset must not be augmented: the features are meant to stand for the images in
    every epoch.
    """
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(extractor(images, training=False), dtype=np.float32))
        labels.append(np.asarray(batch_labels))
    if not features:
        raise ValueError("the dataset yielded no batches")
    return np.concatenate(features), np.concatenate(labels)


def feature_dataset(features, labels, batch_size, training, seed=42):
    """A tf.data pipeline over in-memory features: reshuffled every epoch when `training`."""
    import tensorflow as tf

    if len(features) != len(labels):
        raise ValueError(f"got {len(features)} feature vectors for {len(labels)} labels")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if training:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def shuffled(dataset, count, batch_size, seed=42):
    """The same images as the batched, un-augmented `dataset`, reshuffled every epoch."""
    import tensorflow as tf

    images = dataset.unbatch().apply(tf.data.experimental.assert_cardinality(count))
    return (
        images.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


# ---------------------------------------------------------------------------------------------
# The training images without augmentation, and validation on stored features
# ---------------------------------------------------------------------------------------------


def plain_training_data(data):
    """The training images of `data` (a `transfer.TransferData`), un-augmented and in file order.

    The augmented `data.train` cannot stand for the images in every epoch; `data.plain_train`
    holds the same files (or digits), decoded and resized the same way, without augmentation.
    """
    if data.plain_train is None:
        raise ValueError(
            "this TransferData carries no plain_train pipeline (build it with "
            "transfer.transfer_data, transfer.cats_vs_dogs or transfer.stand_in_digits)"
        )
    return data.plain_train


def validation_on_features(head, features, labels, batch_size=256):
    """A Keras callback: after every epoch, `head`'s validation loss and accuracy on stored features.

    For a model whose base is frozen, the head's input for a validation image is exactly its stored
    feature vector, so this gives the same numbers as passing the validation images through the base
    and the head, without that pass. It writes `val_loss` and `val_accuracy` into the epoch's logs
    (so `History` and the progress line show them). Wrong once the base trains: use it in phase 1 only.
    """
    import keras

    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32).reshape(-1, 1)
    if len(features) != len(labels):
        raise ValueError(f"got {len(features)} feature vectors for {len(labels)} labels")

    class ValidationOnFeatures(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            scores = (
                np.concatenate(
                    [
                        keras.ops.convert_to_numpy(
                            head(features[i : i + batch_size], training=False)
                        )
                        for i in range(0, len(features), batch_size)
                    ]
                )
                .astype(np.float32)
                .reshape(-1, 1)
            )
            loss = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(labels, scores))
            logs["val_loss"] = float(np.mean(loss))
            logs["val_accuracy"] = float(np.mean((scores > 0.5) == (labels > 0.5)))

    return ValidationOnFeatures()


# ---------------------------------------------------------------------------------------------
# An optional disk cache: features are worth keeping only for real weights
# ---------------------------------------------------------------------------------------------


def cache_key(weights, image_size, files):
    """A name for a feature file: which weights, which image size, which images (in order)."""
    text = json.dumps(
        {"weights": weights, "image_size": int(image_size), "files": [str(f) for f in files]}
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_extract(extractor, dataset, key, folder=None):
    """`extract`, kept in `folder` (default: Keras's cache) under `key`; None as key: no cache."""
    if key is None:
        return extract(extractor, dataset)
    from cnnlib.data.downloads import keras_cache_dir

    folder = keras_cache_dir() / FEATURE_CACHE if folder is None else folder
    path = folder / f"{key}.npz"
    if path.exists():
        stored = np.load(path)
        return stored["features"], stored["labels"]
    features, labels = extract(extractor, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features, labels=labels)
    return features, labels


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def steady_epoch_seconds(seconds):
    """Per-epoch time without the first epoch (which also traces and compiles), when there are more."""
    seconds = list(seconds)
    if not seconds:
        return float("nan")
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


def compare_phase1(base, images, labels, epochs=2, batch_size=16, seed=0):
    """Train one head on extracted features and an identical one end to end; time both.

    `images` (N, H, W, 3) in 0–255, `labels` 0/1. Both heads start from the same weights and see
    the same images in the same batches. Returns seconds per epoch (steady state), the one-off
    extraction time, and the final training accuracy of each.
    """
    import keras

    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    base.trainable = False
    head_fast = build_head(base.output_shape[-1], name="head_features")
    head_slow = build_head(base.output_shape[-1], name="head_end_to_end")
    head_slow.set_weights(head_fast.get_weights())
    slow = full_model(base, head_slow)

    start = time.perf_counter()
    extractor = feature_extractor(base)
    features = np.concatenate(
        [
            keras.ops.convert_to_numpy(extractor(images[i : i + batch_size], training=False))
            for i in range(0, len(images), batch_size)
        ]
    )
    extraction = time.perf_counter() - start

    results = {"extraction_seconds": extraction}
    for label, model, x in (("features", head_fast, features), ("end_to_end", slow, images)):
        keras.utils.set_random_seed(seed)
        transfer.compile_binary(model, learning_rate=3e-4)
        timer = transfer.epoch_timer()
        history = model.fit(
            x,
            labels,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=False,
            verbose=0,
            callbacks=[timer],
        )
        results[f"{label}_epoch_seconds"] = steady_epoch_seconds(timer.seconds)
        results[f"{label}_accuracy"] = float(history.history["accuracy"][-1])
    results["speedup"] = results["end_to_end_epoch_seconds"] / results["features_epoch_seconds"]
    _MEASURED.append((results, dict(results)))
    return results


def measured_here(result):
    """True when `result` is a dict `compare_phase1` returned in this session, with its numbers
    unchanged: an exercise can then trust that the timings were measured, not typed in."""
    return any(result is kept and result == copy for kept, copy in _MEASURED)
