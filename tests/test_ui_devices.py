"""Pilot tests of triage on the groups screen: filters, sort, cursor keeping, refresh, fleets, copy, export."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from helpers import demo_app, loaded, notifications, open_demo, screen_lines, type_ahead, wait_until
from screens.devices import COPY_KEYS, DevicesPane
from screens.groups import GroupsScreen
from screens.help import HelpScreen
from tui.app import ExplorerApp
from tui.models import DeviceQuery, Health, iso_utc
from tui.vendors.base import ServerError
from widgets.copy_menu import CopyMenu
from widgets.group_tree import GroupTree
from widgets.path_prompt import PathPrompt


def screen_of(app: ExplorerApp) -> GroupsScreen:
    assert isinstance(app.screen, GroupsScreen)
    return app.screen


async def test_online_combines_with_critical_and_the_bar_counts_them() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        everyone = table.devices
        await pilot.press("o")
        online = [d for d in everyone if d.online is True]
        assert 0 < len(online) < 300 and [d.id for d in table.devices] == [d.id for d in online]
        await pilot.press("c")
        both = [d.id for d in online if d.health is Health.CRITICAL]
        assert [d.id for d in table.devices] == both
        bar = str(app.screen.query_one("#filter-bar").render())
        assert bar.startswith(f"{len(both)} critical, online of 300")
        await pilot.press("escape")
        assert table.row_count == 300
        assert str(app.screen.query_one("#filter-bar").render()).startswith("300 devices · ")


async def test_the_pane_prepares_its_inventory_while_idle_a_slice_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key is typed: the pane makes every device's search key between refreshes, so the first `/` over a large
    fleet does not wait for them."""
    monkeypatch.setattr("screens.devices.SEARCH_SLICE", 7)
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_demo(pilot, app, 300)
        pane = app.screen.query_one(DevicesPane)
        await wait_until(pilot, lambda: pane.inventory.prepared)
        assert len(pane.inventory._search) == 300


async def test_keys_typed_ahead_go_into_the_filter_box_then_back_to_the_table() -> None:
    """`/lt⏎c` read in one burst (a paste, a fast typist): the box gets "lt", enter leaves it, c filters."""
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        pane = app.screen.query_one(DevicesPane)
        type_ahead(app, "slash", "l", "t", "enter", "c")
        await wait_until(pilot, lambda: pane.filter.critical)

        assert pane.filter.text == "lt"
        assert app.focused is table
        assert 0 < table.row_count < 300

        # / again: the box opens with "lt" selected, so a "/" typed in it is text that replaces it; escape leaves
        type_ahead(app, "slash", "slash", "escape", "c")
        await wait_until(pilot, lambda: not pane.filter.critical)
        assert pane.filter.text == "/" and app.focused is table


async def test_a_tab_typed_ahead_of_the_filter_moves_the_focus_before_the_box_opens() -> None:
    """`tab/srv` in one burst, then `⏎c`: the tab is applied first (the tree), the box takes "srv", enter goes back
    to the table and c filters. With Textual's own tab, the tab ran after `/` and moved the focus on from the box,
    so the enter opened a device."""
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 300)
        pane = app.screen.query_one(DevicesPane)
        type_ahead(app, "tab", "slash", "s", "r", "v")
        await wait_until(pilot, lambda: pane.filter.text == "srv")
        type_ahead(app, "enter", "c")
        await wait_until(pilot, lambda: pane.filter.critical)
        assert isinstance(app.screen, GroupsScreen) and app.focused is table


async def test_sort_cycles_columns_reverses_and_stays_stable() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        arrival = table.devices
        await pilot.press("s")
        assert table.sort.column == "health"
        ranks = {Health.CRITICAL: 0, Health.WARNING: 1, Health.UNKNOWN: 2, Health.OK: 3}
        assert table.devices == sorted(arrival, key=lambda d: ranks[d.health])  # stable: arrival order within
        await pilot.press("S")
        assert table.devices == sorted(arrival, key=lambda d: ranks[d.health], reverse=True)
        await pilot.press("s")
        assert table.sort.column == "name"
        assert [d.name for d in table.devices] == sorted((d.name for d in arrival), key=str.casefold)
        assert "Name ▲" in str(table.render_line(0).text)
        for _ in range(len(table.layout_columns) - 1):  # from name, past the last column
            await pilot.press("s")
        assert table.sort.column is None and table.devices == arrival


