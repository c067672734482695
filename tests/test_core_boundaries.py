"""The rule of the house, checked on every import the code can make, lazy ones included: the non-UI core
never imports textual (it runs without a terminal), screens never import the simulators, widgets never import
a screen. The contracts are in pyproject.toml (`[tool.importlinter]`); import-linter reads the source, so an
import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_layers_keep_their_import_contracts() -> None:
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def test_a_lazy_import_of_textual_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts see what a runtime check of sys.modules misses: an import inside a function."""
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text("def later():\n    import textual.app  # noqa: F401\n")
    (tmp_path / "contracts.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["probe"]\ninclude_external_packages = true\n\n'
        '[[tool.importlinter.contracts]]\nname = "core"\ntype = "forbidden"\n'
        'source_modules = ["probe.core"]\nforbidden_modules = ["textual"]\n')
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", "contracts.toml"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0 and "probe.core is not allowed to import textual" in result.stdout, result.stdout
