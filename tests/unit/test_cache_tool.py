"""`cnn-course cache`: every wrong archive or cache ends in one sentence and exit 1,
an archive cannot expand beyond the files it stands for, and verify judges the photos' content."""

import io
import os
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest

from cnnlib.tools import cache

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASS_INDEX = "models/imagenet_class_index.json"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("CNNLIB_OFFLINE", raising=False)
    return home


def tar_of(path, entries, mode="w"):
    """A tar archive of {name: bytes}; returns its path."""
    with tarfile.open(path, mode) as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def one_sentence_and_exit_1(capsys, argv):
    assert cache.main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    message = captured.err.strip()
    assert message and "\n" not in message, captured
    return message


def test_a_small_archive_cannot_expand_into_a_huge_file(tmp_path, keras_home, capsys):
    class Zeros(io.RawIOBase):  # 30 MB of zeros, streamed: compresses to a few hundred bytes
        left = 30_000_000

        def readable(self):
            return True

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    bomb = tmp_path / "bomb.tar.bz2"
    with tarfile.open(bomb, "w:bz2") as archive:
        info = tarfile.TarInfo("datasets/mnist.npz")
        info.size = Zeros.left
        archive.addfile(info, io.BufferedReader(Zeros()))
    assert bomb.stat().st_size < 10_000
    message = one_sentence_and_exit_1(capsys, ["unpack", str(bomb)])
    assert "mnist.npz would expand to 30.0 MB" in message and "nothing was unpacked" in message
    assert not (keras_home / "datasets" / "mnist.npz").exists()


def test_an_archive_whose_every_entry_is_dropped_is_not_a_success(tmp_path, keras_home, capsys):
    archive_path = tmp_path / "links.tar"
    with tarfile.open(archive_path, "w") as archive:
        info = tarfile.TarInfo("datasets/mnist.npz")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
    message = one_sentence_and_exit_1(capsys, ["unpack", str(archive_path)])
    assert "holds none of the course's files" in message


def damaged(tmp_path):
    good = tar_of(tmp_path / "good.tar", {CLASS_INDEX: b"{}" * 15_000})
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good.read_bytes()[:5_000])
    compressed = tar_of(tmp_path / "c.tar.bz2", {CLASS_INDEX: b"{}" * 20_000}, mode="w:bz2")
    cut = tmp_path / "cut.tar.bz2"
    cut.write_bytes(compressed.read_bytes()[:-40])
    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("not an archive")
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    return {
        "truncated": (truncated, "not a complete tar archive"),
        "cut bz2": (cut, "not a complete tar archive"),
        "not a tar": (not_tar, "not a complete tar archive"),
        "empty": (empty, "is empty (0 bytes)"),
        "folder": (tmp_path, "is a folder"),
        "missing": (tmp_path / "nowhere.tar", "No such archive"),
    }


@pytest.mark.parametrize(
    "case", ["truncated", "cut bz2", "not a tar", "empty", "folder", "missing"]
)
def test_a_wrong_archive_is_one_sentence(tmp_path, keras_home, capsys, case):
    path, words = damaged(tmp_path)[case]
    assert words in one_sentence_and_exit_1(capsys, ["unpack", str(path)])
    leftovers = list(keras_home.rglob("*")) if keras_home.exists() else []
    assert not [p for p in leftovers if p.is_file()], "a damaged archive leaves no file behind"