async def test_the_cursor_stays_on_its_device_across_filter_sort_and_refresh() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        critical = [d for d in table.devices if d.health is Health.CRITICAL]
        target = critical[len(critical) // 2]
        table.cursor = table.devices.index(target)
        await pilot.press("c")
        assert table.device_at_cursor() == target
        await pilot.press("s", "s")
        assert table.device_at_cursor() == target
        await pilot.press("escape")
        assert table.row_count == 300 and table.device_at_cursor() == target
        screen = screen_of(app)
        before = screen.inventory
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.inventory is not before and not screen.loading)
        await pilot.pause()
        assert table.device_at_cursor().id == target.id


async def test_after_a_sort_or_a_filter_the_cursor_device_is_shown_in_context_or_the_top() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 300)
        table.focus()
        height = table.scrollable_content_region.height - 1  # lines under the heading
        for sort in ("s", "s", "S"):
            await pilot.press("pagedown", "pagedown", "j", "j")
            target = table.device_at_cursor()
            await pilot.press(sort)
            await pilot.pause()
            assert table.device_at_cursor() == target
            first = int(table.scroll_y)
            assert first + 2 <= table.cursor <= first + height - 3 or table.cursor < 2, (sort, first, table.cursor)
        healthy = next(i for i, d in enumerate(table.devices) if i > 30 and d.health is not Health.CRITICAL)
        table.move_to(healthy)
        await pilot.press("c")
        await pilot.pause()
        assert table.cursor == 0 and table.scroll_y == 0
        assert table.device_at_cursor().health is Health.CRITICAL


async def test_a_failed_refresh_keeps_the_last_good_devices_and_says_so() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_demo(pilot, app, 300)
        screen = screen_of(app)
        client = screen.clients["demo-sepm"]
        working = client.devices

        async def breaks_midway(*args, **kwargs):
            async for page in working(*args, **kwargs):
                yield page
                raise ServerError("SEPM answered 500 Internal Server Error.")

        client.devices = breaks_midway  # type: ignore[method-assign]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not screen.loading)
        await pilot.pause()
        status = str(screen.query_one("#status").render())
        assert "Refresh failed" in status and "last load" in status
        assert len(screen.inventory) == 300 and table.row_count == 300
        client.devices = working  # type: ignore[method-assign]
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not screen.loading)
        await pilot.pause()
        assert "failed" not in str(screen.query_one("#status").render())


async def test_all_fleets_merges_every_connection_with_a_connection_column() -> None:
    app = demo_app(120)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        await wait_until(pilot, loaded(app, 360))
        await pilot.pause()
        screen = screen_of(app)
        table = screen.pane.table
        assert "connection" in [column.key for column, _ in table.layout_columns]
        assert {d.connection for d in table.devices} == {"demo-sepm", "demo-epmm", "demo-elements"}
        tree = screen.query_one(GroupTree)
        assert str(tree.root.label) == "All fleets (360)"
        await pilot.press("c")
        critical = [d for d in table.devices if d.health is Health.CRITICAL]
        assert critical and {d.connection for d in critical} <= {"demo-sepm", "demo-epmm", "demo-elements"}
        epmm = next(node for node in tree.root.children if str(node.label).startswith("demo-epmm"))
        tree.focus()
        tree.move_cursor(epmm)
        await pilot.pause()
        assert table.devices and all(d.connection == "demo-epmm" and d.health is Health.CRITICAL for d in table.devices)
        assert "in demo-epmm" in str(screen.query_one("#filter-bar").render())


async def test_group_levels_are_made_when_opened() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_demo(pilot, app, 300)
        tree = screen_of(app).query_one(GroupTree)
        company = tree.root.children[0]
        laptops = next(node for node in company.children if node.data.group[-1:] == ("Laptops",))
        assert laptops.allow_expand and not laptops.children
        laptops.expand()
        await pilot.pause()
        assert [str(child.label).split(" (")[0] for child in laptops.children]


