"""The SEPM client against the simulator over real HTTP on loopback (TLS included), and against small
mock transports for the faults the simulator cannot inject yet: every failure must arrive as the right
typed `VendorError`, worded for a person, bounded in time, and free of the password and the token."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import trustme

from helpers import RecordingSimulator, assert_no_secrets
from tui.models import Connection, Device, DevicePage, Health
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread, TlsFiles
from tui.vendors import open_client
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    ForbiddenError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TlsError,
    VendorClient,
    VendorError,
)
from tui.vendors.sepm import COMPUTER_PAGE_SIZE, SepmClient

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
API = "/sepm/api/v1"
AUTH = ("POST", f"{API}/identity/authenticate")
USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
WRONG_PASSWORD = "Wr0ng-Staple-Guess?"
FLEET_SIZE = 1200  # three pages of COMPUTER_PAGE_SIZE
TOKEN_TTL = 43199
WAIT = 30.0  # upper bound for any single client call: nothing may hang


async def bounded(awaitable):
    return await asyncio.wait_for(awaitable, WAIT)


async def all_pages(client: VendorClient) -> list[DevicePage]:
    async def collect() -> list[DevicePage]:
        return [page async for page in client.devices()]

    return await bounded(collect())


def auth_count(simulator: SepmSimulator, since: int = 0) -> int:
    return simulator.requests[since:].count(AUTH)


@pytest.fixture(scope="module")
def simulator() -> RecordingSimulator:
    return RecordingSimulator(SepmFleet(FLEET_SIZE, seed=11, now=NOW), username=USERNAME, password=PASSWORD,
                              token_ttl=TOKEN_TTL)


@pytest.fixture
async def connect(server, tls_files) -> AsyncIterator[Callable[..., VendorClient]]:
    """Open clients onto the https simulator (trusting its CA unless told otherwise); all closed after."""
    opened: list[VendorClient] = []

    def open_one(secret: str | None = PASSWORD, *, verify: bool | str | None = None, url: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> VendorClient:
        connection = Connection(name="lab-sepm", vendor="sepm", url=url or server.url, username=USERNAME,
                                verify=str(tls_files[1]) if verify is None else verify, allow_http=True)
        client = open_client(connection, secret, clock=clock or (lambda: NOW))
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.aclose()


# --- TLS -----------------------------------------------------------------------------------------------


async def test_open_client_picks_the_sepm_client(connect):
    assert type(connect()) is SepmClient


async def test_ca_bundle_path_as_verify_trusts_the_simulator(connect, simulator, tls_files):
    """`verify = "<ca.pem>"` is how a console with a corporate CA is reached."""
    client = connect(verify=str(tls_files[1]))

    info = await bounded(client.probe())
    await bounded(client.check_login())

    assert (info.product, info.version, info.api_version) == ("SEPM", "14.3.25029.9000", "14.3.9000")


async def test_system_store_rejects_a_private_ca_and_says_why(connect, simulator):
    """verify=true must not silently trust the lab CA; the message names the certificate problem."""
    before = len(simulator.requests)
    client = connect(verify=True)

    with pytest.raises(TlsError) as caught:
        await bounded(client.check_login())

    message = str(caught.value)
    assert "certificate" in message and "rejected" in message
    assert "unable to get local issuer certificate" in message
    assert "verify" in message  # the hint says what to change
    assert simulator.requests[before:] == []  # no request got past the handshake, so no password was sent
    assert_no_secrets(caught.value, client, PASSWORD)


async def test_verify_false_skips_the_check(connect):
    client = connect(verify=False)

    info = await bounded(client.probe())
    await bounded(client.check_login())

    assert info.version == "14.3.25029.9000"


async def test_certificate_for_another_host_is_a_tls_error(tmp_path):
    """A trusted CA is not enough: the certificate must also name the host we dialled."""
    authority = trustme.CA()
    leaf = authority.issue_cert("sepm.example.internal")
    tls = TlsFiles(cert_chain=tmp_path / "chain.pem", key=tmp_path / "key.pem")
    for pem in leaf.cert_chain_pems:
        pem.write_to_path(str(tls.cert_chain), append=True)
    leaf.private_key_pem.write_to_path(str(tls.key))
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    with ServerThread(create_app(SepmSimulator(SepmFleet(5, seed=1, now=NOW))), tls=tls) as server:
        client = open_client(Connection(name="x", vendor="sepm", url=server.url, username="admin",
                                        verify=str(tmp_path / "ca.pem")), "demo-password")
        try:
            with pytest.raises(TlsError) as caught:
                await bounded(client.probe())
        finally:
            await client.aclose()

    assert "mismatch" in str(caught.value).lower()


# --- authentication and the token ---------------------------------------------------------------------


async def test_probe_needs_no_credentials(connect, simulator):
    before = len(simulator.requests)
    client = connect(secret=None)

    info = await bounded(client.probe())

    assert info.version == "14.3.25029.9000"
    assert simulator.requests[before:] == [("GET", f"{API}/version")]


async def test_check_login_authenticates_once(connect, simulator):
    before = len(simulator.requests)

    await bounded(connect().check_login())

    assert simulator.requests[before:] == [AUTH]


async def test_wrong_password_is_an_authentication_error_without_the_password(connect, simulator):
    client = connect(secret=WRONG_PASSWORD)

    with pytest.raises(AuthenticationError) as caught:
        await bounded(client.check_login())

    assert caught.value.status == 401
    assert "refused the credentials" in str(caught.value)
    assert "Invalid user name or password" in str(caught.value)
    assert_no_secrets(caught.value, client, WRONG_PASSWORD, PASSWORD)


async def test_wrong_password_on_first_data_call_is_not_retried_forever(connect, simulator):
    """A fresh login that fails is final: one attempt, no loop."""
    before = len(simulator.requests)
    client = connect(secret=WRONG_PASSWORD)

    with pytest.raises(AuthenticationError):
        await bounded(client.groups())

    assert simulator.requests[before:] == [AUTH]


async def test_token_is_reused_across_calls(connect, simulator):
    before, issued = len(simulator.requests), len(simulator.issued)
    client = connect()

    await bounded(client.check_login())
    await bounded(client.groups())
    await all_pages(client)
    await bounded(client.groups())

    assert auth_count(simulator, before) == 1
    assert len(simulator.issued) == issued + 1
    assert simulator.requests[before:].count(("GET", f"{API}/computers")) == 3


async def test_token_expiring_mid_listing_reauthenticates_once_and_loses_nothing(connect, simulator):
    """The server forgets the token between page 1 and page 2: the client logs in again and carries on."""
    assert FLEET_SIZE > 2 * COMPUTER_PAGE_SIZE
    before = len(simulator.requests)
    client = connect()
    pages: list[DevicePage] = []

    async def listing() -> None:
        async for page in client.devices():
            pages.append(page)
            if len(pages) == 1:
                simulator.expire_tokens()

    await bounded(listing())

    ids = [device.id for page in pages for device in page.devices]
    assert len(ids) == len(set(ids)) == FLEET_SIZE
    assert [page.loaded for page in pages] == [500, 1000, 1200]
    assert auth_count(simulator, before) == 2
    computers = ("GET", f"{API}/computers")
    # after page 1, pages 2 and 3 go out together with the old token: both refused (401), one login, both
    # again; page 3 opens a second connection, so its refusal may reach the server after the login
    after_page_1 = simulator.requests[before:][-5:]
    assert after_page_1.count(computers) == 4 and after_page_1.index(AUTH) in (1, 2)


async def test_client_clock_past_token_expiration_logs_in_before_the_call(connect, simulator):
    """The client trusts tokenExpiration (less a margin) and does not wait for a 401."""
    moment = [NOW]
    client = connect(clock=lambda: moment[0])
    await bounded(client.check_login())
    groups = ("GET", f"{API}/groups")

    moment[0] = NOW + timedelta(seconds=TOKEN_TTL - 61)  # still inside the token's life, margin included
    before = len(simulator.requests)
    await bounded(client.groups())
    assert simulator.requests[before:] == [groups]

    moment[0] = NOW + timedelta(seconds=TOKEN_TTL)  # past it: log in first, no refused call
    before = len(simulator.requests)
    await bounded(client.groups())
    assert simulator.requests[before:] == [AUTH, groups]


# --- groups and devices ------------------------------------------------------------------------------------


async def test_groups_form_a_tree_and_every_device_sits_in_a_known_group(connect, simulator):
    client = connect()

    groups = await bounded(client.groups())
    devices = [device for page in await all_pages(client) for device in page.devices]

    by_path = {group.path: group for group in groups}
    by_id = {group.id: group for group in groups}
    assert len(groups) == len(by_id) == len(simulator.fleet.groups) == 20
    roots = [group for group in groups if group.parent_id is None]
    assert [group.path for group in roots] == [("My Company",)]
    for group in groups:
        assert group.name == group.path[-1]
        if len(group.path) > 1:
            assert group.parent_id == by_path[group.path[:-1]].id
    assert sum(group.device_count for group in groups) == FLEET_SIZE
    known_paths = {group.path_text for group in groups}
    for device in devices:
        assert device.group in known_paths
        assert by_id[device.group_id].path_text == device.group
        assert device.raw["group"]["id"] == device.group_id


async def test_every_device_keeps_the_record_the_server_sent(connect, simulator):
    devices = [device for page in await all_pages(connect()) for device in page.devices]

    fleet = simulator.fleet
    assert len(devices) == FLEET_SIZE
    for device in devices:
        assert device.raw == json.loads(json.dumps(fleet.computer(fleet.find(device.id))))


async def test_a_device_keeps_its_own_record_when_the_page_holds_other_items():
    computers = [{"uniqueId": "A"}, 7, None, {"uniqueId": "B"}, "junk", {"uniqueId": "C"}]

    def answer(request: httpx.Request) -> httpx.Response:
        is_groups = request.url.path.endswith("/groups")
        return httpx.Response(200, json={"content": [] if is_groups else computers, "lastPage": True})

    client, _ = faulty(answer)
    try:
        devices = [device for page in await all_pages(client) for device in page.devices]
    finally:
        await client.aclose()

    assert [device.raw for device in devices] == [{"uniqueId": "A"}, {"uniqueId": "B"}, {"uniqueId": "C"}]


async def test_device_pages_count_up_to_the_fleet_size(connect):
    pages = await all_pages(connect())

    loaded = [page.loaded for page in pages]
    assert loaded == sorted(set(loaded))  # strictly increasing
    assert loaded[-1] == FLEET_SIZE
    assert {page.total for page in pages} == {FLEET_SIZE}
    assert [len(page.devices) for page in pages] == [500, 500, 200]
    ids = [device.id for page in pages for device in page.devices]
    assert len(set(ids)) == FLEET_SIZE
    assert all(device.vendor == "sepm" and device.connection == "lab-sepm" for page in pages for device in page.devices)


def defs_age_days(record: dict) -> int:
    published = datetime.strptime(record["avDefsetVersion"][:6], "%y%m%d").date()
    return (NOW.date() - published).days


def expected_missing_patch(record: dict) -> bool:
    """The documented rule, computed here independently of the client: stale definitions or an agent
    below its deployment target."""
    running = tuple(int(part) for part in record["deploymentRunningVersion"].split("."))
    target = tuple(int(part) for part in record["deploymentTargetVersion"].split("."))
    return defs_age_days(record) > 7 or running < target


def fully_healthy(record: dict) -> bool:
    return (record["infected"] == 0 and record["apOnOff"] == 1 and record["avEngineOnOff"] == 1
            and record["firewallOnOff"] in (1, 2) and record["tamperOnOff"] in (1, 2)
            and record["bashStatus"] in (1, 2) and record["rebootRequired"] == 0
            and not expected_missing_patch(record))


async def test_health_and_patch_state_agree_with_the_raw_records(connect):
    devices: list[Device] = [device for page in await all_pages(connect()) for device in page.devices]

    for device in devices:
        raw = device.raw
        assert device.name == raw["computerName"]
        assert device.os == raw["osName"]
        assert device.ip_addresses == tuple(raw["ipAddresses"])
        assert device.online is (raw["onlineStatus"] == 1)
        assert device.last_seen == datetime.fromtimestamp(raw["lastUpdateTime"] / 1000, UTC)
        if raw["infected"] == 1 or raw["apOnOff"] in (0, 4) or raw["avEngineOnOff"] in (0, 4):
            assert device.health is Health.CRITICAL, raw["computerName"]
        if defs_age_days(raw) > 30:
            assert device.health is Health.CRITICAL, raw["computerName"]
        if fully_healthy(raw):
            assert device.health is Health.OK, (raw["computerName"], device.health_reasons)
        assert device.missing_critical_patches is expected_missing_patch(raw), raw["computerName"]
    health = [device.health for device in devices]
    # the fleet exercises every branch, so the checks above are not vacuous
    assert {Health.CRITICAL, Health.WARNING, Health.OK} <= set(health)
    assert 0 < sum(device.raw["infected"] == 1 for device in devices) <= health.count(Health.CRITICAL)
    patches = [device.missing_critical_patches for device in devices]
    assert 0 < patches.count(True) < patches.count(False)


async def test_legacy_14_2_fleet_maps_without_definitions():
    """14.0-14.2 send lower-case OS keys and no avDefsetVersion: nothing raises, the patch state comes from
    the agent version alone, and health never claims stale definitions."""
    simulator = SepmSimulator(SepmFleet(120, seed=5, now=NOW, legacy_os_keys=True))
    with ServerThread(create_app(simulator)) as server:
        client = open_client(Connection(name="old", vendor="sepm", url=server.url, username="admin",
                                        allow_http=True), "demo-password", clock=lambda: NOW)
        try:
            info = await bounded(client.probe())
            devices = [device for page in await all_pages(client) for device in page.devices]
        finally:
            await client.aclose()

    assert info.api_version == "1.0.0"
    assert len(devices) == 120
    for device in devices:
        raw = device.raw
        assert "avDefsetVersion" not in raw
        assert device.os == raw["osname"] != ""
        behind = raw["deploymentRunningVersion"] != raw["deploymentTargetVersion"]
        assert device.missing_critical_patches in (None, behind)
        assert not any("definitions" in reason for reason in device.health_reasons)
    assert {device.missing_critical_patches for device in devices} >= {False}


# --- errors over real HTTP ------------------------------------------------------------------------------


async def test_closed_port_is_a_network_error_that_says_it_cannot_connect():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = open_client(Connection(name="dead", vendor="sepm", url=f"http://127.0.0.1:{port}", username="admin",
                                    allow_http=True), PASSWORD)
    try:
        with pytest.raises(NetworkError) as caught:
            await bounded(client.check_login())
    finally:
        await client.aclose()

    assert "Cannot connect" in str(caught.value)
    assert f"port {port}" in str(caught.value)
    assert_no_secrets(caught.value, client, PASSWORD)


async def test_unknown_path_answers_tomcat_html_turned_into_words(connect, simulator):
    client = connect()
    await bounded(client.check_login())

    with pytest.raises(NotFoundError) as caught:
        await bounded(client.request_json("GET", f"{API}/nope"))

    message = str(caught.value)
    assert caught.value.status == 404
    assert "HTTP Status 404 \u2013 Not Found" in message
    assert f"{API}/nope" in message
    assert "<" not in message and ">" not in message
    assert_no_secrets(caught.value, client, PASSWORD, *simulator.issued)


# --- faults through a mock transport -----------------------------------------------------------------------

MOCK_TOKEN = str(uuid.uuid4())
JSON = {"content-type": "application/json"}
TOMCAT_500 = ("<!doctype html><html><head><title>HTTP Status 500 \u2013 Internal Server Error</title></head>"
              "<body><h1>HTTP Status 500 \u2013 Internal Server Error</h1></body></html>")


def faulty(fault: Callable[[httpx.Request], httpx.Response]) -> tuple[SepmClient, list[httpx.Request]]:
    """A client whose server logs in normally and answers every other call with `fault`."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == f"{API}/identity/authenticate":
            return httpx.Response(200, json={"token": MOCK_TOKEN, "tokenExpiration": TOKEN_TTL})
        return fault(request)

    connection = Connection(name="mock", vendor="sepm", url="https://sepm.example.internal:8446", username=USERNAME)
    client = open_client(connection, PASSWORD, transport=httpx.MockTransport(handle), clock=lambda: NOW)
    assert isinstance(client, SepmClient)
    client.sleep = no_wait  # a Retry-After of 7 s is obeyed three times: in words, not in seconds of the suite
    return client, seen


