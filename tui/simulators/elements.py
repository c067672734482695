"""A loopback simulator of the WithSecure Elements API over a generated, deterministic fleet.

Shapes follow the seed 004 examples and ../shared/vendor-apis/elements.md: the token answer
(`access_token`, `token_type`, `expires_in`), whoami (`clientId`, `organizationId`), organizations
(`{"items": [{"id", "name"}], "nextAnchor"}`) and device pages (`items`, and `nextAnchor` on every page but
the last). Choices where the fact sheet is UNCERTAIN, so the client is never written against a guess:

- Device records look like a 2023 server's: `company {id, name}`, `os {name, version, endOfLife}`,
  `ipAddresses` and `macAddresses` as comma-separated strings (addresses with a prefix length),
  timestamps in UTC with a `Z` (milliseconds on `statusUpdateTimestamp` and `registrationTimestamp`).
  Mobiles have no `patchOverallState`, firewall, addresses or model.
- Partner credentials list the partner first, then its companies; company credentials list themselves.
  Devices without `organizationId` are those of every company the credentials can see.
- API errors are `{"code": <status>, "message": ...}`; the token endpoint answers OAuth2's
  `{"error": ..., "error_description": ...}`.
- A request without a User-Agent answers 400 with the API error body (the real API "rejects" it).
- The rate limit is a fixed window per client IP (10,000 requests a minute unless told otherwise); past it,
  429 with `Retry-After` in whole seconds until the window ends.
- Every response carries an `x-transaction` header (a fresh UUID), injected faults included.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import math
import random
import secrets
import string
import time
import uuid
from array import array
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tui.simulators import DAY, HOUR, MINUTE, distinct_seeds, event_log_of, fleet_clock
from tui.simulators.faults import FaultInjector, FaultPlan

DEMO_USERNAME = "fusion_5e1f0c2a9b7d4e3f8a61"
"""The demo client id, shaped like the seed's `fusion_aae404cb18404fabcede`."""
DEMO_PASSWORD = "demo-client-secret"

TOKEN_PATH = "/as/token.oauth2"
WHOAMI_PATH = "/whoami/v1/whoami"
ORGANIZATIONS_PATH = "/organizations/v1/organizations"
DEVICES_PATH = "/devices/v1/devices"
SCOPES = ("connect.api.read", "connect.api.write")
MAX_LIMIT = 200
RATE_LIMIT = 10_000
RATE_WINDOW_S = 60.0


OVERVIEWS = ("critical", "important", "allOk")
PATCH_STATES = ("missingCriticalUpdates", "missingImportantUpdates", "importantUpdatesInstalled",
                "allUpdatesInstalled", "unknown")
