"""Everything the tests share, in one place: the fixed clock, the demo app and how to wait on it, what the
screen shows, secrets that must not leak, and what a hostile console can send (conftest.py holds only fixtures).

Test modules import it as `helpers` (pytest puts tests/ on sys.path: `pythonpath` in pyproject.toml) and never
import each other or conftest."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import pytest
import tomli_w
from hypothesis import strategies as st
from textual import events
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from screens.events import EventsScreen
from screens.groups import GroupsScreen
from tui.app import ExplorerApp
from tui.cli import main
from tui.demo import Demo, build_demo
from tui.events_load import EventsLoad
from tui.fleet_load import FleetLoad, load_console
from tui.models import Device, Event, EventWindow, Group, Health
from tui.session import Session
from tui.simulators.elements import ElementsEventLog, ElementsFleet
from tui.simulators.epmm import EpmmFleet
from tui.simulators.sepm import SepmEventLog, SepmFleet, SepmSimulator
from tui.simulators.serve import ServerThread
from tui.vendors.base import VendorClient
from tui.vendors.facets import EventSource, LabelMembership
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


async def tick(pilot: Pilot, checkbox: str) -> None:
    """Click the checkbox `checkbox` (a selector) where it is drawn now, and wait until it is ticked."""
    await click(pilot, checkbox)
    await wait_until(pilot, lambda: pilot.app.screen.query_one(checkbox, Checkbox).value)


async def focus_by_click(pilot: Pilot, widget: str) -> None:
    """Click the widget `widget` (a selector) where it is drawn now, and wait until it has the focus."""
    await click(pilot, widget)
    await wait_until(pilot, lambda: pilot.app.focused is pilot.app.screen.query_one(widget))


async def click(pilot: Pilot, widget: str) -> None:
    """`pilot.click` aims at the layout Textual last computed; a line that appeared just before (a field's
    error) can move the widget, and on a busy machine the click then lands on its neighbour. `pilot.pause`
    lays the screen out first."""
    await pilot.pause()
    assert await pilot.click(widget), f"the click missed {widget}"


TYPED_CHARACTERS = {"slash": "/", "enter": "\r", "escape": None}


def type_ahead(app: ExplorerApp, *keys: str) -> None:
    """Keys read in one burst, as a fast typist or a paste sends them: all are queued before the app handles the
    first (`Pilot.press` waits for the app after each key, so it never types ahead)."""
    for key in keys:
        app.post_message(events.Key(key, TYPED_CHARACTERS.get(key, key if len(key) == 1 else None)))


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
    "markup": "[/x][link=https://evil.example/]y[/link]",  # Rich markup: a crash, or a link, where text is parsed
}
DANGER = ("\x1b", "\x07", "\x00", "\x7f", "\u009b", "\u202e", "\u2066", "\u2069")


def assert_harmless(text: str) -> None:
    found = [repr(char) for char in DANGER if char in text]
    assert not found, f"{', '.join(found)} reached the output: {text[:400]!r}"


# The `lab` connection `epx_against` writes, and the hostile consoles' account.
LAB_USERNAME, LAB_PASSWORD = "api-reader", "Hostile-Test-Pass-1"


class HostileFleet(SepmFleet):
    """The first computers' name, user, OS and address, one group's path and the version carry a payload each
    (the group two: a control sequence and Rich markup)."""

    def __init__(self) -> None:
        super().__init__(40, seed=13)
        servers = next(group for group in self.groups if group["fullPathName"] == "My Company\\Servers")
        servers["fullPathName"] = servers["name"] = f"My Company\\Servers{HOSTILE['osc0']}{HOSTILE['markup']}"

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


# Answers captured from real consoles: their seed tests parse them, the fuzz tests mutate them ----------
# SEPM 14 REST API reference (seed 000_72b2ea4bc55ce9c6.txt), verbatim; test_sepm_seed_payloads.py.

SEED_AUTHENTICATE = """{
  "domain": "Default",
  "refreshToken": "cab16df1-58a2-4b8a-ad70-7b023db34025",
  "refreshTokenExpiration": 43199,
  "role": {
    "bitMask": 8,
    "title": "sysadmin"
  },
  "adminId": "AF3C39A10A320801000000DBF200C60A",
  "clientId": "4767c33a-99be-4ef9-b41f-e8db00da10ee",
  "clientSecret": "b65a52eb-c153-43f5-b9bd-6d2f0b43394f",
  "bannerTitle": "",
  "bannerText": "",
  "username": "admin",
  "fullname": null,
  "token": "c34692c5-201d-4d94-b0f8-61ed03383337",
  "tokenExpiration": 43199,
  "permissionSet": {
    "reportingRights": true,
    "groupRights": true,
    "siteRights": true,
    "remoteCommandRights": true,
    "policyRights": true
  },
  "domainid": "FC1716470A931BA765167FEC6FDA9A5C"
}"""
SEED_GROUPS = """{
  "content": [
    {
      "id": "EF9C029A0A931BA7246C99C00F39133C",
      "name": "Default Group",
      "description": "",
      "fullPathName": "My Company\\\\Default Group",
      "numberOfPhysicalComputers": 1,
      "numberOfRegisteredUsers": 1,
      "createdBy": "AF3C39A10A320801000000DBF200C60A",
      "created": 1477983046292,
      "lastModified": 1477983046292,
      "policySerialNumber": "EF9C-11/08/2016 12:21:22 652",
      "policyDate": 1478607682652,
      "customIpsNumber": "",
      "childGroups": null,
      "domain": {
        "id": "FC1716470A931BA765167FEC6FDA9A5C",
        "name": "Default"
      },
      "policyInheritanceEnabled": false
    },
    {
      "id": "4541012E0A931BA7085259C3220013FB",
      "name": "My Company",
      "description": "",
      "fullPathName": "My Company",
      "numberOfPhysicalComputers": 0,
      "numberOfRegisteredUsers": 0,
      "createdBy": "AF3C39A10A320801000000DBF200C60A",
      "created": 1477983046292,
      "lastModified": 1477983046292,
      "policySerialNumber": "4541-11/08/2016 12:21:22 652",
      "policyDate": 1478607682652,
      "customIpsNumber": "",
      "childGroups": null,
      "domain": {
        "id": "FC1716470A931BA765167FEC6FDA9A5C",
        "name": "Default"
      },
      "policyInheritanceEnabled": false
    }
  ]
}"""
# The fingerprint list example is split across a page break in the document; these are its two halves.
SEED_FINGERPRINTS = """{
  "id": "20F543E30ADA144447A5FAAA370633DF",
  "name": "Whitelist",
  "hashType": null,
  "source": null,
  "description": "",
  "data": [
    "1F1DB67B07175194CE17ACAADC1B6AF5",
    "2B026E4B17034FE53BF3E660A61666FC",
    "3D5FFCC5C2709DF095D1F1CC8AE9747F",
    "570D47645E35D68B3985098BB98A357B",
    "A1E419B82CD4C6B60C1A5A0B7336DB3A",
""" + """
        "BE13A88AE7196C1FE69314F328583162",
        "C2854A94987062EF750D72DC5525F0D8",
        "C9524B84BE07A1FF9DCF6BA12F76C4E4",
        "D17449D456CD8A3CBCB318C86B2B5156",
        "E0758A56E04D50EBEDB6DEB35D035855",
        "F4C9381A3B265EC5F1CEF1DEC638E0E9"
    ],
    "groupIds": []
}"""

# WithSecure Elements getting-started guide (seed 004_58518813d11aec9c.txt); test_elements_seed_payloads.py.
SEED_TOKEN = """{"access_token":"FdZTq11111116v67lSOx7vyFM2ssnIha","token_type":"Bearer","expires_in":1797}"""

# SEPM fact sheet captures; test_events_sepm.py.
CAPTURED_CRITICAL_EVENTS = {
    "lastUpdated": 1720622406545,
    "totalUnacknowledgedMessages": 44,
    "criticalEventsInfoList": [
        {"eventId": "388DC550092E5BB9462D7353CF5066D4", "eventDateTime": "2024-06-26 14:02:50.0",
         "subject": "Server Health Alert",
         "message": "Server c95648v1 health status: poor. \nReason: The Symantec Endpoint Protection Manager server "
                    "does not have Symantec Endpoint Protection installed. \nStatus reported on Jun 26, 2024 "
                    "7:02:34 AM.",
         "acknowledged": 0},
        {"eventId": "00AEA0F3092E5BB9462D7353169FDC4E", "eventDateTime": "2024-06-26 14:29:46.0",
         "subject": "Informational: Symantec Endpoint Protection Computer List Changed",
         "message": "Number of clients changed: 1.  Changes could be that a client was added, renamed, or deleted, "
                    "Unmanaged Detector status changed, client mode changed, or the hardware changed.",
         "acknowledged": 0},
    ],
}
"""Fact sheet 10.1, the 14.3 capture (2 of 44 items), verbatim."""
CAPTURED_COMMAND_STATUS_TEXT = r"""{
  "sort": [{"direction": "ASC", "property": "Begintime", "ascending": true}],
  "number": 0, "firstPage": true, "lastPage": true, "totalPages": 1, "size": 20,
  "totalElements": 2, "numberOfElements": 2,
  "content": [
    {"computerName": "johnq1", "subStateId": 0, "binaryFileId": null, "lastUpdateTime": null,
     "domainName": "Default", "hardwareKey": "B791D1DF2BB8AA77D19B10E3BB395B81", "subStateDesc": null,
     "stateId": 0, "computerId": "236A7100A9FE9DC50A4F1AC2819C158E", "computerIp": "192.168.56.104",
     "beginTime": null, "currentLoginUserName": "root", "resultInXML": null},
    {"computerName": "WIN-N5KGH4CP3N3", "subStateId": 0, "binaryFileId": null,
     "lastUpdateTime": "2019-06-06T10:45:39Z", "domainName": "Default",
     "hardwareKey": "DC7D24D6465566D2941F35BC8D17801E", "subStateDesc": "", "stateId": 3,
     "computerId": "89AD1BBB0946C25D25E6C0984E971D8A", "computerIp": "192.168.194.93",
     "beginTime": "2019-06-06T10:42:37Z", "currentLoginUserName": "Administrator",
     "resultInXML": "<EOC creator=\"Resilient\" version=\"1.0\" id=\"id\">…<File name=\"\" action=\"create\"><Hash name=\"MD5\" value=\"582f9b6e0cc4c1dbbd772aaaf088cb3a\"/><Matched result=\"NO_MATCH\"/></File>…</EOC>"}
  ]
}"""
"""Fact sheet 9.4, the 14.2 capture (resultInXML shortened there), verbatim: the body a stub serves as sent."""
CAPTURED_COMMAND_STATUS = json.loads(CAPTURED_COMMAND_STATUS_TEXT)


# Fuzzing (test_fuzz*.py): arbitrary JSON, weighted towards the values that reach deep code -------------

TRICKY_TEXT = st.sampled_from([
    "", " ", "0", "1", "3", "4", "127", "-1", "NaN", "-Infinity", "1e400", "null", "true", "None", "9" * 30,
    "9" * 5000, "1.²", "٣.١", "14.3.9717.7000", "14.2", "240820021", "991231001", "000000", "2024-06-26 14:02:50.0",
    "2019-06-06T10:42:37Z", "2022-11-05t07:08:59.550z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00",
    "1720622406545", "99999999999999999999", "critical", "important", "allOk", "disabled", "missingCriticalUpdates",
    "RETIRED", "LOST", "Compromised", "ios", "Android", "windows", "********", "(obfuscated)", "a,b;c", "10.0.0.5/24",
    "<b>x</b><br/>Computer: PC-1", "&lt;a href=&quot;https://x&quot;&gt;y&lt;/a&gt;", "<![x[", "<!DOCTYPE a>",
    "\x1b[31mred", "\u202eevil", "\ud7ff\U0010ffff", "line\r\nbreak\u2028", "HASH_MATCH", "CRITICAL: RISK",
])
TEXT = st.one_of(st.text(max_size=24), TRICKY_TEXT)
INTS = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 127, -1, 2**31, 2**53 + 1, 2**63, -(2**63), 2**64]),
                 st.integers(min_value=-(2**64), max_value=2**64))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(allow_nan=False, allow_infinity=False), TEXT)
"""What orjson can hand over: integers beyond 64 bits arrive as floats, NaN and infinities are refused."""
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=8,
)


def dicts_in(node: object) -> list[dict]:
    """Every dict inside `node` (itself first), the places a mutation can land."""
    found: list[dict] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict] | st.SearchStrategy, focus: frozenset[str] = frozenset()) -> dict:
    """A real record with a few keys, anywhere in it, dropped, added, or replaced by arbitrary JSON or by
    their own value in the wrong shape (wrapped in a list or a dict, turned into text). Half the time the key
    is one of `focus`, the fields the parser reads, so that a record of a hundred fields still reaches them.
    `bases` are the records to start from, or a strategy that makes them."""
    record = copy.deepcopy(draw(bases if isinstance(bases, st.SearchStrategy) else st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(dicts_in(record)))
        if not target or draw(st.integers(0, 5)) == 0:
            target[draw(st.one_of(st.text(max_size=12), st.sampled_from(sorted(target) or [""])))] = draw(JSON)
            continue
        read = sorted(focus.intersection(target))
        key = draw(st.sampled_from(read if read and draw(st.booleans()) else sorted(target)))
        how = draw(st.sampled_from(("drop", "json", "list", "dict", "text")))
        if how == "drop":
            del target[key]
        else:
            value = target[key]
            target[key] = {"json": lambda: draw(JSON), "list": lambda: [value], "dict": lambda: {"value": value},
                           "text": lambda: str(value)}[how]()
    return record


def anything(bases: list[dict]) -> st.SearchStrategy:
    """A mutated real record most of the time, else any JSON value at all."""
    return st.one_of(mutated(bases), mutated(bases), JSON)


# The real payloads the mutations start from ------------------------------------------------------------

SEPM_FLEET = SepmFleet(size=40, seed=11, now=FIXED_NOW)
SEPM_COMPUTERS = [SEPM_FLEET.computer(index) for index in range(40)] + [
    SepmFleet(size=5, seed=2, now=FIXED_NOW, legacy_os_keys=True).computer(index) for index in range(5)]
SEPM_GROUPS = SEPM_FLEET.groups + json.loads(SEED_GROUPS)["content"]
SEPM_CRITICAL_EVENTS = CAPTURED_CRITICAL_EVENTS["criticalEventsInfoList"] + SepmEventLog(SEPM_FLEET).events[:20]
EOC_RESULT = ('<EOC creator="Endpoint Explorer" version="1.1" id="1"><Activity><OS id="1"><Files>'
              '<File name="Invoice.pdf.exe" action="write"><Hash name="MD5" value="da1a8a89467b0e326deb152c3944e979"/>'
              '<Matched result="HASH_MATCH" hashType="MD5" hashValue="DA1A8A89467B0E326DEB152C3944E979" '
              'remediation="SUCCEEDED" value="C:\\Users\\Public\\Downloads\\Invoice.pdf.exe"/></File>'
              '</Files></OS></Activity></EOC>')
SEPM_COMMAND_ROWS = CAPTURED_COMMAND_STATUS["content"] + [
    {**CAPTURED_COMMAND_STATUS["content"][1], "subStateId": 101, "resultInXML": EOC_RESULT,
     "binaryFileId": "CD02BC8E0A6606D53533F2428BB86D4E"}]
SEPM_COMMANDS = [{"commandId": "4C697374D15C433880A56800BAC25E56", "commandType": "EOC",
                  "beginTime": "2026-11-25T10:42:37Z", "binaryFileId": None}]
SEPM_FINGERPRINTS = [json.loads(SEED_FINGERPRINTS)]

EPMM_FLEET = EpmmFleet(size=40, seed=11, now=FIXED_NOW)
EPMM_DEVICES = [EPMM_FLEET.device(index) for index in range(40)]
EPMM_SPACES = EPMM_FLEET.spaces
EPMM_LABELS = EPMM_FLEET.labels(1)

ELEMENTS_FLEET = ElementsFleet(size=40, seed=11, now=FIXED_NOW)
ELEMENTS_DEVICES = [ELEMENTS_FLEET.device(index) for index in range(40)]
ELEMENTS_ORGANIZATIONS = [ELEMENTS_FLEET.partner, *ELEMENTS_FLEET.companies]
_ELEMENTS_LOG = ElementsEventLog(ELEMENTS_FLEET)
ELEMENTS_EVENTS = [_ELEMENTS_LOG.event(position) for position in range(0, len(_ELEMENTS_LOG), max(1, len(_ELEMENTS_LOG) // 40))]


# What a well-formed record is ---------------------------------------------------------------------------

def aware_utc(moment: object) -> bool:
    return moment is None or (isinstance(moment, datetime) and moment.utcoffset() == timedelta(0))


def optional_bool(value: object) -> bool:
    return value is None or isinstance(value, bool)


def check_device(device: Device) -> None:
    """Typed fields, as the table, the filters and the CLI's JSON rely on them."""
    assert isinstance(device, Device)
    for text in (device.vendor, device.connection, device.id, device.name, device.os, device.group, device.user):
        assert isinstance(text, str)
    assert device.group_id is None or isinstance(device.group_id, str), device.group_id
    assert all(isinstance(item, str) for item in (*device.ip_addresses, *device.labels, *device.health_reasons))
    assert isinstance(device.health, Health)
    assert optional_bool(device.online) and optional_bool(device.missing_critical_patches)
    assert aware_utc(device.last_seen)
    json.dumps(device.to_json())
    assert isinstance(device.raw, dict)