async def no_wait(seconds: float) -> None:
    """The client's pause between retries, skipped."""


async def raised_by(client: SepmClient, kind: type[VendorError]) -> VendorError:
    try:
        with pytest.raises(kind) as caught:
            await bounded(client.groups())
    finally:
        await client.aclose()
    assert_no_secrets(caught.value, client, PASSWORD, MOCK_TOKEN)
    return caught.value


async def test_500_html_page_is_a_server_error_with_its_title():
    client, _ = faulty(lambda request: httpx.Response(500, html=TOMCAT_500))

    error = await raised_by(client, ServerError)

    assert error.status == 500
    assert "HTTP Status 500 \u2013 Internal Server Error" in str(error)
    assert "<" not in str(error)


async def test_500_json_error_body_is_a_server_error_with_the_servers_words():
    body = {"errorCode": "500", "appErrorCode": "", "errorMessage": "Database connection pool exhausted"}
    client, _ = faulty(lambda request: httpx.Response(500, json=body))

    error = await raised_by(client, ServerError)

    assert "Database connection pool exhausted" in str(error)
    assert f"{API}/groups" in str(error)


async def test_malformed_json_is_a_bad_response():
    client, _ = faulty(lambda request: httpx.Response(200, content=b"{'content': [1, 2,]}", headers=JSON))

    error = await raised_by(client, BadResponseError)

    assert "malformed or truncated JSON" in str(error)


