"""The SEPM simulator over real HTTP on loopback: the shapes and quirks the SEPM client is written against
(../shared/vendor-apis/sepm.md sections 1-7 and 12)."""

from __future__ import annotations

import random
import re
import ssl
import uuid
from datetime import datetime, timezone

import httpx
import pytest
import trustme

from tui.simulators import Draw
from tui.simulators.sepm import (
    ADMIN_ID,
    DAY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    HOUR,
    SepmFleet,
    SepmSimulator,
    create_app,
)
from tui.simulators.serve import ServerThread, TlsFiles

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
API = "/sepm/api/v1"
HEX32 = re.compile(r"^[0-9A-F]{32}$")
ERROR_KEYS = {"errorCode", "appErrorCode", "errorMessage"}
PAGE_KEYS = {"content", "number", "size", "numberOfElements", "totalElements", "totalPages", "firstPage",
             "lastPage", "sort"}
SEED_GROUP_KEYS = {"id", "name", "description", "fullPathName", "numberOfPhysicalComputers",
                   "numberOfRegisteredUsers", "createdBy", "created", "lastModified", "policySerialNumber",
                   "policyDate", "customIpsNumber", "childGroups", "domain", "policyInheritanceEnabled"}
SEED_TOKEN_KEYS = {"domain", "refreshToken", "refreshTokenExpiration", "role", "adminId", "clientId",
                   "clientSecret", "bannerTitle", "bannerText", "username", "fullname", "token",
                   "tokenExpiration", "permissionSet", "domainid"}


@pytest.fixture(scope="module")
def simulator() -> SepmSimulator:
    return SepmSimulator(SepmFleet(500, seed=7, now=NOW))


@pytest.fixture(scope="module")
def server(simulator):
    with ServerThread(create_app(simulator)) as running:
        yield running


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url + API, timeout=60) as client:
        yield client


