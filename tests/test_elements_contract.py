"""Contract tests for WithSecure Elements: the payloads of tests/fixtures/elements/ (real shapes, our values; the
README there cites each shape's public source) go through the client's mapping. The simulator's answers
must have the same keys and value types, so the simulator cannot drift away from the real API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tui.models import Connection, EventWindow, Health, Severity
from tui.simulators.elements import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DEVICES_PATH,
    EVENTS_PATH,
    ORGANIZATIONS_PATH,
    TOKEN_PATH,
    WHOAMI_PATH,
    ElementsFleet,
    ElementsSimulator,
    create_app,
)
from tui.simulators.serve import ServerThread
from tui.vendors.base import AuthenticationError, VendorError
from tui.vendors.elements import DEFAULT_URL, ElementsClient

FIXTURES = Path(__file__).parent / "fixtures" / "elements"
NOW = datetime(2024, 3, 11, 14, 0, tzinfo=UTC)
CLIENT_ID = "fusion_5f0e3c2a1b9d8e7f6a5b4c3d"
SECRET = "contract-secret"
JSON = {"content-type": "application/json"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_server(overrides: dict[str, tuple[int, Any]] | None = None):
    """A mock Elements API answering every path with its fixture (a next page is empty); returns the
    transport and the requests seen."""
    answers = {TOKEN_PATH: (200, fixture("token.json")), WHOAMI_PATH: (200, fixture("whoami.json")),
               ORGANIZATIONS_PATH: (200, fixture("organizations.json")),
               DEVICES_PATH: (200, fixture("devices-page.json")),
               EVENTS_PATH: (200, fixture("security-events-page.json")), **(overrides or {})}
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        sent = parse_qs(request.url.query.decode()) or parse_qs(request.content.decode())
        if "anchor" in sent:
            return httpx.Response(200, json={"items": []})
        status, body = answers[request.url.path]
        transaction = body.get("transactionId", "0000-0123456789abcdef")  # the real API sends the same id twice
        return httpx.Response(status, json=body, headers={**JSON, "x-transaction": transaction})

    return httpx.MockTransport(handle), seen


def client_for(transport: httpx.MockTransport) -> ElementsClient:
    connection = Connection(name="contract", vendor="elements", url=DEFAULT_URL, username=CLIENT_ID)
    return ElementsClient(connection, SECRET, transport=transport, clock=lambda: NOW)


# --- each fixture through the client's mapping --------------------------------------------------------------


async def test_token_fixture_is_the_bearer_sent_and_lives_its_expires_in():
    transport, seen = fixture_server()
    client = client_for(transport)
    try:
        await client.check_login()
        await client.groups()
    finally:
        await client.aclose()
    token = fixture("token.json")["access_token"]
    assert [request.url.path for request in seen].count(TOKEN_PATH) == 1
    assert all(request.headers["authorization"] == f"Bearer {token}" for request in seen[1:])
    assert client._token_expires == NOW.timestamp() + 1799 - 60


async def test_oauth_401_fixture_is_an_authentication_error_in_words():
    transport, _ = fixture_server({TOKEN_PATH: (401, fixture("oauth-401.json"))})
    client = client_for(transport)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await client.check_login()
    finally:
        await client.aclose()
    assert "refused the credentials (401): Invalid credentials (code invalid_client)." in str(caught.value)
    assert "(x-transaction 0000-0123456789abcdef)" in str(caught.value)


async def test_whoami_and_organizations_fixtures_make_the_partner_tree():
    transport, seen = fixture_server()
    client = client_for(transport)
    try:
        whoami = await client.whoami()
        groups = await client.groups()
    finally:
        await client.aclose()
    assert whoami == fixture("whoami.json")
    assert [(group.path, group.parent_id) for group in groups] == [
        (("Harbour Partners",), None),
        (("Harbour Partners", "Kestrel Foods Oy"), whoami["organizationId"])]
    pages = [parse_qs(request.url.query.decode()) for request in seen if request.url.path == ORGANIZATIONS_PATH]
    assert pages[1]["anchor"] == [fixture("organizations.json")["nextAnchor"]]


async def test_devices_fixture_maps_every_kind_and_skips_the_junk():
    transport, _ = fixture_server()
    client = client_for(transport)
    try:
        pages = [page async for page in client.devices()]
    finally:
        await client.aclose()
    (page,) = pages
    server, desktop, mobile, connector = page.devices
    assert (page.loaded, page.skipped, page.repaired) == (4, 2, 0)

    assert (server.id, server.name, server.os, server.ip_addresses) == (
        "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "EC2AMAZ-K7Q2M1P", "Windows Server 2022 21H2", ("172.31.40.211",))
    assert (server.health, server.health_reasons, server.state, server.missing_critical_patches) == (
        Health.OK, (), "", False)
    assert (server.group, server.group_id) == ("Harbour Partners\\Kestrel Foods Oy",
                                               "2f6a8c10-5d4b-4e3a-8b7c-9d0e1f2a3b4c")
    assert (server.user, server.online) == ("EC2AMAZ-K7Q2M1P\\Administrator", True)
    assert server.last_seen == datetime(2024, 3, 11, 13, 15, 16, 550_000, tzinfo=UTC)

    assert (desktop.health, desktop.state, desktop.missing_critical_patches) == (Health.WARNING, "isolated", True)
    assert desktop.health_reasons == ("isolated from the network (a response action cut it off; release it when clean)",)
    assert desktop.ip_addresses == ("192.0.2.10", "198.51.100.4")

    assert (mobile.health, mobile.state, mobile.missing_critical_patches, mobile.os) == (
        Health.UNKNOWN, "inactive", None, "Android 14")
    assert mobile.health_reasons[0].startswith("inactive")
    assert (connector.health, connector.state, connector.os, connector.online) == (Health.UNKNOWN, "", "", True)


async def test_security_events_fixture_maps_each_engine():
    transport, seen = fixture_server()
    client = client_for(transport)
    window = EventWindow(start=datetime(2024, 3, 10, tzinfo=UTC), end=datetime(2024, 3, 11, tzinfo=UTC))
    try:
        pages = [page async for page in client.events(window)]
    finally:
        await client.aclose()
    deep_guard, file_scanning, edr, system_log = (event for page in pages for event in page.events)
    assert [(page.skipped, page.repaired) for page in pages] == [(0, 0), (0, 0)]
    posted = [parse_qs(request.content.decode()) for request in seen if request.url.path == EVENTS_PATH]
    assert posted[1]["anchor"] == [fixture("security-events-page.json")["nextAnchor"]]

    assert deep_guard.title == "Deep guard: blocked C:\\Users\\mvirtanen\\Downloads\\Tr-DGr.exe"
    assert (deep_guard.severity, deep_guard.category, deep_guard.acknowledged) == (Severity.WARNING, "epp", False)
    assert (deep_guard.device_id, deep_guard.device_name) == ("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e60", "KESTREL-WS-014")
    assert deep_guard.time == datetime(2024, 3, 10, 11, 28, 16, 805_000, tzinfo=UTC)
    assert deep_guard.device_time == datetime(2024, 3, 10, 11, 28, 7, tzinfo=UTC)
    assert (deep_guard.organization, deep_guard.id) == ("Kestrel Foods Oy", "8a7b6c5d-4e3f-3a2b-9c1d-0e1f2a3b4c5d_33")

    assert file_scanning.title == "File scanning: Risk_Test_File"  # action "none" says nothing done
    assert (file_scanning.severity, file_scanning.acknowledged) == (Severity.CRITICAL, True)
    assert "path: C:\\Users\\mvirtanen\\AppData\\Local\\Temp\\eicar1.com" in file_scanning.message

    assert (edr.device_id, edr.device_name, edr.category, edr.acknowledged) == (None, "KESTREL-WS-014", "edr", None)
    assert edr.title == "EDR: created 4550314-13" and "risk: MEDIUM" in edr.message
    assert edr.device_time == datetime(2024, 3, 10, 21, 56, 54, tzinfo=UTC)

    assert system_log.title == "System events log: reported An account failed to log on."
    assert system_log.message.startswith("description: An account failed to log on.")
    assert system_log.device_time == datetime(2024, 3, 10, 16, 52, 18, 628_000, tzinfo=UTC)
    assert (system_log.severity, system_log.device_name) == (Severity.INFO, "DC")


@pytest.mark.parametrize(("name", "said"), [
    ("error-400001.json", "Request parameter(s) have wrong format. Check details; invalid persistenceTimestampStart: "
                          "'2024-3-6T12:1:14Z' (code 400001, transaction 0000-7e1d2c3b4a596877)."),
    ("error-400000.json", "Bad request because of invalid parameters or data (code 400000, transaction "
                          "0000-7e1d2c3b4a596878)."),
])
async def test_error_fixtures_are_a_sentence_naming_details_and_transaction(name, said):
    transport, _ = fixture_server({EVENTS_PATH: (400, fixture(name))})
    client = client_for(transport)
    try:
        with pytest.raises(VendorError) as caught:
            [page async for page in client.events(EventWindow(start=NOW))]
    finally:
        await client.aclose()
    assert str(caught.value) == f"Elements at api.connect.withsecure.com rejected {EVENTS_PATH} (400): {said}"


# --- the simulator speaks the fixtures' shapes ---------------------------------------------------------------


def kind(value: Any) -> str:
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def union(records: list[dict]) -> dict[str, set[str]]:
    """Every key of `records` with the value kinds it has; nested objects as "key.sub"."""
    seen: dict[str, set[str]] = {}
    for record in records:
        for key, value in record.items():
            seen.setdefault(key, set()).add(kind(value))
            if isinstance(value, dict) and key != "details":
                for sub, inner in union([value]).items():
                    seen.setdefault(f"{key}.{sub}", set()).update(inner)
    return seen


def assert_within(served: list[dict], real: list[dict]) -> None:
    """Each served record has only keys the real records have, each of a kind they have."""
    allowed = union(real)
    for record in served:
        for key, kinds in union([record]).items():
            assert key in allowed, f"the simulator invents {key!r}"
            assert kinds <= allowed[key], f"{key!r} is {kinds}, the real API sends {allowed[key]}"


@pytest.fixture(scope="module")
def api():
    simulator = ElementsSimulator(ElementsFleet(400, seed=3, now=NOW))
    with ServerThread(create_app(simulator)) as server, httpx.Client(base_url=server.url) as http:
        token = http.post(TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "connect.api.read"},
                          auth=(DEMO_USERNAME, DEMO_PASSWORD))
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http, token.json()


def test_simulated_token_whoami_and_organizations_have_the_real_shapes(api):
    http, token = api
    assert union([token]) == union([fixture("token.json")])
    assert union([http.get(WHOAMI_PATH).json()]) == union([fixture("whoami.json")])
    page = http.get(ORGANIZATIONS_PATH, params={"limit": 1}).json()
    assert set(page) == set(fixture("organizations.json"))
    assert union(page["items"]) == union(fixture("organizations.json")["items"])


def test_simulated_devices_have_the_real_keys_and_kinds(api):
    http, _ = api
    served, params = [], {"limit": 200}
    while True:
        page = http.get(DEVICES_PATH, params=params).json()
        served += page["items"]
        if "nextAnchor" not in page:
            break
        params["anchor"] = page["nextAnchor"]
    real = fixture("devices-page.json")["items"]
    assert_within(served, real)
    by_type = {record.get("type"): record for record in real if record.get("id")}
    for device_type in ("computer", "mobile", "connector"):
        mine = [record for record in served if record.get("type") == device_type and record.get("id")]
        assert mine and all(set(by_type[device_type]) - {"state"} <= set(record) for record in mine), device_type
    assert any(not record.get("id") for record in served)  # and the junk the real API sends


def test_simulated_security_events_have_the_real_keys_and_kinds(api):
    http, _ = api
    form = {"persistenceTimestampStart": "2024-02-10T00:00:00Z", "engineGroup": ["epp", "edr", "ecp", "xm"],
            "limit": "200"}
    body = http.post(EVENTS_PATH, data=form).content  # one event is Latin-1 with a NUL, as a real one was
    served = json.loads(body.replace(b"\x00", b"").decode("utf-8", "replace"))["items"]
    real = fixture("security-events-page.json")["items"]
    assert_within(served, real)
    common = set.intersection(*(set(item) for item in real))
    for item in served:
        assert common <= set(item)
        assert all(isinstance(value, str) for value in item["details"].values())
        assert item["details"]["clientTimestamp"].isdigit()
    assert {item["engine"] for item in served} >= {"deepGuard", "fileScanning", "edr", "systemEventsLog"}


def test_simulated_errors_have_the_real_envelopes(api):
    http, _ = api
    wrong_format = http.get(DEVICES_PATH, params={"limit": "500"})
    bad_request = http.post(EVENTS_PATH, data={"persistenceTimestampStart": "2024-02-10T00:00:00Z"})
    assert (wrong_format.status_code, bad_request.status_code) == (400, 400)
    assert union([wrong_format.json()]) == union([fixture("error-400001.json")])
    assert_within([bad_request.json()], [fixture("error-400000.json"), fixture("error-400001.json")])
    refused = httpx.post(f"{http.base_url}{TOKEN_PATH}", data={"grant_type": "client_credentials"},
                         auth=(DEMO_USERNAME, "wrong"), headers={"User-Agent": "contract-test"})
    assert refused.status_code == 401 and union([refused.json()]) == union([fixture("oauth-401.json")])
