"""Exercises of notebook 07 (VGG16 and transfer learning), in the three-piece form of `core`.

- 07.vgg_numbers (predict): VGG19's parameters per block and an output shape; no trials.
- 07.unfreeze_block5 (design): the learner's `prepare_fine_tuning(model, base, convolutions)` runs
  on phase-1 models the form builds on the learner's side; what it leaves (which layers train,
  whether the head trains, the compiled loss on a probe, the learning rate) crosses as plain values.
- 07.extract_features (implement): features from any block of a random VGG16 rebuilt from the
  trial's seed on both sides.
- 07.features_vs_end_to_end (experiment): the learner's timing function runs under the check's seed
  on the check's images; the judge checks that the two times are consistent with each other and
  with the time the call took. The times themselves are measured in the learner's kernel (what
  grading cannot re-measure): the evidence is produced in the check's call, never passed in.
- 07.top_k_error (implement): top-k error with ties, as tf.math.in_top_k counts them.
"""

import time

import numpy as np

from cnnlib.labs.core import (
    Array,
    Choice,
    FormError,
    Function,
    Mapping,
    Number,
    Sequence,
    Shape,
    Size,
    Text,
    Wrong,
    describe_input,
    exercise,
    same_array,
    same_number,
)

# ---------------------------------------------------------------------------------------------
# 07.vgg_numbers (predict)
# ---------------------------------------------------------------------------------------------

# VGG19 ("configuration E"): (filters, convolutions) per block; every kernel 3 × 3, 'same' padding.
VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
PREDICT_INPUT = (200, 150)  # height, width of the image in exercise 07.vgg_numbers


def block_parameters(blocks=VGG19_BLOCKS, kernel=3, biases=True, first_in_equals_out=False):
    """Parameters of each block (the formula, with knobs for the usual mistakes)."""
    counts, channels_in = [], 3
    for filters, convolutions in blocks:
        total = 0
        for conv in range(convolutions):
            c_in = filters if (conv > 0 or first_in_equals_out) else channels_in
            total += kernel * kernel * c_in * filters + (filters if biases else 0)
        counts.append(total)
        channels_in = filters
    return counts


def pooled_shape(height, width, rounding=np.floor):
    """Shape after block5_pool: five 2×2 poolings with stride 2; the 'same' convolutions keep the size."""
    for _ in range(5):
        height, width = int(rounding(height / 2)), int(rounding(width / 2))
    return (height, width, 512)


_BLOCK_HINTS = (
    (
        block_parameters(biases=False),
        "the biases are missing: each filter has one, so add the number of filters once per "
        "convolution",
    ),
    (
        block_parameters(kernel=1),
        "each filter holds 3 × 3 × (input channels) weights: the 3 × 3 is missing",
    ),
    (
        block_parameters(first_in_equals_out=True),
        "the first convolution of a block sees the previous block's channels (3 for block 1, "
        "64 for block 2, …), not its own number of filters",
    ),
    (
        block_parameters(VGG16_BLOCKS),
        "that is VGG16's block: VGG19 has four convolutions in each of blocks 3 to 5",
    ),
)


