"""The Elements client against the simulator over real HTTP on loopback (TLS included), and against small
mock transports: token caching and refresh, the scope, the server-side filters, the pipelined anchor
paging, rate limits, the `x-transaction` header in errors, RFC 3339 timestamps, the fault matrix, and no
secret in any message."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from helpers import assert_no_secrets
from tui.inventory import DeviceFilter
from tui.models import Connection, Device, DeviceQuery, Health
from tui.simulators.elements import (
    DEVICES_PATH,
    TOKEN_PATH,
    WHOAMI_PATH,
    ElementsFleet,
    ElementsSimulator,
    create_app,
)
from tui.simulators.serve import ServerThread
from tui.vendors import elements, open_client
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    NotFoundError,
    ServerError,
    TlsError,
    VendorClient,
    VendorError,
    rfc3339,
    waits_told_to,
)
from tui.vendors.elements import DEFAULT_URL, ElementsClient, ip_addresses, peek_anchor

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CLIENT_ID = "fusion_0a1b2c3d4e5f60718293"
SECRET = "Corr3ct-Horse-Battery!"
WRONG_SECRET = "Wr0ng-Staple-Guess?"
FLEET_SIZE = 900  # about seven pages, company by company
TOKEN_TTL = 1799
WAIT = 30.0  # upper bound for any single client call: nothing may hang
TRANSACTION = re.compile(r"\btransaction 0000-[0-9a-f]{16}\b")
"""The id WithSecure support asks for: from the error body's `transactionId`, else the `x-transaction` header."""
HEALTH = {"critical": Health.CRITICAL, "warning": Health.WARNING, "allOk": Health.OK, "isolated": Health.WARNING,
          "inactive": Health.UNKNOWN, None: Health.UNKNOWN}
STATE = {"isolated": "isolated", "inactive": "inactive"}
MISSING = {"missingCriticalUpdates": True, "missingImportantUpdates": False, "importantUpdatesInstalled": False,
           "disabled": None, "outdatedScanResults": None, "notScannedYet": None, None: None}


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, WAIT)


async def all_devices(client: VendorClient, query: DeviceQuery = DeviceQuery()) -> list[Device]:
    async def collect() -> list[Device]:
        return [device async for page in client.devices(query) for device in page.devices]

    return await bounded(collect())


def token_posts(simulator: ElementsSimulator, since: int = 0) -> int:
    return sum(1 for logged in simulator.requests[since:] if logged.path == TOKEN_PATH)


def device_queries(simulator: ElementsSimulator, since: int = 0) -> list[dict[str, list[str]]]:
    return [parse_qs(logged.query) for logged in simulator.requests[since:] if logged.path == DEVICES_PATH]


pytestmark = pytest.mark.usefixtures("no_leftover_faults")


@pytest.fixture(scope="module")
def simulator() -> ElementsSimulator:
    return ElementsSimulator(ElementsFleet(FLEET_SIZE, seed=11, now=NOW), client_id=CLIENT_ID,
                             client_secret=SECRET, token_ttl=TOKEN_TTL)


@pytest.fixture
async def connect(server, tls_files) -> AsyncIterator[Callable[..., ElementsClient]]:
    """Open clients onto the https simulator (trusting its CA unless told otherwise); all closed after."""
    opened: list[VendorClient] = []

    def open_one(secret: str | None = SECRET, *, verify: bool | str | None = None, read_only: bool = True,
                 clock: Callable[[], datetime] | None = None) -> ElementsClient:
        connection = Connection(name="lab-elements", vendor="elements", url=server.url, username=CLIENT_ID,
                                verify=str(tls_files[1]) if verify is None else verify, read_only=read_only)
        client = open_client(connection, secret, clock=clock or (lambda: NOW))
        assert isinstance(client, ElementsClient)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


# --- connection and TLS --------------------------------------------------------------------------------


