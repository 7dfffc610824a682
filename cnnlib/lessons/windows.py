"""Where the kernel sits: padding, stride and dilation, computed and drawn (notebook 03).

- `dilate`: a kernel with zeros inserted between its taps (what `dilation_rate` computes);
- `coverage`: how many kernel positions see each input pixel (zero: the pixel is never used);
- `show_sliding`, `show_strides`, `show_dilation`: figures of windows on a pixel grid, with the
  padded border and the inserted zeros drawn differently from real pixels and real weights.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from cnnlib import ops
from cnnlib.runtime.validation import int_pair

PAD_COLOUR = "#cfe3f5"  # padded cells: pale blue, hatched
WINDOW_COLOURS = ("tab:red", "tab:orange", "tab:purple", "tab:green")


def dilate(kernel, rate):
    """`kernel` (kh, kw) with rate − 1 zeros between neighbouring taps: ((kh−1)·rate+1, …)."""
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}")
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate < 1:
        raise ValueError(f"rate must be an int of at least 1, got {rate!r}")
    spread = np.zeros(((kernel.shape[0] - 1) * rate + 1, (kernel.shape[1] - 1) * rate + 1))
    spread[::rate, ::rate] = kernel
    return spread


def coverage(shape, f, stride=1, padding="valid"):
    """How many kernel positions include each pixel of an input of `shape` (rows, cols).

    `f` is the kernel size (int or pair), `stride` an int or pair, `padding` as in `cnnlib.ops`.
    A zero means the pixel never reaches the output.
    """
    (top, bottom), (left, right) = ops.padding_amounts(shape, f, stride, padding)
    fh, fw = int_pair(f, "f")
    sh, sw = int_pair(stride, "stride", minimum=1)
    rows, cols = shape[0] + top + bottom, shape[1] + left + right
    if fh > rows or fw > cols:
        raise ValueError(f"a {fh}×{fw} kernel does not fit the padded {rows}×{cols} input")
    counts = np.zeros((rows, cols), dtype=int)
    for i in range(0, rows - fh + 1, sh):
        for j in range(0, cols - fw + 1, sw):
            counts[i : i + fh, j : j + fw] += 1
    return counts[top : top + shape[0], left : left + shape[1]]


# ------------------------------------------------------------------------------------ figures
def draw_grid(
    ax, values, pad=((0, 0), (0, 0)), fmt="{:.0f}", cmap="Greys", vmin=None, vmax=None, fontsize=9
):
    """`values` (the padded array) as a grid of numbered cells; the `pad` border hatched blue."""
    values = np.asarray(values, dtype=float)
    (top, bottom), (left, right) = pad
    inside = values[top : values.shape[0] - bottom, left : values.shape[1] - right]
    vmin = inside.min() if vmin is None else vmin
    vmax = inside.max() if vmax is None else vmax
    # Real pixels in a light grey scale, so the numbers and the windows drawn over them stay legible.
    spread = vmax - vmin + 1e-9
    image = ax.imshow(values, cmap=cmap, vmin=vmin - 0.3 * spread, vmax=vmax + 2.5 * spread)
    rows, cols = values.shape
    for (r, c), value in np.ndenumerate(values):
        padded = r < top or r >= rows - bottom or c < left or c >= cols - right
        if padded:
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5),
                    1,
                    1,
                    facecolor=PAD_COLOUR,
                    edgecolor="#7fa7cc",
                    hatch="///",
                    lw=0.5,
                )
            )
        ax.text(
            c,
            r,
            fmt.format(value),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="#4a7bab" if padded else "black",
            style="italic" if padded else "normal",
        )
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    return image


def outline(ax, row, col, height, width, colour, inset=0.0, lw=3, ls="-"):
    """A rectangle around cells [row, row + height) × [col, col + width), drawn `inset` inwards."""
    ax.add_patch(
        Rectangle(
            (col - 0.5 + inset, row - 0.5 + inset),
            width - 2 * inset,
            height - 2 * inset,
            fill=False,
            edgecolor=colour,
            lw=lw,
            ls=ls,
            zorder=5,
        )
    )


def show_sliding(image, kernel, padding, positions, stride=1, suptitle=None):
    """The kernel at a few `positions` (output row, col) on the padded `image`, then the output map.

    One panel per position, with the window outlined and the output value in the title, and a
    last panel with the whole output and the same cells outlined in the same colours.
    """
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel)
    amounts = ops.padding_amounts(image.shape, kernel.shape, stride, padding)
    padded = ops.pad(image, amounts)
    result = ops.conv2d(image, kernel, stride=stride, padding=padding)
    sh, sw = int_pair(stride, "stride", minimum=1)
    kh, kw = kernel.shape
    fig, axes = plt.subplots(
        1,
        len(positions) + 1,
        figsize=(3.3 * len(positions) + 3, 3.9),
        gridspec_kw={"width_ratios": [padded.shape[1]] * len(positions) + [result.shape[1]]},
    )
    for ax, (row, col), colour in zip(axes, positions, WINDOW_COLOURS):
        draw_grid(ax, padded, amounts)
        outline(ax, row * sh, col * sw, kh, kw, colour, lw=3.5)
        _label_weights(ax, kernel, (row * sh, col * sw), colour)
        ax.set_title(_window_title(padded, amounts, kernel, (row, col), (sh, sw)), fontsize=10)
    draw_grid(axes[-1], result)
    for (row, col), colour in zip(positions, WINDOW_COLOURS):
        outline(axes[-1], row, col, 1, 1, colour)
    axes[-1].set_title(f"output, {result.shape[0]} × {result.shape[1]}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.87 if suptitle else 1))
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _label_weights(ax, kernel, corner, colour):
    """The kernel's weights ("×1", "×0") in the corner of each cell of the window at `corner`."""
    top, left = corner
    for (i, j), weight in np.ndenumerate(kernel):
        ax.text(
            left + j + 0.42,
            top + i + 0.4,
            f"×{fmt_number(weight)}",
            ha="right",
            va="bottom",
            fontsize=8,
            color=colour,
            fontweight="bold",
            zorder=6,
        )


