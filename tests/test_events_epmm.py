"""EPMM events: the audit-log export (fact sheet epmm.md, "Audit logs") read by the client against the simulator
over TLS (initiate, poll, download, map), the window and device sent as parameters, the 403 of a user without
the "View logs and events" role, an export that never finishes, and CSV headers spelled otherwise."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tui.models import Connection, EventWindow, Severity
from tui.simulators.epmm import (
    AUDIT_COLUMNS,
    NO_LOGS_USERNAME,
    AuditLog,
    EpmmFleet,
    EpmmSimulator,
    create_app,
)
from tui.vendors import open_client
from tui.vendors.base import NotAvailableError, VendorError
from tui.vendors.epmm import EXPORT_POLLS, EpmmClient, audit_event, audit_severity

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
API = "/api/v2"
MONTH = EventWindow.last(timedelta(days=31), NOW)
WAIT = 30.0


@pytest.fixture(scope="module")
def simulator() -> EpmmSimulator:
    return EpmmSimulator(EpmmFleet(400, seed=2, now=NOW))


@pytest.fixture
def exports_finish(simulator):
    """A test that makes exports hang gives the next one a simulator whose exports finish again."""
    yield
    simulator.export_polls = 1


pytestmark = pytest.mark.usefixtures("exports_finish")


@pytest.fixture
async def connect(server, tls_files, simulator):
    opened: list[EpmmClient] = []
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    def open_one(username: str = simulator.username) -> EpmmClient:
        client = open_client(Connection(name="mdm", vendor="epmm", url=server.url, username=username,
                                        verify=str(tls_files[1])), simulator.password, clock=lambda: NOW)
        client.sleep = no_wait
        opened.append(client)
        return client

    open_one.sleeps = sleeps
    yield open_one
    for client in opened:
        await client.aclose()


async def events_of(client: EpmmClient, window: EventWindow = MONTH):
    async def collect():
        return [page async for page in client.events(window)]

    return await asyncio.wait_for(collect(), WAIT)


async def test_the_audit_log_arrives_in_three_calls_and_follows_the_fleet(connect, simulator):
    before = len(simulator.requests)

    pages = await events_of(connect())

    events = [event for page in pages for event in page.events]
    paths = [path for _, path in simulator.requests[before:]]
    assert paths == [f"{API}/logs/audit_logs_export", f"{API}/logs/audit_logs_export_status",
                     f"{API}/logs/audit_logs_export_status", f"{API}/logs/audit_logs_csv"]
    assert connect.sleeps == [1.0]  # one wait between the two status calls, through the client's sleep
    log = AuditLog(simulator.fleet).entries
    assert len(events) == len(log) > 20
    assert {page.source for page in pages} == {"audit-logs"} and pages[-1].loaded == len(events)
    assert all(event.source == "audit-logs" and event.category == "audit" and event.vendor == "epmm"
               for event in events)
    uuids = {simulator.fleet.device(index)["common.uuid"]: index for index in range(len(simulator.fleet))}
    for event in events:
        assert event.device_id in uuids and event.device_name
        assert event.engine in event.title and event.time <= NOW
        assert event.raw["Subject"] == event.device_id
    wiped = {event.device_id for event in events if event.engine == "Wipe"}
    assert wiped == {uuid for uuid, index in uuids.items()
                     if simulator.fleet.summary(index)["common.status"] == "WIPED"}
    statuses = Counter(event.raw["Status"] for event in events)
    assert statuses["Success"] > statuses["Failed"] > 0
    severities = {event.severity for event in events}
    assert Severity.WARNING in severities and Severity.INFO in severities


async def test_the_window_and_the_device_are_sent_and_honoured(connect, simulator):
    client = connect()
    everything = [event for page in await events_of(client) for event in page.events]
    device_id = everything[0].device_id
    window = EventWindow(start=NOW - timedelta(days=10), end=NOW - timedelta(days=2), device_id=device_id)
    recording: list[httpx.Request] = []
    client.http.event_hooks["request"].append(lambda request: _keep(recording, request))

    events = [event for page in await events_of(client, window) for event in page.events]

    initiate = recording[0].url.params
    assert initiate["actionStart"] == str(int(window.start.timestamp() * 1000))
    assert initiate["actionEnd"] == str(int(window.end.timestamp() * 1000))
    assert initiate["subject"] == device_id and initiate["adminDeviceSpaceId"] == "1"
    assert events == [event for event in everything if window.matches(event)]


async def _keep(recording: list, request: httpx.Request) -> None:
    recording.append(request)


async def test_a_user_without_the_logs_role_is_told_in_words(connect):
    with pytest.raises(NotAvailableError) as caught:
        await events_of(connect(NO_LOGS_USERNAME))

    error = caught.value
    assert error.scope == "user" and error.title == "Not available"
    assert "View logs and events" in str(error) and "Logs and Events Management" in str(error)


async def test_an_export_that_never_finishes_is_given_up_in_words(connect, simulator):
    simulator.export_polls = None
    client = connect()

    with pytest.raises(VendorError, match="did not finish the audit-log export within 60 s"):
        await events_of(client)

    assert connect.sleeps == [1.0] * EXPORT_POLLS


def test_capabilities_include_events():
    assert EpmmClient.capabilities.events is True


# --- the simulator's own rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params, status, words", [
    ({}, 400, "adminDeviceSpaceId is required"),
    ({"adminDeviceSpaceId": 1, "status": "Done"}, 400, "Invalid status 'Done'"),
    ({"adminDeviceSpaceId": 1, "userActionIds": "wipe"}, 400, "userActionIds must be integers"),
    ({"adminDeviceSpaceId": 1, "actionStart": "yesterday"}, 400, "Invalid value 'yesterday' for actionStart"),
])
def test_the_simulator_rejects_invalid_exports(server, simulator, params, status, words):
    with httpx.Client(base_url=server.url + API, auth=(simulator.username, simulator.password),
                      verify=False) as api:
        response = api.get("/logs/audit_logs_export", params=params)

    assert response.status_code == status and words in response.json()["messages"][0]["localizedMessage"]


def test_the_simulator_filters_by_status_and_action(server, simulator):
    with httpx.Client(base_url=server.url + API, auth=(simulator.username, simulator.password),
                      verify=False) as api:
        ticket = api.get("/logs/audit_logs_export",
                         params={"adminDeviceSpaceId": 1, "status": "Failed", "userActionIds": "1,2,3"}).json()
        request_id = ticket["results"]["requestId"]
        early = api.get("/logs/audit_logs_csv", params={"adminDeviceSpaceId": 1, "requestId": request_id})
        api.get("/logs/audit_logs_export_status", params={"adminDeviceSpaceId": 1, "requestId": request_id})
        done = api.get("/logs/audit_logs_export_status", params={"adminDeviceSpaceId": 1, "requestId": request_id})
        text = api.get("/logs/audit_logs_csv", params={"adminDeviceSpaceId": 1, "requestId": request_id})

    assert early.status_code == 400
    assert done.json()["results"]["status"] == "COMPLETED"
    assert text.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(text.text))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == AUDIT_COLUMNS
    expected = [entry for entry in AuditLog(simulator.fleet).entries
                if entry.status == "Failed" and entry.action in ("Lock", "Wipe", "Retire")]
    assert len(rows) == len(expected)
    assert {(row["Status"], row["Action Type"] in ("Lock", "Wipe", "Retire")) for row in rows} <= {("Failed", True)}


# --- mapping CSV rows spelled otherwise -----------------------------------------------------------------------------


def test_other_header_spellings_and_unknown_columns_are_read():
    row = {"Timestamp": "1748779200000", "ACTION": "Retire", "Result": "Failed", "Device UUID": "u-1",
           "Device Name": "Pixel 9 (99a1cf)", "Admin": "ops", "Details": "No answer", "Ticket": "CHG-7"}

    event = audit_event(row, "mdm")

    assert event is not None
    assert (event.time, event.engine, event.device_id, event.device_name) == (
        datetime(2025, 6, 1, 12, 0, tzinfo=UTC), "Retire", "u-1", "Pixel 9 (99a1cf)")
    assert event.severity is Severity.CRITICAL and event.message == "by ops. No answer"
    assert event.raw["Ticket"] == "CHG-7"
    assert audit_event({"Action": "Lock", "Status": "Success"}, "mdm") is None  # no time: skipped


@pytest.mark.parametrize("action, status, severity", [
    ("Wipe", "Failed", Severity.CRITICAL), ("Lock", "Failed", Severity.CRITICAL),
    ("Send Message", "Failed", Severity.WARNING), ("Retire", "Success", Severity.WARNING),
    ("Lock", "Initiated", Severity.WARNING), ("Apply Label", "Success", Severity.INFO),
    ("Force Device Check-In", "Initiated", Severity.INFO),
])
def test_audit_severity(action, status, severity):
    assert audit_severity(action, status) is severity


def test_the_simulator_serves_the_three_audit_log_paths():
    paths = [route.path for mount in create_app(EpmmSimulator(EpmmFleet(5, seed=1, now=NOW))).routes
             for route in getattr(mount, "routes", [])]
    assert {"/logs/audit_logs_export", "/logs/audit_logs_export_status", "/logs/audit_logs_csv"} <= set(paths)