async def test_an_empty_url_means_the_public_api():
    client = open_client(Connection(name="cloud", vendor="elements", url="", username=CLIENT_ID), SECRET)
    try:
        assert str(client.http.base_url) == DEFAULT_URL
    finally:
        await client.aclose()


async def test_probe_needs_no_credentials(connect, simulator):
    before = len(simulator.requests)

    info = await bounded(connect(secret=None).probe())

    assert (info.product, info.version, info.api_version) == ("Elements", "API v1", "v1")
    assert [(logged.method, logged.path) for logged in simulator.requests[before:]] == [("GET", WHOAMI_PATH)]


@pytest.mark.parametrize(("fault", "value"), [("429", 0.2), ("reset", None), ("html", None)])
async def test_probe_survives_one_rate_limit_or_dropped_connection(connect, simulator, fault, value):
    simulator.faults.add(fault, value=value, path=WHOAMI_PATH)

    info = await bounded(connect(secret=None).probe())

    assert info.product == "Elements"
    assert simulator.faults.take(WHOAMI_PATH) == []  # the fault was met, then the retry answered


async def test_probe_of_something_else_says_so():
    """A web server without the Elements API is not taken for one."""
    page = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
    transport = httpx.MockTransport(lambda request: httpx.Response(404, html=page))
    client = ElementsClient(Connection(name="x", vendor="elements", url="https://intranet.example"), None,
                            transport=transport)
    with pytest.raises(NotFoundError) as caught:
        await bounded(client.probe())
    await client.aclose()

    assert f"has no {WHOAMI_PATH} (404): 404 Not Found." in str(caught.value)


async def test_system_store_rejects_a_private_ca_and_no_secret_is_sent(connect, simulator):
    before = len(simulator.requests)
    client = connect(verify=True)

    with pytest.raises(TlsError) as caught:
        await bounded(client.check_login())

    assert "certificate" in str(caught.value) and "rejected" in str(caught.value)
    assert simulator.requests[before:] == []
    assert_no_secrets(caught.value, client, SECRET)


# --- the token ----------------------------------------------------------------------------------------------


async def test_check_login_fetches_a_read_token_and_asks_whoami(connect, simulator):
    before, issued = len(simulator.requests), len(simulator.issued)
    client = connect()

    await bounded(client.check_login())

    assert [logged.path for logged in simulator.requests[before:]] == [TOKEN_PATH, WHOAMI_PATH]
    assert [scope for _, scope in simulator.issued[issued:]] == ["connect.api.read"]
    assert await client.whoami() == {"clientId": CLIENT_ID, "organizationId": simulator.fleet.partner["id"]}


async def test_the_write_scope_only_on_a_connection_that_allows_writes(connect, simulator):
    issued = len(simulator.issued)

    await bounded(connect(read_only=False).check_login())
    await bounded(connect(read_only=True).check_login())

    assert [scope for _, scope in simulator.issued[issued:]] == ["connect.api.read connect.api.write",
                                                                  "connect.api.read"]


async def test_wrong_secret_is_an_authentication_error_tried_once(connect, simulator):
    before = len(simulator.requests)
    client = connect(secret=WRONG_SECRET)

    with pytest.raises(AuthenticationError) as caught:
        await bounded(client.groups())

    message = str(caught.value)
    assert caught.value.status == 401
    assert "refused the credentials (401): Client authentication failed (code invalid_client)." in message
    assert TRANSACTION.search(message)
    assert "client id (user name) and client secret" in message
    assert [logged.path for logged in simulator.requests[before:]] == [TOKEN_PATH]
    assert_no_secrets(caught.value, client, WRONG_SECRET, SECRET)


async def test_the_token_is_reused_across_calls(connect, simulator):
    before = len(simulator.requests)
    client = connect()

    await bounded(client.check_login())
    await bounded(client.groups())
    await all_devices(client)
    await all_devices(client, DeviceQuery(critical=True))

    assert token_posts(simulator, before) == 1


