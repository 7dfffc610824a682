"""A notebook opened alone on a hosted runtime (Colab, Kaggle): its first cell, the one address,
where its runs write, and the commands of the installed package outside a checkout.

The end-to-end rehearsal (a notebook executed alone on an imitated runtime) is
tests/e2e/test_hosted_runtime.py; the dependency bounds are tests/unit/test_dependency_bounds.py.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import cnnlib
from cnnlib import __main__ as cli
from cnnlib.runtime import hosted, locations
from cnnlib.tools import bootstrap, site

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADDRESS, VERSION = hosted.checkout_project(ROOT)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Python without this venv's packages (so without cnnlib): the interpreter the venv was made from
# (on Python 3.10 sys._base_executable still names the venv's own, so look in sys.base_prefix).
_BASE = pathlib.Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
BARE_PYTHON = str(_BASE) if _BASE.is_file() else getattr(sys, "_base_executable", sys.executable)


# ---------------------------------------------------------------------------------------------
# The first cell and the one address
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_first_cell_installs_this_version_from_pyprojects_address(path):
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    wanted = bootstrap.bootstrap_cell(ADDRESS, VERSION)
    assert first.get("id") == hosted.BOOTSTRAP_ID and "".join(first["source"]) == wanted.source, (
        f"{path.name}: the first cell is not the bootstrap cell for {ADDRESS} version {VERSION} "
        "(pyproject.toml); run `cnn-course bootstrap`"
    )
    assert first["metadata"] == {"tags": [hosted.BOOTSTRAP_TAG]}
    assert hosted.install_requirement(ADDRESS, VERSION) in "".join(first["source"])


def test_the_bootstrap_command_finds_every_notebook_in_step(capsys):
    assert cli.main(["bootstrap", "--check"]) == 0
    assert hosted.install_requirement(ADDRESS, VERSION) in capsys.readouterr().out


def test_the_bootstrap_command_puts_a_changed_address_in_the_first_cell_only(tmp_path):
    import nbformat

    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    moved, changed = bootstrap.with_bootstrap(notebook, "https://github.com/else/where", "9.9")
    assert changed and moved.cells[1:] == notebook.cells[1:]
    assert "git+https://github.com/else/where@v9.9" in moved.cells[0].source
    again, changed_again = bootstrap.with_bootstrap(moved, "https://github.com/else/where", "9.9")
    assert not changed_again and again == moved
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    inserted, _ = bootstrap.with_bootstrap(bare, ADDRESS, VERSION)
    assert [cell.cell_type for cell in inserted.cells] == ["code", "markdown"]


def test_the_package_says_the_version_pyproject_gives():
    assert cnnlib.__version__ == VERSION


def test_the_address_is_a_placeholder_until_published_and_no_link_points_at_it():
    assert hosted.is_placeholder("https://github.com/OWNER/cnn-course")
    assert not hosted.is_placeholder("https://github.com/someone/cnn-course")
    assert hosted.file_url("notebooks/solutions/x.py", "https://github.com/OWNER/c", "1") is None
    assert (
        hosted.file_url("notebooks/solutions/05_lenet5_mnist.py", "https://github.com/a/b/", "1.2")
        == "https://github.com/a/b/blob/v1.2/notebooks/solutions/05_lenet5_mnist.py"
    )


def test_the_sites_launch_buttons_take_pyprojects_address(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nversion = "2.0"\n[project.urls]\nRepository = "https://github.com/a/b.git"\n'
    )
    assert site.repository_url(tmp_path) == "https://github.com/a/b"
    assert site.release_tag(tmp_path) == "v2.0"
    expected = None if hosted.is_placeholder(ADDRESS) else ADDRESS.removesuffix(".git")
    assert site.repository_url(ROOT) == expected


def test_no_document_names_another_address_for_the_course():
    """Docs refer to pyproject's address; any course address they do spell out is that one."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "website/index.md"]
    for path in texts:
        text = path.read_text(encoding="utf-8")
        assert "<URL of this repository>" not in text, f"{path.name} has a placeholder URL"
        for found in re.findall(r"https://github\.com/[\w.-]+/cnn-course\b", text):
            assert found == ADDRESS, f"{path.name} names {found}, pyproject.toml {ADDRESS}"


