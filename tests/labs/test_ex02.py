"""Exercises of notebook 02, answered as learners answer them.

For every exercise: the stub is "not attempted yet"; right answers written the ways learners
write them pass; the usual mistakes fail with the hint aimed at their cause; made-up answers fail;
and the tricks (tests/labs/learners.py) fail too. Also here: the lecture's own code does not
answer an exercise above it (2.2, 2.4 and 2.5 were reworked for that), and notebook 02's visible
`keras_conv` agrees with the package's copy.
"""

import inspect
import re

import numpy as np
import pytest
import scipy.signal
from learners import (
    FORBIDDEN,
    ArraySubclass,
    PeekingArray,
    PeekingFloat,
    assert_wrong,
    cases,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    in_a_thread,
    lazily,
    peeking,
    profiler_off,
    stub,
    verdict_of,
)

from cnnlib import labs, ops
from cnnlib.labs import core, ex02
from cnnlib.lessons.kernels import line_detector
from cnnlib.ops import true_conv2d as flipped_correlation

IDS = [
    "02.predict_value",
    "02.convolve2d",
    "02.conv_layer_shape",
    "02.multichannel",
    "02.diagonal_kernel",
    "02.conv_backward",
]


# ---------------------------------------------------------------------------------------------
# Answers written as learners write them
# ---------------------------------------------------------------------------------------------
def corr2d(x, kernel):
    """The lecture's loop (notebook 02, "Computing it: slide the window")."""
    kh, kw = kernel.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i : i + kh, j : j + kw] * kernel)
    return out


def convolve_scatter(image, kernel):
    """Every pixel adds its value times the kernel into the output."""
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] + kh - 1, image.shape[1] + kw - 1))
    for p in range(image.shape[0]):
        for q in range(image.shape[1]):
            out[p : p + kh, q : q + kw] += image[p, q] * kernel
    return out


def convolve_padded(image, kernel):
    """A border of zeros, then the lecture's loop with the kernel flipped both ways."""
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    return corr2d(padded, kernel[::-1, ::-1])


def convolve_formula(image, kernel):
    """The docstring's formula, term by term, skipping the pixels outside the image."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for a in range(kh):
                for b in range(kw):
                    if 0 <= i - a < h and 0 <= j - b < w:
                        out[i, j] += kernel[a, b] * image[i - a, j - b]
    return out


def layer_loops(image, kernels, biases):
    maps = [
        sum(corr2d(image[..., c], kernels[:, :, c, k]) for c in range(image.shape[-1])) + biases[k]
        for k in range(kernels.shape[-1])
    ]
    return np.stack(maps, axis=-1)


def layer_einsum(image, kernels, biases):
    kh, kw = kernels.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(image, (kh, kw), axis=(0, 1))
    return np.einsum("ijcab,abck->ijk", windows, kernels) + biases


def layer_neuron_formula(image, kernels, biases):
    """z[r, c, m] = b_m + Σ_i Σ_j Σ_k x[r + i, c + j, k] · w[i, j, k, m], for every neuron."""
    kh, kw, channels, filters = kernels.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1, filters))
    for r, c, m in np.ndindex(out.shape):
        out[r, c, m] = biases[m] + np.sum(image[r : r + kh, c : c + kw, :] * kernels[..., m])
    return out


def conv_backward(dout, x, w, b):
    kh, kw = w.shape[:2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for r in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            dw += x[r : r + kh, c : c + kw, :][..., None] * dout[r, c]
            dx[r : r + kh, c : c + kw, :] += (w * dout[r, c]).sum(axis=-1)
    return dx, dw, dout.sum(axis=(0, 1))


def conv_backward_vectorised(dout, x, w, b):
    dx = np.stack(
        [
            sum(convolve_scatter(dout[..., k], w[:, :, c, k]) for k in range(w.shape[-1]))
            for c in range(x.shape[-1])
        ],
        axis=-1,
    )
    dw = np.stack(
        [
            np.stack([corr2d(x[..., c], dout[..., k]) for k in range(w.shape[-1])], axis=-1)
            for c in range(x.shape[-1])
        ],
        axis=-2,
    )
    return [dx, dw, dout.sum(axis=(0, 1))]


def dx_unflipped(dout, x, w, b):
    """dout slid over the kernel as it is (full cross-correlation): the kernel not flipped."""
    kh, kw = w.shape[:2]
    padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    return np.stack(
        [
            sum(corr2d(padded[..., k], w[:, :, c, k]) for k in range(w.shape[-1]))
            for c in range(x.shape[-1])
        ],
        axis=-1,
    )


def dw_flipped(dout, x, w, b):
    """dout slid over x flipped (a true convolution) instead of as it is."""
    return np.stack(
        [
            np.stack([corr2d(x[..., c], dout[::-1, ::-1, k]) for k in range(w.shape[-1])], axis=-1)
            for c in range(x.shape[-1])
        ],
        axis=-2,
    )


def backward_with(dx=None, dw=None, db=None):
    """conv_backward with one gradient replaced by a learner's slip."""

    def answer(dout, x, w, b):
        right = conv_backward(dout, x, w, b)
        return tuple(
            slip(dout, x, w, b) if slip else value for slip, value in zip((dx, dw, db), right)
        )

    return answer


