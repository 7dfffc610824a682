"""The exercises of notebook 02: reference solutions pass, typical mistakes get their hint."""

import numpy as np
import pytest

from cnnlib import labs, ops
from cnnlib.labs import ex02


# ------------------------------------------------------------------------------- reference answers
def loop_conv2d(image, kernel):
    kh, kw = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    return np.array(
        [[np.sum(image[i : i + kh, j : j + kw] * kernel) for j in range(w)] for i in range(h)]
    )


def conv2d_channels(image, kernel, bias):
    return sum(loop_conv2d(image[..., c], kernel[..., c]) for c in range(image.shape[-1])) + bias


def conv_backward(dout, x, w, b):
    kh, kw = w.shape[:2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for r in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            window = x[r : r + kh, c : c + kw, :]
            dw += window[..., None] * dout[r, c]
            dx[r : r + kh, c : c + kw, :] += (w * dout[r, c]).sum(axis=-1)
    return dx, dw, dout.sum(axis=(0, 1))


def stub(*args):
    raise NotImplementedError


def passes(exercise_id, answer, capsys):
    """labs.check prints one ✓ line for a right answer (and returns nothing)."""
    labs.check(exercise_id, answer)
    return capsys.readouterr().out.startswith("✓ ")


def test_every_exercise_of_notebook_02_is_registered():
    ids = {i for i in labs.EXERCISES if i.startswith("02.")}
    assert ids == {
        "02.predict_value",
        "02.conv2d",
        "02.conv_layer_shape",
        "02.multichannel",
        "02.diagonal_kernel",
        "02.conv_backward",
    }
    kinds = {labs.REGISTRY[i].kind for i in ids}
    assert kinds == {"predict", "implement", "design"}
    assert "stretch" in {labs.REGISTRY[i].difficulty for i in ids}


@pytest.mark.parametrize(
    "exercise_id, stub_answer",
    [
        ("02.predict_value", None),
        ("02.conv2d", stub),
        ("02.conv_layer_shape", {"output shape": None, "parameters": None}),
        ("02.multichannel", stub),
        ("02.diagonal_kernel", None),
        ("02.conv_backward", stub),
    ],
)
def test_the_stub_is_not_attempted_yet(exercise_id, stub_answer, capsys):
    labs.check(exercise_id, stub_answer)
    assert "not attempted yet" in capsys.readouterr().out


# ------------------------------------------------------------------------------ 02.predict_value
def test_predict_value_right(capsys):
    assert passes("02.predict_value", -71, capsys)


@pytest.mark.parametrize(
    "value, hint",
    [
        (71, "flipped kernel"),
        (113, "the first index is the row"),
        (158, "indices start at 0"),
    ],
)
def test_predict_value_wrong(value, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.predict_value", value)


# ------------------------------------------------------------------------------------- 02.conv2d
def test_conv2d_reference_passes(capsys):
    assert passes("02.conv2d", loop_conv2d, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, k: ops.true_conv2d(x, k), "flips the kernel"),
        (lambda x, k: ops.conv2d(x, k[::-1, :]), "flipped upside down"),
        (lambda x, k: ops.conv2d(x, k, padding="same"), "'valid' convolution"),
        (lambda x, k: ops.conv2d(x, k)[:-1, :-1], "off by one"),
        (lambda x, k: ops.conv2d(x.T, k.T), "rows and columns are swapped"),
    ],
)
def test_conv2d_typical_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.conv2d", wrong)


def test_conv2d_a_crash_names_the_input():
    with pytest.raises(AssertionError, match="raised IndexError.*on a random"):
        labs.check("02.conv2d", lambda x, k: x[100])


# ---------------------------------------------------------------------------- 02.conv_layer_shape
def test_conv_layer_shape_right_with_or_without_batch_axis(capsys):
    assert passes("02.conv_layer_shape", {"output shape": (28, 28, 8), "parameters": 608}, capsys)
    assert passes(
        "02.conv_layer_shape", {"output shape": (None, 28, 28, 8), "parameters": 608}, capsys
    )


