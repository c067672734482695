"""Filtering and sorting loaded devices without Textual: the same meaning for the CLI flags and the UI keys.

`DeviceFilter.matches` says what a filter means for one device (the CLI applies it device by device).
`Inventory` answers the same question for 100,000 devices in milliseconds: it keeps each device's
flags in byte columns, a lower-case search key per device (made when a text filter or an idle moment first
asks), and an index of the devices in each group, so a keystroke in the filter is a handful of list
comprehensions over integers, never a pass over widgets or records.
"""

from __future__ import annotations

import bisect
import functools
import gc
import ipaddress
import re
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain, compress, count, groupby, islice, repeat
from operator import attrgetter, contains, is_, is_not, itemgetter, not_
from typing import Any

from tui.models import Device, Health


def split_group_path(text: str) -> tuple[str, ...]:
    """A group path typed by a user: levels separated by backslashes (SEPM style) or slashes."""
    return tuple(part.strip() for part in re.split(r"[\\/]", text) if part.strip())


def search_key(device: Device) -> str:
    """What the text filter looks in: name, IP addresses, user, OS and group, case-folded."""
    return " ".join((device.name, " ".join(device.ip_addresses), device.user, device.os, device.group)).casefold()


def group_keys(device: Device) -> frozenset[tuple[str, ...]]:
    """The case-folded paths of the device's group, labels and all their ancestors, under its connection."""
    return _group_keys(device.connection, device.group, device.labels)


