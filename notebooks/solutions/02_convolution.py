# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 02_convolution.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 02.predict_value
window = image_5x5[1:4, 2:5]  # rows 1–3, columns 2–4: the window of [1, 2]
solution_value = int(np.sum(window * sobel_left))
print(window, "\n× Sobel left, summed →", solution_value)
labs.check("02.predict_value", solution_value)


# %% 02.convolve2d
def solution_convolve2d(image, kernel):
    # Every pixel adds its value times the (unflipped) kernel into the output, at its own place:
    # out[p + a, q + b] gets image[p, q] · kernel[a, b], i.e. out[i, j] = Σ kernel[a, b] ·
    # image[i − a, j − b], the flipped sum. (Or: pad with kh − 1, kw − 1 zeros and slide the
    # kernel flipped both ways, kernel[::-1, ::-1], with corr2d.)
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] + kh - 1, image.shape[1] + kw - 1))
    for p in range(image.shape[0]):
        for q in range(image.shape[1]):
            out[p : p + kh, q : q + kw] += image[p, q] * kernel
    return out


labs.check("02.convolve2d", solution_convolve2d)


# %% 02.conv_layer_shape
side = 32 - 5 + 1  # a 5-wide kernel fits in 28 positions
solution_prediction = {
    "output shape": (side, side, 8),  # one map per filter
    "parameters": 5 * 5 * 3 * 8 + 8,
}  # a 5×5×3 volume per filter + biases
labs.check("02.conv_layer_shape", solution_prediction)


# %% 02.multichannel
def solution_conv_layer(image, kernels, biases):
    # Feature map k: filter k's slice for channel c slid over channel c, summed over c, + biases[k].
    maps = [
        sum(corr2d(image[..., c], kernels[:, :, c, k]) for c in range(image.shape[-1])) + biases[k]
        for k in range(kernels.shape[-1])
    ]
    return np.stack(maps, axis=-1)  # (H', W', K): feature maps last, as Keras lays them out


labs.check("02.multichannel", solution_conv_layer)


# %% 02.diagonal_kernel
# Positive along both diagonals (an X), negative elsewhere, weights summing to 0. A diagonal line
# through the centre fills one whole arm of the X; a horizontal or vertical line crosses the
# window through one or two X cells and several negative ones, which cancel them; a flat image
# gives 0.
x_shape = np.maximum(np.eye(5), np.fliplr(np.eye(5)))
solution_diagonal_kernel = x_shape - x_shape.mean()
labs.check("02.diagonal_kernel", solution_diagonal_kernel)


# %% 02.conv_backward
def solution_conv_backward(dout, x, w, b):
    kh, kw = w.shape[:2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for r in range(dout.shape[0]):
        for c in range(dout.shape[1]):
            window = x[r : r + kh, c : c + kw, :]  # (kh, kw, C)
            dw += window[..., None] * dout[r, c]  # (kh, kw, C, K)
            dx[r : r + kh, c : c + kw, :] += (w * dout[r, c]).sum(axis=-1)
    db = dout.sum(axis=(0, 1))  # one per filter
    return dx, dw, db


labs.check("02.conv_backward", solution_conv_backward)
