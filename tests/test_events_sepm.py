"""SEPM events: critical events and the command history, the client against the simulator over TLS on
loopback (not paged, not sorted, UTC without a zone, HTML in messages, acknowledged or not), acknowledging
(a write: refused on a read-only connection), an API user without the right, a console without the command
listing, and the fact sheet's captured payloads verbatim (in helpers.py: the fuzz tests mutate them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from helpers import CAPTURED_COMMAND_STATUS, CAPTURED_CRITICAL_EVENTS, assert_no_secrets
from tui.models import Connection, Event, EventWindow, Severity
from tui.simulators.sepm import DEMO_FILES, SepmFleet, SepmSimulator, sepm_event_log
from tui.vendors import open_client
from tui.vendors.base import (
    AuthenticationError,
    BadResponseError,
    NotAvailableError,
    VendorError,
    WriteRefusedError,
    epoch_or_rfc3339,
)
from tui.vendors.sepm import (
    COMMAND_ENGINE,
    NOTIFICATION_ENGINE,
    SepmClient,
    command_event,
    computer_named,
    critical_event,
    notification_severity,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
API = "/sepm/api/v1"
USERNAME = "api-reader"
PASSWORD = "Corr3ct-Horse-Battery!"
WAIT = 30.0
MONTH = EventWindow.last(timedelta(days=30), NOW)


@pytest.fixture(scope="module")
def simulator() -> SepmSimulator:
    return SepmSimulator(SepmFleet(400, seed=3, now=NOW), username=USERNAME, password=PASSWORD)


@pytest.fixture(autouse=True)
def sources_back_to_normal(simulator):
    yield
    log = sepm_event_log(simulator)
    log.critical_readable, log.history = True, "available"


def connect(server, tls_files, *, read_only: bool = True, password: str = PASSWORD) -> SepmClient:
    connection = Connection(name="sepm-lab", vendor="sepm", url=server.url, username=USERNAME,
                            verify=str(tls_files[1]), read_only=read_only)
    return open_client(connection, password, clock=lambda: NOW)


@pytest.fixture
async def client(server, tls_files):
    opened = connect(server, tls_files)
    yield opened
    await opened.aclose()


async def collect(client, window: EventWindow) -> tuple[list[Event], list]:
    async def run():
        pages = [page async for page in client.events(window)]
        return [event for page in pages for event in page.events], pages

    return await asyncio.wait_for(run(), WAIT)


def requested(simulator: SepmSimulator, since: int, path: str) -> int:
    return sum(1 for _, seen in simulator.requests[since:] if seen == f"{API}{path}")


# --- critical events ---------------------------------------------------------------------------------------------


async def test_critical_events_of_a_month_newest_first_in_utc(client, simulator):
    events, pages = await collect(client, EventWindow.last(timedelta(days=30), NOW, engine=NOTIFICATION_ENGINE))

    log = sepm_event_log(simulator)
    raw_times = [datetime.strptime(item["eventDateTime"], "%Y-%m-%d %H:%M:%S.0").replace(tzinfo=UTC)
                 for item in log.events]
    assert raw_times != sorted(raw_times) and raw_times != sorted(raw_times, reverse=True)  # the server's order
    assert len(pages) == 1 and pages[0].source == "critical-events"
    assert len(events) == sum(1 for moment in raw_times if MONTH.contains(moment)) > 20
    assert [event.time for event in events] == sorted((event.time for event in events), reverse=True)
    assert all(event.time.tzinfo is UTC and event.engine == NOTIFICATION_ENGINE for event in events)
    by_id = {item["eventId"]: item for item in log.events}
    for event in events:
        item = by_id[event.id]
        assert event.acknowledged is bool(item["acknowledged"])
        assert event.time.strftime("%Y-%m-%d %H:%M:%S.0") == item["eventDateTime"]  # UTC, not shifted
        assert "<" not in event.message and "&lt;" not in event.message and "&quot;" not in event.message
        assert event.raw == item
    assert {event.acknowledged for event in events} == {True, False}  # acknowledged ones are asked for too


async def test_every_infected_computer_has_its_risk_event(client, simulator):
    events, _ = await collect(client, MONTH)
    fleet = simulator.fleet
    infected = {fleet.computer(i)["computerName"] for i in range(fleet.size)
                if fleet.computer(i)["infected"] == 1 and MONTH.contains(
                    datetime.fromtimestamp(fleet.computer(i)["lastVirusTime"] / 1000, UTC))}
    risks = [event for event in events if event.title == "CRITICAL: SINGLE RISK EVENT"]
    assert infected and {event.device_name for event in risks} == infected
    assert all(event.severity is Severity.CRITICAL for event in risks)
    sample = risks[0].message.splitlines()
    assert sample[0].startswith("Risk: ") and sample[1] == f"Computer: {risks[0].device_name}"
    quarantined = [event for event in risks if "Group: My Company\\Quarantine" in event.message.splitlines()]
    assert all(f"File: {DEMO_FILES[0].path}" in event.message.splitlines() for event in quarantined)


async def test_html_and_escaped_html_in_messages_become_text(client):
    events, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW, engine=NOTIFICATION_ENGINE))
    package = next(event for event in events if event.title == "New software package available")
    assert "<br/>" in package.raw["message"] and "&lt;a class=&quot;bluelink&quot;" in package.raw["message"]
    assert package.message.splitlines() == [
        "A new client software package is available: Symantec Endpoint Protection 14.3 RU10 (14.3.11213.1000).",
        "Download it from the console. Release notes (https://knowledge.broadcom.com/external/article/154575)"]
    assert package.severity is Severity.INFO
    health = next(event for event in events if event.title == "Server Health Alert")
    assert health.severity is Severity.WARNING and health.message.splitlines()[1].startswith("Reason: ")


async def test_the_window_and_severity_filter_apply(client):
    day, _ = await collect(client, EventWindow.last(timedelta(days=1), NOW, engine=NOTIFICATION_ENGINE,
                                                    severities=frozenset({"critical"})))
    assert day and all(NOW - timedelta(days=1) <= event.time < NOW for event in day)
    assert {event.severity for event in day} == {Severity.CRITICAL}
    empty, pages = await collect(client, EventWindow(start=NOW, end=NOW))
    assert empty == [] and all(page.events == [] for page in pages)


async def test_the_captured_critical_events_verbatim():
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/identity/authenticate"):
            return httpx.Response(200, json={"token": "t0k3n", "tokenExpiration": 43199})
        if request.url.path.endswith("/events/critical"):
            assert request.url.params["includeAcknowledged"] == "true"
            return httpx.Response(200, json=CAPTURED_CRITICAL_EVENTS)
        return httpx.Response(404, text="<html><title>HTTP Status 404 – Not Found</title></html>",
                              headers={"content-type": "text/html"})

    client = SepmClient(Connection(name="captured", vendor="sepm", url="https://sepm.example:8446", username="u"),
                        "p", transport=httpx.MockTransport(serve))
    try:
        events, pages = await collect(client, EventWindow(start=datetime(2024, 6, 26, tzinfo=UTC),
                                                          end=datetime(2024, 6, 27, tzinfo=UTC)))
    finally:
        await client.aclose()

    health, changed = sorted(events, key=lambda event: event.time)
    assert health.id == "388DC550092E5BB9462D7353CF5066D4"
    assert health.time == datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)
    assert health.title == "Server Health Alert" and health.severity is Severity.WARNING
    assert health.message == ("Server c95648v1 health status: poor.\nReason: The Symantec Endpoint Protection "
                              "Manager server does not have Symantec Endpoint Protection installed.\nStatus reported "
                              "on Jun 26, 2024 7:02:34 AM.")
    assert health.acknowledged is False and health.device_name is None
    assert changed.time == datetime(2024, 6, 26, 14, 29, 46, tzinfo=UTC) and changed.severity is Severity.INFO
    assert changed.message.startswith("Number of clients changed: 1. Changes could be")
    assert [event.id for event in pages[0].events] == [changed.id, health.id]  # newest first
    assert "not available on this console" in pages[1].notes[0]  # that console has no command listing


@pytest.mark.parametrize(("subject", "severity"), [
    ("CRITICAL: OLD SONAR DEFINITIONS", Severity.CRITICAL), ("Critical: risk outbreak", Severity.CRITICAL),
    ("Server Health Alert", Severity.WARNING), ("Informational: Computer List Changed", Severity.INFO),
    ("Information: Symantec Trial license Expires In 60 Days", Severity.INFO),
    ("New software package available", Severity.INFO), ("", Severity.WARNING),
])
def test_notification_severity(subject, severity):
    assert notification_severity(subject) is severity


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-06-26 14:02:50.0", datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)),
    ("2024-06-26 14:02:50", datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)),
    ("2019-06-06T10:45:39Z", datetime(2019, 6, 6, 10, 45, 39, tzinfo=UTC)),
    ("2024-06-26T16:02:50.0+02:00", datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)),
    (1719410570000, datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)),
    ("1719410570000", datetime(2024, 6, 26, 14, 2, 50, tzinfo=UTC)),
    (None, None), ("", None), ("soon", None), (True, None), (0, None),
])
def test_sepm_times(value, expected):
    assert epoch_or_rfc3339(value) == expected


def test_odd_critical_events():
    assert critical_event({"eventId": "X", "subject": "s"}, "c") is None  # no time: left out
    event = critical_event({"eventId": "X", "eventDateTime": "2024-06-26 14:02:50.0", "acknowledged": "1",
                            "subject": "<b>CRITICAL</b>: bad\nthing", "message": None}, "c")
    assert event.title == "CRITICAL: bad thing" and event.message == "" and event.acknowledged is True
    assert computer_named("Risk: X\n  Computer name :  WS-1 \nUser: u") == "WS-1"
    assert computer_named("Computers affected: 3") is None


# --- acknowledging: a write ---------------------------------------------------------------------------------------


async def test_acknowledge_is_refused_on_a_read_only_connection(client, simulator):
    event_id = next(item["eventId"] for item in sepm_event_log(simulator).events if not item["acknowledged"])
    before = len(simulator.requests)
    with pytest.raises(WriteRefusedError) as caught:
        await client.acknowledge_event(event_id)
    assert len(simulator.requests) == before  # nothing was sent
    assert str(caught.value) == (f"Connection sepm-lab is read-only, so it did not acknowledge event {event_id}. "
                                 "To allow changes, set `read_only = false` in this connection's profile and open "
                                 "it again.")


async def test_acknowledge_on_a_writable_connection(server, tls_files, simulator):
    log = sepm_event_log(simulator)
    item = next(item for item in log.events if not item["acknowledged"])
    unacknowledged = sum(1 for event in log.events if not event["acknowledged"])
    client = connect(server, tls_files, read_only=False)
    try:
        await client.acknowledge_event(item["eventId"].lower())
        events, _ = await collect(client, EventWindow.last(timedelta(days=31), NOW, engine=NOTIFICATION_ENGINE))
        with pytest.raises(VendorError) as unknown:
            await client.acknowledge_event("0" * 32)
        with pytest.raises(BadResponseError):
            await client.acknowledge_event("../../identity/logout")
    finally:
        await client.aclose()
    assert next(event for event in events if event.id == item["eventId"]).acknowledged is True
    assert log.body(False)["totalUnacknowledgedMessages"] == unacknowledged - 1
    assert unknown.value.status == 410 and "there is no such event" in str(unknown.value)


# --- rights and availability ------------------------------------------------------------------------------------


async def test_a_user_without_the_right_is_told_plainly(client, simulator):
    sepm_event_log(simulator).critical_readable = False
    with pytest.raises(NotAvailableError) as caught:
        await collect(client, MONTH)
    error = caught.value
    assert error.scope == "user" and error.status == 401
    assert str(error).startswith("The SEPM critical events list is not available to this API user: SEPM at ")
    assert_no_secrets(error, client, PASSWORD)


async def test_bad_credentials_stay_an_authentication_error(server, tls_files):
    client = connect(server, tls_files, password="Wr0ng-Staple-Guess?")
    try:
        with pytest.raises(AuthenticationError):
            await collect(client, MONTH)
    finally:
        await client.aclose()


@pytest.mark.parametrize(("history", "words"), [
    ("missing", "The SEPM command history is not available on this console"),
    ("forbidden", "The SEPM command history is not available to this API user"),
])
async def test_without_the_command_listing_critical_events_still_come(client, simulator, history, words):
    sepm_event_log(simulator).history = history
    events, pages = await collect(client, MONTH)
    assert events and {event.engine for event in events} == {NOTIFICATION_ENGINE}
    assert pages[1].events == [] and pages[1].notes[0].startswith(words)


# --- command history --------------------------------------------------------------------------------------------


async def test_command_history_rows_per_computer(client, simulator):
    before = len(simulator.requests)
    events, pages = await collect(client, EventWindow.last(timedelta(days=30), NOW, engine=COMMAND_ENGINE))

    assert requested(simulator, before, "/events/critical") == 0
    assert requested(simulator, before, "/command-queue") >= 1
    assert len(pages) == 1 and pages[0].source == "command-queue" and pages[0].notes == ()
    assert events and {event.engine for event in events} == {COMMAND_ENGINE}
    assert {event.category for event in events} == {"EOC", "FileUpload"}
    assert all(MONTH.contains(event.time) for event in events)
    assert [event.time for event in events] == sorted((event.time for event in events), reverse=True)
    fleet = simulator.fleet
    ids = {fleet.computer(i)["uniqueId"]: fleet.computer(i)["computerName"] for i in range(fleet.size)}
    assert all(ids[event.device_id] == event.device_name for event in events)
    matched = [event for event in events if event.severity is Severity.CRITICAL]
    assert matched and all("HASH_MATCH" in event.raw["resultInXML"] for event in matched)
    assert all("Evidence of Compromise: match found" in event.message for event in matched)
    rejected = [event for event in events if event.raw["stateId"] == 4]
    assert all(event.severity is Severity.WARNING and "rejected" in event.title for event in rejected)
    assert len({event.id for event in events}) == len(events)


async def test_a_narrow_window_reads_only_recent_commands(client, simulator):
    before = len(simulator.requests)
    events, _ = await collect(client, EventWindow.last(timedelta(days=3), NOW, engine=COMMAND_ENGINE))
    status_calls = sum(1 for _, path in simulator.requests[before:]
                       if path.startswith(f"{API}/command-queue/"))
    assert status_calls <= 3  # the commands of the last 3 days (one every 2 days) and the day before
    assert all(event.time >= NOW - timedelta(days=3) for event in events)


def test_the_captured_command_status_verbatim():
    command = {"commandId": "4C697374D15C433880A56800BAC25E56", "commandType": "EOC",
               "beginTime": "2019-06-06T10:40:00Z"}
    waiting, done = (command_event(row, command, "c") for row in CAPTURED_COMMAND_STATUS["content"])

    assert waiting.time == datetime(2019, 6, 6, 10, 40, tzinfo=UTC)  # nothing yet: the command's own time
    assert waiting.title == "EOC not yet received" and waiting.severity is Severity.INFO
    assert waiting.device_id == "236A7100A9FE9DC50A4F1AC2819C158E" and waiting.device_name == "johnq1"
    assert waiting.id == "4C697374D15C433880A56800BAC25E56/236A7100A9FE9DC50A4F1AC2819C158E"
    assert done.time == datetime(2019, 6, 6, 10, 45, 39, tzinfo=UTC)
    assert done.title == "EOC completed" and done.severity is Severity.INFO
    assert done.message.splitlines() == [
        "Command: 4C697374D15C433880A56800BAC25E56 (EOC)", "State: completed, success",
        "Computer: WIN-N5KGH4CP3N3 (192.168.194.93)", "User: Administrator", "Evidence of Compromise: no match"]
    assert command_event(CAPTURED_COMMAND_STATUS["content"][0], {"commandId": "X"}, "c") is None  # no time at all

    risk = command_event({**CAPTURED_COMMAND_STATUS["content"][1], "subStateId": 101}, command, "c")
    failed = command_event({**CAPTURED_COMMAND_STATUS["content"][1], "stateId": 6, "subStateId": 105,
                            "subStateDesc": "<i>Scan</i> did not return status"}, command, "c")
    assert risk.severity is Severity.CRITICAL and risk.title == "EOC completed: security risk found"
    assert failed.severity is Severity.WARNING and failed.title == "EOC failed: Scan did not return status"
