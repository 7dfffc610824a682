"""Helpers of the hosted-runtime tests: build the course's wheel, find a Python, and ask pip what
installing the wheel would change on a runtime holding a given set of packages.

The runtime is imitated by a venv (no pip of its own, no packages) whose site-packages holds an
installed-package record (`name-version.dist-info/METADATA`) for each line of a fixture: pip's
resolver sees exactly what an installed package shows it, so `pip install --dry-run --report`
answers what the real install would do, in a second and without a gigabyte of TensorFlow.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*$")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def read_fixture(path):
    """(Python version "3.12", {canonical name: version}) from a `*-packages.txt` fixture."""
    python, packages = None, {}
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("# python:"):
            python = stripped.split(":", 1)[1].strip()
        elif stripped and not stripped.startswith("#"):
            match = LINE.match(stripped)
            if not match:
                raise ValueError(
                    f"{path.name}, line {number}: expected name==version, got {line!r}"
                )
            packages[canonical(match.group(1))] = match.group(2)
    if python is None:
        raise ValueError(f"{path.name} has no '# python: X.Y' line")
    return python, packages


def find_python(version):
    """An interpreter of Python `version` ("3.12") on this machine, or None."""
    candidates = sorted(
        pathlib.Path.home().glob(f".pyenv/versions/{version}.*/bin/python3"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)],
    )
    candidates = [str(p) for p in reversed(candidates)]
    candidates += [shutil.which(f"python{version}") or ""]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.insert(0, sys.executable)
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def build_wheel(out_dir):
    """The course's wheel, built from this checkout into `out_dir` (pip, isolated build)."""
    out_dir = pathlib.Path(out_dir)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(ROOT)],
        capture_output=True,
        text=True,
    )
    wheels = sorted(out_dir.glob("cnnlib-*.whl"))
    if built.returncode or not wheels:
        raise RuntimeError(f"building the wheel failed:\n{built.stdout}\n{built.stderr}")
    return wheels[-1]


def imitation_runtime(folder, python, packages):
    """A venv of `python` whose site-packages records `packages` ({name: version}) as installed."""
    folder = pathlib.Path(folder)
    subprocess.run([python, "-m", "venv", "--without-pip", str(folder)], check=True)
    interpreter = folder / "bin" / "python"
    site = subprocess.run(
        [str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, version in packages.items():
        record = pathlib.Path(site) / f"{name.replace('-', '_')}-{version}.dist-info"
        record.mkdir(parents=True)
        (record / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
        (record / "INSTALLER").write_text("pip\n")
        (record / "RECORD").write_text("")
    return interpreter


def planned_install(interpreter, targets, report_path, index=False):
    """What `pip install targets` (a wheel, or a list of pip arguments such as ["-r", file])
    would install into `interpreter`'s environment, from pip's dry run: {canonical name: version},
    or RuntimeError with pip's own words when it cannot resolve.

    Without `index` pip sees no package index: every requirement must already be installed.
    """
    targets = [str(t) for t in (targets if isinstance(targets, (list, tuple)) else [targets])]
    command = [sys.executable, "-m", "pip", "--python", str(interpreter), "install", "--dry-run"]
    command += [] if index else ["--no-index"]
    command += ["--quiet", "--report", str(report_path), *targets]
    result = subprocess.run(command, capture_output=True, text=True, env=_pip_environment())
    if result.returncode:
        raise RuntimeError(result.stderr.strip() or result.stdout.strip())
    report = json.loads(pathlib.Path(report_path).read_text())
    return {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report["install"]
    }


def _pip_environment():
    environment = dict(os.environ)
    environment.pop("PIP_REQUIRE_VIRTUALENV", None)
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environment


# ---------------------------------------------------------------------------------------------
# A real runtime: the packages a hosted runtime preinstalls, taken from the test run's own venv
# ---------------------------------------------------------------------------------------------

# The kernel needs ipykernel, which every hosted runtime has; cnnlib is what the notebook installs.
NOT_LINKED = {"cnnlib"}
KERNEL = {"ipykernel"}


def installed_closure(names):
    """The installed distributions of `names` and everything they require, as {canonical name:
    distribution}; names not installed here are left out (the runtime only has what we have)."""
    import importlib.metadata

    from packaging.requirements import Requirement

    found, pending = {}, [canonical(name) for name in names]
    while pending:
        name = pending.pop()
        if name in found or name in NOT_LINKED:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = distribution
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonical(requirement.name))
    return found


def unmet_requirements(root=ROOT):
    """The course's requirements (pyproject.toml) that this venv's packages do not meet, as
    "name version (wanted specifier)" lines."""
    import importlib.metadata

    from packaging.requirements import Requirement

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    project = tomllib.loads((pathlib.Path(root) / "pyproject.toml").read_text())["project"]
    unmet = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            unmet.append(
                f"{requirement.name} {version or 'missing'} (wanted {requirement.specifier})"
            )
    return unmet


def _place(source, target):
    """Hard-link `source` to `target` (same disk: instant, and a later uninstall in the runtime
    only removes the runtime's link), else copy it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def runtime_from_this_venv(folder, names):
    """A fresh venv (this interpreter's Python, its own pip, no system packages) holding the
    installed distributions of `names` and their requirements, file for file from this venv,
    and nothing else: no cnnlib, no test tooling. Returns its python."""
    folder = pathlib.Path(folder)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = pathlib.Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The venv's own pip (and, before Python 3.12, setuptools) stay as they are.
    own = {canonical(path.name.split("-")[0]) for path in site.glob("*.dist-info")}
    for name, distribution in installed_closure(names).items():
        if name in own:
            continue
        origin = pathlib.Path(distribution.locate_file(""))
        if not distribution.files:
            raise RuntimeError(f"{distribution.metadata['Name']} lists no files (no RECORD)")
        for file in distribution.files:
            source = pathlib.Path(distribution.locate_file(file))
            if ".." in file.parts or not source.is_file():
                continue  # scripts in bin/ and files a package removed after installing
            _place(source, site / source.relative_to(origin))
    return python
