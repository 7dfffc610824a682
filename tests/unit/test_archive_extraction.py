"""Unpacking a downloaded archive: a replaced archive is unpacked again, a damaged one or a full
disk is one sentence (the caller then uses the stand-in) and leaves no half-unpacked folder."""

import os
import zipfile

import pytest

from cnnlib.data import downloads


def zip_with(path, text):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photos/a.txt", text)
    return path


def test_a_replaced_archive_is_unpacked_again(tmp_path):
    archive = zip_with(tmp_path / "photos.zip", "old")
    first = downloads.extract_archive(archive, identity="SHA-256 aaa")
    assert (first / "photos" / "a.txt").read_text() == "old"
    zip_with(archive, "new")
    again = downloads.extract_archive(archive, identity="SHA-256 bbb")
    assert (again / "photos" / "a.txt").read_text() == "new"


def test_a_replaced_archive_without_a_checksum_is_unpacked_again(tmp_path):
    archive = zip_with(tmp_path / "photos.zip", "old")
    downloads.extract_archive(archive)
    zip_with(archive, "a new archive of another size")
    os.utime(archive, ns=(1, 2_000_000_000_000_000_000))
    assert (downloads.extract_archive(archive) / "photos" / "a.txt").read_text().startswith("a new")


def test_the_same_archive_is_not_unpacked_twice(tmp_path):
    archive = zip_with(tmp_path / "photos.zip", "old")
    folder = downloads.extract_archive(archive, identity="SHA-256 aaa")
    (folder / "photos" / "mine.txt").write_text("kept")
    assert (
        downloads.extract_archive(archive, identity="SHA-256 aaa") / "photos" / "mine.txt"
    ).exists()


def test_a_damaged_archive_is_one_sentence_and_leaves_nothing(tmp_path):
    archive = tmp_path / "photos.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(2000))
    with pytest.raises(downloads.OfflineError, match="a damaged archive"):
        downloads.extract_archive(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.zip"]


def test_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path, monkeypatch):
    archive = zip_with(tmp_path / "photos.zip", "old")

    def full_disk(filename, extract_dir):  # writes part of the photos, then the disk is full
        os.makedirs(extract_dir)
        with open(os.path.join(extract_dir, "a.jpg"), "w") as part:
            part.write("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.unpack_archive", full_disk)
    with pytest.raises(downloads.OfflineError, match="the disk is full or read-only"):
        downloads.extract_archive(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.zip"]
