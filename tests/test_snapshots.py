"""Snapshots at 80x24 and 120x40 of what a user sees first; deterministic (fixed clock, no blinking cursor)."""

from __future__ import annotations

import time

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

import screens.commands
from helpers import FIXED_NOW, SIZES, demo_app, fixed_clock, settle, wait_until
from screens.commands import CommandScreen
from tui.app import ExplorerApp
from tui.demo import build_demo
from tui.simulators.sepm import DEMO_FILES

SIZE = 200
"""Devices per demo console in the read-only snapshots."""


@pytest.mark.parametrize("size", SIZES)
def test_connections_screen(snap_compare, size) -> None:
    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_connection_form_with_validation_errors(snap_compare, size) -> None:
    async def fill_badly(pilot: Pilot) -> None:
        await pilot.press("a")
        form = pilot.app.screen
        form.query_one("#name", Input).value = "prod sepm"
        form.query_one("#url", Input).value = "http://sepm.example.internal:8446"
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=fill_badly)


@pytest.mark.parametrize("size", SIZES)
def test_groups_and_devices(snap_compare, size) -> None:
    async def open_demo(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_demo)


@pytest.mark.parametrize("size", SIZES)
def test_critical_filter_in_a_group(snap_compare, size) -> None:
    async def filter_servers(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("shift+tab", "down", "down", "down", "down", "down", "c")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=filter_servers)


@pytest.mark.parametrize("size", SIZES)
def test_device_detail(snap_compare, size) -> None:
    async def open_detail(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_detail)


@pytest.mark.parametrize("size", SIZES)
def test_no_device_matches(snap_compare, size) -> None:
    async def filter_to_nothing(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("slash", *"no-such-host")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=filter_to_nothing)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("row", [pytest.param(1, id="epmm"), pytest.param(2, id="elements")])
def test_other_vendors_groups_and_devices(snap_compare, size, row) -> None:
    async def open_vendor(pilot: Pilot) -> None:
        await pilot.press(*["down"] * row, "enter")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_vendor)


@pytest.mark.parametrize("size", SIZES)
def test_all_fleets_sorted_by_name_with_online_critical(snap_compare, size) -> None:
    async def open_fleets(pilot: Pilot) -> None:
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("c", "o", "s", "s", "g")  # g: the cursor's device must not depend on arrival order
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_fleets)


@pytest.mark.parametrize("size", SIZES)
def test_copy_menu(snap_compare, size) -> None:
    async def open_copy_menu(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down", "y")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_copy_menu)


@pytest.fixture
def utc_local_time(monkeypatch: pytest.MonkeyPatch):
    """The timeline shows local time too: pin it, so the snapshot is the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("size", SIZES)
def test_event_timeline_of_a_day(snap_compare, size, utc_local_time) -> None:
    async def open_timeline(pilot: Pilot) -> None:
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=open_timeline)


@pytest.mark.parametrize("size", SIZES)
def test_fingerprint_lists_with_a_hash_found(snap_compare, size) -> None:
    async def find_hash(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("F")
        await wait_until(pilot, lambda: len(pilot.app.screen.lists) == 3)
        await pilot.press("h", *DEMO_FILES[0].sha256.lower(), "enter")
        await settle(pilot)

    assert snap_compare(demo_app(SIZE), terminal_size=size, run_before=find_hash)


def writable_demo_app(*, tick_ms: int) -> ExplorerApp:
    """A demo whose SEPM allows changes; its command queue moves `tick_ms` per request."""
    demo = build_demo(300, now=FIXED_NOW, writes=True)
    demo.simulators["demo-sepm"].hash_actions.tick_ms = tick_ms
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)


async def mark_workstations(pilot: Pilot) -> None:
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("slash", *"WS-", "enter", *["space"] * 4, "H")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_scan_form_deleting_matches(snap_compare, size) -> None:
    async def fill(pilot: Pilot) -> None:
        await mark_workstations(pilot)
        await pilot.press(*DEMO_FILES[0].sha256, "tab", "space")
        await settle(pilot)

    assert snap_compare(writable_demo_app(tick_ms=5_000), terminal_size=size, run_before=fill)


@pytest.mark.parametrize("size", SIZES)
def test_a_command_in_progress(snap_compare, size, monkeypatch) -> None:
    monkeypatch.setattr(screens.commands, "POLL_SECONDS", 3600)  # one poll: the frame stays as it is

    async def scan(pilot: Pilot) -> None:
        await mark_workstations(pilot)
        await pilot.press(*DEMO_FILES[0].sha256, "enter", "y")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandScreen) and bool(pilot.app.screen.statuses))
        await settle(pilot)

    assert snap_compare(writable_demo_app(tick_ms=40_000), terminal_size=size, run_before=scan)
