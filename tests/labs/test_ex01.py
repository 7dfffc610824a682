"""Exercises of notebook 01: solutions pass, typical mistakes get their hint, stubs wait."""

import numpy as np
import pytest

from cnnlib import labs
from cnnlib.labs import ex01
from cnnlib.lessons.images import photo, to_gray

IDS = [
    "01.batch_shape",
    "01.dense_params",
    "01.rgb_to_gray",
    "01.block_average",
    "01.correlation_distance",
    "01.dense_memory",
]


def test_notebook_01_has_four_to_six_exercises_of_mixed_kinds():
    mine = {i: labs.REGISTRY[i] for i in labs.REGISTRY if i.startswith("01.")}
    assert sorted(mine) == sorted(IDS)
    assert len({item.kind for item in mine.values()}) >= 3
    assert {"warm-up", "core", "stretch"} <= {item.difficulty for item in mine.values()}


def raises_stub():
    raise NotImplementedError


@pytest.mark.parametrize(
    "exercise_id, stub",
    [
        ("01.batch_shape", (None, None)),
        ("01.dense_params", None),
        ("01.rgb_to_gray", lambda image: raises_stub()),
        ("01.block_average", lambda x, k: raises_stub()),
        ("01.correlation_distance", None),
        ("01.dense_memory", None),
    ],
)
def test_stub_is_not_attempted_yet(exercise_id, stub, capsys):
    labs.check(exercise_id, stub)
    assert "not attempted yet" in capsys.readouterr().out


# ------------------------------------------------------------------ 01.batch_shape
def test_batch_shape_right():
    assert labs.passes("01.batch_shape", ((64, 224, 224, 3), 64 * 224 * 224 * 3 * 4 / 1e6))
    assert labs.passes("01.batch_shape", ([64, 224, 224, 3], 38.5))  # rounded is fine


@pytest.mark.parametrize(
    "answer, hint",
    [
        (((64, 3, 224, 224), 38.5), "channels last"),
        (((64, 224, 224), 38.5), "channel axis is missing"),
        (((224, 224, 3), 38.5), "batch axis is missing"),
        (((64, 224, 224, 3), 64 * 224 * 224 * 3 / 1e6), "uint8"),
        (((64, 224, 224, 3), 64 * 224 * 224 * 3 * 4 / 2**20), "MiB"),
        (((64, 224, 224, 3), 64 * 224 * 224 * 4 / 1e6), "channels were forgotten"),
    ],
)
def test_batch_shape_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("01.batch_shape", answer)


# ------------------------------------------------------------------ 01.dense_params
def test_dense_params_right_and_matches_keras():
    import keras

    layer = keras.layers.Dense(128)
    layer.build((None, 32 * 32 * 3))
    assert labs.passes("01.dense_params", layer.count_params())


@pytest.mark.parametrize(
    "answer, hint",
    [
        (32 * 32 * 3 * 128, "biases are missing"),
        (32 * 32 * 128 + 128, "colour channels are missing"),
        (32 * 32 * 128, "both the channels"),
        (32 * 32 * 3 * 129, "one bias per neuron"),
    ],
)
def test_dense_params_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("01.dense_params", answer)


# ------------------------------------------------------------------ 01.rgb_to_gray
def test_rgb_to_gray_right():
    assert labs.passes("01.rgb_to_gray", lambda image: image @ np.array([0.2125, 0.7154, 0.0721]))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda image: image.mean(axis=-1), "plain average"),
        (lambda image: image @ np.array([0.299, 0.587, 0.114]), "ITU-R 601"),
        (lambda image: image @ np.array([0.0721, 0.7154, 0.2125]), "reverse order"),
        (lambda image: (image @ np.array([0.2125, 0.7154, 0.0721]))[..., None], "no channel axis"),
        (lambda image: np.tensordot(np.ones(image.shape[0]), image, axes=(0, 0)), "rows axis"),
    ],
)
def test_rgb_to_gray_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("01.rgb_to_gray", wrong)


def test_rgb_to_gray_crash_names_the_input():
    with pytest.raises(AssertionError, match="raised ZeroDivisionError.*on a random"):
        labs.check("01.rgb_to_gray", lambda image: 1 / 0)


# ------------------------------------------------------------------ 01.block_average
def reshape_mean(x, k):
    h, w, c = x.shape
    return x.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


