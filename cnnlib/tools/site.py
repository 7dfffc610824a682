"""The course as a website: the executed student notebooks, built by Sphinx with MyST-NB and the
book theme (full-text search, a sidebar of every notebook, a table of contents per page, launch
buttons for Colab and Binder, a download button for the .ipynb, dark mode, readable on a phone).

    cnn-course site --executed DIR --out SITE   # notebooks executed already (seconds)
    cnn-course site --out SITE                  # execute the student versions first
    cnn-course site --out SITE --profile lite   # ... in the lite profile

This module only prepares: it takes executed notebooks (the test run's, or the student versions
it executes itself), leaves out solutions and `verify` cells, puts a banner at the top of any page
that ran on a stand-in or in a rehearsal, and hands the folder to Sphinx with the project in
website/ (conf.py, the home page, the style sheet). Nothing is executed again and nothing is
downloaded while building. To publish, copy SITE to any static host: docs/website.md says how.
"""

import argparse
import html
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

from cnnlib.labs.student import SOLUTION_TAG, notebook_files
from cnnlib.runtime import hosted, rehearsal
from cnnlib.runtime.locations import require_course_root

VERIFY_TAG = "verify"
# The labels the notebooks print (cnnlib.runtime.rehearsal), and the banner each one puts on a page.
NOTICES = {
    rehearsal.LABEL: "This page was built from rehearsal files that only mimic the real data and "
    "weights; none of its numbers is a result.",
    rehearsal.STAND_IN: "The real data or pretrained weights were not available when this page was "
    "built, so parts of it ran on a stand-in; numbers marked STAND-IN are not results.",
}


def _outputs_text(notebook):
    return "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def notices_for(notebook):
    """{marker: message} for the banners a page needs: a stand-in or a rehearsal shows at the top."""
    text = _outputs_text(notebook)
    return {marker: message for marker, message in NOTICES.items() if marker in text}


def check_out_dir(out_dir):
    """`out_dir` as a path the site may be written to, or ValueError saying in one sentence why not.

    A new folder, an empty one or an earlier build of the site (Sphinx's `.buildinfo` marks it)
    will do; anything else may hold someone's files, and the build would mix with them.
    """
    out_dir = pathlib.Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"the output {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / ".buildinfo").is_file():
        raise ValueError(
            f"the output folder {out_dir} already holds files that are not an earlier build of "
            "the site; give a new or empty folder"
        )
    existing = next(folder for folder in (out_dir, *out_dir.parents) if folder.exists())
    if not os.access(existing, os.W_OK):
        raise ValueError(f"the output folder {out_dir} cannot be written ({existing} is read-only)")
    return out_dir


def executed_notebooks(executed_dir):
    """{stem: notebook} of the executed course notebooks in `executed_dir`, in teaching order."""
    import nbformat

    notebooks = {}
    for path in notebook_files(executed_dir):
        notebook = nbformat.read(path, as_version=4)
        if not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"):
            raise ValueError(
                f"{path} has no outputs: the site is built from executed notebooks "
                "(run without --executed to execute the student versions first)"
            )
        notebooks[path.stem] = notebook
    return notebooks


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def page_notebook(notebook, notices, name="the notebook"):
    """A copy of an executed notebook as its page shows it: no solution and no `verify` cell (removed
    by nbconvert's TagRemovePreprocessor, as in the student export), and the banners of `notices`
    right under the title."""
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor

    from cnnlib.labs.student import BEGIN, END

    hidden = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG, VERIFY_TAG}, enabled=True)
    page, _ = hidden.preprocess(nbformat.from_dict(notebook), {})
    marked = [c for c in page.cells if BEGIN in c.source or END in c.source]
    if marked:
        raise ValueError(
            f"{name} has a solution marked with '{BEGIN}' outside a cell tagged "
            f"'{SOLUTION_TAG}'; build the site from its student version (cnn-course student) "
            "so the solution and its outputs stay off the page"
        )
    # Plain HTML rather than a MyST directive: the theme draws it as a warning, and the .ipynb the
    # page offers for download shows it as well in JupyterLab.
    banners = "".join(
        f'\n\n<div class="admonition warning course-notice"><p class="admonition-title">'
        f"{marker}</p><p>{html.escape(message)}</p></div>\n\n"
        for marker, message in notices.items()
    )
    # The first cell installs the course on Colab and Kaggle: the .ipynb offered for download
    # keeps it (it has to run there too), the page leaves it out (MyST-NB's remove-cell tag).
    for cell in page.cells:
        if hosted.BOOTSTRAP_TAG in _tags(cell):
            cell.metadata["tags"] = [*_tags(cell), "remove-cell"]
    first = next((c for c in page.cells if hosted.BOOTSTRAP_TAG not in _tags(c)), None)
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")  # right under the title
        first.source = title + banners + rest
    elif banners:
        at = page.cells.index(first) if first is not None else len(page.cells)
        page.cells.insert(at, nbformat.v4.new_markdown_cell(banners.strip()))
    return page


def course_folder():
    """The course checkout the site is built from (its website/ and notebooks/)."""
    return require_course_root("cnn-course site")


def repository_url(root=None):
    """The course repository's web address from pyproject.toml's [project.urls] Repository, or
    None (no such entry, not on GitHub, or still the placeholder: no launch button then)."""
    root = root or course_folder()
    try:
        address, _ = hosted.checkout_project(root)
    except ValueError:
        return None
    if not address.startswith("https://github.com/") or hosted.is_placeholder(address):
        return None
    return address.removesuffix(".git")


def release_tag(root=None):
    """The tag of this version of the course (the notebooks' first cell installs it), or "main"."""
    root = root or course_folder()
    try:
        version = hosted.checkout_project(root)[1]
    except ValueError:
        version = hosted.installed_project()[1]
    return hosted.git_ref(version) if version else "main"