async def test_token_expiring_mid_listing_is_fetched_again_once_and_nothing_is_lost(connect, simulator):
    """The server forgets every token after the first page: one refused page request, one new token, the
    same request replayed, and the listing carries on."""
    client = connect()
    await bounded(client.groups())
    before = len(simulator.requests)
    pages = 0

    async def listing() -> list[Device]:
        nonlocal pages
        devices: list[Device] = []
        async for page in client.devices():
            pages += 1
            devices += page.devices
            if pages == 1:
                simulator.expire_tokens()
        return devices

    devices = await bounded(listing())

    assert pages >= 3
    assert len(devices) == len({device.id for device in devices}) == FLEET_SIZE
    log = simulator.requests[before:]
    assert token_posts(simulator, before) == 1
    refresh = [logged.path for logged in log].index(TOKEN_PATH)
    refused, replayed = log[refresh - 1], log[refresh + 1]
    assert refused.path == replayed.path == DEVICES_PATH
    assert refused.query == replayed.query


async def test_client_clock_past_the_token_lifetime_fetches_a_token_before_the_call(connect, simulator):
    """The client trusts expires_in (less a margin) and does not wait for a 401."""
    moment = [NOW]
    client = connect(clock=lambda: moment[0])
    await bounded(client.check_login())

    moment[0] = NOW + timedelta(seconds=TOKEN_TTL - 61)
    before = len(simulator.requests)
    await bounded(client.groups())
    assert token_posts(simulator, before) == 0

    moment[0] = NOW + timedelta(seconds=TOKEN_TTL)
    before = len(simulator.requests)
    await bounded(client.groups())
    assert [logged.path for logged in simulator.requests[before:]][:1] == [TOKEN_PATH]


# --- groups and devices ------------------------------------------------------------------------------------


async def test_partner_credentials_see_the_partner_over_its_companies(connect, simulator):
    groups = await bounded(connect().groups())

    fleet = simulator.fleet
    partner = fleet.partner["name"]
    assert groups[0].path == (partner,) and groups[0].parent_id is None
    assert groups[0].id == fleet.partner["id"]
    assert sorted(group.path for group in groups[1:]) == sorted((partner, company["name"])
                                                                for company in fleet.companies)
    assert {group.parent_id for group in groups[1:]} == {fleet.partner["id"]}


async def test_devices_are_listed_company_by_company_in_pages_of_200(connect, simulator):
    before = len(simulator.requests)
    client = connect()

    pages = [page async for page in client.devices()]

    devices = [device for page in pages for device in page.devices]
    assert len(devices) == len({device.id for device in devices}) == FLEET_SIZE
    assert [page.loaded for page in pages] == list(accumulate(len(page.devices) for page in pages))
    assert {page.total for page in pages} == {None}
    queries = device_queries(simulator, before)
    assert len(queries) == len(pages) > len(simulator.fleet.companies)
    assert all(query["limit"] == ["200"] for query in queries)
    companies = [query["organizationId"][0] for query in queries]
    assert set(companies) == {company["id"] for company in simulator.fleet.companies}
    assert companies == sorted(companies, key=companies.index)  # one company after another
    assert any("anchor" in query for query in queries)


@pytest.mark.parametrize(("query", "local", "sent"), [
    (DeviceQuery(critical=True), DeviceFilter(critical=True), {"protectionStatusOverview": ["critical"]}),
    (DeviceQuery(missing_patch=True), DeviceFilter(missing_patch=True),
     {"patchOverallState": ["missingCriticalUpdates"]}),
    (DeviceQuery(critical=True, missing_patch=True), DeviceFilter(critical=True, missing_patch=True),
     {"protectionStatusOverview": ["critical"], "patchOverallState": ["missingCriticalUpdates"]}),
])
async def test_server_side_filters_are_sent_and_mean_what_the_local_filter_means(connect, simulator, query, local,
                                                                                  sent):
    client = connect()
    everything = await all_devices(client)
    before = len(simulator.requests)

    filtered = await all_devices(client, query)

    queries = device_queries(simulator, before)
    assert queries and all(sent.items() <= query_params.items() for query_params in queries)
    assert 0 < len(filtered) < len(everything)
    assert sorted(device.id for device in filtered) == sorted(device.id for device in local.apply(everything))


