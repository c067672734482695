"""The fault matrix through the UI: every screen that loads data, under every fault the simulators inject.

Screens: the connections screen's test (`t`, the fault on SEPM's /version), the groups screen's first load
and its refresh (ctrl+r) on SEPM, EPMM and Elements, the event timeline (SEPM, Elements, EPMM), the fingerprint
lists (SEPM: the known lists, find a hash, open a list by name) and a device's recent events on its detail
screen (SEPM). The groups screen has one test per vendor and fault, each from a fresh first load;
the other screens run through the `FAULTS` table in one app each, every fault cleared before the next
(`cell` names the fault in a failure).

Each cell says: a fault the client cannot absorb is named in words on the screen (status line or
notification); what was loaded before the fault is said to be partial, never shown as the whole; the app
still answers a key, and once the fault clears that key (the screen's retry) shows everything. Faults the
client absorbs (latency, a slow body, one 429 with a short Retry-After, one expired token, one 502 or
dropped connection, which are retried) end with the full data and no error.

Every simulator runs on loopback over real HTTP, so a dropped connection is a real one. The fault reaches
one page of a listing (the third page request of the devices, the second page of Elements events, the
second known list) and that page's retries, through the simulators' `x-sim-fault` header (`FaultyPage`);
retry back-off is shortened so a fault that outlasts the client's attempts fails fast.

Where the matrix has holes, and why:
- A TLS certificate that does not match the host or comes from an unknown CA does not "clear": the fix is
  the profile's `verify`, so those cells check the words and a living app, not a retry. They reach the
  connections test and the groups screen, the two screens that first talk to a console.
- EPMM has no fingerprint lists, so it has no fingerprint cells (the screen says "not available", which
  test_ui_fingerprints covers); and it sends its credentials with every request, so its expired-token cell
  has no token to expire. Its event cells put the fault on the audit log's CSV, the call that carries the
  events (the export and its status calls are retried the same way).
- The device detail has no retry key: leaving it and opening the device again is the retry. Its cells are
  SEPM's only: the screen is the same for every vendor above `client.events`, whose Elements faults the
  timeline cells cover (each detail costs a second of rendering, and the file keeps under ~90 s).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from textual.widgets import Input

from helpers import FIXED_NOW, fixed_clock, notifications, wait_until
from screens.connections import ConnectionsScreen
from screens.device_detail import EVENTS_HEADING, RECENT, DeviceDetailScreen
from screens.events import EventsScreen
from screens.fingerprints import FingerprintsScreen
from screens.groups import GroupsScreen
from screens.help import HelpScreen
from tui.app import ExplorerApp
from tui.config import Config
from tui.models import Connection, EventWindow
from tui.simulators import Simulated, build_simulator
from tui.simulators.faults import FAULT_HEADER
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME, DEMO_FILES
from tui.simulators.serve import ServerThread, TlsFiles
from tui.state import StateStore
from tui.vendors.sepm import fingerprint_list_from_record
from widgets.group_tree import GroupTree

FLEET = 60
PAGE = 20
"""Devices per page: the fleet comes in three pages or more, so a fault on the third leaves some loaded."""
EVENT_PAGE = 10
DEVICE_LISTINGS = {"sepm": "/sepm/api/v1/computers", "epmm": "/api/v2/devices", "elements": "/devices/v1/devices"}
EVENT_SOURCES = {"sepm": "/sepm/api/v1/events/critical", "elements": "/security-events/v1/security-events",
                 "epmm": "/api/v2/logs/audit_logs_csv"}
FINGERPRINT_LISTS = "/sepm/api/v1/policy-objects/fingerprints(/.*)?"


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: a simulator fault, how long it lasts, and what the screen must say."""

    kind: str
    value: float | None = None
    times: int | None = 1
    """Requests of the faulty page it hits: 1 for a passing fault, None until it is cleared."""
    words: str | None = None
    """What the message about it must say (case-insensitive); None: the client absorbs it."""

    @property
    def spec(self) -> str:
        return f"{self.kind}={self.value:g}" if self.value is not None else self.kind

    @property
    def absorbed(self) -> bool:
        return self.words is None


