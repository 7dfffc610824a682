"""Test-run defaults and the notebooks' extra checks.

- Every notebook runs in the ci profile, writes its results to a scratch folder, and ends by
  running its solutions against their checks (CNNLIB_RUN_SOLUTIONS=1). All three are
  defaults only: set CNNLIB_PROFILE or CNNLIB_RESULTS_DIR to run the notebooks otherwise (for
  example `CNNLIB_PROFILE=lite CNNLIB_RESULTS_DIR=results pytest -n 0 notebooks/` to refresh
  results/). nbval starts each notebook's kernel from this process, so the kernel inherits them.
- A notebook's kernel forwards what C++ code writes to standard error, as JupyterLab shows it, and
  a cell that writes anything to standard error fails: a learner would see a pink block.
- The outputs of every notebook nbval runs are kept for this session (fixture `notebook_runs`), so
  the student-version test reads them instead of executing every notebook a second time.
- The tests are shared by several xdist workers (`-n auto` in pyproject.toml) in work units that
  each run whole on one worker: one per test file, and one for the notebooks together with the
  student-version and website tests that read their outputs. The longest units are handed out
  first.
"""

import os
import pathlib
import tempfile

os.environ.setdefault("CNNLIB_PROFILE", "ci")
os.environ.setdefault("CNNLIB_RESULTS_DIR", tempfile.mkdtemp(prefix="cnnlib-results-"))
# Each notebook's last cell runs its solutions (notebooks/solutions/) and requires every ✓.
os.environ.setdefault("CNNLIB_RUN_SOLUTIONS", "1")


import pytest  # noqa: E402

STUDENT_RUN_TEST = "test_student_version.py"
WEBSITE_TEST = "test_website.py"  # builds the course website from the same outputs
AFTER_NOTEBOOKS = (STUDENT_RUN_TEST, WEBSITE_TEST)
LONGEST_FIRST = (
    # Measured on 2 cores: each of these takes three to four minutes; everything else under a minute.
    "tests/e2e/test_rehearsal.py",
    "tests/e2e/test_browser.py",
    "notebooks",
    # The longest units of the fast loop (measured: 5 to 10 s of CPU each, most files under 3).
    "tests/labs/test_ex06.py",
    "tests/labs/test_ex07.py",
    "tests/labs/test_ex01.py",
)
# Executing notebooks, a browser or the rehearsal takes minutes: `pytest -m "not slow"` leaves them
# out (the contributor's loop); the README's test command runs everything. Elsewhere, a test that
# trains, starts heavy processes (TensorFlow workers, JupyterLab, pip, a sealed kernel) or builds a
# large Keras model carries `@pytest.mark.slow` itself, and the fast loop keeps one small test of
# each kind, named in a comment there: tests/unit/test_training_resume.py (training),
# test_launcher.py (processes), test_resnet_parameter_count.py (a Keras application),
# test_dependency_bounds.py and test_hosted.py (pip), tests/labs/test_grading_sandbox.py (sandbox).
SLOW_FOLDERS = ("notebooks/", "tests/notebooks/", "tests/e2e/")

# {notebook file name: {code cell number: outputs}} for the cells nbval ran without error.
_NOTEBOOK_RUNS = {}


def _is_notebook_cell(item):
    return item.path.suffix == ".ipynb"


def _group(path):
    """The work unit of a test file (a path relative to the repository): it runs whole on one worker."""
    if path.endswith(".ipynb") or path.endswith(tuple("/" + name for name in AFTER_NOTEBOOKS)):
        return "notebooks"
    return path


def pytest_xdist_make_scheduler(config, log):
    # xdist's own --dist loadgroup would do this with markers, but it stopped grouping under
    # pytest 9.2 (pytest-dev/pytest-xdist#1386); a scheduler that names the work units does not
    # depend on that.
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return _group(nodeid.split("::", 1)[0])

    return ByGroup(config, log)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)

    def order(item):
        group = _group(item.nodeid.split("::", 1)[0])  # the path as the scheduler sees it
        rank = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
        return rank, item.path.name in AFTER_NOTEBOOKS  # those tests after the notebooks they read

    items.sort(key=order)  # stable: each notebook's cells stay together and in order


def pytest_configure(config):
    # ipykernel forwards file descriptor 2 (where TensorFlow's C++ code logs) into the notebook,
    # as JupyterLab shows it, unless it sees PYTEST_CURRENT_TEST; nbval's kernels get an
    # environment without that variable. (tests/notebooks/test_conftest_cell_checks.py checks this still works.)
    import nbval.kernel

    start_new_kernel = nbval.kernel.start_new_kernel

    def start_kernel_as_jupyterlab_does(*args, **kwargs):
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        return start_new_kernel(*args, env=env, **kwargs)

    nbval.kernel.start_new_kernel = start_kernel_as_jupyterlab_does


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # a cell that raised stops here, and is not recorded
    if _is_notebook_cell(item):
        outputs = list(item.test_outputs or [])
        _NOTEBOOK_RUNS.setdefault(item.path.name, {})[item.cell_num] = outputs
        stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
        if stderr:
            item.raise_cell_error(
                "Cell wrote to standard error (a learner sees it in pink)", stderr
            )
    return result


def pytest_generate_tests(metafunc):
    """A test taking `notebook_path` runs once per course notebook, in teaching order: the one
    list of notebooks is cnnlib.runtime.course.NOTEBOOKS."""
    if "notebook_path" in metafunc.fixturenames:
        from cnnlib.runtime.course import notebook_paths

        paths = notebook_paths(pathlib.Path(__file__).parent / "notebooks")
        metafunc.parametrize("notebook_path", paths, ids=[path.stem for path in paths])


@pytest.fixture(scope="session")
def notebook_runs():
    """Outputs of the notebooks nbval ran in this worker so far: {name: {code cell number: outputs}}."""
    return _NOTEBOOK_RUNS


@pytest.fixture(autouse=True)
def _network_state_is_per_test():
    """cnnlib remembers a failed download for the session; each test starts without that memory."""
    from cnnlib.runtime import network

    network.forget_failure()
    yield
    network.forget_failure()
