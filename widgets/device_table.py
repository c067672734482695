"""The device table: the Line-API `VirtualTable` over an `Inventory`, with the device columns.

Columns have a priority; the table shows the most important ones that fit its width, so at 80 columns
a responder still sees health, name, last contact, patch state and address without scrolling sideways.
Text columns have no widest size: the room left widens them in priority order to their longest value.
The cursor follows the device, not the line: it stays on the same device across refreshes, filters
and sorts while that device is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.style import Style

from tui.export import age_text
from tui.inventory import Inventory, Sort
from tui.models import Device, Health
from widgets.virtual_table import PLAIN, Cell, Column, ColumnSort, VirtualTable

HEALTH_CELLS = {
    Health.CRITICAL: ("● crit", Style(color="red", bold=True)),
    Health.WARNING: ("▲ warn", Style(color="yellow")),
    Health.OK: ("  ok", Style(color="green")),
    Health.UNKNOWN: ("? unkn", Style(dim=True)),
}
STATE_WORDS = {"isolated": "isol", "quarantined": "quar", "blocked": "blck", "inactive": "inac"}
"""A state the console reports takes the health word's place, after the health's mark and in its colour ("● quar",
"▲ isol"): a responder sees at a glance both how urgent a device is and that it is cut off or not reporting."""
PATCH_CELLS = {
    True: ("missing", Style(color="red", bold=True)),
    False: ("ok", Style(color="green")),
    None: ("-", Style(dim=True)),
}


def health_cell(device: Device) -> Cell:
    """The health word, or the state that overrides it, in the health's colour."""
    text, style = HEALTH_CELLS[device.health]
    word = STATE_WORDS.get(device.state)
    return (f"{text[:2]}{word}" if word else text), style


def seen_cell(device: Device, now: datetime) -> Cell:
    """"online" when the console says so, else how long since the device last checked in."""
    if device.online:
        return "online", Style(color="green")
    return age_text(device.last_seen, now), Style(dim=True)


COLUMNS: tuple[Column[Device], ...] = (
    Column("health", "Health", lambda d, now: health_cell(d), 6, 6),
    Column("name", "Name", lambda d, now: (d.name, PLAIN), 14),
    Column("connection", "Connection", lambda d, now: (d.connection, Style(color="cyan")), 10),
    Column("seen", "Seen", seen_cell, 6, 6),
    Column("patches", "Patches", lambda d, now: PATCH_CELLS[d.missing_critical_patches], 7, 7),
    Column("ip", "IP", lambda d, now: (d.ip_addresses[0] if d.ip_addresses else "", PLAIN), 15, 15),
    Column("group", "Group", lambda d, now: (d.group, PLAIN), 12, keep_end=True),
    Column("os", "OS", lambda d, now: (d.os, PLAIN), 10),
    Column("user", "User", lambda d, now: (d.user, PLAIN), 6),
)


class DeviceTable(VirtualTable[Device]):
    """The devices of an inventory; `show` keeps the cursor on its device across inventories."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, columns: Sequence[str] | None = None,
                 **kwargs: object) -> None:
        chosen = [column for column in COLUMNS if columns is None or column.key in columns]
        super().__init__(chosen, clock=clock, **kwargs)

    def show(self, inventory: Inventory, rows: list[int], sort: Sort = Sort()) -> None:
        self.show_rows(inventory.devices, rows, sort=ColumnSort(sort.column, sort.descending), widths=inventory.widths,
                       row_of=inventory.row_of, version=inventory.version)

    @property
    def devices(self) -> list[Device]:
        return self.shown

    def device_at_cursor(self) -> Device | None:
        return self.record_at_cursor()
