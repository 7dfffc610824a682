"""cnnlib.ops against Keras / TensorFlow on many random shapes, and its error messages.

Both NumPy implementations (the loop and the vectorised default) must match TensorFlow for
every padding the contract names (valid, same, full, int, pair), strides 1–3 including unequal
ones, odd and even sizes, one or several channels and filters.
"""

import zlib

import numpy as np
import pytest
import scipy.signal

from cnnlib import ops

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

TOLERANCE = dict(rtol=1e-4, atol=1e-4)


def _random_conv_cases(count, seed):
    """Seeded (x shape, kernel shape, stride, padding) cases covering the contract."""
    rng = np.random.default_rng(seed)
    paddings = ["valid", "same", "full", 0, 1, 2, (1, 0), (0, 2), (2, 1)]
    cases = []
    for index in range(count):
        height, width = (int(v) for v in rng.integers(4, 14, size=2))
        channels = int(rng.choice([1, 2, 3]))
        filters = int(rng.choice([1, 2, 4]))
        kh, kw = (int(v) for v in rng.choice([1, 2, 3, 4, 5], size=2))
        stride = (
            (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            if index % 3
            else int(rng.integers(1, 4))
        )
        padding = paddings[index % len(paddings)]
        cases.append(((height, width, channels), (kh, kw, channels, filters), stride, padding))
    return cases


CONV_CASES = _random_conv_cases(54, seed=2026)


def _tf_padding(padding, input_hw, kernel_hw, stride):
    """The same padding in tf.nn.conv2d's terms: "VALID", "SAME" or explicit [[0,0],[t,b],[l,r],[0,0]]."""
    if padding in ("valid", "same"):
        return padding.upper()
    (top, bottom), (left, right) = ops.padding_amounts(input_hw, kernel_hw, stride, padding)
    return [[0, 0], [top, bottom], [left, right], [0, 0]]


def _tf_conv(x, kernel, stride, padding):
    strides = (stride, stride) if isinstance(stride, int) else stride
    tf_padding = _tf_padding(padding, x.shape[:2], kernel.shape[:2], stride)
    return tf.nn.conv2d(x[None], kernel, strides=(1, *strides, 1), padding=tf_padding)[0].numpy()


def _case_id(case):
    x_shape, k_shape, stride, padding = case
    return f"x{x_shape}-k{k_shape}-s{stride}-p{padding}".replace(" ", "")


@pytest.mark.parametrize("case", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_conv2d_and_loop_match_tf_nn_conv2d(case):
    x_shape, k_shape, stride, padding = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal(k_shape).astype(np.float32)
    padded_h = x_shape[0] + sum(ops.padding_amounts(x_shape[:2], k_shape[:2], stride, padding)[0])
    padded_w = x_shape[1] + sum(ops.padding_amounts(x_shape[:2], k_shape[:2], stride, padding)[1])
    if k_shape[0] > padded_h or k_shape[1] > padded_w:
        with pytest.raises(ValueError, match="larger than the padded input"):
            ops.conv2d(x, kernel, stride, padding)
        return
    expected = _tf_conv(x, kernel, stride, padding)
    vectorised = ops.conv2d(x, kernel, stride=stride, padding=padding)
    loop = ops.conv2d_loop(x, kernel, stride=stride, padding=padding)
    assert vectorised.shape == expected.shape
    np.testing.assert_allclose(vectorised, expected, **TOLERANCE)
    np.testing.assert_allclose(loop, expected, **TOLERANCE)


KERAS_CASES = [
    # (x shape, kernel size, filters, strides, padding)
    ((7, 7, 1), (3, 3), 1, (1, 1), "valid"),
    ((8, 6, 3), (3, 3), 4, (2, 2), "same"),
    ((9, 8, 2), (2, 3), 3, (2, 1), "same"),
    ((10, 11, 3), (5, 4), 2, (3, 2), "valid"),
    ((6, 6, 1), (4, 4), 2, (3, 3), "same"),
    ((12, 9, 4), (3, 1), 5, (1, 3), "same"),
]


@pytest.mark.parametrize("x_shape, kernel_size, filters, strides, padding", KERAS_CASES)
def test_conv2d_matches_a_keras_conv2d_layer_with_the_same_weights(
    x_shape, kernel_size, filters, strides, padding
):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = rng.standard_normal((*kernel_size, x_shape[2], filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    layer = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, dtype="float32"
    )
    layer.build((None, *x_shape))
    layer.set_weights([kernel, bias])
    expected = keras.ops.convert_to_numpy(layer(x[None]))[0]
    np.testing.assert_allclose(
        ops.conv2d(x, kernel, strides, padding) + bias, expected, **TOLERANCE
    )
    np.testing.assert_allclose(
        ops.conv2d_loop(x, kernel, strides, padding) + bias, expected, **TOLERANCE
    )


def test_output_shapes_follow_the_kernel_rank():
    x2 = np.ones((6, 5))
    x3 = np.ones((6, 5, 3))
    assert ops.conv2d(x2, np.ones((3, 3))).shape == (4, 3)
    assert ops.conv2d(x2, np.ones((3, 3, 1))).shape == (4, 3)
    assert ops.conv2d(x2, np.ones((3, 3, 1, 4))).shape == (4, 3, 4)
    assert ops.conv2d(x3, np.ones((3, 3, 3))).shape == (4, 3)
    assert ops.conv2d(x3, np.ones((3, 3, 3, 2))).shape == (4, 3, 2)
    assert ops.conv2d_loop(x3, np.ones((3, 3, 3, 2))).shape == (4, 3, 2)


def test_integer_inputs_give_exact_results_in_both_implementations():
    image = np.arange(30).reshape(5, 6)
    kernel = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    expected = np.array(
        [
            [image[i, j + 2] + image[i + 1, j] + image[i + 2, j + 2] for j in range(4)]
            for i in range(3)
        ]
    )
    np.testing.assert_array_equal(ops.conv2d(image, kernel), expected)
    np.testing.assert_array_equal(ops.conv2d_loop(image, kernel), expected)


def test_a_boolean_image_counts_as_zeros_and_ones():
    binary = np.eye(5, dtype=bool)
    np.testing.assert_array_equal(
        ops.conv2d(binary, np.ones((3, 3))), ops.conv2d(binary.astype(int), np.ones((3, 3)))
    )
    np.testing.assert_array_equal(ops.pool2d(binary), [[1, 0], [0, 1]])


def test_float32_in_float32_out():
    x = np.ones((5, 5), np.float32)
    assert ops.conv2d(x, np.ones((3, 3), np.float32)).dtype == np.float32


@pytest.mark.parametrize("mode", ["valid", "full"])
@pytest.mark.parametrize(
    "shape, kernel_shape", [((7, 9), (3, 3)), ((8, 6), (2, 4)), ((5, 5), (5, 1))]
)
def test_true_conv2d_is_scipy_convolve2d(mode, shape, kernel_shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal(kernel_shape)
    np.testing.assert_allclose(
        ops.true_conv2d(x, kernel, padding=mode), scipy.signal.convolve2d(x, kernel, mode=mode)
    )
    # And conv2d (no flip) is scipy's correlate2d.
    np.testing.assert_allclose(
        ops.conv2d(x, kernel, padding=mode), scipy.signal.correlate2d(x, kernel, mode=mode)
    )


def test_true_conv2d_flips_a_multichannel_kernel_spatially_only():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 6, 2))
    kernel = rng.standard_normal((3, 3, 2, 3))
    np.testing.assert_allclose(ops.true_conv2d(x, kernel), ops.conv2d(x, kernel[::-1, ::-1]))


@pytest.mark.parametrize(
    "n, f, stride, expected",
    [
        (7, 3, 1, (1, 1)),
        (6, 3, 2, (0, 1)),
        (5, 2, 1, (0, 1)),
        (7, 4, 3, (1, 2)),
        (8, 4, 3, (1, 1)),
        (4, 5, 1, (2, 2)),
        (9, 3, 3, (0, 0)),
    ],
)
def test_same_padding_puts_the_extra_row_at_the_bottom(n, f, stride, expected):
    (top, bottom), (left, right) = ops.padding_amounts((n, n), (f, f), stride, "same")
    assert (top, bottom) == expected == (left, right)


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------
POOL_CASES = [
    # (x shape, size, stride, padding)
    ((6, 6, 1), 2, None, "valid"),
    ((7, 7, 3), 2, None, "valid"),
    ((7, 7, 3), 2, None, "same"),
    ((9, 8, 2), 3, 2, "valid"),
    ((9, 8, 2), 3, 2, "same"),
    ((10, 7, 4), (2, 3), (1, 2), "same"),
    ((10, 7, 4), (3, 2), (3, 1), "valid"),
    ((5, 5, 1), 3, 1, "same"),
    ((4, 6, 2), 4, 3, "same"),
]


@pytest.mark.parametrize("x_shape, size, stride, padding", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_matches_keras_pooling_layers(x_shape, size, stride, padding, mode):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape).astype(np.float32)
    layer_class = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    layer = layer_class(pool_size=size, strides=stride, padding=padding)
    expected = keras.ops.convert_to_numpy(layer(x[None]))[0]
    result = ops.pool2d(x, size=size, stride=stride, mode=mode, padding=padding)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, **TOLERANCE)
    # A 2-D input is pooled like its single channel.
    np.testing.assert_allclose(
        ops.pool2d(x[..., 0], size, stride, mode, padding), expected[..., 0], **TOLERANCE
    )


def test_global_pooling_matches_keras():
    x = np.random.default_rng(5).standard_normal((5, 7, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(keras.layers.GlobalAveragePooling2D()(x[None]))[0]
    np.testing.assert_allclose(ops.global_avg_pool2d(x), expected, **TOLERANCE)
    expected = keras.ops.convert_to_numpy(keras.layers.GlobalMaxPooling2D()(x[None]))[0]
    np.testing.assert_allclose(ops.global_max_pool2d(x), expected, **TOLERANCE)
    assert np.ndim(ops.global_avg_pool2d(x[..., 0])) == 0


# --------------------------------------------------------------------------------------------
# output_size
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [5, 6, 7, 28])
@pytest.mark.parametrize("f", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_output_size_agrees_with_conv2d(n, f, stride):
    x = np.zeros((n, n))
    kernel = np.zeros((f, f))
    for padding in (0, 1, 2, "valid", "same", "full"):
        assert ops.conv2d(x, kernel, stride, padding).shape[0] == ops.output_size(
            n, f, padding, stride
        )


def test_output_size_is_the_lecture_formula():
    assert ops.output_size(5, 3) == 3
    assert ops.output_size(6, 3) == 4
    assert ops.output_size(5, 3, padding=1) == 5
    assert ops.output_size(7, 3, padding=0, stride=2) == 3
    assert ops.output_size(32, 5, padding=2, stride=1) == 32
    assert ops.output_size(7, 3, "same", 2) == 4


# --------------------------------------------------------------------------------------------
# Errors: a ValueError naming the argument and the shapes, never a NumPy error from inside.
# --------------------------------------------------------------------------------------------
IMAGE = np.zeros((5, 5))
RGB = np.zeros((5, 5, 3))
K3 = np.zeros((3, 3))

ERROR_CASES = [
    (
        "x rank 4",
        lambda: ops.conv2d(np.zeros((1, 5, 5, 1)), K3),
        r"x must be \(H, W\) or \(H, W, C\), got shape \(1, 5, 5, 1\).*batch",
    ),
    ("x rank 1", lambda: ops.conv2d(np.zeros(5), K3), r"x must be .* got shape \(5,\)"),
    (
        "kernel rank 1",
        lambda: ops.conv2d(IMAGE, np.zeros(3)),
        r"kernel must be .* got shape \(3,\)",
    ),
    (
        "kernel rank 5",
        lambda: ops.conv2d(IMAGE, np.zeros((3, 3, 1, 1, 1))),
        r"kernel must be .* got shape \(3, 3, 1, 1, 1\)",
    ),
    (
        "channel mismatch",
        lambda: ops.conv2d(RGB, np.zeros((3, 3, 2))),
        r"kernel has 2 input channel\(s\) but x has 3.*\(3, 3, 2\).*\(5, 5, 3\)",
    ),
    (
        "2-D kernel on RGB",
        lambda: ops.conv2d(RGB, K3),
        r"kernel has 1 input channel\(s\) but x has 3.*\(3, 3\)",
    ),
    (
        "loop channel mismatch",
        lambda: ops.conv2d_loop(RGB, np.zeros((3, 3, 1, 4))),
        r"kernel has 1 input channel",
    ),
    (
        "kernel too large",
        lambda: ops.conv2d(np.zeros((2, 4)), K3),
        r"kernel of size 3×3 is larger than the padded input of size 2×4",
    ),
    (
        "kernel too large with padding",
        lambda: ops.conv2d(np.zeros((2, 2)), np.zeros((5, 5)), padding=1),
        r"larger than the padded input of size 4×4",
    ),
    ("stride 0", lambda: ops.conv2d(IMAGE, K3, stride=0), r"stride must be at least 1.*got 0"),
    (
        "stride pair with 0",
        lambda: ops.conv2d(IMAGE, K3, stride=(1, 0)),
        r"stride must be at least 1.*\(1, 0\)",
    ),
    (
        "stride float",
        lambda: ops.conv2d(IMAGE, K3, stride=1.5),
        r"stride must be an int or a pair of ints",
    ),
    (
        "stride triple",
        lambda: ops.conv2d(IMAGE, K3, stride=(1, 2, 3)),
        r"stride must be an int or a pair",
    ),
    (
        "negative padding",
        lambda: ops.conv2d(IMAGE, K3, padding=-1),
        r"padding must not be negative, got -1",
    ),
    (
        "negative padding pair",
        lambda: ops.conv2d(IMAGE, K3, padding=(1, -2)),
        r"padding must not be negative, got \(1, -2\)",
    ),
    (
        "unknown padding",
        lambda: ops.conv2d(IMAGE, K3, padding="sane"),
        r"padding must be one of valid, same, full.*'sane'",
    ),
    (
        "padding float",
        lambda: ops.conv2d(IMAGE, K3, padding=1.0),
        r"padding must be an int or a pair",
    ),
    (
        "non-numeric x",
        lambda: ops.conv2d(np.array([["a", "b"], ["c", "d"]]), np.zeros((1, 1))),
        r"x must hold real numbers",
    ),
    (
        "complex x",
        lambda: ops.conv2d(np.zeros((3, 3), complex), np.zeros((1, 1))),
        r"x must hold real numbers, got dtype complex128",
    ),
    (
        "string kernel",
        lambda: ops.conv2d(IMAGE, np.array([["a"]])),
        r"kernel must hold real numbers",
    ),
    (
        "true conv channel mismatch",
        lambda: ops.true_conv2d(RGB, np.zeros((3, 3, 4))),
        r"kernel has 4 input channel",
    ),
    (
        "pool unknown mode",
        lambda: ops.pool2d(IMAGE, mode="min"),
        r"mode must be 'max' or 'avg', got 'min'",
    ),
    (
        "pool unknown padding",
        lambda: ops.pool2d(IMAGE, padding="full"),
        r"padding for pooling must be 'valid' or 'same', got 'full'",
    ),
    ("pool stride 0", lambda: ops.pool2d(IMAGE, stride=0), r"stride must be at least 1"),
    ("pool size 0", lambda: ops.pool2d(IMAGE, size=0), r"size must be at least 1"),
    (
        "pool too large",
        lambda: ops.pool2d(np.zeros((2, 2)), size=3),
        r"pool size 3×3 is larger than the input of size 2×2",
    ),
    (
        "pool rank 4",
        lambda: ops.pool2d(np.zeros((1, 4, 4, 1))),
        r"x must be \(H, W\) or \(H, W, C\)",
    ),
    (
        "global pool rank 1",
        lambda: ops.global_avg_pool2d(np.zeros(4)),
        r"x must be \(H, W\) or \(H, W, C\)",
    ),
    (
        "output_size kernel too large",
        lambda: ops.output_size(5, 7),
        r"kernel size f=7 is larger than the padded input n \+ padding = 5",
    ),
    (
        "output_size stride 0",
        lambda: ops.output_size(5, 3, stride=0),
        r"stride must be an int of at least 1",
    ),
    (
        "output_size negative padding",
        lambda: ops.output_size(5, 3, padding=-1),
        r"padding must be a non-negative int",
    ),
    ("output_size bad n", lambda: ops.output_size(0, 3), r"n must be a positive int, got 0"),
    (
        "output_size unknown padding",
        lambda: ops.output_size(5, 3, padding="wide"),
        r"padding must be one of",
    ),
]


@pytest.mark.parametrize(
    "call, message", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Bad input that used to slip through (issue 10, item 6)
# ---------------------------------------------------------------------------------------------


def test_pad_refuses_a_huge_padding_before_allocating():
    with pytest.raises(
        ValueError, match=r"would make an array of shape \(2000005, 2000005\).*typo"
    ):
        ops.pad(np.zeros((5, 5)), 10**6)


@pytest.mark.parametrize("n, f", [(0, 3), (-4, 3), (5, 0), (5, -1)])
def test_padding_amounts_refuses_sizes_below_one(n, f):
    with pytest.raises(ValueError, match=r"(input_size|kernel_size) must be at least 1"):
        ops.padding_amounts(n, f, 1, "same")


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_refuses_nan_pixels_consistently(padding, mode):
    x = np.ones((4, 4, 2))
    x[1, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"x holds NaN \(first at index \(1, 2, 1\)\)"):
        ops.pool2d(x, 2, mode=mode, padding=padding)


@pytest.mark.parametrize("stride", [1, 2, (1, 3), (2, 1)])
@pytest.mark.parametrize("padding", ["valid", "same", "full", 2, (0, 1)])
def test_fast_conv2d_equals_the_loop(stride, padding):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 11, 3))
    kernels = rng.normal(size=(3, 2, 3, 4))
    np.testing.assert_allclose(
        ops.conv2d(x, kernels, stride, padding),
        ops.conv2d_loop(x, kernels, stride, padding),
        atol=1e-10,
    )


@pytest.mark.parametrize("value", [-1, 256, float("nan"), 0.5])
def test_pad_refuses_a_value_a_uint8_image_cannot_hold(value):
    with pytest.raises(ValueError, match="cannot be stored in an array of dtype uint8"):
        ops.pad(np.zeros((3, 3), np.uint8), 1, value=value)


def test_pad_keeps_values_that_fit():
    padded = ops.pad(np.zeros((2, 2), np.uint8), 1, value=255)
    assert padded.dtype == np.uint8 and padded[0, 0] == 255
    assert np.isnan(ops.pad(np.zeros((2, 2)), 1, value=float("nan"))[0, 0])


@pytest.mark.parametrize(
    "x", [np.array([[1, "a"], [2, 3]], dtype=object), np.array([["a", "b"], ["c", "d"]])]
)
def test_pad_refuses_arrays_that_are_not_numbers(x):
    with pytest.raises(ValueError, match="x must hold real numbers"):
        ops.pad(x, 1)
