"""Resumable training: an interrupted fit picks up at the right epoch with the saved weights."""

import types

import keras
import numpy as np
import pytest

from cnnlib.runtime import training

EPOCHS = 6
STOP_AT = 3  # the interruption happens as epoch index 3 (the fourth epoch) begins


class Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == STOP_AT:
            raise KeyboardInterrupt("kernel interrupted")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.first_weights = [], None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_weights is None:
            self.first_weights = [w.copy() for w in self.model.get_weights()]
        self.epochs.append(epoch)


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((32, 4), dtype=np.float32), rng.integers(0, 3, 32)


def test_an_interrupted_fit_resumes_at_the_right_epoch(tmp_path, data):
    x, y = data
    folder = tmp_path / "run"
    keras.utils.set_random_seed(0)
    interrupted = small_model()
    with pytest.raises(KeyboardInterrupt):
        training.resumable_fit(
            interrupted, x, y, folder, epochs=EPOCHS, callbacks=[Interrupt()], verbose=0
        )
    assert training.saved_epoch(folder) == STOP_AT

    keras.utils.set_random_seed(1)  # a fresh model after a "kernel restart": other initial weights
    restarted, recorder = small_model(), EpochRecorder()
    history = training.resumable_fit(
        restarted, x, y, folder, epochs=EPOCHS, callbacks=[recorder], verbose=0
    )

    assert recorder.epochs == list(range(STOP_AT, EPOCHS))  # only the unfinished epochs ran
    for saved, restored in zip(interrupted.get_weights(), recorder.first_weights):
        np.testing.assert_array_equal(
            saved, restored
        )  # and they started from the backed-up weights
    assert (
        len(history.history["loss"]) == EPOCHS
    )  # the history covers the epochs before the restart too
    assert not folder.exists()  # cleaned up once training completed


def test_an_uninterrupted_fit_runs_every_epoch_and_leaves_nothing(tmp_path, data):
    x, y = data
    recorder = EpochRecorder()
    history = training.resumable_fit(
        small_model(), x, y, tmp_path / "run", epochs=2, callbacks=[recorder], verbose=0
    )
    assert recorder.epochs == [0, 1] and len(history.history["accuracy"]) == 2
    assert not (tmp_path / "run").exists()


def test_train_checkpoints_only_when_the_profile_says_so(tmp_path, monkeypatch, data):
    x, y = data
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "cnnlib").mkdir()
    seen = []
    monkeypatch.setattr(
        training, "resumable_fit", lambda model, x, y, folder, **kw: seen.append(folder)
    )
    run = types.SimpleNamespace(
        notebook="05_lenet5_mnist", profile="lite", settings=types.SimpleNamespace(checkpoints=True)
    )
    training.train(run, small_model(), x, y, name="tiny", epochs=1, verbose=0)
    assert seen == [tmp_path / "checkpoints" / "05_lenet5_mnist" / "lite" / "tiny"]

    run.settings.checkpoints = False
    history = training.train(run, small_model(), x, y, epochs=1, verbose=0)
    assert len(seen) == 1 and len(history.history["loss"]) == 1


@pytest.mark.parametrize("bad", ["", "a/b", "..", None])
def test_checkpoint_dir_refuses_unsafe_names(bad):
    with pytest.raises(ValueError, match="name"):
        training.checkpoint_dir("05_lenet5_mnist", "lite", bad)


def test_epochs_must_be_positive(tmp_path, data):
    with pytest.raises(ValueError, match="epochs"):
        training.resumable_fit(small_model(), *data, tmp_path, epochs=0)
