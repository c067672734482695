"""Snapshots: every complete load of a connection, kept in an embedded SQLite store, so a connection opens at
once from its last load, `epx devices --offline` works without a console, and changes can be computed.

The store is `snapshots.sqlite3` in the platformdirs user data directory (or `$EPX_SNAPSHOTS`), mode 0600 in a
0700 directory. A snapshot holds one connection's devices (the vendor-neutral records of `Device`), its
groups, its server info and when it was taken; the devices' raw pages are kept as the console sent them,
zlib-compressed (the same bytes `RawPage` keeps in memory). Nothing else: a profile, a password or a token
never reaches it.

Failures never stop the app: a store that is corrupt, locked, full, read-only or of a newer schema raises one
`SnapshotError` in words and is switched off for the rest of the process (later calls raise it again marked
`repeated`, so it is said once); a file that could not be read is never written. Writes are one transaction
each (`BEGIN IMMEDIATE`, with a busy timeout), so two processes writing at once both land.

Non-UI core: no textual import.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import platformdirs

from tui.changes import Change, FleetFacts, changes_of
from tui.config import APP_NAME
from tui.models import Device, Group, Health, RawPage, ServerInfo

if TYPE_CHECKING:
    from tui.fleet_load import KeptFleet

SNAPSHOTS_ENV = "EPX_SNAPSHOTS"
CHUNK_ROWS = 2_000
"""Devices per stored chunk: the first chunk alone fills a screen (a connection opens at once), and no single
encode holds the interpreter long enough to stall the event loop beside it."""
BUSY_TIMEOUT_S = 10.0
"""How long a write waits for another process's write before it gives up (said as "locked")."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: snapshots, their devices (in chunks, compressed JSON rows) and the raw pages of their devices
        """CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            connection TEXT NOT NULL,
            vendor TEXT NOT NULL,
            taken_at REAL NOT NULL,
            device_count INTEGER NOT NULL,
            server TEXT,
            groups BLOB NOT NULL,
            labels_known TEXT NOT NULL)""",
        """CREATE TABLE device_chunks (
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            chunk INTEGER NOT NULL,
            rows BLOB NOT NULL,
            facts BLOB NOT NULL,
            PRIMARY KEY (snapshot_id, chunk))""",
        """CREATE TABLE raw_pages (
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            page INTEGER NOT NULL,
            record_key TEXT NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (snapshot_id, page))""",
    ),
    (  # 2: the latest snapshot of a connection without a scan of them all
        "CREATE INDEX snapshots_by_connection ON snapshots(connection, taken_at)",
    ),
)
"""Schema version N is reached by running MIGRATIONS[:N] in order; `PRAGMA user_version` holds N."""
SCHEMA_VERSION = len(MIGRATIONS)


KEEP_NEWEST = 2
"""Snapshots of a connection never thinned out: the latest and the one before it (what changed since)."""


def default_snapshots_path(environ: Mapping[str, str] = os.environ) -> Path:
    """$EPX_SNAPSHOTS, or `snapshots.sqlite3` in the user data directory."""
    chosen = environ.get(SNAPSHOTS_ENV)
    if chosen:
        return Path(chosen).expanduser()
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "snapshots.sqlite3"


class SnapshotError(Exception):
    """The store cannot be used (or holds no snapshot that answers); the store is off for this process."""

    def __init__(self, message: str, *, repeated: bool = False) -> None:
        super().__init__(message)
        self.repeated = repeated
        """The store was already switched off by this failure, said before: nothing new to say."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot as the list shows it, without its devices."""

    id: int
    connection: str
    vendor: str
    taken_at: datetime
    devices: int
    size: int
    """Bytes of its devices, groups and raw pages in the store."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "connection": self.connection, "vendor": self.vendor,
                "taken_at": self.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "devices": self.devices,
                "size": self.size}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One connection's complete load, read back."""

    info: SnapshotInfo
    devices: list[Device]
    groups: list[Group]
    server: ServerInfo | None
    labels_known: set[str]


_HEALTH = {health.value: health for health in Health}