async def test_a_selected_company_is_sent_as_organization_id(connect, simulator):
    client = connect()
    groups = await bounded(client.groups())
    everything = await all_devices(client)
    company = groups[2]
    before = len(simulator.requests)

    chosen = await all_devices(client, DeviceQuery(critical=True, group_id=company.id))

    assert {query["organizationId"][0] for query in device_queries(simulator, before)} == {company.id}
    expected = DeviceFilter(critical=True, group=company.path).apply(everything)
    assert sorted(device.id for device in chosen) == sorted(device.id for device in expected)


async def test_selecting_the_partner_lists_all_its_companies(connect, simulator):
    client = connect()
    groups = await bounded(client.groups())
    before = len(simulator.requests)

    devices = await all_devices(client, DeviceQuery(group_id=groups[0].id))

    assert len(devices) == FLEET_SIZE
    assert {query["organizationId"][0] for query in device_queries(simulator, before)} == {
        group.id for group in groups[1:]}


async def test_company_credentials_see_one_node_and_ask_without_organization_id():
    fleet = ElementsFleet(300, seed=5, now=NOW)
    company = fleet.companies[0]
    simulator = ElementsSimulator(fleet, organization_id=company["id"])
    with ServerThread(create_app(simulator)) as server:
        client = open_client(Connection(name="company", vendor="elements", url=server.url,
                                        username=simulator.client_id), simulator.client_secret)
        try:
            groups = await bounded(client.groups())
            devices = await all_devices(client)
        finally:
            await client.aclose()

    assert [(group.id, group.path, group.parent_id) for group in groups] == [(company["id"], (company["name"],), None)]
    assert devices and {device.group for device in devices} == {company["name"]}
    assert all("organizationId" not in query for query in device_queries(simulator))


