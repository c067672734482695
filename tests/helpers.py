"""Everything the tests share, in one place: the fixed clock, the demo app and how to wait on it, what the
screen shows, secrets that must not leak, and what a hostile console can send (conftest.py holds only fixtures).

Test modules import it as `helpers` (pytest puts tests/ on sys.path: `pythonpath` in pyproject.toml) and never
import each other or conftest."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime

import tomli_w
from textual.command import CommandList
from textual.pilot import Pilot
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from screens.groups import GroupsScreen
from tui.app import ExplorerApp
from tui.cli import main
from tui.demo import build_demo
from tui.simulators.sepm import SepmFleet, SepmSimulator
from tui.simulators.serve import ServerThread
from tui.vendors.base import VendorClient
from widgets.device_table import DeviceTable

# Every UI test and snapshot sees the same moment, so ages ("4h") and definition dates never drift.
FIXED_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


def assert_no_secrets(error: BaseException, client: VendorClient, *secrets: str) -> None:
    """Neither the error's message, its repr nor the client's repr may carry a password, secret or token."""
    shown = " ".join((str(error), repr(error), repr(client), *map(str, error.args)))
    for secret in secrets:
        assert secret and secret not in shown, f"a secret leaked into: {shown}"


def vendor_app(simulator):
    """The ASGI app of a simulator (or of a test's subclass of one), made by its vendor's simulator module."""
    vendor_class = next(cls for cls in type(simulator).__mro__ if cls.__module__.startswith("tui.simulators."))
    return importlib.import_module(vendor_class.__module__).create_app(simulator)


class RecordingSimulator(SepmSimulator):
    """The simulator, also remembering every token it issued so tests can look for leaks."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.issued: list[str] = []

    def authenticate(self, username: str, password: str, domain: str) -> dict | None:
        body = super().authenticate(username, password, domain)
        if body is not None:
            self.issued.append(body["token"])
        return body


# The app under Pilot ------------------------------------------------------------------------------------


def demo_app(size: int = 300, *, writes: bool = False) -> ExplorerApp:
    """The app as `epx --demo` (`--demo-writes`) starts it, its remembered fingerprint lists included, on the
    fixed clock."""
    demo = build_demo(size, now=FIXED_NOW, writes=writes)
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)


WAIT_WITHIN = 60.0
"""How long `wait_until` waits at most: only a test that would hang meets it, so a slow CI machine never does."""
WORKER_GLANCE = 0.05
"""While a worker runs, how often `wait_until` looks at what it did so far: long workers (a followed command)
change the screen before they end."""


async def wait_until(pilot: Pilot, condition: Callable[[], object], *, within: float = WAIT_WITHIN) -> None:
    """Until `condition()` holds, looking again each time the app has done something: a worker ended (or, while
    one runs, every `WORKER_GLANCE` s), then every message pending was handled."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within:g} s")
        await _a_worker_ended(pilot.app)
        await pilot.pause()


async def _a_worker_ended(app: ExplorerApp) -> None:
    running = [asyncio.shield(_ended(worker)) for worker in app.workers if worker.is_running]
    if not running:
        return
    _, still_running = await asyncio.wait(running, timeout=WORKER_GLANCE, return_when=asyncio.FIRST_COMPLETED)
    for waiting in still_running:  # the shield keeps the worker itself running
        waiting.cancel()


async def _ended(worker: Worker) -> None:
    """The worker's end, whatever it was: its failure is the app's to report, and the test's to look for."""
    with suppress(WorkerFailed, WorkerCancelled):
        await worker.wait()


def loaded(app: ExplorerApp, count: int) -> Callable[[], bool]:
    """The groups screen has all `count` devices and says so."""
    return lambda: isinstance(app.screen, GroupsScreen) and len(app.screen.inventory) == count and \
        "devices" in str(app.screen.query_one("#status").render())


async def open_demo(pilot: Pilot, app: ExplorerApp, size: int) -> DeviceTable:
    """Open the highlighted demo connection and wait for its `size` devices."""
    await pilot.press("enter")
    await wait_until(pilot, loaded(app, size))
    await pilot.pause()
    return app.screen.query_one(DeviceTable)


def palette_listed(app: ExplorerApp) -> Callable[[], bool]:
    """The command palette lists what it found: its search runs in a worker, and none is running."""
    return lambda: bool(app.screen.query(CommandList)) and app.screen.query_one(CommandList).option_count > 0 \
        and not any(worker.is_running for worker in app.workers)


