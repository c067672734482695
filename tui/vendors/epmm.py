"""Ivanti EPMM (formerly MobileIron Core) through its V2 REST API (../shared/vendor-apis/epmm.md).

Authentication: HTTP Basic on every call; there is no token and no session (JSESSIONID and CSRF_NONCE
are only for multipart writes before 11.1). Paths are `/api/v2/...`, or `/rest/api/v2/...` on
Connected Cloud (`connection.connected_cloud`). Calls scoped to a device space send
`adminDeviceSpaceId = connection.device_space_id`.

Probe: EPMM has no unauthenticated call, so `probe` sends `GET ping` without credentials. The expected
401 proves that an API asking for Basic credentials answers at that path (version not disclosed); a server
that answers the ping anyway reports its `vspVersion`. `check_login` sends the same ping with credentials.

Groups: two trees, "Device spaces" (`device_spaces/mine`, flat) and "Labels" (`labels/label_summary`;
label ids may be negative: All-Smartphones is -1), with ids "space:<id>" and "label:<id>". A device's
`group` is its device space (`common.device_space_name`).

Labels: no device record names its labels (no such field exists), so membership is learned one label at
a time: `devices(DeviceQuery(group_id="label:<id>"))` searches with `labelId=<id>` and each device it yields
carries `labels == ("Labels\\<name>",)`; `label_devices` does that for several labels, at most
`page_concurrency` label searches in flight. The whole-fleet listing (`query=""`) yields `labels == ()`.
A device space is searched with the query `common.device_space_name = "<name>"`. The device search
needs `query` or `labelId`; this client always sends one.

Devices: the V2 device search, asking for the fields of `DEVICE_FIELDS` that `devices/search_fields`
offers (a real console answers 400 to any other), 200 a page (the label call's documented maximum; the
device search's is not documented). The first page tells `totalCount`; the rest are fetched
`page_concurrency` at a time by `offset` and yielded in order.

Name: `ios.DeviceName` (the name its owner gave an iPhone or iPad). EPMM has no device name for other
platforms, so an Android (or Windows, macOS) device is shown as its model and the last six characters of its
uuid, "Pixel 9 (99a1cf)": the uuid is never obfuscated and tells apart a fleet of one model, where the serial
number would be hidden from a GDPR user.

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
ICCID, IMSI and MEID. Such values (EPMM sends "*****"; runs of "***", "XXXX" and the word "obfuscated"
are recognised too) are shown as "(obfuscated)", never treated as errors; an empty value stays empty.

Events: EPMM's audit log, exported in three calls (`logs/audit_logs_export`, then
`logs/audit_logs_export_status` every `EXPORT_POLL_S` until done, at most `EXPORT_POLLS` times, then
`logs/audit_logs_csv`). The window goes as `actionStart`/`actionEnd` in epoch ms and a device as `subject`
(its uuid); the rest is filtered here. The CSV is read by its header row (`AUDIT_COLUMNS` lists the
spellings accepted per meaning); each row is an event of engine = its action type, category "audit",
source "audit-logs", its row kept as `raw`. Severity: a failed wipe, retire or lock is critical (the
device the responder meant to stop is still out there); any other failure, and a wipe, retire or lock that
succeeded or was initiated, is a warning; everything else is info. A user without the role "View logs and
events" (Logs and Events Management) gets 403, said as `NotAvailableError(scope="user")`.

Shapes the fact sheet marks uncertain are read tolerantly: booleans as JSON or "true"/"false",
timestamps as ISO 8601 or epoch milliseconds, reasons as lists or strings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import functools
import hashlib
import io
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from tui.models import (
    PRODUCTS,
    Device,
    DevicePage,
    DeviceQuery,
    Event,
    EventPage,
    EventWindow,
    Group,
    Health,
    RawPage,
    ServerInfo,
    Severity,
    visible,
)
from tui.respond import ActionResult
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    ForbiddenError,
    Int64,
    NotAvailableError,
    PagingGuard,
    VendorClient,
    VendorError,
    epoch_or_rfc3339,
    loose_items,
    ordered_pages,
    requested_action,
    respond_in_calls,
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
    "common.uuid", "common.id", "common.device_space_name", "common.platform", "common.os_version",
    "common.model", "common.status", "common.compliant", "common.noncompliance_reasons", "common.quarantined",
    "common.quarantined_reasons", "common.security_state", "common.device_is_compromised", "common.owner",
    "common.last_connected_at", "common.registration_date", "common.ip_address", "ios.DeviceName",
    "user.display_name", "user.user_id", "user.email_address",
)
"""What the device search is asked for (those of them `search_fields` offers): real field names only."""
EXPORT_POLLS = 60
EXPORT_POLL_S = 1.0
"""The audit-log export is polled every second for at most a minute, then given up in words."""
MESSAGE_TARGETS_MAX = 50
"""Devices one message call names: no source gives EPMM's limit (the XSOAR integration sends one), so ours."""
ACTION_NOTE = "Sent by Endpoint Explorer"
"""The `note` EPMM keeps with an action, as the XSOAR integration sends one."""
AUDIT_SOURCE = "audit-logs"
EVENTS_PAGE = 500
"""Audit rows per `EventPage`."""
AUDIT_COLUMNS = {
    "time": ("date", "time", "timestamp", "action time", "performed at", "requested at", "created at",
             "action date", "date/time"),
    "action": ("action type", "action", "user action", "action name", "event", "operation"),
    "status": ("status", "result", "action status"),
    "subject": ("subject", "device uuid", "uuid", "device id", "subject id", "object id"),
    "subject_name": ("subject name", "device name", "device", "object name", "target", "name"),
    "admin": ("requested by", "admin", "administrator", "user", "performed by", "admin user", "actor"),
    "reason": ("reason", "details", "message", "description", "comment"),
}
"""Header spellings accepted per meaning (compared without case, spaces and underscores alike): the CSV's
columns are not documented. Columns not listed stay in the row kept as the event's `raw`."""
_DONE = {"completed", "complete", "done", "finished", "success", "succeeded", "ready", "available"}
_FAILED = {"failed", "failure", "error", "cancelled", "canceled", "aborted"}
_STOPPING = ("wipe", "retire", "lock")