async def test_the_tree_moves_with_j_k_g_shift_g_and_opens_with_l_closes_with_h() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_demo(pilot, app, 300)
        tree = screen_of(app).query_one(GroupTree)
        tree.focus()
        await pilot.press("g")
        assert tree.cursor_line == 0
        await pilot.press("j", "j")
        assert tree.cursor_line == 2
        await pilot.press("k")
        assert tree.cursor_line == 1
        await pilot.press("G")
        assert tree.cursor_line == tree.last_line > 1
        await pilot.press("g")
        assert tree.cursor_line == 0
        company = tree.root.children[0]
        laptops = next(node for node in company.children if node.data.group[-1:] == ("Laptops",))
        tree.move_cursor(laptops)
        await pilot.press("l")
        await pilot.pause()
        assert laptops.is_expanded and laptops.children
        await pilot.press("l")
        assert tree.cursor_node is laptops.children[0]
        await pilot.press("h")
        assert tree.cursor_node is laptops and laptops.is_expanded
        await pilot.press("left")
        assert not laptops.is_expanded and tree.cursor_node is laptops
        await pilot.press("h")
        assert tree.cursor_node is company
        await pilot.press("right")
        await pilot.press("right")
        assert tree.cursor_node is company.children[0]
        assert isinstance(app.screen, GroupsScreen)  # h and l are the tree's, not the screen's


async def test_copy_menu_copies_the_id_and_says_what() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 50)
        device = table.device_at_cursor()
        await pilot.press("y")
        assert isinstance(app.screen, CopyMenu)
        await pilot.press("i")
        assert isinstance(app.screen, GroupsScreen)
        assert app.clipboard == device.id
        assert any(f"the id of {device.name}" in text for text in notifications(app))
        await pilot.press("y", "j")
        assert json.loads(app.clipboard)["id"] == device.id
        await pilot.press("y", "escape")
        assert isinstance(app.screen, GroupsScreen) and json.loads(app.clipboard)["id"] == device.id
        # The Seen cell says "4h" or "online"; what is copied is the time itself.
        await pilot.press("y", COPY_KEYS["seen"])
        assert app.clipboard == (iso_utc(device.last_seen) or "never")


async def test_export_writes_the_devices_shown(tmp_path: Path) -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 300)
        await pilot.press("c")
        shown = table.devices
        await pilot.press("e")
        assert isinstance(app.screen, PathPrompt)
        prompt = app.screen.query_one("#path")
        assert prompt.value.endswith(".csv") and "epx-demo-sepm-" in prompt.value
        prompt.value = str(tmp_path / "critical.csv")
        await pilot.press("enter")
        target = tmp_path / "critical.csv"
        await wait_until(pilot, target.exists)
        with target.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert [row["id"] for row in rows] == [d.id for d in shown]
        assert {row["health"] for row in rows} == {"critical"}
        await wait_until(pilot, lambda: any("Exported" in text for text in notifications(app)))


async def test_auto_refresh_waits_while_a_dialog_is_open() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_demo(pilot, app, 50)
        screen = screen_of(app)
        await pilot.press("a")
        assert screen.refresh_every == 60 and "auto-refresh 60s" in str(screen.query_one("#status").render())
        generation = screen.fleet.generation
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        screen.refresh_timer.fire()
        assert screen.fleet.generation == generation  # not while the help is open
        await pilot.press("escape")
        screen.refresh_timer.fire()
        assert screen.fleet.generation == generation + 1
        await pilot.press("a")
        assert screen.refresh_every == 0


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_table_fits_the_width_by_dropping_low_priority_columns(size: tuple[int, int]) -> None:
    app = demo_app(50)
    async with app.run_test(size=size) as pilot:
        table = await open_demo(pilot, app, 50)
        keys = [column.key for column, _ in table.layout_columns]
        assert keys[:3] == ["health", "name", "seen"]
        assert ("user" in keys) == (size[0] >= 200)
        widths = sum(width + 2 for _, width in table.layout_columns)
        assert widths <= app.screen.query_one(DevicesPane).size.width