X_SHAPE = np.maximum(np.eye(5), np.fliplr(np.eye(5)))
X3 = np.array([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
LAPLACIAN = np.array([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]])
PREDICTED = int(ops.conv2d(ex02.IMAGE_5X5, ex02.SOBEL_LEFT)[1, 2])


STUBS = {
    "02.predict_value": None,
    "02.convolve2d": stub,
    "02.conv_layer_shape": {"output shape": None, "parameters": None},
    "02.multichannel": stub,
    "02.diagonal_kernel": None,
    "02.conv_backward": stub,
}

RIGHT = {
    "02.predict_value": [
        ("int", PREDICTED),
        ("NumPy float", np.float64(PREDICTED)),
        ("from the notebook's corr2d", "corr2d"),  # computed below, as a learner checks by code
    ],
    "02.convolve2d": [
        ("scatter", convolve_scatter),
        ("padded, flipped, lecture loop", convolve_padded),
        ("the formula term by term", convolve_formula),
        ("list of lists", lambda image, kernel: convolve_scatter(image, kernel).tolist()),
    ],
    "02.conv_layer_shape": [
        ("dict", {"output shape": (28, 28, 8), "parameters": 608}),
        ("Keras's batch axis", {"output shape": (None, 28, 28, 8), "parameters": 608}),
        ("a batch of one", {"output shape": (1, 28, 28, 8), "parameters": 608.0}),
        ("NumPy values", {"output shape": [np.int64(28), 28, 8], "parameters": np.int64(608)}),
        ("Keras's own numbers", "keras"),
    ],
    "02.multichannel": [
        ("corr2d per channel and filter", layer_loops),
        ("the neuron formula", layer_neuron_formula),
        ("sliding windows and einsum", layer_einsum),
    ],
    "02.diagonal_kernel": [
        ("5 × 5 X, sum 0", X_SHAPE - X_SHAPE.mean()),
        ("3 × 3 X, sum 0", X3 - X3.mean()),
        ("the two gallery detectors added", line_detector(45) + line_detector(135)),
        ("as a list", (line_detector(45) + line_detector(135)).tolist()),
        ("4 × 4 X, sum 0", np.maximum(np.eye(4), np.fliplr(np.eye(4))) - 0.5),
    ],
    "02.conv_backward": [
        ("loops", conv_backward),
        ("vectorised, a list", conv_backward_vectorised),
    ],
}

MISTAKES = {
    "02.predict_value": [
        ("flipped kernel", -PREDICTED, "flipped kernel"),
        ("row and column swapped", int(ops.conv2d(ex02.IMAGE_5X5, ex02.SOBEL_LEFT)[2, 1]), "row"),
        ("counted from 1", int(ops.conv2d(ex02.IMAGE_5X5, ex02.SOBEL_LEFT)[0, 1]), "start at 0"),
        ("plain window sum", int(ex02.IMAGE_5X5[1:4, 2:5].sum()), "plain sum"),
        ("text", "minus seventy-one", "expected a number"),
    ],
    "02.convolve2d": [
        (
            "not flipped",
            lambda image, kernel: convolve_padded(image, kernel[::-1, ::-1]),
            "cross-correlation",
        ),
        ("flipped one way", lambda image, kernel: convolve_scatter(image, kernel[::-1, :]), "only"),
        ("valid size", lambda image, kernel: corr2d(image, kernel[::-1, ::-1]), "'valid' size"),
        (
            "same size",
            lambda image, kernel: convolve_scatter(image, kernel)[
                : image.shape[0], : image.shape[1]
            ],
            "own size",
        ),
        (
            "one short",
            lambda image, kernel: convolve_scatter(image, kernel)[:-1, :-1],
            "off by one",
        ),
        ("the lecture's corr2d", corr2d, "'valid' size"),
        ("transposed", lambda image, kernel: convolve_scatter(image.T, kernel.T), "swapped"),
    ],
    "02.conv_layer_shape": [
        ("no biases", {"output shape": (28, 28, 8), "parameters": 600}, "biases are missing"),
        (
            "one slice per filter",
            {"output shape": (28, 28, 8), "parameters": 208},
            "per input channel",
        ),
        ("one filter", {"output shape": (28, 28, 8), "parameters": 76}, "that is one filter"),
        ("outputs counted", {"output shape": (28, 28, 8), "parameters": 28 * 28 * 8}, "shared"),
        ("padded", {"output shape": (32, 32, 8), "parameters": 608}, "adds no padding"),
        (
            "channels of the input",
            {"output shape": (28, 28, 3), "parameters": 608},
            "one channel per filter",
        ),
        ("channels first", {"output shape": (8, 28, 28), "parameters": 608}, "channels last"),
        ("off by one", {"output shape": (27, 27, 8), "parameters": 608}, "off by one"),
        ("half filled", {"output shape": (28, 28, 8), "parameters": None}, "fill in every part"),
        ("other half filled", {"output shape": None, "parameters": 608}, "fill in every part"),
        ("a shape alone", (28, 28, 8), "expected a dict"),
    ],
    "02.multichannel": [
        (
            "channels not summed",
            lambda x, k, b: np.stack(
                [layer_loops(x[..., c : c + 1], k[:, :, c : c + 1], b) for c in range(x.shape[-1])],
                axis=2,
            ),
            "not summed",
        ),
        ("no biases", lambda x, k, b: layer_loops(x, k, 0 * b), "biases are missing"),
        (
            "bias per channel",
            lambda x, k, b: layer_loops(x, k, x.shape[-1] * b),
            "once per channel",
        ),
        (
            "the first bias for all",
            lambda x, k, b: layer_loops(x, k, 0 * b) + b[0],
            "biases\\[k\\]",
        ),
        (
            "channels averaged",
            lambda x, k, b: layer_loops(x, k, 0 * b) / x.shape[-1] + b,
            "averaged",
        ),
        ("flipped kernels", lambda x, k, b: layer_loops(x, k[::-1, ::-1], b), "flipped"),
        (
            "kernel axes swapped",
            lambda x, k, b: (
                layer_loops(x, np.swapaxes(k, 2, 3), b)
                if k.shape[2] == k.shape[3]
                else layer_loops(x, k, b)
            ),
            "swapped",
        ),
        ("channels first", lambda x, k, b: np.moveaxis(layer_loops(x, k, b), -1, 0), "last"),
    ],
    "02.diagonal_kernel": [
        ("the Laplacian", LAPLACIAN, "every direction"),
        ("the Laplacian, other sign", -LAPLACIAN, "not where the line is"),
        (
            "a sign-inverted detector",
            -(line_detector(45) + line_detector(135)),
            "not where the line is",
        ),
        ("an X without negatives", X3, "every direction|brightness"),
        ("one diagonal only", np.eye(3) - np.eye(3).mean(), "not the 45° one"),
        ("a horizontal detector", line_detector(0), "not the 45° one|not where"),
        (
            "the outline kernel",
            np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
            "every direction",
        ),
        ("a blur", np.ones((3, 3)) / 9, "every direction|brightness"),
        ("too large", np.zeros((9, 9)), "at most 7 × 7"),
        ("3-D", np.zeros((3, 3, 3)), "2-D kernel"),
        ("NaN", np.full((3, 3), np.nan), "NaN or infinite"),
    ],
    "02.conv_backward": [
        (
            "dx not flipped",
            backward_with(dx=dx_unflipped),
            "FLIPPED",
        ),
        (
            "dx shaped like dout",
            backward_with(dx=lambda d, x, w, b: np.zeros(d.shape)),
            "shape of x",
        ),
        (
            "dw flipped",
            backward_with(dw=dw_flipped),
            "without flipping",
        ),
        ("db one number", backward_with(db=lambda d, x, w, b: d.sum()), "one bias per filter"),
        ("db averaged", backward_with(db=lambda d, x, w, b: d.mean(axis=(0, 1))), "not average"),
        ("two gradients", lambda d, x, w, b: conv_backward(d, x, w, b)[:2], "expected 3 items"),
        ("ragged db", backward_with(db=lambda d, x, w, b: [[1.0, 2.0], [3.0]]), "ragged"),
    ],
}

MADE_UP = {
    "02.predict_value": 42,
    "02.convolve2d": lambda image, kernel: np.ones(
        (image.shape[0] + kernel.shape[0] - 1, image.shape[1] + kernel.shape[1] - 1)
    ),
    "02.conv_layer_shape": {"output shape": (1, 1, 1), "parameters": 1},
    "02.multichannel": lambda x, k, b: np.zeros(
        (x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1, k.shape[-1])
    ),
    "02.diagonal_kernel": np.random.default_rng(0).normal(size=(3, 3)),
    "02.conv_backward": lambda d, x, w, b: (np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)),
}


