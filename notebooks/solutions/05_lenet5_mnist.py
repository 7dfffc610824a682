# ruff: noqa: F821
# (the names used here are defined by the notebook these solutions run in)


# %% [markdown]
# Worked solutions to the exercises of notebook 05_lenet5_mnist.ipynb, one cell per exercise.
# Each ends with the exercise's check; the notebook's last cell runs them all in the
# test run (CNNLIB_RUN_SOLUTIONS=1). Try each exercise before reading its solution.


# %% 05.lenet_parameters
# (f·f·C + 1)·K for a convolution, n·m + m for a dense layer; follow the maps' side:
# 64 → C1 60 → S2 30 → C3 26 → S4 13 → C5 9, so Flatten hands F6 9·9·120 = 9,720 values.
solution_prediction_51 = {
    "C1": (5 * 5 * 3 + 1) * 6,  # 456: each filter spans the 3 colour channels
    "C3": (5 * 5 * 6 + 1) * 16,  # 2,416: as on digits — a convolution ignores the map size
    "C5": (5 * 5 * 16 + 1) * 120,  # 48,120: the same
    "F6": 9 * 9 * 120 * 84 + 84,  # 816,564: the dense layer pays for every position
    "output": 84 * 10 + 10,  # 850
}
labs.check("05.lenet_parameters", solution_prediction_51)


# %% 05.cross_entropy
# −log softmax(z)_y = −(z_y − log Σ_j e^{z_j}) = log Σ_j e^{z_j} − z_y: no probability, no log 0.
# log Σ_j e^{z_j} = m + log Σ_j e^{z_j − m} with m the largest logit: no exp overflows.
def solution_cross_entropy(z, labels):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=1)
    log_sum = m + np.log(np.exp(z - m[:, np.newaxis]).sum(axis=1))
    return log_sum - z[np.arange(len(z)), labels]


labs.check("05.cross_entropy", solution_cross_entropy)


# %% 05.small_cnn
# LeNet's two blocks, small: 16 and 32 maps of 5×5 (most of the budget goes to convolutions),
# max pooling, and no hidden dense layer — 4×4×32 = 512 values straight to the softmax.
def solution_build_small_cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ],
        name="small_cnn",
    )


diagrams.draw_model(solution_build_small_cnn(), title="A CNN under 20,000 parameters")
plt.show()
labs.check("05.small_cnn", solution_build_small_cnn)


# %% 05.learning_rate
# The check calls train_at for each rate under its own seeds; run it yourself to see the curves.
quick = run.profile == "ci"
digits_54 = 2000 if quick else min(len(y_fit), 10_000)  # enough to tell the rates apart
epochs_54 = 2 if quick else 3


def solution_train_at(rate):
    model = build_lenet5()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x_fit[:digits_54],
        y_fit[:digits_54],
        validation_data=(x_val, y_val),
        epochs=epochs_54,
        batch_size=settings.batch_size,
        verbose=0,
    )


labs.check("05.learning_rate", solution_train_at)


# %% [markdown] 05.learning_rate
# **Prediction: 0.05.**
#
# **Why.** With momentum 0.9 the effective step is about ten times the learning rate. At 0.5 the
# steps overshoot: the loss jumps up (sometimes to `nan`) and the network ends near chance, about
# 10 %. At 0.005 every step is safe but small, so after the same few epochs the network has learned
# much less (in the `ci` run its loss has hardly left ln 10 ≈ 2.30, the loss of a uniform guess).
# 0.05 is near the largest rate that stays stable, which is where short trainings do best. Over
# many more epochs the small rate would catch up; the large one would not.


# %% 05.receptive_field
# size += (kernel − 1) × jump; jump *= stride. C1: 5 (jump 1); S2: 5 + 1 = 6 (jump 2);
# C3: 6 + 4·2 = 14; S4: 14 + 1·2 = 16 (jump 4); C5: 16 + 4·4 = 32.
solution_prediction_55 = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
labs.check("05.receptive_field", solution_prediction_55)


# %% [markdown] 05.receptive_field
# C5 sees all 32×32 input pixels: one C5 unit covers the whole (padded) image, so on this input it is
# the same as a dense layer (section 2 counted it both ways). The paper still calls it a
# convolution because on a larger input it would slide and give a map. Padding 28 to 32 lets the
# strokes near the digit's edge sit in the middle of C1's windows rather than only at their rims,
# so features of the border are detected as well as those of the centre.
