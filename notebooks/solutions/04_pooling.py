# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 04_pooling.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 04.predict_pooled
# Stride defaults to the pool size (2); 'valid' drops the fifth column (no whole window fits).
solution_prediction_41 = [[4, 6], [5, 3]]
labs.check("04.predict_pooled", solution_prediction_41)
print("Keras returns:", apply_layer(keras.layers.MaxPooling2D(2), matrix_41).tolist())


# %% 04.max_pool
def solution_max_pool(x, size, stride):
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = np.zeros((h_out, w_out, x.shape[2]))
    for i in range(h_out):
        for j in range(w_out):
            window = x[i * stride : i * stride + size, j * stride : j * stride + size]
            out[i, j] = window.max(axis=(0, 1))  # one maximum per channel
    return out


labs.check("04.max_pool", solution_max_pool)


# %% 04.param_count
# Only the dense layer depends on n; the convolutions' weights are the same for any image size.
conv1 = 3 * 3 * 3 * 8 + 8  # 3 × 3 filters over 3 channels, 8 filters, 8 biases
conv2 = 3 * 3 * 8 * 16 + 16  # over the 8 channels of conv1
dense_weights = 24_442 - conv1 - conv2 - 10  # what is left once the dense layer's 10 biases go
positions = dense_weights // (16 * 10)  # (n/4)² positions of 16 channels, 10 weights each
solution_side_43 = 4 * round(positions**0.5)  # two 2 × 2 poolings: the side is n/4 before Flatten
labs.check("04.param_count", solution_side_43)
# Keras agrees, layer by layer:
stack_43 = keras.Sequential(
    [
        keras.Input((solution_side_43, solution_side_43, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
for layer in stack_43.layers:
    print(f"{layer.name:>16}: {layer.count_params():>6,}")
print(f"{'total':>16}: {stack_43.count_params():>6,}")


# %% 04.shift_prediction
# On raw pixels the average moves a little when one column of its window is swapped, while the
# maximum jumps whenever the brightest pixel leaves the window: average pooling changes less.
# On sparse ReLU feature maps (section 3) max pooling does as well as average.
solution_prediction_44 = "avg"
labs.check("04.shift_prediction", solution_prediction_44)


# %% 04.shift_experiment
def solution_shift_change(image, mode):
    before = ops.pool2d(image[:, :-1], 2, mode=mode)
    after = ops.pool2d(image[:, 1:], 2, mode=mode)
    return np.linalg.norm(after - before) / np.linalg.norm(before)


labs.check("04.shift_experiment", solution_shift_change)


# %% [markdown] 04.shift_experiment
# *Solution to 4.5 (the explanation).* A one-pixel shift swaps one column of every 2 × 2 window.
# The average of the window moves by a quarter of that column's change, a little; the maximum
# jumps whenever the brightest pixel leaves the window or a brighter one enters. On a raw photo,
# where neighbouring pixels are similar, average pooling therefore changes less. Max pooling's
# robustness shows on sparse feature maps, a few strong responses among zeros (section 3).


# %% 04.max_pool_backward
def solution_max_pool_backward(x, upstream, size, stride):
    dx = np.zeros_like(x, dtype=float)
    h_out, w_out, channels = upstream.shape
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * stride, j * stride
            for c in range(channels):
                window = x[top : top + size, left : left + size, c]
                r, q = np.unravel_index(np.argmax(window), window.shape)
                dx[top + r, left + q, c] += upstream[i, j, c]  # += : windows may overlap
    return dx


labs.check("04.max_pool_backward", solution_max_pool_backward)
