"""Secret scan: every way a password reaches the app (password_env, password_command, a password saved in the
file, one typed at the prompt, an Elements client secret, a wrong one) carries a distinctive canary; the UI
flows (connect, load, an expired token, the wrong password, the device detail, the copy menu, export, test) and
the CLI subcommands run with --log against simulators on loopback; then no canary, and no token, may appear in
the request log, the screens, the notifications, the errors, the clipboard, the exported file, the terminal
output of the CLI, the state file, the snapshot SVGs or the config file (which holds only the saved one)."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import FIXED_NOW, RecordingSimulator, fixed_clock, loaded, notifications, wait_until
from screens.connections import ConnectionsScreen
from screens.device_detail import DeviceDetailScreen
from tui.app import ExplorerApp
from tui.config import Config, load_config
from tui.models import Connection
from tui.request_log import start_request_log, stop_request_log
from tui.session import Session
from tui.simulators import elements as elements_sim
from tui.simulators import epmm as epmm_sim
from tui.simulators import sepm as sepm_sim
from tui.simulators.serve import ServerThread
from tui.state import StateStore
from widgets.copy_menu import CopyMenu
from widgets.device_table import DeviceTable
from widgets.path_prompt import PathPrompt
from widgets.secret_prompt import SecretPrompt

CANARY_ENV = "S3cr3t-Canary-Env-5d1e"  # the SEPM password, from password_env (and typed at the prompt)
CANARY_COMMAND = "S3cr3t-Canary-Command-8a72"  # another SEPM's password, printed by password_command
CANARY_SAVED = "S3cr3t-Canary-Saved-c0f4"  # the EPMM password, saved in the config file by the user
CANARY_ELEMENTS = "S3cr3t-Canary-Elements-47b9"  # the Elements client secret, from password_env
CANARY_WRONG = "S3cr3t-Canary-Wrong-e613"  # a wrong SEPM password, from password_env
CANARIES = (CANARY_ENV, CANARY_COMMAND, CANARY_SAVED, CANARY_ELEMENTS, CANARY_WRONG)
UNSAVED = tuple(canary for canary in CANARIES if canary != CANARY_SAVED)
ENVIRONMENT = {"EPX_SCAN_SEPM": CANARY_ENV, "EPX_SCAN_ELEMENTS": CANARY_ELEMENTS, "EPX_SCAN_WRONG": CANARY_WRONG}
FLEET = 40
API = "/sepm/api/v1"
SNAPSHOTS = Path(__file__).parent / "__snapshots__"


class Consoles:
    """One simulator per password: two SEPMs, an EPMM and an Elements, served on loopback."""

    def __init__(self) -> None:
        self.sepm = RecordingSimulator(sepm_sim.SepmFleet(size=FLEET, seed=3, now=FIXED_NOW), password=CANARY_ENV)
        self.sepm_command = RecordingSimulator(sepm_sim.SepmFleet(size=FLEET, seed=4, now=FIXED_NOW),
                                          password=CANARY_COMMAND)
        self.epmm = epmm_sim.EpmmSimulator(epmm_sim.EpmmFleet(size=FLEET, seed=5, now=FIXED_NOW),
                                           password=CANARY_SAVED)
        self.elements = elements_sim.ElementsSimulator(elements_sim.ElementsFleet(size=FLEET, seed=6, now=FIXED_NOW),
                                                       client_secret=CANARY_ELEMENTS)
        self.servers = {
            "sepm": ServerThread(sepm_sim.create_app(self.sepm)),
            "sepm_command": ServerThread(sepm_sim.create_app(self.sepm_command)),
            "epmm": ServerThread(epmm_sim.create_app(self.epmm)),
            "elements": ServerThread(elements_sim.create_app(self.elements)),
        }

    def secrets(self) -> tuple[str, ...]:
        """The canaries and every token the SEPMs handed out so far."""
        return (*CANARIES, *self.sepm.issued, *self.sepm_command.issued)


@pytest.fixture(scope="module")
def consoles() -> Iterator[Consoles]:
    running = Consoles()
    for server in running.servers.values():
        server.__enter__()
    yield running
    for server in running.servers.values():
        server.__exit__(None, None, None)


@pytest.fixture
def config_path(tmp_path: Path, consoles: Consoles, monkeypatch) -> Path:
    """The profiles, in the order the UI test walks them."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    command = tmp_path / "print-password"
    command.write_text(f"#!/bin/sh\necho {CANARY_COMMAND}\n")
    command.chmod(0o700)
    urls = {name: server.url for name, server in consoles.servers.items()}
    path = tmp_path / "config.toml"
    path.write_text(f"""\
[connections.sepm-env]
vendor = "sepm"
url = "{urls['sepm']}"
username = "admin"
password_env = "EPX_SCAN_SEPM"
allow_http = true

[connections.sepm-command]
vendor = "sepm"
url = "{urls['sepm_command']}"
username = "admin"
password_command = "{command}"
allow_http = true

[connections.sepm-wrong]
vendor = "sepm"
url = "{urls['sepm']}"
username = "admin"
password_env = "EPX_SCAN_WRONG"
allow_http = true

[connections.sepm-typed]
vendor = "sepm"
url = "{urls['sepm']}"
username = "admin"
allow_http = true

[connections.epmm-saved]
vendor = "epmm"
url = "{urls['epmm']}"
username = "{epmm_sim.DEMO_USERNAME}"
password = "{CANARY_SAVED}"
allow_http = true

[connections.elements]
vendor = "elements"
url = "{urls['elements']}"
username = "{elements_sim.DEMO_USERNAME}"
password_env = "EPX_SCAN_ELEMENTS"
allow_http = true
""")
    path.chmod(0o600)
    return path