def prepare(notebooks, source_dir, repository=None, branch="main", profile="ci"):
    """Lay out the Sphinx source in `source_dir`: website/, the pages' notebooks and course.json."""
    import nbformat

    from cnnlib.runtime.course import NOTEBOOKS

    source_dir = pathlib.Path(source_dir)
    shutil.copytree(course_folder() / "website", source_dir, dirs_exist_ok=True)
    (source_dir / "notebooks").mkdir(exist_ok=True)
    course = {
        "repository_url": repository,
        "branch": branch,
        "profile": profile,
        "built": time.strftime("%Y-%m-%d"),
        "notebooks": [],
    }
    for stem, notebook in notebooks.items():
        notices = notices_for(notebook)
        page = page_notebook(notebook, notices, name=f"{stem}.ipynb")
        nbformat.write(page, source_dir / "notebooks" / f"{stem}.ipynb")
        course["notebooks"].append(
            {"stem": stem, "lesson": NOTEBOOKS.get(stem, ""), "notices": list(notices)}
        )
    (source_dir / "course.json").write_text(json.dumps(course, indent=1), encoding="utf-8")
    return course


def build_site(executed_dir, out_dir, repository=None, branch="main", profile="ci"):
    """Build the website from the executed notebooks of `executed_dir` into `out_dir`.

    Returns the HTML pages of the notebooks, in teaching order, after the home page. Sphinx's
    warnings (a broken link, a missing page) fail the build.
    """
    try:
        from sphinx.cmd.build import build_main
    except ImportError as error:
        raise ModuleNotFoundError(
            "the website is built by Sphinx with MyST-NB and the book theme, which are not "
            "installed: pip install -e '.[site]'"
        ) from error
    out_dir = check_out_dir(out_dir)
    notebooks = executed_notebooks(executed_dir)
    with tempfile.TemporaryDirectory(prefix="course-site-") as work:
        source = pathlib.Path(work) / "source"
        prepare(notebooks, source, repository, branch, profile)
        if (out_dir / ".buildinfo").is_file():
            shutil.rmtree(out_dir)  # an earlier build: start clean, so no page of it is left
        status = build_main(
            ["-b", "html", "-q", "-W", "--keep-going", "-d", str(pathlib.Path(work) / "doctrees")]
            + [str(source), str(out_dir)]
        )
    if status:
        raise RuntimeError(f"Sphinx could not build the site (status {status}): see its messages")
    return [out_dir / "index.html"] + [out_dir / "notebooks" / f"{s}.html" for s in notebooks]


def execute(notebook, folder, extra_env=None, timeout=3600):
    """Run `notebook` (an nbformat node, changed in place) in a fresh kernel started in `folder`.

    `extra_env` is added to this process's environment for the kernel only, so nothing here has
    to change os.environ and put it back.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env={**os.environ, **(extra_env or {})})
    return notebook


def execute_student_versions(source_dir, work_dir, profile):
    """Write the student versions into `work_dir` and execute each in place (offline)."""
    import nbformat

    from cnnlib.labs.student import write_student_versions

    env = {
        "CNNLIB_PROFILE": profile,
        "CNNLIB_OFFLINE": os.environ.get("CNNLIB_OFFLINE", "1"),
        "CNNLIB_RESULTS_DIR": str(pathlib.Path(work_dir) / "results"),
    }
    for path in write_student_versions(source_dir, work_dir):
        print(f"  executing {path.name}", flush=True)
        notebook = execute(nbformat.read(path, as_version=4), source_dir, env)
        nbformat.write(notebook, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="cnn-course site",
        description="Build the course website (Sphinx, MyST-NB, the book theme) from the executed "
        "student notebooks, without solutions or verify cells; docs/website.md says how to publish it.",
    )
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for the site")
    parser.add_argument(
        "--executed",
        type=pathlib.Path,
        help="folder of executed notebooks (NN_name.ipynb); without it, the student versions are "
        "executed first, which takes minutes",
    )
    parser.add_argument(
        "--profile",
        choices=("ci", "lite", "full"),
        default="ci",
        help="the profile the notebooks run (or ran) in",
    )
    parser.add_argument(
        "--repository",
        default=repository_url(),
        help="GitHub address the launch and download buttons point at "
        "(default: pyproject.toml's [project.urls] Repository; without one, no launch buttons)",
    )
    parser.add_argument(
        "--branch",
        default=release_tag(),
        help="the branch or tag the launch buttons open (default: this version's tag, "
        f"{release_tag()}, which the notebooks' first cell installs on Colab and Kaggle)",
    )
    args = parser.parse_args(argv)
    try:
        check_out_dir(args.out)
        if args.executed is not None and not args.executed.is_dir():
            raise ValueError(f"--executed {args.executed} is not a folder")
    except ValueError as error:
        print(f"error: {error}.", file=sys.stderr)
        return 2
    if args.repository is None:
        print(
            "No public repository address (--repository, or [project.urls] Repository in "
            "pyproject.toml, which is still the placeholder until the course is published): "
            "no launch buttons."
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-executed-") as work:
        executed = args.executed
        if executed is None:
            print(f"Executing the student notebooks in the {args.profile} profile:")
            execute_student_versions(course_folder() / "notebooks", work, args.profile)
            executed = work
        try:
            pages = build_site(executed, args.out, args.repository, args.branch, args.profile)
        except (ValueError, FileNotFoundError, RuntimeError, ModuleNotFoundError) as error:
            print(f"error: {error}.", file=sys.stderr)
            return 1
    print(
        f"Built {len(pages)} pages into {args.out} in {time.monotonic() - started:.0f} s; "
        f"open {args.out / 'index.html'} or serve the folder: python -m http.server -d {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
