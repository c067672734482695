"""ruff with the rules in pyproject.toml (code that cannot work, unused names, import order) holds for the whole
tree, and mypy, strict, for the core (`[tool.mypy]`): both run with the suite, so the one test command is also
the lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_core() -> None:
    """The files, strictness and cache (under the tree: a run after the first checks only what changed) are
    pyproject.toml's."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
