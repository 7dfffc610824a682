"""The same operation done by Keras, on one image: what the NumPy reference is compared against.

`cnnlib.ops` works on one image, Keras layers on batches. `apply_layer` puts the two side by side;
`keras_conv` builds the Conv2D that holds a kernel of our choice and applies it.
"""

import numpy as np


def apply_layer(layer, image):
    """Run a Keras layer on one (H, W) or (H, W, C) image; return a NumPy array without the batch
    axis. A 2-D image gives a 2-D result when the layer has one output channel."""
    import keras

    image = np.asarray(image, dtype="float32")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    batch = image[None, :, :, None] if image.ndim == 2 else image[None]
    out = keras.ops.convert_to_numpy(layer(batch))[0]
    return out[..., 0] if image.ndim == 2 and out.ndim == 3 and out.shape[-1] == 1 else out


def keras_conv(image, kernel, bias=0.0, **layer_options):
    """One image through a Keras `Conv2D` whose weights are `kernel` (and `bias`).

    `image` is (H, W) or (H, W, C); `kernel` is (kh, kw), (kh, kw, C) or (kh, kw, C, K); `bias` is
    a number or K numbers. Options (strides, padding, dilation_rate, activation) go to Conv2D.
    Returns what `apply_layer` returns: (H', W') for a 2-D image and one filter, else (H', W', K).
    """
    import keras

    if np.ndim(image) not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {np.shape(image)}")
    channels = 1 if np.ndim(image) == 2 else np.shape(image)[-1]
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim not in (2, 3, 4):
        raise ValueError(
            f"kernel must be (kh, kw), (kh, kw, C) or (kh, kw, C, K), got {kernel.shape}"
        )
    if kernel.ndim >= 3 and kernel.shape[2] != channels:
        raise ValueError(
            f"kernel {kernel.shape} has {kernel.shape[2]} slices but the image "
            f"{np.shape(image)} has {channels} channels"
        )
    kernel = kernel.reshape(kernel.shape[:2] + (channels, -1))
    filters = kernel.shape[-1]
    layer = keras.layers.Conv2D(filters, kernel.shape[:2], **layer_options)
    layer.build((None, None, None, channels))
    biases = np.broadcast_to(np.asarray(bias, dtype=np.float32), (filters,))
    layer.set_weights([kernel, biases.copy()])
    return apply_layer(layer, image)
