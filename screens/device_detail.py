"""A device's detail: its normalized fields, its events of the last day, then every raw field."""

from __future__ import annotations

from datetime import timedelta

from textual import events
from textual.binding import Binding

from screens.commands import queue_fetch, queue_scan
from screens.detail import DetailScreen
from screens.messages import DeviceEventsLoaded
from screens.respond import offers_actions, respond_flow
from tui.models import Device, EventWindow, iso_utc
from tui.vendors.base import NotAvailableError, VendorClient, VendorError
from tui.vendors.facets import CommandQueue, CommandQueueClient, EventSource, ResponseActions


def summary_rows(device: Device) -> list[tuple[str, str]]:
    reasons = "; ".join(device.health_reasons)
    patches = {True: "missing", False: "up to date", None: "not reported"}[device.missing_critical_patches]
    return [
        ("Name", device.name),
        ("ID", device.id),
        ("Health", device.health.value + (f" ({reasons})" if reasons else "")),
        *([("State", device.state.upper())] if device.state else []),
        ("Critical patches", patches),
        ("Online", {True: "yes", False: "no", None: "not reported"}[device.online]),
        ("Last seen (UTC)", iso_utc(device.last_seen) or "never"),
        ("OS", device.os),
        ("IP addresses", ", ".join(device.ip_addresses)),
        ("User", device.user),
        ("Group", device.group),
        *([("Labels", ", ".join(device.labels))] if device.labels else []),
        ("Connection", f"{device.connection} ({device.vendor})"),
    ]


EVENTS_HEADING = "─ events, last 24 h ─"
RECENT = timedelta(hours=24)


class DeviceDetailScreen(DetailScreen):
    """A device, with its events of the last day where its console has events; on SEPM, `H` scans it for
    hashes and `f` fetches a file from it (on a connection that allows changes)."""

    BINDINGS = [
        Binding("H", "scan", "Scan", tooltip="SEPM: Evidence of Compromise scan of this computer for hashes"),
        Binding("f", "fetch", "Fetch", tooltip="SEPM: upload a file from this computer to the console"),
        Binding("x", "respond", "Respond", tooltip="Response actions on this device: isolate, quarantine, scan, "
                                                    "show a message (what the console offers)"),
    ]

    def __init__(self, device: Device) -> None:
        super().__init__(f"{device.name} · {device.connection}", summary_rows(device), device.raw)
        self.device = device

    def on_mount(self) -> None:
        super().on_mount()
        client = self.session.clients.get(self.device.connection)
        if isinstance(client, EventSource):
            self.related = (EVENTS_HEADING, [("loading…", "")])
            self.show_rows()
            self.run_worker(self._recent_events(client), group="device-events", exit_on_error=False)

    async def _recent_events(self, client: EventSource) -> None:
        now = self.session.now()
        window = EventWindow.last(RECENT, now, device_id=self.device.id, device_name=self.device.name)
        try:
            events = [event async for page in client.events(window) for event in page.events]
        except NotAvailableError as error:
            self.post_message(DeviceEventsLoaded([("not available", str(error))]))
            return
        except VendorError as error:  # said here and, by the app's handler, in a notification
            self.post_message(DeviceEventsLoaded([("not loaded", f"{error.title}: {error.message} "
                                                  "Open the device again to retry.")]))
            raise
        events.sort(key=lambda event: event.time, reverse=True)
        rows = [(f"{event.time:%m-%d %H:%M:%S} {event.severity.value}", event.title) for event in events]
        self.post_message(DeviceEventsLoaded(rows or [("none", "no event in the last 24 hours")]))

    @property
    def queue(self) -> CommandQueueClient | None:
        """The device's console when it queues commands (SEPM)."""
        client = self.client
        return client if isinstance(client, CommandQueue) else None

    @property
    def client(self) -> VendorClient | None:
        return self.session.clients.get(self.device.connection)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("scan", "fetch"):
            queue = self.queue
            return queue is not None and not queue.connection.read_only
        if action == "respond":
            return offers_actions(self.client)
        return True

    def on_key(self, event: events.Key) -> None:
        queue = self.queue
        if event.key in ("H", "f") and queue is not None and queue.connection.read_only \
                and self.focused is not self.query_one("#field-search"):
            event.stop()
            self.refuse_write(self.device.connection)
        client = self.client
        if event.key == "x" and isinstance(client, ResponseActions) and client.connection.read_only \
                and self.focused is not self.query_one("#field-search"):
            event.stop()
            self.refuse_write(self.device.connection)

    def action_scan(self) -> None:
        if self.queue is not None:
            self.run_worker(queue_scan(self, self.queue, [self.device]), group="command", exit_on_error=False)

    def action_fetch(self) -> None:
        if self.queue is not None:
            self.run_worker(queue_fetch(self, self.queue, [self.device]), group="command", exit_on_error=False)

    def action_respond(self) -> None:
        if self.client is not None:
            self.run_worker(respond_flow(self, self.client, [self.device]), group="respond", exit_on_error=False)

    def on_device_events_loaded(self, message: DeviceEventsLoaded) -> None:
        self.related = (EVENTS_HEADING, message.rows)
        self.show_rows()
