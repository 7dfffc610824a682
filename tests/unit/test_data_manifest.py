"""Every file shipped in data/ is listed in data/MANIFEST.json with source, licence and a matching
sha256, and every listed file is there.

data/ ships no file today, so the check on the real folder has nothing to compare; the same
check is therefore also run on a folder made for the test, where it must find each kind of
problem (an unlisted file, a missing one, a wrong checksum, a missing field).
"""

import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
BOOKKEEPING = {"MANIFEST.json", "README.md"}
FIELDS = ("path", "source", "licence", "sha256")


def manifest_problems(folder):
    """What is wrong between `folder`'s files and its MANIFEST.json (an empty list when nothing)."""
    folder = pathlib.Path(folder)
    entries = json.loads((folder / "MANIFEST.json").read_text())["files"]
    shipped = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    shipped -= BOOKKEEPING
    listed = {entry.get("path") for entry in entries}
    problems = [f"{path}: not in the manifest" for path in sorted(shipped - listed)]
    problems += [f"{path}: listed but missing" for path in sorted(listed - shipped, key=str)]
    for entry in entries:
        problems += [f"{entry.get('path')}: no {field}" for field in FIELDS if not entry.get(field)]
        path = folder / str(entry.get("path"))
        if path.is_file() and entry.get("sha256"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 {digest} is not the manifest's")
    return problems


def test_the_shipped_files_match_the_manifest():
    assert manifest_problems(DATA) == []


def test_the_check_finds_every_kind_of_problem(tmp_path):
    good, bad = b"the real content\n", b"changed content\n"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "kept.txt").write_bytes(good)
    (tmp_path / "changed.txt").write_bytes(bad)
    (tmp_path / "unlisted.txt").write_bytes(good)
    sha = hashlib.sha256(good).hexdigest()
    entry = {"source": "made here", "licence": "CC0", "sha256": sha}
    files = [
        {"path": "sub/kept.txt", **entry},
        {"path": "changed.txt", **entry},
        {"path": "gone.txt", **entry},
        {"path": "no_licence.txt", "source": "made here", "sha256": sha},
    ]
    (tmp_path / "no_licence.txt").write_bytes(good)
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"files": files}))
    assert manifest_problems(tmp_path) == [
        "unlisted.txt: not in the manifest",
        "gone.txt: listed but missing",
        f"changed.txt: sha256 {hashlib.sha256(bad).hexdigest()} is not the manifest's",
        "no_licence.txt: no licence",
    ]