_NO_PATCH = 255
"""Stored patch state of a mobile: the record has no `patchOverallState` at all."""
_OVERVIEW_WEIGHTS = (3, 9, 88)
_PATCH_WEIGHTS = (9, 14, 22, 50, 5)

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
)
_ONLINE_RATE = {"desktop": 0.85, "laptop": 0.65, "server": 0.97, "phone": 0.6}
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

    def __init__(self, size: int = 500, seed: int = 7, now: datetime | None = None) -> None:
        self.size = size
        self.seed = seed
        self.now, self.now_ms = fleet_clock(now)

        rng = random.Random(seed)
        self.partner = {"id": _uuid(rng), "name": _PARTNER, "type": "partner"}
        self.companies = [{"id": _uuid(rng), "name": name, "type": "company"} for name, *_ in _COMPANIES]
        self._subscription_keys = ["-".join(f"{rng.getrandbits(16):04X}" for _ in range(5)) for _ in _COMPANIES]

        self._company = array("B", rng.choices(range(len(_COMPANIES)), [c[3] for c in _COMPANIES], k=size))
        self._kind = array("B", rng.choices(range(len(_KINDS)), [kind.weight for kind in _KINDS], k=size))
        self._overview = array("B", rng.choices(range(len(OVERVIEWS)), _OVERVIEW_WEIGHTS, k=size))
        patches = rng.choices(range(len(PATCH_STATES)), _PATCH_WEIGHTS, k=size)
        self._patch = array("B", (_NO_PATCH if _KINDS[kind].type == "mobile" else patch
                                  for kind, patch in zip(self._kind, patches)))
        self._online = array("B", (rng.random() < _ONLINE_RATE[_KINDS[kind].role] for kind in self._kind))
        self._detail_seed = distinct_seeds(rng, size)
        self._company_index = {company["id"]: index for index, company in enumerate(self.companies)}

    def __len__(self) -> int:
        return self.size

    def company_index(self, organization_id: str) -> int | None:
        return self._company_index.get(organization_id)

    def matches(self, index: int, *, companies: frozenset[int], overviews: frozenset[int] | None,
                patches: frozenset[int] | None, types: frozenset[str] | None, online: bool | None) -> bool:
        """Whether a device passes the server-side filters, decided from the stored arrays alone."""
        return (
            self._company[index] in companies
            and (overviews is None or self._overview[index] in overviews)
            and (patches is None or self._patch[index] in patches)
            and (types is None or _KINDS[self._kind[index]].type in types)
            and (online is None or bool(self._online[index]) is online)
        )

    def device(self, index: int) -> dict[str, Any]:
        """The full device record of the index-th device."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        rng = random.Random(self._detail_seed[index])
        kind = _KINDS[self._kind[index]]
        company_number = self._company[index]
        company = self.companies[company_number]
        _, mail_domain, windows_domain, _ = _COMPANIES[company_number]
        overview = OVERVIEWS[self._overview[index]]
        online = bool(self._online[index])
        now = self.now_ms

        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        registered = now - rng.randint(20 * DAY, 900 * DAY)
        seen = now - (rng.randint(10_000, 15 * MINUTE) if online else _offline_age(rng))
        # A critical device has protection off or very old malware definitions; an important one a
        # firewall off or definitions a few days old.
        malware_off = overview == "critical" and rng.random() < 0.55
        firewall_off = overview == "important" and rng.random() < 0.5
        if overview == "critical" and not malware_off:
            definitions_age = rng.randint(10 * DAY, 60 * DAY)
        elif overview == "important" and not firewall_off:
            definitions_age = rng.randint(2 * DAY, 7 * DAY)
        else:
            definitions_age = rng.randint(10 * MINUTE, 20 * HOUR)
        definitions = min(now - definitions_age, seen)
        product, subscription = _SUBSCRIPTIONS[kind.role]

        record: dict[str, Any] = {
            "id": _uuid(rng),
            "name": self._device_name(rng, kind, first, last),
            "type": kind.type,
            "state": "inactive" if now - seen > 30 * DAY else "active",
            "online": online,
            "company": {"id": company["id"], "name": company["name"]},
            "os": {"name": kind.os_name, "version": rng.choice(kind.os_versions), "endOfLife": kind.end_of_life},
            "clientVersion": rng.choice(_CLIENT_VERSIONS[kind.role]),
            "profileName": _PROFILES[kind.role],
            "profileState": "upToDate" if rng.random() < 0.95 else "outdated",
            "subscription": {"key": self._subscription_keys[company_number], "name": subscription,
                             "productVariant": product},
            "serialNumber": _uuid(rng),
            "lastUser": _last_user(kind, windows_domain, mail_domain, first, last),
            "publicIpAddress": f"203.0.113.{company_number * 40 + rng.randint(1, 39)}",
            "protectionStatusOverview": overview,
            "protectionStatus": "unprotected" if malware_off else "protected",
            "malwareState": "disabled" if malware_off else "enabled",
            "malwareDbVersion": f"{rfc3339(definitions)[:10]}_{rng.randint(1, 12):02d}",
            "malwareDbUpdateTimestamp": rfc3339(definitions),
            "statusUpdateTimestamp": rfc3339(seen, millis=True),
            "registrationTimestamp": rfc3339(registered, millis=True),
        }
        if kind.type == "computer":
            record.update(self._computer_fields(rng, kind, index, company_number, firewall_off, seen))
        return record

    def _device_name(self, rng: random.Random, kind: _Kind, first: str, last: str) -> str:
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
                 rate_limit: int = RATE_LIMIT, rate_window: float = RATE_WINDOW_S) -> None:
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
        self._tokens: dict[str, float] = {}
        self._windows: dict[str, tuple[float, int]] = {}

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
        self._tokens[token] = time.monotonic() + self.token_ttl
        self.issued.append((token, " ".join(scopes)))
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}

    def token_valid(self, token: str) -> bool:
        return self._tokens.get(token, 0.0) > time.monotonic()

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as an expiry or a revoked client would."""
        self._tokens.clear()

    def rate_wait(self, client: str) -> float | None:
        """Count one request from `client`; past the limit, the seconds until its window ends."""
        now = time.monotonic()
        start, count = self._windows.get(client, (now, 0))
        if now - start >= self.rate_window:
            start, count = now, 0
        self._windows[client] = (start, count + 1)
        return start + self.rate_window - now if count >= self.rate_limit else None


