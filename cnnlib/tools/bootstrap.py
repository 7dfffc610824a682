"""Write the notebooks' first cell, which installs the course on Colab and Kaggle.

    cnn-course bootstrap            # write the cell into every notebook, from pyproject.toml
    cnn-course bootstrap --check    # only say which notebooks' cell is missing or out of date

The cell (`cnnlib.runtime.hosted.bootstrap_source`) holds the repository's address and the
course's version as literals, because on a hosted runtime nothing else can tell it them. Run this
after changing either in pyproject.toml; tests/unit/test_hosted.py fails until it has run.
"""

import argparse
import pathlib
import sys

from cnnlib.runtime import hosted
from cnnlib.runtime.locations import require_course_root

NOTEBOOK_NAMES = "[0-9][0-9]_*.ipynb"


def is_bootstrap(cell):
    return hosted.BOOTSTRAP_TAG in cell.get("metadata", {}).get("tags", [])


def bootstrap_cell(address, version):
    import nbformat

    cell = nbformat.v4.new_code_cell(
        hosted.bootstrap_source(address, version), metadata={"tags": [hosted.BOOTSTRAP_TAG]}
    )
    cell["id"] = hosted.BOOTSTRAP_ID
    return cell


def with_bootstrap(notebook, address, version):
    """(notebook with the current bootstrap cell first, changed?). Only the first cell is touched:
    the bootstrap cell is replaced when it is there, inserted in front of the others otherwise."""
    import nbformat

    notebook = nbformat.from_dict(notebook)
    wanted = bootstrap_cell(address, version)
    if notebook.cells and is_bootstrap(notebook.cells[0]):
        if notebook.cells[0] == wanted:
            return notebook, False
        notebook.cells[0] = wanted
    else:
        notebook.cells.insert(0, wanted)
    return notebook, True


def notebook_paths(root):
    return sorted((pathlib.Path(root) / "notebooks").glob(NOTEBOOK_NAMES))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="cnn-course bootstrap",
        description="Write the notebooks' first cell, which installs the course on Colab and "
        "Kaggle, from pyproject.toml's Repository address and version.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; list the notebooks whose first cell is missing or out of date",
    )
    args = parser.parse_args(argv)
    import nbformat

    root = require_course_root("cnn-course bootstrap")
    try:
        address, version = hosted.checkout_project(root)
    except ValueError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 2
    stale = []
    for path in notebook_paths(root):
        notebook, changed = with_bootstrap(nbformat.read(path, as_version=4), address, version)
        if changed:
            stale.append(path.name)
            if not args.check:
                nbformat.write(notebook, path)
    target = hosted.install_requirement(address, version)
    if args.check:
        if stale:
            print(f"Out of date: {', '.join(stale)}; run `cnn-course bootstrap` to write them.")
            return 1
        print(f"Every notebook's first cell installs {target}.")
        return 0
    print(f"Wrote the first cell of {len(stale)} notebook(s); every one installs {target}.")
    if hosted.is_placeholder(address):
        print(
            f"Note: {address} is still the placeholder: set [project.urls] Repository in "
            "pyproject.toml to the public address, then run this again."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
