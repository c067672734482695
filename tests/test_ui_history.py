"""Snapshots in the UI: a connection opens from its latest snapshot (labelled with its age, STALE when the console
cannot be reached), every complete load is kept, the changes view (C) and the coverage view (V); Pilot tests
and snapshots at 80x24 and 120x40."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from helpers import FIXED_NOW, SIZES, fixed_clock, settle
from screens.changes import ChangesScreen
from screens.coverage import CoverageScreen
from screens.device_detail import DeviceDetailScreen
from screens.groups import GroupsScreen
from tui.app import ExplorerApp
from tui.demo import build_demo
from tui.snapshots import SnapshotStore
from widgets.path_prompt import PathPrompt
from widgets.status_line import StatusLine
from widgets.window_prompt import WindowPrompt

SIZE = 200


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


class Gate(httpx.AsyncBaseTransport):
    """A demo console that answers only once the test opens the gate."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.open = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.open.wait()
        return await self.inner.handle_async_request(request)


def history_app(*, sepm: httpx.AsyncBaseTransport | None = None) -> ExplorerApp:
    """The demo with its past (a snapshot of each console 3 h before FIXED_NOW) and, optionally, another
    transport for demo-sepm."""
    demo = build_demo(SIZE, now=FIXED_NOW, history=True)
    if sepm is not None:
        demo.transports["demo-sepm"] = sepm
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state,
                       snapshots=demo.snapshots)


def status(app: ExplorerApp) -> str:
    return str(app.screen.query_one("#status", StatusLine).render())


async def wait_for(pilot: Pilot, condition, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}; status: {status(pilot.app)}")


async def test_a_connection_opens_from_its_snapshot_at_once_and_the_live_load_swaps_in() -> None:
    demo = build_demo(SIZE, now=FIXED_NOW)
    gate = Gate(demo.transports["demo-sepm"])
    app = history_app(sepm=gate)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        await wait_for(pilot, lambda: len(screen.inventory) > 0, "the snapshot's devices shown")
        past = len(screen.inventory)
        assert past != SIZE  # the past fleet: some not yet enrolled, some since retired
        assert "from 09:00 UTC, 3h ago · refreshing" in status(app)
        gate.open.set()
        await wait_for(pilot, lambda: screen.fleet.consoles and not screen.loading, "the live load done")
        assert len(screen.inventory) == SIZE and "refreshing" not in status(app)
        await wait_for(pilot, lambda: len(app.session.snapshots.listing("demo-sepm")) == 2, "the load kept")


async def test_a_console_that_cannot_be_reached_leaves_its_snapshot_shown_and_says_stale() -> None:
    app = history_app(sepm=httpx.MockTransport(unreachable))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        await wait_for(pilot, lambda: screen.fleet.consoles and not screen.loading, "the load failed")
        words = status(app)
        assert words.startswith("STALE: snapshot from 09:00 UTC, 3h ago. The console could not be reached:"), words
        assert words.endswith("ctrl+r retries.") and len(screen.inventory) > 0
        assert app.session.snapshots.listing("demo-sepm")[0].taken_at.hour == 9  # a failed load is not kept


async def test_without_a_snapshot_the_console_loads_live_as_before() -> None:
    demo = build_demo(SIZE, now=FIXED_NOW)
    app = ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        await wait_for(pilot, lambda: screen.fleet.consoles and not screen.loading, "the load done")
        assert len(screen.inventory) == SIZE and not screen.fleet.from_snapshot
        await pilot.press("C")
        await wait_for(pilot, lambda: "No earlier snapshot" in status(app), "nothing to compare with said")


async def test_a_broken_store_is_said_once_and_the_console_loads_live(tmp_path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    path.write_bytes(b"not a database" * 100)
    demo = build_demo(SIZE, now=FIXED_NOW)
    app = ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state,
                      snapshots=SnapshotStore(path))
    said: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.notify = lambda message, **options: said.append(message)  # type: ignore[method-assign]
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        await wait_for(pilot, lambda: screen.fleet.consoles and not screen.loading, "the load done")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen.loading, "the refresh done")
        await pilot.pause(0.2)
    assert len(screen.inventory) == SIZE
    assert [message for message in said if "snapshot store" in message] == [
        f"The snapshot store {path} is damaged (not a readable SQLite database); it was left as it is. "
        "Snapshots are off; devices load live."]


