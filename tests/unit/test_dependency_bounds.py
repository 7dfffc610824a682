"""The course's dependency bounds keep what a hosted runtime has (issue 26).

The notebooks' first cell installs the course on Colab and Kaggle. If a bound excluded a version a
runtime holds, or let pip pull a release that needs a newer NumPy, that quiet install would
upgrade (or downgrade) the runtime's TensorFlow, NumPy, pandas... For each runtime listed in
tests/fixtures/*-packages.txt, pip's own resolver is asked, in a dry run, what installing the
course's requirements would do on a Python holding exactly those packages (tests/hosted_runtime.py
imitates it); nothing the runtime holds may change. A fixture may name changes it expects, with the
reason, on `# expected change: NAME: why` lines: they are reported, and any other change fails.

When every requirement is met by the runtime, pip needs no package index; when the runtime lacks
one (Kaggle has no mlxtend), pip reads the index for it, and the test skips, saying so, without one.
"""

import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import hosted_runtime  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.requirements import Requirement  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIXTURES = sorted(hosted_runtime.FIXTURES.glob("*-packages.txt"))
EXPECTED = re.compile(r"^# expected change: ([\w.-]+): (.+)$", re.M)


def requirements_file(folder):
    path = pathlib.Path(folder) / "requirements.txt"
    path.write_text("\n".join(PROJECT["dependencies"]) + "\n")
    return path


@pytest.mark.slow  # a venv and pip's resolver per runtime (the numpy case below stays fast)
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.name.split("-")[0])
def test_installing_the_course_changes_nothing_a_hosted_runtime_holds(fixture, tmp_path):
    python_version, packages = hosted_runtime.read_fixture(fixture)
    python = hosted_runtime.find_python(python_version)
    if python is None:
        pytest.skip(
            f"Python {python_version} (the runtime's, {fixture.name}) is not installed here"
        )
    runtime = hosted_runtime.imitation_runtime(tmp_path / "runtime", python, packages)
    requirements = ["-r", str(requirements_file(tmp_path))]
    report = tmp_path / "report.json"
    lacking = [
        Requirement(text).name
        for text in PROJECT["dependencies"]
        if hosted_runtime.canonical(Requirement(text).name) not in packages
    ]
    try:
        planned = hosted_runtime.planned_install(runtime, requirements, report, index=bool(lacking))
    except RuntimeError as error:
        if lacking and re.search(r"connection|resolve host|network|ProxyError", str(error), re.I):
            pytest.skip(f"the runtime lacks {lacking}, and no package index answers: {error}")
        raise AssertionError(
            f"pip cannot install the course on the {fixture.name} runtime:\n{error}"
        ) from None
    expected = dict(EXPECTED.findall(fixture.read_text()))
    changed = {
        name: f"{packages[name]} → {version}"
        for name, version in planned.items()
        if name in packages and name not in expected
    }
    assert not changed, (
        f"installing the course on the runtime of {fixture.name} would change {changed}: widen "
        "the bounds in pyproject.toml (or bound a package the runtime lacks, see mlxtend)"
    )
    stale = {name for name in expected if name not in planned}
    assert not stale, f"{fixture.name} expects changes pip no longer makes: {sorted(stale)}"


def test_every_dependency_has_an_upper_bound():
    """A runtime without a package gets its newest release unless a bound stops it; a new major
    release of one of them would change what the notebooks show."""
    unbounded = [
        text
        for text in PROJECT["dependencies"]
        if not any(spec.operator in ("<", "<=", "==", "~=") for spec in Requirement(text).specifier)
    ]
    assert not unbounded, f"dependencies without an upper bound: {unbounded}"


def test_fixtures_are_readable_and_name_a_python():
    for fixture in FIXTURES:
        python_version, packages = hosted_runtime.read_fixture(fixture)
        assert re.fullmatch(r"3\.\d+", python_version) and "tensorflow" in packages
        for name in dict(EXPECTED.findall(fixture.read_text())):
            assert hosted_runtime.canonical(name) in packages, f"{fixture.name}: {name} not listed"


def test_the_check_sees_a_bound_that_would_upgrade_numpy(tmp_path):
    """The check would pass on an empty plan: show that it catches an upgrade, offline."""
    python = hosted_runtime.find_python(f"{sys.version_info.major}.{sys.version_info.minor}")
    runtime = hosted_runtime.imitation_runtime(tmp_path / "runtime", python, {"numpy": "1.26.4"})
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    # A made-up numpy 2.9.9 on a local "index": pip must choose it to meet the requirement.
    fake = wheel_dir / "numpy-2.9.9-py3-none-any.whl"
    _fake_wheel(fake, "numpy", "2.9.9")
    planned = hosted_runtime.planned_install(
        runtime, ["--find-links", str(wheel_dir), "numpy>=2.3.5"], tmp_path / "r.json"
    )
    assert planned == {"numpy": "2.9.9"}


def _fake_wheel(path, name, version):
    import zipfile

    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
