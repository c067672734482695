"""The device table: one row per vendor-neutral `Device`, the cursor kept on the same device across updates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual.widgets import DataTable

from tui.models import Device, Health

HEALTH_CELLS = {
    Health.CRITICAL: Text("● crit", style="bold red"),
    Health.WARNING: Text("▲ warn", style="yellow"),
    Health.OK: Text("  ok", style="green"),
    Health.UNKNOWN: Text("? unkn", style="dim"),
}
PATCH_CELLS = {True: Text("missing", style="bold red"), False: Text("ok", style="green"), None: Text("-", style="dim")}
COLUMNS = ("Health", "Name", "IP", "Seen", "Patches", "OS", "User", "Group")


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


class DeviceTable(DataTable[Text | str]):
    """Rows are keyed by position; `device_at_cursor` maps back to the record."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.clock = clock or (lambda: datetime.now(UTC))
        self.devices: list[Device] = []

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, devices: Sequence[Device]) -> None:
        """Replace the rows, keeping the cursor on the device it was on when that device is still shown."""
        current = self.device_at_cursor()
        self.devices = list(devices)
        now = self.clock()
        self.clear()
        self.add_rows(self._cells(device, now) for device in self.devices)
        if current is not None:
            for row, device in enumerate(self.devices):
                if device.id == current.id and device.connection == current.connection:
                    self.move_cursor(row=row, animate=False)
                    break

    def device_at_cursor(self) -> Device | None:
        if 0 <= self.cursor_row < len(self.devices) and self.row_count:
            return self.devices[self.cursor_row]
        return None

    @staticmethod
    def _cells(device: Device, now: datetime) -> list[Text | str]:
        return [
            HEALTH_CELLS[device.health],
            device.name,
            device.ip_addresses[0] if device.ip_addresses else "",
            seen_cell(device, now),
            PATCH_CELLS[device.missing_critical_patches],
            device.os,
            device.user,
            device.group,
        ]
