"""Every command the README and the docs tell a person to run exists and answers `--help`."""

import contextlib
import importlib
import io
import pathlib
import re
import sys

import pytest

from cnnlib import __main__ as cli
from cnnlib.tools import docs

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


# --------------------------------------------------------------------------- paths and names
MARKDOWN = docs.markdown_files(ROOT)  # not the virtual environments (.venv, .venv-3.10)
TOP_LEVEL = {path.name for path in ROOT.iterdir() if not path.name.startswith(".")} | {".ci"}
BACKTICKED = re.compile(r"`([^`\n]+)`")
# A path in the repository as prose or a docstring writes it: a top-level folder, then more.
REPOSITORY_PATH = re.compile(
    r"(?<![\w/.-])((?:cnnlib|tests|benchmarks|notebooks|docs|data|results|website|binder)"
    r"/[\w./-]*\w/?)"
)
PLACEHOLDER = re.compile(r"NN|0N|exNN|<|\*|…")


def _ignored_by_git(relative):
    """True for a path .gitignore covers (my_results/, checkpoints/, build/, START_HERE.ipynb):
    the docs may name those although no checkout holds them."""
    import subprocess

    done = subprocess.run(["git", "check-ignore", "-q", relative], cwd=ROOT)
    return done.returncode == 0


def missing_paths(text):
    """Repository paths named in `text` (backticked, or in the REPOSITORY_PATH form) that exist
    neither in the repository nor in what git ignores."""
    candidates = set(REPOSITORY_PATH.findall(text))
    for token in BACKTICKED.findall(text):
        token = token.strip().split("::")[0]
        first = token.split("/")[0]
        if " " not in token and (first in TOP_LEVEL and ("/" in token or "." in token)):
            candidates.add(token)
    return sorted(
        path
        for path in candidates
        if not PLACEHOLDER.search(path)
        and not (ROOT / path.rstrip("/")).exists()
        and not _ignored_by_git(path.rstrip("/"))
    )


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_path_in_the_docs_exists(path):
    missing = missing_paths(path.read_text(encoding="utf-8"))
    assert not missing, f"{path.relative_to(ROOT)} names files that are not there: {missing}"


PYTHON = sorted(
    path
    for folder in ("cnnlib", "tests", "benchmarks")
    for path in (ROOT / folder).rglob("*.py")
    if path.name != "test_docs_commands.py"  # its own examples of wrong paths
)


def prose_of(path):
    """The docstrings and comments of a Python file: where it tells people about other files."""
    import ast
    import io
    import tokenize

    source = path.read_text(encoding="utf-8")
    nodes = [ast.parse(source), *ast.walk(ast.parse(source))]
    texts = [
        ast.get_docstring(node) or ""
        for node in nodes
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    texts += [token.string for token in tokens if token.type == tokenize.COMMENT]
    return "\n".join(texts)


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_path_in_docstrings_and_comments_exists(path):
    missing = missing_paths(prose_of(path))
    assert not missing, f"{path.relative_to(ROOT)} names files that are not there: {missing}"


def test_the_path_check_notices_a_moved_file():
    assert missing_paths("see `tests/test_data_manifest.py` and cnnlib/tools/nowhere.py") == [
        "cnnlib/tools/nowhere.py",
        "tests/test_data_manifest.py",
    ]
    assert not missing_paths(
        "`tests/unit/test_data_manifest.py`, `my_results/`, `notebooks/NN_x.ipynb`"
    )


CNNLIB_NAME = re.compile(r"`(cnnlib(?:\.\w+)+)`")


def resolves(dotted):
    """True when `cnnlib.a.b.c` is a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(value, name):
                return False
            value = getattr(value, name)
        return True
    return False


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cnnlib_name_in_the_docs_exists(path):
    names = sorted(set(CNNLIB_NAME.findall(path.read_text(encoding="utf-8"))))
    unknown = [name for name in names if not resolves(name)]
    assert not unknown, f"{path.relative_to(ROOT)} names what cnnlib does not have: {unknown}"


def test_the_name_check_notices_a_renamed_function():
    assert resolves("cnnlib.runtime.env.flag") and resolves("cnnlib.tools.lab")
    assert not resolves("cnnlib.runtime.env.flags") and not resolves("cnnlib.nowhere")


# --------------------------------------------------------------------------- every command's help
@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_commands_usage_line_names_the_command(command):
    status, out = run_help("cnnlib", [command])
    assert status == 0
    usage = out.strip().splitlines()[0]
    assert usage.startswith(f"usage: cnn-course {command}"), usage


def test_the_readme_lists_every_command():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    match = re.search(r"subcommand of `cnn-course` \(([^;]+);", text)
    listed = re.findall(r"`([\w-]+)`", match.group(1))
    assert listed == list(cli.COMMANDS), (
        f"README lists {listed}; cnn-course has {list(cli.COMMANDS)}"
    )
