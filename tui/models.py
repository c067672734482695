"""Vendor-neutral records shared by the clients, the CLI and the screens.

Every vendor client maps its payloads onto these types, so the UI and the CLI never read a vendor
field directly; the raw payload stays attached (compressed, see `RawPage`) for the detail view and for export.

These records are the one cleaning boundary for console data, which an attacker who controls an endpoint
partly writes (its host name, user, OS string): every text field of a record, and every string of a raw
payload when it is decoded, is made `visible` as it is built, so no surface after it (table, tree, detail,
CLI output, exports, clipboard, notifications) can receive a terminal escape or a bidi override.
"""

from __future__ import annotations

import enum
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import lz4.block
import orjson

_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"}
"""C0 controls and DEL as their Unicode control pictures (ESC is ␛): seen, never executed."""


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every character a terminal could act on shown instead: C0 controls and DEL as control
    pictures (␛), C1 controls, format characters (bidi overrides and isolates, zero-width marks), line and
    paragraph separators, surrogates and unassigned code points as `<U+202E>`. Printable text is returned as
    it is (the common case costs one `str.isprintable`). `keep_newlines` keeps `\n` (multi-line messages)."""
    if text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(visible(line) for line in text.split("\n"))
    return "".join(char if char.isprintable() or char == " " else _shown(char) for char in text)


def _shown(char: str) -> str:
    code = ord(char)
    picture = _PICTURES.get(code)
    if picture is not None:
        return picture
    if unicodedata.category(char) == "Zs":  # a no-break or other wide space: harmless, kept as a space
        return " "
    return f"<U+{code:04X}>"


def json_loads(data: bytes | str) -> Any:
    """JSON as consoles send it. orjson first (fast); a number no double holds (`1e400`) fails it for the whole
    body, so such a body is read again by the standard library with that number as None: only that field is
    unreadable, the rest of the page stays. Integers wider than 64 bits become floats, as orjson makes them.
    Raises `ValueError` (orjson's JSONDecodeError is one) for a body that is not JSON at all."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "infinity" not in str(error):
            raise
    return json.loads(data, parse_float=_finite, parse_int=_int_or_float, parse_constant=lambda _: None)


def _finite(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


def _int_or_float(text: str) -> int | float | None:
    return int(text) if len(text.lstrip("-")) <= 19 else _finite(text)


def _visible_fields(record: Any, names: tuple[str, ...]) -> None:
    """Make the named text fields of a (frozen) record `visible`; None stays None."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, str) and not value.isprintable():
            object.__setattr__(record, name, visible(value))


@overload
def visible_tree(value: Mapping[str, Any]) -> dict[str, Any]: ...
@overload
def visible_tree(value: list[Any] | str | float | None) -> Any: ...
def visible_tree(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) made `visible`; newlines in values are kept."""
    if isinstance(value, str):
        return visible(value, keep_newlines=True)
    if isinstance(value, dict):
        return {visible(str(key)): visible_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [visible_tree(item) for item in value]
    return value


VENDORS: dict[str, str] = {
    "sepm": "Symantec Endpoint Protection Manager",
    "epmm": "Ivanti EPMM (MobileIron Core)",
    "elements": "WithSecure Elements",
}
"""Vendor keys accepted in a connection profile, with the name a user knows them by."""
PRODUCTS: dict[str, str] = {"sepm": "SEPM", "epmm": "EPMM", "elements": "Elements"}
"""Each vendor's short name (a client's `product`): here, so the connections screen names them without
importing the clients and httpx before its first frame."""


class Health(str, enum.Enum):
    """How urgently a device needs a defender's attention."""

    CRITICAL = "critical"
    WARNING = "warning"
    OK = "ok"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Connection:
    """One console the user can open: a profile from config.toml or a demo profile.

    Secrets are never a plain field of the profile unless the user chose to save one (`password`).
    """

    name: str
    vendor: str
    url: str
    username: str = ""
    domain: str = ""
    password_env: str | None = None
    password_command: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True
    allow_http: bool = False
    read_only: bool = True
    device_space_id: int = 1
    """EPMM: the admin device space the API user works in (1 is the global space)."""
    connected_cloud: bool = False
    """EPMM: the Connected Cloud variant, where every API path gains a `rest/` prefix."""

    @property
    def tls_label(self) -> str:
        """How the server certificate is checked, in words for the connections table."""
        if self.url.startswith("http://"):
            return "plain http"
        if self.verify is False:
            return "NOT verified"
        if isinstance(self.verify, str):
            return "custom CA"
        return "verified"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What an unauthenticated probe learns about a console."""

    product: str
    version: str
    api_version: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", visible(self.version))
        object.__setattr__(self, "api_version", visible(self.api_version))

    @property
    def title(self) -> str:
        """"SEPM 14.3.25029.9000", or the product alone, said plainly, when the server keeps its version."""
        return f"{self.product} {self.version}" if self.version else f"{self.product} (version not disclosed)"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vendor's API can do; a missing capability is shown as absent, never faked."""

    groups: bool = True
    devices: bool = True
    fingerprints: bool = False
    events: bool = False
    commands: bool = False
    """Queue commands on computers: Evidence of Compromise scans and file fetches (SEPM's command queue)."""
    acknowledge: bool = False
    """Mark an event as seen on the console."""


@dataclass(slots=True)
class Group:
    """A node of a console's group tree; `path` is the list of names from the root down."""

    id: str
    name: str
    path: tuple[str, ...]
    parent_id: str | None = None
    device_count: int | None = None
    path_text: str = field(init=False, repr=False, compare=False)
    """The path as one backslash-separated text, made once: the devices of the group all point at this copy."""

    def __post_init__(self) -> None:
        self.id, self.name = visible(self.id), visible(self.name)
        if not all(map(str.isprintable, self.path)):
            self.path = tuple(map(visible, self.path))
        self.path_text = "\\".join(self.path)

    def to_json(self) -> dict[str, Any]:
        """The CLI's documented JSON record of a group."""
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path_text,
            "parent_id": self.parent_id,
            "device_count": self.device_count,
        }


class RawPage:
    """One page of a listing as the console sent it, LZ4-compressed, for the `raw` of what was mapped from it.

    Parsed, a record costs several times its JSON in Python objects (SEPM: 1.2 GB for 100,000 computers);
    the compressed body costs about a quarter of the JSON. A record is decoded only when asked for (the
    detail view), a whole page at a time, and the last pages decoded are kept for the next ask.
    """

    __slots__ = ("_compressed", "_key", "_records")

    def __init__(self, compressed: Future[bytes] | None, key: str,
                 records: Sequence[Mapping[str, Any]] | None = None) -> None:
        self._compressed = compressed
        self._key = key
        self._records = records

    @classmethod
    def compress(cls, body: bytes, key: str) -> RawPage:
        """The page whose JSON body is `body`; `key` names its record list ("content", "results", "items").

        Returns at once: a worker thread compresses the body (LZ4 releases the GIL), so the listing never
        waits for it. LZ4, not zlib: a 2.2 MB SEPM page takes 1.5 ms (zlib level 1: 11 ms, the largest share of
        the client's CPU per page) and comes down to 0.5 MB (zlib: 0.43 MB).
        """
        return cls(_compressor.submit(lz4.block.compress, body), key)

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]]) -> RawPage:
        """A page of records already in memory (tests, a record mapped on its own), kept as they are."""
        return cls(None, "", records)

    @classmethod
    def stored_page(cls, compressed: bytes, key: str) -> RawPage:
        """A page read back from the snapshot store (`stored`)."""
        body: Future[bytes] = Future()
        body.set_result(compressed)
        return cls(body, key)

    def stored(self) -> tuple[str, bytes]:
        """The page's record key and compressed body, as the snapshot store keeps them (a page of records in
        memory is compressed now, under the key "records")."""
        if self._compressed is None:
            assert self._records is not None  # `of` makes the one page without a body, from its records
            return "records", lz4.block.compress(orjson.dumps({"records": list(self._records)}))
        return self._key, self._compressed.result()

    def record(self, index: int) -> dict[str, Any]:
        """The record at `index` of the page's record list."""
        global _decoded
        if self._compressed is None:
            assert self._records is not None  # `of` makes the one page without a body, from its records
            return visible_tree(self._records[index])
        for page, records in _decoded:
            if page is self:
                return visible_tree(records[index])
        decoded: list[dict[str, Any]] = json_loads(lz4.block.decompress(self._compressed.result()))[self._key]
        _decoded = ((self, decoded), *_decoded[: _DECODED_KEPT - 1])
        return visible_tree(decoded[index])


_compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-page")
"""One thread is plenty: it compresses a page several times faster than the page is parsed and mapped."""

_DECODED_KEPT = 2
_decoded: tuple[tuple[RawPage, list[dict[str, Any]]], ...] = ()
"""The pages decoded last, newest first: opening the devices of one page one after another decodes it once.
Replaced whole, never changed in place, so a reader in another thread never sees it half-made."""


class RawRecord:
    """A record that keeps its vendor payload compressed with its page (`raw_page`, `raw_index`)."""

    __slots__ = ()
    raw_page: RawPage | None
    raw_index: int

    @property
    def raw(self) -> dict[str, Any]:
        """The vendor record as the console sent it (empty when there is none), decoded on demand."""
        return self.raw_page.record(self.raw_index) if self.raw_page is not None else {}


@dataclass(slots=True)
class Device(RawRecord):
    """One managed computer or phone, as every screen and the CLI see it."""

    vendor: str
    connection: str
    id: str
    name: str
    os: str = ""
    ip_addresses: tuple[str, ...] = ()
    group_id: str | None = None
    group: str = ""
    online: bool | None = None
    health: Health = Health.UNKNOWN
    health_reasons: tuple[str, ...] = ()
    missing_critical_patches: bool | None = None
    last_seen: datetime | None = None
    user: str = ""
    labels: tuple[str, ...] = ()
    """Further group paths the device belongs to (EPMM labels), besides its one `group`."""
    state: str = ""
    """A condition the console reports that a responder must see beside the health word: "isolated" (cut off
    the network by a response action), "inactive" (no longer reporting), "blocked", "quarantined"; "" when none."""
    raw_page: RawPage | None = field(default=None, repr=False, compare=False)
    raw_index: int = field(default=0, repr=False, compare=False)
    """Where the vendor record is: its position in the record list of `raw_page` (not part of equality)."""

    def __post_init__(self) -> None:
        # One C-level check of every text at once for the common, clean device (a text is printable when each of
        # its characters is, so the joined texts are when each one is); the rare hostile one is rebuilt.
        if not "".join((self.id, self.name, self.os, self.group, self.user, self.state, *self.ip_addresses,
                        *self.labels, *self.health_reasons)).isprintable():
            self.id, self.name, self.os = visible(self.id), visible(self.name), visible(self.os)
            self.group, self.user, self.state = visible(self.group), visible(self.user), visible(self.state)
            self.ip_addresses = tuple(map(visible, self.ip_addresses))
            self.labels = tuple(map(visible, self.labels))
            self.health_reasons = tuple(map(visible, self.health_reasons))

    def to_json(self) -> dict[str, Any]:
        """The CLI's documented JSON record (README: "JSON schema")."""
        return {
            "vendor": self.vendor,
            "connection": self.connection,
            "id": self.id,
            "name": self.name,
            "os": self.os,
            "ip_addresses": list(self.ip_addresses),
            "group": self.group,
            "online": self.online,
            "health": self.health.value,
            "missing_critical_patches": self.missing_critical_patches,
            "last_seen": iso_utc(self.last_seen),
            "state": self.state or None,
        }


