"""Downloads into Keras's cache (checksum, progress bar), offline-safe and firewall-aware.

Keras's `get_file` sets no timeout of its own, switches to /tmp/.keras when the cache folder is
read-only (so a pre-seeded, read-only lab cache would be ignored) and deletes a cached file whose
checksum fails while it tries to download it again. `fetch` therefore:

- looks for the file itself, in $KERAS_HOME (or ~/.keras) and in Keras's /tmp/.keras fallback,
  checks its checksum itself and returns it as it is: a read-only cache works;
- with ``CNNLIB_OFFLINE=1`` never touches the network, also when a cached file fails its checksum
  (the file is left in place and one sentence says what to do);
- checks in a few seconds that the server, or the HTTP(S) proxy in front of it, can be reached,
  and downloads with a socket timeout;
- remembers a failure for lack of network, so the next download in the same session fails at
  once instead of waiting again; the seconds spent waiting are kept in `cnnlib.runtime.network`
  so that a run's recorded time leaves them out.

When a file cannot be had it raises `OfflineError` with one sentence saying what is missing and
how to provide it.
"""

import contextlib
import hashlib
import os
import pathlib
import socket
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from cnnlib.runtime import network
from cnnlib.runtime.env import flag

OFFLINE_VARIABLE = "CNNLIB_OFFLINE"


class OfflineError(RuntimeError):
    """A file the course wanted could not be downloaded (no network, firewall, server down)."""


def keras_cache_dir():
    """Keras's cache folder: $KERAS_HOME, else ~/.keras, else (like Keras) /tmp/.keras.

    /tmp/.keras is shared by every user of the machine: it is taken only when it is this user's
    own (see `trusted_tmp`); otherwise the user's private cache folder takes its place.
    """
    if os.environ.get("KERAS_HOME"):
        return pathlib.Path(os.environ["KERAS_HOME"]).expanduser()
    home = pathlib.Path(os.path.expanduser("~")) / ".keras"
    if os.access(home.parent, os.W_OK):
        return home
    return download_dir()


def _keras_tmp_dir():
    """Where Keras's own get_file goes when the cache folder is read-only."""
    return pathlib.Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / ".keras"


def _owned_and_private(path):
    """True when `path` is no link, belongs to this user, and no one else may write to it."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        not stat.S_ISLNK(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def trusted_tmp(path=None):
    """True when Keras's shared /tmp/.keras (or `path` below it) is this user's own.

    Another user of a lab machine could have made the folder first and put files in it; such
    files are never read, and nothing is written there.
    """
    if not hasattr(os, "getuid"):
        return True
    tmp = _keras_tmp_dir()
    parts = [tmp]
    if path is not None:
        relative = pathlib.Path(path).relative_to(tmp).parts
        parts += [tmp.joinpath(*relative[: i + 1]) for i in range(len(relative))]
    return all(_owned_and_private(part) for part in parts)


def cache_dirs():
    """The folders a cached file may be in: Keras's cache folder, and Keras's /tmp/.keras fallback
    when Keras itself would use it (the cache folder is read-only) and it is this user's own."""
    folders = [keras_cache_dir()]
    tmp = _keras_tmp_dir()
    if tmp != folders[0] and not os.access(folders[0], os.W_OK) and trusted_tmp():
        folders.append(tmp)
    return folders


_warned_tmp = False


def download_dir():
    """Where a download goes: Keras's cache folder when writable, else Keras's own /tmp/.keras —
    unless another user made that first: then the user's private cache folder (with one sentence)."""
    global _warned_tmp
    preferred = (
        pathlib.Path(os.environ["KERAS_HOME"]).expanduser()
        if os.environ.get("KERAS_HOME")
        else pathlib.Path(os.path.expanduser("~")) / ".keras"
    )
    if os.access(preferred, os.W_OK) or (
        not preferred.exists()
        and preferred.parent.is_dir()
        and os.access(preferred.parent, os.W_OK)
    ):
        return preferred
    tmp = _keras_tmp_dir()
    if not os.path.lexists(tmp) or trusted_tmp():
        return tmp
    from cnnlib.runtime.locations import user_cache_dir

    private = user_cache_dir() / "keras"
    if not _warned_tmp:
        _warned_tmp = True
        print(
            f"⚠ {tmp} belongs to another user or others may write to it: not using it; "
            f"downloads go to {private} instead."
        )
    return private


