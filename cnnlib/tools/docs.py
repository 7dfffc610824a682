"""Every generated block of the docs, rewritten or checked by one command.

    cnn-course report            # rewrite every generated block from its source
    cnn-course report --check    # exit 1 naming each document whose blocks are out of date

(`python -m cnnlib.tools.docs [--check]` does the same without report's options.)

The blocks and where they come from:

- README.md's notebook table, docs/results.md's results and benchmark tables: results/
  (`cnnlib.tools.report`, between `<!-- NAME:start -->` / `<!-- NAME:end -->` markers);
- docs/offline-and-labs.md's download table: `cnnlib.data.registry`
  (between `<!-- downloads:start -->` / `<!-- downloads:end -->`);
- INSTRUCTORS.md's glance table, objectives, time paragraphs, exercise and section tables and
  the slide tables: the notebooks (their "On the slides" asides, their reading load),
  `cnnlib.labs` and results/ (`cnnlib.tools.instructors`);
- README.md's reading table: the notebooks (`cnnlib.runtime.course.reading_load`, between
  `<!-- reading:start -->` / `<!-- reading:end -->`).

Nothing outside the markers changes. The tests only check (they call `stale`); this module is
the one place that writes them.
"""

import argparse
import pathlib
import sys

from cnnlib.runtime.env import tolerate_any_output_encoding
from cnnlib.runtime.locations import require_course_root

DOWNLOADS_DOCUMENT = "docs/offline-and-labs.md"
KIT = "INSTRUCTORS.md"


class DocsError(Exception):
    """A document or a source cannot be read: one sentence."""


def _downloads(text):
    from cnnlib.data import registry
    from cnnlib.tools.report import replace_block

    return replace_block(text, "downloads", registry.markdown_table(), DOWNLOADS_DOCUMENT)


def reading_table(root):
    """Each notebook's reading load (cnnlib.runtime.course.reading_load), as a markdown table."""
    from cnnlib.runtime.course import RATE_SOURCE, notebook_paths, reading_load
    from cnnlib.tools.instructors import _duration

    rows = [
        "| notebook | reading the lecture | prose words (in the asides) | visible code lines |",
        "| --- | --- | --- | --- |",
    ]
    loads = [(path.stem, reading_load(path)) for path in notebook_paths(root / "notebooks")]
    for stem, load in loads:
        rows.append(
            f"| {stem} | {_duration(load.minutes)} | {load.words:,} ({load.aside_words:,}) "
            f"| {load.code_lines:,} |"
        )
    total = [sum(getattr(load, field) for _, load in loads) for field in ("words", "aside_words")]
    rows += [
        f"| **whole course** | **{_duration(sum(load.minutes for _, load in loads))}** "
        f"| **{total[0]:,} ({total[1]:,})** | **{sum(load.code_lines for _, load in loads):,}** |",
        "",
        "The lecture part of each notebook (every cell before its exercises), counted from the "
        f"notebook file and read at {RATE_SOURCE}. The asides on the lecture slides are counted in; "
        "a learner without the slides may skip them (their words are in brackets).",
    ]
    return "\n".join(rows)


def _reading(text, root):
    from cnnlib.tools.report import replace_block

    return replace_block(text, "reading", reading_table(root), "README.md")


def generators(root, results=None):
    """{document relative to the course folder: function(current text) -> text with its blocks
    rebuilt}; the tables read `results` (default: the course's results/)."""
    from cnnlib.tools import instructors, report

    results = pathlib.Path(results) if results else root / "results"
    made = {
        document: (lambda text, document=document: report.render(document, text, results))
        for document in report.DOCUMENTS
    }
    made["README.md"] = lambda text, render=made["README.md"]: _reading(render(text), root)
    made[DOWNLOADS_DOCUMENT] = _downloads
    made[KIT] = instructors.regenerate
    return made


def updated(root=None, results=None):
    """{document: (current text, text with every generated block rebuilt)}."""
    from cnnlib.tools.instructors import KitError
    from cnnlib.tools.report import ReportError

    root = pathlib.Path(root) if root else require_course_root("cnn-course docs")
    texts = {}
    for document, rebuild in generators(root, results).items():
        path = root / document
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as error:
            raise DocsError(f"{path} cannot be read ({error.strerror})") from None
        try:
            texts[document] = (current, rebuild(current))
        except (ReportError, KitError) as error:
            raise DocsError(str(error)) from None
    return texts


def stale(root=None):
    """The documents whose generated blocks differ from what their sources give."""
    return [document for document, (old, new) in updated(root).items() if old != new]


# Folders that hold no course documents: virtual environments (`.venv`, CI's `.venv-3.10`) and
# every other hidden folder, installed packages, build output.
NOT_DOCUMENTS = {"node_modules", "build", "_build", "site-packages"}


def markdown_files(root):
    """The course's Markdown files under `root`, sorted: not those inside hidden folders (virtual
    environments such as `.venv-3.10`, `.git`), installed packages or build output."""
    root = pathlib.Path(root)
    found = []
    for path in root.rglob("*.md"):
        parts = path.relative_to(root).parts[:-1]
        if not any(part.startswith(".") or part in NOT_DOCUMENTS for part in parts):
            found.append(path)
    return sorted(found)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnn-course docs", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only say which documents are out of date (exit 1)"
    )
    args = parser.parse_args(argv)
    tolerate_any_output_encoding()
    root = require_course_root("cnn-course docs")
    try:
        texts = updated(root)
    except DocsError as error:
        print(f"cnnlib.tools.docs: {error}", file=sys.stderr)
        return 2
    out_of_date = [document for document, (old, new) in texts.items() if old != new]
    if args.check:
        if out_of_date:
            print(
                f"Out of date: {', '.join(out_of_date)}; run `cnn-course report` to rewrite them."
            )
            return 1
        print("Every generated block is up to date.")
        return 0
    from cnnlib.tools.files import replace_file

    for document in out_of_date:
        replace_file(root / document, texts[document][1])
    print(
        f"Rewrote the generated blocks of {', '.join(out_of_date) or 'no document (all current)'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
