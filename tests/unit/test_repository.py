"""Repository-level rules: notebooks are committed without outputs, and environment.yml matches pyproject."""

import ast
import json
import pathlib
import re
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # not the generated START_HERE


def test_there_are_notebooks_in_teaching_order():
    names = [path.name for path in NOTEBOOKS]
    assert names, "no notebooks found in notebooks/"
    numbers = [int(re.match(r"(\d\d)_", name).group(1)) for name in names]
    assert numbers == list(range(1, len(names) + 1)), (
        f"notebooks are not numbered 01, 02, …: {names}"
    )


def test_the_readme_counts_the_notebooks_there_are():
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    opening = (ROOT / "README.md").read_text(encoding="utf-8")[:600]
    said = re.search(r"\bin (\w+) Jupyter notebooks", opening)
    assert said, "the README's opening no longer says how many notebooks the course has"
    assert said.group(1) == words[len(NOTEBOOKS) - 1], (
        f"the README says {said.group(1)} notebooks; there are {len(NOTEBOOKS)}"
    )


def test_notebook_is_committed_without_outputs(notebook_path):
    notebook = json.loads(notebook_path.read_text())
    dirty = [
        index
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{notebook_path.name} carries outputs in code cells {dirty}; clear them before committing "
        f"(jupyter nbconvert --clear-output --inplace {notebook_path.relative_to(ROOT)})"
    )


def first_lesson_code(notebook):
    """The first code cell after the bootstrap cell (tagged `bootstrap`, which installs the course
    on Colab and Kaggle and does nothing elsewhere: cnnlib/runtime/hosted.py)."""
    return next(
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and "bootstrap" not in cell["metadata"].get("tags", [])
    )


def test_notebook_starts_with_the_setup_call(notebook_path):
    notebook = json.loads(notebook_path.read_text())
    first_code = first_lesson_code(notebook)
    source = "".join(first_code["source"])
    assert f'cnnlib.setup("{notebook_path.stem}"' in source, (
        f'the first code cell of {notebook_path.name} must call cnnlib.setup("{notebook_path.stem}", …)'
    )


def _name(requirement):
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _normalise(requirement):
    return re.sub(r"\s+", "", requirement).lower().replace("_", "-")


def test_environment_yml_installs_what_the_package_metadata_asks_for():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())

    pip_section = next(
        item["pip"] for item in environment["dependencies"] if isinstance(item, dict)
    )
    conda_names = [item for item in environment["dependencies"] if isinstance(item, str)]

    # environment.yml installs the repository itself, with the lab and test extras.
    assert any(
        line.replace(" ", "").startswith("-e.[") and "lab" in line and "test" in line
        for line in pip_section
    ), (
        f"environment.yml's pip section must install the repo with its extras (-e .[lab,test]), got {pip_section}"
    )
    # Every requirement it spells out matches pyproject exactly, and none is missing.
    wanted = project["dependencies"] + [
        req
        for extra in ("lab", "test")
        for req in project["optional-dependencies"][extra]
        if "python_version" not in req
    ]
    listed = [line for line in pip_section if not line.startswith("-e")]
    assert sorted(set(map(_normalise, listed))) == sorted(set(map(_normalise, wanted))), (
        "environment.yml and pyproject.toml disagree:\n"
        f"  only in environment.yml: {sorted(set(map(_normalise, listed)) - set(map(_normalise, wanted)))}\n"
        f"  only in pyproject.toml:  {sorted(set(map(_normalise, wanted)) - set(map(_normalise, listed)))}"
    )
    # The Python that conda installs satisfies requires-python.
    python = next(item for item in conda_names if _name(item) == "python")
    minimum = re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1)
    version = re.search(r"python\s*=+\s*([\d.]+)", python).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split("."))), (
        f"environment.yml asks for {python}, but pyproject requires Python {project['requires-python']}"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = (
        re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
        .group(1)
        .strip()
    )
    assert command in (ROOT / ".ci" / "run").read_text(), (
        ".ci/run must run the README's test command verbatim"
    )


MAX_CODE_LINE = 100  # JupyterLab's default width at a laptop's usual zoom


def test_notebook_code_lines_fit_the_lab(notebook_path):
    notebook = json.loads(notebook_path.read_text())
    long_lines = [
        (index, line)
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > MAX_CODE_LINE
    ]
    assert not long_lines, (
        f"{notebook_path.name}: code lines over {MAX_CODE_LINE} characters: {long_lines[:3]}"
    )


def test_notebook_has_objectives_summary_exercises_and_solutions(notebook_path):
    notebook = json.loads(notebook_path.read_text())
    markdown = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]
    headings = [
        line.strip() for text in markdown for line in text.splitlines() if line.startswith("#")
    ]
    assert any("objectives" in text.lower() for text in markdown[:3]), (
        f"{notebook_path.name}: no learning objectives at the top"
    )
    assert "## What you should now be able to do" in headings, (
        f"{notebook_path.name}: no 'What you should now be able to do'"
    )
    assert headings.index("## Exercises") < headings.index("## Solutions"), (
        f"{notebook_path.name}: Exercises, then Solutions"
    )


def test_the_last_cell_echoes_nothing(notebook_path):
    """A bare expression ending the notebook (a notebook_path, a True) prints an Out[] line nobody asked for."""
    notebook = json.loads(notebook_path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell in code:
        source = "".join(cell["source"])
        if "run.record(" not in source:
            continue
        last = ast.parse(source).body[-1]
        echoes = isinstance(last, ast.Expr) and "run.record(" in ast.get_source_segment(
            source, last
        )
        assert not echoes, (
            f"{notebook_path.name}: write `_ = run.record(...)` so the cell does not echo the results notebook_path"
        )


def test_cnnlib_is_imported_before_keras_and_tensorflow(notebook_path):
    """cnnlib keeps TensorFlow's C++ start-up lines out of the notebook only when it comes first."""
    notebook = json.loads(notebook_path.read_text())
    first = "".join(first_lesson_code(notebook)["source"])
    lines = [line.strip() for line in first.splitlines()]
    cnnlib_at = next(i for i, line in enumerate(lines) if line.startswith("import cnnlib"))
    early = [
        line for line in lines[:cnnlib_at] if re.match(r"(import|from) (keras|tensorflow)\b", line)
    ]
    assert not early, (
        f"{notebook_path.name}: import cnnlib before {early} (see notebooks/.ruff.toml)"
    )