class _ApiError(Exception):
    """An error the API reports as `{"code", "message"}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _simulator(request: Request) -> ElementsSimulator:
    return request.app.state.simulator


def _authenticated(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Answer 401 unless the request carries a live bearer token."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _simulator(request).token_valid(token.strip()):
            return _error(401, "Invalid or expired access token")
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
    raise _ApiError(400, f"Invalid anchor '{anchor}'")


def _paging(request: Request) -> tuple[int, int]:
    """(first index, limit) from `anchor` and `limit`; at most MAX_LIMIT a page."""
    raw_limit = request.query_params.get("limit", str(MAX_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise _ApiError(400, f"Parameter limit must be a number between 1 and {MAX_LIMIT}")
    anchor = request.query_params.get("anchor")
    return (_anchor_index(anchor) if anchor else 0), int(raw_limit)


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
            raise _ApiError(400, f"Invalid value '{value}' for parameter {name}")
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
    return _page([{"id": listed[i]["id"], "name": listed[i]["name"]} for i in chosen], next_index)


@_authenticated
async def list_devices(request: Request) -> Response:
    fleet = _simulator(request).fleet
    start, limit = _paging(request)
    overviews = _values(request, "protectionStatusOverview", OVERVIEWS)
    patches = _values(request, "patchOverallState", PATCH_STATES)
    types = _values(request, "type", ("computer", "mobile", "connector"))
    online = _values(request, "online", ("true", "false"))
    keep = functools.partial(
        fleet.matches,
        companies=_companies_in_scope(request),
        overviews=None if overviews is None else frozenset(map(OVERVIEWS.index, overviews)),
        patches=None if patches is None else frozenset(map(PATCH_STATES.index, patches)),
        types=None if types is None else frozenset(types),
        online=None if online is None or len(set(online)) > 1 else online[0] == "true",
    )
    chosen, next_index = _scan(len(fleet), start, keep, limit)
    return _page([fleet.device(index) for index in chosen], next_index)


class _Gateway:
    """What stands in front of every endpoint: the request log, `x-transaction` on every answer, the
    User-Agent rule and the per-IP rate limit."""

    def __init__(self, app: Any, simulator: ElementsSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.simulator.requests.append(
            Logged(scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")))
        transaction = str(uuid.uuid4()).encode()

        async def send_with_transaction(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-transaction", transaction)]}
            await send(message)

        user_agent = dict(scope.get("headers") or []).get(b"user-agent", b"")
        client = (scope.get("client") or ("unknown", 0))[0]
        if not user_agent.strip():
            rejection = _error(400, "The User-Agent header is required")
        elif (wait := self.simulator.rate_wait(client)) is not None:
            rejection = _error(429, "Rate limit exceeded", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        else:
            await self.app(scope, receive, send_with_transaction)
            return
        await rejection(scope, receive, send_with_transaction)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    return _error(exc.status, exc.message)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


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
        ],
        middleware=[
            Middleware(_Gateway, simulator=simulator),
            Middleware(FaultInjector, plan=simulator.faults, expire_tokens=simulator.expire_tokens),
        ],
        exception_handlers={_ApiError: _on_api_error, HTTPException: _on_http_error},
    )
    app.state.simulator = simulator
    return app


# --- security events (issue 6) ---------------------------------------------------------------------------
#
# `POST /security-events/v1/security-events` with a form body, as the seed shows. Choices where the fact sheet
# is UNCERTAIN (the client must tolerate others):
# - Items: `id`, `action`, `engine`, `severity` (critical, warning, info), `clientTimestamp` (the device's
#   local time with its offset, e.g. -05:00), `serverTimestamp` and `persistenceTimestamp` (UTC, Z, millis),
#   `organization {id, name}`, `device {id, name}`, `details` (engine-specific).
# - The window: `persistenceTimestampStart` is included, `persistenceTimestampEnd` is not. Without either:
#   400 `{"code": 400, "message": ...}`, as the seed says the request fails. Items come oldest first
#   (`order=desc` for newest first), 200 a page at most, `nextAnchor` on every page but the last.
# - Events cover the 30 days before the fleet's clock and follow the fleet: a device whose protection is
#   critical has malware detections (one in its last day of reporting at least), and its protection or
#   firewall turned off when its record says so; an important one has warnings; a quarter of the others
#   have informational events. Nothing happens on a device after it last reported or before it registered.

EVENTS_PATH = "/security-events/v1/security-events"
EVENT_DAYS = 30
ENGINE_GROUP_VALUES = ("epp", "edr", "ecp", "xm")
EVENT_SEVERITY_VALUES = ("critical", "warning", "info")
_COMPANY_OFFSETS = (180, 60, 120, 120, -300, 120)
"""Each company's UTC offset in minutes: the `clientTimestamp` of its devices is local time with it."""


