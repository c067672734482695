"""One device: the normalized fields first, then every raw field the console sent, searchable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input

from screens.base import ExplorerScreen
from tui.models import Device, iso_utc


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Nested JSON as dotted keys and printable values, so every raw field gets one row."""
    if isinstance(value, dict):
        for key in sorted(value, key=str.casefold):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    elif isinstance(value, list):
        yield prefix, ", ".join(str(item) for item in value)
    else:
        yield prefix, "null" if value is None else str(value)


def summary_rows(device: Device) -> list[tuple[str, str]]:
    reasons = "; ".join(device.health_reasons)
    patches = {True: "missing", False: "up to date", None: "not reported"}[device.missing_critical_patches]
    return [
        ("Name", device.name),
        ("ID", device.id),
        ("Health", device.health.value + (f" ({reasons})" if reasons else "")),
        ("Critical patches", patches),
        ("Online", {True: "yes", False: "no", None: "not reported"}[device.online]),
        ("Last seen (UTC)", iso_utc(device.last_seen) or "never"),
        ("OS", device.os),
        ("IP addresses", ", ".join(device.ip_addresses)),
        ("User", device.user),
        ("Group", device.group),
        ("Connection", f"{device.connection} ({device.vendor})"),
    ]


class DeviceDetailScreen(ExplorerScreen):
    BINDINGS = [
        Binding("slash", "search", "Search fields", key_display="/"),
        Binding("y", "copy", "Copy value"),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device
        self.rows = summary_rows(device) + [(f"raw.{key}", value) for key, value in flatten(device.raw)]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="search field names and values", id="field-search", compact=True)
        table: DataTable[str] = DataTable(id="fields", cursor_type="row", zebra_stripes=True)
        table.add_columns("Field", "Value")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.device.name} · {self.device.connection}"
        self.query_one("#field-search").display = False
        self.show_rows("")
        self.query_one("#fields").focus()

    def show_rows(self, needle: str) -> None:
        table = self.query_one("#fields", DataTable)
        table.clear()
        lowered = needle.casefold()
        for field, value in self.rows:
            if not lowered or lowered in field.casefold() or lowered in value.casefold():
                table.add_row(field, value)

    def action_search(self) -> None:
        search = self.query_one("#field-search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#field-search")
    def _search(self, event: Input.Changed) -> None:
        self.show_rows(event.value.strip())

    @on(Input.Submitted, "#field-search")
    def _search_done(self) -> None:
        self.query_one("#fields").focus()

    def action_copy(self) -> None:
        table = self.query_one("#fields", DataTable)
        if not table.row_count:
            return
        field, value = table.get_row_at(table.cursor_row)
        self.explorer.copy(str(value), str(field))

    def action_back(self) -> None:
        search = self.query_one("#field-search", Input)
        if self.focused is search:
            search.value = ""
            search.display = False
            self.query_one("#fields").focus()
        else:
            self.app.pop_screen()