async def test_records_map_by_the_documented_rules(connect, simulator):
    devices = await all_devices(connect())

    partner = simulator.fleet.partner["name"]
    for device in devices:
        raw = device.raw
        assert (device.vendor, device.connection, device.id, device.name) == (
            "elements", "lab-elements", raw["id"], raw["name"])
        overview = raw.get("protectionStatusOverview")
        assert device.health is HEALTH[overview]
        assert device.state == (STATE.get(overview) or ("blocked" if raw.get("state") == "blocked" else ""))
        assert device.missing_critical_patches is MISSING[raw.get("patchOverallState")]
        if overview in ("critical", "warning"):
            assert f"protection status {overview}" in device.health_reasons
            assert ("malware protection disabled" in device.health_reasons) is (raw["malwareState"] == "disabled")
            assert ("firewall disabled" in device.health_reasons) is (raw.get("firewallState") == "disabled")
        elif device.state:
            assert device.health_reasons[0].startswith(device.state)
        elif raw.get("patchOverallState") not in ("disabled", "outdatedScanResults", "notScannedYet"):
            assert device.health_reasons == ()
        if raw["type"] != "connector":
            assert device.os == f"{raw['os']['name']} {raw['os']['version']}"
        addresses = raw.get("ipAddresses", "")
        assert device.ip_addresses == tuple(part.split("/")[0] for part in addresses.split(",") if part)
        assert (device.group_id, device.group) == (raw["company"]["id"], f"{partner}\\{raw['company']['name']}")
        assert device.online is raw["online"]
        assert device.user == raw.get("lastUser", "")
        assert device.last_seen == datetime.strptime(raw["statusUpdateTimestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert device.last_seen.tzinfo is UTC
    # the fleet exercises every branch, so the checks above are not vacuous
    assert {device.health for device in devices} == {Health.CRITICAL, Health.WARNING, Health.OK, Health.UNKNOWN}
    assert {device.state for device in devices} >= {"", "isolated", "inactive"}
    assert any(device.health_reasons[:1] == ("isolated from the network (a response action cut it off; release it "
                                             "when clean)",) for device in devices)
    assert {device.missing_critical_patches for device in devices} == {True, False, None}
    assert any("patches not scanned yet" in device.health_reasons for device in devices)
    assert any("malware protection disabled" in device.health_reasons for device in devices)
    assert any("firewall disabled" in device.health_reasons for device in devices)
    assert any(len(device.ip_addresses) == 2 for device in devices)
    assert {device.raw["type"] for device in devices} == {"computer", "mobile", "connector"}


async def test_every_device_keeps_the_record_the_server_sent(connect, simulator):
    devices = await all_devices(connect())

    fleet = simulator.fleet
    served = {record["id"]: record for record in map(fleet.device, range(FLEET_SIZE))}
    assert len(devices) == FLEET_SIZE  # the junk items the server mixes in are no devices
    for device in devices:
        assert device.raw == json.loads(json.dumps(served[device.id]))


async def test_a_device_keeps_its_own_record_when_the_page_holds_other_items():
    items = [{"id": "a"}, 7, None, {}, {"id": "b"}, "junk", {"name": "no id"}, {"id": ""}]
    pages = await mocked_device_pages(lambda request: httpx.Response(200, json={"items": items}))

    assert [device.raw for page in pages for device in page.devices] == [{"id": "a"}, {"id": "b"}]
    assert [(page.loaded, page.skipped, page.repaired) for page in pages] == [(2, 6, 0)]


async def collect_pages(client: ElementsClient) -> list:
    return [page async for page in client.devices()]


async def mocked_device_pages(handle: Callable[[httpx.Request], httpx.Response]) -> list:
    """Every device page of a `mock_client` that knows its organization (so only the listing is asked)."""
    client = mock_client(handle)
    client._groups = []
    client._whoami = {"clientId": CLIENT_ID, "organizationId": str(uuid.uuid4())}
    try:
        return await bounded(collect_pages(client))
    finally:
        await client.aclose()


async def test_the_simulators_junk_items_are_skipped_and_counted(connect, simulator):
    """The simulator mixes `{}` and id-less items into some pages, as the real API does: never a device."""
    pages = await bounded(collect_pages(connect()))

    assert sum(page.skipped for page in pages) > 0
    assert all(device.id and device.name for page in pages for device in page.devices)
    assert pages[-1].loaded == FLEET_SIZE


async def test_a_device_with_bytes_that_are_not_utf8_is_kept_and_counted():
    body = (b'{"items":[{"id":"a","name":"WS-1","lastUser":"cl\xe9ment\x00"},{"id":"b","name":"WS-2"},'
            b'{"name":"no id \xff"}]}')
    pages = await mocked_device_pages(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"}))

    devices = [device for page in pages for device in page.devices]
    assert [device.id for device in devices] == ["a", "b"]
    assert devices[0].user == "cl\ufffdment"
    assert devices[0].raw["lastUser"] == "cl\ufffdment"  # the detail view reads the repaired page
    assert [(page.skipped, page.repaired) for page in pages] == [(1, 1)]


# --- pipelining ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "anchor"), [
    (b'{"items":[{"id":"d1"}],"nextAnchor":"YTE6MjAw"}', "YTE6MjAw"),
    (b'{\n  "items": [],\n  "nextAnchor" : "abc"\n}\n', "abc"),
    (b'{"items":[],"nextAnchor":"a\\"b\\\\c\\u00e9\\/"}', 'a"b\\c\u00e9/'),
    (b'{"items":[],"nextAnchor":null}', None),
    (b'{"items":[]}', None),
    (b'{"items":[],"nextAnchor":""}', None),
    (b'{"items":[],"nextAnchor":42}', None),
    (b'{"nextAnchor":"first","items":[]}', None),  # not the last member: the parsed page tells
    (b'{"items":[{"nextAnchor":"inner"}]}', None),
    (b'{"items":[],"\\"nextAnchor":"other key"}', None),
    (b'{"items":[],"nextAnchor":"' + b"x" * 2000 + b'"}', None),  # longer than the peek looks
    (b'{"items":[],"nextAnchor":"cut', None),
])
def test_the_next_anchor_is_read_from_the_end_of_the_body_or_left_to_the_parser(body, anchor):
    assert peek_anchor(body) == anchor
    if anchor is not None:
        assert orjson.loads(body)["nextAnchor"] == anchor


def paged_by_anchor(pages: int, anchor_last: bool) -> tuple[Callable[[httpx.Request], httpx.Response], list]:
    """A small Elements: `pages` pages of two devices, anchors "p1", "p2"...; an unknown anchor is a 400."""
    asked: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        anchor = request.url.params.get("anchor")
        asked.append(anchor)
        index = 0 if anchor is None else int(anchor[1:]) if anchor in {f"p{n}" for n in range(pages)} else -1
        if index < 0:
            return httpx.Response(400, json={"code": 400, "message": f"Invalid anchor '{anchor}'"})
        items = [{"id": f"d{index}-{n}"} for n in range(2)]
        rest = {"nextAnchor": f"p{index + 1}"} if index + 1 < pages else {}
        return httpx.Response(200, json={**rest, "items": items} if not anchor_last else {"items": items, **rest})

    return answer, asked


@pytest.mark.parametrize("anchor_last", [True, False])
async def test_anchor_paging_reads_every_page_once_wherever_the_anchor_is(anchor_last):
    answer, asked = paged_by_anchor(4, anchor_last)
    client = mock_client(answer)
    client._groups = []
    client._whoami = {"clientId": CLIENT_ID, "organizationId": str(uuid.uuid4())}
    try:
        devices = await all_devices(client)
    finally:
        await client.aclose()

    assert [device.id for device in devices] == [f"d{page}-{n}" for page in range(4) for n in range(2)]
    assert asked == [None, "p1", "p2", "p3"]


async def test_a_wrong_peeked_anchor_is_replaced_by_the_parsed_one(monkeypatch):
    monkeypatch.setattr(elements, "peek_anchor", lambda body: "bogus")
    answer, asked = paged_by_anchor(3, anchor_last=True)
    client = mock_client(answer)
    client._groups = []
    client._whoami = {"clientId": CLIENT_ID, "organizationId": str(uuid.uuid4())}
    try:
        devices = await all_devices(client)
    finally:
        await client.aclose()

    assert [device.id for device in devices] == [f"d{page}-{n}" for page in range(3) for n in range(2)]
    assert [anchor for anchor in asked if anchor != "bogus"] == [None, "p1", "p2"]


async def test_the_next_page_is_requested_before_the_consumer_is_done_with_this_one(connect, simulator):
    """A consumer busy without yielding to the event loop: by the time it is done with page n, the server
    has already received the request for page n + 1."""
    client = connect()
    await bounded(client.groups())
    before = len(simulator.requests)
    requested_when_done: list[int] = []

    async def listing() -> None:
        async for _ in client.devices():
            time.sleep(0.2)  # parsing, rendering: work that blocks the loop
            requested_when_done.append(len(device_queries(simulator, before)))

    await bounded(listing())

    pages = len(requested_when_done)
    assert pages >= 4
    assert requested_when_done == [min(page + 1, pages) for page in range(1, pages + 1)]


async def test_pipelining_overlaps_a_waiting_consumer_with_the_server(connect, simulator):
    """150 ms per page on the server and a consumer that awaits 150 ms per page: while it waits on page n,
    the request for page n + 1 is already at the server (so the two waits overlap, not add up)."""
    client = connect()
    await bounded(client.groups())
    simulator.faults.add("latency", value=150, path=DEVICES_PATH, times=None)
    before = len(simulator.requests)
    requested_when_done: list[int] = []

    async def slow_consumer() -> None:
        async for _ in client.devices():
            await asyncio.sleep(0.15)
            requested_when_done.append(len(device_queries(simulator, before)))

    await bounded(slow_consumer())

    pages = len(requested_when_done)
    assert pages >= 5
    assert requested_when_done == [min(page + 1, pages) for page in range(1, pages + 1)]


async def test_a_consumer_stopping_early_cancels_the_page_in_flight(connect, simulator):
    client = connect()
    await bounded(client.groups())
    before = len(simulator.requests)

    listing = client.devices()
    first = await bounded(anext(listing))
    await bounded(listing.aclose())

    assert len(first.devices) == 200
    assert len(device_queries(simulator, before)) <= 2
    assert len(await all_devices(client)) == FLEET_SIZE  # the client is still fine


# --- rate limits -----------------------------------------------------------------------------------------------


async def test_429_retry_after_is_obeyed_and_reported():
    """Five requests a second: the listing waits out each 429 for the Retry-After the server names,
    says so to the wait listener, and still loads everything."""
    simulator = ElementsSimulator(ElementsFleet(300, seed=5, now=NOW), rate_limit=5, rate_window=1.0)
    said: list[str | None] = []
    with ServerThread(create_app(simulator)) as server:
        client = open_client(Connection(name="busy", vendor="elements", url=server.url,
                                        username=simulator.client_id), simulator.client_secret)
        try:
            started = time.perf_counter()
            with waits_told_to(said.append):
                devices = await all_devices(client)
            elapsed = time.perf_counter() - started
        finally:
            await client.aclose()

    assert len(devices) == 300
    waits = [reason for reason in said if reason]
    assert waits and all(reason.startswith("Elements: rate limited; retrying in 1 s") for reason in waits)
    assert said[-1] is None
    assert elapsed >= 0.5 * len(waits)  # the pauses were taken, not skipped


# --- errors and the fault matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "value"), [
    ("html", None), ("429", 0.2), ("reset", None), ("latency", 100), ("slow-body", 0.4), ("expire-token", None)])
