"""The Elements simulator over real HTTP on loopback: the shapes of the seed 004 examples and of
../shared/vendor-apis/elements.md, anchor paging, filters, the transport rules (User-Agent, x-transaction,
rate limit), determinism and a 200,000-device fleet."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from tui.simulators.elements import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DEVICES_PATH,
    ORGANIZATIONS_PATH,
    TOKEN_PATH,
    WHOAMI_PATH,
    ElementsFleet,
    ElementsSimulator,
    Logged,
    create_app,
)
from tui.simulators.serve import ServerThread

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
TOKEN_KEYS = {"access_token", "token_type", "expires_in"}
WHOAMI_KEYS = {"clientId", "organizationId"}
ORGANIZATION_KEYS = {"id", "name", "type"}  # the seed's example, and `type` [XSOAR-EL][ATT]
ERROR_KEYS = {"message", "code", "transactionId"}  # and `details` when it names what was wrong [SEKOIA]
TRANSACTION_ID = re.compile(r"^0000-[0-9a-f]{16}$")
OAUTH_ERROR_KEYS = {"error", "error_description"}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
COMMON_KEYS = {"id", "name", "type", "state", "online", "company", "os", "clientVersion", "profileName",
               "profileState", "subscription", "serialNumber", "lastUser", "publicIpAddress",
               "protectionStatusOverview", "protectionStatus", "malwareState", "malwareDbVersion",
               "malwareDbUpdateTimestamp", "statusUpdateTimestamp", "registrationTimestamp"}
COMPUTER_KEYS = COMMON_KEYS | {"computerModel", "ipAddresses", "macAddresses", "firewallState", "dataguardState",
                               "applicationControlState", "deviceControlState", "discEncryptionEnabled",
                               "edrIncidents", "physicalMemoryTotalSize", "physicalMemoryFree",
                               "systemDriveTotalSize", "systemDriveFreeSpace", "patchLastScanTimestamp",
                               "patchOverallState", "biosVersion", "dnsAddress", "winsAddress", "publicInternet",
                               "userPrincipalName", "currentUserAdmin"}
CONNECTOR_KEYS = {"id", "name", "type", "online", "company", "subscription", "clientVersion", "publicIpAddress",
                  "statusUpdateTimestamp", "registrationTimestamp"}


@pytest.fixture(scope="module")
def simulator() -> ElementsSimulator:
    return ElementsSimulator(ElementsFleet(500, seed=7, now=NOW))


@pytest.fixture(scope="module")
def server(simulator):
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def get_token(client: httpx.Client, scope: str = "connect.api.read") -> httpx.Response:
    return client.post(TOKEN_PATH, data={"grant_type": "client_credentials", "scope": scope},
                       auth=(DEMO_USERNAME, DEMO_PASSWORD))


def login(client: httpx.Client) -> dict[str, str]:
    response = get_token(client)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def all_items(client: httpx.Client, path: str, headers: dict, **params) -> list[dict]:
    """Every item of an anchor-paged listing, checking the page shape on the way."""
    items: list[dict] = []
    anchors: set[str] = set()
    while True:
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        real = [item for item in page["items"] if item.get("id")]  # devices pages carry junk now and then
        assert all(item in ({}, {"name": "no id", "type": "computer"}) for item in page["items"] if not item.get("id"))
        items += real
        if "nextAnchor" not in page:
            assert set(page) == {"items"}
            return items
        assert set(page) == {"items", "nextAnchor"}
        assert len(real) == int(params.get("limit", 200))
        assert page["nextAnchor"] not in anchors
        anchors.add(page["nextAnchor"])
        params["anchor"] = page["nextAnchor"]


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"details"} and body["message"]
    assert isinstance(body["code"], int) and body["code"] // 1000 == status and len(str(body["code"])) == 6
    assert body["transactionId"] == response.headers["x-transaction"]
    return body


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == OAUTH_ERROR_KEYS and body["error"] == error and body["error_description"]


# --- authentication -----------------------------------------------------------------------------------------


def test_token_has_the_seed_shape(api, simulator):
    first, second = get_token(api), get_token(api, "connect.api.read connect.api.write")

    token = first.json()
    assert set(token) == TOKEN_KEYS
    assert re.match(r"^[A-Za-z0-9]{32}$", token["access_token"])
    assert (token["token_type"], token["expires_in"]) == ("Bearer", 1799)
    assert token["access_token"] != second.json()["access_token"]
    assert simulator.issued[-2:] == [(token["access_token"], "connect.api.read"),
                                     (second.json()["access_token"], "connect.api.read connect.api.write")]


def test_token_errors_are_oauth2_bodies(api):
    form = {"grant_type": "client_credentials", "scope": "connect.api.read"}

    assert_oauth_error(api.post(TOKEN_PATH, data=form, auth=(DEMO_USERNAME, "wrong")), 401, "invalid_client")
    assert_oauth_error(api.post(TOKEN_PATH, data=form), 401, "invalid_client")
    demo = (DEMO_USERNAME, DEMO_PASSWORD)
    assert_oauth_error(api.post(TOKEN_PATH, data={**form, "grant_type": "password"}, auth=demo),
                       400, "unsupported_grant_type")
    for scope in ("", "connect.api.admin", "connect.api.read email"):
        assert_oauth_error(api.post(TOKEN_PATH, data={**form, "scope": scope}, auth=demo), 400, "invalid_scope")
    assert_oauth_error(api.post(TOKEN_PATH, json=form, auth=demo), 400, "invalid_request")


def test_calls_need_a_live_bearer_token(api, simulator):
    assert_error(api.get(WHOAMI_PATH), 401)
    assert_error(api.get(DEVICES_PATH, headers={"Authorization": "Bearer not-a-token"}), 401)
    basic = base64.b64encode(f"{DEMO_USERNAME}:{DEMO_PASSWORD}".encode()).decode()
    assert_error(api.get(DEVICES_PATH, headers={"Authorization": f"Basic {basic}"}), 401)
    headers = login(api)
    assert api.get(WHOAMI_PATH, headers=headers).status_code == 200

    simulator.expire_tokens()

    assert_error(api.get(WHOAMI_PATH, headers=headers), 401)


def test_tokens_expire_after_their_lifetime(api, simulator):
    simulator.token_ttl = 0
    try:
        headers = login(api)
    finally:
        simulator.token_ttl = 1799

    assert_error(api.get(WHOAMI_PATH, headers=headers), 401)


def test_whoami_has_the_seed_shape(api, simulator):
    body = api.get(WHOAMI_PATH, headers=login(api)).json()

    assert set(body) == WHOAMI_KEYS
    assert body == {"clientId": DEMO_USERNAME, "organizationId": simulator.fleet.partner["id"]}
    assert re.match(r"^fusion_[0-9a-f]{20}$", body["clientId"])


# --- organizations -------------------------------------------------------------------------------------------


def test_partner_credentials_list_the_partner_then_its_companies(api, simulator):
    headers = login(api)
    fleet = simulator.fleet

    organizations = all_items(api, ORGANIZATIONS_PATH, headers, limit=2)

    assert all(set(organization) == ORGANIZATION_KEYS for organization in organizations)
    assert all(UUID.match(organization["id"]) for organization in organizations)
    assert organizations == [fleet.partner, *fleet.companies]
    assert [org["type"] for org in organizations] == ["partner"] + ["company"] * 6
    assert len(organizations) == 7
    companies = api.get(ORGANIZATIONS_PATH, headers=headers, params={"type": "company"}).json()["items"]
    assert [org["id"] for org in companies] == [company["id"] for company in fleet.companies]
    one = api.get(ORGANIZATIONS_PATH, headers=headers, params={"organizationId": fleet.companies[3]["id"]}).json()
    assert one == {"items": [fleet.companies[3]]}


def test_company_credentials_see_only_themselves():
    fleet = ElementsFleet(200, seed=2, now=NOW)
    own, other = fleet.companies[1], fleet.companies[2]
    with ServerThread(create_app(ElementsSimulator(fleet, organization_id=own["id"]))) as server, \
            httpx.Client(base_url=server.url) as client:
        headers = login(client)
        whoami = client.get(WHOAMI_PATH, headers=headers).json()
        organizations = client.get(ORGANIZATIONS_PATH, headers=headers).json()
        devices = all_items(client, DEVICES_PATH, headers)
        forbidden = client.get(DEVICES_PATH, headers=headers, params={"organizationId": other["id"]})
        partner = client.get(DEVICES_PATH, headers=headers, params={"organizationId": fleet.partner["id"]})

    assert whoami["organizationId"] == own["id"]
    assert organizations == {"items": [{"id": own["id"], "name": own["name"], "type": "company"}]}
    assert devices and {device["company"]["id"] for device in devices} == {own["id"]}
    assert other["id"] in assert_error(forbidden, 403)["message"]
    assert_error(partner, 403)


# --- devices -------------------------------------------------------------------------------------------------------


def test_anchors_walk_every_device_once(api, simulator):
    headers = login(api)

    devices = all_items(api, DEVICES_PATH, headers, limit=64)

    assert len(devices) == len({device["id"] for device in devices}) == 500
    assert [device["id"] for device in devices] == [device["id"] for device in all_items(api, DEVICES_PATH, headers)]
    first = api.get(DEVICES_PATH, headers=headers).json()
    assert len([item for item in first["items"] if item.get("id")]) == 200 and isinstance(first["nextAnchor"], str)


def test_some_device_pages_carry_junk_items_as_the_real_api_does(api):
    """`{}` and items without `id` [SEKOIA]: on a seeded share of the pages, the same ones every time."""
    headers = login(api)

    def junk(params: dict) -> list[int]:
        counts = []
        while True:
            page = api.get(DEVICES_PATH, headers=headers, params=params).json()
            counts.append(sum(1 for item in page["items"] if not item.get("id")))
            if "nextAnchor" not in page:
                return counts
            params = {**params, "anchor": page["nextAnchor"]}

    first = junk({"limit": 20})
    assert 0 < sum(first) < len(first) and set(first) <= {0, 1}
    assert junk({"limit": 20}) == first


def test_paging_parameters_are_checked(api):
    headers = login(api)

    for limit in ("0", "201", "ten"):
        body = assert_error(api.get(DEVICES_PATH, headers=headers, params={"limit": limit}), 400)
        assert (body["code"], body["details"]) == (400001, {"invalidParam": "limit", "invalidValue": limit})
    body = assert_error(api.get(DEVICES_PATH, headers=headers, params={"anchor": "not-an-anchor"}), 400)
    assert body["details"] == {"invalidParam": "anchor", "invalidValue": "not-an-anchor"}
    assert api.get(DEVICES_PATH, headers=headers, params={"limit": "200"}).status_code == 200


def test_device_records_have_the_documented_fields(api):
    devices = all_items(api, DEVICES_PATH, login(api))

    for device in devices:
        keys = {"computer": COMPUTER_KEYS, "mobile": COMMON_KEYS | {"email"}, "connector": CONNECTOR_KEYS}[device["type"]]
        assert set(device) == keys, device["name"]
        assert UUID.match(device["id"]) and UUID.match(device["company"]["id"])
        assert set(device["company"]) == {"id", "name"}
        assert set(device["subscription"]) == {"key", "name", "productVariant"}
        assert isinstance(device["online"], bool)
        for key in ("statusUpdateTimestamp", "registrationTimestamp"):
            assert RFC3339_UTC.match(device[key]), device[key]
            assert datetime.fromisoformat(device[key]) <= NOW
        assert "." in device["statusUpdateTimestamp"]
        if device["type"] == "connector":
            continue
        assert set(device["os"]) == {"name", "version", "endOfLife"}
        assert device["state"] in ("active", "blocked", "inactive")
        assert device["protectionStatus"] in ("protected", "notConnected") and device["profileState"] == "upToDate"
        assert RFC3339_UTC.match(device["malwareDbUpdateTimestamp"]) and "." not in device["malwareDbUpdateTimestamp"]
        if device["type"] == "computer":
            assert re.match(r"^\d+\.\d+\.\d+\.\d+/\d+(,fe80::[0-9a-f:]+/64)?$", device["ipAddresses"])
            assert re.match(r"^([0-9A-F]{2}-){5}[0-9A-F]{2}$", device["macAddresses"])
    assert {device["type"] for device in devices} == {"computer", "mobile", "connector"}
    assert any("," in device.get("ipAddresses", "") for device in devices)


def test_fleet_mix(api):
    devices = all_items(api, DEVICES_PATH, login(api))

    def share(predicate) -> float:
        return sum(1 for device in devices if predicate(device)) / len(devices)

    overview = Counter(device.get("protectionStatusOverview") for device in devices)
    assert set(overview) == {"critical", "warning", "allOk", "isolated", "inactive", None}  # None: connectors
    assert 0.01 <= overview["critical"] / 500 <= 0.07 and 0.04 <= overview["warning"] / 500 <= 0.16
    patches = Counter(device.get("patchOverallState") for device in devices)
    assert set(patches) == {"missingCriticalUpdates", "missingImportantUpdates", "importantUpdatesInstalled",
                            "disabled", "outdatedScanResults", "notScannedYet", None}
    assert 0.04 <= patches["missingCriticalUpdates"] / 500 <= 0.14
    assert all(device["type"] != "computer" for device in devices if "patchOverallState" not in device)
    assert all(not d["online"] and d["state"] == "inactive" for d in devices if overview and
               d.get("protectionStatusOverview") == "inactive")
    assert 0.7 <= share(lambda d: d["type"] == "computer") <= 0.9
    assert 0.15 <= share(lambda d: not d["online"]) <= 0.4
    assert share(lambda d: d.get("state") == "inactive") > 0
    assert all(d["malwareState"] == "enabled" for d in devices if d.get("protectionStatusOverview") == "allOk")
    assert any(d["malwareState"] == "disabled" for d in devices if d.get("protectionStatusOverview") == "critical")
    assert len({device["company"]["id"] for device in devices}) == 6


@pytest.mark.parametrize(("params", "keep"), [
    ({"protectionStatusOverview": "critical"}, lambda d: d.get("protectionStatusOverview") == "critical"),
    ({"protectionStatusOverview": "critical,warning"},
     lambda d: d.get("protectionStatusOverview") in ("critical", "warning")),
    ({"protectionStatusOverview": "isolated"}, lambda d: d.get("protectionStatusOverview") == "isolated"),
    ({"patchOverallState": "missingCriticalUpdates"}, lambda d: d.get("patchOverallState") == "missingCriticalUpdates"),
    ({"type": "mobile"}, lambda d: d["type"] == "mobile"),
    ({"online": "false"}, lambda d: not d["online"]),
    ({"protectionStatusOverview": "warning", "patchOverallState": "missingCriticalUpdates"},
     lambda d: d.get("protectionStatusOverview") == "warning" and d.get("patchOverallState") == "missingCriticalUpdates"),
])
def test_filters_select_what_they_name(api, params, keep):
    headers = login(api)
    everything = all_items(api, DEVICES_PATH, headers)

    filtered = all_items(api, DEVICES_PATH, headers, limit=7, **params)

    assert filtered == [device for device in everything if keep(device)]
    assert filtered


def test_organization_id_selects_one_company(api, simulator):
    headers = login(api)
    company = simulator.fleet.companies[2]

    devices = all_items(api, DEVICES_PATH, headers, organizationId=company["id"])

    assert devices and {device["company"]["name"] for device in devices} == {company["name"]}
    everyone = all_items(api, DEVICES_PATH, headers, organizationId=simulator.fleet.partner["id"])
    assert len(everyone) == 500
    assert_error(api.get(DEVICES_PATH, headers=headers, params={"organizationId": str(uuid.uuid4())}), 403)
    assert_error(api.get(DEVICES_PATH, headers=headers, params={"organizationId": "e4bd56b0"}), 400)


def test_unknown_filter_values_are_a_400(api):
    headers = login(api)

    for name, value in (("protectionStatusOverview", "important"), ("patchOverallState", "allUpdatesInstalled"),
                        ("patchOverallState", "upToDate"), ("patchOverallState", "unknown"), ("type", "tv"),
                        ("state", "deleted")):
        body = assert_error(api.get(DEVICES_PATH, headers=headers, params={name: value}), 400)
        assert body["message"] == "Request parameter(s) have wrong format. Check details."
        assert (body["code"], body["details"]) == (400001, {"invalidParam": name, "invalidValue": value})


# --- transport rules ------------------------------------------------------------------------------------------


def test_every_answer_carries_its_own_x_transaction(api, simulator):
    headers = login(api)
    simulator.faults.add("500", path=WHOAMI_PATH)

    answers = [api.get(WHOAMI_PATH, headers=headers), api.get(WHOAMI_PATH, headers=headers),
               api.get(WHOAMI_PATH), api.get("/no/such/endpoint", headers=headers)]

    assert [answer.status_code for answer in answers] == [500, 200, 401, 404]
    transactions = [answer.headers["x-transaction"] for answer in answers]
    assert all(TRANSACTION_ID.match(transaction) for transaction in transactions)
    assert len(set(transactions)) == 4
    assert_error(answers[3], 404)
    assert_error(answers[0], 500)  # an injected fault speaks the real envelope too


def test_a_request_without_user_agent_is_rejected(api, simulator):
    before = len(simulator.requests)
    anonymous = httpx.Request("GET", api.base_url.join(WHOAMI_PATH), headers=login(api))  # sent as built
    assert "user-agent" not in anonymous.headers
    blank = httpx.Request("POST", api.base_url.join(TOKEN_PATH), headers={"user-agent": ""})

    for request in (anonymous, blank):
        response = api.send(request)
        assert "User-Agent" in assert_error(response, 400)["message"]
        assert TRANSACTION_ID.match(response.headers["x-transaction"])
    assert [logged.path for logged in simulator.requests[before:]] == [TOKEN_PATH, WHOAMI_PATH, TOKEN_PATH]


def test_the_rate_limit_answers_429_with_retry_after_until_the_window_ends():
    simulator = ElementsSimulator(ElementsFleet(10, seed=1, now=NOW), rate_limit=3, rate_window=1.0)
    with ServerThread(create_app(simulator)) as server, httpx.Client(base_url=server.url) as client:
        headers = login(client)
        allowed = [client.get(WHOAMI_PATH, headers=headers).status_code for _ in range(2)]
        limited = client.get(WHOAMI_PATH, headers=headers)
        time.sleep(float(limited.headers["retry-after"]))
        again = client.get(WHOAMI_PATH, headers=headers)

    assert allowed == [200, 200]
    assert "Rate limit" in assert_error(limited, 429)["message"]
    assert limited.headers["retry-after"] == "1"
    assert TRANSACTION_ID.match(limited.headers["x-transaction"])
    assert again.status_code == 200


def test_the_default_rate_limit_is_the_documented_one(simulator):
    assert (simulator.rate_limit, simulator.rate_window) == (10_000, 60.0)


def test_every_request_is_recorded_with_its_query(api, simulator):
    before = len(simulator.requests)

    api.get(DEVICES_PATH, params={"limit": 5, "protectionStatusOverview": "critical"})
    api.post(TOKEN_PATH)

    assert simulator.requests[before:] == [
        Logged("GET", DEVICES_PATH, "limit=5&protectionStatusOverview=critical"), Logged("POST", TOKEN_PATH, "")]


# --- determinism and scale ---------------------------------------------------------------------------------------


def test_same_seed_and_now_serve_identical_bytes():
    def bodies(seed: int) -> list[bytes]:
        with ServerThread(create_app(ElementsSimulator(ElementsFleet(300, seed=seed, now=NOW)))) as server, \
                httpx.Client(base_url=server.url) as client:
            headers = login(client)
            first = client.get(DEVICES_PATH, headers=headers, params={"limit": 50}).json()
            paths = (f"{DEVICES_PATH}?limit=50&anchor={first['nextAnchor']}", ORGANIZATIONS_PATH,
                     f"{DEVICES_PATH}?patchOverallState=missingCriticalUpdates")
            return [client.get(path, headers=headers).content for path in paths]

    first, again, other = bodies(7), bodies(7), bodies(8)

    assert first == again
    assert all(mine != theirs for mine, theirs in zip(first, other))


def test_a_200000_device_fleet_builds_no_record_and_serves_filtered_pages(monkeypatch):
    with monkeypatch.context() as building:  # records are built on demand only, never for the whole fleet
        building.setattr(ElementsFleet, "device", lambda self, index: pytest.fail("a record built with the fleet"))
        fleet = ElementsFleet(200_000, seed=3, now=NOW)

    assert len(fleet) == 200_000
    assert fleet.device(199_999)["id"] != fleet.device(0)["id"]
    company = 1  # the smallest share of the fleet
    with ServerThread(create_app(ElementsSimulator(fleet))) as server, \
            httpx.Client(base_url=server.url, timeout=120) as client:
        critical = all_items(client, DEVICES_PATH, login(client), organizationId=fleet.companies[company]["id"],
                             protectionStatusOverview="critical")

    expected = sum(1 for index in range(200_000) if fleet.matches(
        index, companies=frozenset((company,)), overviews=frozenset((0,)), patches=None, types=None, online=None))
    assert len(critical) == expected > 200
    assert {device["protectionStatusOverview"] for device in critical} == {"critical"}
    assert {device["company"]["id"] for device in critical} == {fleet.companies[company]["id"]}
