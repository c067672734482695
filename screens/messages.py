"""The messages the screens' workers post, as dataclasses: one place to read what background work says.

A load's messages carry its `generation`; a screen drops the words of a load it cancelled. The types they
carry are for the reader and mypy only: the first screen imports this module, and the loads' modules come
later, with the loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tui.fingerprint_load import KnownRead
    from tui.fleet_load import KeptFleet, Step
    from tui.inventory import Inventory
    from tui.models import CommandStatus, Connection, Device, EventPage, FileDetails, FingerprintList
    from tui.respond import ActionResult


@dataclass
class ConsoleStep(Message):
    """A step of one console's load: its server info, its groups, or a page of devices."""

    generation: int
    connection: str
    step: Step


@dataclass
class LabelsLoaded(Message):
    """Every member of these labels (EPMM) has arrived: their counts come from the inventory from now on."""

    generation: int
    connection: str
    group_ids: list[str]


@dataclass
class ConsoleWaiting(Message):
    """A console's client pauses (a rate limit, a retry) and says why; None when it goes on."""

    generation: int
    connection: str
    reason: str | None


@dataclass
class ConnectionTesting(Message):
    """How far the test of a connection got, for the status line."""

    words: str


@dataclass
class ConnectionsUnlocked(Message):
    """Secrets were obtained (or found) for one or more connections: open them together."""

    unlocked: list[tuple[Connection, str | None]]


@dataclass
class EventsArrived(Message):
    """A page of a console's events in the timeline's window (`tail`: found by the live tail)."""

    generation: int
    page: EventPage
    tail: bool = False


@dataclass
class DeviceEventsLoaded(Message):
    """A device's recent events, as (when and severity, title) rows, or why there are none."""

    rows: list[tuple[str, str]]


@dataclass
class CommandPolled(Message):
    """A command's status per computer, as the console answered a poll."""

    status: CommandStatus


@dataclass
class CommandFileFound(Message):
    """A file a fetch command uploaded: its size and checksum."""

    details: FileDetails


@dataclass
class KnownListRead(Message):
    """One step of reading the fingerprint lists a connection knows: a list, one gone, or how many were not read."""

    generation: int
    read: KnownRead


@dataclass
class ListOpened(Message):
    """A fingerprint list was read (opened, created or changed)."""

    listing: FingerprintList


@dataclass
class ListDeleted(Message):
    """A fingerprint list was deleted from the console."""

    listing: FingerprintList


@dataclass
class ResponseFollowed(Message):
    """Where each device of a response action stands, after a poll of the console."""

    results: list[ActionResult]


@dataclass
class SnapshotOpened(Message):
    """The latest snapshots of the consoles a screen opens, with their first devices (None: there are none, or
    the store failed, said in `problem` once)."""

    fleet: KeptFleet | None
    problem: str | None = None


@dataclass
class SnapshotChunk(Message):
    """More devices of the snapshot shown, for the inventory it was opened into."""

    inventory: Inventory
    devices: list[Device]