@dataclass(frozen=True, slots=True)
class FingerprintList:
    """A named list of file hashes (SEPM); `hashes` are upper-case, as the console stores them."""

    id: str
    name: str
    hash_type: str | None
    source: str | None
    description: str
    hashes: tuple[str, ...]
    group_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("id", "name", "description"):
            object.__setattr__(self, name, visible(getattr(self, name)))
        for name in ("hash_type", "source"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, visible(getattr(self, name)))
        for name in ("hashes", "group_ids"):
            object.__setattr__(self, name, tuple(map(visible, getattr(self, name))))


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """The filters a client sends to the server where its API supports them; the rest run locally."""

    critical: bool = False
    missing_patch: bool = False
    group_id: str | None = None


@dataclass(slots=True)
class DevicePage:
    """One page of devices as it arrives, with how far the listing has got."""

    devices: list[Device]
    loaded: int
    total: int | None
    skipped: int = 0
    """Items of this page that are no device (an empty object, no id: Elements sends such): left out, counted."""
    repaired: int = 0
    """Devices of this page whose text held bytes that are not UTF-8 (or NUL), kept with those bytes replaced."""


def left_out(skipped: int, repaired: int, noun: str) -> list[str]:
    """What a listing did not show as the console sent it, in words for a note (`DevicePage.skipped` and
    `repaired` summed): "2 items without an id left out", "1 device with bytes that are not UTF-8 repaired"."""
    said = []
    if skipped:
        said.append(f"{skipped:,} item{'s' if skipped != 1 else ''} without an id left out")
    if repaired:
        said.append(f"{repaired:,} {noun}{'s' if repaired != 1 else ''} with bytes that are not UTF-8 repaired")
    return said


@overload
def iso_utc(moment: datetime) -> str: ...
@overload
def iso_utc(moment: datetime | None) -> str | None: ...
def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, the one timestamp format the CLI prints."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")



