"""EPMM has no event source this app can read (fact sheet epmm.md, seed 003): the client says so in one plain
sentence, typed so the timeline and `epx events` can show it as an absence, and asks the server nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tui.models import Connection, EventWindow
from tui.simulators.epmm import EpmmFleet, EpmmSimulator, create_app
from tui.simulators.serve import ServerThread
from tui.vendors import open_client
from tui.vendors.base import NotAvailableError, VendorError
from tui.vendors.epmm import EVENTS_NOT_AVAILABLE, EpmmClient

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def test_events_are_not_available_and_nothing_is_sent(tls_files):
    simulator = EpmmSimulator(EpmmFleet(50, seed=2, now=NOW))
    with ServerThread(create_app(simulator), tls=tls_files[0]) as server:
        client = open_client(Connection(name="mdm", vendor="epmm", url=server.url, username=simulator.username,
                                        verify=str(tls_files[1])), simulator.password)
        try:
            await client.check_login()
            before = len(simulator.requests)
            with pytest.raises(NotAvailableError) as caught:
                async for _ in client.events(EventWindow.last(timedelta(hours=1), NOW)):
                    pytest.fail("no page may arrive")
        finally:
            await client.aclose()

    assert len(simulator.requests) == before
    error = caught.value
    assert isinstance(error, VendorError) and error.scope == "vendor" and error.title == "Not available"
    assert str(error) == EVENTS_NOT_AVAILABLE
    assert str(error).startswith("Events are not available for Ivanti EPMM connections")
    assert EpmmClient.capabilities.events is False


def test_the_simulator_serves_no_invented_event_path():
    """Nothing in the EPMM simulator pretends to be an event API the fact sheet does not establish."""
    paths = [route.path for mount in create_app(EpmmSimulator(EpmmFleet(5, seed=1, now=NOW))).routes
             for route in getattr(mount, "routes", [])]
    assert paths and not any("event" in path or "log" in path or "audit" in path for path in paths)
