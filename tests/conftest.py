"""Shared fixtures: a fixed clock, the demo app, and a SEPM simulator served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread

# Every UI test and snapshot sees the same moment, so ages ("4h") and definition dates never drift.
FIXED_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


@pytest.fixture
def sepm_simulator() -> Iterator[tuple[SepmSimulator, str]]:
    """A 120-computer SEPM on plain http loopback; yields the simulator and its base URL."""
    simulator = SepmSimulator(SepmFleet(size=120, seed=3, now=FIXED_NOW))
    with ServerThread(create_app(simulator)) as server:
        yield simulator, server.url
