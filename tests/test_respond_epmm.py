"""EPMM response actions (issue 18): only the message the public sources document, one result per device."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tui.models import Connection, Device
from tui.simulators.epmm import DEMO_PASSWORD, DEMO_USERNAME, EpmmFleet, EpmmSimulator, create_app
from tui.vendors.base import WriteRefusedError
from tui.vendors.epmm import EpmmClient
from tui.vendors.facets import ResponseActions

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make(read_only: bool = False) -> tuple[EpmmSimulator, EpmmClient]:
    simulator = EpmmSimulator(EpmmFleet(size=60, seed=3, now=NOW))
    connection = Connection(name="mi", vendor="epmm", url="http://epmm.test", username=DEMO_USERNAME,
                            read_only=read_only, allow_http=True)
    return simulator, EpmmClient(connection, DEMO_PASSWORD, transport=httpx.ASGITransport(app=create_app(simulator)))


def phones(simulator: EpmmSimulator, status: str, count: int) -> list[Device]:
    chosen = [index for index in range(len(simulator.fleet)) if simulator.fleet.summary(index)["common.status"] == status]
    return [Device(vendor="epmm", connection="mi", id=simulator.fleet.device(index)["common.uuid"], name=f"phone {index}")
            for index in chosen[:count]]


async def test_message_is_the_only_action_and_each_device_gets_its_answer() -> None:
    simulator, client = make()
    assert isinstance(client, ResponseActions) and client.offered_actions() == ("message",)
    unknown = Device(vendor="epmm", connection="mi", id="9b0da853-0000-4000-8000-000000000000", name="gone")
    devices = [*phones(simulator, "ACTIVE", 2), unknown]
    results = await client.respond("message", devices, "Bring the phone to IT")
    assert [result.accepted for result in results] [:3] == [True, True, False]
    assert results[2].reason == "device action failed" and all(result.final for result in results)
    assert simulator.messages[0]["message"] == "Bring the phone to IT"
    assert simulator.messages[0]["deviceUuids"] == [device.id for device in devices[:2]]
    assert [update async for update in client.follow_response("message", results)] == []
    with pytest.raises(ValueError, match="cannot"):
        await client.respond("isolate", devices)
    await client.aclose()


async def test_read_only_connection_sends_nothing() -> None:
    simulator, client = make(read_only=True)
    with pytest.raises(WriteRefusedError):
        await client.respond("message", phones(simulator, "ACTIVE", 1), "hello")
    assert simulator.requests == []
    await client.aclose()