@dataclass(frozen=True, slots=True)
class Command:
    """A command queued on a console (SEPM's command queue): its id, what it does and on which targets."""

    id: str
    kind: str
    """"eoc" (Evidence of Compromise scan), "fetch" (upload a file to the console) or "cancel"."""
    target: str
    """"computers" or "groups": the kind of ids the command was sent to ("command" for a cancellation)."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class EocMatch:
    """One searched file in an Evidence of Compromise result, as the computer reported it."""

    hash_type: str
    hash_value: str
    """Upper-case, like every hash the app compares."""
    result: str
    """HASH_MATCH, FULL_MATCH or NO_MATCH as reported; empty while there is no result."""
    remediation: str | None = None
    """SUCCEEDED, FAILED or UNSUPPORTED when deletion was asked for; None otherwise."""
    path: str | None = None
    """Where the matching file was found, when reported."""
    file_name: str = ""

    def __post_init__(self) -> None:
        _visible_fields(self, ("hash_type", "hash_value", "result", "remediation", "path", "file_name"))

    @property
    def matched(self) -> bool:
        return self.result.endswith("_MATCH") and self.result != "NO_MATCH"


@dataclass(frozen=True, slots=True)
class CommandRow:
    """Where one command stands on one computer; `state` and `sub_state` are in words for a person."""

    computer_id: str
    computer_name: str
    state_id: int | None
    state: str
    sub_state_id: int | None
    sub_state: str
    final: bool
    """The computer is done with the command (completed, rejected, cancelled or failed)."""
    computer_ip: str = ""
    domain: str = ""
    user: str = ""
    begin_time: datetime | None = None
    last_update: datetime | None = None
    binary_file_id: str | None = None
    """For a file fetch: the id of the uploaded file on the console (see its details)."""
    matches: tuple[EocMatch, ...] = ()
    result_xml: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _visible_fields(self, ("computer_id", "computer_name", "state", "sub_state", "computer_ip", "domain", "user",
                               "binary_file_id"))
        if self.result_xml is not None:
            object.__setattr__(self, "result_xml", visible(self.result_xml, keep_newlines=True))


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """Every computer's row of one command, as one poll saw them."""

    command_id: str
    rows: tuple[CommandRow, ...]

    @property
    def done(self) -> bool:
        """Every row has reached a final state: polling can stop."""
        return all(row.final for row in self.rows)

    def counts(self) -> dict[str, int]:
        """Rows per state in words, in the order the states first appear."""
        counted: dict[str, int] = {}
        for row in self.rows:
            counted[row.state] = counted.get(row.state, 0) + 1
        return counted


@dataclass(frozen=True, slots=True)
class FileDetails:
    """A file a computer uploaded to the console: its id, size in bytes and checksum."""

    id: str
    size: int | None
    checksum: str | None


# --- events (issue 6) -----------------------------------------------------------------------------------


class Severity(str, enum.Enum):
    """How serious an event is, the same four words for every vendor (each client documents its mapping)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """0 for critical up to 3 for unknown: sorts the most serious first."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2, Severity.UNKNOWN: 3}


