"""The package's layers: each folder of cnnlib imports only from the layers below it.

runtime   how a notebook runs               imports runtime only
data      every download                    imports runtime, data
lessons   what a learner reads (and ops.py) imports runtime, lessons
labs      the exercises and their checks    imports runtime, data, lessons, labs
tools     what a person runs from a shell   imports anything
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "cnnlib"
ALLOWED = {
    "runtime": {"runtime"},
    "data": {"runtime", "data"},
    "lessons": {"runtime", "lessons"},
    "labs": {"runtime", "data", "lessons", "labs"},
    "tools": {"runtime", "data", "lessons", "labs", "tools"},
    # The package's front door: the small public API of set-up and checks.
    "api": {"runtime"},
    "cli": {"tools", "labs", "runtime"},
}


def layer(module):
    """The layer of a dotted module name inside cnnlib (ops.py, the contract module, is a lesson)."""
    parts = module.split(".")[1:]
    if not parts:
        return "api"
    if parts[0] == "ops":
        return "lessons"
    if parts[0] == "__main__":
        return "cli"
    return parts[0]


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "cnnlib":  # `from cnnlib import ops, labs`: each name is a module
                for alias in node.names:
                    yield node.lineno, f"cnnlib.{alias.name}"
            else:
                yield node.lineno, node.module


def module_name(path):
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts)


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_known_layer():
    unknown = {
        m.relative_to(PACKAGE).as_posix() for m in MODULES if layer(module_name(m)) not in ALLOWED
    }
    assert not unknown, f"modules outside the layers {sorted(ALLOWED)}: {sorted(unknown)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_go_down_the_layers(path):
    own = layer(module_name(path))
    wrong = [
        f"line {line}: {name} (layer {layer(name)})"
        for line, name in imported_modules(path)
        if (name == "cnnlib" or name.startswith("cnnlib.")) and layer(name) not in ALLOWED[own]
    ]
    assert not wrong, f"{path.relative_to(PACKAGE)} is in layer {own!r} and imports upward: {wrong}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test above would pass on an empty list: show it catches a lesson importing data."""
    bad = tmp_path / "bad.py"
    bad.write_text("from cnnlib.data import mnist\nfrom cnnlib import ops\n")
    names = [name for _, name in imported_modules(bad)]
    assert names == ["cnnlib.data", "cnnlib.ops"]
    assert layer("cnnlib.data") not in ALLOWED["lessons"]
    assert layer("cnnlib.ops") in ALLOWED["lessons"]
