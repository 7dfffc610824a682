"""Every command the README and the docs tell a person to run exists and answers `--help`."""

import contextlib
import importlib
import io
import pathlib
import re
import sys

import pytest

from cnnlib import __main__ as cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "INSTRUCTORS.md")] + sorted(
    (ROOT / "docs").glob("*.md")
)
# `cnn-course cache pack FILE`: the command is the words before the first argument.
WORDS = r"((?: [a-z][a-z-]*(?![\w.-]))*)"
COMMAND = re.compile(r"\bcnn-course" + WORDS)
MODULE = re.compile(r"python -m (cnnlib[\w.]*)" + WORDS)


def documented_commands():
    found = set()
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in COMMAND.finditer(text):
            found.add(("cnnlib", tuple(match.group(1).split())))
        for match in MODULE.finditer(text):
            found.add((match.group(1), tuple(match.group(2).split())))
    return sorted(found)


def run_help(module, words):
    """Exit status and output of `python -m MODULE WORDS --help`, run in this process."""
    if module == "cnnlib":
        main = cli.main
    else:  # a package runs its __main__ module
        imported = importlib.import_module(module)
        main = getattr(imported, "main", None) or importlib.import_module(f"{module}.__main__").main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main([*words, "--help"])
        except SystemExit as stop:
            status = stop.code
    return status or 0, out.getvalue()


def test_the_docs_name_commands():
    commands = documented_commands()
    assert ("cnnlib", ("lab",)) in commands and ("cnnlib", ("cache", "pack")) in commands


@pytest.mark.parametrize(
    "module, words", documented_commands(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_documented_command_answers_help(module, words):
    status, out = run_help(module, list(words))
    assert status == 0, f"`python -m {module} {' '.join(words)} --help` failed:\n{out}"
    assert "usage" in out.lower()


def test_an_unknown_command_is_one_sentence():
    status, out = run_help("cnnlib", ["nonsense"])
    assert status == 2 and "no command 'nonsense'" in out and "Traceback" not in out


def test_the_console_script_is_declared():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"cnn-course": "cnnlib.__main__:main"}


def test_the_docs_use_the_one_command():
    """People are told `cnn-course …`, not the modules behind it."""
    old = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in DOCUMENTS
        for match in re.finditer(r"python -m cnnlib\.tools\.\w+", path.read_text(encoding="utf-8"))
    ]
    assert not old, f"say `cnn-course …` instead: {old}"
