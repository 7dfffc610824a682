"""Plotting helpers: image grids and matrices with their numbers written in."""

import math

import matplotlib.pyplot as plt
import numpy as np


def show_matrix(
    matrix, ax=None, fmt="{:.1f}", cmap="gray", title=None, fontsize=None, vmin=None, vmax=None
):
    """Draw a 2-D array as an image with each cell's value written on it."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"show_matrix needs a 2-D array, got shape {matrix.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * matrix.shape[1] + 1, 0.45 * matrix.shape[0] + 1))
    image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
    size = fontsize or max(4, min(12, 180 / max(matrix.shape)))
    for (row, col), value in np.ndenumerate(matrix):
        # Light text on dark cells and dark text on light ones keeps every number legible.
        red, green, blue, _ = image.cmap(image.norm(value))
        colour = "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
        ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=size, color=colour)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def show_images(
    images, titles=None, ncols=None, cmap="gray", size=2.2, vmin=None, vmax=None, suptitle=None
):
    """Show a list of images in a grid; 2-D arrays use `cmap`, (H, W, 3) arrays are drawn as colour."""
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = ncols or min(len(images), 6)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        image = np.asarray(images[index])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
