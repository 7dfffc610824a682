"""Exercises of notebook 01, answered as learners answer them.

For every exercise: the stub is "not attempted yet"; right answers written the ways learners
write them pass; the usual mistakes fail with the hint aimed at their cause; made-up answers fail;
and the tricks a curious learner finds (an object that looks up the call stack for the expected
value, the forbidden reference called from a thread, under another name, with the profiler
switched off, or lazily) fail too. The tricks are tests/labs/learners.py's.
"""

import inspect

import numpy as np
import pytest
from learners import (
    FORBIDDEN,
    ArraySubclass,
    PeekingFloat,
    assert_wrong,
    cases,
    fresh_tries,  # noqa: F401 - autouse: no wrong tries carried over
    in_a_thread,
    lazily,
    left_running,
    peeking,
    profiler_off,
    verdict_of,
)
from skimage.color import rgb2gray as grey_under_another_name
from skimage.measure import block_reduce

from cnnlib import labs, ops
from cnnlib.labs import core, ex01
from cnnlib.lessons import images
from cnnlib.lessons.images import photo, to_gray

IDS = [
    "01.batch_shape",
    "01.dense_params",
    "01.rgb_to_gray",
    "01.block_average",
    "01.correlation_distance",
    "01.dense_memory",
]


# ---------------------------------------------------------------------------------------------
# The learners' answers
# ---------------------------------------------------------------------------------------------
MB = 64 * 224 * 224 * 3 * 4 / 1e6
GREY = np.array([0.2125, 0.7154, 0.0721])
COFFEE = ex01.first_distance_below(to_gray(photo("coffee")), 0.5, axis=1)
SIDE = ex01.largest_side(16e9)


def grey_loops(image):
    out = np.zeros(image.shape[:2])
    for r in range(image.shape[0]):
        for c in range(image.shape[1]):
            out[r, c] = 0.2125 * image[r, c, 0] + 0.7154 * image[r, c, 1] + 0.0721 * image[r, c, 2]
    return out


def blocks_reshape(x, k):
    h, w, c = x.shape
    return x.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


def blocks_loops(x, k):
    h, w = x.shape[0] // k, x.shape[1] // k
    return np.array(
        [
            [x[i * k : (i + 1) * k, j * k : (j + 1) * k].mean(axis=(0, 1)) for j in range(w)]
            for i in range(h)
        ]
    )


def average_pooled(x, k):
    return ops.pool2d(x, k, mode="avg")


STUBS = {
    "01.batch_shape": {"shape": None, "megabytes": None},
    "01.dense_params": None,
    "01.rgb_to_gray": lambda image: (_ for _ in ()).throw(NotImplementedError),
    "01.block_average": lambda x, k: (_ for _ in ()).throw(NotImplementedError),
    "01.correlation_distance": None,
    "01.dense_memory": None,
}

RIGHT = {
    "01.batch_shape": [
        ("tuple and float", {"shape": (64, 224, 224, 3), "megabytes": MB}),
        ("list, rounded to 0.1", {"shape": [64, 224, 224, 3], "megabytes": 38.5}),
        ("NumPy values", {"shape": np.array([64, 224, 224, 3]), "megabytes": np.float32(38.535)}),
    ],
    "01.dense_params": [
        ("int", 393_344),
        ("NumPy int", np.int64(393_344)),
        ("float", 393_344.0),
        ("Keras's count", "keras"),  # replaced below by Dense(128).count_params()
    ],
    "01.rgb_to_gray": [
        ("matrix product", lambda image: image @ GREY),
        (
            "weighted channels",
            lambda image: 0.2125 * image[..., 0] + 0.7154 * image[..., 1] + 0.0721 * image[..., 2],
        ),
        ("loops", grey_loops),
        (
            "BT.709's weights, einsum",
            lambda image: np.einsum("hwc,c->hw", image, [0.2126, 0.7152, 0.0722]),
        ),
        ("float32", lambda image: (image @ GREY).astype(np.float32)),
    ],
    "01.block_average": [
        ("reshape", blocks_reshape),
        ("loops", blocks_loops),
        ("list of lists", lambda x, k: blocks_reshape(x, k).tolist()),
    ],
    "01.correlation_distance": [
        ("int", COFFEE),
        ("NumPy int", np.int64(COFFEE)),
        ("plain mean for grey", ex01.first_distance_below(photo("coffee").mean(axis=-1), 0.5, 1)),
    ],
    "01.dense_memory": [("int", SIDE), ("float", float(SIDE))],
}