def check_event(event: Event | None) -> None:
    if event is None:
        return
    assert isinstance(event, Event) and aware_utc(event.time) and aware_utc(event.device_time)
    for text in (event.id, event.engine, event.category, event.title, event.message, event.organization):
        assert isinstance(text, str)
    assert event.device_id is None or isinstance(event.device_id, str)
    assert event.device_name is None or isinstance(event.device_name, str)
    json.dumps(event.to_json())


def check_groups(groups: list[Group]) -> None:
    ids = {group.id for group in groups}
    for group in groups:
        assert isinstance(group.id, str) and isinstance(group.name, str)
        assert all(isinstance(part, str) for part in group.path)
        assert group.parent_id is None or group.parent_id in ids
        json.dumps(group.to_json())


SEPM_READS = frozenset({
    "infected", "apOnOff", "avEngineOnOff", "firewallOnOff", "tamperOnOff", "bashStatus", "rebootRequired",
    "avDefsetVersion", "deploymentRunningVersion", "agentVersion", "deploymentTargetVersion", "onlineStatus", "group",
    "id", "name", "fullPathName", "ipAddresses", "lastUpdateTime", "uniqueId", "hardwareKey", "computerName", "osName",
    "osname", "operatingSystem", "logonUserName"})
"""The fields of a computer that `sepm.computer_to_device` reads."""