# ---------------------------------------------------------------------------------------------
# What the first cell does where
# ---------------------------------------------------------------------------------------------


def run_first_cell(tmp_path, environment, colab=False, python=BARE_PYTHON):
    """Execute the bootstrap cell's source in `python` (isolated: no cnnlib, no user site)."""
    source = bootstrap.bootstrap_cell(ADDRESS, VERSION).source
    prelude = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    script = tmp_path / "first_cell.py"
    script.write_text((prelude if colab else "") + source)
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "CNNLIB_", "PIP"))}
    kept.pop("PYTHONPATH", None)
    return subprocess.run(
        [python, "-I", str(script)],
        capture_output=True,
        text=True,
        env={**kept, "PIP_NO_INDEX": "1", **environment},
        cwd=tmp_path,
        timeout=120,
    )


def test_the_first_cell_does_nothing_and_prints_nothing_off_a_hosted_runtime(tmp_path):
    result = run_first_cell(tmp_path, {hosted.WHEEL_VARIABLE: str(tmp_path / "no.whl")})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_first_cell_does_nothing_where_the_course_is_installed(tmp_path):
    result = run_first_cell(
        tmp_path,
        {hosted.KAGGLE_VARIABLE: "Interactive", hosted.WHEEL_VARIABLE: str(tmp_path / "no.whl")},
        python=sys.executable,  # this venv: cnnlib is installed here
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "runtime",
    ["Colab", pytest.param("Kaggle", marks=pytest.mark.slow)],  # each case runs pip
)
def test_the_first_cell_installs_on_a_hosted_runtime_and_says_so_when_it_cannot(tmp_path, runtime):
    """The test switch names a wheel that is not there: pip fails, and the cell says so in one
    sentence (a learner on Kaggle without Internet sees the same)."""
    missing = tmp_path / "cnnlib-0.1.0-py3-none-any.whl"
    environment = {hosted.WHEEL_VARIABLE: str(missing)}
    if runtime == "Kaggle":
        environment[hosted.KAGGLE_VARIABLE] = "Batch"
    result = run_first_cell(tmp_path, environment, colab=runtime == "Colab")
    assert result.returncode == 1
    assert str(missing) in result.stderr  # pip was asked for exactly that wheel
    assert result.stderr.strip().endswith(
        "Could not install the course's package: on Kaggle, turn Internet on."
    )


