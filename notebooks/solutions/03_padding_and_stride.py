# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 03_padding_and_stride.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 03.output_size
def solution_output_size(n, f, padding, stride):
    # n + 2p pixels after padding; the window starts at 0, s, 2s, … as long as it fits.
    return (n + 2 * padding - f) // stride + 1


labs.check("03.output_size", solution_output_size)


# %% 03.shapes
solution_shapes = [
    (27, 27, 8),  # 29 − 3 + 1; a Conv2D has as many output channels as filters
    (14, 14, 16),  # 'same', stride 2: ceil(27 / 2), whatever the kernel size
    (6, 6, 16),  # floor((14 − 3) / 2) + 1
    (10, 10, 16),  # 2 zeros on EACH side: 6 + 2 + 2
    (4, 8, 32),  # rows, stride 2: floor((10 − 3) / 2) + 1; columns, stride 1: 10 − 3 + 1
    (2, 4, 32),  # MaxPooling2D(2): stride 2 by default; channels unchanged
]
labs.check("03.shapes", solution_shapes)

# What Keras says, layer by layer:
shapes_model = keras.Sequential(
    [
        keras.Input((29, 29, 3)),
        keras.layers.Conv2D(8, 3),
        keras.layers.Conv2D(16, 5, strides=2, padding="same"),
        keras.layers.Conv2D(16, 3, strides=2),
        keras.layers.ZeroPadding2D(2),
        keras.layers.Conv2D(32, 3, strides=(2, 1)),
        keras.layers.MaxPooling2D(2),
    ]
)
for layer in shapes_model.layers:
    print(f"{layer.name:>16}: {tuple(layer.output.shape[1:])}")
with cnnlib.claims("exercise 3.2's stack") as claim:
    claim(
        [tuple(layer.output.shape[1:]) for layer in shapes_model.layers] == ex03.expected_shapes(),
        "Keras's shapes are the ones the check expects",
    )


# %% 03.receptive_field
field, jump = 1, 1
for kernel, stride in [(3, 1), (3, 2), (3, 1), (2, 2), (3, 1)]:
    field += (kernel - 1) * jump  # the window spans kernel − 1 more units, each `jump` apart
    jump *= stride  # ... and this layer's stride spaces out the NEXT layer's units
solution_rf = (field, jump)
labs.check("03.receptive_field", solution_rf)

# The same stack in Keras: the calculator, then impulses.
rf_model = keras.Sequential(
    [
        keras.Input((64, 64, 1)),
        keras.layers.Conv2D(1, 3),
        keras.layers.Conv2D(1, 3, strides=2),
        keras.layers.Conv2D(1, 3),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(1, 3),
    ]
)
print(format_fields(keras_receptive_fields(rf_model)))
with run.timer():
    rf_measured, _ = measure_receptive_field(rf_model, 64)
print("measured with impulses:", rf_measured)
with cnnlib.claims("exercise 3.3's stack") as claim:
    claim(rf_measured[0] == ex03.rf_answer()[0], "the impulses agree with the check's answer")


# %% 03.photo_stride
def solution_photo_setting(n, f, s, padding):
    out = ops.output_size(n, f, padding, s)
    before = ops.padding_amounts((n, 1), (f, 1), (s, 1), padding)[0][0]
    # Window i covers padded rows i·s … i·s + f − 1, i.e. input rows shifted up by `before`.
    seen = {row for i in range(out) for row in range(i * s - before, i * s - before + f)}
    return out, sum(row not in seen for row in range(n))


solution_photo = {
    name: solution_photo_setting(ex03.PHOTO_SIZE, f, s, padding)
    for name, (f, s, padding) in ex03.PHOTO_SETTINGS.items()
}
labs.check("03.photo_stride", solution_photo)
show_photo_strides(ex03.PHOTO_SETTINGS)


# %% [markdown] 03.photo_stride
# *Solution to 3.4.* Stride 2 with a 3 × 3 window: windows start every 2 rows and overlap, so only
# rows after the last window are lost. A 2 × 2 window with stride 4 covers 2 rows out of every 4:
# half the rows and half the columns are skipped, **every time**, and the white line at column 50
# (50 = 4·12 + 2) falls in a gap: it leaves no trace. With a 5 × 5 window and stride 4, *valid*
# drops the rows after the last window; *same* adds the one zero row the last window needs, so
# every pixel counts. A stride larger than the kernel throws information away before any learning
# can use it; that is why strides rarely exceed the kernel size.


# %% 03.strided_conv
def solution_conv2d_strided(x, kernel, stride, padding):
    s_v, s_h = (stride, stride) if np.ndim(stride) == 0 else stride
    x = np.pad(np.asarray(x, dtype=float), padding)  # `padding` zeros on every side
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - kh) // s_v + 1, (x.shape[1] - kw) // s_h + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            window = x[
                i * s_v : i * s_v + kh, j * s_h : j * s_h + kw
            ]  # rows by s_V, columns by s_H
            out[i, j] = np.sum(window * kernel)
    return out


labs.check("03.strided_conv", solution_conv2d_strided)