class _EventKind(NamedTuple):
    engine: str
    group: str
    severity: str
    actions: tuple[str, ...]


_EVENT_KINDS = (
    _EventKind("fileScanning", "epp", "critical", ("quarantined", "quarantined", "deleted", "blocked")),  # 0
    _EventKind("deepGuard", "epp", "critical", ("blocked",)),  # 1
    _EventKind("edr", "edr", "critical", ("reported",)),  # 2
    _EventKind("realTimeScanning", "epp", "warning", ("disabled",)),  # 3
    _EventKind("firewall", "epp", "warning", ("disabled",)),  # 4
    _EventKind("browsingProtection", "epp", "warning", ("blocked",)),  # 5
    _EventKind("deviceControl", "epp", "info", ("blocked",)),  # 6
    _EventKind("applicationControl", "epp", "info", ("blocked",)),  # 7
    _EventKind("manualScanning", "epp", "info", ("completed",)),  # 8
)
_MALWARE, _DEEPGUARD, _EDR, _SCANNING_OFF, _FIREWALL_OFF, _BROWSING = 0, 1, 2, 3, 4, 5
_INFECTIONS = ("Trojan.GenericKD.71237415", "Trojan:W32/Emotet.A", "Backdoor:W32/Cobaltstrike.B",
               "Ransom:W32/LockBit.C", "Exploit:Win32/CVE-2023-36884", "PUA:W32/CoinMiner.D", "Worm:W32/Qakbot.E")
_MOBILE_INFECTIONS = ("Trojan:Android/FakeApp.A", "Trojan-Spy:Android/SmsThief.B")
_DROP_FOLDERS = ("C:\\Users\\{user}\\Downloads", "C:\\Users\\{user}\\AppData\\Local\\Temp",
                 "C:\\ProgramData\\Updater")
_DROP_FILES = ("invoice_0424.exe", "setup.msi", "scan_2024.pdf.exe", "update.dll", "payload.ps1")
_BAD_HOSTS = ("login-micros0ft.example", "free-gift-cards.example", "cdn-update-check.example", "pay-invoice.example")
_BEHAVIOURS = ("Suspicious behaviour: process injection", "Ransomware-like file modifications",
               "Credential dumping from LSASS")
_EDR_ALERTS = ("Broad context detection: suspicious PowerShell", "Broad context detection: lateral movement",
               "Broad context detection: persistence via scheduled task")
_USB_DEVICES = ("USB mass storage (SanDisk Ultra)", "USB mass storage (Kingston DataTraveler)")
_BLOCKED_APPS = ("AnyDesk.exe", "TeamViewer_Setup.exe", "torrent-client.exe")


