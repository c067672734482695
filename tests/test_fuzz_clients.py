"""Fuzzing the three clients a whole answer at a time, through httpx.MockTransport (issue 7).

Where a parser is reached through paging, logins and follow-up requests (anchors, totals, command ids), the
fuzzed body goes through the real client: it yields well-formed pages or raises a `VendorError` (for a 2xx
answer: `BadResponseError`), never another exception, and never asks for pages without end. The payload
strategies and the record checks are those of test_fuzz.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from helpers import (
    ELEMENTS_DEVICES,
    ELEMENTS_EVENTS,
    ELEMENTS_FLEET,
    ELEMENTS_ORGANIZATIONS,
    EPMM_DEVICES,
    EPMM_LABELS,
    EPMM_SPACES,
    FIXED_NOW,
    JSON,
    SEED_AUTHENTICATE,
    SEED_TOKEN,
    SEPM_COMMAND_ROWS,
    SEPM_COMMANDS,
    SEPM_COMPUTERS,
    SEPM_CRITICAL_EVENTS,
    SEPM_FINGERPRINTS,
    SEPM_GROUPS,
    SEPM_READS,
    TEXT,
    anything,
    check_device,
    check_event,
    check_groups,
    mutated,
)
from tui.models import Connection, DevicePage, EventPage, EventWindow
from tui.vendors.base import BadResponseError, VendorClient, VendorError
from tui.vendors.elements import ElementsClient
from tui.vendors.epmm import DEVICE_FIELDS, EpmmClient
from tui.vendors.sepm import SepmClient

MAX_REQUESTS = 40
"""More requests than any fuzzed answer justifies: a client past it is paging without end."""
WINDOW = EventWindow(start=datetime(2019, 1, 1, tzinfo=UTC), end=FIXED_NOW + timedelta(days=1))


def page_of(key: str, records: list[Any] | st.SearchStrategy, **tail: Any) -> st.SearchStrategy:
    """A page object holding a few mutated `records` under `key`, the page's own fields mutated too."""
    items = st.lists(anything(records) if isinstance(records, list) else records, max_size=4)
    return mutated(items.map(lambda found: {key: found, **tail}))


def body(value: Any) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(value).encode(), headers={"content-type": "application/json"})


def transport(answer: Callable[[httpx.Request], Any]) -> httpx.MockTransport:
    """`answer` maps a request to a JSON value (or a whole response); past `MAX_REQUESTS` the test fails."""
    sent = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        assert len(sent) <= MAX_REQUESTS, f"pages without end: {request.url}"
        reply = answer(request)
        return reply if isinstance(reply, httpx.Response) else body(reply)

    return httpx.MockTransport(handle)


async def _no_wait(seconds: float) -> None:
    """Retries and Retry-After are obeyed, without the test waiting for them."""


def drive(kind: type[VendorClient], answer: Callable[[httpx.Request], Any], use: Callable[[Any], Awaitable[None]],
          allowed: type[VendorError] = BadResponseError, **connection: Any) -> None:
    """Open a `kind` client on `answer` and run `use` with it; `allowed` is the one failure it may raise."""
    profile = Connection(name="fuzz", vendor=kind.vendor, url="https://console.test", username="api",
                         **connection)

    async def run() -> None:
        client = kind(profile, "secret", transport=transport(answer), clock=lambda: FIXED_NOW, sleep=_no_wait)
        try:
            await use(client)
        except allowed as error:
            assert str(error)
        finally:
            await client.aclose()

    asyncio.run(run())


def check_device_pages(pages: list[DevicePage]) -> None:
    for page in pages:
        assert page.total is None or isinstance(page.total, int)
        for device in page.devices:
            check_device(device)


def check_event_pages(pages: list[EventPage]) -> None:
    for page in pages:
        assert all(isinstance(note, str) for note in page.notes)
        for event in page.events:
            check_event(event)


async def devices_of(client: VendorClient) -> None:
    check_groups(await client.groups())
    check_device_pages([page async for page in client.devices()])


async def events_of(client: VendorClient) -> None:
    check_event_pages([page async for page in client.events(WINDOW)])


# --- SEPM --------------------------------------------------------------------------------------------------

SEPM_TOKEN = json.loads(SEED_AUTHENTICATE)
SEPM_END = {"content": [], "lastPage": True}
"""What every page after the fuzzed first one says, so a client that stops where the pages say stops."""
SEPM_TAIL = {"lastPage": True, "firstPage": True, "totalPages": 1, "totalElements": 1, "number": 0}


def sepm_answers(routes: dict[str, Any]) -> Callable[[httpx.Request], Any]:
    """The login, then each path's fuzzed answer for its first page and `SEPM_END` for any later one."""
    def answer(request: httpx.Request) -> Any:
        path = request.url.path.removeprefix("/sepm/api/v1")
        if path == "/identity/authenticate":
            return routes.get(path, SEPM_TOKEN)
        first = request.url.params.get("pageIndex", "1") == "1"
        found = routes.get(path, routes.get("/command-queue/*") if path.startswith("/command-queue/") else None)
        return found if first and found is not None else SEPM_END
    return answer


