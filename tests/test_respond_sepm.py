"""SEPM response actions (issue 18): quarantine, its undo and the scans as command-queue commands, followed
through their status rows to a final state."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tui.models import Connection, Device
from tui.respond import any_failed
from tui.simulators.sepm import DEMO_PASSWORD, SepmFleet, SepmSimulator, create_app
from tui.vendors.base import WriteRefusedError
from tui.vendors.facets import ResponseActions
from tui.vendors.sepm import COMMAND_TARGETS_MAX, SepmClient

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make(read_only: bool = False, size: int = 120) -> tuple[SepmSimulator, SepmClient, list[httpx.Request]]:
    simulator = SepmSimulator(SepmFleet(size=size, seed=3, now=NOW))
    sent: list[httpx.Request] = []
    transport = httpx.ASGITransport(app=create_app(simulator))

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return await transport.handle_async_request(request)

    async def no_wait(_: float) -> None:
        return None

    connection = Connection(name="sep", vendor="sepm", url="http://sepm.test:8446", username="admin",
                            read_only=read_only, allow_http=True)
    client = SepmClient(connection, DEMO_PASSWORD, transport=Recording(), sleep=no_wait, clock=lambda: NOW)
    return simulator, client, sent


def computers(simulator: SepmSimulator, count: int) -> list[Device]:
    records = [simulator.fleet.computer(index) for index in range(count)]
    return [Device(vendor="sepm", connection="sep", id=record["uniqueId"], name=record["computerName"])
            for record in records]


def command_posts(sent: list[httpx.Request]) -> list[httpx.Request]:
    return [request for request in sent if request.method == "POST" and "/command-queue/" in request.url.path]


async def test_quarantine_is_a_command_followed_to_its_final_state() -> None:
    simulator, client, sent = make()
    assert isinstance(client, ResponseActions)
    assert client.offered_actions() == ("quarantine", "unquarantine", "scan", "fullscan", "update")
    devices = computers(simulator, 3)
    results = await client.respond("quarantine", devices)
    (post,) = command_posts(sent)
    assert post.url.path.endswith("/command-queue/quarantine")
    assert parse_qs(urlsplit(str(post.url)).query)["computer_ids"] == [",".join(device.id for device in devices)]
    assert all(result.accepted and result.reference and result.progress == "queued" for result in results)
    updates = [update async for update in client.follow_response("quarantine", results)]
    assert len(updates) > 1
    final = updates[-1]
    assert all(result.final for result in final)
    assert {result.progress for result in final} <= {"quarantined", "failed: unexpected error"}
    undone = await client.respond("unquarantine", devices[:1])
    assert parse_qs(urlsplit(str(command_posts(sent)[-1].url)).query)["undo"] == ["true"]
    assert undone[0].accepted
    await client.aclose()


async def test_targets_are_chunked_and_a_failed_call_refuses_its_devices_in_words() -> None:
    simulator, client, sent = make(size=COMMAND_TARGETS_MAX + 20)
    devices = computers(simulator, COMMAND_TARGETS_MAX + 10)
    devices[-1] = Device(vendor="sepm", connection="sep", id="0" * 32, name="gone")
    results = await client.respond("scan", devices)
    assert len(command_posts(sent)) == 2
    assert all(result.accepted for result in results[:COMMAND_TARGETS_MAX])
    assert all(not result.accepted and "does not exist" in result.reason for result in results[COMMAND_TARGETS_MAX:])
    assert any_failed(results)
    await client.aclose()


async def test_read_only_connection_sends_nothing_and_bad_requests_are_refused_before_sending() -> None:
    simulator, client, sent = make(read_only=True)
    with pytest.raises(WriteRefusedError):
        await client.respond("quarantine", computers(simulator, 2))
    with pytest.raises(ValueError, match="cannot"):
        await client.respond("isolate", computers(simulator, 2))
    with pytest.raises(ValueError, match="not a valid computer id"):
        await client.respond("scan", [Device(vendor="sepm", connection="sep", id="../x", name="x")])
    assert sent == []
    await client.aclose()


async def test_simulator_refuses_undo_on_a_scan_and_a_missing_target() -> None:
    simulator, client, _ = make()
    await client.check_login()
    transport = httpx.ASGITransport(app=create_app(simulator))
    headers = {"Authorization": f"Bearer {client._token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sepm.test", headers=headers) as http:
        answer = await http.post("/sepm/api/v1/command-queue/activescan", params={"undo": "true",
                                                                                  "computer_ids": "A"})
        assert answer.status_code == 400
        answer = await http.post("/sepm/api/v1/command-queue/quarantine")
        assert answer.status_code == 400 and "required" in answer.json()["errorMessage"]
        answer = await http.post("/sepm/api/v1/command-queue/quarantine", params={"computer_ids": "A"},
                                 headers={"Content-Type": "text/plain"})
        assert answer.status_code == 500
    await client.aclose()