@dataclass(frozen=True, slots=True)
class Event(RawRecord):
    """One thing that happened on a console's watch, as the timeline and `epx events` see it.

    `time` is when the console recorded the event (aware UTC): the moment the event windows of every vendor
    filter on. `title` and `message` are plain text (HTML converted, control characters removed), safe to
    print to a terminal. The vendor record stays attached, like `Device.raw`.
    """

    vendor: str
    connection: str
    id: str
    time: datetime
    severity: Severity
    engine: str
    """What reported it: an Elements engine ("fileScanning"), SEPM "notification" or "command"."""
    title: str
    message: str = ""
    category: str = ""
    """A coarser grouping: the Elements engine group ("epp", "edr"), the SEPM command type."""
    device_id: str | None = None
    """The console's device id (the same as `Device.id`), when the event names one."""
    device_name: str | None = None
    organization_id: str | None = None
    organization: str = ""
    acknowledged: bool | None = None
    """SEPM notifications: whether an administrator acknowledged it; None where the idea does not exist."""
    device_time: datetime | None = None
    """When the device says it happened, by its own clock (Elements `clientTimestamp`), in UTC."""
    source: str = ""
    """Which of the vendor's sources it came from: "security-events", "critical-events", "command-queue"."""
    raw_page: RawPage | None = field(default=None, repr=False, compare=False)
    raw_index: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        _visible_fields(self, ("id", "engine", "title", "category", "device_id", "device_name", "organization_id",
                               "organization", "source"))
        object.__setattr__(self, "message", visible(self.message, keep_newlines=True))

    def to_json(self) -> dict[str, Any]:
        """The CLI's documented JSON record of an event (README: "Events")."""
        return {
            "vendor": self.vendor,
            "connection": self.connection,
            "id": self.id,
            "time": iso_utc(self.time),
            "severity": self.severity.value,
            "engine": self.engine,
            "category": self.category,
            "device_id": self.device_id,
            "device_name": self.device_name,
            "organization": self.organization or None,
            "title": self.title,
            "message": self.message,
            "acknowledged": self.acknowledged,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class EventWindow:
    """Which events to ask for: a time window and filters. Clients send what their API filters on and
    apply the rest with `matches`, so every vendor gives the same answer to the same window.

    The window is half-open: `start` is included, `end` is not, so consecutive windows (a live tail) never
    see an event twice. At least one bound is required (Elements refuses a request without one); both are
    aware datetimes and are kept in UTC. `start == end` is a valid, empty window.
    """

    start: datetime | None = None
    end: datetime | None = None
    severities: frozenset[Severity] = frozenset()
    """Only these severities; empty means all."""
    engine: str | None = None
    """Only this engine or category (compared without case): "fileScanning", "epp", "notification"."""
    organization_id: str | None = None
    """Elements: the organization (company) whose events to read; None: all the credentials see."""
    device_id: str | None = None
    device_name: str | None = None
    """Only this device: its id, or its name for events that name a device without its id."""

    def __post_init__(self) -> None:
        if self.start is None and self.end is None:
            raise ValueError("An event window needs a start, an end or both.")
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is None:
                continue
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"The window's {name} {moment.isoformat()} has no time zone.")
            object.__setattr__(self, name, moment.astimezone(UTC))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(
                f"The window starts ({iso_utc(self.start)}) after it ends ({iso_utc(self.end)})."
            )
        object.__setattr__(self, "severities", frozenset(Severity(value) for value in self.severities))

    @classmethod
    def last(cls, span: timedelta, now: datetime, **filters: Any) -> EventWindow:
        """The `span` up to `now` ("the last hour")."""
        return cls(start=now - span, end=now, **filters)

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    def matches(self, event: Event) -> bool:
        """Whether `event` is in the window and passes every filter (the organization is the server's job)."""
        if not self.contains(event.time):
            return False
        if self.severities and event.severity not in self.severities:
            return False
        if self.engine and self.engine.casefold() not in (event.engine.casefold(), event.category.casefold()):
            return False
        if self.device_id is not None or self.device_name is not None:
            if event.device_id is not None and self.device_id is not None:
                return event.device_id == self.device_id
            name = event.device_name
            return bool(name and self.device_name and name.casefold() == self.device_name.casefold())
        return True


@dataclass(slots=True)
class EventPage:
    """Events as they arrive, with how many have arrived so far and what could not be read.

    `notes` are sentences about a source that is not available ("SEPM command history is not available
    to this API user ...") while the others are: show them, they are not errors.
    """

    events: list[Event]
    loaded: int
    total: int | None = None
    source: str = ""
    notes: tuple[str, ...] = ()
    skipped: int = 0
    """Items of this page that could not be read as an event at all: left out, counted."""
    repaired: int = 0
    """Events of this page whose text held bytes that are not UTF-8 (or NUL), kept with those bytes replaced."""


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """"15m", "1h", "24h", "7d", "2w", "90s" as a timedelta; None when `text` is not such a duration. Raises
    ValueError with a sentence for one longer than a calendar holds."""
    match = _DURATION.match(text)
    if match is None:
        return None
    try:
        return timedelta(**{_DURATION_UNITS[match.group(2).lower()]: int(match.group(1))})
    except (OverflowError, ValueError):
        raise ValueError(f"{text.strip()!r} is longer than any window of time this app can show.") from None


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with a zone ("2025-06-01T08:00:00Z", "2025-06-01T10:00:00.5+02:00", lower-case t
    and z, or a space for the T) as aware UTC. Raises ValueError with a sentence for a person."""
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned.upper() if "t" in cleaned or "z" in cleaned else cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (15m, 1h, 24h, 7d) nor an RFC 3339 time such as 2025-06-01T08:00:00Z."
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone: add Z for UTC or an offset such as +02:00.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first moment a datetime holds
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC.") from None


def parse_time_bound(text: str, now: datetime) -> datetime:
    """A window bound as a user types it: a duration back from `now` ("24h" is 24 hours ago) or an RFC 3339
    timestamp with a zone. Aware UTC; raises ValueError with a sentence."""
    span = parse_duration(text)
    if span is None:
        return parse_timestamp(text)
    try:
        return now.astimezone(UTC) - span
    except OverflowError:
        raise ValueError(f"{text.strip()!r} reaches back before the year 1.") from None
