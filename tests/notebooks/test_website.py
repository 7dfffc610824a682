"""The course website, built from the notebooks nbval has just executed, read as a reader would.

The site is built once per session (`cnnlib.tools.site.build_site`, Sphinx with MyST-NB) from the
course notebooks filled with the outputs nbval recorded in this worker (conftest.py's
`notebook_runs`; this file runs in the notebooks' work unit, after them), so nothing is executed
a second time. Run alone, without those outputs, it skips and says so; a maintainer may point
CNNLIB_SITE_EXECUTED at a folder of executed notebooks (`jupyter nbconvert --to notebook --execute
--output-dir DIR` on the course notebooks makes one) to iterate on the site without the notebook
run.

Then the built HTML is read (pages, figures, links, buttons, banners, no solution, search index),
and Debian's Chromium, driven by Playwright, opens it from a local web server: the home page loads
without console errors, a search for "receptive field" lists notebook 03, next/previous walk all
seven pages, every image loads, the stand-in banner is at the top of 07. Screenshots of the home
page, a notebook page and the search results go to build/site-screenshots/ (git-ignored).
"""

import contextlib
import functools
import html
import http.server
import json
import os
import pathlib
import re
import threading
import time

import nbformat
import pytest

from cnnlib.labs import student
from cnnlib.runtime.course import notebook_paths
from cnnlib.tools import site

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py
STEMS = [p.stem for p in NOTEBOOKS]
REPOSITORY = "https://github.com/example-org/cnn-course"
SCREENSHOTS = ROOT / "build" / "site-screenshots"
CHROMIUM = os.environ.get("CNNLIB_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/e2e/test_browser.py: no sandbox, no GPU, no background traffic
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def executed_from_runs(notebook, outputs):
    """`notebook` with nbval's outputs ({code cell number: outputs}) put back into its code cells."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if sorted(outputs) != list(range(len(code))):
        return None  # nbval did not run every cell of it here (run alone, or a cell failed)
    for number, cell in enumerate(code):
        cell.outputs = [nbformat.from_dict(output) for output in outputs[number]]
        cell.execution_count = number + 1
    return notebook


@pytest.fixture(scope="module")
def executed(tmp_path_factory, notebook_runs):
    """A folder of the course notebooks as nbval executed them in this session."""
    given = os.environ.get("CNNLIB_SITE_EXECUTED")
    if given:
        return pathlib.Path(given)
    folder = tmp_path_factory.mktemp("executed")
    missing = []
    for path in NOTEBOOKS:
        notebook = executed_from_runs(
            nbformat.read(path, as_version=4), notebook_runs.get(path.name, {})
        )
        if notebook is None:
            missing.append(path.name)
        else:
            nbformat.write(notebook, folder / path.name)
    if missing:
        pytest.skip(
            f"nbval has not run {', '.join(missing)} in this worker, so there are no outputs to "
            "build the site from: run it with the notebooks (pytest notebooks/ "
            "tests/notebooks/test_website.py) or set CNNLIB_SITE_EXECUTED to executed notebooks"
        )
    return folder


@pytest.fixture(scope="module")
def built(executed, tmp_path_factory):
    missing = [m for m in ("sphinx", "myst_nb", "sphinx_book_theme", "latex2mathml") if not _has(m)]
    if missing:  # a contributor without the site extra is told; CI must have it
        message = f"{', '.join(missing)} not installed: pip install -e '.[site]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site") / "html"
    started = time.monotonic()
    pages = site.build_site(executed, out, repository=REPOSITORY)
    print(f"site built from {executed} in {time.monotonic() - started:.1f} s")
    return out, pages


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _text(page_html):
    """What a reader can read on a page: the HTML without its tags, scripts and styles."""
    page_html = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


def _longest_line(source):
    return max((line.strip() for line in source.splitlines()), key=len, default="")


def test_every_notebook_has_a_page_with_its_figures(built, executed):
    out, pages = built
    assert pages == [out / "index.html", *[out / "notebooks" / f"{s}.html" for s in STEMS]]
    for stem in STEMS:
        page = (out / "notebooks" / f"{stem}.html").read_text()
        shown = site.page_notebook(
            nbformat.read(pathlib.Path(executed) / f"{stem}.ipynb", as_version=4), {}
        )
        figures = sum(
            "image/png" in output.get("data", {})
            for cell in shown.cells
            for output in cell.get("outputs", [])
        )
        images = re.findall(r'<img[^>]*src="([^"]+)"', page)
        assert len(images) >= figures > 0, f"{stem}: {figures} figures, {len(images)} on the page"
        for source in images:
            assert (out / "notebooks" / source).resolve().is_file(), f"{stem}: {source} missing"
        prose = "\n".join(c.source for c in shown.cells if c.cell_type == "markdown")
        formulas = len(re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", prose, flags=re.S))
        assert page.count("<math ") >= formulas, f"{stem}: {formulas} formulas in the text"


def test_no_solution_and_no_verify_cell_is_on_a_page(built):
    out, _ = built
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        kept = [
            c
            for c in original.cells
            if not {"solution", "verify"} & set(c.metadata.get("tags", []))
        ]
        kept_text = "\n".join(c.source for c in kept)
        hidden = [c for c in original.cells if c not in kept]
        assert any("solution" in c.metadata.get("tags", []) for c in hidden), path.name
        text = _text((out / "notebooks" / f"{path.stem}.html").read_text())
        assert student.BEGIN not in text
        for cell in hidden:
            line = _longest_line(cell.source)
            if line and line not in kept_text:  # a line only the hidden cell has
                assert line not in text, f"{path.stem}: a hidden cell is on the page: {line!r}"


def test_links_between_pages_resolve_and_buttons_point_at_the_repository(built):
    out, _ = built
    for stem in STEMS:
        page = (out / "notebooks" / f"{stem}.html").read_text()
        for target in re.findall(r'href="(?![a-z]+:)([^"#?]+)', page):
            assert (out / "notebooks" / target).resolve().exists(), f"{stem}: {target} is missing"
            assert not target.endswith(".ipynb") or target.startswith("../_sources/"), (
                f"{stem}: a link to a notebook file instead of its page: {target}"
            )
        owner_repo = REPOSITORY.removeprefix("https://github.com/")
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{stem}.ipynb"
        binder = (
            f"https://mybinder.org/v2/gh/{owner_repo}/main?urlpath=lab/tree/notebooks/{stem}.ipynb"
        )
        assert f'href="{colab}"' in page, f"{stem}: no Colab button"
        assert f'href="{binder}"' in page, f"{stem}: no Binder button"
        download = out / "_sources" / "notebooks" / f"{stem}.ipynb"
        assert f'href="../_sources/notebooks/{stem}.ipynb"' in page, f"{stem}: no download button"
        offered = nbformat.read(download, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in offered.cells)
    # notebook 07 links to 06 in its text: the link goes to 06's page
    assert (
        'href="06_architectures_after_lenet.html'
        in (out / "notebooks" / "07_vgg16_transfer_learning.html").read_text()
    )


def test_the_home_page_has_the_pitch_and_the_notebook_table(built):
    from cnnlib.runtime.course import NOTEBOOKS

    out, _ = built
    home = (out / "index.html").read_text()
    text = _text(home)
    words = "no one two three four five six seven eight nine ten eleven twelve".split()
    assert f"A course in {words[len(STEMS)]} Jupyter notebooks" in text  # counted, not typed
    for stem in STEMS:
        assert f'href="notebooks/{stem}.html"' in home
        assert NOTEBOOKS[stem] in text, f"the home page lacks the line on {stem}"


def test_the_stand_in_banner_is_at_the_top_of_pages_that_ran_on_one(built, executed):
    out, _ = built
    for stem in STEMS:
        notebook = nbformat.read(pathlib.Path(executed) / f"{stem}.ipynb", as_version=4)
        page = (out / "notebooks" / f"{stem}.html").read_text()
        expected = site.notices_for(notebook)
        banners = re.findall(r'class="[^"]*\bcourse-notice\b[^"]*"', page)
        assert len(banners) == len(expected), f"{stem}: {len(banners)} banners for {list(expected)}"
        if expected:  # right under the title
            assert re.search(r'</h1>\s*<div class="[^"]*course-notice', page), stem
    # offline, 07 runs on a stand-in (no ImageNet weights) and 01 on nothing of the kind
    assert "STAND-IN" in site.notices_for(
        nbformat.read(pathlib.Path(executed) / "07_vgg16_transfer_learning.ipynb", as_version=4)
    )


def test_the_search_index_holds_the_course_text(built):
    import snowballstemmer

    out, _ = built
    raw = (out / "searchindex.js").read_text()
    index = json.loads(raw[raw.index("(") + 1 : raw.rindex(")")])
    documents = index["docnames"]
    for word in snowballstemmer.stemmer("english").stemWords(["receptive", "field"]):
        found = []  # Sphinx stores the English stems, of the text and of the headings
        for where in ("terms", "titleterms"):
            pages = index[where].get(word, [])
            found += pages if isinstance(pages, list) else [pages]
        assert documents.index("notebooks/03_padding_and_stride") in found, word


# ---- the wrapper's own rules, without a build ---------------------------------------------------


def _tiny_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# 99 · Title\nFirst paragraph."),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("assert x == 1", metadata={"tags": ["verify"]}),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("My answer", metadata={"tags": ["answer"]}),
    ]
    cells[1].outputs = [nbformat.v4.new_output("stream", text="⚠⚠⚠ STAND-IN: random weights\n")]
    return nbformat.v4.new_notebook(cells=cells)


def test_a_page_drops_solutions_and_checks_and_puts_the_banner_under_the_title():
    notebook = _tiny_notebook()
    notices = site.notices_for(notebook)
    assert list(notices) == ["STAND-IN"]
    page = site.page_notebook(notebook, notices)
    assert [c.source.splitlines()[0] for c in page.cells] == ["# 99 · Title", "x = 1", "My answer"]
    assert page.cells[0].source.index('class="admonition warning course-notice"') < page.cells[
        0
    ].source.index("First paragraph.")
    marked = _tiny_notebook()
    marked.cells[1].source = f"{student.BEGIN}\nx = 1\n{student.END}"
    with pytest.raises(ValueError, match="outside a cell tagged 'solution'"):
        site.page_notebook(marked, {})


def test_a_bad_output_folder_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(site, "execute_student_versions", lambda *a: pytest.fail("it executed"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone's file")
    a_file = tmp_path / "file.html"
    a_file.write_text("")
    for out, reason in ((taken, "already holds files"), (a_file, "is a file, not a folder")):
        assert site.main(["--out", str(out)]) == 2
        error = capsys.readouterr().err
        assert reason in error and error.count("\n") == 1, error
    assert (taken / "notes.txt").read_text() == "someone's file"


def test_notebooks_without_outputs_are_refused(tmp_path):
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), tmp_path / "01_x.ipynb"
    )
    with pytest.raises(ValueError, match="01_x.ipynb has no outputs"):
        site.build_site(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- in a real browser -------------------------------------------------------------------------


@contextlib.contextmanager
def _served(folder):
    """The folder on a local web server at http://127.0.0.1:PORT, quiet, for this test only."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_page(built, tmp_path_factory):
    """A Chromium tab on the served site, recording console errors and failed requests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"No Chromium at {CHROMIUM} (apt-get install chromium, or set CNNLIB_CHROMIUM)")
    out, _ = built
    with _served(out) as base, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        tab = context.new_page()
        tab.problems = []
        tab.on(
            "console",
            lambda m: m.type == "error" and tab.problems.append(f"{tab.url}: console: {m.text}"),
        )
        tab.on("pageerror", lambda e: tab.problems.append(f"{tab.url}: script error: {e}"))
        tab.on(
            "requestfailed",
            lambda r: tab.problems.append(f"{tab.url}: failed to load {r.url}"),
        )
        tab.base = base
        try:
            yield tab
        finally:
            context.close()


def _images_not_loaded(tab):
    return tab.evaluate(
        """() => Array.from(document.images)
              .filter(img => !(img.complete && img.naturalWidth > 0))
              .map(img => img.getAttribute('src'))"""
    )


def test_the_home_page_loads_cleanly_in_a_browser(browser_page):
    tab = browser_page
    tab.problems.clear()
    tab.goto(tab.base + "/index.html", wait_until="networkidle")
    assert tab.title().startswith("Convolutional neural networks, hands on")
    assert tab.locator("table a", has_text="03 · Padding and stride").count() == 1
    assert _images_not_loaded(tab) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / "home.png"))
    assert tab.problems == []


def test_search_for_receptive_field_lists_notebook_03(browser_page):
    tab = browser_page
    tab.problems.clear()
    tab.goto(tab.base + "/index.html", wait_until="networkidle")
    tab.locator("button.search-button__button:visible").first.click()
    box = tab.locator("#pst-search-dialog input[type=search]")
    box.fill("receptive field")
    box.press("Enter")
    tab.wait_for_url(re.compile(r"search\.html\?q=receptive"))
    results = tab.locator("#search-results li a")
    results.first.wait_for(timeout=30_000)
    found = results.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "notebooks/03_padding_and_stride.html" in found[0], f"03 is not the first hit: {found}"
    tab.screenshot(path=str(SCREENSHOTS / "search.png"))
    assert tab.problems == []


def test_next_and_previous_walk_every_page_and_every_image_loads(browser_page):
    tab = browser_page
    tab.problems.clear()
    tab.goto(tab.base + "/index.html", wait_until="networkidle")
    walked = []
    for _ in STEMS:
        tab.locator("a.right-next").click()
        tab.wait_for_load_state("networkidle")
        walked.append(tab.url.rsplit("/", 1)[-1].removesuffix(".html"))
        broken = _images_not_loaded(tab)
        assert broken == [], f"{walked[-1]}: images that did not load: {broken[:5]}"
        assert tab.locator("img").count() > 0, walked[-1]
        unsized = tab.evaluate(
            """() => Array.from(document.querySelectorAll('math'))
                  .filter(m => !(m.getBoundingClientRect().width > 0)).length"""
        )
        assert unsized == 0, f"{walked[-1]}: {unsized} formulas the browser did not draw"
        if walked[-1] == "07_vgg16_transfer_learning":
            banner = tab.locator(".course-notice").first
            assert banner.is_visible() and "STAND-IN" in banner.inner_text()
            assert banner.bounding_box()["y"] < 900, "the banner is not in the first screenful"
            tab.screenshot(path=str(SCREENSHOTS / "notebook-07.png"))
        if walked[-1] in ("03_padding_and_stride", "05_lenet5_mnist"):
            tab.screenshot(path=str(SCREENSHOTS / f"notebook-{walked[-1][:2]}.png"), full_page=True)
    assert walked == STEMS
    assert tab.locator("a.right-next").count() == 0, "a next page after the last notebook"
    back = []
    for _ in STEMS[1:]:
        tab.locator("a.left-prev").click()
        tab.wait_for_load_state("networkidle")
        back.append(tab.url.rsplit("/", 1)[-1].removesuffix(".html"))
    assert back == STEMS[-2::-1]
    assert tab.problems == []