_HINTS: dict[int | None, str] = {
    400: "EPMM rejected the request's parameters; check the device space id of this connection.",
    401: "Check the user name and password, and that the user holds the API role in this device space.",
    404: "Check the URL and the Connected Cloud setting (Connected Cloud paths start with /rest).",
    405: "EPMM takes another HTTP method on this path; check the URL and the Connected Cloud setting.",
}
"""What to do about the status codes the V2 API documents, in place of the generic hints."""

_COMPROMISED = {"ios": "jailbroken", "android": "rooted"}
R = TypeVar("R")


def _named(key: str) -> Any:
    """An optional field of the device search's record, by its dotted name."""
    return msgspec.field(default=None, name=key)


class SearchedDevice(msgspec.Struct, gc=False):
    """A device search result, only the fields `record_to_device` reads, typed as a clean page sends them: the
    fact sheet's JSON booleans (or "true"/"false"), ISO times or epoch milliseconds, reasons as a list or a
    string. One of another shape comes from `loose_device`, unchecked: the mapping reads every field as
    defensively as it did from dicts."""

    uuid: str | None = _named("common.uuid")
    id: Int64 | str | None = _named("common.id")
    space: str | None = _named("common.device_space_name")
    platform: str | None = _named("common.platform")
    os_version: str | None = _named("common.os_version")
    model: str | None = _named("common.model")
    status: str | None = _named("common.status")
    compliant: bool | str | None = _named("common.compliant")
    noncompliance_reasons: list[str] | str | None = _named("common.noncompliance_reasons")
    quarantined: bool | str | None = _named("common.quarantined")
    quarantined_reasons: list[str] | str | None = _named("common.quarantined_reasons")
    security_state: str | None = _named("common.security_state")
    compromised: bool | str | None = _named("common.device_is_compromised")
    last_connected_at: Int64 | str | None = _named("common.last_connected_at")
    ip_address: str | None = _named("common.ip_address")
    device_name: str | None = _named("ios.DeviceName")
    display_name: str | None = _named("user.display_name")
    user_id: str | None = _named("user.user_id")


