"""Snapshots at 80x24 and 120x40 of the response actions (issue 18): the menu, the danger confirmation with
the typed count, and the results followed to the end; deterministic (fixed clock, seeded fleets, no waits)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from helpers import FIXED_NOW, SIZES, fixed_clock, settle
from screens.respond import ResponseResultsScreen
from tui.app import ExplorerApp
from tui.demo import build_demo


@pytest.fixture(autouse=True)
def actions_log(tmp_path, monkeypatch):
    monkeypatch.setenv("EPX_ACTIONS_LOG", str(tmp_path / "actions.jsonl"))


def writable_demo() -> ExplorerApp:
    demo = build_demo(200, now=FIXED_NOW, writes=True)
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)


async def no_wait(_: float) -> None:
    return None


async def mark_two_critical(pilot: Pilot) -> None:
    """Elements, critical only, the first two devices marked, then `x`."""
    await pilot.press("down", "down", "enter")
    await settle(pilot)
    pilot.app.screen.clients["demo-elements"].sleep = no_wait
    pilot.app.screen.pane.table.focus()
    await pilot.press("c", "down", "space", "space", "x")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_the_actions_elements_offers(snap_compare, size) -> None:
    assert snap_compare(writable_demo(), terminal_size=size, run_before=mark_two_critical)


@pytest.mark.parametrize("size", SIZES)
def test_isolation_asks_for_the_device_count(snap_compare, size) -> None:
    async def confirm(pilot: Pilot) -> None:
        await mark_two_critical(pilot)
        await pilot.press("enter", *"Call the service desk on 555-0100", "enter")
        await settle(pilot)

    assert snap_compare(writable_demo(), terminal_size=size, run_before=confirm)


@pytest.mark.parametrize("size", SIZES)
def test_isolation_results_followed_to_the_end(snap_compare, size) -> None:
    async def isolate(pilot: Pilot) -> None:
        await mark_two_critical(pilot)
        await pilot.press("enter", *"Call the service desk", "enter", "2", "enter", "y")
        for _ in range(200):
            await pilot.pause(0.05)
            screen = pilot.app.screen
            if isinstance(screen, ResponseResultsScreen) and screen.done:
                break
        await settle(pilot)

    assert snap_compare(writable_demo(), terminal_size=size, run_before=isolate)
