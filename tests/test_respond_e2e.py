"""End to end (issue 18): the installed `epx --demo --demo-writes` in tmux: the critical filter, two devices
marked, isolated with a message and the device count typed, the results followed to the end, then released;
both actions in the actions log."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from test_e2e_tmux import ELEMENTS_LOADED, Terminal, pytestmark, terminal  # noqa: F401  (the fixture)

FINAL = "Every device is final"
FOLLOW_TIMEOUT = 90.0
"""An offline device stays pending for the twelve rounds Elements is followed (a minute), then is final."""


@pytest.mark.parametrize("width,height", [(80, 24)], ids=["80x24"])
def test_isolate_then_release_two_critical_devices(terminal: Callable[..., Terminal], width: int, height: int,  # noqa: F811
                                                   tmp_path) -> None:
    log = tmp_path / "actions.jsonl"
    term = terminal(width, height, "--demo-writes", EPX_ACTIONS_LOG=str(log))
    term.wait_until(lambda s: "demo-elements" in s and "Connections" in s, "the connections screen")
    term.key("Down")
    term.key("Down")
    term.key("Enter")
    term.wait_for(ELEMENTS_LOADED)

    # c: critical only; /DESKTOP: Windows desktops among them; space twice: two marked.
    term.type("c")
    term.wait_for(re.compile(r"\d+ critical of 500"))
    term.type("/DESKTOP")
    term.key("Enter")
    term.type("  ")
    term.wait_for("2 marked")

    # x: the actions Elements offers; enter: isolate; the message; the count typed; y.
    term.type("x")
    screen = term.wait_for("Respond on demo-elements")
    assert "Isolate from the network" in screen and "Quarantine" not in screen, screen
    term.key("Enter")
    term.wait_for("the message the device's user will see")
    term.type("Call IT")
    term.key("Enter")
    screen = term.wait_for("type 2 and enter")
    assert "Isolate from the network on 2 devices through WithSecure Elements" in screen, screen
    assert "The device's user will see: Call IT" in screen, screen
    term.type("2")
    term.key("Enter")
    term.wait_for("Press y to send")
    term.type("y")
    term.wait_for("Isolate from the network on demo-elements: 2 devices")
    screen = term.wait_for(FINAL, timeout=FOLLOW_TIMEOUT)
    assert "2 accepted" in screen and ("isolated" in screen or "pending" in screen), screen

    # esc: the table, marks kept; x, down, enter: release, a plain danger confirmation; y.
    term.key("Escape")
    term.wait_for("2 marked")
    term.type("x")
    term.wait_for("Respond on demo-elements")
    term.key("Down")
    term.key("Enter")
    term.wait_for("Release from network isolation on demo-elements?")
    term.type("y")
    term.wait_for("Release from network isolation on demo-elements: 2 devices")
    term.wait_for(FINAL, timeout=FOLLOW_TIMEOUT)
    term.key("Escape")
    term.type("q")
    term.wait_for("Demo: simulated consoles")
    term.key("C-q")
    assert term.wait_exit() == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["action"] for entry in entries] == ["isolate", "release"]
    assert all(len(entry["results"]) == 2 for entry in entries)