class EpmmPage(msgspec.Struct, Generic[R]):
    """A V2 list page: its records and what paging reads."""

    results: list[R]
    totalCount: Int64 | None = None
    hasMore: bool | None = None


_DEVICE_PAGES = msgspec.json.Decoder(EpmmPage[SearchedDevice])
_DEVICE_KEYS = {field.encode_name: field.name for field in msgspec.structs.fields(SearchedDevice)}


def loose_device(record: dict[str, Any]) -> SearchedDevice:
    """A device record decoded any other way, its fields as they came (`VendorClient.parse_typed_page`)."""
    return SearchedDevice(**{name: record.get(key) for key, name in _DEVICE_KEYS.items()})


def loose_page(page: Any, record: Callable[[dict[str, Any]], Any] = lambda item: item) -> EpmmPage[Any] | None:
    """A page decoded any other way, its objects made `record`s (other items stay, for the caller to skip);
    None when it is no page object."""
    items = loose_items(page, "results", record)
    return None if items is None else EpmmPage(items, page.get("totalCount"), page.get("hasMore"))


class EpmmClient(VendorClient):
    vendor = "epmm"
    product = PRODUCTS[vendor]

    _space_ids: dict[str, str] | None = None
    """Device space name to id, learned once: a device record names its space, a group needs the id."""
    _label_names: dict[str, str] | None = None
    """Label id (text) to name, from label_summary: a label search's devices carry the label's path."""
    _label_counts: dict[str, int] = {}
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

    def offered_actions(self) -> tuple[str, ...]:
        """Only the message: no public source shows an EPMM isolation, quarantine or scan call."""
        return ("message",)

    async def respond(self, action: str, devices: Sequence[Device], message: str = "") -> list[ActionResult]:
        """`POST /api/v2/devices/action?actionType=SEND_MESSAGE` (a push notification), answered with a message
        key per device in `deviceResults` ("...action.successful" when sent) [XSOAR MobileIronCORE.py]."""
        spec = requested_action(self, action, message, len(devices))
        what = f"{spec.verb} {len(devices)} device{'s' if len(devices) != 1 else ''}"
        self.ensure_writable(what)

        async def send(chunk: Sequence[Device]) -> list[ActionResult]:
            body = {"deviceUuids": [device.id for device in chunk], "note": ACTION_NOTE,
                    "additionalParameters": {"message": message, "mode": "pns", "subject": ""}}
            params = {"adminDeviceSpaceId": self.connection.device_space_id, "actionType": "SEND_MESSAGE"}
            try:
                response = await self.request("POST", self._root + "/devices/action", params=params, json=body,
                                              auth=self._auth)
            except VendorError as error:
                error.hint = _HINTS.get(error.status, error.hint)
                raise
            return device_results(self.parse_json(response), chunk, self._where())

        return await respond_in_calls(devices, MESSAGE_TARGETS_MAX, send)

    async def follow_response(self, action: str, results: Sequence[ActionResult]) -> AsyncIterator[list[ActionResult]]:
        """EPMM tells nothing after sending (no public source shows a delivery status): nothing to follow."""
        return
        yield

    async def _page(self, path: str, params: dict[str, Any], offset: int,
                    read: Callable[[httpx.Response], tuple[EpmmPage[Any] | None, RawPage]]) -> tuple[EpmmPage[Any], RawPage]:
        return self._read_page(path, await self._page_response(path, params, offset), read)

    async def _page_response(self, path: str, params: dict[str, Any], offset: int) -> httpx.Response:
        return await self._response(path, {**params, "limit": PAGE_SIZE, "offset": offset})

    def _read_page(self, path: str, response: httpx.Response,
                   read: Callable[[httpx.Response], tuple[EpmmPage[Any] | None, RawPage]]) -> tuple[EpmmPage[Any], RawPage]:
        page, raw = read(response)
        if page is None:
            raise BadResponseError(f"{self._where()} sent a page of {self._root}{path} without `results`.")
        return page, raw

    def _read_records(self, response: httpx.Response) -> tuple[EpmmPage[Any] | None, RawPage]:
        page, raw = self.parse_page(response, "results")
        return loose_page(page), raw

    def _read_devices(self, response: httpx.Response) -> tuple[EpmmPage[Any] | None, RawPage]:
        return self.parse_typed_page(response, _DEVICE_PAGES, "results", lambda page: loose_page(page, loose_device))

    async def _pages(
        self, path: str, params: dict[str, Any],
        read: Callable[[httpx.Response], tuple[EpmmPage[Any] | None, RawPage]], concurrency: int | None = None,
    ) -> AsyncIterator[tuple[EpmmPage[Any], RawPage]]:
        """Every page of a V2 list (`limit`, `offset`), each `read` from its response.

        The first page tells `totalCount`; the rest are fetched `concurrency` (default `page_concurrency`) at a
        time and yielded in order, each read when its turn comes rather than in its request's place
        (`ordered_pages`), so that reading one page does not hold up the next request; up to the first empty one (a count larger than the list must not mean endless
        requests). A server that returns fewer results than asked sets the stride, so no device is skipped.
        Without a `totalCount`, pages are read one by one while `hasMore`. A page that repeats the previous one
        is a bad response, and the listing ends at the stated total (`PagingGuard`).
        """
        first, raw = await self._page(path, params, 0, read)
        step = len(first.results)
        total = first.totalCount
        guard = PagingGuard(self._where(), self._root + path, total if isinstance(total, int) else None, step,
                            id_keys=("common.uuid", "id"))  # a device's, a space's or label's
        guard.check(first.results)
        yield first, raw
        if not step or guard.complete:
            return
        if isinstance(total, int):
            fetch = lambda offset: self._page_response(path, params, offset)  # noqa: E731
            # closed on the way out, so a page that fails to read cancels the requests still in flight at once
            async with contextlib.aclosing(ordered_pages(fetch, range(step, total, step),
                                                         concurrency or self.page_concurrency)) as responses:
                async for response in responses:
                    page, raw = self._read_page(path, response, read)
                    guard.check(page.results)
                    yield page, raw
                    if not page.results or guard.complete:
                        return
            return
        page, offset = first, 0
        while page.hasMore is True and page.results:
            offset += step
            page, raw = await self._page(path, params, offset, read)
            guard.check(page.results)
            yield page, raw

    async def _collect(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        pages = self._pages(path, params, self._read_records)
        return [item async for page, _ in pages for item in page.results if isinstance(item, dict)]

    def _space_param(self) -> dict[str, Any]:
        return {"adminDeviceSpaceId": self.connection.device_space_id}

    async def _device_spaces(self) -> list[dict[str, Any]]:
        spaces = await self._collect("/device_spaces/mine", {})
        self._space_ids = {str(space.get("name")): str(space.get("id")) for space in spaces}
        return spaces

    async def _labels(self) -> list[dict[str, Any]]:
        labels = await self._collect("/labels/label_summary", self._space_param())
        self._label_names = {str(label.get("id")): str(label.get("name") or label.get("id")) for label in labels}
        self._label_counts = {str(label.get("id")): count for label in labels
                              if isinstance(count := label.get("deviceCount"), int)}
        return labels

    async def groups(self) -> list[Group]:
        spaces = await self._device_spaces()
        return groups_from_records(spaces, await self._labels())

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
        """The search parameters for a label (`labelId`), a device space (a query on its name) or
        everything (an empty query: the search needs `query` or `labelId`)."""
        kind, _, key = (group_id or "").partition(":")
        if kind == "label" and key:
            return {"labelId": key}
        if kind == "space":
            name = next((name for name, space_id in (self._space_ids or {}).items() if space_id == key), None)
            if name is not None:
                quoted = name.replace("\\", "\\\\").replace('"', '\\"')
                return {"query": f'common.device_space_name = "{quoted}"'}
        return {"query": ""}

    async def _search(self, group_id: str | None, concurrency: int) -> AsyncIterator[DevicePage]:
        """One device search, page by page; a label search's devices carry that label's path."""
        if self._space_ids is None:
            await self._device_spaces()
        params = {**self._space_param(), "fields": ",".join(await self._device_fields())}
        params.update(self._group_filter(group_id))
        labels: tuple[str, ...] = ()
        if "labelId" in params:
            if self._label_names is None or params["labelId"] not in self._label_names:
                await self._labels()
            labels = (f"{LABELS}\\{(self._label_names or {}).get(params['labelId'], params['labelId'])}",)
        now = self.clock()
        loaded = 0
        async for page, raw in self._pages("/devices", params, self._read_devices, concurrency):
            devices = [
                record_to_device(record, self.connection.name, self._space_ids or {}, now, raw, index, labels)
                for index, record in enumerate(page.results)
                if isinstance(record, SearchedDevice)
            ]
            loaded += len(devices)
            total = page.totalCount
            yield DevicePage(devices, loaded, total if isinstance(total, int) else None,
                             skipped=len(page.results) - len(devices))

    async def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """The device search; a label or device space in `query.group_id` is filtered on the server."""
        async for page in self._search(query.group_id, self.page_concurrency):
            yield page

    def label_ids(self, group_id: str) -> list[str]:
        """The labels `group_id` stands for (`LabelMembership`): itself, or every label for the Labels root."""
        if group_id == "labels":
            return [f"label:{label_id}" for label_id in self._label_names or {}]
        return [group_id] if group_id.startswith("label:") else []

    async def label_devices(self, group_ids: Sequence[str]) -> AsyncIterator[DevicePage]:
        """The devices of several labels ("label:<id>"), each carrying the label it was found in.

        At most `page_concurrency` label searches run at once, each reading its pages one after another, so
        no more requests are in flight than for one listing. Pages are yielded as they arrive, `loaded`
        counting across labels; `total` is the labels' summed `deviceCount` when label_summary gave them all.
        A failure of one search cancels the others and is raised.
        """
        wanted = list(dict.fromkeys(group_ids))
        if not wanted:
            return
        if self._label_names is None:
            await self._labels()
        counts = [self._label_counts.get(group_id.partition(":")[2]) for group_id in wanted]
        known = [count for count in counts if count is not None]
        total = sum(known) if len(known) == len(counts) else None
        queue: asyncio.Queue[DevicePage | BaseException | None] = asyncio.Queue(maxsize=self.page_concurrency)

        async def search(group_id: str) -> None:
            try:
                async for page in self._search(group_id, 1):
                    await queue.put(page)
            except Exception as error:  # handed to the reader, which raises it
                await queue.put(error)
            else:
                await queue.put(None)

        pending = iter(wanted)
        tasks: list[asyncio.Future[None]] = []

        def start_next() -> bool:
            group_id = next(pending, None)
            if group_id is not None:
                tasks.append(asyncio.ensure_future(search(group_id)))
            return group_id is not None

        active = sum(start_next() for _ in range(self.page_concurrency))
        loaded = 0
        try:
            while active:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    active += start_next() - 1
                    continue
                loaded += len(item.devices)
                yield DevicePage(item.devices, loaded, total, item.skipped, item.repaired)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        """The audit log of `window` (module docstring): export, poll, download, then map row by row."""
        params: dict[str, Any] = self._space_param()
        if window.start is not None:
            params["actionStart"] = _epoch_ms(window.start)
        if window.end is not None:
            params["actionEnd"] = _epoch_ms(window.end)
        if window.device_id:
            params["subject"] = window.device_id
        try:
            started = await self._get("/logs/audit_logs_export", params)
            ticket = _export_ticket(started)
            for _ in range(EXPORT_POLLS):
                state = _export_state(await self._get("/logs/audit_logs_export_status", {**params, **ticket}))
                if state == "done":
                    break
                if state == "failed":
                    raise VendorError(f"{self._where()} reported that the audit-log export failed.")
                await self.sleep(EXPORT_POLL_S)
            else:
                raise VendorError(
                    f"{self._where()} did not finish the audit-log export within "
                    f"{EXPORT_POLLS * EXPORT_POLL_S:g} s; try a shorter window.", retryable=True)
            response = await self._response("/logs/audit_logs_csv", {**params, **ticket})
        except ForbiddenError:
            raise NotAvailableError(
                f"Audit logs are not available to this API user on {self.connection.name}: EPMM requires the "
                'role "View logs and events" (Logs and Events Management).', scope="user", status=403) from None
        if "html" in response.headers.get("content-type", ""):
            self.parse_json(response)  # raises the HTML page as a bad response
        rows = self._audit_rows(response.content.decode("utf-8-sig", errors="replace"))
        loaded = 0
        for start in range(0, max(len(rows), 1), EVENTS_PAGE):
            chunk = rows[start:start + EVENTS_PAGE]
            raw = RawPage.of(chunk)
            events = [audit_event(row, self.connection.name, raw, index) for index, row in enumerate(chunk)]
            kept = [event for event in events if event is not None and window.matches(event)]
            loaded += len(kept)
            yield EventPage(kept, loaded, len(rows), source=AUDIT_SOURCE,
                            skipped=sum(event is None for event in events))


    def _audit_rows(self, text: str) -> list[dict[str, str]]:
        """The audit CSV's rows by its header. A header with neither a time nor an action column, or a row
        with another number of cells than the header (a body cut short, or not this CSV at all), is a bad
        response: an empty timeline would say that nothing happened."""
        table = [row for row in csv.reader(io.StringIO(text)) if row]
        if not table:
            return []
        header, rows = table[0], table[1:]
        known = {_header(spelling) for meaning in ("time", "action") for spelling in AUDIT_COLUMNS[meaning]}
        if not known & {_header(name) for name in header}:
            raise BadResponseError(f"{self._where()} sent a malformed or truncated audit log: no time or action "
                                   f"column; its first line reads {visible(','.join(header))[:80]!r}.")
        short = next((row for row in rows if len(row) != len(header)), None)
        if short is not None:
            raise BadResponseError(f"{self._where()} sent a malformed or truncated audit log: a row of {len(short)} "
                                   f"cells under {len(header)} columns.")
        return [dict(zip(header, row)) for row in rows]


def device_results(body: Any, devices: Sequence[Device], where: str) -> list[ActionResult]:
    """One result per device from `{"deviceResults": {uuid: message key}, "successful"}`: a key ending in
    "successful" is sent, any other refused with the key in words; a device the answer leaves out is refused."""
    answers = body.get("deviceResults") if isinstance(body, dict) else None
    if not isinstance(answers, dict):
        raise BadResponseError(f"{where} answered the action without a result per device.")
    results = []
    for device in devices:
        key = str(answers.get(device.id) or "")
        if key.endswith(".successful"):
            results.append(ActionResult(device.id, device.name, True, progress="sent", final=True))
        else:
            reason = message_key_words(key) if key else "the console did not answer for this device"
            results.append(ActionResult(device.id, device.name, False, reason, final=True, succeeded=False))
    return results


def message_key_words(key: str) -> str:
    """"com.mobileiron.vsp.messages.device.action.failed" as "device action failed"."""
    return " ".join(key.rpartition("messages.")[2].replace("_", " ").split(".")) or key


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
    record: SearchedDevice | dict[str, Any],
    connection: str,
    space_ids: dict[str, str],
    now: datetime,
    raw: RawPage | None = None,
    index: int = 0,
    labels: tuple[str, ...] = (),
) -> Device:
    """Map one device search result onto a `Device`, deciding health and patch state (module docstring).

    The record is `raw`'s record number `index`; without a page, a record given as a dict is kept as it is.
    `labels` are the label paths the search that found it stands for (a record never names its labels).
    """
    if isinstance(record, dict):
        raw, index = (raw, index) if raw is not None else (RawPage.of([record]), 0)
        record = loose_device(record)
    platform = str(record.platform or "").strip()
    space = str(record.space or "").strip()
    ip_address = shown(record.ip_address)
    last_seen = epoch_or_rfc3339(record.last_connected_at)
    health, reasons, missing = _assess(record, now, last_seen)
    device_id = str(record.uuid or record.id or "")
    return Device(
        vendor="epmm",
        connection=connection,
        id=device_id,
        name=device_name(record, device_id),
        os=f"{platform} {shown(record.os_version)}".strip(),
        ip_addresses=(ip_address,) if ip_address and ip_address != OBFUSCATED else (),
        group_id=f"space:{space_ids[space]}" if space in space_ids else None,
        group=f"{SPACES}\\{space}" if space else "",
        online=None if last_seen is None else now - last_seen <= ONLINE_WITHIN,
        health=health,
        health_reasons=reasons,
        missing_critical_patches=missing,
        last_seen=last_seen,
        user=shown(record.display_name, record.user_id),
        labels=labels,
        # A retired or wiped device's quarantine is history, like the rest of what it last reported.
        state="quarantined" if flag(record.quarantined) and health is not Health.UNKNOWN else "",
        raw_page=raw if raw is not None else RawPage.of([msgspec.to_builtins(record)]),
        raw_index=index,
    )


