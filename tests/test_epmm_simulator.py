"""The EPMM simulator over real HTTP on loopback: the shapes, paging, filters and status codes the EPMM client
is written against (../shared/vendor-apis/epmm.md and the seed 003)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from tui.simulators.epmm import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    FIELDS,
    GDPR_FIELDS,
    GDPR_USERNAME,
    OBFUSCATED,
    EpmmFleet,
    EpmmSimulator,
    QueryError,
    create_app,
    parse_query,
)
from tui.simulators.serve import ServerThread

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
API = "/api/v2"
SIZE = 500
AUTH = (DEMO_USERNAME, DEMO_PASSWORD)
SEARCH_KEYS = ["results", "totalCount", "resultCount", "searchTimeMillis", "currentServerTimeMilliseconds", "hasMore"]
LIST_KEYS = ["totalCount", "resultCount", "hasMore", "results"]
LABEL_KEYS = ["id", "name", "description", "isStatic", "criteria", "deviceCount", "deviceSpaceId", "deviceSpaceName",
              "deviceSpacePath", "rowType"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ALL_FIELDS = ",".join(FIELDS)


@pytest.fixture(scope="module")
def simulator() -> EpmmSimulator:
    return EpmmSimulator(EpmmFleet(SIZE, seed=7, now=NOW))


@pytest.fixture(scope="module")
def server(simulator):
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url + API, auth=AUTH, timeout=60) as client:
        yield client


def search(api: httpx.Client, **params) -> dict:
    response = api.get("/devices", params={"adminDeviceSpaceId": 1, "fields": ALL_FIELDS, "query": "", **params})
    assert response.status_code == 200, response.text
    return response.json()


def everything(api: httpx.Client, **params) -> list[dict]:
    """Every result of a search, paged by 200, checking the bookkeeping on the way."""
    results: list[dict] = []
    while True:
        page = search(api, limit=200, offset=len(results), **params)
        assert list(page) == SEARCH_KEYS
        assert page["resultCount"] == len(page["results"]) <= 200
        results += page["results"]
        assert page["hasMore"] is (len(results) < page["totalCount"])
        if not page["hasMore"]:
            assert len(results) == page["totalCount"]
            return results


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    """EPMM's error body: a `messages` list of typed, keyed, localized messages."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    (message,) = response.json()["messages"]
    assert list(message) == ["type", "messageKey", "localizedMessage"]
    assert message["type"] == "Error"
    for word in words:
        assert word in message["localizedMessage"]


# --- authentication ----------------------------------------------------------------------------------------


def test_ping_needs_basic_credentials_and_does_not_prompt(server):
    with httpx.Client(base_url=server.url + API) as anonymous:
        refused = anonymous.get("/ping")
        wrong = anonymous.get("/ping", auth=(DEMO_USERNAME, "wrong"))
        bearer = anonymous.get("/ping", headers={"Authorization": "Bearer abc"})
        junk = anonymous.get("/ping", headers={"Authorization": "Basic !!not-base64!!"})
        good = anonymous.get("/ping", auth=AUTH)

    for response in (refused, wrong, bearer, junk):
        assert_error(response, 401, "Authentication failed", "valid user ID and password")
        assert "www-authenticate" not in response.headers  # the seed: the API never prompts for credentials
    assert good.json() == {"results": {"apiVersion": 2, "vspVersion": "VSP 12.5.0.0 Build 52"}}


def test_every_call_needs_credentials(server):
    with httpx.Client(base_url=server.url + API) as anonymous:
        for path in ("/device_spaces/mine", "/labels/label_summary?adminDeviceSpaceId=1",
                     "/devices/search_fields?adminDeviceSpaceId=1",
                     f"/devices?adminDeviceSpaceId=1&query=&fields={ALL_FIELDS}"):
            assert_error(anonymous.get(path), 401)


def test_expire_tokens_changes_nothing_under_basic_auth(api, simulator):
    simulator.expire_tokens()
    simulator.faults.add("expire-token")

    assert api.get("/ping").status_code == 200


# --- device spaces, labels, fields ---------------------------------------------------------------------------


