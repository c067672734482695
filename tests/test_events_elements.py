"""Elements security events: the client against the simulator over TLS on loopback (the window, its offsets,
an empty window, a window of several pages, the filters, partner and company credentials, 429 and token
expiry on the POST, 403), the simulator's own rules (no window, no form, the seed's request bodies verbatim),
its events following the fleet, and the mapping of awkward items."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs

import httpx
import pytest

from helpers import assert_no_secrets
from tui.models import Connection, Event, EventWindow, Severity
from tui.simulators.elements import (
    EVENTS_PATH,
    TOKEN_PATH,
    ElementsFleet,
    ElementsSimulator,
    create_app,
    event_log,
)
from tui.simulators.serve import ServerThread
from tui.vendors import open_client
from tui.vendors.base import NotAvailableError, ServerError, waits_told_to
from tui.vendors.elements import DEFAULT_URL, ElementsClient, rfc3339_text, security_event

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CLIENT_ID = "fusion_0a1b2c3d4e5f60718293"
SECRET = "Corr3ct-Horse-Battery!"
FLEET_SIZE = 700
WAIT = 30.0
MONTH = EventWindow.last(timedelta(days=30), NOW)
SEED_PARTNER_FORM = "persistenceTimestampEnd=2023-05-01T00:00:00Z&engineGroup=epp"
SEED_ORGANIZATION_FORM = ("organizationId=e4bd56b0-90b4-4878-962f-903ea862a977&persistenceTimestampStart="
                          "2023-05-01T00:00:00Z&engineGroup=epp")
"""The two request bodies of the seed's "Retrieving security events", verbatim."""


pytestmark = pytest.mark.usefixtures("no_leftover_faults")


@pytest.fixture(scope="module")
def simulator() -> ElementsSimulator:
    return ElementsSimulator(ElementsFleet(FLEET_SIZE, seed=11, now=NOW), client_id=CLIENT_ID, client_secret=SECRET)


@pytest.fixture
async def client(server, tls_files):
    opened = open_client(Connection(name="elements-lab", vendor="elements", url=server.url, username=CLIENT_ID,
                                    verify=str(tls_files[1])), SECRET, clock=lambda: NOW)
    yield opened
    await opened.aclose()


async def collect(client, window: EventWindow) -> tuple[list[Event], list]:
    async def run():
        pages = [page async for page in client.events(window)]
        return [event for page in pages for event in page.events], pages

    return await asyncio.wait_for(run(), WAIT)


def posts(simulator: ElementsSimulator, since: int) -> int:
    return sum(1 for logged in simulator.requests[since:] if logged.path == EVENTS_PATH)


def expected_times(simulator: ElementsSimulator, window: EventWindow, keep=lambda position: True) -> list[int]:
    """Ground truth from the simulator's log: the persistence times (ms) inside the window."""
    log = event_log(simulator)
    low = window.start.timestamp() * 1000 if window.start else float("-inf")
    high = window.end.timestamp() * 1000 if window.end else float("inf")
    return [time for position, time in enumerate(log.times) if low <= time < high and keep(position)]


# --- windows and paging ---------------------------------------------------------------------------------------