@exercise(
    "07.vgg_numbers",
    "predict VGG19's parameters per block and an output shape",
    "predict",
    "warm-up",
    form=Mapping({"block_params": Sequence(Size(), length=5), "block5_pool_shape": Shape()}),
)
def judge_vgg_numbers(answer, trials):
    """Five block counts of VGG19 and the (h, w, c) after block5_pool for a 200×150×3 input."""
    expected = block_parameters()
    for block, (got, right) in enumerate(zip(answer["block_params"], expected), start=1):
        if got != right:  # a prediction: which block, never the count nor the direction
            hint = next((h for wrong, h in _BLOCK_HINTS if wrong[block - 1] == got), None)
            raise Wrong(
                f"block {block}: your {got:,} parameters are not right",
                hint
                or "a 3 × 3 convolution from C_in to C_out channels holds 3·3·C_in·C_out + C_out "
                "parameters; VGG19 has 2, 2, 4, 4 and 4 convolutions in its five blocks",
            )
    h, w = PREDICT_INPUT
    shape, right = answer["block5_pool_shape"], pooled_shape(h, w)
    if shape != right:
        on = f"for a {h}×{w}×3 input, your shape after block5_pool {shape} is not right"
        if len(shape) != 3:
            raise Wrong(on, "give (height, width, channels): three numbers")
        if shape == pooled_shape(h, w, np.ceil):
            raise Wrong(
                on, "a 2 × 2 pooling with stride 2 rounds down: an odd row or column is dropped"
            )
        if shape[:2] == right[:2][::-1]:
            raise Wrong(on, "height comes first: (height, width, channels)")
        if shape[:2] == right[:2]:
            raise Wrong(on, "the number of channels is the last block's number of filters")
        raise Wrong(
            on,
            "VGG's convolutions use 'same' padding and keep the size; only each of the five "
            "poolings halves it (rounding down)",
        )
    return (
        f"blocks 1–5 hold {', '.join(f'{p:,}' for p in expected)} parameters, "
        f"{sum(expected):,} in all ({sum(expected) - sum(block_parameters(VGG16_BLOCKS)):,} more "
        f"than VGG16's base); a {h}×{w} image ends as {right[0]}×{right[1]}×{right[2]}"
    )


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5 (design)
# ---------------------------------------------------------------------------------------------

# VGG16's thirteen convolutions, in order (keras.applications' names).
VGG16_CONVOLUTIONS = tuple(
    f"block{b}_conv{i}" for b, (_, n) in enumerate(VGG16_BLOCKS, start=1) for i in range(1, n + 1)
)
_PROBE = (np.array([[1.0], [0.0], [1.0]]), np.array([[0.8], [0.3], [0.6]]))  # labels, outputs


def fine_tuning_trials(rng):
    """Three counts of convolutions to unfreeze: one inside block 5, one crossing into block 4,
    one more; in a new order each time."""
    counts = [int(rng.integers(1, 4)), int(rng.integers(4, 7)), int(rng.integers(7, 10))]
    return [{"convolutions": c} for c in rng.permutation(counts).tolist()]


class OnPhase1Model(Function):
    """The learner's `prepare_fine_tuning(model, base, convolutions)`, called on a VGG16 transfer
    model as phase 1 leaves it (built here, on the learner's side); what it leaves is read out."""

    def __init__(self):
        super().__init__(
            Mapping(
                {
                    "training": Sequence(Text()),
                    "head_trains": Choice(True, False),
                    "compiled": Choice(True, False),
                    "loss_on_probe": Number(),
                    "learning_rate": Number(),
                }
            ),
            args=("convolutions",),
        )

    def produce(self, answer, trials):
        if answer is None or answer is Ellipsis:
            return super().produce(answer, trials)  # the stub: not attempted
        if not callable(answer):
            return super().produce(answer, trials)  # the form's own sentence
        import keras

        from cnnlib.data.transfer import random_vgg16
        from cnnlib.lessons.transfer_models import build_head, full_model

        outputs = []
        for case in trials:
            base = random_vgg16(input_shape=(32, 32, 3), seed=0)
            model = full_model(base, build_head(name="head"))
            base.trainable = False  # where phase 1 leaves it
            # The learner's function returns nothing: call it (the form's own handling of a
            # stub, an exception, a placeholder) and read what it left in the model instead.
            _CALL.produce(_Learner(answer, model, base), [case])
            trains = {id(v) for v in model.trainable_weights}
            facts = {
                "training": [
                    layer.name
                    for layer in base.layers
                    if any(id(v) in trains for v in layer.weights)
                ],
                "head_trains": all(id(v) in trains for v in model.get_layer("head").weights),
                "compiled": bool(getattr(model, "compiled", False))
                and getattr(model, "optimizer", None) is not None,
                "loss_on_probe": _loss_on_probe(keras, model),
                "learning_rate": _learning_rate(keras, model),
            }
            outputs.append(self.output.convert(facts, f"on {describe_input(case)}: "))
        return tuple(outputs)


