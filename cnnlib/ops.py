"""Convolution and pooling from scratch in NumPy, the reference the notebooks compare Keras against.

Shapes follow Keras (channels last, no batch axis):

- an image ``x`` is (H, W) or (H, W, C);
- a kernel is (kh, kw), (kh, kw, C) for one filter, or (kh, kw, C, K) for K filters.

``conv2d`` is what deep-learning libraries call convolution: the kernel slides over the
input *without* being flipped (mathematicians call that cross-correlation). ``true_conv2d``
flips the kernel first, which is convolution in the textbook sense.

Two implementations compute the same thing and can be read side by side:

- ``conv2d_loop``: the lesson. Visit every output position, multiply the window by the
  kernel element by element, add it all up.
- ``conv2d`` (the default): the same sums for every position at once. Each kernel weight
  (tap i, j of channel c) meets, over all output positions, a shifted slice of the input:
  stack those kh·kw·C slices as the rows of one matrix and a single matrix multiply with the
  flattened kernels adds up every product. This is the "im2col" trick libraries use, laid out
  channel-first so that every copy and the multiply run over long contiguous rows.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlib.runtime.validation import int_pair

# pad() refuses to build an array larger than this many elements (a typo such as pad(x, 10**6)
# would otherwise try to allocate terabytes before anything could say what went wrong).
MAX_PADDED_ELEMENTS = 2**31

PADDING_WORDS = ("valid", "same", "full")
POOL_MODES = ("max", "avg")

__all__ = [
    "conv2d",
    "conv2d_loop",
    "true_conv2d",
    "pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "output_size",
    "padding_amounts",
    "pad",
]


# --------------------------------------------------------------------------------------------
# Checking arguments: every mistake becomes a ValueError that names the argument and the shapes.
# --------------------------------------------------------------------------------------------
def _is_real(dtype):
    """Integers, floats or booleans (a binary image); not strings, objects or complex numbers."""
    return dtype == np.bool_ or (
        np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)
    )


def _as_image(x):
    """x as an array of shape (H, W, C), and whether it came in without a channel axis."""
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        hint = " (drop the batch axis, e.g. x[0])" if x.ndim == 4 else ""
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {x.shape}{hint}")
    if not _is_real(x.dtype):
        raise ValueError(f"x must hold real numbers, got dtype {x.dtype}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one row and one column, got shape {x.shape}")
    return (x[..., None] if x.ndim == 2 else x), x.ndim == 2


def _as_kernels(kernel, channels, x_shape):
    """kernel as (kh, kw, C, K), and whether the caller gave a single filter (no K axis)."""
    kernel = np.asarray(kernel)
    given_shape = kernel.shape
    if not _is_real(kernel.dtype):
        raise ValueError(f"kernel must hold real numbers, got dtype {kernel.dtype}")
    if kernel.ndim == 2:
        kernel = kernel[:, :, None, None]
        single = True
    elif kernel.ndim == 3:
        kernel = kernel[:, :, :, None]
        single = True
    elif kernel.ndim == 4:
        single = False
    else:
        raise ValueError(
            f"kernel must be (kh, kw), (kh, kw, C) or (kh, kw, C, K), got shape {np.shape(kernel)}"
        )
    if kernel.shape[0] == 0 or kernel.shape[1] == 0 or kernel.shape[3] == 0:
        raise ValueError(
            f"kernel must have at least one row, column and filter, got shape {kernel.shape}"
        )
    if kernel.shape[2] != channels:
        raise ValueError(
            f"kernel has {kernel.shape[2]} input channel(s) but x has {channels}: kernel shape "
            f"{given_shape} does not fit x shape {tuple(x_shape)} (a kernel needs one (kh, kw) slice "
            f"per input channel, i.e. shape (kh, kw, {channels}) or (kh, kw, {channels}, K))"
        )
    return kernel, single


# --------------------------------------------------------------------------------------------
# Padding and output size
# --------------------------------------------------------------------------------------------
def _check_pad_value(value, dtype):
    """ValueError unless `value` is a real number that `dtype` holds exactly (no wrap, no NaN → int)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"value must be a number, got {value!r}")
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        limits = np.iinfo(dtype) if dtype.kind != "b" else None
        whole = not math.isnan(value) and float(value).is_integer()
        low, high = (0, 1) if limits is None else (limits.min, limits.max)
        if not whole or not low <= value <= high:
            raise ValueError(
                f"value {value!r} cannot be stored in an array of dtype {dtype} "
                f"(whole numbers {low} to {high}); convert x to float first, e.g. x.astype(float)"
            )


