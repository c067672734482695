"""End to end in tmux: `epx --demo` opens a console from its snapshot of 3 h ago, then C lists what changed since
and V (All fleets) which consoles see each machine (the tmux harness is tests/test_e2e_tmux.py's)."""

from __future__ import annotations

import re

import pytest
from test_e2e_tmux import Terminal, pytestmark, terminal  # noqa: F401  (the harness's fixture and marks)

LOADED = re.compile(r"^\s*SEPM [\d.]+ · 500 devices · ", re.MULTILINE)
CHANGES = re.compile(r"Since \d{4}-\d\d-\d\d \d\d:\d\d \(3h ago\): (\d+) of (\d+) changes")
MACHINES = re.compile(r"(\d+) of (\d+) machines \(seen by one console only\)")


def test_changes_and_coverage_journey(request: pytest.FixtureRequest) -> None:
    term: Terminal = request.getfixturevalue("terminal")(80, 24)
    term.wait_until(lambda s: "demo-sepm" in s and "Connections" in s, "the connections screen")
    term.key("Enter")
    term.wait_for(LOADED)

    term.type("C")
    screen = term.wait_for(CHANGES)
    shown, total = map(int, CHANGES.search(screen).groups())  # type: ignore[union-attr]
    assert shown == total > 0 and "became critical" in screen, screen
    term.type("c")
    screen = term.wait_until(lambda s: (m := CHANGES.search(s)) is not None and int(m.group(1)) < total,
                             "only the changes of critical devices")
    assert "· critical" in screen
    term.type("q")
    term.wait_for(LOADED)
    term.type("q")

    term.wait_until(lambda s: "Connections" in s, "back on the connections screen")
    term.type("f")
    term.wait_until(lambda s: "demo-elements 500 devices" in s, "All fleets loaded")
    term.type("V")
    term.type("1")
    screen = term.wait_for(MACHINES)
    alone, machines = map(int, MACHINES.search(screen).groups())  # type: ignore[union-attr]
    assert 0 < alone < machines, screen
