# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 01_image_as_matrix.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 01.batch_shape
# Keras is channels last: (N, H, W, C). Every number is a float32 of 4 bytes.
solution_batch = {
    "shape": (64, 224, 224, 3),
    "megabytes": 64 * 224 * 224 * 3 * 4 / 1e6,  # 38.5 MB
}
labs.check("01.batch_shape", solution_batch)


# %% 01.dense_params
# 32·32·3 = 3,072 inputs, each connected to 128 neurons, plus one bias per neuron.
solution_parameters = 32 * 32 * 3 * 128 + 128  # 393,344
labs.check("01.dense_params", solution_parameters)


# %% 01.rgb_to_gray
def solution_rgb_to_gray(image):
    """(H, W, 3) → (H, W): the weighted sum over the last (channel) axis."""
    return image @ np.array([0.2125, 0.7154, 0.0721])


labs.check("01.rgb_to_gray", solution_rgb_to_gray)


# %% 01.block_average
def solution_block_average(x, k):
    """(H, W, C) → (H/k, W/k, C): split each axis into (blocks, k) and average the k's."""
    h, w, c = x.shape
    return x.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


labs.check("01.block_average", solution_block_average)


# %% 01.correlation_distance
coffee = to_gray(photo("coffee"))
solution_distance = next(
    d for d in range(1, coffee.shape[1]) if vision.neighbour_correlation(coffee, d, axis=1) < 0.5
)
astronaut_distance = next(
    d for d in range(1, gray.shape[1]) if vision.neighbour_correlation(gray, d, axis=1) < 0.5
)
print(f"coffee: {solution_distance} pixels, astronaut: {astronaut_distance} pixels")
labs.check("01.correlation_distance", solution_distance)


# %% [markdown] 01.correlation_distance
# The coffee photo stays correlated over a longer distance: most of it is large smooth areas (the
# cup, the coffee, the red saucer) and a wooden table whose grain runs across the picture, so the
# brightness changes slowly along a row; the astronaut is busier (flag stripes, badges, the
# shuttle, the hair) and has more edges per row. How
# far the correlation reaches depends on the photo; that it is high for near neighbours and fades
# with distance holds for both, which is what a convolution's small window relies on.


# %% 01.dense_memory
# An n-wide layer on n = 3·s² inputs has n·n weights + n biases, 4 bytes each.
def fits(side):
    n = 3 * side * side
    return (n * n + n) * 4 <= 16e9


solution_side = 1
while fits(solution_side + 1):
    solution_side += 1
print(f"{solution_side} × {solution_side}: a thumbnail; a 3 × 3 conv with 32 filters needs 896")
labs.check("01.dense_memory", solution_side)