def padding_amounts(input_size, kernel_size, stride=1, padding="valid"):
    """Zero rows/columns added on each side: ((top, bottom), (left, right)).

    ``padding`` is "valid" (none), "same" (as Keras: output size ceil(n / s); when the total is
    odd, the extra row/column goes at the bottom/right), "full" (f − 1 on every side, so every
    partial overlap counts), an int p, or a pair (ph, pw).
    """
    n_h, n_w = int_pair(input_size, "input_size")
    f_h, f_w = int_pair(kernel_size, "kernel_size")
    s_h, s_w = int_pair(stride, "stride", minimum=1)
    if min(n_h, n_w) < 1:
        raise ValueError(f"input_size must be at least 1 in both directions, got {input_size!r}")
    if min(f_h, f_w) < 1:
        raise ValueError(f"kernel_size must be at least 1 in both directions, got {kernel_size!r}")
    if isinstance(padding, str):
        word = padding.lower()
        if word == "valid":
            return (0, 0), (0, 0)
        if word == "full":
            return (f_h - 1, f_h - 1), (f_w - 1, f_w - 1)
        if word == "same":
            amounts = []
            for n, f, s in ((n_h, f_h, s_h), (n_w, f_w, s_w)):
                total = max((math.ceil(n / s) - 1) * s + f - n, 0)
                amounts.append((total // 2, total - total // 2))
            return tuple(amounts)
        raise ValueError(
            f"padding must be one of {', '.join(PADDING_WORDS)}, an int or a pair of ints, got {padding!r}"
        )
    p_h, p_w = int_pair(padding, "padding")
    if p_h < 0 or p_w < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return (p_h, p_h), (p_w, p_w)


def pad(x, amounts, value=0.0):
    """x with `value` added around it; `amounts` is an int, (ph, pw) or ((top, bottom), (left, right)).

    `x` is numeric (booleans, integers, floats); `value` must fit its dtype: −1 or NaN around a
    uint8 image is refused rather than wrapped to 255 or 0.
    """
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {x.shape}")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"x must hold real numbers, got an array of dtype {x.dtype}")
    _check_pad_value(value, x.dtype)
    if (
        isinstance(amounts, (tuple, list))
        and len(amounts) == 2
        and all(isinstance(a, (tuple, list)) for a in amounts)
    ):
        (top, bottom), (left, right) = (int_pair(tuple(a), "amounts") for a in amounts)
    else:
        p_h, p_w = int_pair(amounts, "amounts")
        top, bottom, left, right = p_h, p_h, p_w, p_w
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"amounts must not be negative, got {amounts!r}")
    new_shape = (x.shape[0] + top + bottom, x.shape[1] + left + right, *x.shape[2:])
    if math.prod(new_shape) > MAX_PADDED_ELEMENTS:
        raise ValueError(
            f"padding x of shape {x.shape} by {amounts!r} would make an array of shape {new_shape} "
            f"({math.prod(new_shape):,} elements, more than {MAX_PADDED_ELEMENTS:,}); is the padding a typo?"
        )
    widths = ((top, bottom), (left, right)) + ((0, 0),) * (x.ndim - 2)
    return np.pad(x, widths, mode="constant", constant_values=value)


def output_size(n, f, padding=0, stride=1):
    """Output length of a convolution or pooling: floor((n + 2p − f) / s) + 1.

    ``padding`` is an int p, or one of "valid" (p = 0), "same" (ceil(n / s), as Keras) and
    "full" (p = f − 1).
    """
    for name, value in (("n", n), ("f", f)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride must be an int of at least 1, got {stride!r}")
    if isinstance(padding, str):
        (before, after), _ = padding_amounts((n, 1), (f, 1), (stride, 1), padding)
        total = before + after
    else:
        if not isinstance(padding, (int, np.integer)) or isinstance(padding, bool) or padding < 0:
            raise ValueError(
                f"padding must be a non-negative int or one of {', '.join(PADDING_WORDS)}, got {padding!r}"
            )
        total = 2 * padding
    if f > n + total:
        raise ValueError(
            f"kernel size f={f} is larger than the padded input n + padding = {n + total}"
        )
    return (n + total - f) // stride + 1


def _prepare(x, kernel, stride, padding):
    """Check everything once for both implementations: padded x (H, W, C), kernels (kh, kw, C, K)."""
    image, was_2d = _as_image(x)
    kernels, single = _as_kernels(kernel, image.shape[2], np.shape(x))
    strides = int_pair(stride, "stride", minimum=1)
    kh, kw = kernels.shape[:2]
    amounts = padding_amounts(image.shape[:2], (kh, kw), strides, padding)
    # No padding ("valid") needs no padded copy: both implementations only read the input.
    padded = image if amounts == ((0, 0), (0, 0)) else pad(image, amounts)
    if kh > padded.shape[0] or kw > padded.shape[1]:
        raise ValueError(
            f"kernel of size {kh}×{kw} is larger than the padded input of size "
            f"{padded.shape[0]}×{padded.shape[1]} (x shape {np.shape(x)}, padding {padding!r})"
        )
    # Integers become float64 (exact for the lectures' small examples); float32 stays float32 (fast).
    dtype = np.result_type(image.dtype, kernels.dtype, np.float32)
    return padded.astype(dtype, copy=False), kernels.astype(dtype, copy=False), strides, single


def _shape_result(result, single):
    """(H', W', K) → (H', W') when one filter was given."""
    return result[..., 0] if single else result


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------
def conv2d_loop(x, kernel, stride=1, padding="valid"):
    """Convolution (cross-correlation) with plain loops: the definition, one output value at a time.

    Same arguments and result as `conv2d`; much slower, much easier to follow.
    """
    padded, kernels, (sh, sw), single = _prepare(x, kernel, stride, padding)
    kh, kw, _, n_filters = kernels.shape
    out_h = (padded.shape[0] - kh) // sh + 1
    out_w = (padded.shape[1] - kw) // sw + 1
    result = np.zeros((out_h, out_w, n_filters), dtype=padded.dtype)
    for i in range(out_h):
        for j in range(out_w):
            # The patch of the input under the kernel when it sits at output position (i, j).
            window = padded[i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            for k in range(n_filters):
                result[i, j, k] = np.sum(window * kernels[:, :, :, k])
    return _shape_result(result, single)


def conv2d(x, kernel, stride=1, padding="valid"):
    """Convolution as deep learning defines it (cross-correlation: the kernel is NOT flipped).

    x: (H, W) or (H, W, C). kernel: (kh, kw), (kh, kw, C) or (kh, kw, C, K).
    stride: int or (sh, sw). padding: "valid", "same" (as Keras), "full", int p or (ph, pw).
    Returns (H', W') for a single kernel, (H', W', K) for a stack of K kernels.
    """
    padded, kernels, (sh, sw), single = _prepare(x, kernel, stride, padding)
    kh, kw, channels, n_filters = kernels.shape
    out_h = (padded.shape[0] - kh) // sh + 1
    out_w = (padded.shape[1] - kw) // sw + 1
    planes = np.ascontiguousarray(padded.transpose(2, 0, 1))  # (C, H, W): each channel contiguous
    # taps[i, j, c] is what weight (i, j, c) multiplies at every output position: the input
    # shifted by (i, j) and sampled every stride-th pixel.
    taps = np.empty((kh, kw, channels, out_h, out_w), dtype=padded.dtype)
    for i in range(kh):
        for j in range(kw):
            taps[i, j] = planes[
                :, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw
            ]
    # (K, kh·kw·C) @ (kh·kw·C, positions): every multiply-and-add of the loop version in one matmul.
    weights = kernels.reshape(kh * kw * channels, n_filters).T
    result = weights @ taps.reshape(kh * kw * channels, out_h * out_w)
    return _shape_result(result.T.reshape(out_h, out_w, n_filters), single)


def true_conv2d(x, kernel, stride=1, padding="valid"):
    """Convolution in the mathematical sense: flip the kernel top-bottom and left-right, then slide.

    Deep-learning libraries skip the flip (their filters are learned, so a flipped filter is
    just another filter); signal processing keeps it. For a symmetric kernel both agree.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim < 2:
        raise ValueError(
            f"kernel must be (kh, kw), (kh, kw, C) or (kh, kw, C, K), got shape {kernel.shape}"
        )
    return conv2d(x, kernel[::-1, ::-1], stride=stride, padding=padding)


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------
def pool2d(x, size=2, stride=None, mode="max", padding="valid"):
    """Max or average pooling, each channel on its own (depth in = depth out).

    x: (H, W) or (H, W, C). size and stride: int or pair; stride defaults to size.
    mode: "max" or "avg". padding: "valid" or "same" (as Keras: output ceil(n / s); the padded
    border is ignored, so it never wins a max and does not count in an average).
    """
    if not isinstance(mode, str) or mode.lower() not in POOL_MODES:
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding for pooling must be 'valid' or 'same', got {padding!r}")
    image, was_2d = _as_image(x)
    if np.issubdtype(image.dtype, np.floating) and np.isnan(image).any():
        # Libraries disagree on NaN in a pooling window (some skip it, some propagate it), so a
        # NaN pixel is refused rather than answered one way or the other.
        where = tuple(int(i) for i in np.argwhere(np.isnan(image))[0])
        raise ValueError(
            f"x holds NaN (first at index {where[:2] if was_2d else where}); "
            f"pooling is undefined for missing pixels: fill or mask them first"
        )
    ph, pw = int_pair(size, "size")
    if ph < 1 or pw < 1:
        raise ValueError(f"size must be at least 1 in both directions, got {size!r}")
    strides = int_pair(size if stride is None else stride, "stride", minimum=1)
    amounts = padding_amounts(image.shape[:2], (ph, pw), strides, padding)
    # NaN marks the padded border; nanmax / nanmean then skip it.
    padded = pad(image.astype(np.result_type(image.dtype, np.float32)), amounts, value=np.nan)
    if ph > padded.shape[0] or pw > padded.shape[1]:
        raise ValueError(
            f"pool size {ph}×{pw} is larger than the input of size {padded.shape[0]}×{padded.shape[1]} "
            f"(x shape {np.shape(x)}, padding {padding!r})"
        )
    windows = sliding_window_view(padded, (ph, pw), axis=(0, 1))[:: strides[0], :: strides[1]]
    if amounts == ((0, 0), (0, 0)):
        reduce = np.max if mode.lower() == "max" else np.mean
    else:
        reduce = np.nanmax if mode.lower() == "max" else np.nanmean
    result = reduce(windows, axis=(-2, -1))
    return result[..., 0] if was_2d else result


def global_avg_pool2d(x):
    """The mean of each channel over all positions: (H, W, C) → (C,), (H, W) → a scalar."""
    image, was_2d = _as_image(x)
    result = image.mean(axis=(0, 1))
    return result[0] if was_2d else result


def global_max_pool2d(x):
    """The largest value of each channel: (H, W, C) → (C,), (H, W) → a scalar."""
    image, was_2d = _as_image(x)
    result = image.max(axis=(0, 1))
    return result[0] if was_2d else result