async def test_critical_during_the_first_load_asks_the_server_first() -> None:
    """Elements filters on the server: pressing c while the full listing is held back still shows every
    critical device at once, and the full listing later neither duplicates nor loses one."""
    app = demo_app(600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down")
        hold = asyncio.Event()
        elements = app.session.config.connections["demo-elements"]
        client = app.session.client_for(elements, elements.password)
        listing = client.devices

        async def held_after_one_page(query=DeviceQuery()):
            async for page in listing(query):
                yield page
                if query == DeviceQuery():
                    await hold.wait()

        client.devices = held_after_one_page  # type: ignore[method-assign]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and len(app.screen.inventory) > 0)
        screen = screen_of(app)
        assert screen.loading
        await pilot.press("c")
        critical_total = sum([len(page.devices) async for page in listing(DeviceQuery(critical=True))])
        table = screen.pane.table
        await wait_until(pilot, lambda: table.row_count == critical_total)
        assert screen.loading and all(d.health is Health.CRITICAL for d in table.devices)
        hold.set()
        await wait_until(pilot, loaded(app, 600))
        assert len(screen.inventory) == 600 and table.row_count == critical_total


async def test_going_back_keeps_the_fleet_and_reopening_shows_it_at_once_while_it_refreshes() -> None:
    """esc on an unfiltered table leaves the connection; opening it again must not start from nothing
    (issue 13, item 11): the last load is shown at once, with its age, and a refresh runs behind."""
    from datetime import timedelta

    from helpers import FIXED_NOW
    from screens.connections import ConnectionsScreen
    from tui.demo import build_demo

    now = [FIXED_NOW]
    demo = build_demo(300, now=FIXED_NOW)
    app = ExplorerApp(demo.config, transports=demo.transports, clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and not app.screen.loading
                         and len(app.screen.inventory) == 300)
        first = app.screen.inventory
        await pilot.press("escape")
        assert isinstance(app.screen, ConnectionsScreen)

        now[0] = FIXED_NOW + timedelta(minutes=3)
        faults = demo.simulators["demo-sepm"].faults
        faults.add("500", path="/sepm/api/v1/computers", times=None)  # the console is down now
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GroupsScreen)
        assert screen.inventory is first and screen.pane.table.row_count == 300  # at once
        assert screen.fleet.incoming is not None  # a refresh runs behind it
        await wait_until(pilot, lambda: not screen.loading)
        status = str(screen.query_one("#status").render())
        assert screen.inventory is first and "Showing the devices of the last load (12:00 UTC, 3m ago)" in status, status

        faults.clear()
        faults.add("latency", value=1500, path="/sepm/api/v1/computers")  # a slow console: the age is said
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "from 12:00 UTC, 3m ago · refreshing" in str(screen.query_one("#status").render())
        await wait_until(pilot, lambda: not screen.loading and screen.inventory is not first)
        assert len(screen.inventory) == 300 and "devices" in str(screen.query_one("#status").render())


async def test_the_search_field_leaves_the_bar_and_its_sort_in_sight_at_80_columns() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_demo(pilot, app, 300)
        await pilot.press("s", "s", "S", "slash", *"LT-")
        await wait_until(pilot, lambda: table.sort.column == "name" and len(table.devices) < 300)
        bar_line = next(line for line in screen_lines(app) if "matching of" in line)
        assert "by name ▼" in bar_line and "LT-" in bar_line
        assert "Name ▼" in table.render_line(0).text


async def test_at_200_columns_every_device_column_shows_its_longest_value() -> None:
    app = demo_app(300)
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_demo(pilot, app, 300)
        longest = app.screen.query_one(DevicesPane).inventory.widths
        shown = {column.key: width for column, width in table.layout_columns}
        assert set(shown) >= {"name", "group", "os", "user"}
        assert all(shown[key] >= longest[key] for key in ("name", "group", "os", "user")), (shown, longest)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_the_tree_is_wider_on_a_wide_terminal_so_group_names_are_whole(size: tuple[int, int]) -> None:
    app = demo_app(60)
    async with app.run_test(size=size) as pilot:
        await pilot.press("down", "down", "enter")  # Elements: the longest company names of the demo
        await wait_until(pilot, loaded(app, 60))
        await pilot.pause()
        tree = app.screen.query_one(GroupTree)
        labels = [str(tree.get_node_at_line(line).label) for line in range(tree.last_line + 1)]
        assert "Delta Precision Manufacturing (" in " ".join(labels) or size[0] < 120
        assert not any("…" in label for label in labels) or size[0] < 120, labels
        if size[0] == 80:
            assert tree.outer_size.width == 24  # as before: the table keeps its room