async def open_changes(pilot: Pilot) -> ChangesScreen:
    await pilot.press("enter")
    groups = pilot.app.screen
    assert isinstance(groups, GroupsScreen)
    await wait_for(pilot, lambda: groups.fleet.consoles and not groups.loading, "the live load done")
    await pilot.press("C")
    changes = pilot.app.screen
    assert isinstance(changes, ChangesScreen)
    await wait_for(pilot, lambda: changes.baseline is not None, "the changes computed")
    return changes


async def test_the_changes_view_lists_each_kind_opens_a_device_and_filters() -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        changes = await open_changes(pilot)
        kinds = {change.kind.key for change in changes.changes}
        assert kinds == {"critical", "missing_patch", "appeared", "disappeared", "offline", "moved"}, kinds
        assert status(app).startswith(f"Since {changes.baseline.astimezone():%Y-%m-%d %H:%M} (3h ago): ")
        total = len(changes.shown)
        await pilot.press("c")
        assert 0 < len(changes.shown) < total and all(c.device.health.value == "critical" for c in changes.shown)
        await pilot.press("c", "enter")
        assert isinstance(app.screen, DeviceDetailScreen)
        await pilot.press("escape")
        assert app.screen is changes
        await pilot.press("slash")
        await pilot.press(*"-old")
        assert [c.kind.key for c in changes.shown] == ["disappeared"] * 3


async def test_the_coverage_view_of_all_fleets_lists_machines_and_blind_spots() -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        groups = app.screen
        assert isinstance(groups, GroupsScreen)
        await wait_for(pilot, lambda: groups.fleet.consoles and not groups.loading, "every console loaded")
        await pilot.press("V")
        coverage = app.screen
        assert isinstance(coverage, CoverageScreen)
        await wait_for(pilot, lambda: coverage.machines, "the machines matched")
        total = len(coverage.shown)
        await pilot.press("1")
        assert all(len(machine.seen) == 1 for machine in coverage.shown) and len(coverage.shown) <= total
        await pilot.press("1", "x")
        assert coverage.filter.missing_from == "demo-sepm"
        assert all("demo-sepm" not in machine.seen for machine in coverage.shown)
        assert "missing from demo-sepm" in status(app)
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDetailScreen)


async def test_coverage_needs_more_than_one_console() -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await pilot.press("V")
        assert isinstance(app.screen, GroupsScreen)


# --- snapshots ---------------------------------------------------------------------------------------------


async def settle_table(pilot: Pilot) -> None:
    """The table's rows are set by a worker: wait until they are drawn."""
    await settle(pilot)
    table = pilot.app.screen.query_one(DataTable)
    for _ in range(100):
        if table.row_count:
            break
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_stale_snapshot_shown(snap_compare, size) -> None:
    async def open_unreachable(pilot: Pilot) -> None:
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(history_app(sepm=httpx.MockTransport(unreachable)), terminal_size=size,
                        run_before=open_unreachable)


@pytest.mark.parametrize("size", SIZES)
def test_changes_view(snap_compare, size) -> None:
    async def changes(pilot: Pilot) -> None:
        await open_changes(pilot)
        await settle_table(pilot)

    assert snap_compare(history_app(), terminal_size=size, run_before=changes)


@pytest.mark.parametrize("size", SIZES)
def test_coverage_view(snap_compare, size) -> None:
    async def coverage(pilot: Pilot) -> None:
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("V", "1")
        await settle_table(pilot)

    assert snap_compare(history_app(), terminal_size=size, run_before=coverage)


async def test_the_changes_shown_export_to_csv_and_json(tmp_path) -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        changes = await open_changes(pilot)
        await pilot.press("m", "e")
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one("#path", Input).value = str(tmp_path / "changes.json")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (tmp_path / "changes.json").exists(), "the export written")
        records = json.loads((tmp_path / "changes.json").read_text())
        assert records == [change.to_json() for change in changes.shown] and records
        assert all(change.device.missing_critical_patches is True for change in changes.shown)  # m applied


async def test_w_compares_with_the_snapshot_before_a_chosen_time() -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        changes = await open_changes(pilot)
        await pilot.press("w")
        assert isinstance(app.screen, WindowPrompt)
        app.screen.query_one("#window-start", Input).value = "5h"  # before the demo's past: no snapshot
        await pilot.press("enter", "enter")  # start, then end (empty: now)
        await wait_for(pilot, lambda: changes.baseline is None, "no snapshot that old")
        assert status(app).startswith("No earlier snapshot")
