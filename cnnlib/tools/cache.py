"""Prepare a room of machines: what the course downloads, in Keras's cache, checked and portable.

    python -m cnnlib.tools.cache status          # what is cached, what is missing, sizes
    python -m cnnlib.tools.cache fill            # download everything missing (with progress bars)
    python -m cnnlib.tools.cache verify          # checksums, and the photo archive's layout
    python -m cnnlib.tools.cache pack FILE.tar   # everything cached, in one archive (USB stick, share)
    python -m cnnlib.tools.cache unpack FILE.tar # on each lab machine: into its cache, then verified

The cache is Keras's own (`~/.keras`, or `$KERAS_HOME`), so a filled cache serves the notebooks and
`keras.datasets` / `keras.applications` alike. With CNNLIB_OFFLINE=1 nothing is downloaded.
"""

import argparse
import dataclasses
import pathlib
import sys
import tarfile
import zipfile

from cnnlib.data import downloads, mnist, transfer


@dataclasses.dataclass(frozen=True)
class CachedFile:
    subdir: str  # "datasets" or "models"
    name: str
    origin: str
    algorithm: str | None  # "md5", "sha256", or None when no checksum is published
    digest: str | None
    used_by: str
    approx_bytes: int

    @property
    def relative(self):
        return f"{self.subdir}/{self.name}"


def course_files():
    """Every file the course downloads, where Keras caches it and how to check it."""
    top, notop = transfer.VGG16_WEIGHTS[True], transfer.VGG16_WEIGHTS[False]
    index = transfer.CLASS_INDEX
    photos = transfer.CATS_VS_DOGS
    return [
        CachedFile(
            "datasets",
            "mnist.npz",
            mnist.MNIST_URL,
            "sha256",
            mnist.MNIST_SHA256,
            "notebook 05",
            11_490_434,
        ),
        CachedFile(
            "models", top[0], top[1], "md5", top[2], "notebook 07 (predictions)", 553_467_096
        ),
        CachedFile(
            "models", notop[0], notop[1], "md5", notop[2], "notebook 07 (transfer)", 58_889_256
        ),
        CachedFile(
            "models", index[0], index[1], "md5", index[2], "notebook 07 (class names)", 35_363
        ),
        CachedFile(
            "datasets",
            photos["fname"],
            photos["origin"],
            None,
            None,
            "notebook 07 (photos)",
            photos["size"],
        ),
    ]


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
            names = [n for n in archive.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png"))]
    except zipfile.BadZipFile as error:
        return [f"not a readable zip archive ({error})"]
    counts = {}
    for name in names:
        parts = name.split("/")
        if len(parts) >= 3:
            key = (parts[-3], parts[-2])
            counts[key] = counts.get(key, 0) + 1
    return [
        f"{split}/{label}: {counts.get((split, label), 0)} images, expected {count}"
        for (split, label), count in expected.items()
        if counts.get((split, label), 0) != count
    ]


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
    print(f"Keras cache: {cache}")
    missing = 0
    for item in course_files():
        path = cache / item.relative
        if path.exists():
            print(f"  ✓ {item.relative:<58} {_size(path.stat().st_size):>10}   {item.used_by}")
        else:
            missing += 1
            print(
                f"  ✗ {item.relative:<58} {'missing':>10}   {item.used_by} (about {_size(item.approx_bytes)})"
            )
    print(
        f"{missing} of {len(course_files())} files missing." if missing else "Everything is cached."
    )
    return 0


def fill(cache):
    failed = 0
    for item in course_files():
        if (cache / item.relative).exists():
            continue
        file_hash = item.digest if item.algorithm else None
        try:
            downloads.fetch(
                item.name, item.origin, file_hash=file_hash, cache_subdir=item.subdir, timeout=120
            )
        except downloads.OfflineError as error:
            failed += 1
            print(f"✗ {error}")
    return status(cache) or (1 if failed else 0)


def verify(cache):
    bad = 0
    for item in course_files():
        path = cache / item.relative
        if not path.exists():
            print(f"  – {item.relative}: not cached")
            continue
        ok, message = verify_file(item, path)
        bad += not ok
        print(f"  {'✓' if ok else '✗'} {item.relative}: {message}")
    return 1 if bad else 0


def pack(cache, target):
    present = [item for item in course_files() if (cache / item.relative).exists()]
    if not present:
        print(
            f"Nothing to pack: the cache {cache} holds none of the course's files (run fill first)."
        )
        return 1
    with tarfile.open(target, "w") as archive:  # uncompressed: weights and JPEGs barely compress
        for item in present:
            print(f"  adding {item.relative}")
            archive.add(cache / item.relative, arcname=item.relative)
    print(
        f"Packed {len(present)} files into {target} ({_size(pathlib.Path(target).stat().st_size)})."
    )
    return 0


def unpack(cache, source):
    allowed = {item.relative for item in course_files()}
    with tarfile.open(source) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        unknown = [m.name for m in members if m.name not in allowed]
        if unknown:
            print(f"Refusing {source}: it holds files the course does not use: {unknown[:5]}")
            return 1
        cache.mkdir(parents=True, exist_ok=True)
        try:
            archive.extractall(cache, members=members, filter="data")  # no links, no absolute paths
        except TypeError:  # Python without extraction filters: the names were checked above
            archive.extractall(cache, members=members)
    print(f"Unpacked {len(members)} files into {cache}; verifying:")
    return verify(cache)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cnnlib.tools.cache", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="what is cached and what is missing")
    commands.add_parser("fill", help="download everything missing")
    commands.add_parser("verify", help="check checksums and the photo archive's layout")
    for name, text in (
        ("pack", "write the cached files into one tar archive"),
        ("unpack", "extract such an archive into this machine's cache"),
    ):
        commands.add_parser(name, help=text).add_argument("file", type=pathlib.Path)
    args = parser.parse_args(argv)
    cache = downloads.keras_cache_dir()
    if args.command == "pack":
        return pack(cache, args.file)
    if args.command == "unpack":
        if not args.file.exists():
            print(f"No such archive: {args.file}")
            return 1
        return unpack(cache, args.file)
    return {"status": status, "fill": fill, "verify": verify}[args.command](cache)


if __name__ == "__main__":
    sys.exit(main())
