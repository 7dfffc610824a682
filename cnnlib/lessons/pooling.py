"""Helpers of notebook 04 (pooling): run a Keras layer on one image, measure how much it changed."""

import numpy as np


def keras_apply(layer, image):
    """Run a Keras layer on one (H, W) or (H, W, C) image; return a NumPy array without the batch axis.

    cnnlib.ops works on one image, Keras layers on batches: this puts the two side by side.
    """
    import keras

    image = np.asarray(image, dtype="float32")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    batch = image[None, :, :, None] if image.ndim == 2 else image[None]
    out = keras.ops.convert_to_numpy(layer(batch))[0]
    return out[..., 0] if image.ndim == 2 and out.ndim == 3 else out


def relative_change(before, after):
    """‖after − before‖ / ‖before‖ over all entries: 0 means unchanged."""
    before, after = np.ravel(before), np.ravel(after)
    if before.shape != after.shape:
        raise ValueError(f"before and after differ in size: {before.size} vs {after.size}")
    return float(np.linalg.norm(after - before) / np.linalg.norm(before))


def upsample(image, factor):
    """Nearest-neighbour upsampling: each pixel becomes a factor × factor block."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
