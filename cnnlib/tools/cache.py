"""Prepare a room of machines: what the course downloads, in Keras's cache, checked and portable.

    cnn-course cache status          # what is cached, what is missing, sizes
    cnn-course cache fill            # download everything missing (with progress bars)
    cnn-course cache verify          # checksums, and the photo archive's layout
    cnn-course cache pack FILE.tar   # everything cached, in one archive (USB stick, share)
    cnn-course cache unpack FILE.tar # on each lab machine: into its cache, then verified

The cache is Keras's own (`~/.keras`, or `$KERAS_HOME`), so a filled cache serves the notebooks and
`keras.datasets` / `keras.applications` alike. With CNNLIB_OFFLINE=1 nothing is downloaded.

`unpack` takes only the course's own files from an archive, each no bigger than the file it
stands for (so a small compressed archive cannot fill the disk), and writes each one atomically;
every problem (not a tar archive, a damaged one, a read-only or full cache) ends in one sentence
and a non-zero exit. `unpack` and `fill` write nothing into a cache folder that belongs to another
user (its owner could swap a file after it was checked); `pack` writes no archive into one.
"""

import argparse
import lzma
import os
import pathlib
import sys
import tarfile
import tempfile
import zipfile
import zlib

from cnnlib.data import downloads, registry
from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.tools import files
from cnnlib.tools.files import shown

# An archive entry may be at most this much bigger than the file's known size (a newer release).
SIZE_MARGIN = 1.05
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError)


class CacheError(Exception):
    """A problem with the user's archive or cache, said in one sentence."""


def course_files():
    """Every file the course downloads (`cnnlib.data.registry`): where Keras caches it, how to
    check it, its size and the notebook that uses it."""
    return list(registry.DOWNLOADS.values())


def _used_by(item):
    return f"notebook {item.notebook[:2]} ({item.purpose})"


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000


def check_archive_layout(path):
    """Problems with the cats-vs-dogs archive's layout and counts (empty list when it is right)."""
    expected = {
        ("train", "cats"): 1000,
        ("train", "dogs"): 1000,
        ("validation", "cats"): 500,
        ("validation", "dogs"): 500,
    }
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [
                info
                for info in archive.infolist()
                if info.filename.lower().endswith((".jpg", ".jpeg", ".png"))
            ]
            not_images = [info.filename for info in entries if not _is_image(archive, info)]
    except (zipfile.BadZipFile, *ARCHIVE_ERRORS) as error:
        return [f"not a readable zip archive ({shown(error)})"]
    counts = {}
    for info in entries:
        parts = info.filename.split("/")
        if len(parts) >= 3:
            key = (parts[-3], parts[-2])
            counts[key] = counts.get(key, 0) + 1
    problems = [
        f"{split}/{label}: {counts.get((split, label), 0)} images, expected {count}"
        for (split, label), count in expected.items()
        if counts.get((split, label), 0) != count
    ]
    if not_images:
        problems.append(
            f"{len(not_images):,} entries named as images are empty or not JPEG/PNG "
            f"(first: {shown(not_images[0])})"
        )
    return problems


def _is_image(archive, info):
    """True when a zip entry starts like a JPEG or PNG file (an empty one does not)."""
    if info.file_size == 0:
        return False
    with archive.open(info) as entry:
        head = entry.read(8)
    return head.startswith(IMAGE_SIGNATURES)


def verify_file(item, path):
    """(ok, message) for one cached file."""
    if item.algorithm:
        actual = downloads.file_digest(path, item.algorithm)
        if actual != item.digest:
            return (
                False,
                f"{item.algorithm} {actual} is not the published {item.digest}: copy it again",
            )
        return True, f"{item.algorithm} matches"
    problems = check_archive_layout(path)
    if problems:
        return False, "layout: " + "; ".join(problems)
    return True, "layout and counts as published (no checksum is published for this file)"


