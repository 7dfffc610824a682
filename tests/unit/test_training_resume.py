"""Resumable training: an interrupted fit picks up at the right epoch with the saved weights."""

import os
import pathlib
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


@pytest.mark.slow  # a training; the fast loop keeps test_an_interrupted_fit_resumes_at_the_right_epoch
def test_an_uninterrupted_fit_runs_every_epoch_and_leaves_nothing(tmp_path, data):
    x, y = data
    recorder = EpochRecorder()
    history = training.resumable_fit(
        small_model(), x, y, tmp_path / "run", epochs=2, callbacks=[recorder], verbose=0
    )
    assert recorder.epochs == [0, 1] and len(history.history["accuracy"]) == 2
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # a training; the fast loop keeps test_an_interrupted_fit_resumes_at_the_right_epoch
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


# ---------------------------------------------------------------------------------------------
# The history stays honest: kills between row and backup, a second process, an interrupted kernel
# ---------------------------------------------------------------------------------------------


def killing_backup(when, at_epoch=1, error=KeyboardInterrupt):
    """Keras's BackupAndRestore, except that the process "dies" at the end of `at_epoch`,
    just before (or just after) it writes its backup."""

    class Killed(keras.callbacks.BackupAndRestore):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == at_epoch and when == "before":
                raise error("killed before the backup")
            super().on_epoch_end(epoch, logs)
            if epoch == at_epoch and when == "after":
                raise error("killed after the backup")

    return Killed


@pytest.mark.slow  # trains twice per case (the interrupted fit above stays fast)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_next_to_the_backup_loses_no_epoch(tmp_path, data, monkeypatch, when):
    x, y = data
    folder = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks, "BackupAndRestore", killing_backup(when))
        with pytest.raises(KeyboardInterrupt):
            training.resumable_fit(small_model(), x, y, folder, epochs=4, verbose=0)
    history = training.resumable_fit(small_model(), x, y, folder, epochs=4, verbose=0)
    assert len(history.history["loss"]) == 4, history.history


@pytest.mark.slow  # trains in a second process
def test_a_second_process_on_the_same_folder_trains_without_touching_the_backup(
    tmp_path, data, capsys
):
    fcntl = pytest.importorskip("fcntl")
    x, y = data
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "setup.json").write_text("the first process's setup\n")
    with open(folder / ".lock", "a") as first_process:
        fcntl.flock(first_process, fcntl.LOCK_EX | fcntl.LOCK_NB)
        recorder = EpochRecorder()
        history = training.resumable_fit(
            small_model(), x, y, folder, epochs=3, callbacks=[recorder], verbose=0
        )
    assert recorder.epochs == [0, 1, 2] and len(history.history["loss"]) == 3
    assert (folder / "setup.json").read_text() == "the first process's setup\n"
    assert not (folder / "backup").exists() and not (folder / "history.csv").exists()
    assert "Another process is training into" in capsys.readouterr().out


class InterruptMidEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt("interrupted in the first epoch")


@pytest.mark.slow  # trains twice
def test_rerunning_after_an_interrupt_in_the_first_epoch_starts_from_the_initial_weights(
    tmp_path, data, capsys
):
    x, y = data
    folder = tmp_path / "run"
    model = small_model()
    initial = [w.copy() for w in model.get_weights()]
    with pytest.raises(KeyboardInterrupt):
        training.resumable_fit(
            model, x, y, folder, epochs=2, batch_size=4, callbacks=[InterruptMidEpoch()], verbose=0
        )
    assert any(not np.array_equal(a, b) for a, b in zip(initial, model.get_weights()))
    recorder = EpochRecorder()
    training.resumable_fit(
        model, x, y, folder, epochs=2, batch_size=4, callbacks=[recorder], verbose=0
    )
    for before, restarted in zip(initial, recorder.first_weights):
        np.testing.assert_array_equal(before, restarted)
    assert "interrupted before its first backup" in capsys.readouterr().out


