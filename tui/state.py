"""What the app remembers between runs that is not configuration.

For now: per connection, the SEPM fingerprint lists it has opened or created. SEPM documents no call
that lists every fingerprint list, so the fingerprint screen and `epx fingerprints` show these and open
any other list by name.

Non-UI core (no textual import). The file is `state.json` in the platformdirs user data directory
(`~/.local/share/endpoint-explorer/state.json` on Linux), or `$EPX_STATE`:

    {"version": 1,
     "connections": {"prod-sepm": {"fingerprint_lists": [
         {"id": "44BB68279D984220AD60A069DCF6079F", "name": "Blacklist2", "hash_type": "SHA256",
          "last_used": "2026-11-25T11:58:02Z"}]}}}

It is written atomically with mode 0600 (`tui.config.write_private_file`). A file that cannot be read or
does not have this shape is reported as a `StateError` (its path and what is wrong) and is never
overwritten: the user may want what is in it. Keys this version does not know are kept as they are.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

import platformdirs

from tui.config import APP_NAME, write_private_file
from tui.models import FingerprintList, iso_utc

STATE_VERSION = 1
MAX_LISTS_PER_CONNECTION = 200
"""The oldest-used lists beyond this are forgotten, so the file stays small."""


def default_state_path() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "state.json"


def resolve_state_path(explicit: str | os.PathLike[str] | None = None,
                       environ: Mapping[str, str] = os.environ) -> Path:
    """An explicit path wins over $EPX_STATE, which wins over the platform default."""
    chosen = explicit or environ.get("EPX_STATE") or default_state_path()
    return Path(chosen).expanduser()


class _ListEntry(TypedDict):
    id: str
    name: str
    hash_type: str | None
    last_used: NotRequired[str]


class _ConnectionState(TypedDict, total=False):
    fingerprint_lists: list[_ListEntry]


class _State(TypedDict):
    """The file's document (module docstring); keys this version does not know ride along untyped."""

    version: int
    connections: dict[str, _ConnectionState]


class StateError(Exception):
    """A state file that cannot be used; it was left as it is."""

    def __init__(self, path: Path, reason: str, *, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}; it was not changed (fix or remove it to let the app remember lists).")


@dataclass(frozen=True, slots=True)
class KnownList:
    """A fingerprint list this connection has opened or created before."""

    id: str
    name: str
    hash_type: str | None
    last_used: str
    """ISO 8601 UTC, as the CLI prints times."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "hash_type": self.hash_type, "last_used": self.last_used}


class StateStore:
    """The state file, read afresh before every change so two running apps lose as little as possible.

    `path=None` keeps everything in memory (demo mode, tests): nothing is ever written.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: _State = _empty()
        self._lock = threading.Lock()

    def known_lists(self, connection: str) -> list[KnownList]:
        """The lists `connection` has opened or created, the most recently used first."""
        with self._lock:
            data = self._load()
        entries = data["connections"].get(connection, {}).get("fingerprint_lists", [])
        return [_known(entry) for entry in entries]

    def remember_list(self, connection: str, listing: FingerprintList, *, now: datetime | None = None) -> None:
        """Note that `connection` opened or created `listing` (its name is refreshed if it was renamed)."""
        moment = iso_utc((now or datetime.now(UTC)).astimezone(UTC))
        entry: _ListEntry = {"id": listing.id, "name": listing.name, "hash_type": listing.hash_type,
                             "last_used": moment}
        with self._lock:
            data = self._load()
            table = data["connections"].setdefault(connection, {})
            lists = [item for item in table.get("fingerprint_lists", []) if item["id"] != listing.id]
            table["fingerprint_lists"] = [entry, *lists][:MAX_LISTS_PER_CONNECTION]
            self._save(data)

    def forget_list(self, connection: str, list_id: str) -> None:
        """Forget a list (deleted, or gone from the console); nothing happens when it is not known."""
        with self._lock:
            data = self._load()
            table = data["connections"].get(connection)
            if not table:
                return
            lists = table.get("fingerprint_lists", [])
            kept = [item for item in lists if item["id"] != list_id]
            if len(kept) == len(lists):
                return
            table["fingerprint_lists"] = kept
            self._save(data)

    def _load(self) -> _State:
        if self.path is None:
            return self._memory
        path = self.path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return _empty()
        except OSError as error:
            raise StateError(path, f"cannot be read ({error.strerror or error})") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise StateError(path, "is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise StateError(path, f"is not valid JSON ({error.msg})", line=error.lineno) from None
        return _check(path, data)

    def _save(self, data: _State) -> None:
        if self.path is None:
            self._memory = data
            return
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        try:
            write_private_file(self.path, text.encode("utf-8"))
        except OSError as error:
            raise StateError(self.path, f"cannot be written ({error.strerror or error})") from None


def _empty() -> _State:
    return {"version": STATE_VERSION, "connections": {}}


def _known(entry: _ListEntry) -> KnownList:
    return KnownList(id=entry["id"], name=entry["name"], hash_type=entry.get("hash_type"),
                     last_used=entry.get("last_used") or "")


def _check(path: Path, data: Any) -> _State:
    """`data` if it has the shape described in the module docstring, or a StateError that says where it differs."""
    if not isinstance(data, dict):
        raise StateError(path, "must hold a JSON object")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(path, "has no version number")
    if version > STATE_VERSION:
        raise StateError(path, f"was written by a newer Endpoint Explorer (state version {version})")
    connections = data.get("connections")
    if not isinstance(connections, dict):
        raise StateError(path, "`connections` must be an object")
    for name, table in connections.items():
        if not isinstance(table, dict):
            raise StateError(path, f"`connections.{name}` must be an object")
        lists = table.setdefault("fingerprint_lists", [])
        if not isinstance(lists, list):
            raise StateError(path, f"`connections.{name}.fingerprint_lists` must be a list")
        for number, item in enumerate(lists):
            where = f"`connections.{name}.fingerprint_lists[{number}]`"
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise StateError(path, f"{where} needs an `id` string")
            if not isinstance(item.get("name"), str):
                raise StateError(path, f"{where} needs a `name` string")
            if not isinstance(item.get("hash_type"), (str, type(None))):
                raise StateError(path, f"{where}: `hash_type` must be a string or null")
            if not isinstance(item.get("last_used", ""), str):
                raise StateError(path, f"{where}: `last_used` must be a string")
    return cast(_State, data)  # every key and item _State types was checked above