def test_device_spaces(api):
    body = api.get("/device_spaces/mine").json()

    assert list(body) == LIST_KEYS
    assert body["totalCount"] == body["resultCount"] == 4
    assert [(space["id"], space["name"], space["parentId"]) for space in body["results"]] == [
        (1, "Global", None), (2, "EMEA", 1), (3, "Americas", 1), (4, "APAC", 1)]
    second = api.get("/device_spaces/mine", params={"limit": 2, "offset": 2}).json()
    assert [space["id"] for space in second["results"]] == [3, 4] and second["totalCount"] == 4


def test_label_summary_rows_have_the_documented_keys_and_counts_agree_with_label_searches(api, simulator):
    body = api.get("/labels/label_summary", params={"adminDeviceSpaceId": 1}).json()

    assert list(body) == LIST_KEYS
    labels = body["results"]
    assert all(list(label) == LABEL_KEYS for label in labels)
    assert labels[0] | {"deviceCount": 0} == {
        "id": -1, "name": "All-Smartphones", "description": "Label for all devices irrespective of OS",
        "isStatic": False, "criteria": "", "deviceCount": 0, "deviceSpaceId": 1, "deviceSpaceName": "Global",
        "deviceSpacePath": "/Global", "rowType": "SYSTEM"}
    assert {label["rowType"] for label in labels if label["id"] < 0} == {"SYSTEM"}
    assert {label["rowType"] for label in labels if label["id"] > 0} == {"ADMIN"}
    assert {label["name"] for label in labels} >= {"iOS", "Android", "Executives", "Field Sales", "Employee-Owned"}
    assert {label["isStatic"] for label in labels} == {True, False}
    members = Counter(name for index in range(SIZE) for name in simulator.fleet.label_names(index))
    for label in labels:
        assert label["deviceCount"] == members[label["name"]] == everything_count(api, label["id"]), label["name"]
    assert members["All-Smartphones"] == SIZE
    assert members["iOS"] + members["Android"] + members["Windows"] + members["macOS"] == SIZE
    assert members["Employee-Owned"] + members["Company-Owned"] == SIZE


def everything_count(api: httpx.Client, label_id: int) -> int:
    """How many devices a `labelId` search (without a query) finds."""
    response = api.get("/devices", params={"adminDeviceSpaceId": 1, "fields": "common.uuid", "labelId": label_id})
    assert response.status_code == 200, response.text
    return response.json()["totalCount"]


@pytest.mark.parametrize("params, words", [
    ({}, ["adminDeviceSpaceId is required"]),
    ({"adminDeviceSpaceId": 1, "limit": 201}, ["limit must be between 0 and 200"]),
])
def test_label_summary_rejects_what_the_documentation_forbids(api, params, words):
    assert_error(api.get("/labels/label_summary", params=params), 400, *words)


def test_label_summary_of_a_device_space_counts_only_its_devices(api):
    emea = {label["name"]: label["deviceCount"]
            for label in api.get("/labels/label_summary", params={"adminDeviceSpaceId": 2}).json()["results"]}

    expected = sum(device["common.device_space_name"] == "EMEA" for device in everything(api))
    assert emea["All-Smartphones"] == expected < SIZE


def test_search_fields_lists_what_the_search_returns(api):
    body = api.get("/devices/search_fields", params={"adminDeviceSpaceId": 1}).json()

    assert [field["name"] for field in body["results"]] == list(FIELDS)
    assert not {"common.labels", "common.device_name"} & set(FIELDS)  # no real source has them
    for result in search(api, limit=20)["results"]:
        assert list(result) == [field for field in FIELDS
                                if field != "ios.DeviceName" or result["common.platform"] == "iOS"]


def test_only_ios_devices_have_a_device_name(api):
    devices = everything(api)

    assert {device["common.platform"] for device in devices if "ios.DeviceName" in device} == {"iOS"}
    assert all(device["ios.DeviceName"] for device in devices if device["common.platform"] == "iOS")


# --- the device search -----------------------------------------------------------------------------------------


def test_results_carry_only_the_requested_fields_in_the_requested_order(api):
    page = search(api, fields="user.user_id,common.uuid,common.platform", limit=3)

    assert [list(result) for result in page["results"]] == [["user.user_id", "common.uuid", "common.platform"]] * 3