def status(cache):
    print(f"Keras cache: {shown(cache)}")
    missing = 0
    for item in course_files():
        path = cache / item.relative
        if path.is_file():
            print(f"  ✓ {item.relative:<58} {_size(path.stat().st_size):>10}   {_used_by(item)}")
        else:
            missing += 1
            print(
                f"  ✗ {item.relative:<58} {'missing':>10}   {_used_by(item)} (about {_size(item.size)})"
            )
    print(
        f"{missing} of {len(course_files())} files missing." if missing else "Everything is cached."
    )
    return 0


def check_own_cache(cache):
    """Raise `CacheError` when the cache folder, or one of its datasets/ and models/ folders, exists
    and belongs to another user: its owner could swap a file while it is written, or after it was
    verified. A folder not there yet is made by this user, so it is this user's."""
    folders = {cache} | {(cache / item.relative).parent for item in course_files()}
    for folder in sorted(folders):
        if os.path.lexists(folder):
            try:
                files.check_own_folder(folder, "the course's files into the Keras cache")
            except files.UnsafePlace as error:
                raise CacheError(str(error)) from None


def fill(cache):
    check_own_cache(cache)
    failed = 0
    for item in course_files():
        if (cache / item.relative).is_file():
            continue
        try:
            downloads.fetch_download(item, timeout=120)
        except downloads.OfflineError as error:
            failed += 1
            print(f"✗ {error}")
    return status(cache) or (1 if failed else 0)


def verify(cache):
    bad = 0
    for item in course_files():
        path = cache / item.relative
        if not os.path.lexists(path):
            print(f"  – {item.relative}: not cached")
            continue
        if not path.is_file():
            bad += 1
            print(
                f"  ✗ {item.relative}: not a file (a folder or a broken link); remove it, then fill"
            )
            continue
        ok, message = verify_file(item, path)
        bad += not ok
        print(f"  {'✓' if ok else '✗'} {item.relative}: {message}")
    return 1 if bad else 0


def pack(cache, target):
    """Write the cached course files into the tar archive `target`, through a temporary file
    beside it: an archive already there stays whole until the new one is complete, and nothing
    but that temporary file is ever removed."""
    target = pathlib.Path(target)
    what = "the archive"
    try:
        files.check_replaceable(target, what)
        files.check_own_folder(target.parent, what)
    except files.UnsafePlace as error:
        raise CacheError(str(error)) from None
    present = [item for item in course_files() if (cache / item.relative).is_file()]
    if not present:
        print(
            f"Nothing to pack: the cache {shown(cache)} holds none of the course's files "
            "(run fill first)."
        )
        return 1
    try:
        with files.replacing(target) as out:
            # uncompressed: weights and JPEGs barely compress
            with tarfile.open(fileobj=out, mode="w") as archive:
                for item in present:
                    print(f"  adding {item.relative}")
                    archive.add(cache / item.relative, arcname=item.relative)
    except OSError as error:
        kept = " (the archive that was there is unchanged)" if target.exists() else ""
        raise CacheError(
            f"Could not write {shown(target)} ({error.strerror or error}); nothing was packed{kept}."
        ) from None
    print(f"Packed {len(present)} files into {shown(target)} ({_size(target.stat().st_size)}).")
    return 0


def _limit(item):
    return int(item.size * SIZE_MARGIN)


# Entries that are not course files a `tar -C ~/.keras` archive may hold (its folders); beyond
# this many the archive is refused rather than read to its end.
MAX_SKIPPED = 100


def _course_members(archive, source):
    """The archive's entries that are course files, after checking names, kinds and sizes.

    The entries are read one at a time, so a bad one ends the check at once, however many
    entries follow it (a million empty entries are refused at the first)."""
    known = {item.relative: item for item in course_files()}
    files_found, skipped = [], []
    for member in archive:
        name = shown(member.name)
        if member.isdir() and member.name.rstrip("/") in {"datasets", "models", "."}:
            continue  # the folders a `tar -C ~/.keras` archive holds
        if not member.isfile():
            skipped.append(
                f"{name} ({'a link' if member.issym() or member.islnk() else 'not a file'})"
            )
            if len(skipped) > MAX_SKIPPED:
                raise CacheError(
                    f"Refusing {shown(source)}: more than {MAX_SKIPPED} of its entries are not "
                    "files (links, folders, devices); it was not written by pack."
                )
            continue
        if member.name not in known:
            raise CacheError(
                f"Refusing {shown(source)}: it holds files the course does not use, such as "
                f"'{name}'; nothing was unpacked."
            )
        if member.size > _limit(known[member.name]):
            raise CacheError(
                f"Refusing {shown(source)}: {name} would expand to {_size(member.size)}, more than "
                f"the {_size(known[member.name].size)} of the real file; nothing was unpacked."
            )
        if any(member.name == other.name for other in files_found):
            raise CacheError(f"Refusing {shown(source)}: it holds {name} twice.")
        files_found.append(member)
    return files_found, skipped


