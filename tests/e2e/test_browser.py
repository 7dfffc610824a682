"""A learner's first run: a notebook run by hand through JupyterLab's UI in a real Chromium.

nbval executes every notebook in the ci profile; this test adds what only a person's run shows.
It clones the committed course into a fresh git checkout (notebook 01, the cheapest, with cnnlib
and results/), starts a JupyterLab of its own there on a free loopback port, as a learner's laptop
would run it (the lite profile, no CNNLIB_RESULTS_DIR), and drives headless Chromium with
Playwright: double-click the notebook, "Run > Run All Cells", wait until the kernel is idle and no
prompt shows "[*]", then fail on any error or stderr output (the pink blocks a learner sees),
naming the cell and the text. Afterwards `git status` must be clean (the run wrote its results to
the ignored my_results/, and set-up said so), no output may echo a PosixPath, and "File > Close and
Shut Down Notebook" must leave no kernel. A screenshot goes to build/browser-screenshots/.

Autosave is off and the close dialog's "Discard" is clicked, so no output is written into the
notebook. A self-test runs the same checks on a five-cell notebook with known problems.

Needs Debian's `chromium` (or CNNLIB_CHROMIUM=/path/to/chromium) and the `playwright` module from
PyPI (its own browser download is not needed); without either it skips.
CNNLIB_BROWSER_TIMEOUT (seconds, default 900) bounds the run of one notebook.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = PlaywrightTimeout = None

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The cheapest notebook: what a hand run adds does not depend on which notebook it is.
HAND_RUN = "notebooks/01_image_as_matrix.ipynb"
SCREENSHOTS = ROOT / "build" / "browser-screenshots"
CHROMIUM = os.environ.get("CNNLIB_CHROMIUM") or "/usr/bin/chromium"
RUN_TIMEOUT = float(os.environ.get("CNNLIB_BROWSER_TIMEOUT", "900"))
# Run All Cells puts "[*]" on every cell at once; if none shows it or a new count by then, the
# click did nothing.
NOTHING_STARTED_TIMEOUT = 120
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# User settings for this JupyterLab only: no autosave into the tracked notebooks, no news or update
# toasts over the page, and every cell kept in the DOM (so every output can be read and seen).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _why_skip():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"No Chromium at {CHROMIUM} (apt-get install chromium, or set CNNLIB_CHROMIUM), "
            "so the real-browser test of the notebooks is skipped."
        )
    if sync_playwright is None:
        return "The playwright module is not installed (pip install playwright), so the real-browser test is skipped."
    return ""


pytestmark = pytest.mark.skipif(bool(_why_skip()), reason=_why_skip() or "runs")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server of this test's own: its URL, token and REST API."""

    def __init__(self, port, token, process, log_path):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.process = process
        self.log_path = log_path

    def api(self, path):
        request = urllib.request.Request(
            f"{self.base}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def log_tail(self, lines=40):
        text = pathlib.Path(self.log_path).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _jupyterlab(root_dir, cwd=ROOT, **variables):
    """A JupyterLab of this test's own on a free loopback port, its kernels in the ci profile and
    writing results to a scratch folder unless `variables` say otherwise (None removes one)."""
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="cnnlib-browser-"))
    settings_dir = scratch / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    results = scratch / "results"
    results.mkdir()

    env = dict(os.environ)
    # ipykernel stops forwarding the process's fd-2 output (TensorFlow's C++ lines) to the
    # notebook when it sees PYTEST_CURRENT_TEST; a learner's kernel never has it.
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(CNNLIB_PROFILE="ci", CNNLIB_OFFLINE="1", CNNLIB_RESULTS_DIR=str(results))
    for name, value in variables.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value

    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = scratch / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    server = Lab(port, token, process, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}"
                )
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer on {server.base} within 120 s:\n{server.log_tail()}"
                    )
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's, driven by Playwright) with a fresh profile."""
    profile = tempfile.mkdtemp(prefix="cnnlib-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _lab_tab(browser, lab):
    tab = browser.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(f"{lab.base}/lab?reset&token={lab.token}", wait_until="domcontentloaded")
    tab.wait_for_selector(".jp-DirListing-item", timeout=120_000)
    return tab


def git(folder, *args):
    return subprocess.run(
        ["git", *args], cwd=folder, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The course as a learner clones it: the committed notebook, this cnnlib, results/."""
    folder = tmp_path_factory.mktemp("checkout")
    (folder / "notebooks").mkdir()
    (folder / HAND_RUN).write_text(git(ROOT, "show", f"HEAD:{HAND_RUN}"))
    solutions = pathlib.Path(HAND_RUN).parent / "solutions" / (pathlib.Path(HAND_RUN).stem + ".py")
    (folder / solutions).parent.mkdir()
    (folder / solutions).write_text(git(ROOT, "show", f"HEAD:{solutions.as_posix()}"))
    shutil.copytree(
        ROOT / "cnnlib", folder / "cnnlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "results", folder / "results")
    shutil.copy(ROOT / ".gitignore", folder / ".gitignore")
    git(folder, "init", "-q")
    git(folder, "add", ".")
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    git(folder, *identity, "commit", "-q", "-m", "course")
    return folder


@pytest.fixture(scope="module")
def lab(checkout):
    # A learner's laptop: no CI, no GPU (the lite profile), no CNNLIB_RESULTS_DIR, solutions not
    # run (only the test run sets CNNLIB_RUN_SOLUTIONS); the kernel imports the checkout's cnnlib
    # and keeps its cache apart.
    with _jupyterlab(
        checkout / "notebooks",
        cwd=checkout,
        CNNLIB_PROFILE="lite",
        CNNLIB_RESULTS_DIR=None,
        CNNLIB_RUN_SOLUTIONS=None,
        PYTHONPATH=str(checkout),
        XDG_CACHE_HOME=str(checkout.parent / "user_cache"),
    ) as server:
        yield server


@pytest.fixture(scope="module")
def page(browser, lab):
    tab = _lab_tab(browser, lab)
    yield tab
    tab.close()


# Run in the page: the state of the current notebook, read from JupyterLab's own model.
_STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.map((cell, index) => {
    const model = cell.model;
    if (model.type !== 'code') return null;
    const outputs = [];
    for (let j = 0; j < model.outputs.length; j++) {
      const json = model.outputs.get(j).toJSON();
      let text = '';
      if (json.output_type === 'stream') text = [].concat(json.text).join('');
      else if (json.data && json.data['text/plain']) text = [].concat(json.data['text/plain']).join('');
      else if (json.output_type === 'error') {
        const trace = [].concat(json.traceback || []).join('\\n').split('\\n');
        // the message first (it is what a learner reads), then where it came from
        text = json.ename + ': ' + json.evalue + '\\n  raised at:\\n' + trace.slice(-10, -1).join('\\n');
      }
      outputs.push({type: json.output_type, name: json.name || '', text: text});
    }
    const prompt = cell.promptNode ? cell.promptNode.textContent : '';
    return {index, count: model.executionCount, prompt, outputs};
  }).filter(Boolean);
  return {
    path: panel.context.path,
    status: kernel ? kernel.status : 'none',
    dirty: panel.context.model.dirty,
    cells,
  };
}"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _short(text, limit=600):
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= limit else text[:limit] + " …"


def _menu(page, menu, item):
    """Click a top-bar menu, then one of its items, both by the label a learner reads."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$"))
    page.locator(".lm-Menu-item", has=label).click()