async def test_truncated_json_body_is_a_bad_response():
    page = json.dumps({"content": [{"id": "A" * 32, "fullPathName": "My Company"}], "lastPage": True}).encode()
    client, _ = faulty(lambda request: httpx.Response(200, content=page[: len(page) // 2], headers=JSON))

    error = await raised_by(client, BadResponseError)

    assert "malformed or truncated JSON" in str(error)


async def test_connection_dropped_mid_body_is_a_network_error():
    class DropsMidway(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"content": ['
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    client, _ = faulty(lambda request: httpx.Response(200, stream=DropsMidway(), headers=JSON))

    error = await raised_by(client, NetworkError)

    assert "closed the connection mid-response" in str(error)


async def test_html_page_instead_of_json_is_a_bad_response_with_its_title():
    """A proxy's login page answering 200 must not be parsed as an empty result."""
    page = "<html><head><title>Corporate Proxy &amp; Login</title></head><body>sign in</body></html>"
    client, _ = faulty(lambda request: httpx.Response(200, html=page))

    error = await raised_by(client, BadResponseError)

    assert "HTML page (Corporate Proxy & Login)" in str(error)
    assert "<" not in str(error)


async def test_page_without_content_is_a_bad_response():
    client, _ = faulty(lambda request: httpx.Response(200, json={"totalPages": 1}))

    error = await raised_by(client, BadResponseError)

    assert "without `content`" in str(error)


async def test_429_carries_retry_after():
    body = {"errorMessage": "Too many requests"}
    client, _ = faulty(lambda request: httpx.Response(429, headers={"Retry-After": "7"}, json=body))

    error = await raised_by(client, RateLimitedError)

    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    assert error.status == 429
    assert "(429): Too many requests. Retry after 7 s." in str(error)


async def test_429_without_retry_after_has_none():
    client, _ = faulty(lambda request: httpx.Response(429))

    error = await raised_by(client, RateLimitedError)

    assert isinstance(error, RateLimitedError) and error.retry_after is None
    assert "Retry after" not in error.message


async def test_403_is_forbidden():
    body = {"errorCode": "403", "appErrorCode": "", "errorMessage": "Access denied for the web method"}
    client, _ = faulty(lambda request: httpx.Response(403, json=body))

    error = await raised_by(client, ForbiddenError)

    assert "Access denied for the web method" in str(error)


async def test_a_401_after_a_fresh_login_is_final():
    """A refused token gets one new login and one replay; a second 401 is a real failure, not a loop."""
    client, seen = faulty(lambda request: httpx.Response(401, json={"errorMessage": "unauthorized"}))
    await bounded(client.check_login())

    await raised_by(client, AuthenticationError)

    login, groups = f"{API}/identity/authenticate", f"{API}/groups"
    assert [request.url.path for request in seen] == [login, groups, login, groups]
    assert seen[-1].headers["authorization"] == f"Bearer {MOCK_TOKEN}"


async def test_timeout_is_a_network_error():
    def stalls(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = faulty(stalls)

    error = await raised_by(client, NetworkError)

    assert "did not answer in time" in str(error)


async def test_server_echoing_the_credentials_does_not_leak_them():
    """Some servers echo what they were sent; the user's screen must still show neither secret."""
    def echoes(request: httpx.Request) -> httpx.Response:
        said = f"Token {request.headers['authorization'].partition(' ')[2]} rejected for password {PASSWORD}"
        return httpx.Response(500, json={"errorMessage": said})

    client, _ = faulty(echoes)

    error = await raised_by(client, ServerError)

    assert "Token *** rejected for password ***" in str(error)


async def test_error_messages_read_as_sentences():
    """The server's detail and the hint are two sentences, not one run-on."""
    client, _ = faulty(lambda request: httpx.Response(403, json={"errorMessage": "Access denied"}))

    error = await raised_by(client, ForbiddenError)

    assert "Access denied. The API user lacks" in str(error)