def test_block_average_right():
    assert labs.passes("01.block_average", reshape_mean)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, k: reshape_mean(x, k) * k * k, "block sum"),
        (lambda x, k: x[::k, ::k], "subsampling"),
        (
            lambda x, k: x.reshape(x.shape[0] // k, k, x.shape[1] // k, k, -1).max(axis=(1, 3)),
            "max pooling",
        ),
        (lambda x, k: reshape_mean(x, k).mean(axis=-1), "channel axis is missing"),
        (lambda x, k: x.reshape(x.shape[0] // k, k, *x.shape[1:]).mean(axis=1), "rows only"),
    ],
)
def test_block_average_wrong(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("01.block_average", wrong)


# ------------------------------------------------------------------ 01.correlation_distance
def test_correlation_distance_right_and_differs_from_the_astronaut():
    from cnnlib.lessons.images import photo, to_gray

    coffee = to_gray(photo("coffee"))
    right = ex01.first_distance_below(coffee, 0.5, axis=1)
    assert labs.passes("01.correlation_distance", right)
    down = ex01.first_distance_below(coffee, 0.5, axis=0)
    astronaut = ex01.first_distance_below(to_gray(photo("astronaut")), 0.5, axis=1)
    assert len({right, right - 1, down, astronaut}) == 4  # each mistake is recognisable
    with pytest.raises(AssertionError, match="vertical distance"):
        labs.check("01.correlation_distance", down)
    with pytest.raises(AssertionError, match="astronaut's distance"):
        labs.check("01.correlation_distance", astronaut)
    with pytest.raises(AssertionError, match="still at or above 0.5"):
        labs.check("01.correlation_distance", right - 1)


# ------------------------------------------------------------------ 01.dense_memory
def test_dense_memory_right_and_is_the_boundary():
    side = ex01.largest_side(16e9)
    n, m = 3 * side**2, 3 * (side + 1) ** 2
    assert (n * n + n) * 4 <= 16e9 < (m * m + m) * 4
    assert labs.passes("01.dense_memory", side)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (ex01.largest_side(16e9, channels=1), "colour channels were forgotten"),
        (ex01.largest_side(16 * 2**30), "GiB"),
        (ex01.largest_side(16e9, bytes_per_number=1), "4 bytes"),
        (ex01.largest_side(16e9) + 1, "already needs more than 16 GB"),
    ],
)
def test_dense_memory_wrong(answer, hint):
    with pytest.raises(AssertionError, match=hint):
        labs.check("01.dense_memory", answer)


def test_the_exercise_texts_numbers():
    from cnnlib.lessons.images import photo

    assert photo("coffee").shape[:2] == (400, 600)  # exercise 1.5 says 400 × 600
    bt709, skimage_weights = np.array([0.2126, 0.7152, 0.0722]), np.array([0.2125, 0.7154, 0.0721])
    assert np.abs(bt709 - skimage_weights).max() <= 0.0002 + 1e-12  # exercise 1.3's "within"


# ------------------------------------------------------------------ learner trial (issue 19)
# Each case below was a false accept, a false reject or a crash before the trial fixed it.
BATCH = (64, 224, 224, 3)
BATCH_MB = 64 * 224 * 224 * 3 * 4 / 1e6


@pytest.mark.parametrize(
    "shape", [(64.5, 224, 224, 3), (64, 224.9, 224, 3), (64, 224, 224, float("nan"))]
)
def test_batch_shape_refuses_fractional_sizes(shape):
    """int() used to truncate 64.5 to 64 and accept it."""
    with pytest.raises(AssertionError, match="whole numbers"):
        labs.check("01.batch_shape", (shape, BATCH_MB))


def test_batch_shape_none_batch_axis_gets_a_sentence():
    with pytest.raises(AssertionError, match="leaves the batch size open"):
        labs.check("01.batch_shape", ((None, 224, 224, 3), BATCH_MB))


@pytest.mark.parametrize("megabytes", [float("nan"), float("inf")])
def test_batch_shape_refuses_non_finite_sizes(megabytes):
    with pytest.raises(AssertionError, match="not a finite number"):
        labs.check("01.batch_shape", (BATCH, megabytes))


@pytest.mark.parametrize(
    "answer",
    [
        (tuple(np.int64(n) for n in BATCH), np.float32(BATCH_MB)),
        (list(BATCH), 38.5),
        (np.array(BATCH), BATCH_MB),
    ],
)
def test_batch_shape_other_forms_of_the_right_answer(answer):
    assert labs.passes("01.batch_shape", answer)


