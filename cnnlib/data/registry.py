"""Every file the course downloads, described once: name, address, checksum, size, licence, and
the notebook that needs it.

The loaders (`cnnlib.data.mnist`, `cnnlib.data.transfer`), the cache tool (`cnn-course cache`)
and the table in docs/offline-and-labs.md (written by `cnn-course report`) all read this list; a
test fails when a Markdown file names a download or states a size that is not here. Re-releasing
a file means changing its one entry.

Names, addresses and checksums are those Keras itself uses (keras.datasets.mnist,
keras.applications.VGG16, imagenet_utils.decode_predictions), so one cached file serves the course
and Keras alike. Sizes are the published files' exact byte counts.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Download:
    key: str  # how the code names it
    fname: str  # the file's name in Keras's cache
    subdir: str  # "datasets" or "models", below ~/.keras (or $KERAS_HOME)
    origin: str
    algorithm: str | None  # "sha256" or "md5"; None when the publisher states no checksum
    digest: str | None
    size: int  # bytes
    licence: str
    notebook: str  # the notebook's stem (cnnlib.runtime.course.NOTEBOOKS)
    purpose: str  # what the notebook uses it for, in a few words

    @property
    def relative(self):
        """Its path inside Keras's cache folder, e.g. "datasets/mnist.npz"."""
        return f"{self.subdir}/{self.fname}"

    @property
    def file_hash(self):
        """The checksum in the form `keras.utils.get_file` takes (None when there is none)."""
        return self.digest


_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"

DOWNLOADS = {
    entry.key: entry
    for entry in (
        Download(
            key="mnist",
            fname="mnist.npz",
            subdir="datasets",
            origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            algorithm="sha256",
            digest="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            size=11_490_434,
            licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
            notebook="05_lenet5_mnist",
            purpose="the 70,000 digits",
        ),
        Download(
            key="vgg16",
            fname="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            subdir="models",
            origin=_KERAS_APPS + "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            algorithm="md5",
            digest="64373286793e3c8b2b4e3219cbf3544b",
            size=553_467_096,
            licence="CC BY 4.0 (Visual Geometry Group, University of Oxford)",
            notebook="07_vgg16_transfer_learning",
            purpose="ImageNet predictions",
        ),
        Download(
            key="vgg16_notop",
            fname="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            subdir="models",
            origin=_KERAS_APPS + "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            algorithm="md5",
            digest="6d6bbae143d832006294945121d1f1fc",
            size=58_889_256,
            licence="CC BY 4.0 (Visual Geometry Group, University of Oxford)",
            notebook="07_vgg16_transfer_learning",
            purpose="transfer learning",
        ),
        Download(
            key="imagenet_class_index",
            fname="imagenet_class_index.json",
            subdir="models",
            origin="https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
            algorithm="md5",
            digest="c2c37ea517e94d9795004a39431a14cb",  # what decode_predictions insists on
            size=35_363,
            licence="Apache 2.0 (Keras)",
            notebook="07_vgg16_transfer_learning",
            purpose="ImageNet class names",
        ),
        Download(
            key="cats_vs_dogs",
            fname="cats_and_dogs_filtered.zip",
            subdir="datasets",
            origin="https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
            # Its publishers state no checksum, so none is invented: the loader checks this size,
            # the layout, the counts and that every image decodes, and calls the data unverified.
            algorithm=None,
            digest=None,
            size=68_606_236,
            licence="Asirra photos (Microsoft Research, Petfinder.com), for research; no licence "
            "is published with the filtered set",
            notebook="07_vgg16_transfer_learning",
            purpose="photos to fine-tune on",
        ),
    )
}


def get(key):
    """The entry named `key` (KeyError naming the known keys otherwise)."""
    try:
        return DOWNLOADS[key]
    except KeyError:
        raise KeyError(f"no download {key!r}; the registry holds {', '.join(DOWNLOADS)}") from None


def megabytes(size):
    """A size as the docs state it: "11 MB" (decimal megabytes, rounded)."""
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e3:,.0f} KB"


def markdown_table():
    """The downloads as a Markdown table (the generated block of docs/offline-and-labs.md)."""
    rows = [
        "| file in Keras's cache | size | checksum | licence | used by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in DOWNLOADS.values():
        checksum = f"{entry.algorithm} `{entry.digest[:12]}…`" if entry.digest else "none published"
        rows.append(
            f"| `{entry.relative}` | {megabytes(entry.size)} ({entry.size:,} bytes) | {checksum} "
            f"| {entry.licence} | {entry.notebook[:2]} ({entry.purpose}) |"
        )
    total = sum(entry.size for entry in DOWNLOADS.values())
    rows.append(f"| **all {len(DOWNLOADS)}** | **{megabytes(total)}** | | | |")
    return "\n".join(rows)
