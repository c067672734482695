"""Pilot tests of the SEPM commands: scans and file fetches from the device table and detail, following a
command to the end, cancelling it, and the fingerprint list writes that need a group (create, lockdown)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import Checkbox, RadioButton

import screens.commands
from helpers import FIXED_NOW, fixed_clock, loaded, notifications, open_demo, wait_until
from screens.commands import CommandScreen, computers_in_words, result_text
from screens.device_detail import DeviceDetailScreen
from screens.fingerprints import FingerprintsScreen
from tui.app import ExplorerApp
from tui.demo import build_demo
from tui.hashes import SHA1_NOTE
from tui.models import CommandRow, EocMatch, FileDetails
from tui.simulators.sepm import DEMO_FILES, LOCKDOWN_DISABLED_GROUP
from widgets.confirm import ConfirmDialog
from widgets.fetch_form import FetchForm
from widgets.group_picker import GroupPicker
from widgets.group_tree import GroupTree
from widgets.list_form import ListForm
from widgets.scan_form import REMEDIATE_WARNING, ScanForm

SIZE = 300
"""Devices per demo console: the smallest fleet whose Quarantine group holds two computers."""
DROPPER = DEMO_FILES[0]
"""Every computer of My Company\\Quarantine holds it."""


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(screens.commands, "POLL_SECONDS", 0.01)


def demo(*, writes: bool = True, size: int = SIZE):
    built = build_demo(size, now=FIXED_NOW, writes=writes)
    app = ExplorerApp(built.config, transports=built.transports, clock=fixed_clock, state=built.state)
    return app, built.simulators["demo-sepm"].hash_actions


async def mark_quarantined(pilot, app, count: int = 2) -> list:
    await open_demo(pilot, app, SIZE)
    await pilot.press("slash", *"quarantine", "enter", *["space"] * count)
    return app.screen.pane.marked_devices()


async def scan_until_done(pilot, app) -> CommandScreen:
    await pilot.press("y")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandScreen))
    screen = app.screen
    await wait_until(pilot, lambda: screen.done)
    return screen


async def test_a_scan_of_the_marked_computers_is_confirmed_then_followed_until_each_is_done() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        marked = await mark_quarantined(pilot, app)
        assert len(marked) == 2 and "2 marked" in app.screen.pane.summary()
        await pilot.press("H")
        form = app.screen
        assert isinstance(form, ScanForm) and computers_in_words([d.name for d in marked]) in form.computers
        assert SHA1_NOTE in str(form.query_one("#sha1-note").render())
        assert not form.query_one("#remediate-warning").display
        await pilot.press(*"xyz", "enter")
        assert app.screen is form and "is not a hash" in str(form.query_one("#scan-problem").render())
        await pilot.press("ctrl+u", *DROPPER.sha256.lower(), "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and not dialog.danger
        assert "on demo-sepm" in dialog.title_text and DROPPER.sha256 in dialog.message
        assert all(device.name in dialog.message for device in marked) and "1 SHA-256" in dialog.message
        screen = await scan_until_done(pilot, app)
        [command] = queue.commands.values()
        assert command.kind == "eoc" and not command.remediate and len(command.target_set) == 2
        assert {row.computer_name for row in screen.statuses[command.id].rows} == {d.name for d in marked}
        assert all(row.state == "completed" for row in screen.statuses[command.id].rows)
        assert "2 computers: 2 completed · hash found on 2" in screen.summary()
        assert DROPPER.path[:20] in str(screen.table.render_line(1).text)
        assert not screen.check_action("cancel_command", ())  # nothing left to cancel
        await pilot.press("enter")
        assert DROPPER.sha256 in str(app.screen.summary)  # the row's detail names the hash


async def test_deleting_matches_needs_a_tick_shows_a_red_warning_and_a_danger_confirmation() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await mark_quarantined(pilot, app, count=1)
        await pilot.press("H", *DROPPER.md5, "tab", "space")
        form = app.screen
        assert form.query_one("#remediate-warning").display
        await pilot.press("shift+tab", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger and REMEDIATE_WARNING in dialog.message
        screen = await scan_until_done(pilot, app)
        [command] = queue.commands.values()
        assert command.remediate
        assert "delete" in result_text(next(iter(screen.statuses.values())).rows[0])


async def test_enter_queues_the_scan_from_a_box_and_never_ticks_it_while_space_does() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await mark_quarantined(pilot, app, count=1)
        await pilot.press("H", "tab")
        form = app.screen
        box = form.query_one("#remediate", Checkbox)
        assert isinstance(form, ScanForm) and box.has_focus
        await pilot.press("enter")  # the form's hint: enter queues the scan; with no hash yet, it says so
        assert app.screen is form and not box.value
        assert "at least one hash" in str(form.query_one("#scan-problem").render())
        await pilot.press("space")
        assert box.value and form.query_one("#remediate-warning").display
        await pilot.press("space", "shift+tab", *DROPPER.sha256, "tab", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and not dialog.danger and not box.value


async def test_ticked_and_unticked_boxes_and_radio_buttons_differ_in_shape_not_only_colour() -> None:
    """A monochrome terminal or a colour-blind user must see the state: `▐X▌` / `▐●▌` against an empty `▐ ▌`."""
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await mark_quarantined(pilot, app, count=1)
        await pilot.press("H", "tab")
        box = app.screen.query_one("#remediate", Checkbox)
        assert box.render().plain.startswith("▐ ▌")
        await pilot.press("space")
        assert box.render().plain.startswith("▐X▌")
        await pilot.press("escape", "f")
        assert isinstance(app.screen, FetchForm)
        first, *others = app.screen.query(RadioButton)
        assert first.value and first.render().plain.startswith("▐●▌")
        assert others and all(button.render().plain.startswith("▐ ▌") for button in others)


async def test_the_group_in_scope_can_be_scanned_instead_of_computers() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_demo(pilot, app, SIZE)
        tree = app.screen.query_one(GroupTree)
        node = next(node for node in tree._tree_nodes.values() if node.data and node.data.group == ("My Company", "Quarantine"))
        tree.move_cursor(node)
        await pilot.pause()
        members = len(app.screen.pane.selection.rows)
        assert members == sum(device.group.endswith("Quarantine") for device in app.screen.inventory.devices) > 0
        await pilot.press("H")
        assert "My Company\\Quarantine" in str(app.screen.query_one("#whole-group").label)
        await pilot.press("shift+tab", "space", "tab", *DROPPER.sha256, "enter")
        assert "every computer of the group My Company\\Quarantine" in app.screen.message
        screen = await scan_until_done(pilot, app)
        assert [command.target for command in screen.commands] == ["groups"]
        [command] = queue.commands.values()
        assert len(command.target_set) == len(screen.statuses[command.id].rows) == members


async def test_a_running_command_is_cancelled_after_a_confirmation() -> None:
    app, queue = demo()
    queue.tick_ms = 0  # the simulated clock stands still: the command waits until the test moves it
    async with app.run_test(size=(120, 40)) as pilot:
        await mark_quarantined(pilot, app, count=1)
        await pilot.press("H", *DROPPER.sha256, "enter", "y")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandScreen) and bool(app.screen.statuses))
        screen = app.screen
        assert screen.check_action("cancel_command", ())
        await pilot.press("C")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger and "1 computer has not finished" in dialog.message
        assert str(dialog.query_one("#no").label) == "Keep running (n)"
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.cancelled)
        [cancelled] = [command for command in queue.commands.values() if command.kind == "eoc"]
        assert cancelled.cancelled_ms is not None
        queue.advance(600)
        await wait_until(pilot, lambda: screen.done)
        assert [row.state for row in screen.statuses[cancelled.id].rows] == ["cancelled"]
        assert "cancel sent" in screen.summary()


async def test_a_file_is_fetched_and_its_checksum_compared() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        [device] = await mark_quarantined(pilot, app, count=1)
        await pilot.press("f")
        assert isinstance(app.screen, FetchForm)
        await pilot.press(*DROPPER.path, "enter", "enter")
        assert "md5" in str(app.screen.query_one("#fetch-problem").render()).casefold()
        await pilot.press(*DROPPER.md5, "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and DROPPER.path in dialog.message and device.name in dialog.message
        screen = await scan_until_done(pilot, app)
        await wait_until(pilot, lambda: bool(screen.files))
        assert f"uploaded, {DROPPER.size:,} bytes, checksum matches" in str(screen.table.render_line(1).text)


async def test_read_only_connections_and_other_vendors_say_why_there_is_no_command() -> None:
    app, queue = demo(writes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_demo(pilot, app, SIZE)
        assert not app.screen.check_action("scan", ()) and not app.screen.check_action("fetch", ())
        await pilot.press("H", "f")
        assert not isinstance(app.screen, (ScanForm, FetchForm)) and not queue.commands
        assert sum("--demo-writes" in text for text in notifications(app)) == 2
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDetailScreen) and not app.screen.check_action("scan", ())
        await pilot.press("H")
        assert sum("--demo-writes" in text for text in notifications(app)) == 3
        await pilot.press("escape", "q", "down", "enter")
        await wait_until(pilot, loaded(app, SIZE))
        await pilot.press("H")
        assert any("SEPM commands; Ivanti EPMM (MobileIron Core) has none" in text for text in notifications(app))


async def test_the_device_detail_scans_its_device() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_demo(pilot, app, SIZE)
        device = app.screen.pane.table.device_at_cursor()
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDetailScreen)
        await pilot.press("H")
        assert app.screen.computers == f"1 computer: {device.name}"


def test_results_in_words() -> None:
    row = CommandRow("C1", "WS-1", 3, "completed", 0, "", True)
    assert result_text(row) == ""
    match = EocMatch("SHA256", "AB" * 32, "HASH_MATCH", "SUCCEEDED", "C:\\x.exe")
    assert result_text(CommandRow("C1", "WS-1", 3, "completed", 0, "", True, matches=(match,))) == \
        "HASH_MATCH: C:\\x.exe, delete succeeded"
    missing = EocMatch("SHA256", "AB" * 32, "NO_MATCH")
    assert result_text(CommandRow("C1", "WS-1", 3, "completed", 0, "", True, matches=(missing,))) == "no match"
    fetched = CommandRow("C1", "WS-1", 3, "completed", 0, "", True, binary_file_id="F1")
    assert result_text(fetched) == "uploaded as F1"
    assert result_text(fetched, FileDetails("F1", 70, "AA"), "AA") == "uploaded, 70 bytes, checksum matches"
    assert result_text(fetched, FileDetails("F1", None, "BB"), "AA") == \
        "uploaded, size not reported, checksum BB differs"
    assert result_text(fetched, FileDetails("F1", 70, "A" * 32), "B" * 64) == f"uploaded, 70 bytes, checksum {'A' * 32}"
    assert computers_in_words([f"PC{n}" for n in range(7)]) == "7 computers: PC0, PC1, PC2, PC3, PC4 and 2 more"


async def open_lists(pilot, app) -> FingerprintsScreen:
    await open_demo(pilot, app, SIZE)
    await pilot.press("F")
    screen = app.screen
    await wait_until(pilot, lambda: len(screen.lists) == 3)
    return screen


async def test_a_new_list_is_confirmed_created_remembered_and_assigned_to_a_group() -> None:
    app, queue = demo()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lists(pilot, app)
        await pilot.press("n")
        assert isinstance(app.screen, ListForm)
        await pilot.press(*"IR case 42", "enter", *"from the triage", "enter", *f"{DEMO_FILES[2].md5} {DEMO_FILES[1].sha256}",
                          "enter")
        assert "One hash type per list" in str(app.screen.query_one("#list-problem").render())
        await pilot.press("ctrl+u", *f"{DEMO_FILES[2].md5},{DEMO_FILES[1].md5}", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and "'IR case 42'" in dialog.title_text and "2 MD5 hashes" in dialog.message
        await pilot.press("y")
        await wait_until(pilot, lambda: len(screen.lists) == 4)
        assert screen.chosen is not None and screen.chosen.name == "IR case 42"
        assert "IR case 42" in {known.name for known in app.session.state.known_lists("demo-sepm")}
        await pilot.press("L")
        picker = app.screen
        assert isinstance(picker, GroupPicker)
        await pilot.press(*"servers", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger and "My Company\\Servers" in dialog.title_text
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.chosen is not None and bool(screen.chosen.group_ids))
        assert "My Company\\Servers" in str(screen.list_table.render_line(1 + screen.list_table.cursor).text)
        await pilot.press("L", *LOCKDOWN_DISABLED_GROUP.split("\\")[-1], "enter", "y")
        await wait_until(pilot, lambda: any("system lockdown is disabled" in text for text in notifications(app)))
        await pilot.press("n", *"IR case 42", "enter", "enter", *DEMO_FILES[2].md5, "enter", "y")
        await wait_until(pilot, lambda: any("already exists" in text for text in notifications(app)))
        assert len(screen.lists) == 4


async def test_the_status_line_says_when_it_last_polled_and_when_it_polls_next(monkeypatch) -> None:
    monkeypatch.setattr(screens.commands, "POLL_SECONDS", 5)
    built = build_demo(SIZE, now=FIXED_NOW, writes=True)
    built.simulators["demo-sepm"].hash_actions.tick_ms = 0  # the command stays running
    moments = [FIXED_NOW]
    app = ExplorerApp(built.config, transports=built.transports, clock=lambda: moments[-1], state=built.state)
    async with app.run_test(size=(120, 40)) as pilot:
        await mark_quarantined(pilot, app, count=1)
        await pilot.press("H", *DROPPER.sha256, "enter", "y")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandScreen) and bool(app.screen.statuses))
        status = app.screen.query_one("#status")
        assert "polled 0 s ago · next in 5 s" in str(status.render())
        moments.append(FIXED_NOW + timedelta(seconds=3))
        await wait_until(pilot, lambda: "polled 3 s ago · next in 2 s" in str(status.render()))