async def test_faults_that_a_retry_or_a_new_token_survives(connect, simulator, fault, value):
    client = connect()
    await bounded(client.groups())
    simulator.faults.add(fault, value=value, path=DEVICES_PATH)

    devices = await all_devices(client)

    assert len(devices) == len({device.id for device in devices}) == FLEET_SIZE
    assert simulator.faults.take(DEVICES_PATH) == []  # the fault was met, not skipped


@pytest.mark.parametrize(("fault", "kind", "words"), [
    ("500", ServerError, "failed on /devices/v1/devices (500)"),
    ("malformed", BadResponseError, "malformed or truncated JSON"),
    ("truncated", BadResponseError, "malformed or truncated JSON"),
])
async def test_faults_that_are_reported_with_the_transaction(connect, simulator, fault, kind, words):
    client = connect()
    await bounded(client.groups())
    simulator.faults.add(fault, path=DEVICES_PATH)

    with pytest.raises(kind) as caught:
        await all_devices(client)

    assert words in str(caught.value)
    assert TRANSACTION.search(str(caught.value)), str(caught.value)
    assert_no_secrets(caught.value, client, SECRET, *(token for token, _ in simulator.issued))


MOCK_TOKEN = "Zx81Qw2Er4Ty6Ui8Op0As2Df4Gh6Jk8L"