@pytest.mark.slow  # trains twice per argument
@pytest.mark.parametrize(
    "argument, first, second",
    [
        ("class_weight", {0: 1.0, 1: 1.0, 2: 1.0}, {0: 5.0, 1: 1.0, 2: 1.0}),
        ("shuffle", True, False),
        ("sample_weight", np.ones(32), np.linspace(0.5, 1.5, 32)),
        ("validation_data", "first half", "second half"),
    ],
)
def test_a_backup_remembers_every_argument_of_fit(tmp_path, data, capsys, argument, first, second):
    x, y = data
    if argument == "validation_data":
        first, second = (x[:16], y[:16]), (x[16:], y[16:])
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.resumable_fit(
            small_model(), x, y, folder, epochs=4, callbacks=[Interrupt()], verbose=0,
            **{argument: first},
        )  # fmt: skip
    recorder = EpochRecorder()
    training.resumable_fit(
        small_model(), x, y, folder, epochs=4, callbacks=[recorder], verbose=0, **{argument: second}
    )
    assert recorder.epochs[0] == 0, f"a changed {argument} must not resume the old training"
    out = capsys.readouterr().out
    assert f"{argument.replace('_', ' ')}" in out and "starting from scratch" in out


@pytest.mark.slow  # a training; the fast loop keeps test_an_interrupted_fit_resumes_at_the_right_epoch
def test_a_full_disk_during_training_finishes_without_backups(tmp_path, data, monkeypatch, capsys):
    x, y = data
    full = killing_backup("before", at_epoch=1, error=lambda text: OSError(28, "No space left"))
    monkeypatch.setattr(keras.callbacks, "BackupAndRestore", full)
    recorder = EpochRecorder()
    history = training.resumable_fit(
        small_model(), x, y, tmp_path / "run", epochs=4, callbacks=[recorder], verbose=0
    )
    assert recorder.epochs == [0, 1, 2, 3] and len(history.history["loss"]) == 4
    out = capsys.readouterr().out
    assert "the disk may be full" in out and "from epoch 3 without backups" in out


FULL_DISK_RUN = """
import sys, numpy as np, keras
from cnnlib.runtime import training
x = np.random.default_rng(0).random((64, 8, 8, 1), dtype="float32")
y = np.arange(64) % 10
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(64), keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
history = training.resumable_fit(model, x, y, sys.argv[1], epochs=3, verbose=0)
print("epochs", len(history.history["loss"]))
"""


@pytest.mark.slow
def test_a_really_full_disk_ends_the_process_normally(tmp_path):
    """A 64 KB file system fills up at the first backup (the weights take ~75 KB): the training
    finishes all its epochs and the process exits normally (h5py used to crash it at exit)."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[2]))
        done = subprocess.run(
            [sys.executable, "-c", FULL_DISK_RUN, str(disk / "run")],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    finally:
        subprocess.run(["umount", str(disk)])
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-2000:]}"
    assert "epochs 3" in done.stdout and "the disk may be full" in done.stdout
    warning = next(line for line in done.stdout.splitlines() if "disk may be full" in line)
    assert "No space left on device" in warning  # one sentence, not HDF5's report


@pytest.fixture
def course(tmp_path, monkeypatch):
    from cnnlib.runtime import locations

    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "cnnlib").mkdir()
    monkeypatch.chdir(root / "notebooks")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    training._warned_folders.clear()
    assert locations.course_root() == root
    return root


def test_checkpoints_go_into_private_folders_of_the_checkout(course):
    folder = training.checkpoint_dir("05_lenet5_mnist", "lite", "lenet")
    assert folder == course / "checkpoints" / "05_lenet5_mnist" / "lite" / "lenet"
    for level in (folder, *list(folder.parents)[:3]):
        assert level.stat().st_mode & 0o022 == 0, f"others may write to {level}"


def test_a_checkpoint_folder_others_may_write_to_is_not_used(course, tmp_path, capsys, monkeypatch):
    """In a checkout shared by a group, another account could plant a link where history.csv or
    the backup goes: a folder on the way that is not this user's own sends the checkpoints to the
    user's cache folder, with one sentence."""
    profile = course / "checkpoints" / "05_lenet5_mnist" / "lite"
    profile.mkdir(parents=True)
    real_lstat = os.lstat

    def lstat(path, *args, **kwargs):  # as if another account had made the profile's folder
        info = real_lstat(path, *args, **kwargs)
        if pathlib.Path(path) == profile:
            values = list(info)
            values[4] = os.getuid() + 1
            return os.stat_result(values)
        return info

    monkeypatch.setattr(os, "lstat", lstat)
    folder = training.checkpoint_dir("05_lenet5_mnist", "lite", "lenet")
    assert (
        folder
        == tmp_path / "cache" / "cnnlib" / "checkpoints" / "05_lenet5_mnist" / "lite" / "lenet"
    )
    out = capsys.readouterr().out
    assert "belongs to another user" in out and out.count("\n") == 1
