"""The course's notebooks in teaching order, each with what it teaches in one line.

The one catalogue read by the README's notebook table, the lab's start page, the website, the
student export and the tests (a test checks it against the files in notebooks/).
"""

import pathlib

NOTEBOOKS = {
    "01_image_as_matrix": "pixels as numbers, channels, tensors and batches; why dense layers don't scale",
    "02_convolution": "the sliding window, kernels on a real photo, multi-channel filters, weight sharing, learned filters",
    "03_padding_and_stride": "output sizes, zero padding, strides, dilation, receptive fields",
    "04_pooling": "max / average / global pooling, what pooling buys and loses, conv-ReLU-pool blocks",
    "05_lenet5_mnist": "LeNet-5 and a modern LeNet on MNIST vs an MLP; training curves, errors, filters, feature maps",
    "06_architectures_after_lenet": "AlexNet, ZFNet, GoogLeNet's Inception module, vanishing gradients and ResNet, DenseNet",
    "07_vgg16_transfer_learning": "VGG16 on ImageNet photos, what its layers see, feature extraction and fine-tuning",
}


def notebook_paths(folder):
    """The course notebooks in `folder`, in teaching order (ValueError naming any that is missing)."""
    folder = pathlib.Path(folder)
    paths = [folder / f"{stem}.ipynb" for stem in NOTEBOOKS]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"{folder} lacks the course notebooks {', '.join(missing)}")
    return paths
