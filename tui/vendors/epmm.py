"""Ivanti EPMM (formerly MobileIron Core) through its V2 REST API.

Authentication: HTTP Basic on every call; there is no token and no session (JSESSIONID and CSRF_NONCE
are only for multipart writes before 11.1). Paths are `/api/v2/...`, or `/rest/api/v2/...` on
Connected Cloud (`connection.connected_cloud`). Calls scoped to a device space send
`adminDeviceSpaceId = connection.device_space_id`.

Probe: EPMM has no unauthenticated call, so `probe` sends `GET ping` without credentials. The expected
401 proves that an API asking for Basic credentials answers at that path (version not disclosed); a server
that answers the ping anyway reports its `vspVersion`. `check_login` sends the same ping with credentials.

Groups: two trees, "Device spaces" (`device_spaces/mine`, flat) and "Labels" (`labels/label_summary`),
with ids "space:<id>" and "label:<id>". A device's `group` is its device space and its `labels` are its
labels (`common.labels`). Selecting a label filters on the server with `labelId`; a device space with
the query `"common.device_space_name" = "<name>"`. Health is always decided here, never on the server.

Devices: the V2 device search, asking for the fields this client reads that `devices/search_fields`
offers, 200 a page. The first page tells `totalCount`; the rest are fetched `page_concurrency` at a time
by `offset` and yielded in order.

Health of a device (`Device.health`), first match wins:

- unknown: `common.status` RETIRED or WIPED. The device is no longer managed, so what it last reported
  is history (reason "retired" or "wiped"; missing patch null).
- critical: compromised (`common.security_state` "Compromised" or `common.device_is_compromised`: a
  jailbroken iPhone, a rooted Android), quarantined (`common.quarantined`) or non-compliant
  (`common.compliant` false), with EPMM's quarantine and non-compliance reasons.
- warning: an OS release without security fixes (below); a status other than ACTIVE (e.g. LOST); no
  check-in for 30 days.
- ok: compliance, quarantine or security state reported and none of the above.
- unknown: none of those three reported.

Missing critical patches (`Device.missing_critical_patches`): the OS release is older than the oldest
release its vendor still ships security fixes for, per the dated table `OS_BASELINES`. Not "behind the
newest version in the fleet": a page of devices cannot see the fleet and EPMM has no aggregate call. The
rule flags unsupported releases, not devices a point release behind. Null when the platform is not in the
table or the version is unreadable.

Online: EPMM has no live connection state. A device counts as online when `common.last_connected_at` is
within 4 hours (a device syncs at least that often under the default sync policy), offline otherwise,
null when it never checked in.

GDPR: for an API user with a GDPR profile EPMM obfuscates user id, names, email, phone, IMEI, serial,
ICCID, IMSI and MEID. Such values (the simulator sends "********"; runs of "***", "XXXX" and the word
"obfuscated" are recognised too) are shown as "(obfuscated)", never treated as errors.

Shapes the fact sheet marks uncertain are read tolerantly: booleans as JSON or "true"/"false",
timestamps as ISO 8601 or epoch milliseconds, reasons and labels as lists or strings.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from tui.models import (
    Capabilities,
    Device,
    DevicePage,
    DeviceQuery,
    EventPage,
    EventWindow,
    Group,
    Health,
    RawPage,
    ServerInfo,
)
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    NotAvailableError,
    VendorClient,
    VendorError,
    epoch_or_rfc3339,
    ordered_pages,
)

API = "/api/v2"
CLOUD_PREFIX = "/rest"
PAGE_SIZE = 200
"""Results asked for per page: the most EPMM's list calls return."""
ONLINE_WITHIN = timedelta(hours=4)
STALE_AFTER = timedelta(days=30)
OBFUSCATED = "(obfuscated)"
SPACES, LABELS = "Device spaces", "Labels"

OS_BASELINES: dict[str, tuple[int, ...]] = {
    "ios": (18,),
    "macos": (14,),
    "android": (13,),
    "windows": (10, 0, 22631),
}
"""Per platform (lower case), the oldest OS release its vendor still ships security fixes for, as of
2025-10: iOS/iPadOS 18, macOS 14 Sonoma, Android 13, Windows 11 23H2 (Windows 10 ended 2025-10-14).
Review it when a vendor ends support for a release."""

DEVICE_FIELDS = (
    "common.uuid", "common.id", "common.device_name", "common.device_space_name", "common.platform",
    "common.os_version", "common.model", "common.status", "common.compliant", "common.noncompliance_reasons",
    "common.quarantined", "common.quarantined_reasons", "common.security_state", "common.device_is_compromised",
    "common.owner", "common.last_connected_at", "common.registration_date", "common.ip_address",
    "common.labels", "user.display_name", "user.user_id", "user.email_address",
)
"""What the device search is asked for (those of them `search_fields` offers)."""