def device_name(record: SearchedDevice, device_id: str) -> str:
    """`ios.DeviceName`; otherwise the model and the uuid's last six characters (module docstring)."""
    name = shown(record.device_name)
    if name:
        return name
    model = shown(record.model)
    tail = device_id[-6:]
    return f"{model} ({tail})" if model and tail else model or device_id


def assess(record: SearchedDevice | dict[str, Any], now: datetime) -> tuple[Health, tuple[str, ...], bool | None]:
    """Health, the reasons for it, and the missing-patch state of one device record."""
    if isinstance(record, dict):
        record = loose_device(record)
    return _assess(record, now, epoch_or_rfc3339(record.last_connected_at))


def _assess(record: SearchedDevice, now: datetime,
            last_seen: datetime | None) -> tuple[Health, tuple[str, ...], bool | None]:
    """`assess`, the record's check-in time `last_seen` read once by `record_to_device`, which shows it too."""
    status = str(record.status or "").strip().upper()
    if status in ("RETIRED", "WIPED"):
        return Health.UNKNOWN, (status.lower(),), None
    platform = str(record.platform or "").strip()
    version = str(record.os_version or "").strip()
    compliant = flag(record.compliant)
    quarantined = flag(record.quarantined)
    security_state = str(record.security_state or "").strip()

    critical: list[str] = []
    if security_state.casefold() == "compromised" or flag(record.compromised):
        critical.append(f"compromised ({_COMPROMISED.get(platform.casefold(), 'jailbroken or rooted')})")
    if quarantined:
        critical.append(_with_reasons("quarantined", record.quarantined_reasons))
    if compliant is False:
        critical.append(_with_reasons("non-compliant", record.noncompliance_reasons))

    warning: list[str] = []
    missing = os_unsupported(platform, version)
    if missing:
        warning.append(f"{platform} {version} no longer gets security fixes")
    if status and status != "ACTIVE":
        warning.append(f"status {status.lower()}")
    if last_seen is not None and now - last_seen > STALE_AFTER:
        warning.append(f"no check-in for {(now - last_seen).days} days")

    if critical:
        return Health.CRITICAL, tuple(critical + warning), missing
    if warning:
        return Health.WARNING, tuple(warning), missing
    if compliant is not None or quarantined is not None or security_state:
        return Health.OK, (), missing
    return Health.UNKNOWN, (), missing