def test_conv_layer_shape_agrees_with_keras(capsys):
    import keras

    layer = keras.layers.Conv2D(ex02.LAYER_FILTERS, ex02.LAYER_KERNEL)
    layer.build((None,) + ex02.LAYER_INPUT)
    shape = tuple(layer.compute_output_shape((None,) + ex02.LAYER_INPUT))[1:]
    assert passes(
        "02.conv_layer_shape", {"output shape": shape, "parameters": layer.count_params()}, capsys
    )


@pytest.mark.parametrize(
    "prediction, hint",
    [
        ({"output shape": (28, 28, 8), "parameters": 600}, "biases are missing"),
        ({"output shape": (28, 28, 8), "parameters": 208}, "slice per input channel"),
        ({"output shape": (28, 28, 8), "parameters": 76}, "that is one filter"),
        ({"output shape": (32, 32, 8), "parameters": 608}, "adds no padding"),
        ({"output shape": (28, 28, 3), "parameters": 608}, "one channel per filter"),
        ({"output shape": (8, 28, 28), "parameters": 608}, "channels last"),
    ],
)
def test_conv_layer_shape_typical_mistakes(prediction, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.conv_layer_shape", prediction)


def test_conv_layer_shape_wrong_format():
    with pytest.raises(AssertionError, match="two keys"):
        labs.check("02.conv_layer_shape", (28, 28, 8))


# ------------------------------------------------------------------------------- 02.multichannel
def test_multichannel_reference_passes(capsys):
    assert passes("02.multichannel", conv2d_channels, capsys)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (
            lambda x, k, b: (
                np.stack([loop_conv2d(x[..., c], k[..., c]) for c in range(x.shape[-1])], axis=-1)
                + b
            ),
            "channels were not summed",
        ),
        (lambda x, k, b: conv2d_channels(x, k, b) - b, "bias is missing"),
        (lambda x, k, b: conv2d_channels(x, k, 0) + x.shape[-1] * b, "once per channel"),
        (lambda x, k, b: conv2d_channels(x, k, 0) / x.shape[-1] + b, "averaged"),
        (lambda x, k, b: loop_conv2d(x[..., 0], k[..., 0]) + b, "only the first channel"),
    ],
)
def test_multichannel_typical_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.multichannel", wrong)


# ---------------------------------------------------------------------------- 02.diagonal_kernel
@pytest.mark.parametrize(
    "kernel",
    [
        [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]],  # deck 004's 45° detector
        [[2, -1, -1], [-1, 2, -1], [-1, -1, 2]],  # and its 135° detector
        np.eye(5) * 4 - 1,  # a larger one: 5 × 5, sum −5 … +0
    ],
)
def test_diagonal_kernel_passes(kernel, capsys):
    kernel = np.asarray(kernel, dtype=float)
    kernel = kernel - kernel.mean()  # sum 0: blind to plain brightness
    assert passes("02.diagonal_kernel", kernel, capsys)