def _window_title(padded, amounts, kernel, position, stride):
    """The title of one window: "output (r, c) = value" and how many of its cells are padding."""
    (row, col), (sh, sw) = position, stride
    kh, kw = kernel.shape
    rows, cols = slice(row * sh, row * sh + kh), slice(col * sw, col * sw + kw)
    in_pad = int(kh * kw - coverage_mask(amounts, padded.shape)[rows, cols].sum())
    value = (padded[rows, cols] * kernel).sum()
    return f"output ({row}, {col}) = {fmt_number(value)}\n{in_pad} of {kh * kw} cells are padding"


def coverage_mask(amounts, shape):
    """1 on the real pixels of a padded array of `shape`, 0 on its padded border."""
    (top, bottom), (left, right) = amounts
    mask = np.zeros(shape, dtype=int)
    mask[top : shape[0] - bottom, left : shape[1] - right] = 1
    return mask


def fmt_number(value):
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def show_strides(image, kernel, strides, padding=1):
    """For each stride, the windows of outputs (0, 0), (0, 1) and (1, 0) on the padded image.

    Next to each grid, the output map with those three cells outlined in the windows' colours.
    Bars above and left of the grid measure the jumps: s_H (red window to orange) and s_V (red
    window to purple).
    """
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel)
    panels = [_stride_panel(image, kernel, stride, padding) for stride in strides]
    ratios = [w for panel in panels for w in (panel["padded"].shape[1], panel["output"].shape[1])]
    fig, axes = plt.subplots(
        1,
        2 * len(panels),
        figsize=(0.62 * sum(ratios) + 1, 4.4),
        gridspec_kw={"width_ratios": ratios},
        layout="constrained",
    )
    for panel, ax, out_ax in zip(panels, axes[::2], axes[1::2]):
        _draw_stride_windows(ax, panel, kernel.shape)
        _draw_output_cells(out_ax, panel["output"])
    return fig


# The three outputs whose windows show both jumps: (0, 0) → (0, 1) is s_H, (0, 0) → (1, 0) is s_V.
STRIDE_CELLS = ((0, 0), (0, 1), (1, 0))


