"""Unit tests of cnnlib's plumbing: profiles, checks, the set-up call, results files, offline downloads, the report."""

import json
import pathlib
import time

import numpy as np
import pytest

import cnnlib
from cnnlib.data import downloads
from cnnlib.runtime.profiles import PROFILES, choose_profile

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("CNNLIB_PROFILE", "CI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_profile_is_chosen_by_ci_then_gpu(clean_env):
    assert choose_profile(has_gpu=False)[0] == "lite"
    assert choose_profile(has_gpu=True)[0] == "full"
    clean_env.setenv("CI", "true")
    assert choose_profile(has_gpu=True)[0] == "ci"
    clean_env.setenv("CI", "false")
    assert choose_profile(has_gpu=False)[0] == "lite"


def test_profile_variable_overrides_everything(clean_env):
    clean_env.setenv("CI", "1")
    clean_env.setenv("CNNLIB_PROFILE", "FULL")
    assert choose_profile(has_gpu=False) == ("full", "set by CNNLIB_PROFILE")


def test_unknown_profile_is_a_clear_error(clean_env):
    clean_env.setenv("CNNLIB_PROFILE", "fast")
    with pytest.raises(
        ValueError,
        match=r"CNNLIB_PROFILE='fast' is not a run profile; expected one of ci, lite, full",
    ):
        choose_profile(has_gpu=False)


def test_profiles_grow_from_ci_to_full():
    ci, lite, full = PROFILES["ci"], PROFILES["lite"], PROFILES["full"]
    assert ci.vgg_image_size <= lite.vgg_image_size <= full.vgg_image_size == 224
    assert ci.lenet_epochs <= lite.lenet_epochs <= full.lenet_epochs
    assert full.mnist_train_size is None, "the full profile trains on all of MNIST"


def test_check_prints_a_tick_or_raises(capsys):
    cnnlib.check(1 + 1 == 2, "arithmetic works")
    assert capsys.readouterr().out == "✓ arithmetic works\n"
    with pytest.raises(AssertionError, match="✗ pigs fly"):
        cnnlib.check(False, "pigs fly")


def test_check_close_reports_the_largest_difference():
    cnnlib.check_close([1.0, 2.0], [1.0, 2.0 + 1e-9], "equal enough")
    with pytest.raises(AssertionError, match="largest difference 0.5"):
        cnnlib.check_close([1.0, 2.0], [1.0, 2.5], "not equal")
    with pytest.raises(AssertionError, match=r"shape \(2,\) is not the expected \(3,\)"):
        cnnlib.check_close([1.0, 2.0], [1.0, 2.0, 3.0], "wrong shape")


def test_setup_seeds_and_records_results(clean_env, tmp_path):
    clean_env.setenv("CNNLIB_PROFILE", "ci")
    clean_env.setenv("CNNLIB_RESULTS_DIR", str(tmp_path))
    run = cnnlib.setup("99_demo", seed=7)
    first = np.random.rand(3)
    cnnlib.setup("99_demo", seed=7)
    assert np.array_equal(first, np.random.rand(3)), "the same seed gives the same random numbers"
    assert run.profile == "ci" and run.settings is PROFILES["ci"]
    with run.timer():
        time.sleep(0.05)
    assert (
        run.record(
            metrics={"accuracy": np.float32(0.5), "sizes": np.array([1, 2])}, data_source="made up"
        )
        is None
    )
    path = run.results_path
    result = json.loads(path.read_text())
    for field in ("profile", "device", "seconds", "notebook_seconds", "data_source", "metrics"):
        assert field in result, f"results file lacks {field}"
    assert result["metrics"] == {"accuracy": 0.5, "sizes": [1, 2]}
    assert result["seconds"] >= 0.05 - 1e-9 or result["seconds"] == 0.1
    assert (tmp_path / "ci" / "99_demo.json").read_text() == path.read_text()


def test_setup_rejects_bad_arguments():
    with pytest.raises(ValueError, match="notebook must be the notebook's file stem"):
        cnnlib.setup("")
    with pytest.raises(ValueError, match="mixed_precision must be 'auto', True or False"):
        cnnlib.setup("99_demo", mixed_precision="yes")


def test_record_rejects_metrics_that_are_not_a_dict(clean_env, tmp_path):
    clean_env.setenv("CNNLIB_RESULTS_DIR", str(tmp_path))
    run = cnnlib.setup("99_demo")
    with pytest.raises(ValueError, match="metrics must be a dict"):
        run.record(metrics=[0.9], data_source="x")


def test_fetch_offline_fails_fast_with_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(downloads.OfflineError) as error:
        downloads.fetch("nothing.zip", "https://example.invalid/nothing.zip")
    assert time.perf_counter() - start < 2
    message = str(error.value)
    assert "nothing.zip" in message and str(tmp_path / "datasets" / "nothing.zip") in message
    assert "\n" not in message


def test_fetch_unreachable_host_does_not_hang(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("CNNLIB_OFFLINE", raising=False)
    # 192.0.2.0/24 is reserved for documentation: nothing answers there, so only the timeout ends it.
    monkeypatch.setattr(downloads, "can_reach", lambda url, timeout=3.0: False)
    with pytest.raises(downloads.OfflineError, match="the network is unreachable"):
        downloads.fetch("nothing.zip", "https://192.0.2.1/nothing.zip")


def test_can_reach_gives_up_within_its_timeout():
    start = time.perf_counter()
    reachable = downloads.can_reach("https://192.0.2.1/x", timeout=1.0)
    assert not reachable and time.perf_counter() - start < 3


def test_fetch_uses_the_cache_without_the_network(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    cached = tmp_path / "datasets" / "tiny.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("hello")
    assert pathlib.Path(downloads.fetch("tiny.txt", "https://example.invalid/tiny.txt")) == cached


def test_relative_results_dir_is_taken_from_the_course_folder(monkeypatch):
    from cnnlib.runtime.session import find_results_dir

    monkeypatch.setenv("CNNLIB_RESULTS_DIR", "results")
    monkeypatch.chdir(ROOT / "notebooks")  # where Jupyter starts a notebook's kernel
    assert find_results_dir() == ROOT / "results"
    monkeypatch.delenv("CNNLIB_RESULTS_DIR")
    assert find_results_dir() == ROOT / "my_results", (
        "a hand run writes to the untracked my_results/"
    )
