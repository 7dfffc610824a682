"""The boundary between the learner's answer and the judge (issue 24): forms, produce, judge, the
wire, record mode, the forbidden-reference watch, and the attacks that fooled the older checks.

The exercises here are registered under notebook 99 for the tests only (and removed afterwards);
they are built exactly as CONTRIBUTING.md's "Add an exercise" says, one of each kind.
"""

import decimal
import fractions
import json
import sys
import threading
import time

import numpy as np
import pytest
from learners import (
    DisguisedPeekingArray,
    HeapArray,
    PeekingArray,
    PeekingFloat,
    PeekingInt,
    PeekingScalar,
    PeekingStr,
    in_a_raw_thread,
    in_a_thread,
    lazily,
    left_running,
    profiler_off,
)

from cnnlib import labs, ops
from cnnlib.labs import core, submit
from cnnlib.labs.core import (
    Array,
    Choice,
    Function,
    Mapping,
    Model,
    Number,
    Sequence,
    Shape,
    Size,
    Text,
    Wrong,
    describe_input,
    same_array,
    same_number,
    same_prediction,
    same_shape,
)

# ---------------------------------------------------------------------------------------------
# The test exercises: one of each kind, and one using every remaining form
# ---------------------------------------------------------------------------------------------

CONV_PARAMETERS = 3 * 3 * 3 * 8 + 8  # Conv2D(8, 3×3) on an RGB input: weights and biases


def judge_parameters(count, trials):
    """99.parameters (predict, Number): the parameters of Conv2D(8, 3×3) on 3 channels."""
    same_number(
        count,
        CONV_PARAMETERS,
        "the parameter count",
        hints=[(CONV_PARAMETERS - 8, "each of the 8 filters also has a bias")],
    )
    return "3·3·3 weights and 1 bias for each of 8 filters"


def judge_output_shape(shape, trials):
    """99.output_shape (predict, Shape): a 3×3 'valid' convolution with 8 filters on 28×28×1."""
    same_shape(
        shape,
        (26, 26, 8),
        "the output shape",
        hints=[((28, 28, 8), "a 'valid' convolution loses f − 1 pixels along each axis")],
    )
    return "26 = 28 − 3 + 1 along each axis, one channel per filter"


POOL_INPUT = np.array([[1, 5, 2, 0], [3, 2, 8, 1], [0, 1, 4, 4], [7, 2, 3, 9]], dtype=float)


def judge_pooled(cells, trials):
    """99.pooled (predict, Array): 2×2 max pooling of POOL_INPUT, stride 2."""
    same_prediction(cells, ops.pool2d(POOL_INPUT, 2), "the pooled 2×2 array")
    return "each cell is the largest of its 2×2 block"


def conv_trials(rng):
    sizes = [(5, 5, 3), (7, 4, 3), (6, 9, 3)]
    return [{"x": rng.normal(size=(h, w)), "kernel": rng.normal(size=(k, k))} for h, w, k in sizes]


def judge_conv2d(outputs, trials):
    """99.conv2d (implement, Function): valid cross-correlation, stride 1."""
    for got, case in zip(outputs, trials):
        expected = ops.conv2d(case["x"], case["kernel"])
        same_array(
            got,
            expected,
            f"on {describe_input(case)}",
            hints=[(ops.true_conv2d(case["x"], case["kernel"]), "the kernel was flipped")],
        )
    return f"right on {len(trials)} random images and kernels"


def judge_small_cnn(model, trials):
    """99.small_cnn (design, Model): a CNN for 28×28×1 digits with fewer than 10,000
    parameters, ending in 10 softmax outputs."""
    network = core.rebuild_model(model)
    count = network.count_params()
    if not any(type(layer).__name__ == "Conv2D" for layer in network.layers):
        raise Wrong("your model has no Conv2D layer", "this exercise asks for a CNN")
    shape = tuple(network(np.zeros((1, 28, 28, 1))).shape)
    if shape != (1, 10):
        raise Wrong(f"your model's output for one image has shape {shape}; 10 classes")
    if count >= 10_000:
        raise Wrong(f"your model has {count:,} parameters", "pool before flattening")
    return f"{count:,} parameters"


def judge_descent(results, trials):
    """99.descent (experiment, Function): gradient descent on f(w) = (w − 3)², from the seed's
    start, 20 steps of the given learning rate; the answer reports the first and last loss."""
    for result, case in zip(results, trials):
        first, last = _descend(case["seed"], case["rate"])
        same_number(result["first"], first, f"the first loss, {describe_input(case)}")
        same_number(result["last"], last, f"the last loss, {describe_input(case)}", rtol=1e-6)
    return "the losses of every run agree with the judge's own descent"


def _descend(seed, rate):
    """The judge's own run: (first loss, last loss)."""
    w = np.random.default_rng(seed).normal() * 5
    first = (w - 3) ** 2
    for _ in range(20):
        w -= rate * 2 * (w - 3)
    return first, (w - 3) ** 2


def descent_trials(rng):
    return [{"seed": int(rng.integers(2**31)), "rate": float(rate)} for rate in (0.1, 0.01)]


def judge_forms(answer, trials):
    """99.forms (predict, Mapping of Size, Choice, Text, Sequence): a layer summary."""
    if answer["filters"] != 8:
        raise Wrong("the number of filters is not right")
    if answer["padding"] != "valid":
        raise Wrong("the padding is not right")
    if len(answer["why"].split()) < 3:
        raise Wrong("say why in a sentence")
    same_prediction(answer["strides"], [1, 1], "the strides")
    return "filters, padding and strides right"


EXAMPLES = {
    "99.parameters": (judge_parameters, dict(kind="predict", form=Number())),
    "99.output_shape": (judge_output_shape, dict(kind="predict", form=Shape())),
    "99.pooled": (judge_pooled, dict(kind="predict", form=Array(ndim=2))),
    "99.conv2d": (
        judge_conv2d,
        dict(
            kind="implement",
            form=Function(Array(), args=("x", "kernel")),
            trials=conv_trials,
            forbid=("cnnlib.ops.conv2d",),
        ),
    ),
    "99.small_cnn": (judge_small_cnn, dict(kind="design", form=Model())),
    "99.descent": (
        judge_descent,
        dict(
            kind="experiment",
            form=Function(Mapping({"first": Number(), "last": Number()}), args=("seed", "rate")),
            trials=descent_trials,
        ),
    ),
    "99.forms": (
        judge_forms,
        dict(
            kind="predict",
            form=Mapping(
                {
                    "filters": Size(),
                    "padding": Choice("valid", "same"),
                    "why": Text(),
                    "strides": Sequence(Number(), length=2),
                }
            ),
        ),
    ),
}