_HINTS = {
    400: "EPMM rejected the request's parameters; check the device space id of this connection.",
    401: "Check the user name and password, and that the user holds the API role in this device space.",
    404: "Check the URL and the Connected Cloud setting (Connected Cloud paths start with /rest).",
    405: "EPMM takes another HTTP method on this path; check the URL and the Connected Cloud setting.",
}
"""What to do about the status codes the V2 API documents, in place of the generic hints."""

_COMPROMISED = {"ios": "jailbroken", "android": "rooted"}


class EpmmClient(VendorClient):
    vendor = "epmm"
    product = "EPMM"
    capabilities = Capabilities(groups=True, devices=True)

    _space_ids: dict[str, str] | None = None
    """Device space name to id, learned once: a device record names its space, a group needs the id."""
    _fields: list[str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        username, password = self.connection.username, self._secret or ""
        self._auth = httpx.BasicAuth(username, password)
        # The Basic credential is redacted like a token, should a server echo the header it was sent.
        self._token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._root = (CLOUD_PREFIX if self.connection.connected_cloud else "") + API

    def error_message(self, payload: Any) -> str | None:
        """The `localizedMessage` of each entry in `messages`; a Spring-style `message` otherwise."""
        if not isinstance(payload, dict):
            return None
        messages = payload.get("messages")
        if isinstance(messages, list):
            texts = [
                str(item.get("localizedMessage") or item.get("messageKey"))
                for item in messages
                if isinstance(item, dict) and (item.get("localizedMessage") or item.get("messageKey"))
            ]
            if texts:
                return "; ".join(texts)
        return payload.get("message") or payload.get("error")

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, anonymous: bool = False) -> Any:
        """`_response`, then parse the body as JSON."""
        return self.parse_json(await self._response(path, params, anonymous=anonymous))

    async def _response(
        self, path: str, params: dict[str, Any] | None = None, *, anonymous: bool = False
    ) -> httpx.Response:
        """A GET under the API root with Basic credentials (none when `anonymous`); errors get EPMM's hints."""
        try:
            return await self.get(self._root + path, params=params, auth=None if anonymous else self._auth)
        except VendorError as error:
            error.hint = _HINTS.get(error.status, error.hint)
            raise

    async def probe(self) -> ServerInfo:
        try:
            body = await self._get("/ping", anonymous=True)
        except AuthenticationError:
            return ServerInfo(self.product, "")
        results = body.get("results") if isinstance(body, dict) else None
        version = results.get("vspVersion") if isinstance(results, dict) else None
        api_version = results.get("apiVersion", "") if isinstance(results, dict) else ""
        shown = str(version).removeprefix("VSP ").strip() if version else ""
        return ServerInfo(self.product, shown, str(api_version))

    async def check_login(self) -> None:
        await self._get("/ping")

    async def _page(self, path: str, params: dict[str, Any], offset: int) -> tuple[dict[str, Any], RawPage]:
        response = await self._response(path, {**params, "limit": PAGE_SIZE, "offset": offset})
        page, raw = self.parse_page(response, "results")
        if not isinstance(page, dict) or not isinstance(page.get("results"), list):
            raise BadResponseError(f"{self._where()} sent a page of {self._root}{path} without `results`.")
        return page, raw

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[tuple[dict[str, Any], RawPage]]:
        """Every page of a V2 list (`limit`, `offset`).

        The first page tells `totalCount`; the rest are fetched `page_concurrency` at a time and yielded in
        order, up to the first empty one (a count larger than the list must not mean endless requests). A server
        that returns fewer results than asked sets the stride, so no device is skipped. Without a `totalCount`,
        pages are read one by one while `hasMore`.
        """
        first, raw = await self._page(path, params, 0)
        yield first, raw
        step = len(first["results"])
        total = first.get("totalCount")
        if not step:
            return
        if isinstance(total, int):
            fetch = lambda offset: self._page(path, params, offset)  # noqa: E731
            async for page, raw in ordered_pages(fetch, range(step, total, step), self.page_concurrency):
                yield page, raw
                if not page["results"]:
                    return
            return
        page, offset = first, 0
        while page.get("hasMore") is True and page["results"]:
            offset += step
            page, raw = await self._page(path, params, offset)
            yield page, raw

    async def _collect(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        pages = self._pages(path, params)
        return [item async for page, _ in pages for item in page["results"] if isinstance(item, dict)]

    def _space_param(self) -> dict[str, Any]:
        return {"adminDeviceSpaceId": self.connection.device_space_id}

    async def _device_spaces(self) -> list[dict[str, Any]]:
        spaces = await self._collect("/device_spaces/mine", {})
        self._space_ids = {str(space.get("name")): str(space.get("id")) for space in spaces}
        return spaces

    async def groups(self) -> list[Group]:
        spaces = await self._device_spaces()
        labels = await self._collect("/labels/label_summary", self._space_param())
        return groups_from_records(spaces, labels)

    async def _device_fields(self) -> list[str]:
        """The fields to ask for: those of `DEVICE_FIELDS` that `search_fields` offers (a strict server
        rejects a search naming a field it lacks), or all of them if it lists none this client knows."""
        if self._fields is None:
            body = await self._get("/devices/search_fields", self._space_param())
            items = body.get("results") if isinstance(body, dict) else None
            offered: set[str] = set()
            for item in items if isinstance(items, list) else ():
                name = item.get("name") if isinstance(item, dict) else item
                if isinstance(name, str):
                    offered.add(name)
            self._fields = [field for field in DEVICE_FIELDS if field in offered] or list(DEVICE_FIELDS)
        return self._fields

    def _group_filter(self, group_id: str | None) -> dict[str, str]:
        """The search parameters that keep only the devices of a label or a device space."""
        kind, _, key = (group_id or "").partition(":")
        if kind == "label" and key:
            return {"labelId": key}
        if kind == "space":
            name = next((name for name, space_id in (self._space_ids or {}).items() if space_id == key), None)
            if name is not None:
                quoted = name.replace("\\", "\\\\").replace('"', '\\"')
                return {"query": f'"common.device_space_name" = "{quoted}"'}
        return {}

    async def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """The device search; a label or device space in `query.group_id` is filtered on the server."""
        if self._space_ids is None:
            await self._device_spaces()
        params = {**self._space_param(), "fields": ",".join(await self._device_fields())}
        params.update(self._group_filter(query.group_id))
        now = self.clock()
        loaded = 0
        async for page, raw in self._pages("/devices", params):
            devices = [
                record_to_device(record, self.connection.name, self._space_ids or {}, now, raw, index)
                for index, record in enumerate(page["results"])
                if isinstance(record, dict)
            ]
            loaded += len(devices)
            total = page.get("totalCount")
            yield DevicePage(devices, loaded, total if isinstance(total, int) else None)

    async def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        """Not available: the EPMM V2 API, as this app knows it (../shared/vendor-apis/epmm.md and seed 003),
        offers no event, audit or log source to read. Raises `NotAvailableError` (scope "vendor") on the first
        page without sending anything, so the timeline can say so in words; `capabilities.events` is False."""
        raise NotAvailableError(EVENTS_NOT_AVAILABLE, scope="vendor")
        yield  # an async generator, like the other vendors' events


def groups_from_records(spaces: list[dict[str, Any]], labels: list[dict[str, Any]]) -> list[Group]:
    """The "Device spaces" tree in the server's order, then the "Labels" tree by name."""
    groups = [Group(id="spaces", name=SPACES, path=(SPACES,))]
    for space in spaces:
        name = str(space.get("name") or space.get("id"))
        groups.append(Group(id=f"space:{space.get('id')}", name=name, path=(SPACES, name), parent_id="spaces"))
    groups.append(Group(id="labels", name=LABELS, path=(LABELS,)))
    for label in sorted(labels, key=lambda label: str(label.get("name")).casefold()):
        name = str(label.get("name") or label.get("id"))
        count = label.get("deviceCount")
        groups.append(Group(id=f"label:{label.get('id')}", name=name, path=(LABELS, name), parent_id="labels",
                            device_count=count if isinstance(count, int) else None))
    unique = {group.id: group for group in groups}
    return list(unique.values())


def record_to_device(
    record: dict[str, Any],
    connection: str,
    space_ids: dict[str, str],
    now: datetime,
    raw: RawPage | None = None,
    index: int = 0,
) -> Device:
    """Map one device search result onto a `Device`, deciding health and patch state (module docstring).

    The record is `raw`'s record number `index`; without a page it is kept as it is.
    """
    platform = str(record.get("common.platform") or "").strip()
    space = str(record.get("common.device_space_name") or "").strip()
    ip_address = shown(record.get("common.ip_address"))
    last_seen = epoch_or_rfc3339(record.get("common.last_connected_at"))
    health, reasons, missing = assess(record, now)
    return Device(
        vendor="epmm",
        connection=connection,
        id=str(record.get("common.uuid") or record.get("common.id") or ""),
        name=shown(record.get("common.device_name")) or shown(record.get("common.model")),
        os=f"{platform} {shown(record.get('common.os_version'))}".strip(),
        ip_addresses=(ip_address,) if ip_address and ip_address != OBFUSCATED else (),
        group_id=f"space:{space_ids[space]}" if space in space_ids else None,
        group=f"{SPACES}\\{space}" if space else "",
        online=None if last_seen is None else now - last_seen <= ONLINE_WITHIN,
        health=health,
        health_reasons=reasons,
        missing_critical_patches=missing,
        last_seen=last_seen,
        user=shown(record.get("user.display_name"), record.get("user.user_id")),
        labels=tuple(f"{LABELS}\\{name}" for name in texts(record.get("common.labels"))),
        raw_page=raw if raw is not None else RawPage.of([record]),
        raw_index=index,
    )


def assess(record: dict[str, Any], now: datetime) -> tuple[Health, tuple[str, ...], bool | None]:
    """Health, the reasons for it, and the missing-patch state of one device record."""
    status = str(record.get("common.status") or "").strip().upper()
    if status in ("RETIRED", "WIPED"):
        return Health.UNKNOWN, (status.lower(),), None
    platform = str(record.get("common.platform") or "").strip()
    version = str(record.get("common.os_version") or "").strip()
    compliant = flag(record.get("common.compliant"))
    quarantined = flag(record.get("common.quarantined"))
    security_state = str(record.get("common.security_state") or "").strip()

    critical: list[str] = []
    if security_state.casefold() == "compromised" or flag(record.get("common.device_is_compromised")):
        critical.append(f"compromised ({_COMPROMISED.get(platform.casefold(), 'jailbroken or rooted')})")
    if quarantined:
        critical.append(_with_reasons("quarantined", record.get("common.quarantined_reasons")))
    if compliant is False:
        critical.append(_with_reasons("non-compliant", record.get("common.noncompliance_reasons")))

    warning: list[str] = []
    missing = os_unsupported(platform, version)
    if missing:
        warning.append(f"{platform} {version} no longer gets security fixes")
    if status and status != "ACTIVE":
        warning.append(f"status {status.lower()}")
    last_seen = epoch_or_rfc3339(record.get("common.last_connected_at"))
    if last_seen is not None and now - last_seen > STALE_AFTER:
        warning.append(f"no check-in for {(now - last_seen).days} days")

    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if compliant is not None or quarantined is not None or security_state:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


def os_unsupported(platform: str, version: str) -> bool | None:
    """Whether `version` is below the platform's `OS_BASELINES` entry; None when either is unknown."""
    baseline = OS_BASELINES.get(platform.strip().casefold())
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    if baseline is None or match is None:
        return None
    try:
        return tuple(int(part) for part in match.group().split(".")) < baseline
    except ValueError:  # more digits than int() converts: no release is numbered so
        return None


def is_obfuscated(text: str) -> bool:
    """A value a GDPR profile hid: "********", "an***@x.com", "XXXXXXXX", "(obfuscated)" and the like."""
    return "***" in text or bool(re.fullmatch(r"[xX#•]{4,}|[(<\[]?obfuscated[)>\]]?", text, re.IGNORECASE))


def shown(*values: Any) -> str:
    """The first clear value; "(obfuscated)" when the only values sent were obfuscated; "" when none."""
    hidden = False
    for value in values:
        text = "" if value is None else str(value).strip()
        if text and is_obfuscated(text):
            hidden = True
        elif text:
            return text
    return OBFUSCATED if hidden else ""


def flag(value: Any) -> bool | None:
    """A boolean field sent as JSON true/false or as the strings "true"/"false"."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).strip().casefold())


def texts(value: Any) -> list[str]:
    """A list field sent as a JSON list, or as one string with commas or semicolons between items."""
    items = value if isinstance(value, list) else re.split(r"[;,]", value) if isinstance(value, str) else []
    return [str(item).strip() for item in items if str(item).strip()]


def _with_reasons(what: str, reasons: Any) -> str:
    listed = texts(reasons)
    return f"{what}: {', '.join(listed)}" if listed else what


EVENTS_NOT_AVAILABLE = (
    "Events are not available for Ivanti EPMM connections: the EPMM V2 API gives this API user no event, "
    "audit or log source to read, so there is no timeline for this console."
)
"""What the timeline and `epx events` say for an EPMM connection (issue 6)."""