_CALL = Function(Number(), args=("convolutions",))


class _Learner:
    """The learner's function with the model and base in front of the trial's argument."""

    def __init__(self, function, model, base):
        self.function, self.model, self.base = function, model, base

    def __call__(self, convolutions):
        self.function(self.model, self.base, convolutions)
        return 0  # a placeholder output: the facts are read from the model afterwards


def _loss_on_probe(keras, model):
    """The compiled loss on three fixed (label, output) pairs, or NaN when there is none."""
    loss = getattr(model, "loss", None)
    if loss is None:
        return float("nan")
    try:
        function = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss
        value = function(_PROBE[0].astype("float32"), _PROBE[1].astype("float32"))
        return float(np.mean(keras.ops.convert_to_numpy(value)))
    except Exception as error:
        raise FormError(f"your model's loss could not be computed ({type(error).__name__})")


def _learning_rate(keras, model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return float("nan")
    return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))


@exercise(
    "07.unfreeze_block5",
    "choose what fine-tuning trains, and how fast",
    "design",
    "core",
    form=OnPhase1Model(),
    trials=fine_tuning_trials,
)
def judge_unfreeze(results, trials):
    """Exactly the last `convolutions` convolutions of the base and the head train; the model is
    compiled with binary cross-entropy at a fine-tuning learning rate."""
    bce = -np.mean(np.log([0.8, 0.7, 0.6]))
    for facts, case in zip(results, trials):
        count = case["convolutions"]
        on = f"with convolutions={count}"
        training = set(facts["training"])
        expected = set(VGG16_CONVOLUTIONS[len(VGG16_CONVOLUTIONS) - count :])
        extra, missing = sorted(training - expected), sorted(expected - training)
        if not training:
            raise Wrong(
                f"{on}: no layer of the base trains",
                "set `trainable = True` on the layers that should train (in Keras 3 each "
                "layer's own flag counts, even while the base's is False), then compile again",
            )
        if extra:
            hint = (
                "the whole base trains: 14.7 M parameters against a few thousand photos overfit, "
                "and the early blocks' edges and textures are generic anyway"
                if len(training) == len(VGG16_CONVOLUTIONS)
                else "count the convolutions back from the last one (block5_conv3); pooling "
                "layers have no weights and do not count"
            )
            raise Wrong(
                f"{on}: layers that should stay frozen train: {', '.join(extra)}"
                + (f"; and these should train but do not: {', '.join(missing)}" if missing else ""),
                hint,
            )
        if missing:
            raise Wrong(
                f"{on}: these convolutions should train but do not: {', '.join(missing)}",
                "the last `convolutions` convolutions, counted back from block5_conv3, can cross "
                "into block 4",
            )
        if not facts["head_trains"]:
            raise Wrong(
                f"{on}: the head does not train",
                "the new head must keep training together with the unfrozen convolutions",
            )
        if not facts["compiled"]:
            raise Wrong(
                f"{on}: the model is not compiled",
                "after changing what is trainable, compile the model again",
            )
        if not np.isclose(facts["loss_on_probe"], bce, rtol=1e-3):
            raise Wrong(
                f"{on}: the model is compiled with a loss other than binary cross-entropy",
                "the head still ends in one sigmoid unit for two classes: keep phase 1's loss",
            )
        rate = facts["learning_rate"]
        if not np.isfinite(rate) or rate <= 0:
            raise Wrong(
                f"{on}: the learning rate is {rate}", "a learning rate is a small positive number"
            )
        if rate > 1e-4:
            raise Wrong(
                f"{on}: learning rate {rate:g} is too large for fine-tuning",
                "large steps overwrite the pretrained weights within a few updates; fine-tuning "
                "uses a rate 10–100× below phase 1's",
            )
        if rate < 1e-7:
            raise Wrong(
                f"{on}: learning rate {rate:g} is so small that the unfrozen layers would hardly "
                "change",
                "a fine-tuning rate adjusts the pretrained weights without overwriting them; try "
                "a rate 10–100× below phase 1's",
            )
    counts = ", ".join(str(case["convolutions"]) for case in trials)
    return (
        f"exactly the last {counts} convolutions train with the head, at rate {rate:g}: the last "
        "block holds the most ImageNet-specific features, so adapting it helps most, and a small "
        "rate keeps what it knows"
    )


