"""Classic hand-made kernels, pictures to try them on, and NumPy against Keras.

Notebook 02 teaches convolution with these; they live here so that the notebook shows the idea
and not the plumbing:

- `gallery()`: every named kernel the lecture decks show (notebook 02's "On the slides" boxes say
  which deck shows which), keyed by its name;
- `line_detector(angle)` and `line_pictures()`: 3 × 3 line detectors and one-line test images;
- `line_orientation(image)`: the direction local structure runs in, to check what a detector found;
- `draw_window`, `show_gallery`, `show_filter_volume` (with `draw_volume`): the notebook's
  explanatory figures.
"""

import numpy as np

# Line detectors (deck 004 shows them): weight 2 along a line through the centre, −1 elsewhere (sum 0).
_LINE_0 = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], dtype=np.float32)
_LINE_45 = np.array([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]], dtype=np.float32)
LINE_ANGLES = (0, 45, 90, 135)


def line_detector(angle):
    """The 3 × 3 detector of lines at `angle` degrees (0, 45, 90 or 135).

    Angles count counter-clockwise from horizontal; image rows grow downwards, so a 45° line runs
    from bottom left to top right.
    """
    kernels = {0: _LINE_0, 45: _LINE_45, 90: _LINE_0.T, 135: np.fliplr(_LINE_45)}
    if angle not in kernels:
        raise ValueError(f"angle must be one of {LINE_ANGLES}, got {angle!r}")
    return kernels[angle].copy()


def gallery():
    """The decks' named kernels, as float32 arrays, keyed by name.

    Where a deck lost a kernel's numbers in the conversion to text, the usual kernel of that
    name stands in (Sobel bottom, lighten, emboss, mixed edges): notebook 02 says so.
    "negative corners" is a slide's worded "edge enhance" built literally; Pillow's is beside it.
    """
    kernels = {
        "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        "box blur": np.ones((3, 3)) / 9,
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
        "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
        "diagonal edges": [[1, 0, -1], [0, 0, 0], [-1, 0, 1]],
        "Sobel left": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
        "Sobel bottom": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        "mixed edges": [[2, 1, 0], [1, 0, -1], [0, -1, -2]],
        "line 0° (horizontal)": line_detector(0),
        "line 45°": line_detector(45),
        "line 90° (vertical)": line_detector(90),
        "line 135°": line_detector(135),
        "negative corners": [[-1, 0, -1], [0, 0, 0], [-1, 0, -1]],
        "edge enhance (Pillow's)": np.array([[-1, -1, -1], [-1, 10, -1], [-1, -1, -1]]) / 2,
        "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
        "lighten": [[0, 0, 0], [0, 1.5, 0], [0, 0, 0]],
        "darken": [[0, 0, 0], [0, 0.5, 0], [0, 0, 0]],
    }
    return {name: np.asarray(k, dtype=np.float32) for name, k in kernels.items()}