# ---------------------------------------------------------------------------------------------
# Where a run writes, and what set-up says, outside a checkout
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(locations, "course_root", lambda: None)
    monkeypatch.delenv(locations.RESULTS_VARIABLE, raising=False)
    monkeypatch.delenv(hosted.KAGGLE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_on_a_hosted_runtime_runs_write_next_to_the_notebook(outside_a_checkout, monkeypatch):
    monkeypatch.setenv(hosted.KAGGLE_VARIABLE, "Interactive")
    runs = outside_a_checkout / hosted.RUNS_FOLDER
    assert locations.requested_results_dir() == runs / "results"
    assert locations.checkpoint_base() == runs / locations.CHECKPOINT_FOLDER


def test_on_a_hosted_runtime_checkpoints_go_where_set_up_says(outside_a_checkout, monkeypatch):
    from cnnlib.runtime.training import checkpoint_dir

    monkeypatch.setenv(hosted.KAGGLE_VARIABLE, "Interactive")
    folder = checkpoint_dir("05_lenet5_mnist", "lite", "lenet")
    assert folder == locations.checkpoint_base() / "05_lenet5_mnist" / "lite" / "lenet"


def test_elsewhere_outside_a_checkout_runs_write_to_the_users_cache(outside_a_checkout):
    cache = outside_a_checkout / "cache" / "cnnlib"
    assert locations.requested_results_dir() == cache / "results"
    assert locations.checkpoint_base() == cache / locations.CHECKPOINT_FOLDER


def test_set_up_on_a_hosted_runtime_says_where_runs_go_and_how_to_switch_profile(
    outside_a_checkout, monkeypatch, capsys
):
    monkeypatch.setenv(hosted.KAGGLE_VARIABLE, "Interactive")
    run = cnnlib.setup("99_demo")
    out = capsys.readouterr().out
    runs = outside_a_checkout / hosted.RUNS_FOLDER
    assert f"Results go to {runs / 'results'}, checkpoints to {runs / 'checkpoints'}" in out
    assert "Kaggle deletes them with the runtime" in out
    assert "override with %env CNNLIB_PROFILE=ci|lite|full in a cell above" in out
    assert run.results_dir == runs / "results"


def test_the_solutions_are_found_next_to_the_notebook_else_by_their_address(
    outside_a_checkout, monkeypatch
):
    name = "05_lenet5_mnist"
    monkeypatch.setattr(
        hosted, "installed_project", lambda: ("https://github.com/a/cnn-course", "1.0")
    )
    url = "https://github.com/a/cnn-course/blob/v1.0/notebooks/solutions/05_lenet5_mnist.py"
    assert hosted.solutions_location(name) == url
    (outside_a_checkout / "solutions").mkdir()
    (outside_a_checkout / "solutions" / f"{name}.py").write_text("# %% 05.x\n")
    assert hosted.solutions_location(name) == f"solutions/{name}.py, next to this notebook"


# ---------------------------------------------------------------------------------------------
# The installed package's commands outside a checkout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(cli.NEEDS_CHECKOUT))
def test_a_command_that_needs_a_checkout_says_so_in_one_sentence(
    command, outside_a_checkout, capsys
):
    assert cli.main([command]) == 2
    said = capsys.readouterr().err.strip()
    assert said.startswith(f"cnn-course {command} works in a checkout of the course")
    assert said.count(". ") == 0 and "\n" not in said and said.endswith(".")


def test_report_outside_a_checkout_takes_the_folder_it_is_given(outside_a_checkout):
    assert cli.missing_requirement("report", ["--root", "somewhere"]) is None


@pytest.mark.parametrize("command", sorted(cli.NEEDS_EXTRA))
def test_a_command_missing_its_extra_names_it(command, monkeypatch, capsys):
    extra, modules = cli.NEEDS_EXTRA[command]
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util, "find_spec", lambda name: None if name == modules[0] else real(name)
    )
    assert cli.main([command]) == 2
    said = capsys.readouterr().err.strip()
    assert said == (
        f"cnn-course {command} needs the package's {extra!r} extra ({modules[0]} not "
        f"installed): pip install -e '.[{extra}]'."
    )


def test_help_is_always_shown(outside_a_checkout, capsys):
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    assert capsys.readouterr().out.startswith("usage: cnn-course report")


@pytest.mark.parametrize("command", sorted(cli.NEEDS_EXTRA))
def test_every_extra_a_command_names_exists(command):
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert cli.NEEDS_EXTRA[command][0] in extras


def test_a_page_hides_the_first_cell_but_its_download_keeps_it_and_the_banner_stays_under_the_title():
    import nbformat

    title = nbformat.v4.new_markdown_cell("# 99 · Title\nFirst paragraph.")
    code = nbformat.v4.new_code_cell("x = 1")
    code.outputs = [nbformat.v4.new_output("stream", text="⚠⚠⚠ STAND-IN: random weights\n")]
    notebook = nbformat.v4.new_notebook(
        cells=[bootstrap.bootstrap_cell(ADDRESS, VERSION), title, code]
    )
    page = site.page_notebook(notebook, site.notices_for(notebook))
    assert page.cells[0].metadata["tags"] == [hosted.BOOTSTRAP_TAG, "remove-cell"]
    assert page.cells[0].source == notebook.cells[0].source
    assert page.cells[1].source.startswith("# 99 · Title\n")
    assert "course-notice" in page.cells[1].source