@pytest.fixture(autouse=True, scope="module")
def examples():
    for exercise_id, (judge, options) in EXAMPLES.items():
        core.exercise(exercise_id, f"test exercise {exercise_id}", difficulty="core", **options)(
            judge
        )
    yield
    for exercise_id in EXAMPLES:
        del core.REGISTRY[exercise_id]
        core._WRONG_TRIES.pop(exercise_id, None)
        core.RECORDED.pop(exercise_id, None)


# Right answers, written as a learner would.


def my_conv2d(x, kernel):
    kh, kw = kernel.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i : i + kh, j : j + kw] * kernel)
    return out


def my_descent(seed, rate):
    w = np.random.default_rng(seed).normal() * 5
    first = (w - 3) ** 2
    for _ in range(20):
        w -= rate * 2 * (w - 3)
    return {"first": first, "last": (w - 3) ** 2}


def small_cnn():
    import keras

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


RIGHT = {
    "99.parameters": 224,
    "99.output_shape": (None, 26, 26, 8),
    "99.pooled": [[5, 8], [7, 9]],
    "99.conv2d": my_conv2d,
    "99.descent": my_descent,
    "99.forms": {"filters": 8, "padding": "Valid ", "why": "no padding at all", "strides": (1, 1)},
}


def cross(exercise_id, answer):
    """The message and hint of the ✗ `check` gives (fails the test if it gives none)."""
    with pytest.raises(core.CheckFailed) as caught:
        labs.check(exercise_id, answer)
    return caught.value.what, caught.value.hint or ""


def test_the_worked_example_in_cores_docstring_runs_as_written():
    text = core.__doc__.split("::\n", 1)[1].split("\nA prediction's message", 1)[0]
    import textwrap

    namespace = {"__name__": "worked_example"}
    exec(compile(textwrap.dedent(text), "core.__doc__", "exec"), namespace)
    ids = [i for i in core.REGISTRY if i.startswith("90.")]
    try:
        assert sorted(ids) == ["90.conv2d", "90.descent", "90.output_shape", "90.small_cnn"]
        assert {core.REGISTRY[i].kind for i in ids} == set(core.KINDS)
        assert labs.passes("90.output_shape", (None, 26, 26, 8))
        assert labs.passes("90.conv2d", my_conv2d)
        assert labs.passes("90.small_cnn", small_cnn)
        assert labs.passes("90.descent", my_descent)
        with pytest.raises(core.CheckFailed, match="you used cnnlib.ops.conv2d"):
            labs.check("90.conv2d", ops.conv2d)
    finally:
        for exercise_id in ids:
            del core.REGISTRY[exercise_id]


# ---------------------------------------------------------------------------------------------
# The three outcomes, through check and through produce + judge
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_right_answers_pass_and_stubs_are_not_attempted(exercise_id, capsys):
    labs.check(exercise_id, RIGHT[exercise_id])
    assert capsys.readouterr().out.startswith(f"✓ {exercise_id}")
    labs.check(exercise_id, None)
    assert "not attempted yet" in capsys.readouterr().out


def test_a_function_stub_and_an_all_placeholder_mapping_are_not_attempted(capsys):
    def stub(x, kernel):
        raise NotImplementedError

    labs.check("99.conv2d", stub)
    labs.check("99.forms", {"filters": None, "padding": None, "why": None, "strides": None})
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_a_half_filled_answer_is_wrong_not_unattempted():
    what, hint = cross("99.forms", {"filters": 8, "padding": None, "why": None, "strides": None})
    assert "still a placeholder" in what and "'padding'" in what


def test_produce_and_judge_split_like_grading():
    trials = core.new_trials("99.conv2d", seed=5)
    again = core.new_trials("99.conv2d", seed=5)
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(trials, again))
    values = core.produce("99.conv2d", my_conv2d, trials)
    assert type(values) is tuple and all(type(v) is np.ndarray for v in values)
    assert all(v.dtype == np.float64 and v.flags.c_contiguous for v in values)
    assert core.judge("99.conv2d", values, trials) == core.Verdict(
        "correct", "right on 3 random images and kernels", None
    )
    flipped = core.produce("99.conv2d", lambda x, k: my_conv2d(x, k[::-1, ::-1]), trials)
    verdict = core.judge("99.conv2d", flipped, trials)
    assert verdict.status == "wrong" and verdict.hint == "the kernel was flipped"


def test_values_a_kernel_made_up_are_refused_before_the_judge_sees_them():
    """In grading the values come from the student's kernel. Fewer outputs than trials left
    trials unjudged (`zip` stops early): an empty tuple was "correct" for 8 course exercises."""
    trials = core.new_trials("99.conv2d", seed=5)
    values = core.produce("99.conv2d", my_conv2d, trials)
    for made_up in [(), values[:-1], values + values[:1], list(values), values[0], None]:
        verdict = core.judge("99.conv2d", made_up, trials)
        assert verdict.status == "wrong" and "not what the check makes" in verdict.message
    outputs = (values[0].astype(bool),) + values[1:]  # one output of another type
    assert core.judge("99.conv2d", outputs, trials).status == "wrong"
    assert core.judge("99.conv2d", values, trials).status == "correct"


def test_no_course_exercise_is_correct_on_values_made_up_without_its_answer():
    made_up = [(), [], {}, None, True, 0.0, float("nan"), "", np.zeros(0), np.zeros((0, 0))]
    assert len(labs.EXERCISES) >= 37  # every exercise of notebooks 01–07, and the tooling checks
    for exercise_id in labs.EXERCISES:
        trials = core.new_trials(exercise_id, seed=3)
        for value in made_up:
            verdict = core.judge(exercise_id, value, trials)
            assert verdict.status == "wrong", (exercise_id, value)


def _hollow(form, trials):
    """Values in exactly `form`'s shape that carry no answer: empty, zero, nan and inf arrays,
    extreme numbers, the smallest sizes (what a kernel writing values by hand would try)."""
    if isinstance(form, core.Function):
        return [tuple([v] * len(trials)) for v in _hollow(form.output, None)]
    if isinstance(form, core.Array):
        shapes = [(0,), (0, 0), (), (1, 1)]
        fills = (0.0, np.nan, np.inf) if form.dtype.kind == "f" else (0,)
        return [np.full(shape, fill, dtype=form.dtype) for shape in shapes for fill in fills]
    if isinstance(form, core.Number):
        return [0.0, np.nan, np.inf, -np.inf, 1e308]
    if isinstance(form, core.Size):
        return [form.minimum, 2**61]
    if isinstance(form, core.Shape):
        return [(1,), (1, 1, 1)]
    if isinstance(form, core.Sequence):
        parts = [_hollow(f, None) for f in form.forms or [form.form] * (form.length or 1)]
        if not all(parts):
            return []
        return [tuple(p[i % len(p)] for p in parts) for i in range(max(map(len, parts)))]
    if isinstance(form, core.Mapping) and form.fields:
        parts = {key: _hollow(f, None) for key, f in form.fields.items()}
        if not all(parts.values()):
            return []
        return [
            {k: p[i % len(p)] for k, p in parts.items()}
            for i in range(max(map(len, parts.values())))
        ]
    return []  # choices, text, models, histories: nothing hollow to try


