"""WithSecure Elements (the Elements API, https://api.connect.withsecure.com).

Authentication: OAuth2 client credentials. The connection's user name is the client id and its secret the
client secret; `POST /as/token.oauth2` with them in a Basic header and the form body
`grant_type=client_credentials&scope=connect.api.read` (`connect.api.read connect.api.write` on a connection
with `read_only = false`). The bearer token is reused until `expires_in` less a margin, and fetched again once
when a call answers 401 (then the call is replayed once; a second 401 is a real authentication failure).

Group tree: the organizations the credentials see. Partner credentials see the partner and its companies:
the partner is the root (found by whoami's `organizationId`) and each company a child, path (partner,
company). Company credentials see one node. Were the partner not listed, its companies stand as roots.

Devices: `GET /devices/v1/devices`, anchor paging (`limit` 200, `nextAnchor` until absent), one
organization after another: the selected company, or every company under the selected (or own) partner
(`organizationId`); the credentials' own company is asked for without it, as in the seed. The critical and
missing-patch filters go to the server (`protectionStatusOverview=critical`,
`patchOverallState=missingCriticalUpdates`). Anchors are sequential, so instead of parallel pages the
request for the next page is on the wire before the current page is parsed, mapped and handed on: its
anchor is read from the end of the body's bytes, and checked against the parsed page.

Items that are no device (`{}`, or no `id`: the API sends such now and then [SEKOIA]) are left out and
counted in `DevicePage.skipped`.

Health (`Device.health`) from `protectionStatusOverview` (isolated, inactive, critical, warning, allOk):
critical -> critical; warning -> warning; allOk -> ok; isolated -> warning with `Device.state` "isolated" (a
response action cut it off the network; release it once it is clean); inactive -> unknown with `state`
"inactive" (it stopped reporting, so its protection is not known); anything else or absent -> unknown. The
reasons name the overview and, when they say so, `malwareState` or `firewallState` "disabled". A device
`state` of "blocked" (its seat freed; it sends nothing) is `Device.state` "blocked" too.

Missing critical patches from `patchOverallState`: missingCriticalUpdates -> true; missingImportantUpdates and
importantUpdatesInstalled -> false (nothing critical is missing); notScannedYet, outdatedScanResults and
disabled -> null, with a health reason saying why it is not known; any other value or absent (mobiles,
connectors) -> null.

Other fields: group = the device's `company` organization path, os = `os.name` and `os.version`, ip
addresses from `ipAddresses` (a comma-separated string, or a list; prefix lengths dropped), user =
`lastUser`, last seen = `statusUpdateTimestamp`. Timestamps are RFC 3339 with any offset and fraction,
returned as UTC.

Errors: the API's `{message, code, transactionId, details}` (the sentence names what `details` says, such as
the invalid parameter and its value, and the transaction) and OAuth2's `{error, error_description}` from the
token endpoint; the `x-transaction` header of a failed response is quoted too, since WithSecure support asks
for it.

Text that is not UTF-8, or holds NUL bytes (a real console sends such [SEKOIA]), does not lose the page: the
page is decoded leniently (invalid bytes become U+FFFD, NULs are dropped) and the items so repaired are
counted in `DevicePage.repaired` / `EventPage.repaired`.

Security events: `POST /security-events/v1/security-events` with a form body and a time window, anchor paged
(`ElementsClient.events`); each item is mapped by `security_event`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
import msgspec
import orjson

from tui.models import (
    PRODUCTS,
    Connection,
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
    json_loads,
)
from tui.respond import ActionResult
from tui.vendors.base import (
    MAX_ATTEMPTS,
    RETRY_AFTER_CAP_S,
    AuthenticationError,
    BadResponseError,
    BearerTokenClient,
    ForbiddenError,
    NotAvailableError,
    PagingGuard,
    RateLimitedError,
    VendorError,
    epoch_ms,
    loose_items,
    requested_action,
    respond_in_calls,
    rfc3339,
    token_lifetime,
)
from tui.vendors.html_text import one_line, plain_text

DEFAULT_URL = "https://api.connect.withsecure.com"
TOKEN_PATH = "/as/token.oauth2"
WHOAMI_PATH = "/whoami/v1/whoami"
ORGANIZATIONS_PATH = "/organizations/v1/organizations"
DEVICES_PATH = "/devices/v1/devices"
READ_SCOPE = "connect.api.read"
WRITE_SCOPE = "connect.api.write"
PAGE_LIMIT = 200
OPERATIONS_PATH = "/devices/v1/operations"
OPERATION_TARGETS_MAX = 5
"""Targets one operation call takes [MCP OPERATION_TARGETS_MAX][XSIAM README]."""
OPERATIONS = {"isolate": "isolateFromNetwork", "release": "releaseFromNetworkIsolation", "scan": "scanForMalware",
              "message": "showMessage"}
"""Our action names and the documented operations behind them (fact sheet 6.1)."""
OPERATION_ACCEPTED = 202
"""A target's `multistatus` status when its operation was queued; anything else failed for that device."""
FOLLOWED = {"isolate": True, "release": False}
"""The actions a device record shows the outcome of: isolated (`protectionStatusOverview`) or not; the others
are followed through the device's operation history."""
OPERATION_FAILED = {"failed": "the operation failed", "internalError": "internal error on the console",
                    "unknownError": "unknown error"}