def full_by_library(image, kernel):
    return scipy.signal.convolve2d(image, kernel)


def full_by_rows(image, kernel):
    out = np.zeros((image.shape[0] + kernel.shape[0] - 1, image.shape[1] + kernel.shape[1] - 1))
    for p in range(image.shape[0]):
        for a in range(kernel.shape[0]):
            out[p + a] += np.convolve(image[p], kernel[a])
    return out


def layer_by_ops(x, k, b):
    return ops.conv2d(x, k) + b


TRICKS = {
    "02.predict_value": [("peeking number", PeekingFloat(0.0), None)],
    "02.convolve2d": [
        ("SciPy's convolve2d", full_by_library, FORBIDDEN),
        (
            "cnnlib under another name",
            lambda image, kernel: flipped_correlation(image, kernel, padding="full"),
            FORBIDDEN,
        ),
        ("NumPy's convolve, row by row", full_by_rows, FORBIDDEN),
        (
            "the check's own helper",
            lambda image, kernel: ex02.full_convolution(image, kernel),
            FORBIDDEN,
        ),
        ("from a thread", in_a_thread(full_by_library), FORBIDDEN),
        ("profiler off", profiler_off(full_by_library), None),
        ("lazily", lazily(full_by_library), None),
        (
            "peeking array",
            peeking(
                lambda image, kernel: (
                    image.shape[0] + kernel.shape[0] - 1,
                    image.shape[1] + kernel.shape[1] - 1,
                )
            ),
            None,
        ),
        (
            "ndarray subclass",
            lambda image, kernel: convolve_scatter(image, kernel).view(ArraySubclass),
            "subclass",
        ),
    ],
    "02.conv_layer_shape": [
        ("peeking count", {"output shape": (28, 28, 8), "parameters": PeekingFloat(0.0)}, None),
    ],
    "02.multichannel": [
        ("ops.conv2d on the volume", layer_by_ops, FORBIDDEN),
        (
            "Keras Conv2D",
            lambda x, k, b: __import__("keras").layers.Conv2D(k.shape[-1], k.shape[:2])(
                x[None].astype("float32")
            )[0],
            FORBIDDEN,
        ),
        ("from a thread", in_a_thread(layer_by_ops), FORBIDDEN),
        ("profiler off", profiler_off(layer_by_ops), None),
        (
            "peeking array",
            peeking(
                lambda x, k, b: (
                    x.shape[0] - k.shape[0] + 1,
                    x.shape[1] - k.shape[1] + 1,
                    k.shape[-1],
                )
            ),
            None,
        ),
    ],
    "02.diagonal_kernel": [
        ("the gallery's 45° detector", line_detector(45), "not the 135° one"),
        ("peeking array", PeekingArray(np.zeros((3, 3))), None),
    ],
    "02.conv_backward": [
        (
            "peeking arrays",
            lambda d, x, w, b: (PeekingArray(x), PeekingArray(w), PeekingArray(b)),
            None,
        ),
        (
            "the check's own helpers",
            lambda d, x, w, b: (
                ex02._full_correlate(d, w, flip=True),
                ex02._weight_gradient(x, d, flip=False),
                d.sum(axis=(0, 1)),
            ),
            FORBIDDEN,
        ),
    ],
}


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
def test_notebook_02_has_its_six_exercises_all_in_three_pieces():
    mine = {i: e for i, e in labs.REGISTRY.items() if i.startswith("02.") and e.in_notebook}
    assert sorted(mine) == sorted(IDS)
    assert {item.kind for item in mine.values()} == {"predict", "implement", "design"}
    assert "stretch" in {item.difficulty for item in mine.values()}