def find_cached(fname, cache_subdir="datasets"):
    """The first cached copy of `fname` (see `cache_dirs`), or None."""
    tmp = _keras_tmp_dir()
    for folder in cache_dirs():
        path = folder / cache_subdir / fname
        if path.is_file() and (folder != tmp or trusted_tmp(path)):
            return path
    return None


def hash_algorithm(file_hash):
    """Keras's rule: a 64-character hash is SHA-256, anything else MD5."""
    return "sha256" if len(file_hash) == 64 else "md5"


def file_digest(path, algorithm="sha256"):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path, file_hash):
    """True when `path`'s checksum is `file_hash` (or no checksum is known)."""
    return file_hash is None or file_digest(path, hash_algorithm(file_hash)) == file_hash.lower()


def forced_offline():
    """True when CNNLIB_OFFLINE is on (1, true, yes, on); a word that is neither on nor off raises."""
    return flag(OFFLINE_VARIABLE)


def probe_address(url):
    """(host, port) a download of `url` first connects to: the HTTP(S) proxy if one applies, else the server."""
    parts = urllib.parse.urlparse(url)
    host = parts.hostname
    proxies = (
        urllib.request.getproxies()
    )  # https_proxy, HTTPS_PROXY, http_proxy, … from the environment
    proxy = proxies.get(parts.scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):  # proxy_bypass reads no_proxy
        proxy_parts = urllib.parse.urlparse(proxy if "://" in proxy else f"http://{proxy}")
        default = 443 if proxy_parts.scheme == "https" else 80
        return proxy_parts.hostname, proxy_parts.port or default
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def can_reach(url, timeout=3.0):
    """True when a TCP connection to the URL's host (or to its proxy) opens within `timeout` seconds."""
    if forced_offline():
        return False
    try:
        with socket.create_connection(probe_address(url), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _offline_reason():
    if forced_offline():
        return f"{OFFLINE_VARIABLE} is set"
    return network.failure() or "the network is unreachable"


def ensure_downloadable(fname, origin, cached):
    """Raise `OfflineError` unless `cached` exists or the server of `origin` answers within seconds."""
    if pathlib.Path(cached).exists():
        return
    _require_network(fname, origin, cached)


def _require_network(fname, origin, cached):
    """Raise `OfflineError` unless the server of `origin` (or its proxy) answers within seconds."""
    hint = (
        f"to work offline, copy the file to {cached} "
        f"(or set KERAS_HOME to a folder holding {pathlib.Path(cached).parent.name}/{fname})."
    )
    if forced_offline() or network.failure():
        raise OfflineError(
            f"Could not download {fname} from {origin} ({_offline_reason()}); {hint}"
        )
    start = time.perf_counter()
    if not can_reach(origin):
        network.note_failure(
            "the network was unreachable at the previous download", time.perf_counter() - start
        )
        raise OfflineError(
            f"Could not download {fname} from {origin} (the network is unreachable); {hint}"
        )


def _is_network_error(error):
    """True for failures that mean "no network" (not a bad checksum or a full disk)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(
            error,
            (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, socket.gaierror),
        ):
            return True
        if "URL fetch failure" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def download_timeout(fname, cached, timeout):
    """Give every socket inside the block a timeout (urllib in Keras has none of its own) and turn
    any failure into an `OfflineError` that says where to put the file."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    start = time.perf_counter()
    try:
        yield
    except (
        Exception
    ) as error:  # urllib, SSL and checksum failures all end the same way for a learner
        if _is_network_error(error):
            network.note_failure(
                "a download failed for lack of network a moment ago", time.perf_counter() - start
            )
        raise OfflineError(
            f"Getting {fname} failed ({type(error).__name__}: {error}); "
            f"copy the file to {cached} to work offline."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def fetch(fname, origin, file_hash=None, cache_subdir="datasets", extract=False, timeout=30.0):
    """Return the local path of `fname`, downloading it from `origin` into Keras's cache if needed.

    A cached copy that passes its checksum is used as it is, wherever it is (a read-only cache is
    fine). With `extract=True` the archive is unpacked (see `extract_archive`) and its folder returned.
    Raises `OfflineError` (one clear sentence) when it is neither cached nor downloadable.
    """
    import keras

    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    cached = find_cached(fname, cache_subdir)
    if cached is not None and matches(cached, file_hash):
        path = cached
    else:
        if cached is not None and (forced_offline() or network.failure()):
            raise OfflineError(
                f"The cached {cached} fails its {hash_algorithm(file_hash)} checksum (a damaged or "
                f"different file) and it cannot be downloaded again ({_offline_reason()}); it was left "
                f"in place: replace it with a good copy, or unset {OFFLINE_VARIABLE} to download it."
            )
        target = download_dir() / cache_subdir / fname
        _require_network(fname, origin, keras_cache_dir() / cache_subdir / fname)
        with download_timeout(fname, keras_cache_dir() / cache_subdir / fname, timeout):
            print(f"Getting {fname} (cached in {target.parent})")
            target.parent.mkdir(parents=True, exist_ok=True)  # else Keras would go to /tmp/.keras
            path = pathlib.Path(
                keras.utils.get_file(
                    fname,
                    origin=origin,
                    file_hash=file_hash,
                    cache_subdir=cache_subdir,
                    cache_dir=str(download_dir()),
                )
            )
    if extract:
        return str(extract_archive(path))
    return str(path)


def fetch_download(entry, extract=False, timeout=30.0):
    """`fetch` for an entry of `cnnlib.data.registry`: its file name, address, checksum and cache
    folder, as the registry describes them."""
    return fetch(
        entry.fname,
        entry.origin,
        file_hash=entry.file_hash,
        cache_subdir=entry.subdir,
        extract=extract,
        timeout=timeout,
    )


def extract_archive(archive, identity=None):
    """Unpack a .zip or .tar archive next to it (as Keras does: <name>_extracted/) and return that folder.

    A folder unpacked from this very archive is reused: its marker file records `identity` (by
    default the archive's size and modification time; pass its checksum where one is known), so a
    replaced archive is unpacked again. A folder without a marker (unpacked by Keras itself) is
    reused only when it is newer than the archive. When the archive's folder is read-only the
    archive is unpacked into the user's cache folder instead. A damaged archive, or a disk that
    fills up, raises `OfflineError` (one sentence) and leaves no half-unpacked folder behind.
    """
    import shutil

    from cnnlib.runtime.locations import user_cache_dir, writable

    archive = pathlib.Path(archive)
    status = archive.stat()
    identity = identity or f"{status.st_size} bytes, modified {status.st_mtime_ns}"
    marker_text = f"{archive.name}\n{identity}\n"
    name = archive.name[: archive.name.find(".")] if "." in archive.name else archive.name
    candidates = [
        archive.parent / f"{name}_extracted",
        user_cache_dir() / "extracted" / f"{name}_extracted",
    ]
    for folder in candidates:
        marker = folder / ".cnnlib-complete"
        if marker.exists():
            if marker.read_text() == marker_text:
                return folder
            continue  # unpacked from another archive of the same name: unpacked again below
        if (
            folder is candidates[0]
            and folder.is_dir()
            and any(folder.iterdir())
            and folder.stat().st_mtime_ns >= status.st_mtime_ns
        ):
            return folder
    for folder in candidates:
        if writable(folder.parent):
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            try:
                shutil.unpack_archive(str(archive), str(partial))
                shutil.rmtree(folder, ignore_errors=True)
                partial.rename(folder)
                (folder / ".cnnlib-complete").write_text(marker_text)
            except Exception as error:  # a damaged archive (zip, tar, zlib errors) or a full disk
                shutil.rmtree(partial, ignore_errors=True)
                reason = (
                    f"the disk is full or read-only: {error.strerror}"
                    if isinstance(error, OSError) and error.strerror
                    else f"a damaged archive: {type(error).__name__}: {error}"
                )
                raise OfflineError(
                    f"Could not unpack {archive} ({reason}); delete it to download it again, "
                    "or free some space."
                ) from None
            return folder
    raise OfflineError(
        f"Could not unpack {archive}: no writable folder for it (tried {candidates[0]} and {candidates[1]})."
    )
