"""Contract tests on the real EPMM shapes in tests/fixtures/epmm (README there cites each source): every fixture
goes through the client's mapping, and the simulator must answer the same calls with the same keys and value
types, so the simulator cannot drift from what a console sends while the client is tested against it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tui.models import Connection, DeviceQuery, EventWindow, Health, ServerInfo, Severity
from tui.simulators.epmm import AUDIT_COLUMNS, GDPR_USERNAME, EpmmFleet, EpmmSimulator, create_app
from tui.vendors.epmm import OBFUSCATED, EpmmClient

FIXTURES = Path(__file__).parent / "fixtures" / "epmm"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
API = "/api/v2"
CALLS = {
    "/ping": "ping.json",
    "/device_spaces/mine": "device_spaces_mine.json",
    "/devices/search_fields": "search_fields.json",
    "/labels/label_summary": "label_summary.json",
    "/devices": "devices_search_gdpr.json",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_console(seen: list[httpx.Request]):
    """A console answering every call with its fixture (and the audit-log export with the CSV fixture)."""
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path.removeprefix(API)
        if path in CALLS:
            return httpx.Response(200, json=fixture(CALLS[path]))
        if path in ("/logs/audit_logs_export", "/logs/audit_logs_export_status"):
            return httpx.Response(200, json={"results": {"requestId": "r1", "status": "COMPLETED"}})
        if path == "/logs/audit_logs_csv":
            return httpx.Response(200, content=(FIXTURES / "audit_logs.csv").read_bytes(),
                                  headers={"content-type": "text/csv"})
        return httpx.Response(404, json={"messages": []})
    return answer


@pytest.fixture
async def client_and_requests():
    seen: list[httpx.Request] = []
    connection = Connection(name="fixtures", vendor="epmm", url="https://epmm.example.internal", username="u")
    client = EpmmClient(connection, "p", transport=httpx.MockTransport(fixture_console(seen)), clock=lambda: NOW)
    yield client, seen
    await client.aclose()


# --- each fixture through the client ------------------------------------------------------------------------------


async def test_ping(client_and_requests):
    client, _ = client_and_requests
    assert await client.probe() == ServerInfo("EPMM", "", "2.0")


async def test_device_spaces_and_label_summary_make_the_group_trees(client_and_requests):
    client, _ = client_and_requests
    groups = {group.id: group for group in await client.groups()}

    assert groups["space:7"].path == ("Device spaces", "Nordics")
    assert (groups["label:-1"].name, groups["label:-1"].device_count) == ("All-Smartphones", 2)
    assert groups["label:12"].path == ("Labels", "Warehouse") and groups["label:12"].device_count == 1


async def test_search_fields_limit_what_is_asked_for(client_and_requests):
    client, seen = client_and_requests
    [page async for page in client.devices()]

    search = next(request for request in seen if request.url.path == f"{API}/devices")
    offered = {item["name"] for item in fixture("search_fields.json")["results"]}
    assert set(search.url.params["fields"].split(",")) <= offered
    assert search.url.params["query"] == "" and search.url.params["limit"] == "200"


async def test_the_gdpr_device_page_maps(client_and_requests):
    client, _ = client_and_requests
    pages = [page async for page in client.devices()]

    android, iphone = pages[0].devices
    assert pages[0].total == 2 and android.labels == iphone.labels == ()
    assert (android.name, android.user, android.group, android.os) == (
        "Pixel 9 (0d99a1)", OBFUSCATED, "Device spaces\\Nordics", "Android 15")
    assert android.health is Health.OK and android.last_seen == datetime(2026, 11, 25, 9, 12, 44, tzinfo=UTC)
    assert android.online is True
    assert (iphone.name, iphone.user) == ("Front desk iPhone", OBFUSCATED)
    assert iphone.health is Health.CRITICAL and iphone.missing_critical_patches is True
    assert iphone.health_reasons[:2] == ("quarantined", "non-compliant: DEVICE_ADMIN_DEACTIVE")


async def test_a_label_search_over_the_fixture_carries_the_label(client_and_requests):
    client, seen = client_and_requests

    devices = [device async for page in client.devices(DeviceQuery(group_id="label:12")) for device in page.devices]

    assert {device.labels for device in devices} == {("Labels\\Warehouse",)}
    assert [request.url.params["labelId"] for request in seen if request.url.path == f"{API}/devices"] == ["12"]


async def test_the_audit_csv_maps(client_and_requests):
    client, seen = client_and_requests
    window = EventWindow.last(timedelta(days=7), NOW)

    events = [event async for page in client.events(window) for event in page.events]

    wipe, label = events
    assert (wipe.engine, wipe.severity, wipe.device_id, wipe.device_name) == (
        "Wipe", Severity.CRITICAL, "5e1f0a42-7c3b-4d8e-9f10-3a2b1c0d99a1", "Pixel 9 (0d99a1)")
    assert wipe.message == "by secops. The device did not respond." and wipe.raw["Device Space"] == "Nordics"
    assert (label.engine, label.severity, label.time) == (
        "Apply Label", Severity.INFO, datetime(2026, 11, 24, 16, 30, 12, 250000, tzinfo=UTC))
    assert seen[0].url.params["actionStart"] == str(int(window.start.timestamp() * 1000))


# --- the simulator answers in the same shapes -----------------------------------------------------------------------


def kind(value: Any) -> str:
    """A JSON value's type, numbers alike (2 and 2.0 are both numbers in JSON)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def assert_same_shape(real: dict, served: dict, where: str) -> None:
    """Every key of `real` is in `served` with a value of the same JSON type."""
    for key, value in real.items():
        assert key in served, f"{where}: the simulator lacks {key!r}"
        assert kind(served[key]) == kind(value), f"{where}: {key!r} is {kind(served[key])}, real {kind(value)}"


