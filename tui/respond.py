"""Response actions (issue 18): what a responder can do to devices, what each console answered per device,
and the actions log that records every action sent.

Vendor-neutral and Textual-free: the clients offer actions through `tui.vendors.base.ResponseActions`, the
screens and `epx respond` show `ActionResult`s, and every sent action is appended to the actions log (JSON
lines, 0600, in the user data directory; never a secret) so an incident report can say what was done, when,
by whom and what each console answered.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import platformdirs

from tui.config import APP_NAME
from tui.models import Device, iso_utc, visible

if TYPE_CHECKING:
    from tui.vendors.facets import ResponseActions

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ResponseAction:
    """One kind of response action, worded for the menu, the confirmation and the log."""

    name: str
    """The CLI's `--action` value and the log's key."""
    title: str
    """What the menu lists ("Isolate from the network")."""
    verb: str
    """What follows "did not" in an error and "will" in the confirmation ("isolate")."""
    cuts_off: bool = False
    """The device loses its network (isolation, SEPM network quarantine)."""
    message: str = ""
    """"required", "optional" or "" (the action shows no text on the device)."""
    undo: str = ""
    """The action that reverses this one, when the console has one."""

    @property
    def needs_typed_count(self) -> bool:
        """Cutting a machine off asks for the device count to be typed before `y`: a slip of the finger must not
        take a fleet off the network. No action offered is irreversible (EPMM's wipe and retire are left out),
        so nothing else asks."""
        return self.cuts_off


ACTIONS: dict[str, ResponseAction] = {action.name: action for action in (
    ResponseAction("isolate", "Isolate from the network", "isolate from the network", cuts_off=True,
                   message="optional", undo="release"),
    ResponseAction("release", "Release from network isolation", "release from network isolation", undo="isolate"),
    ResponseAction("quarantine", "Quarantine (network)", "quarantine", cuts_off=True, undo="unquarantine"),
    ResponseAction("unquarantine", "Undo the quarantine", "take out of quarantine", undo="quarantine"),
    ResponseAction("scan", "Scan for malware", "scan for malware"),
    ResponseAction("fullscan", "Full scan", "run a full scan on"),
    ResponseAction("update", "Update content (definitions)", "update the content of"),
    ResponseAction("message", "Show a message", "show a message on", message="required"),
)}
"""Every action in the order a menu lists them; a console offers those its API has (`offered_actions`)."""
MESSAGE_MAX = 512
"""The longest message Elements takes [MCP][ATT]; used for every console, none documents more."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What happened to one device: accepted or refused (with the console's reason in words), then, where the
    API can tell, where the action stands on the device (`progress`) until it is final."""

    device_id: str
    device_name: str
    accepted: bool
    reason: str = ""
    """Why the console refused it for this device, in words; "" when accepted."""
    reference: str = ""
    """The console's id of the action on this device: Elements' operationId, SEPM's command id."""
    progress: str = ""
    """The latest state seen when following ("isolated", "completed", "pending on the device")."""
    final: bool = False
    """Nothing more will change: refused, or followed to the end (or the API cannot tell more)."""
    succeeded: bool | None = None
    """Whether it took effect, once known."""

    def __post_init__(self) -> None:
        for name in ("device_id", "device_name", "reason", "reference", "progress"):
            value = getattr(self, name)
            if not value.isprintable():
                object.__setattr__(self, name, visible(value))

    @property
    def words(self) -> str:
        """The result cell: refused with the reason, or the latest state."""
        if not self.accepted:
            return f"failed: {self.reason}" if self.reason else "failed"
        return self.progress or "accepted"

    def to_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "device_name": self.device_name, "accepted": self.accepted,
                "reason": self.reason or None, "reference": self.reference or None,
                "progress": self.progress or None, "final": self.final, "succeeded": self.succeeded}


