"""Every file shipped in data/ is listed in data/MANIFEST.json with source, licence and a matching sha256."""

import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
BOOKKEEPING = {"MANIFEST.json", "README.md"}


def _manifest():
    return json.loads((DATA / "MANIFEST.json").read_text())["files"]


def test_every_shipped_file_is_in_the_manifest_and_vice_versa():
    shipped = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()} - BOOKKEEPING
    listed = {entry["path"] for entry in _manifest()}
    assert shipped == listed, (
        f"not in the manifest: {sorted(shipped - listed)}; listed but missing: {sorted(listed - shipped)}"
    )


def test_manifest_entries_name_source_licence_and_checksum():
    for entry in _manifest():
        for field in ("path", "source", "licence", "sha256"):
            assert entry.get(field), f"data/MANIFEST.json entry {entry} has no {field}"
        digest = hashlib.sha256((DATA / entry["path"]).read_bytes()).hexdigest()
        assert digest == entry["sha256"], (
            f"{entry['path']}: sha256 {digest} does not match the manifest"
        )