def _device_row(device: Device, page: int) -> list[Any]:
    """A device as the store keeps it: its fields in a fixed order (the connection and vendor are the
    snapshot's), then where its raw record is (-1: none)."""
    return [device.id, device.name, device.os, device.ip_addresses, device.group_id, device.group, device.online,
            device.health.value, device.health_reasons, device.missing_critical_patches,
            device.last_seen.timestamp() if device.last_seen else None, device.user, device.labels, device.state,
            page, device.raw_index]


def _device(row: list[Any], connection: str, vendor: str, pages: Sequence[RawPage]) -> Device:
    (id_, name, os_, ips, group_id, group, online, health, reasons, missing, seen, user, labels, state, page,
     index) = row
    return Device(vendor, connection, id_, name, os_, tuple(ips), group_id, group, online, _HEALTH[health],
                  tuple(reasons), missing, datetime.fromtimestamp(seen, UTC) if seen is not None else None, user,
                  tuple(labels), state, pages[page] if page >= 0 else None, index)


_FIELD, _ITEM = "\x01", "\x00"
"""Separators of a chunk's facts: `visible` turns both into control pictures in every text a console sends."""
_CODE_OF_HEALTH = {health: health.value[0] for health in Health}  # c, w, o, u
_HEALTH_OF_CODE = {code: health for health, code in _CODE_OF_HEALTH.items()}
_CODE_OF_STATE = {None: "0", False: "1", True: "2"}
_STATE_OF_CODE = {code: state for state, code in _CODE_OF_STATE.items()}


def _packed_facts(devices: Sequence[Device]) -> bytes:
    """A chunk's facts (tui.changes.FleetFacts): ids, names and groups, then three flag characters a device."""
    flags = "".join(_CODE_OF_HEALTH[device.health] + _CODE_OF_STATE[device.missing_critical_patches]
                    + _CODE_OF_STATE[device.online] for device in devices)
    text = _FIELD.join((_ITEM.join(device.id for device in devices), _ITEM.join(device.name for device in devices),
                        _ITEM.join(device.group for device in devices), flags))
    return zlib.compress(text.encode(), 1)


def _group_row(group: Group) -> list[Any]:
    return [group.id, group.name, group.path, group.parent_id, group.device_count]


