"""The EPMM client against the simulator over real HTTP on loopback (TLS included), and against mock
transports for the shapes and answers the simulator does not produce: every failure arrives as the right
typed `VendorError` with a message a person can act on, bounded in time, and free of the password and of
the Basic credential."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from helpers import assert_no_secrets
from tui.models import Connection, Device, DevicePage, DeviceQuery, Health, ServerInfo
from tui.simulators.epmm import GDPR_USERNAME, EpmmFleet, EpmmSimulator, create_app
from tui.simulators.serve import ServerThread
from tui.vendors import open_client
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    NotFoundError,
    ServerError,
    TlsError,
    VendorClient,
    VendorError,
    waits_told_to,
)
from tui.vendors.epmm import (
    DEVICE_FIELDS,
    OBFUSCATED,
    PAGE_SIZE,
    EpmmClient,
    assess,
    is_obfuscated,
    os_unsupported,
    record_to_device,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
API = "/api/v2"
DEVICES = ("GET", f"{API}/devices")
USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
WRONG_PASSWORD = "Wr0ng-Staple-Guess?"
FLEET_SIZE = 1100  # five full pages of PAGE_SIZE and a short sixth
WAIT = 30.0  # upper bound for any single client call: nothing may hang


def credential(password: str = PASSWORD, username: str = USERNAME) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, WAIT)


async def all_pages(client: VendorClient, query: DeviceQuery = DeviceQuery()) -> list[DevicePage]:
    async def collect() -> list[DevicePage]:
        return [page async for page in client.devices(query)]

    return await bounded(collect())


def devices_of(pages: list[DevicePage]) -> list[Device]:
    return [device for page in pages for device in page.devices]


pytestmark = pytest.mark.usefixtures("no_leftover_faults")


@pytest.fixture(scope="module")
def simulator() -> EpmmSimulator:
    return EpmmSimulator(EpmmFleet(FLEET_SIZE, seed=11, now=NOW), username=USERNAME, password=PASSWORD)


@pytest.fixture
async def connect(server, tls_files) -> AsyncIterator[Callable[..., EpmmClient]]:
    """Open clients onto the https simulator (trusting its CA unless told otherwise); all closed after."""
    opened: list[EpmmClient] = []

    def open_one(secret: str | None = PASSWORD, *, username: str = USERNAME, url: str | None = None,
                 verify: bool | str | None = None, sleeps: list[float] | None = None, **settings) -> EpmmClient:
        connection = Connection(name="lab-epmm", vendor="epmm", url=url or server.url, username=username,
                                verify=str(tls_files[1]) if verify is None else verify, allow_http=True, **settings)

        async def no_wait(seconds: float) -> None:
            if sleeps is not None:
                sleeps.append(seconds)

        client = EpmmClient(connection, secret, clock=lambda: NOW, sleep=no_wait)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


# --- reaching the server and logging in ----------------------------------------------------------------------


async def test_open_client_picks_the_epmm_client(server):
    client = open_client(Connection(name="x", vendor="epmm", url=server.url, username=USERNAME), PASSWORD)
    try:
        assert type(client) is EpmmClient
    finally:
        await client.aclose()


async def test_probe_without_credentials_counts_the_401_as_epmm(connect, simulator):
    """EPMM has no unauthenticated call: the ping's 401 proves an API asking for Basic credentials is there."""
    before = len(simulator.requests)

    info = await bounded(connect(secret=None).probe())

    assert info == ServerInfo("EPMM", "")
    assert info.title == "EPMM (version not disclosed)"
    assert simulator.requests[before:] == [("GET", f"{API}/ping")]


async def test_check_login_is_one_authenticated_ping(connect, simulator):
    before = len(simulator.requests)

    await bounded(connect().check_login())

    assert simulator.requests[before:] == [("GET", f"{API}/ping")]


async def test_system_store_rejects_the_private_ca_and_says_why(connect, simulator):
    before = len(simulator.requests)
    client = connect(verify=True)

    with pytest.raises(TlsError) as caught:
        await bounded(client.check_login())

    assert "unable to get local issuer certificate" in str(caught.value)
    assert simulator.requests[before:] == []  # the credentials never left the handshake
    assert_no_secrets(caught.value, client, PASSWORD, credential())


