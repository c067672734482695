"""Pilot tests of the response actions (issue 18): the menu of what the console offers, the message, the
danger confirmation with the typed device count, the results followed to the end, the actions log, and the
read-only cases (nothing leaves; the key says how to allow it; a 403 is said in words)."""

from __future__ import annotations

import json

import pytest

from helpers import FIXED_NOW, fixed_clock, loaded, notifications, wait_until
from screens.device_detail import DeviceDetailScreen
from screens.respond import ResponseResultsScreen
from tui.app import ExplorerApp
from tui.demo import build_demo
from widgets.confirm import ConfirmDialog
from widgets.respond_dialogs import ChoiceMenu, TextPrompt, TypedConfirmDialog

SIZE = 200
ROWS = {"demo-sepm": (), "demo-epmm": ("down",), "demo-elements": ("down", "down")}


@pytest.fixture(autouse=True)
def actions_log(tmp_path, monkeypatch):
    path = tmp_path / "actions.jsonl"
    monkeypatch.setenv("EPX_ACTIONS_LOG", str(path))
    return path


def demo(*, writes: bool = True):
    built = build_demo(SIZE, now=FIXED_NOW, writes=writes)
    return ExplorerApp(built.config, transports=built.transports, clock=fixed_clock, state=built.state), built


async def no_wait(_: float) -> None:
    return None


async def open_console(pilot, app: ExplorerApp, name: str) -> None:
    await pilot.press(*ROWS[name], "enter")
    await wait_until(pilot, loaded(app, SIZE))
    await pilot.pause()
    app.screen.clients[name].sleep = no_wait  # following polls without waiting
    app.screen.pane.table.focus()


async def test_isolate_two_marked_devices_confirmed_with_their_count_then_followed(actions_log) -> None:
    app, built = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_console(pilot, app, "demo-elements")
        await pilot.press("c", "space", "space")
        marked = app.screen.pane.marked_devices()
        assert len(marked) == 2 and app.screen.check_action("respond", ())
        assert "Respond" in {command.title for command in app.get_system_commands(app.screen)}
        await pilot.press("x")
        menu = app.screen
        assert isinstance(menu, ChoiceMenu)
        assert [key for key, _ in menu.choices] == ["isolate", "release", "scan", "message"]
        await pilot.press("enter")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"Call 555-0100", "enter")
        dialog = app.screen
        assert isinstance(dialog, TypedConfirmDialog)
        assert "WithSecure Elements demo-elements" in dialog.message and "Call 555-0100" in dialog.message
        assert all(device.name in dialog.message for device in marked)
        await pilot.press("y")
        assert app.screen is dialog  # not armed before the count is typed
        await pilot.press("3", "enter", "2", "enter", "y")
        await wait_until(pilot, lambda: isinstance(app.screen, ResponseResultsScreen))
        results = app.screen
        await wait_until(pilot, lambda: results.done)
        assert [result.device_id for result in results.results] == [device.id for device in marked]
        assert all(result.final and (result.reason or result.progress) for result in results.results)
        simulator = built.simulators["demo-elements"]
        assert {operation["parameters"]["message"] for operation in simulator.operations} <= {"Call 555-0100"}
        (entry,) = [json.loads(line) for line in actions_log.read_text().splitlines()]
        assert entry["action"] == "isolate" and entry["connection"] == "demo-elements"
        assert len(entry["results"]) == 2
        isolated = {result.device_id for result in results.results if result.succeeded}
        assert isolated
        await pilot.press("escape")  # back to the table, which reloads: the devices show their new state
        groups = app.screen
        await wait_until(pilot, lambda: not groups.loading and {device.id for device in groups.inventory.devices
                                                                if device.state == "isolated"} >= isolated)
        assert len(groups.pane.marked_devices()) == 2 and groups.pane.filter.critical


async def test_a_console_lists_only_its_actions_and_scans_need_no_typed_count() -> None:
    app, built = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_console(pilot, app, "demo-sepm")
        await pilot.press("x")
        assert [key for key, _ in app.screen.choices] == ["quarantine", "unquarantine", "scan", "fullscan", "update"]
        await pilot.press("down", "down", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger and "Scan for malware on 1 device" in dialog.message
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ResponseResultsScreen))
        await wait_until(pilot, lambda: app.screen.done)
        assert app.screen.results[0].succeeded is not None
        await pilot.press("escape", "q", "down", "enter")
        await wait_until(pilot, loaded(app, SIZE))
        app.screen.pane.table.focus()
        await pilot.press("x")
        assert [key for key, _ in app.screen.choices] == ["message"]


async def test_read_only_hides_the_key_says_how_to_allow_it_and_sends_nothing(actions_log) -> None:
    app, built = demo(writes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_console(pilot, app, "demo-elements")
        assert not app.screen.check_action("respond", ())
        assert "Respond" not in {command.title for command in app.get_system_commands(app.screen)}
        await pilot.press("x")
        assert not isinstance(app.screen, ChoiceMenu)
        assert any("--demo-writes" in text for text in notifications(app))
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDetailScreen) and not app.screen.check_action("respond", ())
        await pilot.press("x")
        assert sum("--demo-writes" in text for text in notifications(app)) == 2
        assert built.simulators["demo-elements"].operations == [] and not actions_log.exists()


async def test_a_read_only_api_client_is_told_to_create_a_read_write_one(actions_log) -> None:
    app, built = demo()
    built.simulators["demo-elements"].read_only_client = True
    async with app.run_test(size=(120, 40)) as pilot:
        await open_console(pilot, app, "demo-elements")
        await pilot.press("x", "down", "down", "enter", "y")  # scan: no message, no typed count
        await wait_until(pilot, lambda: any("read-write API client" in text for text in notifications(app)))
        assert not isinstance(app.screen, ResponseResultsScreen) and not actions_log.exists()