def test_batch_shape_confirmation_shows_what_the_reveal_cell_showed(capsys):
    labs.check("01.batch_shape", (BATCH, BATCH_MB))
    assert "(64, 224, 224, 3), 38.5 MB" in capsys.readouterr().out


def test_dense_params_confirmation_quotes_keras(capsys):
    labs.check("01.dense_params", np.int64(393_344))
    assert "count_params() says 393,344" in capsys.readouterr().out


@pytest.mark.parametrize(
    "function, called",
    [
        (to_gray, "cnnlib.lessons.images.to_gray"),
        (lambda image: __import__("skimage.color").color.rgb2gray(image), "rgb2gray"),
    ],
)
def test_rgb_to_gray_calling_the_reference_is_not_done(function, called):
    """A call to the function the exercise reimplements used to pass with a ✓."""
    with pytest.raises(AssertionError, match=f"right numbers, but it calls .*{called}"):
        labs.check("01.rgb_to_gray", function)


def test_rgb_to_gray_accepts_bt709_weights(capsys):
    """The standard's own weights (within 0.0002 of scikit-image's) used to be rejected."""
    labs.check("01.rgb_to_gray", lambda image: image @ np.array([0.2126, 0.7152, 0.0722]))
    assert "BT.709" in capsys.readouterr().out


@pytest.mark.parametrize(
    "function",
    [
        lambda image: np.einsum("hwc,c->hw", image, np.array([0.2125, 0.7154, 0.0721])),
        lambda image: 0.2125 * image[..., 0] + 0.7154 * image[..., 1] + 0.0721 * image[..., 2],
    ],
)
def test_rgb_to_gray_other_right_forms(function):
    assert labs.passes("01.rgb_to_gray", function)


def test_block_average_calling_ops_pool2d_is_not_done():
    """ "NumPy only": ops.pool2d used to pass; the message names the call once, not its helpers."""
    from cnnlib import ops

    with pytest.raises(AssertionError, match=r"calls cnnlib\.ops\.pool2d, which") as raised:
        labs.check("01.block_average", lambda x, k: ops.pool2d(x, k, mode="avg"))
    assert "ops.pad" not in str(raised.value)


def test_block_average_with_loops_passes():
    def loops(x, k):
        out = np.zeros((x.shape[0] // k, x.shape[1] // k, x.shape[2]))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = x[i * k : (i + 1) * k, j * k : (j + 1) * k].mean(axis=(0, 1))
        return out

    assert labs.passes("01.block_average", loops)


def test_correlation_distance_other_grey_conversions_are_right():
    """An experiment with another standard grey conversion used to be rejected."""
    colour = photo("coffee")
    astronaut = ex01.first_distance_below(to_gray(photo("astronaut")), 0.5, axis=1)
    for grey in (colour.mean(axis=-1), colour @ np.array([0.299, 0.587, 0.114])):
        distance = ex01.first_distance_below(grey, 0.5, axis=1)
        assert distance != astronaut  # accepting it lets no astronaut answer through
        assert labs.passes("01.correlation_distance", np.int64(distance))


@pytest.mark.parametrize("answer", [float("nan"), float("inf"), 44.5])
def test_correlation_distance_refuses_non_finite_and_fractional(answer):
    with pytest.raises(AssertionError, match="finite|whole number"):
        labs.check("01.correlation_distance", answer)


@pytest.mark.parametrize("answer", [float("nan"), float("inf")])
def test_dense_memory_refuses_non_finite(answer):
    with pytest.raises(AssertionError, match="not a finite number"):
        labs.check("01.dense_memory", answer)


def test_dense_memory_right_as_a_numpy_integer():
    assert labs.passes("01.dense_memory", np.int32(ex01.largest_side(16e9)))


@pytest.mark.parametrize(
    "exercise_id, answer",
    [
        ("01.correlation_distance", 43),
        ("01.dense_memory", 200),
        ("01.dense_params", 1),
        ("01.batch_shape", ((64, 224, 224, 3), 1.0)),
    ],
)
def test_a_wrong_prediction_never_states_the_expected_value(exercise_id, answer):
    expected = {
        "01.correlation_distance": ex01.first_distance_below(to_gray(photo("coffee")), 0.5, 1),
        "01.dense_memory": ex01.largest_side(16e9),
        "01.dense_params": 393_344,
        "01.batch_shape": 38.5,
    }[exercise_id]
    with pytest.raises(AssertionError) as raised:
        labs.check(exercise_id, answer)
    message = str(raised.value).replace(",", "")
    assert str(expected) not in message