def _open(page, name):
    page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$")).dblclick()
    page.wait_for_function(
        """(name) => {
          const panel = window.jupyterapp.shell.currentWidget;
          return panel && panel.context && panel.context.path === name && panel.content
            && panel.content.widgets.length > 0 && panel.sessionContext.session
            && panel.sessionContext.session.kernel && panel.sessionContext.session.kernel.status === 'idle';
        }""",
        arg=name,
        timeout=180_000,
        polling=500,
    )


def _run_all_and_wait(page, name):
    counts_before = [cell["count"] for cell in page.evaluate(_STATE_JS)["cells"]]
    _menu(page, "Run", "Run All Cells")
    started = time.monotonic()
    settled, seen_busy = 0, False
    while True:
        state = page.evaluate(_STATE_JS)
        busy = [cell for cell in state["cells"] if "*" in cell["prompt"]]
        seen_busy = seen_busy or bool(busy)
        # Quick cells can all finish between two polls without ever showing "[*]": new execution
        # counts say that they ran just as well.
        ran = seen_busy or [cell["count"] for cell in state["cells"]] != counts_before
        if state["status"] == "idle" and not busy and ran:
            settled += 1
            if settled >= 3:  # idle and no "[*]" for three polls in a row
                return state, time.monotonic() - started
        else:
            settled = 0
        if not ran and time.monotonic() - started > NOTHING_STARTED_TIMEOUT:
            pytest.fail(f"{name}: Run All Cells started no cell within {NOTHING_STARTED_TIMEOUT} s")
        if state["status"] in ("dead", "unknown"):
            pytest.fail(f"{name}: the kernel died ({state['status']}) while running all cells")
        if time.monotonic() - started > RUN_TIMEOUT:
            pytest.fail(
                f"{name}: still running after {RUN_TIMEOUT:.0f} s (kernel {state['status']}, "
                f"{len(busy)} cells showing [*], first at cell {busy[0]['index'] + 1 if busy else '-'})"
            )
        time.sleep(1.0)


