"""A loopback simulator of the WithSecure Elements API over a generated, deterministic fleet.

Shapes follow the seed 004 examples and ../shared/vendor-apis/elements.md (the fact sheet; its source tags
in brackets), and tests/fixtures/elements/ holds the real shapes this simulator is checked against:

- Token `{access_token, token_type, expires_in}`; OAuth2 errors `{error, error_description}` there only.
- whoami `{clientId, organizationId}`; organizations `{id, name, type}` [XSOAR-EL][ATT].
- Device records shaped like the captured server [SEKOIA]: `company {id, name}`, `os {name, version,
  endOfLife}`, `ipAddresses`/`macAddresses` comma-separated strings, timestamps in UTC with a `Z`;
  `protectionStatusOverview` in isolated, inactive, critical, warning, allOk and `patchOverallState` in the six
  documented states [MCP][CENTREON]; mobiles and connectors without the computer-only fields. Device pages
  now and then hold `{}` or an item without `id`, as the real API does [SEKOIA changelog 2.16.2]; which pages
  do is fixed by the fleet's seed.
- API errors are `{message, code, transactionId, details?}` with a six-digit code whose first three digits are
  the status, 400001 naming the parameter and value in `details` [SEKOIA test_helpers]; `transactionId` is
  the response's `x-transaction` header (`0000-` and 16 hex digits, as in [WS-FIX]).
- A request without a User-Agent answers 400 [WS-EX][GS]; the rate limit is a fixed window per client IP
  (10,000 requests a minute unless told otherwise [GS]); past it, 429 with `Retry-After` in whole seconds.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import json
import math
import random
import secrets
import string
import time
import uuid
import zlib
from array import array
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tui.simulators import DAY, DEMO_CREDENTIALS, HOUR, MINUTE, Draw, distinct_seeds, event_log_of, fleet_clock
from tui.simulators.faults import FaultInjector, FaultPlan
from tui.simulators.json_response import JSONResponse

DEMO_USERNAME, DEMO_PASSWORD = DEMO_CREDENTIALS["elements"]

TOKEN_PATH = "/as/token.oauth2"
WHOAMI_PATH = "/whoami/v1/whoami"
ORGANIZATIONS_PATH = "/organizations/v1/organizations"
DEVICES_PATH = "/devices/v1/devices"
SCOPES = ("connect.api.read", "connect.api.write")
WRITE_SCOPE = SCOPES[1]
MAX_LIMIT = 200
RATE_LIMIT = 10_000
RATE_WINDOW_S = 60.0


OVERVIEWS = ("critical", "warning", "allOk", "isolated", "inactive")
PATCH_STATES = ("missingCriticalUpdates", "missingImportantUpdates", "importantUpdatesInstalled", "disabled",
                "outdatedScanResults", "notScannedYet")
DEVICE_TYPES = ("computer", "mobile", "connector")
DEVICE_STATES = ("active", "blocked", "inactive")
_NO_PATCH = 255
"""Stored patch state of a mobile or a connector: the record has no `patchOverallState` at all."""
_NO_OVERVIEW = 255
"""Stored protection overview of a connector: the record has no `protectionStatusOverview` [SEKOIA asset test]."""
_INACTIVE = OVERVIEWS.index("inactive")
_OVERVIEW_WEIGHTS = (3, 9, 84, 1, 3)
_PATCH_WEIGHTS = (9, 14, 66, 3, 4, 4)
_JUNK_PAGE_RATE = 0.3
"""The share of device pages that also carry an empty object or an item without `id`."""

_PARTNER = "Northwind Security Partners"
_COMPANIES = (
    # name, mail domain, Windows domain, share of the fleet
    ("Aurora Logistics Oy", "aurora-logistics.example", "AURORA", 30),
    ("Birchwood Dental Clinics", "birchwood-dental.example", "BIRCH", 8),
    ("Coastline Shipping AB", "coastline.example", "COAST", 22),
    ("Delta Precision Manufacturing", "delta-precision.example", "DELTA", 16),
    ("Evergreen Municipal Schools", "evergreen-schools.example", "EVERGREEN", 14),
    ("Fjordbank Savings", "fjordbank.example", "FJORD", 10),
)


class _Kind(NamedTuple):
    type: str
    role: str
    """desktop, laptop, server or phone: drives names, users and how often a device is offline."""
    os_name: str
    os_versions: tuple[str, ...]
    end_of_life: bool
    weight: int


_KINDS = (
    _Kind("computer", "desktop", "Windows 11", ("22H2", "23H2", "24H2"), False, 26),
    _Kind("computer", "desktop", "Windows 10", ("21H2", "22H2"), False, 12),
    _Kind("computer", "laptop", "Windows 11", ("23H2", "24H2"), False, 24),
    _Kind("computer", "laptop", "macOS", ("14.6", "15.1"), False, 8),
    _Kind("computer", "server", "Windows Server 2022", ("21H2",), False, 5),
    _Kind("computer", "server", "Windows Server 2019", ("1809",), False, 3),
    _Kind("computer", "server", "Windows Server 2012 R2", ("6.3",), True, 1),
    _Kind("computer", "server", "Ubuntu", ("22.04", "24.04"), False, 3),
    _Kind("mobile", "phone", "Android", ("13", "14"), False, 11),
    _Kind("mobile", "phone", "iOS", ("17.6", "18.1"), False, 7),
    _Kind("connector", "connector", "", (), False, 1),
)
_ONLINE_RATE = {"desktop": 0.85, "laptop": 0.65, "server": 0.97, "phone": 0.6, "connector": 0.95}
_NAME_PREFIX = {"desktop": "DESKTOP", "laptop": "LAPTOP", "server": "SRV"}
_PROFILES = {"desktop": "WithSecure™ Computer", "laptop": "WithSecure™ Computer",
             "server": "WithSecure™ Server", "phone": "WithSecure™ Mobile"}
_SUBSCRIPTIONS = {
    "desktop": ("computerprotection_premium_edr", "EDR and EPP for Computers Premium"),
    "laptop": ("computerprotection_premium_edr", "EDR and EPP for Computers Premium"),
    "server": ("serverprotection_premium_rdr", "EDR and EPP for Servers Premium"),
    "phone": ("mobileprotection", "Mobile Protection"),
}
_CLIENT_VERSIONS = {"desktop": ("24.4", "25.1"), "laptop": ("24.4", "25.1"), "server": ("24.4",),
                    "phone": ("23.9",)}
_MODELS = {"desktop": ("OptiPlex 7010", "ProDesk 400 G9", "ThinkCentre M70q"),
           "laptop": ("Latitude 5440", "EliteBook 840 G10", "ThinkPad T14 Gen 4", "MacBook Air (M2)"),
           "server": ("PowerEdge R650", "ProLiant DL360 Gen10", "VMware Virtual Platform")}
_FIRST_NAMES = ("anna", "ben", "carla", "david", "elena", "farid", "grace", "hiro", "irene", "jonas",
                "kofi", "lena", "marek", "nina", "omar", "priya", "quinn", "rosa", "sven", "tariq")
_LAST_NAMES = ("smith", "mueller", "garcia", "chen", "novak", "okafor", "rossi", "kim", "dubois", "jansen",
               "silva", "kowalski", "ivanova", "haddad", "larsen", "tanaka", "brown", "moreau", "patel", "weber")
_NAME_CHARS = string.ascii_uppercase + string.digits
_TOKEN_CHARS = string.ascii_letters + string.digits


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rfc3339(ms: int, *, millis: bool = False) -> str:
    """Epoch milliseconds as the API writes them: UTC with a `Z`, optionally with milliseconds."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return f"{text}.{ms % 1000:03d}Z" if millis else f"{text}Z"