def test_ex02_uses_only_the_toolbox():
    """No private copies of the toolbox's helpers, and nothing imported from ex01."""
    source = inspect.getsource(ex02)
    for name in (
        "call_watching",
        "refuse_forbidden",
        "public_functions",
        "whole_number",
        "setprofile",
    ):
        assert name not in source
    assert "cnnlib.labs.ex0" not in source


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_stub_is_not_attempted_yet(exercise_id, capsys):
    labs.check(exercise_id, STUBS[exercise_id])
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id, label, answer", cases(RIGHT))
def test_right_answers_pass(exercise_id, label, answer):
    if isinstance(answer, str) and answer == "corr2d":
        answer = corr2d(ex02.IMAGE_5X5, ex02.SOBEL_LEFT)[1, 2]
    if isinstance(answer, str) and answer == "keras":
        import keras

        layer = keras.layers.Conv2D(ex02.LAYER_FILTERS, ex02.LAYER_KERNEL)
        layer.build((None,) + ex02.LAYER_INPUT)
        shape = layer.compute_output_shape((None,) + ex02.LAYER_INPUT)
        answer = {"output shape": shape, "parameters": layer.count_params()}
    assert verdict_of(exercise_id, answer) == "correct", label


@pytest.mark.parametrize("exercise_id, label, answer, hint", cases(MISTAKES))
def test_usual_mistakes_fail_with_their_hint(exercise_id, label, answer, hint):
    with np.errstate(all="ignore"):
        assert_wrong(exercise_id, answer, hint)


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_made_up_answer_fails(exercise_id):
    assert_wrong(exercise_id, MADE_UP[exercise_id])