def login(client: httpx.Client) -> dict[str, str]:
    body = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "domain": ""}
    response = client.post("/identity/authenticate", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def all_pages(client: httpx.Client, path: str, headers: dict, page_size: int) -> list[dict]:
    """Every item of a paged listing, checking the page bookkeeping on the way."""
    items: list[dict] = []
    index = 1
    while True:
        page = client.get(path, headers=headers, params={"pageIndex": index, "pageSize": page_size}).json()
        assert set(page) == PAGE_KEYS
        assert page["number"] == index - 1
        assert page["size"] == page_size
        assert page["firstPage"] is (index == 1)
        assert page["numberOfElements"] == len(page["content"])
        items += page["content"]
        if page["lastPage"]:
            assert index == max(page["totalPages"], 1)
            assert len(items) == page["totalElements"]
            return items
        assert page["numberOfElements"] == page_size
        index += 1


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["errorCode"] == str(status)
    assert body["appErrorCode"] == ""
    assert body["errorMessage"]



def test_the_simulators_draws_are_pythons_for_the_same_seed() -> None:
    """Every simulator draws through `Draw` (randint and choice in one step): a seed must give the fleets it gave
    through `random.Random`, or every recorded payload and snapshot would move."""
    ours, python = Draw(2024), random.Random(2024)
    widths = [1, 2, 3, 7, 63, 64, 65, 253, 1 << 20, 60 * DAY, (1 << 40) + 5]
    for _ in range(300):
        for width in widths:
            assert ours.randint(10, 10 + width - 1) == python.randint(10, 10 + width - 1)
        assert ours.choice("abcdefg") == python.choice("abcdefg")
        assert ours.random() == python.random()

def test_version_answers_without_a_token(api):
    response = api.get("/version")

    assert response.status_code == 200
    assert response.json() == {"API_SEQUENCE": "240604011", "API_VERSION": "14.3.9000", "version": "14.3.25029.9000"}


def test_authenticate_returns_the_seed_token_shape(api, simulator):
    body = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD, "domain": ""}
    first = api.post("/identity/authenticate", json=body)
    second = api.post("/identity/authenticate", json=body)

    assert first.status_code == 200
    token = first.json()
    assert set(token) == SEED_TOKEN_KEYS
    uuid.UUID(token["token"])
    assert token["token"] != second.json()["token"]
    assert token["tokenExpiration"] == 43199
    assert token["role"] == {"bitMask": 8, "title": "sysadmin"}
    assert token["adminId"] == ADMIN_ID
    assert token["domainid"] == simulator.fleet.domain["id"]
    assert api.get("/groups", headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200


def test_authenticate_rejects_a_wrong_password(api):
    response = api.post("/identity/authenticate",
                        json={"username": DEMO_USERNAME, "password": "wrong", "domain": ""})

    assert_error(response, 401)
    assert response.json()["errorMessage"] == "Invalid user name or password"


def test_authenticate_body_quirks(api):
    good = b'{"username": "admin", "password": "demo-password", "domain": ""}'
    json_type = {"Content-Type": "application/json"}

    assert_error(api.post("/identity/authenticate", content=b"{not json", headers=json_type), 400)
    assert_error(api.post("/identity/authenticate", content=b"", headers=json_type), 400)
    assert_error(api.post("/identity/authenticate", content=b'{"username": "admin"}', headers=json_type), 400)
    # The real server answers 500, not 415, to a POST without a JSON content type.
    assert_error(api.post("/identity/authenticate", content=good), 500)
    assert api.post("/identity/authenticate", content=good, headers=json_type).status_code == 200


def test_calls_without_a_valid_token_answer_401(api):
    assert_error(api.get("/groups"), 401)
    assert_error(api.get("/computers", headers={"Authorization": f"Bearer {uuid.uuid4()}"}), 401)
    assert_error(api.get("/computers", headers={"Authorization": "Basic YWRtaW46ZGVtbw=="}), 401)


def test_expired_tokens_answer_401_until_reauthentication(api, simulator):
    headers = login(api)
    assert api.get("/computers", headers=headers).status_code == 200

    simulator.expire_tokens()

    assert_error(api.get("/computers", headers=headers), 401)
    assert api.get("/computers", headers=login(api)).status_code == 200


def test_tokens_expire_after_token_ttl(api, simulator):
    simulator.token_ttl = 0
    try:
        headers = login(api)
    finally:
        simulator.token_ttl = 43199

    assert_error(api.get("/groups", headers=headers), 401)


def test_logout_ends_the_session(api):
    headers = login(api)

    response = api.post("/identity/logout", headers=headers)

    assert response.status_code == 204
    assert_error(api.get("/groups", headers=headers), 401)


def test_groups_page_one_based_in_number_zero_based_out(api, simulator):
    headers = login(api)

    groups = all_pages(api, "/groups", headers, page_size=6)

    assert len(groups) == len(simulator.fleet.groups) == 20
    assert len({group["id"] for group in groups}) == 20
    paths = [group["fullPathName"] for group in groups]
    assert paths == sorted(paths, key=str.casefold)
    assert paths[:2] == ["My Company", "My Company\\Default Group"]
    default = api.get("/groups", headers=headers).json()
    assert (default["size"], default["totalPages"], default["lastPage"]) == (25, 1, True)
    assert default["sort"] == [{"direction": "ASC", "property": "NAME", "ascending": True}]
    beyond = api.get("/groups", headers=headers, params={"pageIndex": 9, "pageSize": 6}).json()
    assert (beyond["content"], beyond["number"], beyond["lastPage"]) == ([], 8, True)
    assert beyond["totalElements"] == 20


def test_group_records_have_the_seed_shape(api):
    headers = login(api)

    groups = api.get("/groups", headers=headers).json()["content"]

    for group in groups:
        assert set(group) == SEED_GROUP_KEYS
        assert HEX32.match(group["id"])
        assert group["fullPathName"].split("\\")[0] == "My Company"
        assert group["name"] == group["fullPathName"].split("\\")[-1]
        assert len(group["createdBy"]) == 128 and group["createdBy"].rstrip() == ADMIN_ID
        assert group["policySerialNumber"].startswith(group["id"][:4] + "-")
        assert set(group["domain"]) == {"id", "name"}
    assert max(group["fullPathName"].count("\\") for group in groups) >= 3
    assert len({group["numberOfPhysicalComputers"] for group in groups}) > 5  # not spread uniformly
    only = api.get("/groups", headers=headers, params={"fullPathName": "My Company\\Laptops\\Sales"}).json()
    assert [group["fullPathName"] for group in only["content"]] == ["My Company\\Laptops\\Sales"]


def test_group_by_id_and_the_410_body(api):
    headers = login(api)
    group = api.get("/groups", headers=headers).json()["content"][5]

    assert api.get(f"/groups/{group['id']}", headers=headers).json() == group
    missing = "0123456789ABCDEF0123456789ABCDEF"
    assert_error(api.get(f"/groups/{missing}", headers=headers), 410)
    assert missing in api.get(f"/groups/{missing}", headers=headers).json()["errorMessage"]
    assert_error(api.get(f"/groups/{missing}/computers", headers=headers), 410)


def test_computer_pages_add_up(api):
    headers = login(api)

    computers = all_pages(api, "/computers", headers, page_size=200)

    assert len(computers) == 500
    assert len({computer["uniqueId"] for computer in computers}) == 500
    names = [computer["computerName"] for computer in computers]
    assert names == sorted(names)
    first = api.get("/computers", headers=headers).json()
    assert (first["size"], first["totalPages"]) == (20, 25)
    assert first["sort"] == [{"direction": "ASC", "property": "COMPUTER_NAME", "ascending": True}]
    per_group = 0
    for group in api.get("/groups", headers=headers).json()["content"]:
        members = api.get(f"/groups/{group['id']}/computers", headers=headers, params={"pageSize": 1000}).json()
        assert members["totalElements"] == group["numberOfPhysicalComputers"]
        assert {computer["group"]["id"] for computer in members["content"]} <= {group["id"]}
        per_group += members["totalElements"]
    assert per_group == 500


def test_computer_group_holds_the_full_path_and_a_null_full_path_name(api):
    headers = login(api)
    paths = {group["id"]: group["fullPathName"] for group in api.get("/groups", headers=headers).json()["content"]}

    computers = api.get("/computers", headers=headers, params={"pageSize": 500}).json()["content"]

    for computer in computers:
        group = computer["group"]
        assert list(group) == ["id", "name", "fullPathName", "domain", "externalReferenceId", "source"]
        assert group["fullPathName"] is None
        assert group["name"] == paths[group["id"]]
    assert len({computer["group"]["id"] for computer in computers}) >= 10


def test_computer_records_look_like_a_14_3_server(api):
    headers = login(api)

    computers = api.get("/computers", headers=headers, params={"pageSize": 500}).json()["content"]

    for computer in computers:
        assert re.match(r"^(WS|LT)-[A-Z]+-\d{5}$|^(SRV|MBP)-[A-Z]+-\d{4}$", computer["computerName"])
        for key in ("uniqueId", "hardwareKey", "agentId"):
            assert HEX32.match(computer[key])
        assert re.match(r"^\d{9}$", computer["avDefsetVersion"])
        assert "osname" not in computer
        ipv4, *ipv6 = computer["ipAddresses"]
        assert re.match(r"^\d+\.\d+\.\d+\.\d+$", ipv4)
        assert all(re.match(r"^FE80(:[0-9A-F]{4}){7}$", address) for address in ipv6)
        assert all(re.match(r"^([0-9A-F]{2}-){5}[0-9A-F]{2}$", mac) for mac in computer["macAddresses"])
        for key in ("lastUpdateTime", "creationTime", "lastScanTime", "lastVirusTime", "lastDownloadTime"):
            assert isinstance(computer[key], int) and 0 <= computer[key] <= NOW_MS
        assert {key: type(computer[key]) for key in ("osMajor", "osMinor", "osServicePack", "worstInfectionIdx")} == {
            "osMajor": int, "osMinor": int, "osServicePack": str, "worstInfectionIdx": str}
    assert any(len(set(computer["macAddresses"])) < len(computer["macAddresses"]) for computer in computers)
    assert {computer["osName"] for computer in computers} == {
        "Windows 10", "Windows 11", "Windows Server 2016", "Windows Server 2019", "Windows Server 2022",
        "macOS", "Ubuntu", "Red Hat Enterprise Linux"}


def test_fleet_health_mix(api):
    headers = login(api)

    computers = api.get("/computers", headers=headers, params={"pageSize": 500}).json()["content"]

    def share(predicate) -> float:
        return sum(1 for computer in computers if predicate(computer)) / len(computers)

    def definitions_age(computer: dict) -> int:
        version = computer["avDefsetVersion"]
        published = datetime.strptime(version[:6], "%y%m%d").replace(tzinfo=timezone.utc)
        return NOW_MS - int(published.timestamp() * 1000)

    infected = [computer for computer in computers if computer["infected"] == 1]
    clean = [computer for computer in computers if computer["infected"] == 0]
    assert len(infected) + len(clean) == 500
    assert 0.01 <= len(infected) / 500 <= 0.04
    assert all(0 <= int(c["worstInfectionIdx"]) <= 14 and c["lastVirusTime"] > 0 for c in infected)
    assert all(c["worstInfectionIdx"] == "9999" and c["lastVirusTime"] == 0 for c in clean)
    assert 0.015 <= share(lambda c: c["apOnOff"] in (0, 4)) <= 0.06
    assert {computer["apOnOff"] for computer in computers} == {0, 1, 3, 4, 127}
    assert 0.10 <= share(lambda c: c["onlineStatus"] == 0) <= 0.22
    assert all(NOW_MS - c["lastUpdateTime"] <= HOUR for c in computers if c["onlineStatus"] == 1)
    assert all(NOW_MS - c["lastUpdateTime"] >= HOUR for c in computers if c["onlineStatus"] == 0)
    assert 0.03 <= share(lambda c: definitions_age(c) > 7 * DAY) <= 0.10
    assert share(lambda c: definitions_age(c) > 30 * DAY) > 0
    assert share(lambda c: definitions_age(c) <= 3 * DAY) >= 0.85
    assert 0.02 <= share(lambda c: c["deploymentRunningVersion"] != c["deploymentTargetVersion"]) <= 0.08
    assert all(c["agentVersion"] == c["deploymentRunningVersion"] for c in computers)
    assert 0 < share(lambda c: c["rebootRequired"] == 1) <= 0.05
    assert 0 < share(lambda c: c["lastScanTime"] == 0) <= 0.03
    assert share(lambda c: c["firewallOnOff"] == 1 and c["tamperOnOff"] == 1 and c["avEngineOnOff"] == 1) >= 0.85


def test_computer_filters_and_sorting(api):
    headers = login(api)
    everyone = api.get("/computers", headers=headers, params={"pageSize": 500}).json()["content"]
    web = [c["computerName"] for c in everyone if c["computerName"].startswith("SRV-WEB-")]

    matched = api.get("/computers", headers=headers, params={"computerName": "srv-web*", "pageSize": 500}).json()
    assert [c["computerName"] for c in matched["content"]] == web and matched["totalElements"] == len(web) > 0
    exact = api.get("/computers", headers=headers, params={"computerName": web[0]}).json()
    assert [c["computerName"] for c in exact["content"]] == [web[0]]
    target = everyone[123]
    by_id = api.get("/computers", headers=headers, params={"computer_id": target["uniqueId"]}).json()
    assert by_id["content"] == [target]
    unknown = api.get("/computers", headers=headers, params={"computer_id": "0" * 32}).json()
    assert (unknown["content"], unknown["totalElements"]) == ([], 0)
    descending = api.get("/computers", headers=headers, params={"order": "DESC", "pageSize": 500}).json()
    assert descending["content"] == everyone[::-1]
    assert descending["sort"][0] == {"direction": "DESC", "property": "COMPUTER_NAME", "ascending": False}
    by_unique_id = api.get("/computers", headers=headers, params={"sort": "COMPUTER_ID", "pageSize": 500}).json()
    ids = [c["uniqueId"] for c in by_unique_id["content"]]
    assert ids == sorted(c["uniqueId"] for c in everyone)


def test_page_size_above_1000_is_a_400(api):
    headers = login(api)

    assert_error(api.get("/computers", headers=headers, params={"pageSize": 1001}), 400)
    assert api.get("/computers", headers=headers, params={"pageSize": 1000}).status_code == 200


def test_unknown_path_is_a_tomcat_html_404(api):
    response = api.get("/no-such-endpoint", headers=login(api))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>HTTP Status 404 \u2013 Not Found</title>" in response.text


def test_empty_path_segment_answers_500(api):
    headers = login(api)

    response = api.get("/groups//computers", headers=headers)

    assert response.status_code == 500
    assert api.get("/groups", headers=headers).status_code == 200


def test_every_request_is_recorded(api, simulator):
    before = len(simulator.requests)

    api.get("/version")
    api.get("/no-such-endpoint")

    assert simulator.requests[before:] == [("GET", f"{API}/version"), ("GET", f"{API}/no-such-endpoint")]


def test_same_seed_and_now_serve_identical_bytes():
    def bodies(seed: int) -> list[bytes]:
        simulator = SepmSimulator(SepmFleet(500, seed=seed, now=NOW))
        with ServerThread(create_app(simulator)) as server, httpx.Client(base_url=server.url + API) as client:
            headers = login(client)
            paths = ("/computers?pageIndex=2&pageSize=100", "/groups", f"/groups/{simulator.fleet.groups[4]['id']}")
            return [client.get(path, headers=headers).content for path in paths]

    first, again, other = bodies(7), bodies(7), bodies(8)

    assert first == again
    assert all(mine != theirs for mine, theirs in zip(first, other))


def test_a_200000_computer_fleet_serves_pages():
    fleet = SepmFleet(200_000, seed=3, now=NOW)
    assert len(fleet) == 200_000

    with ServerThread(create_app(SepmSimulator(fleet))) as server, \
            httpx.Client(base_url=server.url + API, timeout=120) as client:
        headers = login(client)
        last = client.get("/computers", headers=headers, params={"pageIndex": 200, "pageSize": 1000}).json()
        by_id = client.get("/computers", headers=headers, params={"sort": "COMPUTER_ID", "pageSize": 50}).json()
        target = last["content"][-1]
        found = client.get("/computers", headers=headers, params={"computer_id": target["uniqueId"]}).json()

    assert (last["totalElements"], last["totalPages"], last["number"], last["lastPage"]) == (200_000, 200, 199, True)
    names = [computer["computerName"] for computer in last["content"]]
    assert len(names) == 1000 and names == sorted(names)
    ids = [computer["uniqueId"] for computer in by_id["content"]]
    assert ids == sorted(ids)
    assert found["content"] == [target]


def test_legacy_os_keys_look_like_14_2():
    simulator = SepmSimulator(SepmFleet(50, seed=7, now=NOW, legacy_os_keys=True))

    with ServerThread(create_app(simulator)) as server, httpx.Client(base_url=server.url + API) as client:
        version = client.get("/version").json()
        computers = client.get("/computers", headers=login(client), params={"pageSize": 50}).json()["content"]

    assert version["API_VERSION"] == "1.0.0"
    for computer in computers:
        for legacy, modern in (("osname", "osName"), ("osversion", "osVersion"), ("osbitness", "osBitness"),
                               ("osfunction", "osFunction"), ("osmajor", "osMajor"), ("osminor", "osMinor"),
                               ("osservicePack", "osServicePack")):
            assert computer[legacy] == computer[modern]
        assert not {"avDefsetVersion", "avDefsetRevision", "avDefsetSequence"} & set(computer)
        assert computer["lastDownloadTime"] > 0


def test_tls_with_a_private_ca(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, ca_file = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for pem in leaf.cert_chain_pems:
        pem.write_to_path(str(chain), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    trusted = ssl.create_default_context(cafile=str(ca_file))

    with ServerThread(create_app(SepmSimulator(SepmFleet(30, seed=7, now=NOW))),
                      tls=TlsFiles(cert_chain=chain, key=key)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=server.url + API, verify=trusted) as client:
            assert client.get("/version").status_code == 200
            page = client.get("/computers", headers=login(client)).json()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(server.url + API + "/version")

    assert page["totalElements"] == 30


def test_server_thread_stops_on_exit():
    with ServerThread(create_app(SepmSimulator(SepmFleet(5, seed=7, now=NOW)))) as server:
        assert httpx.get(server.url + API + "/version").status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + API + "/version")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_server_thread_reports_a_server_that_cannot_start(tmp_path):
    broken = TlsFiles(cert_chain=tmp_path / "missing.pem", key=tmp_path / "missing-key.pem")

    with pytest.raises(RuntimeError, match="did not start"):
        with ServerThread(create_app(SepmSimulator(SepmFleet(5, seed=7, now=NOW))), tls=broken):
            pass
