"""A lab machine is shared: another local user must not read the lab's token, redirect its files,
or plant files that the course then uses as its own.

Each attack is made for real by a second account (`nobody`, through `setpriv`), which needs root;
elsewhere these tests skip and say why.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from cnnlib.data import downloads
from cnnlib.runtime import locations
from cnnlib.tools import lab

NOBODY = 65534
ROOT = pathlib.Path(__file__).resolve().parents[2]

needs_second_user = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="acting as a second local user needs root and setpriv (util-linux)",
)


def as_nobody(*command, check=True):
    """Run `command` as the unprivileged user `nobody`; return the finished process."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command],
        capture_output=True,
        text=True,
        check=check,
    )


@pytest.fixture
def shared(tmp_path):
    """A folder every user can reach (pytest's own tmp_path is private to its user)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="cnnlib-shared-test-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shared_tmp(shared):
    """A folder like /tmp: everyone may create files in it (mode 1777)."""
    folder = shared / "tmp"
    folder.mkdir()
    folder.chmod(0o1777)
    return folder


@needs_second_user
def test_another_user_cannot_read_the_lab_token(tmp_path):
    token = "0123456789abcdef0123456789abcdef"
    command = lab.lab_command(tmp_path, 8999, container=False, open_browser=False)
    # The launcher's server command and environment, with a program that just waits.
    stand_in = [sys.executable, "-c", "import time; time.sleep(60)", *command[1:]]
    server = subprocess.Popen(stand_in, env=lab.server_environment(token))
    try:
        seen = as_nobody("ps", "-ww", "-o", "args=", "-p", str(server.pid)).stdout
        assert "lab" in seen and token not in seen, "the token is on the server's command line"
        environ = as_nobody("cat", f"/proc/{server.pid}/environ", check=False)
        assert environ.returncode != 0 and token not in environ.stdout
        own = pathlib.Path(f"/proc/{server.pid}/environ").read_bytes()
        assert f"{lab.TOKEN_VARIABLE}={token}".encode() in own, "the server gets its token"
    finally:
        server.kill()
        server.wait()


@needs_second_user
def test_a_planted_link_cannot_redirect_the_lab_log(shared, monkeypatch, shared_tmp):
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    victim = shared / "root_only"
    victim.write_text("root's file\n")
    victim.chmod(0o600)
    # The attacker plants links where a fixed-name log in the temp folder would go.
    for port in (8888, 8889):
        as_nobody("ln", "-s", str(victim), str(shared_tmp / f"cnn-course-jupyterlab-{port}.log"))
    path, log = lab.open_log(8888)
    with log:
        log.write("jupyter output\n")
    assert victim.read_text() == "root's file\n"
    assert path.parent.stat().st_mode & 0o777 == 0o700 and path.stat().st_mode & 0o777 == 0o600
    # The folder is private: the attacker cannot put a link into it either.
    planted = as_nobody(
        "ln", "-s", str(victim), str(path.parent / "jupyterlab-8889.log"), check=False
    )
    assert planted.returncode != 0
    # And had a link got there, the log would refuse it instead of following it.
    (path.parent / "jupyterlab-8889.log").symlink_to(victim)
    with pytest.raises(SystemExit, match="Cannot write JupyterLab's log"):
        lab.open_log(8889)
    assert victim.read_text() == "root's file\n"


@needs_second_user
def test_a_second_user_on_the_same_port_gets_a_log_of_their_own(shared, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared / "cache"))
    first, log = lab.open_log(8888)
    log.close()
    home = shared / "nobody_home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    script = (  # the system Python, without NumPy: the launcher's module without cnnlib/__init__.py
        "import sys, types; package = types.ModuleType('cnnlib'); "
        "package.__path__ = [sys.argv[1] + '/cnnlib']; sys.modules['cnnlib'] = package; "
        "from cnnlib.tools import lab; path, log = lab.open_log(8888); log.close(); print(path)"
    )
    other = as_nobody(
        "env", "-u", "XDG_CACHE_HOME", f"HOME={home}", "/usr/bin/python3", "-c", script, str(ROOT),
        check=False,
    )  # fmt: skip
    if "No module named" in other.stderr:
        pytest.skip(f"the system Python cannot import the launcher: {other.stderr.strip()[-200:]}")
    assert other.returncode == 0, other.stderr
    assert pathlib.Path(other.stdout.strip()) != first


@pytest.fixture
def planted_keras_tmp(tmp_path, monkeypatch, shared_tmp):
    """Keras's shared /tmp/.keras, made first by another user, holding a forged photo archive."""
    keras_tmp = shared_tmp / ".keras"
    as_nobody("mkdir", "-p", str(keras_tmp / "datasets"))
    as_nobody("sh", "-c", f"echo forged > {keras_tmp}/datasets/cats_and_dogs_filtered.zip")
    as_nobody("mkdir", "-p", str(keras_tmp / "datasets" / "cats_and_dogs_filtered_extracted"))
    monkeypatch.setattr(downloads, "_keras_tmp_dir", lambda: keras_tmp)
    monkeypatch.setattr(downloads, "_warned_tmp", False, raising=False)
    # A Keras cache that cannot be written to, even by root: Keras itself would go to /tmp/.keras.
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_HOME", str(blocker / "keras"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return keras_tmp


@needs_second_user
def test_another_users_keras_tmp_folder_is_never_read(planted_keras_tmp, capsys):
    assert downloads.find_cached("cats_and_dogs_filtered.zip") is None
    assert planted_keras_tmp not in downloads.cache_dirs()
    target = downloads.download_dir()
    assert target != planted_keras_tmp and planted_keras_tmp not in target.parents
    assert "belongs to another user" in capsys.readouterr().out


@needs_second_user
def test_own_keras_tmp_folder_is_still_used_as_keras_would(planted_keras_tmp):
    shutil.rmtree(planted_keras_tmp)
    (planted_keras_tmp / "datasets").mkdir(parents=True, mode=0o755)
    own = planted_keras_tmp / "datasets" / "mnist.npz"
    own.write_bytes(b"x")
    assert downloads.find_cached("mnist.npz") == own


@needs_second_user
def test_a_temp_folder_made_by_another_user_is_not_trusted(
    tmp_path, monkeypatch, shared_tmp, capsys
):
    theirs = shared_tmp / "theirs"
    as_nobody("mkdir", "-m", "777", str(theirs))
    as_nobody("ln", "-s", str(theirs), str(shared_tmp / f"cnnlib-{os.getuid()}"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the user's own cache cannot be used
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    monkeypatch.setattr(locations, "_private_temp", None)
    folder = locations.user_cache_dir()
    assert folder.resolve() != theirs.resolve()
    info = os.lstat(folder)
    assert info.st_uid == os.getuid() and info.st_mode & 0o777 == 0o700
    assert "not a private folder of this user" in capsys.readouterr().out
    # A folder the attacker made under the exact name, not a link, is refused the same way.
    monkeypatch.setattr(locations, "_private_temp", None)
    (shared_tmp / f"cnnlib-{os.getuid()}").unlink()
    as_nobody("mkdir", "-m", "777", str(shared_tmp / f"cnnlib-{os.getuid()}"))
    assert locations.user_cache_dir() != shared_tmp / f"cnnlib-{os.getuid()}"


def test_the_private_temp_folder_is_made_with_mode_0700(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a_file"))
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(locations, "_private_temp", None)
    folder = locations.user_cache_dir()
    assert folder == tmp_path / f"cnnlib-{os.getuid()}"
    assert folder.stat().st_mode & 0o777 == 0o700