@pytest.mark.slow  # 241 judgements, some computing gradients or VGG16 features first: ~13 s
def test_hollow_values_in_the_right_form_are_never_correct_and_never_stop_the_grader(tmp_path):
    """Through the grader's own reading and judging (`judging.verdicts`): each hollow value is a
    row `wrong` — never `correct`, and not an `error` from a check tripping on it (an exception
    there ended the whole class's grading: `int(inf)` in 03.receptive_field's judge)."""
    from cnnlib.labs.grading import judging

    tried = 0
    for exercise_id in labs.EXERCISES:
        trials = {exercise_id: core.new_trials(exercise_id, seed=11)}
        form = core.REGISTRY[exercise_id].form
        for number, value in enumerate(_hollow(form, trials[exercise_id])):
            folder = tmp_path / f"{exercise_id}-{number}"
            folder.mkdir()
            core.to_wire(value, folder, exercise_id)
            status = {"exercise": exercise_id, "status": "values"}
            (folder / f"{exercise_id}.status.json").write_text(json.dumps(status))
            [(row, message)] = judging.verdicts(folder, trials).values()
            assert row == "wrong", (exercise_id, value, row, message)
            tried += 1
    assert tried > 200


def test_a_model_configuration_asking_for_billions_of_weights_is_refused_before_it_is_built():
    """A kernel's Model values: a few numbers of configuration (Dense with 1,300,000 units) asked
    the judging process for 7 billion weights (28 GB); 10**8 of them took 1.2 GB before."""
    import resource

    import keras

    from cnnlib.labs import ex05  # noqa: F401 - registers 05.small_cnn

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3), keras.layers.Flatten()]
        + [keras.layers.BatchNormalization(), keras.layers.Dense(10)]
    )
    honest = core.produce("05.small_cnn", model, core.new_trials("05.small_cnn", 1))
    assert core.Model().conform(honest)["config"] == honest["config"]  # the counts agree
    config = json.loads(honest["config"])
    [dense] = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
    dense["config"]["units"] = 1_300_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for weights in [(), honest["weights"]]:
        made_up = {"config": json.dumps(config), "weights": weights}
        verdict = core.judge("05.small_cnn", made_up, core.new_trials("05.small_cnn", 1))
        assert verdict.status == "wrong" and "7,031,721,712 parameters" in verdict.message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # kB


