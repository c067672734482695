"""One event: its normalized fields first, then every raw field the console sent; `d` opens its device."""

from __future__ import annotations

from textual import events
from textual.binding import Binding

from screens.detail import DetailScreen
from screens.device_detail import DeviceDetailScreen
from tui.models import Device, Event, iso_utc
from tui.vendors.base import NotAvailableError
from tui.vendors.facets import EventAcknowledgement
from widgets.confirm import ConfirmDialog


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
    """One event: its normalized fields, then every raw field; `d` opens its device's detail, `A`
    acknowledges a SEPM critical event on a connection that allows writes."""

    BINDINGS = [
        Binding("d", "device", "Device", tooltip="Open the detail of the device this event names"),
        Binding("A", "acknowledge", "Acknowledge", tooltip="Acknowledge this SEPM critical event on the console"),
    ]

    def __init__(self, event: Event, device: Device | None) -> None:
        super().__init__(f"{event.title} · {event.connection}", event_rows(event), event.raw)
        self.event = event
        self.device = device

    @property
    def acknowledgeable(self) -> bool:
        return self.event.source == "critical-events" and self.event.acknowledged is False

    @property
    def writable(self) -> bool:
        client = self.session.clients.get(self.event.connection)
        return client is not None and not client.connection.read_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "device":
            return self.device is not None
        if action == "acknowledge":
            return self.acknowledgeable and self.writable
        return True

    def on_key(self, event: events.Key) -> None:
        if event.key == "A" and self.acknowledgeable and not self.writable:
            event.stop()
            self.refuse_write(self.event.connection)

    def action_device(self) -> None:
        if self.device is not None:
            self.app.push_screen(DeviceDetailScreen(self.device))

    def action_acknowledge(self) -> None:
        where = self.event.device_name or self.event.device_id or "no named computer"
        message = f"{self.event.title} ({iso_utc(self.event.time)}, {where}). The console marks it as seen."

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._acknowledge(), group="acknowledge", exit_on_error=False)

        self.app.push_screen(ConfirmDialog(f"Acknowledge this event on {self.event.connection}?", message,
                                           confirm_label="Acknowledge"), answer)

    async def _acknowledge(self) -> None:
        client = self.session.clients.get(self.event.connection)
        if not isinstance(client, EventAcknowledgement):
            raise NotAvailableError(f"{self.event.connection} cannot acknowledge events.", scope="vendor")
        await client.acknowledge_event(self.event.id)
        self.notify(f"Acknowledged on {self.event.connection}: {self.event.title}", markup=False)
