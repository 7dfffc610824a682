# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 07_vgg16_transfer_learning.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 07.vgg_numbers
# Block b: first convolution from the previous block's channels, the others from its own filters.
# Each 3 × 3 convolution holds 3·3·C_in·C_out weights plus C_out biases.
solution_blocks, channels_in = [], 3
for filters, convolutions in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]:  # VGG19
    first = 9 * channels_in * filters + filters
    count = first + (convolutions - 1) * (9 * filters * filters + filters)
    solution_blocks.append(count)
    channels_in = filters
# 'same' convolutions keep the size; each of the five poolings halves it, rounding down.
height, width = 200, 150
for _ in range(5):
    height, width = height // 2, width // 2
solution_vgg19_prediction = {
    "block_params": solution_blocks,
    "block5_pool_shape": (height, width, 512),
}
labs.check("07.vgg_numbers", solution_vgg19_prediction)


# %% 07.unfreeze_block5
def solution_prepare_fine_tuning(model, base, convolutions):
    # In Keras 3 each layer's own flag decides: no need to make the base trainable first.
    names = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    unfrozen = set(names[len(names) - convolutions :])  # pooling layers have no weights
    for layer in base.layers:
        layer.trainable = layer.name in unfrozen
    # Small steps adjust the pretrained weights instead of overwriting them.
    compile_binary(model, learning_rate=1e-5)


labs.check("07.unfreeze_block5", solution_prepare_fine_tuning)


# %% [markdown] 07.unfreeze_block5
# *Solution (7.2, in words).* The whole base holds 14.7 M weights: trained on a few thousand photos
# they overfit, and a large update in the first steps (while the new head is still poor) would wreck
# what ImageNet taught. Block 1 computes edges and colour blobs, which every photo task needs in the
# same form, so it is the last thing worth changing; the last block is the most specific to ImageNet's
# classes, so adapting it helps most.


# %% 07.extract_features
def solution_extract_features(base, images, layer):
    cut = keras.Model(base.input, base.get_layer(layer).output)  # the base up to `layer`
    x = keras.applications.vgg16.preprocess_input(np.array(images, dtype="float32"))  # a copy
    maps = keras.ops.convert_to_numpy(cut(x))  # (N, H', W', C)
    return maps.mean(axis=(1, 2))


labs.check("07.extract_features", solution_extract_features)


# %% 07.features_vs_end_to_end
def solution_time_phase1(base, images, labels, epochs, batch_size):
    base.trainable = False
    channels = base.output_shape[-1]
    fast, slow = build_head(channels, name="fast"), build_head(channels, name="slow")
    slow.set_weights(fast.get_weights())  # the same start
    pixels = keras.Input(base.inputs[0].shape[1:])
    maps = base(keras.applications.vgg16.preprocess_input(pixels))
    features = keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(maps)).predict(
        images, batch_size=batch_size, verbose=0
    )
    seconds = {}
    for name, model, x in (
        ("features", fast, features),
        ("end_to_end", full_model(base, slow), images),
    ):
        compile_binary(model, learning_rate=3e-4)
        timer = transfer_models.epoch_timer()
        model.fit(x, labels, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
        seconds[name] = transfer_models.steady_epoch_seconds(timer.seconds)
    return seconds


solution_experiment = {
    "predicted_speedup": 10,
    "time_phase1": solution_time_phase1,
    "bigger_images": "a",
    "phase2_features": "a",
}
labs.check("07.features_vs_end_to_end", solution_experiment)


# %% [markdown] 07.features_vs_end_to_end
# *Solution (7.4, in words).* How far off a prediction is depends on the machine and its load (the
# check prints your measured speed-up). With 224 × 224 images the base's forward pass costs
# (224 / 32)² = 49 times more per image (its arithmetic grows with the number of pixels) while an
# epoch on features costs the same (512 numbers per image whatever its size), so the speed-up grows
# roughly in proportion to the number of pixels. In phase 2 blocks 1–4 stay frozen and, without
# augmentation, so do their outputs: block4_pool's output can be stored once and block 5 with the
# head trained on it, which is feature extraction one block lower.


# %% 07.top_k_error
def solution_top_k_error(probabilities, labels, k):
    # The true class is in the top k exactly when fewer than k classes are strictly more probable;
    # classes tied with it do not push it out, which is TensorFlow's rule for ties.
    probabilities = np.asarray(probabilities)
    true = probabilities[np.arange(len(labels)), labels]
    more_probable = (probabilities > true[:, None]).sum(axis=1)
    return float(np.mean(more_probable >= k))


labs.check("07.top_k_error", solution_top_k_error)