# ---------------------------------------------------------------------------------------------
# 07.extract_features (implement)
# ---------------------------------------------------------------------------------------------

FEATURE_LAYERS = ("block3_pool", "block4_conv3", "block4_pool", "block5_conv1")


def feature_trials(rng):
    """Three batches of random 0–255 images of different sizes, each with a layer to read."""
    seed = int(rng.integers(2**31))
    sizes = [(2, 32, 32), (3, 48, 64), (2, 80, 40)]
    layers = rng.permutation(FEATURE_LAYERS)[:3].tolist()
    return [
        {"seed": seed, "images": rng.uniform(0, 255, size=(n, h, w, 3)), "layer": layer}
        for (n, h, w), layer in zip(sizes, layers)
    ]


class OnRandomBase(Function):
    """The learner's `extract_features(base, images, layer)`, called with a random VGG16 base
    rebuilt from the trial's seed on the learner's side."""

    def __init__(self):
        super().__init__(Array(), args=("images", "layer"))

    def produce(self, answer, trials):
        if answer is None or answer is Ellipsis or not callable(answer):
            return super().produce(answer, trials)
        from cnnlib.data.transfer import random_vgg16

        bases = {}
        outputs = []
        for case in trials:
            if case["seed"] not in bases:
                bases[case["seed"]] = random_vgg16(seed=case["seed"])
            with_base = _WithBase(answer, bases[case["seed"]])
            outputs.extend(super().produce(with_base, [case]))
        return tuple(outputs)


class _WithBase:
    def __init__(self, function, base):
        self.function, self.base = function, base

    def __call__(self, images, layer):
        return self.function(self.base, np.asarray(images, dtype="float32"), layer)


def _pooled(maps, how="mean"):
    return getattr(maps, how)(axis=(1, 2))


@exercise(
    "07.extract_features",
    "features from any block: preprocess, cut the base, average",
    "implement",
    "core",
    form=OnRandomBase(),
    trials=feature_trials,
    forbid=("cnnlib.lessons.transfer_models.feature_extractor",),
)
def judge_extract_features(outputs, trials):
    """`extract_features(base, images, layer)`: (N, H, W, 3) 0–255 RGB → (N, C), the output of
    `layer` after preprocess_input, averaged over height and width."""
    import keras

    from cnnlib.data.transfer import random_vgg16

    base = random_vgg16(seed=trials[0]["seed"])
    for got, case in zip(outputs, trials):
        images, layer = np.asarray(case["images"], dtype="float32"), case["layer"]
        on = f"on {len(images)} random {images.shape[1]}×{images.shape[2]} images, layer {layer}"
        cut = keras.Model(base.input, base.get_layer(layer).output)
        processed = keras.applications.vgg16.preprocess_input(images.copy())
        maps = keras.ops.convert_to_numpy(cut(processed))
        last = keras.ops.convert_to_numpy(base(processed))
        raw = keras.ops.convert_to_numpy(cut(images.copy()))
        scaled = keras.ops.convert_to_numpy(
            cut(keras.applications.vgg16.preprocess_input(images / 255.0))
        )
        same_array(
            got,
            _pooled(maps),
            on,
            rtol=1e-4,
            atol=1e-5,
            hints=[
                (
                    _pooled(raw),
                    "preprocess_input is missing: VGG16 expects BGR pixels minus the ImageNet "
                    "mean, the form it was trained on",
                ),
                (_pooled(maps, "max"), "that is global max pooling: average instead"),
                (
                    _pooled(scaled),
                    "the pixels were scaled to [0, 1]; preprocess_input expects 0–255",
                ),
                (
                    _pooled(last),
                    "those are the last block's features (the lecture's extractor): cut the base "
                    "at `layer` with keras.Model(base.input, base.get_layer(layer).output)",
                ),
            ],
            shape_hints=[
                (maps.shape, "those are the feature maps: average them over height and width"),
                (
                    (len(images), int(np.prod(maps.shape[1:]))),
                    "the maps were flattened: average over height and width instead, so the "
                    "length does not depend on the image size",
                ),
                (maps.shape[:3], "averaged over the channels: average over height and width"),
            ],
        )
    return (
        f"right for {len(trials)} layers and image sizes ({', '.join(c['layer'] for c in trials)})"
    )