# A fleet shares a handful of platforms and OS versions: decide each pair once (page mapping is a hot path).
@functools.lru_cache(maxsize=4096)
def os_unsupported(platform: str, version: str) -> bool | None:
    """Whether `version` is below the platform's `OS_BASELINES` entry; None when either is unknown."""
    baseline = OS_BASELINES.get(platform.strip().casefold())
    match = _VERSION.match(version.strip())
    if baseline is None or match is None:
        return None
    try:
        return tuple(int(part) for part in match.group().split(".")) < baseline
    except ValueError:  # more digits than int() converts: no release is numbered so
        return None


def is_obfuscated(text: str) -> bool:
    """A value a GDPR profile hid: "********", "an***@x.com", "XXXXXXXX", "(obfuscated)" and the like."""
    return "***" in text or (text[:1] in _OBFUSCATED_FIRST and bool(_OBFUSCATED_TEXT.fullmatch(text)))


_VERSION = re.compile(r"\d+(?:\.\d+)*")
_OBFUSCATED_TEXT = re.compile(r"[xX#•]{4,}|[(<\[]?obfuscated[)>\]]?", re.IGNORECASE)
_OBFUSCATED_FIRST = frozenset("xX#•(<[oO")
"""The characters `_OBFUSCATED_TEXT` can start with (checked over every code point): a name starting with any
other is shown without running the pattern, as nearly every name on a page is."""


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
    return _FLAGS.get(str(value).strip().casefold())