def test_paging_adds_up_in_registration_order(api):
    devices = everything(api)

    assert [device["common.id"] for device in devices] == list(range(1, SIZE + 1))
    assert len({device["common.uuid"] for device in devices}) == SIZE
    default = search(api)
    assert (default["resultCount"], default["totalCount"], default["hasMore"]) == (50, SIZE, True)
    beyond = search(api, offset=SIZE + 10)
    assert (beyond["results"], beyond["resultCount"], beyond["hasMore"]) == ([], 0, False)


def test_device_records_look_like_epmm(api):
    for device in everything(api):
        assert UUID.match(device["common.uuid"])
        assert device["common.platform"] in ("iOS", "Android", "Windows", "macOS")
        assert device["common.status"] in ("ACTIVE", "RETIRED", "WIPED")
        assert device["common.security_state"] in ("Ok", "Compromised")
        assert device["common.device_is_compromised"] is (device["common.security_state"] == "Compromised")
        assert device["common.owner"] in ("COMPANY", "EMPLOYEE")
        assert isinstance(device["common.compliant"], bool) and isinstance(device["common.quarantined"], bool)
        assert ISO.match(device["common.last_connected_at"]) and ISO.match(device["common.registration_date"])
        assert device["common.registration_date"] < device["common.last_connected_at"] <= "2026-11-25T12"
        if device["common.quarantined"]:
            assert not device["common.compliant"] and device["common.quarantined_reasons"]
        assert bool(device["common.noncompliance_reasons"]) is (not device["common.compliant"])
        if device["common.imei"]:
            assert re.match(r"^35\d{13}$", device["common.imei"])
        assert "@" in (device["user.email_address"] or "@")


def test_fleet_mix(api):
    devices = everything(api)

    def share(predicate) -> float:
        return sum(1 for device in devices if predicate(device)) / len(devices)

    assert share(lambda d: d["common.platform"] in ("iOS", "Android")) >= 0.8
    assert 0 < share(lambda d: d["common.platform"] in ("Windows", "macOS")) <= 0.2
    assert 0.04 <= share(lambda d: not d["common.compliant"]) <= 0.15
    assert 0.01 <= share(lambda d: d["common.quarantined"]) <= 0.08
    assert 0 < share(lambda d: d["common.security_state"] == "Compromised") <= 0.04
    assert 0.01 <= share(lambda d: d["common.status"] == "RETIRED") <= 0.06
    assert 0 < share(lambda d: d["common.status"] == "WIPED") <= 0.03
    unsupported = {("iOS", "17"), ("iOS", "16"), ("Android", "12"), ("Android", "11"), ("macOS", "13"),
                   ("Windows", "10.0.19045")}  # releases without security fixes since 2025 or earlier
    assert 0.05 <= share(lambda d: (d["common.platform"], d["common.os_version"].split(".")[0]) in unsupported
                         or d["common.os_version"].startswith("10.0.19045.")) <= 0.18
    assert 0.15 <= share(lambda d: d["common.owner"] == "EMPLOYEE") <= 0.35


def test_query_language(api):
    devices = everything(api)

    def matching(query: str) -> list[int]:
        return [device["common.id"] for device in everything(api, query=query)]

    def expected(predicate) -> list[int]:
        return [device["common.id"] for device in devices if predicate(device)]

    assert matching('"common.platform" = "iOS"') == expected(lambda d: d["common.platform"] == "iOS")
    assert matching('common.platform = "ios"') == expected(lambda d: d["common.platform"] == "iOS")
    assert matching('"common.platform" != "iOS" AND "common.compliant" = false') == expected(
        lambda d: d["common.platform"] != "iOS" and not d["common.compliant"])
    assert matching('common.status = "ACTIVE" AND (common.quarantined = true OR common.compliant = false '
                    'OR common.security_state != "Ok")') == expected(
        lambda d: d["common.status"] == "ACTIVE"
        and (d["common.quarantined"] or not d["common.compliant"] or d["common.security_state"] != "Ok"))
    assert matching('common.model CONTAINS "pixel"') == expected(lambda d: "Pixel" in d["common.model"])
    assert matching('"user.display_name" STARTS WITH "Anna"') == expected(
        lambda d: d["user.display_name"].startswith("Anna"))
    assert matching('common.id < 11') == list(range(1, 11))
    assert matching('common.last_connected_at > "2026-11-25T08"') == expected(
        lambda d: d["common.last_connected_at"] > "2026-11-25T08")


