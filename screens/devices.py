"""The devices view: the filter bar and the device table over an `Inventory` of loaded devices.

It holds no vendor knowledge: `tui.inventory` filters and sorts the rows, the table draws the visible
ones, and this pane keeps the two in step and says what is shown ("37 critical of 100,000"). The groups
screen composes it beside the tree and tells it when pages arrive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Static

from screens.device_detail import DeviceDetailScreen
from tui.export import default_export_path, export_devices
from tui.inventory import DeviceFilter, Inventory, Selection, Sort
from tui.models import Device, iso_utc
from widgets.copy_menu import CopyChoice, CopyMenu
from widgets.device_table import COLUMNS, DeviceTable
from widgets.path_prompt import PathAnswer, PathPrompt
from widgets.search_box import SearchBox

if TYPE_CHECKING:
    from tui.app import ExplorerApp

SEARCH_SLICE = 20_000
"""Search keys an idle pane makes between two refreshes (about 10 ms of work)."""
FLAG_WORDS = {"critical": "critical", "missing_patch": "missing patches", "online": "online"}
COPY_KEYS = {"health": "h", "name": "n", "connection": "c", "seen": "s", "patches": "p", "ip": "a", "group": "g",
             "os": "o", "user": "u"}
"""The letter that copies each column's cell in the copy menu (i, r and j copy the id, row and record)."""


