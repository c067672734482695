"""One event: its normalized fields first, then every raw field the console sent; `d` opens its device."""

from __future__ import annotations

from textual.binding import Binding

from screens.device_detail import DetailScreen, DeviceDetailScreen
from tui.models import Device, Event, iso_utc


def event_rows(event: Event) -> list[tuple[str, str]]:
    acknowledged = {True: "yes", False: "no", None: "not applicable"}[event.acknowledged]
    return [
        ("Event", event.title),
        ("Time (UTC)", iso_utc(event.time) or ""),
        ("Severity", event.severity.value),
        ("Engine", f"{event.engine} ({event.category})" if event.category else event.engine),
        ("Device", event.device_name or event.device_id or "not named"),
        ("Message", event.message),
        ("Acknowledged", acknowledged),
        ("Connection", f"{event.connection} ({event.vendor})"),
        ("ID", event.id),
    ]


class EventDetailScreen(DetailScreen):
    """One event: its normalized fields, then every raw field; `d` opens its device's detail."""

    BINDINGS = [Binding("d", "device", "Device", tooltip="Open the detail of the device this event names")]

    def __init__(self, event: Event, device: Device | None) -> None:
        super().__init__(f"{event.title} · {event.connection}", event_rows(event), event.raw)
        self.device = device

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.device is not None if action == "device" else True

    def action_device(self) -> None:
        if self.device is not None:
            self.app.push_screen(DeviceDetailScreen(self.device))