def line_pictures(size=21):
    """Four size × size pictures, each one bright one-pixel line through the centre, by angle."""
    pictures = {angle: np.zeros((size, size)) for angle in LINE_ANGLES}
    pictures[0][size // 2, :] = 1.0
    pictures[90][:, size // 2] = 1.0
    pictures[45][:] = np.fliplr(np.eye(size))
    pictures[135][:] = np.eye(size)
    return pictures


def line_orientation(image, sigma=1.5):
    """The angle (degrees in [0, 180), as `line_detector` counts them) that structure runs along.

    From the structure tensor: the local gradients, smoothed over a Gaussian window of `sigma`
    pixels, point across a line or edge; the line runs at right angles to them.
    """
    import scipy.ndimage

    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    d_row, d_col = np.gradient(image)
    d_up = -d_row  # rows grow downwards, angles count upwards
    xx = scipy.ndimage.gaussian_filter(d_col * d_col, sigma)
    yy = scipy.ndimage.gaussian_filter(d_up * d_up, sigma)
    xy = scipy.ndimage.gaussian_filter(d_col * d_up, sigma)
    gradient_angle = 0.5 * np.degrees(np.arctan2(2 * xy, xx - yy))
    return (gradient_angle + 90) % 180


def angle_gap(a, b):
    """The difference between two line angles in degrees, 0 to 90 (lines have no direction)."""
    return np.abs((np.asarray(a) - np.asarray(b) + 90) % 180 - 90)


# --------------------------------------------------------------------------------------------
# NumPy against Keras (cnnlib.lessons.keras_reference does the Keras side)
# --------------------------------------------------------------------------------------------
def largest_difference(ours, theirs):
    """max |ours − theirs| after dropping length-1 axes: how far NumPy and Keras disagree."""
    ours, theirs = np.squeeze(np.asarray(ours, float)), np.squeeze(np.asarray(theirs, float))
    if ours.shape != theirs.shape:
        raise ValueError(f"cannot compare shapes {ours.shape} and {theirs.shape}")
    return float(np.max(np.abs(ours - theirs)))


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def draw_window(ax, image, kernel, i, j, title):
    """The image with its numbers, the kernel's window at (i, j) outlined, its weights written in."""
    from matplotlib.patches import Rectangle

    from cnnlib.lessons.plot import show_matrix

    show_matrix(image, ax=ax, fmt="{:.0f}", cmap="gray", fontsize=9)
    kh, kw = np.shape(kernel)
    ax.add_patch(Rectangle((j - 0.5, i - 0.5), kw, kh, fill=False, edgecolor="red", linewidth=2.5))
    for (r, c), w in np.ndenumerate(kernel):
        ax.text(
            j + c + 0.3,
            i + r + 0.34,
            f"×{w:g}",
            color="red",
            fontsize=8,
            ha="center",
            va="center",
            fontweight="bold" if w else "normal",
        )
    ax.set_title(title, fontsize=9)


def _kernel_text(value):
    """A kernel weight as short text: 1/9 and 0.5 stay readable in a small cell."""
    if np.isclose(value, 1 / 9):
        return "1/9"
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


def show_kernel(ax, kernel, title=None, limit=None):
    """A small kernel as a grid of its numbers, on a colour scale centred on zero.

    `limit` fixes the scale (−limit blue to +limit red), so that several kernels drawn with the
    same limit can be compared by colour; by default it is the kernel's own largest |weight|.
    """
    kernel = np.asarray(kernel, dtype=float)
    limit = max(np.abs(kernel).max() if limit is None else limit, 1e-9)
    image = ax.imshow(kernel, cmap="coolwarm", vmin=-limit, vmax=limit)
    for (r, c), value in np.ndenumerate(kernel):
        red, green, blue, _ = image.cmap(image.norm(value))  # white text on the darkest cells
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.45
        colour = "white" if dark else "black"
        ax.text(c, r, _kernel_text(value), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def for_display(result, kernel):
    """A kernel's result on a [0, 1] scale that shows what the kernel does.

    Kernels whose weights add up to 1 keep the photo's brightness: shown as they are. Kernels whose
    weights add up to 0 answer only change: shown as |response|, bright where it is strong.
    Any other kernel: its result stretched from its smallest to its largest value.
    """
    result, total = np.asarray(result, dtype=float), float(np.sum(kernel))
    if np.isclose(total, 0, atol=1e-6):
        magnitude = np.abs(result)
        return np.clip(magnitude / max(np.percentile(magnitude, 99.5), 1e-12), 0, 1)
    if total > 0:
        return np.clip(result, 0, 1)
    return (result - result.min()) / max(result.max() - result.min(), 1e-12)


def show_gallery(original, kernels, results, ncols=3, size=2.3):
    """Each kernel's numbers beside its result, `ncols` pairs per row, after the original photo.

    All kernels share one colour scale (red positive, blue negative, white 0), shown by a colour
    bar in the last row, so that a weight's colour means the same in every panel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    names = list(kernels)
    limit = max(float(np.abs(k).max()) for k in kernels.values())
    nrows = int(np.ceil((len(names) + 2) / ncols))  # + the photo and the colour bar
    fig = plt.figure(figsize=(ncols * size * 1.75, nrows * size * 1.02))
    grid = fig.add_gridspec(
        nrows, 2 * ncols, width_ratios=[0.75, 1] * ncols, wspace=0.05, hspace=0.3
    )
    panels = [("the photo", None, original)] + [
        (n, kernels[n], for_display(results[n], kernels[n])) for n in names
    ]
    for index, (name, kernel, picture) in enumerate(panels):
        row, col = divmod(index, ncols)
        left, right = fig.add_subplot(grid[row, 2 * col]), fig.add_subplot(grid[row, 2 * col + 1])
        right.imshow(picture, cmap="gray", vmin=0, vmax=1)
        right.axis("off")
        if kernel is None:
            left.axis("off")
            right.set_title(name, fontsize=9)
        else:
            show_kernel(left, kernel, limit=limit)
            left.set_title(name, fontsize=9, loc="left")
    row, col = divmod(len(panels), ncols)
    bar = fig.add_subplot(grid[row, 2 * col : 2 * ncols])
    bar.set_position(bar.get_position().shrunk(1, 0.12).translated(0, 0.03))
    fig.colorbar(
        ScalarMappable(Normalize(-limit, limit), "coolwarm"),
        cax=bar,
        orientation="horizontal",
        label="kernel weight (one scale for every kernel)",
    )
    return fig


CHANNEL_COLOURS = ("red", "green", "blue")


def show_filter_volume(image, kernel, bias, position=(40, 50)):
    """One (kh, kw, 3) filter over an RGB image: the volume, its slices, their maps, sum + bias."""
    import matplotlib.pyplot as plt

    from cnnlib import ops

    image = np.asarray(image, dtype=float)
    kernel = np.asarray(kernel, dtype=float)
    channels = image.shape[-1]
    if channels > len(CHANNEL_COLOURS) or kernel.shape[2:3] != (channels,):
        raise ValueError(
            f"show_filter_volume draws an (H, W, C ≤ 3) image and a (kh, kw, C) kernel, "
            f"got {image.shape} and {kernel.shape}"
        )
    maps = [ops.conv2d(image[..., c], kernel[..., c]) for c in range(channels)]
    total = sum(maps) + bias

    fig = plt.figure(figsize=(15, 6.4))
    grid = fig.add_gridspec(
        channels, 5, width_ratios=[2.2, 1, 0.8, 1, 1.9], wspace=0.25, hspace=0.25
    )
    draw_volume(fig.add_subplot(grid[:, 0]), image, kernel.shape[:2], position)
    for c in range(channels):
        axes = [fig.add_subplot(grid[c, column]) for column in (1, 2, 3)]
        _draw_channel_row(axes, image[..., c], kernel[..., c], maps[c], c)
    sum_ax = fig.add_subplot(grid[:, 4])
    sum_ax.imshow(total, cmap="gray")
    sum_ax.set_title(
        f"map 0 + map 1 + map 2 + bias ({bias:g})\n= ONE feature map, "
        f"{total.shape[0]}×{total.shape[1]}",
        fontsize=10,
    )
    sum_ax.axis("off")
    fig.suptitle(
        "a convolution over three channels: one slice per channel, the three maps added, one bias",
        fontsize=11,
    )
    return fig


def draw_volume(ax, image, kernel_size, position, scale=4):
    """The channels as tinted sheets one behind the other, a kernel's window as a box through them.

    The window (top-left corner at `position`) is drawn `scale` times larger than life.
    """
    from matplotlib.patches import Rectangle

    height, width, channels = image.shape
    kh, kw = kernel_size
    shift = 0.22 * width  # how far each later channel sits up and to the right
    for c in reversed(range(channels)):
        tint = np.zeros((height, width, 3))
        tint[..., c] = image[..., c]
        dx, dy = c * shift, -c * shift
        ax.imshow(tint, extent=(dx, dx + width, dy + height, dy))
        ax.add_patch(Rectangle((dx, dy), width, height, fill=False, edgecolor=CHANNEL_COLOURS[c]))
    row, col = position
    for c in range(channels):
        dx, dy = c * shift, -c * shift
        ax.add_patch(
            Rectangle((dx + col, dy + row), kw * scale, kh * scale, fill=False, ec="white", lw=2)
        )
    # The filter's depth: lines joining the front and back window corners.
    for corner_x, corner_y in [(0, 0), (kw * scale, 0), (0, kh * scale), (kw * scale, kh * scale)]:
        xs = [col + corner_x, col + corner_x + (channels - 1) * shift]
        ys = [row + corner_y, row + corner_y - (channels - 1) * shift]
        ax.plot(xs, ys, color="white", linewidth=1.2)
    ax.set_xlim(-2, width + (channels - 1) * shift + 2)
    ax.set_ylim(height + 2, -(channels - 1) * shift - 2)
    ax.axis("off")
    ax.set_title(
        f"input {height}×{width}×{channels} and one {kh}×{kw}×{channels} filter\n"
        f"(white box, drawn {scale}× larger): it spans all {channels} channels",
        fontsize=9,
    )


def _draw_channel_row(axes, channel, kernel_slice, response, c):
    """One row of the figure: channel c, its kernel slice (signed weights), the slice's map."""
    channel_ax, slice_ax, map_ax = axes
    name = colour = CHANNEL_COLOURS[c]
    channel_ax.imshow(channel, cmap="gray", vmin=0, vmax=1)
    channel_ax.set_title(f"{name} channel", fontsize=9, color=colour)
    channel_ax.axis("off")
    show_kernel(slice_ax, kernel_slice)
    slice_ax.set_title(f"slice {c}: w[:, :, {c}]", fontsize=9, color=colour)
    for spine in slice_ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2)
    map_ax.imshow(response, cmap="gray")
    map_ax.set_title(f"slice {c} ⊛ {name}", fontsize=9)
    map_ax.axis("off")
