"""Real photographs that ship with scikit-image, ready as float arrays in [0, 1]."""

import numpy as np

PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "cat")


def photo(name="astronaut"):
    """A scikit-image sample photo as floats in [0, 1]: (H, W, 3) colour or (H, W) grayscale."""
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"photo name must be one of {', '.join(PHOTOS)}, got {name!r}")
    pixels = getattr(skimage.data, name)()
    if pixels.ndim == 3:
        pixels = pixels[..., :3]  # drop an alpha channel if there is one
    return pixels.astype(np.float32) / 255.0


def to_gray(image):
    """Luminance of an (H, W, 3) image in [0, 1]: scikit-image's `rgb2gray`, 0.2125 R + 0.7154 G +
    0.0721 B (within 0.0002 of ITU-R BT.709's weights)."""
    import skimage.color

    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {image.shape}")
    return skimage.color.rgb2gray(image).astype(np.float32)


def resize(image, size):
    """Resize to `size` (an int for a square, or (height, width)) with anti-aliasing."""
    import skimage.transform

    if isinstance(size, int):
        size = (size, size)
    image = np.asarray(image)
    return skimage.transform.resize(
        image, size + image.shape[2:], anti_aliasing=True, preserve_range=True
    ).astype(np.float32)