async def test_a_month_is_read_to_the_end_over_several_pages(client, simulator):
    before = len(simulator.requests)
    events, pages = await collect(client, MONTH)

    truth = expected_times(simulator, MONTH)
    assert len(truth) > 400  # more than two pages of 200
    assert len(events) == len(truth) == len({event.id for event in events})
    assert posts(simulator, before) == len(pages) == -(-len(truth) // 200)
    assert [page.loaded for page in pages][-1] == len(events)
    # the one event whose user name is Latin-1 with a NUL is kept, repaired and counted, not the page lost
    assert sum(page.repaired for page in pages) == 1 and sum(page.skipped for page in pages) == 0
    quirky = [event for event in events if "\ufffd" in event.message]
    assert len(quirky) == 1 and "\x00" not in quirky[0].message and "cl\ufffdment" in quirky[0].raw["userName"]
    assert all(MONTH.contains(event.time) and event.time.tzinfo is UTC for event in events)
    assert all(event.vendor == "elements" and event.connection == "elements-lab" for event in events)
    assert sorted(int(event.time.timestamp() * 1000) for event in events) == truth


async def test_offsets_in_the_window_mean_the_same_instants(client):
    plus_two = timezone(timedelta(hours=2))
    minus_five = timezone(timedelta(hours=-5))
    local = EventWindow(start=datetime(2025, 5, 31, 14, 0, tzinfo=plus_two),
                        end=datetime(2025, 6, 1, 7, 0, tzinfo=minus_five))
    utc = EventWindow(start=datetime(2025, 5, 31, 12, 0, tzinfo=UTC), end=datetime(2025, 6, 1, 12, 0, tzinfo=UTC))

    in_local, _ = await collect(client, local)
    in_utc, _ = await collect(client, utc)

    assert in_local and [event.id for event in in_local] == [event.id for event in in_utc]


async def test_client_times_with_and_without_milliseconds_arrive_in_utc(client):
    events, _ = await collect(client, EventWindow.last(timedelta(days=3), NOW))
    fractions = Counter("." in event.raw["clientTimestamp"] for event in events)
    assert fractions[True] and fractions[False]  # as the real API: mostly whole seconds [WS-FIX]
    for event in events:
        assert event.device_time is not None and event.device_time.tzinfo is UTC
        assert event.device_time == datetime.fromisoformat(event.raw["clientTimestamp"]).astimezone(UTC)
        assert event.device_time.timestamp() * 1000 == int(event.raw["details"]["clientTimestamp"])
        assert event.device_time <= event.time  # the device saw it before the console stored it


async def test_an_empty_window_sends_nothing(client, simulator):
    before = len(simulator.requests)
    events, pages = await collect(client, EventWindow(start=NOW, end=NOW))
    assert events == [] and len(pages) == 1 and pages[0].total == 0
    assert len(simulator.requests) == before


async def test_a_window_without_events_is_one_empty_page(client, simulator):
    old = EventWindow(start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 2, 1, tzinfo=UTC))
    before = len(simulator.requests)
    events, pages = await collect(client, old)
    assert events == [] and len(pages) == 1 and posts(simulator, before) == 1


async def test_an_end_alone_is_a_window(client, simulator):
    end = NOW - timedelta(days=29)
    events, _ = await collect(client, EventWindow(end=end))
    assert len(events) == len(expected_times(simulator, EventWindow(end=end))) > 0
    assert all(event.time < end for event in events)


async def test_window_edges_are_half_open(client, simulator):
    """An event exactly at the start is in, one exactly at the end is out, however the window is written."""
    log = event_log(simulator)
    moment = datetime.fromtimestamp(log.times[len(log) // 2] / 1000, UTC)
    at_start, _ = await collect(client, EventWindow(start=moment, end=moment + timedelta(milliseconds=1)))
    at_end, _ = await collect(client, EventWindow(start=moment - timedelta(seconds=1), end=moment))
    assert at_start and all(event.time == moment for event in at_start)
    assert all(event.time < moment for event in at_end)
    assert rfc3339_text(moment).endswith("Z") and "." in rfc3339_text(moment + timedelta(milliseconds=1))


# --- filters and organizations ---------------------------------------------------------------------------------


async def test_severity_engine_group_and_engine_filters(client, simulator):
    critical, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW, severities=frozenset({"critical"})))
    edr, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW, engine="edr"))
    browsing, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW, engine="browsingProtection"))

    log = event_log(simulator)
    assert len(critical) == len(expected_times(simulator, MONTH, lambda at: log.kind_of(at).severity == "critical"))
    assert critical and {event.severity for event in critical} == {Severity.CRITICAL}
    assert edr and {(event.engine, event.category) for event in edr} == {("edr", "edr")}
    assert browsing and {event.engine for event in browsing} == {"browsingProtection"}
    sent = [parse_qs(logged.query) for logged in simulator.requests if logged.path == EVENTS_PATH]
    assert all(query == {} for query in sent)  # everything goes in the form body, nothing in the URL


async def test_several_severities_are_filtered_by_the_client(client):
    both, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW,
                                                     severities=frozenset({"critical", "info"})))
    assert {event.severity for event in both} == {Severity.CRITICAL, Severity.INFO}


