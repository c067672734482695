"""A loopback simulator of the Ivanti EPMM V2 API over a generated, deterministic fleet of phones and tablets.

Strict where ../shared/vendor-apis/epmm.md is sure, so a client that passes here speaks to a real console:
HTTP Basic on every call (401 without a challenge header: the API never prompts [SEED]);
`adminDeviceSpaceId` required where the documents require it; the device search answers 400 without
`query` or `labelId` (an empty `query=` is present and returns everything [DOC-DEV]), to a `query` over 255
characters, and to a `fields` list that is empty, longer than 512 names, has a name over 320 characters or
a name `search_fields` does not list [DOC-DEV][AXON]; `label_summary` answers 400 to a `limit` over 200
[DOC-LBL]; 404 (JSON under the API root, a web server's page elsewhere) and 405 [SEED]. With
`connected_cloud=True` every API path sits under `/rest`.

Real shapes: the search answer carries `results`, `totalCount`, `resultCount`, `searchTimeMillis`,
`currentServerTimeMilliseconds` and `hasMore`; records are flat, keyed by the dotted fields asked for, with
JSON booleans, ISO 8601 UTC times with milliseconds and `Z`, and `""` for an empty value; a GDPR user sees
`"*****"` for user id, names, email, phone, IMEI, IMSI and serial, but `""` stays `""` [XSOAR test data].
`ping` answers `{"results": {"apiVersion", "vspVersion"}}` [XSOAR]. `label_summary` rows have the
documented keys, system labels negative ids (All-Smartphones is -1) [DOC-LBL]. No device record has a
label field: membership is only what a `labelId` search returns. `ios.DeviceName` is served for iOS
devices only [AXON]; no `common.device_name` exists.

Our guesses where the fact sheet is uncertain, which a client must tolerate rather than rely on:
the error body (`{"messages": [{"type", "messageKey", "localizedMessage"}]}`, after the `messages` list of
V2 bodies and the message keys of [XSOAR]); the ids of system labels other than -1 and their criteria;
`search_fields` items carry only `name`; the device search's `limit` maximum (200 here, the label
maximum: a client asking for more must be refused, not humoured); a non-iOS record has no
`ios.DeviceName` key at all; sort parameters are ignored (results in registration order, `common.id`);
the admin of space 1 (Global) sees every device, the admin of another space only that space's devices.

Audit logs (`logs/audit_logs_export`, `..._status`, `audit_logs_csv` [DOC-AUD]): the parameters are read
from the query string; `adminDeviceSpaceId` is required, `status` must be Success, Failed or Initiated,
`userActionIds` integers, `actionStart`/`actionEnd` epoch milliseconds (start included, end not). Guessed
too: the initiating call answers `{"results": {"requestId", "status"}}`, the status call takes that
`requestId` and answers `IN_PROGRESS` until the export is done (`export_polls` status calls), then
`COMPLETED`; the CSV (`text/csv`) has the columns `AUDIT_COLUMNS`, times ISO 8601 like the device search.
A user without the "View logs and events" role (`NO_LOGS_USERNAME`) gets 403 on all three.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import random
import re
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tui.simulators import DAY, DEMO_CREDENTIALS, EPOCH, HOUR, MINUTE, Draw, distinct_seeds, event_log_of, fleet_clock
from tui.simulators.faults import FaultInjector, FaultPlan
from tui.simulators.json_response import JSONResponse

DEMO_USERNAME, DEMO_PASSWORD = DEMO_CREDENTIALS["epmm"]
GDPR_USERNAME = "gdpr-auditor"
"""An API user with a GDPR profile: same password, personal fields obfuscated."""
NO_LOGS_USERNAME = "device-viewer"
"""An API user without the "View logs and events" role: same password, 403 on the audit-log calls."""

API = "/api/v2"
CLOUD_PREFIX = "/rest"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_QUERY = 255
MAX_FIELDS = 512
MAX_FIELD_NAME = 320
OBFUSCATED = "*****"
VSP_VERSION = "VSP 12.5.0.0 Build 52"


class _Space(NamedTuple):
    id: int
    name: str
    weight: int
    """Share of the fleet registered in this space."""
    phone_prefix: str


_SPACES = (
    _Space(1, "Global", 10, "+1 202 555 0"),
    _Space(2, "EMEA", 35, "+44 7700 900"),
    _Space(3, "Americas", 40, "+1 202 555 0"),
    _Space(4, "APAC", 15, "+61 491 570 "),
)


class _Release(NamedTuple):
    platform: str
    version: str
    weight: int
    supported: bool
    """Its vendor still ships security fixes for it (late 2025); unsupported ones often fail compliance."""


_RELEASES = (
    _Release("iOS", "26.1", 30, True), _Release("iOS", "26.0.1", 10, True), _Release("iOS", "18.7.1", 8, True),
    _Release("iOS", "18.6.2", 4, True), _Release("iOS", "17.7.10", 3, False), _Release("iOS", "16.7.12", 1, False),
    _Release("Android", "16", 14, True), _Release("Android", "15", 12, True), _Release("Android", "14", 8, True),
    _Release("Android", "13", 4, True), _Release("Android", "12", 3, False), _Release("Android", "11", 1, False),
    _Release("Windows", "10.0.26100.6899", 3, True), _Release("Windows", "10.0.22631.6060", 2, True),
    _Release("Windows", "10.0.19045.6456", 2, False),
    _Release("macOS", "26.1", 2, True), _Release("macOS", "15.7.2", 1, True), _Release("macOS", "14.8.2", 1, True),
    _Release("macOS", "13.7.8", 1, False),
)

_MODELS = {
    "iOS": (("Apple", "iPhone 16", True), ("Apple", "iPhone 15", True), ("Apple", "iPhone 14", True),
            ("Apple", "iPhone SE", True), ("Apple", "iPad Air", False), ("Apple", "iPad Pro 11-inch", True)),
    "Android": (("samsung", "SM-S921B", True), ("samsung", "SM-A556B", True), ("Google", "Pixel 9", True),
                ("Google", "Pixel 8a", True), ("Zebra Technologies", "TC58", True), ("samsung", "SM-X710", False)),
    "Windows": (("Microsoft Corporation", "Surface Pro 11", False), ("LENOVO", "ThinkPad X12 Detachable", False)),
    "macOS": (("Apple", "MacBook Air (M3)", False), ("Apple", "MacBook Pro (M4)", False)),
}
"""(manufacturer, model, has a cellular radio) per platform."""


class _Label(NamedTuple):
    id: int
    name: str
    description: str
    static: bool
    criteria: str
    system: bool


_LABELS = (
    _Label(-1, "All-Smartphones", "Label for all devices irrespective of OS", False, "", True),
    _Label(-3, "iOS", "All iOS devices", False, 'common.platform = "iOS"', True),
    _Label(-2, "Android", "All Android devices", False, 'common.platform = "Android"', True),
    _Label(-5, "Windows", "All Windows devices", False, 'common.platform = "Windows"', True),
    _Label(-4, "macOS", "All macOS devices", False, 'common.platform = "macOS"', True),
    _Label(-6, "Company-Owned", "All company-owned devices", False, 'common.owner = "COMPANY"', True),
    _Label(-7, "Employee-Owned", "All employee-owned devices", False, 'common.owner = "EMPLOYEE"', True),
    _Label(1, "Executives", "Board and leadership team", True, "", False),
    _Label(2, "Field Sales", "Sales staff on the road", True, "", False),
    _Label(3, "Kiosk", "Shared single-app devices", True, "", False),
)
"""Bit i of a device's label mask is `_LABELS[i]`. Only -1 All-Smartphones is a known real id [DOC-LBL]."""
_LABEL_BITS = {label.id: bit for bit, label in enumerate(_LABELS)}
_PLATFORM_BIT = {"iOS": 1, "Android": 2, "Windows": 3, "macOS": 4}
_COMPANY, _BYOD, _EXECUTIVES, _FIELD_SALES, _KIOSK = 5, 6, 7, 8, 9