@pytest.mark.parametrize(
    "kernel, hint",
    [
        (np.ones((3, 3)), "sum to 0|as much negative"),  # a blur: every line alike
        (np.eye(3), "plain brightness"),  # the diagonal, but no negatives
        (-np.eye(3), "POSITIVE"),  # all weights negative
        ([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], "as much negative"),  # a horizontal detector
    ],
)
def test_diagonal_kernel_typical_mistakes(kernel, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.diagonal_kernel", kernel)


def test_diagonal_kernel_rejects_a_wrong_shape():
    with pytest.raises(AssertionError, match="at most 7 × 7"):
        labs.check("02.diagonal_kernel", np.zeros((3, 3, 3)))


# ------------------------------------------------------------------------------- 02.conv_backward
def test_conv_backward_reference_passes(capsys):
    labs.check("02.conv_backward", conv_backward)
    out = capsys.readouterr().out
    assert out.startswith("✓ ") and "relative errors dx" in out


def test_conv_backward_vectorised_reference_passes(capsys):
    def vectorised(dout, x, w, b):
        dx = np.stack(
            [
                sum(
                    ops.true_conv2d(dout[..., k], w[:, :, c, k], padding="full")
                    for k in range(w.shape[-1])
                )
                for c in range(x.shape[-1])
            ],
            axis=-1,
        )
        dw = np.stack(
            [
                np.stack([ops.conv2d(x[..., c], dout[..., k]) for k in range(w.shape[-1])], axis=-1)
                for c in range(x.shape[-1])
            ],
            axis=-2,
        )
        return dx, dw, dout.sum(axis=(0, 1))

    assert passes("02.conv_backward", vectorised, capsys)


def _with(dx=None, dw=None, db=None):
    def answer(dout, x, w, b):
        right = conv_backward(dout, x, w, b)
        return tuple(
            fix(dout, x, w, b) if fix else value for fix, value in zip((dx, dw, db), right)
        )

    return answer


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_with(dx=lambda d, x, w, b: ex02._full_correlate(d, w, flip=False)), "FLIPPED"),
        (_with(dx=lambda d, x, w, b: np.zeros(d.shape)), "shape of x"),
        (_with(dw=lambda d, x, w, b: ex02._weight_gradient(x, d, flip=True)), "without flipping"),
        (_with(db=lambda d, x, w, b: d.sum()), "one bias per filter"),
        (_with(db=lambda d, x, w, b: d.mean(axis=(0, 1))), "not average"),
    ],
)
def test_conv_backward_typical_mistakes(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("02.conv_backward", wrong)


def test_conv_backward_must_return_three_gradients():
    with pytest.raises(AssertionError, match=r"\(dx, dw, db\)"):
        labs.check("02.conv_backward", lambda d, x, w, b: conv_backward(d, x, w, b)[:2])


# ------------------------------------------------------------------ learner trial (issue 19)
# Each case below was a false accept, a false reject or a crash before the trial fixed it.
@pytest.mark.parametrize(
    "reference, name",
    [
        (lambda image, kernel: ops.conv2d(image, kernel), "cnnlib.ops.conv2d"),
        (lambda image, kernel: ops.conv2d_loop(image, kernel), "cnnlib.ops.conv2d_loop"),
        (
            lambda image, kernel: ops.true_conv2d(image, kernel[::-1, ::-1]),
            "cnnlib.ops.true_conv2d",
        ),
    ],
)
def test_conv2d_calling_the_reference_is_not_done(reference, name):
    with pytest.raises(AssertionError, match=f"right numbers, but it calls {name}"):
        labs.check("02.conv2d", reference)


def test_conv2d_other_right_forms(capsys):
    def windows(image, kernel):
        view = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)
        return np.einsum("ijab,ab->ij", view, kernel)

    assert passes("02.conv2d", windows, capsys)
    assert passes("02.conv2d", lambda i, k: loop_conv2d(i, k).astype(np.float32).tolist(), capsys)


def test_multichannel_ops_on_the_whole_volume_is_not_done():
    with pytest.raises(AssertionError, match="on the whole \\(H, W, C\\) volume"):
        labs.check("02.multichannel", lambda image, kernel, bias: ops.conv2d(image, kernel) + bias)


def test_multichannel_ops_one_channel_at_a_time_is_allowed(capsys):
    def per_channel(image, kernel, bias):
        return sum(ops.conv2d(image[..., c], kernel[..., c]) for c in range(image.shape[-1])) + bias

    assert passes("02.multichannel", per_channel, capsys)


@pytest.mark.parametrize(
    "kernel",
    [
        np.full((3, 3), np.nan),
        np.array([[np.inf, -np.inf], [-np.inf, np.inf]]),
        np.array([[2.0, -1.0, np.nan], [-1.0, 2.0, -1.0], [-1.0, -1.0, 2.0]]),
    ],
)
def test_diagonal_kernel_refuses_nan_and_inf(kernel):
    """max() over NaN answers made every comparison False, so the kernel passed."""
    with np.errstate(all="ignore"):
        with pytest.raises(AssertionError, match="NaN or infinite"):
            labs.check("02.diagonal_kernel", kernel)


def test_diagonal_kernel_the_decks_line_detector_as_a_list(capsys):
    assert passes("02.diagonal_kernel", [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]], capsys)


@pytest.mark.parametrize(
    "shape, match",
    [
        (28, "should be a tuple"),
        ((28.5, 28, 8), "whole numbers"),
        ((28, 28, float("nan")), "whole numbers"),
    ],
)
def test_conv_layer_shape_wrong_shapes_get_a_sentence(shape, match):
    """An int shape used to crash with a TypeError."""
    with pytest.raises(AssertionError, match=match):
        labs.check("02.conv_layer_shape", {"output shape": shape, "parameters": 608})


