"""The rule of the house: the non-UI core never imports textual, so it runs without a terminal."""

from __future__ import annotations

import subprocess
import sys

CORE = ["tui.models", "tui.config", "tui.inventory", "tui.vendors", "tui.vendors.base", "tui.vendors.sepm",
        "tui.vendors.epmm", "tui.vendors.elements", "tui.simulators", "tui.simulators.sepm",
        "tui.simulators.epmm", "tui.simulators.elements", "tui.simulators.faults", "tui.simulators.serve",
        "tui.demo", "tui.cli", "tui.clipboard", "tui.export", "tui.state", "tui.hashes", "tui.timeline",
        "tui.request_log"]


def test_core_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