def notifications(app: ExplorerApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def screen_lines(app: ExplorerApp) -> list[str]:
    """The text of the screen as the terminal shows it, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


# What a console an attacker controls can send ----------------------------------------------------------
# Shared by the record, CLI and Pilot tests (test_untrusted_text.py), the paging and number tests and the
# real-terminal test (test_e2e_tmux.py).

HOSTILE = {
    "osc52": "\x1b]52;c;ZWNobyBwd25lZA==\x07",  # writes the responder's clipboard
    "osc8": "\x1b]8;;https://evil.example/\x1b\\here\x1b]8;;\x1b\\",  # plants a link
    "osc0": "\x1b]0;pwned\x07",  # retitles the window
    "csi": "\x1b[2J\x1b[H",  # clears the screen
    "c1-csi": "\u009b2J",  # the 8-bit CSI
    "bidi": "\u202egnp.exe",  # shows "exe.png" reversed
    "isolate": "\u2066x\u2069",
    "nul-del": "\x00a\x7f",
}
DANGER = ("\x1b", "\x07", "\x00", "\x7f", "\u009b", "\u202e", "\u2066", "\u2069")


def assert_harmless(text: str) -> None:
    found = [repr(char) for char in DANGER if char in text]
    assert not found, f"{', '.join(found)} reached the output: {text[:400]!r}"


# The `lab` connection `epx_against` writes, and the hostile consoles' account.
LAB_USERNAME, LAB_PASSWORD = "api-reader", "Hostile-Test-Pass-1"


class HostileFleet(SepmFleet):
    """The first computers' name, user, OS and address, one group's path and the version carry a payload each."""

    def __init__(self) -> None:
        super().__init__(40, seed=13)
        servers = next(group for group in self.groups if group["fullPathName"] == "My Company\\Servers")
        servers["fullPathName"] = servers["name"] = f"My Company\\Servers{HOSTILE['osc0']}"

    def computer(self, index: int) -> dict:
        record = super().computer(index)
        payloads = list(HOSTILE.values())
        if index < len(payloads):
            payload = payloads[index]
            record["computerName"] = f"host{index}{payload}"
            record["logonUserName"] = f"user{payload}"
            record["osName"] = f"Windows{payload}"
            record["ipAddresses"] = [f"10.9.9.{index}{payload}"]
        return record


class HostileSimulator(SepmSimulator):
    @property
    def version(self) -> dict[str, str]:
        return {**super().version, "version": f"14.3{HOSTILE['osc52']}"}


class RewritingApp:
    """An ASGI wrapper that makes a simulator misbehave the way a broken or hostile console would: requests to a
    path ending in `suffix` get their query rewritten, and their JSON answer rewritten, before the client sees it.
    `body` returns the new JSON value, or text to send as it is (JSON that no encoder would write).
    `requests` counts what reached that path (a listing that never ends shows here); past `limit` of them the
    path answers 410, so a client that would loop for ever fails its test instead of hanging it."""

    def __init__(self, app, suffix: str, *, query=None, body=None, form=None, limit: int = 50) -> None:
        self.app, self.suffix, self.query, self.body, self.form, self.limit = app, suffix, query, body, form, limit
        self.requests = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(self.suffix):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        if self.requests > self.limit:
            gone = b'{"message": "the test stopped a listing that never ends"}'
            await send({"type": "http.response.start", "status": 410,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(gone))]})
            await send({"type": "http.response.body", "body": gone})
            return
        if self.query is not None:
            scope = {**scope, "query_string": self.query(scope["query_string"].decode()).encode()}
        if self.form is not None:  # a form body (Elements' event search) rewritten like a query
            sent = b""
            while True:
                message = await receive()
                sent += message.get("body", b"")
                if not message.get("more_body"):
                    break
            rewritten = self.form(sent.decode()).encode()
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"content-length"]
                     + [(b"content-length", str(len(rewritten)).encode())]}

            async def receive():
                return {"type": "http.request", "body": rewritten, "more_body": False}
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    body = b"".join(chunks)
                    if self.body is not None and 200 <= start["status"] < 300:
                        answer = self.body(json.loads(body.decode("utf-8", "replace"), strict=False))
                        body = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def epx_against(app, tmp_path, monkeypatch, capsys, *argv: str, vendor: str = "sepm", username: str = LAB_USERNAME,
                password: str = LAB_PASSWORD) -> tuple[int, str, str]:
    """`epx ARGV --config … --connection lab` in-process, against `app` served on loopback: (exit, out, err)."""
    monkeypatch.setenv("EPX_TEST_HOSTILE_PASSWORD", password)
    with ServerThread(app) as server:
        config = tmp_path / "config.toml"
        config.write_text(tomli_w.dumps({"connections": {"lab": {
            "vendor": vendor, "url": server.url, "allow_http": True, "username": username,
            "password_env": "EPX_TEST_HOSTILE_PASSWORD"}}}))
        code = main([*argv, "--config", str(config), "--connection", "lab"])
    out, err = capsys.readouterr()
    return code, out, err