"""Final failed `status` values of an operation [XSIAM README]; `pending`, `ongoing` and `finished` are the rest."""
FOLLOW_ROUNDS = 12
DEVICE_READS_PER_MINUTE = 150
"""Half the 300 requests a minute the devices endpoints allow [LC]: following leaves room for the rest."""
WRITE_SCOPE_HINT = ("Elements lets an API client act on devices only when it was created read-write (scope "
                    "connect.api.write): create a read-write API client in Elements Security Center (Management, "
                    "Organization Settings, API clients) and use its credentials; a client's scope cannot be "
                    "changed later. A 403 can also mean the subscription lacks the feature.")
CREDENTIALS_HINT = "Check the client id (user name) and client secret of this connection."

_HEALTH = {"critical": Health.CRITICAL, "warning": Health.WARNING, "allOk": Health.OK, "isolated": Health.WARNING,
           "inactive": Health.UNKNOWN}
_STATE_REASONS = {
    "isolated": "isolated from the network (a response action cut it off; release it when clean)",
    "inactive": "inactive: the device stopped reporting, so its protection is not known",
    "blocked": "blocked: its seat was freed and it sends no data",
}
"""`Device.state` values and the health reason each one gives."""
_MISSING_CRITICAL = {"missingCriticalUpdates": True, "missingImportantUpdates": False, "importantUpdatesInstalled": False}
_PATCH_UNKNOWN = {
    "notScannedYet": "patches not scanned yet",
    "outdatedScanResults": "patch scan results are outdated",
    "disabled": "software updates are turned off",
}
"""The patch states that leave missing critical patches unknown, and the reason each one gives."""
R = TypeVar("R")


class Company(msgspec.Struct, gc=False):
    """A device's `company` organization, the fields the mapping reads."""

    id: str | None = None
    name: str | None = None


class DeviceOs(msgspec.Struct, gc=False):
    """A device's `os`, the fields the mapping reads."""

    name: str | None = None
    version: str | None = None


class ListedDevice(msgspec.Struct, gc=False):
    """A `/devices/v1/devices` item, only the fields `device_from_record` reads, typed as a clean page sends them
    (`ipAddresses` a comma-separated string or a list). One of another shape comes from `loose_device`,
    unchecked: the mapping reads every field as defensively as it did from dicts."""

    id: str | None = None
    name: str | None = None
    company: Company | None = None
    os: DeviceOs | None = None
    protectionStatusOverview: str | None = None  # the API's names: the typed decode matches on them
    state: str | None = None
    malwareState: str | None = None
    firewallState: str | None = None
    patchOverallState: str | None = None
    online: bool | None = None
    ipAddresses: list[str] | str | None = None
    statusUpdateTimestamp: str | None = None
    lastUser: str | None = None


class ElementsPage(msgspec.Struct, Generic[R]):
    """An anchor-paged list: its items and the anchor of the next page."""

    items: list[R]
    nextAnchor: str | None = None


_DEVICE_PAGES = msgspec.json.Decoder(ElementsPage[ListedDevice])
_NO_COMPANY, _NO_OS = Company(), DeviceOs()


def loose_device(record: dict[str, Any]) -> ListedDevice:
    """A device item decoded any other way, its fields as they came (`VendorClient.parse_typed_page`) but its
    `company` and `os`, made structs when they are objects and left out otherwise, as the mapping read them."""
    device = ListedDevice(**{name: record.get(name) for name in ListedDevice.__struct_fields__})
    company, os_info = device.company, device.os
    device.company = Company(company.get("id"), company.get("name")) if isinstance(company, dict) else None
    device.os = DeviceOs(os_info.get("name"), os_info.get("version")) if isinstance(os_info, dict) else None
    return device


def loose_page(page: Any, record: Callable[[dict[str, Any]], Any] = lambda item: item) -> ElementsPage[Any] | None:
    """A page decoded any other way, its objects made `record`s (other items stay, for the caller to skip);
    None when it is no page object."""
    items = loose_items(page, "items", record)
    return None if items is None else ElementsPage(items, page.get("nextAnchor"))


