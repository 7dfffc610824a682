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
# Measured on 2 cores: each of these takes three to four minutes; everything else under a minute.
LONGEST_FIRST = ("tests/e2e/test_rehearsal.py", "tests/e2e/test_browser.py", "notebooks")
# Executing notebooks, a browser or the rehearsal takes minutes: `pytest -m "not slow"` leaves them
# out (the contributor's loop); the README's test command runs everything.
SLOW_FOLDERS = ("notebooks/", "tests/notebooks/", "tests/e2e/")
# Tests elsewhere that train a network for real or start several processes that each import
# TensorFlow: tens of seconds to minutes each on 2 cores, so the fast loop leaves them out. One small
# test of each kind stays in it (test_distributed's worker that never joins, for several
# processes; test_ex05's small CNN beating the MLP and mixed precision's MLP step, for training).
# Names are node-id prefixes, so every parametrisation of a test is included.
SLOW_TESTS = (
    "tests/unit/test_distributed.py::test_two_replicas_train_both_phases_in_sync",
    "tests/unit/test_distributed.py::test_two_workers_train_and_only_the_chief_writes",
    "tests/unit/test_distributed.py::test_a_worker_that_never_joins_ends_the_wait_with_one_sentence[unresolvable",
    "tests/unit/test_distributed.py::test_sigterm_ends_a_waiting_worker",
    "tests/unit/test_mixed_precision.py::test_one_mixed_precision_step[vgg16_transfer]",
    "tests/unit/test_mixed_precision.py::test_one_mixed_precision_step[lenet5_classic]",
    "tests/unit/test_mixed_precision.py::test_one_mixed_precision_step[lenet_modern]",
    "tests/unit/test_bad_input_and_offline.py::test_7_with_the_seed_fixed_two_runs_give_the_same_metrics",
    "tests/unit/test_features.py::test_compare_phase1_times_both_ways",
    "tests/unit/test_architectures.py::test_weight_depth_of_keras_applications[DenseNet121",
    "tests/unit/test_architectures.py::test_weight_depth_of_keras_applications[ResNet50",
    "tests/labs/test_ex05.py::test_learning_rate_reads_the_measurement_from_real_trainings",
    "tests/labs/test_ex05.py::test_learning_rate_trainings_that_are_not_the_experiment",
    "tests/labs/test_ex05.py::test_small_cnn_built_model_and_builder_get_the_same_verdict",
    "tests/labs/test_ex05.py::test_small_cnn_that_loses_fails_but_a_rehearsal_only_reports_it",
    "tests/labs/test_ex05.py::test_small_cnn_softmax_layer_and_nested_models_pass",
    # Resumable training: test_an_interrupted_fit_resumes_at_the_right_epoch, the simulated full
    # disk and one change of setup (the learning rate) stay; the other variations train again.
    "tests/unit/test_training_resume.py::test_a_backup_remembers_every_argument_of_fit",
    "tests/unit/test_training_resume.py::test_a_kill_next_to_the_backup_loses_no_epoch",
    "tests/unit/test_training_resume.py::test_a_second_process_on_the_same_folder_trains",
    "tests/unit/test_training_resume.py::test_rerunning_after_an_interrupt_in_the_first_epoch",
    "tests/unit/test_bad_input_and_offline.py::test_1_any_other_change_of_setup_starts_from_scratch",
    "tests/unit/test_bad_input_and_offline.py::test_1_the_same_setup_rebuilt_in_the_same_kernel",
    "tests/unit/test_bad_input_and_offline.py::test_1_a_corrupt_backup_starts_from_scratch",
    # The deepest Keras builds (ResNet50 stays), and phase 2 of transfer learning (phase 1 stays).
    "tests/unit/test_resnet_parameter_count.py::test_resnet_parameters_match_keras[ResNet101",
    "tests/unit/test_resnet_parameter_count.py::test_resnet_parameters_match_keras[ResNet152",
    "tests/unit/test_transfer.py::test_phase_2_changes_only_the_last_block_and_the_head",
)

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
        if item.nodeid.startswith(SLOW_FOLDERS) or item.nodeid.startswith(SLOW_TESTS):
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