@pytest.mark.parametrize("query, problem", [
    ('"common.platform" = ', "the query ends"),
    ('"common.nope" = "x"', "unknown field 'common.nope'"),
    ('common.platform LIKE "x"', "unknown operator 'LIKE'"),
    ('(common.platform = "iOS"', "the query ends"),
    ('common.platform = "iOS")', "unexpected ')'"),
    ('common.platform = = "iOS"', "a value was expected"),
])
def test_bad_queries_are_400s_that_say_why(api, query, problem):
    with pytest.raises(QueryError, match=re.escape(problem)):
        parse_query(query)
    assert_error(api.get("/devices", params={"adminDeviceSpaceId": 1, "fields": "common.uuid", "query": query}),
                 400, "Invalid query", problem)


def test_label_id_filters_to_the_members(api, simulator):
    labels = api.get("/labels/label_summary", params={"adminDeviceSpaceId": 1}).json()["results"]
    executives = next(label for label in labels if label["name"] == "Executives")

    members = everything(api, labelId=executives["id"])

    assert len(members) == executives["deviceCount"] > 0
    assert all("Executives" in simulator.fleet.label_names(device["common.id"] - 1) for device in members)
    assert search(api, labelId=-1)["totalCount"] == SIZE  # All-Smartphones, a negative id
    ios = everything(api, labelId=-3, query='common.compliant = false')  # both together narrow each other
    assert ios and {(device["common.platform"], device["common.compliant"]) for device in ios} == {("iOS", False)}


def test_an_admin_of_a_device_space_sees_only_its_devices(api):
    emea = everything(api, adminDeviceSpaceId=2)

    assert {device["common.device_space_name"] for device in emea} == {"EMEA"}
    assert len(emea) == sum(device["common.device_space_name"] == "EMEA" for device in everything(api))


def test_gdpr_user_sees_obfuscated_personal_fields(server, api):
    clear = search(api, limit=200)["results"]
    with httpx.Client(base_url=server.url + API, auth=(GDPR_USERNAME, DEMO_PASSWORD)) as gdpr:
        hidden = search(gdpr, limit=200)["results"]

    for mine, theirs in zip(clear, hidden):
        for field in FIELDS:
            if field in GDPR_FIELDS and mine.get(field):
                assert theirs[field] == OBFUSCATED == "*****"
            else:
                assert theirs.get(field) == mine.get(field)
    assert any(device["common.imei"] == "" for device in hidden)  # empty values stay empty


@pytest.mark.parametrize("params, words", [
    ({"adminDeviceSpaceId": None}, ["adminDeviceSpaceId is required"]),
    ({"adminDeviceSpaceId": "one"}, ["Invalid value 'one' for adminDeviceSpaceId"]),
    ({"adminDeviceSpaceId": 9}, ["no device space 9"]),
    ({"fields": None}, ["fields is required"]),
    ({"fields": ""}, ["fields is required"]),
    ({"fields": "common.uuid,common.colour"}, ["Unknown field: common.colour"]),
    ({"fields": "common.uuid,common.labels"}, ["Unknown field: common.labels"]),
    ({"fields": "common.device_name"}, ["Unknown field: common.device_name"]),
    ({"fields": ",".join(["common.uuid"] * 513)}, ["at most 512"]),
    ({"fields": "common." + "x" * 320}, ["longer than 320"]),
    ({"query": None}, ["One of the parameters query and labelId is required"]),
    ({"query": "common.platform = " + '"' + "x" * 240 + '"'}, ["query must be at most 255"]),
    ({"limit": 201}, ["limit must be between 0 and 200"]),
    ({"offset": -1}, ["offset must be at least 0"]),
    ({"labelId": 99}, ["no label 99"]),
])
def test_bad_parameters_are_400s_that_say_why(api, params, words):
    query = {key: value for key, value in {"adminDeviceSpaceId": 1, "fields": "common.uuid", "query": "",
                                           **params}.items()
             if value is not None}

    assert_error(api.get("/devices", params=query), 400, "Request error.", *words)


def test_limit_200_is_allowed(api):
    assert search(api, limit=200)["resultCount"] == 200


# --- routing ------------------------------------------------------------------------------------------------------