class ElementsClient(BearerTokenClient):
    vendor = "elements"
    product = PRODUCTS[vendor]
    server_filters = frozenset({"critical", "missing_patch"})

    _whoami: dict[str, str] | None = None
    _groups: list[Group] | None = None

    def __init__(self, connection: Connection, secret: str | None, **kwargs: Any) -> None:
        if not connection.url:
            connection = dataclasses.replace(connection, url=DEFAULT_URL)
        super().__init__(connection, secret, **kwargs)

    @property
    def scope(self) -> str:
        """The token scope: writes only on a connection that explicitly allows them."""
        return f"{READ_SCOPE} {WRITE_SCOPE}" if self.connection.read_only is False else READ_SCOPE

    def error_message(self, payload: Any) -> str | None:
        """The API's `{message, code, transactionId, details}` or OAuth2's `{error, error_description}` as one
        sentence: the message, what `details` names (`invalidParam` and `invalidValue` in words), the code and
        the transaction id."""
        if not isinstance(payload, dict):
            return None
        message = _text(payload.get("message")) or _text(payload.get("error_description")) or _text(payload.get("error"))
        if not message:
            return None
        said = [message.rstrip(".")]
        details = payload.get("details")
        if isinstance(details, dict):
            said.extend(_details_words(details))
        code = _text(payload.get("code")) or _text(payload.get("error"))
        extras = [f"code {code}"] if code and code != message else []
        if _text(payload.get("transactionId")):
            extras.append(f"transaction {_text(payload.get('transactionId'))}")
        return "; ".join(said) + (f" ({', '.join(extras)})" if extras else "")

    def _status_error(self, response: httpx.Response) -> VendorError:
        error = super()._status_error(response)
        if isinstance(error, AuthenticationError):
            error.hint = CREDENTIALS_HINT
        return _with_transaction(error, response)

    def parse_json(self, response: httpx.Response) -> Any:
        try:
            return super().parse_json(response)
        except BadResponseError as error:
            raise _with_transaction(error, response) from None

    async def probe(self) -> ServerInfo:
        """Call whoami without a token: the API answers 401, which shows it is there and is an API. Retried
        like every read: a 429 or a dropped connection on the first call must not fail the whole open."""
        try:
            await self.get(WHOAMI_PATH)
        except AuthenticationError:
            pass
        return ServerInfo(self.product, "API v1", "v1")

    async def check_login(self) -> None:
        await self.whoami()

    async def whoami(self) -> dict[str, str]:
        """`{"clientId", "organizationId"}` of these credentials (asked once per client)."""
        if self._whoami is None:
            body = await self.authed_get(WHOAMI_PATH)
            if not isinstance(body, dict) or not isinstance(body.get("organizationId"), str):
                raise BadResponseError(f"{self._where()} answered whoami without an organizationId.")
            self._whoami = {"clientId": str(body.get("clientId") or ""), "organizationId": body["organizationId"]}
        return self._whoami

    async def fetch_token(self) -> tuple[str, float]:
        """OAuth2 client credentials: the client id and secret in a Basic header, the scope in the form."""
        body = await self.request_json(
            "POST",
            TOKEN_PATH,
            data={"grant_type": "client_credentials", "scope": self.scope},
            auth=(self.connection.username, self._secret or ""),
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponseError(f"{self._where()} accepted the credentials but returned no access_token.")
        return token, token_lifetime(body.get("expires_in"))

    def _read_page(
        self, path: str, response: httpx.Response, anchor: str | None, devices: bool = False
    ) -> tuple[ElementsPage[Any], RawPage, frozenset[int]]:
        """A page parsed and checked (asked for with `anchor`), its body kept as a `RawPage`, and the indexes of
        the items whose text had to be repaired (`lenient_page`). A page of `devices` has its device items
        decoded into `ListedDevice` structs (`parse_typed_page`; a body with NULs is repaired as any other)."""
        record: Callable[[dict[str, Any]], Any] = loose_device if devices else lambda item: item
        page: ElementsPage[Any] | None
        try:
            if devices and b"\x00" not in response.content:
                page, raw = self._read_devices(response)
            else:
                parsed, raw = self.parse_page(response, "items")
                page = loose_page(parsed, record)
            repaired: frozenset[int] = frozenset()
        except BadResponseError:
            lenient = lenient_page(response.content)
            if lenient is None:
                raise
            parsed, body, repaired = lenient
            page, raw = loose_page(parsed, record), RawPage.compress(body, "items")
        if page is None:
            raise BadResponseError(f"{self._where()} sent a page of {path} without `items`.")
        if not isinstance(page.nextAnchor, str | None):  # it is sent back as is: a list or a number is junk
            raise BadResponseError(f"{self._where()} sent a page of {path} whose `nextAnchor` is not text.")
        if anchor is not None and page.nextAnchor == anchor:
            raise BadResponseError(f"{self._where()} sent the same anchor again for {path}.")
        return page, raw, repaired

    def _read_devices(self, response: httpx.Response) -> tuple[ElementsPage[Any] | None, RawPage]:
        return self.parse_typed_page(response, _DEVICE_PAGES, "items", lambda page: loose_page(page, loose_device))

    async def _pages(
        self, path: str, queries: list[dict[str, str]], devices: bool = False
    ) -> AsyncIterator[tuple[list[Any], RawPage, frozenset[int]]]:
        """The items of every page of each query in turn (of `devices`, `_read_page`), with the page's `RawPage`
        and repaired indexes.

        The request for the next page is on the wire as soon as this page's bytes are in, with the anchor
        read from their end (`peek_anchor`), so the server's time on it overlaps the parsing, the mapping and
        whatever the caller does with this page. Should the parsed anchor differ, that request is cancelled
        and the right one sent. A caller that stops early cancels it. Pages that repeat the previous one, or
        never end empty, are a bad response (`PagingGuard`).
        """
        remaining = iter(queries)
        query = next(remaining, None)
        anchor: str | None = None
        guard = PagingGuard(self._where(), path, None, PAGE_LIMIT)
        fetch = await self._send_page(path, query, None) if query is not None else None
        try:
            while fetch is not None:
                response = await fetch
                guess = peek_anchor(response.content)
                fetch = (await self._send_page(path, query, guess)
                         if query is not None and guess and guess != anchor else None)
                page, raw, repaired = self._read_page(path, response, anchor, devices)
                guard.check(page.items)
                anchor = page.nextAnchor or None
                if fetch is None or anchor != guess:
                    await _cancel(fetch)
                    if anchor is None:
                        query = next(remaining, None)
                        guard = PagingGuard(self._where(), path, None, PAGE_LIMIT)
                    fetch = await self._send_page(path, query, anchor) if query is not None else None
                yield page.items, raw, repaired
        finally:
            await _cancel(fetch)

    async def _send_page(self, path: str, query: dict[str, str], anchor: str | None) -> asyncio.Future[httpx.Response]:
        """Start fetching a page; return once its request is sent (or failed to go out), or, on transports
        without trace events such as the in-process ones, once it is answered."""
        params: dict[str, Any] = {**query, "limit": PAGE_LIMIT}
        if anchor is not None:
            params["anchor"] = anchor
        sent = asyncio.Event()

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith(("send_request_body.complete", ".failed")):
                sent.set()

        fetch = asyncio.ensure_future(self.authed_response(path, params, extensions={"trace": trace}))
        waiter = asyncio.ensure_future(sent.wait())
        try:
            await asyncio.wait({waiter, fetch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            fetch.cancel()
            raise
        finally:
            waiter.cancel()
        return fetch

    def offered_actions(self) -> tuple[str, ...]:
        return tuple(OPERATIONS)

    async def respond(self, action: str, devices: Sequence[Device], message: str = "") -> list[ActionResult]:
        """`POST /devices/v1/operations` five targets a call; the 207 answer's `multistatus` gives one status per
        device (202 accepted, anything else refused with its `details`) (fact sheet 6.1)."""
        spec = requested_action(self, action, message, len(devices))
        what = f"{spec.verb} {len(devices)} device{'s' if len(devices) != 1 else ''}"
        self.ensure_writable(what)

        async def send(chunk: Sequence[Device]) -> list[ActionResult]:
            body: dict[str, Any] = {"operation": OPERATIONS[action], "targets": [device.id for device in chunk]}
            if message:
                body["parameters"] = {"message": message}
            return multistatus_results(await self._operation(body, what), chunk, self._where())

        return await respond_in_calls(devices, OPERATION_TARGETS_MAX, send)

    async def _operation(self, body: dict[str, Any], what: str) -> Any:
        """One operations call. A 429 is turned down before anything is done, so it is sent again after the
        pause the console asks for; a 403 says how to get an API client that may act."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = await self.authed_write(
                    "POST", OPERATIONS_PATH, action=what, json=body,
                    explain={400: "it found the operation invalid (at most five devices, a message of at most "
                                  "512 characters)."})
            except RateLimitedError as error:
                wait = error.retry_after
                if attempt == MAX_ATTEMPTS - 1 or wait is None or wait > RETRY_AFTER_CAP_S:
                    raise
                self._tell_wait(f"rate limited; sending again in {wait:g} s")
                await self.sleep(wait)
                continue
            except ForbiddenError as error:
                error.hint = WRITE_SCOPE_HINT
                raise
            if attempt:
                self._tell_wait(None)
            if response.status_code != 207:
                raise BadResponseError(f"{self._where()} answered the operation with {response.status_code}, "
                                       "not 207 with a status per device; look at the devices before sending again.")
            return self.parse_json(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def follow_response(self, action: str, results: Sequence[ActionResult]) -> AsyncIterator[list[ActionResult]]:
        """Each accepted device read again every round (paced under the rate limit) until final: isolation and
        release from the device's `protectionStatusOverview`, a scan or a message from the operation's status
        in the device's operation history (fact sheet 6.2). A device still pending after `FOLLOW_ROUNDS` is
        left pending: it applies the operation when it next connects."""
        current = list(results)
        read = self._isolation_state if action in FOLLOWED else self._operation_state
        for _ in range(FOLLOW_ROUNDS):
            pending = [index for index, result in enumerate(current) if not result.final]
            if not pending:
                return
            await self.sleep(max(5.0, len(pending) * 60 / DEVICE_READS_PER_MINUTE))
            for index in pending:
                current[index] = await read(action, current[index])
            yield list(current)
        if any(not result.final for result in current):
            yield [result if result.final else dataclasses.replace(
                result, progress="pending: the device applies it when it next connects", final=True)
                for result in current]

    async def _isolation_state(self, action: str, result: ActionResult) -> ActionResult:
        """The result once the device's record shows it isolated (or no longer, for a release)."""
        body = await self.authed_get(DEVICES_PATH, {"deviceId": result.device_id})
        items = body.get("items") if isinstance(body, dict) else None
        record = next((item for item in items or () if is_device(item) and item["id"] == result.device_id), None)
        wanted = FOLLOWED[action]
        if record is None:
            return dataclasses.replace(result, progress="no longer listed", final=True)
        if (record.get("protectionStatusOverview") == "isolated") is wanted:
            return dataclasses.replace(result, progress="isolated" if wanted else "released", final=True,
                                       succeeded=True)
        return result

    async def _operation_state(self, action: str, result: ActionResult) -> ActionResult:
        """The result with its operation's status from `GET /devices/v1/operations?deviceId=`, matched by the
        operationId (the only filter is the device [MCP])."""
        body = await self.authed_get(OPERATIONS_PATH, {"deviceId": result.device_id})
        items = body.get("items") if isinstance(body, dict) else None
        item = next((item for item in items or () if isinstance(item, dict)
                     and _text(item.get("id")) == result.reference), None)
        status = _text(item.get("status")) if item is not None else ""
        if status in OPERATION_FAILED:
            return dataclasses.replace(result, progress=f"failed: {OPERATION_FAILED[status]}", final=True,
                                       succeeded=False)
        if status == "finished":
            return dataclasses.replace(result, progress="finished", final=True, succeeded=True)
        return dataclasses.replace(result, progress=status or result.progress)

    async def groups(self) -> list[Group]:
        own = (await self.whoami())["organizationId"]
        records = [item async for items, _, _ in self._pages(ORGANIZATIONS_PATH, [{}]) for item in items]
        self._groups = organization_tree(records, own)
        return self._groups

    async def devices(self, query: DeviceQuery = DeviceQuery()) -> AsyncIterator[DevicePage]:
        """Every device of the selected organization(s), the critical and missing-patch filters applied by the
        server; the API tells no total. Items without an `id` are skipped and counted (module docstring)."""
        groups = self._groups if self._groups is not None else await self.groups()
        filters: dict[str, str] = {}
        if query.critical:
            filters["protectionStatusOverview"] = "critical"
        if query.missing_patch:
            filters["patchOverallState"] = "missingCriticalUpdates"
        organizations = device_organizations(groups, query.group_id, (await self.whoami())["organizationId"])
        queries = [{**filters, "organizationId": org} if org else filters for org in organizations]
        groups_by_id = {group.id: group for group in groups}
        loaded = 0
        async for items, raw, repaired in self._pages(DEVICES_PATH, queries, devices=True):
            kept = [index for index, item in enumerate(items) if is_device(item)]
            devices = [device_from_record(items[index], self.connection.name, groups_by_id, raw, index)
                       for index in kept]
            loaded += len(devices)
            yield DevicePage(devices, loaded, None, skipped=len(items) - len(kept),
                             repaired=len(repaired.intersection(kept)))

    async def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        """Security events persisted in `window`, page by page to the end of the window (`security_event`).

        `POST /security-events/v1/security-events` with a form body (`_event_form`). Anchor paging (`limit`
        200, `anchor` with the same form until no `nextAnchor`). The search only reads, so it is retried like
        a GET on 429 (Retry-After obeyed), 502-504 and dropped connections. An empty window sends nothing. A
        403 means these credentials may not read events: `NotAvailableError` (scope "user"). Items that are
        no event, or have no readable time, are skipped and counted; items whose text was repaired are
        counted too (module docstring).
        """
        if window.start is not None and window.start == window.end:
            yield EventPage([], 0, 0, source=EVENTS_SOURCE)
            return
        form = await self._event_form(window)
        anchor: str | None = None
        guard = PagingGuard(self._where(), SECURITY_EVENTS_PATH, None, PAGE_LIMIT)
        loaded = 0
        notes: tuple[str, ...] = ()
        if window.start is None:
            notes = (f"Elements needs a start: read the {EVENT_LOOKBACK.days} days before the window's end.",)
        while True:
            body = {**form, "limit": str(PAGE_LIMIT), **({"anchor": anchor} if anchor is not None else {})}
            try:
                response = await self.authed_read("POST", SECURITY_EVENTS_PATH, data=body)
            except ForbiddenError as error:
                raise NotAvailableError(
                    f"Security events are not available to this API client: {error.message}", scope="user", status=403
                ) from None
            page, raw, repaired = self._read_page(SECURITY_EVENTS_PATH, response, anchor)
            guard.check(page.items)
            events: list[Event] = []
            undated = kept_repaired = 0
            group = form["engineGroup"][0] if len(form.get("engineGroup", ())) == 1 else ""
            for index, item in enumerate(page.items):
                event = security_event(item, self.connection.name, raw, index, group)
                if event is None:
                    undated += 1
                elif window.matches(event):
                    events.append(event)
                    kept_repaired += index in repaired
            loaded += len(events)
            anchor = page.nextAnchor or None
            if undated:
                notes = (*notes, f"{undated} event{' was' if undated == 1 else 's were'} left out: no readable "
                                 "timestamp.")
            yield EventPage(events, loaded, None, source=EVENTS_SOURCE, notes=notes, skipped=undated,
                            repaired=kept_repaired)
            notes = ()
            if anchor is None:
                return

    async def _event_form(self, window: EventWindow) -> dict[str, Any]:
        """The search's form fields for `window`, without paging.

        Always a start (`persistenceTimestampStart`; `EVENT_LOOKBACK` before the end when the window has
        none) and the end when there is one; `order=asc`; exactly one of `engine` and `engineGroup`, as the API
        requires: an engine filter that names an engine group goes as `engineGroup`, any other as `engine`,
        and no filter sends every group (epp, edr, ecp, xm) as repeated keys, so the whole window is read;
        one severity; `organizationId` when the window names an organization other than the credentials'
        own (partner credentials without it read every company).
        """
        start = window.start
        if start is None:
            assert window.end is not None  # an EventWindow has a start, an end or both
            start = window.end - EVENT_LOOKBACK
        form: dict[str, Any] = {"persistenceTimestampStart": rfc3339_text(start)}
        if window.end is not None:
            form["persistenceTimestampEnd"] = rfc3339_text(window.end)
        form["order"] = "asc"
        engine = (window.engine or "").strip()
        if engine.lower() in ENGINE_GROUPS:
            form["engineGroup"] = [engine.lower()]
        elif engine:
            form["engine"] = [engine]
        else:
            form["engineGroup"] = list(ENGINE_GROUPS)
        if len(window.severities) == 1:
            (severity,) = window.severities
            if severity is not Severity.UNKNOWN:
                form["severity"] = severity.value
        if window.organization_id and window.organization_id != (await self.whoami())["organizationId"]:
            form["organizationId"] = window.organization_id
        return form


async def _cancel(fetch: asyncio.Future[Any] | None) -> None:
    """Cancel a page fetch that is no longer wanted and wait until it is gone."""
    if fetch is not None:
        fetch.cancel()
        await asyncio.gather(fetch, return_exceptions=True)


_NEXT_ANCHOR_AT_END = re.compile(rb'[{,]\s*"nextAnchor"\s*:\s*("(?:[^"\\]|\\.)*")\s*}\s*\Z')
_PEEK_BYTES = 1024


def peek_anchor(body: bytes) -> str | None:
    """The `nextAnchor` string of a page read from the end of its bytes, before the page is parsed; None
    when it is not there as the body's last member (null, absent, elsewhere, too long or unreadable).

    Only a guess that lets the next request start early: the parsed page has the final word.
    """
    match = _NEXT_ANCHOR_AT_END.search(body, max(0, len(body) - _PEEK_BYTES))
    if match is None:
        return None
    try:
        anchor = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return None
    return anchor if isinstance(anchor, str) and anchor else None


def multistatus_results(body: Any, devices: Sequence[Device], where: str) -> list[ActionResult]:
    """One result per device from a 207 `{"multistatus": [{target, status, operationId?, details?}]}`: 202 is
    accepted (then followed), anything else refused with `details` in words."""
    items = body.get("multistatus") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise BadResponseError(f"{where} answered the operation without a status per device; look at the "
                               "devices before sending it again.")
    by_target = {str(item.get("target")): item for item in items if isinstance(item, dict)}
    results = []
    for device in devices:
        item = by_target.get(device.id)
        if item is None:
            results.append(ActionResult(device.id, device.name, False, "the console did not answer for this device",
                                        final=True, succeeded=False))
        elif item.get("status") == OPERATION_ACCEPTED:
            results.append(ActionResult(device.id, device.name, True, reference=_text(item.get("operationId")),
                                        progress="accepted"))
        else:
            results.append(ActionResult(device.id, device.name, False, target_failure(item), final=True,
                                        succeeded=False))
    return results


def target_failure(item: dict[str, Any]) -> str:
    """A refused target's `details` in words (a text, or an object's messages), else its status."""
    details = item.get("details")
    if isinstance(details, dict):
        words = "; ".join([_text(details.get("message"))] if _text(details.get("message")) else _details_words(details))
    else:
        words = " ".join(_text(details).split())
    status = _text(item.get("status"))
    return f"{words} ({status})" if words and status else words or f"refused ({status or 'no status'})"


def _details_words(details: dict[str, Any]) -> list[str]:
    """An error's `details` in words: "invalid limit: '500'" for `invalidParam`/`invalidValue`, other keys as
    "key: value"."""
    words = []
    param, value = _text(details.get("invalidParam")), details.get("invalidValue")
    if param:
        words.append(f"invalid {param}: {_text(value)!r}" if value is not None else f"invalid {param}")
    words.extend(f"{key}: {_text(inner)}" for key, inner in details.items()
                 if key not in ("invalidParam", "invalidValue") and _text(inner))
    return words


def _with_transaction(error: VendorError, response: httpx.Response) -> VendorError:
    """The error with the response's `x-transaction` quoted (unless the body's transaction id already is):
    WithSecure support asks for it."""
    transaction = " ".join(response.headers.get("x-transaction", "").split())[:100]
    if transaction and f"transaction {transaction}" not in error.message:
        error.message = f"{error.message} (x-transaction {transaction})"
        error.args = (error.message,)
    return error


def lenient_page(body: bytes) -> tuple[Any, bytes, frozenset[int]] | None:
    """A page whose bytes are not UTF-8 or hold NULs, read anyway: (page, its repaired JSON bytes, indexes of
    the items repaired); None when the body needs no such repair or is still not JSON after it.

    Invalid bytes become U+FFFD and NULs are dropped, as SEKOIA's connector does. To tell which items were
    touched, the body is also read with each NUL marked as U+FFFE (a noncharacter no console sends).
    """
    try:
        body.decode("utf-8")
        if b"\x00" not in body:
            return None
    except UnicodeDecodeError:
        pass
    text = body.replace(b"\x00", b"").decode("utf-8", "replace")
    try:
        page = json_loads(text)
    except ValueError:
        return None
    try:
        marked = orjson.loads(body.replace(b"\x00", "\ufffe".encode()).decode("utf-8", "replace"))
    except orjson.JSONDecodeError:  # a NUL between tokens: count the replaced bytes alone
        marked = page
    items = marked.get("items") if isinstance(marked, dict) else None
    touched = frozenset(
        index for index, item in enumerate(items if isinstance(items, list) else [])
        if any(mark in orjson.dumps(item) for mark in ("\ufffd".encode(), "\ufffe".encode()))
    )
    return page, text.encode(), touched


def is_device(item: Any) -> bool:
    """Whether a devices item is a device at all: the API sends `{}` and items without `id` now and then."""
    if isinstance(item, ListedDevice):
        return bool(_text(item.id))
    return isinstance(item, dict) and bool(_text(item.get("id")))


def organization_tree(records: list[Any], own_id: str) -> list[Group]:
    """Groups from organization items: the credentials' own organization first, the others under it."""
    organizations: dict[str, str] = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            organizations.setdefault(record["id"], str(record.get("name") or record["id"]))
    root = None
    if own_id in organizations:
        name = organizations.pop(own_id)
        root = Group(id=own_id, name=name, path=(name,))
    children = [
        Group(id=org_id, name=name, path=(*(root.path if root else ()), name), parent_id=root.id if root else None)
        for org_id, name in organizations.items()
    ]
    children.sort(key=lambda group: group.name.casefold())
    return [root, *children] if root else children


def device_organizations(groups: list[Group], group_id: str | None, own_id: str) -> list[str | None]:
    """The organizations whose devices to list, one after another: the selected one, or each company of the
    selected (or every) root. None stands for the credentials' own organization, which is asked for without
    `organizationId`, as the seed's company-level example does."""
    children: dict[str | None, list[str | None]] = defaultdict(list)
    for group in groups:
        children[group.parent_id].append(group.id)
    chosen = [group_id] if any(group.id == group_id for group in groups) else children[None] or [own_id]
    leaves = [leaf for organization in chosen for leaf in (children[organization] or [organization])]
    return [None if leaf == own_id else leaf for leaf in leaves]


def device_from_record(
    record: ListedDevice | dict[str, Any],
    connection: str,
    groups_by_id: dict[str, Group],
    raw: RawPage | None = None,
    index: int = 0,
) -> Device:
    """Map one `/devices/v1/devices` item onto a `Device` (module docstring).

    The record is `raw`'s record number `index`; without a page, a record given as a dict is kept as it is.
    """
    if isinstance(record, dict):
        raw, index = (raw, index) if raw is not None else (RawPage.of([record]), 0)
        record = loose_device(record)
    company = _NO_COMPANY if record.company is None else record.company
    group = groups_by_id.get(str(company.id))
    os_info = _NO_OS if record.os is None else record.os
    health, reasons, state = assess(record)
    online = record.online
    patch_state = record.patchOverallState
    return Device(
        vendor="elements",
        connection=connection,
        id=str(record.id or ""),
        name=str(record.name or ""),
        os=f"{os_info.name or ''} {os_info.version or ''}".strip(),
        ip_addresses=ip_addresses(record.ipAddresses),
        group_id=group.id if group else company.id if isinstance(company.id, str) else None,
        group=group.path_text if group else str(company.name or ""),
        online=online if isinstance(online, bool) else None,
        health=health,
        health_reasons=reasons,
        missing_critical_patches=_MISSING_CRITICAL.get(patch_state) if isinstance(patch_state, str) else None,
        last_seen=rfc3339(record.statusUpdateTimestamp),
        user=str(record.lastUser or ""),
        state=state,
        raw_page=raw if raw is not None else RawPage.of([msgspec.to_builtins(record)]),
        raw_index=index,
    )


def assess(record: ListedDevice) -> tuple[Health, tuple[str, ...], str]:
    """Health, its reasons and `Device.state` from the protection status overview, the device `state` and the
    patch state (module docstring)."""
    overview = record.protectionStatusOverview
    health = _HEALTH.get(overview, Health.UNKNOWN) if isinstance(overview, str) else Health.UNKNOWN
    state = overview if overview in ("isolated", "inactive") else "blocked" if record.state == "blocked" else ""
    reasons = [_STATE_REASONS[state]] if state else []
    if overview in ("critical", "warning"):
        reasons.append(f"protection status {overview}")
    if health in (Health.CRITICAL, Health.WARNING):
        for value, label in ((record.malwareState, "malware protection"), (record.firewallState, "firewall")):
            if value == "disabled":
                reasons.append(f"{label} disabled")
    patch_state = record.patchOverallState
    if isinstance(patch_state, str) and patch_state in _PATCH_UNKNOWN:
        reasons.append(_PATCH_UNKNOWN[patch_state])
    return health, tuple(reasons), state


def ip_addresses(value: Any) -> tuple[str, ...]:
    """`ipAddresses` as a list or a comma-separated string, without prefix lengths ("10.0.0.5/24")."""
    parts = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(filter(None, [str(part).strip().partition("/")[0] for part in parts]))


# --- security events (issue 6) ---------------------------------------------------------------------------

SECURITY_EVENTS_PATH = "/security-events/v1/security-events"
EVENTS_SOURCE = "security-events"
ENGINE_GROUPS = ("epp", "edr", "ecp", "xm")
"""The engine groups the API names [MCP][XSOAR-EL]; any other engine filter is sent as `engine`."""
EVENT_LOOKBACK = timedelta(days=30)
"""How far before its end a window without a start is read: the API wants a start, and may refuse a range
wider than 30 days [MCP] (UNCERTAIN)."""
_ENGINE_GROUP_OF = {
    "edr": "edr", "emailScan": "ecp", "emailBreach": "ecp", "inboxRuleScan": "ecp", "oneDriveScan": "ecp",
    "sharePointScan": "ecp", "teamsScan": "ecp", "xmRecommendation": "xm",
    **dict.fromkeys(("AMSI", "applicationControl", "browsingProtection", "connectionControl", "dataGuard",
                     "deepGuard", "deviceControl", "fileScanning", "firewall", "integrityChecker", "manualScanning",
                     "realtimeScanning", "reputationBasedBrowsing", "setting", "tamperProtection",
                     "webContentControl", "webTrafficScanning", "xFence"), "epp"),
}
"""The engine group of the engines whose group is plain: EDR, Collaboration Protection (Outlook, OneDrive,
SharePoint, Teams), Exposure Management, and the endpoint engines of WithSecure's own captures [WS-FIX]."""

_EVENT_SEVERITIES = {
    "critical": Severity.CRITICAL, "severe": Severity.CRITICAL, "high": Severity.CRITICAL,
    "warning": Severity.WARNING, "medium": Severity.WARNING,
    "info": Severity.INFO, "information": Severity.INFO, "informational": Severity.INFO, "low": Severity.INFO,
}
"""The documented `severity` values (critical, warning, info) and a few a server might send instead."""
_SUBJECT_KEYS = (("name", "infectionName"), ("filePath", "object", "path"), ("url",), ("ruleName",),
                 ("incidentPublicId",), ("description",), ("alertType",))
"""What an event is about, from its `details`, first found first: the infection (`name`, then
`infectionName`) and the file (`filePath`, `object`, then `path`) in WithSecure's own fallback order
[WS-SENT], then the URL, rule, EDR incident, description and alert type."""
_NO_ACTION = frozenset({"", "none", "unspecified"})
"""Actions that say nothing done, left out of a title."""
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def rfc3339_text(moment: datetime) -> str:
    """An aware datetime as the API's RFC 3339 in UTC: seconds, or milliseconds when there is a fraction."""
    moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


def security_event(
    record: Any, connection: str, raw: RawPage | None = None, index: int = 0, engine_group: str = ""
) -> Event | None:
    """Map one security-events item onto an `Event`; None when it has no readable timestamp.

    - time: `persistenceTimestamp` (what the window filters on), else `serverTimestamp`, else
      `clientTimestamp`; `device_time` is `clientTimestamp` (RFC 3339, with or without a fraction), else
      `details.clientTimestamp` (epoch ms as a string). All kept in UTC.
    - severity: critical, warning and info as they are (severe/high, medium and low/informational too);
      anything else unknown. `acknowledged` as sent (a JSON boolean; else None).
    - engine: `engine`; category: `engineGroup`, else the engine's group when it is plain (`_ENGINE_GROUP_OF`),
      else the one engine group the request asked for.
    - device: `device.id` (absent on EDR items and on events of no device), and as name `device.name`, else
      `device.id`, else `device.winsAddress` [WS-SENT], else `target.name`; organization: `organization`.
    - title: the engine in words, the action (unless none) and what it was about (`_SUBJECT_KEYS`), e.g.
      "Deep guard: blocked C:\\x.exe"; message: the item's own `message` and `description`, then `userName`,
      then the `details` map as "key: value" lines, `description` first.
    """
    if not isinstance(record, dict):
        return None
    moment = (rfc3339(record.get("persistenceTimestamp")) or rfc3339(record.get("serverTimestamp"))
              or rfc3339(record.get("clientTimestamp")))
    if moment is None:
        return None
    device = _object(record.get("device"))
    target = _object(record.get("target"))
    organization = _object(record.get("organization"))
    details = _object(record.get("details"))
    engine = _text(record.get("engine"))
    severity = _EVENT_SEVERITIES.get(_text(record.get("severity")).lower(), Severity.UNKNOWN)
    device_id = _text(device.get("id")) or None
    device_name = (_text(device.get("name")) or device_id or _text(device.get("winsAddress"))
                   or _text(target.get("name"))) or None
    acknowledged = record.get("acknowledged")
    head = [_text(record.get(key)) for key in ("message", "description")]
    if _text(record.get("userName")) and "userName" not in details:
        head.append(f"userName: {_text(record.get('userName'))}")
    return Event(
        vendor="elements",
        connection=connection,
        id=_text(record.get("id")),
        time=moment,
        severity=severity,
        engine=engine,
        category=_text(record.get("engineGroup")) or _ENGINE_GROUP_OF.get(engine, engine_group),
        title=event_title(engine, _text(record.get("action")), details),
        message=event_message(details, [line for line in head if line]),
        device_id=device_id,
        device_name=device_name,
        organization_id=_text(organization.get("id")) or None,
        organization=one_line(_text(organization.get("name"))),
        acknowledged=acknowledged if isinstance(acknowledged, bool) else None,
        device_time=rfc3339(record.get("clientTimestamp")) or epoch_ms(details.get("clientTimestamp")),
        source=EVENTS_SOURCE,
        raw_page=raw if raw is not None else RawPage.of([record]),
        raw_index=index if raw is not None else 0,
    )


_ENGINE_NAMES = {"edr": "EDR", "amsi": "AMSI", "xFence": "XFence"}
"""Engines whose names are initialisms (or a brand) rather than camel-case words."""


def engine_label(engine: str) -> str:
    """"fileScanning" as "File scanning", "deepGuard" as "Deep guard", "edr" as "EDR": an engine for a person."""
    known = _ENGINE_NAMES.get(engine.strip()) or _ENGINE_NAMES.get(engine.strip().lower())
    if known:
        return known
    words = _CAMEL.sub(" ", engine.strip()).split()
    return " ".join(words).capitalize() if words else ""


def event_title(engine: str, action: str, details: dict[str, Any]) -> str:
    subject = next((_text(details[key]) for keys in _SUBJECT_KEYS for key in keys if _text(details.get(key))), "")
    head = engine_label(engine) or "Security event"
    rest = " ".join(part for part in ("" if action.lower() in _NO_ACTION else action, subject) if part)
    return one_line(f"{head}: {rest}" if rest else head)


def event_message(details: dict[str, Any], head: list[str] | None = None) -> str:
    lines = list(head or ())
    ordered = sorted(details.items(), key=lambda item: item[0] != "description")
    for key, value in ordered:
        if isinstance(value, dict):
            lines.extend(f"{key}.{sub}: {_text(inner)}" for sub, inner in value.items() if _text(inner))
        elif _text(value):
            lines.append(f"{key}: {_text(value)}")
    return plain_text("\n".join(lines))


def _object(value: Any) -> dict[str, Any]:
    """A nested JSON object, or an empty one when the field is absent or not an object."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    """A scalar or a list of scalars as text ("" for None and containers of containers)."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(text for text in map(_text, value) if text)
    return str(value).strip()