class ElementsEventLog:
    """The security events of a fleet, sorted by persistence time, identical for the same fleet.

    Per event only its time, device, kind and a detail seed are stored; each item is rebuilt on demand.
    Built on first use: only devices with events have their records built (a 100,000-device fleet: ~1 s).
    """

    def __init__(self, fleet: ElementsFleet) -> None:
        self.fleet = fleet
        rng = random.Random(fleet.seed * 7919 + 6)
        low = fleet.now_ms - EVENT_DAYS * DAY
        rows: list[tuple[int, int, int, int]] = []
        self._devices: dict[int, tuple[str, str, int, str]] = {}
        """device index -> (id, name, company, last user) of every device with events."""
        for index in range(fleet.size):
            overview = OVERVIEWS[fleet._overview[index]]
            if overview == "allOk" and rng.random() >= 0.25:
                continue
            record = fleet.device(index)
            mobile = record["type"] == "mobile"
            kinds = self._kinds(rng, overview, record, mobile)
            seen = _epoch_ms(record["statusUpdateTimestamp"])
            start = max(low, _epoch_ms(record["registrationTimestamp"]))
            if not kinds or seen <= start:
                continue
            self._devices[index] = (record["id"], record["name"], fleet._company[index], record.get("lastUser", ""))
            for position, kind in enumerate(kinds):
                if position == 0 and overview == "critical":  # the detection that made it critical: recent
                    moment = rng.randint(max(start, seen - DAY), seen)
                else:
                    moment = rng.randint(start, seen)
                rows.append((moment, index, kind, rng.getrandbits(32)))
        rows.sort()
        self.times = array("q", (row[0] for row in rows))
        self._device = array("I", (row[1] for row in rows))
        self._kind = array("B", (row[2] for row in rows))
        self._seed = array("I", (row[3] for row in rows))

    @staticmethod
    def _kinds(rng: random.Random, overview: str, record: dict[str, Any], mobile: bool) -> list[int]:
        if overview == "critical":
            pool = (_MALWARE, _BROWSING) if mobile else (_MALWARE, _MALWARE, _DEEPGUARD, _EDR, _BROWSING, 7)
            kinds = [_MALWARE] + rng.choices(pool, k=rng.randint(2, 9))
        elif overview == "important":
            pool = (_BROWSING,) if mobile else (_BROWSING, _BROWSING, 6, 7, 8)
            kinds = rng.choices(pool, k=rng.randint(1, 3))
        else:
            pool = (_BROWSING,) if mobile else (8, 8, 6, 7, _BROWSING)
            kinds = rng.choices(pool, k=rng.randint(1, 2))
        if record.get("malwareState") == "disabled":
            kinds.append(_SCANNING_OFF)
        if record.get("firewallState") == "disabled":
            kinds.append(_FIREWALL_OFF)
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
        """The full item of the event at `position` (in persistence order)."""
        rng = random.Random(self._seed[position])
        kind = self.kind_of(position)
        device_id, name, company_number, user = self._devices[self._device[position]]
        company = self.fleet.companies[company_number]
        persisted = self.times[position]
        server = persisted - rng.randint(50, 2_000)
        client = server - rng.randint(500, 90_000)
        offset = timezone(timedelta(minutes=_COMPANY_OFFSETS[company_number]))
        local = datetime.fromtimestamp(client / 1000, offset).isoformat(timespec="milliseconds")
        return {
            "id": _uuid(rng),
            "action": rng.choice(kind.actions),
            "engine": kind.engine,
            "severity": kind.severity,
            "clientTimestamp": local,
            "serverTimestamp": rfc3339(server, millis=True),
            "persistenceTimestamp": rfc3339(persisted, millis=True),
            "organization": {"id": company["id"], "name": company["name"]},
            "device": {"id": device_id, "name": name},
            "details": _event_details(rng, kind, user),
        }


def _event_details(rng: random.Random, kind: _EventKind, user: str) -> dict[str, Any]:
    short_user = user.rpartition("\\")[2].partition("@")[0] or "user"
    sha1 = f"{rng.getrandbits(160):040x}"
    if kind.engine == "fileScanning":
        folder = rng.choice(_DROP_FOLDERS).format(user=short_user)
        return {"infectionName": rng.choice(_INFECTIONS), "filePath": f"{folder}\\{rng.choice(_DROP_FILES)}",
                "sha1": sha1, "userName": user}
    if kind.engine == "deepGuard":
        return {"ruleName": rng.choice(_BEHAVIOURS), "processPath": f"C:\\Users\\{short_user}\\AppData\\Roaming\\"
                f"{rng.choice(_DROP_FILES)}", "sha1": sha1, "userName": user}
    if kind.engine == "edr":
        return {"alertType": rng.choice(_EDR_ALERTS), "riskLevel": rng.choice(("high", "severe")),
                "description": "A detection was raised and added to a broad context detection."}
    if kind.engine == "realTimeScanning":
        return {"description": "Real-time scanning was turned off on the device."}
    if kind.engine == "firewall":
        return {"description": "The firewall was turned off on the device."}
    if kind.engine == "browsingProtection":
        return {"url": f"https://{rng.choice(_BAD_HOSTS)}/{rng.getrandbits(24):06x}", "reputation": "harmful",
                "userName": user}
    if kind.engine == "deviceControl":
        return {"deviceName": rng.choice(_USB_DEVICES), "userName": user}
    if kind.engine == "applicationControl":
        return {"fileName": rng.choice(_BLOCKED_APPS), "ruleName": "Block remote access tools", "userName": user}
    return {"description": "Scan completed: no harmful items found.", "scannedFiles": rng.randint(20_000, 400_000)}


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
        raise _ApiError(400, f"Invalid value '{text}' for parameter {name}: expected an RFC 3339 timestamp")
    return int(moment.timestamp() * 1000)