# --- snapshots ---

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
"""The two terminal sizes every snapshot is taken at."""


def loads_done(screen) -> bool:
    if isinstance(screen, GroupsScreen):
        return bool(screen.fleet.consoles) and not screen.loading
    return not isinstance(screen, EventsScreen) or not screen.pending


async def settle(pilot: Pilot) -> None:
    """Stop cursors blinking and let workers finish, so two runs draw the same frame."""
    await wait_until(pilot, lambda: loads_done(pilot.app.screen))
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


# --- loading without the UI ---


async def load_demo_consoles(size: int, *, labels: bool = False, now: datetime = FIXED_NOW) -> tuple[FleetLoad, Demo]:
    """Every demo console loaded completely through `load_console` into a `FleetLoad`, as the groups screen does
    (with `labels`, the members of EPMM's All-Smartphones label too), on a clock stopped at `now`."""
    demo = build_demo(size, now=now)
    session = Session(demo.config, transports=demo.transports, clock=lambda: now)
    fleet = FleetLoad(list(demo.config.connections), clock=session.now)
    fleet.start()
    try:
        for name, connection in demo.config.connections.items():
            client = session.client_for(connection, connection.password)
            known = ["-1"] if labels and isinstance(client, LabelMembership) else []
            async for step in load_console(client, known):
                fleet.take(name, step)
            fleet.console_done(name, None)
    finally:
        await session.close()
    return fleet, demo


async def load_demo_events(size: int, span: timedelta, *, now: datetime = FIXED_NOW) -> EventsLoad:
    """The last `span` of events of every demo console that has events, loaded through its client into an
    `EventsLoad` as the events screen does (each console's listing ending in turn), on a clock stopped at `now`."""
    demo = build_demo(size, now=now)
    session = Session(demo.config, transports=demo.transports, clock=lambda: now)
    try:
        clients = [session.client_for(connection, connection.password)
                   for connection in demo.config.connections.values()]
        sources = [client for client in clients if isinstance(client, EventSource)]
        feed = EventsLoad([client.connection.name for client in sources], EventWindow.last(span, now))
        feed.start(feed.window)
        for client in sources:
            async for page in client.events(feed.window):
                feed.take(page)
            feed.console_done(None)
    finally:
        await session.close()
    return feed