_WIPED, _RETIRED, _COMPROMISED, _NONCOMPLIANT, _QUARANTINED = 1, 2, 4, 8, 16
"""Bits of a device's stored state."""

_NONCOMPLIANCE = ("Policy out of date", "Passcode does not meet the policy", "Disallowed app installed",
                  "Data encryption disabled", "MDM profile removed")
_FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Irene", "Jonas",
                "Kofi", "Lena", "Marek", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq")
_LAST_NAMES = ("Smith", "Mueller", "Garcia", "Chen", "Novak", "Okafor", "Rossi", "Kim", "Dubois", "Jansen",
               "Silva", "Kowalski", "Ivanova", "Haddad", "Larsen", "Tanaka", "Brown", "Moreau", "Patel", "Weber")

FIELDS = (
    "common.id", "common.uuid", "common.device_space_name", "common.platform", "common.platform_name",
    "common.os_version", "common.manufacturer", "common.model", "common.status", "common.compliant",
    "common.noncompliance_reasons", "common.quarantined", "common.quarantined_reasons", "common.security_state",
    "common.device_is_compromised", "common.owner", "common.registration_date", "common.last_connected_at",
    "common.ip_address", "common.imei", "common.imsi", "common.SerialNumber", "common.current_phone_number",
    "ios.DeviceName", "user.user_id", "user.display_name", "user.email_address",
)
"""Every field a device record can have (real names, fact sheet), in the order `search_fields` lists them."""
SUMMARY_FIELDS = frozenset((
    "common.id", "common.device_space_name", "common.platform", "common.os_version", "common.status",
    "common.compliant", "common.quarantined", "common.security_state", "common.device_is_compromised",
    "common.owner",
))
"""The fields known from the compact per-device state: a query on these alone builds no full record."""
GDPR_FIELDS = ("common.imei", "common.imsi", "common.SerialNumber", "common.current_phone_number",
               "user.user_id", "user.display_name", "user.email_address")
"""What a GDPR profile hides [SEED]: user id, person name, email, phone, IMEI, IMSI, serial."""


def _iso(ms: int) -> str:
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


