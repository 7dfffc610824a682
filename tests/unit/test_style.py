"""Style is checked like everything else: ruff's lint and format, notebooks included."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _ruff(*args):
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_no_lint_problem():
    result = _ruff("check", "--no-cache", ".")
    assert result.returncode == 0, (
        f"ruff check found problems (fix with `ruff check --fix .`):\n{result.stdout[-3000:]}"
    )


def test_code_is_formatted():
    result = _ruff("format", "--no-cache", "--check", ".")
    assert result.returncode == 0, f"not formatted (run `ruff format .`):\n{result.stdout[-3000:]}"