async def test_a_company_of_the_partner(client, simulator):
    company = simulator.fleet.companies[2]
    events, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW, organization_id=company["id"]))
    assert events and {event.organization_id for event in events} == {company["id"]}
    assert {event.organization for event in events} == {company["name"]}
    everything, _ = await collect(client, EventWindow.last(timedelta(days=30), NOW,
                                                           organization_id=simulator.organization_id))
    assert len({event.organization_id for event in everything}) == len(simulator.fleet.companies)


async def test_company_credentials_cannot_read_another_company(tls_files):
    fleet = ElementsFleet(120, seed=4, now=NOW)
    simulator = ElementsSimulator(fleet, client_id=CLIENT_ID, client_secret=SECRET,
                                  organization_id=fleet.companies[0]["id"])
    with ServerThread(create_app(simulator), tls=tls_files[0]) as server:
        client = open_client(Connection(name="company", vendor="elements", url=server.url, username=CLIENT_ID,
                                        verify=str(tls_files[1])), SECRET)
        try:
            own, _ = await collect(client, MONTH)
            with pytest.raises(NotAvailableError) as caught:
                await collect(client, EventWindow.last(timedelta(days=30), NOW,
                                                       organization_id=fleet.companies[1]["id"]))
        finally:
            await client.aclose()
    assert own and {event.organization_id for event in own} == {fleet.companies[0]["id"]}
    error = caught.value
    assert error.scope == "user" and error.status == 403
    assert "not available to this API client" in str(error) and "transaction 0000-" in str(error)
    assert_no_secrets(error, client, SECRET, *(token for token, _ in simulator.issued))


# --- the events follow the fleet ----------------------------------------------------------------------------------


async def test_critical_devices_have_recent_malware_events(client, simulator):
    events, _ = await collect(client, MONTH)
    fleet = simulator.fleet
    critical_ids = {fleet.device(index)["id"] for index in range(fleet.size)
                    if fleet.overview(index) == "critical"}
    malware = {event.device_id for event in events if event.engine == "fileScanning"
               and event.severity is Severity.CRITICAL}
    assert critical_ids and critical_ids <= malware
    last_day, _ = await collect(client, EventWindow.last(timedelta(days=1), NOW))
    online_critical = {fleet.device(index)["id"] for index in range(fleet.size)
                       if fleet.overview(index) == "critical" and fleet._online[index]}
    assert online_critical <= {event.device_id for event in last_day if event.severity is Severity.CRITICAL}
    devices = {fleet.device(index)["id"]: fleet.device(index) for index in range(fleet.size)}
    for event in events:
        if event.engine == "edr":  # EDR items name the device without its id [XSIAM]
            assert event.device_id is None and event.device_name in {record["name"] for record in devices.values()}
            continue
        record = devices[event.device_id]
        assert event.device_name == record["name"]
        assert event.time <= datetime.fromisoformat(record["statusUpdateTimestamp"]) + timedelta(seconds=1)
        if record.get("malwareState") == "disabled":
            assert any(other.device_id == event.device_id and other.engine == "setting" for other in events)
    isolated = {fleet.device(index)["name"] for index in range(fleet.size) if fleet.overview(index) == "isolated"}
    assert isolated and isolated <= {event.device_name for event in events if event.engine == "edr"}


def test_the_simulator_is_deterministic():
    first = event_log(ElementsSimulator(ElementsFleet(300, seed=5, now=NOW)))
    second = event_log(ElementsSimulator(ElementsFleet(300, seed=5, now=NOW)))
    assert list(first.times) == list(second.times)
    assert [first.event(i) for i in range(len(first))] == [second.event(i) for i in range(len(second))]


# --- the simulator's rules, the seed's requests ---------------------------------------------------------------


