"""Fixtures only (the helpers they use live in helpers.py), and the fuzz tests' hypothesis profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import textual._wait
from hypothesis import HealthCheck, settings

from helpers import FIXED_NOW, vendor_app
from tui.cli import main
from tui.simulators.sepm import SepmFleet, SepmSimulator, create_app
from tui.simulators.serve import ServerThread, TlsFiles, make_test_tls

# The fuzz tests (tests/test_fuzz*.py): "quick" is what the normal run uses, the same examples every run so a
# failure in CI reproduces; `--hypothesis-profile=thorough` runs 10,000 fresh examples a test (README).
_FUZZ = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("quick", max_examples=200, derandomize=True, **_FUZZ)
settings.register_profile("thorough", max_examples=10_000, **_FUZZ)
settings.load_profile("quick")


IDLE_CHECK_SECONDS = 0.005
"""Textual's own is 20 ms (`textual._wait`, pinned with textual in pyproject.toml)."""


@pytest.fixture(autouse=True)
def quick_idle_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """After each key, Pilot sleeps in slices until one passes with the app idle: at 20 ms a slice, a typed
    64-character hash took seconds, most of the UI tests' time. 5 ms slices look for the same idleness (the
    same share of a slice spent working), only sooner; the app itself never uses them."""
    monkeypatch.setattr(textual._wait, "SLEEP_GRANULARITY", IDLE_CHECK_SECONDS)
    monkeypatch.setattr(textual._wait, "SLEEP_IDLE", IDLE_CHECK_SECONDS / 20)


@pytest.fixture(autouse=True)
def private_snapshot_store(tmp_path_factory, monkeypatch) -> Path:
    """Every test's snapshots go to a store of its own, never to the user's data directory."""
    path = tmp_path_factory.mktemp("snapshots") / "snapshots.sqlite3"
    monkeypatch.setenv("EPX_SNAPSHOTS", str(path))
    return path


@pytest.fixture
def epx(capsys):
    """Run `epx` in-process; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def sepm_simulator() -> Iterator[tuple[SepmSimulator, str]]:
    """A 120-computer SEPM on plain http loopback; yields the simulator and its base URL."""
    simulator = SepmSimulator(SepmFleet(size=120, seed=3, now=FIXED_NOW))
    with ServerThread(create_app(simulator)) as server:
        yield simulator, server.url


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