def _write_member(archive, member, target, limit):
    """Copy one entry to `target` through a temporary file beside it, never more than `limit` bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    try:
        with os.fdopen(handle, "wb") as out, archive.extractfile(member) as entry:
            written = 0
            for chunk in iter(lambda: entry.read(1 << 20), b""):
                written += len(chunk)
                if written > limit:
                    raise CacheError(f"{shown(member.name)} expands beyond {_size(limit)}")
                out.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def unpack(cache, source):
    source = pathlib.Path(source)
    if source.is_dir():
        raise CacheError(f"{shown(source)} is a folder; unpack takes an archive written by pack.")
    if not source.is_file():
        raise CacheError(f"No such archive: {shown(source)}")
    if source.stat().st_size == 0:
        raise CacheError(f"{shown(source)} is empty (0 bytes); copy the archive again.")
    check_own_cache(cache)  # before the archive is read: nothing is written into such a cache
    known = {item.relative: item for item in course_files()}
    try:
        with tarfile.open(source) as archive:
            members, skipped = _course_members(archive, source)
            if skipped:
                print(
                    f"Skipping {len(skipped)} entries that are not plain files: {', '.join(skipped[:5])}"
                )
            if not members:
                raise CacheError(
                    f"{shown(source)} holds none of the course's files ({', '.join(sorted(known))}); "
                    "nothing was unpacked."
                )
            for member in members:
                _write_member(archive, member, cache / member.name, _limit(known[member.name]))
    except CacheError:
        raise
    except ARCHIVE_ERRORS as error:
        where = (
            f"into {shown(cache)}"
            if isinstance(error, OSError) and error.filename
            else f"from {shown(source)}"
        )
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        reason = (reason.splitlines() or [""])[0].rstrip(":")  # tarfile lists every method tried
        raise CacheError(
            f"Could not unpack {where} ({type(error).__name__}: {reason or 'no details'}): "
            f"{_hint(error, source, cache)}"
        ) from None
    print(f"Unpacked {len(members)} files into {shown(cache)}; verifying:")
    return verify(cache)


def _hint(error, source, cache):
    if isinstance(error, OSError) and error.errno is not None:
        return f"check that {shown(cache)} is a folder you may write to, with enough free space."
    return f"{shown(source)} is not a complete tar archive written by pack; copy it again."


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnn-course cache", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="what is cached and what is missing")
    commands.add_parser("fill", help="download everything missing")
    commands.add_parser("verify", help="check checksums and the photo archive's layout")
    for name, text in (
        ("pack", "write the cached files into one tar archive"),
        ("unpack", "extract such an archive into this machine's cache"),
    ):
        commands.add_parser(name, help=text).add_argument("file")
    args = parser.parse_args(argv)
    if getattr(args, "file", None) == "":
        parser.error(f"{args.command} needs the name of an archive file, got ''")
    tolerate_any_output_encoding()
    try:
        cache = downloads.keras_cache_dir()
        if cache.exists() and not cache.is_dir():
            raise CacheError(
                f"The Keras cache {shown(cache)} is a file, not a folder: point KERAS_HOME at a "
                "folder (or unset it)."
            )
        downloads.forced_offline()  # a CNNLIB_OFFLINE word that is neither on nor off: said first
        if args.command == "pack":
            return pack(cache, args.file)
        if args.command == "unpack":
            return unpack(cache, args.file)
        return {"status": status, "fill": fill, "verify": verify}[args.command](cache)
    except (CacheError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
