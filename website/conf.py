"""Sphinx configuration of the course website (built by `python -m cnnlib.tools.site`).

This folder is copied next to the prepared notebooks, with a `course.json` that the wrapper
writes: which notebooks there are, their one-line descriptions and banners, the repository the
launch buttons point at, and how the notebooks were executed. Nothing here reaches the network:
the notebooks are not executed again (MyST-NB's execution is off), there is no intersphinx, and
formulas are turned into MathML here, so no MathJax is loaded.
"""

import json
import pathlib

from docutils import nodes

COURSE = json.loads((pathlib.Path(__file__).parent / "course.json").read_text(encoding="utf-8"))

project = "Convolutional neural networks, hands on"
author = "the course's authors"
copyright = "the course's authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.githubpages"]  # the latter writes .nojekyll for Pages
exclude_patterns = ["_build", "course.json", "**/.ipynb_checkpoints"]

# The notebooks arrive executed; building the site never runs them (and never downloads).
nb_execution_mode = "off"
# Tracebacks and stderr would be failures of the run that produced the outputs; show them as they are.
nb_output_stderr = "show"
myst_enable_extensions = ["dollarmath", "substitution", "colon_fence"]
myst_heading_anchors = 3


def _table():
    """The home page's notebook table as MyST markdown: the page (by its title), what it teaches,
    and the banners it carries."""
    rows = ["| Notebook | What you learn | Notes |", "| --- | --- | --- |"]
    for notebook in COURSE["notebooks"]:
        notes = ", ".join(f"⚠ {marker}" for marker in notebook["notices"])
        rows.append(f"| {{doc}}`notebooks/{notebook['stem']}` | {notebook['lesson']} | {notes} |")
    return "\n".join(rows)


_WORDS = "no one two three four five six seven eight nine ten eleven twelve".split()
_COUNT = len(COURSE["notebooks"])

myst_substitutions = {
    "notebook_table": _table(),
    "notebook_count": _WORDS[_COUNT] if _COUNT < len(_WORDS) else str(_COUNT),
    "profile": COURSE["profile"],
    "built": COURSE["built"],
}

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"  # else browsers ask for /favicon.ico and log a 404
html_context = {"default_mode": "auto"}  # light or dark as the reader's system is
smartquotes = False  # quotes stay as typed, as in the notebooks and their code
html_last_updated_fmt = None
html_show_sourcelink = False  # the download button offers the .ipynb instead
html_theme_options = {
    "path_to_docs": "",
    "use_download_button": True,
    "use_fullscreen_button": True,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
}
if COURSE.get("repository_url"):
    html_theme_options.update(
        repository_url=COURSE["repository_url"],
        repository_branch=COURSE["branch"],
        use_repository_button=True,
        launch_buttons={
            "colab_url": "https://colab.research.google.com",
            "binderhub_url": "https://mybinder.org",
            "notebook_interface": "jupyterlab",
        },
    )

# Formulas become MathML when the site is built (latex2mathml), which browsers draw themselves:
# no MathJax script to fetch from a CDN or to ship, nothing to run in the reader's browser.
html_math_renderer = "mathml"


def _mathml(latex, display):
    from latex2mathml.converter import convert

    return convert(latex.strip(), display=display)


def _visit_inline_math(translator, node):
    translator.body.append(_mathml(node.astext(), "inline"))
    raise nodes.SkipNode


def _visit_block_math(translator, node):
    translator.body.append(f'<div class="math-block">{_mathml(node.astext(), "block")}</div>')
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (_visit_inline_math, None), (_visit_block_math, None))