# ---------------------------------------------------------------------------------------------
# 07.features_vs_end_to_end (experiment)
# ---------------------------------------------------------------------------------------------

BIGGER_IMAGES = {
    "a": "grows, about in proportion to the number of pixels",
    "b": "stays the same",
    "c": "shrinks",
    "d": "depends only on the head's size",
}
PHASE2_FEATURES = {
    "a": "yes: store block4_pool's output once, and train block 5 and the head on it",
    "b": "no: fine-tuning always needs the photos",
    "c": "yes: store block 5's output, as in phase 1",
    "d": "only with augmentation",
}
_BIGGER_HINTS = {
    "b": "an epoch on features costs the same whatever the image size (512 numbers per image); "
    "what does an end-to-end epoch's cost grow with?",
    "c": "which of the two epochs gets dearer with more pixels?",
    "d": "the head is the same in both runs; the difference is the base's forward pass",
}
_PHASE2_HINTS = {
    "b": "blocks 1–4 stay frozen in phase 2, and the images do not change without augmentation: "
    "what does that say about block 4's output?",
    "c": "block 5 trains in phase 2: its output changes with every update",
    "d": "augmentation is what makes stored outputs useless: each epoch's pixels are new",
}


def experiment_trials(rng):
    return [{"seed": int(rng.integers(2**31)), "size": 32, "count": 16, "epochs": 3, "batch": 8}]


class Experiment(Function):
    """{"predicted_speedup", "time_phase1", "bigger_images", "phase2_features"}: the learner's
    timing function runs here on the trial's base and images, and the call itself is timed."""

    FIELDS = ("predicted_speedup", "time_phase1", "bigger_images", "phase2_features")

    def __init__(self):
        super().__init__(
            Mapping({"features": Number(), "end_to_end": Number()}),
            args=("images", "labels", "epochs", "batch"),
        )
        self.rest = Mapping(
            {
                "predicted_speedup": Number(),
                "bigger_images": Choice(*BIGGER_IMAGES),
                "phase2_features": Choice(*PHASE2_FEATURES),
            }
        )
        self.description = "a dict {" + ", ".join(repr(f) for f in self.FIELDS) + "}"

    def conform(self, values, trials=None, where=""):
        """What `produce` makes: the three answers, and one timing per trial."""
        timing = Mapping({name: Number() for name in (*self.output.fields, *_TIMED_HERE)})
        made = Mapping({**self.rest.fields, "measured": Sequence(timing, length=len(trials))})
        return made.conform(values, None, where)

    def produce(self, answer, trials):
        if answer is None or answer is Ellipsis:
            return super().produce(answer, trials)  # not attempted
        if not isinstance(answer, dict) or set(dict.keys(answer)) != set(self.FIELDS):
            raise FormError(f"expected {self.description}")
        parts = dict(dict.items(answer))
        if all(value is None or value is Ellipsis for value in parts.values()):
            return super().produce(None, trials)  # the untouched stub: not attempted
        stubs = [key for key in self.FIELDS if parts[key] is None or parts[key] is Ellipsis]
        if stubs:
            raise FormError(
                "part of your answer is still a placeholder: " + ", ".join(stubs),
                "fill in every part before checking",
            )
        function = parts.pop("time_phase1")
        values = self.rest.convert(parts)
        if not callable(function):
            raise FormError(
                f"time_phase1 must be your function, got {type(function).__name__}",
                "pass the function itself (no parentheses after its name)",
            )
        from cnnlib.data.transfer import random_vgg16

        measured = []
        for case in trials:
            rng = np.random.default_rng(case["seed"])
            base = random_vgg16(seed=case["seed"])
            images = rng.uniform(0, 255, size=(case["count"], case["size"], case["size"], 3))
            labels = np.arange(case["count"]) % 2
            forward = _forward_seconds(base, images.astype("float32"))
            timed = _Timed(function, base)
            [times] = super().produce(
                timed,
                [
                    {
                        "images": images.astype("float32"),
                        "labels": labels,
                        "epochs": case["epochs"],
                        "batch": case["batch"],
                    }
                ],
            )
            measured.append(
                {**times, "call_seconds": float(timed.seconds), "forward_seconds": forward}
            )
        return {**values, "measured": tuple(measured)}