@given(page_of("content", SEPM_GROUPS, **SEPM_TAIL), page_of("content", mutated(SEPM_COMPUTERS, SEPM_READS),
                                                            **SEPM_TAIL))
def test_sepm_groups_and_computers(groups, computers):
    drive(SepmClient, sepm_answers({"/groups": groups, "/computers": computers}), devices_of)


@given(anything([{"criticalEventsInfoList": SEPM_CRITICAL_EVENTS, "lastUpdated": 1720622406545}]),
       page_of("content", SEPM_COMMANDS, **SEPM_TAIL), page_of("content", SEPM_COMMAND_ROWS, **SEPM_TAIL))
def test_sepm_events(critical, commands, rows):
    routes = {"/events/critical": critical, "/command-queue": commands, "/command-queue/*": rows}
    drive(SepmClient, sepm_answers(routes), events_of)


FILE_DETAILS = {"id": "CD02BC8E0A6606D53533F2428BB86D4E", "fileSize": 1071101,
                "checksum": "4BE0BB3B57044CAD186FB59C2B7A13BB"}
QUEUED = {"commandID_computer": "0F0CBDD7EDFF4634B23FA11F5AB81FFC", "commandID_group": "BB37F78894DB451B8E8921EC127667A3"}
MD5 = "DA1A8A89467B0E326DEB152C3944E979"
SEPM_CALLS = {
    "fingerprint list": lambda client: client.fingerprint_list("Blacklist"),
    "fingerprint list by id": lambda client: client.fingerprint_list_by_id("44BB68279D984220AD60A069DCF6079F"),
    "create fingerprint list": lambda client: client.create_fingerprint_list("New", [MD5]),
    "file details": lambda client: client.file_details("CD02BC8E0A6606D53533F2428BB86D4E"),
    "command status": lambda client: client.command_status("4C697374D15C433880A56800BAC25E56"),
    "eoc scan": lambda client: client.eoc_scan([MD5], computer_ids=["89AD1BBB0946C25D25E6C0984E971D8A"]),
    "fetch file": lambda client: client.fetch_file(["89AD1BBB0946C25D25E6C0984E971D8A"], "C:\\x.exe", MD5),
    "cancel command": lambda client: client.cancel_command("4C697374D15C433880A56800BAC25E56"),
    "version": lambda client: client.probe(),
    "login": lambda client: client.check_login(),
}


@given(st.sampled_from(sorted(SEPM_CALLS)),
       st.one_of(anything([*SEPM_FINGERPRINTS, FILE_DETAILS, QUEUED, {"id": "44BB68279D984220AD60A069DCF6079F"},
                           {"version": "14.3.9681.7000", "API_VERSION": "1.0.0"}, SEPM_TOKEN]),
                 page_of("content", SEPM_COMMAND_ROWS, **SEPM_TAIL)))
def test_sepm_single_answers(call, answer):
    """Every answer but the login's is the fuzzed one (for the login call, the login's is)."""
    def reply(request: httpx.Request) -> Any:
        if request.url.path.endswith("/identity/authenticate") and call != "login":
            return SEPM_TOKEN
        return answer if request.url.params.get("pageIndex", "1") == "1" else SEPM_END

    async def use(client: SepmClient) -> None:
        await SEPM_CALLS[call](client)

    drive(SepmClient, reply, use, read_only=False)


# --- error bodies, all vendors -----------------------------------------------------------------------------

ERROR_BODIES = [{"errorCode": "410", "appErrorCode": "", "errorMessage": "Fingerprint list with ID x do not exist"},
                {"messages": [{"type": "Error", "messageKey": "com.mobileiron.vsp.messages.http.401",
                               "localizedMessage": "Unauthorized"}]},
                {"code": 4001, "message": "Invalid request"}, {"error": "invalid_client", "error_description": "Bad"}]


@st.composite
def error_responses(draw: st.DrawFn) -> httpx.Response:
    status = draw(st.sampled_from([400, 401, 403, 404, 405, 409, 410, 422, 423, 429, 500, 502, 503, 504]))
    content_type = draw(st.sampled_from(["application/json", "text/html; charset=utf-8", "text/plain", ""]))
    content = draw(st.one_of(anything(ERROR_BODIES).map(lambda value: json.dumps(value).encode()), st.binary(max_size=40),
                             TEXT.map(lambda text: f"<html><title>{text}</title><h1>{text}</h1>".encode("utf-8", "replace"))))
    headers = {"content-type": content_type, "x-transaction": draw(TEXT)}
    if status == 429:
        headers["retry-after"] = draw(st.sampled_from(["1", "nan", "inf", "-3", "1e400", "soon", "130"]))
    return httpx.Response(status, content=content,
                          headers={key: value.encode("utf-8", "replace") for key, value in headers.items()})


LOGINS = {"/sepm/api/v1/identity/authenticate": SEPM_TOKEN, "/as/token.oauth2": json.loads(SEED_TOKEN)}