class SnapshotStore:
    """The snapshot store; `path=None` keeps it in memory (demo, tests): nothing reaches the disk.

    One SQLite connection per store, used by one thread at a time (the calls run in worker threads)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._off: SnapshotError | None = None

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else "memory"

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- writing ------------------------------------------------------------------------------------------

    def write(self, connection: str, vendor: str, devices: Sequence[Device], groups: Sequence[Group],
              server: ServerInfo | None, labels_known: Iterable[str], taken_at: datetime) -> int:
        """Keep one connection's complete load; returns the snapshot's id."""
        devices = list(devices)  # one copy, made at once: the screen may add label members to its list meanwhile
        pages: dict[int, int] = {}
        bodies: list[tuple[int, str, bytes]] = []

        def page_of(raw: RawPage | None) -> int:
            if raw is None:
                return -1
            number = pages.get(id(raw), -1)
            if number < 0:
                number = pages[id(raw)] = len(bodies)
                bodies.append((number, *raw.stored()))
            return number

        # A chunk's rows are encoded as soon as they are made and then dropped: 100,000 rows kept alive at once
        # would make the garbage collector walk the whole heap, holding the interpreter (the event loop) for it.
        chunks = []
        for start in range(0, len(devices), CHUNK_ROWS):
            part = devices[start:start + CHUNK_ROWS]
            rows = orjson.dumps([_device_row(device, page_of(device.raw_page)) for device in part])
            chunks.append((zlib.compress(rows, 1), _packed_facts(part)))
        packed_groups = zlib.compress(orjson.dumps([_group_row(group) for group in groups]), 1)
        server_text = orjson.dumps([server.product, server.version, server.api_version]).decode() if server else None
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO snapshots (connection, vendor, taken_at, device_count, server, groups, labels_known) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (connection, vendor, taken_at.timestamp(), len(devices), server_text, packed_groups,
                 orjson.dumps(sorted(labels_known)).decode()))
            snapshot_id = cursor.lastrowid
            assert snapshot_id is not None  # an INSERT gives one
            db.executemany("INSERT INTO device_chunks (snapshot_id, chunk, rows, facts) VALUES (?, ?, ?, ?)",
                           [(snapshot_id, number, *chunk) for number, chunk in enumerate(chunks)])
            db.executemany("INSERT INTO raw_pages (snapshot_id, page, record_key, body) VALUES (?, ?, ?, ?)",
                           [(snapshot_id, number, key, body) for number, key, body in bodies])
        return snapshot_id

    def write_kept(self, fleet: KeptFleet, vendors: Mapping[str, str], keep_days: int = 0) -> list[int]:
        """Keep a complete load of one or several consoles as one snapshot per console; then forget the
        snapshots older than `keep_days` (0: keep all)."""
        by_connection: dict[str, list[Device]] = {name: [] for name in vendors}
        for device in list(fleet.inventory.devices):  # copied at once, as `write` does
            by_connection.setdefault(device.connection, []).append(device)
        written = [self.write(name, vendors.get(name, ""), devices, fleet.groups.get(name, []),
                              fleet.servers.get(name), fleet.labels_known.get(name, ()), fleet.loaded_at)
                   for name, devices in by_connection.items()]
        for name in by_connection:
            self.thin(name, fleet.loaded_at)
        if keep_days:
            self.prune(keep_days, fleet.loaded_at)
        return written

    def thin(self, connection: str, now: datetime) -> int:
        """Forget the snapshots a responder will not miss, so that an auto-refresh every minute does not write a
        100,000-device fleet (about 90 MB) a minute for good: a connection keeps its newest two (the changes
        since the previous load), then the newest of each hour of the last day, then the newest of each day.
        Returns how many were forgotten."""
        taken = self._query("SELECT id, taken_at FROM snapshots WHERE connection = ? ORDER BY taken_at DESC, id DESC",
                            (connection,))
        seen: set[tuple[str, int]] = set()
        forget = []
        for position, (snapshot_id, taken_at) in enumerate(taken):
            age = now.timestamp() - taken_at
            bucket = ("hour", int(taken_at // 3600)) if age < 86400 else ("day", int(taken_at // 86400))
            if position >= KEEP_NEWEST and bucket in seen:
                forget.append(snapshot_id)
            seen.add(bucket)
        if forget:
            with self._transaction() as db:
                db.executemany("DELETE FROM snapshots WHERE id = ?", [(snapshot_id,) for snapshot_id in forget])
        return len(forget)

    def prune(self, keep_days: int, now: datetime) -> int:
        """Forget snapshots taken more than `keep_days` before `now`, but never a connection's latest one;
        returns how many were forgotten."""
        cutoff = (now - timedelta(days=keep_days)).timestamp()
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM snapshots WHERE taken_at < ? AND id NOT IN "
                "(SELECT id FROM snapshots AS s WHERE s.taken_at = "
                "(SELECT MAX(taken_at) FROM snapshots AS t WHERE t.connection = s.connection))", (cutoff,))
            return cursor.rowcount

    # --- reading ------------------------------------------------------------------------------------------

    def listing(self, connection: str | None = None) -> list[SnapshotInfo]:
        """The snapshots (of one connection), newest first."""
        where, args = ("WHERE connection = ?", (connection,)) if connection else ("", ())
        return [self._info(row) for row in self._query(
            "SELECT id, connection, vendor, taken_at, device_count, LENGTH(groups) + "
            "COALESCE((SELECT SUM(LENGTH(rows)) FROM device_chunks WHERE snapshot_id = id), 0) + "
            "COALESCE((SELECT SUM(LENGTH(body)) FROM raw_pages WHERE snapshot_id = id), 0) "
            f"FROM snapshots {where} ORDER BY taken_at DESC, id DESC", args)]

    def latest(self, connection: str, *, at_or_before: datetime | None = None) -> SnapshotInfo | None:
        """The newest snapshot of `connection` (taken no later than `at_or_before`), or None."""
        bound = at_or_before.timestamp() if at_or_before is not None else float("inf")
        rows = self._query(
            "SELECT id, connection, vendor, taken_at, device_count, 0 FROM snapshots "
            "WHERE connection = ? AND taken_at <= ? ORDER BY taken_at DESC, id DESC LIMIT 1", (connection, bound))
        return self._info(rows[0]) if rows else None

    def previous(self, info: SnapshotInfo) -> SnapshotInfo | None:
        """The snapshot of the same connection taken just before `info`."""
        rows = self._query(
            "SELECT id, connection, vendor, taken_at, device_count, 0 FROM snapshots WHERE connection = ? AND "
            "(taken_at < ? OR (taken_at = ? AND id < ?)) ORDER BY taken_at DESC, id DESC LIMIT 1",
            (info.connection, info.taken_at.timestamp(), info.taken_at.timestamp(), info.id))
        return self._info(rows[0]) if rows else None

    def read(self, info: SnapshotInfo) -> Snapshot:
        """A snapshot's devices, groups and server info."""
        head = self.read_head(info)
        return Snapshot(info, [device for chunk in self.device_chunks(info) for device in chunk], head.groups,
                        head.server, head.labels_known)

    def read_head(self, info: SnapshotInfo) -> Snapshot:
        """A snapshot's groups and server info, without its devices."""
        found = self._query("SELECT server, groups, labels_known FROM snapshots WHERE id = ?", (info.id,))
        if not found:
            raise self._switch_off(f"the snapshot store {self.where} lost snapshot {info.id} while it was read")
        server_text, packed_groups, labels_text = found[0]
        try:
            groups = [Group(id_, name, tuple(path), parent, count)
                      for id_, name, path, parent, count in orjson.loads(zlib.decompress(packed_groups))]
            server = ServerInfo(*orjson.loads(server_text)) if server_text else None
            labels = set(orjson.loads(labels_text))
        except (zlib.error, orjson.JSONDecodeError, ValueError, TypeError):
            raise self._damaged(info) from None
        return Snapshot(info, [], groups, server, labels)

    def device_chunks(self, info: SnapshotInfo) -> Iterator[list[Device]]:
        """A snapshot's devices, CHUNK_ROWS at a time: the first rows are shown before the rest is read."""
        pages = [RawPage.stored_page(body, key) for key, body in self._query(
            "SELECT record_key, body FROM raw_pages WHERE snapshot_id = ? ORDER BY page", (info.id,))]
        count = self._query("SELECT COUNT(*) FROM device_chunks WHERE snapshot_id = ?", (info.id,))[0][0]
        for number in range(count):
            found = self._query("SELECT rows FROM device_chunks WHERE snapshot_id = ? AND chunk = ?",
                                (info.id, number))
            try:
                yield [_device(row, info.connection, info.vendor, pages)
                       for row in orjson.loads(zlib.decompress(found[0][0]))]
            except (zlib.error, orjson.JSONDecodeError, ValueError, TypeError, KeyError, IndexError):
                raise self._damaged(info) from None

    def facts(self, info: SnapshotInfo) -> FleetFacts:
        """What changes compare of a snapshot's devices, without making the devices (`changes_of`)."""
        facts = FleetFacts([], [], [], [], [], [])
        for (packed,) in self._query("SELECT facts FROM device_chunks WHERE snapshot_id = ? ORDER BY chunk",
                                     (info.id,)):
            try:
                ids, names, groups, flags = zlib.decompress(packed).decode().split(_FIELD)
                ids_list, names_list, groups_list = ids.split(_ITEM), names.split(_ITEM), groups.split(_ITEM)
                if not len(ids_list) == len(names_list) == len(groups_list) == len(flags) // 3:
                    raise ValueError("columns of different lengths")
                facts.keys.extend((info.connection, id_) for id_ in ids_list)
                facts.names.extend(names_list)
                facts.groups.extend(groups_list)
                facts.health.extend(_HEALTH_OF_CODE[code] for code in flags[0::3])
                facts.missing.extend(_STATE_OF_CODE[code] for code in flags[1::3])
                facts.online.extend(_STATE_OF_CODE[code] for code in flags[2::3])
            except (zlib.error, UnicodeDecodeError, ValueError, KeyError):
                raise self._damaged(info) from None
        return facts

    def changes(self, older: SnapshotInfo, newer: SnapshotInfo) -> list[Change]:
        """What changed from one snapshot of a connection to another, from their facts alone: each change's
        device holds what was compared (name, group, health, patches, online), not the whole record."""
        before, after = self.facts(older), self.facts(newer)

        def device(info: SnapshotInfo, facts: FleetFacts) -> Callable[[int], Device]:
            return lambda index: Device(info.vendor, info.connection, facts.keys[index][1], facts.names[index],
                                        group=facts.groups[index], health=facts.health[index],
                                        missing_critical_patches=facts.missing[index], online=facts.online[index])

        return changes_of(before, after, device(older, before), device(newer, after))

    def _damaged(self, info: SnapshotInfo) -> SnapshotError:
        return self._switch_off(f"the snapshot store {self.where} is damaged (snapshot {info.id} does not read)")

    def open_fleet(self, names: Sequence[str], *, before: datetime | None = None
                   ) -> tuple[KeptFleet, Iterator[list[Device]]] | None:
        """The latest snapshots of these connections (taken before `before`) as a fleet to show at once, holding
        their first chunk of devices, and the rest of their devices chunk by chunk; None when one of them has
        none. The fleet's time is the oldest snapshot's."""
        from tui.fleet_load import KeptFleet  # with the inventory it loads with the first fleet: a faster start
        from tui.inventory import Inventory

        bound = before - timedelta(milliseconds=1) if before is not None else None
        latest = [self.latest(name, at_or_before=bound) for name in names]
        infos = [info for info in latest if info is not None]
        if len(infos) < len(latest):
            return None
        heads = [self.read_head(info) for info in infos]
        chunks = (chunk for info in infos for chunk in self.device_chunks(info))
        first = next(chunks, [])
        fleet = KeptFleet(Inventory(first), {head.info.connection: head.groups for head in heads},
                          {head.info.connection: head.server for head in heads if head.server is not None},
                          {head.info.connection: head.labels_known for head in heads},
                          min(info.taken_at for info in infos), snapshot=True)
        return fleet, chunks

    # --- the database -------------------------------------------------------------------------------------

    @staticmethod
    def _info(row: Sequence[Any]) -> SnapshotInfo:
        id_, connection, vendor, taken_at, count, size = row
        return SnapshotInfo(id_, connection, vendor, datetime.fromtimestamp(taken_at, UTC), count, size or 0)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            db = self._open()
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise self._switch_off(self._words(error)) from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._open()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.rollback()
                    raise
                db.commit()
            except sqlite3.Error as error:
                raise self._switch_off(self._words(error)) from None

    def _open(self) -> sqlite3.Connection:
        """The connection, opened (and the schema brought up to date) on first use."""
        if self._off is not None:
            raise SnapshotError(str(self._off), repeated=True)
        if self._db is not None:
            return self._db
        try:
            if self.path is None:
                db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            else:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # created private, never widened
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                     isolation_level=None)
        except OSError as error:
            raise self._switch_off(f"the snapshot store {self.where} cannot be opened "
                                   f"({error.strerror or error})") from None
        except sqlite3.Error as error:
            raise self._switch_off(self._words(error)) from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db)
        except sqlite3.Error as error:
            db.close()
            raise self._switch_off(self._words(error)) from None
        except SnapshotError as error:
            db.close()
            raise self._switch_off(str(error)) from None
        self._db = db
        return db

    def _words(self, error: sqlite3.Error) -> str:
        """What went wrong, for a person: the five ways a store fails, else SQLite's own words."""
        text = str(error)
        lowered = text.lower()
        if "not a database" in lowered or "malformed" in lowered:
            what = "is damaged (not a readable SQLite database); it was left as it is"
        elif "locked" in lowered or "busy" in lowered:
            what = f"is locked by another program (waited {BUSY_TIMEOUT_S:g} s)"
        elif "full" in lowered:
            what = "cannot grow: the disk is full"
        elif "readonly" in lowered or "read-only" in lowered:
            what = "is read-only"
        else:
            what = f"failed ({text})"
        return f"the snapshot store {self.where} {what}"

    def _switch_off(self, words: str) -> SnapshotError:
        """Snapshots off for this process: the first failure is said, later calls repeat it quietly."""
        self._off = SnapshotError(f"{words[0].upper()}{words[1:]}.")
        if self._db is not None:
            self._db.close()
            self._db = None
        return self._off


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION, one transaction per step; a newer schema is refused untouched."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SnapshotError(f"the snapshot store was written by a newer Endpoint Explorer (schema {version}); "
                            "it was left as it is")
    for number in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == number:  # another process may have done it
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            db.rollback()
            raise
        db.commit()