def _stride_panel(image, kernel, stride, padding):
    """What one stride's pair of panels needs: the stride pair, padding, padded image and output."""
    amounts = ops.padding_amounts(image.shape, kernel.shape, stride, padding)
    return {
        "stride": int_pair(stride, "stride", minimum=1),
        "amounts": amounts,
        "padded": ops.pad(image, amounts),
        "output": ops.conv2d(image, kernel, stride=stride, padding=padding),
    }


def _draw_stride_windows(ax, panel, kernel_shape):
    """The padded image with the three windows outlined and the two jumps measured."""
    (sh, sw), padded = panel["stride"], panel["padded"]
    kh, kw = kernel_shape
    draw_grid(ax, padded, panel["amounts"], fontsize=8)
    for (row, col), colour, inset in zip(STRIDE_CELLS, WINDOW_COLOURS, (0.05, 0.15, 0.25)):
        outline(ax, row * sh, col * sw, kh, kw, colour, inset=inset, lw=2.5)
    _jump_bar(ax, (-0.5, -0.75), (-0.5 + sw, -0.75), f"s_H = {sw}", WINDOW_COLOURS[1])
    _jump_bar(ax, (-0.75, -0.5), (-0.75, -0.5 + sh), f"s_V = {sh}", WINDOW_COLOURS[2])
    rows, cols = padded.shape
    ax.set_xlim(-1.1, cols - 0.5)
    ax.set_ylim(rows - 0.5, -1.1)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"stride ({sh}, {sw}) on the padded image", fontsize=10)


def _jump_bar(ax, start, end, label, colour):
    """A |—| bar from `start` to `end` (x, y) outside the grid, labelled at its far end."""
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        annotation_clip=False,
        arrowprops=dict(
            arrowstyle="|-|,widthA=0.3,widthB=0.3", color=colour, lw=2, shrinkA=0, shrinkB=0
        ),
    )
    vertical = start[0] == end[0]
    ax.text(
        end[0] + (0 if vertical else 0.2),
        end[1] + (0.2 if vertical else 0),
        label,
        color=colour,
        fontsize=10,
        fontweight="bold",
        ha="center" if vertical else "left",
        va="top" if vertical else "center",
        rotation=90 if vertical else 0,
    )


def _draw_output_cells(ax, output):
    """The output map with the cells of STRIDE_CELLS outlined in their windows' colours."""
    draw_grid(ax, output, fontsize=8)
    for (row, col), colour in zip(STRIDE_CELLS, WINDOW_COLOURS):
        outline(ax, row, col, 1, 1, colour, lw=2.5)
    ax.set_title(f"output {output.shape[0]} × {output.shape[1]}", fontsize=10)


def _draw_taps(ax, matrix, step, limit):
    """`matrix` in a colour scale centred on 0; every `step`-th cell a weight, the others hatched."""
    shown = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (r, c), value in np.ndenumerate(matrix):
        if r % step == 0 and c % step == 0:
            colour = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=10, color=colour)
        else:
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5),
                    1,
                    1,
                    facecolor="#eeeeee",
                    edgecolor="#bbbbbb",
                    hatch="xx",
                    lw=0.5,
                )
            )
    ax.set_xticks(np.arange(-0.5, matrix.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, matrix.shape[0]), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    return shown


def show_dilation(kernel, rate):
    """A kernel and its dilated version on one colour scale centred on zero; inserted zeros hatched."""
    kernel = np.asarray(kernel, dtype=float)
    spread = dilate(kernel, rate)
    limit = float(np.abs(kernel).max()) or 1.0
    fig, axes = plt.subplots(
        1, 2, figsize=(8.4, 4.1), gridspec_kw={"width_ratios": [kernel.shape[1], spread.shape[1]]}
    )
    titles = (
        f"{kernel.shape[0]} × {kernel.shape[1]} kernel, {kernel.size} weights",
        f"dilation {rate}: spans {spread.shape[0]} × {spread.shape[1]}, still {kernel.size} "
        "weights\n(hatched: inserted zeros, not weights)",
    )
    for ax, matrix, step, title in zip(axes, (kernel, spread), (1, rate), titles):
        shown = _draw_taps(ax, matrix, step, limit)
        ax.set_title(title, fontsize=10)
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label="weight (white = 0)")
    return fig
