"""Downloads through Keras's own `get_file` (checksum, cache, progress bar), offline-safe.

Keras's `get_file` sets no timeout of its own, so behind a firewall a download can hang. `fetch`
first uses the cache when the file is there, then checks in a few seconds that the server can be
reached at all, and downloads with a socket timeout. When the file cannot be had it raises
`OfflineError` with one sentence that says what is missing and how to provide it.
"""
import contextlib
import os
import pathlib
import socket
import urllib.parse

OFFLINE_VARIABLE = "CNNLIB_OFFLINE"


class OfflineError(RuntimeError):
    """A file the course wanted could not be downloaded (no network, firewall, server down)."""


def keras_cache_dir():
    """Keras's cache folder: $KERAS_HOME, else ~/.keras (falling back to /tmp/.keras like Keras)."""
    if os.environ.get("KERAS_HOME"):
        return pathlib.Path(os.environ["KERAS_HOME"])
    home = pathlib.Path(os.path.expanduser("~")) / ".keras"
    if os.access(home.parent, os.W_OK):
        return home
    return pathlib.Path("/tmp/.keras")


def forced_offline():
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def can_reach(url, timeout=3.0):
    """True when a TCP connection to the URL's host opens within `timeout` seconds."""
    if forced_offline():
        return False
    parts = urllib.parse.urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_downloadable(fname, origin, cached):
    """Raise `OfflineError` unless `cached` exists or the server of `origin` answers within seconds."""
    if cached.exists():
        return
    if not can_reach(origin):
        why = f"{OFFLINE_VARIABLE} is set" if forced_offline() else "the network is unreachable"
        raise OfflineError(
            f"Could not download {fname} from {origin} ({why}); to work offline, copy the file "
            f"to {cached} (or set KERAS_HOME to a folder holding {cached.parent.name}/{fname})."
        )


@contextlib.contextmanager
def download_timeout(fname, cached, timeout):
    """Give every socket inside the block a timeout (urllib in Keras has none of its own) and turn
    any failure into an `OfflineError` that says where to put the file."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        yield
    except Exception as error:  # urllib, SSL and checksum failures all end the same way for a learner
        raise OfflineError(
            f"Getting {fname} failed ({type(error).__name__}: {error}); "
            f"copy the file to {cached} to work offline."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def fetch(fname, origin, file_hash=None, cache_subdir="datasets", extract=False, timeout=30.0):
    """Return the local path of `fname`, downloading it from `origin` into Keras's cache if needed.

    Raises `OfflineError` (one clear sentence) when it is neither cached nor downloadable.
    """
    import keras

    cached = keras_cache_dir() / cache_subdir / fname
    ensure_downloadable(fname, origin, cached)
    with download_timeout(fname, cached, timeout):
        print(f"Getting {fname} (cached in {cached.parent})")
        return keras.utils.get_file(
            fname, origin=origin, file_hash=file_hash, cache_subdir=cache_subdir,
            cache_dir=str(keras_cache_dir()), extract=extract,
        )