def test_a_layer_without_weights_that_asks_for_gigabytes_is_refused_before_the_model_runs():
    """UpSampling2D(1000) has no weights and passes every shape check of 05.small_cnn: on the
    judge's 4 test images it asked for 784,000,000 numbers each (12.5 GB)."""
    import keras

    from cnnlib.labs import ex05  # noqa: F401 - registers 05.small_cnn

    layers = keras.layers
    bomb = keras.Sequential(
        [keras.Input((28, 28, 1)), layers.UpSampling2D(1000), layers.Conv2D(2, 3)]
        + [layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")]
    )
    values = {"config": bomb.to_json(), "weights": tuple(np.float64(w) for w in bomb.get_weights())}
    started = time.perf_counter()
    verdict = core.judge("05.small_cnn", values, core.new_trials("05.small_cnn", 1))
    assert verdict.status == "wrong" and "outputs 1,567,776,008 numbers" in verdict.message
    assert time.perf_counter() - started < 5
    with pytest.raises(AssertionError, match="outputs 1,567,776,008 numbers"):  # the learner's
        labs.check("05.small_cnn", bomb)
    unknown = keras.Sequential([keras.Input((None, None, 1)), layers.Conv2D(2, 3)])
    weights = tuple(np.float64(w) for w in unknown.get_weights())
    with pytest.raises(core.FormError, match="an output of no fixed size"):
        core.Model().conform({"config": unknown.to_json(), "weights": weights})


def test_a_model_of_thousands_of_layers_is_refused_before_keras_builds_it():
    """Keras's time to rebuild a configuration grows faster than its layers (200 ReLUs ~7 s here,
    1,000 a RecursionError); a 64 MB wire value holds ~200,000."""
    import keras

    config = json.loads(keras.Sequential([keras.Input((4,)), keras.layers.ReLU()]).to_json())
    [start, relu] = config["config"]["layers"]

    def with_relus(count):
        config["config"]["layers"] = [start] + [
            dict(relu, config=dict(relu["config"], name=f"r{i}")) for i in range(count)
        ]
        return {"config": json.dumps(config), "weights": ()}

    started = time.perf_counter()
    with pytest.raises(core.FormError, match=r"has 101 layers, more than the 100"):
        core.Model().conform(with_relus(core.MAX_LAYERS + 1))
    with pytest.raises(core.FormError, match=r"has 20000 layers"):
        core.Model().conform(with_relus(20_000))
    assert time.perf_counter() - started < 5
    assert core.Model().conform(with_relus(12))["weights"] == ()


def test_a_check_that_fails_on_values_is_an_error_row_not_the_end_of_the_class(tmp_path):
    from cnnlib.labs.grading import judging

    @core.exercise("98.fragile", "a judge with a bug", "predict", "core", form=core.Number())
    def fragile(value, trials):
        raise RuntimeError("a bug in the judge")

    try:
        trials = {"98.fragile": {}}
        core.to_wire(2.0, tmp_path, "98.fragile")
        status = {"exercise": "98.fragile", "status": "values"}
        (tmp_path / "98.fragile.status.json").write_text(json.dumps(status))
        row, message = judging.verdicts(tmp_path, trials)["98.fragile"]
        assert row == "error" and "the check itself failed" in message
        assert "RuntimeError: a bug in the judge" in message
    finally:
        core.REGISTRY.pop("98.fragile", None)


def test_a_form_that_cannot_conform_its_values_is_refused_at_registration():
    class Loose(core.Form):
        def convert(self, answer, where=""):
            return answer

    with pytest.raises(TypeError, match="does not say what its values look like"):
        core.exercise("98.loose", "t", "predict", "core", form=Loose())


def test_the_function_gets_copies_of_the_trials():
    trials = core.new_trials("99.conv2d", seed=1)
    kept = [case["x"].copy() for case in trials]

    def vandal(x, kernel):
        result = my_conv2d(x, kernel)
        x[...] = 0  # changes its own copy only
        return result

    core.produce("99.conv2d", vandal, trials)
    assert all(np.array_equal(case["x"], k) for case, k in zip(trials, kept))


def test_a_crash_in_the_learners_function_names_the_input():
    what, _ = cross("99.conv2d", lambda x, kernel: x[100])
    assert "your function raised IndexError" in what and "x: " in what and "array" in what


@pytest.mark.parametrize(
    "answer, message",
    [
        ("224", "expected a number"),
        (True, "True/False"),
        ([224], "expected a number"),
        (np.array([224, 1]), "expected one number"),
        (1 + 2j, "a number type the check does not take"),
    ],
)
def test_a_number_of_the_wrong_form_is_a_cross_about_the_form(answer, message):
    what, hint = cross("99.parameters", answer)
    assert message in what and ("expected" in what + hint or "plain number" in hint)


@pytest.mark.parametrize(
    "answer",
    [224, 224.0, np.int64(224), np.float32(224), np.array(224), decimal.Decimal("224")],
)
def test_numbers_written_every_legitimate_way_pass(answer):
    assert labs.passes("99.parameters", answer)
    assert labs.passes("99.parameters", fractions.Fraction(448, 2))


def test_a_zero_d_tensorflow_tensor_passes():
    import tensorflow as tf

    assert labs.passes("99.parameters", tf.constant(224.0))
    assert labs.passes("99.parameters", tf.reduce_sum(tf.ones((224,))))
    assert labs.passes("99.pooled", tf.constant([[5.0, 8.0], [7.0, 9.0]]))
    assert labs.passes("99.pooled", [tf.constant([5, 8]), np.array([7.0, 9.0])])  # mixed rows


@pytest.mark.parametrize(
    "answer, message",
    [
        ((26.5, 26, 8), "not a whole number"),
        ((26, None, 8), "None where a size belongs"),
        ("26x26x8", "expected a shape"),
        ((0, 26, 8), "less than 1"),
    ],
)
def test_shapes_of_the_wrong_form(answer, message):
    assert message in cross("99.output_shape", answer)[0]


def test_a_sequence_of_different_forms_and_a_model_from_a_function_of_the_trials():
    pair = Sequence((Shape(batch=True), Number()))
    assert pair.convert(((64, 224, 224, 3), np.float32(38.5))) == ((64, 224, 224, 3), 38.5)
    with pytest.raises(core.FormError, match="expected 2 items, got 1"):
        pair.convert([(64, 224, 224, 3)])
    with pytest.raises(core.FormError, match=r"still a placeholder \(None or ...\): item 1"):
        pair.convert(((64, 224, 224, 3), None))
    assert core._uses_model(Function(Model())) and not core._uses_model(Function(Array()))


def test_a_sequence_reads_an_array_or_tensor_along_its_first_axis():
    import tensorflow as tf

    rows = [(27, 27, 8), (14, 14, 16)]
    shapes = Sequence(Shape(ndim=3), length=2)
    assert shapes.convert(np.array(rows)) == tuple(rows)
    assert shapes.convert(tf.constant(rows)) == tuple(rows)
    assert Sequence(Number()).convert(np.array([1.5, 2])) == (1.5, 2.0)
    with pytest.raises(core.FormError, match="expected 2 items, got 3"):
        shapes.convert(np.ones((3, 3), dtype=int))
    with pytest.raises(core.FormError, match="expected a list"):
        shapes.convert(np.array(5))


def test_a_choice_outside_the_options_and_a_missing_key_are_named():
    answer = dict(RIGHT["99.forms"], padding="full")
    assert "'full' is not one of 'valid', 'same'" in cross("99.forms", answer)[0]
    answer = {k: v for k, v in RIGHT["99.forms"].items() if k != "why"}
    assert "missing 'why'" in cross("99.forms", answer)[0]


def test_the_model_form_rebuilds_a_builtin_model_and_refuses_a_lambda():
    import keras

    assert labs.passes("99.small_cnn", small_cnn)  # a build function
    assert labs.passes("99.small_cnn", small_cnn())  # the model itself
    values = core.produce("99.small_cnn", small_cnn, {})
    assert set(values) == {"config", "weights"} and type(values["config"]) is str
    lambda_model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Flatten()]
    )
    what, hint = cross("99.small_cnn", lambda_model)
    assert "Lambda" in what and "built-in" in what
    # values forged in a kernel are checked again on the judging side
    forged = dict(values, config=lambda_model.to_json())
    with pytest.raises(Wrong, match="Lambda"):
        core.rebuild_model(forged)


# ---------------------------------------------------------------------------------------------
# Predictions: no expected value, and after three wrong tries no direction or position
# ---------------------------------------------------------------------------------------------


def test_a_wrong_prediction_never_states_the_expected_value():
    for wrong in (216, 225, 1000):
        what, hint = cross("99.parameters", wrong)
        assert "224" not in what + hint
    core._WRONG_TRIES.pop("99.parameters", None)


def test_after_three_wrong_tries_a_prediction_says_no_position_and_says_so():
    core._WRONG_TRIES.pop("99.pooled", None)
    detailed = [cross("99.pooled", [[5, 8], [7, k]])[0] for k in (1, 2, 3)]
    assert all("index (1, 1)" in message for message in detailed)
    what, hint = cross("99.pooled", [[5, 8], [7, 4]])
    assert "index" not in what and "(1, 1)" not in what
    assert "after 3 wrong tries" in hint and "no longer says which part" in hint
    assert labs.passes("99.pooled", RIGHT["99.pooled"])  # a right answer still passes
    core._WRONG_TRIES.pop("99.pooled", None)


# ---------------------------------------------------------------------------------------------
# Record mode and the kernel's side of grading
# ---------------------------------------------------------------------------------------------


def test_record_mode_stores_the_answer_and_prints_no_verdict(monkeypatch, capsys):
    monkeypatch.setenv(core.RECORD_MODE_VARIABLE, "record")
    labs.check("99.parameters", 3)  # wrong, but no ✗ in record mode
    labs.check("99.conv2d", my_conv2d)
    out = capsys.readouterr().out
    assert out.count("recorded for grading") == 2 and "✓" not in out and "✗" not in out
    assert core.RECORDED["99.parameters"] == 3 and core.RECORDED["99.conv2d"] is my_conv2d