def _form_values(form: dict[str, list[str]], name: str, allowed: tuple[str, ...] | None) -> frozenset[str] | None:
    values = [value for raw in form.get(name, []) for value in raw.split(",") if value]
    if not values:
        return None
    for value in values:
        if allowed is not None and value not in allowed:
            raise _ApiError(400, f"Invalid value '{value}' for parameter {name}")
    return frozenset(values)


def _event_companies(simulator: ElementsSimulator, wanted: str | None) -> frozenset[int]:
    """The companies `organizationId` selects among those the credentials see (all of them without it)."""
    visible = simulator.visible_companies()
    if wanted is None or (simulator.is_partner and wanted == simulator.organization_id):
        return visible
    try:
        uuid.UUID(wanted)
    except ValueError:
        raise _ApiError(400, f"Invalid value '{wanted}' for parameter organizationId") from None
    company = simulator.fleet.company_index(wanted)
    if company is None or company not in visible:
        raise _ApiError(403, f"Access to organization {wanted} is not allowed")
    return frozenset((company,))


def _event_anchor(position: int, order: str) -> str:
    return base64.urlsafe_b64encode(f"e1:{order}:{position}".encode()).decode().rstrip("=")


def _event_anchor_position(anchor: str, order: str) -> int:
    try:
        kind, _, rest = base64.urlsafe_b64decode(anchor + "=" * (-len(anchor) % 4)).decode().partition(":")
        anchored_order, _, position = rest.partition(":")
        if kind == "e1" and anchored_order == order and position.isdigit():
            return int(position)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise _ApiError(400, f"Invalid anchor '{anchor}'")


@_authenticated
async def search_events(request: Request) -> Response:
    """Security events in a persistence-time window (see the notes above `EVENTS_PATH`)."""
    simulator = _simulator(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise _ApiError(400, "Content-Type must be application/x-www-form-urlencoded")
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    start, end = _form_time(form, "persistenceTimestampStart"), _form_time(form, "persistenceTimestampEnd")
    if start is None and end is None:
        raise _ApiError(400, "One of persistenceTimestampStart and persistenceTimestampEnd is required")
    if start is not None and end is not None and start > end:
        raise _ApiError(400, "persistenceTimestampStart must not be after persistenceTimestampEnd")
    groups = _form_values(form, "engineGroup", ENGINE_GROUP_VALUES)
    engines = _form_values(form, "engine", None)
    severities = _form_values(form, "severity", EVENT_SEVERITY_VALUES)
    order = (form.get("order") or ["asc"])[-1].lower()
    if order not in ("asc", "desc"):
        raise _ApiError(400, f"Invalid value '{order}' for parameter order")
    raw_limit = (form.get("limit") or [str(MAX_LIMIT)])[-1]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise _ApiError(400, f"Parameter limit must be a number between 1 and {MAX_LIMIT}")
    limit = int(raw_limit)
    companies = _event_companies(simulator, (form.get("organizationId") or [None])[-1])

    log = event_log(simulator)
    low = 0 if start is None else bisect.bisect_left(log.times, start)
    high = len(log) if end is None else bisect.bisect_left(log.times, end)
    anchor = (form.get("anchor") or [""])[-1]
    step = 1 if order == "asc" else -1
    position = _event_anchor_position(anchor, order) if anchor else (low if step == 1 else high - 1)

    def keep(at: int) -> bool:
        kind = log.kind_of(at)
        return (log.company_of(at) in companies and (groups is None or kind.group in groups)
                and (engines is None or kind.engine in engines)
                and (severities is None or kind.severity in severities))

    items: list[dict[str, Any]] = []
    while low <= position < high:
        if keep(position):
            if len(items) == limit:
                return JSONResponse({"items": items, "nextAnchor": _event_anchor(position, order)})
            items.append(log.event(position))
        position += step
    return JSONResponse({"items": items})