@pytest.mark.parametrize("exercise_id, label, answer, message", cases(TRICKS))
def test_tricks_fail(exercise_id, label, answer, message):
    assert_wrong(exercise_id, answer, message)


def test_the_lecture_does_not_answer_the_exercises_above_it():
    """2.2's loop, 2.4's per-channel sum + bias and 2.5's gallery detector are each one step short."""
    one_filter = lambda x, k, b: (
        sum(corr2d(x[..., c], k[:, :, c, 0]) for c in range(x.shape[-1])) + b[0]
    )  # noqa: E731
    assert_wrong("02.convolve2d", corr2d)
    assert_wrong("02.multichannel", one_filter)
    for angle in (45, 135):
        assert_wrong("02.diagonal_kernel", line_detector(angle))


def test_a_wrong_prediction_never_states_the_expected_value():
    for answer in (PREDICTED + 1, -PREDICTED, 0):
        result = verdict_of("02.predict_value", answer)
        assert result[0] == "wrong" and not re.search(rf"(?<!\d){PREDICTED}(?!\d)", result[1])
    result = verdict_of("02.conv_layer_shape", {"output shape": (28, 28, 8), "parameters": 600})
    assert "608" not in result[1]


def test_after_three_wrong_tries_the_hint_gives_no_direction():
    for _ in range(core.DETAILED_TRIES):
        assert_wrong("02.predict_value", -PREDICTED, "flipped kernel")
    assert_wrong("02.predict_value", -PREDICTED, "no longer says")