@pytest.fixture(scope="module")
def simulator_api():
    return httpx.ASGITransport(app=create_app(EpmmSimulator(EpmmFleet(200, seed=3, now=NOW))))


async def served(transport, path: str, user: str = "admin", **params) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url="https://sim" + API,
                                 auth=(user, "demo-password")) as api:
        return await api.get(path, params=params)


@pytest.mark.parametrize("path", ["/ping", "/device_spaces/mine", "/devices/search_fields", "/labels/label_summary"])
async def test_the_simulator_serves_the_fixture_shapes(simulator_api, path):
    transport = simulator_api
    real = fixture(CALLS[path])

    answer = (await served(transport, path, adminDeviceSpaceId=1)).json()

    assert set(answer) == set(real)
    assert_same_shape(real, answer, path)
    if isinstance(real["results"], dict):
        assert_same_shape(real["results"], answer["results"], path)
    else:
        for row in answer["results"]:
            assert_same_shape(real["results"][0], row, path)
            if path == "/labels/label_summary":
                assert list(row) == list(real["results"][0])
    if path == "/labels/label_summary":
        assert answer["results"][0]["id"] == -1 and {row["rowType"] for row in answer["results"]} == {"SYSTEM", "ADMIN"}


async def test_the_simulator_serves_the_device_search_shape_to_a_gdpr_user(simulator_api):
    transport = simulator_api
    real = fixture("devices_search_gdpr.json")

    for record in real["results"]:
        fields = ",".join(record)
        answer = (await served(transport, "/devices", GDPR_USERNAME, adminDeviceSpaceId=1, query="",
                               fields=fields, limit=200)).json()
        assert list(answer) == list(real)
        assert_same_shape({key: value for key, value in real.items() if key != "results"}, answer, "/devices")
        twins = [row for row in answer["results"] if row["common.platform"] == record["common.platform"]]
        assert twins, record["common.platform"]
        for row in twins:
            assert_same_shape(record, row, f"/devices {record['common.platform']}")
            for key, value in record.items():
                if value == "*****":
                    assert row[key] in ("*****", ""), key  # obfuscated exactly so; empty stays empty


async def test_the_simulator_writes_the_fixture_csv_header(simulator_api):
    transport = simulator_api
    header = next(csv.reader(io.StringIO((FIXTURES / "audit_logs.csv").read_text())))

    ticket = (await served(transport, "/logs/audit_logs_export", adminDeviceSpaceId=1)).json()["results"]
    for _ in range(2):
        await served(transport, "/logs/audit_logs_export_status", adminDeviceSpaceId=1, requestId=ticket["requestId"])
    text = (await served(transport, "/logs/audit_logs_csv", adminDeviceSpaceId=1, requestId=ticket["requestId"])).text

    assert next(csv.reader(io.StringIO(text))) == header == list(AUDIT_COLUMNS)