class EpmmFleet:
    """A generated EPMM estate, identical for the same (size, seed, now).

    Per device only a space, an OS release, a state byte, a label bitmask and a detail seed are stored
    (10 bytes), so 200,000 devices build in about a second; the rest of each record (names, hardware,
    times, reasons) is rebuilt on demand from its detail seed. Devices are indexed in registration order:
    `common.id` is the index plus one.
    """

    def __init__(self, size: int = 500, seed: int = 7, now: datetime | None = None) -> None:
        self.size = size
        self.seed = seed
        self.now, self.now_ms = fleet_clock(now)

        rng = Draw(seed)
        self._space = array("B", rng.choices(range(len(_SPACES)), [space.weight for space in _SPACES], k=size))
        self._release = array("B", rng.choices(range(len(_RELEASES)), [r.weight for r in _RELEASES], k=size))
        self._state = array("B", bytes(size))
        self._labels = array("H", bytes(2 * size))
        for index in range(size):
            self._state[index], self._labels[index] = self._draw(rng, _RELEASES[self._release[index]])
        self._counts = [[0] * len(_LABELS) for _ in _SPACES]
        """Devices per (space position, label position): what label_summary reports."""
        for (space, labels), count in Counter(zip(self._space, self._labels)).items():
            for bit in range(len(_LABELS)):
                self._counts[space][bit] += count * (labels >> bit & 1)
        self._detail_seed = distinct_seeds(rng, size)
        self._selections: dict[tuple[int, int | None, str], Sequence[int]] = {}

    def __len__(self) -> int:
        return self.size

    @staticmethod
    def _draw(rng: random.Random, release: _Release) -> tuple[int, int]:
        """A device's state bits and label bits: about 1% wiped, 3% retired, 1.5% of phones compromised,
        4% non-compliant (40% on an unsupported OS), 40% of those quarantined, a quarter of phones employee-owned."""
        state = 0
        draw = rng.random()
        if draw < 0.01:
            state |= _WIPED
        elif draw < 0.04:
            state |= _RETIRED
        mobile = release.platform in ("iOS", "Android")
        if mobile and rng.random() < 0.015:
            state |= _COMPROMISED
        if state & _COMPROMISED or rng.random() < (0.04 if release.supported else 0.4):
            state |= _NONCOMPLIANT
        if state & _NONCOMPLIANT and rng.random() < 0.4:
            state |= _QUARANTINED
        labels = 1 | 1 << _PLATFORM_BIT[release.platform]
        labels |= 1 << (_BYOD if mobile and rng.random() < 0.25 else _COMPANY)
        if rng.random() < 0.03:
            labels |= 1 << _EXECUTIVES
        if mobile and rng.random() < 0.12:
            labels |= 1 << _FIELD_SALES
        if release.platform == "Android" and labels >> _COMPANY & 1 and rng.random() < 0.05:
            labels |= 1 << _KIOSK
        return state, labels

    @property
    def spaces(self) -> list[dict[str, Any]]:
        return [{"id": space.id, "name": space.name, "description": f"{space.name} devices",
                 "parentId": None if space.id == 1 else 1} for space in _SPACES]

    def space_position(self, space_id: int) -> int | None:
        return next((position for position, space in enumerate(_SPACES) if space.id == space_id), None)

    def labels(self, space_id: int) -> list[dict[str, Any]]:
        """The label summary as the admin of `space_id` sees it (Global counts every space), in the documented
        row shape; every label is defined in the Global space."""
        position = self.space_position(space_id)
        assert position is not None  # the routes answer 400 to a space the admin does not have (_space_id)
        rows = self._counts if space_id == 1 else [self._counts[position]]
        return [{"id": label.id, "name": label.name, "description": label.description, "isStatic": label.static,
                 "criteria": label.criteria, "deviceCount": sum(row[bit] for row in rows), "deviceSpaceId": 1,
                 "deviceSpaceName": "Global", "deviceSpacePath": "/Global",
                 "rowType": "SYSTEM" if label.system else "ADMIN"}
                for bit, label in enumerate(_LABELS)]

    def label_names(self, index: int) -> list[str]:
        """The labels the index-th device belongs to (what `labelId` searches find it in)."""
        return [label.name for bit, label in enumerate(_LABELS) if self._labels[index] >> bit & 1]

    def summary(self, index: int) -> dict[str, Any]:
        """The fields known from the compact state, without building the whole record."""
        release = _RELEASES[self._release[index]]
        state, labels = self._state[index], self._labels[index]
        return {
            "common.id": index + 1,
            "common.device_space_name": _SPACES[self._space[index]].name,
            "common.platform": release.platform,
            "common.os_version": release.version,
            "common.status": "WIPED" if state & _WIPED else "RETIRED" if state & _RETIRED else "ACTIVE",
            "common.compliant": not state & _NONCOMPLIANT,
            "common.quarantined": bool(state & _QUARANTINED),
            "common.security_state": "Compromised" if state & _COMPROMISED else "Ok",
            "common.device_is_compromised": bool(state & _COMPROMISED),
            "common.owner": "EMPLOYEE" if labels >> _BYOD & 1 else "COMPANY",
        }

    def device(self, index: int) -> dict[str, Any]:
        """The full record of the index-th device in registration order, fields in `FIELDS` order (iOS
        devices alone have `ios.DeviceName`)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        summary = self.summary(index)
        rng = Draw(self._detail_seed[index])
        release = _RELEASES[self._release[index]]
        space = _SPACES[self._space[index]]
        manufacturer, model, cellular = rng.choice(_MODELS[release.platform])
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        active = summary["common.status"] == "ACTIVE"
        kiosk = bool(self._labels[index] >> _KIOSK & 1)

        last_connected = self.now_ms - (_checkin_age(rng) if active else rng.randint(10 * DAY, 200 * DAY))
        registered = last_connected - rng.randint(1 * DAY, 900 * DAY)
        reasons = []
        if not summary["common.compliant"]:
            if summary["common.device_is_compromised"]:
                reasons.append("Device is compromised")
            if not release.supported:
                reasons.append("OS version below the minimum")
            if not reasons or rng.random() < 0.3:
                reasons.append(rng.choice(_NONCOMPLIANCE))
        apple = manufacturer == "Apple"
        detail = {
            "common.uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "common.platform_name": f"{release.platform} {release.version}",
            "common.manufacturer": manufacturer,
            "common.model": model,
            "common.noncompliance_reasons": reasons,
            "common.quarantined_reasons": reasons[:1] if summary["common.quarantined"] else [],
            "common.registration_date": _iso(registered),
            "common.last_connected_at": _iso(last_connected),
            "common.ip_address": (f"10.{20 + space.id}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
                                  if active and rng.random() < 0.9 else ""),
            "common.imei": "35" + _digits(rng, 13) if cellular else "",
            "common.imsi": "310" + _digits(rng, 12) if cellular else "",
            "common.SerialNumber": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
                                           for _ in range(12 if apple else 11)),
            "common.current_phone_number": (f"{space.phone_prefix}{rng.randint(100, 199)}"
                                            if cellular and not kiosk else ""),
            "ios.DeviceName": f"KIOSK-{index + 1:06d}" if kiosk else f"{first}'s {model}",
            "user.user_id": "kiosk" if kiosk else f"{first[0]}{last}".lower(),
            "user.display_name": "Kiosk Account" if kiosk else f"{first} {last}",
            "user.email_address": "" if kiosk else f"{first}.{last}@example.com".lower(),
        }
        record = {**summary, **detail}
        return {field: record[field] for field in FIELDS
                if field != "ios.DeviceName" or release.platform == "iOS"}

    def select(self, space_id: int, label_id: int | None, query: str) -> Sequence[int]:
        """The indexes of the devices a search returns, in order; cached, because a client pages through
        the same search many times. Raises QueryError for a query that does not parse."""
        key = (space_id, label_id, query)
        if key not in self._selections:
            position = self.space_position(space_id)
            selected: Sequence[int] = range(self.size)
            if space_id != 1:
                selected = [index for index in selected if self._space[index] == position]
            if label_id is not None:
                bit = _LABEL_BITS[label_id]
                selected = [index for index in selected if self._labels[index] >> bit & 1]
            if query:
                test, fields = parse_query(query)
                record = self.summary if fields <= SUMMARY_FIELDS else self.device
                selected = [index for index in selected if test(record(index))]
            if len(self._selections) >= 64:
                self._selections.clear()
            self._selections[key] = selected
        return self._selections[key]


def _checkin_age(rng: random.Random) -> int:
    """How long ago an active device last checked in: mostly within the sync interval, some days, a few weeks."""
    draw = rng.random()
    if draw < 0.75:
        return rng.randint(1 * MINUTE, 4 * HOUR - MINUTE)
    if draw < 0.93:
        return rng.randint(4 * HOUR, 3 * DAY)
    if draw < 0.98:
        return rng.randint(3 * DAY, 30 * DAY)
    return rng.randint(31 * DAY, 90 * DAY)


class QueryError(ValueError):
    """A search expression that does not parse or names an unknown field."""


_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(!=|[=<>()])|([^\s()=<>!"]+))')
_OPERATORS = ("=", "!=", "<", ">", "CONTAINS", "STARTS WITH")


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind is "string", "symbol" or "word"."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(f"unexpected character at position {position + 1}")
        string, symbol, word = match.groups()
        if string is not None:
            tokens.append(("string", re.sub(r"\\(.)", r"\1", string[1:-1])))
        else:
            tokens.append(("symbol", symbol) if symbol is not None else ("word", word))
        position = match.end()
    return tokens


_RecordTest = Callable[[dict[str, Any]], bool]
"""Whether a device record matches (part of) a search expression."""


def parse_query(text: str) -> tuple[_RecordTest, frozenset[str]]:
    """The test of a search expression and the fields it reads.

    `"common.platform" = "iOS" AND ("common.compliant" = false OR user.display_name CONTAINS "anna")`:
    comparisons with =, !=, <, >, CONTAINS and STARTS WITH, joined by AND and OR, grouped by parentheses.
    Field names may be quoted; strings compare without regard to case; a list field matches when any item does.
    """
    tokens = _tokens(text)
    fields: set[str] = set()
    position = 0

    def peek(kind: str, value: str) -> bool:
        return position < len(tokens) and tokens[position][0] == kind and tokens[position][1].upper() == value

    def take(what: str) -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise QueryError(f"the query ends where {what} was expected")
        position += 1
        return tokens[position - 1]

    def joined(word: str, part: Callable[[], _RecordTest], combine: Callable[[Iterable[bool]], bool]) -> _RecordTest:
        nonlocal position
        tests = [part()]
        while peek("word", word):
            position += 1
            tests.append(part())
        return tests[0] if len(tests) == 1 else lambda record: combine(test(record) for test in tests)

    def either() -> _RecordTest:
        return joined("OR", both, any)

    def both() -> _RecordTest:
        return joined("AND", single, all)

    def single() -> _RecordTest:
        nonlocal position
        if peek("symbol", "("):
            position += 1
            test = either()
            if take("a closing parenthesis") != ("symbol", ")"):
                raise QueryError("a parenthesis is not closed")
            return test
        kind, field = take("a field name")
        if kind == "symbol" or field not in FIELDS:
            raise QueryError(f"unknown field {field!r}")
        fields.add(field)
        operator = take("an operator")[1].upper()
        if operator == "STARTS" and peek("word", "WITH"):
            position += 1
            operator = "STARTS WITH"
        if operator not in _OPERATORS:
            raise QueryError(f"unknown operator {operator!r} after {field}")
        kind, value = take("a value")
        if kind == "symbol":
            raise QueryError(f"a value was expected after {field} {operator}")
        return _comparison(field, operator, value.casefold())

    test = either()
    if position != len(tokens):
        raise QueryError(f"unexpected {tokens[position][1]!r}")
    return test, frozenset(fields)


def _comparison(field: str, operator: str, wanted: str) -> _RecordTest:
    def values(record: dict[str, Any]) -> list[str]:
        value = record.get(field)
        items = value if isinstance(value, list) else [value]
        return ["" if item is None else str(item).casefold() for item in items]

    def ordered(value: str) -> bool:
        try:
            left, right = float(value), float(wanted)
        except ValueError:  # ISO timestamps and versions of equal length compare as text
            return value < wanted if operator == "<" else value > wanted
        return left < right if operator == "<" else left > right

    tests: dict[str, Callable[[list[str]], bool]] = {
        "=": lambda found: wanted in found,
        "!=": lambda found: wanted not in found,
        "CONTAINS": lambda found: any(wanted in value for value in found),
        "STARTS WITH": lambda found: any(value.startswith(wanted) for value in found),
    }
    check = tests.get(operator) or (lambda found: any(map(ordered, found)))
    return lambda record: check(values(record))


class EpmmSimulator:
    """The server-side state a test can inspect or poke: fleet, accounts, request log, faults."""

    def __init__(self, fleet: EpmmFleet | None = None, *, username: str = DEMO_USERNAME,
                 password: str = DEMO_PASSWORD, gdpr_username: str = GDPR_USERNAME,
                 no_logs_username: str = NO_LOGS_USERNAME, connected_cloud: bool = False) -> None:
        self.fleet = fleet if fleet is not None else EpmmFleet()
        self.username = username
        self.password = password
        self.gdpr_username = gdpr_username
        self.no_logs_username = no_logs_username
        self.connected_cloud = connected_cloud
        self.requests: list[tuple[str, str]] = []
        self.faults = FaultPlan()
        self.export_polls: int | None = 1
        """Status calls that answer IN_PROGRESS before an export is COMPLETED; None: it never finishes."""
        self.exports: dict[str, _Export] = {}
        self.messages: list[dict[str, Any]] = []
        """Every message action accepted: `{deviceUuids, message, mode, subject, note}` (tests read it)."""
        self._uuid_index: dict[str, int] | None = None

    def device_index(self, device_uuid: str) -> int | None:
        """The fleet index of the device with this `common.uuid` (mapped once, lazily)."""
        if self._uuid_index is None:
            self._uuid_index = {self.fleet.device(index)["common.uuid"]: index for index in range(len(self.fleet))}
        return self._uuid_index.get(device_uuid)

    @property
    def base_path(self) -> str:
        return (CLOUD_PREFIX if self.connected_cloud else "") + API

    def account(self, authorization: str) -> str | None:
        """The user a Basic Authorization header proves, or None."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if password == self.password and username in (self.username, self.gdpr_username, self.no_logs_username):
            return username
        return None

    def expire_tokens(self) -> None:
        """Nothing to expire: Basic authentication sends the credentials with every call and the read API
        keeps no session, so the shared `expire-token` fault changes nothing here."""


