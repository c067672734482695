"""Shared fixtures: a fixed clock, the demo app, and a SEPM simulator served on loopback."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread, TlsFiles, make_test_tls
from tui.vendors.base import VendorClient

# Every UI test and snapshot sees the same moment, so ages ("4h") and definition dates never drift.
FIXED_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


# The fuzz tests (tests/test_fuzz*.py): "quick" is what the normal run uses, the same examples every run so a
# failure in CI reproduces; `--hypothesis-profile=thorough` runs 10,000 fresh examples a test (README).
_FUZZ = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("quick", max_examples=200, derandomize=True, **_FUZZ)
settings.register_profile("thorough", max_examples=10_000, **_FUZZ)
settings.load_profile("quick")


@pytest.fixture(autouse=True)
def private_snapshot_store(tmp_path_factory, monkeypatch) -> Path:
    """Every test's snapshots go to a store of its own, never to the user's data directory."""
    path = tmp_path_factory.mktemp("snapshots") / "snapshots.sqlite3"
    monkeypatch.setenv("EPX_SNAPSHOTS", str(path))
    return path


@pytest.fixture
def sepm_simulator() -> Iterator[tuple[SepmSimulator, str]]:
    """A 120-computer SEPM on plain http loopback; yields the simulator and its base URL."""
    simulator = SepmSimulator(SepmFleet(size=120, seed=3, now=FIXED_NOW))
    with ServerThread(create_app(simulator)) as server:
        yield simulator, server.url


def vendor_app(simulator):
    """The ASGI app of a simulator (or of a test's subclass of one), made by its vendor's simulator module."""
    vendor_class = next(cls for cls in type(simulator).__mro__ if cls.__module__.startswith("tui.simulators."))
    return importlib.import_module(vendor_class.__module__).create_app(simulator)


@pytest.fixture(scope="module")
def server(simulator, tls_files):
    """The test module's `simulator` (a fixture each client test module defines), over https with the private CA."""
    with ServerThread(vendor_app(simulator), tls=tls_files[0]) as running:
        yield running


@pytest.fixture
def no_leftover_faults(simulator):
    """Faults a test queued on the module's simulator and did not meet are dropped after it."""
    yield
    simulator.faults.clear()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[TlsFiles, Path]:
    """A throw-away CA and a certificate for 127.0.0.1: the server's files and the CA's PEM."""
    return make_test_tls("127.0.0.1", tmp_path_factory.mktemp("tls"))


def assert_no_secrets(error: BaseException, client: VendorClient, *secrets: str) -> None:
    """Neither the error's message, its repr nor the client's repr may carry a password, secret or token."""
    shown = " ".join((str(error), repr(error), repr(client), *map(str, error.args)))
    for secret in secrets:
        assert secret and secret not in shown, f"a secret leaked into: {shown}"
