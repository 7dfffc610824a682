"""Exercises of notebook 07 (VGG16 and transfer learning)."""

import numpy as np

from cnnlib.labs.core import NotAttempted, Wrong, call, exercise, rng, same_array, same_number

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
    try:
        params = [int(p) for p in params]
    except (TypeError, ValueError):
        raise Wrong(f"block_params must be five whole numbers, got {params!r}") from None
    if len(params) != 5:
        raise Wrong(f"block_params must have five entries (blocks 1–5), got {len(params)}")
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
        if got != right:
            hint = next((h for wrong, h in hints if wrong[block - 1] == got), None)
            if hint is None:
                hint = (
                    "a 3 × 3 convolution from C_in to C_out channels holds 3·3·C_in·C_out + C_out "
                    "parameters; blocks 1–2 have two convolutions, blocks 3–5 three"
                )
            raise Wrong(
                f"block {block}: you predicted {got:,} parameters, the block holds {right:,}", hint
            )
    h, w = PREDICT_INPUT
    right = pooled_shape(h, w)
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise Wrong(f"block5_pool_shape must be (height, width, channels), got {shape!r}") from None
    if shape != right:
        on = f"for a {h}×{w}×3 input you predicted {shape} after block5_pool; it is {right}"
        if shape == pooled_shape(h, w, np.ceil):
            raise Wrong(
                on,
                "a 2 × 2 pooling with stride 2 rounds down: an odd row or column left over is dropped",
            )
        if shape[:2] == right[:2][::-1]:
            raise Wrong(on, "height comes first: (height, width, channels)")
        if shape[2] != right[2]:
            raise Wrong(
                on, "block 5 has 512 filters, like block 4: the count stops doubling at 512"
            )
        raise Wrong(
            on,
            "VGG's convolutions use 'same' padding and keep the size; only each of the five "
            "poolings halves it (rounding down)",
        )
    return (
        f"{sum(expected):,} parameters in all, {expected[-1] / sum(expected):.0%} of them in block 5; "
        f"a {h}×{w} image ends as {right[0]}×{right[1]}×{right[2]}"
    )


# ---------------------------------------------------------------------------------------------
# 07.unfreeze_block5 (design)
# ---------------------------------------------------------------------------------------------


def _phase1_model(size=32):
    import keras

    from cnnlib.data import features

    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    head = features.build_head(name="head")
    model = features.full_model(base, head)
    base.trainable = False  # where phase 1 left it
    return model, base


def _trainable_blocks(model, base):
    trains = {id(v) for v in model.trainable_weights}
    return sorted(l.name for l in base.layers if any(id(v) in trains for v in l.weights))


@exercise("07.unfreeze_block5", "choose what fine-tuning trains, and how fast", "design", "core")
def check_unfreeze(prepare_fine_tuning):
    """`prepare_fine_tuning(model, base)`: set trainable flags, compile; exactly block5 + head train."""
    model, base = _phase1_model()
    call(prepare_fine_tuning, model, base, on="on a VGG16 transfer model as phase 1 leaves it")
    training = _trainable_blocks(model, base)
    block5 = sorted(l.name for l in base.layers if l.name.startswith("block5_conv"))
    head = model.get_layer("head")
    head_trains = {id(v) for v in head.weights} <= {id(v) for v in model.trainable_weights}
    if not training:
        raise Wrong(
            "no layer of the base trains", "unfreeze the layers whose names start with 'block5_'"
        )
    if set(training) > set(block5):
        extra = sorted(set(training) - set(block5))
        if len(training) == 13:
            hint = (
                "the whole base trains: 14.7 M parameters against a few thousand photos overfit, and "
                "the early blocks' edges and textures are generic anyway; keep them frozen"
            )
        else:
            hint = (
                "the earlier blocks compute generic features (edges, textures) every task needs; "
                "with few images unfreeze only the last, most ImageNet-specific block"
            )
        raise Wrong(f"layers outside block 5 train: {', '.join(extra)}", hint)
    if set(training) < set(block5):
        raise Wrong(
            f"only {', '.join(training)} of block 5 trains",
            "block 5 has three convolutions, block5_conv1 to block5_conv3: unfreeze all three",
        )
    if not head_trains:
        raise Wrong(
            "the head does not train", "the new head must keep training together with block 5"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise Wrong(
            "the model is not compiled", "after changing what is trainable, compile the model again"
        )
    rate = float(np.asarray(model.optimizer.learning_rate))
    if rate > 1e-4:
        raise Wrong(
            f"learning rate {rate:g} is too large for fine-tuning",
            "large steps overwrite the pretrained weights within a few updates; fine-tuning "
            "uses a rate 10–100× below phase 1's, about 1e-5",
        )
    if rate < 1e-7:
        raise Wrong(
            f"learning rate {rate:g} is so small that block 5 would hardly change",
            "about 1e-5 adjusts the pretrained weights without overwriting them",
        )
    trained = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return (
        f"{trained:,} parameters train (block 5 + head) at rate {rate:g}: block 5 holds the most "
        f"ImageNet-specific features, so adapting it helps most, and a small rate keeps what it knows"
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

    base = _any_size_base()
    random = rng(70)
    for n, h, w in _FEATURE_CASES:
        images = random.uniform(0, 255, size=(n, h, w, 3)).astype("float32")
        on = f"on {n} random {h}×{w} RGB images"
        got = call(extract_features, base, images.copy(), on=on)
        got = np.asarray(got)
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
    keys = {"predicted_speedup", "measured", "why", "gives_up"}
    if not isinstance(answer, dict) or set(answer) != keys:
        raise Wrong(f"the answer must be a dict with the keys {sorted(keys)}")
    if all(v is None for v in answer.values()):
        raise NotAttempted
    guess = answer["predicted_speedup"]
    if not isinstance(guess, (int, float)) or not guess > 0:
        raise Wrong(
            f"predicted_speedup must be a positive number (your guess before running), got {guess!r}"
        )
    measured = answer["measured"]
    needed = {"features_epoch_seconds", "end_to_end_epoch_seconds", "speedup"}
    if not isinstance(measured, dict) or not needed <= set(measured):
        raise Wrong(
            "measured must be the dict that features.compare_phase1(...) returns",
            "run the measurement cell and put its result here",
        )
    ratio = measured["end_to_end_epoch_seconds"] / measured["features_epoch_seconds"]
    same_number(measured["speedup"], ratio, "measured['speedup']", rtol=1e-6)
    if not ratio > 1:
        raise Wrong(
            f"your measurement has features slower than end to end ({ratio:.2f}×)",
            "run the measurement again with more images or epochs; on a busy machine timings vary",
        )
    for key, choices, hints in (
        ("why", WHY_FASTER, _WHY_HINTS),
        ("gives_up", GIVES_UP, _GIVES_UP_HINTS),
    ):
        letter = answer[key]
        if letter not in choices:
            raise Wrong(f"{key} must be one of {sorted(choices)}, got {letter!r}")
        if letter != "b":
            raise Wrong(
                f"{key} = {letter!r} ('{choices[letter]}') is not the reason", hints[letter]
            )
    return (
        f"you predicted {guess:g}×, you measured {ratio:.0f}× per epoch; the one pass of extraction "
        f"costs about one end-to-end epoch, and augmentation is what the fast way gives up"
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
        expected = top_k_error_reference(probabilities, labels, k)
        descending = lambda p: np.argsort(-p, axis=1, kind="stable")  # noqa: E731
        same_number(
            got,
            expected,
            on,
            hints=[
                (1 - expected, "that is the top-k accuracy; the error is the share of misses"),
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