FAULTS = {
    "latency": Fault("latency", 100),
    "slow-body": Fault("slow-body", 0.2),
    "429-once": Fault("429", 0.05),
    "expire-token": Fault("expire-token"),
    "html-once": Fault("html"),
    "reset-once": Fault("reset"),
    "500": Fault("500", words="(500)"),
    "html": Fault("html", times=None, words="502 Bad Gateway"),
    "429": Fault("429", 0.05, times=None, words="rate limiting"),
    "429-long": Fault("429", 600, words="Retry after 600 s"),
    "malformed": Fault("malformed", words="malformed or truncated"),  # JSON, or EPMM's audit CSV
    "truncated": Fault("truncated", words="malformed or truncated"),
    "reset": Fault("reset", times=None, words="closed the connection"),
}
"""Retryable faults (429, an HTML 502, a reset) fail only when they outlast the client's attempts, or (429)
ask for a longer wait than the client's cap, `RETRY_AFTER_CAP_S`."""


@dataclass
class _Armed:
    """What `FaultyPage` is armed with, and the distinct requests it has seen since."""

    spec: str
    pattern: str
    page: int
    times: int | None
    seen: list[tuple[str, bytes]] = field(default_factory=list)


class FaultyPage(httpx.AsyncBaseTransport):
    """Real HTTP to a loopback simulator; once armed, one page of a listing gets a fault.

    The page is the `page`-th distinct request (URL and body) whose path matches `pattern`: one SEPM
    `pageIndex`, one EPMM `offset`, one Elements anchor. It and its retries carry the simulator's fault
    header `times` times (None: until `clear`).
    """

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self._armed: _Armed | None = None
        self.hits = 0
        """Requests that carried the fault since it was armed: a cell whose fault never hit proves nothing."""

    def arm(self, fault: Fault, pattern: str, *, page: int = 1) -> None:
        self._armed = _Armed(fault.spec, pattern, page, fault.times)
        self.hits = 0

    def clear(self) -> None:
        self._armed = None

    def assert_hit(self) -> None:
        assert self.hits, "the fault never reached the console, so the cell proves nothing"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        armed = self._armed
        if armed is not None and re.fullmatch(armed.pattern, request.url.path):
            key = (str(request.url), request.content)  # the page: its query (GET) or its form (Elements' POST)
            if key not in armed.seen:
                armed.seen.append(key)
            if armed.seen.index(key) == armed.page - 1 and armed.times != 0:
                request.headers[FAULT_HEADER] = armed.spec
                self.hits += 1
                if armed.times is not None:
                    armed.times -= 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Kept open: the connection test's throw-away client closes its transport; the test closes `inner`."""


@pytest.fixture
async def transport() -> AsyncIterator[FaultyPage]:
    faulty = FaultyPage()
    yield faulty
    await faulty.inner.aclose()


@pytest.fixture(scope="module")
def consoles() -> Iterator[dict[str, tuple[Simulated, str]]]:
    """One simulated console per vendor on loopback: (simulator, base URL)."""
    served: dict[str, tuple[Simulated, str]] = {}
    with ExitStack() as servers:
        for vendor in DEVICE_LISTINGS:
            simulated = build_simulator(vendor, size=FLEET, seed=11, now=FIXED_NOW)
            served[vendor] = (simulated, servers.enter_context(ServerThread(simulated.app)).url)
        yield served


@pytest.fixture(autouse=True)
def small_pages_and_quick_retries(monkeypatch) -> None:
    monkeypatch.setattr("tui.vendors.sepm.COMPUTER_PAGE_SIZE", PAGE)
    monkeypatch.setattr("tui.vendors.epmm.PAGE_SIZE", PAGE)
    monkeypatch.setattr("tui.vendors.elements.PAGE_LIMIT", PAGE)
    monkeypatch.setattr("tui.vendors.base.BACKOFF_S", (0.02, 0.02, 0.02))
    monkeypatch.setattr("tui.vendors.epmm.EXPORT_POLL_S", 0.02)  # EPMM's audit export is polled, not waited out


def lab_app(vendor: str, consoles, transport: httpx.AsyncBaseTransport | None = None, **profile) -> ExplorerApp:
    """The app with one connection to the simulated `vendor` (through `transport` when given)."""
    simulated, url = consoles[vendor]
    name = f"lab-{vendor}"
    connection = Connection(**{"name": name, "vendor": vendor, "url": url, "username": simulated.username,
                               "password": simulated.password, "allow_http": True, **profile})
    state = StateStore(None)
    if vendor == "sepm":
        for record in simulated.simulator.hash_actions.lists.values():
            state.remember_list(name, fingerprint_list_from_record(record), now=FIXED_NOW)
    config = Config(path=None, connections={name: connection})
    return ExplorerApp(config, transports={name: transport} if transport else {}, clock=fixed_clock, state=state)


def status_of(app: ExplorerApp) -> str:
    return str(app.screen.query_one("#status").render())