@pytest.mark.parametrize(
    "prediction",
    [
        {"output shape": [np.int64(28), 28, 8], "parameters": np.int64(608)},
        {"output shape": (1, 28, 28, 8), "parameters": 608.0},
        {"output shape": (None, 28, 28, 8), "parameters": 608},
    ],
)
def test_conv_layer_shape_other_forms_of_the_right_answer(prediction, capsys):
    assert passes("02.conv_layer_shape", prediction, capsys)


def test_the_reveals_are_in_the_confirmations(capsys):
    labs.check("02.conv_layer_shape", {"output shape": (28, 28, 8), "parameters": 608})
    assert "Keras says (None, 28, 28, 8) and 608" in capsys.readouterr().out
    right = int(ops.conv2d(ex02.DECK_001_IMAGE, ex02.SOBEL_LEFT)[1, 2])
    labs.check("02.predict_value", np.int64(right))
    assert "the whole feature map is [[" in capsys.readouterr().out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "twelve"])
def test_predict_value_refuses_non_numbers(value):
    with pytest.raises(AssertionError, match="not right|expected a number|NaN|infinity"):
        labs.check("02.predict_value", value)


def test_conv_backward_a_ragged_db_is_a_sentence_not_a_crash():
    """np.asarray on a ragged db used to raise a ValueError out of the check."""

    def ragged_db(dout, x, w, b):
        dx, dw, _ = conv_backward(dout, x, w, b)
        return dx, dw, [[1.0, 2.0], [3.0]]

    with pytest.raises(AssertionError, match="expected an array of numbers"):
        labs.check("02.conv_backward", ragged_db)


# ------------------------------------------------ notebook 02's keras_conv, against the package's
# Notebook 02 writes Keras's side of every comparison out (kernel layout (kh, kw, C, K),
# set_weights, the batch axis); notebooks 03 and 04 and the unit tests call the package's copy,
# cnnlib.lessons.keras_reference.keras_conv. These tests fail when the two drift apart.
def notebook_function(notebook, name):
    """The source of the top-level `def name` in a code cell of notebooks/`notebook`."""
    import ast
    import json
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / notebook
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return ast.get_source_segment(source, node)
    raise AssertionError(f"{notebook} defines no function {name}")


def notebook_keras_conv(source=None):
    import keras

    scope = {"np": np, "keras": keras}
    exec(source or notebook_function("02_convolution.ipynb", "keras_conv"), scope)
    return scope["keras_conv"]


KERAS_CONV_CASES = [  # image shape, kernel shape, bias, Conv2D options
    ((7, 6), (3, 2), 0.0, {}),
    ((8, 8, 3), (3, 3, 3), 0.5, {}),
    ((9, 7, 2), (2, 3, 2, 4), [0.1, -0.2, 0.3, 0.0], {"strides": 2}),
    ((6, 6), (3, 3), -0.1, {"padding": "same", "activation": "relu"}),
    ((10, 9, 1), (3, 3, 1, 2), 0.0, {"dilation_rate": 2}),
]


@pytest.mark.parametrize("image_shape, kernel_shape, bias, options", KERAS_CONV_CASES)
def test_notebook_02s_keras_conv_is_the_packages(image_shape, kernel_shape, bias, options):
    from cnnlib.lessons.keras_reference import keras_conv

    random = np.random.default_rng(0)
    image, kernel = random.normal(size=image_shape), random.normal(size=kernel_shape)
    ours = notebook_keras_conv()(image, kernel, bias=np.asarray(bias, "float32"), **options)
    theirs = keras_conv(image, kernel, bias=bias, **options)
    assert ours.shape == theirs.shape
    assert np.allclose(ours, theirs, atol=1e-5)


def test_the_keras_conv_comparison_sees_a_change():
    from cnnlib.lessons.keras_reference import keras_conv

    source = notebook_function("02_convolution.ipynb", "keras_conv")
    changed = notebook_keras_conv(source.replace("set_weights([kernel,", "set_weights([-kernel,"))
    image, kernel = np.random.default_rng(1).normal(size=(6, 6)), np.ones((3, 3))
    assert not np.allclose(changed(image, kernel), keras_conv(image, kernel))