def test_a_cache_that_cannot_be_written_is_one_sentence(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_HOME", str(blocker))
    archive = tar_of(tmp_path / "ok.tar", {CLASS_INDEX: b"{}"})
    for command in (["unpack", str(archive)], ["status"], ["verify"], ["fill"]):
        message = one_sentence_and_exit_1(capsys, command)
        assert "is a file, not a folder: point KERAS_HOME at a folder" in message


def test_a_read_only_cache_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", "/dev/null/keras")  # cannot be made, even by root
    archive = tar_of(tmp_path / "ok.tar", {CLASS_INDEX: b"{}"})
    assert "check that" in one_sentence_and_exit_1(capsys, ["unpack", str(archive)])


def test_a_datasets_folder_that_is_a_link_is_a_normal_set_up(tmp_path, keras_home, capsys):
    elsewhere = tmp_path / "big_disk" / "datasets"
    elsewhere.mkdir(parents=True)
    keras_home.mkdir()
    (keras_home / "datasets").symlink_to(elsewhere)
    archive = tar_of(tmp_path / "ok.tar", {"datasets/mnist.npz": b"not really mnist"})
    assert (
        cache.main(["unpack", str(archive)]) == 1
    )  # unpacked, then verify finds the checksum wrong
    out = capsys.readouterr().out
    assert "Unpacked 1 files" in out and "✗ datasets/mnist.npz: sha256" in out
    assert (elsewhere / "mnist.npz").read_bytes() == b"not really mnist"


def test_pack_into_a_missing_folder_is_one_sentence(tmp_path, keras_home, capsys):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / CLASS_INDEX).write_text("{}")
    message = one_sentence_and_exit_1(capsys, ["pack", str(tmp_path / "no" / "such" / "x.tar")])
    assert "does not exist" in message


def test_verify_refuses_an_archive_of_empty_images(keras_home, capsys):
    (keras_home / "datasets").mkdir(parents=True)
    with zipfile.ZipFile(keras_home / "datasets" / "cats_and_dogs_filtered.zip", "w") as archive:
        for split, count in (("train", 1000), ("validation", 500)):
            for label in ("cats", "dogs"):
                for i in range(count):
                    archive.writestr(f"cats_and_dogs_filtered/{split}/{label}/{label}.{i}.jpg", b"")
    assert cache.main(["verify"]) == 1
    assert "3,000 entries named as images are empty or not JPEG/PNG" in capsys.readouterr().out


def test_a_bad_offline_word_is_one_sentence(keras_home, monkeypatch, capsys):
    monkeypatch.setenv("CNNLIB_OFFLINE", "disabled")
    keras_home.mkdir()
    message = one_sentence_and_exit_1(capsys, ["fill"])
    assert "CNNLIB_OFFLINE='disabled' is neither on nor off" in message


def test_status_prints_to_a_stream_without_check_marks(tmp_path):
    env = dict(
        os.environ, PYTHONIOENCODING="cp1252", KERAS_HOME=str(tmp_path), PYTHONPATH=str(ROOT)
    )
    (tmp_path / "models").mkdir()
    (tmp_path / CLASS_INDEX).write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "cnnlib.tools.cache", "status"], capture_output=True, env=env
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-500:]
    assert b"\\u2713 models/imagenet_class_index.json" in done.stdout


@pytest.fixture
def one_cached_file(keras_home):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / CLASS_INDEX).write_text("{}")
    return keras_home


def test_pack_that_fails_keeps_the_archive_that_was_there(
    tmp_path, one_cached_file, monkeypatch, capsys
):
    older = tmp_path / "course.tar"
    older.write_bytes(b"an older archive")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", full_disk)
    message = one_sentence_and_exit_1(capsys, ["pack", str(older)])
    assert "No space left on device" in message and "unchanged" in message
    assert older.read_bytes() == b"an older archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course.tar", "keras_home"]


def test_pack_replaces_an_archive_only_when_the_new_one_is_complete(tmp_path, one_cached_file):
    target = tmp_path / "course.tar"
    target.write_bytes(b"an older archive")
    assert cache.main(["pack", str(target)]) == 0
    with tarfile.open(target) as archive:
        assert archive.getnames() == [CLASS_INDEX]