def messages(app: ExplorerApp) -> str:
    """The status line of the screen and every notification, as one text to look for words in."""
    status = status_of(app) if app.screen.query("#status") else ""
    return " | ".join([status, *notifications(app)])


def errors_notified(app: ExplorerApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications if n.severity == "error"]


async def assert_alive(pilot, app: ExplorerApp) -> None:
    """The app still answers a key: `?` opens the help of the screen, esc closes it."""
    screen = app.screen
    await pilot.press("question_mark")
    assert isinstance(app.screen, HelpScreen)
    await pilot.press("escape")
    assert app.screen is screen


def busy(screen) -> bool:
    """Whether a worker of `screen` is still running."""
    return any(not worker.is_finished for worker in screen.workers if worker.node is screen)


async def assert_says(pilot, app: ExplorerApp, fault: Fault) -> None:
    """The fault is named in words. Every failure is also notified, and a notification is a message that
    arrives a moment later: wait for it, so the notifications cleared before a retry are all of them."""
    assert fault.words is not None
    await wait_until(pilot, lambda: bool(errors_notified(app)))
    shown = messages(app)
    assert fault.words.casefold() in shown.casefold(), shown


async def open_groups(pilot, app: ExplorerApp) -> GroupsScreen:
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and bool(app.screen.fleet.consoles)
                     and not app.screen.loading)
    return app.screen


async def reload_groups(pilot, screen: GroupsScreen) -> None:
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: not screen.loading)


def assert_whole_fleet(screen: GroupsScreen) -> None:
    assert len(screen.inventory) == FLEET and screen.pane.table.row_count == FLEET
    assert f"{FLEET} devices" in status_of(screen.app) and not screen.query_one("#status").has_class("-error")
    assert str(screen.query_one(GroupTree).root.label) == f"All devices ({FLEET})"
    assert not errors_notified(screen.app)