_TIMED_HERE = ("call_seconds", "forward_seconds")  # what produce measures beside the learner


def _forward_seconds(base, images):
    """The fastest of two passes of `images` through `base` (after one that traces): the least an
    end-to-end epoch can cost."""
    base(images[:2])
    times = []
    for _ in range(2):
        start = time.perf_counter()
        base(images)
        times.append(time.perf_counter() - start)
    return float(min(times))


class _Timed:
    def __init__(self, function, base):
        self.function, self.base, self.seconds = function, base, 0.0

    def __call__(self, images, labels, epochs, batch):
        start = time.perf_counter()
        try:
            return self.function(self.base, images, labels, epochs, batch)
        finally:
            self.seconds = time.perf_counter() - start


@exercise(
    "07.features_vs_end_to_end",
    "features vs end to end: predict, measure, explain",
    "experiment",
    "core",
    form=Experiment(),
    trials=experiment_trials,
)
def judge_experiment(values, trials):
    """The prediction, the learner's measurement made in the check's call, and two letters.

    The seconds are measured by the learner's code in the learner's kernel; the judge checks that
    they are positive, that the epochs claimed fit in the time the call really took, that an
    end-to-end epoch is no shorter than a quarter of one forward pass the form timed itself, and
    that it is the slower one. It cannot re-measure them: the rest is kernel-reported.
    """
    guess = values["predicted_speedup"]
    if not np.isfinite(guess) or guess <= 0:
        raise Wrong(f"predicted_speedup must be a positive number of times, got {guess:g}")
    for times, case in zip(values["measured"], trials):
        features, end_to_end, call = times["features"], times["end_to_end"], times["call_seconds"]
        if (
            not (np.isfinite(features) and np.isfinite(end_to_end))
            or min(features, end_to_end) <= 0
        ):
            raise Wrong(
                f"your time_phase1 returned {features:g} s and {end_to_end:g} s per epoch",
                "return seconds per epoch, positive numbers, measured with an epoch timer",
            )
        if (case["epochs"] - 1) * (features + end_to_end) > 1.05 * call:
            raise Wrong(
                f"your epochs add up to more than the {call:.2f} s your function took",
                "return the seconds you measured (steady_epoch_seconds of each timer), not numbers "
                "of your own",
            )
        if end_to_end < 0.25 * times["forward_seconds"]:
            raise Wrong(
                f"your end-to-end epoch ({end_to_end:.3g} s) is shorter than one pass of the "
                f"images through the base takes here ({times['forward_seconds']:.3g} s)",
                "an end-to-end epoch runs every image through the base: return what you measured",
            )
        if end_to_end <= features:
            raise Wrong(
                f"your end-to-end epoch ({end_to_end:.3g} s) is not slower than an epoch on "
                f"features ({features:.3g} s)",
                "the end-to-end model must run every image through the base in every epoch: "
                "train full_model(base, head) on the images, and the head alone on the features",
            )
    for key, choices, hints in (
        ("bigger_images", BIGGER_IMAGES, _BIGGER_HINTS),
        ("phase2_features", PHASE2_FEATURES, _PHASE2_HINTS),
    ):
        letter = values[key]
        if letter != "a":
            raise Wrong(f"{key} = {letter!r} ('{choices[letter]}') is not right", hints[letter])
    [times] = values["measured"]
    return (
        f"you predicted {guess:g}×, you measured {times['end_to_end'] / times['features']:.0f}× "
        f"per epoch at 32 × 32 pixels; at 224 × 224 the base costs about 49× more per image, "
        "the head the same"
    )