def _problems(page, state):
    """Every error and stderr output: from JupyterLab's model, and what the page renders as stderr."""
    found = []
    for cell in state["cells"]:
        for output in cell["outputs"]:
            if output["type"] == "error" or (
                output["type"] == "stream" and output["name"] == "stderr"
            ):
                kind = "error" if output["type"] == "error" else "stderr"
                where = f"cell {cell['index'] + 1} (In [{cell['count']}])"
                found.append(
                    f"{where} {kind}:\n{_short(output['text'], 600 if kind == 'stderr' else 1500)}"
                )
    rendered = page.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
    if rendered.count() and not found:  # the page shows something the model walk missed
        found += [f"rendered stderr:\n{_short(text)}" for text in rendered.all_inner_texts()]
    not_run = [cell["index"] for cell in state["cells"] if cell["count"] is None]
    if not_run:
        found.append(f"{len(not_run)} code cell(s) never ran (first: cell {not_run[0] + 1})")
    return found


def _screenshot(page, name, folder):
    """The notebook scrolled to its top (title and set-up output), as a learner first sees it; and,
    when the page shows stderr, a second picture scrolled to the first pink block."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = pathlib.Path(name).stem
    (folder / f"{stem}-first-stderr.png").unlink(missing_ok=True)  # from an earlier run
    page.evaluate(
        """() => {
          const notebook = window.jupyterapp.shell.currentWidget.content;
          notebook.activeCellIndex = 0;
          for (const node of [notebook.node, ...notebook.node.querySelectorAll('.jp-WindowedPanel-outer')]) {
            node.scrollTop = 0;
          }
        }"""
    )
    page.wait_for_timeout(500)
    path = folder / f"{stem}.png"
    page.screenshot(path=str(path))
    first = page.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
    if first.count():
        first.first.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(folder / f"{stem}-first-stderr.png"))
    return path


def _close_and_shut_down(page, lab, name):
    _menu(page, "File", "Close and Shut Down Notebook…")
    # "Shut down the notebook?" → accept; should a "Save your work" dialog follow → Discard.
    for _ in range(4):
        dialog = page.locator(".jp-Dialog")
        try:
            dialog.first.wait_for(state="visible", timeout=3_000)
        except PlaywrightTimeout:
            break
        discard = dialog.locator(
            ".jp-Dialog-button", has_text=re.compile("Discard|Don.t Save", re.IGNORECASE)
        )
        if discard.count():
            discard.first.click()
        else:
            dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        page.wait_for_timeout(300)
    deadline = time.monotonic() + 60
    while True:
        sessions = [s for s in lab.api("/api/sessions") if s.get("path", "").endswith(name)]
        kernels = lab.api("/api/kernels")
        if not sessions and not kernels:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{name}: after Close and Shut Down, sessions {sessions} and kernels {kernels} remain"
            )
        time.sleep(0.5)


def _run_in_lab(page, lab, notebook, screenshots=SCREENSHOTS):
    """Open, run all, read the problems, screenshot, close and shut down: what a learner does."""
    name = notebook.name
    before = hashlib.sha256(notebook.read_bytes()).hexdigest()
    _open(page, name)
    state, seconds = _run_all_and_wait(page, name)
    problems = _problems(page, state)
    shot = _screenshot(page, name, screenshots)
    _close_and_shut_down(page, lab, name)
    print(f"{name}: ran {len(state['cells'])} code cells in {seconds:.0f} s; screenshot {shot}")
    if (
        hashlib.sha256(notebook.read_bytes()).hexdigest() != before
    ):  # saved by the lab, or edited by hand?
        on_disk = json.loads(notebook.read_text())
        saved = [c for c in on_disk["cells"] if c["cell_type"] == "code" and c.get("outputs")]
        assert not saved, (
            f"{name} was saved with outputs while it ran in JupyterLab (autosave?); restore it"
        )
    return problems, state


def test_a_learner_runs_a_notebook_by_hand(page, lab, checkout):
    notebook = checkout / HAND_RUN
    problems, state = _run_in_lab(page, lab, notebook)
    assert not problems, (
        f"{notebook.name} shows {len(problems)} problem(s) when run in JupyterLab "
        "(cells counted from 1, markdown included):\n\n" + "\n\n".join(problems)
    )
    assert git(checkout, "status", "--porcelain") == "", "the run changed tracked files"
    assert (checkout / "my_results" / f"{notebook.stem}.json").exists()
    texts = [output["text"] for cell in state["cells"] for output in cell["outputs"]]
    # The first code cell is the hosted-runtime bootstrap (silent in a clone); set-up comes next.
    setup = "".join(output["text"] for output in state["cells"][1]["outputs"])
    assert "my_results (not tracked by git)" in setup, "set-up did not say where results go"
    assert not [text for text in texts if "PosixPath" in text], "a cell echoed a PosixPath"


SELF_TEST_CELLS = [
    "print('quiet')",
    # ipykernel forwards file descriptor 2 from a thread: the pause keeps the line in this cell's
    # output (without it, an idle machine sometimes shows it under the next cell).
    "import os, time\nos.write(2, b'E0000 failed call to cuInit (stand-in for a C++ log line)\\n')"
    "\ntime.sleep(1)",
    "import sys\nprint('a Python warning', file=sys.stderr)",
    "1 / 0",
    "print('never reached')",
]


def test_the_check_sees_what_a_learner_would_see_as_pink(browser, tmp_path):
    """The test above would catch C++ start-up lines, Python stderr, errors and cells left unrun."""
    import nbformat

    notebook = tmp_path / "00_self_test.ipynb"
    content = nbformat.v4.new_notebook()
    content.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    content.cells = [nbformat.v4.new_code_cell(source) for source in SELF_TEST_CELLS]
    nbformat.write(content, notebook)
    with _jupyterlab(tmp_path) as scratch_lab:
        tab = _lab_tab(browser, scratch_lab)
        try:
            problems, _ = _run_in_lab(tab, scratch_lab, notebook, screenshots=tmp_path)
        finally:
            tab.close()
    report = "\n\n".join(problems)
    assert len(problems) == 4, report
    assert "cell 2 (In [2]) stderr:\nE0000 failed call to cuInit" in problems[0], report
    assert "cell 3 (In [3]) stderr:\na Python warning" in problems[1], report
    assert "cell 4 (In [4]) error:" in problems[2] and "ZeroDivisionError" in problems[2], report
    assert "1 code cell(s) never ran (first: cell 5)" in problems[3], report


def test_cells_too_quick_to_show_busy_still_count_as_run(monkeypatch):
    """All cells may finish between two polls, never showing "[*]"; new counts say they ran.
    (Before this was handled, such a run waited out the whole timeout and failed.)"""

    def state(*counts):
        cells = [{"index": i, "count": c, "prompt": f"[{c or ' '}]:"} for i, c in enumerate(counts)]
        return {"path": "quick.ipynb", "status": "idle", "dirty": False, "cells": cells}

    polls = iter([state(None, None)] + [state(1, 2)] * 3)

    class Page:
        def evaluate(self, script):
            return next(polls)

    monkeypatch.setattr(sys.modules[__name__], "_menu", lambda page, menu, item: None)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    final, _ = _run_all_and_wait(Page(), "quick.ipynb")
    assert [cell["count"] for cell in final["cells"]] == [1, 2]


def test_a_run_all_that_starts_nothing_fails_soon(monkeypatch):
    """If the click on Run All Cells did nothing, say so after a short wait, not the full timeout."""
    idle = {
        "path": "x.ipynb",
        "status": "idle",
        "dirty": False,
        "cells": [{"index": 0, "count": None, "prompt": "[ ]:"}],
    }
    clock = iter(range(0, 10_000, 30))

    class Page:
        def evaluate(self, script):
            return idle

    monkeypatch.setattr(sys.modules[__name__], "_menu", lambda page, menu, item: None)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    with pytest.raises(pytest.fail.Exception, match="started no cell within 120 s"):
        _run_all_and_wait(Page(), "x.ipynb")