def assert_clean(where: str, text: str, secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:16]}…) leaked into {where}"


async def test_the_ui_flows_show_and_log_no_secret(config_path: Path, consoles: Consoles, tmp_path: Path):
    log = tmp_path / "ui.log"
    handler = start_request_log(log)
    app = ExplorerApp(load_config(config_path), clock=fixed_clock, state=StateStore(None))
    said: list[str] = []
    failures: list[str] = []
    screens: list[str] = []
    copied: list[str] = []
    notify, report = app.notify, app.report_worker_failure

    def recording_notify(message, *args, **kwargs):
        said.append(f"{kwargs.get('title', '')}: {message}")
        return notify(message, *args, **kwargs)

    def recording_report(worker):
        failures.append(f"{worker.error} {worker.error!r} {worker.error.args!r}")
        return report(worker)

    app.notify, app.report_worker_failure = recording_notify, recording_report

    def choose(name: str) -> None:
        app.screen.query_one("#connections").move_cursor(row=list(app.session.config.connections).index(name))

    async def open_and_load(pilot, name: str) -> None:
        choose(name)
        await pilot.press("enter")
        await wait_until(pilot, loaded(app, FLEET))
        screens.append(app.export_screenshot())

    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await open_and_load(pilot, "sepm-env")

            before = len(consoles.sepm.requests)
            consoles.sepm.faults.add("expire-token", path=f"{API}/computers")
            await pilot.press("ctrl+r")  # the token expired on the console: 401, a new login, the page again
            await wait_until(pilot, lambda: consoles.sepm.requests[before:].count(
                ("POST", f"{API}/identity/authenticate")) == 1 and loaded(app, FLEET)())

            table = app.screen.query_one(DeviceTable)
            table.focus()
            await pilot.press("enter")
            assert isinstance(app.screen, DeviceDetailScreen)
            screens.append(app.export_screenshot())
            await pilot.press("escape")

            await pilot.press("y")
            assert isinstance(app.screen, CopyMenu)
            screens.append(app.export_screenshot())
            await pilot.press("j")
            copied.append(app.clipboard)

            export = tmp_path / "devices.json"
            await pilot.press("e")
            assert isinstance(app.screen, PathPrompt)
            app.screen.query_one("#path").value = str(export)
            await pilot.press("enter")
            await wait_until(pilot, lambda: any("Exported" in text for text in said))
            await pilot.press("q")

            await open_and_load(pilot, "sepm-command")
            await pilot.press("q")

            choose("sepm-wrong")
            await pilot.press("enter")  # the login fails
            await wait_until(pilot, lambda: any("Authentication failed" in text for text in notifications(app)))
            await wait_until(pilot, lambda: isinstance(app.screen, ConnectionsScreen))
            await pilot.press("t")  # and its test says so too
            await wait_until(pilot, lambda: "Test failed" in str(app.screen.query_one("#status").render()))
            screens.append(app.export_screenshot())

            choose("sepm-typed")
            await pilot.press("enter")  # asked for, typed, not saved
            await wait_until(pilot, lambda: isinstance(app.screen, SecretPrompt))
            await pilot.press(*CANARY_ENV)
            screens.append(app.export_screenshot())
            await pilot.press("enter")
            await wait_until(pilot, loaded(app, FLEET))
            await pilot.press("q")

            await open_and_load(pilot, "epmm-saved")
            await pilot.press("q")
            await open_and_load(pilot, "elements")
            await pilot.press("q")
            screens.append(app.export_screenshot())
    finally:
        stop_request_log(handler)

    secrets = consoles.secrets()
    assert consoles.sepm.issued  # the scan looks for real tokens too
    lines = log.read_text("utf-8")
    assert '"status":401' in lines and '"vendor":"elements"' in lines and '"vendor":"epmm"' in lines
    assert_clean("the request log", lines, secrets)
    assert len(failures) >= 1 and len(said) >= 3
    for text in said:
        assert_clean("a notification", text, secrets)
    for text in failures:
        assert_clean("an error", text, secrets)
    for svg in screens:
        assert_clean("a screen", html.unescape(svg).replace("\xa0", " "), secrets)
    for text in copied:
        assert_clean("the clipboard", text, secrets)
    assert_clean("the exported file", export.read_text("utf-8"), secrets)
    config_text = config_path.read_text("utf-8")
    assert CANARY_SAVED in config_text  # the one the user saved, so the scan can see a secret where there is one
    assert_clean("the config file", config_text, UNSAVED)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120, cwd=Path(__file__).parent.parent)