async def test_wrong_password_is_an_authentication_error_sent_once_and_without_secrets(connect, simulator):
    before = len(simulator.requests)
    client = connect(secret=WRONG_PASSWORD)

    with pytest.raises(AuthenticationError) as caught:
        await bounded(client.groups())

    message = str(caught.value)
    assert caught.value.status == 401
    assert "EPMM at 127.0.0.1 refused the credentials (401): Authentication failed." in message
    assert "holds the API role" in message  # EPMM's hint: a valid user without the role also gets 401
    assert simulator.requests[before:] == [("GET", f"{API}/device_spaces/mine")]  # never retried
    assert_no_secrets(caught.value, client, WRONG_PASSWORD, PASSWORD, credential(WRONG_PASSWORD))


# --- groups and devices ------------------------------------------------------------------------------------------


async def test_groups_are_device_spaces_and_labels(connect, simulator):
    client = connect()

    groups = await bounded(client.groups())
    devices = devices_of(await all_pages(client))

    by_id = {group.id: group for group in groups}
    assert len(by_id) == len(groups)
    assert [group.path for group in groups if group.parent_id is None] == [("Device spaces",), ("Labels",)]
    spaces = [group for group in groups if group.parent_id == "spaces"]
    assert [(group.id, group.name) for group in spaces] == [
        ("space:1", "Global"), ("space:2", "EMEA"), ("space:3", "Americas"), ("space:4", "APAC")]
    labels = {group.name: group for group in groups if group.parent_id == "labels"}
    assert {"iOS", "Android", "Executives", "Field Sales", "Employee-Owned"} <= set(labels)
    assert all(group.id.startswith("label:") and group.path == ("Labels", group.name) for group in labels.values())
    assert labels["All-Smartphones"].id == "label:-1"  # system labels have negative ids
    paths = {group.path_text for group in groups}
    for device in devices:
        assert device.group in paths and by_id[device.group_id].path_text == device.group
        assert device.labels == ()  # the whole-fleet search says nothing about labels
    members = [device async for page in client.label_devices([group.id for group in labels.values()])
               for device in page.devices]
    for name, group in labels.items():
        assert group.device_count == sum(device.labels == (f"Labels\\{name}",) for device in members) > 0


