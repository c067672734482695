"""The device table: one row per vendor-neutral `Device`, the cursor kept on the same device across updates.

Columns have a priority; the table shows the most important ones that fit its width, so at 80 columns
a responder still sees health, name, last contact, patch state and address without scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from tui.models import Device, Health

HEALTH_CELLS = {
    Health.CRITICAL: Text("● crit", style="bold red"),
    Health.WARNING: Text("▲ warn", style="yellow"),
    Health.OK: Text("  ok", style="green"),
    Health.UNKNOWN: Text("? unkn", style="dim"),
}
PATCH_CELLS = {True: Text("missing", style="bold red"), False: Text("ok", style="green"), None: Text("-", style="dim")}
CELL_PADDING = 2  # DataTable pads each cell by one column on either side


def age_text(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the tersest form a responder reads at a glance: 45s, 12m, 3h, 9d."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def seen_cell(device: Device, now: datetime) -> Text:
    """"online" when the console says so, else how long since the device last checked in."""
    if device.online:
        return Text("online", style="green")
    return Text(age_text(device.last_seen, now), style="dim")


@dataclass(frozen=True, slots=True)
class Column:
    """A column in priority order; text columns size to their longest value, up to `max_width`."""

    label: str
    cell: Callable[[Device, datetime], Text | str]
    min_width: int
    max_width: int
    keep_end: bool = False
    """Clip from the left: the end of a group path names the group."""


COLUMNS = (
    Column("Health", lambda d, now: HEALTH_CELLS[d.health], 6, 6),
    Column("Name", lambda d, now: d.name, 8, 24),
    Column("Seen", seen_cell, 6, 6),
    Column("Patches", lambda d, now: PATCH_CELLS[d.missing_critical_patches], 7, 7),
    Column("IP", lambda d, now: d.ip_addresses[0] if d.ip_addresses else "", 15, 15),
    Column("Group", lambda d, now: d.group, 12, 40, keep_end=True),
    Column("OS", lambda d, now: d.os, 10, 28),
    Column("User", lambda d, now: d.user, 6, 20),
)


class DeviceTable(DataTable[Text | str]):
    """Rows are positions in `devices`; `device_at_cursor` maps back to the record."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.clock = clock or (lambda: datetime.now(UTC))
        self.devices: list[Device] = []
        self.shown_columns: tuple[tuple[Column, int], ...] = ()

    def show(self, devices: Sequence[Device]) -> None:
        """Replace the rows, keeping the cursor on the device it was on when that device is still shown."""
        current = self.device_at_cursor()
        self.devices = list(devices)
        self._rebuild()
        if current is not None:
            for row, device in enumerate(self.devices):
                if device.id == current.id and device.connection == current.connection:
                    self.move_cursor(row=row, animate=False)
                    break

    def on_resize(self, event: events.Resize) -> None:
        if self._fitting_columns() != self.shown_columns:
            row = self.cursor_row
            self._rebuild()
            self.move_cursor(row=row, animate=False)

    def device_at_cursor(self) -> Device | None:
        if self.row_count and 0 <= self.cursor_row < len(self.devices):
            return self.devices[self.cursor_row]
        return None

    def _fitting_columns(self) -> tuple[tuple[Column, int], ...]:
        """The columns that fit the width, each with its width, in priority order."""
        available = self.size.width - self.styles.scrollbar_size_vertical
        now = self.clock()
        chosen: list[tuple[Column, int]] = []
        used = 0
        for column in COLUMNS:
            width = max(column.min_width, len(column.label))
            if column.max_width > width:
                longest = max((len(str(column.cell(d, now))) for d in self.devices), default=0)
                width = min(column.max_width, max(width, longest))
            room = available - used - CELL_PADDING
            if chosen and room < max(column.min_width, len(column.label)):
                break
            width = min(width, room) if chosen else width
            chosen.append((column, width))
            used += width + CELL_PADDING
        return tuple(chosen)

    def _rebuild(self) -> None:
        fitting = self._fitting_columns()
        if fitting != self.shown_columns:
            self.clear(columns=True)
            for column, width in fitting:
                self.add_column(column.label, width=width)
            self.shown_columns = fitting
        else:
            self.clear()
        now = self.clock()
        self.add_rows(
            [clip(column.cell(device, now), width, keep_end=column.keep_end) for column, width in fitting]
            for device in self.devices
        )


def clip(cell: Text | str, width: int, *, keep_end: bool = False) -> Text:
    """Fit a cell to its column with an ellipsis, at the end or (keep_end) at the start."""
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    if len(text) <= width:
        return text
    if keep_end:
        return Text("…") + text[len(text) - width + 1 :]
    text.truncate(width, overflow="ellipsis")
    return text