class DevicesPane(Vertical):
    """Filter bar over the device table; the inventory is everything loaded, `selection` what passes.

    Setting `inventory`, `filter` or `sort` shows the result; the owner calls `refilter` only when the inventory
    it shows has grown (a page arrived)."""

    inventory: reactive[Inventory] = reactive(Inventory, init=False)
    filter: reactive[DeviceFilter] = reactive(DeviceFilter, init=False)
    sort: reactive[Sort] = reactive(Sort, init=False)

    def __init__(self, *, clock: Callable[[], datetime] | None = None, fleets: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.fleets = fleets
        """Devices of several consoles: a Connection column, and the bar names the console in scope."""
        self.selection = Selection(rows=[], scope=0)
        self.problem: str | None = None
        """Why no device could be loaded, in words with what to do; None while loading or loaded."""
        self._preparing = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static("", id="filter-bar", markup=False)
            yield SearchBox(placeholder="name, IP, user, OS, group; !text excludes", id="search", leave_to="#devices")
        columns = None if self.fleets else [column.key for column in COLUMNS if column.key != "connection"]
        yield DeviceTable(id="devices", clock=self.clock, columns=columns)
        yield Static("", id="empty", markup=False)

    def on_mount(self) -> None:
        self.query_one("#search").display = False
        self.query_one("#empty").display = False
        self.table.mark_key = device_key
        self.refilter()

    @property
    def table(self) -> DeviceTable:
        return self.query_one("#devices", DeviceTable)

    def watch_inventory(self) -> None:
        """Another inventory (a finished refresh): the cursor stays on its device."""
        self.refilter()

    def watch_filter(self) -> None:
        self.refilter()

    def watch_sort(self) -> None:
        self.refilter()

    def toggle(self, flag: str) -> None:
        self.filter = replace(self.filter, **{flag: not getattr(self.filter, flag)})

    def sort_by(self, column: str) -> None:
        """Sort by a column; the same column again flips the direction; stable either way."""
        descending = self.sort.column == column and not self.sort.descending
        self.sort = Sort(column, descending)

    def cycle_sort(self) -> None:
        """The next shown column (s): arrival order after the last one."""
        keys = [column.key for column, _ in self.table.layout_columns]
        following = keys[keys.index(self.sort.column) + 1:] if self.sort.column in keys else keys
        self.sort = Sort(following[0]) if following else Sort()

    def reverse_sort(self) -> None:
        if self.sort.column is not None:
            self.sort = replace(self.sort, descending=not self.sort.descending)

    def marked_devices(self) -> list[Device]:
        """The devices marked with space, in arrival order (marks survive filters and refreshes)."""
        marked = self.table.marked
        return [device for device in self.inventory.devices if device_key(device) in marked] if marked else []

    def command_targets(self) -> list[Device]:
        """What a command acts on: the marked devices, else the highlighted one."""
        highlighted = self.table.device_at_cursor()
        return self.marked_devices() or ([highlighted] if highlighted is not None else [])

    @on(DeviceTable.Marked)
    def _marked(self) -> None:
        self.query_one("#filter-bar", Static).update(self.summary())

    def copy_menu(self) -> None:
        """y: pick what of the highlighted device to copy: a cell, the id, the row or its JSON record."""
        device = self.table.device_at_cursor()
        if device is None:
            self.notify("No device highlighted to copy from.", severity="warning", markup=False)
            return
        now = self.table.clock()
        cells = [(column, copied_value(column.key, column.cell(device, now)[0].strip(), device))
                 for column in self.table.columns]
        choices = [CopyChoice("i", "ID", device.id)]
        choices += [CopyChoice(COPY_KEYS[column.key], column.label, value) for column, value in cells]
        choices += [
            CopyChoice("r", "Row", "\t".join(value for _, value in cells)),
            CopyChoice("j", "JSON", json.dumps(device.to_json(), ensure_ascii=False)),
        ]

        def copy(choice: CopyChoice | None) -> None:
            if choice is not None:
                self.explorer.copy(choice.value, f"the {choice.label.lower()} of {device.name}")

        self.app.push_screen(CopyMenu(f"Copy from {device.name}", choices), copy)

    def export_prompt(self) -> None:
        """e: ask for a file (CSV or JSON by its extension), then write the devices shown now."""
        devices = self.table.devices  # what is on screen now, even if the view changes meanwhile
        if not devices:
            self.notify("Nothing to export: no device is shown.", severity="warning", markup=False)
            return
        scope = self.filter.connection if not self.fleets and self.filter.connection else "fleets"
        now = self.table.clock().astimezone()
        title = f"Export {len(devices):,} devices ({self.describe() or 'no filter'}) to CSV or JSON"

        def export(answer: PathAnswer | None) -> None:
            if answer is not None:
                self.screen.run_worker(self._export(devices, answer), group="export", exit_on_error=False)

        self.app.push_screen(PathPrompt(title, default_export_path(Path.cwd(), scope, now)), export)

    async def _export(self, devices: list[Device], answer: PathAnswer) -> None:
        count = await asyncio.to_thread(export_devices, devices, answer.path, overwrite=answer.overwrite)
        self.notify(f"Exported {count:,} devices to {answer.path}.", markup=False)

    @property
    def explorer(self) -> ExplorerApp:
        return cast("ExplorerApp", self.app)

    def clear_filters(self) -> bool:
        """Drop the flag and text filters (the group stays); False when there was none."""
        if self.filter == self.filter.scope:
            return False
        search = self.query_one("#search", Input)
        search.value = ""
        search.display = False
        self.filter = self.filter.scope
        self.table.focus()
        return True

    def open_search(self) -> None:
        self.query_one("#search", SearchBox).open()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.filter = replace(self.filter, text=event.value.strip())

    @on(SearchBox.Done, "#search")
    def _search_done(self, event: SearchBox.Done) -> None:
        """Back on the table (escape too keeps the text); the field stays in sight while it filters."""
        event.box.display = bool(event.box.value.strip())

    @on(DeviceTable.Selected)
    def _open_detail(self, event: DeviceTable.Selected) -> None:
        self.app.push_screen(DeviceDetailScreen(cast(Device, event.record)))

    @on(DeviceTable.HeaderClicked)
    def _header_clicked(self, event: DeviceTable.HeaderClicked) -> None:
        self.sort_by(event.column)

    def show_problem(self, words: str | None) -> None:
        """Why there are no devices to show (a first load that failed), said where they would be; None: clear."""
        if words != self.problem:
            self.problem = words
            self.refilter()

    def refilter(self) -> None:
        """Run the filter over the inventory and show the result; called on every keystroke and page."""
        self.selection = self.inventory.select(self.filter, self.sort)
        self.table.show(self.inventory, self.selection.rows, self.sort)
        self.query_one("#filter-bar", Static).update(self.summary())
        empty = self.query_one("#empty", Static)
        failed = self.problem is not None and not len(self.inventory)
        empty.display = failed or (bool(len(self.inventory)) and not self.selection.rows)
        self.set_class(empty.display, "-empty")
        if failed:
            empty.update(f"No devices loaded. {self.problem}")
        elif empty.display:
            empty.update(f"No device passes the filters ({self.describe()}). Esc clears them.")
        if not self.inventory.prepared and not self._preparing:
            self._preparing = True
            self.call_after_refresh(self._prepare)

    def _prepare(self) -> None:
        """Let the inventory do what it can ahead of need (`Inventory.prepare`: its search keys, then keeping the
        devices out of the collector's full passes) a slice at a time between refreshes, so that the first text
        filter over a large fleet does not wait for its keys (each page that arrives brings more to do)."""
        self.inventory.prepare(SEARCH_SLICE)
        self._preparing = not self.inventory.prepared
        if self._preparing:
            self.call_after_refresh(self._prepare)

    def describe(self, *, with_text: bool = True) -> str:
        """The active filters in words: "critical, online, matching “web”"."""
        parts = [words for flag, words in FLAG_WORDS.items() if getattr(self.filter, flag)]
        needle, negate = self.filter.needle
        if needle and with_text:
            parts.append(f"{'not ' if negate else ''}matching “{needle}”")
        return ", ".join(parts)

    def summary(self) -> str:
        """The filter bar: "37 critical of 100,000 in EMEA", or "100,000 devices in EMEA · 37 critical"."""
        selection = self.selection
        if self.problem is not None and not len(self.inventory):
            return "no devices loaded"
        where = f" in {self.filter.group[-1]}" if self.filter.group else ""
        if self.fleets and not where and self.filter.connection:
            where = f" in {self.filter.connection}"
        # The search field, when shown, already says what the text filter is: keep the bar short.
        words = self.describe(with_text=not self.query_one("#search").display)
        if self.describe():
            text = f"{len(selection.rows):,} {words or 'matching'} of {selection.scope:,}{where}"
        else:
            text = f"{selection.scope:,} devices{where} · {selection.critical:,} critical"
        if self.sort.column is not None:
            text += f" · by {self.sort.column}{' ▼' if self.sort.descending else ''}"
        if self.table.marked:  # first: the rest may be clipped by the search field
            text = f"{len(self.table.marked):,} marked · {text}"
        return text


def copied_value(column: str, shown: str, device: Device) -> str:
    """What `y` copies from a cell: what it stands for where the cell abbreviates ("4h" is the last-seen time
    in ISO 8601 UTC, "● quar" is "critical (quarantined)"), else the cell's text."""
    if column == "seen":
        return iso_utc(device.last_seen) or "never"
    if column == "health":
        return f"{device.health.value} ({device.state})" if device.state else device.health.value
    return shown


def device_key(device: Device) -> tuple[str, str]:
    """A device's identity across consoles, for marks that outlive filters and refreshes."""
    return device.connection, device.id