def test_the_reveals_are_in_the_confirmations(capsys):
    labs.check("02.conv_layer_shape", {"output shape": (28, 28, 8), "parameters": 608})
    assert "count_params()" in capsys.readouterr().out
    labs.check("02.predict_value", PREDICTED)
    assert "the whole feature map is [[" in capsys.readouterr().out


def test_values_and_trials_cross_the_wire_for_grading(tmp_path):
    for exercise_id, answer in [
        ("02.convolve2d", convolve_scatter),
        ("02.multichannel", layer_loops),
        ("02.conv_backward", conv_backward),
        ("02.diagonal_kernel", X_SHAPE - X_SHAPE.mean()),
    ]:
        trials = core.new_trials(exercise_id, seed=11)
        core.to_wire(core.produce(exercise_id, answer, trials), tmp_path, exercise_id)
        values = core.from_wire(tmp_path, exercise_id)
        verdict = core.judge(exercise_id, values, core.new_trials(exercise_id, seed=11))
        assert verdict.status == "correct", (exercise_id, verdict)


def test_line_answers_measure_on_and_beside_the_line():
    answers = ex02.line_answers(line_detector(45))
    assert answers[45]["on"] == 6 and answers[135]["on"] == 0 and answers["flat"] == 0


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


# ------------------------------------ 02.conv2d: the fixed id other tooling feeds convolutions to
# f(image, kernel), valid cross-correlation, stride 1. The lecture derives it (corr2d), so it is
# checked here, by the same toolbox, but asked in no notebook.
def conv2d_vectorised(image, kernel):
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)
    return np.einsum("ijab,ab->ij", windows, kernel)


def test_the_fixed_conv2d_accepts_valid_cross_correlation_written_any_way():
    assert labs.passes("02.conv2d", corr2d)
    assert labs.passes("02.conv2d", conv2d_vectorised)
    assert labs.passes("02.conv2d", lambda image, kernel: conv2d_vectorised(image, kernel).tolist())


def test_the_fixed_conv2d_refuses_the_usual_mistakes_and_the_reference():
    flip = lambda image, kernel: corr2d(image, kernel[::-1, ::-1])  # noqa: E731
    assert_wrong("02.conv2d", flip, "flips the kernel")
    assert_wrong("02.conv2d", lambda image, kernel: corr2d(image, kernel).T)
    assert_wrong("02.conv2d", lambda image, kernel: scipy.signal.correlate2d(image, kernel, "same"))
    assert_wrong("02.conv2d", ops.conv2d, "without")
    assert_wrong("02.conv2d", lambda image, kernel: np.zeros((3, 3)))


def test_the_fixed_conv2d_is_no_exercise_of_the_notebook():
    item = labs.REGISTRY["02.conv2d"]
    assert not item.in_notebook and item.form is not None
    assert "02.conv2d" not in IDS


def test_one_number_for_db_is_wrong_even_with_one_filter(tmp_path):
    """A 0-d db keeps its shape across the wire, so summing over the filters too is seen on a
    layer of one filter (it used to arrive as shape (1,), the right shape)."""
    trials = [t for t in core.new_trials("02.conv_backward", 0) if t["w"].shape[-1] == 1]
    answer = backward_with(db=lambda d, x, w, b: d.sum())
    core.to_wire(core.produce("02.conv_backward", answer, trials), tmp_path, "v")
    verdict = core.judge("02.conv_backward", core.from_wire(tmp_path, "v"), trials)
    assert trials and verdict.status == "wrong"
    assert "one bias per filter" in verdict.message