def test_the_cli_subcommands_print_and_log_no_secret(config_path: Path, consoles: Consoles, tmp_path: Path):
    log = tmp_path / "cli.log"
    state = tmp_path / "state.json"
    env = {**os.environ, **ENVIRONMENT, "EPX_STATE": str(state)}
    env.pop("EPX_LOG", None)
    common = ("--config", str(config_path), "--log", str(log))
    consoles.sepm.faults.add("expire-token", path=f"{API}/computers")
    consoles.sepm.faults.add("429", value=0, path=f"{API}/computers")
    runs = [
        (0, run_cli("devices", *common, "--connection", "sepm-env", "--format", "json", env=env)),
        (0, run_cli("fingerprints", *common, "--connection", "sepm-env", "--name", "Blacklist", "--format", "json",
                    env=env)),
        (0, run_cli("events", *common, "--connection", "sepm-command", "--since", "7d", "--format", "csv", env=env)),
        (0, run_cli("groups", *common, "--connection", "elements", "--format", "json", env=env)),
        (0, run_cli("devices", *common, "--connection", "epmm-saved", env=env)),
        (3, run_cli("devices", *common, "--connection", "sepm-wrong", env=env)),
        (2, run_cli("groups", *common, "--connection", "sepm-typed", env=env)),  # no terminal to ask in
        (0, run_cli("events", "--connection", "elements", "--config", str(config_path), "--since", "30d",
                    env={**env, "EPX_LOG": str(log)})),
    ]

    secrets = consoles.secrets()
    for code, run in runs:
        assert run.returncode == code, run.stderr
        assert_clean(f"the output of epx {' '.join(run.args[3:5])}", run.stdout + run.stderr, secrets)
    assert "rate limited" in runs[0][1].stderr
    lines = log.read_text("utf-8")
    assert '"status":401' in lines and '"status":429' in lines and '"vendor":"elements"' in lines
    assert_clean("the request log", lines, secrets)
    assert_clean("the state file", state.read_text("utf-8"), secrets)
    assert_clean("the config file", config_path.read_text("utf-8"), UNSAVED)


def test_no_snapshot_shows_a_secret():
    """The snapshots are of the demo: its consoles' passwords must not be on any screen either."""
    secrets = (*CANARIES, sepm_sim.DEMO_PASSWORD, epmm_sim.DEMO_PASSWORD, elements_sim.DEMO_PASSWORD)
    svgs = sorted(SNAPSHOTS.rglob("*.svg"))
    assert svgs
    for svg in svgs:
        assert_clean(svg.name, html.unescape(svg.read_text("utf-8")).replace("\xa0", " "), secrets)


async def test_a_crash_prints_its_traceback_without_the_secret(tmp_path: Path, capsys, monkeypatch) -> None:
    """Textual shows every frame's local variables in a crash's traceback; the `secret` a client is built with
    is one of them (a CA bundle that holds no certificate once crashed the app that way)."""
    def crash(session: Session, connection: Connection, secret: str | None) -> None:
        raise RuntimeError("a bug while building the client")

    monkeypatch.setattr(Session, "client_for", crash)
    connection = Connection(name="lab", vendor="sepm", url="https://127.0.0.1:9", username="admin",
                            password=CANARY_SAVED)
    app = ExplorerApp(Config(path=None, connections={"lab": connection}), clock=fixed_clock)

    with pytest.raises(RuntimeError):
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("enter")
            await pilot.pause()

    printed = capsys.readouterr()
    assert "Traceback" in printed.err and "a bug while building the client" in printed.err
    assert_clean("a crash's traceback", printed.out + printed.err, CANARIES)


async def test_an_unusable_ca_bundle_is_said_in_words_and_the_app_lives_on(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    connection = Connection(name="lab", vendor="sepm", url="https://127.0.0.1:9", username="admin",
                            password=CANARY_SAVED, verify=str(bundle))
    app = ExplorerApp(Config(path=None, connections={"lab": connection}), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        shown = notifications(app)
        assert any("cannot be used" in text for text in shown) and type(app.screen).__name__ == "ConnectionsScreen"
        assert_clean("the notifications", "\n".join(shown), CANARIES)
