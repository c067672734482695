"""End to end: the installed `epx --demo` in a real terminal (tmux), driven with send-keys, read with capture-pane.

Each test runs its own tmux server (`tmux -L <unique>`, with a config of our own), so a user's sessions are
never touched, and the server is always killed at the end. The app gets a clean environment: TERM, a UTF-8
locale and a temporary HOME / XDG dirs, so no real config is read or written.

epx runs under a tiny `sh` that writes its exit status to a file when it ends. We do not use tmux's
`#{pane_dead_status}` for that: tmux builds linked with libutempter (Debian, Ubuntu) reset SIGCHLD to its
default while they remove the utmp record of a closing pane, and a child that exits in that moment is never
reaped, so the status stays empty for good (it happens to a bare Textual app too). The pane is kept after
the process exits (`remain-on-exit`), so whatever epx printed on the way out (a traceback) can still be read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import LAB_PASSWORD, LAB_USERNAME, HostileFleet, HostileSimulator
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME, DEMO_FILES
from tui.simulators.serve import ServerThread

TMUX = shutil.which("tmux")
EPX = Path(sys.executable).parent / "epx"
ENV = shutil.which("env") or "/usr/bin/env"
SH = shutil.which("sh") or "/bin/sh"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (the end-to-end tests drive epx inside tmux)"),
    pytest.mark.skipif(
        not EPX.exists(),
        reason=f"the epx console script is not installed next to {sys.executable} (pip install -e '.[test]')",
    ),
]

DEFAULT_TIMEOUT = 15.0  # CI machines are slow; every wait is bounded by this
KEY_PAUSE = 0.15  # after each key: Textual needs a moment, above all between escape and the next key
POLL = 0.05  # tmux capture-pane has no event to wait on: look often, a capture costs a few ms
# Anything on screen that means the app crashed or a worker failed unexpectedly.
CRASH_MARKERS = ("Traceback", "Unexpected error")

TMUX_CONF = """\
set -g status off
set -g remain-on-exit on
set -g history-limit 2000
"""


class Terminal:
    """One tmux server running one `epx --demo` pane; every capture is checked for crash markers."""

    def __init__(self, socket: str, conf: Path, client_env: dict[str, str], home: Path, status_file: Path) -> None:
        self.socket = socket
        self.conf = conf
        self.client_env = client_env
        self.home = home
        self.status_file = status_file
        self.socket_path: str | None = None

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-u", "-L", self.socket, "-f", str(self.conf), *args],
            env=self.client_env, capture_output=True, text=True, encoding="utf-8", errors="replace",
            timeout=10, check=check,
        )

    def start(self, width: int, height: int, app_command: list[str]) -> None:
        """Run `app_command` in a detached session of exactly width x height; its exit status goes to a file."""
        partial = shlex.quote(f"{self.status_file}.part")
        script = f'"$@"; echo $? > {partial} && mv {partial} {shlex.quote(str(self.status_file))}'
        command = [SH, "-c", script, "epx-e2e", *app_command]
        self.tmux("new-session", "-d", "-s", "epx", "-x", str(width), "-y", str(height), "--", *command)
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").stdout.strip() or None
        size = self.tmux("display-message", "-p", "-t", "epx", "#{pane_width}x#{pane_height}").stdout.strip()
        assert size == f"{width}x{height}", f"tmux pane is {size}, wanted {width}x{height}"

    def kill(self) -> None:
        """Stop this test's tmux server (and so epx, if still running) and remove its socket file."""
        try:
            self.tmux("kill-server", check=False)
        except (OSError, subprocess.SubprocessError):
            pass
        if self.socket_path:  # tmux 3.3 leaves the socket file behind after kill-server
            Path(self.socket_path).unlink(missing_ok=True)

    # Reading the screen -----------------------------------------------------------------------------

    def capture(self, *, history: bool = False) -> str:
        """The visible screen; with `history`, from the start of the scrollback (what epx printed on exit)."""
        screen = self.tmux("capture-pane", "-p", "-t", "epx", *(["-S", "-"] if history else [])).stdout
        for marker in CRASH_MARKERS:
            assert marker not in screen, f"{marker!r} on screen:\n{screen}"
        return screen

    def pane_dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", "epx", "#{pane_dead}").stdout.strip() == "1"

    def exit_status(self) -> int | None:
        return int(self.status_file.read_text().strip()) if self.status_file.exists() else None

    def wait_until(self, predicate: Callable[[str], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Poll until `predicate` holds on a settled screen (two captures in a row alike); return that screen.

        A capture can catch a frame half drawn, so one matching capture is not enough to assert on.
        """
        deadline = time.monotonic() + timeout
        previous = None
        while True:
            screen = self.capture()
            if predicate(screen):
                if screen == previous:
                    return screen
                previous = screen
            else:
                previous = None
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last screen:\n{screen}")
                if self.pane_dead():
                    raise AssertionError(f"epx exited (status {self.exit_status()}) while waiting for {what}; "
                                         f"screen:\n{self.capture(history=True)}")
            time.sleep(POLL)

    def wait_for(self, text: str | re.Pattern[str], timeout: float = DEFAULT_TIMEOUT) -> str:
        """Poll the screen until `text` (a string, or a compiled regex) is on it; return that screen."""
        if isinstance(text, re.Pattern):
            return self.wait_until(lambda screen: text.search(screen) is not None, f"/{text.pattern}/", timeout)
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def wait_gone(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        return self.wait_until(lambda screen: text not in screen, f"{text!r} to go away", timeout)

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait until epx has ended and its pane has closed; return epx's exit status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.exit_status()
            if status is not None and self.pane_dead():
                return status
            if time.monotonic() > deadline:
                state = "is still running" if status is None else f"ended ({status}) but its pane is still open"
                raise AssertionError(f"epx {state} {timeout:g}s after quitting; screen:\n{self.capture(history=True)}")
            time.sleep(POLL)

    # Typing -----------------------------------------------------------------------------------------

    def key(self, name: str) -> None:
        """One named key (Enter, Escape, C-q), then a pause."""
        self.tmux("send-keys", "-t", "epx", name)
        time.sleep(KEY_PAUSE)

    def type(self, text: str) -> None:
        """Literal characters, one send-keys call each, with a pause after each."""
        for char in text:
            self.tmux("send-keys", "-t", "epx", "-l", char)
            time.sleep(KEY_PAUSE)

    def paste(self, text: str) -> None:
        """Literal characters in one send-keys call, as a paste (a hash into an input field), then a pause."""
        self.tmux("send-keys", "-t", "epx", "-l", text)
        time.sleep(KEY_PAUSE)


@pytest.fixture
def terminal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Start `epx --demo` in a fresh tmux server of the given size; the server is killed whatever happens."""
    home = tmp_path / "home"
    for sub in ("config", "data", "cache", "state"):
        (home / sub).mkdir(parents=True)
    conf = tmp_path / "tmux.conf"
    conf.write_text(TMUX_CONF, encoding="utf-8")
    path = os.pathsep.join([str(EPX.parent), "/usr/local/bin", "/usr/bin", "/bin"])
    client_env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    app_env = {
        **client_env,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    socket = f"epx-e2e-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    term = Terminal(socket, conf, client_env, home, tmp_path / "epx.status")
    request.addfinalizer(term.kill)

    def start(width: int, height: int, *arguments: str, demo: bool = True, **environment: str) -> Terminal:
        """`epx --demo ARGUMENTS`, or with `demo=False` `epx ARGUMENTS` (a config of the test's own)."""
        variables = {**app_env, **environment}
        command = [ENV, "-i", *(f"{k}={v}" for k, v in variables.items()), str(EPX), *(["--demo"] if demo else []),
                   *arguments]
        term.start(width, height, command)
        return term

    yield start


TABLE_HEADER = re.compile(r"Health\s+Name\s+Seen")
# The groups screen's status line, e.g. "SEPM 14.3.25029.9000 · 500 devices · enter details · tab tree/table".
STATUS_LINE = re.compile(r"^\s*SEPM \S+ · ")
LOADED = re.compile(r"^\s*SEPM [\d.]+ · 500 devices · ", re.MULTILINE)
DETAIL_HEALTH = re.compile(r"^\s*Health\s+critical\b", re.MULTILINE)
CRITICAL_BAR = re.compile(r"\b(\d+) critical of 500\b")


def device_rows(screen: str) -> list[tuple[str, str]]:
    """(health cell, name) of every device row visible between the table header and the status line."""
    lines = screen.splitlines()
    header_at = next((i for i, line in enumerate(lines) if TABLE_HEADER.search(line)), None)
    assert header_at is not None, f"no device table header on screen:\n{screen}"
    status_at = next((i for i, line in enumerate(lines) if i > header_at and STATUS_LINE.search(line)), None)
    assert status_at is not None, f"no status line under the device table:\n{screen}"
    # The tree and the table are split by the tree's right border; columns are counted from there.
    header = lines[header_at].split("▕", 1)[-1]
    health_col, name_col = header.index("Health"), header.index("Name")
    rows = []
    for line in lines[header_at + 1:status_at]:
        right = line.split("▕", 1)[-1]
        health = right[health_col:name_col].strip()
        if health:  # blank: an empty line or a scrollbar
            rest = right[name_col:].split()
            rows.append((health, rest[0] if rest else ""))
    return rows


@pytest.mark.parametrize("width,height", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_demo_journey(terminal: Callable[[int, int], Terminal], width: int, height: int) -> None:
    term = terminal(width, height)

    # Connections screen: the demo profile; enter opens it.
    term.wait_until(lambda s: "demo-sepm" in s and "Connections" in s, "the connections screen with demo-sepm")
    term.key("Enter")

    # Groups screen, everything loaded: the status line says so and the tree count has no "+".
    screen = term.wait_until(lambda s: LOADED.search(s) is not None and "All devices (500)" in s,
                             "all 500 devices loaded (status line and tree)")
    before = device_rows(screen)
    assert before, f"no device rows on screen:\n{screen}"
    assert any(health != "● crit" for health, _ in before), f"unfiltered table shows only critical rows:\n{screen}"

    # c: only the critical devices, every visible row says so.
    term.type("c")
    screen = term.wait_for(CRITICAL_BAR)
    shown = int(CRITICAL_BAR.search(screen).group(1))  # type: ignore[union-attr]
    assert 0 < shown < 500, screen
    rows = device_rows(screen)
    assert len(rows) >= min(shown, 10), f"expected at least {min(shown, 10)} device rows:\n{screen}"
    not_critical = [row for row in rows if row[0] != "● crit"]
    assert not not_critical, f"rows that are not critical after c: {not_critical}\n{screen}"
    critical_names = {name for _, name in rows}

    # enter: the detail of the device under the cursor, one of the critical rows.
    term.key("Enter")
    screen = term.wait_for(DETAIL_HEALTH)
    name = re.search(r"^\s*Name\s+(\S+)", screen, re.MULTILINE)
    assert name and name.group(1) in critical_names, f"detail is not of a listed critical device:\n{screen}"

    # escape: back on the table, still filtered.
    term.key("Escape")
    screen = term.wait_until(lambda s: DETAIL_HEALTH.search(s) is None and CRITICAL_BAR.search(s) is not None,
                             "the filtered device table after escape")
    assert all(health == "● crit" for health, _ in device_rows(screen)), screen

    # ?: the help lists this screen's keys, the critical filter among them.
    term.type("?")
    screen = term.wait_for("Keys · demo-sepm")
    assert re.search(r"\bc\s+Show only critical devices", screen), f"help lacks the c key:\n{screen}"
    term.key("Escape")
    term.wait_gone("Keys · demo-sepm")

    # q: back to the connections.
    term.type("q")
    term.wait_until(lambda s: "Connections" in s and "Demo: simulated consoles" in s, "the connections screen")

    # ctrl+q: epx exits with status 0, its pane closes, nothing alarming was printed on the way out.
    term.key("C-q")
    status = term.wait_exit()
    after = term.capture(history=True)  # checked for crash markers like every capture
    assert status == 0, f"epx exited with status {status}:\n{after}"

    # Demo mode writes nothing under HOME (no config, no backup).
    written = [p for p in term.home.rglob("*") if p.is_file()]
    assert not written, f"epx --demo wrote files: {written}"


FLEET = 100_000
FLEET_LOADED = re.compile(r"· 100,000 devices\b")  # the status line once loaded (loading: "… / 100,000 loaded")
MATCHING_BAR = re.compile(r"\b([\d,]+) matching of 100,000\b")
FLEET_CRITICAL_BAR = re.compile(r"\b([\d,]+) critical of 100,000\b")


@pytest.mark.parametrize("width,height", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_triage_journey_over_a_100000_device_fleet(terminal: Callable[..., Terminal], width: int, height: int) -> None:
    term = terminal(width, height, "--demo-size", str(FLEET))
    term.wait_until(lambda s: "demo-elements" in s and "Connections" in s, "the connections screen", timeout=60)
    term.key("Down")
    term.key("Down")
    term.key("Enter")
    term.wait_for(FLEET_LOADED, timeout=90)

    # / and a text: the bar counts the matches against the whole fleet; the rows all match.
    term.type("/desktop")
    screen = term.wait_for(MATCHING_BAR)
    matching = int(MATCHING_BAR.search(screen).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < matching < FLEET, screen
    term.key("Enter")

    # c on top: fewer, and every row on screen is a critical desktop.
    term.type("c")
    screen = term.wait_for(FLEET_CRITICAL_BAR)
    critical = int(FLEET_CRITICAL_BAR.search(screen).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < critical < matching, screen
    rows = [line for line in screen.splitlines() if "DESKTOP-" in line]
    assert rows and all("● " in line for line in rows), screen  # "● crit", or "● blck" for a blocked one

    # enter: the highlighted device's detail says why it is critical; esc: back to the filtered table.
    term.key("Enter")
    screen = term.wait_for(re.compile(r"^\s*Health {2,}critical", re.MULTILINE))
    assert DEVICE_NAME.search(screen).group(1).startswith("DESKTOP-"), screen  # type: ignore[union-attr]
    term.key("Escape")
    term.wait_for(FLEET_CRITICAL_BAR)

    # G: the last row; y then i: its id is copied and the notification names the device.
    term.type("G")
    time.sleep(KEY_PAUSE)
    term.type("y")
    screen = term.wait_for("Copy from DESKTOP-")
    name = re.search(r"Copy from (DESKTOP-\S+)", screen).group(1)  # type: ignore[union-attr]
    term.type("i")
    term.wait_for(f"Copied the id of {name}")

    # esc clears the filters, the whole fleet is back; q, then ctrl+q exits cleanly.
    term.key("Escape")
    term.wait_until(lambda s: "100,000 devices · " in s and FLEET_CRITICAL_BAR.search(s) is None, "the unfiltered fleet")
    term.type("q")
    term.wait_for("Connections")
    term.key("C-q")
    assert term.wait_exit() == 0


ELEMENTS_LOADED = re.compile(r"Elements API \S+ · 500 devices\b")
TIMELINE_BAR = re.compile(r"Last 24 h \S+ \S+ → \S+ \S+ · (\d+) events?, (\d+) critical · critical only")
EVENT_DEVICE = re.compile(r"^\s*Device {2,}(\S.*?)(?: {2,}|$)", re.MULTILINE)
DEVICE_NAME = re.compile(r"^\s*Name {2,}(\S.*?)(?: {2,}|$)", re.MULTILINE)
SEVERITY_CELL = re.compile(r"[●▲·?] (crit|warn|info|unkn)\b")


@pytest.mark.parametrize("width,height", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_events_journey(terminal: Callable[[int, int], Terminal], width: int, height: int) -> None:
    term = terminal(width, height)
    term.wait_until(lambda s: "demo-elements" in s and "Connections" in s, "the connections screen")
    term.key("Down")
    term.key("Down")
    term.key("Enter")
    term.wait_for(ELEMENTS_LOADED)

    # E: the timeline of the last hour; 3: the last 24 hours, loaded.
    term.type("E")
    term.wait_for("Events · demo-elements")
    term.type("3")
    term.wait_for(re.compile(r"^\s*\d+ events in the window · 1-4 window", re.MULTILINE))

    # v twice: critical only; the bar counts them and every row on screen is critical.
    term.type("vv")
    screen = term.wait_for(TIMELINE_BAR)
    shown, critical = map(int, TIMELINE_BAR.search(screen).groups())  # type: ignore[union-attr]
    assert 0 < shown == critical, screen
    severities = SEVERITY_CELL.findall(screen)
    assert severities and set(severities) == {"crit"}, screen

    # enter: the event under the cursor (the newest critical one); d: its device.
    term.key("Enter")
    screen = term.wait_for(re.compile(r"^\s*Severity {2,}critical\b", re.MULTILINE))
    device = EVENT_DEVICE.search(screen)
    assert device, f"the event names no device:\n{screen}"
    term.type("d")
    heading = "─ events, last 24 h ─"
    screen = term.wait_until(lambda s: heading in s and "loading…" not in s.split(heading, 1)[1],
                             "the device's recent events, loaded")
    name = DEVICE_NAME.search(screen)
    assert name and name.group(1) == device.group(1), screen
    assert "critical" in screen.split(heading, 1)[1], screen

    # esc, esc: the timeline again, still critical only; esc: the groups; q: the connections; ctrl+q: exit 0.
    term.key("Escape")
    term.key("Escape")
    term.wait_for(TIMELINE_BAR)
    term.key("Escape")
    term.wait_for(ELEMENTS_LOADED)
    term.type("q")
    term.wait_for("Demo: simulated consoles")
    term.key("C-q")
    assert term.wait_exit() == 0


@pytest.mark.parametrize("width,height", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_hash_journey(terminal: Callable[[int, int], Terminal], width: int, height: int) -> None:
    term = terminal(width, height)
    term.wait_until(lambda s: "demo-sepm" in s and "Connections" in s, "the connections screen with demo-sepm")
    term.key("Enter")
    term.wait_for(LOADED)

    # F: the fingerprint lists the demo knows.
    term.type("F")
    screen = term.wait_for("3 known lists")
    assert all(name in screen for name in ("Blacklist", "Whitelist", DEMO_BLOCKLIST_NAME)), screen

    # h and the demo file's SHA-256 in lower case: only the demo blocklist holds it.
    term.type("h")
    term.paste(DEMO_FILES[0].sha256.lower())
    term.key("Enter")
    screen = term.wait_for(f"is on 1 of the 3 known lists: {DEMO_BLOCKLIST_NAME}")
    assert DEMO_BLOCKLIST_NAME in screen and "Whitelist" not in screen and "Blacklist" not in screen, screen
    assert DEMO_FILES[0].sha256 in screen, screen  # the list's hashes, upper case

    # esc: every list again; esc: the groups; q, then ctrl+q exits cleanly.
    term.key("Escape")
    term.wait_for("3 known lists")
    term.key("Escape")
    term.wait_for(LOADED)
    term.type("q")
    term.wait_for("Demo: simulated consoles")
    term.key("C-q")
    assert term.wait_exit() == 0


def test_a_hostile_console_reaches_the_terminal_only_as_visible_text(terminal, tmp_path: Path) -> None:
    """A real pty: computers whose name, user, OS and address carry OSC 52 / OSC 8 / OSC 0 / CSI / C1 / bidi
    payloads (tests/test_untrusted_text.py's fleet). If one reached tmux it would retitle the pane, fill tmux's
    paste buffer or clear the screen; instead each shows as visible text in the table and the detail."""
    from tui.simulators.sepm import create_app

    simulator = HostileSimulator(HostileFleet(), username=LAB_USERNAME, password=LAB_PASSWORD)
    with ServerThread(create_app(simulator)) as server:
        config = tmp_path / "hostile.toml"
        config.write_text(
            f'[connections.hostile]\nvendor = "sepm"\nurl = "{server.url}"\nallow_http = true\n'
            f'username = "{LAB_USERNAME}"\npassword_env = "EPX_HOSTILE_PASSWORD"\n', encoding="utf-8")
        term = terminal(160, 40, "--config", str(config), demo=False, EPX_HOSTILE_PASSWORD=LAB_PASSWORD)
        term.tmux("set", "-g", "set-clipboard", "on")  # an OSC 52 that got through would fill a buffer
        term.wait_for("hostile")
        term.key("Enter")
        screen = term.wait_for(re.compile(r"40 devices"))
        assert "host0␛]52;c;" in screen, screen
        term.type("/")
        term.type("host")
        term.key("Enter")
        term.key("Enter")  # the first host's detail: name, user, OS, address in full
        screen = term.wait_for(re.compile(r"^\s*User\s+user", re.MULTILINE))
        assert "␛" in screen, screen
        title = term.tmux("display-message", "-p", "-t", "epx", "#{pane_title}").stdout
        assert "pwned" not in title, title
        buffers = term.tmux("list-buffers", check=False).stdout
        assert "pwned" not in buffers and "ZWNobyBwd25lZA" not in buffers, buffers
        term.key("C-q")
        assert term.wait_exit() == 0


# --- respond (issue 18): critical filter, two marked, isolated with a message and the count typed, the
# results followed to the end, then released; both actions in the actions log ---

FINAL = "Every device is final"
FOLLOW_TIMEOUT = 90.0
"""An offline device stays pending for the twelve rounds Elements is followed (a minute), then is final."""


@pytest.mark.parametrize("width,height", [(80, 24)], ids=["80x24"])
def test_isolate_then_release_two_critical_devices(terminal: Callable[..., Terminal], width: int, height: int,
                                                   tmp_path) -> None:
    log = tmp_path / "actions.jsonl"
    term = terminal(width, height, "--demo-writes", EPX_ACTIONS_LOG=str(log))
    term.wait_until(lambda s: "demo-elements" in s and "Connections" in s, "the connections screen")
    term.key("Down")
    term.key("Down")
    term.key("Enter")
    term.wait_for(ELEMENTS_LOADED)

    # c: critical only; /LT-SALES-000: two online Windows laptops among them (an offline one would keep the
    # follow waiting its full minute); space twice: two marked.
    term.type("c")
    term.wait_for(re.compile(r"\d+ critical of 500"))
    term.type("/LT-SALES-000")
    term.key("Enter")
    term.type("  ")
    term.wait_for("2 marked")

    # x: the actions Elements offers; enter: isolate; the message; the count typed; y.
    term.type("x")
    screen = term.wait_for("Respond on demo-elements")
    assert "Isolate from the network" in screen and "Quarantine" not in screen, screen
    term.key("Enter")
    term.wait_for("the message the device's user will see")
    term.type("Call IT")
    term.key("Enter")
    screen = term.wait_for("type 2 and enter")
    assert "Isolate from the network on 2 devices through WithSecure Elements" in screen, screen
    assert "The device's user will see: Call IT" in screen, screen
    term.type("2")
    term.key("Enter")
    term.wait_for("Press y to send")
    term.type("y")
    term.wait_for("Isolate from the network on demo-elements: 2 devices")
    screen = term.wait_for(FINAL, timeout=FOLLOW_TIMEOUT)
    assert "2 accepted" in screen and ("isolated" in screen or "pending" in screen), screen

    # esc: the table, marks kept; x, down, enter: release, a plain danger confirmation; y.
    term.key("Escape")
    term.wait_for("2 marked")
    term.type("x")
    term.wait_for("Respond on demo-elements")
    term.key("Down")
    term.key("Enter")
    term.wait_for("Release from network isolation on demo-elements?")
    term.type("y")
    term.wait_for("Release from network isolation on demo-elements: 2 devices")
    term.wait_for(FINAL, timeout=FOLLOW_TIMEOUT)
    term.key("Escape")
    term.type("q")
    term.wait_for("Demo: simulated consoles")
    term.key("C-q")
    assert term.wait_exit() == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["action"] for entry in entries] == ["isolate", "release"]
    assert all(len(entry["results"]) == 2 for entry in entries)


# --- history (issue 17): `epx --demo` opens a console from its snapshot of 3 h ago, then C lists what changed
# since and V (All fleets) which consoles see each machine ---

HISTORY_CHANGES = re.compile(r"Since \d{4}-\d\d-\d\d \d\d:\d\d \(3h ago\): (\d+) of (\d+) changes")
HISTORY_MACHINES = re.compile(r"(\d+) of (\d+) machines \(seen by one console only\)")


def test_changes_and_coverage_journey(request: pytest.FixtureRequest) -> None:
    term: Terminal = request.getfixturevalue("terminal")(80, 24)
    term.wait_until(lambda s: "demo-sepm" in s and "Connections" in s, "the connections screen")
    term.key("Enter")
    term.wait_for(LOADED)

    term.type("C")
    # the status line is said as the rows are given; the table lays its columns out at its next refresh
    screen = term.wait_until(lambda s: HISTORY_CHANGES.search(s) is not None and "became critical" in s,
                             "the changes, laid out")
    shown, total = map(int, HISTORY_CHANGES.search(screen).groups())  # type: ignore[union-attr]
    assert shown == total > 0 and "became critical" in screen, screen
    term.type("c")
    screen = term.wait_until(lambda s: (m := HISTORY_CHANGES.search(s)) is not None and int(m.group(1)) < total,
                             "only the changes of critical devices")
    assert "· critical" in screen
    term.type("q")
    term.wait_for(LOADED)
    term.type("q")

    term.wait_until(lambda s: "Connections" in s, "back on the connections screen")
    term.type("f")
    term.wait_until(lambda s: "demo-elements 500 devices" in s, "All fleets loaded")
    term.type("V")
    term.type("1")
    screen = term.wait_for(HISTORY_MACHINES)
    alone, machines = map(int, HISTORY_MACHINES.search(screen).groups())  # type: ignore[union-attr]
    assert 0 < alone < machines, screen