@functools.lru_cache(maxsize=4096)
def _group_keys(connection: str, group: str, labels: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    """Cached: a fleet has far fewer distinct group memberships than devices."""
    return frozenset(
        (connection, *path[:depth])
        for path in (tuple(part.casefold() for part in split_group_path(text)) for text in (group, *labels))
        for depth in range(len(path) + 1)
    )


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """What the user asked to see; an empty filter keeps every device.

    `connection` keeps one console's devices (the All fleets view); `group` keeps the devices of that
    group and of its sub-groups (labels count as groups). `text` matches name, IP, user, OS and group,
    case-insensitively; a leading `!` keeps the devices that do not match.
    """

    critical: bool = False
    missing_patch: bool = False
    online: bool = False
    connection: str = ""
    group: tuple[str, ...] = ()
    text: str = ""

    @property
    def scope(self) -> DeviceFilter:
        """Only where to look (connection and group), without what to look for."""
        return DeviceFilter(connection=self.connection, group=self.group)

    @property
    def needle(self) -> tuple[str, bool]:
        """The case-folded text to look for, and whether matching devices are excluded instead."""
        negate = self.text.startswith("!")
        return (self.text[1:] if negate else self.text).casefold(), negate

    def matches(self, device: Device) -> bool:
        if self.critical and device.health is not Health.CRITICAL:
            return False
        if self.missing_patch and device.missing_critical_patches is not True:
            return False
        if self.online and device.online is not True:
            return False
        if self.connection and device.connection != self.connection:
            return False
        if self.group and self._group_key(device.connection) not in group_keys(device):
            return False
        needle, negate = self.needle
        return not needle or (needle in search_key(device)) != negate

    def _group_key(self, connection: str) -> tuple[str, ...]:
        return (connection, *(part.casefold() for part in self.group))

    def apply(self, devices: Iterable[Device]) -> list[Device]:
        return [device for device in devices if self.matches(device)]


HEALTH_RANK = {Health.CRITICAL: 0, Health.WARNING: 1, Health.UNKNOWN: 2, Health.OK: 3}
PATCH_RANK = {True: 0, None: 1, False: 2}


def _by_row(column: Sequence[Any], rows: Sequence[int]) -> Iterable[Any]:
    """The column's values at these rows (distinct row numbers in arrival order, as a filter's matches are), lazily
    and at C speed; the column itself when there are as many rows as values, which can only be every row: a
    keystroke over a million devices runs no Python code per device."""
    if len(rows) == len(column):
        return column
    return map(column.__getitem__, rows)


def _ip_order(device: Device) -> str:
    """Addresses in numeric order (10.0.0.9 before 10.0.0.10), IPv4 before IPv6; devices without one last.

    The key is a string of code points below 256, which sorts quickest: valid or not, the IP version, then the
    address's bytes (or, for text that is no address, its UTF-8 bytes). A dotted quad goes through inet_pton,
    ten times quicker than `ipaddress`, which accepts all it accepts, to the same bytes.
    """
    if not device.ip_addresses:
        return "\x01\x00"
    text = device.ip_addresses[0]
    try:
        return "\x00\x04" + socket.inet_pton(socket.AF_INET, text).decode("latin-1")
    except (OSError, ValueError):
        pass
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "\x01\x00" + text.encode().decode("latin-1")
    return "\x00" + chr(address.version) + address.packed.decode("latin-1")


def _seen_order(device: Device) -> float:
    """Stalest first: never seen, then oldest last contact, then online now."""
    if device.online:
        return float("inf")
    return device.last_seen.timestamp() if device.last_seen else float("-inf")


SORT_KEYS: dict[str, Callable[[Device], Any]] = {
    "health": lambda device: HEALTH_RANK[device.health],
    "name": lambda device: device.name.casefold(),
    "seen": _seen_order,
    "patches": lambda device: PATCH_RANK[device.missing_critical_patches],
    "ip": _ip_order,
    "group": lambda device: device.group.casefold(),
    "os": lambda device: device.os.casefold(),
    "user": lambda device: device.user.casefold(),
    "connection": lambda device: device.connection,
}
"""Sort columns: what ascending means for each (critical first, stalest first, missing patches first)."""

TEXT_COLUMNS = {"name": True, "group": True, "os": True, "user": True, "connection": False}
"""The text columns (value: whether they sort case-folded): their longest value sizes a table column."""


@dataclass(frozen=True, slots=True)
class Sort:
    column: str | None = None
    descending: bool = False


SHARED_FIELDS = ("os", "group", "group_id", "user", "health_reasons")
"""The device fields whose few distinct values an inventory keeps one copy of (`Inventory._share_text`)."""

@dataclass(frozen=True, slots=True)
class Selection:
    """The rows a filter keeps, in display order, with the counts the filter bar shows."""

    rows: list[int]
    """Read-only: the inventory's own list where it can (every row in a sort's order)."""
    scope: int
    """Devices in the selected connection and group, before the other filters."""
    flags: Sequence[int] = b""
    """The inventory's critical column (one byte a row), for `critical`."""

    @property
    def critical(self) -> int:
        """Critical devices among the rows: counted when asked, as the filter bar asks only when no filter narrows
        the scope (a count over a million matches on every keystroke cost more than the filter)."""
        if len(self.rows) == len(self.flags):
            return self.flags.count(1)
        return sum(map(self.flags.__getitem__, self.rows))


RECENT_FILTERS = 8
"""How many filters' matches an inventory keeps (at most 800 kB each at 100,000 devices)."""
FREEZE_FROM = 20_000
"""Devices from which an inventory keeps what it holds out of the collector's full passes (`Inventory._freeze`)."""


@dataclass(frozen=True, slots=True)
class _Hits:
    """A filter's matches in arrival order, kept so typing on narrows them, a backspace or a new sort reuses them."""

    wanted: DeviceFilter
    hits: list[int]
    scope: int


def _covers(wider: DeviceFilter, wanted: DeviceFilter) -> bool:
    """Whether every device `wanted` keeps is among those `wider` keeps: the same scope, no flag that `wanted` lacks,
    and a text that `wanted`'s implies ("ws" covers "ws-e"; the exclusion "!srv" covers "!sr")."""
    if (wider.connection, wider.group) != (wanted.connection, wanted.group) or any(
            getattr(wider, flag) and not getattr(wanted, flag) for flag in ("critical", "missing_patch", "online")):
        return False
    needle, negate = wider.needle
    if not needle:
        return True
    wanted_needle, wanted_negate = wanted.needle
    return bool(wanted_needle) and negate == wanted_negate and (
        wanted_needle in needle if negate else needle in wanted_needle)


class Inventory:
    """Every loaded device, row by row in arrival order; a device seen again replaces its row (keeping the
    labels this inventory already knew it by).

    Rows are integers; `devices[row]` is the record. Byte columns hold the flags, `search` the text
    key, and `members` the rows of each group path (with all ancestors), so counts per group are free.
    """

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self.devices: list[Device] = []
        self._search: list[str] = []
        self.critical = bytearray()
        self.missing = bytearray()
        self.online = bytearray()
        self.members: dict[tuple[str, ...], list[int]] = {}
        self.widths: dict[str, int] = {}
        """The longest value seen per text column, so a table sizes its columns without a pass."""
        self._rows: dict[str, dict[str, int]] = {}
        """Row by connection, then device id: ids are strings that keep their hash, and a page of new devices
        takes its rows in one update."""
        self._sort_keys: dict[str, list[Any]] = {}
        self._orders: dict[Sort, list[int]] = {}
        self._ranks_cache: dict[Sort, list[int]] = {}
        self._recent: dict[DeviceFilter, _Hits] = {}
        """The matches of the last few filters, the latest last: a backspace shows the previous ones again."""
        self._shared: dict[str, dict[Any, Any]] = {field: {} for field in SHARED_FIELDS}
        """Per shared field, the one copy kept of each of its values, in the order first seen (`_share_text`)."""
        self.version = 0
        """Counts the changes of the devices held (`add`): a table redraws the lines it drew only when it moves."""
        self._frozen_at = 0
        """How many devices were held at the last `_freeze`."""
        self._sorted_since_freeze = False
        """A sort order (and its column's keys) was made after the last `_freeze`: lists of every row to freeze."""
        self.add(devices)

    def __len__(self) -> int:
        return len(self.devices)

    @property
    def search(self) -> list[str]:
        """Each row's search key, made when first asked for: the first rows of a fleet do not wait for the keys
        (they were a quarter of the time to a fleet's first rows), and a pane makes them while idle (`prepare`)."""
        self._make_keys(len(self.devices))
        return self._search

    @property
    def prepared(self) -> bool:
        """Whether `prepare` has nothing left to do."""
        return len(self._search) == len(self.devices) and not self._freeze_due

    def prepare(self, count: int) -> None:
        """What an idle moment can do ahead of need: make up to `count` search keys; once every key is made, keep
        the devices held out of the collector's full passes when they are many (`_freeze`)."""
        self._make_keys(count)
        if len(self._search) == len(self.devices) and self._freeze_due:
            self._freeze()

    def _make_keys(self, count: int) -> None:
        keys = self._search
        keys.extend(map(search_key, self.devices[len(keys):len(keys) + count]))

    @property
    def _freeze_due(self) -> bool:
        held = len(self.devices)
        return held >= FREEZE_FROM and (held >= self._frozen_at + self._frozen_at // 8 or self._sorted_since_freeze)

    def _freeze(self) -> None:
        """A full collection, then every object the collector tracks (the devices held among them) moved to its
        permanent generation (`gc.freeze`); again each time the devices have grown by an eighth, or a new sort
        order (a list of every row, with its column's keys, which every young collection walks while young) was
        made. A full collection looks at every tracked object: 50 ms per 100,000 devices, and one came every few
        hundred renders and several times during a load; frozen, they are out of it.

        A frozen device is still freed when nothing holds it (a refresh's old inventory), but what was frozen alive
        and later died in a cycle (a few hundred objects a load; a details screen open during a refresh) is not.
        So an inventory's first freeze thaws everything first, and its collection takes back what earlier ones left
        (once a load: as long as a full collection of everything then held). Collecting before freezing keeps the
        garbage of the load so far out of the frozen generation (a young collection alone left 150 MB of old page
        bodies in it over a million devices)."""
        if not self._frozen_at:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_at = len(self.devices)
        self._sorted_since_freeze = False

    def row_of(self, device: Device) -> int | None:
        return self._rows.get(device.connection, {}).get(device.id)

    def find(self, connection: str, device_id: str | None, name: str | None) -> Device | None:
        """The device an event names: by id, else by name (case-insensitive; the first of that name)."""
        row = self._rows.get(connection, {}).get(device_id) if device_id is not None else None
        if row is None and name:
            wanted = name.casefold()
            row = next((row for row, device in enumerate(self.devices)
                        if device.connection == connection and device.name.casefold() == wanted), None)
        return self.devices[row] if row is not None else None

    def add(self, devices: Iterable[Device]) -> None:
        """Append new devices, replace the rows of devices already held (same connection and id)."""
        start = len(self.devices)
        self.version += 1
        new, again, connection = self._split(list(devices))
        self._append(new, connection)
        for row, device in again:
            self._replace(row, device)
        self._recent.clear()
        for column, keys in self._sort_keys.items():
            keys.extend(self._column_sort_keys(column, start))
        self._reorder(range(start, len(self.devices)))

    def _split(self, devices: list[Device]) -> tuple[list[Device], list[tuple[int, Device]], str | None]:
        """The devices not held yet (given the next rows, in order), the rows of those seen again, and the one
        connection of the new devices when they are all of one (else None).

        A page of one console's devices that are all new (the usual page) takes its rows in one dict update.
        """
        start = len(self.devices)
        connections = set(map(attrgetter("connection"), devices))
        if len(connections) == 1:
            connection = connections.pop()
            held = self._rows.get(connection)
            fresh = dict(zip(map(attrgetter("id"), devices), range(start, start + len(devices))))
            if len(fresh) == len(devices) and (not held or held.keys().isdisjoint(fresh)):
                if held:
                    held.update(fresh)
                else:
                    self._rows[connection] = fresh
                return devices, [], connection
        new: list[Device] = []
        again: list[tuple[int, Device]] = []
        for device in devices:
            held = self._rows.setdefault(device.connection, {})
            row = held.get(device.id)
            if row is None:
                held[device.id] = start + len(new)
                new.append(device)
            else:
                again.append((row, device))
        return new, again, None

    def _append(self, new: list[Device], connection: str | None) -> None:
        """Index new devices column by column (a page, or a whole fleet at once) in C-level passes, not device by
        device: building the inventory is most of a fleet's time to its first rows. A pass over 100,000 devices costs
        about 5 ms whatever it does (it is their memory that is slow to reach), so each field is read once: the shared
        columns serve the group index too, and the widths of the shared text columns come from their new distinct
        values. `connection` is that of every new device, when one is. The search keys wait until asked for."""
        start = len(self.devices)
        known = {field: len(values) for field, values in self._shared.items()}
        groups = self._share_text(new)["group"]
        self.devices.extend(new)
        for flags, field, value in ((self.critical, "health", Health.CRITICAL),
                                    (self.missing, "missing_critical_patches", True), (self.online, "online", True)):
            flags.extend(map(is_, map(attrgetter(field), new), repeat(value)))
        if connection is None:
            connections: Sequence[str] = list(map(attrgetter("connection"), new))
            unshared = {"name": map(attrgetter("name"), new), "connection": connections}
        else:
            connections = [connection] * len(new)
            unshared = {"name": map(attrgetter("name"), new), "connection": [connection]}
        widths = self.widths
        for column in TEXT_COLUMNS:
            # a shared column's widest value is among the distinct values it has just learnt
            values = islice(self._shared[column], known[column], None) if column in known else unshared[column]
            longest = max(map(len, values), default=0)
            if longest > widths.get(column, 0):
                widths[column] = longest
        self._index_members(start, zip(connections, groups, map(attrgetter("labels"), new)))

    def _index_members(self, start: int, memberships: Iterable[tuple[str, str, tuple[str, ...]]]) -> None:
        """Add the new rows (from `start`, one membership each) to `members`, in arrival order. A console lists a
        group's devices together, so rows are gathered run by run, not device by device; and as every new row
        follows every row held, a group path whose new rows come from several memberships sorts those rows only,
        never its whole list again (at a million devices that re-sort of each ancestor on every page was most of
        the load's indexing time)."""
        runs: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}
        for membership, run in groupby(zip(count(start), memberships), itemgetter(1)):
            runs.setdefault(membership, []).extend(map(itemgetter(0), run))
        added: dict[tuple[str, ...], list[list[int]]] = {}
        for membership, rows in runs.items():
            for key in _group_keys(*membership):
                added.setdefault(key, []).append(rows)
        for key, lists in added.items():
            self.members.setdefault(key, []).extend(lists[0] if len(lists) == 1 else sorted(chain.from_iterable(lists)))

    def _share_text(self, devices: list[Device]) -> dict[str, list[Any]]:
        """Point the fields whose values repeat across a fleet (a few OSes, groups, reasons; some hundreds of users)
        at one copy of each: every page's JSON brings them as new strings, about 230 bytes a device. Field by
        field in C-level passes (map and setattr), no Python code per device. Returns each field's column."""
        columns = {}
        for field in SHARED_FIELDS:
            values = list(map(attrgetter(field), devices))
            shared = columns[field] = list(map(self._shared[field].setdefault, values, values))
            if any(map(is_not, values, shared)):  # a vendor may share them already (a group's path)
                deque(map(setattr, devices, repeat(field), shared), maxlen=0)
        return columns

    def _replace(self, row: int, device: Device) -> None:
        """A device seen again takes its row; rare (a refresh's overlap, an EPMM label search), so one by one."""
        self._share_text([device])
        previous, self.devices[row] = self.devices[row], device
        if previous.labels and not set(previous.labels) <= set(device.labels):
            # EPMM learns labels one label search at a time: a listing that brings the device again
            # (without labels, or with another one) adds to what this inventory already knows.
            device.labels = tuple(dict.fromkeys((*previous.labels, *device.labels)))
        if group_keys(previous) != group_keys(device):  # rare: a device that moved group
            self._unindex_groups(row, previous)
            self._index_groups(row, device)
        self._index(row, device)

    def _index(self, row: int, device: Device) -> None:
        if row < len(self._search):
            self._search[row] = search_key(device)
        self.critical[row] = device.health is Health.CRITICAL
        self.missing[row] = device.missing_critical_patches is True
        self.online[row] = device.online is True
        widths = self.widths
        for column in TEXT_COLUMNS:
            value = getattr(device, column)
            if len(value) > widths.get(column, 0):
                widths[column] = len(value)
        for column, keys in self._sort_keys.items():
            if row < len(keys):
                keys[row] = SORT_KEYS[column](device)

    def _index_groups(self, row: int, device: Device) -> None:
        for key in group_keys(device):
            rows = self.members.setdefault(key, [])
            if rows and rows[-1] > row:
                bisect.insort(rows, row)  # a moved row keeps its place in arrival order
            else:
                rows.append(row)

    def _unindex_groups(self, row: int, device: Device) -> None:
        for key in group_keys(device):
            rows = self.members.get(key)
            if rows is not None:
                rows.remove(row)

    def _reorder(self, added: Sequence[int]) -> None:
        """Keep every cached sort order valid: new rows merge in (Timsort sees two sorted runs). Each order is a new
        list, never one changed in place: a selection of every row is the cached order itself (`_in_order`)."""
        self._ranks_cache.clear()
        for sort, order in list(self._orders.items()):
            assert sort.column is not None  # `order` caches no order for the arrival order (no column)
            keys = self._sort_keys[sort.column]
            rows = chain(order, added) if len(order) + len(added) == len(self.devices) else range(len(self.devices))
            self._orders[sort] = sorted(rows, key=keys.__getitem__, reverse=sort.descending)

    def _column_sort_keys(self, column: str, start: int = 0) -> list[Any]:
        """`SORT_KEYS[column]` of the rows from `start` on, made column-wise with C-level maps: text with one casefold
        per distinct value where they repeat (groups, OSes, users: one copy each, whose hash is known), health and
        patches as ranks."""
        if column in TEXT_COLUMNS:
            values = list(map(attrgetter(column), self.devices[start:]))
            fold: Callable[[str], str] = str.casefold if TEXT_COLUMNS[column] else str
            if column not in SHARED_FIELDS and len(set(values[:1024])) > 256:
                return list(map(fold, values))
            return list(map({value: fold(value) for value in set(values)}.__getitem__, values))
        devices = self.devices[start:]
        if column == "health":
            return list(map(HEALTH_RANK.__getitem__, map(attrgetter("health"), devices)))
        if column == "patches":
            return list(map(PATCH_RANK.__getitem__, map(attrgetter("missing_critical_patches"), devices)))
        return list(map(SORT_KEYS[column], devices))

    def order(self, sort: Sort) -> Sequence[int]:
        """Every row in the sort's order; stable, so equal keys keep arrival order."""
        if sort.column is None:
            return range(len(self.devices))
        cached = self._orders.get(sort)
        if cached is None:
            keys = self._sort_keys.get(sort.column)
            if keys is None:
                keys = self._sort_keys[sort.column] = self._column_sort_keys(sort.column)
            # The other direction, once known, is this one but for the runs of equal keys: Timsort takes it in a few
            # passes (one, for distinct keys), where the arrival order needs a full sort. Stable either way: equal
            # keys keep their arrival order, the order they have within the other direction too.
            other = self._orders.get(Sort(sort.column, not sort.descending))
            cached = self._orders[sort] = sorted(other if other is not None else range(len(self.devices)),
                                                 key=keys.__getitem__, reverse=sort.descending)
            self._sorted_since_freeze = True
        return cached

    def scope_rows(self, wanted: DeviceFilter) -> list[int] | None:
        """The rows in the filter's connection and group, in arrival order; None when that is every row."""
        if not wanted.connection and not wanted.group:
            return None
        group = tuple(part.casefold() for part in wanted.group)
        connections = [wanted.connection] if wanted.connection else sorted({key[0] for key in self.members if len(key) == 1})
        rows = [row for connection in connections for row in self.members.get((connection, *group), ())]
        return sorted(rows) if len(connections) > 1 else rows

    def select(self, wanted: DeviceFilter, sort: Sort = Sort()) -> Selection:
        """The rows that pass the filter, in the sort's order; a recent filter again (a new sort, a backspace) is not
        run again."""
        recent = self._recent
        found = recent.pop(wanted, None)
        if found is None:
            found = self._narrow(wanted)
            if len(recent) >= RECENT_FILTERS:
                del recent[next(iter(recent))]
        recent[wanted] = found
        return Selection(rows=self._in_order(found.hits, sort), scope=found.scope, flags=self.critical)

    def _narrow(self, wanted: DeviceFilter) -> _Hits:
        """Match in arrival order (the search keys sit in memory in that order), among the fewest rows a recent
        filter leaves that must hold every match (`_covers`): typing on, a flag switched on or a backspace in an
        exclusion looks only at what the screen showed, not at every device."""
        scope = self.scope_rows(wanted)
        size = len(self.devices) if scope is None else len(scope)
        base = min((found for found in self._recent.values() if _covers(found.wanted, wanted)),
                   key=lambda found: len(found.hits), default=None)
        hits: Sequence[int] = base.hits if base is not None else range(size) if scope is None else scope
        done = base.wanted if base is not None else DeviceFilter()
        for flag, column in (("critical", self.critical), ("missing_patch", self.missing), ("online", self.online)):
            if getattr(wanted, flag) and not getattr(done, flag):
                hits = list(compress(hits, _by_row(column, hits)))
        needle, negate = wanted.needle
        if needle and done.needle != (needle, negate):
            if negate:
                hits = self._excluding(hits, wanted)
            else:
                hits = list(compress(hits, map(contains, _by_row(self.search, hits), repeat(needle))))
        return _Hits(wanted, hits if isinstance(hits, list) else list(hits), size)

    def _excluding(self, rows: Sequence[int], wanted: DeviceFilter) -> list[int]:
        """The rows (a superset of the matches, in arrival order) whose search key lacks the excluded text. After a
        recent exclusion of a part of it ("!sr" after "!s", same flags and scope), the rows that one kept are kept as
        they are (lacking "s", they lack "sr"), and only those it left out are looked at: when it kept most rows, a
        fraction of the scan."""
        needle = wanted.needle[0]
        search = self.search
        shorter = next((found.hits for found in reversed(self._recent.values())
                        if found.wanted.needle[1] and found.wanted.needle[0] and found.wanted.needle[0] in needle
                        and replace(found.wanted, text="") == replace(wanted, text="")), None)
        if shorter is not None and 2 * len(shorter) > len(rows):
            kept = bytearray(len(search))
            deque(map(kept.__setitem__, shorter, repeat(1)), maxlen=0)
            left_out = list(compress(rows, map(not_, _by_row(kept, rows))))
            lacking = compress(left_out, map(not_, map(contains, _by_row(search, left_out), repeat(needle))))
            return sorted(chain(shorter, lacking))  # two runs in arrival order: one merge
        return list(compress(rows, map(not_, map(contains, _by_row(search, rows), repeat(needle)))))

    def _in_order(self, hits: list[int], sort: Sort) -> list[int]:
        if sort.column is None:
            return hits
        self.order(sort)  # made if it is not cached yet
        order = self._orders[sort]
        if len(hits) == len(order):
            return order  # not a copy: a new young list of every row costs each young collection a pass over it
        if len(hits) * 16 < len(order):
            rank = self._ranks(sort)
            return sorted(hits, key=rank.__getitem__)
        wanted = bytearray(len(order))
        deque(map(wanted.__setitem__, hits, repeat(1)), maxlen=0)
        return list(compress(order, map(wanted.__getitem__, order)))

    def _ranks(self, sort: Sort) -> list[int]:
        """Each row's position in the sort order, for putting a few hits in order without a pass over all."""
        ranks = self._ranks_cache.get(sort)
        if ranks is None:
            order = self.order(sort)
            ranks = self._ranks_cache[sort] = [0] * len(order)
            for position, row in enumerate(order):
                ranks[row] = position
        return ranks