async def test_device_pages_arrive_in_order_and_add_up(connect, simulator):
    before = len(simulator.requests)

    pages = await all_pages(connect())

    assert [page.loaded for page in pages] == [200, 400, 600, 800, 1000, 1100]
    assert {page.total for page in pages} == {FLEET_SIZE}
    devices = devices_of(pages)
    assert [device.raw["common.id"] for device in devices] == list(range(1, FLEET_SIZE + 1))
    assert len({device.id for device in devices}) == FLEET_SIZE
    assert all(device.vendor == "epmm" and device.connection == "lab-epmm" for device in devices)
    sent = simulator.requests[before:]
    assert sent.count(DEVICES) == 6
    assert sent[:2] == [("GET", f"{API}/device_spaces/mine"), ("GET", f"{API}/devices/search_fields")]


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the simulator in-process and keeps them, headers included."""

    def __init__(self, simulator: EpmmSimulator) -> None:
        self.inner = httpx.ASGITransport(app=create_app(simulator))
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await self.inner.handle_async_request(request)


async def test_every_call_carries_basic_auth_and_the_device_space_where_it_applies():
    simulator = EpmmSimulator(EpmmFleet(300, seed=2, now=NOW), username=USERNAME, password=PASSWORD)
    recording = Recording(simulator)
    connection = Connection(name="x", vendor="epmm", url="https://epmm.example.internal", username=USERNAME,
                            device_space_id=2)
    client = EpmmClient(connection, PASSWORD, transport=recording, clock=lambda: NOW)
    try:
        await bounded(client.check_login())
        await bounded(client.groups())
        devices = devices_of(await all_pages(client))
    finally:
        await client.aclose()

    assert {device.group for device in devices} == {"Device spaces\\EMEA"}  # the space admin's view
    assert all(request.headers["authorization"] == f"Basic {credential()}" for request in recording.sent)
    scoped = [request for request in recording.sent
              if request.url.path in (f"{API}/devices", f"{API}/devices/search_fields", f"{API}/labels/label_summary")]
    assert len(scoped) >= 3
    assert all(request.url.params["adminDeviceSpaceId"] == "2" for request in scoped)
    searches = [request for request in recording.sent if request.url.path == f"{API}/devices"]
    assert all(request.url.params["limit"] == str(PAGE_SIZE) for request in searches)
    assert "common.uuid" in searches[0].url.params["fields"].split(",")


class InFlight:
    """ASGI wrapper counting how many device searches the server handles at once."""

    def __init__(self, app) -> None:
        self.app = app
        self.now = self.peak = 0

    async def __call__(self, scope, receive, send) -> None:
        counted = scope["type"] == "http" and scope["path"] == f"{API}/devices"
        self.now += counted
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= counted


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_pages_after_the_first_are_fetched_concurrently_and_yielded_in_order(concurrency):
    simulator = EpmmSimulator(EpmmFleet(FLEET_SIZE, seed=4, now=NOW), username=USERNAME, password=PASSWORD)
    simulator.faults.add("latency", value=50, path=f"{API}/devices", times=None)
    counter = InFlight(create_app(simulator))
    with ServerThread(counter) as server:
        connection = Connection(name="x", vendor="epmm", url=server.url, username=USERNAME, allow_http=True)
        client = EpmmClient(connection, PASSWORD, clock=lambda: NOW, page_concurrency=concurrency)
        try:
            pages = await all_pages(client)
        finally:
            await client.aclose()

    assert counter.peak == concurrency
    assert simulator.requests.count(DEVICES) == 6
    ids = [device.raw["common.id"] for device in devices_of(pages)]
    assert ids == list(range(1, FLEET_SIZE + 1))


def expected_missing_patch(record: dict) -> bool:
    """The documented rule, computed here independently: releases without vendor security fixes (2025-10)."""
    platform, version = record["common.platform"], record["common.os_version"]
    if platform == "Windows":
        return tuple(map(int, version.split(".")[:3])) < (10, 0, 22631)
    return int(version.split(".")[0]) < {"iOS": 18, "Android": 13, "macOS": 14}[platform]


def expected_health(record: dict) -> Health:
    if record["common.status"] in ("RETIRED", "WIPED"):
        return Health.UNKNOWN
    if record["common.security_state"] == "Compromised" or record["common.quarantined"] \
            or not record["common.compliant"]:
        return Health.CRITICAL
    last_seen = datetime.fromisoformat(record["common.last_connected_at"])
    if expected_missing_patch(record) or NOW - last_seen > timedelta(days=30):
        return Health.WARNING
    return Health.OK


async def test_every_device_keeps_the_record_the_server_sent(connect, simulator):
    devices = devices_of(await all_pages(connect()))

    assert len(devices) == FLEET_SIZE
    for device in devices:
        served = simulator.fleet.device(device.raw["common.id"] - 1)
        assert device.raw == json.loads(json.dumps({field: served[field] for field in DEVICE_FIELDS
                                                    if field in served}))


async def test_health_patch_state_and_fields_agree_with_the_raw_records(connect):
    devices = devices_of(await all_pages(connect()))

    for device in devices:
        raw = device.raw
        assert device.id == raw["common.uuid"]
        if raw["common.platform"] == "iOS":
            assert device.name == raw["ios.DeviceName"]
        else:
            assert "ios.DeviceName" not in raw
            assert device.name == f"{raw['common.model']} ({raw['common.uuid'][-6:]})"
        assert device.os == f"{raw['common.platform']} {raw['common.os_version']}"
        assert device.ip_addresses == ((raw["common.ip_address"],) if raw["common.ip_address"] else ())
        assert device.user == raw["user.display_name"]
        assert device.labels == ()
        last_seen = datetime.fromisoformat(raw["common.last_connected_at"])
        assert device.last_seen == last_seen
        assert device.online is (NOW - last_seen <= timedelta(hours=4))
        assert device.health is expected_health(raw), (raw, device.health_reasons)
        retired = raw["common.status"] != "ACTIVE"
        assert device.missing_critical_patches is (None if retired else expected_missing_patch(raw))
        if device.health is Health.CRITICAL:
            assert device.health_reasons
    health = [device.health for device in devices]
    # the fleet exercises every branch, so the checks above are not vacuous
    assert set(health) == {Health.CRITICAL, Health.WARNING, Health.OK, Health.UNKNOWN}
    reasons = " ".join(reason for device in devices for reason in device.health_reasons)
    for words in ("quarantined: ", "non-compliant: ", "compromised (", "no longer gets security fixes",
                  "retired", "wiped", "no check-in for"):
        assert words in reasons
    patches = [device.missing_critical_patches for device in devices]
    assert 0 < patches.count(True) < patches.count(False)


async def test_a_label_is_filtered_on_the_server(connect, simulator):
    client = connect()
    executives = next(group for group in await bounded(client.groups()) if group.name == "Executives")
    before = len(simulator.requests)

    pages = await all_pages(client, DeviceQuery(group_id=executives.id))

    devices = devices_of(pages)
    assert len(devices) == executives.device_count == pages[-1].total > 0
    assert {device.labels for device in devices} == {("Labels\\Executives",)}
    assert {device.group for device in devices} > {"Device spaces\\EMEA"}  # the group stays the device space
    members = {index + 1 for index in range(FLEET_SIZE) if "Executives" in simulator.fleet.label_names(index)}
    assert {device.raw["common.id"] for device in devices} == members
    assert simulator.requests[before:].count(DEVICES) == 1


async def test_a_device_space_is_filtered_on_the_server(connect):
    client = connect()
    everyone = devices_of(await all_pages(client))

    emea = devices_of(await all_pages(client, DeviceQuery(group_id="space:2")))

    assert [device.id for device in emea] == [device.id for device in everyone if device.group_id == "space:2"]
    assert {device.group for device in emea} == {"Device spaces\\EMEA"}
    tops = devices_of(await all_pages(client, DeviceQuery(group_id="labels")))
    assert len(tops) == FLEET_SIZE  # a tree root filters nothing


async def test_gdpr_user_sees_obfuscated_names_not_errors(connect):
    clear = devices_of(await all_pages(connect()))

    hidden = devices_of(await all_pages(connect(username=GDPR_USERNAME)))

    assert len(hidden) == len(clear)
    assert [device.name for device in hidden] == [device.name for device in clear]  # no personal field
    assert {device.user for device in hidden} == {OBFUSCATED}
    assert {device.raw["user.display_name"] for device in hidden} == {"*****"}
    for mine, theirs in zip(clear, hidden):
        assert (theirs.id, theirs.health, theirs.health_reasons, theirs.missing_critical_patches, theirs.group) == \
            (mine.id, mine.health, mine.health_reasons, mine.missing_critical_patches, mine.group)


async def test_connected_cloud_puts_every_path_under_rest():
    simulator = EpmmSimulator(EpmmFleet(250, seed=9, now=NOW), username=USERNAME, password=PASSWORD,
                              connected_cloud=True)
    with ServerThread(create_app(simulator)) as server:
        def client_for(cloud: bool) -> EpmmClient:
            connection = Connection(name="cloud", vendor="epmm", url=server.url, username=USERNAME,
                                    allow_http=True, connected_cloud=cloud)
            return EpmmClient(connection, PASSWORD, clock=lambda: NOW)

        cloud, on_premises = client_for(True), client_for(False)
        try:
            info = await bounded(cloud.probe())
            await bounded(cloud.check_login())
            groups = await bounded(cloud.groups())
            devices = devices_of(await all_pages(cloud))
            with pytest.raises(NotFoundError) as caught:
                await bounded(on_premises.probe())
        finally:
            await cloud.aclose()
            await on_premises.aclose()

    assert info.product == "EPMM" and len(groups) > 5 and len(devices) == 250
    assert {path for _, path in simulator.requests} >= {"/rest/api/v2/ping", "/rest/api/v2/devices"}
    message = str(caught.value)
    assert "has no /api/v2/ping (404)" in message and "404 Not Found" in message
    assert "Connected Cloud" in message


# --- faults from the simulator's FaultPlan ----------------------------------------------------------------------


async def list_with_fault(client: EpmmClient, simulator: EpmmSimulator, kind: str, value: float | None = None):
    """List every device, injecting `kind` into the next device search once the first page has arrived;
    returns the pages, the pauses the client was told about and how many device searches it sent."""
    waits: list[str | None] = []
    before = len(simulator.requests)
    pages: list[DevicePage] = []

    async def listing() -> None:
        async for page in client.devices():
            pages.append(page)
            if len(pages) == 1:
                simulator.faults.add(kind, value=value, path=f"{API}/devices")

    with waits_told_to(waits.append):
        await bounded(listing())
    return pages, waits, simulator.requests[before:].count(DEVICES)


@pytest.mark.parametrize("kind, value, slept", [
    ("html", None, [0.5]),
    ("429", 2, [2.0]),
    ("reset", None, [0.5]),
])
async def test_passing_faults_mid_listing_are_retried_and_lose_nothing(connect, simulator, kind, value, slept):
    sleeps: list[float] = []
    pages, waits, searches = await list_with_fault(connect(sleeps=sleeps), simulator, kind, value)

    ids = [device.id for device in devices_of(pages)]
    assert len(ids) == len(set(ids)) == FLEET_SIZE
    assert searches == 7  # six pages, one of them twice
    assert sleeps == slept
    assert waits[0].startswith("EPMM: ") and "retrying" in waits[0] and waits[-1] is None


@pytest.mark.parametrize("kind, value", [("latency", 50), ("slow-body", 0.4), ("expire-token", None)])
async def test_slow_answers_and_token_expiry_change_nothing(connect, simulator, kind, value):
    sleeps: list[float] = []
    pages, waits, searches = await list_with_fault(connect(sleeps=sleeps), simulator, kind, value)

    assert len({device.id for device in devices_of(pages)}) == FLEET_SIZE
    assert (searches, sleeps, waits) == (6, [], [])


@pytest.mark.parametrize("kind, error_type, words", [
    ("500", ServerError, "failed on /api/v2/devices (500)"),
    ("malformed", BadResponseError, "malformed or truncated JSON body for /api/v2/devices"),
    ("truncated", BadResponseError, "malformed or truncated JSON body for /api/v2/devices"),
])
async def test_failing_faults_mid_listing_raise_the_typed_error(connect, simulator, kind, error_type, words):
    client = connect()

    with pytest.raises(error_type) as caught:
        await list_with_fault(client, simulator, kind)

    assert words in str(caught.value)
    assert_no_secrets(caught.value, client, PASSWORD, credential())


# --- the seed's status codes and payload variants, through a mock transport -----------------------------------------

JSON = {"content-type": "application/json"}


def epmm_error(status: int, *messages: str) -> httpx.Response:
    body = {"messages": [{"type": "Error", "messageKey": f"com.mobileiron.vsp.messages.http.{status}",
                          "localizedMessage": message} for message in messages]}
    return httpx.Response(status, json=body)


def mock_client(answer: Callable[[httpx.Request], httpx.Response], **settings) -> tuple[EpmmClient, list]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    connection = Connection(name="mock", vendor="epmm", url="https://epmm.example.internal", username=USERNAME,
                            **settings)
    return EpmmClient(connection, PASSWORD, transport=httpx.MockTransport(handle), clock=lambda: NOW), seen


@pytest.mark.parametrize("response, error_type, words", [
    (epmm_error(400, "Invalid adminDeviceSpaceId"), VendorError,
     ["rejected /api/v2/ping (400): Invalid adminDeviceSpaceId.", "check the device space id"]),
    (epmm_error(401, "Authentication failed."), AuthenticationError,
     ["refused the credentials (401): Authentication failed.", "user name and password"]),
    (epmm_error(404, "Page not found. Check the spelling of the URL."), NotFoundError,
     ["has no /api/v2/ping (404): Page not found.", "Connected Cloud setting"]),
    (httpx.Response(404, html="<html><head><title>404 Not Found</title></head></html>"), NotFoundError,
     ["has no /api/v2/ping (404): 404 Not Found.", "Connected Cloud setting"]),
    (epmm_error(405, "Invalid HTTP method."), VendorError,
     ["rejected /api/v2/ping (405): Invalid HTTP method.", "EPMM takes another HTTP method on this path"]),
    (epmm_error(500, "Internal server error."), ServerError,
     ["failed on /api/v2/ping (500): Internal server error.", "try again"]),
])
async def test_each_documented_status_code_reads_as_a_clear_message(response, error_type, words):
    client, seen = mock_client(lambda request: response)
    try:
        with pytest.raises(error_type) as caught:
            await bounded(client.check_login())
    finally:
        await client.aclose()

    assert type(caught.value) is error_type
    for word in words:
        assert word in str(caught.value)
    assert len(seen) == 1  # none of these is retried
    assert_no_secrets(caught.value, client, PASSWORD, credential())


async def test_several_messages_are_joined_and_spring_bodies_are_read():
    client, _ = mock_client(lambda request: epmm_error(400, "limit too large", "offset negative"))
    spring, _ = mock_client(lambda request: httpx.Response(500, json={"status": 500, "message": "NPE in search"}))
    try:
        with pytest.raises(VendorError, match="limit too large; offset negative"):
            await bounded(client.check_login())
        with pytest.raises(ServerError, match="NPE in search"):
            await bounded(spring.check_login())
    finally:
        await client.aclose()
        await spring.aclose()


async def test_an_echoed_credential_is_redacted():
    def echoes(request: httpx.Request) -> httpx.Response:
        return epmm_error(401, f"Bad header {request.headers['authorization']} for password {PASSWORD}")

    client, _ = mock_client(echoes)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await bounded(client.check_login())
    finally:
        await client.aclose()

    assert "Bad header Basic *** for password ***" in str(caught.value)
    assert_no_secrets(caught.value, client, PASSWORD, credential())


async def test_probe_sends_no_credentials_and_reads_an_open_ping():
    def open_ping(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(200, json={"results": {"apiVersion": 2, "vspVersion": "VSP 12.1.0.0 Build 36"}})

    client, seen = mock_client(open_ping)
    try:
        info = await bounded(client.probe())
    finally:
        await client.aclose()

    assert info == ServerInfo("EPMM", "12.1.0.0 Build 36", "2")
    assert [request.url.path for request in seen] == [f"{API}/ping"]


RECORD = {
    "common.uuid": "2f0c3e1a-8a35-4a59-9b7e-0c6a1f2d3e4b", "common.id": 7, "common.model": "TC58",
    "common.device_space_name": "Global", "common.platform": "Android", "common.os_version": "12",
    "common.status": "ACTIVE", "common.compliant": "false", "common.quarantined": "true",
    "common.quarantined_reasons": "Policy out of date", "common.noncompliance_reasons": "Policy out of date",
    "common.security_state": "Ok", "common.last_connected_at": 1_795_600_800_000,
    "user.display_name": "XXXXXXXX", "user.user_id": "(obfuscated)",
}


def search_answer(records: list[dict], *, cap: int | None = None, total: bool = True,
                  fields: list[str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    """A small EPMM: one device space, the given search fields, and `records` paged by limit and offset."""
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"{API}/device_spaces/mine":
            return httpx.Response(200, json={"totalCount": 1, "results": [{"id": 1, "name": "Global"}]})
        if path == f"{API}/devices/search_fields":
            return httpx.Response(200, json={"results": [{"name": name} for name in fields or list(RECORD)]})
        limit = min(int(request.url.params["limit"]), cap or 10_000)
        offset = int(request.url.params["offset"])
        page = records[offset:offset + limit]
        body = {"resultCount": len(page), "hasMore": offset + len(page) < len(records), "results": page}
        return httpx.Response(200, json={"totalCount": len(records), **body} if total else body)

    return answer


async def test_tolerant_reading_of_uncertain_shapes():
    client, _ = mock_client(search_answer([RECORD]))
    try:
        (device,) = devices_of(await all_pages(client))
    finally:
        await client.aclose()

    assert device.health is Health.CRITICAL
    assert device.health_reasons == ("quarantined: Policy out of date", "non-compliant: Policy out of date",
                                     "Android 12 no longer gets security fixes")
    assert device.state == "quarantined"  # shown in place of the health word: a responder sees it at a glance
    assert device.missing_critical_patches is True
    assert device.last_seen == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # from epoch milliseconds
    assert device.online is True
    assert device.labels == ()
    assert (device.user, device.name, device.group_id) == (OBFUSCATED, "TC58 (2d3e4b)", "space:1")


async def test_only_the_fields_the_server_offers_are_asked_for():
    offered = ["common.uuid", "common.platform", "common.os_version", "common.status"]
    client, seen = mock_client(search_answer([RECORD], fields=offered + ["android.afw_capable"]))
    try:
        (device,) = devices_of(await all_pages(client))
    finally:
        await client.aclose()

    search = next(request for request in seen if request.url.path == f"{API}/devices")
    assert search.url.params["fields"] == ",".join(offered)
    assert device.id == RECORD["common.uuid"]


async def test_a_server_returning_smaller_pages_than_asked_loses_nothing():
    records = [{**RECORD, "common.uuid": f"uuid-{index}", "common.id": index} for index in range(130)]
    client, seen = mock_client(search_answer(records, cap=50))
    try:
        pages = await all_pages(client)
    finally:
        await client.aclose()

    assert [device.id for device in devices_of(pages)] == [f"uuid-{index}" for index in range(130)]
    assert [request.url.params["offset"] for request in seen if request.url.path == f"{API}/devices"] == \
        ["0", "50", "100"]


async def test_without_a_total_count_pages_are_read_while_has_more():
    records = [{**RECORD, "common.uuid": f"uuid-{index}"} for index in range(450)]
    client, _ = mock_client(search_answer(records, total=False))
    try:
        pages = await all_pages(client)
    finally:
        await client.aclose()

    assert [(page.loaded, page.total) for page in pages] == [(200, None), (400, None), (450, None)]
    assert len({device.id for device in devices_of(pages)}) == 450


async def test_a_device_keeps_its_own_record_when_the_page_holds_other_items():
    records = [{**RECORD, "common.uuid": "a"}, 7, None, {**RECORD, "common.uuid": "b"}, "junk"]
    client, _ = mock_client(search_answer(records))
    try:
        devices = devices_of(await all_pages(client))
    finally:
        await client.aclose()

    assert [device.raw for device in devices] == [records[0], records[3]]


async def test_a_page_without_results_is_a_bad_response():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{API}/devices":
            return httpx.Response(200, json={"totalCount": 3})
        return search_answer([])(request)

    client, _ = mock_client(answer)
    try:
        with pytest.raises(BadResponseError, match="without `results`"):
            await all_pages(client)
    finally:
        await client.aclose()


# --- the mapping rules ------------------------------------------------------------------------------------------


def mapped(**fields) -> Device:
    record = {"common.uuid": "u", "common.status": "ACTIVE", "common.compliant": True, "common.quarantined": False,
              "common.security_state": "Ok", "common.platform": "iOS", "common.os_version": "26.1",
              "common.last_connected_at": "2026-11-25T11:00:00Z", **fields}
    return record_to_device(record, "c", {}, NOW)


@pytest.mark.parametrize("fields, health, reasons, missing", [
    ({}, Health.OK, (), False),
    ({"common.status": "RETIRED", "common.compliant": False}, Health.UNKNOWN, ("retired",), None),
    ({"common.status": "WIPED"}, Health.UNKNOWN, ("wiped",), None),
    ({"common.status": "LOST"}, Health.WARNING, ("status lost",), False),
    ({"common.security_state": "Compromised"}, Health.CRITICAL, ("compromised (jailbroken)",), False),
    ({"common.platform": "Android", "common.os_version": "16", "common.device_is_compromised": True},
     Health.CRITICAL, ("compromised (rooted)",), False),
    ({"common.quarantined": True, "common.quarantined_reasons": ["Policy out of date", "Passcode"]},
     Health.CRITICAL, ("quarantined: Policy out of date, Passcode",), False),
    ({"common.compliant": False, "common.noncompliance_reasons": []}, Health.CRITICAL, ("non-compliant",), False),
    ({"common.os_version": "17.7.10"}, Health.WARNING, ("iOS 17.7.10 no longer gets security fixes",), True),
    ({"common.last_connected_at": "2026-10-01T12:00:00+00:00"}, Health.WARNING, ("no check-in for 55 days",), False),
    ({"common.compliant": None, "common.quarantined": None, "common.security_state": None}, Health.UNKNOWN, (), False),
    ({"common.platform": "BlackBerry", "common.os_version": "10.3"}, Health.OK, (), None),
])
def test_health_rules(fields, health, reasons, missing):
    device = mapped(**fields)

    assert (device.health, device.health_reasons, device.missing_critical_patches) == (health, reasons, missing)


@pytest.mark.parametrize("platform, version, behind", [
    ("iOS", "16.7.12", True), ("iOS", "17.7.10", True), ("iOS", "18.0", False), ("iOS", "26.1", False),
    ("iPadOS", "17.0", None), ("Android", "12", True), ("Android", "13", False), ("android", "14 (UP1A)", False),
    ("Windows", "10.0.19045.6456", True), ("Windows", "10.0.22631.6060", False), ("Windows", "10.0.26100.1", False),
    ("macOS", "13.7.8", True), ("macOS", "14.8.2", False), ("iOS", "", None), ("iOS", "beta", None),
])
def test_missing_patch_baselines(platform, version, behind):
    assert os_unsupported(platform, version) is behind


@pytest.mark.parametrize("value, hidden", [
    ("*****", True), ("********", True), ("an***@example.com", True), ("XXXXXXXX", True), ("(obfuscated)", True),
    ("<OBFUSCATED>", True), ("Rex", False), ("Max", False), ("anna.smith@example.com", False), ("x*y", False),
])
def test_obfuscated_values(value, hidden):
    assert is_obfuscated(value) is hidden


def test_online_and_last_seen_rules():
    assert mapped(**{"common.last_connected_at": "2026-11-25T08:00:01Z"}).online is True
    assert mapped(**{"common.last_connected_at": "2026-11-25T07:59:59Z"}).online is False
    never = mapped(**{"common.last_connected_at": None})
    assert (never.online, never.last_seen) == (None, None)
    naive = mapped(**{"common.last_connected_at": "2026-11-25T11:00:00"})
    assert naive.last_seen == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    health, _, _ = assess({"common.status": "ACTIVE", "common.last_connected_at": "junk"}, NOW)
    assert health is Health.UNKNOWN


def test_devices_payload_is_json_serialisable_for_the_cli():
    assert json.dumps(mapped().to_json())


# --- what the search sends: a real console needs `query` or `labelId` (fact sheet, [DOC-DEV]) ------------------------


async def test_each_search_sends_query_or_label_id():
    simulator = EpmmSimulator(EpmmFleet(300, seed=2, now=NOW), username=USERNAME, password=PASSWORD)
    recording = Recording(simulator)
    connection = Connection(name="x", vendor="epmm", url="https://epmm.example.internal", username=USERNAME)
    client = EpmmClient(connection, PASSWORD, transport=recording, clock=lambda: NOW)
    try:
        await all_pages(client)
        await all_pages(client, DeviceQuery(group_id="label:-1"))
        await all_pages(client, DeviceQuery(group_id="space:2"))
    finally:
        await client.aclose()

    searches = [dict(request.url.params) for request in recording.sent if request.url.path == f"{API}/devices"]
    whole, label, space = searches[0], searches[-3], searches[-1]
    assert whole["query"] == "" and "labelId" not in whole
    assert label["labelId"] == "-1" and "query" not in label
    assert space["query"] == 'common.device_space_name = "EMEA"'
    assert all(set(search["fields"].split(",")) <= set(DEVICE_FIELDS) for search in searches)
    assert not {"common.labels", "common.device_name"} & set(whole["fields"].split(","))


async def test_a_label_search_learns_the_label_name_when_groups_were_not_read():
    simulator = EpmmSimulator(EpmmFleet(120, seed=5, now=NOW), username=USERNAME, password=PASSWORD)
    connection = Connection(name="x", vendor="epmm", url="https://epmm.example.internal", username=USERNAME)
    client = EpmmClient(connection, PASSWORD, transport=Recording(simulator), clock=lambda: NOW)
    try:
        devices = devices_of(await all_pages(client, DeviceQuery(group_id="label:-1")))
    finally:
        await client.aclose()

    assert len(devices) == 120
    assert {device.labels for device in devices} == {("Labels\\All-Smartphones",)}
    assert all(device.group.startswith("Device spaces\\") for device in devices)


async def test_label_devices_runs_at_most_page_concurrency_label_searches():
    simulator = EpmmSimulator(EpmmFleet(FLEET_SIZE, seed=4, now=NOW), username=USERNAME, password=PASSWORD)
    simulator.faults.add("latency", value=30, path=f"{API}/devices", times=None)
    counter = InFlight(create_app(simulator))
    with ServerThread(counter) as server:
        connection = Connection(name="x", vendor="epmm", url=server.url, username=USERNAME, allow_http=True)
        client = EpmmClient(connection, PASSWORD, clock=lambda: NOW, page_concurrency=2)
        try:
            groups = {group.id: group for group in await bounded(client.groups())}
            labels = [group_id for group_id in groups if group_id.startswith("label:")]

            async def collect() -> list[DevicePage]:
                return [page async for page in client.label_devices(labels)]

            pages = await bounded(collect())
        finally:
            await client.aclose()

    assert counter.peak == 2
    devices = devices_of(pages)
    assert pages[-1].loaded == len(devices) == sum(groups[group_id].device_count for group_id in labels)
    assert {page.total for page in pages} == {len(devices)}
    for group_id in labels:
        found = [device for device in devices if device.labels == (f"Labels\\{groups[group_id].name}",)]
        assert len(found) == groups[group_id].device_count, group_id


async def test_label_devices_raises_the_failure_of_one_search():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{API}/labels/label_summary":
            return httpx.Response(200, json={"totalCount": 2, "results": [{"id": -1, "name": "All-Smartphones"},
                                                                          {"id": 4, "name": "Broken"}]})
        if request.url.params.get("labelId") == "4":
            return epmm_error(400, "There is no label 4.")
        return search_answer([RECORD])(request)

    client, _ = mock_client(answer)
    try:
        with pytest.raises(VendorError, match="There is no label 4"):
            await bounded(_drain(client.label_devices(["label:-1", "label:4"])))
    finally:
        await client.aclose()


async def _drain(pages: AsyncIterator[DevicePage]) -> None:
    async for _ in pages:
        pass