def test_unknown_api_path_is_a_json_404_and_other_paths_an_html_page(server):
    with httpx.Client(base_url=server.url, auth=AUTH) as client:
        in_api = client.get(f"{API}/no-such-call")
        elsewhere = client.get("/mifs/admin/nothing.html")

    assert_error(in_api, 404, "Page not found. Check the spelling of the URL.")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["content-type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in elsewhere.text


def test_wrong_method_is_a_405_with_the_allowed_ones(api):
    response = api.post("/devices", params={"adminDeviceSpaceId": 1})

    assert_error(response, 405, "Invalid HTTP method.", "POST")
    assert "GET" in response.headers["allow"]


def test_connected_cloud_serves_everything_under_rest():
    simulator = EpmmSimulator(EpmmFleet(20, seed=1, now=NOW), connected_cloud=True)
    with ServerThread(create_app(simulator)) as server, httpx.Client(base_url=server.url, auth=AUTH) as client:
        params = {"adminDeviceSpaceId": 1, "fields": "common.uuid", "query": ""}
        cloud = client.get("/rest/api/v2/devices", params=params)
        on_premises = client.get("/api/v2/devices", params=params)
        fields = client.get("/rest/api/v2/devices/search_fields", params={"adminDeviceSpaceId": 1})

    assert cloud.json()["totalCount"] == 20
    assert fields.status_code == 200
    assert on_premises.status_code == 404 and on_premises.headers["content-type"].startswith("text/html")


def test_every_request_is_recorded_with_faulted_ones(api, simulator):
    before = len(simulator.requests)
    simulator.faults.add("500", path=f"{API}/ping")

    assert api.get("/ping").status_code == 500
    api.get("/ping")
    api.get("/nowhere")

    assert simulator.requests[before:] == [("GET", f"{API}/ping"), ("GET", f"{API}/ping"), ("GET", f"{API}/nowhere")]


# --- determinism and scale ------------------------------------------------------------------------------------------


def test_same_seed_and_now_serve_identical_bytes():
    def bodies(seed: int) -> list[bytes]:
        simulator = EpmmSimulator(EpmmFleet(300, seed=seed, now=NOW))
        with ServerThread(create_app(simulator)) as server, \
                httpx.Client(base_url=server.url + API, auth=AUTH) as client:
            paths = (f"/devices?adminDeviceSpaceId=1&query=&fields={ALL_FIELDS}&limit=100&offset=100",
                     "/labels/label_summary?adminDeviceSpaceId=1")
            return [client.get(path).content for path in paths]

    first, again, other = bodies(7), bodies(7), bodies(8)

    assert first == again
    assert all(mine != theirs for mine, theirs in zip(first, other))


def test_fleet_records_are_rebuilt_identically():
    fleet = EpmmFleet(50, seed=5, now=NOW)

    assert [fleet.device(index) for index in range(50)] == [fleet.device(index) for index in range(50)]
    for index in range(50):
        summary = fleet.summary(index)
        assert {field: fleet.device(index)[field] for field in summary} == summary
    with pytest.raises(IndexError):
        fleet.device(50)


def test_a_200000_device_fleet_builds_no_record_and_serves_pages(monkeypatch):
    with monkeypatch.context() as building:  # records are built on demand only, never for the whole fleet
        building.setattr(EpmmFleet, "device", lambda self, index: pytest.fail("a record built with the fleet"))
        fleet = EpmmFleet(200_000, seed=3, now=NOW)
    assert len(fleet) == 200_000

    with ServerThread(create_app(EpmmSimulator(fleet))) as server, \
            httpx.Client(base_url=server.url + API, auth=AUTH, timeout=120) as client:
        last = client.get("/devices", params={"adminDeviceSpaceId": 1, "fields": "common.id,common.uuid", "query": "",
                                              "limit": 200, "offset": 199_800}).json()
        ios = client.get("/devices", params={"adminDeviceSpaceId": 1, "fields": "common.platform", "limit": 200,
                                             "query": '"common.platform" = "iOS"'}).json()
        labels = client.get("/labels/label_summary", params={"adminDeviceSpaceId": 1}).json()["results"]

    assert (last["totalCount"], last["resultCount"], last["hasMore"]) == (200_000, 200, False)
    assert [result["common.id"] for result in last["results"]] == list(range(199_801, 200_001))
    assert ios["totalCount"] == next(label["deviceCount"] for label in labels if label["name"] == "iOS")
    assert {result["common.platform"] for result in ios["results"]} == {"iOS"}