def test_produce_all_writes_values_and_statuses(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "RECORDED", {})
    monkeypatch.setenv(core.RECORD_MODE_VARIABLE, "record")
    labs.check("99.conv2d", my_conv2d)
    labs.check("99.parameters", "two hundred")  # a form error
    labs.check("99.output_shape", None)  # the stub
    ids = ["99.conv2d", "99.parameters", "99.output_shape", "99.pooled"]
    trials = {exercise_id: core.new_trials(exercise_id, seed=7) for exercise_id in ids}
    core.to_wire(trials, tmp_path / "in", "trials") if (tmp_path / "in").mkdir() is None else None
    statuses = submit.produce_all(tmp_path / "in", tmp_path / "out")
    assert statuses == {
        "99.conv2d": "values",
        "99.parameters": "form error",
        "99.output_shape": "not attempted",
        "99.pooled": "not attempted",
    }
    values = core.from_wire(tmp_path / "out", "99.conv2d")
    read_trials = core.from_wire(tmp_path / "in", "trials")["99.conv2d"]
    assert core.judge("99.conv2d", values, read_trials).status == "correct"
    status = json.loads((tmp_path / "out" / "99.parameters.status.json").read_text())
    assert status["status"] == "form error" and "expected a number" in status["message"]
    assert not (tmp_path / "out" / "99.parameters.json").exists()


def test_produce_all_never_raises_on_unreadable_trials(tmp_path):
    (tmp_path / "trials.json").write_text("not json")
    assert submit.produce_all(tmp_path, tmp_path / "out") == {}
    status = json.loads((tmp_path / "out" / "_trials.status.json").read_text())
    assert status["status"] == "error"


# ---------------------------------------------------------------------------------------------
# The wire: strict types, no pickle, sizes capped
# ---------------------------------------------------------------------------------------------


def test_values_cross_the_wire_with_their_exact_types(tmp_path):
    values = {
        "n": 3,
        "x": 0.5,
        "nan": float("nan"),
        "flag": True,
        "text": "héllo",
        "shape": (28, 28, 16),
        "list": [1, 2.5],
        "array": np.arange(6.0).reshape(2, 3),
        "ints": np.arange(4),
        "mask": np.array([True, False]),
        7: None,
    }
    core.to_wire(values, tmp_path, "v")
    back = core.from_wire(tmp_path, "v")
    assert set(back) == set(values)
    for key in ("n", "x", "flag", "text", "shape", "list"):
        assert back[key] == values[key] and type(back[key]) is type(values[key])
    assert np.isnan(back["nan"])
    for key in ("array", "ints", "mask"):
        assert type(back[key]) is np.ndarray and back[key].dtype == values[key].dtype
        assert np.array_equal(back[key], values[key])


def test_a_zero_d_array_keeps_its_shape_across_the_wire(tmp_path):
    values = (np.array(2.5), np.array(3), np.array(True), np.zeros((0, 2)), np.ones((1,)))
    core.to_wire(values, tmp_path, "v")
    for back in (core.from_wire(tmp_path, "v"), core._through_wire(values)):
        assert [a.shape for a in back] == [a.shape for a in values]
        assert [a.dtype for a in back] == [a.dtype for a in values]


@pytest.mark.parametrize(
    "value",
    [np.float32(1), np.arange(3, dtype=np.float32), np.array([object()]), object(), {(1, 2): 3}],
)
def test_to_wire_refuses_what_is_not_plain(tmp_path, value):
    with pytest.raises((TypeError, ValueError)):
        core.to_wire(value, tmp_path, "v")


def _write_wire(folder, value, arrays=None):
    (folder / "v.json").write_text(json.dumps({"format": core.WIRE_FORMAT, "value": value}))
    np.savez(folder / "v.npz", **(arrays or {}))


def test_from_wire_refuses_a_pickle(tmp_path):
    import pickle

    _write_wire(tmp_path, 1)
    (tmp_path / "v.npz").write_bytes(pickle.dumps({"a0": np.zeros(3)}))
    with pytest.raises(ValueError, match="not an .npz archive"):
        core.from_wire(tmp_path, "v")


def test_from_wire_refuses_an_object_array(tmp_path):
    _write_wire(tmp_path, {"$array": "a0"})
    np.savez(tmp_path / "v.npz", a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError):
        core.from_wire(tmp_path, "v")


def test_from_wire_refuses_a_huge_array(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "MAX_NPZ_BYTES", 10_000)
    _write_wire(tmp_path, {"$array": "a0"}, {"a0": np.zeros(5_000)})
    with pytest.raises(ValueError, match="larger than|unpacks to more"):
        core.from_wire(tmp_path, "v")


