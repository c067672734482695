"""The devices view: the filter bar and the device table over the devices loaded so far.

It holds no vendor knowledge: it filters `Device` records with `tui.inventory.DeviceFilter` and opens a
device's detail on enter. The groups screen composes it beside the tree and feeds it pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from screens.device_detail import DeviceDetailScreen
from tui.inventory import DeviceFilter
from tui.models import Device, Health
from widgets.device_table import DeviceTable


class DevicesPane(Vertical):
    """Filter bar over the device table; `devices` is everything loaded, `shown` what passes the filter."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.devices: list[Device] = []
        self.filter = DeviceFilter()

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static("", id="filter-bar")
            yield Input(placeholder="name, IP, user, OS, group; !text excludes", id="search", compact=True)
        yield DeviceTable(id="devices", clock=self.clock)
        yield Static("", id="empty")

    def on_mount(self) -> None:
        self.query_one("#search").display = False
        self.query_one("#empty").display = False
        self._render_bar()

    @property
    def table(self) -> DeviceTable:
        return self.query_one("#devices", DeviceTable)

    def set_devices(self, devices: list[Device]) -> None:
        self.devices = devices
        self.refilter()

    def set_filter(self, new_filter: DeviceFilter) -> None:
        self.filter = new_filter
        self.refilter()

    def toggle(self, flag: str) -> None:
        self.set_filter(replace(self.filter, **{flag: not getattr(self.filter, flag)}))

    def clear_filters(self) -> bool:
        """Drop the critical, patch and text filters (the group stays); False when there was none."""
        if not (self.filter.critical or self.filter.missing_patch or self.filter.text):
            return False
        search = self.query_one("#search", Input)
        search.value = ""
        search.display = False
        self.set_filter(DeviceFilter(group=self.filter.group))
        self.table.focus()
        return True

    def open_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.set_filter(replace(self.filter, text=event.value.strip()))

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.table.focus()

    def refilter(self) -> None:
        scope = DeviceFilter(group=self.filter.group).apply(self.devices)
        shown = self.filter.apply(scope)
        self.table.show(shown)
        self._render_bar(len(scope))
        empty = self.query_one("#empty", Static)
        empty.display = bool(self.devices) and not shown
        self.set_class(empty.display, "-empty")
        if empty.display:
            empty.update(f"No device matches {self._describe()}. Esc clears the filters.")

    def _describe(self) -> str:
        parts = []
        if self.filter.critical:
            parts.append("critical")
        if self.filter.missing_patch:
            parts.append("missing patches")
        if self.filter.text:
            parts.append(f"“{self.filter.text}”")
        return " + ".join(parts)

    def _render_bar(self, scope: int = 0) -> None:
        where = f" in {self.filter.group[-1]}" if self.filter.group else ""
        if self._describe():
            summary = f"{len(self.table.devices):,} of {scope:,}{where} · {self._describe()}"
        else:
            critical = sum(1 for device in self.table.devices if device.health is Health.CRITICAL)
            summary = f"{scope:,} devices{where} · {critical:,} critical"
        self.query_one("#filter-bar", Static).update(summary)

    @on(DataTable.RowSelected, "#devices")
    def _open_detail(self) -> None:
        device = self.table.device_at_cursor()
        if device is not None:
            self.app.push_screen(DeviceDetailScreen(device))
