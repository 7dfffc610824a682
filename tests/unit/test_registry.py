"""One registry per download (cnnlib/data/registry.py): the loaders, the cache tool and the docs
all say what it says, and a doc that names a download or states its size otherwise fails here."""

import pathlib
import re

import pytest

from cnnlib.data import mnist, registry, transfer
from cnnlib.runtime.course import NOTEBOOKS
from cnnlib.tools import cache, docs

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKDOWN = docs.markdown_files(ROOT)  # not the virtual environments (.venv, .venv-3.10)
# How the prose names each download besides its file name.
ALIASES = {
    "mnist": ("MNIST",),
    "vgg16": ("VGG16",),
    "vgg16_notop": ("VGG16",),
    "imagenet_class_index": ("class index",),
    "cats_vs_dogs": ("cats-vs-dogs", "cats vs dogs"),
}
DOWNLOAD_NAME = re.compile(r"[\w.-]+\.(?:h5|npz|zip)\b|imagenet_class_index\.json")
SIZE = re.compile(r"\b(\d[\d,.]*)\s*(bytes|KB|MB|GB)\b")


def test_every_entry_is_complete_and_names_a_course_notebook():
    for entry in registry.DOWNLOADS.values():
        assert entry.origin.startswith("https://") and entry.size > 0 and entry.licence
        assert entry.notebook in NOTEBOOKS and entry.subdir in ("datasets", "models")
        assert (entry.algorithm is None) == (entry.digest is None)
        if entry.algorithm:
            assert len(entry.digest) == {"md5": 32, "sha256": 64}[entry.algorithm]


def test_the_loaders_and_the_cache_tool_read_the_registry():
    entry = registry.get("mnist")
    assert (mnist.MNIST_URL, mnist.MNIST_SHA256) == (entry.origin, entry.digest)
    assert cache.course_files() == list(registry.DOWNLOADS.values())


def test_notebook_07s_constants_are_the_registrys():
    """Until cnnlib/data/transfer.py reads the registry itself, its copies must agree with it."""
    top, notop = registry.get("vgg16"), registry.get("vgg16_notop")
    index, photos = registry.get("imagenet_class_index"), registry.get("cats_vs_dogs")
    assert transfer.VGG16_WEIGHTS[True] == (top.fname, top.origin, top.digest)
    assert transfer.VGG16_WEIGHTS[False] == (notop.fname, notop.origin, notop.digest)
    assert transfer.CLASS_INDEX == (index.fname, index.origin, index.digest)
    assert (photos.fname, photos.origin, photos.size) == (
        transfer.CATS_VS_DOGS["fname"],
        transfer.CATS_VS_DOGS["origin"],
        transfer.CATS_VS_DOGS["size"],
    )


def _renderings(size):
    return {f"{size:,} bytes", registry.megabytes(size), f"{size / 1e6:.1f} MB"}


def problems_in(text, where="text"):
    """Download names the registry does not have, and sizes stated after a download's name (the
    nearest name before them in their paragraph) that are not its registry size (in bytes, or in
    MB or KB as `registry.megabytes` rounds them)."""
    names = {entry.fname for entry in registry.DOWNLOADS.values()}
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name in DOWNLOAD_NAME.findall(line):
            if name not in names and not name.startswith(("head.", "latest.")):
                found.append(f"{where}:{number}: names {name!r}, which is no registered download")
    units = [  # paragraphs; each cell of a table on its own (a size in one column is not about
        # a download named in another: the README's notebook table has MNIST and memory)
        unit
        for paragraph in re.split(r"\n\s*\n", text)
        for unit in (
            [cell for line in paragraph.splitlines() for cell in line.split("|")]
            if any(line.startswith("|") for line in paragraph.splitlines())
            else [paragraph]
        )
    ]
    for paragraph in units:
        paragraph = " ".join(paragraph.split())
        mentions = sorted(
            (match.start(), key)
            for key, entry in registry.DOWNLOADS.items()
            for word in (entry.fname, *ALIASES[key])
            for match in re.finditer(re.escape(word), paragraph)
        )
        for size in SIZE.finditer(paragraph):
            before = [position for position, _ in mentions if position < size.start()]
            if not before:
                continue
            keys = {key for position, key in mentions if position == before[-1]}
            allowed = set().union(*(_renderings(registry.get(key).size) for key in keys))
            stated = f"{size.group(1)} {size.group(2)}"
            if stated not in allowed:
                found.append(
                    f"{where}: states {stated} for {', '.join(sorted(keys))}, whose registry "
                    f"size is {' or '.join(sorted(allowed))} (in: …{paragraph[max(0, size.start() - 60) : size.end()]})"
                )
    return found


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_name_and_size_downloads_as_the_registry_does(path):
    problems = problems_in(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not problems, "\n".join(problems)


def test_the_check_notices_a_wrong_size_and_an_unknown_file():
    assert not problems_in("MNIST (11 MB) and `datasets/cats_and_dogs_filtered.zip` (69 MB)")
    assert not problems_in("| LeNet-5 on MNIST | 37 s | 1.0 GB |")  # another column's size
    assert problems_in("| MNIST, 12 MB | 37 s |")
    wrong = problems_in("VGG16's weights without the top (60 MB)\nsee `models/resnet50.h5`")
    assert len(wrong) == 2 and "resnet50.h5" in wrong[0] and "states 60 MB for vgg16" in wrong[1]


def test_the_download_table_in_the_docs_is_the_registrys():
    text = (ROOT / docs.DOWNLOADS_DOCUMENT).read_text(encoding="utf-8")
    assert registry.markdown_table() in text, "run `cnn-course report`"


def test_fill_asks_for_each_missing_file_as_the_registry_describes_it(tmp_path, monkeypatch):
    from cnnlib.data import downloads

    asked = []
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(
        downloads, "fetch", lambda fname, origin, **kwargs: asked.append((fname, origin, kwargs))
    )
    cache.fill(tmp_path)
    assert [(fname, origin) for fname, origin, _ in asked] == [
        (entry.fname, entry.origin) for entry in registry.DOWNLOADS.values()
    ]
    for (_, _, kwargs), entry in zip(asked, registry.DOWNLOADS.values()):
        assert (kwargs["file_hash"], kwargs["cache_subdir"]) == (entry.digest, entry.subdir)