class ElementsFleet:
    """A partner, its companies and their devices, identical for the same (size, seed, now).

    Per device only the company, the kind, the protection and patch states, online and a detail seed are
    stored (9 bytes), so 200,000 devices build in well under a second and the server-side filters run on the
    arrays; each full record is rebuilt on demand from its detail seed.
    """

    borrowed_names: Sequence[str] = ()
    """Host names of another console's fleet (the demo's SEPM): three computers in four take the name at their
    index, some with a domain suffix, so the demo's coverage view has machines two consoles see."""

    def __init__(self, size: int = 500, seed: int = 7, now: datetime | None = None) -> None:
        self.size = size
        self.seed = seed
        self.now, self.now_ms = fleet_clock(now)

        rng = Draw(seed)
        self.partner = {"id": _uuid(rng), "name": _PARTNER, "type": "partner"}
        self.companies = [{"id": _uuid(rng), "name": name, "type": "company"} for name, *_ in _COMPANIES]
        self._subscription_keys = ["-".join(f"{rng.getrandbits(16):04X}" for _ in range(5)) for _ in _COMPANIES]

        self._company = array("B", rng.choices(range(len(_COMPANIES)), [c[3] for c in _COMPANIES], k=size))
        self._kind = array("B", rng.choices(range(len(_KINDS)), [kind.weight for kind in _KINDS], k=size))
        overviews = rng.choices(range(len(OVERVIEWS)), _OVERVIEW_WEIGHTS, k=size)
        self._overview = array("B", (_NO_OVERVIEW if _KINDS[kind].type == "connector" else overview
                                     for kind, overview in zip(self._kind, overviews)))
        patches = rng.choices(range(len(PATCH_STATES)), _PATCH_WEIGHTS, k=size)
        self._patch = array("B", (_NO_PATCH if _KINDS[kind].type != "computer" else patch
                                  for kind, patch in zip(self._kind, patches)))
        self._online = array("B", (rng.random() < _ONLINE_RATE[_KINDS[kind].role] and overview != _INACTIVE
                                   for kind, overview in zip(self._kind, self._overview)))
        self._detail_seed = distinct_seeds(rng, size)
        self._company_index = {company["id"]: index for index, company in enumerate(self.companies)}
        self.overview_now: dict[int, int] = {}
        """Overviews changed since the fleet was made (isolation and release), by device index."""

    def __len__(self) -> int:
        return self.size

    def company_index(self, organization_id: str) -> int | None:
        return self._company_index.get(organization_id)

    def overview(self, index: int) -> str:
        """The index-th device's `protectionStatusOverview`; "" for a connector, which has none."""
        stored = self._overview[index]
        return "" if stored == _NO_OVERVIEW else OVERVIEWS[stored]

    def matches(self, index: int, *, companies: frozenset[int], overviews: frozenset[int] | None,
                patches: frozenset[int] | None, types: frozenset[str] | None, online: bool | None) -> bool:
        """Whether a device passes the server-side filters, decided from the stored arrays alone."""
        return (
            self._company[index] in companies
            and (overviews is None or self.overview_now.get(index, self._overview[index]) in overviews)
            and (patches is None or self._patch[index] in patches)
            and (types is None or _KINDS[self._kind[index]].type in types)
            and (online is None or bool(self._online[index]) is online)
        )

    def device(self, index: int) -> dict[str, Any]:
        """The full device record of the index-th device."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = Draw(self._detail_seed[index])
        kind = _KINDS[self._kind[index]]
        company_number = self._company[index]
        company = self.companies[company_number]
        _, mail_domain, windows_domain, _ = _COMPANIES[company_number]
        overview = self.overview(index)
        online = bool(self._online[index])
        now = self.now_ms

        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        registered = now - rng.randint(20 * DAY, 900 * DAY)
        if overview == "inactive":  # no longer reporting: its last word is over a month old
            seen = now - rng.randint(31 * DAY, 90 * DAY)
        else:
            seen = now - (rng.randint(10_000, 15 * MINUTE) if online else _offline_age(rng))
        company_ref = {"id": company["id"], "name": company["name"]}
        if kind.type == "connector":
            return {
                "id": _uuid(rng), "name": f"relay-{rng.randint(1, 99):02d}", "type": "connector", "online": online,
                "company": company_ref,
                "subscription": {"key": self._subscription_keys[company_number], "name": "Elements Connector",
                                 "productVariant": "elements_connector"},
                "clientVersion": "24.4", "publicIpAddress": f"203.0.113.{company_number * 40 + rng.randint(1, 39)}",
                "statusUpdateTimestamp": rfc3339(seen, millis=True),
                "registrationTimestamp": rfc3339(registered, millis=True),
            }
        # A critical device has protection off or very old malware definitions; a warning one a firewall off
        # or definitions a few days old; an isolated one was cut off the network by a response action.
        malware_off = overview == "critical" and rng.random() < 0.55
        firewall_off = overview == "warning" and rng.random() < 0.5
        if overview == "critical" and not malware_off:
            definitions_age = rng.randint(10 * DAY, 60 * DAY)
        elif overview == "warning" and not firewall_off:
            definitions_age = rng.randint(2 * DAY, 7 * DAY)
        else:
            definitions_age = rng.randint(10 * MINUTE, 20 * HOUR)
        definitions = min(now - definitions_age, seen)
        product, subscription = _SUBSCRIPTIONS[kind.role]
        state = "inactive" if overview == "inactive" else "blocked" if rng.random() < 0.01 else "active"

        record: dict[str, Any] = {
            "id": _uuid(rng),
            "name": self._device_name(rng, kind, first, last, index),
            "type": kind.type,
            "state": state,
            "online": online,
            "company": company_ref,
            "os": {"name": kind.os_name, "version": rng.choice(kind.os_versions), "endOfLife": kind.end_of_life},
            "clientVersion": rng.choice(_CLIENT_VERSIONS[kind.role]),
            "profileName": _PROFILES[kind.role],
            "profileState": "upToDate",
            "subscription": {"key": self._subscription_keys[company_number], "name": subscription,
                             "productVariant": product},
            "serialNumber": _uuid(rng),
            "lastUser": _last_user(kind, windows_domain, mail_domain, first, last),
            "publicIpAddress": f"203.0.113.{company_number * 40 + rng.randint(1, 39)}",
            "protectionStatusOverview": overview,
            "protectionStatus": "notConnected" if overview == "inactive" else "protected",
            "malwareState": "disabled" if malware_off else "enabled",
            "malwareDbVersion": f"{rfc3339(definitions)[:10]}_{rng.randint(1, 12):02d}",
            "malwareDbUpdateTimestamp": rfc3339(definitions),
            "statusUpdateTimestamp": rfc3339(seen, millis=True),
            "registrationTimestamp": rfc3339(registered, millis=True),
        }
        if kind.type == "computer":
            record.update(self._computer_fields(rng, kind, index, company_number, firewall_off, seen))
            windows = kind.os_name.startswith("Windows")
            record.update(biosVersion=f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                          dnsAddress=record["name"], winsAddress=record["name"] if windows else "",
                          publicInternet=False, userPrincipalName=f"{first}.{last}@{mail_domain}" if windows else "",
                          currentUserAdmin=kind.role == "server")
        else:
            record["email"] = f"{first}.{last}@{mail_domain}"  # mobiles carry their user's mail [SEKOIA asset test]
        if index in self.overview_now:
            record["protectionStatusOverview"] = OVERVIEWS[self.overview_now[index]]
        return record

    def _device_name(self, rng: random.Random, kind: _Kind, first: str, last: str, index: int) -> str:
        if kind.type == "computer" and index < len(self.borrowed_names) and index % 4:
            return self.borrowed_names[index] + (".corp.example" if index % 3 == 0 else "")
        if kind.os_name == "macOS":
            return f"{first.title()}s-MacBook-Air-{rng.randint(2, 999)}"
        if kind.type == "mobile":
            model = "iPhone 15" if kind.os_name == "iOS" else rng.choice(("Pixel 8", "Galaxy S23"))
            return f"{model} ({first}.{last})"
        return f"{_NAME_PREFIX[kind.role]}-{''.join(rng.choices(_NAME_CHARS, k=7))}"

    def _computer_fields(self, rng: random.Random, kind: _Kind, index: int, company: int, firewall_off: bool,
                         seen: int) -> dict[str, Any]:
        server = kind.role == "server"
        memory = rng.choice((32, 64, 128) if server else (8, 16, 16, 32)) * 2**30
        disk = rng.choice((127, 255, 511) if server else (255, 511, 1023)) * 2**30
        subnet = f"10.{company * 16 + index % 16}.{rng.randint(0, 255)}"
        addresses = f"{subnet}.{rng.randint(2, 254)}/{20 if server else 24}"
        if rng.random() < 0.3:
            addresses += ",fe80::" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(4)) + "/64"
        firewall = "disabled" if firewall_off else ("disabledByGpoOk" if server and rng.random() < 0.3 else "enabled")
        fields = {
            "computerModel": "MacBook Air (M2)" if kind.os_name == "macOS" else rng.choice(_MODELS[kind.role]),
            "ipAddresses": addresses,
            "macAddresses": "-".join(f"{rng.getrandbits(8):02X}" for _ in range(6)),
            "firewallState": firewall,
            "dataguardState": rng.choice(("enabled", "disabled")),
            "applicationControlState": "enabled" if server else "disabled",
            "deviceControlState": "disabled" if server else "enabled",
            "discEncryptionEnabled": not server and rng.random() < 0.8,
            "edrIncidents": {"riskSevere": int(rng.random() < 0.01), "riskHigh": int(rng.random() < 0.03),
                             "riskMedium": int(rng.random() < 0.06)},
            "physicalMemoryTotalSize": memory,
            "physicalMemoryFree": rng.randint(memory // 10, memory // 2),
            "systemDriveTotalSize": disk,
            "systemDriveFreeSpace": rng.randint(disk // 20, disk * 3 // 4),
            "patchLastScanTimestamp": rfc3339(seen - rng.randint(0, 20 * HOUR)),
        }
        if self._patch[index] != _NO_PATCH:
            fields["patchOverallState"] = PATCH_STATES[self._patch[index]]
        return fields


def _offline_age(rng: random.Random) -> int:
    """How long ago an offline device last reported: mostly hours, some days, a few over a month."""
    draw = rng.random()
    if draw < 0.55:
        return rng.randint(1 * HOUR, 2 * DAY)
    if draw < 0.9:
        return rng.randint(2 * DAY, 14 * DAY)
    return rng.randint(31 * DAY, 90 * DAY)


def _last_user(kind: _Kind, windows_domain: str, mail_domain: str, first: str, last: str) -> str:
    if kind.type == "mobile":
        return f"{first}.{last}@{mail_domain}"
    if kind.role == "server":
        return "root" if kind.os_name == "Ubuntu" else f"{windows_domain}\\Administrator"
    if kind.os_name == "macOS":
        return first
    return f"{windows_domain}\\{first[0]}{last}"


class Logged(NamedTuple):
    """One request as the simulator received it; `query` is the raw query string."""

    method: str
    path: str
    query: str


class ElementsSimulator:
    """The server-side state a test can inspect or poke: fleet, credentials, live tokens, request log.

    `organization_id` is the organization the credentials belong to: the partner (default) or one company.
    """

    def __init__(self, fleet: ElementsFleet | None = None, *, client_id: str = DEMO_USERNAME,
                 client_secret: str = DEMO_PASSWORD, token_ttl: int = 1799, organization_id: str | None = None,
                 rate_limit: int = RATE_LIMIT, rate_window: float = RATE_WINDOW_S,
                 read_only_client: bool = False) -> None:
        self.fleet = fleet if fleet is not None else ElementsFleet()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.organization_id = organization_id or self.fleet.partner["id"]
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.requests: list[Logged] = []
        self.issued: list[tuple[str, str]] = []
        """(access token, granted scope) of every token issued, for tests."""
        self.faults = FaultPlan()
        self.read_only_client = read_only_client
        """The API client was created read-only: its tokens never carry the write scope (section 2)."""
        self.operation_rate_limit = OPERATION_RATE_LIMIT
        self.operations: list[dict[str, Any]] = []
        """Every operation accepted for a device: `{id, deviceId, operationName, status, parameters}`."""
        self.unsubscribed: set[str] = set()
        """Device ids whose subscription is no longer valid (tests add to it): isolation is refused there."""
        self._tokens: dict[str, float] = {}
        self._scopes: dict[str, frozenset[str]] = {}
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._device_index: dict[str, int] | None = None

    @property
    def is_partner(self) -> bool:
        return self.organization_id == self.fleet.partner["id"]

    def visible_companies(self) -> frozenset[int]:
        """The companies whose devices these credentials may read."""
        if self.is_partner:
            return frozenset(range(len(self.fleet.companies)))
        own = self.fleet.company_index(self.organization_id)
        return frozenset() if own is None else frozenset((own,))

    def issue_token(self, scopes: list[str]) -> dict[str, Any]:
        """A fresh access token in the seed's shape; the scopes are checked by the caller."""
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(32))
        if self.read_only_client:
            scopes = [scope for scope in scopes if scope != WRITE_SCOPE]
        self._tokens[token] = time.monotonic() + self.token_ttl
        self._scopes[token] = frozenset(scopes)
        self.issued.append((token, " ".join(scopes)))
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}

    def token_valid(self, token: str) -> bool:
        return self._tokens.get(token, 0.0) > time.monotonic()

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as an expiry or a revoked client would."""
        self._tokens.clear()

    def may_write(self, token: str) -> bool:
        return WRITE_SCOPE in self._scopes.get(token, frozenset())

    def rate_wait(self, client: str, *, limit: int | None = None, bucket: str = "") -> float | None:
        """Count one request from `client` in `bucket` (its own window per bucket); past `limit` (the general
        limit by default), the seconds until that window ends."""
        now = time.monotonic()
        start, count = self._windows.get((client, bucket), (now, 0))
        if now - start >= self.rate_window:
            start, count = now, 0
        self._windows[(client, bucket)] = (start, count + 1)
        return start + self.rate_window - now if count >= (limit or self.rate_limit) else None

    def device_index(self, device_id: str) -> int | None:
        """The fleet index of the device with this id (the ids are drawn per record: mapped once, lazily)."""
        if self._device_index is None:
            self._device_index = {self.fleet.device(index)["id"]: index for index in range(len(self.fleet))}
        return self._device_index.get(device_id)


WRONG_FORMAT = "Request parameter(s) have wrong format. Check details."
BAD_REQUEST = "Bad request because of invalid parameters or data."
"""The two 400 messages of the real envelope [SEKOIA test_helpers]: codes 400001 and 400000."""
_TRANSACTION = "elements.transaction"
"""Where the gateway leaves the request's transaction id in the ASGI scope, for the error bodies."""