def refused(devices: Sequence[tuple[str, str]], reason: str) -> list[ActionResult]:
    """The same refusal for every device of a call the console turned down as a whole."""
    return [ActionResult(device_id, name, False, reason, final=True, succeeded=False) for device_id, name in devices]


def all_failed(results: Sequence[ActionResult]) -> bool:
    return bool(results) and not any(result.accepted for result in results)


def any_failed(results: Sequence[ActionResult]) -> bool:
    """Refused on a device, or followed to a final state that did not take effect."""
    return any(not result.accepted or result.succeeded is False for result in results)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`: a console takes so many targets a call."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def device_list_words(names: Sequence[str], shown: int = 3) -> str:
    """"a, b, c and 4 more": the first devices by name and how many more, for a confirmation."""
    first = ", ".join(names[:shown])
    rest = len(names) - shown
    return f"{first} and {rest} more" if rest > 0 else first


# --- the actions log ---------------------------------------------------------------------------------------

ACTIONS_LOG_ENV = "EPX_ACTIONS_LOG"


def default_actions_log_path() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "actions.jsonl"


def actions_log(*, demo: bool, environ: Mapping[str, str] = os.environ) -> ActionsLog:
    """The actions log: $EPX_ACTIONS_LOG, else the platform's user data directory; in the demo, which writes
    nothing, kept in memory unless $EPX_ACTIONS_LOG names a file."""
    named = environ.get(ACTIONS_LOG_ENV)
    if demo and not named:
        return ActionsLog(None)
    return ActionsLog(Path(named or default_actions_log_path()).expanduser())


def operator_name() -> str:
    """The local user name of whoever ran the action; "" when the system cannot say."""
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return ""


@dataclass(frozen=True, slots=True)
class LoggedAction:
    """One line of the actions log."""

    time: str
    connection: str
    vendor: str
    action: str
    operator: str
    message: str
    results: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "connection": self.connection, "vendor": self.vendor, "action": self.action,
                "operator": self.operator, "message": self.message, "results": list(self.results)}


class ActionsLog:
    """Append-only JSON lines, one per action sent, created 0600 (its directory 0700).

    Holds the connection's name, never its URL credentials or a secret: nothing the clients are given to
    authenticate ever reaches an `ActionResult`. `path=None` keeps the entries in memory (the demo).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._kept: list[LoggedAction] = []

    def append(self, *, connection: str, vendor: str, action: str, message: str,
               results: Sequence[ActionResult], when: datetime | None = None) -> LoggedAction:
        entry = LoggedAction(iso_utc(when or datetime.now(UTC)) or "", connection, vendor, action, operator_name(),
                             message, tuple(result.to_json() for result in results))
        if self.path is None:
            self._kept.append(entry)
            return entry
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = (json.dumps(entry.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(descriptor, 0o600)
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return entry

    def entries(self) -> list[LoggedAction]:
        """Every readable line, oldest first; a line that is not a record (a torn write) is skipped."""
        if self.path is None:
            return list(self._kept)
        try:
            text = self.path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                record = json.loads(line)
                found.append(LoggedAction(
                    visible(str(record["time"])), visible(str(record["connection"])), visible(str(record["vendor"])),
                    visible(str(record["action"])), visible(str(record.get("operator") or "")),
                    visible(str(record.get("message") or "")),
                    tuple(item for item in record["results"] if isinstance(item, dict))))
        return found


async def respond_and_log(
    client: ResponseActions, log: ActionsLog, *, connection: str, vendor: str, action: str,
    devices: Sequence[Device], message: str = "",
) -> tuple[list[ActionResult], str]:
    """Send the action and append what the console answered to the actions log at once (before any
    following, so a crash afterwards loses nothing). Returns the results and, when the log could not be
    written, a sentence saying so: the action was sent all the same."""
    results = await client.respond(action, devices, message)
    try:
        log.append(connection=connection, vendor=vendor, action=action, message=message, results=results)
    except OSError as error:
        return results, f"the actions log {log.path} could not be written ({error.strerror or error})"
    return results, ""