_FLAGS = {"true": True, "false": False}


def texts(value: Any) -> list[str]:
    """A list field sent as a JSON list, or as one string with commas or semicolons between items."""
    items = value if isinstance(value, list) else re.split(r"[;,]", value) if isinstance(value, str) else []
    return [str(item).strip() for item in items if str(item).strip()]


def _with_reasons(what: str, reasons: Any) -> str:
    listed = texts(reasons)
    return f"{what}: {', '.join(listed)}" if listed else what



def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _export_ticket(body: Any) -> dict[str, str]:
    """What names the export for the status and CSV calls: an id-like key of `results` (or of the body),
    sent back under the same name; nothing when the console keeps one export per admin (undocumented)."""
    results = body.get("results") if isinstance(body, dict) else None
    for holder in (results, body):
        if isinstance(holder, dict):
            for key in ("requestId", "exportId", "id", "taskId", "jobId"):
                if isinstance(holder.get(key), (str, int)) and not isinstance(holder.get(key), bool):
                    return {key: str(holder[key])}
    return {}


def _export_state(body: Any) -> str:
    """"done", "failed" or "running" from a status answer (its shape is undocumented)."""
    results = body.get("results") if isinstance(body, dict) else None
    holder = results if isinstance(results, dict) else body if isinstance(body, dict) else {}
    status = holder.get("status", holder.get("state"))
    if isinstance(status, bool):
        return "done" if status else "running"
    text = str(status or "").strip().casefold().replace(" ", "_")
    if text in _DONE:
        return "done"
    return "failed" if text in _FAILED else "running"