@contextmanager
def cell(name: str) -> Iterator[None]:
    """One cell of a matrix a test runs through in one app: a failure names the fault."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"under the fault {name!r}: {error}") from error


# --- the connections screen: t tests the connection ------------------------------------------------------


async def test_connection_test_under_every_fault(consoles, transport: FaultyPage) -> None:
    app = lab_app("sepm", consoles, transport)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen

        async def test_connection() -> str:
            await pilot.press("t")
            await wait_until(pilot, lambda: not busy(screen))
            await pilot.pause()
            return status_of(app)

        for name, fault in FAULTS.items():
            with cell(name):
                transport.arm(fault, "/sepm/api/v1/version")
                status = await test_connection()
                transport.assert_hit()
                if not fault.absorbed:
                    assert "Test failed" in status
                    await assert_says(pilot, app, fault)
                    transport.clear()
                    app.clear_notifications()
                    status = await test_connection()
                assert "login OK" in status


# --- the groups screen: first load, then a refresh (ctrl+r) ----------------------------------------------


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
@pytest.mark.parametrize("vendor", list(DEVICE_LISTINGS))
async def test_groups_first_load_and_refresh_under_a_fault(consoles, transport: FaultyPage, vendor: str,
                                                           fault: Fault) -> None:
    transport.arm(fault, DEVICE_LISTINGS[vendor], page=3)
    app = lab_app(vendor, consoles, transport)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_groups(pilot, app)
        transport.assert_hit()
        if not fault.absorbed:
            loaded = len(screen.inventory)
            assert 0 < loaded < FLEET
            assert "Load failed" in status_of(app) and f"{loaded} devices shown are PARTIAL" in status_of(app)
            await assert_says(pilot, app, fault)
            assert str(screen.query_one(GroupTree).root.label) == f"All devices ({loaded}+)"  # not as the whole
            transport.clear()
            app.clear_notifications()
            await reload_groups(pilot, screen)
        assert_whole_fleet(screen)

        transport.arm(fault, DEVICE_LISTINGS[vendor], page=3)
        await reload_groups(pilot, screen)
        transport.assert_hit()
        if not fault.absorbed:
            assert "Refresh failed" in status_of(app) and "last load" in status_of(app)
            await assert_says(pilot, app, fault)
            assert len(screen.inventory) == FLEET and screen.pane.table.row_count == FLEET
            transport.clear()
            app.clear_notifications()
            await reload_groups(pilot, screen)
        assert_whole_fleet(screen)


async def test_a_retry_that_fails_again_still_says_partial(consoles, transport: FaultyPage) -> None:
    """A first load that failed part-way is no "last load" to fall back on: its retry starts afresh, so a
    retry that fails too still says PARTIAL rather than "showing the devices of the last load"."""
    fault = FAULTS["500"]
    app = lab_app("sepm", consoles, transport)
    async with app.run_test(size=(80, 24)) as pilot:
        transport.arm(fault, DEVICE_LISTINGS["sepm"], page=3)
        screen = await open_groups(pilot, app)
        loaded = len(screen.inventory)
        assert f"{loaded} devices shown are PARTIAL" in status_of(app)
        transport.arm(fault, DEVICE_LISTINGS["sepm"], page=3)
        await reload_groups(pilot, screen)
        assert "Load failed" in status_of(app) and f"{loaded} devices shown are PARTIAL" in status_of(app)
        assert str(screen.query_one(GroupTree).root.label) == f"All devices ({loaded}+)"


# --- the event timeline ----------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", list(EVENT_SOURCES))
async def test_event_timeline_under_every_fault(consoles, transport: FaultyPage, monkeypatch, vendor: str) -> None:
    """Seven days of events; Elements sends them in pages of EVENT_PAGE, the fault on the second; EPMM's audit
    log comes as one CSV after its export is asked for and polled, the fault on the CSV."""
    monkeypatch.setattr("tui.vendors.elements.PAGE_LIMIT", EVENT_PAGE)
    app = lab_app(vendor, consoles, transport)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_groups(pilot, app)
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen) and not app.screen.pending)
        screen = app.screen

        async def load(key: str) -> str:
            await pilot.press(key)
            await wait_until(pilot, lambda: not screen.pending)
            return status_of(app)

        await load("4")
        everything = len(screen.table.shown)
        assert everything > (EVENT_PAGE if vendor == "elements" else 0)
        for name, fault in FAULTS.items():
            with cell(name):
                transport.arm(fault, EVENT_SOURCES[vendor], page=2 if vendor == "elements" else 1)
                status = await load("ctrl+r")
                transport.assert_hit()
                if not fault.absorbed:
                    assert "could not be loaded" in status
                    await assert_says(pilot, app, fault)
                    assert len(screen.table.shown) < everything
                    transport.clear()
                    app.clear_notifications()
                    status = await load("ctrl+r")
                assert "could not be loaded" not in status
                assert len(screen.table.shown) == everything and not errors_notified(app)


# --- a device's recent events on its detail screen -------------------------------------------------------


async def test_device_detail_events_under_every_fault(consoles, transport: FaultyPage) -> None:
    """A SEPM computer with events in the last day; leaving its detail and opening it again is the retry."""
    app = lab_app("sepm", consoles, transport)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_groups(pilot, app)
        client = screen.clients["lab-sepm"]
        recent = [event async for page in client.events(EventWindow.last(RECENT, FIXED_NOW)) for event in page.events]
        device = next(d for d in screen.inventory.devices
                      if any(d.id == e.device_id or d.name == e.device_name for e in recent))
        window = EventWindow.last(RECENT, FIXED_NOW, device_id=device.id, device_name=device.name)
        expected = [event async for page in client.events(window) for event in page.events]
        assert expected
        table = screen.pane.table
        table.cursor = table.devices.index(device)

        async def open_detail() -> list[tuple[str, str]]:
            """Open the device and wait for its events section: its rows."""
            await pilot.press("enter")
            detail = app.screen
            assert isinstance(detail, DeviceDetailScreen) and detail.device.id == device.id
            await wait_until(pilot, lambda: not busy(detail) and detail.related is not None
                             and detail.related[1][0][0] != "loading…")
            await pilot.pause()
            assert detail.related is not None and detail.related[0] == EVENTS_HEADING
            return detail.related[1]

        for name, fault in FAULTS.items():
            with cell(name):
                transport.arm(fault, EVENT_SOURCES["sepm"])
                rows = await open_detail()
                transport.assert_hit()
                if not fault.absorbed:
                    assert [field for field, _ in rows] == ["not loaded"]
                    await assert_says(pilot, app, fault)
                    transport.clear()
                    app.clear_notifications()
                    await pilot.press("escape")
                    rows = await open_detail()
                assert len(rows) == len(expected) and not errors_notified(app)
                await pilot.press("escape")


# --- the fingerprint lists -------------------------------------------------------------------------------


async def test_fingerprint_lists_under_every_fault(consoles, transport: FaultyPage) -> None:
    """The known lists load one by one (the fault on the second); then the blocklist, not known, is opened by
    name, after which a hash is found on it. The blocklist is forgotten again before each fault."""
    app = lab_app("sepm", consoles, transport)
    blocklist = next(known for known in app.session.state.known_lists("lab-sepm") if known.name == DEMO_BLOCKLIST_NAME)
    known = len(app.session.state.known_lists("lab-sepm")) - 1
    async with app.run_test(size=(80, 24)) as pilot:
        await open_groups(pilot, app)
        await pilot.press("F")
        screen = app.screen
        assert isinstance(screen, FingerprintsScreen)

        async def enter(key: str, text: str | None = None) -> str:
            """Press `key` (and answer its prompt), let the screen load, and read its summary."""
            await pilot.press(key)
            if text is not None:
                screen.query_one("#fp-input", Input).value = text
                await pilot.press("enter")
            await wait_until(pilot, lambda: not busy(screen))
            await pilot.pause()
            return str(screen.query_one("#fp-summary").render())

        for name, fault in FAULTS.items():
            with cell(name):
                app.session.state.forget_list("lab-sepm", blocklist.id)
                transport.arm(fault, FINGERPRINT_LISTS, page=2)
                await enter("ctrl+r")
                transport.assert_hit()
                if not fault.absorbed:
                    await assert_says(pilot, app, fault)
                    assert 0 < len(screen.lists) < known
                    assert "PARTIAL" in await enter("h", DEMO_FILES[0].sha256)
                    transport.clear()
                    app.clear_notifications()
                    await pilot.press("escape")
                    await enter("ctrl+r")
                assert len(screen.lists) == known and not errors_notified(app)
                assert "PARTIAL" not in str(screen.query_one("#fp-summary").render())

                transport.arm(fault, FINGERPRINT_LISTS)
                await enter("o", DEMO_BLOCKLIST_NAME)
                transport.assert_hit()
                if not fault.absorbed:
                    await assert_says(pilot, app, fault)
                    assert len(screen.lists) == known
                    transport.clear()
                    app.clear_notifications()
                    await enter("o", DEMO_BLOCKLIST_NAME)
                assert len(screen.lists) == known + 1 and not errors_notified(app)
                assert DEMO_BLOCKLIST_NAME in {listing.name for listing in screen.lists}
        found = await enter("h", DEMO_FILES[0].sha256)
        assert f"is on 1 of the {known + 1} known lists: {DEMO_BLOCKLIST_NAME}" in found


# --- TLS: a certificate the client must refuse -----------------------------------------------------------


@pytest.fixture(scope="module", params=["other host", "unknown CA"])
def refused_tls(request, tmp_path_factory) -> Iterator[tuple[str, str | bool, str]]:
    """A SEPM over TLS whose certificate the client must refuse: (URL, the profile's verify, expected words)."""
    folder: Path = tmp_path_factory.mktemp("refused-tls")
    authority = trustme.CA()
    host = "sepm.example.internal" if request.param == "other host" else "127.0.0.1"
    leaf = authority.issue_cert(host)
    tls = TlsFiles(cert_chain=folder / "chain.pem", key=folder / "key.pem")
    for pem in leaf.cert_chain_pems:
        pem.write_to_path(str(tls.cert_chain), append=True)
    leaf.private_key_pem.write_to_path(str(tls.key))
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    verify: str | bool = str(folder / "ca.pem") if request.param == "other host" else True
    words = "mismatch" if request.param == "other host" else "rejected"
    simulated = build_simulator("sepm", size=5, seed=1, now=FIXED_NOW)
    with ServerThread(simulated.app, tls=tls) as server:
        yield server.url, verify, words


async def test_a_refused_certificate_is_named_on_test_and_on_open(consoles, refused_tls) -> None:
    url, verify, words = refused_tls
    app = lab_app("sepm", consoles, url=url, verify=verify, allow_http=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await wait_until(pilot, lambda: "Test failed" in status_of(app))
        assert "certificate" in status_of(app) and words in status_of(app)
        assert "'." + "." not in status_of(app)  # Python's own reason ends in a period: one, not two
        await assert_alive(pilot, app)
        screen = await open_groups(pilot, app)
        assert "Load failed" in status_of(app) and "certificate" in status_of(app) and words in status_of(app)
        assert len(screen.inventory) == 0
        await assert_alive(pilot, app)
        await pilot.press("q")
        assert isinstance(app.screen, ConnectionsScreen)


async def test_a_refused_login_is_said_once(consoles) -> None:
    """Textual runs the worker handler of every class of a screen (the groups screen's, then ExplorerScreen's,
    which reports): the user reads the failure once, and is back at the connections."""
    app = lab_app("sepm", consoles, password="not-the-password")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectionsScreen) and bool(errors_notified(app)))
        await pilot.pause()
        refused = errors_notified(app)
        assert len(refused) == 1 and refused[0].startswith("Authentication failed: SEPM at 127.0.0.1 refused")