@pytest.mark.parametrize("kind", ["folder", "link", "device", "empty name", "current folder"])
def test_pack_never_writes_over_what_is_not_a_file(tmp_path, one_cached_file, capsys, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = {
        "folder": tmp_path / "a_folder",
        "link": tmp_path / "link.tar",
        "device": tmp_path / "fifo",
        "empty name": "",
        "current folder": ".",
    }[kind]
    if kind == "folder":
        target.mkdir()
    elif kind == "link":
        target.symlink_to(victim)
    elif kind == "device":
        os.mkfifo(target)  # a special file, as a device node would be (making one needs root)
    if kind == "empty name":
        with pytest.raises(SystemExit):
            cache.main(["pack", ""])
        assert "needs the name of an archive file" in capsys.readouterr().err
        return
    message = one_sentence_and_exit_1(capsys, ["pack", str(target)])
    assert "not a file; name a file instead" in message
    assert victim.read_text() == "keep me"
    assert kind != "device" or pathlib.Path(target).is_fifo()


def test_names_from_an_archive_are_shown_with_their_control_characters_escaped(
    tmp_path, keras_home, capsys
):
    forged = "x\x1b[2K\rUnpacked 5 files; \u2713 everything verified\n"
    path = tmp_path / "forged.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo(forged)
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(info)
        info = tarfile.TarInfo(CLASS_INDEX)
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    cache.main(["unpack", str(path)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out
    assert "x\\x1b[2K\\rUnpacked 5 files; \u2713 everything verified\\n (a link)" in out
    assert out.count("\n") == len(out.splitlines())


def test_the_archive_check_stops_at_the_first_bad_entry(tmp_path, keras_home, capsys, monkeypatch):
    path = tmp_path / "many.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for number in range(20_000):
            archive.addfile(tarfile.TarInfo(f"empty-{number}"))
    read = []
    next_member = tarfile.TarFile.next

    def counting(self):
        member = next_member(self)
        read.append(member)
        return member

    monkeypatch.setattr(tarfile.TarFile, "next", counting)
    message = one_sentence_and_exit_1(capsys, ["unpack", str(path)])
    assert "files the course does not use, such as 'empty-0'" in message
    assert len(read) <= 2, f"{len(read):,} entries were read before the refusal"


@pytest.mark.parametrize("place", [".", "models"])
@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_unpack_writes_nothing_into_a_cache_that_belongs_to_someone_else(
    tmp_path, keras_home, capsys, place
):
    """Its owner could swap a file between unpack's write and verify's check: refused at once."""
    folder = keras_home / place
    folder.mkdir(parents=True)
    os.chown(folder, 65534, 65534)  # nobody
    archive = tar_of(tmp_path / "ok.tar", {CLASS_INDEX: b"{}"})
    message = one_sentence_and_exit_1(capsys, ["unpack", str(archive)])
    assert f"the folder {folder} belongs to" in message  # keras_home/. is keras_home
    assert "use a folder of your own" in message
    assert not [p for p in keras_home.rglob("*") if not p.is_dir()], "nothing was written"


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_fill_downloads_nothing_into_a_cache_that_belongs_to_someone_else(
    keras_home, monkeypatch, capsys
):
    keras_home.mkdir()
    os.chown(keras_home, 65534, 65534)
    # Were the check gone, fill would try each download; offline, none of them hangs.
    monkeypatch.setenv("CNNLIB_OFFLINE", "1")
    assert cache.main(["fill"]) == 1
    captured = capsys.readouterr()
    assert not captured.out, "refused before a file was looked for"
    assert captured.err.strip() == (
        f"Cannot write the course's files into the Keras cache: the folder {keras_home} belongs "
        "to nobody, who could replace the file at any moment; use a folder of your own."
    )


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_pack_writes_no_archive_into_a_folder_that_belongs_to_someone_else(
    tmp_path, one_cached_file, capsys
):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 65534, 65534)  # nobody
    message = one_sentence_and_exit_1(capsys, ["pack", str(shared / "course.tar")])
    assert f"the folder {shared} belongs to nobody" in message
    assert not list(shared.iterdir()), "not even a temporary file"
