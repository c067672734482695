"""Pilot tests for the EPMM and Elements connections: their form fields, test, open, filters; and the CLI
on all three demo consoles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Label, Select

from helpers import FIXED_NOW, fixed_clock, tick, wait_until
from screens.connection_form import ConnectionForm
from screens.connections import ConnectionsScreen
from screens.groups import GroupsScreen
from tui.app import ExplorerApp
from tui.cli import main
from tui.config import Config, load_config
from tui.models import Health
from tui.simulators import build_simulator
from tui.simulators.serve import ServerThread
from widgets.device_table import DeviceTable
from widgets.group_tree import GroupTree


@pytest.fixture(params=["epmm", "elements"])
def vendor_server(request) -> Iterator[tuple[str, str, str, str]]:
    """A simulated EPMM or Elements on loopback: (vendor, url, username, password)."""
    simulated = build_simulator(request.param, size=150, seed=4, now=FIXED_NOW)
    with ServerThread(simulated.app) as server:
        yield request.param, server.url, simulated.username, simulated.password


async def test_add_test_and_open_an_epmm_or_elements_connection(tmp_path: Path, vendor_server) -> None:
    vendor, url, username, password = vendor_server
    config_path = tmp_path / "config.toml"
    app = ExplorerApp(Config(path=config_path), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, ConnectionForm)
        form.query_one("#vendor", Select).value = vendor
        await pilot.pause()
        # Vendor-specific fields: the SEPM domain goes away; EPMM shows its device space; Elements says client id.
        assert not form.query_one("#row-domain").display
        assert form.query_one("#row-space").display is (vendor == "epmm")
        label = str(form.query_one("#label-username", Label).render())
        assert label == ("Client ID" if vendor == "elements" else "User")

        form.query_one("#name", Input).value = f"lab-{vendor}"
        form.query_one("#url", Input).value = url
        form.query_one("#username", Input).value = username
        form.query_one("#source", Select).value = "env"
        await pilot.pause()
        form.query_one("#secret", Input).value = "EPX_TEST_VENDOR_SECRET"
        await tick(pilot, "#allow_http")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("EPX_TEST_VENDOR_SECRET", password)
            await pilot.press("ctrl+t")
            await wait_until(pilot, lambda: "login OK" in str(form.query_one("#status").render()))
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, ConnectionsScreen)
            saved = load_config(config_path).connections[f"lab-{vendor}"]
            assert (saved.vendor, saved.password_env, saved.device_space_id) == (vendor, "EPX_TEST_VENDOR_SECRET", 1)
            assert password not in config_path.read_text()

            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and len(app.screen.inventory) == 150
                             and "150 devices" in str(app.screen.query_one("#status").render()))
        table = app.screen.query_one(DeviceTable)
        assert table.row_count == 150
        assert str(app.screen.query_one(GroupTree).root.label) == "All devices (150)"
        everyone = list(table.devices)
        await pilot.press("c")
        assert [d.id for d in table.devices] == [d.id for d in everyone if d.health is Health.CRITICAL]
        await pilot.press("c", "m")
        assert [d.id for d in table.devices] == [d.id for d in everyone if d.missing_critical_patches is True]
        assert 0 < table.row_count < 150


@pytest.mark.parametrize("vendor", ["sepm", "epmm", "elements"])
def test_cli_lists_and_filters_every_demo_vendor(vendor: str, capsys) -> None:
    assert main(["devices", "--demo", "--demo-size", "120", "--connection", f"demo-{vendor}", "--format", "json"]) == 0
    everyone = json.loads(capsys.readouterr().out)
    assert len(everyone) == 120 and {d["vendor"] for d in everyone} == {vendor}
    assert main(["devices", "--demo", "--demo-size", "120", "--connection", f"demo-{vendor}", "--format", "json",
                 "--critical"]) == 0
    critical = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in critical] == [d["id"] for d in everyone if d["health"] == "critical"]
    assert main(["groups", "--demo", "--connection", f"demo-{vendor}", "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert groups and all(set(g) == {"id", "name", "path", "parent_id", "device_count"} for g in groups)


# --- EPMM labels: members known only by searching with the label (issue 12) -----------------------------


def _epmm_demo_app(size: int) -> tuple[ExplorerApp, object]:
    from tui.demo import build_demo

    demo = build_demo(size, now=FIXED_NOW)
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock), demo


def _node(tree: GroupTree, *path: str):
    node = tree.root
    for name in path:
        node = next(child for child in node.children if str(child.label).startswith(f"{name} ("))
    return node


async def test_an_epmm_label_shows_the_consoles_count_then_its_members_once_opened() -> None:
    from tui.simulators.epmm import EpmmFleet

    size = 150
    app, _ = _epmm_demo_app(size)
    expected = {index for index in range(size) if "Executives" in EpmmFleet(size, now=FIXED_NOW).label_names(index)}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "enter")  # demo-sepm, then demo-epmm
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and app.screen.only == "demo-epmm"
                         and len(app.screen.inventory) == size and not app.screen.loading)
        screen = app.screen
        tree = screen.query_one(GroupTree)
        labels = _node(tree, "Labels")
        labels.expand()
        await pilot.pause()
        executives = _node(tree, "Labels", "Executives")
        # Before it is opened, the tree says what label_summary counted; no device knows the label yet.
        assert str(executives.label) == f"Executives ({len(expected)})"
        assert not any(device.labels for device in screen.inventory.devices)

        tree.move_cursor(executives)
        table = screen.query_one(DeviceTable)
        await wait_until(pilot, lambda: bool(screen.fleet.labels_known.get("demo-epmm")) and bool(table.devices))
        names = {device.id for device in table.devices}
        assert len(names) == len(expected) > 0
        assert all(device.labels == ("Labels\\Executives",) for device in table.devices)
        assert str(executives.label) == f"Executives ({len(expected)})"  # now counted in the inventory
        assert len(screen.inventory) == size  # the members replaced their rows: no device twice

        # ctrl+r: a refresh learns again what the opened label holds before it is swapped in.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not screen.loading and screen.fleet.incoming is None)
        await pilot.pause()
        assert {device.id for device in table.devices} == names


def test_cli_lists_the_members_of_an_epmm_label(capsys) -> None:
    from tui.simulators.epmm import EpmmFleet

    size = 120
    fleet = EpmmFleet(size, now=FIXED_NOW)
    assert main(["devices", "--demo", "--demo-size", str(size), "--connection", "demo-epmm", "--format", "json",
                 "--group", "Labels\\Executives"]) == 0
    members = json.loads(capsys.readouterr().out)
    expected = sum("Executives" in fleet.label_names(index) for index in range(size))
    assert len(members) == expected > 0 and len({device["id"] for device in members}) == expected
    assert main(["devices", "--demo", "--demo-size", str(size), "--connection", "demo-epmm", "--format", "json",
                 "--group", "labels"]) == 0
    every_labelled = json.loads(capsys.readouterr().out)
    assert len(every_labelled) == size  # every device is on All-Smartphones; each listed once


# --- what a console lists that is no device, or text that is not UTF-8, is said once (issue 12) -------------


async def test_elements_junk_items_are_left_out_and_said_in_the_status_line() -> None:
    app, _ = _epmm_demo_app(300)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and not app.screen.loading
                         and app.screen.inventory.devices)
        screen = app.screen
        status = str(screen.query_one("#status").render())
        skipped = screen.fleet.consoles["demo-elements"].skipped
        assert skipped > 0 and f"300 devices ({skipped} items without an id left out)" in status, status
        assert all(device.id and device.name for device in screen.inventory.devices)
        assert len(screen.inventory) == 300


def test_cli_says_on_stderr_how_many_listed_items_were_left_out(capsys) -> None:
    assert main(["devices", "--demo", "--demo-size", "300", "--connection", "demo-elements", "--format", "json"]) == 0
    captured = capsys.readouterr()
    devices = json.loads(captured.out)
    assert len(devices) == 300 and all(device["id"] for device in devices)
    notes = [line for line in captured.err.splitlines() if "without an id left out" in line]
    assert len(notes) == 1 and notes[0].startswith("epx: note: "), captured.err


def test_cli_says_which_events_held_bytes_that_are_not_utf8(capsys) -> None:
    """The demo Elements fleet has one event whose user name came as Latin-1 with a NUL: the event is kept,
    repaired (U+FFFD), and said once on stderr; the rest of its page is intact."""
    assert main(["events", "--demo", "--connection", "demo-elements", "--since", "30d", "--format", "json"]) == 0
    captured = capsys.readouterr()
    events = json.loads(captured.out)
    repaired = [event for event in events if "\ufffd" in json.dumps(event, ensure_ascii=False)]
    assert len(repaired) == 1 and len(events) > 100
    assert "epx: note: 1 event with bytes that are not UTF-8 repaired.\n" in captured.err
