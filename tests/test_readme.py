"""CI runs what the README tells a newcomer to run: the two must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.MULTILINE)
    assert command is not None
    readme_blocks = re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert command.group(1) in readme_blocks
    assert "pytest" in command.group(1)


def test_readme_starts_with_the_demo_command() -> None:
    first_block = re.search(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert first_block is not None and first_block.group(1).endswith("epx --demo")
