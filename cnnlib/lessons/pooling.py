"""Helpers of notebook 04 (pooling): how much a picture changed, and a picture scaled back up."""

import numpy as np


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