def mock_client(handle: Callable[[httpx.Request], httpx.Response]) -> ElementsClient:
    """A client whose server issues a token normally and answers every other call with `handle`."""
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": MOCK_TOKEN, "token_type": "Bearer", "expires_in": 1799})
        return handle(request)

    connection = Connection(name="mock", vendor="elements", url=DEFAULT_URL, username=CLIENT_ID)
    return ElementsClient(connection, SECRET, transport=httpx.MockTransport(serve), clock=lambda: NOW)


async def test_error_bodies_of_both_shapes_are_put_in_words():
    transaction = "0000-983230617dc2471d"
    bodies = iter([
        httpx.Response(403, json={"code": 403001, "message": "Client has no access to organization"},
                       headers={"x-transaction": transaction}),
        httpx.Response(400, json={"error": "invalid_request", "error_description": "Missing parameter"}),
        httpx.Response(400, json={"message": "Request parameter(s) have wrong format. Check details.",
                                  "code": 400001, "transactionId": transaction,
                                  "details": {"invalidParam": "limit", "invalidValue": "500"}},
                       headers={"x-transaction": transaction}),
    ])
    client = mock_client(lambda request: next(bodies))

    errors: list[VendorError] = []
    for _ in range(3):
        with pytest.raises(VendorError) as caught:
            await bounded(client.whoami())
        errors.append(caught.value)
    await client.aclose()

    assert f"(403): Client has no access to organization (code 403001). (x-transaction {transaction})" in str(
        errors[0])
    assert "(400): Missing parameter (code invalid_request)." in str(errors[1])
    assert str(errors[2]) == (
        "Elements at api.connect.withsecure.com rejected /whoami/v1/whoami (400): Request parameter(s) have wrong "
        f"format. Check details; invalid limit: '500' (code 400001, transaction {transaction}).")