# ---------------------------------------------------------------------------------------------
# 07.top_k_error (implement, stretch)
# ---------------------------------------------------------------------------------------------


def top_k_error_reference(probabilities, labels, k):
    """Share of rows whose label is not in the top k, ties counted in (as tf.math.in_top_k does)."""
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels)
    true = probabilities[np.arange(len(labels)), labels]
    better = (probabilities > true[:, None]).sum(axis=1)
    return float(np.mean(better >= k))


def _argsort_error(probabilities, labels, k, order):
    ranked = order(np.asarray(probabilities))[:, :k]
    return float(1 - np.mean((ranked == np.asarray(labels)[:, None]).any(axis=1)))


_TOP_K_SHAPES = [((50, 1000), 5, False), ((6, 10), 5, False), ((40, 12), 1, True)]
_TOP_K_SHAPES += [((60, 20), 5, True), ((30, 8), 3, True)]


def top_k_trials(rng):
    cases = []
    for (n, c), k, ties in _TOP_K_SHAPES:
        probabilities = rng.dirichlet(np.full(c, 0.5), size=n)
        if ties:  # few distinct values, so ties straddle the k-th place
            probabilities = np.round(probabilities * 4) / 4
        cases.append({"probabilities": probabilities, "labels": rng.integers(0, c, size=n), "k": k})
    return cases


@exercise(
    "07.top_k_error",
    "top-k error, ties included as TensorFlow counts them",
    "implement",
    "stretch",
    form=Function(Number(), args=("probabilities", "labels", "k")),
    trials=top_k_trials,
)
def judge_top_k_error(outputs, trials):
    """`top_k_error(probabilities, labels, k)`: (N, C) probabilities, (N,) labels → a float in [0, 1]."""
    tie_hint = (
        "ties straddling the k-th place: TensorFlow counts every class tied with the k-th as in "
        "the top k; count the classes strictly more probable than the true one: fewer than k "
        "means a hit"
    )
    for got, case in zip(outputs, trials):
        p, labels, k = case["probabilities"], case["labels"], case["k"]
        on = f"on {len(p)} random rows of {p.shape[1]} classes, k={k}"
        expected = top_k_error_reference(p, labels, k)
        same_number(
            got,
            expected,
            on,
            rtol=1e-6,  # a float32 answer is right too
            hints=[
                (1 - expected, "that is the top-k accuracy; the error is the share of misses"),
                (100 * expected, "that is a percentage: return a share between 0 and 1"),
                (
                    _argsort_error(p, labels, k, lambda q: np.argsort(-q, axis=1, kind="stable")),
                    tie_hint,
                ),
                (
                    _argsort_error(p, labels, k, lambda q: np.argsort(q, axis=1)[:, ::-1]),
                    tie_hint,
                ),
                (
                    _argsort_error(p, labels, k, lambda q: np.argsort(q, axis=1)),
                    "those are the k LEAST probable classes: sort in descending order",
                ),
                (top_k_error_reference(p, labels, k + 1), "off by one in k"),
                (top_k_error_reference(p, labels, k - 1) if k > 1 else -1, "off by one in k"),
            ],
        )
    return f"agrees with tf.math.in_top_k's rule on {len(trials)} random cases, ties included"