class _ApiError(Exception):
    """An error the API reports as `{message, code, transactionId, details?}`; `code` is the status times
    1000 plus `sub` (400001: a parameter of the wrong format, named in `details`)."""

    def __init__(self, status: int, message: str, *, sub: int = 0, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = status * 1000 + sub
        self.details = details


def _invalid(param: str, value: str) -> _ApiError:
    """400001 naming the parameter and the value it had, as the real API does."""
    return _ApiError(400, WRONG_FORMAT, sub=1, details={"invalidParam": param, "invalidValue": value})


def error_body(scope: Mapping[str, Any], status: int, message: str, *, code: int | None = None,
               details: dict[str, str] | None = None) -> dict[str, Any]:
    """The real error envelope, its `transactionId` the one in the response's `x-transaction` header."""
    body: dict[str, Any] = {"message": message, "code": code if code is not None else status * 1000,
                            "transactionId": scope.get(_TRANSACTION, "")}
    if details:
        body["details"] = details
    return body


def _error(scope: Mapping[str, Any], error: _ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = error_body(scope, error.status, error.message, code=error.code, details=error.details)
    return JSONResponse(body, status_code=error.status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _simulator(request: Request) -> ElementsSimulator:
    simulator: ElementsSimulator = request.app.state.simulator  # starlette's app state is untyped
    return simulator


def _authenticated(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer 401 unless the request carries a live bearer token."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _simulator(request).token_valid(token.strip()):
            return _error(request.scope, _ApiError(401, "Invalid or expired access token"))
        return await endpoint(request)

    return guarded


def _anchor(index: int) -> str:
    """An opaque anchor for the item at `index`, as the API's anchors are opaque."""
    return base64.urlsafe_b64encode(f"a1:{index}".encode()).decode().rstrip("=")


def _anchor_index(anchor: str) -> int:
    try:
        kind, _, index = base64.urlsafe_b64decode(anchor + "=" * (-len(anchor) % 4)).decode().partition(":")
        if kind == "a1" and index.isdigit():
            return int(index)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise _invalid("anchor", anchor)


def _paging(request: Request) -> tuple[int, int]:
    """(first index, limit) from `anchor` and `limit`; at most MAX_LIMIT a page."""
    anchor = request.query_params.get("anchor")
    return (_anchor_index(anchor) if anchor else 0), _limit(request.query_params.get("limit"), MAX_LIMIT)


def _limit(raw: str | None, most: int) -> int:
    """A page size of 1 to `most` (`most` when absent); anything else is 400001."""
    if raw is None:
        return most
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise _invalid("limit", raw)
    return int(raw)


def _page(items: list[Any], next_index: int | None) -> JSONResponse:
    body: dict[str, Any] = {"items": items}
    if next_index is not None:
        body["nextAnchor"] = _anchor(next_index)
    return JSONResponse(body)


def _scan(count: int, start: int, keep: Callable[[int], bool], limit: int) -> tuple[list[int], int | None]:
    """Up to `limit` indexes from `start` on that `keep` accepts, and the next page's first (None: no more)."""
    found: list[int] = []
    for index in range(start, count):
        if keep(index):
            if len(found) == limit:
                return found, index
            found.append(index)
    return found, None


def _values(request: Request, name: str, allowed: tuple[str, ...]) -> list[str] | None:
    """A filter's values (repeated or comma-separated); None when the filter is absent."""
    values = [value for raw in request.query_params.getlist(name) for value in raw.split(",") if value]
    if not values:
        return None
    for value in values:
        if value not in allowed:
            raise _invalid(name, value)
    return values


def _companies_in_scope(request: Request) -> frozenset[int]:
    """The companies the query's `organizationId` selects (see `_event_companies`)."""
    return _event_companies(_simulator(request), request.query_params.get("organizationId"))


async def token(request: Request) -> Response:
    """OAuth2 client credentials: Basic client id and secret, a form body with grant type and scope."""
    simulator = _simulator(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id = secret = ""
    if scheme.lower() != "basic" or (client_id, secret) != (simulator.client_id, simulator.client_secret):
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return _oauth_error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported")
    scopes = " ".join(form.get("scope", [])).split()
    if not scopes or any(scope not in SCOPES for scope in scopes):
        return _oauth_error(400, "invalid_scope", f"The scope must be one or both of {', '.join(SCOPES)}")
    return JSONResponse(simulator.issue_token(scopes))


@_authenticated
async def whoami(request: Request) -> Response:
    simulator = _simulator(request)
    return JSONResponse({"clientId": simulator.client_id, "organizationId": simulator.organization_id})


@_authenticated
async def list_organizations(request: Request) -> Response:
    simulator = _simulator(request)
    start, limit = _paging(request)
    companies = _companies_in_scope(request)
    wanted = request.query_params.get("organizationId")
    listed = [simulator.fleet.companies[index] for index in sorted(companies)]
    if simulator.is_partner and wanted in (None, simulator.organization_id):
        listed.insert(0, simulator.fleet.partner)
    types = _values(request, "type", ("company", "partner"))
    if types is not None:
        listed = [organization for organization in listed if organization["type"] in types]
    chosen, next_index = _scan(len(listed), start, lambda index: True, limit)
    return _page([dict(listed[i]) for i in chosen], next_index)


@_authenticated
async def list_devices(request: Request) -> Response:
    fleet = _simulator(request).fleet
    start, limit = _paging(request)
    overviews = _values(request, "protectionStatusOverview", OVERVIEWS)
    patches = _values(request, "patchOverallState", PATCH_STATES)
    types = _values(request, "type", DEVICE_TYPES)
    _values(request, "state", DEVICE_STATES)  # checked like the real API, not filtered on here
    online = _values(request, "online", ("true", "false"))
    keep = functools.partial(
        fleet.matches,
        companies=_companies_in_scope(request),
        overviews=None if overviews is None else frozenset(map(OVERVIEWS.index, overviews)),
        patches=None if patches is None else frozenset(map(PATCH_STATES.index, patches)),
        types=None if types is None else frozenset(types),
        online=None if online is None or len(set(online)) > 1 else online[0] == "true",
    )
    device_id = request.query_params.get("deviceId")
    if device_id is not None:  # "deviceId overrides other filters" [MCP]: the only way to read one device
        index = _simulator(request).device_index(device_id)
        if index is None or fleet._company[index] not in _companies_in_scope(request):
            return _page([], None)
        return _page([fleet.device(index)], None)
    chosen, next_index = _scan(len(fleet), start, keep, limit)
    return _page(_with_junk(fleet, chosen, [fleet.device(index) for index in chosen]), next_index)


def _with_junk(fleet: ElementsFleet, chosen: list[int], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page of the devices `chosen` with, on a seeded share of the pages, an empty object or an item
    without `id` among them, as the real API sends now and then [SEKOIA changelog 2.16.2, asset test]."""
    if not items:
        return items
    rng = Draw(fleet.seed * 104_729 + chosen[0])
    if rng.random() >= _JUNK_PAGE_RATE:
        return items
    junk = rng.choice(({}, {"name": "no id", "type": "computer"}))
    at = rng.randint(0, len(items))
    return [*items[:at], junk, *items[at:]]


class _Gateway:
    """What stands in front of every endpoint: the request log, `x-transaction` on every answer, the
    User-Agent rule and the per-IP rate limit."""

    def __init__(self, app: ASGIApp, simulator: ElementsSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.simulator.requests.append(
            Logged(scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")))
        transaction = f"0000-{secrets.token_hex(8)}"
        scope[_TRANSACTION] = transaction

        async def send_with_transaction(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-transaction", transaction.encode())]}
            await send(message)

        user_agent = dict(scope.get("headers") or []).get(b"user-agent", b"")
        client = (scope.get("client") or ("unknown", 0))[0]
        if not user_agent.strip():
            rejection = _error(scope, _ApiError(400, "User-Agent header is required.", sub=1))
        elif (wait := self.simulator.rate_wait(client)) is not None:
            rejection = _error(scope, _ApiError(429, "Rate limit exceeded"),
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
        else:
            await self.app(scope, receive, send_with_transaction)
            return
        await rejection(scope, receive, send_with_transaction)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    return _error(request.scope, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request.scope, _ApiError(exc.status_code, str(exc.detail)))


def create_app(simulator: ElementsSimulator | None = None) -> Starlette:
    """The Elements API as an ASGI app; `app.state.simulator` is the state behind it."""
    simulator = simulator if simulator is not None else ElementsSimulator()
    app = Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route(WHOAMI_PATH, whoami, methods=["GET"]),
            Route(ORGANIZATIONS_PATH, list_organizations, methods=["GET"]),
            Route(DEVICES_PATH, list_devices, methods=["GET"]),
            Route(EVENTS_PATH, search_events, methods=["POST"]),
            Route(OPERATIONS_PATH, device_operations, methods=["GET", "POST"]),
        ],
        middleware=[
            Middleware(_Gateway, simulator=simulator),
            Middleware(FaultInjector, plan=simulator.faults, expire_tokens=simulator.expire_tokens,
                       error_body=lambda scope, status, message: json.dumps(
                           error_body(scope, status, message)).encode()),
        ],
        exception_handlers={_ApiError: _on_api_error, HTTPException: _on_http_error},
    )
    app.state.simulator = simulator
    return app


# --- security events (issue 6, made strict in issue 12) ----------------------------------------------------
#
# `POST /security-events/v1/security-events` with a form body, as the seed and [WS-EX] show. The rules:
# - The body must be form-urlencoded (a JSON body is 400 [ATT][LC]); a time bound is required (start, end or
#   both [GS]); exactly one of `engine` and `engineGroup`, repeated keys or one comma-joined value [ATT][MCP]
#   [XSOAR-EL][WS-SENT]; `limit` 1-200 [WS-EX][MCP]; `order` asc or desc, desc by default [SPLUNK][MCP];
#   `exclusiveStart=true` leaves out the start itself [WS-EX][LC]. An anchor is good only with the filters it
#   was issued for (same form, bar `anchor` and `limit`); a bad one is 400001.
# - Items have the real keys [WS-FIX]: `id` ("<uuid>_<n>"), `severity`, `acknowledged`, `serverTimestamp` and
#   `persistenceTimestamp` (UTC, millis), `clientTimestamp` (UTC, mostly without millis), `userName` when the
#   details have one, `target` and `device` `{name, id}` (EDR items: `device {name}` only [XSIAM]),
#   `engine`, `organization {name, id}`, `action`, `eventTransactionId` and `details` whose values are all
#   strings, `details.clientTimestamp` epoch ms, `details.alertType` as in the fact sheet's table (7.3).
#   Which group `systemEventsLog` belongs to is not documented; here it is epp (our choice).
# - Events cover the 30 days before the fleet's clock and follow the fleet: a critical device has malware
#   detections (one in its last day of reporting at least) and a setting change when its protection is off;
#   an isolated one an EDR incident; a warning one warnings; a quarter of the others informational events.
#   Nothing happens on a device after it last reported or before it registered.
# - One event of the fleet (the middle one that names a user) carries a user name in Latin-1 with a NUL after
#   it, bytes that are not UTF-8, as a real console sometimes sends [SEKOIA changelog].

EVENTS_PATH = "/security-events/v1/security-events"
EVENT_DAYS = 30
ENGINE_GROUP_VALUES = ("epp", "edr", "ecp", "xm")
ENGINE_VALUES = (
    "AMSI", "activityMonitor", "activityMonitorClientProtection", "applicationControl", "browsingProtection",
    "cloudIdentityAzure", "cloudWorkloadAzure", "connectionControl", "connector", "dataGuard", "deepGuard",
    "deviceControl", "edr", "emailBreach", "emailScan", "fileScanning", "firewall", "inboxRuleScan",
    "integrityChecker", "oneDriveScan", "product", "realtimeScanning", "reputationBasedBrowsing", "setting",
    "sharePointScan", "systemEventsLog", "tamperProtection", "teamsScan", "webContentControl",
    "webTrafficScanning", "xFence", "xmRecommendation", "manualScanning",
)
"""The `engine` values of the fact sheet (7.1) [MCP][ATT]."""
EVENT_SEVERITY_VALUES = ("critical", "warning", "info")
_PAGING_FIELDS = frozenset({"anchor", "limit"})
_QUIRK_LATIN1, _QUIRK_NUL = "@@latin1-e-acute@@", "@@nul@@"
"""Placeholders in the quirky event's user name, replaced by the bytes 0xE9 and 0x00 on the wire."""


class _EventKind(NamedTuple):
    engine: str
    group: str
    severity: str
    action: str
    alert_type: str
    """`details.alertType`; "" for EDR items, which have none [XSIAM]."""


_EVENT_KINDS = (
    _EventKind("fileScanning", "epp", "critical", "none", "on_access_scanner.file_infection.nothing"),  # 0
    _EventKind("deepGuard", "epp", "warning", "blocked", "deep_guard.admin.block"),  # 1
    _EventKind("edr", "edr", "critical", "created", ""),  # 2
    _EventKind("setting", "epp", "info", "reported", "product.setting.changed"),  # 3
    _EventKind("systemEventsLog", "epp", "info", "reported", "system_events_log.event.info.added"),  # 4
    _EventKind("browsingProtection", "epp", "warning", "blocked", "online_safety.page.block"),  # 5
    _EventKind("deviceControl", "epp", "warning", "blocked", "device_control.device.blocked"),  # 6
    _EventKind("applicationControl", "epp", "info", "reported", "application_control.application_start.report"),
    _EventKind("firewall", "epp", "info", "blocked", "firewall.fs_rule_triggered.block"),  # 8
    _EventKind("tamperProtection", "epp", "warning", "blocked", "tamper_protection.service.block"),  # 9
)
_MALWARE, _DEEPGUARD, _EDR, _SETTING, _SYSTEM, _BROWSING, _USB, _APPS, _FIREWALL, _TAMPER = range(10)
_INFECTIONS = ("Trojan.GenericKD.71237415", "Trojan:W32/Emotet.A", "Backdoor:W32/Cobaltstrike.B",
               "Ransom:W32/LockBit.C", "Exploit:Win32/CVE-2023-36884", "PUA:W32/CoinMiner.D", "Worm:W32/Qakbot.E")
_MOBILE_INFECTIONS = ("Trojan:Android/FakeApp.A", "Trojan-Spy:Android/SmsThief.B")
_DROP_FOLDERS = ("C:\\Users\\{user}\\Downloads", "C:\\Users\\{user}\\AppData\\Local\\Temp",
                 "C:\\ProgramData\\Updater")
_DROP_FILES = ("invoice_0424.exe", "setup.msi", "scan_2024.pdf.exe", "update.dll", "payload.ps1")
_BAD_HOSTS = ("login-micros0ft.example", "free-gift-cards.example", "cdn-update-check.example", "pay-invoice.example")
_EDR_CATEGORIES = ("LATERAL_MOVEMENT", "CREDENTIAL_THEFT", "PERSISTENCE", "SCRIPTING_ABUSE", "MALWARE")
_USB_DEVICES = ("SanDisk Ultra USB 3.0", "Kingston DataTraveler 3.0")
_BLOCKED_APPS = ("AnyDesk.exe", "TeamViewer_Setup.exe", "torrent-client.exe")
_SERVICES = ("WithSecure Ultralight Core", "fshoster")


class ElementsEventLog:
    """The security events of a fleet, sorted by persistence time, identical for the same fleet.

    Per event only its time, device, kind and a detail seed are stored; each item is rebuilt on demand.
    Built on first use: only devices with events have their records built (a 100,000-device fleet: ~1 s).
    """

    def __init__(self, fleet: ElementsFleet) -> None:
        self.fleet = fleet
        rng = Draw(fleet.seed * 7919 + 6)
        low = fleet.now_ms - EVENT_DAYS * DAY
        rows: list[tuple[int, int, int, int]] = []
        self._devices: dict[int, tuple[str, str, int, str]] = {}
        """device index -> (id, name, company, last user) of every device with events."""
        for index in range(fleet.size):
            overview = fleet.overview(index)
            if not overview or (overview in ("allOk", "inactive") and rng.random() >= 0.25):
                continue
            record = fleet.device(index)
            kinds = self._kinds(rng, overview, record, record["type"] == "mobile")
            seen = _epoch_ms(record["statusUpdateTimestamp"])
            start = max(low, _epoch_ms(record["registrationTimestamp"]))
            if not kinds or seen <= start:
                continue
            self._devices[index] = (record["id"], record["name"], fleet._company[index], record.get("lastUser", ""))
            for position, kind in enumerate(kinds):
                if position == 0 and overview in ("critical", "isolated"):  # what made it so: recent
                    moment = rng.randint(max(start, seen - DAY), seen)
                else:
                    moment = rng.randint(start, seen)
                rows.append((moment, index, kind, rng.getrandbits(32)))
        rows.sort()
        self.times = array("q", (row[0] for row in rows))
        self._device = array("I", (row[1] for row in rows))
        self._kind = array("B", (row[2] for row in rows))
        self._seed = array("I", (row[3] for row in rows))
        named = [at for at in range(len(rows) // 2, len(rows)) if self._kind[at] in (_MALWARE, _DEEPGUARD, _USB)]
        self.quirk_position = named[0] if named else None
        """The one event whose user name goes out as bytes that are not UTF-8."""

    @staticmethod
    def _kinds(rng: random.Random, overview: str, record: dict[str, Any], mobile: bool) -> list[int]:
        pool: tuple[int, ...]
        if overview == "critical":
            pool = (_MALWARE, _BROWSING) if mobile else (_MALWARE, _MALWARE, _DEEPGUARD, _EDR, _BROWSING, _APPS)
            kinds = [_MALWARE] + rng.choices(pool, k=rng.randint(2, 9))
        elif overview == "isolated":
            pool = (_BROWSING,) if mobile else (_DEEPGUARD, _MALWARE, _SYSTEM, _SYSTEM)
            kinds = [_EDR] + rng.choices(pool, k=rng.randint(1, 4))
        elif overview == "warning":
            pool = (_BROWSING,) if mobile else (_BROWSING, _BROWSING, _USB, _DEEPGUARD, _TAMPER)
            kinds = rng.choices(pool, k=rng.randint(1, 3))
        else:
            pool = (_BROWSING,) if mobile else (_FIREWALL, _FIREWALL, _APPS, _SYSTEM, _BROWSING)
            kinds = rng.choices(pool, k=rng.randint(1, 2))
        if record.get("malwareState") == "disabled" or record.get("firewallState") == "disabled":
            kinds.append(_SETTING)
        return kinds

    def __len__(self) -> int:
        return len(self.times)

    def device_of(self, position: int) -> int:
        return self._device[position]

    def company_of(self, position: int) -> int:
        return self._devices[self._device[position]][2]

    def kind_of(self, position: int) -> _EventKind:
        return _EVENT_KINDS[self._kind[position]]

    def event(self, position: int) -> dict[str, Any]:
        """The full item of the event at `position` (in persistence order), keys in the captures' order."""
        rng = Draw(self._seed[position])
        kind = self.kind_of(position)
        device_id, name, company_number, user = self._devices[self._device[position]]
        if position == self.quirk_position:
            user = f"{user.partition(chr(92))[0]}\\cl{_QUIRK_LATIN1}ment{_QUIRK_NUL}"
        company = self.fleet.companies[company_number]
        persisted = self.times[position]
        server = persisted - rng.randint(50, 2_000)
        client = (server - rng.randint(500, 90_000)) // 1000 * 1000
        details = _event_details(rng, kind, user, name, client)
        item: dict[str, Any] = {
            "severity": kind.severity,
            "acknowledged": persisted < self.fleet.now_ms - 7 * DAY and rng.random() < 0.4,
            "serverTimestamp": rfc3339(server, millis=True),
            "persistenceTimestamp": rfc3339(persisted, millis=True),
        }
        if "userName" in details:
            item["userName"] = details["userName"]
        item["clientTimestamp"] = rfc3339(client, millis=rng.random() < 0.2)
        if kind.engine != "edr":
            item["target"] = {"name": name, "id": device_id}
        item["engine"] = kind.engine
        item["organization"] = {"name": company["name"], "id": company["id"]}
        item["action"] = rng.choice(("created", "closed")) if kind.engine == "edr" else kind.action
        item["details"] = details
        item["eventTransactionId"] = f"0000-{rng.getrandbits(64):016x}"
        item["id"] = f"{_uuid(rng)}_{rng.randint(0, 60)}"
        item["device"] = {"name": name} if kind.engine == "edr" else {"name": name, "id": device_id}
        return item


def _event_details(rng: random.Random, kind: _EventKind, user: str, host: str, client: int) -> dict[str, str]:
    """The engine's `details`, every value a string as the API sends them [WS-FIX]."""
    short_user = user.rpartition("\\")[2].partition("@")[0] or "user"
    sha1 = f"{rng.getrandbits(160):040x}"
    details: dict[str, str] = {"clientTimestamp": str(client)}
    if kind.alert_type:
        details["alertType"] = kind.alert_type
    if kind.engine == "fileScanning":
        folder = rng.choice(_DROP_FOLDERS).format(user=short_user)
        details.update(infectionName=rng.choice(_INFECTIONS), path=f"{folder}\\{rng.choice(_DROP_FILES)}",
                       sha1=sha1, fileScanningType="fileInfection", infectionType=rng.choice(("malware", "riskware")),
                       reputation=str(rng.choice((0, 10, 150))), readOnly="false", userName=user)
    elif kind.engine == "deepGuard":
        details.update(sha1=sha1, filePath=f"C:\\Users\\{short_user}\\AppData\\Roaming\\{rng.choice(_DROP_FILES)}",
                       reputation="unknown", rarity=rng.choice(("rare", "common")), userName=user)
    elif kind.engine == "edr":
        details.update(incidentPublicId=f"{rng.randint(1_000_000, 9_999_999)}-{rng.randint(1, 99)}",
                       initialDetectionTimestamp=str(client - rng.randint(1_000, 600_000)),
                       risk=rng.choice(("HIGH", "SEVERE", "MEDIUM")), categories=rng.choice(_EDR_CATEGORIES),
                       resolution="UNCONFIRMED", userSam="NT AUTHORITY\\SYSTEM")
    elif kind.engine == "setting":
        details.update(profileName="WithSecure™ Computer", profileId=str(rng.randint(1000, 9999)),
                       profileVersion=str(rng.randint(1, 40)), userName=user)
    elif kind.engine == "systemEventsLog":
        seconds = client // 1000
        details.update(systemDataEventId="4625", systemDataChannel="Security",
                       systemDataProviderName="Microsoft-Windows-Security-Auditing", systemDataComputer=host,
                       systemDataTimeCreated=str(seconds), description="An account failed to log on.",
                       throttledCount="0", eventXml=f"<Event><System><EventID>4625</EventID><Computer>{host}"
                       f"</Computer></System></Event>")
    elif kind.engine == "browsingProtection":
        details.update(url=f"https://{rng.choice(_BAD_HOSTS)}/{rng.getrandbits(24):06x}", userName=user)
    elif kind.engine == "deviceControl":
        details.update(name=rng.choice(_USB_DEVICES), userName=user)
    elif kind.engine == "applicationControl":
        details.update(filePath=f"C:\\Users\\{short_user}\\Downloads\\{rng.choice(_BLOCKED_APPS)}",
                       ruleName="Report remote access tools", sha1=sha1, userName=user)
    elif kind.engine == "firewall":
        details.update(ruleName="Block inbound SMB", hostIpAddress=f"10.{rng.randint(0, 99)}.0.{rng.randint(2, 254)}/24")
    elif kind.engine == "tamperProtection":
        details.update(name=rng.choice(_SERVICES), userName=user)
    return details


def _epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def event_log(simulator: ElementsSimulator) -> ElementsEventLog:
    """The simulator's event log, made on first use and kept for its fleet."""
    return event_log_of(simulator, ElementsEventLog)


def _form_time(form: dict[str, list[str]], name: str) -> int | None:
    values = form.get(name)
    if not values:
        return None
    text = values[-1].strip()
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _invalid(name, text)
    return int(moment.timestamp() * 1000)


def _form_values(form: dict[str, list[str]], name: str, allowed: tuple[str, ...]) -> frozenset[str] | None:
    """A filter's values, repeated keys or one comma-joined value; None when absent; 400001 outside `allowed`."""
    values = [value for raw in form.get(name, []) for value in raw.split(",") if value]
    if not values:
        return None
    for value in values:
        if value not in allowed:
            raise _invalid(name, value)
    return frozenset(values)


def _form_choice(form: dict[str, list[str]], name: str, allowed: tuple[str, ...]) -> str:
    """A one-valued field (the first of `allowed` when absent); 400001 for any other value."""
    value = (form.get(name) or [allowed[0]])[-1]
    if value not in allowed:
        raise _invalid(name, value)
    return value


def _event_companies(simulator: ElementsSimulator, wanted: str | None) -> frozenset[int]:
    """The companies `organizationId` selects among those the credentials see (all of them without it)."""
    visible = simulator.visible_companies()
    if wanted is None or (simulator.is_partner and wanted == simulator.organization_id):
        return visible
    try:
        uuid.UUID(wanted)
    except ValueError:
        raise _invalid("organizationId", wanted) from None
    company = simulator.fleet.company_index(wanted)
    if company is None or company not in visible:
        raise _ApiError(403, f"Access to organization {wanted} is not allowed")
    return frozenset((company,))


def _filters_digest(form: dict[str, list[str]]) -> str:
    """A short digest of the search's filters, so an anchor is only good with the filters it came from."""
    filters = sorted((name, sorted(values)) for name, values in form.items() if name not in _PAGING_FIELDS)
    return f"{zlib.crc32(repr(filters).encode()):08x}"


def _event_anchor(position: int, order: str, digest: str) -> str:
    return base64.urlsafe_b64encode(f"e2:{order}:{position}:{digest}".encode()).decode().rstrip("=")


def _event_anchor_position(anchor: str, order: str, digest: str) -> int:
    try:
        fields = base64.urlsafe_b64decode(anchor + "=" * (-len(anchor) % 4)).decode().split(":")
        if len(fields) == 4 and fields[:2] == ["e2", order] and fields[2].isdigit() and fields[3] == digest:
            return int(fields[2])
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise _invalid("anchor", anchor)


def _event_page(items: list[dict[str, Any]], next_anchor: str | None) -> Response:
    """A page of events as bytes; the quirky event's placeholders become the bytes a real console sent."""
    body = {"items": items, **({"nextAnchor": next_anchor} if next_anchor else {})}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    raw = raw.replace(_QUIRK_LATIN1.encode(), b"\xe9").replace(_QUIRK_NUL.encode(), b"\x00")
    return Response(raw, media_type="application/json")


@_authenticated
async def search_events(request: Request) -> Response:
    """Security events in a persistence-time window (see the notes above `EVENTS_PATH`)."""
    simulator = _simulator(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise _ApiError(400, BAD_REQUEST, details={"invalidParam": "Content-Type", "invalidValue": content_type})
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    start, end = _form_time(form, "persistenceTimestampStart"), _form_time(form, "persistenceTimestampEnd")
    if start is None and end is None:
        raise _ApiError(400, BAD_REQUEST, details={"invalidParam": "persistenceTimestampStart",
                                                   "invalidValue": ""})
    if start is not None and end is not None and start > end:
        raise _ApiError(400, BAD_REQUEST, details={"invalidParam": "persistenceTimestampEnd",
                                                   "invalidValue": form["persistenceTimestampEnd"][-1]})
    groups = _form_values(form, "engineGroup", ENGINE_GROUP_VALUES)
    engines = _form_values(form, "engine", ENGINE_VALUES)
    if (groups is None) == (engines is None):
        sent = ",".join(value for name in ("engine", "engineGroup") for value in form.get(name, []))
        raise _ApiError(400, BAD_REQUEST, details={"invalidParam": "engine,engineGroup", "invalidValue": sent})
    severities = _form_values(form, "severity", EVENT_SEVERITY_VALUES)
    order = _form_choice(form, "order", ("desc", "asc"))
    exclusive = _form_choice(form, "exclusiveStart", ("false", "true")) == "true"
    _form_choice(form, "acknowledged", ("", "true", "false"))
    limit = _limit(form["limit"][-1] if form.get("limit") else None, MAX_LIMIT)
    companies = _event_companies(simulator, form["organizationId"][-1] if form.get("organizationId") else None)

    log = event_log(simulator)
    low = 0 if start is None else (bisect.bisect_right if exclusive else bisect.bisect_left)(log.times, start)
    high = len(log) if end is None else bisect.bisect_left(log.times, end)
    digest = _filters_digest(form)
    anchor = (form.get("anchor") or [""])[-1]
    step = 1 if order == "asc" else -1
    position = _event_anchor_position(anchor, order, digest) if anchor else (low if step == 1 else high - 1)

    def keep(at: int) -> bool:
        kind = log.kind_of(at)
        return (log.company_of(at) in companies and (groups is None or kind.group in groups)
                and (engines is None or kind.engine in engines)
                and (severities is None or kind.severity in severities))

    items: list[dict[str, Any]] = []
    while low <= position < high:
        if keep(position):
            if len(items) == limit:
                return _event_page(items, _event_anchor(position, order, digest))
            items.append(log.event(position))
        position += step
    return _event_page(items, None)


# --- device operations (issue 18) ---------------------------------------------------------------------------
#
# `POST /devices/v1/operations` with a JSON body (fact sheet 6.1): `{operation, targets, parameters?}`.
# - Needs a token with connect.api.write: without it 403 [COOKBOOK][LC]. A read-only API client's token never
#   has it; whether the real token endpoint drops the write scope or refuses the whole request is UNCERTAIN
#   (here it drops it, so the 403 comes from the operation).
# - 1-5 targets, else 400 [MCP][XSIAM]; a message of at most 512 characters; `showMessage` needs one [MCP][ATT].
# - The operations endpoints allow 300 requests a minute per source IP [LC]: 429 with Retry-After past it.
# - 207 `{"multistatus": [{target, status, operationId?, details?}], "transactionId"}` [SEKOIA]: 202 and a
#   numeric-string operationId for a queued target, a 4xx with `details` for a refused one [BULK][XSOAR-EL];
#   the [MCP] mock uses 404 for a failure. Isolation "requires devices to be Windows computers in active state
#   with valid subscription" [XSIAM]; the exact `details` texts of the real API are UNCERTAIN (ours are plain
#   sentences), and so are the rules for release, scan and message (here: an active computer).
# - `GET /devices/v1/operations?deviceId=` lists one device's operations (no other filter [MCP]), items
#   `{id, operationName, status, startedTimestamp, lastUpdatedTimestamp}` [XSOAR-EL]; status `finished` or
#   `pending` here (the real API also has ongoing, failed, internalError, unknownError [XSIAM]).
# - An online device applies isolation or release at once (its overview reads `isolated` on the next read);
#   an offline one only when it connects, which a simulated offline device never does. A released device
#   goes back to the overview it was made with (allOk if it was made isolated). Real timings are UNCERTAIN.

OPERATIONS_PATH = "/devices/v1/operations"
OPERATION_NAMES = ("isolateFromNetwork", "releaseFromNetworkIsolation", "scanForMalware", "showMessage",
                   "assignProfile", "turnOnFeature", "collectDiagnosticFile")
OPERATION_TARGETS_MAX = 5
OPERATION_RATE_LIMIT = 300
MESSAGE_MAX = 512
_ISOLATED = OVERVIEWS.index("isolated")
_ALL_OK = OVERVIEWS.index("allOk")


@_authenticated
async def device_operations(request: Request) -> Response:
    simulator = _simulator(request)
    client = request.client.host if request.client else "unknown"
    if (wait := simulator.rate_wait(client, limit=simulator.operation_rate_limit, bucket="operations")) is not None:
        return _error(request.scope, _ApiError(429, "Rate limit exceeded"),
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})
    if request.method == "GET":
        return _operation_history(simulator, request)
    _, _, token = request.headers.get("authorization", "").partition(" ")
    if not simulator.may_write(token.strip()):
        raise _ApiError(403, "Insufficient scope: the operation needs connect.api.write")
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise _ApiError(400, BAD_REQUEST)
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _ApiError(400, BAD_REQUEST) from None
    if not isinstance(body, dict):
        raise _ApiError(400, BAD_REQUEST)
    operation, targets = body.get("operation"), body.get("targets")
    if operation not in OPERATION_NAMES:
        raise _invalid("operation", str(operation))
    if (not isinstance(targets, list) or not 1 <= len(targets) <= OPERATION_TARGETS_MAX
            or not all(isinstance(target, str) for target in targets)):
        raise _invalid("targets", json.dumps(targets)[:200])
    parameters = body.get("parameters") or {}
    message = parameters.get("message") if isinstance(parameters, dict) else None
    if message is not None and (not isinstance(message, str) or len(message) > MESSAGE_MAX):
        raise _invalid("parameters.message", str(message)[:80])
    if operation == "showMessage" and not message:
        raise _invalid("parameters.message", "")
    if operation not in OPERATION_NAMES[:4]:
        raise _ApiError(400, BAD_REQUEST)  # documented, but not simulated: refused rather than faked
    statuses = [_operate(simulator, operation, target, parameters) for target in dict.fromkeys(targets)]
    return JSONResponse({"multistatus": statuses, "transactionId": request.scope.get(_TRANSACTION, "")},
                        status_code=207)


def _operate(simulator: ElementsSimulator, operation: str, target: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """One target's multistatus entry, the operation applied to the fleet when the device can take it."""
    index = simulator.device_index(target)
    if index is None or simulator.fleet._company[index] not in simulator.visible_companies():
        return {"target": target, "status": 404, "details": "Device not found"}
    record = simulator.fleet.device(index)
    refusal = _operation_refusal(simulator, operation, record)
    if refusal:
        return {"target": target, "status": 400, "details": refusal}
    operation_id = str(1766423938040964633 + len(simulator.operations))  # numeric strings, as captured [SEKOIA]
    applied = record.get("online") is True
    if applied and operation == "isolateFromNetwork":
        simulator.fleet.overview_now[index] = _ISOLATED
    elif applied and operation == "releaseFromNetworkIsolation":
        made = simulator.fleet._overview[index]
        simulator.fleet.overview_now[index] = _ALL_OK if made == _ISOLATED else made
    simulator.operations.append({"id": operation_id, "deviceId": target, "operationName": operation,
                                 "status": "finished" if applied else "pending", "parameters": parameters,
                                 "startedTimestamp": rfc3339(simulator.fleet.now_ms, millis=True)})
    return {"target": target, "status": 202, "operationId": operation_id}


def _operation_refusal(simulator: ElementsSimulator, operation: str, record: dict[str, Any]) -> str:
    """Why this device cannot take the operation, or "" [XSIAM: Windows computers, active, valid subscription]."""
    if record.get("type") != "computer":
        return "Operation is not supported for this device type"
    if record.get("state") != "active":
        return "Device is not in active state"
    if operation in ("isolateFromNetwork", "releaseFromNetworkIsolation"):
        if not str((record.get("os") or {}).get("name", "")).startswith("Windows"):
            return "Device is not a Windows computer"
        if record["id"] in simulator.unsubscribed:
            return "Device has no valid subscription"
    return ""


def _operation_history(simulator: ElementsSimulator, request: Request) -> Response:
    """One device's operations, newest first; `deviceId` is required and the only filter."""
    device_id = request.query_params.get("deviceId")
    unknown = [name for name in request.query_params if name != "deviceId"]
    if unknown:
        raise _invalid(unknown[0], request.query_params[unknown[0]])
    if not device_id:
        raise _invalid("deviceId", "")
    items = [{"id": operation["id"], "operationName": operation["operationName"], "status": operation["status"],
              "startedTimestamp": operation["startedTimestamp"], "lastUpdatedTimestamp": operation["startedTimestamp"]}
             for operation in reversed(simulator.operations) if operation["deviceId"] == device_id]
    return JSONResponse({"items": items})