@pytest.fixture
def raw_http(server, tls_files, simulator):
    """An httpx client that logged in by hand, for requests the product's client would never send."""
    trust = ssl.create_default_context(cafile=str(tls_files[1]))
    with httpx.Client(base_url=server.url, verify=trust, headers={"User-Agent": "tests"}) as http:
        token = http.post(TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "connect.api.read"},
                          auth=(CLIENT_ID, SECRET)).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def form_post(http: httpx.Client, body: str) -> httpx.Response:
    return http.post(EVENTS_PATH, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


WRONG_FORMAT = "Request parameter(s) have wrong format. Check details."
BAD_REQUEST = "Bad request because of invalid parameters or data."


def assert_400(answer: httpx.Response, code: int, param: str, value: str) -> None:
    """The real envelope [SEKOIA test_helpers], naming the parameter and its value in `details`."""
    assert answer.status_code == 400
    assert answer.json() == {"message": WRONG_FORMAT if code == 400001 else BAD_REQUEST, "code": code,
                             "transactionId": answer.headers["x-transaction"],
                             "details": {"invalidParam": param, "invalidValue": value}}


def test_a_request_without_a_window_fails(raw_http):
    assert_400(form_post(raw_http, "engineGroup=epp"), 400000, "persistenceTimestampStart", "")


@pytest.mark.parametrize("body", ["persistenceTimestampStart=2025-05-01T00:00:00Z",
                                  "persistenceTimestampStart=2025-05-01T00:00:00Z&engine=deepGuard&engineGroup=epp",
                                  "persistenceTimestampStart=2025-05-01T00:00:00Z&engine=&engineGroup="])
def test_exactly_one_of_engine_and_engine_group(raw_http, body):
    """Neither or both: 400 [ATT][MCP][XSOAR-EL]. The old client sent neither and read no event at all."""
    sent = ",".join(value for key in ("engine", "engineGroup") for value in parse_qs(body, keep_blank_values=True).get(key, []))
    assert_400(form_post(raw_http, body), 400000, "engine,engineGroup", sent)


def test_repeated_keys_and_one_comma_joined_value_are_the_same(raw_http):
    start = "persistenceTimestampStart=2025-05-01T00:00:00Z&order=asc&limit=200"
    repeated = form_post(raw_http, f"{start}&engineGroup=epp&engineGroup=edr&engineGroup=ecp").json()
    joined = form_post(raw_http, f"{start}&engineGroup=epp,edr,ecp").json()  # as the Sentinel connector [WS-SENT]
    assert repeated["items"] and [item["id"] for item in repeated["items"]] == [item["id"] for item in joined["items"]]
    engines = form_post(raw_http, f"{start}&engine=deepGuard&engine=edr").json()["items"]
    assert engines and {item["engine"] for item in engines} == {"deepGuard", "edr"}


@pytest.mark.parametrize(("body", "code", "param", "value"), [
    ("persistenceTimestampStart=yesterday", 400001, "persistenceTimestampStart", "yesterday"),
    ("persistenceTimestampStart=2025-06-01T10:00:00", 400001, "persistenceTimestampStart", "2025-06-01T10:00:00"),
    ("persistenceTimestampStart=2025-06-02T00:00:00Z&persistenceTimestampEnd=2025-06-01T00:00:00Z", 400000,
     "persistenceTimestampEnd", "2025-06-01T00:00:00Z"),
    ("engineGroup=antivirus", 400001, "engineGroup", "antivirus"),
    ("engine=realTimeScanning", 400001, "engine", "realTimeScanning"),  # it is realtimeScanning
    ("engineGroup=epp&severity=high", 400001, "severity", "high"),
    ("engineGroup=epp&limit=201", 400001, "limit", "201"),
    ("engineGroup=epp&limit=0", 400001, "limit", "0"),
    ("engineGroup=epp&order=newest", 400001, "order", "newest"),
    ("engineGroup=epp&anchor=bogus", 400001, "anchor", "bogus"),
])
def test_bad_parameters_are_400_with_the_error_body(raw_http, body, code, param, value):
    window = "" if body.startswith("persistence") else "persistenceTimestampEnd=2025-06-01T00:00:00Z&"
    assert_400(form_post(raw_http, window + body), code, param, value)


def test_an_anchor_is_good_only_with_the_filters_it_came_from(raw_http):
    form = "persistenceTimestampStart=2025-05-01T00:00:00Z&engineGroup=epp&limit=20"
    anchor = form_post(raw_http, form).json()["nextAnchor"]
    assert form_post(raw_http, f"{form}&anchor={anchor}").status_code == 200
    assert form_post(raw_http, f"{form}&limit=50&anchor={anchor}").status_code == 200  # the page size may change
    assert_400(form_post(raw_http, f"{form}&engineGroup=edr&anchor={anchor}"), 400001, "anchor", anchor)


def test_exclusive_start_leaves_the_start_out(raw_http, simulator):
    log = event_log(simulator)
    at = rfc3339_text(datetime.fromtimestamp(log.times[len(log) // 2] / 1000, UTC))
    form = f"persistenceTimestampStart={at}&engineGroup=epp,edr,ecp,xm&order=asc&limit=1"
    assert form_post(raw_http, form).json()["items"][0]["persistenceTimestamp"] == at
    assert form_post(raw_http, form + "&exclusiveStart=true").json()["items"][0]["persistenceTimestamp"] > at


def test_a_json_body_is_refused(raw_http):
    answer = raw_http.post(EVENTS_PATH, json={"persistenceTimestampEnd": "2025-06-01T00:00:00Z",
                                              "engineGroup": "epp"})
    assert_400(answer, 400000, "Content-Type", "application/json")


def test_the_seeds_request_bodies_verbatim(raw_http, simulator):
    partner = form_post(raw_http, SEED_PARTNER_FORM)
    assert partner.status_code == 200 and partner.json() == {"items": []}  # nothing before 2023-05-01 here

    foreign = form_post(raw_http, SEED_ORGANIZATION_FORM)  # the seed's company is not this partner's
    assert foreign.status_code == 403
    assert foreign.json() == {"message": "Access to organization e4bd56b0-90b4-4878-962f-903ea862a977 is not allowed",
                              "code": 403000, "transactionId": foreign.headers["x-transaction"]}

    company = simulator.fleet.companies[0]["id"]
    page = form_post(raw_http, SEED_ORGANIZATION_FORM.replace("e4bd56b0-90b4-4878-962f-903ea862a977", company)).json()
    assert page["items"] and {item["organization"]["id"] for item in page["items"]} == {company}
    item = page["items"][0]
    for item in page["items"]:  # the keys of the real captures [WS-FIX], the order of deep-guard-event-v2.json
        assert [key for key in item if key not in ("userName", "target")] == [
            "severity", "acknowledged", "serverTimestamp", "persistenceTimestamp", "clientTimestamp", "engine",
            "organization", "action", "details", "eventTransactionId", "id", "device"]
        assert set(item["organization"]) == {"id", "name"} and set(item["device"]) == {"id", "name"}
        assert item["target"] == item["device"] and item.get("userName") == item["details"].get("userName")
        assert all(isinstance(value, str) for value in item["details"].values())
    assert {item["engine"] for item in page["items"]} <= {"fileScanning", "deepGuard", "setting", "systemEventsLog",
                                                           "browsingProtection", "deviceControl", "applicationControl",
                                                           "firewall", "tamperProtection"}


def test_the_official_polling_script_request_verbatim(server, tls_files, simulator):
    """WithSecure's own poll_security_events.py [WS-EX]: its headers, its form field order and its six-digit
    fractions, then `exclusiveStart` from the last item's time, as it polls."""
    trust = ssl.create_default_context(cafile=str(tls_files[1]))
    with httpx.Client(base_url=server.url, verify=trust) as http:
        token = http.post(TOKEN_PATH, content="grant_type=client_credentials&scope=connect.api.read",
                          auth=(CLIENT_ID, SECRET), headers={
                              "User-Agent": "my-script", "Accept": "application/json",
                              "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "my-script"}
        form = ("limit=200&engineGroup=epp&engineGroup=edr&persistenceTimestampStart=2025-05-31T12:00:00.000000Z"
                "&order=asc&exclusiveStart=true")
        first = http.post(EVENTS_PATH, content=form, headers=headers)
        assert first.status_code == 200
        items = json.loads(first.content.replace(b"\x00", b"").decode("utf-8", "replace"))["items"]
        last = items[-1]["persistenceTimestamp"].replace("Z", "000Z")
        following = http.post(EVENTS_PATH, headers=headers, content=form.replace("2025-05-31T12:00:00.000000Z", last))
    times = [item["persistenceTimestamp"] for item in items]
    assert items and times == sorted(times) and {item["engine"] for item in items} != {"edr"}
    assert following.status_code == 200
    assert all(item["persistenceTimestamp"] > times[-1] for item in following.json()["items"])


def test_newest_first_unless_asked_otherwise(raw_http):
    """`order` is desc by default [SPLUNK][MCP]; the client asks for asc."""
    form = "persistenceTimestampStart=2025-05-01T00:00:00Z&engineGroup=epp&limit=50"
    page = form_post(raw_http, form).json()
    times = [item["persistenceTimestamp"] for item in page["items"]]
    assert times == sorted(times, reverse=True)
    following = form_post(raw_http, f"{form}&anchor={page['nextAnchor']}").json()
    assert following["items"][0]["persistenceTimestamp"] <= times[-1]
    oldest = [item["persistenceTimestamp"] for item in form_post(raw_http, f"{form}&order=asc").json()["items"]]
    assert oldest == sorted(oldest) and oldest[0] < times[-1]


# --- resilience -------------------------------------------------------------------------------------------------


async def test_429_on_the_post_is_waited_out(client, simulator):
    said: list[str | None] = []
    simulator.faults.add("429", value=0.2, path=EVENTS_PATH)
    with waits_told_to(said.append):
        events, _ = await collect(client, MONTH)
    assert len(events) == len(expected_times(simulator, MONTH))
    assert said[0] == "Elements: rate limited; retrying in 0.2 s (attempt 2 of 4)" and said[-1] is None


async def test_a_token_that_expires_between_pages_is_renewed(client, simulator):
    await collect(client, EventWindow.last(timedelta(hours=1), NOW))
    simulator.faults.add("expire-token", path=EVENTS_PATH)
    events, _ = await collect(client, MONTH)
    assert len(events) == len(expected_times(simulator, MONTH))


async def test_a_server_error_is_not_hidden(client, simulator):
    simulator.faults.add("500", path=EVENTS_PATH)
    with pytest.raises(ServerError) as caught:
        await collect(client, MONTH)
    assert "failed on /security-events/v1/security-events (500)" in str(caught.value)


# --- the request on the wire, and awkward items ------------------------------------------------------------


async def test_the_form_on_the_wire():
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "T0k3n", "token_type": "Bearer", "expires_in": 1799})
        if request.url.path == "/whoami/v1/whoami":
            return httpx.Response(200, json={"clientId": CLIENT_ID, "organizationId": "own-org"})
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    client = ElementsClient(Connection(name="m", vendor="elements", url=DEFAULT_URL, username=CLIENT_ID), SECRET,
                            transport=httpx.MockTransport(serve))
    window = EventWindow(start=datetime(2025, 6, 1, 10, 0, 0, 500_000, tzinfo=timezone(timedelta(hours=2))),
                         end=datetime(2025, 6, 1, 12, tzinfo=UTC), severities=frozenset({"warning"}), engine="EPP",
                         organization_id="org-2")
    own = EventWindow(end=datetime(2025, 6, 1, 12, tzinfo=UTC), engine="deepGuard", organization_id="own-org")
    try:
        await collect(client, window)
        await collect(client, own)
    finally:
        await client.aclose()

    first, second = seen
    assert first.method == "POST" and first.url.query == b""
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.headers["authorization"] == "Bearer T0k3n" and first.headers["user-agent"]
    assert parse_qs(first.content.decode()) == {
        "persistenceTimestampStart": ["2025-06-01T08:00:00.500Z"], "persistenceTimestampEnd": ["2025-06-01T12:00:00Z"],
        "order": ["asc"], "engineGroup": ["epp"], "severity": ["warning"], "organizationId": ["org-2"],
        "limit": ["200"]}
    assert parse_qs(second.content.decode()) == {  # a start always; the credentials' own organization not named
        "persistenceTimestampStart": ["2025-05-02T12:00:00Z"], "persistenceTimestampEnd": ["2025-06-01T12:00:00Z"],
        "order": ["asc"], "engine": ["deepGuard"], "limit": ["200"]}


async def test_no_engine_filter_sends_every_engine_group_and_pages_with_the_same_form():
    """The API wants engine or engineGroup; with neither the old client read nothing. Every group is sent as
    repeated keys, and each next page repeats the form with the anchor."""
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "T0k3n", "token_type": "Bearer", "expires_in": 1799})
        seen.append(request)
        item = {"id": f"e{len(seen)}", "persistenceTimestamp": "2025-06-01T11:00:00Z", "engine": "deepGuard"}
        return httpx.Response(200, json={"items": [item], **({"nextAnchor": "WzE3LCJhIl0="} if len(seen) == 1 else {})})

    client = ElementsClient(Connection(name="m", vendor="elements", url=DEFAULT_URL, username=CLIENT_ID), SECRET,
                            transport=httpx.MockTransport(serve))
    try:
        events, pages = await collect(client, EventWindow(end=datetime(2025, 6, 1, 12, tzinfo=UTC)))
    finally:
        await client.aclose()
    first, second = (parse_qs(request.content.decode()) for request in seen)
    assert first["engineGroup"] == ["epp", "edr", "ecp", "xm"] and "engine" not in first
    assert second == {**first, "anchor": ["WzE3LCJhIl0="]}
    assert [event.id for event in events] == ["e1", "e2"] and {event.category for event in events} == {"epp"}
    assert pages[0].notes == ("Elements needs a start: read the 30 days before the window's end.",)


def test_awkward_items_map_or_are_left_out():
    full = security_event({
        "id": 17, "action": "quarantined", "engine": "fileScanning", "engineGroup": "epp", "severity": "High",
        "clientTimestamp": "2025-06-01t10:00:00.123+02:00", "serverTimestamp": "2025-06-01T08:00:01Z",
        "persistenceTimestamp": "2025-06-01T08:00:02.5Z",
        "organization": {"id": "o", "name": "Org\x1b[2J"}, "device": {"id": "d", "name": "WS-1"},
        "details": {"infectionName": "Trojan.X\u202e", "filePath": "C:\\x.exe", "nested": {"a": 1, "b": None},
                    "description": "Found <b>malware</b>\n\nand quarantined", "list": ["a", "b"], "nothing": None},
    }, "conn")
    assert full.id == "17" and full.severity is Severity.CRITICAL and full.category == "epp"
    assert full.time == datetime(2025, 6, 1, 8, 0, 2, 500_000, tzinfo=UTC)
    assert full.device_time == datetime(2025, 6, 1, 8, 0, 0, 123_000, tzinfo=UTC)
    assert full.title == "File scanning: quarantined Trojan.X"
    assert full.organization == "Org[2J"
    assert full.message.splitlines() == ["description: Found <b>malware</b>", "", "and quarantined",
                                         "infectionName: Trojan.X", "filePath: C:\\x.exe", "nested.a: 1", "list: a, b"]
    assert full.raw["id"] == 17

    bare = security_event({"serverTimestamp": "2025-06-01T08:00:00+00:00", "severity": "purple"}, "conn")
    assert bare.severity is Severity.UNKNOWN and bare.title == "Security event" and bare.device_id is None
    assert bare.time == datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    assert security_event({"id": "x", "persistenceTimestamp": "not a time"}, "conn") is None
    assert security_event(["not", "a", "dict"], "conn") is None


async def test_undated_items_are_counted_in_a_note():
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "T", "expires_in": 1799})
        return httpx.Response(200, json={"items": [
            {"id": "a", "persistenceTimestamp": "2025-06-01T08:00:00Z", "severity": "info"},
            {"id": "b"}, {"id": "c", "persistenceTimestamp": ""}, "junk",
        ]})

    client = ElementsClient(Connection(name="m", vendor="elements", url=DEFAULT_URL, username=CLIENT_ID), SECRET,
                            transport=httpx.MockTransport(serve))
    try:
        events, pages = await collect(client, MONTH)
    finally:
        await client.aclose()
    assert [event.id for event in events] == ["a"]
    assert pages[0].notes == ("3 events were left out: no readable timestamp.",)