def _column(row: dict[str, Any], meaning: str) -> str:
    """The row's value for one meaning of `AUDIT_COLUMNS`, by the first header spelling present."""
    keys = {_header(key): key for key in row if isinstance(key, str)}
    for spelling in AUDIT_COLUMNS[meaning]:
        key = keys.get(_header(spelling))
        if key is not None and row[key] not in (None, ""):
            return str(row[key]).strip()
    return ""


def _header(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().casefold())


def audit_time(text: str) -> datetime | None:
    """An audit row's time: ISO 8601 (a space for the T, no zone means UTC) or epoch milliseconds."""
    text = text.strip()
    if re.fullmatch(r"\d{11,14}", text):
        return epoch_or_rfc3339(int(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").removesuffix(" UTC"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def audit_severity(action: str, status: str) -> Severity:
    """The module docstring's rule: failed stops are critical, failures and stops warnings, the rest info."""
    stopping = any(word in action.casefold() for word in _STOPPING)
    failed = status.strip().casefold() == "failed"
    if failed and stopping:
        return Severity.CRITICAL
    return Severity.WARNING if failed or stopping else Severity.INFO


def audit_event(row: dict[str, Any], connection: str, raw: RawPage | None = None, index: int = 0) -> Event | None:
    """One CSV row of the audit log as an `Event`; None when it has no readable time."""
    moment = audit_time(_column(row, "time"))
    if moment is None:
        return None
    action, status = _column(row, "action"), _column(row, "status")
    subject, name = _column(row, "subject"), _column(row, "subject_name")
    admin, reason = _column(row, "admin"), _column(row, "reason")
    digest = hashlib.sha1(repr(sorted((str(key), str(value)) for key, value in row.items())).encode()).hexdigest()
    title = f"{action or 'Action'} ({status.lower()})" if status else action or "Action"
    message = " ".join(part for part in (f"by {admin}." if admin else "", reason) if part)
    return Event(
        vendor="epmm",
        connection=connection,
        id=digest[:16],
        time=moment,
        severity=audit_severity(action, status),
        engine=action,
        title=title + (f" on {name}" if name else ""),
        message=message,
        category="audit",
        device_id=subject or None,
        device_name=name or None,
        source=AUDIT_SOURCE,
        raw_page=raw if raw is not None else RawPage.of([row]),
        raw_index=index,
    )
