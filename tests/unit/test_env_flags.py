"""One reading of every on/off environment variable: a documented set of words, others refused."""

import pytest

from cnnlib.data import downloads
from cnnlib.runtime import profiles, quiet
from cnnlib.runtime.env import flag


@pytest.mark.parametrize("word", ["1", "true", "YES", " on ", "True"])
def test_on_words(monkeypatch, word):
    monkeypatch.setenv("CNNLIB_TEST_FLAG", word)
    assert flag("CNNLIB_TEST_FLAG") is True


@pytest.mark.parametrize("word", ["", "0", "false", "No", "OFF", "  "])
def test_off_words_and_unset(monkeypatch, word):
    monkeypatch.setenv("CNNLIB_TEST_FLAG", word)
    assert flag("CNNLIB_TEST_FLAG") is False
    monkeypatch.delenv("CNNLIB_TEST_FLAG")
    assert flag("CNNLIB_TEST_FLAG") is False


@pytest.mark.parametrize("word", ["off", "n", "disabled"])
def test_offline_off_never_means_offline(monkeypatch, word):
    monkeypatch.setenv("CNNLIB_OFFLINE", word)
    if word == "off":
        assert downloads.forced_offline() is False
    else:
        with pytest.raises(ValueError, match=f"CNNLIB_OFFLINE='{word}' is neither on nor off"):
            downloads.forced_offline()


def test_verbose_uses_the_same_words(monkeypatch):
    monkeypatch.setenv("CNNLIB_VERBOSE", "off")
    assert quiet._verbose() is False
    monkeypatch.setenv("CNNLIB_VERBOSE", "maybe")
    with pytest.raises(ValueError, match="CNNLIB_VERBOSE='maybe'"):
        quiet._verbose()


def test_ci_off_is_off_and_a_service_name_is_on(monkeypatch):
    monkeypatch.delenv("CNNLIB_PROFILE", raising=False)
    monkeypatch.setenv("CI", "off")
    assert profiles.choose_profile(has_gpu=False)[0] == "lite"
    monkeypatch.setenv("CI", "woodpecker")
    assert profiles.choose_profile(has_gpu=False)[0] == "ci"
