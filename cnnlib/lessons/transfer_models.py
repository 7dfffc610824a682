"""The plumbing notebook 07 trains with; the models and the input pipeline are written in the notebook.

Notebook 07 writes its input pipeline, its feature extractor, its classifier head and its
end-to-end model in plain Keras where a learner reads them. This module keeps what only times,
validates or places that training, and the package's one copy of the head and the end-to-end model
that tooling and the exercises need (tests/unit/test_features.py checks that they are the notebook's,
layer for layer):

- `epoch_timer`, `steady_epoch_seconds`: seconds per epoch, without the first (which compiles);
- `validation_on_features`: phase 1's validation on stored features, without a pass through the base;
- `distribution_strategy`: `MirroredStrategy` over several GPUs, else TensorFlow's default;
- `build_head`, `full_model`, `feature_extractor`: the notebook's models, for tooling and checks;
"""

import time

import numpy as np


def epoch_timer():
    """A Keras callback whose `.seconds` lists the wall-clock time of each epoch it saw."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def steady_epoch_seconds(seconds):
    """Median time per epoch without the first (which also traces and compiles), when there are more."""
    seconds = list(seconds)
    if not seconds:
        return float("nan")
    return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))


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
            scores = np.concatenate(
                [
                    keras.ops.convert_to_numpy(head(features[i : i + batch_size], training=False))
                    for i in range(0, len(features), batch_size)
                ]
            ).astype(np.float32)
            scores = scores.reshape(-1, 1)
            loss = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(labels, scores))
            logs["val_loss"] = float(np.mean(loss))
            logs["val_accuracy"] = float(np.mean((scores > 0.5) == (labels > 0.5)))

    return ValidationOnFeatures()


def distribution_strategy():
    """MirroredStrategy over all GPUs when there are two or more (or over the logical CPU devices
    `cnnlib.tools.distributed.split_cpu` made, to rehearse that code without GPUs); else the default."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()


# ---------------------------------------------------------------------------------------------
# The notebook's models, one copy for tooling (the notebook writes its own; a test compares them)
# ---------------------------------------------------------------------------------------------


def build_head(channels=512, hidden_units=256, dropout=0.5, name="head"):
    """The new classifier as a model of its own: `channels` pooled features → P(second class)."""
    import keras

    inputs = keras.Input((channels,), name="features")
    x = keras.layers.Dense(hidden_units, activation="relu", name="head_dense")(inputs)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 output keeps the sigmoid and the loss stable under mixed precision.
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="head_output")(x)
    return keras.Model(inputs, outputs, name=name)


def full_model(base, head, name="vgg16_transfer"):
    """Pixels 0–255 → preprocess_input → `base` → global average pooling → `head`.

    It holds `base` and `head` themselves (not copies): training it trains them, and a head
    trained on extracted features is already in place here.
    """
    import keras

    if len(base.inputs[0].shape) != 4:
        raise ValueError(
            f"base must take images (batch, H, W, 3), its input is {base.inputs[0].shape}"
        )
    inputs = keras.Input(base.inputs[0].shape[1:], name="pixels_0_255")
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    return keras.Model(inputs, head(x), name=name)


def feature_extractor(base, name="extractor"):
    """pixels 0–255 RGB → `preprocess_input` → `base` → global average pooling: (batch, channels)."""
    import keras

    pixels = keras.Input(base.inputs[0].shape[1:], name="pixels_0_255")
    maps = base(keras.applications.vgg16.preprocess_input(pixels))
    return keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(maps), name=name)


def compile_binary(model, learning_rate):
    """Adam and binary cross-entropy; compile again after changing what is trainable."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