MISTAKES = {
    "01.batch_shape": [
        ("channels first", {"shape": (64, 3, 224, 224), "megabytes": MB}, "channels last"),
        ("no channel axis", {"shape": (64, 224, 224), "megabytes": MB}, "channel axis is missing"),
        ("no batch axis", {"shape": (224, 224, 3), "megabytes": MB}, "batch axis is missing"),
        ("batch left open", {"shape": (None, 224, 224, 3), "megabytes": MB}, "batch size"),
        ("uint8", {"shape": (64, 224, 224, 3), "megabytes": MB / 4}, "uint8"),
        ("MiB", {"shape": (64, 224, 224, 3), "megabytes": MB * 1e6 / 2**20}, "MiB"),
        ("float64", {"shape": (64, 224, 224, 3), "megabytes": 2 * MB}, "float64"),
        ("no channels in MB", {"shape": (64, 224, 224, 3), "megabytes": MB / 3}, "channels"),
        ("half filled", {"shape": (64, 224, 224, 3), "megabytes": None}, "fill in every part"),
        ("the old pair", ((64, 224, 224, 3), MB), "expected a dict"),
    ],
    "01.dense_params": [
        ("no biases", 32 * 32 * 3 * 128, "biases are missing"),
        ("grey", 32 * 32 * 128 + 128, "colour channels"),
        ("bias per input", 32 * 32 * 3 * 128 + 32 * 32 * 3, "not one per input"),
        ("a fraction", 393_344.5, "whole number"),
    ],
    "01.rgb_to_gray": [
        ("plain mean", lambda image: image.mean(axis=-1), "plain average"),
        ("ITU-R 601", lambda image: image @ [0.299, 0.587, 0.114], "601"),
        ("reversed", lambda image: image @ GREY[::-1], "reverse order"),
        ("unweighted sum", lambda image: image.sum(axis=-1), "without weights"),
        ("channel axis kept", lambda image: (image @ GREY)[..., None], "no channel axis"),
        ("returns nothing", lambda image: None, "return"),
        ("crashes", lambda image: image[..., 3], "raised IndexError"),
    ],
    "01.block_average": [
        (
            "block max",
            lambda x, k: x.reshape(x.shape[0] // k, k, x.shape[1] // k, k, -1).max(axis=(1, 3)),
            "maximum",
        ),
        ("subsampled", lambda x, k: x[::k, ::k], "subsampling"),
        ("block sum", lambda x, k: blocks_reshape(x, k) * k * k, "block sum"),
        ("channel dropped", lambda x, k: blocks_reshape(x, k).mean(axis=-1), "channel axis"),
        (
            "rows only",
            lambda x, k: x.reshape(x.shape[0] // k, k, x.shape[1], -1).mean(axis=1),
            "rows only",
        ),
    ],
    "01.correlation_distance": [
        ("vertical", ex01.first_distance_below(to_gray(photo("coffee")), 0.5, axis=0), "vertical"),
        (
            "the astronaut",
            ex01.first_distance_below(to_gray(photo("astronaut")), 0.5, 1),
            "astronaut",
        ),
        ("one short", COFFEE - 1, "still at or above 0.5"),
    ],
    "01.dense_memory": [
        ("grey", ex01.largest_side(16e9, channels=1), "colour channels"),
        ("GiB", ex01.largest_side(16 * 2**30), "GiB"),
        ("one byte a number", ex01.largest_side(16e9, bytes_per_number=1), "4 bytes"),
        ("n instead of n²", 36_514, "grow with n²"),
    ],
}

MADE_UP = {
    "01.batch_shape": {"shape": (1, 2, 3, 4), "megabytes": 1.0},
    "01.dense_params": 100_000,
    "01.rgb_to_gray": lambda image: np.random.default_rng(0).random(image.shape[:2]),
    "01.block_average": lambda x, k: np.zeros((x.shape[0] // k, x.shape[1] // k, x.shape[2])),
    "01.correlation_distance": 1,
    "01.dense_memory": 100,
}

TRICKS = {
    "01.batch_shape": [
        ("peeking megabytes", {"shape": (64, 224, 224, 3), "megabytes": PeekingFloat(0.0)}, None),
    ],
    "01.dense_params": [("peeking number", PeekingFloat(0.0), None)],
    "01.rgb_to_gray": [
        ("to_gray", lambda image: images.to_gray(image), FORBIDDEN),
        ("rgb2gray under another name", lambda image: grey_under_another_name(image), FORBIDDEN),
        ("from a thread", in_a_thread(lambda image: grey_under_another_name(image)), FORBIDDEN),
        ("profiler off", profiler_off(lambda image: grey_under_another_name(image)), None),
        ("lazily", lazily(lambda image: grey_under_another_name(image)), None),
        ("peeking array", peeking(lambda image: image.shape[:2]), None),
        ("ndarray subclass", lambda image: (image @ GREY).view(ArraySubclass), "subclass"),
    ],
    "01.block_average": [
        ("cnnlib's pool2d", average_pooled, FORBIDDEN),
        (
            "scikit-image's block_reduce",
            lambda x, k: block_reduce(x, (k, k, 1), np.mean),
            FORBIDDEN,
        ),
        ("from a thread", in_a_thread(average_pooled), FORBIDDEN),
        ("profiler off", profiler_off(average_pooled), None),
        (
            "peeking array",
            peeking(lambda x, k: (x.shape[0] // k, x.shape[1] // k, x.shape[2])),
            None,
        ),
        ("still running", left_running(blocks_reshape), "left a thread running"),
    ],
    "01.correlation_distance": [("peeking number", PeekingFloat(0.0), None)],
    "01.dense_memory": [("peeking number", PeekingFloat(0.0), None)],
}


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
def test_notebook_01_has_its_six_exercises_all_in_three_pieces():
    mine = {i: labs.REGISTRY[i] for i in labs.REGISTRY if i.startswith("01.")}
    assert sorted(mine) == sorted(IDS)
    assert len({item.kind for item in mine.values()}) >= 3
    assert {"warm-up", "core", "stretch"} <= {item.difficulty for item in mine.values()}


def test_ex01_uses_only_the_toolbox():
    """No private copies of the toolbox's helpers, no sibling checker imported."""
    source = inspect.getsource(ex01)
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
    if isinstance(answer, str) and answer == "keras":
        import keras

        layer = keras.layers.Dense(128)
        layer.build((None, 32 * 32 * 3))
        answer = layer.count_params()
    assert verdict_of(exercise_id, answer) == "correct", label


@pytest.mark.parametrize("exercise_id, label, answer, hint", cases(MISTAKES))
def test_usual_mistakes_fail_with_their_hint(exercise_id, label, answer, hint):
    assert_wrong(exercise_id, answer, hint)


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_made_up_answer_fails(exercise_id):
    assert_wrong(exercise_id, MADE_UP[exercise_id])


@pytest.mark.parametrize("exercise_id, label, answer, message", cases(TRICKS))
def test_tricks_fail(exercise_id, label, answer, message):
    try:
        assert_wrong(exercise_id, answer, message)
    finally:
        if hasattr(answer, "stop"):  # the thread left running: end it for the next tests
            answer.stop.set()


def test_a_wrong_prediction_never_states_the_expected_value():
    for exercise_id, answer, expected in [
        ("01.dense_params", 393_216, "393,344|393344"),
        ("01.dense_memory", SIDE - 3, str(SIDE)),
        ("01.correlation_distance", 3, str(COFFEE)),
    ]:
        result = verdict_of(exercise_id, answer)
        assert result[0] == "wrong"
        import re

        assert not re.search(rf"\b({expected})\b", result[1]), result[1]


def test_after_three_wrong_tries_the_hint_gives_no_direction():
    for _ in range(core.DETAILED_TRIES):
        assert_wrong("01.dense_params", 32 * 32 * 3 * 128, "biases are missing")
    assert_wrong("01.dense_params", 32 * 32 * 3 * 128, "no longer says")


def test_the_check_confirms_with_what_keras_and_numpy_say(capsys):
    labs.check("01.batch_shape", {"shape": (64, 224, 224, 3), "megabytes": MB})
    assert "38.5 MB of float32" in capsys.readouterr().out
    labs.check("01.dense_params", 393_344)
    assert "count_params()" in capsys.readouterr().out


def test_values_and_trials_cross_the_wire_for_grading(tmp_path):
    """The grader's path: trials from a seed, values produced, written, read, judged."""
    for exercise_id, answer in [
        ("01.rgb_to_gray", RIGHT["01.rgb_to_gray"][0][1]),
        ("01.batch_shape", RIGHT["01.batch_shape"][0][1]),
    ]:
        trials = core.new_trials(exercise_id, seed=7)
        core.to_wire(core.produce(exercise_id, answer, trials), tmp_path, exercise_id)
        values = core.from_wire(tmp_path, exercise_id)
        assert (
            core.judge(exercise_id, values, core.new_trials(exercise_id, seed=7)).status
            == "correct"
        )