async def test_a_server_echoing_the_secret_and_the_token_does_not_leak_them():
    def echoes(request: httpx.Request) -> httpx.Response:
        said = f"token {request.headers['authorization'].partition(' ')[2]} refused; secret {SECRET}"
        return httpx.Response(500, json={"code": 500, "message": said})

    client = mock_client(echoes)
    with pytest.raises(ServerError) as caught:
        await bounded(client.whoami())
    await client.aclose()

    assert "token *** refused; secret ***" in str(caught.value)
    assert_no_secrets(caught.value, client, SECRET, MOCK_TOKEN)


@pytest.mark.parametrize(("answer", "words"), [
    ({"nextAnchor": "x"}, "without `items`"),
    ({"items": [], "nextAnchor": "a"}, "same anchor again"),  # the first page is fine, the second repeats it
])
async def test_a_page_without_items_or_repeating_its_anchor_is_a_bad_response(answer, words):
    client = mock_client(lambda request: httpx.Response(200, json=answer))
    client._groups = []
    client._whoami = {"clientId": CLIENT_ID, "organizationId": str(uuid.uuid4())}

    with pytest.raises(BadResponseError, match=words):
        await all_devices(client)
    await client.aclose()


# --- parsing helpers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2022-11-05T15:08:59Z", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
    ("2022-11-05T07:08:59-08:00", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
    ("2022-11-05T07:17:59+02:00", datetime(2022, 11, 5, 5, 17, 59, tzinfo=UTC)),
    ("2023-05-20T13:15:16.550Z", datetime(2023, 5, 20, 13, 15, 16, 550000, tzinfo=UTC)),
    ("2023-05-20T13:15:16.5501234+05:30", datetime(2023, 5, 20, 7, 45, 16, 550123, tzinfo=UTC)),
    ("2022-11-05t15:08:59z", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
    ("2022-11-05 15:08:59+00:00", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
    ("2022-11-05T15:08:59", datetime(2022, 11, 5, 15, 8, 59, tzinfo=UTC)),
    ("2022-11-05T23:59:60Z", None),
    ("yesterday", None),
    ("", None),
    (None, None),
    (1667660939, None),
])
def test_rfc3339_timestamps_become_aware_utc(text, expected):
    parsed = rfc3339(text)

    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC and parsed.utcoffset() == timezone.utc.utcoffset(None)


@pytest.mark.parametrize(("value", "expected"), [
    ("172.31.40.211/20", ("172.31.40.211",)),
    ("10.1.2.3/24,fe80::1:2:3:4/64", ("10.1.2.3", "fe80::1:2:3:4")),
    (["10.0.0.5", "10.0.0.6/24"], ("10.0.0.5", "10.0.0.6")),
    ("", ()),
    (None, ()),
])
def test_ip_addresses_from_a_string_or_a_list(value, expected):
    assert ip_addresses(value) == expected