def test_from_wire_reads_the_header_before_allocating(tmp_path):
    import io
    import zipfile

    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    _write_wire(tmp_path, {"$array": "a0"})
    with zipfile.ZipFile(tmp_path / "v.npz", "w") as archive:  # claims 8 TB in a few bytes
        archive.writestr("a0.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="capped"):
        core.from_wire(tmp_path, "v")


@pytest.mark.parametrize(
    "value",
    [
        {"$tuple": "not a list"},
        {"$float": "1e400"},
        {"$array": "a9"},
        {"__class__": "os.system"},
        {"$dict": [[1.5, 2]]},
        {"$tuple": [], "extra": 1},
    ],
)
def test_from_wire_refuses_wrong_json_types(tmp_path, value):
    _write_wire(tmp_path, value)
    with pytest.raises(ValueError):
        core.from_wire(tmp_path, "v")


def test_from_wire_refuses_nan_literals_and_duplicate_keys(tmp_path):
    np.savez(tmp_path / "v.npz")
    for text in (
        '{"format": "%s", "value": NaN}' % core.WIRE_FORMAT,
        '{"format": "%s", "value": 1, "value": 2}' % core.WIRE_FORMAT,
    ):
        (tmp_path / "v.json").write_text(text)
        with pytest.raises(ValueError):
            core.from_wire(tmp_path, "v")


# ---------------------------------------------------------------------------------------------
# Attacks (issue 24): answers that look for the expected value, and routes around "do it
# without X". Each fooled the one-step checks, which compared the answer object in reach of the
# expected value and watched only some calls.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [PeekingFloat(0.0), PeekingScalar()])
def test_a_number_that_reads_the_callers_frames_is_refused(answer):
    what, _ = cross("99.parameters", answer)
    assert "number type the check does not take" in what or "expected a number" in what


def test_an_array_that_reads_the_callers_frames_is_refused():
    what, hint = cross("99.pooled", PeekingArray(np.zeros((2, 2))))
    assert "only looks like an array" in what


def test_a_disguised_peeking_array_finds_nothing_expected():
    # Its __array__ runs (it claims to be a tensor), but in produce, before anything expected
    # exists: it finds nothing and the answer is simply wrong.
    what, _ = cross("99.pooled", DisguisedPeekingArray(np.zeros((2, 2))))
    assert "not right" in what
    core._WRONG_TRIES.pop("99.pooled", None)


@pytest.mark.slow  # walks every object of a process with TensorFlow loaded (~5 s)
def test_a_gc_search_for_the_expected_array_finds_nothing():
    cross("99.pooled", HeapArray((2, 2), skip=(POOL_INPUT,)))
    core._WRONG_TRIES.pop("99.pooled", None)

    def gc_conv(x, kernel):  # the same search from inside a function
        shape = (x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1)
        return np.array(HeapArray(shape))

    cross("99.conv2d", gc_conv)


class RaisingNumber:
    __module__ = "tensorflow.python.framework.ops"

    def numpy(self):
        raise RuntimeError("cannot read this tensor")

    def __float__(self):
        raise RuntimeError("no float for you")


@pytest.mark.parametrize("answer", [RaisingNumber(), decimal.Decimal("sNaN")])
def test_a_number_whose_conversion_raises_is_a_cross_about_the_form(answer):
    what, _ = cross("99.parameters", answer)
    assert "could not be read" in what or "cannot be read as a number" in what
    what, _ = cross("99.conv2d", lambda x, kernel: RaisingNumber())
    assert "could not be read" in what and "on x:" in what


def test_any_exception_while_reading_the_answer_is_a_cross_about_the_form():
    class Odd(BaseException):
        pass

    def odd(x, kernel):
        raise Odd("not even an Exception")

    assert "your function raised Odd" in cross("99.conv2d", odd)[0]

    class Tensorish:
        __module__ = "torch.fake"

        def numpy(self):
            raise Odd("from numpy()")

    what, hint = cross("99.pooled", Tensorish())
    assert "could not be read" in what or "reading your answer raised Odd" in what
    core._WRONG_TRIES.pop("99.pooled", None)


def test_a_lazy_array_is_materialised_inside_the_watch():
    what, _ = cross("99.conv2d", lazily(ops.conv2d, disguised=True))
    assert "you used cnnlib.ops.conv2d, which this exercise asks you to do without" in what


def test_the_forbidden_reference_called_from_a_thread_is_seen():
    assert "you used cnnlib.ops.conv2d" in cross("99.conv2d", in_a_thread(ops.conv2d))[0]


def test_a_thread_started_after_switching_threadings_profiler_off_is_refused():
    unwatched_thread = profiler_off(in_a_thread(ops.conv2d), sys_profile=False)
    assert "switched the profiler off" in cross("99.conv2d", unwatched_thread)[0]


def test_a_thread_started_below_threading_is_refused():
    what, _ = cross("99.conv2d", in_a_raw_thread(ops.conv2d))
    assert "could not watch" in what or "you used" in what


def test_switching_the_profiler_off_is_a_cross():
    what, hint = cross("99.conv2d", profiler_off(ops.conv2d, thread_profile=False))
    assert "switched the profiler off, so the check could not watch" in what


def test_another_process_is_a_cross():
    import subprocess
    import sys

    def elsewhere(x, kernel):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return my_conv2d(x, kernel)

    assert "started another process" in cross("99.conv2d", elsewhere)[0]


START_UP = """
import _thread, subprocess, sys, threading

_idle = threading.Event()


def _pool():
    _idle.wait()


subprocess.run([sys.executable, "-c", "pass"], check=True)
threading.Thread(target=_pool, name="{name} pool", daemon=True).start()
_thread.start_new_thread(_pool, ())
"""


@pytest.fixture
def start_up_module(monkeypatch):
    """Write a module that starts a process and two idle threads on import; afterwards stop
    its threads (left running, they would be 'code still running' to every later check)."""
    written = []

    def write(folder, name):
        (folder / f"{name}.py").write_text(START_UP.format(name=name))
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.delitem(sys.modules, name, raising=False)
        written.append((folder, name))
        return name

    yield write
    for folder, name in written:
        module = sys.modules.pop(name, None)
        if module is not None:
            module._idle.set()
        file = str(folder / f"{name}.py")
        for _ in range(500):
            if not any(f.f_code.co_filename == file for f in sys._current_frames().values()):
                break
            time.sleep(0.01)


def test_a_library_starting_a_process_and_daemon_threads_on_import_is_no_cross(
    tmp_path, monkeypatch, start_up_module
):
    """TensorFlow's first import runs `uname -p`; other libraries start a daemon pool. Imported
    for the first time inside the answer, that is the library's start-up, not the learner's."""
    import importlib

    library = tmp_path / "site-packages"
    library.mkdir()
    monkeypatch.setattr(core, "_TRUSTED_ROOTS", (*core._TRUSTED_ROOTS, str(library)))
    name = start_up_module(library, "startup_library")

    def imports_a_library(x, kernel):
        importlib.import_module(name)
        return my_conv2d(x, kernel)

    assert labs.passes("99.conv2d", imports_a_library)
    assert any(t.name == f"{name} pool" for t in threading.enumerate())


def test_a_module_of_the_learners_starting_a_process_on_import_is_a_cross(
    tmp_path, start_up_module
):
    import importlib

    name = start_up_module(tmp_path, "learners_startup_module")

    def imports_own_module(x, kernel):
        importlib.import_module(name)
        return my_conv2d(x, kernel)

    what, _ = cross("99.conv2d", imports_own_module)
    assert "started another process" in what and "started a thread" in what


@pytest.mark.slow
def test_importing_tensorflow_for_the_first_time_inside_the_answer_passes(tmp_path):
    """In a fresh process (TensorFlow not imported yet), an answer that imports it passes."""
    import subprocess

    script = (
        "import sys\n"
        "from cnnlib.labs import core\n"
        "assert 'tensorflow' not in sys.modules\n"
        "def output_size(n, f, padding, stride):\n"
        "    import tensorflow\n"
        "    return (n + 2 * padding - f) // stride + 1\n"
        "core._warm_up.cache_clear()\n"
        "core._warm_up = lambda: None  # the import alone, no warm-up of platform.processor\n"
        "assert core.passes('03.output_size', output_size)\n"
        "print('passed')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert run.stdout.strip().endswith("passed"), run.stderr[-2000:]


def test_aliases_and_twins_are_the_same_reference():
    import cnnlib.ops as renamed_module
    from cnnlib.ops import conv2d as c

    answers = {
        "cnnlib.ops.conv2d": lambda x, kernel: c(x, kernel),
        "cnnlib.ops.conv2d_loop": lambda x, kernel: renamed_module.conv2d_loop(x, kernel),
        "cnnlib.ops.true_conv2d": lambda x, kernel: ops.true_conv2d(x, kernel[::-1, ::-1]),
    }
    for name, answer in answers.items():
        what, _ = cross("99.conv2d", answer)
        assert f"you used {name}, which this exercise asks you to do without" in what


def test_a_reference_named_on_a_branch_the_trials_miss_is_found_in_the_source():
    def sometimes(x, kernel):
        if x.shape == (1000, 1000):  # never in the trials: the watch sees no call
            return ops.conv2d_loop(x, kernel)
        return my_conv2d(x, kernel)

    what, _ = cross("99.conv2d", sometimes)
    assert "you used cnnlib.ops.conv2d_loop" in what and "your code names it" in what


def test_a_helper_of_the_notebook_calling_the_reference_is_found_in_its_source():
    assert "you used cnnlib.ops.conv2d" in cross("99.conv2d", _uses_a_helper)[0]


def _helper_conv(x, kernel):
    if x.size < 0:
        return ops.conv2d(x, kernel)
    return my_conv2d(x, kernel)


def _uses_a_helper(x, kernel):
    return _helper_conv(x, kernel)


def test_asking_the_judge_from_inside_the_answer_is_a_cross():
    def oracle(x, kernel):  # tries candidates against the judge itself
        core.judge("99.conv2d", (my_conv2d(x, kernel),), [{"x": x, "kernel": kernel}])
        return my_conv2d(x, kernel)

    assert "you used cnnlib.labs.core.judge" in cross("99.conv2d", oracle)[0]


def test_calling_the_checks_own_helpers_is_a_cross():
    # _descend is the judge's private helper for 99.descent (which forbids nothing else).
    what, _ = cross(
        "99.descent", lambda seed, rate: dict(zip(("first", "last"), _descend(seed, rate)))
    )
    assert "you used tests.labs.test_boundary._descend" in what or "_descend" in what


def test_an_answer_by_call_order_fails_on_fresh_trials():
    replies = []

    def recorder(seed, rate):  # learns the answers of one check, replays them in order
        result = my_descent(seed, rate)
        replies.append(result)
        return result

    assert labs.passes("99.descent", recorder)
    canned = list(replies)
    cross("99.descent", lambda seed, rate: canned.pop(0))


def _peek_and_fix(frame, event, arg):
    """A trace hook: inside the judge's comparison, overwrite the answer with what is expected."""
    if event == "call" and frame.f_code.co_name in ("same_array", "same_prediction"):
        return _peek_and_fix
    if event == "line" and {"got", "expected"} <= set(frame.f_locals):
        got, expected = frame.f_locals["got"], frame.f_locals["expected"]
        if type(got) is np.ndarray and type(expected) is np.ndarray and got.shape == expected.shape:
            got[...] = expected
    return _peek_and_fix


def test_a_trace_hook_left_behind_cannot_touch_the_judge():
    import sys

    previous = sys.gettrace()
    sys.settrace(_peek_and_fix)
    try:
        cross("99.pooled", [[0, 0], [0, 0]])
        assert sys.gettrace() is _peek_and_fix  # suspended for the judge, then put back
    finally:
        sys.settrace(previous)
    core._WRONG_TRIES.pop("99.pooled", None)

    def installs_hook(x, kernel):
        sys.settrace(_peek_and_fix)
        return np.zeros((x.shape[0] - 2, x.shape[1] - 2))

    try:
        cross("99.conv2d", installs_hook)
        assert sys.gettrace() is previous  # what the answer installed is gone
    finally:
        sys.settrace(previous)


def test_a_gc_callback_or_a_timer_left_behind_cannot_touch_the_judge():
    import gc
    import signal

    walking = []

    def fix_from_anywhere(*_):
        # Not re-entered: on a loaded machine one walk of the stack outlasts the 0.1 ms timer, and
        # a handler interrupting itself recurses until Python gives up (a crash, not an attack).
        if walking:
            return
        walking.append(True)
        try:
            import sys

            frame = sys._getframe(1)
            while frame is not None:
                _peek_and_fix(frame, "line", None)
                frame = frame.f_back
        finally:
            walking.pop()

    gc.callbacks.append(fix_from_anywhere)
    previous = signal.signal(signal.SIGALRM, fix_from_anywhere)
    signal.setitimer(signal.ITIMER_REAL, 1e-4, 1e-4)
    try:
        for _ in range(3):
            cross("99.pooled", [[0, 0], [0, 0]])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.callbacks.remove(fix_from_anywhere)
    core._WRONG_TRIES.pop("99.pooled", None)


def test_a_thread_left_running_is_a_cross_not_a_peek():
    import threading

    stop = threading.Event()

    def peeker():  # watches every frame of the process, fixing the judge's comparison
        import sys

        while not stop.is_set():
            for frame in list(sys._current_frames().values()):
                while frame is not None:
                    _peek_and_fix(frame, "line", None)
                    frame = frame.f_back

    thread = threading.Thread(target=peeker, daemon=True)
    thread.start()
    try:
        what, _ = cross("99.pooled", [[0, 0], [0, 0]])
        assert "still running in another thread" in what
    finally:
        stop.set()
        thread.join()
    core._WRONG_TRIES.pop("99.pooled", None)

    leaves_a_thread = left_running(my_conv2d, seconds=0.5)
    try:
        assert "thread" in cross("99.conv2d", leaves_a_thread)[0]
    finally:
        leaves_a_thread.stop.set()


# ---------------------------------------------------------------------------------------------
# The tricks themselves (tests/labs/learners.py): each fools a check built the older way, so a
# test that expects a ✗ from one could fail
# ---------------------------------------------------------------------------------------------


def _naive_compare(answer, convert):
    """The older checks: convert the answer where the expected value is a local."""
    expected = np.array([[5.0, 8.0], [7.0, 9.0]])  # noqa: F841 - what the tricks look for
    return convert(answer)


@pytest.mark.parametrize(
    "answer, convert",
    [
        (PeekingFloat(0.0), float),
        (PeekingInt(0), int),
        (PeekingScalar(), float),
        (PeekingArray(np.zeros((2, 2))), np.asarray),
        (DisguisedPeekingArray(np.zeros((2, 2))), np.asarray),
    ],
    ids=["float subclass", "int subclass", "number-like object", "array-like", "disguised"],
)
def test_each_peeking_trick_finds_the_expected_value_in_reach(answer, convert):
    got = _naive_compare(answer, convert)
    assert np.ravel(got)[0] == 5.0  # not the answer's own 0: the expected value it found
    assert answer == "anything at all"


def test_the_heap_trick_finds_an_array_the_check_holds():
    # An array the garbage collector can reach: in a list, as a judge holding one expected
    # output per trial would keep it (a bare local in a frame it cannot see).
    held = [np.arange(21.0).reshape(3, 7) / 7]  # a shape no other array here has
    assert np.array_equal(np.asarray(HeapArray((3, 7))), held[0])
    assert PeekingStr("max").strip() == "avg" and PeekingStr("x") == "max"


def _calls_seen(answer, target, threads=False):
    """The older watch: a profile hook on this thread (and, with `threads`, on threads started
    through threading); the names of `target`'s calls it saw while the answer ran."""
    seen = []

    def hook(frame, event, arg):
        if event == "call" and frame.f_code is target.__code__:
            seen.append(target.__name__)

    sys.setprofile(hook)
    if threads:
        threading.setprofile(hook)
    try:
        answer(np.ones((4, 4)), np.ones((2, 2)))
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return seen


@pytest.mark.parametrize(
    "trick, threads",
    [
        (in_a_thread, False),
        (in_a_raw_thread, True),
        (profiler_off, False),
        (lambda f: profiler_off(in_a_thread(f), sys_profile=False), True),
        (lazily, False),  # the call comes later, when the check converts the answer
    ],
    ids=["thread", "raw thread", "profiler off", "threads' profiler off", "lazily"],
)
def test_each_route_around_the_watch_hides_the_call_from_the_older_watch(trick, threads):
    assert _calls_seen(my_conv2d, my_conv2d) == ["my_conv2d"]  # the watch works on plain code
    assert _calls_seen(trick(my_conv2d), my_conv2d, threads) == []


def test_the_thread_left_running_is_still_running_after_the_answer():
    answer = left_running(my_conv2d, seconds=5)
    before = set(threading.enumerate())
    answer(np.ones((4, 4)), np.ones((2, 2)))
    running = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    answer.stop.set()
    assert running


# ---------------------------------------------------------------------------------------------
# The grader's scan of a submission's code
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, reason",
    [
        ("from cnnlib.ops import conv2d as c\nc(x, k)", "names cnnlib.ops.conv2d"),
        ("import cnnlib.ops\ncnnlib.ops.conv2d_loop(x, k)", "names cnnlib.ops.conv2d_loop"),
        ("from cnnlib.ops import *", "imports everything from cnnlib.ops"),
        ("getattr(ops, 'conv' + '2d')(x, k)", "computed name"),
        ("getattr(ops, 'conv2d')(x, k)", "of 'conv2d', a forbidden name"),
        ("import cnnlib.ops as o\no.pad(x, 1)", "names cnnlib.ops.pad"),
        ("ops.output_size(7, 3)", "names cnnlib.ops.output_size"),
        ("exec(code)", "calls exec()"),
        ("eval('1')", "calls eval()"),
        ("__import__('cnnlib.ops')", "calls __import__()"),
        ("import importlib\nimportlib.import_module('cnnlib')", "imports importlib"),
        ("import sys\nsys.modules['cnnlib.ops']", "uses sys.modules"),
        ("globals()['f'] = 1", "calls globals()"),
        ("from cnnlib.labs import core\ncore.judge('02.conv2d', v, t)", "the check's own"),
        ("labs.REGISTRY['02.conv2d'].judge", "the check's own"),
        ("from cnnlib.labs.ex02 import _expected", "the check's own"),
        (
            "%timeit conv2d(x, k)\nfrom cnnlib import ops\nops.conv2d(x, k)",
            "names cnnlib.ops.conv2d",
        ),
    ],
)
def test_forbidden_in_source_names_references_and_dynamic_code(source, reason):
    reasons = core.forbidden_in_source(source, ("cnnlib.ops.conv2d",))
    assert any(reason in r for r in reasons), reasons


def test_forbidden_in_source_passes_honest_code():
    honest = (
        "import numpy as np\nfrom numpy import pad\nfrom cnnlib import labs\n"
        "labs.check('02.conv2d', None)\n\ndef conv2d(x, k):\n"
        "    x = np.pad(x, 1)\n    return np.sum(x[:3, :3] * k)\n"
    )
    assert core.forbidden_in_source(honest, ("cnnlib.ops.conv2d",)) == []


# ---------------------------------------------------------------------------------------------
# In a real kernel, as a learner and as the grader use it
# ---------------------------------------------------------------------------------------------

KERNEL_SETUP = """
import textwrap
from cnnlib import labs
from cnnlib.labs import core
exec(textwrap.dedent(core.__doc__.split("::\\n", 1)[1].split("\\nA prediction's message", 1)[0]))
"""

KERNEL_ANSWERS = """
import numpy as np
from cnnlib import ops

def my_conv2d(x, kernel):
    kh, kw = kernel.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i : i + kh, j : j + kw] * kernel)
    return out

labs.check("90.conv2d", my_conv2d)
labs.check("90.output_shape", (26, 26, 8))
"""


@pytest.mark.slow  # starts two kernels
def test_check_and_record_mode_in_a_real_kernel(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    def run(cells, **environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        NotebookClient(notebook, timeout=180, kernel_name="python3", allow_errors=True).execute(
            cwd=str(tmp_path)
        )
        return [
            "".join(o.get("text", "") for o in cell.outputs)
            + "".join("\n".join(o.get("traceback", [])) for o in cell.outputs)
            for cell in notebook.cells
        ]

    # The learner: a ✓, a lambda naming the reference is a ✗, with no traceback.
    out = run(
        [KERNEL_SETUP, KERNEL_ANSWERS, 'labs.check("90.conv2d", lambda x, k: ops.conv2d(x, k))']
    )
    assert "✓ 90.conv2d" in out[1] and "✓ 90.output_shape" in out[1]
    assert out[2].startswith("✗ 90.conv2d") and "you used cnnlib.ops.conv2d" in out[2]
    assert "Traceback" not in out[2]

    # The grader: record, then trials in, values out; judged here, outside the kernel.
    ids = ["90.conv2d", "90.output_shape", "90.descent"]
    exec(KERNEL_SETUP, {"__name__": "worked_example"})  # the grader registers the same judges
    try:
        trials = {exercise_id: core.new_trials(exercise_id, 2024) for exercise_id in ids}
        (tmp_path / "trials").mkdir()
        core.to_wire(trials, tmp_path / "trials", "trials")
        produce = "from cnnlib.labs import submit\nprint(submit.produce_all('trials', 'values'))"
        out = run([KERNEL_SETUP, KERNEL_ANSWERS, produce], **{core.RECORD_MODE_VARIABLE: "record"})
        assert out[1].count("recorded for grading") == 2 and "✓" not in out[1]
        for exercise_id in ("90.conv2d", "90.output_shape"):
            values = core.from_wire(tmp_path / "values", exercise_id)
            assert core.judge(exercise_id, values, trials[exercise_id]).status == "correct"
        status = json.loads((tmp_path / "values" / "90.descent.status.json").read_text())
        assert status["status"] == "not attempted"
    finally:
        for exercise_id in [i for i in core.REGISTRY if i.startswith("90.")]:
            del core.REGISTRY[exercise_id]