@given(st.sampled_from([SepmClient, EpmmClient, ElementsClient]), error_responses(), st.booleans())
def test_error_bodies_become_vendor_errors(kind, failure, writing):
    def reply(request: httpx.Request) -> Any:
        return LOGINS.get(request.url.path) or failure

    async def use(client: VendorClient) -> None:
        if writing and isinstance(client, SepmClient):
            await client.delete_fingerprint_list("44BB68279D984220AD60A069DCF6079F")
        await devices_of(client)

    drive(kind, reply, use, VendorError, read_only=not writing)


# --- EPMM --------------------------------------------------------------------------------------------------

EPMM_END = {"results": [], "totalCount": 0, "hasMore": False}


@given(page_of("results", EPMM_SPACES, totalCount=3), page_of("results", EPMM_LABELS, totalCount=12),
       anything([{"results": [{"name": field, "type": "STRING"} for field in DEVICE_FIELDS]}]),
       page_of("results", EPMM_DEVICES, totalCount=4, hasMore=False),
       anything([{"results": {"vspVersion": "VSP 12.1.0.0", "apiVersion": "2"}}]))
def test_epmm_listing(spaces, labels, fields, devices, ping):
    routes = {"/device_spaces/mine": spaces, "/labels/label_summary": labels, "/devices/search_fields": fields,
              "/devices": devices, "/ping": ping}

    def answer(request: httpx.Request) -> Any:
        first = request.url.params.get("offset", "0") == "0"
        return routes[request.url.path.removeprefix("/api/v2")] if first else EPMM_END

    async def use(client: EpmmClient) -> None:
        await client.probe()
        await devices_of(client)

    drive(EpmmClient, answer, use)


# --- Elements ----------------------------------------------------------------------------------------------

ELEMENTS_WHOAMI = {"clientId": "fusion_aae404cb18404fabcede", "organizationId": ELEMENTS_FLEET.partner["id"]}
ANCHORS = st.one_of(st.none(), st.just("eyJwYWdlIjoyfQ=="), JSON)


def elements_answers(routes: dict[str, Any]) -> Callable[[httpx.Request], Any]:
    """The token, then each path's fuzzed answer for its first page and an empty last page after an anchor."""
    def answer(request: httpx.Request) -> Any:
        path = request.url.path
        if path in ("/as/token.oauth2", "/whoami/v1/whoami"):
            return routes.get(path, json.loads(SEED_TOKEN) if path == "/as/token.oauth2" else ELEMENTS_WHOAMI)
        later = "anchor" in request.url.params or b"anchor=" in request.content
        return {"items": []} if later else routes[path]
    return answer


@given(anything([json.loads(SEED_TOKEN)]), anything([ELEMENTS_WHOAMI]),
       page_of("items", ELEMENTS_ORGANIZATIONS), ANCHORS, page_of("items", ELEMENTS_DEVICES), ANCHORS)
@example({"access_token": "\x80", "token_type": "Bearer", "expires_in": 1797}, ELEMENTS_WHOAMI,  # thorough run
         {"items": []}, None, {"items": []}, None)
def test_elements_listing(token, whoami, organizations, organizations_anchor, devices, devices_anchor):
    organizations["nextAnchor"] = organizations_anchor
    devices["nextAnchor"] = devices_anchor
    routes = {"/as/token.oauth2": token, "/whoami/v1/whoami": whoami, "/organizations/v1/organizations": organizations,
              "/devices/v1/devices": devices}
    drive(ElementsClient, elements_answers(routes), devices_of)


@given(page_of("items", ELEMENTS_EVENTS), ANCHORS)
def test_elements_events(events, anchor):
    events["nextAnchor"] = anchor
    drive(ElementsClient, elements_answers({"/security-events/v1/security-events": events}), events_of)


def test_a_next_anchor_that_is_not_text_is_a_bad_response():
    """Found by the fuzzer: a list or an object as `nextAnchor` was sent back to the API as its Python repr."""
    pages = {"/devices/v1/devices": {"items": [ELEMENTS_DEVICES[0]], "nextAnchor": {"page": 2}},
             "/organizations/v1/organizations": {"items": ELEMENTS_ORGANIZATIONS}}
    failures: list[BaseException] = []

    async def use(client: ElementsClient) -> None:
        try:
            await devices_of(client)
        except BadResponseError as error:
            failures.append(error)

    drive(ElementsClient, elements_answers(pages), use)
    assert len(failures) == 1 and "`nextAnchor` is not text" in str(failures[0])


def test_an_epmm_total_larger_than_the_list_ends_at_the_first_empty_page():
    """Found by the fuzzer: with a `totalCount` far above the list, empty page followed empty page without end."""
    routes = {"/device_spaces/mine": {"results": EPMM_SPACES}, "/labels/label_summary": {"results": []},
              "/devices/search_fields": {"results": []}, "/devices": {"results": EPMM_DEVICES[:2], "totalCount": 10**6}}
    loaded: list[int] = []

    def answer(request: httpx.Request) -> Any:
        first = request.url.params.get("offset", "0") == "0"
        return routes[request.url.path.removeprefix("/api/v2")] if first else EPMM_END

    async def use(client: EpmmClient) -> None:
        loaded.extend([len(page.devices) async for page in client.devices()])

    drive(EpmmClient, answer, use)
    assert sum(loaded) == 2
