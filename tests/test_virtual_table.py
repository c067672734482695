"""Pilot tests of the VirtualTable as a widget of its own: its messages route by selector as DataTable's do,
the cursor stays among the shown rows whoever sets it, and a cached line never outlives what it shows."""

from __future__ import annotations

from textual import on
from textual.app import App, ComposeResult

from helpers import FIXED_NOW
from tui.inventory import Inventory, Sort
from tui.models import Device, Health
from widgets.device_table import DeviceTable
from widgets.virtual_table import PLAIN, Column, ColumnSort, VirtualTable

WORDS = ["alpha", "bravo", "charlie", "delta"]


def word_table(table_id: str) -> VirtualTable[str]:
    return VirtualTable([Column("word", "Word", lambda word, now: (word, PLAIN), 10)], id=table_id)


class TwoTables(App[None]):
    """Two tables side by side and a device table; each handler hears only the table it names."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[str, object]] = []

    def compose(self) -> ComposeResult:
        yield word_table("left")
        yield word_table("right")
        yield DeviceTable(id="devices")

    def on_mount(self) -> None:
        for table in self.query(VirtualTable):
            table.mark_key = lambda record: record
        self.query_one("#left", VirtualTable).show_rows(WORDS, [0, 1, 2, 3])
        self.query_one("#right", VirtualTable).show_rows(WORDS, [3, 2])
        inventory = Inventory(Device(vendor="sepm", connection="c", id=f"d{n}", name=f"host-{n}", health=Health.OK)
                              for n in range(3))
        self.query_one(DeviceTable).show(inventory, [0, 1, 2], Sort("name", descending=True))

    @on(VirtualTable.Selected, "#left")
    def _left(self, message: VirtualTable.Selected) -> None:
        self.heard.append(("left", message.record))

    @on(VirtualTable.Selected, "#right")
    def _right(self, message: VirtualTable.Selected) -> None:
        self.heard.append(("right", message.record))

    @on(DeviceTable.Selected, "#devices")
    def _device(self, message: DeviceTable.Selected) -> None:
        self.heard.append(("device", message.record))

    @on(VirtualTable.Marked, "#right")
    def _marked(self, message: VirtualTable.Marked) -> None:
        self.heard.append(("marked", sorted(message.control.marked)))

    def on_virtual_table_header_clicked(self, message: VirtualTable.HeaderClicked) -> None:
        """A DeviceTable posts the VirtualTable's messages: the handler name is the same for both."""
        self.heard.append(("header", (message.control.id, message.column)))


async def test_selected_marked_and_header_clicked_route_by_the_table_that_posted_them() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 30)) as pilot:
        left, right = app.query_one("#left", VirtualTable), app.query_one("#right", VirtualTable)
        left.focus()
        await pilot.press("down", "enter")
        right.focus()
        await pilot.press("enter", "space")
        app.query_one(DeviceTable).focus()
        await pilot.press("enter")
        await pilot.click("#devices", offset=(2, 0))
        await pilot.pause()
        assert app.heard == [("left", "bravo"), ("right", "delta"), ("marked", ["delta"]),
                             ("device", app.query_one(DeviceTable).devices[0]), ("header", ("devices", "health"))]


async def test_the_cursor_stays_among_the_shown_rows_whoever_sets_it() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 30)) as pilot:
        right = app.query_one("#right", VirtualTable)
        right.cursor = 10
        assert right.cursor == 1 and right.record_at_cursor() == "charlie"
        right.cursor = -3
        assert right.cursor == 0
        right.move_to(5)
        assert right.cursor == 1
        right.show_rows(WORDS, [])
        right.cursor = 2
        assert right.cursor == 0 and right.record_at_cursor() is None
        await pilot.pause()


async def test_the_header_shows_the_sort_it_is_given_and_a_mark_redraws_its_line() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 30)) as pilot:
        devices = app.query_one(DeviceTable)
        assert devices.sort == ColumnSort("name", descending=True)
        assert "Name ▼" in devices.render_line(0).text
        left = app.query_one("#left", VirtualTable)
        assert not left.render_line(1).text.startswith("•")
        left.focus()
        await pilot.press("space")
        assert left.render_line(1).text.startswith("•alpha")  # the same row, the same cursor: not the cached line
        await pilot.pause()


async def test_a_new_order_of_the_same_devices_reuses_lines_and_a_changed_device_is_drawn_again() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 30)) as pilot:
        table = app.query_one(DeviceTable)
        table.clock = lambda: FIXED_NOW  # the ages' clock stands still: only the version can redraw a line
        inventory = Inventory(Device(vendor="sepm", connection="c", id=f"d{n}", name=f"host-{n}", health=Health.OK)
                              for n in range(3))
        table.show(inventory, [0, 1, 2])
        first = table.render_line(2)
        table.show(inventory, [2, 1, 0])
        assert table.render_line(2) is first  # row 1 again second: the line drawn before
        inventory.add([Device(vendor="sepm", connection="c", id="d1", name="renamed", health=Health.CRITICAL)])
        table.show(inventory, [2, 1, 0])
        assert "renamed" in table.render_line(2).text
        await pilot.pause()
