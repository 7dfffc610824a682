# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 06_architectures_after_lenet.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 06.one_by_one
solution_prediction = {
    "parameters": 480 * 16 + 16,  # one weight per input channel for each of 16 filters, + 16 biases
    "output shape": (14, 14, 16),  # a 1×1 kernel fits everywhere: only the channels change
}
labs.check("06.one_by_one", solution_prediction)


# %% 06.conv1x1
def solution_conv1x1(x, weights, bias):
    return x @ weights + bias  # (H, W, C_in) @ (C_in, C_out) → (H, W, C_out)


labs.check("06.conv1x1", solution_conv1x1)


# %% 06.bottleneck_block
def solution_bottleneck(x, filters, stride):
    y = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)  # reduce
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)  # the 3×3 on few maps
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(4 * filters, 1, use_bias=False)(y)  # expand
    y = layers.BatchNormalization()(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:  # shapes differ: project with a 1×1 conv
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))  # added channel by channel


def solution_build_bottleneck_block(input_shape, filters, stride):
    x = keras.Input(shape=input_shape)
    return keras.Model(x, solution_bottleneck(x, filters, stride))


labs.check("06.bottleneck_block", solution_build_bottleneck_block)


# %% 06.depth_gradient
def solution_first_layer_gradient(depth, skip, x, y):
    stack = dense_stack(depth, 32, "sigmoid", skip)  # the notebook's stack and measurement
    return float(layer_gradient_norms(stack, x, y)[0])


labs.check("06.depth_gradient", solution_first_layer_gradient)
solution_data = np.random.default_rng(3)
solution_x = solution_data.normal(size=(64, 32)).astype("float32")
solution_y = solution_data.normal(size=(64, 32)).astype("float32")
solution_depths = (2, 4, 8, 16)
fig, ax = plt.subplots(figsize=(7, 3.2))
for skip in (False, True):
    norms = [
        solution_first_layer_gradient(d, skip, solution_x, solution_y) for d in solution_depths
    ]
    ax.semilogy(solution_depths, norms, "o-", label="with skips" if skip else "plain")
    factor = (norms[0] / norms[-1]) ** (1 / (solution_depths[-1] - solution_depths[0]))
    print(f"{'with skips' if skip else 'plain'}: ÷{factor:.2f} per added layer")
ax.set(xlabel="depth", ylabel="first layer's gradient norm")
ax.legend()
plt.show()


# %% [markdown] 06.depth_gradient
# The plain curve is a straight line on the log scale: every extra sigmoid layer multiplies the
# gradient by about sigmoid′(0) = 1/4 (Glorot initialisation keeps W's own factor near 1), so it
# falls by a factor of about 4 per layer (the solution's cell prints the measured factor). With skips
# each layer's Jacobian is I + ∂F/∂h: the identity passes the gradient on unchanged and the small
# ∂F/∂h only adds to it (no ReLU after the addition gates it here), so the first layer's gradient
# does not shrink with depth.


# %% 06.densenet_channels
def solution_densenet_channels(c0, block_sizes, growth_rate, compression):
    channels, ends = c0, []
    for i, size in enumerate(block_sizes):
        channels += size * growth_rate  # concatenation: k new maps per layer
        ends.append(channels)
        if i < len(block_sizes) - 1:
            channels = int(channels * compression)  # transition
    return ends


labs.check("06.densenet_channels", solution_densenet_channels)
