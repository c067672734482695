"""Elements response actions (issue 18) against the simulator: the 207 multistatus with per-device failures,
five targets a call, the write scope, the 300 a minute limit, isolation read back from the device."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from tui.models import Connection, Device
from tui.respond import all_failed, any_failed
from tui.simulators.elements import (
    OPERATIONS_PATH,
    ElementsFleet,
    ElementsSimulator,
    create_app,
)
from tui.vendors.base import ForbiddenError, WriteRefusedError
from tui.vendors.elements import ElementsClient
from tui.vendors.facets import ResponseActions

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-Elements!"


def make(read_only: bool = False, *, real_sleep: bool = False, **options) -> tuple[ElementsSimulator, ElementsClient, list[float]]:
    simulator = ElementsSimulator(ElementsFleet(size=300, seed=5, now=NOW), client_secret=SECRET, **options)
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)
        if real_sleep:
            await asyncio.sleep(seconds)

    connection = Connection(name="el", vendor="elements", url="http://elements.test", username=simulator.client_id,
                            read_only=read_only, allow_http=True)
    client = ElementsClient(connection, SECRET, transport=httpx.ASGITransport(app=create_app(simulator)), sleep=nap)
    return simulator, client, naps


def fleet_devices(simulator: ElementsSimulator, keep) -> list[Device]:
    """Devices of the simulated fleet that `keep` accepts, as the client would list them."""
    found = []
    for index in range(len(simulator.fleet)):
        record = simulator.fleet.device(index)
        if keep(record):
            found.append(Device(vendor="elements", connection="el", id=record["id"], name=record["name"]))
    return found


def windows(online: bool):
    return lambda record: (record["type"] == "computer" and record.get("state") == "active"
                           and record["os"]["name"].startswith("Windows") and record["online"] is online
                           and record["protectionStatusOverview"] != "isolated")


def operation_calls(simulator: ElementsSimulator) -> list:
    return [logged for logged in simulator.requests if logged.path == OPERATIONS_PATH]


async def test_isolate_chunks_by_five_and_reads_the_isolation_back() -> None:
    simulator, client, _ = make()
    assert isinstance(client, ResponseActions)
    devices = fleet_devices(simulator, windows(online=True))[:7]
    results = await client.respond("isolate", devices, "Call the service desk")
    assert len(operation_calls(simulator)) == 2  # 5 + 2
    assert [result.device_id for result in results] == [device.id for device in devices]
    assert all(result.accepted and result.reference.isdigit() and not result.final for result in results)
    assert {operation["parameters"]["message"] for operation in simulator.operations} == {"Call the service desk"}
    followed = [update async for update in client.follow_response("isolate", results)]
    assert all(result.final and result.succeeded and result.progress == "isolated" for result in followed[-1])
    released = await client.respond("release", devices)
    followed = [update async for update in client.follow_response("release", released)]
    assert all(result.progress == "released" for result in followed[-1])
    await client.aclose()


async def test_per_device_failures_in_words_and_a_207_with_every_target_failed_is_a_failure() -> None:
    simulator, client, _ = make()
    mac = fleet_devices(simulator, lambda r: r["type"] == "computer" and r["os"]["name"] == "macOS"
                        and r.get("state") == "active")[0]
    phone = fleet_devices(simulator, lambda r: r["type"] == "mobile")[0]
    lapsed = fleet_devices(simulator, windows(online=True))[0]
    simulator.unsubscribed.add(lapsed.id)
    ghost = Device(vendor="elements", connection="el", id="00000000-0000-0000-0000-00000000dead", name="ghost")
    results = await client.respond("isolate", [mac, phone, lapsed, ghost])
    reasons = [result.reason for result in results]
    assert "not a Windows computer" in reasons[0]
    assert "not supported for this device type" in reasons[1]
    assert "no valid subscription" in reasons[2]
    assert "not found" in reasons[3]
    assert all_failed(results) and any_failed(results)
    await client.aclose()


async def test_offline_device_stays_pending_and_following_ends() -> None:
    simulator, client, naps = make()
    offline = fleet_devices(simulator, windows(online=False))[:1]
    results = await client.respond("isolate", offline)
    updates = [update async for update in client.follow_response("isolate", results)]
    last = updates[-1][0]
    assert last.final and last.succeeded is None and last.progress.startswith("pending")
    assert naps and min(naps) >= 5.0
    await client.aclose()


async def test_scan_and_message_are_followed_in_the_operation_history() -> None:
    simulator, client, _ = make()
    devices = fleet_devices(simulator, windows(online=True))[:1] + fleet_devices(simulator, windows(online=False))[:1]
    results = await client.respond("message", devices, "Please log off now")
    assert all(result.accepted and not result.final for result in results)
    last = [update async for update in client.follow_response("message", results)][-1]
    assert (last[0].progress, last[0].succeeded) == ("finished", True)
    assert last[1].final and last[1].succeeded is None and last[1].progress.startswith("pending")
    with pytest.raises(ValueError, match="message"):
        await client.respond("message", devices)
    with pytest.raises(ValueError, match="cannot"):
        await client.respond("quarantine", devices)
    await client.aclose()


async def test_read_only_connection_sends_nothing() -> None:
    simulator, client, _ = make(read_only=True)
    devices = fleet_devices(simulator, windows(online=True))[:2]
    with pytest.raises(WriteRefusedError, match="read-only"):
        await client.respond("isolate", devices)
    assert simulator.requests == []
    await client.aclose()


async def test_read_only_api_client_gets_403_said_in_words() -> None:
    simulator, client, _ = make(read_only_client=True)
    devices = fleet_devices(simulator, windows(online=True))[:2]
    with pytest.raises(ForbiddenError) as raised:
        await client.respond("isolate", devices)
    assert "read-write API client" in str(raised.value) and "cannot be changed later" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert simulator.operations == []
    await client.aclose()


async def test_rate_limit_is_waited_out_and_the_call_sent_again() -> None:
    simulator, client, naps = make(real_sleep=True)
    simulator.operation_rate_limit = 2
    devices = fleet_devices(simulator, windows(online=True))[:15]
    simulator.rate_window = 0.2
    results = await client.respond("scan", devices)
    assert all(result.accepted for result in results)
    assert len(simulator.operations) == 15
    assert naps  # the 429's Retry-After was obeyed
    await client.aclose()


async def test_simulator_refuses_six_targets_a_long_message_and_a_history_not_by_device() -> None:
    simulator, client, _ = make()
    await client.check_login()
    token = client._token
    transport = httpx.ASGITransport(app=create_app(simulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://elements.test",
                                 headers={"User-Agent": "t", "Authorization": f"Bearer {token}"}) as http:
        six = [f"id-{n}" for n in range(6)]
        answer = await http.post(OPERATIONS_PATH, json={"operation": "scanForMalware", "targets": six})
        assert answer.status_code == 400 and answer.json()["details"]["invalidParam"] == "targets"
        answer = await http.post(OPERATIONS_PATH, json={"operation": "showMessage", "targets": ["x"],
                                                        "parameters": {"message": "m" * 513}})
        assert answer.status_code == 400
        answer = await http.post(OPERATIONS_PATH, content=json.dumps({"operation": "scanForMalware", "targets": ["x"]}),
                                 headers={"Content-Type": "application/json"})
        assert answer.status_code == 207 and answer.json()["multistatus"][0]["status"] == 404
        assert (await http.get(OPERATIONS_PATH, params={"operationId": "1"})).status_code == 400
    await client.aclose()


def mock_client(answer) -> ElementsClient:
    """A writable client whose console is `answer(request)` behind a token endpoint."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/as/token.oauth2":
            return httpx.Response(200, json={"access_token": "tok-123", "token_type": "Bearer", "expires_in": 1799})
        return answer(request)

    connection = Connection(name="el", vendor="elements", url="https://elements.test", username="c", read_only=False)
    return ElementsClient(connection, SECRET, transport=httpx.MockTransport(handle))


async def test_hostile_answers_are_cleaned_and_an_unexpected_status_refuses_in_words() -> None:
    devices = [Device(vendor="elements", connection="el", id=f"id-{n}", name=f"PC-{n}") for n in range(2)]
    hostile = {"multistatus": [{"target": "id-0", "status": 400, "details": "bad\x1b[2J\u202eevil"},
                               {"target": "someone-else", "status": 202, "operationId": "1"}]}
    client = mock_client(lambda request: httpx.Response(207, json=hostile))
    results = await client.respond("scan", devices)
    assert "\x1b" not in results[0].reason and "\u202e" not in results[0].reason and "evil" in results[0].reason
    assert not results[1].accepted and "did not answer for this device" in results[1].reason
    await client.aclose()
    client = mock_client(lambda request: httpx.Response(200, json={"ok": True}))
    results = await client.respond("scan", devices)
    assert all(not result.accepted and "not 207" in result.reason for result in results)
    await client.aclose()
