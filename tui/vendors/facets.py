"""What a console can do beyond listing its groups and devices: small facets a client class offers or not.

`VendorClient.capabilities` is derived from them, and a screen narrows a client to the facet it needs
(`isinstance(client, CommandQueue)`), so no caller reaches for a method a console lacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tui.models import (
    Command,
    CommandStatus,
    Connection,
    Device,
    DevicePage,
    EventPage,
    EventWindow,
    FileDetails,
    FingerprintList,
)

if TYPE_CHECKING:
    from tui.respond import ActionResult


@runtime_checkable
class EventSource(Protocol):
    """A console whose events this app reads (each vendor's client says which logs make its timeline)."""

    def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        """The events in `window`, one page at a time as pages arrive."""


@runtime_checkable
class EventAcknowledgement(Protocol):
    """A console where an event can be marked as seen (SEPM's critical events)."""

    async def acknowledge_event(self, event_id: str) -> None:
        """Acknowledge one event; a write (`WriteRefusedError` on a read-only connection)."""


@runtime_checkable
class FingerprintLists(Protocol):
    """Hash lists a console blocks or allows (SEPM's fingerprint lists for system lockdown)."""

    async def fingerprint_list(self, name: str) -> FingerprintList:
        """The list of that name."""

    async def fingerprint_list_by_id(self, list_id: str) -> FingerprintList:
        """The list with that id (`NotFoundError` when it is gone)."""

    async def create_fingerprint_list(
        self, name: str, hashes: Iterable[str], *, description: str = "", hash_type: str | None = None
    ) -> FingerprintList:
        """A new list of hashes of one type, returned with its id."""

    async def update_fingerprint_list(
        self, listing: FingerprintList, hashes: Iterable[str], *, name: str | None = None,
        description: str | None = None,
    ) -> FingerprintList:
        """The list with its hashes (and name, description) replaced."""

    async def delete_fingerprint_list(self, list_id: str, *, name: str = "") -> None:
        """Delete the list."""

    async def assign_fingerprint_list(
        self, list_id: str, group_id: str, *, list_name: str = "", group_path: str = ""
    ) -> None:
        """Assign the list to a group for system lockdown."""


@runtime_checkable
class CommandQueue(Protocol):
    """Commands queued on computers and followed per computer (SEPM's command queue)."""

    async def eoc_scan(
        self, hashes: Iterable[str], *, computer_ids: Sequence[str] = (), group_ids: Sequence[str] = (),
        remediate: bool = False, full_scan: bool = True, description: str = "",
    ) -> list[Command]:
        """Queue an Evidence of Compromise scan for the hashes."""

    async def fetch_file(
        self, computer_ids: Sequence[str], file_path: str, file_hash: str, *, source: str = "FILESYSTEM"
    ) -> Command:
        """Queue the upload of a file from the computers to the console."""

    def follow_command(self, command_id: str, *, interval: float = 5.0) -> AsyncIterator[CommandStatus]:
        """The command's status, again every `interval` seconds until every computer is done."""

    async def cancel_command(self, command_id: str) -> Command:
        """Queue the command's cancellation."""

    async def file_details(self, file_id: str) -> FileDetails:
        """What a fetch uploaded: its size and checksum."""


class EventSourceClient(EventSource, Protocol):
    """For type checking: a client narrowed by `isinstance(client, EventSource)`, with its connection."""

    connection: Connection


@runtime_checkable
class ResponseActions(Protocol):
    """A console that can act on devices (issue 18): isolate, quarantine, scan, show a message. Each vendor
    offers the actions its API documents (`offered_actions`); a screen lists only those, and a vendor without
    any does not have this facet at all."""

    def offered_actions(self) -> tuple[str, ...]:
        """The `tui.respond.ACTIONS` names this console can do, in menu order."""

    async def respond(self, action: str, devices: Sequence[Device], message: str = "") -> list[ActionResult]:
        """Send `action` to `devices` in as many calls as the console's target limit needs: one result per
        device, accepted or refused with the console's reason. Refused on a read-only connection before
        anything is sent (`WriteRefusedError`); a failure after the first call refuses the rest in words
        instead of losing what was already sent."""

    def follow_response(self, action: str, results: Sequence[ActionResult]) -> AsyncIterator[list[ActionResult]]:
        """The accepted results followed on the console, one updated list per poll, until each is final or
        the console cannot tell more."""


class CommandQueueClient(CommandQueue, Protocol):
    """For type checking: a client narrowed by `isinstance(client, CommandQueue)`, with its connection."""

    connection: Connection


@runtime_checkable
class LabelMembership(Protocol):
    """A console whose device records do not list their labels (EPMM): a label's members are known only by
    searching with that label, so the UI asks for them when a label is opened and the CLI when one is named."""

    def label_ids(self, group_id: str) -> list[str]:
        """The group ids of the labels `group_id` stands for: itself if it is a label, every label for the
        root of the labels, none for any other group (`groups()` must have been read)."""

    def label_devices(self, group_ids: Sequence[str]) -> AsyncIterator[DevicePage]:
        """The devices of these labels, a page at a time, each carrying the label's path in `labels`; a
        bounded number of label searches in flight."""
