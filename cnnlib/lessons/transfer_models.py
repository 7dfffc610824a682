"""The plumbing notebook 07 trains with; the models and the input pipeline are written in the notebook.

Notebook 07 writes its input pipeline, its feature extractor, its classifier head, its end-to-end
model and its two training phases in plain Keras where a learner reads them. This module keeps
what only times, validates or places that training, and the package's one copy of the pipeline,
the models and the phases that tooling (`cnn-course distributed`), the exercises and the tests need
(tests/unit/test_features.py checks that they are the notebook's, layer for layer):

- `epoch_timer`, `steady_epoch_seconds`: seconds per epoch, without the first (which compiles);
- `validation_on_features`: phase 1's validation on stored features, without a pass through the base;
- `distribution_strategy`, `global_batch_size`: `MirroredStrategy` over several GPUs, else
  TensorFlow's default, and the batch all its replicas consume in one step;
- `pipeline`, `augmentation`: the notebook's `tf.data` pipeline over `cnnlib.data.transfer`'s files;
- `build_head`, `full_model`, `feature_extractor`, `compile_binary`, `unfreeze_last_block`: the
  notebook's models and phase 2, for tooling and checks.

Downloading and loading (VGG16's weights, the photos, the stand-in) stay in `cnnlib.data.transfer`.
"""

import time

import numpy as np

from cnnlib.runtime.validation import check_positive_int, check_seed

LAST_BLOCK = "block5"  # VGG16's last convolutional block: the one phase 2 fine-tunes


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


def global_batch_size(per_replica, strategy):
    """Each replica gets `per_replica` images a step, so one step consumes replicas × that."""
    check_positive_int(per_replica, "per_replica")
    return per_replica * strategy.num_replicas_in_sync


# ---------------------------------------------------------------------------------------------
# The notebook's input pipeline, one copy for tooling (a test compares it with the notebook's)
# ---------------------------------------------------------------------------------------------


def augmentation(seed=None):
    """Random flips, small rotations and zooms: label-preserving changes for photos of animals.

    The notebook's `augment`; with a `seed` the sequence of random changes is the same in every run.
    """
    import keras

    seeds = [None] * 3 if seed is None else [check_seed(seed) + i for i in range(3)]
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seeds[0]),
            keras.layers.RandomRotation(0.1, seed=seeds[1]),
            keras.layers.RandomZoom(0.1, seed=seeds[2]),
        ],
        name="augmentation",
    )


def pipeline(images, labels, image_size, batch_size, training, seed=42):
    """The notebook's `tf.data` pipeline: decode/resize → cache → (shuffle, augment) → batch → prefetch.

    `images` is a list of image file paths or an array (N, H, W, 3) of 0–255 pixels, as
    `cnnlib.data.transfer.transfer_files` gives them; the pipeline yields float32
    (batch, image_size, image_size, 3) in 0–255, the range `preprocess_input` expects. With
    `training`, a new order and new random changes every epoch (the same sequence for one `seed`).
    """
    import tensorflow as tf

    image_size = check_positive_int(image_size, "image_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images for {len(labels)} labels")
    if len(images) == 0:
        raise ValueError("images is empty: a pipeline needs at least one image")

    def load(image):
        if image.dtype == tf.string:
            image = tf.io.decode_image(tf.io.read_file(image), channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, "float32"), (image_size, image_size))

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    # Decoding and resizing happen once (cache); the augmentation stays fresh every epoch.
    dataset = dataset.map(lambda x, y: (load(x), y)).cache()
    if training:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training:
        augment = augmentation(seed)
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


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


def unfreeze_last_block(base, block=LAST_BLOCK):
    """Phase 2, fine-tuning: only the layers of `block` (VGG16's last, "block5") train.

    Compile the model again afterwards: Keras reads what is trainable when it compiles.
    """
    names = [layer.name for layer in base.layers if layer.name.startswith(block + "_")]
    if not names:
        raise ValueError(
            f"base has no layers named {block}_…; its layers are {[l.name for l in base.layers]}"
        )
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in names
