"""Exercises of notebook 07 (VGG16 and transfer learning)."""

import numbers

import numpy as np

from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number

# ---------------------------------------------------------------------------------------------
# Private guards (generic; core.py's comparators belong to another module's owner)
# ---------------------------------------------------------------------------------------------


def _real_number(value, what):
    """`value` as a float if it is a finite real number (NumPy scalars included), else `Wrong`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise Wrong(f"{what} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise Wrong(f"{what} must be a finite number, got {value}")
    return value


def _whole_number(value, what):
    """`value` as an int if it is a finite whole number (6, np.int64(6) or 6.0), else `Wrong`."""
    number = _real_number(value, what)
    if number != int(number):
        raise Wrong(
            f"{what} must be a whole number, got {value!r}",
            "sizes and parameter counts are whole numbers: a pooling rounds down, nothing is "
            "fractional",
        )
    return int(number)


def _letter(value, what, choices):
    """A multiple-choice letter, case and surrounding spaces ignored."""
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise Wrong(f"{what} must be one of the letters {sorted(choices)}, got {value!r}")
    return value.strip().lower()


def _names_called(function):
    """Every global name the learner's function (and the functions defined inside it) refers to."""
    names, stack = set(), [getattr(function, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return names


def _refers_to(function, target):
    """True when a global or closure name of the learner's function is `target` itself."""
    scope = getattr(function, "__globals__", {})
    closure = [cell.cell_contents for cell in getattr(function, "__closure__", None) or ()]
    return any(scope.get(name) is target for name in _names_called(function)) or any(
        value is target for value in closure
    )


# VGG16's convolutional part: (filters, convolutions) per block; every kernel 3×3, 'same' padding.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def block_parameters(kernel=3, biases=True, first_in_equals_out=False):
    """Parameters of each of VGG16's five blocks (the formula, with knobs for the usual mistakes)."""
    counts, channels_in = [], 3
    for filters, convolutions in VGG16_BLOCKS:
        total = 0
        for conv in range(convolutions):
            c_in = filters if (conv > 0 or first_in_equals_out) else channels_in
            total += kernel * kernel * c_in * filters + (filters if biases else 0)
        counts.append(total)
        channels_in = filters
    return counts


def pooled_shape(height, width, rounding=np.floor):
    """Shape after block5_pool: five 2×2 poolings with stride 2; the 'same' convolutions keep the size."""
    for _ in VGG16_BLOCKS:
        height, width = int(rounding(height / 2)), int(rounding(width / 2))
    return (height, width, VGG16_BLOCKS[-1][0])


PREDICT_INPUT = (200, 150)  # height, width of the image in exercise 07.vgg_numbers


@exercise(
    "07.vgg_numbers",
    "predict VGG16's parameters per block and an output shape",
    "predict",
    "warm-up",
)
def check_vgg_numbers(answer):
    """{"block_params": five ints, "block5_pool_shape": (h, w, c) for a 200×150×3 input}."""
    if not isinstance(answer, dict) or set(answer) != {"block_params", "block5_pool_shape"}:
        raise Wrong(
            "the answer must be the dict {'block_params': [...], 'block5_pool_shape': (h, w, c)}"
        )
    params, shape = answer["block_params"], answer["block5_pool_shape"]
    if params is None and shape is None:
        raise NotAttempted
    if params is None or shape is None:
        raise Wrong("fill in both entries of the dict")
    expected = block_parameters()
    if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__len__"):
        raise Wrong(f"block_params must be a list of five whole numbers, got {params!r}")
    if len(params) != 5:
        raise Wrong(f"block_params must have five entries (blocks 1–5), got {len(params)}")
    params = [_whole_number(p, f"block_params[{i}]") for i, p in enumerate(params)]
    hints = [
        (
            block_parameters(biases=False),
            "the biases are missing: each filter has one, so add the number "
            "of filters once per convolution",
        ),
        (
            block_parameters(kernel=1),
            "each weight of a filter is 3 × 3 × (input channels): the 3 × 3 is missing",
        ),
        (
            block_parameters(first_in_equals_out=True),
            "the first convolution of a block sees the previous block's channels (3 for block 1, 64 for "
            "block 2, …), not its own number of filters",
        ),
    ]
    for block, (got, right) in enumerate(zip(params, expected), start=1):
        if got != right:  # a prediction: say which block and which way, never the count itself
            hint = next((h for wrong, h in hints if wrong[block - 1] == got), None)
            if hint is None:
                hint = (
                    "a 3 × 3 convolution from C_in to C_out channels holds 3·3·C_in·C_out + C_out "
                    "parameters; blocks 1–2 have two convolutions, blocks 3–5 three"
                )
            way = "too many" if got > right else "too few"
            raise Wrong(f"block {block}: your {got:,} parameters are {way}", hint)
    h, w = PREDICT_INPUT
    right = pooled_shape(h, w)
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__len__"):
        raise Wrong(f"block5_pool_shape must be (height, width, channels), got {shape!r}")
    shape = tuple(shape)
    if len(shape) == 4 and shape[0] is None:  # Keras writes the batch axis as None
        shape = shape[1:]
    if len(shape) != 3:
        raise Wrong(
            f"block5_pool_shape must have three entries (height, width, channels), got {shape!r}"
        )
    shape = tuple(_whole_number(s, "each entry of block5_pool_shape") for s in shape)
    if shape != right:
        on = f"for a {h}×{w}×3 input you predicted {shape} after block5_pool, which is not right"
        if shape == pooled_shape(h, w, np.ceil):
            raise Wrong(
                on,
                "a 2 × 2 pooling with stride 2 rounds down: an odd row or column left over is dropped",
            )
        if shape[:2] == right[:2][::-1]:
            raise Wrong(on, "height comes first: (height, width, channels)")
        if shape[2] != right[2]:
            raise Wrong(
                on, "the number of channels is block 5's number of filters (see the layer table)"
            )
        raise Wrong(
            on,
            "VGG's convolutions use 'same' padding and keep the size; only each of the five "
            "poolings halves it (rounding down)",
        )
    return (
        f"blocks 1–5 hold {', '.join(f'{p:,}' for p in expected)} parameters, "
        f"{sum(expected):,} in all, {expected[-1] / sum(expected):.0%} of them in block 5; "
        f"a {h}×{w} image ends as {right[0]}×{right[1]}×{right[2]}"
    )


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5 (design)
# ---------------------------------------------------------------------------------------------


def _phase1_model(size=32):
    import keras

    from cnnlib.lessons import transfer_models as features

    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    head = features.build_head(name="head")
    model = features.full_model(base, head)
    base.trainable = False  # where phase 1 left it
    return model, base


def _trainable_layers(model, base):
    """The base's layers whose weights the compiled `model` would update, whatever the flags say."""
    trains = {id(v) for v in model.trainable_weights}
    return {l.name for l in base.layers if any(id(v) in trains for v in l.weights)}


def _last_convolutions(base, count):
    import keras

    convolutions = [l.name for l in base.layers if isinstance(l, keras.layers.Conv2D)]
    return set(convolutions[len(convolutions) - count :])


def _is_binary_crossentropy(loss):
    """Test the compiled loss by its value, not its name: any spelling of binary cross-entropy passes."""
    import keras

    if loss is None:
        return False
    try:
        function = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss
        y_true = np.array([[1.0], [0.0], [1.0]], dtype="float32")
        y_pred = np.array([[0.8], [0.3], [0.6]], dtype="float32")
        got = float(np.mean(keras.ops.convert_to_numpy(function(y_true, y_pred))))
    except Exception:
        return False
    expected = -np.mean(np.log([0.8, 0.7, 0.6]))
    return bool(np.isclose(got, expected, rtol=1e-3))


FINE_TUNING_CASES = (3, 1, 5)  # the last 3 convolutions are block 5; 5 reaches into block 4


@exercise("07.unfreeze_block5", "choose what fine-tuning trains, and how fast", "design", "core")
def check_unfreeze(prepare_fine_tuning):
    """`prepare_fine_tuning(model, base, convolutions)`: exactly the last `convolutions`
    convolutions of `base` and the head train; `model` compiled with binary cross-entropy at a
    fine-tuning learning rate."""
    for count in FINE_TUNING_CASES:
        model, base = _phase1_model()
        on = f"with convolutions={count}"
        call(
            prepare_fine_tuning,
            model,
            base,
            count,
            on=f"on a VGG16 transfer model as phase 1 leaves it, {on}",
        )
        training = _trainable_layers(model, base)
        expected = _last_convolutions(base, count)
        extra, missing = sorted(training - expected), sorted(expected - training)
        if not training:
            raise Wrong(
                f"{on}: no layer of the base trains",
                "the base itself must be trainable (base.trainable = True) before its layers' "
                "flags count; then choose the layers",
            )
        if extra:
            if len(training) == 13:
                hint = (
                    "the whole base trains: 14.7 M parameters against a few thousand photos "
                    "overfit, and the early blocks' edges and textures are generic anyway"
                )
            else:
                hint = (
                    "count the convolutions back from the last one (block5_conv3); pooling layers "
                    "have no weights and do not count"
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
        head = model.get_layer("head")
        if not {id(v) for v in head.weights} <= {id(v) for v in model.trainable_weights}:
            raise Wrong(
                f"{on}: the head does not train",
                "the new head must keep training together with the unfrozen convolutions",
            )
        if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
            raise Wrong(
                f"{on}: the model is not compiled",
                "after changing what is trainable, compile the model again",
            )
        if not _is_binary_crossentropy(model.loss):
            raise Wrong(
                f"{on}: the model is compiled with a loss other than binary cross-entropy",
                "the head still ends in one sigmoid unit for two classes: keep phase 1's loss",
            )
        rate = float(np.asarray(model.optimizer.learning_rate))
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
                f"{on}: learning rate {rate:g} is so small that the unfrozen layers would "
                "hardly change",
                "a fine-tuning rate adjusts the pretrained weights without overwriting them; "
                "try a rate 10–100× below phase 1's",
            )
    return (
        f"exactly the last 1, 3 and 5 convolutions train with the head, at rate {rate:g}: the last "
        "block holds the most ImageNet-specific features, so adapting it helps most, and a small "
        "rate keeps what it knows"
    )


# ---------------------------------------------------------------------------------------------
# 07.extract_features (implement)
# ---------------------------------------------------------------------------------------------

_BASE = {}
_FEATURE_CASES = [(2, 32, 32), (3, 48, 64), (2, 80, 40)]


def _any_size_base():
    import keras

    if "vgg" not in _BASE:
        keras.utils.set_random_seed(7)
        _BASE["vgg"] = keras.applications.VGG16(
            weights=None, include_top=False, input_shape=(None, None, 3)
        )
    return _BASE["vgg"]


@exercise(
    "07.extract_features",
    "feature extraction for a batch: preprocess, base, average",
    "implement",
    "core",
)
def check_extract_features(extract_features):
    """`extract_features(base, images)`: (N, H, W, 3) 0–255 RGB → (N, C) global-average-pooled features."""
    import keras

    from cnnlib.lessons import transfer_models as features

    base = _any_size_base()
    random = rng(70)
    used = []  # the course's own extractor, if the learner's function reaches it
    course_extractor = features.feature_extractor

    def spy(*args, **kwargs):
        used.append("cnnlib.data.features.feature_extractor")
        return course_extractor(*args, **kwargs)

    for n, h, w in _FEATURE_CASES:
        images = random.uniform(0, 255, size=(n, h, w, 3)).astype("float32")
        on = f"on {n} random {h}×{w} RGB images"
        features.feature_extractor = spy
        try:
            got = call(extract_features, base, images.copy(), on=on)
        finally:
            features.feature_extractor = course_extractor
        if got is None:
            raise Wrong(
                f"{on}: your function returned None", "end it with `return` and the features"
            )
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            raise Wrong(
                f"{on}: your function returned {type(got).__name__}, not an array of numbers",
                "return one row of C numbers per image: an (N, C) array",
            ) from None
        if not np.all(np.isfinite(got)):
            raise Wrong(
                f"{on}: your output holds NaN or infinite values",
                "preprocess_input, the base and an average give finite numbers; look for a "
                "division by zero or a log of a negative number",
            )
        maps = np.asarray(base(keras.applications.vgg16.preprocess_input(images.copy())))
        expected = maps.mean(axis=(1, 2))
        raw = np.asarray(base(images.copy()))
        same_array(
            got,
            expected,
            on,
            rtol=1e-4,
            atol=1e-5,
            hints=[
                (
                    raw.mean(axis=(1, 2)),
                    "preprocess_input is missing: VGG16 expects BGR pixels minus the "
                    "ImageNet mean, the form it was trained on",
                ),
                (
                    maps.max(axis=(1, 2)),
                    "that is global max pooling: the head of this course averages",
                ),
                (
                    np.asarray(
                        base(keras.applications.vgg16.preprocess_input(images / 255.0))
                    ).mean(axis=(1, 2)),
                    "the pixels were scaled to [0, 1]; preprocess_input expects 0–255",
                ),
            ],
            shape_hints=[
                (
                    maps.shape,
                    "those are the feature maps: average them over height and width (global average "
                    "pooling) to get one vector of C numbers per image",
                ),
                (
                    (n, int(np.prod(maps.shape[1:]))),
                    "the maps were flattened: their length depends on the image size; averaging over height and "
                    "width gives C numbers whatever the size",
                ),
                (
                    maps.shape[:3],
                    "averaged over the channels: average over height and width, keep the channels",
                ),
            ],
        )
    if used or _refers_to(extract_features, course_extractor):
        raise Wrong(
            "your numbers are right, but you called cnnlib.data.features.feature_extractor, the "
            "course's own version: the exercise is to write it yourself, so it counts as not done",
            "preprocess_input, then base(x), then an average over the height and width axes",
        )
    return f"matches preprocess → VGG16 base → global average pooling on {len(_FEATURE_CASES)} image sizes"


# ---------------------------------------------------------------------------------------------
# 07.features_vs_end_to_end (experiment)
# ---------------------------------------------------------------------------------------------

WHY_FASTER = {
    "a": "the head has far fewer parameters than the base",
    "b": "an epoch skips the frozen base: its output for an image never changes, so it was computed once",
    "c": "feature extraction uses a larger learning rate",
    "d": "the features are stored in float16",
}
GIVES_UP = {
    "a": "nothing: it is exact in every situation",
    "b": "data augmentation: new pixels every epoch would need new passes through the base",
    "c": "validation accuracy: the head learns less from features than from images",
    "d": "dropout in the head",
}
_WHY_HINTS = {
    "a": "both runs train the very same head; what differs is the forward pass through the 13 "
    "convolutions of the base in every epoch",
    "c": "both runs use the same optimizer and learning rate",
    "d": "the features are float32; the saving is the base's forward pass, not the storage",
}
_GIVES_UP_HINTS = {
    "a": "it is exact only while the base is frozen and the images do not change from epoch to epoch",
    "c": "on the same un-augmented images both give the same outputs; accuracies differ only by noise "
    "(dropout masks, shuffling)",
    "d": "dropout acts in the head, which still trains on the features",
}


@exercise(
    "07.features_vs_end_to_end",
    "features vs end to end: predict, measure, explain",
    "experiment",
    "core",
)
def check_experiment(answer):
    """{"predicted_speedup": your guess, "measured": compare_phase1(...)'s dict, "why": letter, "gives_up": letter}."""
    from cnnlib.lessons import transfer_models as features

    keys = {"predicted_speedup", "measured", "why", "gives_up"}
    if not isinstance(answer, dict) or set(answer) != keys:
        raise Wrong(f"the answer must be a dict with the keys {sorted(keys)}")
    if all(v is None for v in answer.values()):
        raise NotAttempted
    guess = _real_number(
        answer["predicted_speedup"], "predicted_speedup (your guess before running)"
    )
    if guess <= 0:
        raise Wrong(f"predicted_speedup must be a positive number of times, got {guess:g}")
    measured = answer["measured"]
    if not isinstance(measured, dict):
        raise Wrong(
            "measured must be the dict that features.compare_phase1(...) returns",
            "run the measurement and put its result here",
        )
    if not features.measured_here(measured):  # the measurement itself, not only its format
        raise Wrong(
            "measured is not a result that features.compare_phase1 returned in this session, "
            "unchanged: the check only accepts numbers that were really measured",
            "call features.compare_phase1(...) in a cell above and pass its dict as it is",
        )
    ratio = measured["speedup"]
    if not ratio > 1:
        raise Wrong(
            f"your measurement has features slower than end to end ({ratio:.2f}×)",
            "run the measurement again with more images or epochs; on a busy machine timings vary",
        )
    for key, choices, hints in (
        ("why", WHY_FASTER, _WHY_HINTS),
        ("gives_up", GIVES_UP, _GIVES_UP_HINTS),
    ):
        letter = _letter(answer[key], key, choices)
        if letter != "b":
            raise Wrong(
                f"{key} = {letter!r} ('{choices[letter]}') is not the reason", hints[letter]
            )
    return (
        f"you predicted {guess:g}×, you measured {ratio:.0f}× per epoch (one pass of extraction "
        f"{measured['extraction_seconds']:.2f} s, an end-to-end epoch "
        f"{measured['end_to_end_epoch_seconds']:.2f} s); augmentation is what the fast way gives up"
    )


# ---------------------------------------------------------------------------------------------
# 07.top_k_error (implement, stretch)
# ---------------------------------------------------------------------------------------------


def top_k_error_reference(probabilities, labels, k):
    """Share of rows whose label is not in the top k, ties counted in (as tf.math.in_top_k does)."""
    probabilities = np.asarray(probabilities, dtype=float)
    true = probabilities[np.arange(len(labels)), labels]
    better = (probabilities > true[:, None]).sum(axis=1)
    return float(np.mean(better >= k))


def _argsort_error(probabilities, labels, k, order):
    ranked = order(probabilities)[:, :k]
    return float(1 - np.mean((ranked == np.asarray(labels)[:, None]).any(axis=1)))


_TOP_K_CASES = [
    ((50, 1000), 5, False),
    ((6, 10), 5, False),
    ((40, 12), 1, True),
    ((60, 20), 5, True),
    ((30, 8), 3, True),
]


@exercise(
    "07.top_k_error", "top-k error, ties included as TensorFlow counts them", "implement", "stretch"
)
def check_top_k_error(top_k_error):
    """`top_k_error(probabilities, labels, k)`: (N, C) probabilities, (N,) labels → a float in [0, 1]."""
    random = rng(75)
    for (n, c), k, ties in _TOP_K_CASES:
        probabilities = random.dirichlet(np.full(c, 0.5), size=n)
        if ties:  # few distinct values, so ties straddle the k-th place
            probabilities = np.round(probabilities * 4) / 4
        labels = random.integers(0, c, size=n)
        on = f"on {n} random rows of {c} classes, k={k}" + (" with ties" if ties else "")
        got = call(top_k_error, probabilities.copy(), labels.copy(), k, on=on)
        if isinstance(got, np.ndarray) and got.shape == ():
            got = got[()]
        got = _real_number(got, f"{on}: your top-k error")
        expected = top_k_error_reference(probabilities, labels, k)
        descending = lambda p: np.argsort(-p, axis=1, kind="stable")  # noqa: E731
        same_number(
            got,
            expected,
            on,
            rtol=1e-6,  # a float32 answer is right too
            hints=[
                (1 - expected, "that is the top-k accuracy; the error is the share of misses"),
                (100 * expected, "that is a percentage: return a share between 0 and 1"),
                (
                    _argsort_error(probabilities, labels, k, lambda p: np.argsort(p, axis=1)),
                    "those are the k LEAST probable classes: sort in descending order",
                ),
                (top_k_error_reference(probabilities, labels, k + 1), "off by one in k"),
                (
                    top_k_error_reference(probabilities, labels, max(1, k - 1)) if k > 1 else -1,
                    "off by one in k",
                ),
                (
                    _argsort_error(probabilities, labels, k, descending),
                    "ties straddling the k-th place: TensorFlow counts every class tied with the k-th as in the "
                    "top k; count the classes strictly more probable than the true one: fewer than k means a hit",
                ),
                (
                    _argsort_error(
                        probabilities, labels, k, lambda p: np.argsort(p, axis=1)[:, ::-1]
                    ),
                    "ties straddling the k-th place: TensorFlow counts every class tied with the k-th as in the "
                    "top k; count the classes strictly more probable than the true one: fewer than k means a hit",
                ),
            ],
        )
    return f"agrees with tf.math.in_top_k's rule on {len(_TOP_K_CASES)} random cases, ties included"