class _ApiError(Exception):
    """An error EPMM reports as its `messages` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_MESSAGES = {
    400: "Request error.",
    403: "Access denied.",
    401: "Authentication failed. The request must contain a valid user ID and password for the target "
         "Ivanti EPMM instance.",
    404: "Page not found. Check the spelling of the URL.",
    405: "Invalid HTTP method.",
}
"""The seed's wording of each status code."""


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"messages": [{"type": "Error", "messageKey": f"com.mobileiron.vsp.messages.http.{status}",
                          "localizedMessage": message}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _web_page(status: int) -> HTMLResponse:
    """The web server's own page for a path outside the API."""
    phrase = HTTPStatus(status).phrase
    page = (f"<!DOCTYPE html><html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1>"
            "<p>The requested URL was not found on this server.</p></body></html>")
    return HTMLResponse(page, status_code=status)


def _simulator(request: Request) -> EpmmSimulator:
    simulator: EpmmSimulator = request.app.state.simulator  # starlette's app state is untyped
    return simulator


def _authenticated(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer 401 unless the request carries good Basic credentials; note whether the user is the GDPR one."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        simulator = _simulator(request)
        user = simulator.account(request.headers.get("authorization", ""))
        if user is None:
            return _error(401, _MESSAGES[401])
        request.state.gdpr = user == simulator.gdpr_username
        request.state.views_logs = user != simulator.no_logs_username
        return await endpoint(request)

    return guarded


def _int_param(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise _ApiError(400, f"Request error. The parameter {name} is required.")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, f"Request error. Invalid value '{raw}' for {name}.") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _ApiError(400, f"Request error. {name} must be {bounds}.")
    return value


def _space_id(request: Request) -> int:
    space_id = _int_param(request, "adminDeviceSpaceId", None, 1)
    if _simulator(request).fleet.space_position(space_id) is None:
        raise _ApiError(400, f"Request error. The admin has no device space {space_id}.")
    return space_id


def _window(request: Request) -> tuple[int, int]:
    return _int_param(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT), _int_param(request, "offset", 0, 0)


def _listing(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    limit, offset = _window(request)
    page = items[offset:offset + limit]
    return JSONResponse({"totalCount": len(items), "resultCount": len(page),
                         "hasMore": offset + len(page) < len(items), "results": page})


@_authenticated
async def ping(request: Request) -> Response:
    return JSONResponse({"results": {"apiVersion": 2.0, "vspVersion": VSP_VERSION}})


@_authenticated
async def device_spaces(request: Request) -> Response:
    return _listing(request, _simulator(request).fleet.spaces)


@_authenticated
async def label_summary(request: Request) -> Response:
    return _listing(request, _simulator(request).fleet.labels(_space_id(request)))


@_authenticated
async def search_fields(request: Request) -> Response:
    _space_id(request)
    return JSONResponse({"results": [{"name": field} for field in FIELDS]})


def _fields(request: Request) -> list[str]:
    fields = [field.strip() for field in request.query_params.get("fields", "").split(",") if field.strip()]
    if not fields:
        raise _ApiError(400, "Request error. The parameter fields is required.")
    if len(fields) > MAX_FIELDS:
        raise _ApiError(400, f"Request error. fields names {len(fields)} fields, at most {MAX_FIELDS} are allowed.")
    long = [field for field in fields if len(field) > MAX_FIELD_NAME]
    if long:
        raise _ApiError(400, f"Request error. A field name is longer than {MAX_FIELD_NAME} characters.")
    unknown = [field for field in fields if field not in FIELDS]
    if unknown:
        raise _ApiError(400, f"Request error. Unknown field: {', '.join(unknown)}.")
    return fields


def _label_id(request: Request) -> int | None:
    if "labelId" not in request.query_params:
        return None
    label_id = _int_param(request, "labelId", None, -(2**31))
    if label_id not in _LABEL_BITS:
        raise _ApiError(400, f"Request error. There is no label {label_id}.")
    return label_id


@_authenticated
async def search_devices(request: Request) -> Response:
    fleet = _simulator(request).fleet
    if "query" not in request.query_params and "labelId" not in request.query_params:
        raise _ApiError(400, "Request error. One of the parameters query and labelId is required.")
    space_id, fields, label_id = _space_id(request), _fields(request), _label_id(request)
    limit, offset = _window(request)
    query = request.query_params.get("query", "")
    if len(query) > MAX_QUERY:
        raise _ApiError(400, f"Request error. query must be at most {MAX_QUERY} characters.")
    try:
        selected = fleet.select(space_id, label_id, query.strip())
    except QueryError as error:
        raise _ApiError(400, f"Request error. Invalid query: {error}.") from None
    results = []
    for index in selected[offset:offset + limit]:
        record = fleet.device(index)
        if request.state.gdpr:
            record.update({field: OBFUSCATED for field in GDPR_FIELDS if record[field]})
        results.append({field: record[field] for field in fields if field in record})
    return JSONResponse({
        "results": results,
        "totalCount": len(selected),
        "resultCount": len(results),
        "searchTimeMillis": 3 + len(selected) // 10_000,  # plausible and deterministic
        "currentServerTimeMilliseconds": fleet.now_ms,
        "hasMore": offset + len(results) < len(selected),
    })


# --- audit logs ------------------------------------------------------------------------------------------------

AUDIT_COLUMNS = ("Date", "Action Type", "Status", "Requested By", "Subject", "Subject Name", "Device Space",
                 "Reason")
"""The CSV's header row: our guess (the fact sheet has no sample)."""
AUDIT_ACTIONS = {"Lock": 1, "Wipe": 2, "Retire": 3, "Force Device Check-In": 4, "Send Message": 5,
                 "Apply Label": 6, "Remove Label": 7, "Change Ownership": 8, "Update OS": 9}
"""Action type to its `userActionIds` id (ours; real ids come from `admins/{source}/actions`)."""
AUDIT_STATUSES = ("Success", "Failed", "Initiated")
_ADMINS = ("admin", "mdm-ops", "helpdesk")
_ROUTINE = ("Force Device Check-In", "Send Message", "Apply Label", "Remove Label", "Change Ownership",
            "Update OS")


class _Entry(NamedTuple):
    ms: int
    action: str
    status: str
    admin: str
    uuid: str
    name: str
    space: str
    reason: str


class AuditLog:
    """What the admins did to the fleet in its last 30 days, oldest first: the wipes and retirements behind
    the WIPED and RETIRED devices, locks of compromised devices, routine actions on some others; a few
    failed (the device did not answer), recent ones still Initiated."""

    def __init__(self, fleet: EpmmFleet) -> None:
        self.fleet = fleet
        entries = []
        for index in range(fleet.size):
            rng = Draw(fleet._detail_seed[index] ^ 0xA0D1)
            summary = fleet.summary(index)
            actions = []
            if summary["common.status"] != "ACTIVE":
                actions.append("Wipe" if summary["common.status"] == "WIPED" else "Retire")
            if summary["common.device_is_compromised"]:
                actions.append("Lock")
            actions += [rng.choice(_ROUTINE) for _ in range(rng.choice((0, 0, 1, 1, 2)))]
            if not actions:
                continue
            record = fleet.device(index)
            name = record.get("ios.DeviceName") or record["common.model"]
            for action in actions:
                ms = fleet.now_ms - rng.randint(1 * MINUTE, 30 * DAY)
                draw = rng.random()
                status = "Failed" if draw < 0.08 else "Initiated" if fleet.now_ms - ms < HOUR else "Success"
                reason = "The device did not respond." if status == "Failed" else ""
                entries.append(_Entry(ms, action, status, rng.choice(_ADMINS), record["common.uuid"], name,
                                      record["common.device_space_name"], reason))
        self.entries = sorted(entries)


class _Export(NamedTuple):
    csv: str
    polls: list[int]
    """Status calls answered so far (a list, to count in place)."""


def _ms_param(request: Request, name: str) -> int | None:
    if name not in request.query_params:
        return None
    return _int_param(request, name, None, 0)


def _list_param(request: Request, name: str) -> list[str]:
    """A list parameter sent repeated or comma-separated; empty means all."""
    return [item.strip() for raw in request.query_params.getlist(name) for item in raw.split(",") if item.strip()]


def _logs_allowed(request: Request) -> int:
    """The admin's space id, or 403 for a user without the "View logs and events" role."""
    if not request.state.views_logs:
        raise _ApiError(403, 'Access denied. The user needs the role "View logs and events" '
                             '(Logs and Events Management).')
    return _space_id(request)


def _export_id(request: Request) -> str:
    export_id = request.query_params.get("requestId", "")
    if export_id not in _simulator(request).exports:
        raise _ApiError(400, f"Request error. There is no audit log export {export_id!r}.")
    return export_id


@_authenticated
async def audit_logs_export(request: Request) -> Response:
    simulator = _simulator(request)
    space_id = _logs_allowed(request)
    statuses = _list_param(request, "status")
    bad = [status for status in statuses if status not in AUDIT_STATUSES]
    if bad:
        raise _ApiError(400, f"Request error. Invalid status {bad[0]!r}: use Success, Failed or Initiated.")
    try:
        actions = {int(item) for item in _list_param(request, "userActionIds")}
    except ValueError:
        raise _ApiError(400, "Request error. userActionIds must be integers.") from None
    start, end = _ms_param(request, "actionStart"), _ms_param(request, "actionEnd")
    sort_field = request.query_params.get("sortField")
    if sort_field is not None and not 1 <= len(sort_field) <= 320:
        raise _ApiError(400, "Request error. sortField must have 1 to 320 characters.")
    subject = request.query_params.get("subject", "")
    position = simulator.fleet.space_position(space_id)
    assert position is not None  # _logs_allowed reads the space with _space_id, which answers 400 to others
    space = _SPACES[position].name
    log = event_log_of(simulator, AuditLog)
    rows = [entry for entry in log.entries
            if (space_id == 1 or entry.space == space) and (not statuses or entry.status in statuses)
            and (not actions or AUDIT_ACTIONS[entry.action] in actions) and (not subject or entry.uuid == subject)
            and (start is None or entry.ms >= start) and (end is None or entry.ms < end)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for entry in reversed(rows):  # newest first, as the console lists them
        writer.writerow((_iso(entry.ms), entry.action, entry.status, entry.admin, entry.uuid, entry.name,
                         entry.space, entry.reason))
    export_id = f"{len(simulator.exports) + 1:08d}"
    simulator.exports[export_id] = _Export(text.getvalue(), [0])
    return JSONResponse({"results": {"requestId": export_id, "status": "INITIATED"}})


@_authenticated
async def audit_logs_export_status(request: Request) -> Response:
    simulator = _simulator(request)
    _logs_allowed(request)
    export_id = _export_id(request)
    polls = simulator.exports[export_id].polls
    polls[0] += 1
    done = simulator.export_polls is not None and polls[0] > simulator.export_polls
    return JSONResponse({"results": {"requestId": export_id, "status": "COMPLETED" if done else "IN_PROGRESS"}})


@_authenticated
async def audit_logs_csv(request: Request) -> Response:
    simulator = _simulator(request)
    _logs_allowed(request)
    export = simulator.exports[_export_id(request)]
    if simulator.export_polls is None or export.polls[0] <= simulator.export_polls:
        raise _ApiError(400, "Request error. The audit log export is not completed yet.")
    return Response(export.csv, media_type="text/csv")


# --- device actions (issue 18) ------------------------------------------------------------------------------
#
# `POST /api/v2/devices/action?adminDeviceSpaceId=…&actionType=SEND_MESSAGE` with the JSON body
# `{"deviceUuids": [...], "note": "...", "additionalParameters": {"message", "mode": pns|sms|email, "subject"}}`,
# answered `{"actionType", "deviceResults": {uuid: message key}, "successful": bool}` [XSOAR MobileIronCORE.py
# send_message_action, test_data/action_response.json]. Only the message action is simulated: the other action
# types the integration names (wipe, retire, wake-up, roaming switches) are refused with 400, not faked.
# UNCERTAIN, our guesses: the message key of a device the admin's space does not hold or that is not ACTIVE
# (`...device.action.failed`, with `successful: false`), the limit of devices a call (none here), and which
# role an API user needs (every demo user may send).

ACTION_SUCCESSFUL = "com.mobileiron.vsp.messages.device.action.successful"
ACTION_FAILED = "com.mobileiron.vsp.messages.device.action.failed"
MESSAGE_MODES = ("pns", "sms", "email")


@_authenticated
async def device_action(request: Request) -> Response:
    simulator = _simulator(request)
    space_id = _space_id(request)
    action_type = request.query_params.get("actionType", "")
    if action_type != "SEND_MESSAGE":
        raise _ApiError(400, f"Request error. The action type {action_type[:40]!r} is not supported here.")
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise _ApiError(400, "Request error. The body must be JSON.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _ApiError(400, "Request error. The body is not valid JSON.") from None
    uuids = body.get("deviceUuids") if isinstance(body, dict) else None
    extra = body.get("additionalParameters") if isinstance(body, dict) else None
    if not isinstance(uuids, list) or not uuids or not all(isinstance(item, str) for item in uuids):
        raise _ApiError(400, "Request error. deviceUuids must list at least one device.")
    if not isinstance(extra, dict) or not isinstance(extra.get("message"), str) or not extra["message"].strip():
        raise _ApiError(400, "Request error. additionalParameters.message is required.")
    if extra.get("mode", "pns") not in MESSAGE_MODES:
        raise _ApiError(400, "Request error. mode must be pns, sms or email.")
    space = simulator.fleet.space_position(space_id)
    results = {}
    for device_uuid in dict.fromkeys(uuids):
        index = simulator.device_index(device_uuid)
        held = index is not None and (space_id == 1 or simulator.fleet._space[index] == space)
        active = index is not None and held and simulator.fleet.summary(index)["common.status"] == "ACTIVE"
        results[device_uuid] = ACTION_SUCCESSFUL if active else ACTION_FAILED
    sent = [device_uuid for device_uuid, key in results.items() if key == ACTION_SUCCESSFUL]
    if sent:
        simulator.messages.append({"deviceUuids": sent, "note": body.get("note", ""), **extra})
    return JSONResponse({"actionType": action_type, "deviceResults": results,
                         "successful": len(sent) == len(results)})


class _Record:
    """Log every request for tests, before any fault is applied."""

    def __init__(self, app: ASGIApp, simulator: EpmmSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.simulator.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    return _error(exc.status, exc.message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 from routing: the API's error body under its root, the web server's page elsewhere."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _error(405, f"{_MESSAGES[405]} {request.method} is not supported here.", headers=exc.headers)
    if request.url.path.startswith(_simulator(request).base_path + "/"):
        return _error(exc.status_code, _MESSAGES.get(exc.status_code, HTTPStatus(exc.status_code).phrase))
    return _web_page(exc.status_code)


def create_app(simulator: EpmmSimulator | None = None) -> Starlette:
    """The EPMM V2 API as an ASGI app; `app.state.simulator` is the state behind it."""
    simulator = simulator if simulator is not None else EpmmSimulator()
    api = [
        Route("/ping", ping, methods=["GET"]),
        Route("/device_spaces/mine", device_spaces, methods=["GET"]),
        Route("/labels/label_summary", label_summary, methods=["GET"]),
        Route("/devices/search_fields", search_fields, methods=["GET"]),
        Route("/devices", search_devices, methods=["GET"]),
        Route("/logs/audit_logs_export", audit_logs_export, methods=["GET"]),
        Route("/logs/audit_logs_export_status", audit_logs_export_status, methods=["GET"]),
        Route("/logs/audit_logs_csv", audit_logs_csv, methods=["GET"]),
        Route("/devices/action", device_action, methods=["POST"]),
    ]
    app = Starlette(
        routes=[Mount(simulator.base_path, routes=api)],
        middleware=[
            Middleware(_Record, simulator=simulator),
            Middleware(FaultInjector, plan=simulator.faults, expire_tokens=simulator.expire_tokens),
        ],
        exception_handlers={_ApiError: _on_api_error, HTTPException: _on_http_error},
    )
    app.state.simulator = simulator
    return app
